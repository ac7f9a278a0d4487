//! Brute-force limits kept in the database, so that they hold across every node: a failure
//! counter per key (an account, an IP, both) in a sliding window, and the instant until which
//! the key is blocked.

use crate::Result;
use sqlx::AnyConnection;

/// The instant (ms) until which `key` is blocked, if it is blocked at `now`.
pub async fn blocked_until(c: &mut AnyConnection, key: &str, now: i64) -> Result<Option<i64>> {
    let until: Option<i64> =
        sqlx::query_scalar("SELECT blocked_until FROM rate_limits WHERE key = $1")
            .bind(key)
            .fetch_optional(c)
            .await?;
    Ok(until.filter(|u| *u > now))
}

/// Count one failure for `key` (a new window starts when the last one is older than
/// `window_ms`); returns the number of failures in the current window.
pub async fn add_failure(
    c: &mut AnyConnection,
    key: &str,
    now: i64,
    window_ms: i64,
) -> Result<i64> {
    Ok(sqlx::query_scalar(
        "INSERT INTO rate_limits (key, failures, window_start, blocked_until) VALUES ($1, 1, $2, 0) \
         ON CONFLICT (key) DO UPDATE SET \
           failures = CASE WHEN rate_limits.window_start < $3 THEN 1 ELSE rate_limits.failures + 1 END, \
           window_start = CASE WHEN rate_limits.window_start < $3 THEN $2 ELSE rate_limits.window_start END \
         RETURNING failures",
    )
    .bind(key)
    .bind(now)
    .bind(now - window_ms)
    .fetch_one(c)
    .await?)
}

pub async fn block(c: &mut AnyConnection, key: &str, until: i64) -> Result<()> {
    sqlx::query("UPDATE rate_limits SET blocked_until = $2 WHERE key = $1 AND blocked_until < $2")
        .bind(key)
        .bind(until)
        .execute(c)
        .await?;
    Ok(())
}

pub async fn reset(c: &mut AnyConnection, key: &str) -> Result<()> {
    sqlx::query("DELETE FROM rate_limits WHERE key = $1")
        .bind(key)
        .execute(c)
        .await?;
    Ok(())
}

/// Take one attempt on `key` before checking it, in a single statement: refused (`None`) while
/// the key is blocked; otherwise the failure counter grows and, past `free`, the key is
/// blocked at once for the next attempt (1 s, 2 s, 4 s… up to `max_delay_ms`). Concurrent
/// attempts therefore cannot exceed the allowance. Returns the attempt's number. Within the
/// allowance the block instant is left as it was: a concurrent attempt that read the clock a
/// millisecond earlier is not refused by this one.
pub async fn claim(
    c: &mut AnyConnection,
    key: &str,
    now: i64,
    window_ms: i64,
    free: i64,
    max_delay_ms: i64,
) -> Result<Option<i64>> {
    const N: &str =
        "(CASE WHEN rate_limits.window_start < $3 THEN 1 ELSE rate_limits.failures + 1 END)";
    let sql = format!(
        "INSERT INTO rate_limits (key, failures, window_start, blocked_until) VALUES ($1, 1, $2, 0) \
         ON CONFLICT (key) DO UPDATE SET \
           failures = {N}, \
           window_start = CASE WHEN rate_limits.window_start < $3 THEN $2 ELSE rate_limits.window_start END, \
           blocked_until = CASE \
             WHEN {N} <= $4 THEN rate_limits.blocked_until \
             WHEN {N} - $4 > 20 THEN $2 + $5 \
             WHEN (1000 << CAST({N} - $4 - 1 AS INTEGER)) > $5 THEN $2 + $5 \
             ELSE $2 + (1000 << CAST({N} - $4 - 1 AS INTEGER)) END \
         WHERE rate_limits.blocked_until <= $2 \
         RETURNING failures"
    );
    Ok(sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
        .bind(key)
        .bind(now)
        .bind(now - window_ms)
        .bind(free)
        .bind(max_delay_ms)
        .fetch_optional(c)
        .await?)
}
