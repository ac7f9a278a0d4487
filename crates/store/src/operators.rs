//! Operator API keys (hashed) and the audit log of operator actions.

use crate::Result;
use sqlx::{AnyConnection, FromRow};

#[derive(Debug, Clone, FromRow)]
pub struct OperatorKeyRow {
    pub id: String,
    pub name: String,
    pub role: String,
    pub token_hash: String,
    pub created_at: i64,
    pub last_used_at: Option<i64>,
    pub revoked_at: Option<i64>,
}

pub async fn insert_key(c: &mut AnyConnection, k: &OperatorKeyRow) -> Result<()> {
    sqlx::query(
        "INSERT INTO operator_keys (id, name, role, token_hash, created_at, last_used_at, \
         revoked_at) VALUES ($1, $2, $3, $4, $5, NULL, NULL)",
    )
    .bind(&k.id)
    .bind(&k.name)
    .bind(&k.role)
    .bind(&k.token_hash)
    .bind(k.created_at)
    .execute(c)
    .await?;
    Ok(())
}

pub async fn key_by_hash(c: &mut AnyConnection, hash: &str) -> Result<Option<OperatorKeyRow>> {
    Ok(sqlx::query_as(
        "SELECT id, name, role, token_hash, created_at, last_used_at, revoked_at \
         FROM operator_keys WHERE token_hash = $1",
    )
    .bind(hash)
    .fetch_optional(c)
    .await?)
}

#[derive(Debug, Clone, FromRow)]
pub struct AuditRow {
    pub id: String,
    pub actor: String,
    pub action: String,
    pub subject: Option<String>,
    pub details: Option<String>,
    pub created_at: i64,
}

pub async fn audit(c: &mut AnyConnection, a: &AuditRow) -> Result<()> {
    sqlx::query(
        "INSERT INTO audit_log (id, actor, action, subject, details, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(&a.id)
    .bind(&a.actor)
    .bind(&a.action)
    .bind(&a.subject)
    .bind(&a.details)
    .bind(a.created_at)
    .execute(c)
    .await?;
    Ok(())
}

pub async fn list_audit(c: &mut AnyConnection, limit: i64) -> Result<Vec<AuditRow>> {
    Ok(sqlx::query_as(
        "SELECT id, actor, action, subject, details, created_at FROM audit_log \
         ORDER BY created_at DESC, id DESC LIMIT $1",
    )
    .bind(limit)
    .fetch_all(c)
    .await?)
}

pub async fn list_keys(c: &mut AnyConnection) -> Result<Vec<OperatorKeyRow>> {
    Ok(sqlx::query_as(
        "SELECT id, name, role, token_hash, created_at, last_used_at, revoked_at \
         FROM operator_keys ORDER BY created_at, id",
    )
    .fetch_all(c)
    .await?)
}

pub async fn revoke_key(c: &mut AnyConnection, id: &str, now: i64) -> Result<bool> {
    let r = sqlx::query(
        "UPDATE operator_keys SET revoked_at = $2 WHERE id = $1 AND revoked_at IS NULL",
    )
    .bind(id)
    .bind(now)
    .execute(c)
    .await?;
    Ok(r.rows_affected() == 1)
}
