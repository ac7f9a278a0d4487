//! The panel's own error map (separate from the JSON one): an application error becomes an
//! HTML page with the same status, in the visitor's language; a guest is sent to the log-in
//! page and back; a refused form token is a 403 page.

use super::i18n::Tr;
use super::{Layout, render};
use crate::error::status_of;
use askama::Template;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use guichet_app::{AppError, ErrorKind};
use guichet_domain::Language;

#[derive(Debug)]
pub enum PanelError {
    /// Not signed in: to `/login?next=<path>`.
    SignIn(String),
    /// The form's CSRF token or origin was wrong.
    Csrf(Tr),
    /// The body was not a form.
    BadForm,
    /// A use case refused.
    App(Tr, AppError),
}

/// The words for an application error: the catalog's `err-<code>`, else the use case's
/// own message (never an internal one).
pub fn message_of(tr: &Tr, e: &AppError) -> String {
    if e.kind == ErrorKind::Internal {
        return tr.t("err-internal").to_owned();
    }
    let key = format!("err-{}", e.code.replace('_', "-"));
    match tr.try_t(&key) {
        Some(m) => m.to_owned(),
        None => e.message.clone(),
    }
}

#[derive(Template)]
#[template(path = "error.html")]
struct ErrorPage {
    l: Layout,
    status: u16,
    message: String,
}

pub fn see_other(to: &str) -> Response {
    (StatusCode::SEE_OTHER, [(header::LOCATION, to.to_owned())]).into_response()
}

fn urlencode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~/".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

pub fn error_page(tr: Tr, status: StatusCode, message: String) -> Response {
    let page = ErrorPage {
        l: Layout::bare(tr, tr.t("error-title")),
        status: status.as_u16(),
        message,
    };
    render(status, &page)
}

impl IntoResponse for PanelError {
    fn into_response(self) -> Response {
        match self {
            PanelError::SignIn(path) => see_other(&format!("/login?next={}", urlencode(&path))),
            PanelError::Csrf(tr) => error_page(
                tr,
                StatusCode::FORBIDDEN,
                tr.t("err-csrf-failed").to_owned(),
            ),
            PanelError::BadForm => {
                let tr = Tr::new(Language::Fr);
                error_page(tr, StatusCode::BAD_REQUEST, tr.t("err-bad-form").to_owned())
            }
            PanelError::App(tr, e) => {
                if e.kind == ErrorKind::Internal {
                    tracing::error!(code = e.code, "panel page failed");
                }
                error_page(tr, status_of(e.kind), message_of(&tr, &e))
            }
        }
    }
}

pub type PanelResult = Result<Response, PanelError>;

/// Tag an application result with the visitor's language.
pub trait InLang<T> {
    fn lang(self, tr: Tr) -> Result<T, PanelError>;
}

impl<T> InLang<T> for Result<T, AppError> {
    fn lang(self, tr: Tr) -> Result<T, PanelError> {
        self.map_err(|e| PanelError::App(tr, e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn next_is_encoded() {
        assert_eq!(urlencode("/services/a?b=c&d"), "/services/a%3Fb%3Dc%26d");
    }

    #[test]
    fn guests_are_sent_to_log_in() {
        let r = PanelError::SignIn("/invoices".into()).into_response();
        assert_eq!(r.status(), StatusCode::SEE_OTHER);
        assert_eq!(r.headers()[header::LOCATION], "/login?next=/invoices");
    }

    #[test]
    fn app_errors_keep_their_status_and_are_html() {
        let r = PanelError::App(
            Tr::new(Language::En),
            AppError::not_found("service_not_found"),
        )
        .into_response();
        assert_eq!(r.status(), StatusCode::NOT_FOUND);
        assert!(
            r.headers()[header::CONTENT_TYPE]
                .to_str()
                .unwrap()
                .starts_with("text/html")
        );
    }
}
