//! Service e-mails: every mail the account was sent (read back as text, with its delivery
//! status and reference), "is this mail from us?", and the page on recognising phishing by
//! mail or SMS with the provider's real sender address and the reference format.

use super::error::{InLang, PanelResult};
use super::session::{Fields, Guest, Viewer};
use super::{Form, Layout, ok};
use crate::AppState;
use askama::Template;
use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use axum::routing::{get, post};
use guichet_app::mailbox;
use serde::Deserialize;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/emails", get(list))
        .route("/emails/verify", post(verify))
        .route("/emails/{id}", get(read))
        .route("/phishing", get(phishing))
}

pub struct MailLine {
    pub id: String,
    pub subject: String,
    pub to: String,
    pub date: String,
    pub status: String,
    pub reference: String,
}

#[derive(Template)]
#[template(path = "emails.html")]
struct ListPage {
    l: Layout,
    items: Vec<MailLine>,
    next: Option<String>,
    check: Check,
}

/// The answer to "is this mail from us?".
#[derive(Default)]
pub struct Check {
    pub form: Form,
    pub answered: bool,
    pub genuine: bool,
    pub subject: String,
    pub date: String,
}

#[derive(Template)]
#[template(path = "email_check.html")]
struct CheckFragment {
    l: Layout,
    check: Check,
}

#[derive(Deserialize, Default)]
struct PageQuery {
    #[serde(default)]
    cursor: String,
}

async fn list_view(
    s: &AppState,
    v: &Viewer,
    cursor: &str,
    check: Check,
) -> Result<ListPage, super::error::PanelError> {
    let tr = v.tr;
    let cursor = (!cursor.is_empty()).then_some(cursor);
    let page = mailbox::list(&s.app, &v.p, cursor, 50).await.lang(tr)?;
    Ok(ListPage {
        l: Layout::viewer(v, s, "emails-title", "emails"),
        items: page
            .items
            .into_iter()
            .map(|e| MailLine {
                date: tr.datetime(&e.created_at),
                status: tr.code("mail-status", &e.status),
                id: e.id,
                subject: e.subject,
                to: e.to,
                reference: e.reference,
            })
            .collect(),
        next: page.next_cursor,
        check,
    })
}

async fn list(State(s): State<AppState>, v: Viewer, Query(q): Query<PageQuery>) -> PanelResult {
    Ok(ok(&list_view(&s, &v, &q.cursor, Check::default()).await?))
}

async fn verify(
    State(s): State<AppState>,
    v: Viewer,
    headers: HeaderMap,
    f: Fields,
) -> PanelResult {
    v.check(&f)?;
    let tr = v.tr;
    let check = match mailbox::verify(&s.app, &v.p, f.get("reference")).await {
        Ok(r) => Check {
            form: Form::from_fields(&f),
            answered: true,
            genuine: r.genuine,
            subject: r
                .email
                .as_ref()
                .map(|e| e.subject.clone())
                .unwrap_or_default(),
            date: r
                .email
                .as_ref()
                .map(|e| tr.datetime(&e.created_at))
                .unwrap_or_default(),
        },
        Err(e) => Check {
            form: Form::from_fields(&f).fail(&tr, &e, &["reference"]),
            ..Check::default()
        },
    };
    // htmx asks for the answer only; a plain form post gets the whole page.
    if headers.contains_key("hx-request") {
        return Ok(ok(&CheckFragment {
            l: Layout::viewer(&v, &s, "emails-title", "emails"),
            check,
        }));
    }
    Ok(ok(&list_view(&s, &v, "", check).await?))
}

#[derive(Template)]
#[template(path = "email.html")]
struct ReadPage {
    l: Layout,
    subject: String,
    to: String,
    date: String,
    status: String,
    reference: String,
    message_id: String,
    body: String,
}

async fn read(State(s): State<AppState>, v: Viewer, Path(id): Path<String>) -> PanelResult {
    let tr = v.tr;
    let e = mailbox::get(&s.app, &v.p, &id).await.lang(tr)?;
    Ok(ok(&ReadPage {
        l: Layout {
            title: e.summary.subject.clone(),
            ..Layout::viewer(&v, &s, "emails-title", "emails")
        },
        date: tr.datetime(&e.summary.created_at),
        status: tr.code("mail-status", &e.summary.status),
        subject: e.summary.subject,
        to: e.summary.to,
        reference: e.summary.reference,
        message_id: e.message_id,
        body: e.body_text,
    }))
}

#[derive(Template)]
#[template(path = "phishing.html")]
struct PhishingPage {
    l: Layout,
    sender: String,
    domain: String,
    provider: String,
}

async fn phishing(State(s): State<AppState>, g: Guest, headers: HeaderMap) -> PanelResult {
    let mut l = Layout::guest(&g, &s, "phishing-title");
    // Signed-in visitors keep their navigation.
    if let Some(t) = crate::extract::cookie_in(&headers, crate::extract::SESSION_COOKIE)
        && let Ok(p) = guichet_app::auth::authenticate(&s.app, t).await
    {
        l.user = Some(format!("{} {}", p.account.first_name, p.account.last_name));
        l.csrf = super::session::session_csrf(t);
    }
    Ok(ok(&PhishingPage {
        l,
        sender: s.app.config.mail_from.clone(),
        domain: s.app.config.mail_domain(),
        provider: s.app.config.provider_name.clone(),
    }))
}
