//! Saved payment methods: gateway tokens with what can be shown of them (brand, last four
//! digits, expiry, masked IBAN, mandate), one default per account. Never a card number.

use crate::Result;
use sqlx::{AnyConnection, FromRow};

#[derive(Debug, Clone, FromRow)]
pub struct MethodRow {
    pub id: String,
    pub account_id: String,
    /// `card`, `sepa_debit` or `bank_transfer`.
    pub kind: String,
    pub gateway: String,
    pub token: Option<String>,
    pub label: String,
    pub brand: Option<String>,
    pub last4: Option<String>,
    pub exp_month: Option<i64>,
    pub exp_year: Option<i64>,
    pub iban_masked: Option<String>,
    pub mandate_reference: Option<String>,
    pub mandate_signed_at: Option<i64>,
    pub failed_at: Option<i64>,
    pub validated_at: Option<i64>,
    pub is_default: i64,
    pub created_at: i64,
    pub deleted_at: Option<i64>,
}

const COLUMNS: &str = "id, account_id, kind, gateway, token, label, brand, last4, exp_month, \
    exp_year, iban_masked, mandate_reference, mandate_signed_at, failed_at, validated_at, \
    is_default, created_at, deleted_at";

pub async fn insert(c: &mut AnyConnection, m: &MethodRow) -> Result<()> {
    sqlx::query(
        "INSERT INTO payment_methods (id, account_id, kind, gateway, token, label, brand, last4, \
         exp_month, exp_year, iban_masked, mandate_reference, mandate_signed_at, failed_at, \
         validated_at, is_default, created_at, deleted_at) VALUES ($1, $2, $3, $4, $5, $6, $7, \
         $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18)",
    )
    .bind(&m.id)
    .bind(&m.account_id)
    .bind(&m.kind)
    .bind(&m.gateway)
    .bind(&m.token)
    .bind(&m.label)
    .bind(&m.brand)
    .bind(&m.last4)
    .bind(m.exp_month)
    .bind(m.exp_year)
    .bind(&m.iban_masked)
    .bind(&m.mandate_reference)
    .bind(m.mandate_signed_at)
    .bind(m.failed_at)
    .bind(m.validated_at)
    .bind(m.is_default)
    .bind(m.created_at)
    .bind(m.deleted_at)
    .execute(c)
    .await?;
    Ok(())
}

/// The account's methods (not deleted), default first then newest.
pub async fn list(c: &mut AnyConnection, account_id: &str) -> Result<Vec<MethodRow>> {
    let sql = format!(
        "SELECT {COLUMNS} FROM payment_methods WHERE account_id = $1 AND deleted_at IS NULL \
         ORDER BY is_default DESC, created_at DESC, id DESC"
    );
    Ok(sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(account_id)
        .fetch_all(c)
        .await?)
}

/// One live method of an account.
pub async fn get(c: &mut AnyConnection, account_id: &str, id: &str) -> Result<Option<MethodRow>> {
    let sql = format!(
        "SELECT {COLUMNS} FROM payment_methods WHERE id = $1 AND account_id = $2 \
         AND deleted_at IS NULL"
    );
    Ok(sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(id)
        .bind(account_id)
        .fetch_optional(c)
        .await?)
}

/// Make `id` the account's only default.
pub async fn set_default(c: &mut AnyConnection, account_id: &str, id: &str) -> Result<()> {
    sqlx::query(
        "UPDATE payment_methods SET is_default = CASE WHEN id = $2 THEN 1 ELSE 0 END \
         WHERE account_id = $1 AND deleted_at IS NULL",
    )
    .bind(account_id)
    .bind(id)
    .execute(c)
    .await?;
    Ok(())
}

/// Delete a method: its token is dropped, the row kept (payments refer to it).
pub async fn delete(c: &mut AnyConnection, account_id: &str, id: &str, now: i64) -> Result<bool> {
    let r = sqlx::query(
        "UPDATE payment_methods SET deleted_at = $3, is_default = 0, token = NULL \
         WHERE id = $1 AND account_id = $2 AND deleted_at IS NULL",
    )
    .bind(id)
    .bind(account_id)
    .bind(now)
    .execute(c)
    .await?;
    Ok(r.rows_affected() == 1)
}

/// Record the outcome of a charge: a failure marks the method, a success clears the mark.
pub async fn record_outcome(c: &mut AnyConnection, id: &str, failed_at: Option<i64>) -> Result<()> {
    sqlx::query("UPDATE payment_methods SET failed_at = $2 WHERE id = $1")
        .bind(id)
        .bind(failed_at)
        .execute(c)
        .await?;
    Ok(())
}

/// Cards (not deleted) whose expiry month index (`year * 12 + month`) is between `from` and
/// `to`, for the expiry notices.
pub async fn cards_expiring(c: &mut AnyConnection, from: i64, to: i64) -> Result<Vec<MethodRow>> {
    let sql = format!(
        "SELECT {COLUMNS} FROM payment_methods WHERE kind = 'card' AND deleted_at IS NULL \
         AND exp_year * 12 + exp_month BETWEEN $1 AND $2 ORDER BY id"
    );
    Ok(sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(from)
        .bind(to)
        .fetch_all(c)
        .await?)
}

/// One payment method by id, whoever owns it (for the engine).
pub async fn by_id(c: &mut AnyConnection, id: &str) -> Result<Option<MethodRow>> {
    let sql = format!("SELECT {COLUMNS} FROM payment_methods WHERE id = $1");
    Ok(sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(id)
        .fetch_optional(c)
        .await?)
}

/// A charge of each of these methods succeeded: clear their failure mark.
pub async fn record_successes(c: &mut AnyConnection, ids: &[String]) -> Result<()> {
    crate::bulk::execute_in(
        c,
        "UPDATE payment_methods SET failed_at = NULL WHERE failed_at IS NOT NULL AND id IN ({in})",
        &[],
        ids,
    )
    .await?;
    Ok(())
}

/// The default (not deleted) payment method of each of these accounts that has one.
pub async fn defaults_of(c: &mut AnyConnection, account_ids: &[String]) -> Result<Vec<MethodRow>> {
    let sql = format!(
        "SELECT {COLUMNS} FROM payment_methods WHERE is_default = 1 AND deleted_at IS NULL \
         AND account_id IN ({{in}})"
    );
    crate::bulk::select_in(c, &sql, &[], account_ids).await
}
