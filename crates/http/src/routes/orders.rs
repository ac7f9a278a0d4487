//! The customer's orders (place, follow, pay, cancel, answer a documents request), services,
//! and the sandbox gateway's tokenisation endpoint. Every query is scoped to the caller's
//! account: another account's id answers 404.

use crate::AppState;
use crate::error::{ApiResult, ErrorBody};
use crate::extract::{Auth, Json};
use crate::idempotent;
use axum::Router;
use axum::body::Body;
use axum::extract::{DefaultBodyLimit, Multipart, Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::Response;
use axum::routing::{get, post};
use guichet_app::gateway::{self, SandboxToken};
use guichet_app::orders::{self, NewOrder, OrderQuote, OrderSummary, OrderView, QuoteInput};
use guichet_app::payments::{self, PayInput};
use guichet_app::services::{self, ServiceView};
use guichet_app::{AppError, documents};
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/me/orders", get(list_orders).post(create_order))
        .route("/api/v1/me/orders/quote", post(quote_order))
        .route("/api/v1/me/orders/{id}", get(get_order))
        .route("/api/v1/me/orders/{id}/pay", post(pay_order))
        .route("/api/v1/me/orders/{id}/cancel", post(cancel_order))
        .route(
            "/api/v1/me/orders/{id}/documents",
            post(send_documents).layer(DefaultBodyLimit::max(documents::MAX_BYTES + 64 * 1024)),
        )
        .route(
            "/api/v1/me/orders/{id}/documents/{doc}",
            get(download_document),
        )
        .route("/api/v1/me/services", get(list_services))
        .route("/api/v1/me/services/{id}", get(get_service))
        .route("/api/v1/sandbox/gateway/tokens", post(sandbox_token))
}

#[derive(Debug, Deserialize, IntoParams)]
pub struct OrdersQuery {
    /// Only orders in this status.
    pub status: Option<String>,
    /// 1 to 500 (default 100).
    pub limit: Option<i64>,
}

/// The account's orders, newest first, with their current step and any action required.
#[utoipa::path(get, path = "/api/v1/me/orders", tag = "orders", security(("bearer" = [])), params(OrdersQuery),
    responses((status = 200, body = [OrderSummary]), (status = 401, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn list_orders(
    State(s): State<AppState>,
    Auth(p): Auth,
    Query(q): Query<OrdersQuery>,
) -> ApiResult<Json<Vec<OrderSummary>>> {
    Ok(Json(
        orders::list(
            &s.app,
            Some(&p.account_id),
            q.status.as_deref().filter(|s| !s.is_empty()),
            q.limit.unwrap_or(100),
        )
        .await?,
    ))
}

/// Place an order from plan lines; it waits for its payment (default 7 days). With an
/// `Idempotency-Key` header, a retry with the same key and body returns the first answer.
#[utoipa::path(post, path = "/api/v1/me/orders", tag = "orders", security(("bearer" = [])), request_body = NewOrder,
    params(("Idempotency-Key" = Option<String>, Header, description = "Makes retries safe: same key and body → the stored answer")),
    responses((status = 201, body = OrderView), (status = 401, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn create_order(
    State(s): State<AppState>,
    Auth(p): Auth,
    headers: HeaderMap,
    Json(b): Json<NewOrder>,
) -> ApiResult<Response> {
    idempotent::run(
        &s,
        &p.account_id,
        &headers,
        "POST /api/v1/me/orders",
        &b,
        StatusCode::CREATED,
        || async { Ok(orders::create(&s.app, &p.account, &b).await?) },
    )
    .await
}

/// Price a new order without placing it: its lines and VAT as `POST /me/orders` would write
/// them now, a voucher's discount (checked with a redemption's rules, not used), and the
/// credit balance that paying would use first. Nothing is written.
#[utoipa::path(post, path = "/api/v1/me/orders/quote", tag = "orders", security(("bearer" = [])), request_body = QuoteInput,
    responses((status = 200, body = OrderQuote), (status = 401, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn quote_order(
    State(s): State<AppState>,
    Auth(p): Auth,
    Json(b): Json<QuoteInput>,
) -> ApiResult<Json<OrderQuote>> {
    Ok(Json(orders::quote(&s.app, &p.account, &b).await?))
}

/// One order: lines, totals, follow-up (step, history, action required), payments, documents.
#[utoipa::path(get, path = "/api/v1/me/orders/{id}", tag = "orders", security(("bearer" = [])),
    params(("id" = String, Path)), responses((status = 200, body = OrderView), (status = 404, body = ErrorBody)))]
pub async fn get_order(
    State(s): State<AppState>,
    Auth(p): Auth,
    Path(id): Path<String>,
) -> ApiResult<Json<OrderView>> {
    Ok(Json(orders::get(&s.app, Some(&p.account_id), &id).await?))
}

/// Pay an unpaid order with a gateway token. A payment in flight or done makes another
/// attempt a 409; a timeout leaves the payment `unknown` until the gateway is asked. With an
/// `Idempotency-Key` header, a retry with the same key and body returns the first answer.
#[utoipa::path(post, path = "/api/v1/me/orders/{id}/pay", tag = "orders", security(("bearer" = [])),
    params(("id" = String, Path), ("Idempotency-Key" = Option<String>, Header, description = "Makes retries safe: same key and body → the stored answer")), request_body = PayInput,
    responses((status = 200, body = OrderView), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn pay_order(
    State(s): State<AppState>,
    Auth(p): Auth,
    Path(id): Path<String>,
    headers: HeaderMap,
    Json(b): Json<PayInput>,
) -> ApiResult<Response> {
    let route = format!("POST /api/v1/me/orders/{id}/pay");
    idempotent::run(
        &s,
        &p.account_id,
        &headers,
        &route,
        &b,
        StatusCode::OK,
        || async { Ok(payments::pay_order(&s.app, &p.account_id, &id, &b).await?) },
    )
    .await
}

/// Cancel an order that is not paid yet.
#[utoipa::path(post, path = "/api/v1/me/orders/{id}/cancel", tag = "orders", security(("bearer" = [])),
    params(("id" = String, Path)),
    responses((status = 200, body = OrderView), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn cancel_order(
    State(s): State<AppState>,
    Auth(p): Auth,
    Path(id): Path<String>,
) -> ApiResult<Json<OrderView>> {
    Ok(Json(
        orders::cancel_by_customer(&s.app, &p.account, &id).await?,
    ))
}

/// The multipart form of a documents answer.
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct DocumentsForm {
    /// A message to the provider (optional, up to 2000 characters).
    message: Option<String>,
    /// One PDF, PNG or JPEG file, up to 5 MiB.
    #[schema(format = Binary, value_type = String)]
    file: Vec<u8>,
}

/// Answer a documents request: a message and one file (multipart/form-data).
#[utoipa::path(post, path = "/api/v1/me/orders/{id}/documents", tag = "orders", security(("bearer" = [])),
    params(("id" = String, Path)), request_body(content = DocumentsForm, content_type = "multipart/form-data"),
    responses((status = 200, body = OrderView), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody),
        (status = 413, body = ErrorBody), (status = 415, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn send_documents(
    State(s): State<AppState>,
    Auth(p): Auth,
    Path(id): Path<String>,
    mut form: Multipart,
) -> ApiResult<Json<OrderView>> {
    let bad_form = || AppError::bad_request("invalid_form", "a multipart form is expected");
    let mut message = String::new();
    let mut file: Option<(String, Vec<u8>)> = None;
    while let Some(field) = form.next_field().await.map_err(|_| bad_form())? {
        match field.name() {
            Some("message") => {
                message = field.text().await.map_err(|_| bad_form())?;
            }
            Some("file") => {
                let name = field.file_name().unwrap_or("document").to_owned();
                let bytes = field.bytes().await.map_err(|e| {
                    if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
                        AppError::new(
                            guichet_app::ErrorKind::PayloadTooLarge,
                            "file_too_large",
                            "documents are limited to 5 MiB",
                        )
                    } else {
                        bad_form()
                    }
                })?;
                file = Some((name, bytes.to_vec()));
            }
            _ => {}
        }
    }
    let (name, bytes) =
        file.ok_or_else(|| AppError::field("file", "file_required", "attach a document"))?;
    Ok(Json(
        documents::submit(&s.app, &p.account, &id, &message, &name, &bytes).await?,
    ))
}

/// Download a document this account sent.
#[utoipa::path(get, path = "/api/v1/me/orders/{id}/documents/{doc}", tag = "orders", security(("bearer" = [])),
    params(("id" = String, Path), ("doc" = String, Path)),
    responses((status = 200, description = "The file"), (status = 404, body = ErrorBody)))]
pub async fn download_document(
    State(s): State<AppState>,
    Auth(p): Auth,
    Path((id, doc)): Path<(String, String)>,
) -> ApiResult<Response> {
    let (d, bytes) = documents::read(&s.app, Some(&p.account_id), &id, &doc).await?;
    Ok(file_response(&d.content_type, &d.file_name, bytes))
}

/// A download: served as an attachment, never rendered inline.
pub fn file_response(content_type: &str, file_name: &str, bytes: Vec<u8>) -> Response {
    let safe: String = file_name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || ".-_".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect();
    Response::builder()
        .header(header::CONTENT_TYPE, content_type)
        .header(
            header::CONTENT_DISPOSITION,
            format!("attachment; filename=\"{safe}\""),
        )
        .body(Body::from(bytes))
        .unwrap_or_default()
}

/// The account's services, newest first.
#[utoipa::path(get, path = "/api/v1/me/services", tag = "services", security(("bearer" = [])),
    responses((status = 200, body = [ServiceView]), (status = 401, body = ErrorBody)))]
pub async fn list_services(
    State(s): State<AppState>,
    Auth(p): Auth,
) -> ApiResult<Json<Vec<ServiceView>>> {
    Ok(Json(services::list(&s.app, &p.account_id).await?))
}

/// One service.
#[utoipa::path(get, path = "/api/v1/me/services/{id}", tag = "services", security(("bearer" = [])),
    params(("id" = String, Path)), responses((status = 200, body = ServiceView), (status = 404, body = ErrorBody)))]
pub async fn get_service(
    State(s): State<AppState>,
    Auth(p): Auth,
    Path(id): Path<String>,
) -> ApiResult<Json<ServiceView>> {
    Ok(Json(services::get(&s.app, Some(&p.account_id), &id).await?))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CardBody {
    /// A test card number (see docs/payments.md).
    pub number: String,
    pub exp_month: i64,
    pub exp_year: i64,
    pub cvc: String,
}

/// Sandbox mode only: the sandbox gateway's tokenisation endpoint (what a hosted card field
/// posts to). Guichet's own API only ever sees the token.
#[utoipa::path(post, path = "/api/v1/sandbox/gateway/tokens", tag = "sandbox", request_body = CardBody,
    responses((status = 201, body = SandboxToken), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn sandbox_token(
    State(s): State<AppState>,
    Json(b): Json<CardBody>,
) -> ApiResult<(StatusCode, Json<SandboxToken>)> {
    Ok((
        StatusCode::CREATED,
        Json(gateway::sandbox_tokenize(&s.app, &b.number, b.exp_month, b.exp_year, &b.cvc).await?),
    ))
}
