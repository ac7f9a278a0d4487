//! Runs a paying or ordering POST under its `Idempotency-Key` header (when given): a retry with
//! the same key and body replays the stored answer (marked `Idempotent-Replayed: true`) instead
//! of running the use case again.

use crate::AppState;
use crate::error::{ApiError, ApiResult};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use guichet_app::idempotency::{self, Claim};
use serde::Serialize;

const HEADER: &str = "idempotency-key";

fn json_response(status: StatusCode, body: String) -> Response {
    let mut r = (status, body).into_response();
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    r
}

/// Run `f` for `account_id`, answering `ok` with its JSON on success.
pub async fn run<B, T, F, Fut>(
    s: &AppState,
    account_id: &str,
    headers: &HeaderMap,
    route: &str,
    body: &B,
    ok: StatusCode,
    f: F,
) -> ApiResult<Response>
where
    B: Serialize,
    T: Serialize,
    F: FnOnce() -> Fut,
    Fut: Future<Output = ApiResult<T>>,
{
    let Some(key) = headers.get(HEADER) else {
        let v = f().await?;
        return Ok((ok, axum::Json(v)).into_response());
    };
    let key = key.to_str().map_err(|_| {
        ApiError::new(
            guichet_app::ErrorKind::BadRequest,
            "invalid_idempotency_key",
            "Idempotency-Key is 1 to 255 visible ASCII characters",
        )
    })?;
    let bytes = serde_json::to_vec(body).unwrap_or_default();
    let hash = idempotency::request_hash(route, &bytes);
    match idempotency::begin(&s.app, account_id, key, &hash).await? {
        Claim::Replay { status, body } => {
            let mut r = json_response(StatusCode::from_u16(status).unwrap_or(StatusCode::OK), body);
            r.headers_mut()
                .insert("idempotent-replayed", HeaderValue::from_static("true"));
            Ok(r)
        }
        Claim::Run => match f().await {
            Ok(v) => {
                let text = serde_json::to_string(&v).unwrap_or_else(|_| "null".into());
                idempotency::finish(&s.app, account_id, key, ok.as_u16(), &text).await?;
                Ok(json_response(ok, text))
            }
            Err(e) => {
                let r = e.into_response();
                let status = r.status();
                // Server-side failures and "try again" answers are not final: the key is freed.
                if status.is_server_error()
                    || status == StatusCode::CONFLICT
                    || status == StatusCode::TOO_MANY_REQUESTS
                {
                    idempotency::abandon(&s.app, account_id, key).await;
                    return Ok(r);
                }
                let (parts, body) = r.into_parts();
                let bytes = axum::body::to_bytes(body, 1 << 20)
                    .await
                    .unwrap_or_default();
                let text = String::from_utf8_lossy(&bytes).into_owned();
                idempotency::finish(&s.app, account_id, key, parts.status.as_u16(), &text).await?;
                Ok(Response::from_parts(parts, axum::body::Body::from(text)))
            }
        },
    }
}
