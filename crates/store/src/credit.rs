//! The account credit balance: one guarded row per account and currency (never negative: a
//! debit is a conditional UPDATE that takes the row lock and fails when the balance is short)
//! and the dated movements that explain it.

use crate::Result;
use sqlx::{AnyConnection, FromRow};

#[derive(Debug, Clone, FromRow)]
pub struct BalanceRow {
    pub account_id: String,
    pub currency: String,
    pub balance_minor: i64,
    pub updated_at: i64,
}

#[derive(Debug, Clone, FromRow)]
pub struct MovementRow {
    pub id: String,
    pub account_id: String,
    pub currency: String,
    /// Positive for a credit, negative for a debit.
    pub amount_minor: i64,
    /// `downgrade`, `credit_note`, `voucher`, `adjustment`, `applied` or `released`.
    pub kind: String,
    pub reason: Option<String>,
    pub order_id: Option<String>,
    pub invoice_id: Option<String>,
    pub plan_change_id: Option<String>,
    pub voucher_code: Option<String>,
    pub operator_id: Option<String>,
    pub balance_after_minor: i64,
    pub created_at: i64,
}

const MOVEMENT_COLUMNS: &str = "id, account_id, currency, amount_minor, kind, reason, order_id, \
    invoice_id, plan_change_id, voucher_code, operator_id, balance_after_minor, created_at";

pub async fn balances(c: &mut AnyConnection, account_id: &str) -> Result<Vec<BalanceRow>> {
    Ok(sqlx::query_as(
        "SELECT account_id, currency, balance_minor, updated_at FROM credit_balances \
         WHERE account_id = $1 ORDER BY currency",
    )
    .bind(account_id)
    .fetch_all(c)
    .await?)
}

/// What the credit notes of an invoice have put back on the balance so far.
pub async fn returned_for_invoice(c: &mut AnyConnection, invoice_id: &str) -> Result<i64> {
    Ok(sqlx::query_scalar(
        "SELECT CAST(COALESCE(SUM(amount_minor), 0) AS BIGINT) FROM credit_movements \
         WHERE kind = 'credit_note' AND invoice_id IN \
           (SELECT id FROM invoices WHERE credited_invoice_id = $1)",
    )
    .bind(invoice_id)
    .fetch_one(c)
    .await?)
}

pub async fn balance(c: &mut AnyConnection, account_id: &str, currency: &str) -> Result<i64> {
    let v: Option<i64> = sqlx::query_scalar(
        "SELECT balance_minor FROM credit_balances WHERE account_id = $1 AND currency = $2",
    )
    .bind(account_id)
    .bind(currency)
    .fetch_optional(c)
    .await?;
    Ok(v.unwrap_or(0))
}

/// Add `amount` (positive) to the balance, creating its row; returns the new balance.
pub async fn add(
    c: &mut AnyConnection,
    account_id: &str,
    currency: &str,
    amount: i64,
    now: i64,
) -> Result<i64> {
    Ok(sqlx::query_scalar(
        "INSERT INTO credit_balances (account_id, currency, balance_minor, updated_at) \
         VALUES ($1, $2, $3, $4) ON CONFLICT (account_id, currency) DO UPDATE SET \
         balance_minor = credit_balances.balance_minor + excluded.balance_minor, \
         updated_at = excluded.updated_at RETURNING balance_minor",
    )
    .bind(account_id)
    .bind(currency)
    .bind(amount)
    .bind(now)
    .fetch_one(c)
    .await?)
}

/// Take `amount` (positive) off the balance if it holds that much; the new balance, or `None`
/// when it is short (a concurrent debit spent it first).
pub async fn take(
    c: &mut AnyConnection,
    account_id: &str,
    currency: &str,
    amount: i64,
    now: i64,
) -> Result<Option<i64>> {
    Ok(sqlx::query_scalar(
        "UPDATE credit_balances SET balance_minor = balance_minor - $3, updated_at = $4 \
         WHERE account_id = $1 AND currency = $2 AND balance_minor >= $3 \
         RETURNING balance_minor",
    )
    .bind(account_id)
    .bind(currency)
    .bind(amount)
    .bind(now)
    .fetch_optional(c)
    .await?)
}

pub async fn insert_movement(c: &mut AnyConnection, m: &MovementRow) -> Result<()> {
    sqlx::query(
        "INSERT INTO credit_movements (id, account_id, currency, amount_minor, kind, reason, \
         order_id, invoice_id, plan_change_id, voucher_code, operator_id, balance_after_minor, \
         created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)",
    )
    .bind(&m.id)
    .bind(&m.account_id)
    .bind(&m.currency)
    .bind(m.amount_minor)
    .bind(&m.kind)
    .bind(&m.reason)
    .bind(&m.order_id)
    .bind(&m.invoice_id)
    .bind(&m.plan_change_id)
    .bind(&m.voucher_code)
    .bind(&m.operator_id)
    .bind(m.balance_after_minor)
    .bind(m.created_at)
    .execute(c)
    .await?;
    Ok(())
}

/// The account's movements, newest first.
pub async fn movements(
    c: &mut AnyConnection,
    account_id: &str,
    limit: i64,
) -> Result<Vec<MovementRow>> {
    let sql = format!(
        "SELECT {MOVEMENT_COLUMNS} FROM credit_movements WHERE account_id = $1 \
         ORDER BY created_at DESC, id DESC LIMIT $2"
    );
    Ok(sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(account_id)
        .bind(limit)
        .fetch_all(c)
        .await?)
}

/// The movement of `kind` about an order (`applied`, `released`), if any.
pub async fn of_order(
    c: &mut AnyConnection,
    order_id: &str,
    kind: &str,
) -> Result<Option<MovementRow>> {
    let sql = format!(
        "SELECT {MOVEMENT_COLUMNS} FROM credit_movements WHERE order_id = $1 AND kind = $2"
    );
    Ok(sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(order_id)
        .bind(kind)
        .fetch_optional(c)
        .await?)
}

/// The balances above zero of these accounts, any currency.
pub async fn positive_of(c: &mut AnyConnection, account_ids: &[String]) -> Result<Vec<BalanceRow>> {
    crate::bulk::select_in(
        c,
        "SELECT account_id, currency, balance_minor, updated_at FROM credit_balances \
         WHERE balance_minor > 0 AND account_id IN ({in})",
        &[],
        account_ids,
    )
    .await
}
