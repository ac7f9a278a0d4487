//! Second factors: TOTP (RFC 6238) enrolment, confirmation and removal, ten single-use backup
//! codes, the second step of a two-step login, and re-authentication before sensitive changes.

use crate::accounts::{self, RequestCtx, security_event};
use crate::auth::{self, LoginView, Principal};
use crate::{App, AppError, Result, crypto, ids, limits};
use guichet_store::{action_tokens, factors, sessions};
use serde::Serialize;
use totp_rs::{Builder, Secret, Totp};
use utoipa::ToSchema;

/// How long a re-authentication (or a log-in) counts for sensitive changes.
pub const REAUTH_WINDOW_MS: i64 = 5 * 60_000;
pub const CHALLENGE_TTL_MS: i64 = 5 * 60_000;
pub const CHALLENGE_MAX_ATTEMPTS: i64 = 5;
pub const BACKUP_CODES: usize = 10;
const CHALLENGE_PREFIX: &str = "gcm_";
const SMS_PURPOSE: &str = "login_sms";

fn totp(app: &App, secret_b32: &str, account: &str) -> Result<Totp> {
    let secret = Secret::try_from_base32(secret_b32)
        .map_err(|_| AppError::internal("stored TOTP secret is not base32"))?;
    let issuer = app.config.provider_name.replace(':', " ");
    Builder::new()
        .with_secret(secret)
        .with_account_name(account.replace(':', " "))
        .with_issuer(Some(issuer))
        .build()
        .map_err(|e| AppError::internal(format!("TOTP: {e}")))
}

/// The time step a code matches (±1 step of skew), if any.
fn check_code(app: &App, t: &Totp, code: &str) -> Option<i64> {
    let code = code.trim().replace(' ', "");
    if code.len() != 6 || !code.chars().all(|c| c.is_ascii_digit()) {
        return None;
    }
    let now = u64::try_from(app.now_ms() / 1000).ok()?;
    t.check(&code, now).and_then(|s| i64::try_from(s).ok())
}

/// Re-authentication must be recent for sensitive changes (from a login session).
pub async fn require_recent_auth(app: &App, p: &Principal) -> Result<()> {
    let sid = p.require_session()?;
    let mut c = app.db.conn().await?;
    let s = sessions::session_by_id(&mut c, sid)
        .await?
        .ok_or_else(|| AppError::unauthorized("unauthenticated", "sign in first"))?;
    if s.reauth_at.unwrap_or(0) + REAUTH_WINDOW_MS < app.now_ms() {
        return Err(AppError::forbidden(
            "reauth_required",
            "confirm your password (and second factor) with POST /api/v1/me/reauth, then try again",
        ));
    }
    Ok(())
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct SecurityStatus {
    pub totp_enabled: bool,
    pub backup_codes_remaining: i64,
    pub email_verified: bool,
    pub backup_email_verified: bool,
    pub phone_verified: bool,
}

pub async fn status(app: &App, p: &Principal) -> Result<SecurityStatus> {
    let a = accounts::load(app, &p.account_id).await?;
    let mut c = app.db.conn().await?;
    let st = factors::totp_state(&mut c, &a.id).await?;
    Ok(SecurityStatus {
        totp_enabled: st.as_ref().is_some_and(|s| s.totp_enabled_at.is_some()),
        backup_codes_remaining: factors::backup_codes_left(&mut c, &a.id).await?,
        email_verified: a.email_verified_at.is_some(),
        backup_email_verified: a.backup_email_verified_at.is_some(),
        phone_verified: a.phone_verified_at.is_some(),
    })
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct TotpEnrolment {
    /// Base32 secret, for manual entry in an authenticator app.
    pub secret: String,
    pub otpauth_uri: String,
    /// The same URI as a QR code, inline SVG.
    pub qr_svg: String,
}

/// Start TOTP enrolment: a new secret, pending until a code from it is confirmed.
pub async fn enrol_totp(app: &App, p: &Principal) -> Result<TotpEnrolment> {
    require_recent_auth(app, p).await?;
    let a = accounts::load(app, &p.account_id).await?;
    let mut raw = [0u8; 20];
    crypto::fill_random(&mut raw);
    let secret = Secret::from(raw.to_vec()).to_base32();
    let t = totp(app, &secret, &a.email)?;
    let uri = t
        .to_url()
        .map_err(|e| AppError::internal(format!("TOTP URI: {e}")))?;
    let qr =
        qrcode::QrCode::new(uri.as_bytes()).map_err(|e| AppError::internal(format!("QR: {e}")))?;
    let svg = qr
        .render::<qrcode::render::svg::Color<'_>>()
        .min_dimensions(200, 200)
        .build();
    let mut c = app.db.conn().await?;
    factors::set_pending_totp(&mut c, &a.id, &secret).await?;
    Ok(TotpEnrolment {
        secret,
        otpauth_uri: uri,
        qr_svg: svg,
    })
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct BackupCodes {
    /// Ten single-use codes, shown this once.
    pub backup_codes: Vec<String>,
}

fn new_backup_codes(now: i64) -> (Vec<String>, Vec<(String, String)>) {
    const ALPHABET: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";
    let mut shown = Vec::with_capacity(BACKUP_CODES);
    let mut stored = Vec::with_capacity(BACKUP_CODES);
    for _ in 0..BACKUP_CODES {
        let r = crypto::random_u64();
        let s: String = (0..8)
            .map(|i| ALPHABET[((r >> (i * 5)) & 31) as usize] as char)
            .collect();
        let code = format!("{}-{}", &s[..4], &s[4..]);
        stored.push((
            ids::new_id(now),
            crypto::hash_token(&normalise_backup_code(&code)),
        ));
        shown.push(code);
    }
    (shown, stored)
}

fn normalise_backup_code(code: &str) -> String {
    code.chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .collect::<String>()
        .to_ascii_uppercase()
}

/// Confirm enrolment with a code from the app: TOTP is on, and ten backup codes are issued.
pub async fn confirm_totp(
    app: &App,
    p: &Principal,
    code: &str,
    ctx: &RequestCtx,
) -> Result<BackupCodes> {
    require_recent_auth(app, p).await?;
    let a = accounts::load(app, &p.account_id).await?;
    let pending = {
        let mut c = app.db.conn().await?;
        factors::totp_state(&mut c, &a.id)
            .await?
            .and_then(|s| s.totp_pending_secret)
    }
    .ok_or_else(|| AppError::bad_request("no_pending_totp", "start the enrolment first"))?;
    let step = check_code(app, &totp(app, &pending, &a.email)?, code).ok_or_else(|| {
        AppError::bad_request(
            "invalid_code",
            "this code is not right; check your device's clock",
        )
    })?;
    let now = app.now_ms();
    let (shown, stored) = new_backup_codes(now);
    let mut tx = app.db.begin().await?;
    if !factors::enable_totp(tx.conn(), &a.id, &pending, step, now).await? {
        return Err(AppError::conflict(
            "no_pending_totp",
            "the enrolment changed; start again",
        ));
    }
    factors::replace_backup_codes(tx.conn(), &a.id, &stored, now).await?;
    crate::accounts::notify_security_change(app, tx.conn(), &a, "totp_enabled").await?;
    security_event(app, tx.conn(), &a.id, "totp_enabled", ctx, None).await?;
    tx.commit().await?;
    app.outbox_signal.notify_waiters();
    Ok(BackupCodes {
        backup_codes: shown,
    })
}

/// Check a second-factor code (TOTP or backup code) for the account, spending it.
async fn spend_second_factor(
    app: &App,
    c: &mut guichet_store::AnyConnection,
    account_id: &str,
    email: &str,
    code: &str,
) -> Result<bool> {
    let Some(st) = factors::totp_state(c, account_id).await? else {
        return Ok(false);
    };
    let Some(secret) = st.totp_secret.filter(|_| st.totp_enabled_at.is_some()) else {
        return Ok(false);
    };
    if let Some(step) = check_code(app, &totp(app, &secret, email)?, code) {
        return Ok(factors::use_totp_step(c, account_id, step).await?);
    }
    // A code texted to the verified phone (asked for with `POST /auth/login/sms`).
    let digits = code.trim().replace(' ', "");
    if digits.len() == 6 && digits.chars().all(|ch| ch.is_ascii_digit()) {
        let now = app.now_ms();
        if let Some(t) = action_tokens::latest_unused(c, account_id, SMS_PURPOSE).await?
            && t.expires_at > now
            && action_tokens::claim_attempt(c, &t.id, crate::security::PHONE_CODE_MAX_ATTEMPTS)
                .await?
            && crypto::ct_eq(&crypto::hash_code(account_id, &digits), &t.token_hash)
        {
            return Ok(action_tokens::consume(c, &t.id, now).await?);
        }
    }
    let norm = normalise_backup_code(code);
    if norm.len() == 8 {
        return Ok(factors::use_backup_code(
            c,
            account_id,
            &crypto::hash_token(&norm),
            app.now_ms(),
        )
        .await?);
    }
    Ok(false)
}

/// Turn TOTP off: a recent re-authentication, the password and a current code are needed.
pub async fn disable_totp(
    app: &App,
    p: &Principal,
    password: &str,
    code: &str,
    ctx: &RequestCtx,
) -> Result<()> {
    require_recent_auth(app, p).await?;
    let a = accounts::load(app, &p.account_id).await?;
    if !crypto::verify_password_async(password.to_owned(), Some(a.password_hash.clone())).await {
        return Err(AppError::forbidden(
            "invalid_password",
            "the password is wrong",
        ));
    }
    let mut tx = app.db.begin().await?;
    if !spend_second_factor(app, tx.conn(), &a.id, &a.email, code).await? {
        return Err(AppError::bad_request(
            "invalid_code",
            "this code is not right",
        ));
    }
    let now = app.now_ms();
    factors::disable_totp(tx.conn(), &a.id, now).await?;
    factors::delete_backup_codes(tx.conn(), &a.id).await?;
    crate::accounts::notify_security_change(app, tx.conn(), &a, "totp_disabled").await?;
    security_event(app, tx.conn(), &a.id, "totp_disabled", ctx, None).await?;
    tx.commit().await?;
    app.outbox_signal.notify_waiters();
    Ok(())
}

/// New backup codes (the old ones stop working).
pub async fn regenerate_backup_codes(
    app: &App,
    p: &Principal,
    ctx: &RequestCtx,
) -> Result<BackupCodes> {
    require_recent_auth(app, p).await?;
    let a = accounts::load(app, &p.account_id).await?;
    let now = app.now_ms();
    let mut tx = app.db.begin().await?;
    let on = factors::totp_state(tx.conn(), &a.id)
        .await?
        .is_some_and(|s| s.totp_enabled_at.is_some());
    if !on {
        return Err(AppError::bad_request(
            "totp_not_enabled",
            "backup codes come with an authenticator app; enable it first",
        ));
    }
    let (shown, stored) = new_backup_codes(now);
    factors::replace_backup_codes(tx.conn(), &a.id, &stored, now).await?;
    crate::accounts::notify_security_change(app, tx.conn(), &a, "backup_codes_regenerated").await?;
    security_event(app, tx.conn(), &a.id, "backup_codes_regenerated", ctx, None).await?;
    tx.commit().await?;
    app.outbox_signal.notify_waiters();
    Ok(BackupCodes {
        backup_codes: shown,
    })
}

/// Whether the account must pass a second factor at log-in.
pub async fn second_factor_on(app: &App, account_id: &str) -> Result<bool> {
    let mut c = app.db.conn().await?;
    Ok(factors::totp_state(&mut c, account_id)
        .await?
        .is_some_and(|s| s.totp_enabled_at.is_some()))
}

/// After a right password: a short-lived challenge for the second step.
pub async fn open_challenge(app: &App, account_id: &str) -> Result<LoginView> {
    let now = app.now_ms();
    let (token, hash) = crypto::new_token(CHALLENGE_PREFIX);
    let mut c = app.db.conn().await?;
    factors::insert_challenge(
        &mut c,
        &factors::ChallengeRow {
            id: ids::new_id(now),
            account_id: account_id.to_owned(),
            token_hash: hash,
            attempts: 0,
            created_at: now,
            expires_at: now + CHALLENGE_TTL_MS,
            used_at: None,
        },
    )
    .await?;
    let mut view = LoginView::mfa_required(token, now + CHALLENGE_TTL_MS);
    let phone_ok = guichet_store::accounts::by_id(&mut c, account_id)
        .await?
        .is_some_and(|a| a.phone_verified_at.is_some());
    if phone_ok {
        view.methods.push("sms".into());
    }
    Ok(view)
}

/// The second step of a log-in: the challenge and a TOTP or backup code.
pub async fn login_second_factor(
    app: &App,
    challenge: &str,
    code: &str,
    ctx: &RequestCtx,
) -> Result<LoginView> {
    let invalid =
        || AppError::unauthorized("invalid_challenge", "this log-in has expired; start again");
    let now = app.now_ms();
    let ch = {
        let mut c = app.db.conn().await?;
        factors::challenge_by_hash(&mut c, &crypto::hash_token(challenge.trim())).await?
    }
    .filter(|ch| {
        ch.used_at.is_none() && ch.expires_at > now && ch.attempts < CHALLENGE_MAX_ATTEMPTS
    })
    .ok_or_else(invalid)?;
    let key = format!("2fa:acct:{}", ch.account_id);
    limits::attempt(app, &key, &limits::SECOND_FACTOR).await?;
    {
        let mut c = app.db.conn().await?;
        if !factors::claim_challenge_attempt(&mut c, &ch.id, now, CHALLENGE_MAX_ATTEMPTS).await? {
            return Err(invalid());
        }
    }
    let a = accounts::load(app, &ch.account_id).await?;
    let mut tx = app.db.begin().await?;
    if !spend_second_factor(app, tx.conn(), &a.id, &a.email, code).await? {
        security_event(app, tx.conn(), &a.id, "second_factor_failed", ctx, None).await?;
        tx.commit().await?;
        return Err(AppError::unauthorized(
            "invalid_code",
            "this code is not right",
        ));
    }
    if !factors::consume_challenge(tx.conn(), &ch.id, now).await? {
        return Err(invalid());
    }
    let view = auth::open_session_in(app, &mut tx, &a, ctx).await?;
    tx.commit().await?;
    app.outbox_signal.notify_waiters();
    limits::clear(app, &key).await?;
    Ok(view)
}

/// `POST /me/reauth`: prove the password (and the second factor when on) again.
pub async fn reauthenticate(
    app: &App,
    p: &Principal,
    password: &str,
    code: Option<&str>,
    ctx: &RequestCtx,
) -> Result<()> {
    let sid = p.require_session()?.to_owned();
    let key = format!("reauth:acct:{}", p.account_id);
    limits::attempt(app, &key, &limits::SECOND_FACTOR).await?;
    let a = accounts::load(app, &p.account_id).await?;
    let password_ok =
        crypto::verify_password_async(password.to_owned(), Some(a.password_hash.clone())).await;
    let factor_on = second_factor_on(app, &a.id).await?;
    let mut tx = app.db.begin().await?;
    let factor_ok = if factor_on {
        match code {
            Some(code) if password_ok => {
                spend_second_factor(app, tx.conn(), &a.id, &a.email, code).await?
            }
            _ => false,
        }
    } else {
        true
    };
    if !(password_ok && factor_ok) {
        security_event(app, tx.conn(), &a.id, "reauth_failed", ctx, None).await?;
        tx.commit().await?;
        let code = if password_ok {
            "invalid_code"
        } else {
            "invalid_password"
        };
        return Err(AppError::forbidden(code, "re-authentication failed"));
    }
    sessions::mark_reauth(tx.conn(), &sid, app.now_ms()).await?;
    security_event(app, tx.conn(), &a.id, "reauth", ctx, None).await?;
    tx.commit().await?;
    limits::clear(app, &key).await?;
    Ok(())
}

/// During a two-step log-in, text a code to the verified phone (an extra way to pass the
/// second step, beside the authenticator app and the backup codes).
pub async fn send_login_sms(app: &App, challenge: &str) -> Result<()> {
    let invalid =
        || AppError::unauthorized("invalid_challenge", "this log-in has expired; start again");
    let now = app.now_ms();
    let mut tx = app.db.begin().await?;
    let ch = factors::challenge_by_hash(tx.conn(), &crypto::hash_token(challenge.trim()))
        .await?
        .filter(|ch| ch.used_at.is_none() && ch.expires_at > now)
        .ok_or_else(invalid)?;
    let a = guichet_store::accounts::by_id(tx.conn(), &ch.account_id)
        .await?
        .ok_or_else(invalid)?;
    let (Some(phone), Some(_)) = (a.phone.clone(), a.phone_verified_at) else {
        return Err(AppError::bad_request(
            "no_verified_phone",
            "this account has no verified mobile phone",
        ));
    };
    if action_tokens::count_since(tx.conn(), &a.id, SMS_PURPOSE, now - 3_600_000).await?
        >= crate::security::SENDS_PER_HOUR
    {
        return Err(AppError::too_many("too_many_requests", 3600));
    }
    crate::sms::send_code(
        app,
        tx.conn(),
        &a,
        &phone,
        SMS_PURPOSE,
        None,
        crate::security::PHONE_CODE_TTL_MS,
    )
    .await?;
    tx.commit().await?;
    app.outbox_signal.notify_waiters();
    Ok(())
}
