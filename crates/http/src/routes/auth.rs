//! Sign-up, log-in and log-out, mailbox proofs and password reset.

use crate::AppState;
use crate::error::{ApiResult, ErrorBody};
use crate::extract::{Auth, Ctx, Json, SESSION_COOKIE};
use axum::Router;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use guichet_app::accounts::{self, AccountView, VerifiedView};
use guichet_app::auth::{self, LoginView};
use guichet_app::security;
use guichet_domain::account::{PostalAddress, SignupInput};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/signup", post(signup))
        .route("/api/v1/auth/login", post(login))
        .route("/api/v1/auth/login/sms", post(login_sms))
        .route("/api/v1/auth/factor-recovery", post(factor_recovery))
        .route(
            "/api/v1/auth/factor-recovery/confirm",
            post(factor_recovery_confirm),
        )
        .route(
            "/api/v1/auth/factor-recovery/cancel",
            post(factor_recovery_cancel),
        )
        .route(
            "/api/v1/auth/login/second-factor",
            post(login_second_factor),
        )
        .route("/api/v1/auth/logout", post(logout))
        .route("/api/v1/auth/verify-email", post(verify_email))
        .route(
            "/api/v1/auth/verify-email/resend",
            post(resend_verification),
        )
        .route("/api/v1/auth/password-reset", post(password_reset))
        .route(
            "/api/v1/auth/password-reset/confirm",
            post(password_reset_confirm),
        )
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct SignupRequest {
    pub email: String,
    /// 12 to 128 characters, not among the 10,000 most common passwords.
    pub password: String,
    pub first_name: String,
    pub last_name: String,
    /// ISO 3166-1 alpha-2, e.g. `FR`.
    pub country: String,
    /// `fr` or `en` (default from the country).
    pub language: Option<String>,
    /// `individual` (default) or `company`.
    pub kind: Option<String>,
    pub organisation: Option<String>,
    pub vat_number: Option<String>,
    pub address_line1: Option<String>,
    pub address_line2: Option<String>,
    pub postal_code: Option<String>,
    pub city: Option<String>,
    pub region: Option<String>,
}

/// Create an account; a verification mail is sent to the address.
#[utoipa::path(post, path = "/api/v1/signup", tag = "auth", request_body = SignupRequest,
    responses((status = 201, body = AccountView), (status = 409, body = ErrorBody, description = "email_taken"),
              (status = 422, body = ErrorBody, description = "validation failed")))]
pub async fn signup(
    State(s): State<AppState>,
    Ctx(ctx): Ctx,
    Json(r): Json<SignupRequest>,
) -> ApiResult<(StatusCode, Json<AccountView>)> {
    let input = SignupInput {
        email: r.email,
        password: r.password,
        first_name: r.first_name,
        last_name: r.last_name,
        country: r.country,
        language: r.language,
        kind: r.kind,
        organisation: r.organisation,
        vat_number: r.vat_number,
        phone: None,
        address: PostalAddress {
            line1: r.address_line1,
            line2: r.address_line2,
            postal_code: r.postal_code,
            city: r.city,
            region: r.region,
        },
    };
    let view = accounts::signup(&s.app, &input, &ctx).await?;
    Ok((StatusCode::CREATED, Json(view)))
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct LoginRequest {
    pub email: String,
    pub password: String,
}

pub(crate) fn session_cookie(s: &AppState, value: &str, max_age: i64) -> HeaderValue {
    let secure = if s.app.config.secure_cookies() {
        "; Secure"
    } else {
        ""
    };
    let v = format!(
        "{SESSION_COOKIE}={value}; Path=/; HttpOnly; SameSite=Lax; Max-Age={max_age}{secure}"
    );
    HeaderValue::from_str(&v)
        .unwrap_or_else(|_| HeaderValue::from_static("guichet_session=; Path=/; Max-Age=0"))
}

/// Log in; answers the session token and sets it as an HttpOnly cookie.
#[utoipa::path(post, path = "/api/v1/auth/login", tag = "auth", request_body = LoginRequest,
    responses((status = 200, body = LoginView), (status = 401, body = ErrorBody, description = "invalid_credentials"),
              (status = 403, body = ErrorBody, description = "email_not_verified")))]
pub async fn login(
    State(s): State<AppState>,
    Ctx(ctx): Ctx,
    Json(r): Json<LoginRequest>,
) -> ApiResult<Response> {
    let view = auth::login(&s.app, &r.email, &r.password, &ctx).await?;
    Ok(login_response(&s, view))
}

fn login_response(s: &AppState, view: LoginView) -> Response {
    let cookie = view
        .token
        .as_deref()
        .map(|t| session_cookie(s, t, s.app.config.session_absolute_secs));
    let mut resp = Json(view).into_response();
    if let Some(c) = cookie {
        resp.headers_mut().insert(header::SET_COOKIE, c);
    }
    resp
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct SecondFactorRequest {
    /// The `challenge` of the first step.
    pub challenge: String,
    /// A 6-digit code from the authenticator app, or a backup code (`XXXX-XXXX`).
    pub code: String,
}

/// Second step of a log-in when a second factor is on: opens the session.
#[utoipa::path(post, path = "/api/v1/auth/login/second-factor", tag = "auth", request_body = SecondFactorRequest,
    responses((status = 200, body = LoginView), (status = 401, body = ErrorBody, description = "invalid_code, invalid_challenge"),
              (status = 429, body = ErrorBody)))]
pub async fn login_second_factor(
    State(s): State<AppState>,
    Ctx(ctx): Ctx,
    Json(r): Json<SecondFactorRequest>,
) -> ApiResult<Response> {
    let view =
        guichet_app::factors::login_second_factor(&s.app, &r.challenge, &r.code, &ctx).await?;
    Ok(login_response(&s, view))
}

/// End the current session (its token and cookie stop working).
#[utoipa::path(post, path = "/api/v1/auth/logout", tag = "auth", security(("bearer" = [])),
    responses((status = 204), (status = 401, body = ErrorBody)))]
pub async fn logout(
    State(s): State<AppState>,
    Ctx(ctx): Ctx,
    Auth(p): Auth,
) -> ApiResult<Response> {
    auth::logout(&s.app, &p, &ctx).await?;
    let mut resp = StatusCode::NO_CONTENT.into_response();
    resp.headers_mut()
        .insert(header::SET_COOKIE, session_cookie(&s, "", 0));
    Ok(resp)
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct TokenRequest {
    /// The `token` query parameter of the mailed link.
    pub token: String,
}

/// Prove a mailbox with the token of a mailed link (sign-up, new primary address, backup address).
#[utoipa::path(post, path = "/api/v1/auth/verify-email", tag = "auth", request_body = TokenRequest,
    responses((status = 200, body = VerifiedView), (status = 400, body = ErrorBody, description = "invalid_token, token_used, token_expired")))]
pub async fn verify_email(
    State(s): State<AppState>,
    Ctx(ctx): Ctx,
    Json(r): Json<TokenRequest>,
) -> ApiResult<Json<VerifiedView>> {
    Ok(Json(accounts::verify_email(&s.app, &r.token, &ctx).await?))
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct EmailRequest {
    pub email: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Accepted {
    pub status: String,
}

fn accepted() -> (StatusCode, Json<Accepted>) {
    (
        StatusCode::ACCEPTED,
        Json(Accepted {
            status: "accepted".into(),
        }),
    )
}

/// Send the verification mail again. The answer is the same whether or not the address is known.
#[utoipa::path(post, path = "/api/v1/auth/verify-email/resend", tag = "auth", request_body = EmailRequest,
    responses((status = 202, body = Accepted), (status = 422, body = ErrorBody)))]
pub async fn resend_verification(
    State(s): State<AppState>,
    Ctx(ctx): Ctx,
    Json(r): Json<EmailRequest>,
) -> ApiResult<(StatusCode, Json<Accepted>)> {
    accounts::resend_verification(&s.app, &r.email, &ctx).await?;
    Ok(accepted())
}

/// Mail a password-reset link (valid 30 minutes) to the account's primary address, or to its
/// verified backup address when that is the address given. Same answer for unknown addresses.
#[utoipa::path(post, path = "/api/v1/auth/password-reset", tag = "auth", request_body = EmailRequest,
    responses((status = 202, body = Accepted), (status = 422, body = ErrorBody)))]
pub async fn password_reset(
    State(s): State<AppState>,
    Ctx(ctx): Ctx,
    Json(r): Json<EmailRequest>,
) -> ApiResult<(StatusCode, Json<Accepted>)> {
    security::request_password_reset(&s.app, &r.email, &ctx).await?;
    Ok(accepted())
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct ResetConfirmRequest {
    pub token: String,
    pub password: String,
}

/// Set a new password with the mailed token; every session ends.
#[utoipa::path(post, path = "/api/v1/auth/password-reset/confirm", tag = "auth", request_body = ResetConfirmRequest,
    responses((status = 204), (status = 400, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn password_reset_confirm(
    State(s): State<AppState>,
    Ctx(ctx): Ctx,
    Json(r): Json<ResetConfirmRequest>,
) -> ApiResult<StatusCode> {
    security::confirm_password_reset(&s.app, &r.token, &r.password, &ctx).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct ChallengeRequest {
    pub challenge: String,
}

/// During a two-step log-in, text a code to the verified phone (when `sms` is among the
/// challenge's methods); then send it to `/api/v1/auth/login/second-factor`.
#[utoipa::path(post, path = "/api/v1/auth/login/sms", tag = "auth", request_body = ChallengeRequest,
    responses((status = 202, body = Accepted), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 429, body = ErrorBody)))]
pub async fn login_sms(
    State(s): State<AppState>,
    Json(r): Json<ChallengeRequest>,
) -> ApiResult<(StatusCode, Json<Accepted>)> {
    guichet_app::factors::send_login_sms(&s.app, &r.challenge).await?;
    Ok(accepted())
}

/// Lost the second factor: prove the password; a link goes to the verified backup e-mail and
/// a code to the verified phone.
#[utoipa::path(post, path = "/api/v1/auth/factor-recovery", tag = "auth", request_body = LoginRequest,
    responses((status = 202, body = Accepted), (status = 401, body = ErrorBody), (status = 409, body = ErrorBody, description = "recovery_unavailable"),
              (status = 429, body = ErrorBody)))]
pub async fn factor_recovery(
    State(s): State<AppState>,
    Ctx(ctx): Ctx,
    Json(r): Json<LoginRequest>,
) -> ApiResult<(StatusCode, Json<Accepted>)> {
    guichet_app::recovery::request(&s.app, &r.email, &r.password, &ctx).await?;
    Ok(accepted())
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct RecoveryConfirmRequest {
    /// The `token` of the link mailed to the backup address.
    pub token: String,
    /// The code texted to the phone.
    pub code: String,
}

/// Confirm the recovery: the second factor is removed 72 hours later unless cancelled; both
/// addresses are told, with a link that cancels it.
#[utoipa::path(post, path = "/api/v1/auth/factor-recovery/confirm", tag = "auth", request_body = RecoveryConfirmRequest,
    responses((status = 200, body = guichet_app::recovery::RecoveryScheduled), (status = 400, body = ErrorBody)))]
pub async fn factor_recovery_confirm(
    State(s): State<AppState>,
    Ctx(ctx): Ctx,
    Json(r): Json<RecoveryConfirmRequest>,
) -> ApiResult<Json<guichet_app::recovery::RecoveryScheduled>> {
    Ok(Json(
        guichet_app::recovery::confirm(&s.app, &r.token, &r.code, &ctx).await?,
    ))
}

/// Cancel a pending recovery with the link of its notice.
#[utoipa::path(post, path = "/api/v1/auth/factor-recovery/cancel", tag = "auth", request_body = TokenRequest,
    responses((status = 204), (status = 400, body = ErrorBody)))]
pub async fn factor_recovery_cancel(
    State(s): State<AppState>,
    Ctx(ctx): Ctx,
    Json(r): Json<TokenRequest>,
) -> ApiResult<StatusCode> {
    guichet_app::recovery::cancel_by_token(&s.app, &r.token, &ctx).await?;
    Ok(StatusCode::NO_CONTENT)
}
