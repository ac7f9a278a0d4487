//! The panel's static files, embedded in the binary: the style sheet, the vendored htmx
//! 2.0.11 (BSD Zero-Clause, `assets/htmx-LICENSE.txt`) and the small script that drives
//! Stripe's card field. Their paths carry a version, so they are cached for a year.

use crate::AppState;
use axum::Router;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::routing::get;

pub const CSS: &str = include_str!("../../assets/panel.css");
pub const HTMX: &str = include_str!("../../assets/htmx-2.0.11.min.js");
pub const STRIPE_CARD: &str = include_str!("../../assets/stripe-card.js");

/// Bump `v` when the style sheet changes.
pub const CSS_PATH: &str = "/assets/panel.css?v=3";
pub const HTMX_PATH: &str = "/assets/htmx-2.0.11.min.js";
/// Bump `v` when the script changes.
pub const STRIPE_CARD_PATH: &str = "/assets/stripe-card.js?v=1";

fn asset(content_type: &'static str, body: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, content_type),
            (header::CACHE_CONTROL, "public, max-age=31536000, immutable"),
        ],
        body,
    )
        .into_response()
}

async fn css() -> Response {
    asset("text/css; charset=utf-8", CSS)
}

async fn htmx() -> Response {
    asset("text/javascript; charset=utf-8", HTMX)
}

async fn stripe_card() -> Response {
    asset("text/javascript; charset=utf-8", STRIPE_CARD)
}

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/assets/panel.css", get(css))
        .route("/assets/htmx-2.0.11.min.js", get(htmx))
        .route("/assets/stripe-card.js", get(stripe_card))
}
