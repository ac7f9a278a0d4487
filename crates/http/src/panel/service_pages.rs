//! Services: the list with expiration and renewal mode, and one service with the guide's
//! three ways to manage its end (renewal settings, "Résilier" with a reason and its undo,
//! deletion now confirmed by the mailed token), and its plan changes priced before they are
//! confirmed.

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
use guichet_app::plan_changes::{self, PlanChangeInput, PlanChangeOption, PlanChangesView};
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
        .route(
            "/services/{id}/plan-change",
            get(plan_change_page).post(change_plan),
        )
        .route(
            "/services/{id}/plan-change/cancel",
            post(cancel_plan_change),
        )
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
    plans: Option<PlanSection>,
    plan_form: Form,
}

#[derive(Default)]
struct Forms {
    renewal: Form,
    termination: Form,
    deletion: Form,
    mailed: bool,
    token: String,
    plan: Form,
}

/// One plan the service can move to, with what the change costs today.
pub struct PlanLine {
    pub plan: String,
    pub name: String,
    pub price: String,
    pub what: String,
}

/// The change in progress.
pub struct PendingPlan {
    pub text: String,
    pub cancellable: bool,
    pub order_id: Option<String>,
}

/// The service page's plan section.
pub struct PlanSection {
    pub days: String,
    pub options: Vec<PlanLine>,
    pub pending: Option<PendingPlan>,
}

/// What changing to `o` costs today, in words.
fn option_text(tr: &Tr, currency: &str, o: &PlanChangeOption) -> String {
    match (o.direction.as_str(), o.timing.as_str()) {
        ("upgrade", _) => tr.t1(
            "plan-upgrade-now",
            "amount",
            &tr.money(o.charge_total_minor, currency),
        ),
        (_, "now") => tr.t1(
            "plan-downgrade-now",
            "amount",
            &tr.money(o.credit_minor, currency),
        ),
        _ => tr.t("plan-downgrade-renewal").to_owned(),
    }
}

fn price_per_period(tr: &Tr, currency: &str, o: &PlanChangeOption) -> String {
    format!(
        "{} / {}",
        tr.money(o.price_minor, currency),
        tr.code("period", &o.period)
    )
}

/// The plan options of a service, or `None` when it cannot change plan (not active).
async fn plan_options(
    s: &AppState,
    v: &Viewer,
    id: &str,
) -> Result<Option<PlanChangesView>, PanelError> {
    match plan_changes::options(&s.app, &v.p.account, id).await {
        Ok(p) => Ok(Some(p)),
        Err(e) if e.kind == ErrorKind::Conflict => Ok(None),
        Err(e) => Err(PanelError::App(v.tr, e)),
    }
}

fn plan_section(tr: &Tr, p: &PlanChangesView) -> PlanSection {
    PlanSection {
        days: tr.t2(
            "plan-days",
            "left",
            &p.days_remaining.to_string(),
            "total",
            &p.days_in_period.to_string(),
        ),
        options: p
            .options
            .iter()
            .map(|o| PlanLine {
                plan: o.plan.clone(),
                name: o.plan_name.clone(),
                price: price_per_period(tr, &p.currency, o),
                what: option_text(tr, &p.currency, o),
            })
            .collect(),
        pending: p.pending.as_ref().map(|c| {
            let name = p
                .options
                .iter()
                .find(|o| o.plan == c.to_plan)
                .map_or(c.to_plan.clone(), |o| o.plan_name.clone());
            PendingPlan {
                text: if c.direction == "upgrade" {
                    tr.t1("plan-pending-upgrade", "plan", &name)
                } else {
                    tr.t2(
                        "plan-pending-downgrade",
                        "plan",
                        &name,
                        "date",
                        &tr.date(&p.period_end),
                    )
                },
                cancellable: c.cancellable,
                order_id: c.order_id.clone(),
            }
        }),
    }
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
    let plans = plan_options(s, v, id).await?.map(|p| plan_section(&tr, &p));
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
        plans,
        plan_form: forms.plan,
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

#[derive(Template)]
#[template(path = "plan_change.html")]
struct PlanChangePage {
    l: Layout,
    service_id: String,
    service_name: String,
    plan: String,
    heading: String,
    facts: Vec<(String, String)>,
    note: String,
}

#[derive(Deserialize, Default)]
struct PlanQuery {
    #[serde(default)]
    plan: String,
}

/// The price of one change, exactly as it will be charged or credited, before the customer
/// confirms it.
async fn plan_change_page(
    State(s): State<AppState>,
    v: Viewer,
    Path(id): Path<String>,
    Query(q): Query<PlanQuery>,
) -> PanelResult {
    let tr = v.tr;
    let x = services::get(&s.app, Some(&v.p.account_id), &id)
        .await
        .lang(tr)?;
    let chosen = plan_options(&s, &v, &id).await?.and_then(|p| {
        p.options
            .iter()
            .find(|o| o.plan == q.plan)
            .cloned()
            .map(|o| (p, o))
    });
    let Some((p, o)) = chosen else {
        let e = AppError::field("plan", "plan_not_offered", "this plan is not offered");
        let form = Form::new().fail(&tr, &e, &["plan"]);
        return refused(
            &s,
            &v,
            &id,
            e,
            Forms {
                plan: form,
                ..Forms::default()
            },
        )
        .await;
    };
    let m = |minor: i64| tr.money(minor, &p.currency);
    let new_price = price_per_period(&tr, &p.currency, &o);
    let mut facts = vec![(tr.t("plan-new-price").to_owned(), new_price.clone())];
    let (heading, note) = match (o.direction.as_str(), o.timing.as_str()) {
        ("upgrade", _) => {
            facts.push((
                tr.t("plan-covered").to_owned(),
                tr.t2(
                    "plan-covered-days",
                    "from",
                    &tr.date(&p.period_start),
                    "days",
                    &p.days_remaining.to_string(),
                ),
            ));
            facts.push((tr.t("col-net").to_owned(), m(o.charge_net_minor)));
            facts.push((tr.t("col-vat").to_owned(), m(o.charge_vat_minor)));
            facts.push((tr.t("plan-pay-today").to_owned(), m(o.charge_total_minor)));
            (
                tr.t1("plan-upgrade-heading", "plan", &o.plan_name),
                tr.t1("plan-upgrade-note", "date", &tr.date(&p.period_end)),
            )
        }
        (_, "now") => {
            facts.push((tr.t("plan-credited").to_owned(), m(o.credit_minor)));
            (
                tr.t1("plan-downgrade-heading", "plan", &o.plan_name),
                tr.t("plan-downgrade-now-note").to_owned(),
            )
        }
        _ => {
            facts.push((tr.t("plan-pay-today").to_owned(), m(0)));
            (
                tr.t1("plan-downgrade-heading", "plan", &o.plan_name),
                tr.t1(
                    "plan-downgrade-renewal-note",
                    "date",
                    &tr.date(&p.period_end),
                ),
            )
        }
    };
    Ok(ok(&PlanChangePage {
        l: Layout {
            title: heading.clone(),
            ..Layout::viewer(&v, &s, "services-title", "services")
        },
        service_id: x.id,
        service_name: x.display_name,
        plan: o.plan,
        heading,
        facts,
        note,
    }))
}

async fn change_plan(
    State(s): State<AppState>,
    v: Viewer,
    Path(id): Path<String>,
    f: Fields,
) -> PanelResult {
    v.check(&f)?;
    let input = PlanChangeInput {
        plan: f.get("plan").to_owned(),
    };
    match plan_changes::change(&s.app, &v.p.account, &id, &input).await {
        Ok(r) => Ok(match r.order {
            Some(o) => see_other(&format!("/orders/{}?done=plan_change_ordered", o.id)),
            None if r.change.state == "applied" => {
                see_other(&format!("/services/{id}?done=plan_changed"))
            }
            None => see_other(&format!("/services/{id}?done=plan_change_scheduled")),
        }),
        Err(e) => {
            let form = Form::from_fields(&f).fail(&v.tr, &e, &["plan"]);
            refused(
                &s,
                &v,
                &id,
                e,
                Forms {
                    plan: form,
                    ..Forms::default()
                },
            )
            .await
        }
    }
}

async fn cancel_plan_change(
    State(s): State<AppState>,
    v: Viewer,
    Path(id): Path<String>,
    f: Fields,
) -> PanelResult {
    v.check(&f)?;
    match plan_changes::cancel_pending(&s.app, &v.p.account, &id).await {
        Ok(_) => Ok(see_other(&format!(
            "/services/{id}?done=plan_change_cancelled"
        ))),
        Err(e) => {
            let form = Form::new().fail(&v.tr, &e, &[]);
            refused(
                &s,
                &v,
                &id,
                e,
                Forms {
                    plan: form,
                    ..Forms::default()
                },
            )
            .await
        }
    }
}
