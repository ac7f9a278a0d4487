//! Multipart forms with attached files, read one way for the API and the panel: text fields
//! as name/value pairs in their order, files (`file`, repeatable) as uploads within the
//! attachment limits, and what went wrong kept apart so a form can still be shown again.

use axum::extract::{FromRequest, Multipart, Request};
use axum::http::{StatusCode, header};
use guichet_app::tickets::{MAX_ATTACHMENT_BYTES, MAX_ATTACHMENTS, Upload};
use guichet_app::{AppError, ErrorKind};

/// The largest body of a form with its files (the files plus room for the text fields).
pub const UPLOAD_LIMIT: usize = MAX_ATTACHMENTS * MAX_ATTACHMENT_BYTES + 256 * 1024;

/// A multipart form as read: the fields and files taken before any error, and the error.
pub struct Parsed {
    pub fields: Vec<(String, String)>,
    pub files: Vec<Upload>,
    pub error: Option<AppError>,
}

/// Whether the request carries a multipart form.
pub fn is_multipart(req: &Request) -> bool {
    req.headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("multipart/form-data"))
}

fn too_large() -> AppError {
    AppError::new(
        ErrorKind::PayloadTooLarge,
        "file_too_large",
        "attachments are limited to 5 MiB each, 3 per message",
    )
    .on_field("file")
}

fn bad_form() -> AppError {
    AppError::bad_request("invalid_form", "a multipart form is expected")
}

fn read_error(e: &axum::extract::multipart::MultipartError) -> AppError {
    if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
        too_large()
    } else {
        bad_form()
    }
}

/// Read a multipart form. An empty file input (a browser sends one with no name and no
/// bytes when nothing was chosen) is not an upload.
pub async fn read<S: Send + Sync>(req: Request, state: &S) -> Parsed {
    let mut out = Parsed {
        fields: Vec::new(),
        files: Vec::new(),
        error: None,
    };
    let mut form = match Multipart::from_request(req, state).await {
        Ok(f) => f,
        Err(_) => {
            out.error = Some(bad_form());
            return out;
        }
    };
    loop {
        let field = match form.next_field().await {
            Ok(Some(f)) => f,
            Ok(None) => break,
            Err(e) => {
                out.error = Some(read_error(&e));
                break;
            }
        };
        let name = field.name().unwrap_or("").to_owned();
        if name == "file" {
            let file_name = field.file_name().unwrap_or("").to_owned();
            let bytes = match field.bytes().await {
                Ok(b) => b,
                Err(e) => {
                    out.error = Some(read_error(&e));
                    break;
                }
            };
            if file_name.is_empty() && bytes.is_empty() {
                continue;
            }
            if out.files.len() >= MAX_ATTACHMENTS {
                out.error = Some(AppError::field(
                    "file",
                    "too_many_attachments",
                    "at most 3 files per message",
                ));
                break;
            }
            out.files.push(Upload {
                file_name: if file_name.is_empty() {
                    "attachment".to_owned()
                } else {
                    file_name
                },
                bytes: bytes.to_vec(),
            });
        } else if !name.is_empty() {
            match field.text().await {
                Ok(text) => out.fields.push((name, text)),
                Err(e) => {
                    out.error = Some(read_error(&e));
                    break;
                }
            }
        }
    }
    out
}
