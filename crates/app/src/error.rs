//! The application error policy.
//!
//! - Bad input, missing rights, unknown ids and conflicts are *expected*: they carry a stable
//!   snake_case `code` and a message for the customer, and become 4xx answers.
//! - An unreachable database is `Unavailable` (503): the client may retry.
//! - Anything else is `Internal`: logged with its cause, answered as a bare 500 that reveals
//!   nothing. Secrets never enter an error message.

use guichet_domain::FieldError;
use guichet_store::StoreError;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    BadRequest,
    Validation,
    Unauthorized,
    Forbidden,
    NotFound,
    Conflict,
    /// An upload over its size limit (413).
    PayloadTooLarge,
    /// An upload of a refused type (415).
    UnsupportedMediaType,
    TooManyRequests,
    Unavailable,
    Internal,
}

#[derive(Debug, Clone)]
pub struct AppError {
    pub kind: ErrorKind,
    pub code: &'static str,
    pub message: String,
    pub fields: Vec<FieldError>,
    pub retry_after_secs: Option<u64>,
}

impl std::fmt::Display for AppError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.code, self.message)
    }
}

impl std::error::Error for AppError {}

impl AppError {
    pub fn new(kind: ErrorKind, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            kind,
            code,
            message: message.into(),
            fields: Vec::new(),
            retry_after_secs: None,
        }
    }

    pub fn bad_request(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(ErrorKind::BadRequest, code, message)
    }

    pub fn unauthorized(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Unauthorized, code, message)
    }

    pub fn forbidden(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Forbidden, code, message)
    }

    pub fn not_found(code: &'static str) -> Self {
        Self::new(ErrorKind::NotFound, code, "not found")
    }

    pub fn conflict(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Conflict, code, message)
    }

    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Internal, "internal_error", message)
    }

    pub fn too_many(code: &'static str, retry_after_secs: u64) -> Self {
        let mut e = Self::new(
            ErrorKind::TooManyRequests,
            code,
            format!("too many attempts; try again in {retry_after_secs} s"),
        );
        e.retry_after_secs = Some(retry_after_secs);
        e
    }

    /// One or more fields failed validation.
    pub fn validation(fields: Vec<FieldError>) -> Self {
        let (code, message) = match fields.as_slice() {
            [one] => (one.code, format!("{}: {}", one.field, one.message)),
            _ => ("validation_failed", "some fields are not valid".to_owned()),
        };
        Self {
            kind: ErrorKind::Validation,
            code,
            message,
            fields,
            retry_after_secs: None,
        }
    }

    /// The same error, also naming the field it is about (its kind and status unchanged), so
    /// a form can show it next to that field.
    pub fn on_field(mut self, field: &str) -> Self {
        self.fields.push(FieldError {
            field: field.to_owned(),
            code: self.code,
            message: self.message.clone(),
        });
        self
    }

    pub fn field(field: &str, code: &'static str, message: impl Into<String>) -> Self {
        Self::validation(vec![FieldError {
            field: field.to_owned(),
            code,
            message: message.into(),
        }])
    }
}

impl From<StoreError> for AppError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Unavailable(inner) => {
                tracing::warn!(error = %inner, "database unavailable");
                Self::new(
                    ErrorKind::Unavailable,
                    "service_unavailable",
                    "the service is temporarily unavailable; try again shortly",
                )
            }
            StoreError::Full(inner) => {
                tracing::error!(error = %inner, "database storage full");
                Self::new(
                    ErrorKind::Unavailable,
                    "storage_full",
                    "the service cannot store anything more at the moment; try again later",
                )
            }
            other => {
                tracing::error!(error = %other, "storage error");
                Self::internal("internal error")
            }
        }
    }
}
