//! Payments of orders and their states (`pending` → `succeeded` | `failed` | `unknown`; an
//! `unknown` outcome is settled later from the gateway), plus the sandbox gateway's own
//! tables: the card tokens it issued and the charges it took, keyed by idempotency key.

use crate::Result;
use crate::bulk::{self, Val};
use sqlx::{AnyConnection, FromRow};

#[derive(Debug, Clone, FromRow)]
pub struct PaymentRow {
    pub id: String,
    pub account_id: String,
    pub order_id: String,
    pub amount_minor: i64,
    pub currency: String,
    pub state: String,
    pub gateway: String,
    pub idempotency_key: String,
    pub source: String,
    pub method_label: Option<String>,
    pub gateway_ref: Option<String>,
    pub failure_code: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
    pub settled_at: Option<i64>,
    /// The saved method charged, if any.
    pub payment_method_id: Option<String>,
}

const COLUMNS: &str = "id, account_id, order_id, amount_minor, currency, state, gateway, \
    idempotency_key, source, method_label, gateway_ref, failure_code, created_at, updated_at, \
    settled_at, payment_method_id";

/// Insert a `pending` payment. A unique violation on `payments_one_live` means the order
/// already has a payment in flight or succeeded.
const INSERT_COLUMNS: &str = "id, account_id, order_id, amount_minor, currency, state, gateway, \
     idempotency_key, source, method_label, gateway_ref, failure_code, created_at, updated_at, \
     settled_at, payment_method_id";

pub async fn insert(c: &mut AnyConnection, p: &PaymentRow) -> Result<()> {
    insert_many(c, std::slice::from_ref(p)).await
}

pub async fn insert_many(c: &mut AnyConnection, payments: &[PaymentRow]) -> Result<()> {
    insert_values(c, payments.iter().map(values).collect()).await
}

/// A payment's values in the column order of its insert.
pub fn values(p: &PaymentRow) -> Vec<Val> {
    vec![
        (&p.id).into(),
        (&p.account_id).into(),
        (&p.order_id).into(),
        p.amount_minor.into(),
        (&p.currency).into(),
        (&p.state).into(),
        (&p.gateway).into(),
        (&p.idempotency_key).into(),
        (&p.source).into(),
        (&p.method_label).into(),
        (&p.gateway_ref).into(),
        (&p.failure_code).into(),
        p.created_at.into(),
        p.updated_at.into(),
        p.settled_at.into(),
        (&p.payment_method_id).into(),
    ]
}

/// [`insert_many`] of rows laid out ahead by [`values`].
pub async fn insert_values(c: &mut AnyConnection, rows: Vec<Vec<Val>>) -> Result<()> {
    bulk::insert(c, "payments", INSERT_COLUMNS, rows, "").await?;
    Ok(())
}

/// Settle pending payments as succeeded, each with its gateway reference: the number settled
/// (fewer than given when another process settled some first).
pub async fn succeed_many(
    c: &mut AnyConnection,
    refs: &[(String, String)],
    now: i64,
) -> Result<u64> {
    let rows: Vec<Vec<Val>> = refs
        .iter()
        .map(|(id, r)| vec![id.into(), r.into()])
        .collect();
    bulk::with_values(
        c,
        "UPDATE payments SET state = 'succeeded', gateway_ref = v.column2, failure_code = NULL, \
         updated_at = $1, settled_at = $1 FROM (VALUES {values}) AS v \
         WHERE payments.id = v.column1 AND payments.state IN ('pending', 'unknown')",
        &[now.into()],
        rows,
    )
    .await
}

pub async fn get(c: &mut AnyConnection, id: &str) -> Result<Option<PaymentRow>> {
    let sql = format!("SELECT {COLUMNS} FROM payments WHERE id = $1");
    Ok(sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(id)
        .fetch_optional(c)
        .await?)
}

pub async fn of_order(c: &mut AnyConnection, order_id: &str) -> Result<Vec<PaymentRow>> {
    let sql = format!("SELECT {COLUMNS} FROM payments WHERE order_id = $1 ORDER BY created_at, id");
    Ok(sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(order_id)
        .fetch_all(c)
        .await?)
}

/// Whether the order has a payment in flight (`pending` or `unknown`).
pub async fn in_flight(c: &mut AnyConnection, order_id: &str) -> Result<bool> {
    let n: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM payments WHERE order_id = $1 AND state IN ('pending', 'unknown')",
    )
    .bind(order_id)
    .fetch_one(c)
    .await?;
    Ok(n > 0)
}

/// Settle a payment that is still `pending` or `unknown`; false if it was settled already.
pub async fn settle(
    c: &mut AnyConnection,
    id: &str,
    state: &str,
    gateway_ref: Option<&str>,
    failure_code: Option<&str>,
    now: i64,
) -> Result<bool> {
    let r = sqlx::query(
        "UPDATE payments SET state = $2, gateway_ref = COALESCE($3, gateway_ref), \
         failure_code = $4, updated_at = $5, \
         settled_at = CASE WHEN $2 IN ('succeeded', 'failed') THEN $5 ELSE settled_at END \
         WHERE id = $1 AND state IN ('pending', 'unknown')",
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

/// Payments whose outcome is not known (`unknown` ones, and `pending` ones whose process
/// died) last touched before `stale_before`, so each is asked about at most once per delay.
/// Bank transfers wait for an operator, not for a gateway, and are left out.
pub async fn unsettled(
    c: &mut AnyConnection,
    stale_before: i64,
    limit: i64,
) -> Result<Vec<PaymentRow>> {
    let sql = format!(
        "SELECT {COLUMNS} FROM payments WHERE gateway <> 'bank_transfer' \
         AND state IN ('unknown', 'pending') AND updated_at < $1 ORDER BY updated_at, id LIMIT $2"
    );
    Ok(sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(stale_before)
        .bind(limit)
        .fetch_all(c)
        .await?)
}

/// A payment still unsettled was asked about without an answer: ask again after the delay.
pub async fn touch_unsettled(c: &mut AnyConnection, id: &str, now: i64) -> Result<()> {
    sqlx::query(
        "UPDATE payments SET updated_at = $2 WHERE id = $1 AND state IN ('pending', 'unknown')",
    )
    .bind(id)
    .bind(now)
    .execute(c)
    .await?;
    Ok(())
}

#[derive(Debug, Clone, FromRow)]
pub struct SandboxCardRow {
    pub token: String,
    pub brand: String,
    pub last4: String,
    pub exp_month: i64,
    pub exp_year: i64,
    pub behaviour: String,
    pub created_at: i64,
}

pub async fn sandbox_insert_card(c: &mut AnyConnection, r: &SandboxCardRow) -> Result<()> {
    sqlx::query(
        "INSERT INTO sandbox_cards (token, brand, last4, exp_month, exp_year, behaviour, \
         created_at) VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(&r.token)
    .bind(&r.brand)
    .bind(&r.last4)
    .bind(r.exp_month)
    .bind(r.exp_year)
    .bind(&r.behaviour)
    .bind(r.created_at)
    .execute(c)
    .await?;
    Ok(())
}

pub async fn sandbox_card(c: &mut AnyConnection, token: &str) -> Result<Option<SandboxCardRow>> {
    Ok(sqlx::query_as(
        "SELECT token, brand, last4, exp_month, exp_year, behaviour, created_at \
         FROM sandbox_cards WHERE token = $1",
    )
    .bind(token)
    .fetch_optional(c)
    .await?)
}

#[derive(Debug, Clone, FromRow)]
pub struct SandboxChargeRow {
    pub idempotency_key: String,
    pub charge_id: String,
    pub token: String,
    pub amount_minor: i64,
    pub currency: String,
    pub outcome: String,
    pub created_at: i64,
}

/// Record a charge once per idempotency key; returns the stored charge (the first one when
/// the key was seen before).
pub async fn sandbox_charge(
    c: &mut AnyConnection,
    r: &SandboxChargeRow,
) -> Result<SandboxChargeRow> {
    sqlx::query(
        "INSERT INTO sandbox_charges (idempotency_key, charge_id, token, amount_minor, currency, \
         outcome, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7) \
         ON CONFLICT (idempotency_key) DO NOTHING",
    )
    .bind(&r.idempotency_key)
    .bind(&r.charge_id)
    .bind(&r.token)
    .bind(r.amount_minor)
    .bind(&r.currency)
    .bind(&r.outcome)
    .bind(r.created_at)
    .execute(&mut *c)
    .await?;
    sandbox_find_charge(c, &r.idempotency_key)
        .await?
        .ok_or(crate::StoreError::NotFound)
}

pub async fn sandbox_find_charge(
    c: &mut AnyConnection,
    key: &str,
) -> Result<Option<SandboxChargeRow>> {
    Ok(sqlx::query_as(
        "SELECT idempotency_key, charge_id, token, amount_minor, currency, outcome, created_at \
         FROM sandbox_charges WHERE idempotency_key = $1",
    )
    .bind(key)
    .fetch_optional(c)
    .await?)
}

/// Sandbox cards by token (missing ones left out).
pub async fn sandbox_cards(
    c: &mut AnyConnection,
    tokens: &[String],
) -> Result<Vec<SandboxCardRow>> {
    bulk::select_in(
        c,
        "SELECT token, brand, last4, exp_month, exp_year, behaviour, created_at \
         FROM sandbox_cards WHERE token IN ({in})",
        &[],
        tokens,
    )
    .await
}

/// [`sandbox_charge`] for many charges: each key recorded once, the stored charges returned
/// (the first ones for keys seen before).
pub async fn sandbox_charge_many(
    c: &mut AnyConnection,
    charges: &[SandboxChargeRow],
) -> Result<Vec<SandboxChargeRow>> {
    let rows: Vec<Vec<Val>> = charges
        .iter()
        .map(|r| {
            vec![
                (&r.idempotency_key).into(),
                (&r.charge_id).into(),
                (&r.token).into(),
                r.amount_minor.into(),
                (&r.currency).into(),
                (&r.outcome).into(),
                r.created_at.into(),
            ]
        })
        .collect();
    let inserted = bulk::insert(
        c,
        "sandbox_charges",
        "idempotency_key, charge_id, token, amount_minor, currency, outcome, created_at",
        rows,
        "ON CONFLICT (idempotency_key) DO NOTHING",
    )
    .await?;
    if inserted == charges.len() as u64 {
        // Every one was new (keys are distinct within a batch): the records are these.
        return Ok(charges.to_vec());
    }
    let keys: Vec<String> = charges.iter().map(|r| r.idempotency_key.clone()).collect();
    bulk::select_in(
        c,
        "SELECT idempotency_key, charge_id, token, amount_minor, currency, outcome, created_at \
         FROM sandbox_charges WHERE idempotency_key IN ({in})",
        &[],
        &keys,
    )
    .await
}
