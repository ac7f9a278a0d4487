//! Operator endpoints available so far: the audit log, the sandbox clock and the sandbox SMS log.

use crate::AppState;
use crate::error::{ApiResult, ErrorBody};
use crate::extract::{Json, OperatorAuth};
use axum::Router;
use axum::extract::{Query, State};
use axum::routing::get;
use guichet_app::AppError;
use guichet_app::clock::rfc3339;
use guichet_app::operators::{self, AuditView, ClockView};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/admin/audit", get(audit))
        .route("/api/v1/admin/clock", get(get_clock).post(move_clock))
        .route("/api/v1/admin/sandbox/sms", get(sandbox_sms))
}

#[derive(Debug, Deserialize, IntoParams)]
pub struct AuditQuery {
    /// 1 to 500 (default 100).
    pub limit: Option<i64>,
}

/// The audit log of operator actions, newest first.
#[utoipa::path(get, path = "/api/v1/admin/audit", tag = "admin", security(("operator" = [])), params(AuditQuery),
    responses((status = 200, body = [AuditView]), (status = 401, body = ErrorBody)))]
pub async fn audit(
    State(s): State<AppState>,
    OperatorAuth(_op): OperatorAuth,
    Query(q): Query<AuditQuery>,
) -> ApiResult<Json<Vec<AuditView>>> {
    Ok(Json(
        operators::list_audit(&s.app, q.limit.unwrap_or(100)).await?,
    ))
}

/// The application clock.
#[utoipa::path(get, path = "/api/v1/admin/clock", tag = "admin", security(("operator" = [])), responses((status = 200, body = ClockView)))]
pub async fn get_clock(
    State(s): State<AppState>,
    OperatorAuth(_op): OperatorAuth,
) -> ApiResult<Json<ClockView>> {
    Ok(Json(operators::clock_view(&s.app)))
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct ClockMove {
    /// Move to this instant (RFC 3339).
    pub now: Option<String>,
    /// Or move forward by this many seconds.
    pub advance_seconds: Option<i64>,
}

/// Move the clock forward (sandbox mode only) and run what falls due.
#[utoipa::path(post, path = "/api/v1/admin/clock", tag = "admin", security(("operator" = [])), request_body = ClockMove,
    responses((status = 200, body = ClockView), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub async fn move_clock(
    State(s): State<AppState>,
    OperatorAuth(op): OperatorAuth,
    Json(r): Json<ClockMove>,
) -> ApiResult<Json<ClockView>> {
    let target = match r.now.as_deref() {
        None => None,
        Some(t) => Some(
            t.parse::<jiff::Timestamp>()
                .map_err(|_| {
                    AppError::field(
                        "now",
                        "invalid_timestamp",
                        "an RFC 3339 instant is expected",
                    )
                })?
                .as_millisecond(),
        ),
    };
    Ok(Json(
        operators::move_clock(&s.app, &op, target, r.advance_seconds).await?,
    ))
}

#[derive(Debug, Deserialize, IntoParams)]
pub struct SmsQuery {
    /// Only texts to this number (E.164).
    pub phone: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SandboxSms {
    pub id: String,
    pub to: String,
    pub body: String,
    pub status: String,
    pub created_at: String,
}

/// Texts sent by the sandbox SMS sender (sandbox mode only), newest first.
#[utoipa::path(get, path = "/api/v1/admin/sandbox/sms", tag = "admin", security(("operator" = [])), params(SmsQuery),
    responses((status = 200, body = [SandboxSms]), (status = 403, body = ErrorBody)))]
pub async fn sandbox_sms(
    State(s): State<AppState>,
    OperatorAuth(op): OperatorAuth,
    Query(q): Query<SmsQuery>,
) -> ApiResult<Json<Vec<SandboxSms>>> {
    op.require_role(&["support"])?;
    if !s.app.config.sandbox {
        return Err(
            AppError::forbidden("not_sandbox", "texts are readable only in sandbox mode").into(),
        );
    }
    let mut c = s.app.db.conn().await.map_err(AppError::from)?;
    let rows = guichet_store::sms::latest(&mut c, q.phone.as_deref(), 100)
        .await
        .map_err(AppError::from)?;
    Ok(Json(
        rows.into_iter()
            .map(|m| SandboxSms {
                id: m.id,
                to: m.to_phone,
                body: m.body,
                status: m.status,
                created_at: rfc3339(m.created_at),
            })
            .collect(),
    ))
}
