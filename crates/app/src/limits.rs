//! Brute-force limits on log-in, second factor, password reset, sign-up and e-mail
//! verification, and a brake on order placement. Counters live in the database (they hold across nodes). Past a free
//! allowance, each failure doubles the wait (1 s, 2 s, 4 s… up to 15 minutes): an attacker
//! slows down, and nobody can lock an account for longer than the cap.

use crate::{App, AppError, Result};
use guichet_store::rate_limits;

#[derive(Debug, Clone, Copy)]
pub struct Policy {
    /// Failures allowed in a window before delays start.
    pub free: i64,
    pub window_ms: i64,
    pub max_delay_ms: i64,
}

const MIN: i64 = 60_000;

/// One account from one address: the usual case of a forgotten password.
pub const LOGIN_ACCOUNT_IP: Policy = Policy {
    free: 5,
    window_ms: 15 * MIN,
    max_delay_ms: 15 * MIN,
};
/// One account from anywhere: a distributed guess.
pub const LOGIN_ACCOUNT: Policy = Policy {
    free: 50,
    window_ms: 60 * MIN,
    max_delay_ms: 15 * MIN,
};
/// One address against any account: credential stuffing.
pub const LOGIN_IP: Policy = Policy {
    free: 30,
    window_ms: 15 * MIN,
    max_delay_ms: 15 * MIN,
};
/// Wrong second-factor codes for one account.
pub const SECOND_FACTOR: Policy = Policy {
    free: 5,
    window_ms: 15 * MIN,
    max_delay_ms: 15 * MIN,
};
/// Sign-ups, password-reset requests and unknown verification tokens from one address.
pub const PER_IP_REQUESTS: Policy = Policy {
    free: 20,
    window_ms: 60 * MIN,
    max_delay_ms: 60 * MIN,
};

/// Orders placed by one account: each one mails the customer and waits for a payment, so a
/// runaway script is slowed down.
pub const ORDERS_PER_ACCOUNT: Policy = Policy {
    free: 30,
    window_ms: 60 * MIN,
    max_delay_ms: 60 * MIN,
};

/// The delay after `failures` failures under `p` (0 while within the allowance).
pub fn delay_ms(p: &Policy, failures: i64) -> i64 {
    if failures <= p.free {
        return 0;
    }
    let exp = u32::try_from((failures - p.free - 1).min(30)).unwrap_or(30);
    1000i64.saturating_mul(1i64 << exp).min(p.max_delay_ms)
}

/// Refuse with 429 and `Retry-After` when any of `keys` is blocked.
pub async fn check(app: &App, keys: &[String]) -> Result<()> {
    let now = app.now_ms();
    let mut c = app.db.conn().await?;
    let mut worst = None::<i64>;
    for k in keys {
        if let Some(until) = rate_limits::blocked_until(&mut c, k, now).await? {
            worst = Some(worst.map_or(until, |w| w.max(until)));
        }
    }
    match worst {
        Some(until) => Err(AppError::too_many(
            "too_many_attempts",
            ((until - now + 999) / 1000).max(1) as u64,
        )),
        None => Ok(()),
    }
}

/// Count a failure against `key`; blocks it when past the allowance.
pub async fn fail(app: &App, key: &str, p: &Policy) -> Result<()> {
    let now = app.now_ms();
    let mut c = app.db.conn().await?;
    let n = rate_limits::add_failure(&mut c, key, now, p.window_ms).await?;
    let d = delay_ms(p, n);
    if d > 0 {
        rate_limits::block(&mut c, key, now + d).await?;
    }
    Ok(())
}

/// Take an attempt *before* checking it (a code, a password): refused with 429 while the key
/// is blocked; past the allowance each attempt blocks the next one for a doubling delay, in
/// the same statement, so concurrent guesses cannot exceed the allowance. Clear the key on
/// success.
pub async fn attempt(app: &App, key: &str, p: &Policy) -> Result<()> {
    let now = app.now_ms();
    let mut c = app.db.conn().await?;
    match rate_limits::claim(&mut c, key, now, p.window_ms, p.free, p.max_delay_ms).await? {
        Some(_) => Ok(()),
        None => {
            let until = rate_limits::blocked_until(&mut c, key, now)
                .await?
                .unwrap_or(now + 1000);
            Err(AppError::too_many(
                "too_many_attempts",
                ((until - now + 999) / 1000).max(1) as u64,
            ))
        }
    }
}

pub async fn clear(app: &App, key: &str) -> Result<()> {
    let mut c = app.db.conn().await?;
    rate_limits::reset(&mut c, key).await?;
    Ok(())
}

/// Count one request against a per-address allowance (sign-up, reset, resend, recovery) with
/// the same atomic claim as [`attempt`], so concurrent requests cannot exceed it.
pub async fn count_request(app: &App, kind: &str, ip: Option<&str>) -> Result<()> {
    let Some(ip) = ip else { return Ok(()) };
    attempt(app, &format!("{kind}:ip:{ip}"), &PER_IP_REQUESTS).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_double_then_cap() {
        let p = LOGIN_ACCOUNT_IP;
        assert_eq!(delay_ms(&p, 5), 0);
        assert_eq!(delay_ms(&p, 6), 1000);
        assert_eq!(delay_ms(&p, 7), 2000);
        assert_eq!(delay_ms(&p, 10), 16_000);
        assert_eq!(delay_ms(&p, 50), 15 * MIN);
        assert_eq!(delay_ms(&p, i64::MAX), 15 * MIN);
    }
}
