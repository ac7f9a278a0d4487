//! The job queue on the database: typed jobs with a unique key (a second enqueue of the same
//! key is a no-op, so the key also records that the work was done), a due time, leases so a
//! crashed worker's job is taken again, and retries. Claiming uses `FOR UPDATE SKIP LOCKED`
//! on PostgreSQL so several workers take different jobs; on SQLite the single writer makes the
//! claim atomic by itself.

use crate::{Backend, Result};
use sqlx::{AnyConnection, FromRow};

pub const QUEUED: &str = "queued";
pub const DONE: &str = "done";
/// Given up after too many attempts; kept for operators.
pub const FAILED: &str = "failed";

#[derive(Debug, Clone, FromRow)]
pub struct JobRow {
    pub id: String,
    pub kind: String,
    pub unique_key: String,
    pub payload: String,
    pub state: String,
    pub run_at: i64,
    pub attempts: i64,
    pub locked_until: Option<i64>,
    pub locked_by: Option<String>,
    pub last_error: Option<String>,
    pub created_at: i64,
    pub finished_at: Option<i64>,
}

const COLUMNS: &str = "id, kind, unique_key, payload, state, run_at, attempts, locked_until, \
    locked_by, last_error, created_at, finished_at";

/// A job to enqueue.
pub struct NewJob<'a> {
    pub id: &'a str,
    pub kind: &'a str,
    pub unique_key: &'a str,
    pub payload: &'a str,
    pub run_at: i64,
}

/// Enqueue a job unless its key exists; true if this call enqueued it.
pub async fn enqueue(c: &mut AnyConnection, j: &NewJob<'_>, now: i64) -> Result<bool> {
    Ok(enqueue_many(c, std::slice::from_ref(j), now).await? == 1)
}

/// Enqueue jobs in multi-row statements, each unless its key exists; returns how many were
/// enqueued.
pub async fn enqueue_many(c: &mut AnyConnection, jobs: &[NewJob<'_>], now: i64) -> Result<u64> {
    use crate::bulk::{self, Val};
    let rows: Vec<Vec<Val>> = jobs
        .iter()
        .map(|j| {
            vec![
                j.id.into(),
                j.kind.into(),
                j.unique_key.into(),
                j.payload.into(),
                QUEUED.into(),
                j.run_at.into(),
                0i64.into(),
                now.into(),
            ]
        })
        .collect();
    bulk::insert(
        c,
        "jobs",
        "id, kind, unique_key, payload, state, run_at, attempts, created_at",
        rows,
        "ON CONFLICT (unique_key) DO NOTHING",
    )
    .await
}

/// Take up to `limit` due jobs for `worker` until `lease_until`: queued, due, and not leased
/// by a live worker. Each comes back with its attempt counted.
pub async fn claim(
    c: &mut AnyConnection,
    backend: Backend,
    worker: &str,
    now: i64,
    lease_until: i64,
    limit: i64,
) -> Result<Vec<JobRow>> {
    let lock = match backend {
        Backend::Postgres => " FOR UPDATE SKIP LOCKED",
        Backend::Sqlite => "",
    };
    let sql = format!(
        "UPDATE jobs SET locked_until = $2, locked_by = $3, attempts = attempts + 1 \
         WHERE id IN (SELECT id FROM jobs WHERE state = 'queued' AND run_at <= $1 \
         AND (locked_until IS NULL OR locked_until < $1) ORDER BY run_at, id LIMIT $4{lock}) \
         RETURNING {COLUMNS}"
    );
    let mut rows: Vec<JobRow> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(now)
        .bind(lease_until)
        .bind(worker)
        .bind(limit)
        .fetch_all(c)
        .await?;
    rows.sort_by(|a, b| (a.run_at, &a.id).cmp(&(b.run_at, &b.id)));
    Ok(rows)
}

/// Mark a claimed job done (only while this worker holds it); false if it was not.
pub async fn finish(c: &mut AnyConnection, id: &str, worker: &str, now: i64) -> Result<bool> {
    let r = sqlx::query(
        "UPDATE jobs SET state = 'done', finished_at = $3, locked_until = NULL, last_error = NULL \
         WHERE id = $1 AND state = 'queued' AND locked_by = $2",
    )
    .bind(id)
    .bind(worker)
    .bind(now)
    .execute(c)
    .await?;
    Ok(r.rows_affected() == 1)
}

/// Give a claimed job back: run again at `retry_at`, or give up (`failed`) when `retry_at` is
/// `None`.
pub async fn fail(
    c: &mut AnyConnection,
    id: &str,
    worker: &str,
    error: &str,
    retry_at: Option<i64>,
    now: i64,
) -> Result<()> {
    sqlx::query(
        "UPDATE jobs SET state = CASE WHEN $4 < 0 THEN 'failed' ELSE 'queued' END, \
         run_at = CASE WHEN $4 < 0 THEN run_at ELSE $4 END, \
         finished_at = CASE WHEN $4 < 0 THEN $5 ELSE NULL END, \
         locked_until = NULL, last_error = $3 WHERE id = $1 AND locked_by = $2 AND state = 'queued'",
    )
    .bind(id)
    .bind(worker)
    .bind(error)
    .bind(retry_at.unwrap_or(-1))
    .bind(now)
    .execute(c)
    .await?;
    Ok(())
}

/// How many jobs are due at `now` (queued, due, not leased by a live worker).
pub async fn count_due(c: &mut AnyConnection, now: i64) -> Result<i64> {
    Ok(sqlx::query_scalar(
        "SELECT COUNT(*) FROM jobs WHERE state = 'queued' AND run_at <= $1 \
         AND (locked_until IS NULL OR locked_until < $1)",
    )
    .bind(now)
    .fetch_one(c)
    .await?)
}

/// What a billing run changed, counted before and after it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct BillingCounts {
    pub renewal_orders: i64,
    pub invoices: i64,
    pub payments_succeeded: i64,
    pub payments_failed: i64,
    pub services_active: i64,
    pub services_suspended: i64,
    pub services_deleted: i64,
    pub mails: i64,
    pub jobs_done: i64,
    pub jobs_failed: i64,
}

type Six = (
    Option<i64>,
    Option<i64>,
    Option<i64>,
    Option<i64>,
    Option<i64>,
    Option<i64>,
);

pub async fn billing_counts(c: &mut AnyConnection) -> Result<BillingCounts> {
    let n = |v: Option<i64>| v.unwrap_or(0);
    let (renewal_orders, invoices, ok, failed): (
        Option<i64>,
        Option<i64>,
        Option<i64>,
        Option<i64>,
    ) = sqlx::query_as(
        "SELECT (SELECT COUNT(*) FROM orders WHERE kind = 'renewal'), \
             (SELECT COUNT(*) FROM invoices WHERE kind = 'invoice'), \
             (SELECT COUNT(*) FROM payments WHERE state = 'succeeded'), \
             (SELECT COUNT(*) FROM payments WHERE state = 'failed')",
    )
    .fetch_one(&mut *c)
    .await?;
    let (active, suspended, deleted, mails, done, jfailed): Six = sqlx::query_as(
        "SELECT (SELECT COUNT(*) FROM services WHERE state = 'active'), \
         (SELECT COUNT(*) FROM services WHERE state = 'suspended'), \
         (SELECT COUNT(*) FROM services WHERE state = 'deleted'), \
         (SELECT COUNT(*) FROM emails), \
         (SELECT COUNT(*) FROM jobs WHERE state = 'done'), \
         (SELECT COUNT(*) FROM jobs WHERE state = 'failed')",
    )
    .fetch_one(c)
    .await?;
    Ok(BillingCounts {
        renewal_orders: n(renewal_orders),
        invoices: n(invoices),
        payments_succeeded: n(ok),
        payments_failed: n(failed),
        services_active: n(active),
        services_suspended: n(suspended),
        services_deleted: n(deleted),
        mails: n(mails),
        jobs_done: n(done),
        jobs_failed: n(jfailed),
    })
}

/// [`finish`] for many jobs of this worker; returns how many it still held.
pub async fn finish_many(
    c: &mut AnyConnection,
    ids: &[String],
    worker: &str,
    now: i64,
) -> Result<u64> {
    crate::bulk::execute_in(
        c,
        "UPDATE jobs SET state = 'done', finished_at = $2, locked_until = NULL, last_error = NULL \
         WHERE state = 'queued' AND locked_by = $1 AND id IN ({in})",
        &[worker.into(), now.into()],
        ids,
    )
    .await
}
