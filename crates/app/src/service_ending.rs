//! The guide's three ways to manage the end of a service: configure its renewal (automatic or
//! manual, and the period), "Résilier" (end at expiration, with a reason; cancellable until 24
//! hours before), and "Supprimer immédiatement" (a single-use token mailed, valid 72 hours,
//! confirmed from the link or by pasting it: deleted at once). Each writes its mail and its
//! provisioning webhook in the same transaction.

use crate::accounts::{self, RequestCtx, recipient};
use crate::mail::{self, MailKind, OrderMail};
use crate::services::{self, ServiceView};
use crate::{App, AppError, Result, ids};
use guichet_domain::BillingPeriod;
use guichet_domain::lifecycle::{RenewalMode, TERMINATION_REASONS, termination_cancellable};
use guichet_store::accounts::AccountRow;
use guichet_store::services::{self as service_store, ServiceRow};
use guichet_store::{AnyConnection, catalog};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// How long a deletion token is valid.
pub const DELETION_TOKEN_HOURS: i64 = 72;

fn purpose(service_id: &str) -> String {
    format!("service_deletion:{service_id}")
}

async fn live(app: &App, account_id: &str, id: &str) -> Result<ServiceRow> {
    if !ids::is_id(id) {
        return Err(AppError::not_found("service_not_found"));
    }
    let mut c = app.db.conn().await?;
    let s = service_store::get(&mut c, id, Some(account_id))
        .await?
        .ok_or_else(|| AppError::not_found("service_not_found"))?;
    if s.state == "deleted" {
        return Err(AppError::conflict(
            "service_deleted",
            "this service is deleted",
        ));
    }
    Ok(s)
}

/// Have the lifecycle engine look at the service again today (its calendar changed).
async fn wake(app: &App, c: &mut AnyConnection, id: &str) -> Result<()> {
    let today = crate::clock::utc_date(app.now_ms())
        .ok_or_else(|| AppError::internal("clock out of range"))?;
    Ok(service_store::wake(c, id, &today.to_string()).await?)
}

fn expires(s: &ServiceRow) -> Result<jiff::civil::Date> {
    s.expires_on
        .parse()
        .map_err(|_| AppError::internal("stored expiration date unreadable"))
}

#[derive(Debug, Clone, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RenewalInput {
    /// `automatic` or `manual`.
    pub mode: String,
    /// `P1M`…`P3Y`: one of the periods the product is sold for (default: unchanged).
    pub period: Option<String>,
}

pub async fn set_renewal(
    app: &App,
    account_id: &str,
    id: &str,
    input: &RenewalInput,
) -> Result<ServiceView> {
    let s = live(app, account_id, id).await?;
    let mode = RenewalMode::parse(&input.mode)
        .ok_or_else(|| AppError::field("mode", "invalid_mode", "automatic or manual"))?;
    if s.termination_requested_at.is_some() {
        return Err(AppError::conflict(
            "service_terminating",
            "this service ends at its expiration: cancel the termination first",
        ));
    }
    let mut c = app.db.conn().await?;
    let plans: Vec<_> = catalog::plans(&mut c, true)
        .await?
        .into_iter()
        .filter(|p| p.product_code == s.product_code)
        .collect();
    let period = match input.period.as_deref() {
        None => None,
        Some(p) => {
            let p = BillingPeriod::parse(p).ok_or_else(|| {
                AppError::field("period", "invalid_period", "P1M, P3M, P6M, P1Y, P2Y or P3Y")
            })?;
            if !plans.iter().any(|x| x.period == p.code()) {
                return Err(AppError::field(
                    "period",
                    "period_unavailable",
                    "this product is not sold for that period",
                ));
            }
            (p.code() != s.period).then(|| p.code().to_owned())
        }
    };
    if mode == RenewalMode::Manual {
        let allowed = catalog::plan(&mut c, &s.plan_code)
            .await?
            .is_none_or(|p| p.manual_renewal_allowed == 1);
        if !allowed {
            return Err(AppError::field(
                "mode",
                "manual_renewal_not_allowed",
                "this plan renews automatically only",
            ));
        }
    }
    drop(c);
    let mut tx = app.db.begin().await?;
    service_store::set_renewal(
        tx.conn(),
        id,
        mode.as_str(),
        period.as_deref(),
        app.now_ms(),
    )
    .await?;
    wake(app, tx.conn(), id).await?;
    tx.commit().await?;
    services::get(app, Some(account_id), id).await
}

#[derive(Debug, Clone, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TerminationInput {
    /// `too_expensive`, `not_needed`, `migrating`, `missing_features`, `performance`,
    /// `reliability`, `support` or `other`.
    pub reason: String,
    /// Up to 1000 characters.
    pub comment: Option<String>,
}

/// What a provisioning webhook about a service carries.
pub(crate) fn event_data(s: &ServiceRow) -> serde_json::Value {
    serde_json::json!({
        "service_id": s.id,
        "account_id": s.account_id,
        "product": s.product_code,
        "plan": s.plan_code,
        "display_name": s.display_name,
        "expires_on": s.expires_on,
    })
}

/// "Résilier": the service ends at its expiration date, with no renewal.
pub async fn terminate(
    app: &App,
    account: &AccountRow,
    id: &str,
    input: &TerminationInput,
) -> Result<ServiceView> {
    let s = live(app, &account.id, id).await?;
    if !TERMINATION_REASONS.contains(&input.reason.as_str()) {
        return Err(AppError::field(
            "reason",
            "invalid_reason",
            "one of the listed reasons",
        ));
    }
    let comment = input
        .comment
        .as_deref()
        .map(str::trim)
        .filter(|c| !c.is_empty());
    if comment.is_some_and(|c| c.chars().count() > 1000) {
        return Err(AppError::field(
            "comment",
            "invalid_comment",
            "at most 1000 characters",
        ));
    }
    if s.termination_requested_at.is_some() {
        return Err(AppError::conflict(
            "already_terminating",
            "this service already ends at its expiration",
        ));
    }
    let mut tx = app.db.begin().await?;
    service_store::set_termination(tx.conn(), id, Some((&input.reason, comment)), app.now_ms())
        .await?;
    wake(app, tx.conn(), id).await?;
    mail::enqueue(
        app,
        tx.conn(),
        &recipient(account),
        &MailKind::Order(OrderMail::TerminationScheduled {
            name: s.display_name.clone(),
            ends_on: s.expires_on.clone(),
            link: app.config.link(&format!("/services/{id}")),
        }),
    )
    .await?;
    crate::provisioning::emit(
        app,
        tx.conn(),
        "service.termination_scheduled",
        id,
        event_data(&s),
    )
    .await?;
    tx.commit().await?;
    app.outbox_signal.notify_waiters();
    services::get(app, Some(&account.id), id).await
}

/// Cancel a termination, until 24 hours before the expiration date.
pub async fn cancel_termination(app: &App, account: &AccountRow, id: &str) -> Result<ServiceView> {
    let s = live(app, &account.id, id).await?;
    if s.termination_requested_at.is_none() {
        return Err(AppError::conflict(
            "not_terminating",
            "this service is not being terminated",
        ));
    }
    if !termination_cancellable(expires(&s)?, app.now_ms()) {
        return Err(AppError::conflict(
            "termination_final",
            "a termination can be cancelled until 24 hours before the expiration date",
        ));
    }
    let mut tx = app.db.begin().await?;
    service_store::set_termination(tx.conn(), id, None, app.now_ms()).await?;
    wake(app, tx.conn(), id).await?;
    mail::enqueue(
        app,
        tx.conn(),
        &recipient(account),
        &MailKind::Order(OrderMail::TerminationCancelled {
            name: s.display_name.clone(),
        }),
    )
    .await?;
    crate::provisioning::emit(
        app,
        tx.conn(),
        "service.termination_cancelled",
        id,
        event_data(&s),
    )
    .await?;
    tx.commit().await?;
    app.outbox_signal.notify_waiters();
    services::get(app, Some(&account.id), id).await
}

/// "Supprimer immédiatement", step one: mail a single-use token valid 72 hours.
pub async fn request_deletion(app: &App, account: &AccountRow, id: &str) -> Result<()> {
    let s = live(app, &account.id, id).await?;
    let mut tx = app.db.begin().await?;
    let token = accounts::issue_action_token(
        app,
        tx.conn(),
        &account.id,
        &purpose(id),
        None,
        DELETION_TOKEN_HOURS * 3_600_000,
    )
    .await?;
    mail::enqueue(
        app,
        tx.conn(),
        &recipient(account),
        &MailKind::Order(OrderMail::DeletionToken {
            name: s.display_name.clone(),
            link: app
                .config
                .link(&format!("/services/{id}/delete?token={token}")),
            token,
            hours: DELETION_TOKEN_HOURS,
        }),
    )
    .await?;
    tx.commit().await?;
    app.outbox_signal.notify_waiters();
    Ok(())
}

/// Step two: with the mailed token, the service is deleted at once.
pub async fn confirm_deletion(
    app: &App,
    account: &AccountRow,
    id: &str,
    token: &str,
    ctx: &RequestCtx,
) -> Result<ServiceView> {
    let s = live(app, &account.id, id).await?;
    let mut tx = app.db.begin().await?;
    accounts::take_token(app, tx.conn(), &[&purpose(id)], token).await?;
    delete_in(app, tx.conn(), &s, account, "customer").await?;
    accounts::security_event(
        app,
        tx.conn(),
        &account.id,
        "service_deleted",
        ctx,
        Some(s.display_name.clone()),
    )
    .await?;
    tx.commit().await?;
    app.outbox_signal.notify_waiters();
    services::get(app, Some(&account.id), id).await
}

/// Delete a service in the caller's transaction, once: mail and webhook with it.
pub(crate) async fn delete_in(
    app: &App,
    c: &mut AnyConnection,
    s: &ServiceRow,
    account: &AccountRow,
    why: &str,
) -> Result<bool> {
    if !service_store::mark_deleted(c, &s.id, app.now_ms()).await? {
        return Ok(false);
    }
    mail::enqueue(
        app,
        c,
        &recipient(account),
        &MailKind::Order(OrderMail::ServiceDeleted {
            name: s.display_name.clone(),
            at_expiration: why == "expiration",
        }),
    )
    .await?;
    let mut data = event_data(s);
    data["reason"] = serde_json::json!(why);
    crate::provisioning::emit(app, c, "service.deleted", &s.id, data).await?;
    Ok(true)
}
