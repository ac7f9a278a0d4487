//! Second factors: the TOTP secret (on the account row), single-use backup codes, and the
//! short-lived challenges of a two-step login.

use crate::Result;
use sqlx::{AnyConnection, FromRow};

#[derive(Debug, Clone, FromRow)]
pub struct TotpState {
    pub totp_secret: Option<String>,
    pub totp_pending_secret: Option<String>,
    pub totp_enabled_at: Option<i64>,
    pub totp_last_step: Option<i64>,
}

pub async fn totp_state(c: &mut AnyConnection, account_id: &str) -> Result<Option<TotpState>> {
    Ok(sqlx::query_as(
        "SELECT totp_secret, totp_pending_secret, totp_enabled_at, totp_last_step FROM accounts WHERE id = $1",
    )
    .bind(account_id)
    .fetch_optional(c)
    .await?)
}

pub async fn set_pending_totp(c: &mut AnyConnection, account_id: &str, secret: &str) -> Result<()> {
    sqlx::query("UPDATE accounts SET totp_pending_secret = $2 WHERE id = $1")
        .bind(account_id)
        .bind(secret)
        .execute(c)
        .await?;
    Ok(())
}

/// Turn the pending secret on (only if it is still the one that was confirmed).
pub async fn enable_totp(
    c: &mut AnyConnection,
    account_id: &str,
    secret: &str,
    step: i64,
    now: i64,
) -> Result<bool> {
    let r = sqlx::query(
        "UPDATE accounts SET totp_secret = totp_pending_secret, totp_pending_secret = NULL, \
         totp_enabled_at = $3, totp_last_step = $4, updated_at = $3 \
         WHERE id = $1 AND totp_pending_secret = $2",
    )
    .bind(account_id)
    .bind(secret)
    .bind(now)
    .bind(step)
    .execute(c)
    .await?;
    Ok(r.rows_affected() == 1)
}

pub async fn disable_totp(c: &mut AnyConnection, account_id: &str, now: i64) -> Result<()> {
    sqlx::query(
        "UPDATE accounts SET totp_secret = NULL, totp_pending_secret = NULL, totp_enabled_at = NULL, \
         totp_last_step = NULL, updated_at = $2 WHERE id = $1",
    )
    .bind(account_id)
    .bind(now)
    .execute(c)
    .await?;
    Ok(())
}

/// Record the time step of an accepted code; false when that step (or a later one) was
/// already used — a replayed code.
pub async fn use_totp_step(c: &mut AnyConnection, account_id: &str, step: i64) -> Result<bool> {
    let r = sqlx::query(
        "UPDATE accounts SET totp_last_step = $2 WHERE id = $1 \
         AND (totp_last_step IS NULL OR totp_last_step < $2)",
    )
    .bind(account_id)
    .bind(step)
    .execute(c)
    .await?;
    Ok(r.rows_affected() == 1)
}

pub async fn replace_backup_codes(
    c: &mut AnyConnection,
    account_id: &str,
    ids_and_hashes: &[(String, String)],
    now: i64,
) -> Result<()> {
    sqlx::query("DELETE FROM backup_codes WHERE account_id = $1")
        .bind(account_id)
        .execute(&mut *c)
        .await?;
    for (id, hash) in ids_and_hashes {
        sqlx::query("INSERT INTO backup_codes (id, account_id, code_hash, created_at, used_at) VALUES ($1, $2, $3, $4, NULL)")
            .bind(id)
            .bind(account_id)
            .bind(hash)
            .bind(now)
            .execute(&mut *c)
            .await?;
    }
    Ok(())
}

pub async fn delete_backup_codes(c: &mut AnyConnection, account_id: &str) -> Result<()> {
    sqlx::query("DELETE FROM backup_codes WHERE account_id = $1")
        .bind(account_id)
        .execute(c)
        .await?;
    Ok(())
}

/// Spend a backup code: true only once per code.
pub async fn use_backup_code(
    c: &mut AnyConnection,
    account_id: &str,
    hash: &str,
    now: i64,
) -> Result<bool> {
    let r = sqlx::query(
        "UPDATE backup_codes SET used_at = $3 WHERE account_id = $1 AND code_hash = $2 AND used_at IS NULL",
    )
    .bind(account_id)
    .bind(hash)
    .bind(now)
    .execute(c)
    .await?;
    Ok(r.rows_affected() == 1)
}

pub async fn backup_codes_left(c: &mut AnyConnection, account_id: &str) -> Result<i64> {
    Ok(sqlx::query_scalar(
        "SELECT COUNT(*) FROM backup_codes WHERE account_id = $1 AND used_at IS NULL",
    )
    .bind(account_id)
    .fetch_one(c)
    .await?)
}

#[derive(Debug, Clone, FromRow)]
pub struct ChallengeRow {
    pub id: String,
    pub account_id: String,
    pub token_hash: String,
    pub attempts: i64,
    pub created_at: i64,
    pub expires_at: i64,
    pub used_at: Option<i64>,
}

pub async fn insert_challenge(c: &mut AnyConnection, ch: &ChallengeRow) -> Result<()> {
    sqlx::query(
        "INSERT INTO login_challenges (id, account_id, token_hash, attempts, created_at, expires_at, used_at) \
         VALUES ($1, $2, $3, 0, $4, $5, NULL)",
    )
    .bind(&ch.id)
    .bind(&ch.account_id)
    .bind(&ch.token_hash)
    .bind(ch.created_at)
    .bind(ch.expires_at)
    .execute(c)
    .await?;
    Ok(())
}

pub async fn challenge_by_hash(c: &mut AnyConnection, hash: &str) -> Result<Option<ChallengeRow>> {
    Ok(sqlx::query_as(
        "SELECT id, account_id, token_hash, attempts, created_at, expires_at, used_at FROM login_challenges WHERE token_hash = $1",
    )
    .bind(hash)
    .fetch_optional(c)
    .await?)
}

pub async fn consume_challenge(c: &mut AnyConnection, id: &str, now: i64) -> Result<bool> {
    let r =
        sqlx::query("UPDATE login_challenges SET used_at = $2 WHERE id = $1 AND used_at IS NULL")
            .bind(id)
            .bind(now)
            .execute(c)
            .await?;
    Ok(r.rows_affected() == 1)
}

#[derive(Debug, Clone, FromRow)]
pub struct RecoveryRow {
    pub id: String,
    pub account_id: String,
    /// `scheduled`, `cancelled` or `applied`.
    pub state: String,
    pub cancel_token_hash: String,
    pub created_at: i64,
    pub effective_at: i64,
    pub decided_at: Option<i64>,
}

pub async fn insert_recovery(c: &mut AnyConnection, r: &RecoveryRow) -> Result<()> {
    sqlx::query(
        "INSERT INTO factor_recoveries (id, account_id, state, cancel_token_hash, created_at, effective_at, decided_at) \
         VALUES ($1, $2, 'scheduled', $3, $4, $5, NULL)",
    )
    .bind(&r.id)
    .bind(&r.account_id)
    .bind(&r.cancel_token_hash)
    .bind(r.created_at)
    .bind(r.effective_at)
    .execute(c)
    .await?;
    Ok(())
}

/// The scheduled recovery of an account, if any.
pub async fn scheduled_recovery(
    c: &mut AnyConnection,
    account_id: &str,
) -> Result<Option<RecoveryRow>> {
    Ok(sqlx::query_as(
        "SELECT id, account_id, state, cancel_token_hash, created_at, effective_at, decided_at \
         FROM factor_recoveries WHERE account_id = $1 AND state = 'scheduled' ORDER BY created_at DESC LIMIT 1",
    )
    .bind(account_id)
    .fetch_optional(c)
    .await?)
}

pub async fn recovery_by_cancel_hash(
    c: &mut AnyConnection,
    hash: &str,
) -> Result<Option<RecoveryRow>> {
    Ok(sqlx::query_as(
        "SELECT id, account_id, state, cancel_token_hash, created_at, effective_at, decided_at \
         FROM factor_recoveries WHERE cancel_token_hash = $1",
    )
    .bind(hash)
    .fetch_optional(c)
    .await?)
}

/// Move a scheduled recovery to `state` (`cancelled` or `applied`); true for the one caller
/// that did it.
pub async fn decide_recovery(
    c: &mut AnyConnection,
    id: &str,
    state: &str,
    now: i64,
) -> Result<bool> {
    let r = sqlx::query(
        "UPDATE factor_recoveries SET state = $2, decided_at = $3 WHERE id = $1 AND state = 'scheduled'",
    )
    .bind(id)
    .bind(state)
    .bind(now)
    .execute(c)
    .await?;
    Ok(r.rows_affected() == 1)
}

/// Count one attempt on a live challenge before checking its code; false when the challenge
/// is used, expired or out of attempts. Counting first means concurrent guesses cannot
/// exceed `max`.
pub async fn claim_challenge_attempt(
    c: &mut AnyConnection,
    id: &str,
    now: i64,
    max: i64,
) -> Result<bool> {
    let r = sqlx::query(
        "UPDATE login_challenges SET attempts = attempts + 1 WHERE id = $1 AND used_at IS NULL \
         AND expires_at > $2 AND attempts < $3",
    )
    .bind(id)
    .bind(now)
    .bind(max)
    .execute(c)
    .await?;
    Ok(r.rows_affected() == 1)
}
