//! The SMS outbox: codes texted to a customer's mobile, delivered by the SMS sender job. In
//! sandbox mode the body stays readable here for operators; in production it is blanked once
//! the message has been handed to the gateway.

use crate::Result;
use sqlx::{AnyConnection, FromRow};

#[derive(Debug, Clone, FromRow)]
pub struct SmsRow {
    pub id: String,
    pub account_id: Option<String>,
    pub to_phone: String,
    pub body: String,
    pub status: String,
    pub attempts: i64,
    pub next_attempt_at: i64,
    pub locked_until: Option<i64>,
    pub last_error: Option<String>,
    pub created_at: i64,
    pub sent_at: Option<i64>,
}

const COLUMNS: &str = "id, account_id, to_phone, body, status, attempts, next_attempt_at, \
    locked_until, last_error, created_at, sent_at";

pub async fn insert(c: &mut AnyConnection, s: &SmsRow) -> Result<()> {
    sqlx::query(
        "INSERT INTO sms_messages (id, account_id, to_phone, body, status, attempts, \
         next_attempt_at, locked_until, last_error, created_at, sent_at) \
         VALUES ($1, $2, $3, $4, 'queued', 0, $5, NULL, NULL, $6, NULL)",
    )
    .bind(&s.id)
    .bind(&s.account_id)
    .bind(&s.to_phone)
    .bind(&s.body)
    .bind(s.next_attempt_at)
    .bind(s.created_at)
    .execute(c)
    .await?;
    Ok(())
}

pub async fn due(c: &mut AnyConnection, now: i64, limit: i64) -> Result<Vec<SmsRow>> {
    let sql = format!(
        "SELECT {COLUMNS} FROM sms_messages WHERE status = 'queued' AND next_attempt_at <= $1 \
         AND (locked_until IS NULL OR locked_until < $1) ORDER BY next_attempt_at, id LIMIT $2"
    );
    Ok(sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(now)
        .bind(limit)
        .fetch_all(c)
        .await?)
}

pub async fn lease(c: &mut AnyConnection, id: &str, now: i64, until: i64) -> Result<bool> {
    let r = sqlx::query(
        "UPDATE sms_messages SET locked_until = $3 WHERE id = $1 AND status = 'queued' \
         AND (locked_until IS NULL OR locked_until < $2)",
    )
    .bind(id)
    .bind(now)
    .bind(until)
    .execute(c)
    .await?;
    Ok(r.rows_affected() == 1)
}

/// Mark sent; `keep_body` false blanks the body (the code must not outlive its use).
pub async fn mark_sent(c: &mut AnyConnection, id: &str, now: i64, keep_body: bool) -> Result<()> {
    sqlx::query(
        "UPDATE sms_messages SET status = 'sent', sent_at = $2, attempts = attempts + 1, \
         locked_until = NULL, body = CASE WHEN $3 = 1 THEN body ELSE '' END WHERE id = $1",
    )
    .bind(id)
    .bind(now)
    .bind(i64::from(keep_body))
    .execute(c)
    .await?;
    Ok(())
}

pub async fn mark_attempt_failed(
    c: &mut AnyConnection,
    id: &str,
    error: &str,
    next_attempt_at: Option<i64>,
) -> Result<()> {
    sqlx::query(
        "UPDATE sms_messages SET attempts = attempts + 1, last_error = $2, locked_until = NULL, \
         status = CASE WHEN $3 < 0 THEN 'failed' ELSE status END, \
         next_attempt_at = CASE WHEN $3 < 0 THEN next_attempt_at ELSE $3 END WHERE id = $1",
    )
    .bind(id)
    .bind(error)
    .bind(next_attempt_at.unwrap_or(-1))
    .execute(c)
    .await?;
    Ok(())
}

/// Latest messages, for the operator's sandbox view.
pub async fn latest(
    c: &mut AnyConnection,
    to_phone: Option<&str>,
    limit: i64,
) -> Result<Vec<SmsRow>> {
    let sql = format!(
        "SELECT {COLUMNS} FROM sms_messages WHERE ($1 = '' OR to_phone = $1) \
         ORDER BY created_at DESC, id DESC LIMIT $2"
    );
    Ok(sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(to_phone.unwrap_or(""))
        .bind(limit)
        .fetch_all(c)
        .await?)
}
