//! Sign-up, e-mail verification and the profile ("Mon profil").

use crate::clock::rfc3339;
use crate::mail::{self, MailKind, Recipient};
use crate::{App, AppError, Result, crypto, ids};
use guichet_domain::account::{
    AccountKind, PostalAddress, PostalAddressPatch, Profile, ProfilePatch, SignupInput,
};
use guichet_domain::{CountryCode, Language, NewAccount};
use guichet_store::accounts::{self, AccountRow};
use guichet_store::{AnyConnection, action_tokens, security_events};
use serde::Serialize;
use utoipa::ToSchema;

/// How long a mailed verification link stays valid.
pub const VERIFY_TTL_MS: i64 = 48 * 3_600_000;

/// Who asked: recorded with security events.
#[derive(Debug, Clone, Default)]
pub struct RequestCtx {
    pub ip: Option<String>,
    pub user_agent: Option<String>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct AddressView {
    pub line1: Option<String>,
    pub line2: Option<String>,
    pub postal_code: Option<String>,
    pub city: Option<String>,
    pub region: Option<String>,
}

/// The account as its holder sees it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct AccountView {
    pub id: String,
    pub customer_code: String,
    /// `individual` or `company`.
    pub kind: String,
    /// `active`, `closing` or `closed`.
    pub state: String,
    pub email: String,
    pub email_verified: bool,
    pub first_name: String,
    pub last_name: String,
    pub organisation: Option<String>,
    pub vat_number: Option<String>,
    pub address: AddressView,
    pub country: String,
    pub language: String,
    pub currency: String,
    pub backup_email: Option<String>,
    pub backup_email_verified: bool,
    pub phone: Option<String>,
    pub phone_verified: bool,
    pub created_at: String,
}

impl From<&AccountRow> for AccountView {
    fn from(a: &AccountRow) -> Self {
        Self {
            id: a.id.clone(),
            customer_code: a.customer_code.clone(),
            kind: a.kind.clone(),
            state: a.state.clone(),
            email: a.email.clone(),
            email_verified: a.email_verified_at.is_some(),
            first_name: a.first_name.clone(),
            last_name: a.last_name.clone(),
            organisation: a.organisation.clone(),
            vat_number: a.vat_number.clone(),
            address: AddressView {
                line1: a.address_line1.clone(),
                line2: a.address_line2.clone(),
                postal_code: a.postal_code.clone(),
                city: a.city.clone(),
                region: a.region.clone(),
            },
            country: a.country.clone(),
            language: a.language.clone(),
            currency: a.currency.clone(),
            backup_email: a.backup_email.clone(),
            backup_email_verified: a.backup_email_verified_at.is_some(),
            phone: a.phone.clone(),
            phone_verified: a.phone_verified_at.is_some(),
            created_at: rfc3339(a.created_at),
        }
    }
}

pub fn language_of(a: &AccountRow) -> Language {
    Language::parse(&a.language).unwrap_or_default()
}

pub fn recipient(a: &AccountRow) -> Recipient<'_> {
    Recipient {
        account_id: Some(&a.id),
        address: &a.email,
        first_name: &a.first_name,
        language: language_of(a),
    }
}

/// Tell the holder (primary address) that a security setting changed, in the caller's
/// transaction. `change` names it (see `MailKind::SecurityChange`).
pub async fn notify_security_change(
    app: &App,
    c: &mut AnyConnection,
    a: &AccountRow,
    change: &str,
) -> Result<()> {
    mail::enqueue(
        app,
        c,
        &recipient(a),
        &MailKind::SecurityChange {
            change: change.to_owned(),
        },
    )
    .await?;
    Ok(())
}

/// Record a security event in the caller's transaction.
pub async fn security_event(
    app: &App,
    c: &mut AnyConnection,
    account_id: &str,
    kind: &str,
    ctx: &RequestCtx,
    details: Option<String>,
) -> Result<()> {
    let now = app.now_ms();
    security_events::insert(
        c,
        &security_events::SecurityEventRow {
            id: ids::new_id(now),
            account_id: account_id.to_owned(),
            kind: kind.to_owned(),
            ip: ctx.ip.clone(),
            user_agent: ctx.user_agent.clone(),
            details,
            created_at: now,
        },
    )
    .await?;
    Ok(())
}

/// Issue a single-use token for `purpose`, valid `ttl_ms`; returns the secret to mail.
pub async fn issue_action_token(
    app: &App,
    c: &mut AnyConnection,
    account_id: &str,
    purpose: &str,
    payload: Option<String>,
    ttl_ms: i64,
) -> Result<String> {
    let now = app.now_ms();
    action_tokens::void_unused(c, account_id, purpose, now).await?;
    let (token, hash) = crypto::new_token("gct_");
    action_tokens::insert(
        c,
        &action_tokens::ActionTokenRow {
            id: ids::new_id(now),
            account_id: account_id.to_owned(),
            purpose: purpose.to_owned(),
            token_hash: hash,
            payload,
            attempts: 0,
            created_at: now,
            expires_at: now + ttl_ms,
            used_at: None,
        },
    )
    .await?;
    Ok(token)
}

async fn unique_customer_code(c: &mut AnyConnection) -> Result<String> {
    for attempt in 0..40u32 {
        let code = guichet_domain::CustomerCode::from_random(crypto::random_u64(), 5 + attempt / 8);
        if !accounts::customer_code_taken(c, code.as_str()).await? {
            return Ok(code.as_str().to_owned());
        }
    }
    Err(AppError::internal("could not draw a free customer code"))
}

/// Create an account and queue its verification mail, all in one transaction.
pub async fn signup(app: &App, input: &SignupInput, ctx: &RequestCtx) -> Result<AccountView> {
    let new = NewAccount::validate(input).map_err(AppError::validation)?;
    crate::limits::count_request(app, "signup", ctx.ip.as_deref()).await?;
    {
        let mut c = app.db.conn().await?;
        if accounts::by_email(&mut c, new.email.as_str())
            .await?
            .is_some()
        {
            return Err(email_taken());
        }
    }
    let hash = crypto::hash_password_async(new.password.expose().to_owned())
        .await
        .map_err(AppError::internal)?;
    let now = app.now_ms();
    let mut tx = app.db.begin().await?;
    let row = AccountRow {
        id: ids::new_id(now),
        customer_code: unique_customer_code(tx.conn()).await?,
        kind: new.kind.as_str().to_owned(),
        state: "active".to_owned(),
        email: new.email.as_str().to_owned(),
        email_verified_at: None,
        password_hash: hash,
        password_changed_at: now,
        first_name: new.first_name,
        last_name: new.last_name,
        organisation: new.organisation,
        vat_number: new.vat_number,
        address_line1: new.address.line1,
        address_line2: new.address.line2,
        postal_code: new.address.postal_code,
        city: new.address.city,
        region: new.address.region,
        country: new.country.as_str().to_owned(),
        language: new.language.as_str().to_owned(),
        currency: new.currency.code().to_owned(),
        backup_email: None,
        backup_email_verified_at: None,
        phone: None,
        phone_verified_at: None,
        created_at: now,
        updated_at: now,
        closed_at: None,
    };
    match accounts::insert(tx.conn(), &row).await {
        Ok(()) => {}
        Err(e) if e.is_unique_on("email") => return Err(email_taken()),
        Err(e) => return Err(e.into()),
    }
    let token =
        issue_action_token(app, tx.conn(), &row.id, "verify_email", None, VERIFY_TTL_MS).await?;
    let link = app.config.link(&format!("/verify-email?token={token}"));
    mail::enqueue(
        app,
        tx.conn(),
        &recipient(&row),
        &MailKind::VerifyEmail { link },
    )
    .await?;
    security_event(app, tx.conn(), &row.id, "account_created", ctx, None).await?;
    tx.commit().await?;
    app.outbox_signal.notify_waiters();
    Ok(AccountView::from(&row))
}

fn email_taken() -> AppError {
    AppError::conflict("email_taken", "an account already uses this e-mail address")
}

/// Send the verification mail again (same answer whatever the address).
pub async fn resend_verification(app: &App, email: &str, ctx: &RequestCtx) -> Result<()> {
    let Ok(email) = guichet_domain::EmailAddress::parse(email) else {
        return Err(AppError::field(
            "email",
            "invalid_email",
            "this is not a valid e-mail address",
        ));
    };
    crate::limits::count_request(app, "resend", ctx.ip.as_deref()).await?;
    // Same answer, in content and time, for known and unknown addresses: work after answering.
    let app = app.clone();
    tokio::spawn(async move {
        if let Err(e) = send_verification_again(&app, &email).await {
            tracing::warn!(error = %e, "verification resend failed");
        }
    });
    Ok(())
}

async fn send_verification_again(app: &App, email: &guichet_domain::EmailAddress) -> Result<()> {
    let mut tx = app.db.begin().await?;
    let Some(a) = accounts::by_email(tx.conn(), email.as_str()).await? else {
        return Ok(());
    };
    if a.email_verified_at.is_some() || a.state != "active" {
        return Ok(());
    }
    let hour_ago = app.now_ms() - 3_600_000;
    if action_tokens::count_since(tx.conn(), &a.id, "verify_email", hour_ago).await? >= 5 {
        return Ok(());
    }
    let token =
        issue_action_token(app, tx.conn(), &a.id, "verify_email", None, VERIFY_TTL_MS).await?;
    let link = app.config.link(&format!("/verify-email?token={token}"));
    mail::enqueue(
        app,
        tx.conn(),
        &recipient(&a),
        &MailKind::VerifyEmail { link },
    )
    .await?;
    tx.commit().await?;
    app.outbox_signal.notify_waiters();
    Ok(())
}

/// What a mailed link proved.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct VerifiedView {
    /// `email_verified`, `email_changed` or `backup_email_verified`.
    pub result: String,
    pub email: String,
}

/// Load a mailed token by its secret; refuse unknown, used or expired ones.
pub async fn take_token(
    app: &App,
    c: &mut AnyConnection,
    purposes: &[&str],
    token: &str,
) -> Result<action_tokens::ActionTokenRow> {
    let token = token.trim();
    if token.is_empty() || token.len() > 200 {
        return Err(AppError::bad_request(
            "invalid_token",
            "this link or code is not valid",
        ));
    }
    let hash = crypto::hash_token(token);
    let mut found = None;
    for p in purposes {
        if let Some(t) = action_tokens::by_hash(c, p, &hash).await? {
            found = Some(t);
            break;
        }
    }
    let t = found
        .ok_or_else(|| AppError::bad_request("invalid_token", "this link or code is not valid"))?;
    if t.used_at.is_some() {
        return Err(AppError::bad_request(
            "token_used",
            "this link was already used",
        ));
    }
    if t.expires_at <= app.now_ms() {
        return Err(AppError::bad_request(
            "token_expired",
            "this link has expired; ask for a new one",
        ));
    }
    if !action_tokens::consume(c, &t.id, app.now_ms()).await? {
        return Err(AppError::bad_request(
            "token_used",
            "this link was already used",
        ));
    }
    Ok(t)
}

/// `POST /auth/verify-email`: one endpoint for every mailbox proof (sign-up, new primary
/// address, backup address), dispatched on what the token was issued for.
pub async fn verify_email(app: &App, token: &str, ctx: &RequestCtx) -> Result<VerifiedView> {
    let key = format!("verify:ip:{}", ctx.ip.as_deref().unwrap_or("-"));
    crate::limits::check(app, std::slice::from_ref(&key)).await?;
    let r = verify_email_inner(app, token, ctx).await;
    if matches!(&r, Err(e) if e.code == "invalid_token") {
        crate::limits::fail(app, &key, &crate::limits::PER_IP_REQUESTS).await?;
    }
    r
}

async fn verify_email_inner(app: &App, token: &str, ctx: &RequestCtx) -> Result<VerifiedView> {
    let mut tx = app.db.begin().await?;
    let t = take_token(
        app,
        tx.conn(),
        &["verify_email", "email_change", "backup_email"],
        token,
    )
    .await?;
    let a = accounts::by_id(tx.conn(), &t.account_id)
        .await?
        .filter(|a| a.state == "active")
        .ok_or_else(|| AppError::bad_request("invalid_token", "this link or code is not valid"))?;
    let now = app.now_ms();
    let view = match t.purpose.as_str() {
        "verify_email" => {
            accounts::mark_email_verified(tx.conn(), &a.id, now).await?;
            security_event(app, tx.conn(), &a.id, "email_verified", ctx, None).await?;
            VerifiedView {
                result: "email_verified".into(),
                email: a.email.clone(),
            }
        }
        "email_change" => {
            let new_email = t.payload.clone().unwrap_or_default();
            if accounts::by_email(tx.conn(), &new_email).await?.is_some() {
                return Err(email_taken());
            }
            match accounts::set_email(tx.conn(), &a.id, &new_email, now).await {
                Ok(()) => {}
                Err(e) if e.is_unique_on("email") => return Err(email_taken()),
                Err(e) => return Err(e.into()),
            }
            mail::enqueue(
                app,
                tx.conn(),
                &recipient(&a),
                &MailKind::EmailChanged {
                    new_email_masked: mail::mask_email(&new_email),
                },
            )
            .await?;
            if let (Some(b), Some(_)) = (&a.backup_email, a.backup_email_verified_at) {
                let to = Recipient {
                    address: b,
                    ..recipient(&a)
                };
                mail::enqueue(
                    app,
                    tx.conn(),
                    &to,
                    &MailKind::EmailChanged {
                        new_email_masked: mail::mask_email(&new_email),
                    },
                )
                .await?;
            }
            security_event(
                app,
                tx.conn(),
                &a.id,
                "email_changed",
                ctx,
                Some(mail::mask_email(&new_email)),
            )
            .await?;
            VerifiedView {
                result: "email_changed".into(),
                email: new_email,
            }
        }
        _ => {
            let backup = t.payload.clone().unwrap_or_default();
            if !accounts::verify_backup_email(tx.conn(), &a.id, &backup, now).await? {
                return Err(AppError::bad_request(
                    "token_superseded",
                    "this backup address was replaced since the link was sent",
                ));
            }
            security_event(app, tx.conn(), &a.id, "backup_email_verified", ctx, None).await?;
            VerifiedView {
                result: "backup_email_verified".into(),
                email: backup,
            }
        }
    };
    tx.commit().await?;
    app.outbox_signal.notify_waiters();
    Ok(view)
}

pub async fn load(app: &App, account_id: &str) -> Result<AccountRow> {
    let mut c = app.db.conn().await?;
    accounts::by_id(&mut c, account_id)
        .await?
        .ok_or_else(|| AppError::unauthorized("unauthenticated", "sign in first"))
}

fn profile_of(a: &AccountRow) -> Result<Profile> {
    Ok(Profile {
        kind: AccountKind::parse(&a.kind).ok_or_else(|| AppError::internal("bad kind"))?,
        first_name: a.first_name.clone(),
        last_name: a.last_name.clone(),
        organisation: a.organisation.clone(),
        vat_number: a.vat_number.clone(),
        language: language_of(a),
        country: CountryCode::parse(&a.country).map_err(|_| AppError::internal("bad country"))?,
        address: PostalAddress {
            line1: a.address_line1.clone(),
            line2: a.address_line2.clone(),
            postal_code: a.postal_code.clone(),
            city: a.city.clone(),
            region: a.region.clone(),
        },
    })
}

/// `PATCH /me`: change profile fields; the e-mail address has its own confirmed flow.
pub async fn update_profile(
    app: &App,
    account_id: &str,
    patch: &ProfilePatch,
) -> Result<AccountView> {
    let mut tx = app.db.begin().await?;
    let mut a = accounts::by_id(tx.conn(), account_id)
        .await?
        .ok_or_else(|| AppError::unauthorized("unauthenticated", "sign in first"))?;
    let p = patch
        .apply(&profile_of(&a)?)
        .map_err(AppError::validation)?;
    a.first_name = p.first_name;
    a.last_name = p.last_name;
    a.organisation = p.organisation;
    a.vat_number = p.vat_number;
    a.language = p.language.as_str().to_owned();
    a.country = p.country.as_str().to_owned();
    a.address_line1 = p.address.line1;
    a.address_line2 = p.address.line2;
    a.postal_code = p.address.postal_code;
    a.city = p.address.city;
    a.region = p.address.region;
    accounts::update_profile(tx.conn(), &a, app.now_ms()).await?;
    tx.commit().await?;
    Ok(AccountView::from(&a))
}

/// Helper for callers building a patch from optional JSON fields.
pub fn address_patch(
    line1: Option<String>,
    line2: Option<String>,
    postal_code: Option<String>,
    city: Option<String>,
    region: Option<String>,
) -> PostalAddressPatch {
    PostalAddressPatch {
        line1,
        line2,
        postal_code,
        city,
        region,
    }
}
