//! Operators on orders and delivery: the order list and follow-up, documents requests and
//! review, cancellation, the provisioning system's delivery report, and the webhook delivery
//! log with replays. Every change is audited.

use crate::AppState;
use crate::error::{ApiResult, ErrorBody};
use crate::extract::{Json, OperatorAuth};
use crate::routes::orders::file_response;
use axum::Router;
use axum::extract::{Path, Query, State};
use axum::response::Response;
use axum::routing::{get, post};
use guichet_app::documents;
use guichet_app::fulfilment::{self, DeliveryReport};
use guichet_app::orders::{self, OrderSummary, OrderView};
use guichet_app::provisioning::{self, WebhookEventView};
use guichet_app::services::{self, ServiceView};
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/admin/orders", get(list_orders))
        .route("/api/v1/admin/orders/{id}", get(get_order))
        .route("/api/v1/admin/orders/{id}/delivery", post(delivery))
        .route(
            "/api/v1/admin/orders/{id}/documents-request",
            post(documents_request),
        )
        .route(
            "/api/v1/admin/orders/{id}/documents/{doc}",
            get(download_document),
        )
        .route("/api/v1/admin/orders/{id}/validate", post(validate))
        .route("/api/v1/admin/orders/{id}/cancel", post(cancel))
        .route("/api/v1/admin/services/{id}", get(get_service))
        .route("/api/v1/admin/webhooks", get(list_webhooks))
        .route("/api/v1/admin/webhooks/{id}", get(get_webhook))
        .route("/api/v1/admin/webhooks/{id}/replay", post(replay_webhook))
}

#[derive(Debug, Deserialize, IntoParams)]
pub struct AdminOrdersQuery {
    pub status: Option<String>,
    /// 1 to 500 (default 100).
    pub limit: Option<i64>,
}

/// Every order, newest first.
#[utoipa::path(get, path = "/api/v1/admin/orders", tag = "admin", security(("operator" = [])), params(AdminOrdersQuery),
    responses((status = 200, body = [OrderSummary]), (status = 401, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn list_orders(
    State(s): State<AppState>,
    OperatorAuth(_op): OperatorAuth,
    Query(q): Query<AdminOrdersQuery>,
) -> ApiResult<Json<Vec<OrderSummary>>> {
    Ok(Json(
        orders::list(
            &s.app,
            None,
            q.status.as_deref().filter(|s| !s.is_empty()),
            q.limit.unwrap_or(100),
        )
        .await?,
    ))
}

/// One order with its follow-up.
#[utoipa::path(get, path = "/api/v1/admin/orders/{id}", tag = "admin", security(("operator" = [])),
    params(("id" = String, Path)), responses((status = 200, body = OrderView), (status = 404, body = ErrorBody)))]
pub async fn get_order(
    State(s): State<AppState>,
    OperatorAuth(_op): OperatorAuth,
    Path(id): Path<String>,
) -> ApiResult<Json<OrderView>> {
    Ok(Json(orders::get(&s.app, None, &id).await?))
}

/// The provisioning system reports a delivery: `done` (with each service's details) creates
/// the services, `failed` (with a reason) shows on the follow-up. A repeated `done` is a no-op.
#[utoipa::path(post, path = "/api/v1/admin/orders/{id}/delivery", tag = "admin", security(("operator" = [])),
    params(("id" = String, Path)), request_body = DeliveryReport,
    responses((status = 200, body = OrderView), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn delivery(
    State(s): State<AppState>,
    OperatorAuth(op): OperatorAuth,
    Path(id): Path<String>,
    Json(b): Json<DeliveryReport>,
) -> ApiResult<Json<OrderView>> {
    Ok(Json(
        fulfilment::report_delivery(&s.app, &op, &id, &b).await?,
    ))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DocumentsRequestBody {
    /// What the customer must send (shown and mailed to them).
    pub instructions: String,
    /// Days the customer has (1 to 90, default 14).
    pub due_days: Option<i64>,
}

/// Ask the customer for documents before delivery.
#[utoipa::path(post, path = "/api/v1/admin/orders/{id}/documents-request", tag = "admin", security(("operator" = [])),
    params(("id" = String, Path)), request_body = DocumentsRequestBody,
    responses((status = 200, body = OrderView), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn documents_request(
    State(s): State<AppState>,
    OperatorAuth(op): OperatorAuth,
    Path(id): Path<String>,
    Json(b): Json<DocumentsRequestBody>,
) -> ApiResult<Json<OrderView>> {
    Ok(Json(
        fulfilment::request_documents(&s.app, &op, &id, &b.instructions, b.due_days).await?,
    ))
}

/// Download a document a customer sent.
#[utoipa::path(get, path = "/api/v1/admin/orders/{id}/documents/{doc}", tag = "admin", security(("operator" = [])),
    params(("id" = String, Path), ("doc" = String, Path)),
    responses((status = 200, description = "The file"), (status = 404, body = ErrorBody)))]
pub async fn download_document(
    State(s): State<AppState>,
    OperatorAuth(_op): OperatorAuth,
    Path((id, doc)): Path<(String, String)>,
) -> ApiResult<Response> {
    let (d, bytes) = documents::read(&s.app, None, &id, &doc).await?;
    Ok(file_response(&d.content_type, &d.file_name, bytes))
}

/// Validate an order being checked (after its documents): delivery starts.
#[utoipa::path(post, path = "/api/v1/admin/orders/{id}/validate", tag = "admin", security(("operator" = [])),
    params(("id" = String, Path)),
    responses((status = 200, body = OrderView), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn validate(
    State(s): State<AppState>,
    OperatorAuth(op): OperatorAuth,
    Path(id): Path<String>,
) -> ApiResult<Json<OrderView>> {
    Ok(Json(fulfilment::validate(&s.app, &op, &id).await?))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CancelBody {
    /// Told to the customer.
    pub reason: String,
}

/// Cancel (refuse) an order that is not delivered.
#[utoipa::path(post, path = "/api/v1/admin/orders/{id}/cancel", tag = "admin", security(("operator" = [])),
    params(("id" = String, Path)), request_body = CancelBody,
    responses((status = 200, body = OrderView), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn cancel(
    State(s): State<AppState>,
    OperatorAuth(op): OperatorAuth,
    Path(id): Path<String>,
    Json(b): Json<CancelBody>,
) -> ApiResult<Json<OrderView>> {
    Ok(Json(
        fulfilment::cancel_by_operator(&s.app, &op, &id, &b.reason).await?,
    ))
}

/// One service, whoever owns it.
#[utoipa::path(get, path = "/api/v1/admin/services/{id}", tag = "admin", security(("operator" = [])),
    params(("id" = String, Path)), responses((status = 200, body = ServiceView), (status = 404, body = ErrorBody)))]
pub async fn get_service(
    State(s): State<AppState>,
    OperatorAuth(_op): OperatorAuth,
    Path(id): Path<String>,
) -> ApiResult<Json<ServiceView>> {
    Ok(Json(services::get(&s.app, None, &id).await?))
}

#[derive(Debug, Deserialize, IntoParams)]
pub struct WebhooksQuery {
    /// `pending`, `delivered`, `failed` or `not_configured`.
    pub status: Option<String>,
    /// Events about this order or service.
    pub subject: Option<String>,
    /// 1 to 500 (default 100).
    pub limit: Option<i64>,
}

/// The webhook delivery log, newest first.
#[utoipa::path(get, path = "/api/v1/admin/webhooks", tag = "admin", security(("operator" = [])), params(WebhooksQuery),
    responses((status = 200, body = [WebhookEventView]), (status = 401, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn list_webhooks(
    State(s): State<AppState>,
    OperatorAuth(_op): OperatorAuth,
    Query(q): Query<WebhooksQuery>,
) -> ApiResult<Json<Vec<WebhookEventView>>> {
    Ok(Json(
        provisioning::list(
            &s.app,
            q.status.as_deref().filter(|s| !s.is_empty()),
            q.subject.as_deref().filter(|s| !s.is_empty()),
            q.limit.unwrap_or(100),
        )
        .await?,
    ))
}

/// One event with every delivery attempt.
#[utoipa::path(get, path = "/api/v1/admin/webhooks/{id}", tag = "admin", security(("operator" = [])),
    params(("id" = String, Path)), responses((status = 200, body = WebhookEventView), (status = 404, body = ErrorBody)))]
pub async fn get_webhook(
    State(s): State<AppState>,
    OperatorAuth(_op): OperatorAuth,
    Path(id): Path<String>,
) -> ApiResult<Json<WebhookEventView>> {
    Ok(Json(provisioning::get(&s.app, &id).await?))
}

/// Send an event again now, with the same id and body.
#[utoipa::path(post, path = "/api/v1/admin/webhooks/{id}/replay", tag = "admin", security(("operator" = [])),
    params(("id" = String, Path)),
    responses((status = 200, body = WebhookEventView), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn replay_webhook(
    State(s): State<AppState>,
    OperatorAuth(op): OperatorAuth,
    Path(id): Path<String>,
) -> ApiResult<Json<WebhookEventView>> {
    Ok(Json(provisioning::replay(&s.app, &op, &id).await?))
}
