//! The one map from application errors to HTTP answers: a status and a JSON body
//! `{"code", "message"}` (plus `fields` for validation). Internal details never leave the server.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use guichet_app::{AppError, ErrorKind};
use guichet_domain::FieldError;
use serde::Serialize;
use utoipa::ToSchema;

/// Every error answer.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorBody {
    /// A stable snake_case code, e.g. `email_taken`.
    pub code: String,
    /// A human-readable explanation.
    pub message: String,
    /// For validation errors: each field that failed.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub fields: Vec<FieldErrorBody>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct FieldErrorBody {
    pub field: String,
    pub code: String,
    pub message: String,
}

impl From<&FieldError> for FieldErrorBody {
    fn from(f: &FieldError) -> Self {
        Self {
            field: f.field.clone(),
            code: f.code.to_owned(),
            message: f.message.clone(),
        }
    }
}

#[derive(Debug)]
pub struct ApiError(pub AppError);

impl From<AppError> for ApiError {
    fn from(e: AppError) -> Self {
        Self(e)
    }
}

impl ApiError {
    pub fn new(status: ErrorKind, code: &'static str, message: impl Into<String>) -> Self {
        Self(AppError::new(status, code, message))
    }
}

pub fn status_of(kind: ErrorKind) -> StatusCode {
    match kind {
        ErrorKind::BadRequest => StatusCode::BAD_REQUEST,
        ErrorKind::Validation => StatusCode::UNPROCESSABLE_ENTITY,
        ErrorKind::Unauthorized => StatusCode::UNAUTHORIZED,
        ErrorKind::Forbidden => StatusCode::FORBIDDEN,
        ErrorKind::NotFound => StatusCode::NOT_FOUND,
        ErrorKind::Conflict => StatusCode::CONFLICT,
        ErrorKind::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
        ErrorKind::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
        ErrorKind::TooManyRequests => StatusCode::TOO_MANY_REQUESTS,
        ErrorKind::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
        ErrorKind::Internal => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

/// A JSON error answer with an explicit status (for rejections outside the use cases).
pub fn json_error(status: StatusCode, code: &str, message: &str) -> Response {
    let body = ErrorBody {
        code: code.to_owned(),
        message: message.to_owned(),
        fields: Vec::new(),
    };
    (status, axum::Json(body)).into_response()
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let e = self.0;
        let status = status_of(e.kind);
        let message = if e.kind == ErrorKind::Internal {
            "internal error".to_owned()
        } else {
            e.message
        };
        let body = ErrorBody {
            code: e.code.to_owned(),
            message,
            fields: e.fields.iter().map(FieldErrorBody::from).collect(),
        };
        let mut r = (status, axum::Json(body)).into_response();
        if let Some(secs) = e.retry_after_secs
            && let Ok(v) = HeaderValue::from_str(&secs.to_string())
        {
            r.headers_mut().insert(header::RETRY_AFTER, v);
        }
        if status == StatusCode::SERVICE_UNAVAILABLE {
            r.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("5"));
        }
        r
    }
}

pub type ApiResult<T> = Result<T, ApiError>;
