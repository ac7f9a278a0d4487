//! The provisioning webhook outbox: one row per event (written in the same transaction as the
//! change it reports), delivered at least once with backoff, and the log of every attempt.

use crate::Result;
use crate::bulk::{self, Val};
use sqlx::{AnyConnection, FromRow};

pub const PENDING: &str = "pending";
pub const DELIVERED: &str = "delivered";
pub const FAILED: &str = "failed";
/// Recorded, but no provisioning endpoint is configured.
pub const NOT_CONFIGURED: &str = "not_configured";

#[derive(Debug, Clone, FromRow)]
pub struct EventRow {
    pub id: String,
    pub kind: String,
    pub subject_id: String,
    pub payload: String,
    pub status: String,
    pub attempts: i64,
    pub next_attempt_at: i64,
    pub locked_until: Option<i64>,
    pub last_error: Option<String>,
    pub created_at: i64,
    pub delivered_at: Option<i64>,
}

const COLUMNS: &str = "id, kind, subject_id, payload, status, attempts, next_attempt_at, \
    locked_until, last_error, created_at, delivered_at";

#[derive(Debug, Clone, FromRow)]
pub struct AttemptRow {
    pub id: String,
    pub event_id: String,
    pub at: i64,
    pub status_code: Option<i64>,
    pub error: Option<String>,
    pub duration_ms: i64,
}

pub async fn insert(c: &mut AnyConnection, e: &EventRow) -> Result<()> {
    insert_many(c, std::slice::from_ref(e)).await
}

pub async fn insert_many(c: &mut AnyConnection, events: &[EventRow]) -> Result<()> {
    insert_values(c, events.iter().map(values).collect()).await
}

/// An event's values in the column order of its insert.
pub fn values(e: &EventRow) -> Vec<Val> {
    vec![
        (&e.id).into(),
        (&e.kind).into(),
        (&e.subject_id).into(),
        (&e.payload).into(),
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
        "webhook_events",
        "id, kind, subject_id, payload, status, attempts, next_attempt_at, created_at",
        rows,
        "",
    )
    .await?;
    Ok(())
}

pub async fn get(c: &mut AnyConnection, id: &str) -> Result<Option<EventRow>> {
    let sql = format!("SELECT {COLUMNS} FROM webhook_events WHERE id = $1");
    Ok(sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(id)
        .fetch_optional(c)
        .await?)
}

/// Events newest first, optionally in one status or about one subject.
pub async fn list(
    c: &mut AnyConnection,
    status: Option<&str>,
    subject_id: Option<&str>,
    limit: i64,
) -> Result<Vec<EventRow>> {
    let sql = format!(
        "SELECT {COLUMNS} FROM webhook_events WHERE ($1 = '' OR status = $1) \
         AND ($2 = '' OR subject_id = $2) ORDER BY created_at DESC, id DESC LIMIT $3"
    );
    Ok(sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(status.unwrap_or(""))
        .bind(subject_id.unwrap_or(""))
        .bind(limit)
        .fetch_all(c)
        .await?)
}

pub async fn due(c: &mut AnyConnection, now: i64, limit: i64) -> Result<Vec<EventRow>> {
    let sql = format!(
        "SELECT {COLUMNS} FROM webhook_events WHERE status = 'pending' AND next_attempt_at <= $1 \
         AND (locked_until IS NULL OR locked_until < $1) ORDER BY next_attempt_at, id LIMIT $2"
    );
    Ok(sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(now)
        .bind(limit)
        .fetch_all(c)
        .await?)
}

/// Take a lease on one event; true only for the one worker that got it.
pub async fn lease(c: &mut AnyConnection, id: &str, now: i64, until: i64) -> Result<bool> {
    let r = sqlx::query(
        "UPDATE webhook_events SET locked_until = $3 WHERE id = $1 AND status = 'pending' \
         AND (locked_until IS NULL OR locked_until < $2)",
    )
    .bind(id)
    .bind(now)
    .bind(until)
    .execute(c)
    .await?;
    Ok(r.rows_affected() == 1)
}

pub async fn insert_attempt(c: &mut AnyConnection, a: &AttemptRow) -> Result<()> {
    sqlx::query(
        "INSERT INTO webhook_attempts (id, event_id, at, status_code, error, duration_ms) \
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(&a.id)
    .bind(&a.event_id)
    .bind(a.at)
    .bind(a.status_code)
    .bind(&a.error)
    .bind(a.duration_ms)
    .execute(c)
    .await?;
    Ok(())
}

pub async fn attempts(c: &mut AnyConnection, event_id: &str) -> Result<Vec<AttemptRow>> {
    Ok(sqlx::query_as(
        "SELECT id, event_id, at, status_code, error, duration_ms FROM webhook_attempts \
         WHERE event_id = $1 ORDER BY at, id",
    )
    .bind(event_id)
    .fetch_all(c)
    .await?)
}

pub async fn mark_delivered(c: &mut AnyConnection, id: &str, now: i64) -> Result<()> {
    sqlx::query(
        "UPDATE webhook_events SET status = 'delivered', delivered_at = $2, \
         attempts = attempts + 1, locked_until = NULL, last_error = NULL WHERE id = $1",
    )
    .bind(id)
    .bind(now)
    .execute(c)
    .await?;
    Ok(())
}

/// A failed attempt: retried at `next_attempt_at`, or `failed` for good when `None`.
pub async fn mark_attempt_failed(
    c: &mut AnyConnection,
    id: &str,
    error: &str,
    next_attempt_at: Option<i64>,
) -> Result<()> {
    sqlx::query(
        "UPDATE webhook_events SET attempts = attempts + 1, last_error = $2, locked_until = NULL, \
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

/// Queue an event again for delivery now (an operator's replay); it keeps its id.
pub async fn requeue(c: &mut AnyConnection, id: &str, now: i64) -> Result<bool> {
    let r = sqlx::query(
        "UPDATE webhook_events SET status = 'pending', next_attempt_at = $2, locked_until = NULL \
         WHERE id = $1",
    )
    .bind(id)
    .bind(now)
    .execute(c)
    .await?;
    Ok(r.rows_affected() == 1)
}
