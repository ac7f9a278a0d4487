//! The dashboard: the account-health checklist of the guide (each item linking to the page
//! that fixes it), the services expiring soon, the orders waiting for the customer and the
//! unpaid ones.

use super::error::{InLang, PanelResult};
use super::session::Viewer;
use super::{Layout, ok};
use crate::AppState;
use askama::Template;
use axum::Router;
use axum::extract::State;
use axum::routing::get;
use guichet_app::{health, orders, services};

pub fn routes() -> Router<AppState> {
    Router::new().route("/dashboard", get(dashboard))
}

pub struct CheckRow {
    pub ok: bool,
    pub label: String,
    pub fix: String,
    pub fix_label: String,
}

pub struct ServiceRow {
    pub id: String,
    pub name: String,
    pub expires: String,
    pub renewal: String,
}

pub struct OrderRow {
    pub id: String,
    pub number: String,
    pub total: String,
    pub what: String,
    pub due: String,
}

#[derive(Template)]
#[template(path = "dashboard.html")]
struct DashboardPage {
    l: Layout,
    hello: String,
    progress: String,
    checks: Vec<CheckRow>,
    expiring: Vec<ServiceRow>,
    action: Vec<OrderRow>,
    unpaid: Vec<OrderRow>,
}

/// Services expire "soon" within this many days.
const SOON_DAYS: i64 = 30;

async fn dashboard(State(s): State<AppState>, v: Viewer) -> PanelResult {
    let tr = v.tr;
    let h = health::checklist(&s.app, &v.p).await.lang(tr)?;
    let checks = h
        .items
        .iter()
        .map(|i| CheckRow {
            ok: i.ok,
            label: tr.code("health", &i.code),
            fix: i.fix.clone(),
            fix_label: tr.code("health-fix", &i.code),
        })
        .collect();
    let today = guichet_app::clock::utc_date(s.app.now_ms());
    let soon = today.and_then(|t| t.checked_add(jiff::Span::new().days(SOON_DAYS)).ok());
    let expiring = services::list(&s.app, &v.p.account_id)
        .await
        .lang(tr)?
        .into_iter()
        .filter(|x| x.state != "deleted")
        .filter(|x| {
            let e: Option<jiff::civil::Date> = x.expires_on.parse().ok();
            matches!((e, soon), (Some(e), Some(s)) if e <= s)
        })
        .map(|x| ServiceRow {
            name: x.display_name,
            expires: tr.date(&x.expires_on),
            renewal: tr.code("renewal", &x.renewal.mode),
            id: x.id,
        })
        .collect();
    let all = orders::list(&s.app, Some(&v.p.account_id), None, 100)
        .await
        .lang(tr)?;
    let row = |o: &orders::OrderSummary| OrderRow {
        id: o.id.clone(),
        number: o.number.clone(),
        total: tr.money(o.total_minor, &o.currency),
        what: o
            .action_required
            .as_deref()
            .map(|a| tr.code("action", a))
            .unwrap_or_default(),
        due: o
            .action_due_at
            .as_deref()
            .map(|d| tr.date(d))
            .unwrap_or_else(|| tr.date(&o.expires_at)),
    };
    let action = all
        .iter()
        .filter(|o| o.action_required.is_some() && o.status != "not_paid")
        .map(row)
        .collect();
    let unpaid = all
        .iter()
        .filter(|o| o.status == "not_paid")
        .map(row)
        .collect();
    Ok(ok(&DashboardPage {
        l: Layout::viewer(&v, &s, "dashboard-title", "dashboard"),
        hello: tr.t1("dashboard-hello", "name", &v.p.account.first_name),
        progress: tr.t2(
            "health-progress",
            "done",
            &h.done.to_string(),
            "total",
            &h.total.to_string(),
        ),
        checks,
        expiring,
        action,
        unpaid,
    }))
}
