//! Support tickets: the customer's side (`/api/v1/me/tickets`, scoped to the caller: another
//! account's ticket is a 404) and the operators' side (`/api/v1/admin/tickets`). Creating a
//! ticket and replying take JSON, or multipart/form-data when files are attached.

use crate::AppState;
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::extract::{Auth, Json, OperatorAuth};
use crate::routes::orders::file_response;
use crate::upload::{self, UPLOAD_LIMIT};
use axum::Router;
use axum::extract::{DefaultBodyLimit, FromRequest, Path, Query, Request, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::{get, post};
use guichet_app::tickets::{
    self, AdminFilter, NewTicket, OperatorReply, TicketSummary, TicketView, Upload,
};
use guichet_app::{AppError, ErrorKind};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route(
            "/api/v1/me/tickets",
            get(list_tickets)
                .post(create_ticket)
                .layer(DefaultBodyLimit::max(UPLOAD_LIMIT)),
        )
        .route("/api/v1/me/tickets/{id}", get(get_ticket))
        .route(
            "/api/v1/me/tickets/{id}/messages",
            post(reply).layer(DefaultBodyLimit::max(UPLOAD_LIMIT)),
        )
        .route("/api/v1/me/tickets/{id}/close", post(close))
        .route("/api/v1/me/tickets/{id}/reopen", post(reopen))
        .route(
            "/api/v1/me/tickets/{id}/attachments/{att}",
            get(download_attachment),
        )
        .route("/api/v1/admin/tickets", get(admin_list))
        .route("/api/v1/admin/tickets/{id}", get(admin_get))
        .route("/api/v1/admin/tickets/{id}/messages", post(admin_reply))
        .route("/api/v1/admin/tickets/{id}/state", post(admin_state))
        .route("/api/v1/admin/tickets/{id}/assign", post(admin_assign))
        .route(
            "/api/v1/admin/tickets/{id}/attachments/{att}",
            get(admin_download_attachment),
        )
}

/// The multipart form of a new ticket (or, with `message` and `file` only, of a reply).
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct TicketForm {
    category: String,
    subject: String,
    service_id: Option<String>,
    message: String,
    /// Up to 3 files (repeat the field), PDF, PNG or JPEG, 5 MiB each.
    #[schema(format = Binary, value_type = Vec<String>)]
    file: Vec<Vec<u8>>,
}

#[derive(Debug, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReplyBody {
    /// 1 to 10,000 characters.
    pub message: String,
}

/// The text fields and files of a JSON or multipart body.
async fn read_body(
    s: &AppState,
    req: Request,
) -> Result<(serde_json::Value, Vec<Upload>), ApiError> {
    if !upload::is_multipart(&req) {
        let Json(v) = Json::<serde_json::Value>::from_request(req, s)
            .await
            .map_err(|_| AppError::bad_request("malformed_json", "a JSON object is expected"))?;
        return Ok((v, Vec::new()));
    }
    let form = upload::read(req, s).await;
    if let Some(e) = form.error {
        return Err(e.into());
    }
    let mut fields = serde_json::Map::new();
    for (name, text) in form.fields {
        fields.insert(name, serde_json::Value::String(text));
    }
    Ok((serde_json::Value::Object(fields), form.files))
}

/// Decode the fields of `read_body` into `T`.
fn decode<T: serde::de::DeserializeOwned>(v: serde_json::Value) -> Result<T, ApiError> {
    serde_json::from_value(v)
        .map_err(|e| AppError::new(ErrorKind::Validation, "invalid_body", e.to_string()).into())
}

/// The account's tickets, most recent activity first.
#[utoipa::path(get, path = "/api/v1/me/tickets", tag = "support", security(("bearer" = [])),
    responses((status = 200, body = [TicketSummary]), (status = 401, body = ErrorBody)))]
pub async fn list_tickets(
    State(s): State<AppState>,
    Auth(p): Auth,
) -> ApiResult<Json<Vec<TicketSummary>>> {
    Ok(Json(tickets::list_mine(&s.app, &p.account_id).await?))
}

/// Open a ticket: JSON, or multipart/form-data with up to 3 files (PDF, PNG, JPEG, 5 MiB each).
#[utoipa::path(post, path = "/api/v1/me/tickets", tag = "support", security(("bearer" = [])),
    request_body(content((NewTicket = "application/json"), (TicketForm = "multipart/form-data"))),
    responses((status = 201, body = TicketView), (status = 400, body = ErrorBody), (status = 413, body = ErrorBody),
        (status = 415, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn create_ticket(
    State(s): State<AppState>,
    Auth(p): Auth,
    req: Request,
) -> ApiResult<(StatusCode, Json<TicketView>)> {
    let (fields, files) = read_body(&s, req).await?;
    let input: NewTicket = decode(fields)?;
    Ok((
        StatusCode::CREATED,
        Json(tickets::create(&s.app, &p.account, &input, &files).await?),
    ))
}

/// One ticket with its messages.
#[utoipa::path(get, path = "/api/v1/me/tickets/{id}", tag = "support", security(("bearer" = [])),
    params(("id" = String, Path)), responses((status = 200, body = TicketView), (status = 404, body = ErrorBody)))]
pub async fn get_ticket(
    State(s): State<AppState>,
    Auth(p): Auth,
    Path(id): Path<String>,
) -> ApiResult<Json<TicketView>> {
    Ok(Json(tickets::get(&s.app, Some(&p.account_id), &id).await?))
}

/// Reply: JSON `{message}`, or multipart/form-data with `message` and up to 3 files.
#[utoipa::path(post, path = "/api/v1/me/tickets/{id}/messages", tag = "support", security(("bearer" = [])),
    params(("id" = String, Path)),
    request_body(content((ReplyBody = "application/json"), (TicketForm = "multipart/form-data"))),
    responses((status = 200, body = TicketView), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody),
        (status = 413, body = ErrorBody), (status = 415, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn reply(
    State(s): State<AppState>,
    Auth(p): Auth,
    Path(id): Path<String>,
    req: Request,
) -> ApiResult<Json<TicketView>> {
    let (fields, files) = read_body(&s, req).await?;
    let b: ReplyBody = decode(fields)?;
    Ok(Json(
        tickets::reply(&s.app, &p.account, &id, &b.message, &files).await?,
    ))
}

/// Close the ticket (solved).
#[utoipa::path(post, path = "/api/v1/me/tickets/{id}/close", tag = "support", security(("bearer" = [])),
    params(("id" = String, Path)),
    responses((status = 200, body = TicketView), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn close(
    State(s): State<AppState>,
    Auth(p): Auth,
    Path(id): Path<String>,
) -> ApiResult<Json<TicketView>> {
    Ok(Json(tickets::close(&s.app, &p.account, &id).await?))
}

/// Reopen a closed ticket.
#[utoipa::path(post, path = "/api/v1/me/tickets/{id}/reopen", tag = "support", security(("bearer" = [])),
    params(("id" = String, Path)),
    responses((status = 200, body = TicketView), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn reopen(
    State(s): State<AppState>,
    Auth(p): Auth,
    Path(id): Path<String>,
) -> ApiResult<Json<TicketView>> {
    Ok(Json(tickets::reopen(&s.app, &p.account, &id).await?))
}

/// Download an attachment of one of the account's tickets.
#[utoipa::path(get, path = "/api/v1/me/tickets/{id}/attachments/{att}", tag = "support", security(("bearer" = [])),
    params(("id" = String, Path), ("att" = String, Path)),
    responses((status = 200, description = "The file"), (status = 404, body = ErrorBody)))]
pub async fn download_attachment(
    State(s): State<AppState>,
    Auth(p): Auth,
    Path((id, att)): Path<(String, String)>,
) -> ApiResult<Response> {
    let (a, bytes) = tickets::attachment(&s.app, Some(&p.account_id), &id, &att).await?;
    Ok(file_response(&a.content_type, &a.file_name, bytes))
}

#[derive(Debug, Deserialize, IntoParams)]
pub struct AdminTicketsQuery {
    /// `open`, `awaiting_customer`, `awaiting_provider` or `closed`.
    pub state: Option<String>,
    pub category: Option<String>,
    /// An account id.
    pub account: Option<String>,
    pub assignee: Option<String>,
    /// 1 to 500 (default 100).
    pub limit: Option<i64>,
}

/// Tickets of every account, filtered.
#[utoipa::path(get, path = "/api/v1/admin/tickets", tag = "admin", security(("operator" = [])), params(AdminTicketsQuery),
    responses((status = 200, body = [TicketSummary]), (status = 401, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn admin_list(
    State(s): State<AppState>,
    OperatorAuth(op): OperatorAuth,
    Query(q): Query<AdminTicketsQuery>,
) -> ApiResult<Json<Vec<TicketSummary>>> {
    op.require_role(&["support"])?;
    Ok(Json(
        tickets::list_admin(
            &s.app,
            &AdminFilter {
                state: q.state,
                category: q.category,
                account_id: q.account,
                assignee: q.assignee,
                limit: q.limit,
            },
        )
        .await?,
    ))
}

/// One ticket with its messages (operator names included).
#[utoipa::path(get, path = "/api/v1/admin/tickets/{id}", tag = "admin", security(("operator" = [])),
    params(("id" = String, Path)), responses((status = 200, body = TicketView), (status = 404, body = ErrorBody)))]
pub async fn admin_get(
    State(s): State<AppState>,
    OperatorAuth(op): OperatorAuth,
    Path(id): Path<String>,
) -> ApiResult<Json<TicketView>> {
    op.require_role(&["support"])?;
    Ok(Json(tickets::get(&s.app, None, &id).await?))
}

/// Answer the customer (mailed to them); the ticket then waits for the customer unless
/// another `state` is given.
#[utoipa::path(post, path = "/api/v1/admin/tickets/{id}/messages", tag = "admin", security(("operator" = [])),
    params(("id" = String, Path)), request_body = OperatorReply,
    responses((status = 200, body = TicketView), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn admin_reply(
    State(s): State<AppState>,
    OperatorAuth(op): OperatorAuth,
    Path(id): Path<String>,
    Json(b): Json<OperatorReply>,
) -> ApiResult<Json<TicketView>> {
    Ok(Json(tickets::operator_reply(&s.app, &op, &id, &b).await?))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StateBody {
    /// `open`, `awaiting_customer`, `awaiting_provider` or `closed`.
    pub state: String,
}

/// Change the state of a ticket.
#[utoipa::path(post, path = "/api/v1/admin/tickets/{id}/state", tag = "admin", security(("operator" = [])),
    params(("id" = String, Path)), request_body = StateBody,
    responses((status = 200, body = TicketView), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn admin_state(
    State(s): State<AppState>,
    OperatorAuth(op): OperatorAuth,
    Path(id): Path<String>,
    Json(b): Json<StateBody>,
) -> ApiResult<Json<TicketView>> {
    Ok(Json(tickets::set_state(&s.app, &op, &id, &b.state).await?))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AssignBody {
    /// An operator's name; `null` unassigns.
    pub assignee: Option<String>,
}

/// Assign the ticket to an operator.
#[utoipa::path(post, path = "/api/v1/admin/tickets/{id}/assign", tag = "admin", security(("operator" = [])),
    params(("id" = String, Path)), request_body = AssignBody,
    responses((status = 200, body = TicketView), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn admin_assign(
    State(s): State<AppState>,
    OperatorAuth(op): OperatorAuth,
    Path(id): Path<String>,
    Json(b): Json<AssignBody>,
) -> ApiResult<Json<TicketView>> {
    Ok(Json(
        tickets::assign(&s.app, &op, &id, b.assignee.as_deref()).await?,
    ))
}

/// Download an attachment of any ticket.
#[utoipa::path(get, path = "/api/v1/admin/tickets/{id}/attachments/{att}", tag = "admin", security(("operator" = [])),
    params(("id" = String, Path), ("att" = String, Path)),
    responses((status = 200, description = "The file"), (status = 404, body = ErrorBody)))]
pub async fn admin_download_attachment(
    State(s): State<AppState>,
    OperatorAuth(op): OperatorAuth,
    Path((id, att)): Path<(String, String)>,
) -> ApiResult<Response> {
    op.require_role(&["support"])?;
    let (a, bytes) = tickets::attachment(&s.app, None, &id, &att).await?;
    Ok(file_response(&a.content_type, &a.file_name, bytes))
}
