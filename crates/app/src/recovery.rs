//! Recovering a lost second factor (a real complaint about the reference provider): the holder
//! proves the password, the verified backup e-mail (a mailed link) and the verified phone (a
//! texted code); the factor is then removed after a delay of 72 hours, announced to both
//! addresses with a link that cancels it.

use crate::accounts::{self, RequestCtx, issue_action_token, recipient, security_event};
use crate::auth::Principal;
use crate::clock::rfc3339;
use crate::mail::{self, MailKind, Recipient};
use crate::{App, AppError, Result, crypto, ids, limits};
use guichet_store::accounts::AccountRow;
use guichet_store::{action_tokens, factors};
use serde::Serialize;
use utoipa::ToSchema;

pub const DELAY_MS: i64 = 72 * 3_600_000;
const LINK_TTL_MS: i64 = 30 * 60_000;
const SMS_PURPOSE: &str = "recovery_sms";

/// Step 1: the password is right and both recovery contact points are verified: mail a link
/// to the backup address and text a code to the phone.
pub async fn request(app: &App, email: &str, password: &str, ctx: &RequestCtx) -> Result<()> {
    limits::count_request(app, "recovery", ctx.ip.as_deref()).await?;
    let a = crate::auth::check_credentials(app, email, password, ctx).await?;
    if !crate::factors::second_factor_on(app, &a.id).await? {
        return Err(AppError::bad_request(
            "no_second_factor",
            "this account has no second factor to recover",
        ));
    }
    let (Some(backup), Some(_), Some(phone), Some(_)) = (
        &a.backup_email,
        a.backup_email_verified_at,
        &a.phone,
        a.phone_verified_at,
    ) else {
        return Err(AppError::conflict(
            "recovery_unavailable",
            "recovery needs a verified backup e-mail and a verified phone; contact support",
        ));
    };
    let now = app.now_ms();
    let mut tx = app.db.begin().await?;
    if action_tokens::count_since(tx.conn(), &a.id, "recovery_email", now - 3_600_000).await?
        >= crate::security::SENDS_PER_HOUR
    {
        return Err(AppError::too_many("too_many_requests", 3600));
    }
    let token =
        issue_action_token(app, tx.conn(), &a.id, "recovery_email", None, LINK_TTL_MS).await?;
    let link = app.config.link(&format!("/factor-recovery?token={token}"));
    let to = Recipient {
        address: backup,
        ..recipient(&a)
    };
    mail::enqueue(
        app,
        tx.conn(),
        &to,
        &MailKind::FactorRecoveryVerify { link },
    )
    .await?;
    crate::sms::send_code(app, tx.conn(), &a, phone, SMS_PURPOSE, None, LINK_TTL_MS).await?;
    security_event(
        app,
        tx.conn(),
        &a.id,
        "factor_recovery_requested",
        ctx,
        None,
    )
    .await?;
    tx.commit().await?;
    app.outbox_signal.notify_waiters();
    Ok(())
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct RecoveryScheduled {
    /// When the second factor will be removed, unless cancelled.
    pub effective_at: String,
}

async fn notify_both(
    app: &App,
    c: &mut guichet_store::AnyConnection,
    a: &AccountRow,
    kind: &MailKind,
) -> Result<()> {
    mail::enqueue(app, c, &recipient(a), kind).await?;
    if let (Some(b), Some(_)) = (&a.backup_email, a.backup_email_verified_at) {
        mail::enqueue(
            app,
            c,
            &Recipient {
                address: b,
                ..recipient(a)
            },
            kind,
        )
        .await?;
    }
    Ok(())
}

/// Step 2: the mailed link's token and the texted code schedule the removal.
pub async fn confirm(
    app: &App,
    token: &str,
    code: &str,
    ctx: &RequestCtx,
) -> Result<RecoveryScheduled> {
    let now = app.now_ms();
    let mut tx = app.db.begin().await?;
    // Check the SMS code before spending the mailed token.
    let hash = crypto::hash_token(token.trim());
    let t = action_tokens::by_hash(tx.conn(), "recovery_email", &hash)
        .await?
        .ok_or_else(|| AppError::bad_request("invalid_token", "this link or code is not valid"))?;
    let sms = action_tokens::latest_unused(tx.conn(), &t.account_id, SMS_PURPOSE)
        .await?
        .filter(|s| s.expires_at > now && s.attempts < crate::security::PHONE_CODE_MAX_ATTEMPTS)
        .ok_or_else(|| AppError::bad_request("code_expired", "ask for a new recovery"))?;
    if !action_tokens::claim_attempt(tx.conn(), &sms.id, crate::security::PHONE_CODE_MAX_ATTEMPTS)
        .await?
    {
        return Err(AppError::bad_request(
            "code_expired",
            "ask for a new recovery",
        ));
    }
    if !crypto::ct_eq(
        &crypto::hash_code(&t.account_id, code.trim()),
        &sms.token_hash,
    ) {
        tx.commit().await?;
        return Err(AppError::bad_request(
            "invalid_code",
            "this code is not right",
        ));
    }
    let t = accounts::take_token(app, tx.conn(), &["recovery_email"], token).await?;
    action_tokens::consume(tx.conn(), &sms.id, now).await?;
    let a = guichet_store::accounts::by_id(tx.conn(), &t.account_id)
        .await?
        .filter(|a| a.state == "active")
        .ok_or_else(|| AppError::bad_request("invalid_token", "this link or code is not valid"))?;
    if let Some(existing) = factors::scheduled_recovery(tx.conn(), &a.id).await? {
        tx.commit().await?;
        return Ok(RecoveryScheduled {
            effective_at: rfc3339(existing.effective_at),
        });
    }
    let (cancel, cancel_hash) = crypto::new_token("gct_");
    let effective_at = now + DELAY_MS;
    factors::insert_recovery(
        tx.conn(),
        &factors::RecoveryRow {
            id: ids::new_id(now),
            account_id: a.id.clone(),
            state: "scheduled".into(),
            cancel_token_hash: cancel_hash,
            created_at: now,
            effective_at,
            decided_at: None,
        },
    )
    .await?;
    let kind = MailKind::FactorRecoveryScheduled {
        effective_at: rfc3339(effective_at),
        cancel_link: app
            .config
            .link(&format!("/factor-recovery/cancel?token={cancel}")),
    };
    notify_both(app, tx.conn(), &a, &kind).await?;
    security_event(
        app,
        tx.conn(),
        &a.id,
        "factor_recovery_scheduled",
        ctx,
        Some(rfc3339(effective_at)),
    )
    .await?;
    tx.commit().await?;
    app.outbox_signal.notify_waiters();
    Ok(RecoveryScheduled {
        effective_at: rfc3339(effective_at),
    })
}

async fn cancel_row(
    app: &App,
    tx: &mut guichet_store::Tx,
    r: &factors::RecoveryRow,
    ctx: &RequestCtx,
) -> Result<()> {
    if !factors::decide_recovery(tx.conn(), &r.id, "cancelled", app.now_ms()).await? {
        return Err(AppError::bad_request(
            "recovery_not_pending",
            "this recovery is no longer pending",
        ));
    }
    if let Some(a) = guichet_store::accounts::by_id(tx.conn(), &r.account_id).await? {
        notify_both(
            app,
            tx.conn(),
            &a,
            &MailKind::SecurityChange {
                change: "factor_recovery_cancelled".into(),
            },
        )
        .await?;
    }
    security_event(
        app,
        tx.conn(),
        &r.account_id,
        "factor_recovery_cancelled",
        ctx,
        None,
    )
    .await?;
    Ok(())
}

/// Cancel with the link of the notice (no log-in needed: the owner may have lost nothing).
pub async fn cancel_by_token(app: &App, token: &str, ctx: &RequestCtx) -> Result<()> {
    let mut tx = app.db.begin().await?;
    let r = factors::recovery_by_cancel_hash(tx.conn(), &crypto::hash_token(token.trim()))
        .await?
        .ok_or_else(|| AppError::bad_request("invalid_token", "this link or code is not valid"))?;
    cancel_row(app, &mut tx, &r, ctx).await?;
    tx.commit().await?;
    app.outbox_signal.notify_waiters();
    Ok(())
}

/// Cancel from a session.
pub async fn cancel_own(app: &App, p: &Principal, ctx: &RequestCtx) -> Result<()> {
    p.require_session()?;
    let mut tx = app.db.begin().await?;
    let r = factors::scheduled_recovery(tx.conn(), &p.account_id)
        .await?
        .ok_or_else(|| AppError::not_found("recovery_not_found"))?;
    cancel_row(app, &mut tx, &r, ctx).await?;
    tx.commit().await?;
    app.outbox_signal.notify_waiters();
    Ok(())
}

/// At log-in (after the right password): remove the second factor when a scheduled recovery
/// has come due. Returns true when it did.
pub async fn apply_if_due(app: &App, a: &AccountRow, ctx: &RequestCtx) -> Result<bool> {
    let now = app.now_ms();
    let due = {
        let mut c = app.db.conn().await?;
        factors::scheduled_recovery(&mut c, &a.id).await?
    }
    .filter(|r| r.effective_at <= now);
    let Some(r) = due else { return Ok(false) };
    let mut tx = app.db.begin().await?;
    if !factors::decide_recovery(tx.conn(), &r.id, "applied", now).await? {
        return Ok(false);
    }
    factors::disable_totp(tx.conn(), &a.id, now).await?;
    factors::delete_backup_codes(tx.conn(), &a.id).await?;
    notify_both(
        app,
        tx.conn(),
        a,
        &MailKind::SecurityChange {
            change: "factor_recovery_applied".into(),
        },
    )
    .await?;
    security_event(app, tx.conn(), &a.id, "factor_recovery_applied", ctx, None).await?;
    tx.commit().await?;
    app.outbox_signal.notify_waiters();
    Ok(true)
}
