//! Refunds attached to credit notes, and the sandbox gateway's refund records.

use crate::Result;
use sqlx::{AnyConnection, FromRow};

#[derive(Debug, Clone, FromRow)]
pub struct RefundRow {
    pub id: String,
    pub credit_note_id: String,
    pub payment_id: String,
    pub account_id: String,
    pub amount_minor: i64,
    pub currency: String,
    /// `pending`, `succeeded` or `failed`.
    pub state: String,
    pub gateway: String,
    pub idempotency_key: String,
    pub gateway_ref: Option<String>,
    pub failure_code: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
}

const COLUMNS: &str = "id, credit_note_id, payment_id, account_id, amount_minor, currency, \
    state, gateway, idempotency_key, gateway_ref, failure_code, created_at, updated_at";

pub async fn insert(c: &mut AnyConnection, r: &RefundRow) -> Result<()> {
    sqlx::query(
        "INSERT INTO refunds (id, credit_note_id, payment_id, account_id, amount_minor, \
         currency, state, gateway, idempotency_key, gateway_ref, failure_code, created_at, \
         updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)",
    )
    .bind(&r.id)
    .bind(&r.credit_note_id)
    .bind(&r.payment_id)
    .bind(&r.account_id)
    .bind(r.amount_minor)
    .bind(&r.currency)
    .bind(&r.state)
    .bind(&r.gateway)
    .bind(&r.idempotency_key)
    .bind(&r.gateway_ref)
    .bind(&r.failure_code)
    .bind(r.created_at)
    .bind(r.updated_at)
    .execute(c)
    .await?;
    Ok(())
}

/// What the refunds of a payment have given back or are giving back (all but failed ones).
pub async fn refunded_of_payment(c: &mut AnyConnection, payment_id: &str) -> Result<i64> {
    Ok(sqlx::query_scalar(
        "SELECT CAST(COALESCE(SUM(amount_minor), 0) AS BIGINT) FROM refunds \
         WHERE payment_id = $1 AND state <> 'failed'",
    )
    .bind(payment_id)
    .fetch_one(c)
    .await?)
}

pub async fn of_credit_note(
    c: &mut AnyConnection,
    credit_note_id: &str,
) -> Result<Option<RefundRow>> {
    let sql = format!("SELECT {COLUMNS} FROM refunds WHERE credit_note_id = $1");
    Ok(sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(credit_note_id)
        .fetch_optional(c)
        .await?)
}

/// Pending refunds last touched before `before`.
pub async fn pending(c: &mut AnyConnection, before: i64, limit: i64) -> Result<Vec<RefundRow>> {
    let sql = format!(
        "SELECT {COLUMNS} FROM refunds WHERE state = 'pending' AND updated_at < $1 \
         ORDER BY updated_at, id LIMIT $2"
    );
    Ok(sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(before)
        .bind(limit)
        .fetch_all(c)
        .await?)
}

/// Settle a pending refund once; false if it was settled already.
pub async fn settle(
    c: &mut AnyConnection,
    id: &str,
    state: &str,
    gateway_ref: Option<&str>,
    failure_code: Option<&str>,
    now: i64,
) -> Result<bool> {
    let r = sqlx::query(
        "UPDATE refunds SET state = $2, gateway_ref = $3, failure_code = $4, updated_at = $5 \
         WHERE id = $1 AND state = 'pending'",
    )
    .bind(id)
    .bind(state)
    .bind(gateway_ref)
    .bind(failure_code)
    .bind(now)
    .execute(c)
    .await?;
    Ok(r.rows_affected() == 1)
}

/// The sandbox gateway records a refund once per key; returns the stored refund id, or
/// `None` when the charge's refunds would exceed its amount.
pub async fn sandbox_refund(
    c: &mut AnyConnection,
    key: &str,
    refund_id: &str,
    charge_id: &str,
    amount_minor: i64,
    charged_minor: i64,
    now: i64,
) -> Result<Option<String>> {
    if let Some(id) = sqlx::query_scalar::<_, String>(
        "SELECT refund_id FROM sandbox_refunds WHERE idempotency_key = $1",
    )
    .bind(key)
    .fetch_optional(&mut *c)
    .await?
    {
        return Ok(Some(id));
    }
    let already: i64 = sqlx::query_scalar(
        "SELECT CAST(COALESCE(SUM(amount_minor), 0) AS BIGINT) FROM sandbox_refunds \
         WHERE charge_id = $1",
    )
    .bind(charge_id)
    .fetch_one(&mut *c)
    .await?;
    if already + amount_minor > charged_minor {
        return Ok(None);
    }
    sqlx::query(
        "INSERT INTO sandbox_refunds (idempotency_key, refund_id, charge_id, amount_minor, \
         created_at) VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(key)
    .bind(refund_id)
    .bind(charge_id)
    .bind(amount_minor)
    .bind(now)
    .execute(c)
    .await?;
    Ok(Some(refund_id.to_owned()))
}

/// The sandbox charge behind a charge id: (amount, outcome).
pub async fn sandbox_charge_of(
    c: &mut AnyConnection,
    charge_id: &str,
) -> Result<Option<(i64, String)>> {
    Ok(
        sqlx::query_as("SELECT amount_minor, outcome FROM sandbox_charges WHERE charge_id = $1")
            .bind(charge_id)
            .fetch_optional(c)
            .await?,
    )
}
