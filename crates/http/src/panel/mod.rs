//! The customer panel: server-rendered HTML pages (askama templates in `templates/`) over the
//! same use cases as the JSON API, in French and English, working without JavaScript (htmx,
//! vendored, only enhances). Served under `/` by the same router.

mod account_pages;
pub mod assets;
mod auth_pages;
mod billing_pages;
mod chart;
mod dashboard;
pub mod error;
mod form;
pub mod i18n;
mod mail_pages;
mod order_pages;
mod service_pages;
pub mod session;
mod support_pages;

use crate::AppState;
use askama::Template;
use axum::Router;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
pub use form::Form;
use i18n::Tr;
use session::{Guest, Viewer};

/// What every page's frame shows: language, title, the signed-in name, the active section,
/// the CSRF token of its forms, a one-line notice.
#[derive(Debug, Clone)]
pub struct Layout {
    pub tr: Tr,
    pub title: String,
    pub csrf: String,
    pub user: Option<String>,
    pub active: &'static str,
    pub path: String,
    pub flash: Option<String>,
    pub sandbox: bool,
}

/// The notice named by `?done=<code>` in a path, when the catalog knows it.
fn flash_of(tr: &Tr, path: &str) -> Option<String> {
    let q = path.split_once('?')?.1;
    let code = q
        .split('&')
        .find_map(|kv| kv.strip_prefix("done="))?
        .replace('_', "-");
    tr.try_t(&format!("flash-{code}")).map(str::to_owned)
}

impl Layout {
    pub fn bare(tr: Tr, title: &str) -> Self {
        Self {
            tr,
            title: title.to_owned(),
            csrf: String::new(),
            user: None,
            active: "",
            path: "/".into(),
            flash: None,
            sandbox: false,
        }
    }

    pub fn guest(g: &Guest, s: &AppState, title_key: &str) -> Self {
        Self {
            tr: g.tr,
            title: g.tr.t(title_key).to_owned(),
            csrf: g.csrf.clone(),
            user: None,
            active: "",
            path: g.path.clone(),
            flash: flash_of(&g.tr, &g.path),
            sandbox: s.app.config.sandbox,
        }
    }

    pub fn viewer(v: &Viewer, s: &AppState, title_key: &str, active: &'static str) -> Self {
        Self {
            tr: v.tr,
            title: v.tr.t(title_key).to_owned(),
            csrf: v.csrf.clone(),
            user: Some(v.name()),
            active,
            path: v.path.clone(),
            flash: flash_of(&v.tr, &v.path),
            sandbox: s.app.config.sandbox,
        }
    }

    pub fn css(&self) -> &'static str {
        assets::CSS_PATH
    }

    pub fn js(&self) -> &'static str {
        assets::HTMX_PATH
    }

    /// `aria-current` for the navigation link of `section`.
    pub fn current(&self, section: &str) -> &'static str {
        if self.active == section {
            "page"
        } else {
            "false"
        }
    }

    /// The path without its `done=` notice, for the language switch to come back to.
    pub fn back(&self) -> String {
        match self.path.split_once('?') {
            Some((p, _)) => p.to_owned(),
            None => self.path.clone(),
        }
    }
}

/// Render a page with a status.
pub fn render<T: Template>(status: StatusCode, t: &T) -> Response {
    match t.render() {
        Ok(html) => (
            status,
            [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
            html,
        )
            .into_response(),
        Err(e) => {
            tracing::error!(error = %e, "template failed");
            (StatusCode::INTERNAL_SERVER_ERROR, "internal error").into_response()
        }
    }
}

pub fn ok<T: Template>(t: &T) -> Response {
    render(StatusCode::OK, t)
}

async fn home() -> Response {
    error::see_other("/dashboard")
}

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/", get(home))
        .route("/language", post(auth_pages::switch_language))
        .merge(assets::routes())
        .merge(auth_pages::routes())
        .merge(dashboard::routes())
        .merge(service_pages::routes())
        .merge(billing_pages::routes())
        .merge(order_pages::routes())
        .merge(mail_pages::routes())
        .merge(account_pages::routes())
        .merge(support_pages::routes())
        .layer(axum::middleware::from_fn(session::guest_csrf))
}
