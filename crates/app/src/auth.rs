//! Logging in and out, recognising who calls (session token, cookie or personal API token),
//! listing and revoking sessions, and personal API tokens.

use crate::accounts::{RequestCtx, security_event};
use crate::clock::rfc3339;
use crate::{App, AppError, Result, crypto, ids};
use guichet_domain::ApiTokenScope;
use guichet_store::accounts::{self, AccountRow};
use guichet_store::sessions::{self, ApiTokenRow, SessionRow};
use serde::Serialize;
use utoipa::ToSchema;

pub const SESSION_PREFIX: &str = "gcs_";
pub const API_TOKEN_PREFIX: &str = "gcp_";
pub const MAX_LIVE_API_TOKENS: i64 = 50;

/// Who is calling, once authenticated.
#[derive(Debug, Clone)]
pub struct Principal {
    pub account_id: String,
    pub via: Via,
    /// The account as read while authenticating (active at that moment).
    pub account: std::sync::Arc<AccountRow>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Via {
    Session { id: String },
    ApiToken { id: String, scope: ApiTokenScope },
}

impl Principal {
    pub fn session_id(&self) -> Option<&str> {
        match &self.via {
            Via::Session { id } => Some(id),
            Via::ApiToken { .. } => None,
        }
    }

    /// Whether this caller may change things (read-only API tokens may not).
    pub fn can_write(&self) -> bool {
        !matches!(
            self.via,
            Via::ApiToken {
                scope: ApiTokenScope::Read,
                ..
            }
        )
    }

    /// Account security (tokens, sessions, contact points) is managed from a login session only.
    pub fn require_session(&self) -> Result<&str> {
        self.session_id().ok_or_else(|| {
            AppError::forbidden(
                "session_required",
                "this action needs a login session, not an API token",
            )
        })
    }
}

fn unauthenticated() -> AppError {
    AppError::unauthorized("unauthenticated", "sign in first")
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct LoginView {
    /// `ok` (a session is open) or `mfa_required` (send a code with the `challenge` to
    /// `POST /api/v1/auth/login/second-factor`).
    pub status: String,
    /// The session token: send it as `Authorization: Bearer …` (it is also set as a cookie).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub session_id: Option<String>,
    /// When the session (or the challenge) ends.
    pub expires_at: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub account: Option<crate::accounts::AccountView>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub challenge: Option<String>,
    /// Second factors accepted for the challenge: `totp`, `backup_code`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub methods: Vec<String>,
}

impl LoginView {
    pub fn mfa_required(challenge: String, expires_at: i64) -> Self {
        Self {
            status: "mfa_required".into(),
            token: None,
            session_id: None,
            expires_at: rfc3339(expires_at),
            account: None,
            challenge: Some(challenge),
            methods: vec!["totp".into(), "backup_code".into()],
        }
    }
}

/// Check an e-mail address and password under the log-in limits (per account and address,
/// per account, per address). Unknown address and wrong password answer alike, after the same
/// argon2 work. Used by log-in and by the recovery of a lost second factor.
pub async fn check_credentials(
    app: &App,
    email: &str,
    password: &str,
    ctx: &RequestCtx,
) -> Result<AccountRow> {
    let invalid =
        || AppError::unauthorized("invalid_credentials", "wrong e-mail address or password");
    let email = guichet_domain::EmailAddress::parse(email).map(|e| e.as_str().to_owned());
    let ip = ctx.ip.clone().unwrap_or_else(|| "-".into());
    let who = email.clone().unwrap_or_else(|_| "-".into());
    let (acct_ip, acct, by_ip) = (
        format!("login:acct_ip:{who}:{ip}"),
        format!("login:acct:{who}"),
        format!("login:ip:{ip}"),
    );
    crate::limits::check(app, std::slice::from_ref(&by_ip)).await?;
    crate::limits::attempt(app, &acct_ip, &crate::limits::LOGIN_ACCOUNT_IP).await?;
    crate::limits::attempt(app, &acct, &crate::limits::LOGIN_ACCOUNT).await?;
    let fail = || async {
        crate::limits::fail(app, &by_ip, &crate::limits::LOGIN_IP).await?;
        Ok::<_, AppError>(invalid())
    };
    if password.is_empty() || password.chars().count() > guichet_domain::password::MAX_CHARS {
        return Err(fail().await?);
    }
    let account = match &email {
        Ok(e) => {
            let mut c = app.db.conn().await?;
            accounts::by_email(&mut c, e).await?
        }
        Err(_) => None,
    };
    let account = account.filter(|a| a.state == "active");
    let ok = crypto::verify_password_async(
        password.to_owned(),
        account.as_ref().map(|a| a.password_hash.clone()),
    )
    .await;
    let Some(a) = account else {
        return Err(fail().await?);
    };
    if !ok {
        {
            let mut c = app.db.conn().await?;
            security_event(app, &mut c, &a.id, "login_failed", ctx, None).await?;
        }
        return Err(fail().await?);
    }
    crate::limits::clear(app, &acct_ip).await?;
    crate::limits::clear(app, &acct).await?;
    Ok(a)
}

/// Check the password and open a session (or a second-factor challenge).
pub async fn login(app: &App, email: &str, password: &str, ctx: &RequestCtx) -> Result<LoginView> {
    let a = check_credentials(app, email, password, ctx).await?;
    if a.email_verified_at.is_none() {
        return Err(AppError::forbidden(
            "email_not_verified",
            "confirm your e-mail address first: follow the link in the mail we sent",
        ));
    }
    crate::recovery::apply_if_due(app, &a, ctx).await?;
    if crate::factors::second_factor_on(app, &a.id).await? {
        return crate::factors::open_challenge(app, &a.id).await;
    }
    open_session(app, &a, ctx).await
}

/// Open a new session (a new id at every login).
pub async fn open_session(app: &App, a: &AccountRow, ctx: &RequestCtx) -> Result<LoginView> {
    let mut tx = app.db.begin().await?;
    let view = open_session_in(app, &mut tx, a, ctx).await?;
    tx.commit().await?;
    app.outbox_signal.notify_waiters();
    Ok(view)
}

/// Open a session inside the caller's transaction (a two-step log-in spends its challenge and
/// opens the session in one transaction).
pub async fn open_session_in(
    app: &App,
    tx: &mut guichet_store::Tx,
    a: &AccountRow,
    ctx: &RequestCtx,
) -> Result<LoginView> {
    let now = app.now_ms();
    let (token, hash) = crypto::new_token(SESSION_PREFIX);
    let s = SessionRow {
        id: ids::new_id(now),
        account_id: a.id.clone(),
        token_hash: hash,
        ip: ctx.ip.clone(),
        user_agent: ctx
            .user_agent
            .as_ref()
            .map(|u| u.chars().take(300).collect()),
        created_at: now,
        last_seen_at: now,
        expires_at: now + app.config.session_absolute_secs * 1000,
        revoked_at: None,
        revoked_reason: None,
        reauth_at: Some(now),
    };
    let known =
        sessions::seen_device(tx.conn(), &a.id, s.ip.as_deref(), s.user_agent.as_deref()).await?;
    let first = sessions::count_sessions_ever(tx.conn(), &a.id).await? == 0;
    sessions::insert_session(tx.conn(), &s).await?;
    security_event(app, tx.conn(), &a.id, "login", ctx, None).await?;
    if !known && !first {
        let kind = crate::mail::MailKind::NewLogin {
            ip: s.ip.clone().unwrap_or_else(|| "?".into()),
            user_agent: s.user_agent.clone().unwrap_or_else(|| "?".into()),
            at: rfc3339(now),
        };
        crate::mail::enqueue(app, tx.conn(), &crate::accounts::recipient(a), &kind).await?;
    }
    Ok(LoginView {
        status: "ok".into(),
        token: Some(token),
        session_id: Some(s.id),
        expires_at: rfc3339(s.expires_at),
        account: Some(a.into()),
        challenge: None,
        methods: Vec::new(),
    })
}

/// Recognise a bearer or cookie token.
pub async fn authenticate(app: &App, token: &str) -> Result<Principal> {
    let now = app.now_ms();
    let hash = crypto::hash_token(token);
    let mut c = app.db.conn().await?;
    let principal = if token.starts_with(SESSION_PREFIX) {
        let s = sessions::session_by_hash(&mut c, &hash)
            .await?
            .ok_or_else(unauthenticated)?;
        let idle_deadline = s.last_seen_at + app.config.session_idle_secs * 1000;
        if s.revoked_at.is_some() || s.expires_at <= now || idle_deadline <= now {
            return Err(AppError::unauthorized(
                "session_expired",
                "your session has ended; sign in again",
            ));
        }
        // Activity is recorded at most once a minute: most requests write nothing.
        if now - s.last_seen_at >= 60_000 {
            sessions::touch_session(&mut c, &s.id, now).await?;
        }
        (s.account_id, Via::Session { id: s.id })
    } else if token.starts_with(API_TOKEN_PREFIX) {
        let t = sessions::api_token_by_hash(&mut c, &hash)
            .await?
            .ok_or_else(unauthenticated)?;
        if t.revoked_at.is_some() || t.expires_at <= now {
            return Err(AppError::unauthorized(
                "token_expired",
                "this API token was revoked or has expired",
            ));
        }
        if t.last_used_at.is_none_or(|at| now - at >= 60_000) {
            sessions::touch_api_token(&mut c, &t.id, now).await?;
        }
        let scope = ApiTokenScope::parse(&t.scope).unwrap_or(ApiTokenScope::Read);
        (t.account_id, Via::ApiToken { id: t.id, scope })
    } else {
        return Err(unauthenticated());
    };
    let (account_id, via) = principal;
    let account = accounts::by_id(&mut c, &account_id)
        .await?
        .filter(|a| a.state == "active")
        .ok_or_else(unauthenticated)?;
    Ok(Principal {
        account_id,
        via,
        account: std::sync::Arc::new(account),
    })
}

pub async fn logout(app: &App, p: &Principal, ctx: &RequestCtx) -> Result<()> {
    let Some(id) = p.session_id() else {
        return Err(AppError::bad_request(
            "not_a_session",
            "an API token is revoked from /me/tokens, not logged out",
        ));
    };
    let mut tx = app.db.begin().await?;
    sessions::revoke_session(tx.conn(), &p.account_id, id, "logout", app.now_ms()).await?;
    security_event(app, tx.conn(), &p.account_id, "logout", ctx, None).await?;
    tx.commit().await?;
    Ok(())
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct SessionView {
    pub id: String,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    pub created_at: String,
    pub last_seen_at: String,
    pub expires_at: String,
    /// True for the session making this request.
    pub current: bool,
}

pub async fn list_sessions(app: &App, p: &Principal) -> Result<Vec<SessionView>> {
    let mut c = app.db.conn().await?;
    let now = app.now_ms();
    let idle = app.config.session_idle_secs * 1000;
    Ok(sessions::list_sessions(&mut c, &p.account_id, now)
        .await?
        .into_iter()
        .filter(|s| s.last_seen_at + idle > now)
        .map(|s| SessionView {
            current: p.session_id() == Some(s.id.as_str()),
            id: s.id,
            ip: s.ip,
            user_agent: s.user_agent,
            created_at: rfc3339(s.created_at),
            last_seen_at: rfc3339(s.last_seen_at),
            expires_at: rfc3339(s.expires_at),
        })
        .collect())
}

pub async fn revoke_session(app: &App, p: &Principal, id: &str, ctx: &RequestCtx) -> Result<()> {
    p.require_session()?;
    if !ids::is_id(id) {
        return Err(AppError::not_found("session_not_found"));
    }
    let mut tx = app.db.begin().await?;
    if !sessions::revoke_session(tx.conn(), &p.account_id, id, "revoked", app.now_ms()).await? {
        return Err(AppError::not_found("session_not_found"));
    }
    security_event(
        app,
        tx.conn(),
        &p.account_id,
        "session_revoked",
        ctx,
        Some(id.to_owned()),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// Revoke every session but the current one; returns how many ended.
pub async fn revoke_other_sessions(app: &App, p: &Principal, ctx: &RequestCtx) -> Result<u64> {
    let current = p.require_session()?;
    let mut tx = app.db.begin().await?;
    let n = sessions::revoke_all_sessions(
        tx.conn(),
        &p.account_id,
        Some(current),
        "revoked",
        app.now_ms(),
    )
    .await?;
    security_event(
        app,
        tx.conn(),
        &p.account_id,
        "sessions_revoked",
        ctx,
        Some(n.to_string()),
    )
    .await?;
    tx.commit().await?;
    Ok(n)
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ApiTokenView {
    pub id: String,
    pub name: String,
    /// `read` or `write`.
    pub scope: String,
    /// The first characters of the token, to recognise it.
    pub prefix: String,
    pub created_at: String,
    pub expires_at: String,
    pub last_used_at: Option<String>,
}

impl From<&ApiTokenRow> for ApiTokenView {
    fn from(t: &ApiTokenRow) -> Self {
        Self {
            id: t.id.clone(),
            name: t.name.clone(),
            scope: t.scope.clone(),
            prefix: t.token_prefix.clone(),
            created_at: rfc3339(t.created_at),
            expires_at: rfc3339(t.expires_at),
            last_used_at: t.last_used_at.map(rfc3339),
        }
    }
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct CreatedApiToken {
    /// The secret, shown this once only.
    pub token: String,
    #[serde(flatten)]
    pub info: ApiTokenView,
}

pub async fn create_api_token(
    app: &App,
    p: &Principal,
    name: &str,
    scope: &str,
    expires_in_days: i64,
    ctx: &RequestCtx,
) -> Result<CreatedApiToken> {
    crate::factors::require_recent_auth(app, p).await?;
    let name = guichet_domain::validation::text(name, 1, 100).map_err(|mut e| {
        e.field = "name".into();
        AppError::validation(vec![e])
    })?;
    let scope = ApiTokenScope::parse(scope)
        .ok_or_else(|| AppError::field("scope", "invalid_scope", "scope must be read or write"))?;
    if !(1..=365).contains(&expires_in_days) {
        return Err(AppError::field(
            "expires_in_days",
            "invalid_expiry",
            "a token lives from 1 to 365 days",
        ));
    }
    let now = app.now_ms();
    let mut tx = app.db.begin().await?;
    if sessions::count_live_api_tokens(tx.conn(), &p.account_id, now).await? >= MAX_LIVE_API_TOKENS
    {
        return Err(AppError::conflict(
            "too_many_tokens",
            "revoke an API token before creating another",
        ));
    }
    let (token, hash) = crypto::new_token(API_TOKEN_PREFIX);
    let row = ApiTokenRow {
        id: ids::new_id(now),
        account_id: p.account_id.clone(),
        name,
        scope: scope.as_str().to_owned(),
        token_hash: hash,
        token_prefix: token.chars().take(10).collect(),
        created_at: now,
        expires_at: now + expires_in_days * 86_400_000,
        last_used_at: None,
        revoked_at: None,
    };
    sessions::insert_api_token(tx.conn(), &row).await?;
    security_event(
        app,
        tx.conn(),
        &p.account_id,
        "api_token_created",
        ctx,
        Some(row.name.clone()),
    )
    .await?;
    let a = accounts::by_id(tx.conn(), &p.account_id)
        .await?
        .ok_or_else(unauthenticated)?;
    crate::accounts::notify_security_change(app, tx.conn(), &a, "api_token_created").await?;
    tx.commit().await?;
    app.outbox_signal.notify_waiters();
    Ok(CreatedApiToken {
        token,
        info: (&row).into(),
    })
}

pub async fn list_api_tokens(app: &App, p: &Principal) -> Result<Vec<ApiTokenView>> {
    let mut c = app.db.conn().await?;
    Ok(
        sessions::list_api_tokens(&mut c, &p.account_id, app.now_ms())
            .await?
            .iter()
            .map(ApiTokenView::from)
            .collect(),
    )
}

pub async fn revoke_api_token(app: &App, p: &Principal, id: &str, ctx: &RequestCtx) -> Result<()> {
    if !ids::is_id(id) {
        return Err(AppError::not_found("token_not_found"));
    }
    // A token may revoke itself; any other revocation needs a session.
    let is_self = matches!(&p.via, Via::ApiToken { id: own, .. } if own == id);
    if !is_self {
        p.require_session()?;
    }
    let mut tx = app.db.begin().await?;
    if !sessions::revoke_api_token(tx.conn(), &p.account_id, id, app.now_ms()).await? {
        return Err(AppError::not_found("token_not_found"));
    }
    security_event(
        app,
        tx.conn(),
        &p.account_id,
        "api_token_revoked",
        ctx,
        Some(id.to_owned()),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}
