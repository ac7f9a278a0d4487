//! Services as customers see them: what they have, its state and expiration date, the
//! renewal setting, and the next dates the lifecycle engine (`lifecycle`) acts on.

use crate::clock::rfc3339;
use crate::{App, AppError, Result, ids};
use guichet_store::services::{self, ServiceRow};
use serde::Serialize;
use utoipa::ToSchema;

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct RenewalView {
    /// `automatic` or `manual`.
    pub mode: String,
    pub period: String,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ServiceView {
    pub id: String,
    pub display_name: String,
    pub product: String,
    pub plan: String,
    /// `in_creation`, `active`, `suspended` or `deleted`.
    pub state: String,
    /// Expiration date (UTC), `YYYY-MM-DD`.
    pub expires_on: String,
    pub renewal: RenewalView,
    pub currency: String,
    /// What the provider reported at delivery (host name, addresses…).
    pub details: serde_json::Value,
    pub order_id: String,
    pub created_at: String,
    pub deleted_at: Option<String>,
    /// Set while the service is to end at its expiration date.
    pub termination: Option<TerminationView>,
    /// The next dates that matter (absent for a deleted service).
    pub next_dates: Option<NextDatesView>,
    /// What is scheduled or expected: `termination_scheduled`, `renewal_automatic`,
    /// `renewal_manual_due`, or `pay_to_reactivate` (suspended: pay its renewal order, or
    /// `POST …/renew`, before the deletion date); then `plan_change_pending` while a plan
    /// change waits for its payment or the renewal (see `pending_plan_change`).
    pub pending_actions: Vec<String>,
    /// The plan the service moves to at its next renewal (a downgrade), or once its order is
    /// paid (an upgrade); cancel a downgrade with `DELETE …/plan-change`.
    pub pending_plan_change: Option<PendingPlanChange>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct PendingPlanChange {
    pub id: String,
    pub plan: String,
    /// `upgrade` or `downgrade`.
    pub direction: String,
    /// The upgrade's order to pay.
    pub order_id: Option<String>,
    pub cancellable: bool,
}

/// Fill in the plan change in progress of each view.
async fn with_plan_changes(
    c: &mut guichet_store::AnyConnection,
    mut views: Vec<ServiceView>,
) -> Result<Vec<ServiceView>> {
    let ids: Vec<String> = views.iter().map(|v| v.id.clone()).collect();
    let mut pending: std::collections::HashMap<String, _> =
        guichet_store::plan_changes::pending_of_many(c, &ids)
            .await?
            .into_iter()
            .map(|p| (p.service_id.clone(), p))
            .collect();
    for v in &mut views {
        if let Some(p) = pending.remove(&v.id) {
            v.pending_actions.push("plan_change_pending".to_owned());
            v.pending_plan_change = Some(PendingPlanChange {
                cancellable: p.direction == "downgrade",
                id: p.id,
                plan: p.to_plan,
                direction: p.direction,
                order_id: p.order_id,
            });
        }
    }
    Ok(views)
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct TerminationView {
    pub reason: String,
    pub comment: Option<String>,
    pub requested_at: String,
    /// Until when it can be cancelled.
    pub cancellable: bool,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct NextDatesView {
    /// The next automatic renewal charge.
    pub next_charge: Option<String>,
    /// The next notice or reminder mail.
    pub next_reminder: Option<String>,
    /// Suspended on this date if not renewed.
    pub suspension: Option<String>,
    /// Deleted on this date (not renewed, or terminated).
    pub deletion: Option<String>,
}

pub fn view(app: &App, s: ServiceRow) -> ServiceView {
    use guichet_domain::lifecycle::{RenewalMode, next_dates, termination_cancellable};
    let now = app.now_ms();
    let today = crate::clock::utc_date(now);
    let expires: Option<jiff::civil::Date> = s.expires_on.parse().ok();
    let mode = RenewalMode::parse(&s.renewal_mode).unwrap_or(RenewalMode::Automatic);
    let period = guichet_domain::BillingPeriod::parse(&s.period);
    let terminating = s.termination_requested_at.is_some();
    let live = s.state != "deleted";
    let next = match (live, expires, period, today) {
        (true, Some(e), Some(p), Some(t)) => {
            let mut d = next_dates(e, mode, p, terminating, t);
            if s.state == "suspended" {
                // Past E unpaid: only the deletion is ahead, unless the renewal is paid.
                d.next_charge = None;
                d.next_reminder = None;
                d.suspension = None;
            }
            let f = |d: Option<jiff::civil::Date>| d.map(|x| x.to_string());
            Some(NextDatesView {
                next_charge: f(d.next_charge),
                next_reminder: f(d.next_reminder),
                suspension: f(d.suspension),
                deletion: f(d.deletion),
            })
        }
        _ => None,
    };
    let mut pending = Vec::new();
    if live {
        pending.push(
            match (s.state.as_str(), terminating, mode) {
                ("suspended", _, _) => "pay_to_reactivate",
                (_, true, _) => "termination_scheduled",
                (_, false, RenewalMode::Automatic) => "renewal_automatic",
                (_, false, RenewalMode::Manual) => "renewal_manual_due",
            }
            .to_owned(),
        );
    }
    ServiceView {
        details: serde_json::from_str(&s.details).unwrap_or(serde_json::Value::Null),
        renewal: RenewalView {
            mode: s.renewal_mode,
            period: s.renewal_period.unwrap_or(s.period),
        },
        termination: match (s.termination_reason, s.termination_requested_at) {
            (Some(reason), Some(at)) if live => Some(TerminationView {
                reason,
                comment: s.termination_comment,
                requested_at: rfc3339(at),
                cancellable: expires.is_some_and(|e| termination_cancellable(e, now)),
            }),
            _ => None,
        },
        next_dates: next,
        pending_actions: pending,
        pending_plan_change: None,
        deleted_at: s.deleted_at.map(rfc3339),
        id: s.id,
        display_name: s.display_name,
        product: s.product_code,
        plan: s.plan_code,
        state: s.state,
        expires_on: s.expires_on,
        currency: s.currency,
        order_id: s.order_id,
        created_at: rfc3339(s.created_at),
    }
}

pub async fn list(app: &App, account_id: &str) -> Result<Vec<ServiceView>> {
    let mut c = app.db.conn().await?;
    let views = services::list_for_account(&mut c, account_id)
        .await?
        .into_iter()
        .map(|s| view(app, s))
        .collect();
    with_plan_changes(&mut c, views).await
}

/// One service; `account_id` scopes it to a customer (`None` for operators).
pub async fn get(app: &App, account_id: Option<&str>, id: &str) -> Result<ServiceView> {
    if !ids::is_id(id) {
        return Err(AppError::not_found("service_not_found"));
    }
    let mut c = app.db.conn().await?;
    let v = services::get(&mut c, id, account_id)
        .await?
        .map(|s| view(app, s))
        .ok_or_else(|| AppError::not_found("service_not_found"))?;
    let mut v = with_plan_changes(&mut c, vec![v]).await?;
    v.pop().ok_or_else(|| AppError::internal("service view"))
}
