//! Single-use tokens mailed or texted to a customer to prove a mailbox or a phone: e-mail
//! verification, password reset, e-mail change, backup e-mail and phone codes. Hashed at rest.

use crate::Result;
use sqlx::{AnyConnection, FromRow};

#[derive(Debug, Clone, FromRow)]
pub struct ActionTokenRow {
    pub id: String,
    pub account_id: String,
    pub purpose: String,
    pub token_hash: String,
    pub payload: Option<String>,
    pub attempts: i64,
    pub created_at: i64,
    pub expires_at: i64,
    pub used_at: Option<i64>,
}

const COLUMNS: &str =
    "id, account_id, purpose, token_hash, payload, attempts, created_at, expires_at, used_at";

pub async fn insert(c: &mut AnyConnection, t: &ActionTokenRow) -> Result<()> {
    sqlx::query(
        "INSERT INTO action_tokens (id, account_id, purpose, token_hash, payload, attempts, \
         created_at, expires_at, used_at) VALUES ($1, $2, $3, $4, $5, 0, $6, $7, NULL)",
    )
    .bind(&t.id)
    .bind(&t.account_id)
    .bind(&t.purpose)
    .bind(&t.token_hash)
    .bind(&t.payload)
    .bind(t.created_at)
    .bind(t.expires_at)
    .execute(c)
    .await?;
    Ok(())
}

pub async fn by_hash(
    c: &mut AnyConnection,
    purpose: &str,
    hash: &str,
) -> Result<Option<ActionTokenRow>> {
    let sql = format!("SELECT {COLUMNS} FROM action_tokens WHERE token_hash = $1 AND purpose = $2");
    Ok(sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(hash)
        .bind(purpose)
        .fetch_optional(c)
        .await?)
}

/// The newest unused token of an account for a purpose (for short codes typed by hand).
pub async fn latest_unused(
    c: &mut AnyConnection,
    account_id: &str,
    purpose: &str,
) -> Result<Option<ActionTokenRow>> {
    let sql = format!(
        "SELECT {COLUMNS} FROM action_tokens WHERE account_id = $1 AND purpose = $2 \
         AND used_at IS NULL ORDER BY created_at DESC, id DESC LIMIT 1"
    );
    Ok(sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(account_id)
        .bind(purpose)
        .fetch_optional(c)
        .await?)
}

/// Consume the token: true only for the one caller that used it first.
pub async fn consume(c: &mut AnyConnection, id: &str, now: i64) -> Result<bool> {
    let r = sqlx::query("UPDATE action_tokens SET used_at = $2 WHERE id = $1 AND used_at IS NULL")
        .bind(id)
        .bind(now)
        .execute(c)
        .await?;
    Ok(r.rows_affected() == 1)
}

/// Void every unused token of the account for `purpose` (a new one replaces them).
pub async fn void_unused(
    c: &mut AnyConnection,
    account_id: &str,
    purpose: &str,
    now: i64,
) -> Result<()> {
    sqlx::query(
        "UPDATE action_tokens SET used_at = $3 WHERE account_id = $1 AND purpose = $2 \
         AND used_at IS NULL",
    )
    .bind(account_id)
    .bind(purpose)
    .bind(now)
    .execute(c)
    .await?;
    Ok(())
}

/// How many tokens of this purpose the account was issued since `since` (send limits).
pub async fn count_since(
    c: &mut AnyConnection,
    account_id: &str,
    purpose: &str,
    since: i64,
) -> Result<i64> {
    Ok(sqlx::query_scalar(
        "SELECT COUNT(*) FROM action_tokens WHERE account_id = $1 AND purpose = $2 \
         AND created_at >= $3",
    )
    .bind(account_id)
    .bind(purpose)
    .bind(since)
    .fetch_one(c)
    .await?)
}

/// Count one attempt on an unused code before checking it; false when it is used or out of
/// attempts (so concurrent guesses cannot exceed `max`).
pub async fn claim_attempt(c: &mut AnyConnection, id: &str, max: i64) -> Result<bool> {
    let r = sqlx::query(
        "UPDATE action_tokens SET attempts = attempts + 1 WHERE id = $1 AND used_at IS NULL \
         AND attempts < $2",
    )
    .bind(id)
    .bind(max)
    .execute(c)
    .await?;
    Ok(r.rows_affected() == 1)
}
