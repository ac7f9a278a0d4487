//! The account-health checklist of the customer guide: the eight things a careful customer
//! keeps in order (addresses and phone verified, a second factor, a default payment method
//! valid through the next renewals, automatic renewal, nothing unpaid, no unread security
//! event), each with the panel page that fixes it. Served to the panel and as JSON.

use crate::auth::Principal;
use crate::{App, Result};
use guichet_store::security_events;
use serde::Serialize;
use utoipa::ToSchema;

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct HealthItem {
    /// `email_verified`, `backup_email_verified`, `phone_verified`, `second_factor`,
    /// `payment_method`, `automatic_renewal`, `no_unpaid_order` or `no_unread_security_event`.
    pub code: String,
    pub ok: bool,
    /// The panel page that fixes it.
    pub fix: String,
    /// How many things are wrong (services on manual renewal, unpaid orders, unread events).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub count: Option<i64>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct HealthView {
    /// True when every item is.
    pub ok: bool,
    pub done: usize,
    pub total: usize,
    pub items: Vec<HealthItem>,
}

fn item(code: &str, ok: bool, fix: &str, count: Option<i64>) -> HealthItem {
    HealthItem {
        code: code.into(),
        ok,
        fix: fix.into(),
        count,
    }
}

/// Whether a card valid through `exp_month`/`exp_year` can still be charged on `date`.
fn card_valid_on(exp_month: i64, exp_year: i64, date: jiff::civil::Date) -> bool {
    let (y, m) = (i64::from(date.year()), i64::from(date.month()));
    (exp_year, exp_month) >= (y, m)
}

/// The checklist of the signed-in account, computed now.
pub async fn checklist(app: &App, p: &Principal) -> Result<HealthView> {
    let a = &p.account;
    let second = crate::factors::second_factor_on(app, &p.account_id).await?;
    let methods = crate::payment_methods::list(app, &p.account_id).await?;
    let services = crate::services::list(app, &p.account_id).await?;
    let unpaid = crate::orders::list(app, Some(&p.account_id), Some("not_paid"), 500).await?;
    let unseen = {
        let mut c = app.db.conn().await?;
        security_events::count_unseen(&mut c, &p.account_id).await?
    };
    let live: Vec<_> = services
        .iter()
        .filter(|s| s.state != "deleted" && s.termination.is_none())
        .collect();
    let charges: Vec<jiff::civil::Date> = live
        .iter()
        .filter(|s| s.renewal.mode == "automatic")
        .filter_map(|s| s.next_dates.as_ref()?.next_charge.as_deref()?.parse().ok())
        .collect();
    let method_ok = methods.iter().find(|m| m.is_default).is_some_and(|m| {
        matches!(m.status.as_str(), "valid" | "expiring_soon")
            && match (m.exp_month, m.exp_year) {
                (Some(mo), Some(y)) => charges.iter().all(|d| card_valid_on(mo, y, *d)),
                _ => true,
            }
    });
    let manual = i64::try_from(
        live.iter()
            .filter(|s| s.renewal.mode != "automatic")
            .count(),
    )
    .unwrap_or(i64::MAX);
    let unpaid_n = i64::try_from(unpaid.len()).unwrap_or(i64::MAX);
    let items = vec![
        item(
            "email_verified",
            a.email_verified_at.is_some(),
            "/profile",
            None,
        ),
        item(
            "backup_email_verified",
            a.backup_email.is_some() && a.backup_email_verified_at.is_some(),
            "/security#backup-email",
            None,
        ),
        item(
            "phone_verified",
            a.phone.is_some() && a.phone_verified_at.is_some(),
            "/security#phone",
            None,
        ),
        item("second_factor", second, "/security#totp", None),
        item("payment_method", method_ok, "/payment-methods", None),
        item("automatic_renewal", manual == 0, "/services", Some(manual)),
        item(
            "no_unpaid_order",
            unpaid_n == 0,
            "/orders?status=not_paid",
            Some(unpaid_n),
        ),
        item(
            "no_unread_security_event",
            unseen == 0,
            "/security#events",
            Some(unseen),
        ),
    ];
    let done = items.iter().filter(|i| i.ok).count();
    Ok(HealthView {
        ok: done == items.len(),
        done,
        total: items.len(),
        items,
    })
}

/// The holder has read the security events shown now.
pub async fn mark_events_seen(app: &App, p: &Principal) -> Result<()> {
    let mut c = app.db.conn().await?;
    security_events::mark_seen(&mut c, &p.account_id, app.now_ms()).await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn card_validity_is_through_the_end_of_its_month() {
        let d = |s: &str| s.parse::<jiff::civil::Date>().unwrap();
        assert!(card_valid_on(12, 2026, d("2026-12-31")));
        assert!(!card_valid_on(11, 2026, d("2026-12-01")));
        assert!(card_valid_on(1, 2027, d("2026-12-01")));
        assert!(!card_valid_on(12, 2025, d("2026-01-01")));
    }
}
