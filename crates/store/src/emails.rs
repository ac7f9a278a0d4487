//! The mail outbox and log in one table: a row is written in the same transaction as the change
//! that causes the mail, delivered by the sender job with retries, and kept for the customer's
//! "service e-mails" page with its delivery status.

use crate::Result;
use crate::bulk::{self, Val};
use sqlx::{AnyConnection, FromRow};

pub const QUEUED: &str = "queued";
pub const SENT: &str = "sent";
pub const FAILED: &str = "failed";
/// Kept and shown, but no SMTP server is configured to deliver it.
pub const NOT_DELIVERED: &str = "not_delivered";

#[derive(Debug, Clone, FromRow)]
pub struct EmailRow {
    pub id: String,
    pub account_id: Option<String>,
    pub to_addr: String,
    pub kind: String,
    pub language: String,
    pub subject: String,
    pub body_text: String,
    pub body_html: String,
    /// What the mail says (kind and data, JSON), laid out when sent or read; `None` for rows
    /// that stored their bodies.
    pub data: Option<String>,
    pub reference: String,
    pub message_id: String,
    pub status: String,
    pub attempts: i64,
    pub next_attempt_at: i64,
    pub locked_until: Option<i64>,
    pub last_error: Option<String>,
    pub created_at: i64,
    pub sent_at: Option<i64>,
}

const COLUMNS: &str = "id, account_id, to_addr, kind, language, subject, body_text, body_html, \
    data, reference, message_id, status, attempts, next_attempt_at, locked_until, last_error, \
    created_at, sent_at";

pub async fn insert(c: &mut AnyConnection, e: &EmailRow) -> Result<()> {
    insert_many(c, std::slice::from_ref(e)).await
}

pub async fn insert_many(c: &mut AnyConnection, mails: &[EmailRow]) -> Result<()> {
    insert_values(c, mails.iter().map(values).collect()).await
}

/// A mail's values in the column order of its insert.
pub fn values(e: &EmailRow) -> Vec<Val> {
    vec![
        (&e.id).into(),
        (&e.account_id).into(),
        (&e.to_addr).into(),
        (&e.kind).into(),
        (&e.language).into(),
        (&e.subject).into(),
        (&e.body_text).into(),
        (&e.body_html).into(),
        (&e.data).into(),
        (&e.reference).into(),
        (&e.message_id).into(),
        (&e.status).into(),
        0i64.into(),
        e.next_attempt_at.into(),
        e.created_at.into(),
    ]
}

/// [`insert_many`] of rows laid out ahead by [`values`].
pub async fn insert_values(c: &mut AnyConnection, rows: Vec<Vec<Val>>) -> Result<()> {
    bulk::insert(
        c,
        "emails",
        "id, account_id, to_addr, kind, language, subject, body_text, body_html, data, \
         reference, message_id, status, attempts, next_attempt_at, created_at",
        rows,
        "",
    )
    .await?;
    Ok(())
}

/// Mails of one account, newest first, keyset-paginated by `(created_at, id)`.
pub async fn list_for_account(
    c: &mut AnyConnection,
    account_id: &str,
    before: Option<(i64, &str)>,
    limit: i64,
) -> Result<Vec<EmailRow>> {
    let (at, id) = before.unwrap_or((i64::MAX, ""));
    let sql = format!(
        "SELECT {COLUMNS} FROM emails WHERE account_id = $1 \
         AND (created_at < $2 OR (created_at = $2 AND id < $3) OR $3 = '') \
         ORDER BY created_at DESC, id DESC LIMIT $4"
    );
    Ok(sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(account_id)
        .bind(at)
        .bind(id)
        .bind(limit)
        .fetch_all(c)
        .await?)
}

pub async fn get_for_account(
    c: &mut AnyConnection,
    account_id: &str,
    id: &str,
) -> Result<Option<EmailRow>> {
    let sql = format!("SELECT {COLUMNS} FROM emails WHERE id = $1 AND account_id = $2");
    Ok(sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(id)
        .bind(account_id)
        .fetch_optional(c)
        .await?)
}

/// Find a mail of this account by its verification reference or its Message-ID. A
/// Message-ID is `<id@domain>`, so it is found through the mail's id (0019: it has no index
/// of its own); a reference through the account's unique `(account_id, reference)`.
pub async fn find_for_account(
    c: &mut AnyConnection,
    account_id: &str,
    reference_or_message_id: &str,
) -> Result<Option<EmailRow>> {
    let v = reference_or_message_id;
    let by_id = v
        .strip_prefix('<')
        .and_then(|rest| rest.split_once('@'))
        .map(|(id, _)| id);
    let q = match by_id {
        Some(id) => sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM emails WHERE account_id = $1 AND id = $2 AND message_id = $3"
        )))
        .bind(account_id)
        .bind(id)
        .bind(v),
        None => sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM emails WHERE account_id = $1 AND reference = $2"
        )))
        .bind(account_id)
        .bind(v),
    };
    Ok(q.fetch_optional(c).await?)
}

/// Mails due for delivery now (queued, due, not leased by another sender).
pub async fn due(c: &mut AnyConnection, now: i64, limit: i64) -> Result<Vec<EmailRow>> {
    let sql = format!(
        "SELECT {COLUMNS} FROM emails WHERE status = 'queued' AND next_attempt_at <= $1 \
         AND (locked_until IS NULL OR locked_until < $1) ORDER BY next_attempt_at, id LIMIT $2"
    );
    Ok(sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(now)
        .bind(limit)
        .fetch_all(c)
        .await?)
}

/// Take a lease on one mail; true only for the one sender that got it.
pub async fn lease(c: &mut AnyConnection, id: &str, now: i64, until: i64) -> Result<bool> {
    let r = sqlx::query(
        "UPDATE emails SET locked_until = $3 WHERE id = $1 AND status = 'queued' \
         AND (locked_until IS NULL OR locked_until < $2)",
    )
    .bind(id)
    .bind(now)
    .bind(until)
    .execute(c)
    .await?;
    Ok(r.rows_affected() == 1)
}

/// Mark delivered. A mail marked `erase_after_send` (the last one to a closed account) loses
/// its recipient, subject, bodies and data in the same statement.
pub async fn mark_sent(c: &mut AnyConnection, id: &str, now: i64) -> Result<()> {
    sqlx::query(
        "UPDATE emails SET status = 'sent', sent_at = $2, attempts = attempts + 1, \
         locked_until = NULL, last_error = NULL, \
         to_addr = CASE WHEN erase_after_send = 1 THEN '' ELSE to_addr END, \
         subject = CASE WHEN erase_after_send = 1 THEN '' ELSE subject END, \
         body_text = CASE WHEN erase_after_send = 1 THEN '' ELSE body_text END, \
         body_html = CASE WHEN erase_after_send = 1 THEN '' ELSE body_html END, \
         data = CASE WHEN erase_after_send = 1 THEN NULL ELSE data END WHERE id = $1",
    )
    .bind(id)
    .bind(now)
    .execute(c)
    .await?;
    Ok(())
}

/// Record a failed attempt: retried at `next_attempt_at`, or `failed` for good when `None`
/// (then a mail marked `erase_after_send` is erased as if delivered).
pub async fn mark_attempt_failed(
    c: &mut AnyConnection,
    id: &str,
    error: &str,
    next_attempt_at: Option<i64>,
) -> Result<()> {
    sqlx::query(
        "UPDATE emails SET attempts = attempts + 1, last_error = $2, locked_until = NULL, \
         status = CASE WHEN $3 < 0 THEN 'failed' ELSE status END, \
         next_attempt_at = CASE WHEN $3 < 0 THEN next_attempt_at ELSE $3 END, \
         to_addr = CASE WHEN $3 < 0 AND erase_after_send = 1 THEN '' ELSE to_addr END, \
         subject = CASE WHEN $3 < 0 AND erase_after_send = 1 THEN '' ELSE subject END, \
         body_text = CASE WHEN $3 < 0 AND erase_after_send = 1 THEN '' ELSE body_text END, \
         body_html = CASE WHEN $3 < 0 AND erase_after_send = 1 THEN '' ELSE body_html END, \
         data = CASE WHEN $3 < 0 AND erase_after_send = 1 THEN NULL ELSE data END \
         WHERE id = $1",
    )
    .bind(id)
    .bind(error)
    .bind(next_attempt_at.unwrap_or(-1))
    .execute(c)
    .await?;
    Ok(())
}
