//! The three ways to manage the end of a service: renewal settings, termination at
//! expiration ("Résilier"), and deletion now confirmed by a mailed token.

use crate::AppState;
use crate::error::{ApiResult, ErrorBody};
use crate::extract::{Auth, Ctx, Json};
use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::routing::{post, put};
use guichet_app::renewals::{self, RenewInput};
use guichet_app::service_ending::{self, RenewalInput, TerminationInput};
use guichet_app::services::ServiceView;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/me/services/{id}/renewal", put(set_renewal))
        .route("/api/v1/me/services/{id}/renew", post(renew))
        .route(
            "/api/v1/me/services/{id}/termination",
            post(terminate).delete(cancel_termination),
        )
        .route("/api/v1/me/services/{id}/deletion", post(request_deletion))
        .route(
            "/api/v1/me/services/{id}/deletion/confirm",
            post(confirm_deletion),
        )
}

/// Automatic or manual renewal, and the period of the next renewals.
#[utoipa::path(put, path = "/api/v1/me/services/{id}/renewal", tag = "services", security(("bearer" = [])),
    params(("id" = String, Path)), request_body = RenewalInput,
    responses((status = 200, body = ServiceView), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn set_renewal(
    State(s): State<AppState>,
    Auth(p): Auth,
    Path(id): Path<String>,
    Json(b): Json<RenewalInput>,
) -> ApiResult<Json<ServiceView>> {
    Ok(Json(
        service_ending::set_renewal(&s.app, &p.account_id, &id, &b).await?,
    ))
}

/// Renew now, for one or more periods added to the expiration date (manual renewal, early
/// renewal, or paying a suspended service): the renewal order to pay. An unpaid renewal order
/// for the same periods is returned again. With an `Idempotency-Key` header, a retry with the
/// same key and body returns the first answer.
#[utoipa::path(post, path = "/api/v1/me/services/{id}/renew", tag = "services", security(("bearer" = [])),
    params(("id" = String, Path), ("Idempotency-Key" = Option<String>, Header, description = "Makes retries safe: same key and body → the stored answer")), request_body = RenewInput,
    responses((status = 201, body = guichet_app::orders::OrderView), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn renew(
    State(s): State<AppState>,
    Auth(p): Auth,
    Path(id): Path<String>,
    headers: HeaderMap,
    Json(b): Json<RenewInput>,
) -> ApiResult<Response> {
    let route = format!("POST /api/v1/me/services/{id}/renew");
    crate::idempotent::run(
        &s,
        &p.account_id,
        &headers,
        &route,
        &b,
        StatusCode::CREATED,
        || async { Ok(renewals::renew(&s.app, &p.account, &id, &b).await?) },
    )
    .await
}

/// "Résilier": end the service at its expiration date (a reason, an optional comment).
#[utoipa::path(post, path = "/api/v1/me/services/{id}/termination", tag = "services", security(("bearer" = [])),
    params(("id" = String, Path)), request_body = TerminationInput,
    responses((status = 200, body = ServiceView), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn terminate(
    State(s): State<AppState>,
    Auth(p): Auth,
    Path(id): Path<String>,
    Json(b): Json<TerminationInput>,
) -> ApiResult<Json<ServiceView>> {
    Ok(Json(
        service_ending::terminate(&s.app, &p.account, &id, &b).await?,
    ))
}

/// Cancel the termination (until 24 hours before the expiration date).
#[utoipa::path(delete, path = "/api/v1/me/services/{id}/termination", tag = "services", security(("bearer" = [])),
    params(("id" = String, Path)),
    responses((status = 200, body = ServiceView), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn cancel_termination(
    State(s): State<AppState>,
    Auth(p): Auth,
    Path(id): Path<String>,
) -> ApiResult<Json<ServiceView>> {
    Ok(Json(
        service_ending::cancel_termination(&s.app, &p.account, &id).await?,
    ))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct DeletionRequested {
    /// A confirmation token was mailed to the primary address (valid 72 hours, once).
    pub mailed: bool,
}

/// "Supprimer immédiatement", step one: a single-use confirmation token is mailed.
#[utoipa::path(post, path = "/api/v1/me/services/{id}/deletion", tag = "services", security(("bearer" = [])),
    params(("id" = String, Path)),
    responses((status = 202, body = DeletionRequested), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn request_deletion(
    State(s): State<AppState>,
    Auth(p): Auth,
    Path(id): Path<String>,
) -> ApiResult<(StatusCode, Json<DeletionRequested>)> {
    service_ending::request_deletion(&s.app, &p.account, &id).await?;
    Ok((
        StatusCode::ACCEPTED,
        Json(DeletionRequested { mailed: true }),
    ))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DeletionConfirm {
    /// The token from the mail (link or pasted).
    pub token: String,
}

/// Step two: the mailed token deletes the service at once (no refund).
#[utoipa::path(post, path = "/api/v1/me/services/{id}/deletion/confirm", tag = "services", security(("bearer" = [])),
    params(("id" = String, Path)), request_body = DeletionConfirm,
    responses((status = 200, body = ServiceView), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn confirm_deletion(
    State(s): State<AppState>,
    Auth(p): Auth,
    Ctx(ctx): Ctx,
    Path(id): Path<String>,
    Json(b): Json<DeletionConfirm>,
) -> ApiResult<Json<ServiceView>> {
    Ok(Json(
        service_ending::confirm_deletion(&s.app, &p.account, &id, &b.token, &ctx).await?,
    ))
}
