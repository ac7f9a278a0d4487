//! The account-health checklist of the customer guide, as JSON (the panel's dashboard shows
//! the same list).

use crate::AppState;
use crate::error::{ApiResult, ErrorBody};
use crate::extract::{Auth, Json};
use axum::Router;
use axum::extract::State;
use axum::routing::get;
use guichet_app::health::{self, HealthView};

pub fn routes() -> Router<AppState> {
    Router::new().route("/api/v1/me/health", get(account_health))
}

/// The account-health checklist: each item, whether it is in order, and the panel page that
/// fixes it.
#[utoipa::path(get, path = "/api/v1/me/health", tag = "account", security(("bearer" = [])),
    responses((status = 200, body = HealthView), (status = 401, body = ErrorBody)))]
pub async fn account_health(
    State(s): State<AppState>,
    Auth(p): Auth,
) -> ApiResult<Json<HealthView>> {
    Ok(Json(health::checklist(&s.app, &p).await?))
}
