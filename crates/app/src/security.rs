//! Contact points and credentials: password reset (to the primary or the verified backup
//! address), password change, primary e-mail change confirmed from the new address, backup
//! e-mail, mobile phone verified by SMS code, and the security event log.

use crate::accounts::{self, RequestCtx, issue_action_token, recipient, security_event};
use crate::clock::rfc3339;
use crate::mail::{self, MailKind, Recipient};
use crate::{App, AppError, Result, crypto, sms};
use guichet_domain::{EmailAddress, Password, PhoneNumber};
use guichet_store::accounts::AccountRow;
use guichet_store::{action_tokens, security_events, sessions};
use serde::Serialize;
use utoipa::ToSchema;

pub const RESET_TTL_MS: i64 = 30 * 60_000;
pub const PHONE_CODE_TTL_MS: i64 = 10 * 60_000;
pub const PHONE_CODE_MAX_ATTEMPTS: i64 = 5;
/// At most this many reset mails, verification mails or SMS per account and hour.
pub const SENDS_PER_HOUR: i64 = 5;

fn password_of(candidate: &str, a: &AccountRow) -> Result<Password> {
    Password::new(candidate, &[&a.email, &a.first_name, &a.last_name])
        .map_err(|e| AppError::validation(vec![e.into()]))
}

/// `POST /auth/password-reset`: the same answer whether or not the address is known.
/// With `via_backup`, `email` may be the verified backup address: the link goes there and the
/// primary address is told.
pub async fn request_password_reset(app: &App, email: &str, ctx: &RequestCtx) -> Result<()> {
    let Ok(email) = EmailAddress::parse(email) else {
        return Err(AppError::field(
            "email",
            "invalid_email",
            "this is not a valid e-mail address",
        ));
    };
    crate::limits::count_request(app, "reset", ctx.ip.as_deref()).await?;
    // The answer must not depend on whether the address is known, in content or in time:
    // the work is done after answering.
    let (app, ctx) = (app.clone(), ctx.clone());
    tokio::spawn(async move {
        if let Err(e) = send_password_reset(&app, &email, &ctx).await {
            tracing::warn!(error = %e, "password reset request failed");
        }
    });
    Ok(())
}

async fn send_password_reset(app: &App, email: &EmailAddress, ctx: &RequestCtx) -> Result<()> {
    let mut tx = app.db.begin().await?;
    let (a, to_backup) = match guichet_store::accounts::by_email(tx.conn(), email.as_str()).await? {
        Some(a) => (a, false),
        None => match guichet_store::accounts::by_verified_backup_email(tx.conn(), email.as_str())
            .await?
        {
            Some(a) => (a, true),
            None => return Ok(()),
        },
    };
    if a.state != "active" {
        return Ok(());
    }
    let hour_ago = app.now_ms() - 3_600_000;
    if action_tokens::count_since(tx.conn(), &a.id, "password_reset", hour_ago).await?
        >= SENDS_PER_HOUR
    {
        return Ok(());
    }
    let token =
        issue_action_token(app, tx.conn(), &a.id, "password_reset", None, RESET_TTL_MS).await?;
    let link = app.config.link(&format!("/reset-password?token={token}"));
    let kind = MailKind::PasswordReset {
        link,
        minutes: RESET_TTL_MS / 60_000,
    };
    if to_backup {
        let to = Recipient {
            address: email.as_str(),
            ..recipient(&a)
        };
        mail::enqueue(app, tx.conn(), &to, &kind).await?;
        let notice = MailKind::PasswordResetToBackupNotice {
            backup_masked: mail::mask_email(email.as_str()),
        };
        mail::enqueue(app, tx.conn(), &recipient(&a), &notice).await?;
    } else {
        mail::enqueue(app, tx.conn(), &recipient(&a), &kind).await?;
    }
    security_event(
        app,
        tx.conn(),
        &a.id,
        "password_reset_requested",
        ctx,
        to_backup.then(|| "backup_email".to_owned()),
    )
    .await?;
    tx.commit().await?;
    app.outbox_signal.notify_waiters();
    Ok(())
}

/// `POST /auth/password-reset/confirm`: set the password and end every session.
pub async fn confirm_password_reset(
    app: &App,
    token: &str,
    password: &str,
    ctx: &RequestCtx,
) -> Result<()> {
    // Validate and hash before the write transaction, so that a refused password does not spend
    // the token and the slow hash never holds the write lock.
    let hash_of_token = crypto::hash_token(token.trim());
    let a = {
        let mut c = app.db.conn().await?;
        let t = action_tokens::by_hash(&mut c, "password_reset", &hash_of_token).await?;
        match t {
            Some(t) => guichet_store::accounts::by_id(&mut c, &t.account_id).await?,
            None => None,
        }
    };
    let hash = match &a {
        Some(a) => {
            let pw = password_of(password, a)?;
            Some(
                crypto::hash_password_async(pw.expose().to_owned())
                    .await
                    .map_err(AppError::internal)?,
            )
        }
        None => None,
    };
    let mut tx = app.db.begin().await?;
    let t = accounts::take_token(app, tx.conn(), &["password_reset"], token).await?;
    let (Some(a), Some(hash)) = (
        a.filter(|a| a.id == t.account_id && a.state == "active"),
        hash,
    ) else {
        return Err(AppError::bad_request(
            "invalid_token",
            "this link or code is not valid",
        ));
    };
    set_password_and_end_sessions(app, &mut tx, &a, &hash, None, ctx).await?;
    tx.commit().await?;
    app.outbox_signal.notify_waiters();
    Ok(())
}

async fn set_password_and_end_sessions(
    app: &App,
    tx: &mut guichet_store::Tx,
    a: &AccountRow,
    hash: &str,
    keep_session: Option<&str>,
    ctx: &RequestCtx,
) -> Result<()> {
    let now = app.now_ms();
    guichet_store::accounts::set_password(tx.conn(), &a.id, hash, now).await?;
    sessions::revoke_all_sessions(tx.conn(), &a.id, keep_session, "password_changed", now).await?;
    // Pending links another party may hold (e-mail change, backup address, factor recovery)
    // die with the old password; after a reset, so do the personal API tokens.
    for purpose in [
        "password_reset",
        "email_change",
        "backup_email",
        "recovery_email",
    ] {
        action_tokens::void_unused(tx.conn(), &a.id, purpose, now).await?;
    }
    if keep_session.is_none() {
        sessions::revoke_all_api_tokens(tx.conn(), &a.id, now).await?;
    }
    mail::enqueue(app, tx.conn(), &recipient(a), &MailKind::PasswordChanged).await?;
    security_event(app, tx.conn(), &a.id, "password_changed", ctx, None).await?;
    Ok(())
}

/// Change the password from a session, proving the current one; other sessions end.
pub async fn change_password(
    app: &App,
    p: &crate::auth::Principal,
    current: &str,
    new: &str,
    ctx: &RequestCtx,
) -> Result<()> {
    let session = p.require_session()?.to_owned();
    let key = format!("reauth:acct:{}", p.account_id);
    crate::limits::check(app, std::slice::from_ref(&key)).await?;
    let a = accounts::load(app, &p.account_id).await?;
    if !crypto::verify_password_async(current.to_owned(), Some(a.password_hash.clone())).await {
        crate::limits::fail(app, &key, &crate::limits::SECOND_FACTOR).await?;
        return Err(AppError::forbidden(
            "invalid_password",
            "the current password is wrong",
        ));
    }
    let pw = password_of(new, &a)?;
    let hash = crypto::hash_password_async(pw.expose().to_owned())
        .await
        .map_err(AppError::internal)?;
    let mut tx = app.db.begin().await?;
    set_password_and_end_sessions(app, &mut tx, &a, &hash, Some(&session), ctx).await?;
    tx.commit().await?;
    app.outbox_signal.notify_waiters();
    Ok(())
}

async fn check_password(a: &AccountRow, password: &str) -> Result<()> {
    if crypto::verify_password_async(password.to_owned(), Some(a.password_hash.clone())).await {
        Ok(())
    } else {
        Err(AppError::forbidden(
            "invalid_password",
            "the password is wrong",
        ))
    }
}

/// Ask to change the primary address: confirmed from the new one, the old one is told.
pub async fn request_email_change(
    app: &App,
    p: &crate::auth::Principal,
    new_email: &str,
    password: &str,
    ctx: &RequestCtx,
) -> Result<()> {
    crate::factors::require_recent_auth(app, p).await?;
    let new = EmailAddress::parse(new_email).map_err(|mut e| {
        e.field = "email".into();
        AppError::validation(vec![e])
    })?;
    let a = accounts::load(app, &p.account_id).await?;
    check_password(&a, password).await?;
    if new.as_str() == a.email {
        return Err(AppError::field(
            "email",
            "same_email",
            "this is already your address",
        ));
    }
    let mut tx = app.db.begin().await?;
    if guichet_store::accounts::by_email(tx.conn(), new.as_str())
        .await?
        .is_some()
    {
        return Err(AppError::conflict(
            "email_taken",
            "an account already uses this e-mail address",
        ));
    }
    let token = issue_action_token(
        app,
        tx.conn(),
        &a.id,
        "email_change",
        Some(new.as_str().to_owned()),
        accounts::VERIFY_TTL_MS,
    )
    .await?;
    let link = app.config.link(&format!("/verify-email?token={token}"));
    let to_new = Recipient {
        address: new.as_str(),
        ..recipient(&a)
    };
    mail::enqueue(
        app,
        tx.conn(),
        &to_new,
        &MailKind::EmailChangeConfirm {
            link,
            new_email: new.as_str().to_owned(),
        },
    )
    .await?;
    mail::enqueue(
        app,
        tx.conn(),
        &recipient(&a),
        &MailKind::EmailChangeRequested {
            new_email_masked: mail::mask_email(new.as_str()),
        },
    )
    .await?;
    security_event(
        app,
        tx.conn(),
        &a.id,
        "email_change_requested",
        ctx,
        Some(mail::mask_email(new.as_str())),
    )
    .await?;
    tx.commit().await?;
    app.outbox_signal.notify_waiters();
    Ok(())
}

/// Set the backup address (unverified until its mailed link is followed).
pub async fn set_backup_email(
    app: &App,
    p: &crate::auth::Principal,
    email: &str,
    ctx: &RequestCtx,
) -> Result<()> {
    crate::factors::require_recent_auth(app, p).await?;
    let b = EmailAddress::parse(email).map_err(|mut e| {
        e.field = "email".into();
        AppError::validation(vec![e])
    })?;
    let mut tx = app.db.begin().await?;
    let a = guichet_store::accounts::by_id(tx.conn(), &p.account_id)
        .await?
        .ok_or_else(|| AppError::unauthorized("unauthenticated", "sign in first"))?;
    if b.as_str() == a.email {
        return Err(AppError::field(
            "email",
            "same_as_primary",
            "the backup address must differ from the primary one",
        ));
    }
    let hour_ago = app.now_ms() - 3_600_000;
    if action_tokens::count_since(tx.conn(), &a.id, "backup_email", hour_ago).await?
        >= SENDS_PER_HOUR
    {
        return Err(AppError::too_many("too_many_requests", 3600));
    }
    guichet_store::accounts::set_backup_email(tx.conn(), &a.id, Some(b.as_str()), app.now_ms())
        .await?;
    let token = issue_action_token(
        app,
        tx.conn(),
        &a.id,
        "backup_email",
        Some(b.as_str().to_owned()),
        accounts::VERIFY_TTL_MS,
    )
    .await?;
    let link = app.config.link(&format!("/verify-email?token={token}"));
    let to = Recipient {
        address: b.as_str(),
        ..recipient(&a)
    };
    mail::enqueue(app, tx.conn(), &to, &MailKind::BackupEmailVerify { link }).await?;
    security_event(
        app,
        tx.conn(),
        &a.id,
        "backup_email_set",
        ctx,
        Some(mail::mask_email(b.as_str())),
    )
    .await?;
    crate::accounts::notify_security_change(app, tx.conn(), &a, "backup_email_changed").await?;
    tx.commit().await?;
    app.outbox_signal.notify_waiters();
    Ok(())
}

pub async fn remove_backup_email(
    app: &App,
    p: &crate::auth::Principal,
    ctx: &RequestCtx,
) -> Result<()> {
    crate::factors::require_recent_auth(app, p).await?;
    let now = app.now_ms();
    let mut tx = app.db.begin().await?;
    guichet_store::accounts::set_backup_email(tx.conn(), &p.account_id, None, now).await?;
    action_tokens::void_unused(tx.conn(), &p.account_id, "backup_email", now).await?;
    security_event(
        app,
        tx.conn(),
        &p.account_id,
        "backup_email_removed",
        ctx,
        None,
    )
    .await?;
    if let Some(a) = guichet_store::accounts::by_id(tx.conn(), &p.account_id).await? {
        crate::accounts::notify_security_change(app, tx.conn(), &a, "backup_email_changed").await?;
    }
    tx.commit().await?;
    app.outbox_signal.notify_waiters();
    Ok(())
}

/// Set the mobile number (unverified) and text it a 6-digit code.
pub async fn set_phone(
    app: &App,
    p: &crate::auth::Principal,
    phone: &str,
    ctx: &RequestCtx,
) -> Result<()> {
    crate::factors::require_recent_auth(app, p).await?;
    let phone = PhoneNumber::parse(phone).map_err(|mut e| {
        e.field = "phone".into();
        AppError::validation(vec![e])
    })?;
    let now = app.now_ms();
    let mut tx = app.db.begin().await?;
    if action_tokens::count_since(tx.conn(), &p.account_id, "phone_verify", now - 3_600_000).await?
        >= SENDS_PER_HOUR
    {
        return Err(AppError::too_many("too_many_requests", 3600));
    }
    guichet_store::accounts::set_phone(tx.conn(), &p.account_id, Some(phone.as_str()), None, now)
        .await?;
    let a = guichet_store::accounts::by_id(tx.conn(), &p.account_id)
        .await?
        .ok_or_else(|| AppError::unauthorized("unauthenticated", "sign in first"))?;
    sms::send_code(
        app,
        tx.conn(),
        &a,
        phone.as_str(),
        "phone_verify",
        Some(phone.as_str().to_owned()),
        PHONE_CODE_TTL_MS,
    )
    .await?;
    security_event(
        app,
        tx.conn(),
        &a.id,
        "phone_set",
        ctx,
        Some(phone.masked()),
    )
    .await?;
    crate::accounts::notify_security_change(app, tx.conn(), &a, "phone_changed").await?;
    tx.commit().await?;
    app.outbox_signal.notify_waiters();
    Ok(())
}

/// Check the texted code; five wrong tries void it.
pub async fn verify_phone(
    app: &App,
    p: &crate::auth::Principal,
    code: &str,
    ctx: &RequestCtx,
) -> Result<()> {
    p.require_session()?;
    let now = app.now_ms();
    let mut tx = app.db.begin().await?;
    let t = action_tokens::latest_unused(tx.conn(), &p.account_id, "phone_verify")
        .await?
        .filter(|t| t.expires_at > now && t.attempts < PHONE_CODE_MAX_ATTEMPTS)
        .ok_or_else(|| AppError::bad_request("code_expired", "ask for a new code"))?;
    let code = code.trim();
    if !action_tokens::claim_attempt(tx.conn(), &t.id, PHONE_CODE_MAX_ATTEMPTS).await? {
        return Err(AppError::bad_request("code_expired", "ask for a new code"));
    }
    if code.len() != 6 || !crypto::ct_eq(&crypto::hash_code(&p.account_id, code), &t.token_hash) {
        tx.commit().await?;
        return Err(AppError::bad_request(
            "invalid_code",
            "this code is not right",
        ));
    }
    action_tokens::consume(tx.conn(), &t.id, now).await?;
    let a = guichet_store::accounts::by_id(tx.conn(), &p.account_id)
        .await?
        .ok_or_else(|| AppError::unauthorized("unauthenticated", "sign in first"))?;
    if a.phone != t.payload {
        return Err(AppError::bad_request(
            "code_expired",
            "the number changed since the code was sent",
        ));
    }
    guichet_store::accounts::set_phone(tx.conn(), &a.id, a.phone.as_deref(), Some(now), now)
        .await?;
    security_event(app, tx.conn(), &a.id, "phone_verified", ctx, None).await?;
    tx.commit().await?;
    Ok(())
}

pub async fn remove_phone(app: &App, p: &crate::auth::Principal, ctx: &RequestCtx) -> Result<()> {
    crate::factors::require_recent_auth(app, p).await?;
    let now = app.now_ms();
    let mut tx = app.db.begin().await?;
    guichet_store::accounts::set_phone(tx.conn(), &p.account_id, None, None, now).await?;
    action_tokens::void_unused(tx.conn(), &p.account_id, "phone_verify", now).await?;
    security_event(app, tx.conn(), &p.account_id, "phone_removed", ctx, None).await?;
    if let Some(a) = guichet_store::accounts::by_id(tx.conn(), &p.account_id).await? {
        crate::accounts::notify_security_change(app, tx.conn(), &a, "phone_changed").await?;
    }
    tx.commit().await?;
    app.outbox_signal.notify_waiters();
    Ok(())
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct SecurityEventView {
    pub id: String,
    pub kind: String,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    pub details: Option<String>,
    pub created_at: String,
}

pub async fn events(
    app: &App,
    p: &crate::auth::Principal,
    limit: i64,
) -> Result<Vec<SecurityEventView>> {
    let mut c = app.db.conn().await?;
    Ok(
        security_events::list_for_account(&mut c, &p.account_id, limit.clamp(1, 200))
            .await?
            .into_iter()
            .map(|e| SecurityEventView {
                id: e.id,
                kind: e.kind,
                ip: e.ip,
                user_agent: e.user_agent,
                details: e.details,
                created_at: rfc3339(e.created_at),
            })
            .collect(),
    )
}
