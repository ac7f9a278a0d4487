//! Paying an order. The payment row is written `pending` before the gateway is called, with
//! a unique index allowing one live payment per order (so fifty concurrent pays make one
//! charge), and the charge carries an idempotency key derived from it. The outcome is settled
//! once: `succeeded` moves the order on, `failed` leaves it payable, and `unknown` (a timeout)
//! is settled later by [`reconcile_due`] from what the gateway says, never charged again.

use crate::accounts::language_of;
use crate::gateway::{ChargeRequest, Gateway, Lookup, Outcome};
use crate::mail::{self, MailKind, OrderMail};
use crate::orders::{self, OrderView, format_money, record_event};
use crate::{App, AppError, Result, ids};
use guichet_domain::Language;
use guichet_domain::order::OrderStatus;
use guichet_store::payments::{self, PaymentRow};
use guichet_store::{AnyConnection, orders as order_store};
use serde::Deserialize;
use utoipa::ToSchema;

/// An unsettled payment untouched for this long is looked up at the gateway (again: each is
/// asked at most once per delay, so a gateway is not asked every second).
const STALE_PENDING_MS: i64 = 60_000;
/// A payment the gateway has no record of is failed only after this long: until then the
/// charge may still be in flight (or not yet visible at the gateway).
const NOT_FOUND_GRACE_MS: i64 = 15 * 60_000;

#[derive(Debug, Clone, Deserialize, serde::Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PayInput {
    /// A saved payment method of the account; without it (and without `source`), the default.
    pub payment_method_id: Option<String>,
    /// Or a one-off gateway token (in sandbox mode, from `POST /api/v1/sandbox/gateway/tokens`).
    pub source: Option<String>,
}

fn key_for(order_id: &str, payment_id: &str) -> String {
    format!("order:{order_id}:{payment_id}")
}

/// How an order is paid.
enum Means {
    /// Nothing is due.
    Free,
    /// A gateway charge of `source` (a token).
    Charge {
        gateway: Gateway,
        source: String,
        label: String,
        method_id: Option<String>,
    },
    /// The customer transfers the money; an operator marks it received.
    Transfer { method_id: String },
}

async fn means(app: &App, account_id: &str, total: i64, input: &PayInput) -> Result<Means> {
    if total == 0 {
        return Ok(Means::Free);
    }
    let no_gateway = || {
        AppError::conflict(
            "no_payment_gateway",
            "no payment gateway is configured on this installation",
        )
    };
    if let Some(source) = input.source.as_deref().map(str::trim) {
        if source.is_empty() || input.payment_method_id.is_some() {
            return Err(AppError::field(
                "source",
                "invalid_payment_source",
                "give either a payment method or a source",
            ));
        }
        let gateway = Gateway::for_app(app).ok_or_else(no_gateway)?;
        let label = gateway
            .describe(app, account_id, source)
            .await?
            .ok_or_else(|| {
                AppError::field(
                    "source",
                    "invalid_payment_source",
                    "the gateway does not know this payment source",
                )
            })?;
        return Ok(Means::Charge {
            gateway,
            source: source.to_owned(),
            label,
            method_id: None,
        });
    }
    let m =
        crate::payment_methods::for_payment(app, account_id, input.payment_method_id.as_deref())
            .await?;
    if m.kind == "bank_transfer" {
        return Ok(Means::Transfer { method_id: m.id });
    }
    let gateway = Gateway::parse(&m.gateway).ok_or_else(no_gateway)?;
    let source = m.token.clone().ok_or_else(|| {
        AppError::conflict(
            "payment_method_unusable",
            "this payment method has no token",
        )
    })?;
    Ok(Means::Charge {
        gateway,
        source,
        label: m.label,
        method_id: Some(m.id),
    })
}

/// Pay an unpaid order of `account_id`.
pub async fn pay_order(
    app: &App,
    account_id: &str,
    order_id: &str,
    input: &PayInput,
) -> Result<OrderView> {
    if !ids::is_id(order_id) {
        return Err(AppError::not_found("order_not_found"));
    }
    let order = {
        let mut c = app.db.conn().await?;
        order_store::get(&mut c, order_id, Some(account_id))
            .await?
            .ok_or_else(|| AppError::not_found("order_not_found"))?
    };
    check_payable(app, &order)?;
    let now = app.now_ms();
    let payment_id = ids::new_id(now);
    // The account's credit pays first: when it looks like covering the order, no payment
    // method is needed (checked again under the lock below).
    let covered = {
        let mut c = app.db.conn().await?;
        let applied = crate::credit::applied_to_order(&mut c, order_id).await?;
        let balance = crate::credit::balance(&mut c, account_id, &order.currency).await?;
        (applied > 0 && applied >= order.total_minor)
            || (applied == 0 && balance >= order.total_minor)
    };
    let credit_method = credit_label(app, account_id).await;
    let means = match means(app, account_id, order.total_minor, input).await {
        Ok(m) => m,
        Err(_) if covered => Means::Free,
        Err(e) => return Err(e),
    };
    let (gateway, source, label, method_id) = match &means {
        Means::Free => (None, "free".to_owned(), None, None),
        Means::Charge {
            gateway,
            source,
            label,
            method_id,
        } => (
            Some(*gateway),
            source.clone(),
            Some(label.clone()),
            method_id.clone(),
        ),
        Means::Transfer { method_id } => (
            None,
            "bank_transfer".to_owned(),
            Some(format!("Bank transfer {}", order.number)),
            Some(method_id.clone()),
        ),
    };
    let mut transfer = matches!(means, Means::Transfer { .. });

    let mut tx = app.db.begin().await?;
    // Lock the order row (PostgreSQL) and check it is still unpaid, so a cancellation and a
    // payment cannot both win.
    if !touch_unpaid(tx.conn(), order_id, now).await? {
        return Err(not_payable());
    }
    if payments::of_order(tx.conn(), order_id)
        .await?
        .iter()
        .any(|p| matches!(p.state.as_str(), "pending" | "unknown" | "succeeded"))
    {
        drop(tx);
        return Err(already_paying(app, order_id).await);
    }
    // Under the order's lock, in the payment's transaction: the credit is debited once.
    let credit = crate::credit::apply_to_order_in(app, tx.conn(), &order).await?;
    let rest = order.total_minor - credit;
    let (gateway, source, label, method_id) = if rest == 0 && order.total_minor > 0 {
        transfer = false;
        (None, "credit".to_owned(), Some(credit_method), None)
    } else if rest > 0 && matches!(means, Means::Free) {
        drop(tx);
        return Err(AppError::conflict(
            "credit_changed",
            "the account's credit no longer covers this order: pay again with a payment method",
        ));
    } else {
        (gateway, source, label, method_id)
    };
    let row = PaymentRow {
        id: payment_id.clone(),
        account_id: account_id.to_owned(),
        order_id: order_id.to_owned(),
        amount_minor: rest,
        currency: order.currency.clone(),
        state: "pending".into(),
        gateway: if transfer {
            "bank_transfer".to_owned()
        } else {
            gateway.map_or("none", Gateway::name).to_owned()
        },
        idempotency_key: key_for(order_id, &payment_id),
        source: source.clone(),
        method_label: label,
        gateway_ref: None,
        failure_code: None,
        created_at: now,
        updated_at: now,
        settled_at: None,
        payment_method_id: method_id,
    };
    match payments::insert(tx.conn(), &row).await {
        Ok(()) => {}
        Err(e) if e.is_unique_on("payments") || e.is_unique_on("order_id") => {
            drop(tx);
            return Err(already_paying(app, order_id).await);
        }
        Err(e) => return Err(e.into()),
    }
    if transfer {
        crate::transfers::await_transfer(app, tx.conn(), &order, &row).await?;
        tx.commit().await?;
        app.outbox_signal.notify_waiters();
        return orders::get(app, Some(account_id), order_id).await;
    }
    tx.commit().await?;

    let outcome = match gateway {
        None => Outcome::Succeeded {
            charge_id: "free".into(),
        },
        Some(g) => g
            .charge(
                app,
                &ChargeRequest {
                    account_id,
                    idempotency_key: &row.idempotency_key,
                    source: &source,
                    amount_minor: row.amount_minor,
                    currency: &row.currency,
                },
            )
            .await
            .unwrap_or_else(|e| {
                tracing::warn!(error = %e.message, "charge outcome unknown");
                Outcome::Unknown
            }),
    };
    settle(app, &row, &outcome).await?;
    orders::get(app, Some(account_id), order_id).await
}

/// How a payment entirely made with the account's credit is named.
async fn credit_label(app: &App, account_id: &str) -> String {
    let lang = match app.db.conn().await {
        Ok(mut c) => guichet_store::accounts::by_id(&mut c, account_id)
            .await
            .ok()
            .flatten()
            .map(|a| language_of(&a)),
        Err(_) => None,
    };
    crate::credit::label(lang.unwrap_or(Language::En)).to_owned()
}

fn not_payable() -> AppError {
    AppError::conflict(
        "order_not_payable",
        "this order is not waiting for a payment",
    )
}

fn check_payable(app: &App, o: &guichet_store::orders::OrderRow) -> Result<()> {
    if o.status != OrderStatus::NotPaid.as_str() {
        return Err(not_payable());
    }
    if o.expires_at <= app.now_ms() {
        return Err(AppError::conflict(
            "order_expired",
            "this order expired unpaid; place a new one",
        ));
    }
    Ok(())
}

async fn touch_unpaid(c: &mut AnyConnection, order_id: &str, now: i64) -> Result<bool> {
    Ok(order_store::touch_if_status(c, order_id, OrderStatus::NotPaid.as_str(), now).await?)
}

async fn already_paying(app: &App, order_id: &str) -> AppError {
    let paid = match app.db.conn().await {
        Ok(mut c) => payments::of_order(&mut c, order_id)
            .await
            .map(|ps| ps.iter().any(|p| p.state == "succeeded"))
            .unwrap_or(false),
        Err(_) => false,
    };
    if paid {
        AppError::conflict("order_already_paid", "this order is already paid")
    } else {
        AppError::conflict(
            "payment_in_progress",
            "a payment of this order is being processed",
        )
    }
}

/// Record a gateway outcome for a payment, once; a success moves the order on. Returns
/// whether this call settled it.
pub async fn settle(app: &App, p: &PaymentRow, outcome: &Outcome) -> Result<bool> {
    let now = app.now_ms();
    let mut tx = app.db.begin().await?;
    let (state, gateway_ref, failure) = match outcome {
        Outcome::Succeeded { charge_id } => ("succeeded", Some(charge_id.as_str()), None),
        Outcome::Failed { code } => ("failed", None, Some(code.as_str())),
        Outcome::Unknown => ("unknown", None, None),
    };
    if p.state == "unknown" && state == "unknown" {
        return Ok(false);
    }
    // Order row first, then the payment: the same lock order as paying and cancelling.
    order_store::lock(tx.conn(), &p.order_id, now).await?;
    if !payments::settle(tx.conn(), &p.id, state, gateway_ref, failure, now).await? {
        // Settled by someone else already. Money taken on a payment recorded as failed must
        // not go unnoticed: it needs a refund by hand.
        if matches!(outcome, Outcome::Succeeded { .. })
            && let Some(now_row) = payments::get(tx.conn(), &p.id).await?
            && now_row.state == "failed"
        {
            tracing::error!(payment = %p.id, order = %p.order_id, "charge succeeded on a payment already recorded as failed: refund it");
        }
        return Ok(false);
    }
    if let Some(m) = &p.payment_method_id {
        match outcome {
            Outcome::Failed { .. } => {
                guichet_store::payment_methods::record_outcome(tx.conn(), m, Some(now)).await?
            }
            Outcome::Succeeded { .. } => {
                guichet_store::payment_methods::record_outcome(tx.conn(), m, None).await?
            }
            Outcome::Unknown => {}
        }
    }
    let Some(order) = order_store::get(tx.conn(), &p.order_id, None).await? else {
        return Err(AppError::internal("payment without order"));
    };
    let account = orders::account_of(tx.conn(), &order).await?;
    let lang = language_of(&account);
    let amount = format_money(p.amount_minor, &p.currency);
    let link = app.config.link(&format!("/orders/{}", order.id));
    match outcome {
        Outcome::Succeeded { .. } => {
            if !order_store::transition(
                tx.conn(),
                &order.id,
                OrderStatus::NotPaid.as_str(),
                OrderStatus::Checking.as_str(),
                now,
            )
            .await?
            {
                // Cannot happen while the order row is locked by the payment; kept loud.
                tracing::error!(order = %order.id, payment = %p.id, "payment succeeded on an order that was no longer unpaid: refund needed");
                tx.commit().await?;
                return Ok(true);
            }
            order_store::insert_event(tx.conn(), &received_event(app, p, lang)).await?;
            // A renewal's own mail says it is renewed (and the invoice has its own).
            if order.kind != "renewal" {
                mail::enqueue(
                    app,
                    tx.conn(),
                    &crate::accounts::recipient(&account),
                    &MailKind::Order(OrderMail::PaymentReceived {
                        number: order.number.clone(),
                        total: amount,
                        link,
                    }),
                )
                .await?;
            }
            crate::invoices::issue_for_order(
                app,
                tx.conn(),
                &order,
                &account,
                p.method_label.as_deref().unwrap_or(match lang {
                    Language::Fr => "aucun paiement dû",
                    Language::En => "nothing due",
                }),
            )
            .await?;
            crate::fulfilment::after_payment(app, tx.conn(), &order, &account).await?;
        }
        Outcome::Failed { code } => {
            let reason = failure_text(code, lang);
            record_event(
                app,
                tx.conn(),
                &order.id,
                "payment_failed",
                match lang {
                    Language::Fr => format!("Le paiement de {amount} a échoué : {reason}."),
                    Language::En => format!("The payment of {amount} failed: {reason}."),
                },
                "system",
                Some(("pay", order.expires_at)),
            )
            .await?;
            let kind = if order.kind == "renewal" {
                crate::renewals::failure_mail(tx.conn(), &order, reason, link).await?
            } else {
                MailKind::Order(OrderMail::PaymentFailed {
                    number: order.number.clone(),
                    reason: reason.to_owned(),
                    link,
                })
            };
            mail::enqueue(app, tx.conn(), &crate::accounts::recipient(&account), &kind).await?;
        }
        Outcome::Unknown => {
            record_event(
                app,
                tx.conn(),
                &order.id,
                "payment_pending",
                match lang {
                    Language::Fr => format!(
                        "Le paiement de {amount} attend la confirmation de la banque ; \
                         il ne sera pas débité deux fois."
                    ),
                    Language::En => format!(
                        "The payment of {amount} awaits the bank's confirmation; it will not \
                         be charged twice."
                    ),
                },
                "system",
                None,
            )
            .await?;
        }
    }
    tx.commit().await?;
    app.outbox_signal.notify_waiters();
    Ok(true)
}

/// The follow-up event of a payment received.
pub(crate) fn received_event(
    app: &App,
    p: &PaymentRow,
    lang: Language,
) -> guichet_store::orders::EventRow {
    let amount = format_money(p.amount_minor, &p.currency);
    let method = p.method_label.clone().unwrap_or_default();
    crate::orders::event(
        app,
        &p.order_id,
        "payment_received",
        match lang {
            Language::Fr => format!("Paiement de {amount} reçu ({method})."),
            Language::En => format!("Payment of {amount} received ({method})."),
        },
        "system",
        None,
    )
}

pub(crate) fn failure_text(code: &str, lang: Language) -> &'static str {
    match (code, lang == Language::Fr) {
        ("card_declined", true) => "carte refusée",
        ("card_declined", false) => "card declined",
        ("insufficient_funds", true) => "provision insuffisante",
        ("insufficient_funds", false) => "insufficient funds",
        ("expired_card", true) => "carte expirée",
        ("expired_card", false) => "card expired",
        ("abandoned", true) => "paiement interrompu",
        ("abandoned", false) => "payment interrupted",
        (_, true) => "paiement refusé",
        (_, false) => "payment refused",
    }
}

/// Settle payments whose outcome is unknown (timeouts, a process killed mid-payment) from
/// what the gateway recorded under their idempotency key ([`Gateway::reconcile`]: the
/// sandbox's record, or Stripe's replay of the same idempotent request). A gateway that
/// cannot be asked now is asked again on the next run. Returns how many were settled.
pub async fn reconcile_due(app: &App) -> Result<usize> {
    let now = app.now_ms();
    let rows = {
        let mut c = app.db.conn().await?;
        payments::unsettled(&mut c, now - STALE_PENDING_MS, 200).await?
    };
    let mut n = 0;
    for p in rows {
        let outcome = match Gateway::parse(&p.gateway) {
            Some(g) => match g.reconcile(app, &p).await {
                Ok(Lookup::Found(o)) => o,
                Err(e) => {
                    tracing::warn!(payment = %p.id, error = %e.message, "payment not reconciled yet");
                    not_yet(app, &p).await;
                    continue;
                }
                // The gateway never took it: nothing was charged.
                Ok(Lookup::NotFound) if p.updated_at > now - NOT_FOUND_GRACE_MS => continue,
                Ok(Lookup::NotFound) => Outcome::Failed {
                    code: "abandoned".into(),
                },
            },
            // A free order whose process died before settling.
            None if p.gateway == "none" => Outcome::Succeeded {
                charge_id: "free".into(),
            },
            None => continue,
        };
        if outcome == Outcome::Unknown {
            not_yet(app, &p).await;
            continue;
        }
        match settle(app, &p, &outcome).await {
            Ok(true) => n += 1,
            Ok(false) => {}
            Err(e) => {
                tracing::error!(payment = %p.id, error = %e.message, "could not settle a payment")
            }
        }
    }
    Ok(n)
}

/// What became of an automatic renewal charge.
pub(crate) enum RenewalCharge {
    /// Charged (whatever the outcome, it is settled or being reconciled).
    Sent,
    /// No usable payment method: nothing was charged.
    NoMethod(AppError),
    /// Paid already, or another payment of it is in flight: nothing to do.
    Nothing,
}

/// Charge a renewal order to the account's default method under `key` (fixed per order and
/// attempt day). Run again after a crash, it finds its own payment still pending and sends
/// the same idempotent charge again instead of charging twice.
pub(crate) async fn charge_renewal(
    app: &App,
    order: &guichet_store::orders::OrderRow,
    key: &str,
) -> Result<RenewalCharge> {
    if order.status != OrderStatus::NotPaid.as_str() {
        return Ok(RenewalCharge::Nothing);
    }
    let input = PayInput {
        payment_method_id: None,
        source: None,
    };
    let covered = {
        let mut c = app.db.conn().await?;
        crate::credit::balance(&mut c, &order.account_id, &order.currency).await?
            >= order.total_minor
    };
    let means = match means(app, &order.account_id, order.total_minor, &input).await {
        Ok(Means::Transfer { .. }) | Err(_) if covered => Means::Free,
        Ok(Means::Transfer { .. }) => {
            return Ok(RenewalCharge::NoMethod(AppError::conflict(
                "payment_method_manual",
                "the default payment method is a bank transfer",
            )));
        }
        Ok(m) => m,
        Err(e) => return Ok(RenewalCharge::NoMethod(e)),
    };
    let (gateway, source, label, method_id) = match means {
        Means::Free => (None, "free".to_owned(), None, None),
        Means::Charge {
            gateway,
            source,
            label,
            method_id,
        } => (Some(gateway), source, Some(label), method_id),
        Means::Transfer { .. } => return Ok(RenewalCharge::Nothing),
    };
    let now = app.now_ms();
    let mut tx = app.db.begin().await?;
    if !touch_unpaid(tx.conn(), &order.id, now).await? {
        return Ok(RenewalCharge::Nothing);
    }
    let existing = payments::of_order(tx.conn(), &order.id).await?;
    let row = match existing.iter().find(|p| p.idempotency_key == key) {
        Some(p) if p.state == "pending" => p.clone(),
        Some(_) => return Ok(RenewalCharge::Nothing),
        None => {
            if existing
                .iter()
                .any(|p| matches!(p.state.as_str(), "pending" | "unknown" | "succeeded"))
            {
                return Ok(RenewalCharge::Nothing);
            }
            // The account's credit pays first, the default method the rest.
            let credit = crate::credit::apply_to_order_in(app, tx.conn(), order).await?;
            let rest = order.total_minor - credit;
            let (gateway, source, label, method_id) = if rest == 0 && order.total_minor > 0 {
                let lang = crate::orders::account_of(tx.conn(), order)
                    .await
                    .map(|a| language_of(&a))
                    .unwrap_or(Language::En);
                (
                    None,
                    "credit".to_owned(),
                    Some(crate::credit::label(lang).to_owned()),
                    None,
                )
            } else if rest > 0 && gateway.is_none() && order.total_minor > 0 {
                // The credit looked like covering it, but a concurrent order spent it.
                return Ok(RenewalCharge::NoMethod(AppError::conflict(
                    "credit_changed",
                    "the account's credit no longer covers this renewal",
                )));
            } else {
                (gateway, source, label, method_id)
            };
            let row = PaymentRow {
                id: ids::new_id(now),
                account_id: order.account_id.clone(),
                order_id: order.id.clone(),
                amount_minor: rest,
                currency: order.currency.clone(),
                state: "pending".into(),
                gateway: gateway.map_or("none", Gateway::name).to_owned(),
                idempotency_key: key.to_owned(),
                source: source.clone(),
                method_label: label,
                gateway_ref: None,
                failure_code: None,
                created_at: now,
                updated_at: now,
                settled_at: None,
                payment_method_id: method_id,
            };
            payments::insert(tx.conn(), &row).await?;
            row
        }
    };
    tx.commit().await?;
    let outcome = match Gateway::parse(&row.gateway) {
        None => Outcome::Succeeded {
            charge_id: "free".into(),
        },
        Some(g) => g
            .charge(app, &ChargeRequest::of(&row))
            .await
            .unwrap_or_else(|e| {
                tracing::warn!(error = %e.message, "renewal charge outcome unknown");
                Outcome::Unknown
            }),
    };
    settle(app, &row, &outcome).await?;
    Ok(RenewalCharge::Sent)
}

/// The gateway had no answer yet: ask again after [`STALE_PENDING_MS`].
async fn not_yet(app: &App, p: &PaymentRow) {
    let touched = match app.db.conn().await {
        Ok(mut c) => payments::touch_unsettled(&mut c, &p.id, app.now_ms())
            .await
            .map_err(AppError::from),
        Err(e) => Err(e.into()),
    };
    if let Err(e) = touched {
        tracing::warn!(payment = %p.id, error = %e.message, "could not note the reconciliation attempt");
    }
}
