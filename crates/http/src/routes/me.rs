//! The signed-in customer's own space: profile, credentials and contact points, sessions,
//! personal API tokens, security events and service e-mails. Every query is scoped to the
//! caller's account: another account's id answers 404.

use crate::AppState;
use crate::error::{ApiResult, ErrorBody};
use crate::extract::{Auth, Ctx, Json};
use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::routing::{delete, get, post, put};
use guichet_app::AppError;
use guichet_app::accounts::{self, AccountView};
use guichet_app::auth::{self, ApiTokenView, CreatedApiToken, SessionView};
use guichet_app::factors::{self, BackupCodes, SecurityStatus, TotpEnrolment};
use guichet_app::mailbox::{self, EmailDetail, EmailPage, VerifyMailView};
use guichet_app::security::{self, SecurityEventView};
use guichet_domain::account::ProfilePatch;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/me", get(get_me).patch(patch_me))
        .route("/api/v1/me/password", post(change_password))
        .route("/api/v1/me/email", post(change_email))
        .route(
            "/api/v1/me/security/backup-email",
            put(set_backup_email).delete(remove_backup_email),
        )
        .route(
            "/api/v1/me/security/phone",
            put(set_phone).delete(remove_phone),
        )
        .route("/api/v1/me/security/phone/verify", post(verify_phone))
        .route("/api/v1/me/security/events", get(security_events))
        .route("/api/v1/me/security", get(security_status))
        .route(
            "/api/v1/me/security/totp",
            post(enrol_totp).delete(disable_totp),
        )
        .route("/api/v1/me/security/totp/confirm", post(confirm_totp))
        .route(
            "/api/v1/me/security/backup-codes",
            post(regenerate_backup_codes),
        )
        .route("/api/v1/me/reauth", post(reauth))
        .route(
            "/api/v1/me/security/factor-recovery",
            delete(cancel_factor_recovery),
        )
        .route("/api/v1/me/sessions", get(list_sessions))
        .route(
            "/api/v1/me/sessions/revoke-others",
            post(revoke_other_sessions),
        )
        .route("/api/v1/me/sessions/{id}", delete(revoke_session))
        .route("/api/v1/me/tokens", get(list_tokens).post(create_token))
        .route("/api/v1/me/tokens/{id}", delete(revoke_token))
        .route("/api/v1/me/emails", get(list_emails))
        .route("/api/v1/me/emails/verify", post(verify_mail))
        .route("/api/v1/me/emails/{id}", get(get_email))
}

/// The account ("Mon profil").
#[utoipa::path(get, path = "/api/v1/me", tag = "account", security(("bearer" = [])),
    responses((status = 200, body = AccountView), (status = 401, body = ErrorBody)))]
pub async fn get_me(Auth(p): Auth) -> Json<AccountView> {
    // The account was read (and found active) while authenticating the request.
    Json(AccountView::from(p.account.as_ref()))
}

/// Profile fields to change; absent fields stay, an empty string clears an optional field.
#[derive(Debug, Deserialize, ToSchema, Default)]
pub struct ProfilePatchRequest {
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub organisation: Option<String>,
    pub vat_number: Option<String>,
    pub language: Option<String>,
    pub country: Option<String>,
    pub address_line1: Option<String>,
    pub address_line2: Option<String>,
    pub postal_code: Option<String>,
    pub city: Option<String>,
    pub region: Option<String>,
    /// Not accepted here: the primary address changes through `POST /api/v1/me/email`.
    pub email: Option<String>,
}

/// Change the profile and postal address.
#[utoipa::path(patch, path = "/api/v1/me", tag = "account", security(("bearer" = [])), request_body = ProfilePatchRequest,
    responses((status = 200, body = AccountView), (status = 422, body = ErrorBody)))]
pub async fn patch_me(
    State(s): State<AppState>,
    Auth(p): Auth,
    Json(r): Json<ProfilePatchRequest>,
) -> ApiResult<Json<AccountView>> {
    if r.email.is_some() {
        return Err(AppError::field(
            "email",
            "email_change_separate",
            "change the e-mail address with POST /api/v1/me/email",
        )
        .into());
    }
    let patch = ProfilePatch {
        first_name: r.first_name,
        last_name: r.last_name,
        organisation: r.organisation,
        vat_number: r.vat_number,
        language: r.language,
        country: r.country,
        address: accounts::address_patch(
            r.address_line1,
            r.address_line2,
            r.postal_code,
            r.city,
            r.region,
        ),
    };
    Ok(Json(
        accounts::update_profile(&s.app, &p.account_id, &patch).await?,
    ))
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct PasswordChangeRequest {
    pub current_password: String,
    pub new_password: String,
}

/// Change the password; every other session ends.
#[utoipa::path(post, path = "/api/v1/me/password", tag = "account", security(("bearer" = [])), request_body = PasswordChangeRequest,
    responses((status = 204), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn change_password(
    State(s): State<AppState>,
    Ctx(ctx): Ctx,
    Auth(p): Auth,
    Json(r): Json<PasswordChangeRequest>,
) -> ApiResult<StatusCode> {
    security::change_password(&s.app, &p, &r.current_password, &r.new_password, &ctx).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct EmailChangeRequest {
    /// The new primary address.
    pub email: String,
    /// The current password, to prove it is the holder asking.
    pub password: String,
}

/// Ask to change the primary address: a link goes to the new address, a notice to the old one.
#[utoipa::path(post, path = "/api/v1/me/email", tag = "account", security(("bearer" = [])), request_body = EmailChangeRequest,
    responses((status = 202), (status = 403, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn change_email(
    State(s): State<AppState>,
    Ctx(ctx): Ctx,
    Auth(p): Auth,
    Json(r): Json<EmailChangeRequest>,
) -> ApiResult<StatusCode> {
    security::request_email_change(&s.app, &p, &r.email, &r.password, &ctx).await?;
    Ok(StatusCode::ACCEPTED)
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct BackupEmailRequest {
    pub email: String,
}

/// Set the backup address; it is verified by the link mailed to it.
#[utoipa::path(put, path = "/api/v1/me/security/backup-email", tag = "security", security(("bearer" = [])), request_body = BackupEmailRequest,
    responses((status = 202), (status = 422, body = ErrorBody), (status = 429, body = ErrorBody)))]
pub async fn set_backup_email(
    State(s): State<AppState>,
    Ctx(ctx): Ctx,
    Auth(p): Auth,
    Json(r): Json<BackupEmailRequest>,
) -> ApiResult<StatusCode> {
    security::set_backup_email(&s.app, &p, &r.email, &ctx).await?;
    Ok(StatusCode::ACCEPTED)
}

/// Remove the backup address.
#[utoipa::path(delete, path = "/api/v1/me/security/backup-email", tag = "security", security(("bearer" = [])), responses((status = 204)))]
pub async fn remove_backup_email(
    State(s): State<AppState>,
    Ctx(ctx): Ctx,
    Auth(p): Auth,
) -> ApiResult<StatusCode> {
    security::remove_backup_email(&s.app, &p, &ctx).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct PhoneRequest {
    /// E.164, e.g. `+33612345678`.
    pub phone: String,
}

/// Set the mobile number; a 6-digit code is texted to it (valid 10 minutes).
#[utoipa::path(put, path = "/api/v1/me/security/phone", tag = "security", security(("bearer" = [])), request_body = PhoneRequest,
    responses((status = 202), (status = 422, body = ErrorBody), (status = 429, body = ErrorBody)))]
pub async fn set_phone(
    State(s): State<AppState>,
    Ctx(ctx): Ctx,
    Auth(p): Auth,
    Json(r): Json<PhoneRequest>,
) -> ApiResult<StatusCode> {
    security::set_phone(&s.app, &p, &r.phone, &ctx).await?;
    Ok(StatusCode::ACCEPTED)
}

/// Remove the mobile number.
#[utoipa::path(delete, path = "/api/v1/me/security/phone", tag = "security", security(("bearer" = [])), responses((status = 204)))]
pub async fn remove_phone(
    State(s): State<AppState>,
    Ctx(ctx): Ctx,
    Auth(p): Auth,
) -> ApiResult<StatusCode> {
    security::remove_phone(&s.app, &p, &ctx).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct CodeRequest {
    pub code: String,
}

/// Verify the mobile number with the texted code (five tries).
#[utoipa::path(post, path = "/api/v1/me/security/phone/verify", tag = "security", security(("bearer" = [])), request_body = CodeRequest,
    responses((status = 204), (status = 400, body = ErrorBody)))]
pub async fn verify_phone(
    State(s): State<AppState>,
    Ctx(ctx): Ctx,
    Auth(p): Auth,
    Json(r): Json<CodeRequest>,
) -> ApiResult<StatusCode> {
    security::verify_phone(&s.app, &p, &r.code, &ctx).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Deserialize, IntoParams)]
pub struct LimitQuery {
    /// 1 to 200 (default 50).
    pub limit: Option<i64>,
}

/// Security events of the account, newest first.
#[utoipa::path(get, path = "/api/v1/me/security/events", tag = "security", security(("bearer" = [])), params(LimitQuery),
    responses((status = 200, body = [SecurityEventView])))]
pub async fn security_events(
    State(s): State<AppState>,
    Auth(p): Auth,
    Query(q): Query<LimitQuery>,
) -> ApiResult<Json<Vec<SecurityEventView>>> {
    Ok(Json(
        security::events(&s.app, &p, q.limit.unwrap_or(50)).await?,
    ))
}

/// Open sessions of the account.
#[utoipa::path(get, path = "/api/v1/me/sessions", tag = "security", security(("bearer" = [])), responses((status = 200, body = [SessionView])))]
pub async fn list_sessions(
    State(s): State<AppState>,
    Auth(p): Auth,
) -> ApiResult<Json<Vec<SessionView>>> {
    Ok(Json(auth::list_sessions(&s.app, &p).await?))
}

/// End one session.
#[utoipa::path(delete, path = "/api/v1/me/sessions/{id}", tag = "security", security(("bearer" = [])),
    params(("id" = String, Path)), responses((status = 204), (status = 404, body = ErrorBody)))]
pub async fn revoke_session(
    State(s): State<AppState>,
    Ctx(ctx): Ctx,
    Auth(p): Auth,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    auth::revoke_session(&s.app, &p, &id, &ctx).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Serialize, ToSchema)]
pub struct RevokedCount {
    pub revoked: u64,
}

/// End every session but this one.
#[utoipa::path(post, path = "/api/v1/me/sessions/revoke-others", tag = "security", security(("bearer" = [])), responses((status = 200, body = RevokedCount)))]
pub async fn revoke_other_sessions(
    State(s): State<AppState>,
    Ctx(ctx): Ctx,
    Auth(p): Auth,
) -> ApiResult<Json<RevokedCount>> {
    Ok(Json(RevokedCount {
        revoked: auth::revoke_other_sessions(&s.app, &p, &ctx).await?,
    }))
}

/// Personal API tokens (never their secret).
#[utoipa::path(get, path = "/api/v1/me/tokens", tag = "tokens", security(("bearer" = [])), responses((status = 200, body = [ApiTokenView])))]
pub async fn list_tokens(
    State(s): State<AppState>,
    Auth(p): Auth,
) -> ApiResult<Json<Vec<ApiTokenView>>> {
    Ok(Json(auth::list_api_tokens(&s.app, &p).await?))
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct CreateTokenRequest {
    pub name: String,
    /// `read` or `write`.
    pub scope: String,
    /// 1 to 365 (default 90).
    pub expires_in_days: Option<i64>,
}

/// Create a personal API token; its secret is in this answer only.
#[utoipa::path(post, path = "/api/v1/me/tokens", tag = "tokens", security(("bearer" = [])), request_body = CreateTokenRequest,
    responses((status = 201, body = CreatedApiToken), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn create_token(
    State(s): State<AppState>,
    Ctx(ctx): Ctx,
    Auth(p): Auth,
    Json(r): Json<CreateTokenRequest>,
) -> ApiResult<(StatusCode, Json<CreatedApiToken>)> {
    let t = auth::create_api_token(
        &s.app,
        &p,
        &r.name,
        &r.scope,
        r.expires_in_days.unwrap_or(90),
        &ctx,
    )
    .await?;
    Ok((StatusCode::CREATED, Json(t)))
}

/// Revoke a personal API token.
#[utoipa::path(delete, path = "/api/v1/me/tokens/{id}", tag = "tokens", security(("bearer" = [])),
    params(("id" = String, Path)), responses((status = 204), (status = 404, body = ErrorBody)))]
pub async fn revoke_token(
    State(s): State<AppState>,
    Ctx(ctx): Ctx,
    Auth(p): Auth,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    auth::revoke_api_token(&s.app, &p, &id, &ctx).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Deserialize, IntoParams)]
pub struct PageQuery {
    /// From `next_cursor` of the previous page.
    pub cursor: Option<String>,
    /// 1 to 100 (default 20).
    pub limit: Option<i64>,
}

/// Service e-mails sent to the account, newest first, with their delivery status.
#[utoipa::path(get, path = "/api/v1/me/emails", tag = "emails", security(("bearer" = [])), params(PageQuery),
    responses((status = 200, body = EmailPage), (status = 400, body = ErrorBody)))]
pub async fn list_emails(
    State(s): State<AppState>,
    Auth(p): Auth,
    Query(q): Query<PageQuery>,
) -> ApiResult<Json<EmailPage>> {
    Ok(Json(
        mailbox::list(&s.app, &p, q.cursor.as_deref(), q.limit.unwrap_or(20)).await?,
    ))
}

/// One service e-mail, with its text and HTML bodies.
#[utoipa::path(get, path = "/api/v1/me/emails/{id}", tag = "emails", security(("bearer" = [])),
    params(("id" = String, Path)), responses((status = 200, body = EmailDetail), (status = 404, body = ErrorBody)))]
pub async fn get_email(
    State(s): State<AppState>,
    Auth(p): Auth,
    Path(id): Path<String>,
) -> ApiResult<Json<EmailDetail>> {
    Ok(Json(mailbox::get(&s.app, &p, &id).await?))
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct VerifyMailRequest {
    /// The reference printed at the bottom of the mail (`GC-XXXX-XXXX`) or its Message-ID.
    pub reference: String,
}

/// "Is this mail from us?"
#[utoipa::path(post, path = "/api/v1/me/emails/verify", tag = "emails", security(("bearer" = [])), request_body = VerifyMailRequest,
    responses((status = 200, body = VerifyMailView), (status = 422, body = ErrorBody)))]
pub async fn verify_mail(
    State(s): State<AppState>,
    Auth(p): Auth,
    Json(r): Json<VerifyMailRequest>,
) -> ApiResult<Json<VerifyMailView>> {
    Ok(Json(mailbox::verify(&s.app, &p, &r.reference).await?))
}

/// Which factors and contact points are set up.
#[utoipa::path(get, path = "/api/v1/me/security", tag = "security", security(("bearer" = [])),
    responses((status = 200, body = SecurityStatus)))]
pub async fn security_status(
    State(s): State<AppState>,
    Auth(p): Auth,
) -> ApiResult<Json<SecurityStatus>> {
    Ok(Json(factors::status(&s.app, &p).await?))
}

/// Start enrolling an authenticator app (needs a recent re-authentication).
#[utoipa::path(post, path = "/api/v1/me/security/totp", tag = "security", security(("bearer" = [])),
    responses((status = 200, body = TotpEnrolment), (status = 403, body = ErrorBody, description = "reauth_required")))]
pub async fn enrol_totp(
    State(s): State<AppState>,
    Auth(p): Auth,
) -> ApiResult<Json<TotpEnrolment>> {
    Ok(Json(factors::enrol_totp(&s.app, &p).await?))
}

/// Confirm the authenticator app with a code: two-factor log-in is on; ten backup codes are
/// returned, once.
#[utoipa::path(post, path = "/api/v1/me/security/totp/confirm", tag = "security", security(("bearer" = [])), request_body = CodeRequest,
    responses((status = 200, body = BackupCodes), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub async fn confirm_totp(
    State(s): State<AppState>,
    Ctx(ctx): Ctx,
    Auth(p): Auth,
    Json(r): Json<CodeRequest>,
) -> ApiResult<Json<BackupCodes>> {
    Ok(Json(
        factors::confirm_totp(&s.app, &p, &r.code, &ctx).await?,
    ))
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct DisableTotpRequest {
    pub password: String,
    /// A current code from the app, or a backup code.
    pub code: String,
}

/// Turn the authenticator app off (needs a recent re-authentication, the password and a code).
#[utoipa::path(delete, path = "/api/v1/me/security/totp", tag = "security", security(("bearer" = [])), request_body = DisableTotpRequest,
    responses((status = 204), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub async fn disable_totp(
    State(s): State<AppState>,
    Ctx(ctx): Ctx,
    Auth(p): Auth,
    Json(r): Json<DisableTotpRequest>,
) -> ApiResult<StatusCode> {
    factors::disable_totp(&s.app, &p, &r.password, &r.code, &ctx).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Replace the backup codes (needs a recent re-authentication).
#[utoipa::path(post, path = "/api/v1/me/security/backup-codes", tag = "security", security(("bearer" = [])),
    responses((status = 200, body = BackupCodes), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub async fn regenerate_backup_codes(
    State(s): State<AppState>,
    Ctx(ctx): Ctx,
    Auth(p): Auth,
) -> ApiResult<Json<BackupCodes>> {
    Ok(Json(
        factors::regenerate_backup_codes(&s.app, &p, &ctx).await?,
    ))
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct ReauthRequest {
    pub password: String,
    /// Required when a second factor is on: a code from the app or a backup code.
    pub code: Option<String>,
}

/// Prove the password (and second factor) again; sensitive changes are allowed for 5 minutes.
#[utoipa::path(post, path = "/api/v1/me/reauth", tag = "security", security(("bearer" = [])), request_body = ReauthRequest,
    responses((status = 204), (status = 403, body = ErrorBody), (status = 429, body = ErrorBody)))]
pub async fn reauth(
    State(s): State<AppState>,
    Ctx(ctx): Ctx,
    Auth(p): Auth,
    Json(r): Json<ReauthRequest>,
) -> ApiResult<StatusCode> {
    factors::reauthenticate(&s.app, &p, &r.password, r.code.as_deref(), &ctx).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Cancel a pending recovery of the second factor from a session.
#[utoipa::path(delete, path = "/api/v1/me/security/factor-recovery", tag = "security", security(("bearer" = [])),
    responses((status = 204), (status = 404, body = ErrorBody)))]
pub async fn cancel_factor_recovery(
    State(s): State<AppState>,
    Ctx(ctx): Ctx,
    Auth(p): Auth,
) -> ApiResult<StatusCode> {
    guichet_app::recovery::cancel_own(&s.app, &p, &ctx).await?;
    Ok(StatusCode::NO_CONTENT)
}
