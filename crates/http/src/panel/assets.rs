//! The panel's static files, embedded in the binary: the style sheet and the vendored htmx
//! 2.0.11 (BSD Zero-Clause, `assets/htmx-LICENSE.txt`). Their paths carry a version, so they
//! are cached for a year.

use crate::AppState;
use axum::Router;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::routing::get;

pub const CSS: &str = include_str!("../../assets/panel.css");
pub const HTMX: &str = include_str!("../../assets/htmx-2.0.11.min.js");

/// Bump `v` when the style sheet changes.
pub const CSS_PATH: &str = "/assets/panel.css?v=2";
pub const HTMX_PATH: &str = "/assets/htmx-2.0.11.min.js";

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

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/assets/panel.css", get(css))
        .route("/assets/htmx-2.0.11.min.js", get(htmx))
}
