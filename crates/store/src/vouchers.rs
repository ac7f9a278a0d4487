//! Vouchers and their redemptions. A use is taken by a conditional UPDATE on the voucher's
//! row (so its total limit holds under concurrent redemptions, and the row lock serialises the
//! per-customer count that follows), and given back when the order it was on is cancelled.

use crate::Result;
use sqlx::{AnyConnection, FromRow};

#[derive(Debug, Clone, FromRow)]
pub struct VoucherRow {
    pub code: String,
    pub kind: String,
    pub amount_minor: i64,
    pub percent_bp: i64,
    pub currency: String,
    pub valid_from: Option<String>,
    pub valid_until: Option<String>,
    pub max_uses: Option<i64>,
    pub max_uses_per_customer: Option<i64>,
    /// JSON array of plan codes; empty for every plan.
    pub eligible_plans: String,
    pub first_order_only: i64,
    pub uses: i64,
    pub created_at: i64,
    pub updated_at: i64,
}

const COLUMNS: &str = "code, kind, amount_minor, percent_bp, currency, valid_from, valid_until, \
    max_uses, max_uses_per_customer, eligible_plans, first_order_only, uses, created_at, \
    updated_at";

#[derive(Debug, Clone, FromRow)]
pub struct RedemptionRow {
    pub id: String,
    pub voucher_code: String,
    pub account_id: String,
    /// The order it discounts; `None` for a credit voucher redeemed into the balance.
    pub order_id: Option<String>,
    pub net_minor: i64,
    pub vat_minor: i64,
    pub total_minor: i64,
    /// `active` or `released` (its order was cancelled).
    pub state: String,
    pub created_at: i64,
    pub updated_at: i64,
}

const REDEMPTION_COLUMNS: &str = "id, voucher_code, account_id, order_id, net_minor, vat_minor, \
    total_minor, state, created_at, updated_at";

/// Insert a voucher; false if the code is taken.
pub async fn insert(c: &mut AnyConnection, v: &VoucherRow) -> Result<bool> {
    let r = sqlx::query(
        "INSERT INTO vouchers (code, kind, amount_minor, percent_bp, currency, valid_from, \
         valid_until, max_uses, max_uses_per_customer, eligible_plans, first_order_only, uses, \
         created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, \
         $14) ON CONFLICT (code) DO NOTHING",
    )
    .bind(&v.code)
    .bind(&v.kind)
    .bind(v.amount_minor)
    .bind(v.percent_bp)
    .bind(&v.currency)
    .bind(&v.valid_from)
    .bind(&v.valid_until)
    .bind(v.max_uses)
    .bind(v.max_uses_per_customer)
    .bind(&v.eligible_plans)
    .bind(v.first_order_only)
    .bind(v.uses)
    .bind(v.created_at)
    .bind(v.updated_at)
    .execute(c)
    .await?;
    Ok(r.rows_affected() == 1)
}

pub async fn get(c: &mut AnyConnection, code: &str) -> Result<Option<VoucherRow>> {
    let sql = format!("SELECT {COLUMNS} FROM vouchers WHERE code = $1");
    Ok(sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(code)
        .fetch_optional(c)
        .await?)
}

pub async fn list(c: &mut AnyConnection, limit: i64) -> Result<Vec<VoucherRow>> {
    let sql = format!("SELECT {COLUMNS} FROM vouchers ORDER BY created_at DESC, code LIMIT $1");
    Ok(sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(limit)
        .fetch_all(c)
        .await?)
}

/// Take one use of a voucher if it has uses left; false when it is used up.
pub async fn take_use(c: &mut AnyConnection, code: &str, now: i64) -> Result<bool> {
    let r = sqlx::query(
        "UPDATE vouchers SET uses = uses + 1, updated_at = $2 WHERE code = $1 \
         AND (max_uses IS NULL OR uses < max_uses)",
    )
    .bind(code)
    .bind(now)
    .execute(c)
    .await?;
    Ok(r.rows_affected() == 1)
}

/// Give a use back (its order was cancelled unpaid).
pub async fn give_back_use(c: &mut AnyConnection, code: &str, now: i64) -> Result<()> {
    sqlx::query(
        "UPDATE vouchers SET uses = uses - 1, updated_at = $2 WHERE code = $1 AND uses > 0",
    )
    .bind(code)
    .bind(now)
    .execute(c)
    .await?;
    Ok(())
}

/// The customer's active redemptions of a code.
pub async fn customer_uses(c: &mut AnyConnection, code: &str, account_id: &str) -> Result<i64> {
    Ok(sqlx::query_scalar(
        "SELECT COUNT(*) FROM voucher_redemptions WHERE voucher_code = $1 AND account_id = $2 \
         AND state = 'active'",
    )
    .bind(code)
    .bind(account_id)
    .fetch_one(c)
    .await?)
}

/// Whether the account ever paid an order.
pub async fn has_paid_order(c: &mut AnyConnection, account_id: &str) -> Result<bool> {
    let n: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM orders WHERE account_id = $1 AND paid_at IS NOT NULL",
    )
    .bind(account_id)
    .fetch_one(c)
    .await?;
    Ok(n > 0)
}

pub async fn insert_redemption(c: &mut AnyConnection, r: &RedemptionRow) -> Result<()> {
    sqlx::query(
        "INSERT INTO voucher_redemptions (id, voucher_code, account_id, order_id, net_minor, \
         vat_minor, total_minor, state, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, \
         $7, $8, $9, $10)",
    )
    .bind(&r.id)
    .bind(&r.voucher_code)
    .bind(&r.account_id)
    .bind(&r.order_id)
    .bind(r.net_minor)
    .bind(r.vat_minor)
    .bind(r.total_minor)
    .bind(&r.state)
    .bind(r.created_at)
    .bind(r.updated_at)
    .execute(c)
    .await?;
    Ok(())
}

/// One redemption, scoped to its account (`None` for operators).
pub async fn redemption(
    c: &mut AnyConnection,
    id: &str,
    account_id: Option<&str>,
) -> Result<Option<RedemptionRow>> {
    let sql = format!(
        "SELECT {REDEMPTION_COLUMNS} FROM voucher_redemptions WHERE id = $1 \
         AND ($2 = '' OR account_id = $2)"
    );
    Ok(sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(id)
        .bind(account_id.unwrap_or(""))
        .fetch_optional(c)
        .await?)
}

/// The account's redemptions, newest first.
pub async fn redemptions_of(c: &mut AnyConnection, account_id: &str) -> Result<Vec<RedemptionRow>> {
    let sql = format!(
        "SELECT {REDEMPTION_COLUMNS} FROM voucher_redemptions WHERE account_id = $1 \
         ORDER BY created_at DESC, id DESC"
    );
    Ok(sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(account_id)
        .fetch_all(c)
        .await?)
}

/// The active redemption on an order, if any.
pub async fn active_on_order(
    c: &mut AnyConnection,
    order_id: &str,
) -> Result<Option<RedemptionRow>> {
    let sql = format!(
        "SELECT {REDEMPTION_COLUMNS} FROM voucher_redemptions WHERE order_id = $1 \
         AND state = 'active'"
    );
    Ok(sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(order_id)
        .fetch_optional(c)
        .await?)
}

/// Mark a redemption released; false if it was already.
pub async fn release(c: &mut AnyConnection, id: &str, now: i64) -> Result<bool> {
    let r = sqlx::query(
        "UPDATE voucher_redemptions SET state = 'released', updated_at = $2 \
         WHERE id = $1 AND state = 'active'",
    )
    .bind(id)
    .bind(now)
    .execute(c)
    .await?;
    Ok(r.rows_affected() == 1)
}

/// Add a discount line to an unpaid order and lower its totals by it; false if the order is
/// no longer unpaid.
pub async fn discount_order(
    c: &mut AnyConnection,
    order_id: &str,
    net_minor: i64,
    vat_minor: i64,
    total_minor: i64,
    now: i64,
) -> Result<bool> {
    let r = sqlx::query(
        "UPDATE orders SET net_minor = net_minor - $2, vat_minor = vat_minor - $3, \
         total_minor = total_minor - $4, updated_at = $5 \
         WHERE id = $1 AND status = 'not_paid' AND total_minor >= $4",
    )
    .bind(order_id)
    .bind(net_minor)
    .bind(vat_minor)
    .bind(total_minor)
    .bind(now)
    .execute(c)
    .await?;
    Ok(r.rows_affected() == 1)
}
