//! The layers around every route: request ids, structured request logs, Prometheus metrics,
//! a body size limit, security headers, JSON answers for unknown paths, wrong methods and
//! panics.

use crate::AppState;
use crate::error::json_error;
use axum::Router;
use axum::extract::{DefaultBodyLimit, MatchedPath, Request};
use axum::http::{HeaderName, HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::Response;
use std::time::Instant;
use tower::ServiceBuilder;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::request_id::{
    MakeRequestUuid, PropagateRequestIdLayer, RequestId, SetRequestIdLayer,
};
use tower_http::set_header::SetResponseHeaderLayer;
use tower_http::trace::TraceLayer;

/// Largest accepted request body (JSON API).
pub const BODY_LIMIT: usize = 64 * 1024;

static X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

async fn record_metrics(req: Request, next: Next) -> Response {
    let start = Instant::now();
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_else(|| "unmatched".to_owned());
    let method = req.method().to_string();
    let resp = next.run(req).await;
    let status = resp.status().as_u16().to_string();
    let labels = [("method", method), ("route", route), ("status", status)];
    metrics::counter!("guichet_http_requests_total", &labels).increment(1);
    metrics::histogram!("guichet_http_request_duration_seconds", &labels)
        .record(start.elapsed().as_secs_f64());
    resp
}

fn panic_response(_: Box<dyn std::any::Any + Send + 'static>) -> Response {
    tracing::error!("handler panicked");
    json_error(
        StatusCode::INTERNAL_SERVER_ERROR,
        "internal_error",
        "internal error",
    )
}

async fn not_found() -> Response {
    json_error(StatusCode::NOT_FOUND, "not_found", "no such resource")
}

/// Turn axum's own plain-text rejections (bad query string or path parameter, wrong method,
/// body too large…) into our JSON error body, so every 4xx has a `code`.
async fn json_rejections(req: Request, next: Next) -> Response {
    let resp = next.run(req).await;
    let status = resp.status();
    // JSON answers, and the panel's own HTML error pages, are already what they should be.
    let is_ours = resp
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json") || v.starts_with("text/html"));
    if !status.is_client_error() || is_ours {
        return resp;
    }
    let allow = resp.headers().get(header::ALLOW).cloned();
    let text = match axum::body::to_bytes(resp.into_body(), 4096).await {
        Ok(b) => String::from_utf8_lossy(&b).into_owned(),
        Err(_) => String::new(),
    };
    let code = match status {
        StatusCode::METHOD_NOT_ALLOWED => "method_not_allowed",
        StatusCode::PAYLOAD_TOO_LARGE => "payload_too_large",
        StatusCode::UNSUPPORTED_MEDIA_TYPE => "unsupported_media_type",
        StatusCode::NOT_FOUND => "not_found",
        _ => "invalid_request",
    };
    let message = if text.trim().is_empty() {
        status
            .canonical_reason()
            .unwrap_or("bad request")
            .to_lowercase()
    } else {
        text
    };
    let mut r = json_error(status, code, &message);
    if let Some(a) = allow {
        r.headers_mut().insert(header::ALLOW, a);
    }
    r
}

/// HSTS when the public URL is HTTPS (the panel is then always served over TLS).
async fn hsts(
    axum::extract::State(on): axum::extract::State<bool>,
    req: Request,
    next: Next,
) -> Response {
    let mut resp = next.run(req).await;
    if on {
        resp.headers_mut().insert(
            header::STRICT_TRANSPORT_SECURITY,
            HeaderValue::from_static("max-age=63072000; includeSubDomains"),
        );
    }
    resp
}

pub fn wrap(routes: Router<AppState>, state: AppState) -> Router {
    let tls = state.app.config.secure_cookies();
    let trace = TraceLayer::new_for_http().make_span_with(|req: &Request| {
        let id = req
            .extensions()
            .get::<RequestId>()
            .and_then(|r| r.header_value().to_str().ok())
            .unwrap_or("-")
            .to_owned();
        tracing::info_span!("request", request_id = %id, method = %req.method(), path = %req.uri().path())
    });
    let headers = ServiceBuilder::new()
        .layer(SetResponseHeaderLayer::if_not_present(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ))
        .layer(SetResponseHeaderLayer::if_not_present(
            header::REFERRER_POLICY,
            HeaderValue::from_static("same-origin"),
        ))
        .layer(SetResponseHeaderLayer::if_not_present(
            header::X_FRAME_OPTIONS,
            HeaderValue::from_static("DENY"),
        ))
        .layer(SetResponseHeaderLayer::if_not_present(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(
                "default-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
            ),
        ))
        .layer(SetResponseHeaderLayer::if_not_present(
            header::CACHE_CONTROL,
            HeaderValue::from_static("no-store"),
        ));
    routes
        .fallback(not_found)
        .layer(middleware::from_fn(json_rejections))
        .layer(middleware::from_fn(record_metrics))
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        .layer(headers)
        .layer(middleware::from_fn_with_state(tls, hsts))
        .layer(CatchPanicLayer::custom(panic_response))
        .layer(
            ServiceBuilder::new()
                .layer(SetRequestIdLayer::new(
                    X_REQUEST_ID.clone(),
                    MakeRequestUuid,
                ))
                .layer(trace)
                .layer(PropagateRequestIdLayer::new(X_REQUEST_ID.clone())),
        )
        .with_state(state)
}
