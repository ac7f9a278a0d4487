//! Stored answers of requests sent with an `Idempotency-Key`: the first request claims the key
//! (status 0 while it runs), its answer is stored, and a retry with the same key and body gets
//! the stored answer back instead of running again.

use crate::Result;
use sqlx::{AnyConnection, FromRow};

#[derive(Debug, Clone, FromRow)]
pub struct KeyRow {
    pub account_id: String,
    pub idem_key: String,
    pub request_hash: String,
    /// 0 while the first request runs.
    pub status_code: i64,
    pub response_body: Option<String>,
    pub created_at: i64,
}

/// Claim a key; false when it exists already (see [`get`]).
pub async fn claim(
    c: &mut AnyConnection,
    account_id: &str,
    key: &str,
    request_hash: &str,
    now: i64,
) -> Result<bool> {
    let r = sqlx::query(
        "INSERT INTO idempotency_keys (account_id, idem_key, request_hash, status_code, \
         response_body, created_at) VALUES ($1, $2, $3, 0, NULL, $4) \
         ON CONFLICT (account_id, idem_key) DO NOTHING",
    )
    .bind(account_id)
    .bind(key)
    .bind(request_hash)
    .bind(now)
    .execute(c)
    .await?;
    Ok(r.rows_affected() == 1)
}

pub async fn get(c: &mut AnyConnection, account_id: &str, key: &str) -> Result<Option<KeyRow>> {
    Ok(sqlx::query_as(
        "SELECT account_id, idem_key, request_hash, status_code, response_body, created_at \
         FROM idempotency_keys WHERE account_id = $1 AND idem_key = $2",
    )
    .bind(account_id)
    .bind(key)
    .fetch_optional(c)
    .await?)
}

pub async fn complete(
    c: &mut AnyConnection,
    account_id: &str,
    key: &str,
    status_code: i64,
    body: &str,
) -> Result<()> {
    sqlx::query(
        "UPDATE idempotency_keys SET status_code = $3, response_body = $4 \
         WHERE account_id = $1 AND idem_key = $2",
    )
    .bind(account_id)
    .bind(key)
    .bind(status_code)
    .bind(body)
    .execute(c)
    .await?;
    Ok(())
}

/// Take over a claim whose request never finished (its process died or the client went away
/// mid-request) once it is older than `stale_before`; true for the one caller that got it.
pub async fn reclaim(
    c: &mut AnyConnection,
    account_id: &str,
    key: &str,
    request_hash: &str,
    stale_before: i64,
    now: i64,
) -> Result<bool> {
    let r = sqlx::query(
        "UPDATE idempotency_keys SET created_at = $5 WHERE account_id = $1 AND idem_key = $2 \
         AND request_hash = $3 AND status_code = 0 AND created_at < $4",
    )
    .bind(account_id)
    .bind(key)
    .bind(request_hash)
    .bind(stale_before)
    .bind(now)
    .execute(c)
    .await?;
    Ok(r.rows_affected() == 1)
}

/// Forget a claim whose request failed before doing anything (so it may be retried).
pub async fn release(c: &mut AnyConnection, account_id: &str, key: &str) -> Result<()> {
    sqlx::query(
        "DELETE FROM idempotency_keys WHERE account_id = $1 AND idem_key = $2 AND status_code = 0",
    )
    .bind(account_id)
    .bind(key)
    .execute(c)
    .await?;
    Ok(())
}

/// Drop keys older than `before` (kept 24 hours).
pub async fn purge(c: &mut AnyConnection, before: i64) -> Result<u64> {
    Ok(
        sqlx::query("DELETE FROM idempotency_keys WHERE created_at < $1")
            .bind(before)
            .execute(c)
            .await?
            .rows_affected(),
    )
}
