//! Login sessions and personal API tokens. Only SHA-256 hashes of the secrets are stored.

use crate::Result;
use sqlx::{AnyConnection, FromRow};

#[derive(Debug, Clone, FromRow)]
pub struct SessionRow {
    pub id: String,
    pub account_id: String,
    pub token_hash: String,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    pub created_at: i64,
    pub last_seen_at: i64,
    pub expires_at: i64,
    pub revoked_at: Option<i64>,
    pub revoked_reason: Option<String>,
    /// Last time the holder proved the password (and second factor): log-in or re-auth.
    pub reauth_at: Option<i64>,
}

const SESSION_COLUMNS: &str = "id, account_id, token_hash, ip, user_agent, created_at, \
    last_seen_at, expires_at, revoked_at, revoked_reason, reauth_at";

pub async fn insert_session(c: &mut AnyConnection, s: &SessionRow) -> Result<()> {
    sqlx::query(
        "INSERT INTO sessions (id, account_id, token_hash, ip, user_agent, created_at, \
         last_seen_at, expires_at, revoked_at, revoked_reason, reauth_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, NULL, NULL, $6)",
    )
    .bind(&s.id)
    .bind(&s.account_id)
    .bind(&s.token_hash)
    .bind(&s.ip)
    .bind(&s.user_agent)
    .bind(s.created_at)
    .bind(s.last_seen_at)
    .bind(s.expires_at)
    .execute(c)
    .await?;
    Ok(())
}

pub async fn session_by_hash(c: &mut AnyConnection, hash: &str) -> Result<Option<SessionRow>> {
    let sql = format!("SELECT {SESSION_COLUMNS} FROM sessions WHERE token_hash = $1");
    Ok(sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(hash)
        .fetch_optional(c)
        .await?)
}

pub async fn session_by_id(c: &mut AnyConnection, id: &str) -> Result<Option<SessionRow>> {
    let sql = format!("SELECT {SESSION_COLUMNS} FROM sessions WHERE id = $1");
    Ok(sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(id)
        .fetch_optional(c)
        .await?)
}

pub async fn mark_reauth(c: &mut AnyConnection, id: &str, now: i64) -> Result<()> {
    sqlx::query("UPDATE sessions SET reauth_at = $2 WHERE id = $1")
        .bind(id)
        .bind(now)
        .execute(c)
        .await?;
    Ok(())
}

/// Whether the account ever had a session from this IP and user agent (known device).
pub async fn seen_device(
    c: &mut AnyConnection,
    account_id: &str,
    ip: Option<&str>,
    user_agent: Option<&str>,
) -> Result<bool> {
    let n: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM sessions WHERE account_id = $1 AND COALESCE(ip, '') = $2 \
         AND COALESCE(user_agent, '') = $3",
    )
    .bind(account_id)
    .bind(ip.unwrap_or(""))
    .bind(user_agent.unwrap_or(""))
    .fetch_one(c)
    .await?;
    Ok(n > 0)
}

pub async fn count_sessions_ever(c: &mut AnyConnection, account_id: &str) -> Result<i64> {
    Ok(
        sqlx::query_scalar("SELECT COUNT(*) FROM sessions WHERE account_id = $1")
            .bind(account_id)
            .fetch_one(c)
            .await?,
    )
}

/// Record activity; written at most once a minute per session to spare the database.
pub async fn touch_session(c: &mut AnyConnection, id: &str, now: i64) -> Result<()> {
    sqlx::query("UPDATE sessions SET last_seen_at = $2 WHERE id = $1 AND last_seen_at < $3")
        .bind(id)
        .bind(now)
        .bind(now - 60_000)
        .execute(c)
        .await?;
    Ok(())
}

/// Live sessions of an account, newest first.
pub async fn list_sessions(
    c: &mut AnyConnection,
    account_id: &str,
    now: i64,
) -> Result<Vec<SessionRow>> {
    let sql = format!(
        "SELECT {SESSION_COLUMNS} FROM sessions WHERE account_id = $1 AND revoked_at IS NULL \
         AND expires_at > $2 ORDER BY created_at DESC, id DESC"
    );
    Ok(sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(account_id)
        .bind(now)
        .fetch_all(c)
        .await?)
}

/// Revoke one session of this account; false when it is not theirs or already ended.
pub async fn revoke_session(
    c: &mut AnyConnection,
    account_id: &str,
    id: &str,
    reason: &str,
    now: i64,
) -> Result<bool> {
    let r = sqlx::query(
        "UPDATE sessions SET revoked_at = $3, revoked_reason = $4 \
         WHERE id = $1 AND account_id = $2 AND revoked_at IS NULL",
    )
    .bind(id)
    .bind(account_id)
    .bind(now)
    .bind(reason)
    .execute(c)
    .await?;
    Ok(r.rows_affected() == 1)
}

/// Revoke every session of the account except `keep` (if any); returns how many ended.
pub async fn revoke_all_sessions(
    c: &mut AnyConnection,
    account_id: &str,
    keep: Option<&str>,
    reason: &str,
    now: i64,
) -> Result<u64> {
    let r = sqlx::query(
        "UPDATE sessions SET revoked_at = $2, revoked_reason = $3 \
         WHERE account_id = $1 AND revoked_at IS NULL AND id <> $4",
    )
    .bind(account_id)
    .bind(now)
    .bind(reason)
    .bind(keep.unwrap_or(""))
    .execute(c)
    .await?;
    Ok(r.rows_affected())
}

#[derive(Debug, Clone, FromRow)]
pub struct ApiTokenRow {
    pub id: String,
    pub account_id: String,
    pub name: String,
    pub scope: String,
    pub token_hash: String,
    pub token_prefix: String,
    pub created_at: i64,
    pub expires_at: i64,
    pub last_used_at: Option<i64>,
    pub revoked_at: Option<i64>,
}

const TOKEN_COLUMNS: &str = "id, account_id, name, scope, token_hash, token_prefix, created_at, \
    expires_at, last_used_at, revoked_at";

pub async fn insert_api_token(c: &mut AnyConnection, t: &ApiTokenRow) -> Result<()> {
    sqlx::query(
        "INSERT INTO api_tokens (id, account_id, name, scope, token_hash, token_prefix, \
         created_at, expires_at, last_used_at, revoked_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, NULL, NULL)",
    )
    .bind(&t.id)
    .bind(&t.account_id)
    .bind(&t.name)
    .bind(&t.scope)
    .bind(&t.token_hash)
    .bind(&t.token_prefix)
    .bind(t.created_at)
    .bind(t.expires_at)
    .execute(c)
    .await?;
    Ok(())
}

pub async fn api_token_by_hash(c: &mut AnyConnection, hash: &str) -> Result<Option<ApiTokenRow>> {
    let sql = format!("SELECT {TOKEN_COLUMNS} FROM api_tokens WHERE token_hash = $1");
    Ok(sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(hash)
        .fetch_optional(c)
        .await?)
}

pub async fn touch_api_token(c: &mut AnyConnection, id: &str, now: i64) -> Result<()> {
    sqlx::query(
        "UPDATE api_tokens SET last_used_at = $2 WHERE id = $1 \
         AND (last_used_at IS NULL OR last_used_at < $3)",
    )
    .bind(id)
    .bind(now)
    .bind(now - 60_000)
    .execute(c)
    .await?;
    Ok(())
}

/// Tokens of an account that are neither revoked nor expired, newest first.
pub async fn list_api_tokens(
    c: &mut AnyConnection,
    account_id: &str,
    now: i64,
) -> Result<Vec<ApiTokenRow>> {
    let sql = format!(
        "SELECT {TOKEN_COLUMNS} FROM api_tokens WHERE account_id = $1 AND revoked_at IS NULL \
         AND expires_at > $2 ORDER BY created_at DESC, id DESC"
    );
    Ok(sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(account_id)
        .bind(now)
        .fetch_all(c)
        .await?)
}

pub async fn count_live_api_tokens(
    c: &mut AnyConnection,
    account_id: &str,
    now: i64,
) -> Result<i64> {
    Ok(sqlx::query_scalar(
        "SELECT COUNT(*) FROM api_tokens WHERE account_id = $1 AND revoked_at IS NULL \
         AND expires_at > $2",
    )
    .bind(account_id)
    .bind(now)
    .fetch_one(c)
    .await?)
}

pub async fn revoke_api_token(
    c: &mut AnyConnection,
    account_id: &str,
    id: &str,
    now: i64,
) -> Result<bool> {
    let r = sqlx::query(
        "UPDATE api_tokens SET revoked_at = $3 WHERE id = $1 AND account_id = $2 \
         AND revoked_at IS NULL",
    )
    .bind(id)
    .bind(account_id)
    .bind(now)
    .execute(c)
    .await?;
    Ok(r.rows_affected() == 1)
}

/// Revoke every personal API token of the account (after a password reset).
pub async fn revoke_all_api_tokens(
    c: &mut AnyConnection,
    account_id: &str,
    now: i64,
) -> Result<u64> {
    let r = sqlx::query(
        "UPDATE api_tokens SET revoked_at = $2 WHERE account_id = $1 AND revoked_at IS NULL",
    )
    .bind(account_id)
    .bind(now)
    .execute(c)
    .await?;
    Ok(r.rows_affected())
}
