//! Account closure and the personal-data export: the blockers, the re-authenticated request
//! confirmed by a mailed token, the erasure, the ZIP export, and the operators' view of the
//! erasure records.

use crate::AppState;
use crate::error::{ApiResult, ErrorBody};
use crate::extract::{Auth, Ctx, Json, OperatorAuth};
use crate::routes::orders::file_response;
use axum::Router;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::{get, post};
use guichet_app::closure::{self, ClosedView, ClosureRecordView, ClosureStatus};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route(
            "/api/v1/me/closure",
            get(closure_status).post(request_closure),
        )
        .route("/api/v1/me/closure/confirm", post(confirm_closure))
        .route("/api/v1/me/export", get(export))
        .route("/api/v1/admin/closures", get(admin_closures))
}

/// What prevents closing the account: each active or suspended service, each unpaid order,
/// each order in progress, with its own code and a link.
#[utoipa::path(get, path = "/api/v1/me/closure", tag = "closure", security(("bearer" = [])),
    responses((status = 200, body = ClosureStatus), (status = 401, body = ErrorBody)))]
pub async fn closure_status(
    State(s): State<AppState>,
    Auth(p): Auth,
) -> ApiResult<Json<ClosureStatus>> {
    Ok(Json(closure::status(&s.app, &p.account_id).await?))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ClosureRequested {
    /// A confirmation token was mailed to the primary address (valid 24 hours, once).
    pub mailed: bool,
}

/// Ask to close the account (re-authentication required): a confirmation token is mailed.
#[utoipa::path(post, path = "/api/v1/me/closure", tag = "closure", security(("bearer" = [])),
    responses((status = 202, body = ClosureRequested), (status = 403, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn request_closure(
    State(s): State<AppState>,
    Auth(p): Auth,
) -> ApiResult<(StatusCode, Json<ClosureRequested>)> {
    closure::request(&s.app, &p).await?;
    Ok((
        StatusCode::ACCEPTED,
        Json(ClosureRequested { mailed: true }),
    ))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ClosureConfirm {
    /// The token from the mail (link or pasted).
    pub token: String,
}

/// Confirm with the mailed token: the account is closed and its personal data erased
/// (invoices and credit notes are kept). Every session and token ends.
#[utoipa::path(post, path = "/api/v1/me/closure/confirm", tag = "closure", security(("bearer" = [])),
    request_body = ClosureConfirm,
    responses((status = 200, body = ClosedView), (status = 400, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn confirm_closure(
    State(s): State<AppState>,
    Auth(p): Auth,
    Ctx(ctx): Ctx,
    Json(b): Json<ClosureConfirm>,
) -> ApiResult<Json<ClosedView>> {
    Ok(Json(closure::confirm(&s.app, &p, &b.token, &ctx).await?))
}

/// Every personal record of the account, as JSON files in a ZIP (with invoice PDFs and
/// ticket attachments).
#[utoipa::path(get, path = "/api/v1/me/export", tag = "closure", security(("bearer" = [])),
    responses((status = 200, description = "ZIP archive", content_type = "application/zip"), (status = 401, body = ErrorBody)))]
pub async fn export(State(s): State<AppState>, Auth(p): Auth) -> ApiResult<Response> {
    let bytes = guichet_app::export::export(&s.app, &p).await?;
    Ok(file_response(
        "application/zip",
        &format!("{}-export.zip", p.account.customer_code),
        bytes,
    ))
}

#[derive(Debug, Deserialize, IntoParams)]
pub struct ClosuresQuery {
    /// 1 to 500 (default 100).
    pub limit: Option<i64>,
}

/// Closed accounts: the erasure records (what was erased and when; no personal data).
#[utoipa::path(get, path = "/api/v1/admin/closures", tag = "admin", security(("operator" = [])), params(ClosuresQuery),
    responses((status = 200, body = [ClosureRecordView]), (status = 401, body = ErrorBody)))]
pub async fn admin_closures(
    State(s): State<AppState>,
    OperatorAuth(op): OperatorAuth,
    Query(q): Query<ClosuresQuery>,
) -> ApiResult<Json<Vec<ClosureRecordView>>> {
    Ok(Json(
        closure::list(&s.app, &op, q.limit.unwrap_or(100)).await?,
    ))
}
