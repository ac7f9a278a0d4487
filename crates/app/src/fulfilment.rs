//! From a paid order to delivered services: the order check, the hand-over to the provider's
//! provisioning system (a signed webhook) or to the built-in provisioner, the provider's report
//! (done with the services' details, or failed with a reason), and the documents round trip an
//! operator can ask for. Every step writes its history event, mails and webhooks in the same
//! transaction as the status change it belongs to.

use crate::accounts::{language_of, recipient};
use crate::mail::{self, MailKind, OrderMail};
use crate::operators::{self, Operator};
use crate::orders::{self, OrderView, date_of, record_event};
use crate::{App, AppError, Result, ids};
use guichet_domain::order::OrderStatus;
use guichet_domain::{BillingPeriod, Language};
use guichet_store::accounts::AccountRow;
use guichet_store::orders::{self as order_store, LineRow, OrderRow};
use guichet_store::services::{self, ServiceRow};
use guichet_store::{AnyConnection, catalog};
use serde::Deserialize;
use utoipa::ToSchema;

/// After a payment succeeded (order now `checking`): check the order and start delivery.
pub(crate) async fn after_payment(
    app: &App,
    c: &mut AnyConnection,
    order: &OrderRow,
    account: &AccountRow,
) -> Result<()> {
    if order.kind == "renewal" {
        return crate::renewals::apply_paid(app, c, order, account).await;
    }
    if order.kind == crate::plan_changes::ORDER_KIND {
        return crate::plan_changes::apply_paid(app, c, order, account).await;
    }
    let lang = language_of(account);
    record_event(
        app,
        c,
        &order.id,
        "fraud_check",
        match lang {
            Language::Fr => "La commande a été vérifiée et validée.".to_owned(),
            Language::En => "The order was checked and validated.".to_owned(),
        },
        "system",
        None,
    )
    .await?;
    start_delivery(app, c, order, account, OrderStatus::Checking).await
}

/// Move the order to `delivering` and hand it to its provisioner.
async fn start_delivery(
    app: &App,
    c: &mut AnyConnection,
    order: &OrderRow,
    account: &AccountRow,
    from: OrderStatus,
) -> Result<()> {
    let now = app.now_ms();
    if !order_store::transition(
        c,
        &order.id,
        from.as_str(),
        OrderStatus::Delivering.as_str(),
        now,
    )
    .await?
    {
        return Err(AppError::conflict(
            "order_state_changed",
            "the order changed meanwhile",
        ));
    }
    let lang = language_of(account);
    record_event(
        app,
        c,
        &order.id,
        "delivery_started",
        match lang {
            Language::Fr => "La livraison de votre commande a commencé.".to_owned(),
            Language::En => "The delivery of your order has started.".to_owned(),
        },
        "system",
        None,
    )
    .await?;
    let lines = deliverable(order_store::lines(c, &order.id).await?);
    if builtin(app, c, &lines).await? {
        deliver_in(app, c, order, account, &lines, &[], "provisioner").await?;
    } else {
        crate::provisioning::emit(
            app,
            c,
            "order.delivery_requested",
            &order.id,
            order_payload(order, account, &lines),
        )
        .await?;
    }
    Ok(())
}

/// The lines a service is delivered for (a voucher's discount line is not one).
fn deliverable(lines: Vec<LineRow>) -> Vec<LineRow> {
    lines
        .into_iter()
        .filter(|l| !crate::vouchers::is_discount(l))
        .collect()
}

/// Whether the built-in provisioner delivers these lines (all instant, or configured so).
async fn builtin(app: &App, c: &mut AnyConnection, lines: &[LineRow]) -> Result<bool> {
    if app.config.builtin_provisioner_all {
        return Ok(true);
    }
    for l in lines {
        let instant = catalog::product(c, &l.product_code)
            .await?
            .is_some_and(|p| p.instant == 1);
        if !instant {
            return Ok(false);
        }
    }
    Ok(true)
}

/// What the provisioning system receives about an order.
fn order_payload(order: &OrderRow, account: &AccountRow, lines: &[LineRow]) -> serde_json::Value {
    serde_json::json!({
        "order_id": order.id,
        "number": order.number,
        "customer": {
            "account_id": account.id,
            "customer_code": account.customer_code,
            "country": account.country,
            "language": account.language,
        },
        "lines": lines.iter().map(|l| serde_json::json!({
            "line": l.line_no,
            "product": l.product_code,
            "plan": l.plan_code,
            "period": l.period,
            "quantity": l.quantity,
            "domain": l.domain,
        })).collect::<Vec<_>>(),
        "callback": format!("/api/v1/admin/orders/{}/delivery", order.id),
    })
}

/// One delivered unit as the provider reports it.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DeliveredService {
    /// Order line number (1-based).
    pub line: i64,
    /// Unit within the line (1-based, default 1).
    pub unit: Option<i64>,
    /// Name shown to the customer (default: the product name, or the domain).
    pub display_name: Option<String>,
    /// Free JSON object shown to the customer (host name, IP addresses…).
    pub details: Option<serde_json::Value>,
}

#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DeliveryReport {
    /// `done` or `failed`.
    pub outcome: String,
    /// Why it failed (required with `failed`).
    pub reason: Option<String>,
    #[serde(default)]
    pub services: Vec<DeliveredService>,
}

/// Create the services of a delivering order and mark it delivered, in the caller's
/// transaction. Each (line, unit) gets one service however often this runs.
async fn deliver_in(
    app: &App,
    c: &mut AnyConnection,
    order: &OrderRow,
    account: &AccountRow,
    lines: &[LineRow],
    reported: &[DeliveredService],
    actor: &str,
) -> Result<()> {
    let now = app.now_ms();
    let today =
        crate::clock::utc_date(now).ok_or_else(|| AppError::internal("clock out of range"))?;
    for l in lines {
        let period = BillingPeriod::parse(&l.period)
            .ok_or_else(|| AppError::internal("order line with an unknown period"))?;
        let expires = guichet_domain::period::expiration_after(today, period, 1)
            .ok_or_else(|| AppError::internal("expiration out of range"))?;
        for unit in 1..=l.quantity {
            let r = reported
                .iter()
                .find(|s| s.line == l.line_no && s.unit.unwrap_or(1) == unit);
            let default_name = match (&l.domain, l.quantity) {
                (Some(d), _) => d.clone(),
                (None, 1) => l.product_name.clone(),
                (None, _) => format!("{} #{unit}", l.product_name),
            };
            let name = r
                .and_then(|r| r.display_name.clone())
                .map(|n| n.trim().chars().take(120).collect::<String>())
                .filter(|n| !n.is_empty())
                .unwrap_or(default_name);
            let details = r
                .and_then(|r| r.details.clone())
                .unwrap_or_else(|| serde_json::json!({}));
            let s = ServiceRow {
                id: ids::new_id(now),
                account_id: account.id.clone(),
                order_id: order.id.clone(),
                line_no: l.line_no,
                unit_no: unit,
                product_code: l.product_code.clone(),
                plan_code: l.plan_code.clone(),
                display_name: name.clone(),
                details: details.to_string(),
                state: "active".into(),
                period: l.period.clone(),
                currency: order.currency.clone(),
                expires_on: expires.to_string(),
                renewal_mode: "automatic".into(),
                created_at: now,
                updated_at: now,
                deleted_at: None,
                renewal_period: None,
                termination_reason: None,
                termination_comment: None,
                termination_requested_at: None,
                next_step_on: Some(today.to_string()),
                suspended_at: None,
            };
            if !services::insert(c, &s).await? {
                continue;
            }
            if unit == 1 {
                order_store::set_line_service(c, &order.id, l.line_no, &s.id).await?;
            }
            mail::enqueue(
                app,
                c,
                &recipient(account),
                &MailKind::Order(OrderMail::ServiceReady {
                    name: name.clone(),
                    expires_on: s.expires_on.clone(),
                    link: app.config.link(&format!("/services/{}", s.id)),
                }),
            )
            .await?;
            crate::provisioning::emit(
                app,
                c,
                "service.created",
                &s.id,
                serde_json::json!({
                    "service_id": s.id,
                    "order_id": order.id,
                    "account_id": account.id,
                    "product": s.product_code,
                    "plan": s.plan_code,
                    "display_name": s.display_name,
                    "expires_on": s.expires_on,
                    "state": s.state,
                }),
            )
            .await?;
        }
    }
    if !order_store::transition(
        c,
        &order.id,
        OrderStatus::Delivering.as_str(),
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
        match language_of(account) {
            Language::Fr => "Vos services sont livrés et disponibles.".to_owned(),
            Language::En => "Your services are delivered and available.".to_owned(),
        },
        actor,
        None,
    )
    .await?;
    Ok(())
}

/// Load an order for an operator, in the transaction.
async fn order_for_op(c: &mut AnyConnection, id: &str) -> Result<OrderRow> {
    if !ids::is_id(id) {
        return Err(AppError::not_found("order_not_found"));
    }
    order_store::get(c, id, None)
        .await?
        .ok_or_else(|| AppError::not_found("order_not_found"))
}

/// The provisioning system reports on a delivery.
pub async fn report_delivery(
    app: &App,
    op: &Operator,
    order_id: &str,
    report: &DeliveryReport,
) -> Result<OrderView> {
    op.require_role(&["support"])?;
    let mut tx = app.db.begin().await?;
    let order = order_for_op(tx.conn(), order_id).await?;
    let account = orders::account_of(tx.conn(), &order).await?;
    match report.outcome.as_str() {
        "done" => {
            if order.status == OrderStatus::Delivered.as_str() {
                // A replayed report: already done, nothing happens twice.
                drop(tx);
                return orders::get(app, None, order_id).await;
            }
            if order.status != OrderStatus::Delivering.as_str() {
                return Err(AppError::conflict(
                    "order_not_delivering",
                    "this order is not being delivered",
                ));
            }
            let lines = deliverable(order_store::lines(tx.conn(), order_id).await?);
            for (i, s) in report.services.iter().enumerate() {
                let ok = lines.iter().any(|l| {
                    l.line_no == s.line && (1..=l.quantity).contains(&s.unit.unwrap_or(1))
                });
                if !ok {
                    return Err(AppError::field(
                        &format!("services[{i}].line"),
                        "unknown_line",
                        "no such line and unit on this order",
                    ));
                }
                if s.details.as_ref().is_some_and(|d| !d.is_object()) {
                    return Err(AppError::field(
                        &format!("services[{i}].details"),
                        "invalid_details",
                        "details must be a JSON object",
                    ));
                }
            }
            let actor = op.actor();
            deliver_in(
                app,
                tx.conn(),
                &order,
                &account,
                &lines,
                &report.services,
                &actor,
            )
            .await?;
            operators::audit(app, tx.conn(), op, "order.delivered", Some(order_id), None).await?;
        }
        "failed" => {
            let reason = report
                .reason
                .as_deref()
                .map(str::trim)
                .filter(|r| !r.is_empty() && r.len() <= 1000)
                .ok_or_else(|| {
                    AppError::field(
                        "reason",
                        "reason_required",
                        "say why delivery failed (1 to 1000 characters)",
                    )
                })?;
            if order.status != OrderStatus::Delivering.as_str() {
                return Err(AppError::conflict(
                    "order_not_delivering",
                    "this order is not being delivered",
                ));
            }
            let now = app.now_ms();
            if order.delivery_error.as_deref() == Some(reason) {
                // The same report again: recorded already.
                drop(tx);
                return orders::get(app, None, order_id).await;
            }
            if !order_store::set_delivery_error(tx.conn(), order_id, Some(reason), now).await? {
                return Err(AppError::conflict(
                    "order_not_delivering",
                    "this order is not being delivered",
                ));
            }
            record_event(
                app,
                tx.conn(),
                order_id,
                "delivery_failed",
                match language_of(&account) {
                    Language::Fr => {
                        "La livraison a rencontré un problème ; nos équipes s'en occupent."
                            .to_owned()
                    }
                    Language::En => {
                        "The delivery ran into a problem; our teams are on it.".to_owned()
                    }
                },
                &op.actor(),
                None,
            )
            .await?;
            mail::enqueue(
                app,
                tx.conn(),
                &recipient(&account),
                &MailKind::Order(OrderMail::DeliveryFailed {
                    number: order.number.clone(),
                    link: app.config.link(&format!("/orders/{order_id}")),
                }),
            )
            .await?;
            operators::audit(
                app,
                tx.conn(),
                op,
                "order.delivery_failed",
                Some(order_id),
                Some(reason.to_owned()),
            )
            .await?;
        }
        _ => {
            return Err(AppError::field(
                "outcome",
                "invalid_outcome",
                "done or failed",
            ));
        }
    }
    tx.commit().await?;
    app.outbox_signal.notify_waiters();
    orders::get(app, None, order_id).await
}

/// An operator asks the customer for documents before delivery.
pub async fn request_documents(
    app: &App,
    op: &Operator,
    order_id: &str,
    instructions: &str,
    due_days: Option<i64>,
) -> Result<OrderView> {
    op.require_role(&["support"])?;
    let instructions = instructions.trim();
    if instructions.is_empty() || instructions.chars().count() > 2000 {
        return Err(AppError::field(
            "instructions",
            "invalid_instructions",
            "1 to 2000 characters",
        ));
    }
    let days = due_days.unwrap_or(14);
    if !(1..=90).contains(&days) {
        return Err(AppError::field(
            "due_days",
            "invalid_due_days",
            "1 to 90 days",
        ));
    }
    let mut tx = app.db.begin().await?;
    let order = order_for_op(tx.conn(), order_id).await?;
    let from = OrderStatus::parse(&order.status).unwrap_or(OrderStatus::Cancelled);
    if !from.can_become(OrderStatus::DocumentsRequested) {
        return Err(AppError::conflict(
            "order_not_in_review",
            "documents can be asked for while the order is checked or delivered",
        ));
    }
    let now = app.now_ms();
    let due = now + days * 86_400_000;
    if !order_store::transition(
        tx.conn(),
        order_id,
        from.as_str(),
        OrderStatus::DocumentsRequested.as_str(),
        now,
    )
    .await?
    {
        return Err(AppError::conflict(
            "order_state_changed",
            "the order changed meanwhile",
        ));
    }
    order_store::set_action(tx.conn(), order_id, Some("send_documents"), Some(due)).await?;
    let account = orders::account_of(tx.conn(), &order).await?;
    record_event(
        app,
        tx.conn(),
        order_id,
        "documents_requested",
        instructions.to_owned(),
        &op.actor(),
        Some(("send_documents", due)),
    )
    .await?;
    mail::enqueue(
        app,
        tx.conn(),
        &recipient(&account),
        &MailKind::Order(OrderMail::DocumentsRequested {
            number: order.number.clone(),
            instructions: instructions.to_owned(),
            due_on: date_of(due),
            link: app.config.link(&format!("/orders/{order_id}")),
        }),
    )
    .await?;
    operators::audit(
        app,
        tx.conn(),
        op,
        "order.documents_requested",
        Some(order_id),
        None,
    )
    .await?;
    tx.commit().await?;
    app.outbox_signal.notify_waiters();
    orders::get(app, None, order_id).await
}

/// An operator validates an order in review (after its documents): delivery starts.
pub async fn validate(app: &App, op: &Operator, order_id: &str) -> Result<OrderView> {
    op.require_role(&["support"])?;
    let mut tx = app.db.begin().await?;
    let order = order_for_op(tx.conn(), order_id).await?;
    if order.status != OrderStatus::Checking.as_str() {
        return Err(AppError::conflict(
            "order_not_checking",
            "only an order being checked can be validated",
        ));
    }
    let account = orders::account_of(tx.conn(), &order).await?;
    start_delivery(app, tx.conn(), &order, &account, OrderStatus::Checking).await?;
    operators::audit(app, tx.conn(), op, "order.validated", Some(order_id), None).await?;
    tx.commit().await?;
    app.outbox_signal.notify_waiters();
    orders::get(app, None, order_id).await
}

/// An operator cancels (refuses) an order that is not delivered yet.
pub async fn cancel_by_operator(
    app: &App,
    op: &Operator,
    order_id: &str,
    reason: &str,
) -> Result<OrderView> {
    op.require_role(&["support"])?;
    let reason = reason.trim();
    if reason.is_empty() || reason.chars().count() > 1000 {
        return Err(AppError::field(
            "reason",
            "reason_required",
            "1 to 1000 characters",
        ));
    }
    let mut tx = app.db.begin().await?;
    let order = order_for_op(tx.conn(), order_id).await?;
    let from = OrderStatus::parse(&order.status).unwrap_or(OrderStatus::Cancelled);
    if !from.can_become(OrderStatus::Cancelled) {
        return Err(AppError::conflict(
            "order_not_cancellable",
            "a delivered or cancelled order cannot be cancelled",
        ));
    }
    // A paid order is invoiced: the money goes back through a credit note first.
    if order.paid_at.is_some() {
        let credited = match guichet_store::invoices::of_order(tx.conn(), order_id).await? {
            Some(inv) => {
                guichet_store::invoices::credited_total(tx.conn(), &inv.id).await?
                    >= inv.total_minor
            }
            None => true,
        };
        if !credited {
            return Err(AppError::conflict(
                "credit_invoice_first",
                "this order is paid: credit its invoice in full (with its refund) before cancelling it",
            ));
        }
    }
    let account = orders::account_of(tx.conn(), &order).await?;
    let number = order.number.clone();
    if !orders::cancel_in(
        app,
        tx.conn(),
        &order,
        &account,
        "cancelled",
        reason,
        &op.actor(),
        OrderMail::Cancelled {
            number,
            reason: reason.to_owned(),
        },
    )
    .await?
    {
        return Err(AppError::conflict(
            "order_state_changed",
            "the order changed meanwhile, or a payment of it is in progress",
        ));
    }
    operators::audit(
        app,
        tx.conn(),
        op,
        "order.cancelled",
        Some(order_id),
        Some(reason.to_owned()),
    )
    .await?;
    tx.commit().await?;
    app.outbox_signal.notify_waiters();
    orders::get(app, None, order_id).await
}
