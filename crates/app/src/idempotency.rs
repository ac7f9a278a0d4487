//! `Idempotency-Key` on the POSTs that create orders or pay: the first request with a key runs
//! and its answer is stored; a retry with the same key and the same body gets that answer back
//! without running again; the same key with another body is refused; a retry while the first
//! is still running is told to wait. Keys are kept 24 hours.

use crate::{App, AppError, Result};
use guichet_store::idempotency;
use sha2::{Digest, Sha256};

pub const KEEP_MS: i64 = 86_400_000;
/// A claim still running after this long is taken as abandoned and may run again (the use
/// cases behind keys are themselves safe to run again: one live payment per order).
pub const STALE_CLAIM_MS: i64 = 5 * 60_000;

/// What to do with a request carrying a key.
pub enum Claim {
    /// First time: run it, then [`finish`] (or [`abandon`] on a server error).
    Run,
    /// Seen before: answer this.
    Replay { status: u16, body: String },
}

/// Hash of what identifies a request: the route and the body.
pub fn request_hash(route: &str, body: &[u8]) -> String {
    let mut h = Sha256::new();
    h.update(route.as_bytes());
    h.update([0]);
    h.update(body);
    hex::encode(h.finalize())
}

fn check_key(key: &str) -> Result<()> {
    if key.is_empty() || key.len() > 255 || !key.bytes().all(|b| (0x21..0x7f).contains(&b)) {
        return Err(AppError::bad_request(
            "invalid_idempotency_key",
            "Idempotency-Key is 1 to 255 visible ASCII characters",
        ));
    }
    Ok(())
}

pub async fn begin(app: &App, account_id: &str, key: &str, hash: &str) -> Result<Claim> {
    check_key(key)?;
    let now = app.now_ms();
    let mut tx = app.db.begin().await?;
    if idempotency::claim(tx.conn(), account_id, key, hash, now).await? {
        tx.commit().await?;
        return Ok(Claim::Run);
    }
    let row = idempotency::get(tx.conn(), account_id, key)
        .await?
        .ok_or_else(|| AppError::internal("idempotency key vanished"))?;
    drop(tx);
    if row.request_hash != hash {
        return Err(AppError::new(
            crate::ErrorKind::Validation,
            "idempotency_key_reused",
            "this Idempotency-Key was used for another request",
        ));
    }
    if row.status_code == 0 {
        let mut c = app.db.conn().await?;
        if idempotency::reclaim(&mut c, account_id, key, hash, now - STALE_CLAIM_MS, now).await? {
            return Ok(Claim::Run);
        }
    }
    match (row.status_code, row.response_body) {
        (0, _) | (_, None) => Err(AppError::conflict(
            "request_in_progress",
            "a request with this Idempotency-Key is still running; retry shortly",
        )),
        (status, Some(body)) => Ok(Claim::Replay {
            status: u16::try_from(status).unwrap_or(500),
            body,
        }),
    }
}

pub async fn finish(app: &App, account_id: &str, key: &str, status: u16, body: &str) -> Result<()> {
    let mut c = app.db.conn().await?;
    idempotency::complete(&mut c, account_id, key, i64::from(status), body).await?;
    Ok(())
}

/// The request failed on our side: forget the key so that a retry runs.
pub async fn abandon(app: &App, account_id: &str, key: &str) {
    if let Ok(mut c) = app.db.conn().await
        && let Err(e) = idempotency::release(&mut c, account_id, key).await
    {
        tracing::warn!(error = %e, "could not release an idempotency key");
    }
}

/// Drop keys older than a day.
pub async fn purge(app: &App) -> Result<u64> {
    let mut c = app.db.conn().await?;
    Ok(idempotency::purge(&mut c, app.now_ms() - KEEP_MS).await?)
}
