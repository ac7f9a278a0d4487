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
