//! The job runner over the database queue (`guichet_store::jobs`): claims due jobs under a
//! lease (a worker killed mid-job loses it, and another takes the job again once it lapses),
//! runs each by kind, and finishes it or retries it with a doubling delay. A handler whose
//! work writes anything finishes its job inside that same transaction ([`Job::finish_in`]),
//! so a job's effects and its "done" mark commit together: run again, it finds itself done.

use crate::{App, AppError, Result, ids};
use guichet_store::AnyConnection;
use guichet_store::jobs::{self, JobRow, NewJob};
use std::sync::OnceLock;

/// How long a claimed job is a worker's before others may take it again.
pub const LEASE_MS: i64 = 5 * 60_000;
/// Attempts before a job is given up (kept as `failed` for operators).
pub const MAX_ATTEMPTS: i64 = 12;
/// Jobs claimed at once: the billing run's renewal charges are done this many together.
/// 2,000 rather than 500 made the 100,000-service run about 10 % faster (each batch rewrites
/// the same hot index pages once); Stripe still gets eight requests at a time, so a batch of
/// its charges stays well inside the lease.
const BATCH: i64 = 2_000;

/// This process's name in leases.
pub fn worker_id() -> &'static str {
    static ID: OnceLock<String> = OnceLock::new();
    ID.get_or_init(|| {
        let mut b = [0u8; 6];
        crate::crypto::fill_random(&mut b);
        format!("{}-{}", std::process::id(), hex::encode(b))
    })
}

/// A claimed job.
pub struct Job {
    pub row: JobRow,
}

impl Job {
    /// Mark the job done in the caller's transaction; false if this worker lost it (then the
    /// caller must roll back: another worker does the work).
    pub async fn finish_in(&self, app: &App, c: &mut AnyConnection) -> Result<bool> {
        Ok(jobs::finish(c, &self.row.id, worker_id(), app.now_ms()).await?)
    }

    pub fn payload<T: serde::de::DeserializeOwned>(&self) -> Result<T> {
        serde_json::from_str(&self.row.payload)
            .map_err(|_| AppError::internal("unreadable job payload"))
    }
}

/// What a handler did with its job.
pub enum Handled {
    /// It finished the job in its own transaction.
    Finished,
    /// Nothing left to write: the runner marks it done.
    Done,
}

/// Enqueue a job in the caller's transaction, once per `key`; true if new.
pub async fn enqueue_in(
    app: &App,
    c: &mut AnyConnection,
    kind: &str,
    key: &str,
    payload: &serde_json::Value,
    run_at: i64,
) -> Result<bool> {
    let now = app.now_ms();
    Ok(jobs::enqueue(
        c,
        &NewJob {
            id: &ids::new_id(now),
            kind,
            unique_key: key,
            payload: &payload.to_string(),
            run_at,
        },
        now,
    )
    .await?)
}

/// The delay before attempt `attempts + 1`: 30 s doubling, at most an hour.
pub fn backoff_ms(attempts: i64) -> i64 {
    let exp = u32::try_from(attempts.clamp(1, 8) - 1).unwrap_or(0);
    (30_000i64 << exp).min(3_600_000)
}

async fn dispatch(app: &App, job: &Job) -> Result<Handled> {
    match job.row.kind.as_str() {
        crate::lifecycle::SERVICE_STEP => crate::lifecycle::run_step(app, job).await,
        crate::lifecycle::CARD_NOTICE => crate::lifecycle::card_notice(app, job).await,
        other => Err(AppError::internal(format!("unknown job kind {other}"))),
    }
}

/// Run every job due now; returns how many were done.
pub async fn run_due(app: &App) -> Result<usize> {
    let mut runner = Runner::new(app);
    let mut done = 0;
    while let Some(n) = runner.next().await? {
        done += n;
    }
    Ok(done)
}

/// Run one claimed job by its kind: 1 if done, 0 if given back for a retry.
async fn run_one(app: &App, job: Job) -> Result<usize> {
    match dispatch(app, &job).await {
        Ok(Handled::Finished) => Ok(1),
        Ok(Handled::Done) => {
            let mut c = app.db.conn().await?;
            jobs::finish(&mut c, &job.row.id, worker_id(), app.now_ms()).await?;
            Ok(1)
        }
        Err(e) => {
            let now = app.now_ms();
            let retry =
                (job.row.attempts < MAX_ATTEMPTS).then(|| now + backoff_ms(job.row.attempts));
            tracing::warn!(job = %job.row.unique_key, attempts = job.row.attempts, error = %e.message, "job failed");
            let mut c = app.db.conn().await?;
            jobs::fail(&mut c, &job.row.id, worker_id(), &e.message, retry, now).await?;
            Ok(0)
        }
    }
}

/// Claims batches of due jobs and runs them in claim order. Runs of renewal charges go
/// through [`crate::renewal_batch::Pipeline`], whose stages overlap (one run settles while
/// the next ones are laid out, read, placed and charged). Any other job waits for the run before it to settle, so a service's steps still
/// happen in their order.
pub struct Runner<'a> {
    app: &'a App,
    pipe: crate::renewal_batch::Pipeline<Job>,
}

impl<'a> Runner<'a> {
    pub fn new(app: &'a App) -> Self {
        Self {
            app,
            pipe: crate::renewal_batch::Pipeline::new(),
        }
    }

    /// Claim and run one batch of due jobs: `None` when none was due and nothing was left to
    /// settle, else how many jobs were done. The batch's last run of renewal charges may be
    /// left to settle with the next call, so call until `None`. On an error, what was left to
    /// settle is settled first (or left to the jobs' leases, as after a crash).
    pub async fn next(&mut self) -> Result<Option<usize>> {
        let out = self.step().await;
        if out.is_err() {
            self.close().await;
        }
        out
    }

    async fn step(&mut self) -> Result<Option<usize>> {
        let app = self.app;
        let claimed = claim(app).await?;
        if claimed.is_empty() {
            let out = self.pipe.flush(app).await;
            return if out.done == 0 && out.rest.is_empty() {
                Ok(None)
            } else {
                Ok(Some(run_rest(app, out).await?))
            };
        }
        let mut done = 0;
        // Runs of renewal charges go through the batch path, in claim order with the rest;
        // what it leaves (out of the ordinary) runs one at a time once it settled.
        let mut charges = Vec::new();
        let mut queue = claimed.into_iter().map(|row| Job { row }).peekable();
        while let Some(job) = queue.next() {
            if !crate::renewal_batch::is_charge(&job) {
                done += run_rest(app, self.pipe.flush(app).await).await?;
                done += run_one(app, job).await?;
                continue;
            }
            charges.push(job);
            if queue.peek().is_some_and(crate::renewal_batch::is_charge) {
                continue;
            }
            let batch = std::mem::take(&mut charges);
            if batch.len() == 1 {
                done += run_rest(app, self.pipe.flush(app).await).await?;
                for job in batch {
                    done += run_one(app, job).await?;
                }
                continue;
            }
            let settled = self.pipe.push(app, batch).await?;
            done += run_rest(app, settled).await?;
        }
        Ok(Some(done))
    }

    /// Settle what is left after an error. Whatever fails here is left to the jobs' leases,
    /// as after a crash.
    async fn close(&mut self) {
        let out = self.pipe.flush(self.app).await;
        if let Err(e) = run_rest(self.app, out).await {
            tracing::warn!(error = %e.message, "renewal batch left to its leases");
        }
    }
}

/// Claim up to [`BATCH`] due jobs in one short transaction.
async fn claim(app: &App) -> Result<Vec<JobRow>> {
    let now = app.now_ms();
    let mut tx = app.db.begin().await?;
    let rows = jobs::claim(
        tx.conn(),
        app.db.backend(),
        worker_id(),
        now,
        now + LEASE_MS,
        BATCH,
    )
    .await?;
    tx.commit().await?;
    Ok(rows)
}

/// What a settled run of renewal charges did, and the jobs it left run one at a time; how
/// many jobs were done.
async fn run_rest(app: &App, out: crate::renewal_batch::BatchOutcome<Job>) -> Result<usize> {
    let mut done = out.done;
    for job in out.rest {
        done += run_one(app, job).await?;
    }
    Ok(done)
}

#[cfg(test)]
mod tests {
    #[test]
    fn backoff_doubles_to_an_hour() {
        assert_eq!(super::backoff_ms(1), 30_000);
        assert_eq!(super::backoff_ms(2), 60_000);
        assert_eq!(super::backoff_ms(8), 3_600_000);
        assert_eq!(super::backoff_ms(40), 3_600_000);
    }
}
