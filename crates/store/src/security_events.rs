//! The security event log an account holder can read: logins, failures, changes of factors,
//! e-mail, phone and password, token creation, session revocation.

use crate::Result;
use sqlx::{AnyConnection, FromRow};

#[derive(Debug, Clone, FromRow)]
pub struct SecurityEventRow {
    pub id: String,
    pub account_id: String,
    pub kind: String,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    pub details: Option<String>,
    pub created_at: i64,
}

pub async fn insert(c: &mut AnyConnection, e: &SecurityEventRow) -> Result<()> {
    sqlx::query(
        "INSERT INTO security_events (id, account_id, kind, ip, user_agent, details, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(&e.id)
    .bind(&e.account_id)
    .bind(&e.kind)
    .bind(&e.ip)
    .bind(&e.user_agent)
    .bind(&e.details)
    .bind(e.created_at)
    .execute(c)
    .await?;
    Ok(())
}

pub async fn list_for_account(
    c: &mut AnyConnection,
    account_id: &str,
    limit: i64,
) -> Result<Vec<SecurityEventRow>> {
    Ok(sqlx::query_as(
        "SELECT id, account_id, kind, ip, user_agent, details, created_at FROM security_events \
         WHERE account_id = $1 ORDER BY created_at DESC, id DESC LIMIT $2",
    )
    .bind(account_id)
    .bind(limit)
    .fetch_all(c)
    .await?)
}

/// Event kinds that are routine and never need the holder's attention.
pub const ROUTINE_KINDS: [&str; 5] = [
    "login",
    "logout",
    "reauth",
    "account_created",
    "email_verified",
];

/// Events of the account newer than its last reading that are not routine.
pub async fn count_unseen(c: &mut AnyConnection, account_id: &str) -> Result<i64> {
    Ok(sqlx::query_scalar(
        "SELECT COUNT(*) FROM security_events e JOIN accounts a ON a.id = e.account_id \
         WHERE e.account_id = $1 AND e.created_at > COALESCE(a.security_events_seen_at, 0) \
         AND e.kind NOT IN ($2, $3, $4, $5, $6)",
    )
    .bind(account_id)
    .bind(ROUTINE_KINDS[0])
    .bind(ROUTINE_KINDS[1])
    .bind(ROUTINE_KINDS[2])
    .bind(ROUTINE_KINDS[3])
    .bind(ROUTINE_KINDS[4])
    .fetch_one(c)
    .await?)
}

/// The holder read the events up to `at`.
pub async fn mark_seen(c: &mut AnyConnection, account_id: &str, at: i64) -> Result<()> {
    sqlx::query(
        "UPDATE accounts SET security_events_seen_at = $2 WHERE id = $1 \
         AND COALESCE(security_events_seen_at, 0) < $2",
    )
    .bind(account_id)
    .bind(at)
    .execute(c)
    .await?;
    Ok(())
}
