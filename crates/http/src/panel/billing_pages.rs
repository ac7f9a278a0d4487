//! Money pages: payment methods (a sandbox test card, SEPA direct debit, bank transfer),
//! orders with their follow-up timeline and payment, invoices and
//! credit notes with their PDF and the CSV and ZIP exports.

use super::error::{InLang, PanelError, PanelResult, see_other};
use super::i18n::Tr;
use super::session::{Fields, Viewer};
use super::{Form, Layout, ok, render};
use crate::AppState;
use crate::extract::Ctx;
use askama::Template;
use axum::Router;
use axum::extract::{Path, Query, State};
use axum::response::IntoResponse;
use axum::routing::{get, post};
use guichet_app::invoices::{self, CREDIT_NOTE, INVOICE, ListQuery};
use guichet_app::orders;
use guichet_app::payment_methods::{self, NewMethod};
use guichet_app::payments::{self, PayInput};
use guichet_app::{AppError, ErrorKind, gateway};
use serde::Deserialize;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/payment-methods", get(methods_page))
        .route("/payment-methods/card", post(add_card))
        .route("/payment-methods/stripe/setup", post(stripe_setup))
        .route("/payment-methods/stripe", post(add_stripe_card))
        .route("/payment-methods/sepa", post(add_sepa))
        .route("/payment-methods/transfer", post(add_transfer))
        .route("/payment-methods/{id}/default", post(make_default))
        .route("/payment-methods/{id}/delete", post(delete_method))
        .route("/orders", get(orders_page))
        .route("/orders/{id}", get(order_detail))
        .route("/orders/{id}/pay", post(pay))
        .route("/orders/{id}/cancel", post(cancel))
        .route("/invoices", get(invoices_page))
}

pub(super) fn status_of(e: &AppError) -> axum::http::StatusCode {
    crate::error::status_of(e.kind)
}

pub(super) fn soft(tr: Tr, e: AppError) -> Result<AppError, PanelError> {
    if e.kind == ErrorKind::Internal || e.kind == ErrorKind::NotFound {
        Err(PanelError::App(tr, e))
    } else {
        Ok(e)
    }
}

// ---- payment methods ----

pub struct MethodLine {
    pub id: String,
    pub label: String,
    pub kind: String,
    pub status: String,
    pub status_code: String,
    pub expiry: String,
    pub is_default: bool,
}

#[derive(Template)]
#[template(path = "payment_methods.html")]
struct MethodsPage {
    l: Layout,
    items: Vec<MethodLine>,
    card: Form,
    sepa: Form,
    other: Form,
    sandbox_cards: bool,
    /// Stripe's publishable key when cards are saved through Stripe's card field.
    stripe_key: Option<String>,
    stripe_script: &'static str,
}

#[derive(Default)]
struct MethodForms {
    card: Form,
    sepa: Form,
    other: Form,
}

async fn methods_view(
    s: &AppState,
    v: &Viewer,
    forms: MethodForms,
) -> Result<MethodsPage, PanelError> {
    let tr = v.tr;
    let items = payment_methods::list(&s.app, &v.p.account_id)
        .await
        .lang(tr)?
        .into_iter()
        .map(|m| MethodLine {
            expiry: match (m.exp_month, m.exp_year) {
                (Some(mo), Some(y)) => format!("{mo:02}/{y}"),
                _ => String::new(),
            },
            kind: tr.code("method", &m.kind),
            status: tr.code("method-status", &m.status),
            status_code: m.status,
            is_default: m.is_default,
            label: m.label,
            id: m.id,
        })
        .collect();
    let gateway = gateway::Gateway::for_app(&s.app);
    let sandbox_cards = s.app.config.sandbox && gateway.is_some_and(|g| g.name() == "sandbox");
    let stripe_key = gateway
        .filter(|g| g.name() == "stripe")
        .and_then(|_| s.app.config.stripe.as_ref())
        .and_then(|c| c.publishable_key.clone());
    Ok(MethodsPage {
        l: Layout::viewer(v, s, "methods-title", "payment-methods"),
        items,
        card: forms.card,
        sepa: forms.sepa,
        other: forms.other,
        sandbox_cards,
        stripe_key,
        stripe_script: super::assets::STRIPE_CARD_PATH,
    })
}

/// The payment-methods page may load Stripe.js (script, its card field's frame, its API):
/// the panel's policy widened for Stripe's origins, on this page only.
const STRIPE_CSP: &str = "default-src 'self'; script-src 'self' https://js.stripe.com; \
    frame-src https://js.stripe.com https://hooks.stripe.com; \
    connect-src 'self' https://api.stripe.com; img-src 'self' https://*.stripe.com; \
    frame-ancestors 'none'; base-uri 'none'; form-action 'self'";

/// The page, with the policy Stripe's card field needs when it is shown.
fn methods_response(
    status: axum::http::StatusCode,
    page: &MethodsPage,
) -> axum::response::Response {
    let mut r = render(status, page);
    if page.stripe_key.is_some() {
        r.headers_mut().insert(
            axum::http::header::CONTENT_SECURITY_POLICY,
            axum::http::HeaderValue::from_static(STRIPE_CSP),
        );
    }
    r
}

async fn methods_page(State(s): State<AppState>, v: Viewer) -> PanelResult {
    let page = methods_view(&s, &v, MethodForms::default()).await?;
    Ok(methods_response(axum::http::StatusCode::OK, &page))
}

/// A SetupIntent for Stripe's card field (asked by the page's script, with the form's CSRF
/// token): its client secret, as JSON; an error as the API's `{code, message}`.
async fn stripe_setup(State(s): State<AppState>, v: Viewer, f: Fields) -> PanelResult {
    v.check(&f)?;
    let r = match payment_methods::setup_intent(&s.app, &v.p.account_id).await {
        Ok(si) => {
            axum::Json(serde_json::json!({ "client_secret": si.client_secret })).into_response()
        }
        Err(e) => (
            crate::error::status_of(e.kind),
            axum::Json(serde_json::json!({ "code": e.code, "message": e.message })),
        )
            .into_response(),
    };
    Ok(r)
}

/// Save the card Stripe's field confirmed (the SetupIntent's `pm_…`).
async fn add_stripe_card(
    State(s): State<AppState>,
    v: Viewer,
    Ctx(ctx): Ctx,
    f: Fields,
) -> PanelResult {
    v.check(&f)?;
    let input = NewMethod {
        kind: "card".into(),
        token: f.opt("token"),
        iban: None,
        holder_name: None,
        make_default: Some(f.get("make_default") == "1"),
    };
    let result = payment_methods::add(&s.app, &v.p.account_id, &input, &ctx).await;
    let tr = v.tr;
    added(&s, &v, result, |e| MethodForms {
        card: Form::new().fail(&tr, &e, &[]),
        ..MethodForms::default()
    })
    .await
}

async fn added(
    s: &AppState,
    v: &Viewer,
    result: Result<payment_methods::MethodView, AppError>,
    forms: impl FnOnce(AppError) -> MethodForms,
) -> PanelResult {
    match result {
        Ok(_) => Ok(see_other("/payment-methods?done=method_added")),
        Err(e) => {
            let e = soft(v.tr, e)?;
            let status = status_of(&e);
            Ok(methods_response(
                status,
                &methods_view(s, v, forms(e)).await?,
            ))
        }
    }
}

async fn add_card(State(s): State<AppState>, v: Viewer, Ctx(ctx): Ctx, f: Fields) -> PanelResult {
    v.check(&f)?;
    let month = f.get("exp_month").trim().parse::<i64>().unwrap_or(0);
    let year = f.get("exp_year").trim().parse::<i64>().unwrap_or(0);
    let result =
        match gateway::sandbox_tokenize(&s.app, f.get("number"), month, year, f.get("cvc").trim())
            .await
        {
            Ok(t) => {
                let input = NewMethod {
                    kind: "card".into(),
                    token: Some(t.token),
                    iban: None,
                    holder_name: None,
                    make_default: Some(f.get("make_default") == "1"),
                };
                payment_methods::add(&s.app, &v.p.account_id, &input, &ctx).await
            }
            Err(e) => Err(e),
        };
    let tr = v.tr;
    added(&s, &v, result, |e| MethodForms {
        card: Form::from_fields(&f).fail(&tr, &e, &["number", "exp_month", "exp_year", "cvc"]),
        ..MethodForms::default()
    })
    .await
}

async fn add_sepa(State(s): State<AppState>, v: Viewer, Ctx(ctx): Ctx, f: Fields) -> PanelResult {
    v.check(&f)?;
    let input = NewMethod {
        kind: "sepa_debit".into(),
        token: None,
        iban: f.opt("iban"),
        holder_name: f.opt("holder_name"),
        make_default: Some(f.get("make_default") == "1"),
    };
    let result = payment_methods::add(&s.app, &v.p.account_id, &input, &ctx).await;
    let tr = v.tr;
    added(&s, &v, result, |e| MethodForms {
        sepa: Form::from_fields(&f).fail(&tr, &e, &["iban", "holder_name"]),
        ..MethodForms::default()
    })
    .await
}

async fn add_transfer(
    State(s): State<AppState>,
    v: Viewer,
    Ctx(ctx): Ctx,
    f: Fields,
) -> PanelResult {
    v.check(&f)?;
    let input = NewMethod {
        kind: "bank_transfer".into(),
        token: None,
        iban: None,
        holder_name: None,
        make_default: Some(false),
    };
    let result = payment_methods::add(&s.app, &v.p.account_id, &input, &ctx).await;
    let tr = v.tr;
    added(&s, &v, result, |e| MethodForms {
        other: Form::new().fail(&tr, &e, &[]),
        ..MethodForms::default()
    })
    .await
}

async fn make_default(
    State(s): State<AppState>,
    v: Viewer,
    Ctx(ctx): Ctx,
    Path(id): Path<String>,
    f: Fields,
) -> PanelResult {
    v.check(&f)?;
    match payment_methods::make_default(&s.app, &v.p.account_id, &id, &ctx).await {
        Ok(_) => Ok(see_other("/payment-methods?done=method_default")),
        Err(e) => {
            let e = soft(v.tr, e)?;
            let tr = v.tr;
            Ok(render(
                status_of(&e),
                &methods_view(
                    &s,
                    &v,
                    MethodForms {
                        other: Form::new().fail(&tr, &e, &[]),
                        ..MethodForms::default()
                    },
                )
                .await?,
            ))
        }
    }
}

async fn delete_method(
    State(s): State<AppState>,
    v: Viewer,
    Ctx(ctx): Ctx,
    Path(id): Path<String>,
    f: Fields,
) -> PanelResult {
    v.check(&f)?;
    match payment_methods::delete(&s.app, &v.p.account_id, &id, &ctx).await {
        Ok(()) => Ok(see_other("/payment-methods?done=method_deleted")),
        Err(e) => {
            let e = soft(v.tr, e)?;
            let tr = v.tr;
            Ok(render(
                status_of(&e),
                &methods_view(
                    &s,
                    &v,
                    MethodForms {
                        other: Form::new().fail(&tr, &e, &[]),
                        ..MethodForms::default()
                    },
                )
                .await?,
            ))
        }
    }
}

// ---- orders ----

pub struct OrderLine {
    pub id: String,
    pub number: String,
    pub kind: String,
    pub status: String,
    pub step: String,
    pub total: String,
    pub action: String,
    pub created: String,
}

#[derive(Template)]
#[template(path = "orders.html")]
struct OrdersPage {
    l: Layout,
    items: Vec<OrderLine>,
    filter: String,
    statuses: Vec<(&'static str, String)>,
}

#[derive(Deserialize, Default)]
struct OrdersQuery {
    #[serde(default)]
    status: String,
}

const STATUSES: [&str; 6] = [
    "not_paid",
    "checking",
    "documents_requested",
    "delivering",
    "delivered",
    "cancelled",
];

async fn orders_page(
    State(s): State<AppState>,
    v: Viewer,
    Query(q): Query<OrdersQuery>,
) -> PanelResult {
    let tr = v.tr;
    let status = STATUSES.iter().find(|x| **x == q.status).copied();
    let items = orders::list(&s.app, Some(&v.p.account_id), status, 200)
        .await
        .lang(tr)?
        .into_iter()
        .map(|o| OrderLine {
            kind: tr.code("order-kind", &o.kind),
            status: tr.code("order-status", &o.status),
            step: format!(
                "{} ({})",
                tr.code("step", &o.step),
                tr.code("step-status", &o.step_status)
            ),
            total: tr.money(o.total_minor, &o.currency),
            action: o
                .action_required
                .as_deref()
                .map(|a| tr.code("action", a))
                .unwrap_or_default(),
            created: tr.date(&o.created_at),
            number: o.number,
            id: o.id,
        })
        .collect();
    Ok(ok(&OrdersPage {
        l: Layout::viewer(&v, &s, "orders-title", "orders"),
        items,
        filter: status.unwrap_or("").to_owned(),
        statuses: STATUSES
            .iter()
            .map(|x| (*x, tr.code("order-status", x)))
            .collect(),
    }))
}

pub struct Line {
    pub name: String,
    pub period: String,
    pub quantity: i64,
    pub net: String,
    pub vat: String,
    pub total: String,
    pub service_id: Option<String>,
}

pub struct Event {
    pub at: String,
    pub label: String,
    pub message: String,
}

#[derive(Template)]
#[template(path = "order_detail.html")]
struct OrderDetail {
    l: Layout,
    id: String,
    number: String,
    status_code: String,
    status: String,
    step: String,
    action: Option<String>,
    lines: Vec<Line>,
    net: String,
    vat: String,
    total: String,
    expires: String,
    history: Vec<Event>,
    methods: Vec<(String, String, bool)>,
    form: Form,
    watching: bool,
}

async fn order_view_detail(
    s: &AppState,
    v: &Viewer,
    id: &str,
    form: Form,
) -> Result<OrderDetail, PanelError> {
    let tr = v.tr;
    let o = orders::get(&s.app, Some(&v.p.account_id), id)
        .await
        .lang(tr)?;
    let methods = if o.status == "not_paid" {
        payment_methods::list(&s.app, &v.p.account_id)
            .await
            .lang(tr)?
            .into_iter()
            .filter(|m| m.status != "expired" && m.status != "failed")
            .map(|m| (m.id, m.label, m.is_default))
            .collect()
    } else {
        Vec::new()
    };
    let cur = o.currency.clone();
    Ok(OrderDetail {
        l: Layout {
            title: o.number.clone(),
            ..Layout::viewer(v, s, "orders-title", "orders")
        },
        watching: matches!(o.status.as_str(), "checking" | "delivering"),
        status: tr.code("order-status", &o.status),
        step: format!(
            "{} ({})",
            tr.code("step", &o.follow_up.step),
            tr.code("step-status", &o.follow_up.step_status)
        ),
        action: o.follow_up.action.as_ref().map(|a| {
            let due = a.due_at.as_deref().map(|d| tr.date(d)).unwrap_or_default();
            format!("{} {}", tr.code("action", &a.what), due)
        }),
        lines: o
            .lines
            .iter()
            .map(|l| Line {
                name: format!("{} — {}", l.product_name, l.plan_name),
                period: tr.code("period", &l.period),
                quantity: l.quantity,
                net: tr.money(l.net_minor, &cur),
                vat: tr.money(l.vat_minor, &cur),
                total: tr.money(l.total_minor, &cur),
                service_id: l.service_id.clone(),
            })
            .collect(),
        net: tr.money(o.net_minor, &cur),
        vat: tr.money(o.vat_minor, &cur),
        total: tr.money(o.total_minor, &cur),
        expires: tr.datetime(&o.expires_at),
        history: o
            .follow_up
            .history
            .iter()
            .map(|h| Event {
                at: tr.datetime(&h.at),
                label: tr.code("event", &h.label),
                message: h.message.clone(),
            })
            .collect(),
        methods,
        form,
        id: o.id,
        number: o.number,
        status_code: o.status,
    })
}

async fn order_detail(State(s): State<AppState>, v: Viewer, Path(id): Path<String>) -> PanelResult {
    Ok(ok(&order_view_detail(&s, &v, &id, Form::new()).await?))
}

async fn pay(
    State(s): State<AppState>,
    v: Viewer,
    Path(id): Path<String>,
    f: Fields,
) -> PanelResult {
    v.check(&f)?;
    let input = PayInput {
        payment_method_id: f.opt("payment_method_id"),
        source: None,
    };
    match payments::pay_order(&s.app, &v.p.account_id, &id, &input).await {
        Ok(_) => Ok(see_other(&format!("/orders/{id}?done=paid"))),
        Err(e) => {
            let e = soft(v.tr, e)?;
            let form = Form::new().fail(&v.tr, &e, &[]);
            Ok(render(
                status_of(&e),
                &order_view_detail(&s, &v, &id, form).await?,
            ))
        }
    }
}

async fn cancel(
    State(s): State<AppState>,
    v: Viewer,
    Path(id): Path<String>,
    f: Fields,
) -> PanelResult {
    v.check(&f)?;
    match orders::cancel_by_customer(&s.app, &v.p.account, &id).await {
        Ok(_) => Ok(see_other(&format!("/orders/{id}?done=order_cancelled"))),
        Err(e) => {
            let e = soft(v.tr, e)?;
            let form = Form::new().fail(&v.tr, &e, &[]);
            Ok(render(
                status_of(&e),
                &order_view_detail(&s, &v, &id, form).await?,
            ))
        }
    }
}

// ---- invoices ----

pub struct DocLine {
    pub id: String,
    pub number: String,
    pub date: String,
    pub net: String,
    pub vat: String,
    pub total: String,
}

#[derive(Template)]
#[template(path = "invoices.html")]
struct InvoicesPage {
    l: Layout,
    invoices: Vec<DocLine>,
    credit_notes: Vec<DocLine>,
    unpaid: Vec<(String, String, String)>,
    chart: String,
}

async fn invoices_page(State(s): State<AppState>, v: Viewer) -> PanelResult {
    let tr = v.tr;
    let docs = |kind| ListQuery {
        kind,
        limit: Some(200),
        ..ListQuery::default()
    };
    let inv = invoices::list(&s.app, Some(&v.p.account_id), &docs(INVOICE))
        .await
        .lang(tr)?
        .items;
    let cn = invoices::list(&s.app, Some(&v.p.account_id), &docs(CREDIT_NOTE))
        .await
        .lang(tr)?
        .items;
    let line = |d: &invoices::InvoiceSummary| DocLine {
        id: d.id.clone(),
        number: d.number.clone(),
        date: tr.date(&d.issue_date),
        net: tr.money(d.net_minor, &d.currency),
        vat: tr.money(d.vat_minor, &d.currency),
        total: tr.money(d.total_minor, &d.currency),
    };
    let unpaid = orders::list(&s.app, Some(&v.p.account_id), Some("not_paid"), 50)
        .await
        .lang(tr)?
        .into_iter()
        .map(|o| (o.id, o.number, tr.money(o.total_minor, &o.currency)))
        .collect();
    let today = guichet_app::clock::utc_date(s.app.now_ms());
    let chart = super::chart::spending_svg(&tr, today, &inv, &cn, &v.p.account.currency);
    Ok(ok(&InvoicesPage {
        l: Layout::viewer(&v, &s, "invoices-title", "invoices"),
        invoices: inv.iter().map(line).collect(),
        credit_notes: cn.iter().map(line).collect(),
        unpaid,
        chart,
    }))
}
