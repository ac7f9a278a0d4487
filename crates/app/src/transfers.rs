//! Payment by bank transfer: the order shows the provider's IBAN and the reference to quote,
//! waits for the money (until it expires), and an operator marks the transfer received, which
//! settles the payment like any other (invoice, delivery).

use crate::accounts::{language_of, recipient};
use crate::gateway::Outcome;
use crate::mail::{self, MailKind, OrderMail};
use crate::operators::{self, Operator};
use crate::orders::{OrderView, date_of, format_money, record_event};
use crate::{App, AppError, Result, ids};
use guichet_domain::Language;
use guichet_store::AnyConnection;
use guichet_store::orders::{self as order_store, OrderRow};
use guichet_store::payments::{self, PaymentRow};

/// In the payment's transaction: tell the customer where to send the money.
pub(crate) async fn await_transfer(
    app: &App,
    c: &mut AnyConnection,
    order: &OrderRow,
    payment: &PaymentRow,
) -> Result<()> {
    let bank = app.config.bank_transfer.clone().ok_or_else(|| {
        AppError::conflict(
            "bank_transfer_unavailable",
            "this provider does not take bank transfers",
        )
    })?;
    let account = crate::orders::account_of(c, order).await?;
    // What is left to pay once the account's credit was applied.
    let total = format_money(payment.amount_minor, &order.currency);
    let due_on = date_of(order.expires_at);
    order_store::set_action(
        c,
        &order.id,
        Some("pay_by_transfer"),
        Some(order.expires_at),
    )
    .await?;
    record_event(
        app,
        c,
        &order.id,
        "payment_pending",
        match language_of(&account) {
            Language::Fr => format!(
                "Virement de {total} attendu avant le {due_on} : IBAN {} — BIC {}, référence {}.",
                bank.iban, bank.bic, order.number
            ),
            Language::En => format!(
                "Bank transfer of {total} expected before {due_on}: IBAN {} — BIC {}, reference {}.",
                bank.iban, bank.bic, order.number
            ),
        },
        "customer",
        Some(("pay_by_transfer", order.expires_at)),
    )
    .await?;
    mail::enqueue(
        app,
        c,
        &recipient(&account),
        &MailKind::Order(OrderMail::TransferInstructions {
            number: order.number.clone(),
            total,
            iban: bank.iban,
            bic: bank.bic,
            due_on,
        }),
    )
    .await?;
    Ok(())
}

/// An operator records that the transfer of a payment arrived (roles billing and admin).
pub async fn mark_received(app: &App, op: &Operator, payment_id: &str) -> Result<OrderView> {
    op.require_role(&["billing"])?;
    if !ids::is_id(payment_id) {
        return Err(AppError::not_found("payment_not_found"));
    }
    let p = {
        let mut c = app.db.conn().await?;
        payments::get(&mut c, payment_id)
            .await?
            .ok_or_else(|| AppError::not_found("payment_not_found"))?
    };
    if p.gateway != "bank_transfer" || p.state != "pending" {
        return Err(AppError::conflict(
            "payment_not_awaiting_transfer",
            "this payment is not a transfer being waited for",
        ));
    }
    let settled = crate::payments::settle(
        app,
        &p,
        &Outcome::Succeeded {
            charge_id: format!("transfer-{}", p.id),
        },
    )
    .await?;
    if !settled {
        return Err(AppError::conflict(
            "payment_not_awaiting_transfer",
            "this payment was settled meanwhile (the order may have expired)",
        ));
    }
    let mut tx = app.db.begin().await?;
    operators::audit(
        app,
        tx.conn(),
        op,
        "payment.transfer_received",
        Some(&p.id),
        None,
    )
    .await?;
    tx.commit().await?;
    crate::orders::get(app, None, &p.order_id).await
}

/// Transfers never received for orders past their expiry: failed, so the order can expire.
pub(crate) async fn fail_overdue(app: &App, c: &mut AnyConnection, order: &OrderRow) -> Result<()> {
    for p in payments::of_order(c, &order.id).await? {
        if p.gateway == "bank_transfer" && p.state == "pending" {
            payments::settle(
                c,
                &p.id,
                "failed",
                None,
                Some("transfer_not_received"),
                app.now_ms(),
            )
            .await?;
        }
    }
    Ok(())
}
