//! Support tickets (list, open one about a service with files attached, the thread with its
//! attachments to download, reply, close and reopen) and the account closure with its list
//! of blockers, the mailed confirmation and the personal-data export.

use super::error::{InLang, PanelError, PanelResult, see_other};
use super::session::{Fields, FieldsAndFiles, Viewer};
use super::{Form, Layout, ok, render};
use crate::AppState;
use crate::extract::Ctx;
use askama::Template;
use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::extract::{Path, Query, State};
use axum::routing::{get, post};
use guichet_app::tickets::{self, NewTicket};
use guichet_app::{AppError, ErrorKind, closure, services};
use serde::Deserialize;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route(
            "/tickets",
            get(list)
                .post(open)
                .layer(DefaultBodyLimit::max(crate::upload::UPLOAD_LIMIT)),
        )
        .route("/tickets/{id}", get(thread))
        .route(
            "/tickets/{id}/reply",
            post(reply).layer(DefaultBodyLimit::max(crate::upload::UPLOAD_LIMIT)),
        )
        .route("/tickets/{id}/files/{att}", get(download))
        .route("/tickets/{id}/close", post(close))
        .route("/tickets/{id}/reopen", post(reopen))
        .route("/closure", get(closure_page).post(request_closure))
        .route("/closure/confirm", get(confirm_page).post(confirm_closure))
}

const CATEGORIES: [&str; 6] = ["billing", "technical", "account", "order", "abuse", "other"];

pub struct TicketLine {
    pub id: String,
    pub subject: String,
    pub category: String,
    pub state: String,
    pub updated: String,
}

#[derive(Template)]
#[template(path = "tickets.html")]
struct ListPage {
    l: Layout,
    items: Vec<TicketLine>,
    categories: Vec<(&'static str, String)>,
    services: Vec<(String, String)>,
    form: Form,
}

async fn list_view(s: &AppState, v: &Viewer, form: Form) -> Result<ListPage, PanelError> {
    let tr = v.tr;
    let items = tickets::list_mine(&s.app, &v.p.account_id)
        .await
        .lang(tr)?
        .into_iter()
        .map(|t| TicketLine {
            category: tr.code("category", &t.category),
            state: tr.code("ticket-state", &t.state),
            updated: tr.datetime(&t.updated_at),
            subject: t.subject,
            id: t.id,
        })
        .collect();
    let services = services::list(&s.app, &v.p.account_id)
        .await
        .lang(tr)?
        .into_iter()
        .filter(|x| x.state != "deleted")
        .map(|x| (x.id, x.display_name))
        .collect();
    Ok(ListPage {
        l: Layout::viewer(v, s, "tickets-title", "tickets"),
        items,
        categories: CATEGORIES
            .iter()
            .map(|c| (*c, tr.code("category", c)))
            .collect(),
        services,
        form,
    })
}

async fn list(State(s): State<AppState>, v: Viewer) -> PanelResult {
    Ok(ok(&list_view(&s, &v, Form::new()).await?))
}

fn soft(v: &Viewer, e: AppError) -> Result<AppError, PanelError> {
    if e.kind == ErrorKind::Internal || e.kind == ErrorKind::NotFound {
        Err(PanelError::App(v.tr, e))
    } else {
        Ok(e)
    }
}

async fn open(State(s): State<AppState>, v: Viewer, form: FieldsAndFiles) -> PanelResult {
    let f = &form.fields;
    v.check(f)?;
    let input = NewTicket {
        category: f.get("category").to_owned(),
        subject: f.get("subject").to_owned(),
        service_id: f.opt("service_id"),
        message: f.get("message").to_owned(),
    };
    let done = match form.error {
        Some(e) => Err(e),
        None => tickets::create(&s.app, &v.p.account, &input, &form.files).await,
    };
    match done {
        Ok(t) => Ok(see_other(&format!(
            "/tickets/{}?done=ticket_opened",
            t.ticket.id
        ))),
        Err(e) => {
            let e = soft(&v, e)?;
            let form =
                Form::from_fields(f).fail(&v.tr, &e, &["category", "subject", "message", "file"]);
            Ok(render(
                crate::error::status_of(e.kind),
                &list_view(&s, &v, form).await?,
            ))
        }
    }
}

/// An attachment of one of the account's tickets (another account's: the 404 page).
async fn download(
    State(s): State<AppState>,
    v: Viewer,
    Path((id, att)): Path<(String, String)>,
) -> PanelResult {
    let (a, bytes) = tickets::attachment(&s.app, Some(&v.p.account_id), &id, &att)
        .await
        .lang(v.tr)?;
    Ok(crate::routes::orders::file_response(
        &a.content_type,
        &a.file_name,
        bytes,
    ))
}

pub struct Message {
    pub author: String,
    pub body: String,
    pub at: String,
    /// Each attachment's id and file name.
    pub files: Vec<(String, String)>,
}

#[derive(Template)]
#[template(path = "ticket.html")]
struct ThreadPage {
    l: Layout,
    id: String,
    subject: String,
    state_code: String,
    state: String,
    category: String,
    messages: Vec<Message>,
    form: Form,
}

async fn thread_view(
    s: &AppState,
    v: &Viewer,
    id: &str,
    form: Form,
) -> Result<ThreadPage, PanelError> {
    let tr = v.tr;
    let t = tickets::get(&s.app, Some(&v.p.account_id), id)
        .await
        .lang(tr)?;
    Ok(ThreadPage {
        l: Layout {
            title: t.ticket.subject.clone(),
            ..Layout::viewer(v, s, "tickets-title", "tickets")
        },
        id: t.ticket.id.clone(),
        state: tr.code("ticket-state", &t.ticket.state),
        category: tr.code("category", &t.ticket.category),
        subject: t.ticket.subject.clone(),
        state_code: t.ticket.state.clone(),
        messages: t
            .messages
            .into_iter()
            .map(|m| Message {
                author: tr.code("author", &m.author),
                at: tr.datetime(&m.created_at),
                files: m
                    .attachments
                    .into_iter()
                    .map(|a| (a.id, a.file_name))
                    .collect(),
                body: m.body,
            })
            .collect(),
        form,
    })
}

async fn thread(State(s): State<AppState>, v: Viewer, Path(id): Path<String>) -> PanelResult {
    Ok(ok(&thread_view(&s, &v, &id, Form::new()).await?))
}

async fn reply(
    State(s): State<AppState>,
    v: Viewer,
    Path(id): Path<String>,
    form: FieldsAndFiles,
) -> PanelResult {
    let f = &form.fields;
    v.check(f)?;
    let done = match form.error {
        Some(e) => Err(e),
        None => tickets::reply(&s.app, &v.p.account, &id, f.get("message"), &form.files).await,
    };
    match done {
        Ok(_) => Ok(see_other(&format!("/tickets/{id}?done=ticket_replied"))),
        Err(e) => {
            let e = soft(&v, e)?;
            let form = Form::from_fields(f).fail(&v.tr, &e, &["message", "file"]);
            Ok(render(
                crate::error::status_of(e.kind),
                &thread_view(&s, &v, &id, form).await?,
            ))
        }
    }
}

async fn close(
    State(s): State<AppState>,
    v: Viewer,
    Path(id): Path<String>,
    f: Fields,
) -> PanelResult {
    v.check(&f)?;
    match tickets::close(&s.app, &v.p.account, &id).await {
        Ok(_) => Ok(see_other(&format!("/tickets/{id}?done=ticket_closed"))),
        Err(e) => {
            let e = soft(&v, e)?;
            let form = Form::new().fail(&v.tr, &e, &[]);
            Ok(render(
                crate::error::status_of(e.kind),
                &thread_view(&s, &v, &id, form).await?,
            ))
        }
    }
}

async fn reopen(
    State(s): State<AppState>,
    v: Viewer,
    Path(id): Path<String>,
    f: Fields,
) -> PanelResult {
    v.check(&f)?;
    match tickets::reopen(&s.app, &v.p.account, &id).await {
        Ok(_) => Ok(see_other(&format!("/tickets/{id}?done=ticket_reopened"))),
        Err(e) => {
            let e = soft(&v, e)?;
            let form = Form::new().fail(&v.tr, &e, &[]);
            Ok(render(
                crate::error::status_of(e.kind),
                &thread_view(&s, &v, &id, form).await?,
            ))
        }
    }
}

// ---- closure ----

pub struct BlockerLine {
    pub label: String,
    pub item: String,
    pub link: String,
}

#[derive(Template)]
#[template(path = "closure.html")]
struct ClosurePage {
    l: Layout,
    blockers: Vec<BlockerLine>,
    form: Form,
    mailed: bool,
    token: String,
}

fn local_link(link: &str) -> String {
    // The blockers carry absolute links of the public URL; the page links by path.
    match link.split_once("://") {
        Some((_, rest)) => rest
            .find('/')
            .map(|i| rest[i..].to_owned())
            .unwrap_or_else(|| "/".into()),
        None => link.to_owned(),
    }
}

async fn closure_view(
    s: &AppState,
    v: &Viewer,
    form: Form,
    mailed: bool,
    token: String,
) -> Result<ClosurePage, PanelError> {
    let tr = v.tr;
    let st = closure::status(&s.app, &v.p.account_id).await.lang(tr)?;
    Ok(ClosurePage {
        l: Layout::viewer(v, s, "closure-title", "closure"),
        blockers: st
            .blockers
            .into_iter()
            .map(|b| BlockerLine {
                label: tr.code("blocker", &b.code),
                item: b.item,
                link: local_link(&b.link),
            })
            .collect(),
        form,
        mailed,
        token,
    })
}

async fn closure_page(State(s): State<AppState>, v: Viewer) -> PanelResult {
    Ok(ok(
        &closure_view(&s, &v, Form::new(), false, String::new()).await?
    ))
}

async fn request_closure(State(s): State<AppState>, v: Viewer, f: Fields) -> PanelResult {
    v.check(&f)?;
    match closure::request(&s.app, &v.p).await {
        Ok(()) => Ok(ok(
            &closure_view(&s, &v, Form::new(), true, String::new()).await?
        )),
        Err(e) if e.code == "reauth_required" => Ok(see_other("/security?reauth=1#reauth")),
        Err(e) => {
            let e = soft(&v, e)?;
            let form = Form::new().fail(&v.tr, &e, &[]);
            Ok(render(
                crate::error::status_of(e.kind),
                &closure_view(&s, &v, form, false, String::new()).await?,
            ))
        }
    }
}

#[derive(Deserialize, Default)]
struct TokenQuery {
    #[serde(default)]
    token: String,
}

async fn confirm_page(
    State(s): State<AppState>,
    v: Viewer,
    Query(q): Query<TokenQuery>,
) -> PanelResult {
    Ok(ok(&closure_view(&s, &v, Form::new(), true, q.token).await?))
}

async fn confirm_closure(
    State(s): State<AppState>,
    v: Viewer,
    Ctx(ctx): Ctx,
    f: Fields,
) -> PanelResult {
    v.check(&f)?;
    let token = f.get("token").trim().to_owned();
    match closure::confirm(&s.app, &v.p, &token, &ctx).await {
        Ok(_) => Ok(see_other("/login?done=account_closed")),
        Err(e) => {
            let e = soft(&v, e)?;
            let form = Form::new().fail(&v.tr, &e, &["token"]);
            Ok(render(
                crate::error::status_of(e.kind),
                &closure_view(&s, &v, form, true, token).await?,
            ))
        }
    }
}
