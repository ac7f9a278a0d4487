//! Plan changes of a service (the priced options, the change, cancelling a pending
//! downgrade), the account credit balance, vouchers (redeemed on an order or into the
//! balance; operators create them), and operators' settings and adjustments for these. Every
//! customer query is scoped to the caller's account: another account's id answers 404.

use crate::AppState;
use crate::error::{ApiResult, ErrorBody};
use crate::extract::{Auth, Json, OperatorAuth};
use crate::idempotent;
use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::routing::{get, post, put};
use guichet_app::credit::{self, AdjustmentInput, CreditView};
use guichet_app::plan_changes::{
    self, PlanChangeInput, PlanChangeResult, PlanChangesView, ProductPlanChanges,
};
use guichet_app::vouchers::{self, RedeemInput, RedemptionView, VoucherBody, VoucherView};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route(
            "/api/v1/me/services/{id}/plan-changes",
            get(list_plan_changes),
        )
        .route(
            "/api/v1/me/services/{id}/plan-change",
            post(change_plan).delete(cancel_plan_change),
        )
        .route("/api/v1/me/credit", get(get_credit))
        .route("/api/v1/me/credit/vouchers", post(redeem_credit_voucher))
        .route("/api/v1/me/orders/{id}/voucher", post(redeem_order_voucher))
        .route("/api/v1/me/voucher-redemptions", get(list_redemptions))
        .route("/api/v1/me/voucher-redemptions/{id}", get(get_redemption))
        .route(
            "/api/v1/admin/vouchers",
            get(admin_list_vouchers).post(admin_create_voucher),
        )
        .route(
            "/api/v1/admin/accounts/{id}/credit",
            get(admin_get_credit).post(admin_adjust_credit),
        )
        .route(
            "/api/v1/admin/catalog/products/{code}/plan-changes",
            put(admin_product_plan_changes),
        )
}

/// The plans a service can move to (same product and period), each with the exact price of
/// the change today: the prorated difference charged now for an upgrade, the credit of an
/// immediate downgrade, or a downgrade at the next renewal. A simulation: nothing is written.
#[utoipa::path(get, path = "/api/v1/me/services/{id}/plan-changes", tag = "services", security(("bearer" = [])),
    params(("id" = String, Path)),
    responses((status = 200, body = PlanChangesView), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn list_plan_changes(
    State(s): State<AppState>,
    Auth(p): Auth,
    Path(id): Path<String>,
) -> ApiResult<Json<PlanChangesView>> {
    Ok(Json(plan_changes::options(&s.app, &p.account, &id).await?))
}

/// Change a service's plan. An upgrade answers its order (pay it like any order; the plan
/// changes once paid, the expiration stays); a downgrade waits for the next renewal, or takes
/// effect now with a credit where the product allows it. With an `Idempotency-Key` header, a
/// retry with the same key and body returns the first answer.
#[utoipa::path(post, path = "/api/v1/me/services/{id}/plan-change", tag = "services", security(("bearer" = [])),
    params(("id" = String, Path), ("Idempotency-Key" = Option<String>, Header, description = "Makes retries safe: same key and body → the stored answer")), request_body = PlanChangeInput,
    responses((status = 201, body = PlanChangeResult), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn change_plan(
    State(s): State<AppState>,
    Auth(p): Auth,
    Path(id): Path<String>,
    headers: HeaderMap,
    Json(b): Json<PlanChangeInput>,
) -> ApiResult<Response> {
    let route = format!("POST /api/v1/me/services/{id}/plan-change");
    idempotent::run(
        &s,
        &p.account_id,
        &headers,
        &route,
        &b,
        StatusCode::CREATED,
        || async { Ok(plan_changes::change(&s.app, &p.account, &id, &b).await?) },
    )
    .await
}

/// Cancel the downgrade waiting for the next renewal: the renewal is at the current plan's
/// price again.
#[utoipa::path(delete, path = "/api/v1/me/services/{id}/plan-change", tag = "services", security(("bearer" = [])),
    params(("id" = String, Path)),
    responses((status = 200, body = PlanChangesView), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn cancel_plan_change(
    State(s): State<AppState>,
    Auth(p): Auth,
    Path(id): Path<String>,
) -> ApiResult<Json<PlanChangesView>> {
    Ok(Json(
        plan_changes::cancel_pending(&s.app, &p.account, &id).await?,
    ))
}

/// The account's credit balance per currency and its movements. Credit pays an order first,
/// automatically, before its payment method is charged for the rest.
#[utoipa::path(get, path = "/api/v1/me/credit", tag = "credit", security(("bearer" = [])),
    responses((status = 200, body = CreditView), (status = 401, body = ErrorBody)))]
pub async fn get_credit(State(s): State<AppState>, Auth(p): Auth) -> ApiResult<Json<CreditView>> {
    Ok(Json(credit::get(&s.app, &p.account_id).await?))
}

/// Redeem a credit voucher into the balance. Each refusal has its own code
/// (`voucher_not_found`, `voucher_wrong_kind`, `voucher_not_yet_valid`, `voucher_expired`,
/// `voucher_exhausted`, `voucher_already_used`, `voucher_currency_mismatch`,
/// `voucher_first_order_only`). With an `Idempotency-Key` header, a retry returns the first
/// answer.
#[utoipa::path(post, path = "/api/v1/me/credit/vouchers", tag = "credit", security(("bearer" = [])),
    params(("Idempotency-Key" = Option<String>, Header, description = "Makes retries safe: same key and body → the stored answer")), request_body = RedeemInput,
    responses((status = 200, body = CreditView), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn redeem_credit_voucher(
    State(s): State<AppState>,
    Auth(p): Auth,
    headers: HeaderMap,
    Json(b): Json<RedeemInput>,
) -> ApiResult<Response> {
    idempotent::run(
        &s,
        &p.account_id,
        &headers,
        "POST /api/v1/me/credit/vouchers",
        &b,
        StatusCode::OK,
        || async { Ok(vouchers::redeem_credit(&s.app, &p.account, &b).await?) },
    )
    .await
}

/// Redeem a discount voucher on an unpaid order: a discount line per VAT rate, on the order
/// and its invoice. Refusals as for credit vouchers, plus `voucher_not_eligible`. With an
/// `Idempotency-Key` header, a retry returns the first answer.
#[utoipa::path(post, path = "/api/v1/me/orders/{id}/voucher", tag = "orders", security(("bearer" = [])),
    params(("id" = String, Path), ("Idempotency-Key" = Option<String>, Header, description = "Makes retries safe: same key and body → the stored answer")), request_body = RedeemInput,
    responses((status = 200, body = guichet_app::orders::OrderView), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn redeem_order_voucher(
    State(s): State<AppState>,
    Auth(p): Auth,
    Path(id): Path<String>,
    headers: HeaderMap,
    Json(b): Json<RedeemInput>,
) -> ApiResult<Response> {
    let route = format!("POST /api/v1/me/orders/{id}/voucher");
    idempotent::run(
        &s,
        &p.account_id,
        &headers,
        &route,
        &b,
        StatusCode::OK,
        || async { Ok(vouchers::redeem_on_order(&s.app, &p.account, &id, &b).await?) },
    )
    .await
}

/// The account's voucher redemptions, newest first.
#[utoipa::path(get, path = "/api/v1/me/voucher-redemptions", tag = "credit", security(("bearer" = [])),
    responses((status = 200, body = [RedemptionView]), (status = 401, body = ErrorBody)))]
pub async fn list_redemptions(
    State(s): State<AppState>,
    Auth(p): Auth,
) -> ApiResult<Json<Vec<RedemptionView>>> {
    Ok(Json(vouchers::redemptions(&s.app, &p.account_id).await?))
}

/// One voucher redemption of the account.
#[utoipa::path(get, path = "/api/v1/me/voucher-redemptions/{id}", tag = "credit", security(("bearer" = [])),
    params(("id" = String, Path)),
    responses((status = 200, body = RedemptionView), (status = 404, body = ErrorBody)))]
pub async fn get_redemption(
    State(s): State<AppState>,
    Auth(p): Auth,
    Path(id): Path<String>,
) -> ApiResult<Json<RedemptionView>> {
    Ok(Json(
        vouchers::redemption(&s.app, &p.account_id, &id).await?,
    ))
}

/// Every voucher (roles billing and support).
#[utoipa::path(get, path = "/api/v1/admin/vouchers", tag = "admin", security(("operator" = [])),
    responses((status = 200, body = [VoucherView]), (status = 403, body = ErrorBody)))]
pub async fn admin_list_vouchers(
    State(s): State<AppState>,
    OperatorAuth(op): OperatorAuth,
) -> ApiResult<Json<Vec<VoucherView>>> {
    Ok(Json(vouchers::list(&s.app, &op).await?))
}

/// Create a voucher (role billing; audited).
#[utoipa::path(post, path = "/api/v1/admin/vouchers", tag = "admin", security(("operator" = [])),
    request_body = VoucherBody,
    responses((status = 201, body = VoucherView), (status = 403, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn admin_create_voucher(
    State(s): State<AppState>,
    OperatorAuth(op): OperatorAuth,
    Json(b): Json<VoucherBody>,
) -> ApiResult<(StatusCode, Json<VoucherView>)> {
    Ok((
        StatusCode::CREATED,
        Json(vouchers::create(&s.app, &op, &b).await?),
    ))
}

/// An account's credit balance and movements.
#[utoipa::path(get, path = "/api/v1/admin/accounts/{id}/credit", tag = "admin", security(("operator" = [])),
    params(("id" = String, Path)),
    responses((status = 200, body = CreditView), (status = 404, body = ErrorBody)))]
pub async fn admin_get_credit(
    State(s): State<AppState>,
    OperatorAuth(_op): OperatorAuth,
    Path(id): Path<String>,
) -> ApiResult<Json<CreditView>> {
    Ok(Json(credit::get(&s.app, &id).await?))
}

/// Credit or debit an account's balance, with a reason shown to the customer (role billing;
/// audited). A debit never takes the balance below zero.
#[utoipa::path(post, path = "/api/v1/admin/accounts/{id}/credit", tag = "admin", security(("operator" = [])),
    params(("id" = String, Path)), request_body = AdjustmentInput,
    responses((status = 200, body = CreditView), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn admin_adjust_credit(
    State(s): State<AppState>,
    OperatorAuth(op): OperatorAuth,
    Path(id): Path<String>,
    Json(b): Json<AdjustmentInput>,
) -> ApiResult<Json<CreditView>> {
    Ok(Json(credit::adjust(&s.app, &op, &id, &b).await?))
}

/// Whether a product's downgrades take effect at once (with a credit of the unused days) or
/// at the next renewal (role billing; audited).
#[utoipa::path(put, path = "/api/v1/admin/catalog/products/{code}/plan-changes", tag = "admin", security(("operator" = [])),
    params(("code" = String, Path)), request_body = ProductPlanChanges,
    responses((status = 200, body = ProductPlanChanges), (status = 404, body = ErrorBody)))]
pub async fn admin_product_plan_changes(
    State(s): State<AppState>,
    OperatorAuth(op): OperatorAuth,
    Path(code): Path<String>,
    Json(b): Json<ProductPlanChanges>,
) -> ApiResult<Json<ProductPlanChanges>> {
    Ok(Json(
        plan_changes::set_product_settings(&s.app, &op, &code, &b).await?,
    ))
}
