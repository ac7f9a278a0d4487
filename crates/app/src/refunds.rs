//! Refunds of credit notes: the refund row is written `pending` in the credit note's
//! transaction, sent to the gateway after commit with an idempotency key derived from it, and
//! settled once; a refund left pending (crash, timeout) is sent again by the worker with the
//! same key, so the money goes back once.

use crate::gateway::{Gateway, RefundOutcome};
use crate::{App, Result, ids};
use guichet_store::AnyConnection;
use guichet_store::invoices::InvoiceRow;
use guichet_store::payments;
use guichet_store::refunds::{self, RefundRow};

/// A pending refund is sent again after this long without an answer.
const RETRY_AFTER_MS: i64 = 60_000;

/// In the credit note's transaction: the refund to make, if the invoice was paid through a
/// gateway (a bank transfer is refunded by the provider's bank, outside Guichet).
pub(crate) async fn plan(
    app: &App,
    c: &mut AnyConnection,
    invoice: &InvoiceRow,
    credit_note: &InvoiceRow,
) -> Result<Option<RefundRow>> {
    let Some(order_id) = &invoice.order_id else {
        return Ok(None);
    };
    let paid = payments::of_order(c, order_id)
        .await?
        .into_iter()
        .find(|p| p.state == "succeeded" && Gateway::parse(&p.gateway).is_some());
    let Some(p) = paid else { return Ok(None) };
    // Never more than the charge took, less what earlier credit notes of the invoice had
    // refunded from it (the account's credit may have paid the rest).
    let left = p.amount_minor - refunds::refunded_of_payment(c, &p.id).await?;
    let amount = credit_note.total_minor.min(left);
    if amount <= 0 {
        return Ok(None);
    }
    let now = app.now_ms();
    let id = ids::new_id(now);
    let r = RefundRow {
        idempotency_key: format!("refund:{}", credit_note.id),
        id,
        credit_note_id: credit_note.id.clone(),
        payment_id: p.id.clone(),
        account_id: invoice.account_id.clone(),
        amount_minor: amount,
        currency: credit_note.currency.clone(),
        state: "pending".into(),
        gateway: p.gateway.clone(),
        gateway_ref: None,
        failure_code: None,
        created_at: now,
        updated_at: now,
    };
    refunds::insert(c, &r).await?;
    Ok(Some(r))
}

/// Ask the gateway, then record the answer once.
pub async fn send(app: &App, r: &RefundRow) -> Result<()> {
    let Some(gateway) = Gateway::parse(&r.gateway) else {
        return Ok(());
    };
    let charge = {
        let mut c = app.db.conn().await?;
        payments::get(&mut c, &r.payment_id)
            .await?
            .and_then(|p| p.gateway_ref)
    };
    let Some(charge) = charge else {
        return Ok(());
    };
    let outcome = gateway
        .refund(app, &charge, r.amount_minor, &r.idempotency_key)
        .await
        .unwrap_or(RefundOutcome::Unknown);
    let now = app.now_ms();
    let mut c = app.db.conn().await?;
    match outcome {
        RefundOutcome::Succeeded { refund_id } => {
            refunds::settle(&mut c, &r.id, "succeeded", Some(&refund_id), None, now).await?;
        }
        RefundOutcome::Failed { code } => {
            tracing::warn!(refund = %r.id, code = %code, "refund refused by the gateway");
            refunds::settle(&mut c, &r.id, "failed", None, Some(&code), now).await?;
        }
        RefundOutcome::Unknown => {}
    }
    Ok(())
}

/// Send again the refunds still pending.
pub async fn retry_due(app: &App) -> Result<usize> {
    let rows = {
        let mut c = app.db.conn().await?;
        refunds::pending(&mut c, app.now_ms() - RETRY_AFTER_MS, 100).await?
    };
    let n = rows.len();
    for r in rows {
        send(app, &r).await?;
    }
    Ok(n)
}
