//! Guichet's HTTP surface: the JSON API under `/api/v1`, its OpenAPI document, and the
//! operations endpoints, and the customer panel (server-rendered HTML, `panel`). Handlers parse input, call one use case of `guichet-app`, and map its
//! answer; they never touch SQL.

mod error;
mod extract;
mod idempotent;
mod middleware;
pub mod openapi;
pub mod panel;
mod routes;
mod upload;

pub use error::{ApiError, ErrorBody};

use axum::Router;
use guichet_app::App;
use metrics_exporter_prometheus::PrometheusHandle;

/// Shared state of every handler.
#[derive(Clone)]
pub struct AppState {
    pub app: App,
    pub metrics: Option<PrometheusHandle>,
}

/// The whole HTTP application, with its middleware.
pub fn router(state: AppState) -> Router {
    middleware::wrap(routes::routes().merge(panel::routes()), state)
}
