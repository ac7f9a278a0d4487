//! Who looks at a panel page: the signed-in customer (the `guichet_session` cookie) or a
//! guest; the language to speak; the CSRF token each form carries in a hidden field (derived
//! from the session for customers, a random `guichet_csrf` cookie for guests), checked with
//! the same-origin rule of the JSON API on every POST.

use super::error::PanelError;
use super::i18n::Tr;
use crate::AppState;
use crate::extract::{SESSION_COOKIE, cookie, cookie_in, csrf_ok};
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{HeaderValue, header};
use axum::middleware::Next;
use axum::response::Response;
use guichet_app::auth::{self, Principal};
use guichet_app::crypto;
use guichet_domain::Language;

pub const CSRF_COOKIE: &str = "guichet_csrf";
pub const LANG_COOKIE: &str = "guichet_lang";
pub const CSRF_FIELD: &str = "_csrf";

/// The guest CSRF value of this request (from its cookie, or minted for it).
#[derive(Clone)]
struct GuestCsrf(String);

/// Give every panel visitor a `guichet_csrf` cookie.
pub async fn guest_csrf(mut req: Request, next: Next) -> Response {
    let existing = cookie_in(req.headers(), CSRF_COOKIE)
        .filter(|v| v.len() == 64 && v.bytes().all(|b| b.is_ascii_hexdigit()))
        .map(str::to_owned);
    let fresh = existing.is_none();
    let value = existing.unwrap_or_else(|| crypto::random_hex(32));
    req.extensions_mut().insert(GuestCsrf(value.clone()));
    let mut resp = next.run(req).await;
    if fresh
        && let Ok(v) = HeaderValue::from_str(&format!(
            "{CSRF_COOKIE}={value}; Path=/; HttpOnly; SameSite=Strict"
        ))
    {
        resp.headers_mut().append(header::SET_COOKIE, v);
    }
    resp
}

fn lang_of_request(parts: &Parts) -> Language {
    if let Some(l) = cookie(parts, LANG_COOKIE).and_then(Language::parse) {
        return l;
    }
    let accept = parts
        .headers
        .get(header::ACCEPT_LANGUAGE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let first = accept
        .split(',')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    if first.starts_with("en") {
        Language::En
    } else {
        Language::Fr
    }
}

fn path_of(parts: &Parts) -> String {
    parts
        .uri
        .path_and_query()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_else(|| "/".to_owned())
}

/// A visitor who is not (or need not be) signed in.
pub struct Guest {
    pub tr: Tr,
    pub csrf: String,
    pub path: String,
    same_origin: bool,
}

impl FromRequestParts<AppState> for Guest {
    type Rejection = PanelError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let csrf = parts
            .extensions
            .get::<GuestCsrf>()
            .map(|c| c.0.clone())
            .unwrap_or_default();
        Ok(Guest {
            tr: Tr::new(lang_of_request(parts)),
            csrf,
            path: path_of(parts),
            same_origin: csrf_ok(parts, &state.app.config.public_url),
        })
    }
}

impl Guest {
    /// The request came from our own pages.
    pub fn check_origin(&self) -> Result<(), PanelError> {
        if self.same_origin {
            Ok(())
        } else {
            Err(PanelError::Csrf(self.tr))
        }
    }

    /// A POST must carry this visitor's token and come from our own pages.
    pub fn check(&self, f: &Fields) -> Result<(), PanelError> {
        if self.same_origin && !self.csrf.is_empty() && crypto::ct_eq(f.get(CSRF_FIELD), &self.csrf)
        {
            Ok(())
        } else {
            Err(PanelError::Csrf(self.tr))
        }
    }
}

/// The signed-in customer. Pages that need one redirect guests to `/login?next=…`.
pub struct Viewer {
    pub p: Principal,
    pub tr: Tr,
    pub csrf: String,
    pub path: String,
    same_origin: bool,
}

/// The CSRF token of a session: unguessable without the (HttpOnly) session token, and not
/// the hash stored for the session.
pub fn session_csrf(session_token: &str) -> String {
    crypto::hash_token(&format!("panel-csrf:{session_token}"))
}

impl FromRequestParts<AppState> for Viewer {
    type Rejection = PanelError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let path = path_of(parts);
        let guest_lang = lang_of_request(parts);
        let Some(token) = cookie(parts, SESSION_COOKIE).filter(|t| !t.is_empty()) else {
            return Err(PanelError::SignIn(path));
        };
        let p = match auth::authenticate(&state.app, token).await {
            Ok(p) if p.session_id().is_some() => p,
            Ok(_) => return Err(PanelError::SignIn(path)),
            Err(e) if e.kind == guichet_app::ErrorKind::Unauthorized => {
                return Err(PanelError::SignIn(path));
            }
            Err(e) => return Err(PanelError::App(Tr::new(guest_lang), e)),
        };
        let lang = Language::parse(&p.account.language).unwrap_or(guest_lang);
        Ok(Viewer {
            csrf: session_csrf(token),
            tr: Tr::new(lang),
            path,
            same_origin: csrf_ok(parts, &state.app.config.public_url),
            p,
        })
    }
}

impl Viewer {
    pub fn check(&self, f: &Fields) -> Result<(), PanelError> {
        if self.same_origin && crypto::ct_eq(f.get(CSRF_FIELD), &self.csrf) {
            Ok(())
        } else {
            Err(PanelError::Csrf(self.tr))
        }
    }

    pub fn name(&self) -> String {
        format!("{} {}", self.p.account.first_name, self.p.account.last_name)
    }
}

/// A submitted form, as name/value pairs (every field optional: a missing one reads as "").
pub struct Fields(pub Vec<(String, String)>);

impl Fields {
    pub fn get(&self, name: &str) -> &str {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .unwrap_or("")
    }

    /// The field, `None` when empty.
    pub fn opt(&self, name: &str) -> Option<String> {
        let v = self.get(name).trim();
        (!v.is_empty()).then(|| v.to_owned())
    }
}

impl<S: Send + Sync> FromRequest<S> for Fields {
    type Rejection = PanelError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        match axum::Form::<Vec<(String, String)>>::from_request(req, state).await {
            Ok(axum::Form(v)) => Ok(Fields(v)),
            Err(_) => Err(PanelError::BadForm),
        }
    }
}

/// A submitted form that may carry files (`multipart/form-data`), or a plain one. What went
/// wrong reading the files is kept for the page to show next to the file input, with the
/// text the visitor typed.
pub struct FieldsAndFiles {
    pub fields: Fields,
    pub files: Vec<guichet_app::tickets::Upload>,
    pub error: Option<guichet_app::AppError>,
}

impl<S: Send + Sync> FromRequest<S> for FieldsAndFiles {
    type Rejection = PanelError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        if !crate::upload::is_multipart(&req) {
            return Ok(FieldsAndFiles {
                fields: Fields::from_request(req, state).await?,
                files: Vec::new(),
                error: None,
            });
        }
        let form = crate::upload::read(req, state).await;
        Ok(FieldsAndFiles {
            fields: Fields(form.fields),
            files: form.files,
            error: form.error,
        })
    }
}

/// Where to go after signing in: a local path only.
pub fn safe_next(next: &str) -> String {
    if next.starts_with('/') && !next.starts_with("//") && !next.contains('\\') {
        next.to_owned()
    } else {
        "/dashboard".to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn next_stays_on_the_site() {
        assert_eq!(safe_next("/services/x"), "/services/x");
        assert_eq!(safe_next("//evil.example"), "/dashboard");
        assert_eq!(safe_next("https://evil.example"), "/dashboard");
        assert_eq!(safe_next("/\\evil"), "/dashboard");
        assert_eq!(safe_next(""), "/dashboard");
    }

    #[test]
    fn session_csrf_is_not_the_stored_hash() {
        let t = "gcs_abc";
        assert_ne!(session_csrf(t), crypto::hash_token(t));
        assert_eq!(session_csrf(t), session_csrf(t));
        assert_ne!(session_csrf(t), session_csrf("gcs_abd"));
    }
}
