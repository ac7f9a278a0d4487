//! Renewal orders: pricing a service's next period(s) with today's VAT, placing the order
//! (once per expiration for the engine's, keyed `{service}:{E}`), and, once paid, moving the
//! expiration date on by the periods paid (counted from E, so renewing early loses nothing)
//! and reactivating a suspended service. Charging it is `payments::charge_renewal`.

use crate::accounts::recipient;
use crate::mail::{self, LifecycleMail, MailKind, OrderMail};
use crate::orders::{self, OrderView, date_of, format_money, record_event};
use crate::{App, AppError, Result, ids};
use guichet_domain::Language;
use guichet_domain::order::OrderStatus;
use guichet_domain::period::renewed_expiration;
use guichet_domain::pricing::{self, LineInput};
use guichet_domain::{BillingPeriod, lifecycle::DELETE_AFTER_DAYS};
use guichet_store::accounts::AccountRow;
use guichet_store::orders::{self as order_store, LineRow, OrderRow};
use guichet_store::services::{self as service_store, ServiceRow};
use guichet_store::{AnyConnection, catalog};
use jiff::ToSpan;
use jiff::civil::Date;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// At most this many periods bought at once.
pub const MAX_PERIODS: i64 = 10;

/// The key of a service's renewal order for its current expiration date.
pub fn renewal_key(s: &ServiceRow) -> String {
    format!("{}:{}", s.id, s.expires_on)
}

pub(crate) fn expiration(s: &ServiceRow) -> Result<Date> {
    s.expires_on
        .parse()
        .map_err(|_| AppError::internal("stored expiration date unreadable"))
}

fn anchor(s: &ServiceRow) -> Result<Date> {
    crate::clock::utc_date(s.created_at).ok_or_else(|| AppError::internal("service date"))
}

/// Midnight UTC at the start of `d`, in milliseconds.
pub fn day_start_ms(d: Date) -> i64 {
    jiff::tz::TimeZone::UTC
        .to_timestamp(d.at(0, 0, 0, 0))
        .map(|t| t.as_millisecond())
        .unwrap_or(i64::MAX)
}

/// The day an unpaid service is deleted.
pub(crate) fn deletion_day(e: Date) -> Date {
    e.saturating_add(DELETE_AFTER_DAYS.days())
}

/// A renewal priced, before it is written.
pub(crate) struct Quote {
    line: LineRow,
    currency: String,
    treatment: String,
    tax_country: Option<String>,
}

impl Quote {
    pub fn total(&self) -> String {
        format_money(self.line.total_minor, &self.currency)
    }

    /// The priced line.
    pub(crate) fn line(&self) -> &LineRow {
        &self.line
    }
}

/// What a service renews at: the plan (a pending downgrade's, else the renewal period's one
/// if it differs, else its own), its product's name and its price in the service's currency.
/// Read once per distinct plan in a batch.
#[derive(Clone)]
pub(crate) struct RenewalPlan {
    plan: catalog::PlanRow,
    product_name: Option<String>,
    price: catalog::PriceRow,
}

/// The plan key [`renewal_plan`] depends on (for a service without a pending plan change).
pub(crate) fn plan_key(s: &ServiceRow) -> (String, String, String, String) {
    (
        s.product_code.clone(),
        s.plan_code.clone(),
        s.renewal_period.clone().unwrap_or_default(),
        s.currency.clone(),
    )
}

/// The plan `s` renews at, `plan` first when given (a downgrade pending or just cancelled).
pub(crate) async fn renewal_plan(
    c: &mut AnyConnection,
    s: &ServiceRow,
    plan: Option<&str>,
) -> Result<RenewalPlan> {
    let plan = match (plan, s.renewal_period.as_deref()) {
        (Some(code), _) => catalog::plan(c, code).await?,
        (None, Some(p)) => catalog::plans(c, true)
            .await?
            .into_iter()
            .find(|x| x.product_code == s.product_code && x.period == p),
        (None, None) => None,
    };
    let plan = match plan {
        Some(p) => p,
        None => catalog::plan(c, &s.plan_code)
            .await?
            .ok_or_else(|| AppError::conflict("plan_unavailable", "this plan is gone"))?,
    };
    let product_name = catalog::product(c, &plan.product_code)
        .await?
        .map(|p| p.name);
    let price = catalog::prices_of(c, &plan.code)
        .await?
        .into_iter()
        .find(|p| p.currency == s.currency)
        .ok_or_else(|| {
            AppError::conflict(
                "currency_unavailable",
                "this plan is no longer sold in the service's currency",
            )
        })?;
    Ok(RenewalPlan {
        plan,
        product_name,
        price,
    })
}

/// Price `periods` more periods of `s` for `account`, today: at the plan of a pending
/// downgrade if there is one, else at the plan of the renewal period, else its own plan.
pub(crate) async fn quote(
    app: &App,
    account: &AccountRow,
    s: &ServiceRow,
    periods: i64,
) -> Result<Quote> {
    let pending = {
        let mut c = app.db.conn().await?;
        crate::plan_changes::renewal_plan(&mut c, &s.id).await?
    };
    quote_with(app, account, s, periods, pending.as_deref()).await
}

/// [`quote`] at `plan` when given (a downgrade pending or just cancelled).
pub(crate) async fn quote_with(
    app: &App,
    account: &AccountRow,
    s: &ServiceRow,
    periods: i64,
    plan: Option<&str>,
) -> Result<Quote> {
    let rp = {
        let mut c = app.db.conn().await?;
        renewal_plan(&mut c, s, plan).await?
    };
    let vat = orders::reverse_charge_number(app, account).await;
    quote_from(app, account, vat.as_deref(), s, &rp, periods)
}

/// [`quote`] from the plan already read and the account's reverse-charge VAT number.
pub(crate) fn quote_from(
    app: &App,
    account: &AccountRow,
    vat: Option<&str>,
    s: &ServiceRow,
    rp: &RenewalPlan,
    periods: i64,
) -> Result<Quote> {
    let today = crate::clock::utc_date(app.now_ms()).ok_or_else(|| AppError::internal("clock"))?;
    let e = expiration(s)?;
    let RenewalPlan {
        plan,
        product_name,
        price,
    } = rp;
    let product_name = product_name
        .clone()
        .unwrap_or_else(|| s.display_name.clone());
    let period = BillingPeriod::parse(&plan.period)
        .ok_or_else(|| AppError::internal("plan with an unknown period"))?;
    let d = orders::tax_decision(app, account, vat, &plan.tax_category, today);
    let p = pricing::price_line(&LineInput {
        unit_price_minor: price.price_minor,
        setup_fee_minor: 0,
        quantity: u32::try_from(periods).unwrap_or(1),
        rate_bp: d.rate_bp,
    })
    .map_err(|e| AppError::field("periods", "invalid_amount", e.to_string()))?;
    let end = renewed_expiration(anchor(s)?, e, period, i32::try_from(periods).unwrap_or(1))
        .ok_or_else(|| AppError::internal("expiration out of range"))?;
    Ok(Quote {
        line: LineRow {
            order_id: String::new(),
            line_no: 1,
            product_code: plan.product_code.clone(),
            product_name,
            plan_code: plan.code.clone(),
            plan_name: plan.name.clone(),
            period: plan.period.clone(),
            quantity: periods,
            unit_price_minor: price.price_minor,
            setup_fee_minor: 0,
            vat_rate_bp: i64::from(d.rate_bp),
            net_minor: p.net_minor,
            vat_minor: p.vat_minor,
            total_minor: p.total_minor,
            domain: None,
            service_id: Some(s.id.clone()),
            period_start: Some(s.expires_on.clone()),
            period_end: Some(end.to_string()),
        },
        currency: s.currency.clone(),
        treatment: d.treatment.as_str().to_owned(),
        tax_country: d.country.map(str::to_owned),
    })
}

/// Write a renewal order for `q`, numbered `number`, in the caller's transaction. With a
/// `key`, an order already placed under it is returned instead.
pub(crate) async fn place_in(
    app: &App,
    c: &mut AnyConnection,
    account: &AccountRow,
    s: &ServiceRow,
    q: &Quote,
    key: Option<&str>,
    number: String,
) -> Result<OrderRow> {
    if let Some(k) = key
        && let Some(o) = order_store::by_renewal_key(c, k).await?
    {
        return Ok(o);
    }
    let (order, line, event) = renewal_order(app, account, s, q, key, number)?;
    order_store::insert(c, &order).await?;
    order_store::insert_line(c, &line).await?;
    order_store::insert_event(c, &event).await?;
    Ok(order)
}

/// A renewal order for `q` numbered `number`, its line and its first follow-up event, not
/// yet written.
pub(crate) fn renewal_order(
    app: &App,
    account: &AccountRow,
    s: &ServiceRow,
    q: &Quote,
    key: Option<&str>,
    number: String,
) -> Result<(OrderRow, LineRow, guichet_store::orders::EventRow)> {
    let now = app.now_ms();
    let e = expiration(s)?;
    // The engine's order is payable until the service would be deleted; one the customer asks
    // for, at least the usual week too (the deletion cancels it anyway).
    let deadline = day_start_ms(deletion_day(e));
    let expires_at = match key {
        Some(_) => deadline,
        None => deadline.max(now + app.config.order_expiry_days * 86_400_000),
    };
    let id = ids::new_id(now);
    let order = OrderRow {
        id: id.clone(),
        account_id: account.id.clone(),
        number,
        kind: "renewal".into(),
        status: OrderStatus::NotPaid.as_str().into(),
        currency: q.currency.clone(),
        net_minor: q.line.net_minor,
        vat_minor: q.line.vat_minor,
        total_minor: q.line.total_minor,
        tax_treatment: q.treatment.clone(),
        tax_country: q.tax_country.clone(),
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
        renewal_key: key.map(str::to_owned),
    };
    let mut line = q.line.clone();
    line.order_id = id.clone();
    let lang = crate::accounts::language_of(account);
    let total = q.total();
    let end = line.period_end.clone().unwrap_or_default();
    let event = orders::event(
        app,
        &id,
        "order_started",
        match lang {
            Language::Fr => format!(
                "Renouvellement de {} jusqu'au {end} : {total} en attente de paiement.",
                s.display_name
            ),
            Language::En => format!(
                "Renewal of {} until {end}: {total} waiting for payment.",
                s.display_name
            ),
        },
        "system",
        Some(("pay", expires_at)),
    );
    Ok((order, line, event))
}

/// The engine's renewal order of `s` for its current expiration, placed if needed (in its own
/// transaction; a concurrent placement under the same key is found instead).
pub(crate) async fn ensure_order(
    app: &App,
    account: &AccountRow,
    s: &ServiceRow,
) -> Result<OrderRow> {
    let key = renewal_key(s);
    {
        let mut c = app.db.conn().await?;
        if let Some(o) = order_store::by_renewal_key(&mut c, &key).await? {
            return Ok(o);
        }
    }
    let q = quote(app, account, s, 1).await?;
    let mut last = None;
    // A number given before 0019 can be taken, and two nodes can race on the key: try again.
    for _ in 0..5 {
        let number = orders::new_number(app, app.now_ms()).await?;
        let mut tx = app.db.begin().await?;
        match place_in(app, tx.conn(), account, s, &q, Some(&key), number).await {
            Ok(o) => {
                tx.commit().await?;
                return Ok(o);
            }
            Err(e) => {
                drop(tx);
                let mut c = app.db.conn().await?;
                if let Some(o) = order_store::by_renewal_key(&mut c, &key).await? {
                    return Ok(o);
                }
                last = Some(e);
            }
        }
    }
    Err(last.unwrap_or_else(|| AppError::internal("renewal order")))
}

#[derive(Debug, Clone, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RenewInput {
    /// How many periods to buy (1 to 10, default 1); they add to the expiration date.
    pub periods: Option<i64>,
}

/// A customer renews a service by hand (manual renewal, early renewal, or several periods):
/// the order to pay. An unpaid renewal order for the same periods is returned again.
pub async fn renew(
    app: &App,
    account: &AccountRow,
    id: &str,
    input: &RenewInput,
) -> Result<OrderView> {
    if !ids::is_id(id) {
        return Err(AppError::not_found("service_not_found"));
    }
    let periods = input.periods.unwrap_or(1);
    if !(1..=MAX_PERIODS).contains(&periods) {
        return Err(AppError::field(
            "periods",
            "invalid_periods",
            "1 to 10 periods",
        ));
    }
    let s = {
        let mut c = app.db.conn().await?;
        service_store::get(&mut c, id, Some(&account.id))
            .await?
            .ok_or_else(|| AppError::not_found("service_not_found"))?
    };
    if s.state == "deleted" {
        return Err(AppError::conflict(
            "service_deleted",
            "this service is deleted",
        ));
    }
    if s.termination_requested_at.is_some() {
        return Err(AppError::conflict(
            "service_terminating",
            "this service ends at its expiration: cancel the termination first",
        ));
    }
    if account.state != "active" {
        return Err(AppError::forbidden(
            "account_not_active",
            "this account cannot place orders",
        ));
    }
    {
        let mut c = app.db.conn().await?;
        let open = order_store::unpaid_renewals_of(&mut c, id).await?;
        for o in open {
            let lines = order_store::lines(&mut c, &o.id).await?;
            let same = lines.iter().any(|l| {
                l.quantity == periods && l.period_start.as_deref() == Some(s.expires_on.as_str())
            });
            if same && o.expires_at > app.now_ms() {
                return orders::get(app, Some(&account.id), &o.id).await;
            }
        }
    }
    let q = quote(app, account, &s, periods).await?;
    let number = orders::new_number(app, app.now_ms()).await?;
    let mut tx = app.db.begin().await?;
    let o = place_in(app, tx.conn(), account, &s, &q, None, number).await?;
    mail::enqueue(
        app,
        tx.conn(),
        &recipient(account),
        &MailKind::Order(OrderMail::Placed {
            number: o.number.clone(),
            total: q.total(),
            expires_on: date_of(o.expires_at),
            link: app.config.link(&format!("/orders/{}", o.id)),
        }),
    )
    .await?;
    tx.commit().await?;
    app.outbox_signal.notify_waiters();
    orders::get(app, Some(&account.id), &o.id).await
}

/// What paying a renewal line does to its service, computed, not yet written.
pub(crate) struct Renewal {
    pub extension: service_store::Extension,
    pub mail: MailKind,
    pub webhooks: Vec<guichet_store::webhooks::EventRow>,
}

/// The effects of a paid renewal `line` of `order` on its service `s` (`None` when the
/// service is deleted: the payment needs a credit note).
pub(crate) fn renewal_of(
    app: &App,
    order: &OrderRow,
    l: &LineRow,
    s: &ServiceRow,
) -> Result<Option<Renewal>> {
    if s.state == "deleted" {
        tracing::error!(order = %order.id, service = %s.id, "renewal paid for a deleted service: issue a credit note");
        return Ok(None);
    }
    let period = BillingPeriod::parse(&l.period)
        .ok_or_else(|| AppError::internal("order line with an unknown period"))?;
    // Paid for the expiration it was priced from, or (another renewal was paid first) added
    // on top of the current one.
    let to = match (&l.period_start, &l.period_end) {
        (Some(start), Some(end)) if *start == s.expires_on => end.clone(),
        _ => renewed_expiration(
            anchor(s)?,
            expiration(s)?,
            period,
            i32::try_from(l.quantity).unwrap_or(1),
        )
        .ok_or_else(|| AppError::internal("expiration out of range"))?
        .to_string(),
    };
    let reactivated = s.state == "suspended";
    let mail = MailKind::Lifecycle(LifecycleMail::Renewed {
        name: s.display_name.clone(),
        expires_on: to.clone(),
        reactivated,
        link: app.config.link(&format!("/services/{}", s.id)),
    });
    let data = serde_json::json!({
        "service_id": s.id,
        "account_id": s.account_id,
        "order_id": order.id,
        "product": s.product_code,
        "plan": l.plan_code,
        "display_name": s.display_name,
        "previous_expires_on": s.expires_on,
        "expires_on": to,
    });
    let mut webhooks = vec![crate::provisioning::event(
        app,
        "service.renewed",
        &s.id,
        data.clone(),
    )];
    if reactivated {
        webhooks.push(crate::provisioning::event(
            app,
            "service.reactivated",
            &s.id,
            data,
        ));
    }
    let next_step_on = next_look(app, s, &to, period)?;
    Ok(Some(Renewal {
        extension: service_store::Extension {
            id: s.id.clone(),
            from: s.expires_on.clone(),
            to,
            plan: l.plan_code.clone(),
            period: l.period.clone(),
            next_step_on,
            mode: s.renewal_mode.clone(),
        },
        mail,
        webhooks,
    }))
}

/// The day the engine next looks at a service renewed until `to` for `period`: the first
/// step of its new cycle, so that the planner does not read every renewed service again only
/// to find nothing due. Today when a step of the new cycle is due already, or a termination
/// is asked (the planner then works it out itself).
fn next_look(app: &App, s: &ServiceRow, to: &str, period: BillingPeriod) -> Result<String> {
    let today = crate::clock::utc_date(app.now_ms())
        .ok_or_else(|| AppError::internal("clock out of range"))?;
    let (Ok(expires), Some(mode)) = (
        to.parse::<Date>(),
        guichet_domain::lifecycle::RenewalMode::parse(&s.renewal_mode),
    ) else {
        return Ok(today.to_string());
    };
    let due = guichet_domain::schedule::Cycle {
        expires,
        mode,
        period,
        terminating: s.termination_requested_at.is_some(),
    }
    .due(today);
    Ok(match due.next_on {
        Some(next) if due.steps.is_empty() && s.termination_requested_at.is_none() => next,
        _ => today,
    }
    .to_string())
}

/// The follow-up event of a renewal done.
pub(crate) fn delivered_event(
    app: &App,
    order_id: &str,
    lang: Language,
) -> guichet_store::orders::EventRow {
    orders::event(
        app,
        order_id,
        "delivered",
        match lang {
            Language::Fr => "Renouvellement effectué.".to_owned(),
            Language::En => "Renewal done.".to_owned(),
        },
        "system",
        None,
    )
}

/// A paid renewal order (now `checking`): move each renewed service's expiration on,
/// reactivate it if suspended, mail and tell the provisioning system; the order is delivered.
pub(crate) async fn apply_paid(
    app: &App,
    c: &mut AnyConnection,
    order: &OrderRow,
    account: &AccountRow,
) -> Result<()> {
    let now = app.now_ms();
    let today = crate::clock::utc_date(now).ok_or_else(|| AppError::internal("clock"))?;
    let lang = crate::accounts::language_of(account);
    for l in order_store::lines(c, &order.id).await? {
        let Some(sid) = l.service_id.as_deref() else {
            continue;
        };
        let Some(s) = service_store::get(c, sid, None).await? else {
            continue;
        };
        let Some(r) = renewal_of(app, order, &l, &s)? else {
            continue;
        };
        let moved = service_store::extend_many(
            c,
            std::slice::from_ref(&r.extension),
            &today.to_string(),
            now,
        )
        .await?;
        if moved != 1 {
            return Err(AppError::conflict(
                "service_changed",
                "the service changed meanwhile",
            ));
        }
        crate::plan_changes::after_renewal_in(app, c, &s, &l.plan_code, &order.id).await?;
        mail::enqueue(app, c, &recipient(account), &r.mail).await?;
        guichet_store::webhooks::insert_many(c, &r.webhooks).await?;
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
    order_store::insert_event(c, &delivered_event(app, &order.id, lang)).await?;
    Ok(())
}

/// Cancel the unpaid renewal orders of a service being deleted, in the caller's transaction.
pub(crate) async fn cancel_open_in(
    app: &App,
    c: &mut AnyConnection,
    service_id: &str,
    lang: Language,
) -> Result<()> {
    let now = app.now_ms();
    for o in order_store::unpaid_renewals_of(c, service_id).await? {
        if order_store::transition(
            c,
            &o.id,
            OrderStatus::NotPaid.as_str(),
            OrderStatus::Cancelled.as_str(),
            now,
        )
        .await?
        {
            order_store::set_cancel_reason(c, &o.id, "service_deleted").await?;
            crate::plan_changes::after_order_cancelled(app, c, &o).await?;
            record_event(
                app,
                c,
                &o.id,
                "cancelled",
                match lang {
                    Language::Fr => "Annulée : le service a été supprimé.".to_owned(),
                    Language::En => "Cancelled: the service was deleted.".to_owned(),
                },
                "system",
                None,
            )
            .await?;
        }
    }
    Ok(())
}

/// The mail for a failed renewal charge: which service, why, and when it is suspended.
pub(crate) async fn failure_mail(
    c: &mut AnyConnection,
    order: &OrderRow,
    reason: &str,
    link: String,
) -> Result<MailKind> {
    let line = order_store::lines(c, &order.id).await?.into_iter().next();
    let service = match line.as_ref().and_then(|l| l.service_id.as_deref()) {
        Some(id) => service_store::get(c, id, None).await?,
        None => None,
    };
    let name = service
        .as_ref()
        .map(|s| s.display_name.clone())
        .or_else(|| line.as_ref().map(|l| l.product_name.clone()))
        .unwrap_or_else(|| order.number.clone());
    let suspension_on = line
        .and_then(|l| l.period_start)
        .or_else(|| service.map(|s| s.expires_on))
        .unwrap_or_default();
    Ok(MailKind::Lifecycle(LifecycleMail::RenewalFailed {
        name,
        reason: reason.to_owned(),
        suspension_on,
        link,
    }))
}
