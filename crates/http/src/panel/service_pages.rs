//! Services: the list with expiration and renewal mode, and one service with the guide's
//! three ways to manage its end (renewal settings, "Résilier" with a reason and its undo,
//! deletion now confirmed by the mailed token).

use super::error::{InLang, PanelError, PanelResult, see_other};
use super::i18n::Tr;
use super::session::{Fields, Viewer};
use super::{Form, Layout, ok, render};
use crate::AppState;
use crate::extract::Ctx;
use askama::Template;
use axum::Router;
use axum::extract::{Path, Query, State};
use axum::routing::{get, post};
use guichet_app::service_ending::{self, RenewalInput, TerminationInput};
use guichet_app::services::{self, ServiceView};
use guichet_app::{AppError, ErrorKind, catalog};
use serde::Deserialize;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/services", get(list))
        .route("/services/{id}", get(detail))
        .route("/services/{id}/renewal", post(renewal))
        .route("/services/{id}/termination", post(terminate))
        .route(
            "/services/{id}/termination/cancel",
            post(cancel_termination),
        )
        .route("/services/{id}/deletion", post(request_deletion))
        .route("/services/{id}/delete", get(delete_page))
        .route("/services/{id}/deletion/confirm", post(confirm_deletion))
}

pub const REASONS: [&str; 8] = [
    "too_expensive",
    "not_needed",
    "migrating",
    "missing_features",
    "performance",
    "reliability",
    "support",
    "other",
];

pub struct ServiceLine {
    pub id: String,
    pub name: String,
    pub product: String,
    pub state: String,
    pub state_label: String,
    pub expires: String,
    pub renewal: String,
    pub pending: String,
}

fn line(tr: &Tr, x: &ServiceView) -> ServiceLine {
    ServiceLine {
        id: x.id.clone(),
        name: x.display_name.clone(),
        product: x.product.clone(),
        state: x.state.clone(),
        state_label: tr.code("state", &x.state),
        expires: tr.date(&x.expires_on),
        renewal: format!(
            "{} · {}",
            tr.code("renewal", &x.renewal.mode),
            tr.code("period", &x.renewal.period)
        ),
        pending: x
            .pending_actions
            .iter()
            .map(|p| tr.code("pending", p))
            .collect::<Vec<_>>()
            .join(", "),
    }
}

#[derive(Template)]
#[template(path = "services.html")]
struct ListPage {
    l: Layout,
    items: Vec<ServiceLine>,
}

async fn list(State(s): State<AppState>, v: Viewer) -> PanelResult {
    let items = services::list(&s.app, &v.p.account_id)
        .await
        .lang(v.tr)?
        .iter()
        .map(|x| line(&v.tr, x))
        .collect();
    Ok(ok(&ListPage {
        l: Layout::viewer(&v, &s, "services-title", "services"),
        items,
    }))
}

#[derive(Template)]
#[template(path = "service.html")]
struct DetailPage {
    l: Layout,
    s: ServiceLine,
    live: bool,
    periods: Vec<(String, String)>,
    reasons: Vec<(&'static str, String)>,
    dates: Vec<(String, String)>,
    details: Vec<(String, String)>,
    terminating: Option<String>,
    cancellable: bool,
    order_id: String,
    renewal_form: Form,
    termination_form: Form,
    deletion_form: Form,
    deletion_mailed: bool,
    token: String,
}

#[derive(Default)]
struct Forms {
    renewal: Form,
    termination: Form,
    deletion: Form,
    mailed: bool,
    token: String,
}

async fn page(s: &AppState, v: &Viewer, id: &str, forms: Forms) -> Result<DetailPage, PanelError> {
    let tr = v.tr;
    let x = services::get(&s.app, Some(&v.p.account_id), id)
        .await
        .lang(tr)?;
    let mut periods: Vec<String> = catalog::list(&s.app, true, None)
        .await
        .lang(tr)?
        .into_iter()
        .filter(|p| p.code == x.product)
        .flat_map(|p| p.plans.into_iter().map(|pl| pl.period))
        .collect();
    if !periods.contains(&x.renewal.period) {
        periods.push(x.renewal.period.clone());
    }
    periods.sort();
    periods.dedup();
    let mut dates = Vec::new();
    if let Some(n) = &x.next_dates {
        for (k, d) in [
            ("next-charge", &n.next_charge),
            ("next-reminder", &n.next_reminder),
            ("suspension", &n.suspension),
            ("deletion", &n.deletion),
        ] {
            if let Some(d) = d {
                dates.push((tr.code("date", k), tr.date(d)));
            }
        }
    }
    let details = match &x.details {
        serde_json::Value::Object(m) => m
            .iter()
            .map(|(k, v)| {
                let text = match v {
                    serde_json::Value::String(s) => s.clone(),
                    other => other.to_string(),
                };
                (k.clone(), text)
            })
            .collect(),
        _ => Vec::new(),
    };
    let mut renewal_form = forms.renewal;
    if renewal_form.v("mode").is_empty() {
        renewal_form = renewal_form.with("mode", &x.renewal.mode);
    }
    if renewal_form.v("period").is_empty() {
        renewal_form = renewal_form.with("period", &x.renewal.period);
    }
    Ok(DetailPage {
        l: Layout {
            title: x.display_name.clone(),
            ..Layout::viewer(v, s, "services-title", "services")
        },
        s: line(&tr, &x),
        live: x.state != "deleted",
        periods: periods
            .into_iter()
            .map(|p| {
                let label = tr.code("period", &p);
                (p, label)
            })
            .collect(),
        reasons: REASONS.iter().map(|r| (*r, tr.code("reason", r))).collect(),
        dates,
        details,
        terminating: x.termination.as_ref().map(|t| tr.code("reason", &t.reason)),
        cancellable: x.termination.as_ref().is_some_and(|t| t.cancellable),
        order_id: x.order_id.clone(),
        renewal_form,
        termination_form: forms.termination,
        deletion_form: forms.deletion,
        deletion_mailed: forms.mailed,
        token: forms.token,
    })
}

async fn detail(State(s): State<AppState>, v: Viewer, Path(id): Path<String>) -> PanelResult {
    Ok(ok(&page(&s, &v, &id, Forms::default()).await?))
}

/// A refused action shows the service again with the error next to its form.
async fn refused(s: &AppState, v: &Viewer, id: &str, e: AppError, forms: Forms) -> PanelResult {
    if e.kind == ErrorKind::Internal || e.kind == ErrorKind::NotFound {
        return Err(PanelError::App(v.tr, e));
    }
    let status = crate::error::status_of(e.kind);
    Ok(render(status, &page(s, v, id, forms).await?))
}

async fn renewal(
    State(s): State<AppState>,
    v: Viewer,
    Path(id): Path<String>,
    f: Fields,
) -> PanelResult {
    v.check(&f)?;
    let input = RenewalInput {
        mode: f.get("mode").to_owned(),
        period: f.opt("period"),
    };
    match service_ending::set_renewal(&s.app, &v.p.account_id, &id, &input).await {
        Ok(_) => Ok(see_other(&format!("/services/{id}?done=renewal_saved"))),
        Err(e) => {
            let form = Form::from_fields(&f).fail(&v.tr, &e, &["mode", "period"]);
            refused(
                &s,
                &v,
                &id,
                e,
                Forms {
                    renewal: form,
                    ..Forms::default()
                },
            )
            .await
        }
    }
}

async fn terminate(
    State(s): State<AppState>,
    v: Viewer,
    Path(id): Path<String>,
    f: Fields,
) -> PanelResult {
    v.check(&f)?;
    let input = TerminationInput {
        reason: f.get("reason").to_owned(),
        comment: f.opt("comment"),
    };
    match service_ending::terminate(&s.app, &v.p.account, &id, &input).await {
        Ok(_) => Ok(see_other(&format!("/services/{id}?done=terminated"))),
        Err(e) => {
            let form = Form::from_fields(&f).fail(&v.tr, &e, &["reason", "comment"]);
            refused(
                &s,
                &v,
                &id,
                e,
                Forms {
                    termination: form,
                    ..Forms::default()
                },
            )
            .await
        }
    }
}

async fn cancel_termination(
    State(s): State<AppState>,
    v: Viewer,
    Path(id): Path<String>,
    f: Fields,
) -> PanelResult {
    v.check(&f)?;
    match service_ending::cancel_termination(&s.app, &v.p.account, &id).await {
        Ok(_) => Ok(see_other(&format!(
            "/services/{id}?done=termination_cancelled"
        ))),
        Err(e) => {
            let form = Form::new().fail(&v.tr, &e, &[]);
            refused(
                &s,
                &v,
                &id,
                e,
                Forms {
                    termination: form,
                    ..Forms::default()
                },
            )
            .await
        }
    }
}

async fn request_deletion(
    State(s): State<AppState>,
    v: Viewer,
    Path(id): Path<String>,
    f: Fields,
) -> PanelResult {
    v.check(&f)?;
    match service_ending::request_deletion(&s.app, &v.p.account, &id).await {
        Ok(()) => Ok(ok(&page(
            &s,
            &v,
            &id,
            Forms {
                mailed: true,
                ..Forms::default()
            },
        )
        .await?)),
        Err(e) => {
            let form = Form::new().fail(&v.tr, &e, &[]);
            refused(
                &s,
                &v,
                &id,
                e,
                Forms {
                    deletion: form,
                    ..Forms::default()
                },
            )
            .await
        }
    }
}

#[derive(Deserialize, Default)]
struct TokenQuery {
    #[serde(default)]
    token: String,
}

/// The mailed link: the service page with the token filled in, ready to confirm.
async fn delete_page(
    State(s): State<AppState>,
    v: Viewer,
    Path(id): Path<String>,
    Query(q): Query<TokenQuery>,
) -> PanelResult {
    Ok(ok(&page(
        &s,
        &v,
        &id,
        Forms {
            mailed: true,
            token: q.token,
            ..Forms::default()
        },
    )
    .await?))
}

async fn confirm_deletion(
    State(s): State<AppState>,
    v: Viewer,
    Ctx(ctx): Ctx,
    Path(id): Path<String>,
    f: Fields,
) -> PanelResult {
    v.check(&f)?;
    let token = f.get("token").trim().to_owned();
    match service_ending::confirm_deletion(&s.app, &v.p.account, &id, &token, &ctx).await {
        Ok(_) => Ok(see_other(&format!("/services/{id}?done=deleted"))),
        Err(e) => {
            let form = Form::new().fail(&v.tr, &e, &["token"]);
            refused(
                &s,
                &v,
                &id,
                e,
                Forms {
                    deletion: form,
                    mailed: true,
                    token,
                    ..Forms::default()
                },
            )
            .await
        }
    }
}
