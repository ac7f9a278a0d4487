//! Changing a service to another plan of the same product and period. An upgrade takes
//! effect once its order (the prorated difference for the days left, see
//! `guichet_domain::proration`) is paid, without moving the expiration date; a downgrade
//! waits for the next renewal (a pending change the customer can cancel, which the renewal
//! order is priced at), or, when the product allows it, takes effect at once and credits the
//! unused prorated difference to the account's balance. `service.plan_changed` tells the
//! provisioning system when the plan changes.

use crate::accounts::{language_of, recipient};
use crate::clock::rfc3339;
use crate::credit::Refs;
use crate::mail::{self, MailKind, OrderMail};
use crate::orders::{self, OrderView, date_of, format_money, record_event};
use crate::services::ServiceView;
use crate::{App, AppError, Result, ids};
use guichet_domain::credit::MovementKind;
use guichet_domain::order::OrderStatus;
use guichet_domain::proration::{self, Direction, PeriodDays};
use guichet_domain::{BillingPeriod, Language};
use guichet_store::accounts::AccountRow;
use guichet_store::orders::{self as order_store, LineRow, OrderRow};
use guichet_store::plan_changes::{self as store, PlanChangeRow};
use guichet_store::services::{self as service_store, ServiceRow};
use guichet_store::{AnyConnection, catalog, payments};
use jiff::civil::Date;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// The kind of the order that pays for an upgrade.
pub const ORDER_KIND: &str = "plan_change";

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct PlanChangeOption {
    pub plan: String,
    pub plan_name: String,
    pub period: String,
    /// The plan's price per period, net of VAT (what renewals cost on it).
    pub price_minor: i64,
    /// `upgrade` or `downgrade`.
    pub direction: String,
    /// `now` (upgrades, and downgrades where the product allows it) or `renewal`.
    pub timing: String,
    /// Charged today for an upgrade: the prorated difference, its VAT and total.
    pub charge_net_minor: i64,
    pub charge_vat_minor: i64,
    pub charge_total_minor: i64,
    /// Credited today to the balance for an immediate downgrade (VAT included).
    pub credit_minor: i64,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct PlanChangeView {
    pub id: String,
    pub from_plan: String,
    pub to_plan: String,
    /// `upgrade` or `downgrade`.
    pub direction: String,
    /// `now` or `renewal`.
    pub timing: String,
    /// `pending` (an upgrade waiting for its payment, a downgrade for the renewal),
    /// `applied` or `cancelled`.
    pub state: String,
    /// The order paying for an upgrade.
    pub order_id: Option<String>,
    /// The days the prorated amount covers, `YYYY-MM-DD`, end excluded.
    pub period_start: String,
    pub period_end: String,
    /// Charged (upgrade) or credited (immediate downgrade); 0 for a downgrade at renewal.
    pub net_minor: i64,
    pub vat_minor: i64,
    pub total_minor: i64,
    /// A downgrade waiting for the renewal can be cancelled (`DELETE …/plan-change`).
    pub cancellable: bool,
    pub created_at: String,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct PlanChangesView {
    pub service_id: String,
    pub plan: String,
    pub currency: String,
    /// The current period, `YYYY-MM-DD`, end excluded (the expiration date).
    pub period_start: String,
    pub period_end: String,
    pub days_in_period: i64,
    /// Days from today to the expiration, today included.
    pub days_remaining: i64,
    /// The plans the service can move to, priced for today (nothing is written).
    pub options: Vec<PlanChangeOption>,
    /// The change in progress, if any.
    pub pending: Option<PlanChangeView>,
    /// Every change, newest first.
    pub history: Vec<PlanChangeView>,
}

#[derive(Debug, Clone, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PlanChangeInput {
    /// The target plan's code (one of the options).
    pub plan: String,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct PlanChangeResult {
    pub change: PlanChangeView,
    /// An upgrade's order, to pay like any order.
    pub order: Option<OrderView>,
    pub service: ServiceView,
}

fn view(p: PlanChangeRow) -> PlanChangeView {
    PlanChangeView {
        cancellable: p.state == "pending" && p.direction == "downgrade",
        id: p.id,
        from_plan: p.from_plan,
        to_plan: p.to_plan,
        direction: p.direction,
        timing: p.timing,
        state: p.state,
        order_id: p.order_id,
        period_start: p.period_start,
        period_end: p.period_end,
        net_minor: p.net_minor,
        vat_minor: p.vat_minor,
        total_minor: p.total_minor,
        created_at: rfc3339(p.created_at),
    }
}

/// The current period of a service on `today`.
struct Period {
    start: Date,
    end: Date,
    days: PeriodDays,
}

fn period_of(s: &ServiceRow, today: Date) -> Result<Period> {
    let end = crate::renewals::expiration(s)?;
    let anchor =
        crate::clock::utc_date(s.created_at).ok_or_else(|| AppError::internal("service date"))?;
    let period = BillingPeriod::parse(&s.period)
        .ok_or_else(|| AppError::internal("service with an unknown period"))?;
    let start = proration::period_start(anchor, end, period.months())
        .ok_or_else(|| AppError::internal("period out of range"))?;
    let days = proration::period_days(start, end, today)
        .ok_or_else(|| AppError::internal("empty period"))?;
    Ok(Period { start, end, days })
}

/// One possible target, priced.
struct Candidate {
    plan: catalog::PlanRow,
    price: i64,
    change: proration::Change,
    timing: &'static str,
}

struct Priced {
    period: Period,
    current_price: i64,
    current_name: String,
    product_name: String,
    candidates: Vec<Candidate>,
}

fn not_changeable(s: &ServiceRow) -> Option<AppError> {
    match s.state.as_str() {
        "active" => None,
        "deleted" => Some(AppError::conflict(
            "service_deleted",
            "this service is deleted",
        )),
        _ => Some(AppError::conflict(
            "service_not_active",
            "only an active service changes plan",
        )),
    }
}

async fn price_in(c: &mut AnyConnection, plan: &str, currency: &str) -> Result<Option<i64>> {
    Ok(catalog::prices_of(c, plan)
        .await?
        .into_iter()
        .find(|p| p.currency == currency)
        .map(|p| p.price_minor))
}

/// Price every plan `s` may move to, today.
async fn price_all(app: &App, account: &AccountRow, s: &ServiceRow) -> Result<Priced> {
    let now = app.now_ms();
    let today = crate::clock::utc_date(now).ok_or_else(|| AppError::internal("clock"))?;
    let period = period_of(s, today)?;
    let mut c = app.db.conn().await?;
    let current = catalog::plan(&mut c, &s.plan_code)
        .await?
        .ok_or_else(|| AppError::conflict("plan_unavailable", "this plan is gone"))?;
    let current_price = price_in(&mut c, &current.code, &s.currency)
        .await?
        .ok_or_else(|| {
            AppError::conflict(
                "currency_unavailable",
                "this plan is no longer sold in the service's currency",
            )
        })?;
    let product_name = catalog::product(&mut c, &s.product_code)
        .await?
        .map_or_else(|| s.display_name.clone(), |p| p.name);
    let immediate = store::immediate_downgrade(&mut c, &s.product_code).await?;
    let vat = orders::reverse_charge_number(app, account).await;
    let mut candidates = Vec::new();
    for p in catalog::plans(&mut c, true).await? {
        if p.product_code != s.product_code || p.code == s.plan_code || p.period != s.period {
            continue;
        }
        let Some(price) = price_in(&mut c, &p.code, &s.currency).await? else {
            continue;
        };
        let rate = orders::tax_decision(app, account, vat.as_deref(), &p.tax_category, today);
        let Some(change) = proration::change(current_price, price, period.days, rate.rate_bp)
        else {
            continue;
        };
        let timing = match change.direction {
            Direction::Upgrade => "now",
            Direction::Downgrade if immediate => "now",
            Direction::Downgrade => "renewal",
        };
        candidates.push(Candidate {
            plan: p,
            price,
            change,
            timing,
        });
    }
    candidates.sort_by(|a, b| a.price.cmp(&b.price).then(a.plan.code.cmp(&b.plan.code)));
    Ok(Priced {
        period,
        current_price,
        current_name: current.name,
        product_name,
        candidates,
    })
}

fn direction_str(d: Direction) -> &'static str {
    match d {
        Direction::Upgrade => "upgrade",
        Direction::Downgrade => "downgrade",
    }
}

async fn load(app: &App, account_id: &str, id: &str) -> Result<ServiceRow> {
    if !ids::is_id(id) {
        return Err(AppError::not_found("service_not_found"));
    }
    let mut c = app.db.conn().await?;
    service_store::get(&mut c, id, Some(account_id))
        .await?
        .ok_or_else(|| AppError::not_found("service_not_found"))
}

/// The plans a service can move to, with the exact price of each change today (nothing is
/// written), and the change in progress.
pub async fn options(app: &App, account: &AccountRow, id: &str) -> Result<PlanChangesView> {
    let s = load(app, &account.id, id).await?;
    if let Some(e) = not_changeable(&s) {
        return Err(e);
    }
    let priced = price_all(app, account, &s).await?;
    let (pending, history) = {
        let mut c = app.db.conn().await?;
        (
            store::pending_of(&mut c, &s.id).await?,
            store::of_service(&mut c, &s.id).await?,
        )
    };
    Ok(PlanChangesView {
        service_id: s.id.clone(),
        plan: s.plan_code.clone(),
        currency: s.currency.clone(),
        period_start: priced.period.start.to_string(),
        period_end: priced.period.end.to_string(),
        days_in_period: priced.period.days.total,
        days_remaining: priced.period.days.remaining,
        options: priced
            .candidates
            .into_iter()
            .map(|c| {
                let up = c.change.direction == Direction::Upgrade;
                let now = c.timing == "now";
                PlanChangeOption {
                    plan: c.plan.code,
                    plan_name: c.plan.name,
                    period: c.plan.period,
                    price_minor: c.price,
                    direction: direction_str(c.change.direction).to_owned(),
                    timing: c.timing.to_owned(),
                    charge_net_minor: if up { c.change.net_minor } else { 0 },
                    charge_vat_minor: if up { c.change.vat_minor } else { 0 },
                    charge_total_minor: if up { c.change.total_minor } else { 0 },
                    credit_minor: if !up && now { c.change.total_minor } else { 0 },
                }
            })
            .collect(),
        pending: pending.map(view),
        history: history.into_iter().map(view).collect(),
    })
}

/// Change a service's plan: an upgrade's order to pay, a downgrade pending until the renewal,
/// or (where the product allows it) a downgrade now with a credit.
pub async fn change(
    app: &App,
    account: &AccountRow,
    id: &str,
    input: &PlanChangeInput,
) -> Result<PlanChangeResult> {
    let s = load(app, &account.id, id).await?;
    if let Some(e) = not_changeable(&s) {
        return Err(e);
    }
    if account.state != "active" {
        return Err(AppError::forbidden(
            "account_not_active",
            "this account cannot place orders",
        ));
    }
    if s.termination_requested_at.is_some() {
        return Err(AppError::conflict(
            "service_terminating",
            "this service ends at its expiration: cancel the termination first",
        ));
    }
    let priced = price_all(app, account, &s).await?;
    let target = input.plan.trim();
    let Some(cand) = priced.candidates.iter().find(|c| c.plan.code == target) else {
        return Err(AppError::field(
            "plan",
            "plan_not_allowed",
            "not a plan this service can move to (same product and period, for sale)",
        ));
    };
    if priced.period.days.remaining == 0 {
        return Err(AppError::conflict(
            "period_ending",
            "the period ends today: change the plan after the renewal",
        ));
    }
    let now = app.now_ms();
    let today = crate::clock::utc_date(now).ok_or_else(|| AppError::internal("clock"))?;
    let lang = language_of(account);
    let mut row = PlanChangeRow {
        id: ids::new_id(now),
        account_id: account.id.clone(),
        service_id: s.id.clone(),
        from_plan: s.plan_code.clone(),
        to_plan: cand.plan.code.clone(),
        direction: direction_str(cand.change.direction).to_owned(),
        timing: cand.timing.to_owned(),
        state: "pending".to_owned(),
        order_id: None,
        period_start: today.to_string(),
        period_end: priced.period.end.to_string(),
        net_minor: 0,
        vat_minor: 0,
        total_minor: 0,
        created_at: now,
        updated_at: now,
    };
    // An upgrade's order number is reserved before the transaction (`orders::new_numbers`).
    let number = match cand.change.direction {
        Direction::Upgrade => orders::new_number(app, now).await?,
        Direction::Downgrade => String::new(),
    };
    let mut tx = app.db.begin().await?;
    if store::pending_of(tx.conn(), &s.id).await?.is_some() {
        return Err(pending_conflict());
    }
    let order_id = match (cand.change.direction, cand.timing) {
        (Direction::Upgrade, _) => {
            row.net_minor = cand.change.net_minor;
            row.vat_minor = cand.change.vat_minor;
            row.total_minor = cand.change.total_minor;
            let o = place_upgrade_order(app, tx.conn(), account, &s, &priced, cand, today, number)
                .await?;
            row.order_id = Some(o.id.clone());
            insert_row(tx.conn(), &row).await?;
            mail::enqueue(
                app,
                tx.conn(),
                &recipient(account),
                &MailKind::Order(OrderMail::Placed {
                    number: o.number.clone(),
                    total: format_money(o.total_minor, &o.currency),
                    expires_on: date_of(o.expires_at),
                    link: app.config.link(&format!("/orders/{}", o.id)),
                }),
            )
            .await?;
            Some(o.id)
        }
        (Direction::Downgrade, "now") => {
            row.net_minor = cand.change.net_minor;
            row.vat_minor = cand.change.vat_minor;
            row.total_minor = cand.change.total_minor;
            row.state = "applied".to_owned();
            insert_row(tx.conn(), &row).await?;
            if !store::switch_plan(tx.conn(), &s.id, &s.plan_code, &row.to_plan, now).await? {
                return Err(changed());
            }
            if row.total_minor > 0 {
                crate::credit::add_in(
                    app,
                    tx.conn(),
                    &account.id,
                    &s.currency,
                    row.total_minor,
                    MovementKind::Downgrade,
                    Refs {
                        reason: Some(match lang {
                            Language::Fr => format!(
                                "Passage de {} à {} : {} jours non utilisés",
                                priced.current_name, cand.plan.name, priced.period.days.remaining
                            ),
                            Language::En => format!(
                                "Change from {} to {}: {} unused days",
                                priced.current_name, cand.plan.name, priced.period.days.remaining
                            ),
                        }),
                        plan_change_id: Some(row.id.clone()),
                        ..Refs::default()
                    },
                )
                .await?;
            }
            emit_changed(app, tx.conn(), &s, &row, None).await?;
            let mut after = s.clone();
            after.plan_code = row.to_plan.clone();
            reprice_open_renewals(app, tx.conn(), account, &after, None).await?;
            None
        }
        (Direction::Downgrade, _) => {
            insert_row(tx.conn(), &row).await?;
            reprice_open_renewals(app, tx.conn(), account, &s, Some(&row.to_plan)).await?;
            None
        }
    };
    tx.commit().await?;
    app.outbox_signal.notify_waiters();
    result(app, account, &s.id, &row.id, order_id.as_deref()).await
}

async fn insert_row(c: &mut AnyConnection, row: &PlanChangeRow) -> Result<()> {
    match store::insert(c, row).await {
        Ok(()) => Ok(()),
        Err(e) if e.is_unique_on("plan_changes") || e.is_unique_on("service_id") => {
            Err(pending_conflict())
        }
        Err(e) => Err(e.into()),
    }
}

fn pending_conflict() -> AppError {
    AppError::conflict(
        "plan_change_pending",
        "a plan change of this service is in progress: pay or cancel its order, or cancel it",
    )
}

fn changed() -> AppError {
    AppError::conflict("service_changed", "the service changed meanwhile")
}

async fn result(
    app: &App,
    account: &AccountRow,
    service_id: &str,
    change_id: &str,
    order_id: Option<&str>,
) -> Result<PlanChangeResult> {
    let change = {
        let mut c = app.db.conn().await?;
        store::of_service(&mut c, service_id)
            .await?
            .into_iter()
            .find(|p| p.id == change_id)
            .ok_or_else(|| AppError::internal("plan change vanished"))?
    };
    let order = match order_id {
        Some(o) => Some(orders::get(app, Some(&account.id), o).await?),
        None => None,
    };
    Ok(PlanChangeResult {
        change: view(change),
        order,
        service: crate::services::get(app, Some(&account.id), service_id).await?,
    })
}

/// Write the order of an upgrade, numbered `number`: one line, the new plan for the days
/// left, its VAT.
#[allow(clippy::too_many_arguments)]
async fn place_upgrade_order(
    app: &App,
    c: &mut AnyConnection,
    account: &AccountRow,
    s: &ServiceRow,
    priced: &Priced,
    cand: &Candidate,
    today: Date,
    number: String,
) -> Result<OrderRow> {
    let now = app.now_ms();
    let lang = language_of(account);
    let vat = orders::reverse_charge_number(app, account).await;
    let d = orders::tax_decision(app, account, vat.as_deref(), &cand.plan.tax_category, today);
    // Payable until the period it prices ends, and at most the usual week.
    let end_ms = crate::renewals::day_start_ms(priced.period.end);
    let expires_at = end_ms.min(now + app.config.order_expiry_days * 86_400_000);
    let id = ids::new_id(now);
    let days = priced.period.days;
    let order = OrderRow {
        id: id.clone(),
        account_id: account.id.clone(),
        number,
        kind: ORDER_KIND.into(),
        status: OrderStatus::NotPaid.as_str().into(),
        currency: s.currency.clone(),
        net_minor: cand.change.net_minor,
        vat_minor: cand.change.vat_minor,
        total_minor: cand.change.total_minor,
        tax_treatment: d.treatment.as_str().into(),
        tax_country: d.country.map(str::to_owned),
        action_required: Some("pay".into()),
        action_due_at: Some(expires_at),
        delivery_error: None,
        expires_at,
        paid_at: None,
        delivered_at: None,
        cancelled_at: None,
        cancel_reason: None,
        created_at: now,
        updated_at: now,
        renewal_key: None,
    };
    order_store::insert(c, &order).await?;
    let what = match lang {
        Language::Fr => format!(
            "{} (passage depuis {}, {} jours sur {} : {} → {})",
            cand.plan.name,
            priced.current_name,
            days.remaining,
            days.total,
            format_money(priced.current_price, &s.currency),
            format_money(cand.price, &s.currency),
        ),
        Language::En => format!(
            "{} (upgrade from {}, {} of {} days: {} → {})",
            cand.plan.name,
            priced.current_name,
            days.remaining,
            days.total,
            format_money(priced.current_price, &s.currency),
            format_money(cand.price, &s.currency),
        ),
    };
    order_store::insert_line(
        c,
        &LineRow {
            order_id: id.clone(),
            line_no: 1,
            product_code: s.product_code.clone(),
            product_name: priced.product_name.clone(),
            plan_code: cand.plan.code.clone(),
            plan_name: what,
            period: cand.plan.period.clone(),
            quantity: 1,
            unit_price_minor: cand.change.net_minor,
            setup_fee_minor: 0,
            vat_rate_bp: i64::from(d.rate_bp),
            net_minor: cand.change.net_minor,
            vat_minor: cand.change.vat_minor,
            total_minor: cand.change.total_minor,
            domain: None,
            service_id: Some(s.id.clone()),
            period_start: Some(today.to_string()),
            period_end: Some(priced.period.end.to_string()),
        },
    )
    .await?;
    let total = format_money(order.total_minor, &order.currency);
    record_event(
        app,
        c,
        &id,
        "order_started",
        match lang {
            Language::Fr => format!(
                "Changement d'offre de {} : {total} en attente de paiement.",
                s.display_name
            ),
            Language::En => format!(
                "Plan change of {}: {total} waiting for payment.",
                s.display_name
            ),
        },
        "customer",
        Some(("pay", expires_at)),
    )
    .await?;
    Ok(order)
}

/// Cancel a downgrade waiting for the renewal; the renewal is priced at the current plan
/// again.
pub async fn cancel_pending(app: &App, account: &AccountRow, id: &str) -> Result<PlanChangesView> {
    let s = load(app, &account.id, id).await?;
    let now = app.now_ms();
    let mut tx = app.db.begin().await?;
    let Some(p) = store::pending_of(tx.conn(), &s.id).await? else {
        return Err(AppError::not_found("plan_change_not_found"));
    };
    if p.direction != "downgrade" {
        return Err(AppError::conflict(
            "plan_change_awaiting_payment",
            "this upgrade waits for its order's payment: cancel the order instead",
        ));
    }
    if !store::set_state(tx.conn(), &p.id, "pending", "cancelled", now).await? {
        return Err(changed());
    }
    reprice_open_renewals(app, tx.conn(), account, &s, None).await?;
    tx.commit().await?;
    options(app, account, id).await
}

/// The plan the next renewal of a service is priced at, when a downgrade waits for it.
pub(crate) async fn renewal_plan(
    c: &mut AnyConnection,
    service_id: &str,
) -> Result<Option<String>> {
    Ok(store::pending_of(c, service_id)
        .await?
        .filter(|p| p.direction == "downgrade" && p.timing == "renewal")
        .map(|p| p.to_plan))
}

/// Reprice the unpaid renewal orders of `s` (placed before a downgrade was asked for or
/// cancelled) at `plan`, or at the service's own plan; in the caller's transaction. An order
/// with a payment under way or credit applied keeps its price (it is being paid).
async fn reprice_open_renewals(
    app: &App,
    c: &mut AnyConnection,
    account: &AccountRow,
    s: &ServiceRow,
    plan: Option<&str>,
) -> Result<()> {
    let now = app.now_ms();
    for o in order_store::unpaid_renewals_of(c, &s.id).await? {
        let busy = payments::of_order(c, &o.id)
            .await?
            .iter()
            .any(|p| matches!(p.state.as_str(), "pending" | "unknown" | "succeeded"));
        if busy || crate::credit::applied_to_order(c, &o.id).await? > 0 {
            continue;
        }
        let lines = order_store::lines(c, &o.id).await?;
        let [line] = lines.as_slice() else { continue };
        if line.period_start.as_deref() != Some(s.expires_on.as_str()) {
            continue;
        }
        let q = crate::renewals::quote_with(
            app,
            account,
            s,
            line.quantity,
            Some(plan.unwrap_or(&s.plan_code)),
        )
        .await?;
        let l = q.line();
        store::reprice_renewal(
            c,
            &o.id,
            &l.plan_code,
            &l.plan_name,
            l.unit_price_minor,
            l.net_minor,
            l.vat_minor,
            l.total_minor,
            now,
        )
        .await?;
    }
    Ok(())
}

/// A paid upgrade order (now `checking`): switch the plan, keep the expiration, tell the
/// provisioning system; the order is delivered.
pub(crate) async fn apply_paid(
    app: &App,
    c: &mut AnyConnection,
    order: &OrderRow,
    account: &AccountRow,
) -> Result<()> {
    let now = app.now_ms();
    let lang = language_of(account);
    let Some(p) = store::of_order(c, &order.id).await? else {
        return Err(AppError::internal("plan change order without its change"));
    };
    let s = service_store::get(c, &p.service_id, None)
        .await?
        .ok_or_else(|| AppError::internal("plan change of a missing service"))?;
    let applied = s.state != "deleted"
        && store::set_state(c, &p.id, "pending", "applied", now).await?
        && store::switch_plan(c, &s.id, &p.from_plan, &p.to_plan, now).await?;
    if applied {
        emit_changed(app, c, &s, &p, Some(&order.id)).await?;
    } else {
        tracing::error!(order = %order.id, service = %s.id, "upgrade paid for a service that changed meanwhile: issue a credit note");
    }
    if !order_store::transition(
        c,
        &order.id,
        OrderStatus::Checking.as_str(),
        OrderStatus::Delivered.as_str(),
        now,
    )
    .await?
    {
        return Err(AppError::conflict(
            "order_state_changed",
            "the order changed meanwhile",
        ));
    }
    record_event(
        app,
        c,
        &order.id,
        "delivered",
        match lang {
            Language::Fr => format!("Offre changée : {}.", p.to_plan),
            Language::En => format!("Plan changed: {}.", p.to_plan),
        },
        "system",
        None,
    )
    .await?;
    Ok(())
}

/// A renewal just moved `s` (as it was) onto `plan`: the downgrade that waited for it is
/// applied.
pub(crate) async fn after_renewal_in(
    app: &App,
    c: &mut AnyConnection,
    s: &ServiceRow,
    plan: &str,
    order_id: &str,
) -> Result<()> {
    let Some(p) = store::pending_of(c, &s.id).await? else {
        return Ok(());
    };
    if p.direction != "downgrade" || p.to_plan != plan || s.plan_code == plan {
        return Ok(());
    }
    if store::set_state(c, &p.id, "pending", "applied", app.now_ms()).await? {
        emit_changed(app, c, s, &p, Some(order_id)).await?;
    }
    Ok(())
}

/// An order cancelled unpaid gives back its credit and voucher, and ends the upgrade it was
/// paying for; in the cancelling transaction.
pub(crate) async fn after_order_cancelled(
    app: &App,
    c: &mut AnyConnection,
    order: &OrderRow,
) -> Result<()> {
    crate::credit::release_order_in(app, c, order).await?;
    crate::vouchers::release_order_in(app, c, order).await?;
    if let Some(p) = store::of_order(c, &order.id).await?
        && p.state == "pending"
    {
        store::set_state(c, &p.id, "pending", "cancelled", app.now_ms()).await?;
    }
    Ok(())
}

async fn emit_changed(
    app: &App,
    c: &mut AnyConnection,
    s: &ServiceRow,
    p: &PlanChangeRow,
    order_id: Option<&str>,
) -> Result<()> {
    crate::provisioning::emit(
        app,
        c,
        "service.plan_changed",
        &s.id,
        serde_json::json!({
            "service_id": s.id,
            "account_id": s.account_id,
            "product": s.product_code,
            "display_name": s.display_name,
            "previous_plan": p.from_plan,
            "plan": p.to_plan,
            "direction": p.direction,
            "timing": p.timing,
            "order_id": order_id,
            "expires_on": s.expires_on,
        }),
    )
    .await?;
    Ok(())
}

/// A product's plan-change settings.
#[derive(Debug, Clone, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ProductPlanChanges {
    /// Downgrades take effect at once, the unused prorated difference credited to the
    /// account's balance (default false: at the next renewal).
    pub immediate_downgrade: bool,
}

/// An operator sets whether a product allows immediate downgrades (audited).
pub async fn set_product_settings(
    app: &App,
    op: &crate::operators::Operator,
    product: &str,
    input: &ProductPlanChanges,
) -> Result<ProductPlanChanges> {
    op.require_role(&["billing"])?;
    let mut tx = app.db.begin().await?;
    if !store::set_immediate_downgrade(tx.conn(), product, input.immediate_downgrade, app.now_ms())
        .await?
    {
        return Err(AppError::not_found("product_not_found"));
    }
    crate::operators::audit(
        app,
        tx.conn(),
        op,
        "catalog.product.plan_changes",
        Some(product),
        Some(format!("immediate_downgrade={}", input.immediate_downgrade)),
    )
    .await?;
    tx.commit().await?;
    Ok(input.clone())
}
