//! Extractors: JSON bodies whose every rejection is a JSON 4xx, the caller's identity (bearer
//! token or session cookie, with a CSRF check for cookies), operator keys, request context.

use crate::AppState;
use crate::error::{ApiError, json_error};
use axum::extract::{ConnectInfo, FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use guichet_app::accounts::RequestCtx;
use guichet_app::auth::{self, Principal};
use guichet_app::operators::{self, Operator};
use guichet_app::{AppError, ErrorKind};
use serde::de::DeserializeOwned;
use std::net::SocketAddr;

pub const SESSION_COOKIE: &str = "guichet_session";

/// `axum::Json` with rejections mapped to our error body.
pub struct Json<T>(pub T);

impl<S, T> FromRequest<S> for Json<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = Response;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        use axum::extract::rejection::JsonRejection as R;
        match axum::Json::<T>::from_request(req, state).await {
            Ok(axum::Json(v)) => Ok(Json(v)),
            Err(R::JsonDataError(e)) => Err(json_error(
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid_body",
                &e.body_text(),
            )),
            Err(R::JsonSyntaxError(e)) => Err(json_error(
                StatusCode::BAD_REQUEST,
                "malformed_json",
                &e.body_text(),
            )),
            Err(R::MissingJsonContentType(_)) => Err(json_error(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
                "send a JSON body with Content-Type: application/json",
            )),
            Err(R::BytesRejection(e)) => {
                let status = e.status();
                if status == StatusCode::PAYLOAD_TOO_LARGE {
                    Err(json_error(
                        status,
                        "payload_too_large",
                        "the request body is too large",
                    ))
                } else {
                    Err(json_error(
                        StatusCode::BAD_REQUEST,
                        "unreadable_body",
                        &e.body_text(),
                    ))
                }
            }
            Err(other) => Err(json_error(
                StatusCode::BAD_REQUEST,
                "invalid_body",
                &other.body_text(),
            )),
        }
    }
}

impl<T: serde::Serialize> IntoResponse for Json<T> {
    fn into_response(self) -> Response {
        axum::Json(self.0).into_response()
    }
}

/// Client IP and user agent, for security events and limits. Behind a trusted reverse proxy
/// the client address is the right-most `X-Forwarded-For` entry that is not a proxy.
pub struct Ctx(pub RequestCtx);

pub fn client_ip(parts: &Parts, trusted: &[std::net::IpAddr]) -> Option<String> {
    let peer = parts
        .extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip())?;
    if !trusted.contains(&peer) {
        return Some(peer.to_string());
    }
    let forwarded: Vec<std::net::IpAddr> = parts
        .headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|s| s.trim().parse().ok())
        .collect();
    let client = forwarded
        .iter()
        .rev()
        .find(|ip| !trusted.contains(ip))
        .copied()
        .unwrap_or(peer);
    Some(client.to_string())
}

impl FromRequestParts<AppState> for Ctx {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let ip = client_ip(parts, &state.app.config.trusted_proxies);
        let user_agent = parts
            .headers
            .get(header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .map(|s| s.chars().take(300).collect());
        Ok(Ctx(RequestCtx { ip, user_agent }))
    }
}

fn bearer(parts: &Parts) -> Option<&str> {
    let v = parts.headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = v.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

pub fn cookie<'a>(parts: &'a Parts, name: &str) -> Option<&'a str> {
    cookie_in(&parts.headers, name)
}

pub fn cookie_in<'a>(headers: &'a axum::http::HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

/// A cookie-authenticated unsafe request must come from our own pages: its `Origin` (or, when
/// a browser sends none, `Sec-Fetch-Site`) must say same-origin.
pub(crate) fn csrf_ok(parts: &Parts, public_url: &str) -> bool {
    if matches!(parts.method, Method::GET | Method::HEAD | Method::OPTIONS) {
        return true;
    }
    let host = parts
        .headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok());
    if let Some(origin) = parts
        .headers
        .get(header::ORIGIN)
        .and_then(|v| v.to_str().ok())
    {
        let public_origin = origin_of(public_url);
        let same_host =
            host.is_some_and(|h| origin.split_once("://").map(|(_, rest)| rest) == Some(h));
        return Some(origin) == public_origin.as_deref() || same_host;
    }
    matches!(
        parts
            .headers
            .get("sec-fetch-site")
            .and_then(|v| v.to_str().ok()),
        Some("same-origin")
    )
}

fn origin_of(url: &str) -> Option<String> {
    let (scheme, rest) = url.split_once("://")?;
    let host = rest.split('/').next()?;
    Some(format!("{scheme}://{host}"))
}

/// The signed-in customer. Read-only API tokens are refused on unsafe methods.
pub struct Auth(pub Principal);

impl FromRequestParts<AppState> for Auth {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let (token, from_cookie) = match bearer(parts) {
            Some(t) => (t.to_owned(), false),
            None => match cookie(parts, SESSION_COOKIE) {
                Some(t) => (t.to_owned(), true),
                None => {
                    return Err(AppError::unauthorized("unauthenticated", "sign in first").into());
                }
            },
        };
        if from_cookie && !csrf_ok(parts, &state.app.config.public_url) {
            return Err(AppError::forbidden("csrf_failed", "cross-site request refused").into());
        }
        let p = auth::authenticate(&state.app, &token).await?;
        let unsafe_method = !matches!(parts.method, Method::GET | Method::HEAD | Method::OPTIONS);
        if unsafe_method && !p.can_write() {
            return Err(ApiError::new(
                ErrorKind::Forbidden,
                "read_only_token",
                "this API token may only read",
            ));
        }
        Ok(Auth(p))
    }
}

/// An operator, by API key.
pub struct OperatorAuth(pub Operator);

impl FromRequestParts<AppState> for OperatorAuth {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let token = bearer(parts).ok_or_else(|| {
            AppError::unauthorized("unauthenticated", "an operator key is required")
        })?;
        Ok(OperatorAuth(
            operators::authenticate(&state.app, token).await?,
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parts(method: Method, headers: &[(&str, &str)]) -> Parts {
        let mut b = axum::http::Request::builder()
            .method(method)
            .uri("/api/v1/me");
        for (k, v) in headers {
            b = b.header(*k, *v);
        }
        b.body(()).unwrap().into_parts().0
    }

    #[test]
    fn csrf_rules() {
        let public = "https://panel.example.net";
        assert!(csrf_ok(&parts(Method::GET, &[]), public));
        assert!(!csrf_ok(&parts(Method::POST, &[]), public));
        assert!(csrf_ok(
            &parts(Method::POST, &[("origin", "https://panel.example.net")]),
            public
        ));
        assert!(!csrf_ok(
            &parts(Method::POST, &[("origin", "https://evil.example")]),
            public
        ));
        assert!(csrf_ok(
            &parts(
                Method::POST,
                &[
                    ("origin", "http://127.0.0.1:3000"),
                    ("host", "127.0.0.1:3000")
                ]
            ),
            public
        ));
        assert!(csrf_ok(
            &parts(Method::POST, &[("sec-fetch-site", "same-origin")]),
            public
        ));
        assert!(!csrf_ok(
            &parts(Method::POST, &[("sec-fetch-site", "cross-site")]),
            public
        ));
    }

    #[test]
    fn reads_cookies() {
        let p = parts(
            Method::GET,
            &[("cookie", "a=1; guichet_session=gcs_x; b=2")],
        );
        assert_eq!(cookie(&p, SESSION_COOKIE), Some("gcs_x"));
    }
}
