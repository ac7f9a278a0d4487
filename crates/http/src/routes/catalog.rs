//! The public catalog and its administration by operators.

use crate::AppState;
use crate::error::{ApiResult, ErrorBody};
use crate::extract::{Json, OperatorAuth};
use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::routing::{get, put};
use guichet_app::catalog::{self, ProductView};
use guichet_domain::catalog::{PlanInput, ProductInput};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use utoipa::{IntoParams, ToSchema};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/catalog", get(public_catalog))
        .route("/api/v1/admin/catalog", get(admin_catalog))
        .route(
            "/api/v1/admin/catalog/products/{code}",
            put(put_product).delete(delete_product),
        )
        .route(
            "/api/v1/admin/catalog/products/{code}/plans/{plan}",
            put(put_plan).delete(delete_plan),
        )
}

#[derive(Debug, Deserialize, IntoParams)]
pub struct CatalogQuery {
    /// Only plans priced in this currency (ISO 4217), e.g. `EUR`.
    pub currency: Option<String>,
}

/// What is for sale: active products and their active plans, with prices per currency.
#[utoipa::path(get, path = "/api/v1/catalog", tag = "catalog", params(CatalogQuery),
    responses((status = 200, body = [ProductView]), (status = 422, body = ErrorBody)))]
pub async fn public_catalog(
    State(s): State<AppState>,
    Query(q): Query<CatalogQuery>,
) -> ApiResult<Json<Vec<ProductView>>> {
    Ok(Json(
        catalog::list(&s.app, true, q.currency.as_deref()).await?,
    ))
}

/// The whole catalog, withdrawn products and plans included.
#[utoipa::path(get, path = "/api/v1/admin/catalog", tag = "admin", security(("operator" = [])),
    responses((status = 200, body = [ProductView]), (status = 401, body = ErrorBody)))]
pub async fn admin_catalog(
    State(s): State<AppState>,
    OperatorAuth(_op): OperatorAuth,
) -> ApiResult<Json<Vec<ProductView>>> {
    Ok(Json(catalog::list(&s.app, false, None).await?))
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct ProductBody {
    pub name: String,
    /// `vps`, `web_hosting`, `domain`, `dedicated_server`, `email` or `other`.
    pub category: String,
    pub description: Option<String>,
    /// Delivered at once by the built-in provisioner (default false).
    pub instant: Option<bool>,
    /// Default true.
    pub active: Option<bool>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Changed {
    /// False when the stored product or plan was already exactly this.
    pub changed: bool,
}

/// Create or replace a product.
#[utoipa::path(put, path = "/api/v1/admin/catalog/products/{code}", tag = "admin", security(("operator" = [])),
    params(("code" = String, Path)), request_body = ProductBody,
    responses((status = 200, body = Changed), (status = 422, body = ErrorBody)))]
pub async fn put_product(
    State(s): State<AppState>,
    OperatorAuth(op): OperatorAuth,
    Path(code): Path<String>,
    Json(b): Json<ProductBody>,
) -> ApiResult<Json<Changed>> {
    let input = ProductInput {
        code: code.clone(),
        name: b.name,
        category: b.category,
        description: b.description,
        instant: b.instant.unwrap_or(false),
        active: b.active.unwrap_or(true),
    };
    Ok(Json(Changed {
        changed: catalog::put_product(&s.app, &op, &code, input).await?,
    }))
}

/// Withdraw a product from sale (it stays for existing orders and services).
#[utoipa::path(delete, path = "/api/v1/admin/catalog/products/{code}", tag = "admin", security(("operator" = [])),
    params(("code" = String, Path)), responses((status = 204), (status = 404, body = ErrorBody)))]
pub async fn delete_product(
    State(s): State<AppState>,
    OperatorAuth(op): OperatorAuth,
    Path(code): Path<String>,
) -> ApiResult<StatusCode> {
    catalog::deactivate(&s.app, &op, &code, None).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct PlanBody {
    pub name: String,
    /// `P1M`, `P3M`, `P6M`, `P1Y`, `P2Y` or `P3Y`.
    pub period: String,
    /// Price per period by currency, in minor units, e.g. `{"EUR": 599}`.
    pub prices: BTreeMap<String, i64>,
    #[serde(default)]
    pub setup_fees: BTreeMap<String, i64>,
    /// `standard` (default), `reduced` or `exempt`.
    pub tax_category: Option<String>,
    /// Default true.
    pub manual_renewal_allowed: Option<bool>,
    /// Default true.
    pub active: Option<bool>,
}

/// Create or replace a plan of a product.
#[utoipa::path(put, path = "/api/v1/admin/catalog/products/{code}/plans/{plan}", tag = "admin", security(("operator" = [])),
    params(("code" = String, Path), ("plan" = String, Path)), request_body = PlanBody,
    responses((status = 200, body = Changed), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn put_plan(
    State(s): State<AppState>,
    OperatorAuth(op): OperatorAuth,
    Path((code, plan)): Path<(String, String)>,
    Json(b): Json<PlanBody>,
) -> ApiResult<Json<Changed>> {
    let input = PlanInput {
        code: plan.clone(),
        name: b.name,
        period: b.period,
        prices: b.prices,
        setup_fees: b.setup_fees,
        tax_category: b.tax_category.unwrap_or_else(|| "standard".into()),
        manual_renewal_allowed: b.manual_renewal_allowed.unwrap_or(true),
        active: b.active.unwrap_or(true),
    };
    Ok(Json(Changed {
        changed: catalog::put_plan(&s.app, &op, &code, &plan, input).await?,
    }))
}

/// Withdraw a plan from sale.
#[utoipa::path(delete, path = "/api/v1/admin/catalog/products/{code}/plans/{plan}", tag = "admin", security(("operator" = [])),
    params(("code" = String, Path), ("plan" = String, Path)), responses((status = 204), (status = 404, body = ErrorBody)))]
pub async fn delete_plan(
    State(s): State<AppState>,
    OperatorAuth(op): OperatorAuth,
    Path((code, plan)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    catalog::deactivate(&s.app, &op, &code, Some(&plan)).await?;
    Ok(StatusCode::NO_CONTENT)
}
