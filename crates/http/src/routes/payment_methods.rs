//! The customer's payment methods, and operators marking a bank transfer received.

use crate::AppState;
use crate::error::{ApiResult, ErrorBody};
use crate::extract::{Auth, Ctx, Json, OperatorAuth};
use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{delete, get, post};
use guichet_app::gateway::SetupIntentView;
use guichet_app::orders::OrderView;
use guichet_app::payment_methods::{self, MethodView, NewMethod};
use guichet_app::transfers;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route(
            "/api/v1/me/payment-methods",
            get(list_methods).post(add_method),
        )
        .route(
            "/api/v1/me/payment-methods/setup-intent",
            post(setup_intent),
        )
        .route("/api/v1/me/payment-methods/{id}", delete(delete_method))
        .route(
            "/api/v1/me/payment-methods/{id}/default",
            post(default_method),
        )
        .route(
            "/api/v1/admin/payments/{id}/transfer-received",
            post(transfer_received),
        )
}

/// The account's payment methods, default first, each with its status today.
#[utoipa::path(get, path = "/api/v1/me/payment-methods", tag = "payment-methods", security(("bearer" = [])),
    responses((status = 200, body = [MethodView]), (status = 401, body = ErrorBody)))]
pub async fn list_methods(
    State(s): State<AppState>,
    Auth(p): Auth,
) -> ApiResult<Json<Vec<MethodView>>> {
    Ok(Json(payment_methods::list(&s.app, &p.account_id).await?))
}

/// Register a card (a gateway token), a SEPA direct debit (IBAN + holder: the mandate is
/// signed now) or bank transfer. The first method becomes the default.
#[utoipa::path(post, path = "/api/v1/me/payment-methods", tag = "payment-methods", security(("bearer" = [])),
    request_body = NewMethod,
    responses((status = 201, body = MethodView), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn add_method(
    State(s): State<AppState>,
    Auth(p): Auth,
    Ctx(ctx): Ctx,
    Json(b): Json<NewMethod>,
) -> ApiResult<(StatusCode, Json<MethodView>)> {
    Ok((
        StatusCode::CREATED,
        Json(payment_methods::add(&s.app, &p.account_id, &b, &ctx).await?),
    ))
}

/// Start saving a card with Stripe: a SetupIntent of the account's Stripe customer. The card
/// form confirms its `client_secret` with Stripe.js (the number goes to Stripe, never here),
/// then registers the resulting `pm_…` with `POST /api/v1/me/payment-methods`
/// `{"kind": "card", "token": "pm_…"}`. With the sandbox gateway: `409
/// setup_intent_unsupported` (use `POST /api/v1/sandbox/gateway/tokens`); without a gateway:
/// `409 no_payment_gateway`; Stripe unreachable: `503 gateway_unavailable`.
#[utoipa::path(post, path = "/api/v1/me/payment-methods/setup-intent", tag = "payment-methods", security(("bearer" = [])),
    responses((status = 201, body = SetupIntentView), (status = 401, body = ErrorBody), (status = 409, body = ErrorBody), (status = 503, body = ErrorBody)))]
pub async fn setup_intent(
    State(s): State<AppState>,
    Auth(p): Auth,
) -> ApiResult<(StatusCode, Json<SetupIntentView>)> {
    Ok((
        StatusCode::CREATED,
        Json(payment_methods::setup_intent(&s.app, &p.account_id).await?),
    ))
}

/// Delete a payment method (its gateway token is dropped; a Stripe card is detached from
/// the customer).
#[utoipa::path(delete, path = "/api/v1/me/payment-methods/{id}", tag = "payment-methods", security(("bearer" = [])),
    params(("id" = String, Path)), responses((status = 204), (status = 404, body = ErrorBody)))]
pub async fn delete_method(
    State(s): State<AppState>,
    Auth(p): Auth,
    Ctx(ctx): Ctx,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    payment_methods::delete(&s.app, &p.account_id, &id, &ctx).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Make a method the default (charged for renewals and when a payment names none).
#[utoipa::path(post, path = "/api/v1/me/payment-methods/{id}/default", tag = "payment-methods", security(("bearer" = [])),
    params(("id" = String, Path)),
    responses((status = 200, body = MethodView), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn default_method(
    State(s): State<AppState>,
    Auth(p): Auth,
    Ctx(ctx): Ctx,
    Path(id): Path<String>,
) -> ApiResult<Json<MethodView>> {
    Ok(Json(
        payment_methods::make_default(&s.app, &p.account_id, &id, &ctx).await?,
    ))
}

/// The bank transfer of a payment arrived: the order is paid (invoice, delivery).
#[utoipa::path(post, path = "/api/v1/admin/payments/{id}/transfer-received", tag = "admin", security(("operator" = [])),
    params(("id" = String, Path)),
    responses((status = 200, body = OrderView), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn transfer_received(
    State(s): State<AppState>,
    OperatorAuth(op): OperatorAuth,
    Path(id): Path<String>,
) -> ApiResult<Json<OrderView>> {
    Ok(Json(transfers::mark_received(&s.app, &op, &id).await?))
}
