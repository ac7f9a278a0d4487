//! Ordering from the catalog in two steps: the form (a plan, a domain name where the product
//! takes one, a voucher code), then a review priced exactly as the order will be (lines, VAT,
//! the voucher's discount, the credit paying uses first) before the customer places it.

use super::billing_pages::{soft, status_of};
use super::error::{InLang, PanelError, PanelResult, see_other};
use super::session::{Fields, Viewer};
use super::{Form, Layout, ok, render};
use crate::AppState;
use askama::Template;
use axum::Router;
use axum::extract::{Query, State};
use axum::routing::{get, post};
use guichet_app::orders::{self, NewLine, NewOrder, OrderQuote, QuoteInput};
use guichet_app::vouchers::{self, RedeemInput};
use guichet_app::{AppError, catalog};
use serde::Deserialize;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/order", get(order_page).post(place_order))
        .route("/order/review", post(review))
}

pub struct PlanChoice {
    pub code: String,
    pub name: String,
    pub price: String,
}

pub struct ProductChoice {
    pub name: String,
    pub description: String,
    pub plans: Vec<PlanChoice>,
}

#[derive(Template)]
#[template(path = "order.html")]
struct OrderPage {
    l: Layout,
    products: Vec<ProductChoice>,
    form: Form,
}

/// The fields the order form shows; an order's line errors (`lines[0].plan`) are put next to
/// them.
const FIELDS: [&str; 3] = ["plan", "domain", "voucher"];

fn placed_fields(mut e: AppError) -> AppError {
    for f in &mut e.fields {
        if let Some(rest) = f.field.strip_prefix("lines[0].") {
            f.field = rest.to_owned();
        }
    }
    e
}

async fn order_view(s: &AppState, v: &Viewer, form: Form) -> Result<OrderPage, PanelError> {
    let tr = v.tr;
    let currency = v.p.account.currency.clone();
    let products = catalog::list(&s.app, true, Some(&currency))
        .await
        .lang(tr)?
        .into_iter()
        .filter(|p| !p.plans.is_empty())
        .map(|p| ProductChoice {
            description: p.description.unwrap_or_default(),
            plans: p
                .plans
                .into_iter()
                .map(|pl| {
                    let price = pl
                        .prices
                        .iter()
                        .find(|x| x.currency == currency)
                        .map(|x| {
                            format!(
                                "{} / {}",
                                tr.money(x.price_minor, &x.currency),
                                tr.code("period", &pl.period)
                            )
                        })
                        .unwrap_or_default();
                    PlanChoice {
                        code: pl.code,
                        name: pl.name,
                        price,
                    }
                })
                .collect(),
            name: p.name,
        })
        .collect();
    Ok(OrderPage {
        l: Layout::viewer(v, s, "order-title", "order"),
        products,
        form,
    })
}

#[derive(Deserialize, Default)]
struct Prefill {
    #[serde(default)]
    plan: String,
    #[serde(default)]
    domain: String,
    #[serde(default)]
    voucher: String,
}

/// The form, filled with what the review's "change" button sends back.
async fn order_page(State(s): State<AppState>, v: Viewer, Query(q): Query<Prefill>) -> PanelResult {
    let form = Form::new()
        .with("plan", &q.plan)
        .with("domain", &q.domain)
        .with("voucher", &q.voucher);
    Ok(ok(&order_view(&s, &v, form).await?))
}

/// What the form sent: the order's one line, and the voucher code.
fn wanted(f: &Fields) -> (NewLine, Option<String>) {
    (
        NewLine {
            plan: f.get("plan").to_owned(),
            period: None,
            quantity: Some(1),
            domain: f.opt("domain"),
        },
        f.opt("voucher"),
    )
}

pub struct QuoteLine {
    pub name: String,
    pub detail: String,
    pub amount: String,
}

#[derive(Template)]
#[template(path = "order_review.html")]
struct ReviewPage {
    l: Layout,
    plan: String,
    domain: String,
    voucher: String,
    lines: Vec<QuoteLine>,
    discount: Option<QuoteLine>,
    net: String,
    vat: String,
    total: String,
    credit: Option<String>,
    to_charge: String,
    reverse_charge: bool,
}

fn review_page(v: &Viewer, s: &AppState, f: &Fields, q: &OrderQuote) -> ReviewPage {
    let tr = v.tr;
    let m = |minor: i64| tr.money(minor, &q.currency);
    ReviewPage {
        l: Layout::viewer(v, s, "order-review-title", "order"),
        plan: f.get("plan").to_owned(),
        domain: f.get("domain").trim().to_owned(),
        voucher: q
            .discount
            .as_ref()
            .map(|d| d.code.clone())
            .unwrap_or_default(),
        lines: q
            .lines
            .iter()
            .map(|l| QuoteLine {
                name: format!("{} — {}", l.product_name, l.plan_name),
                detail: format!(
                    "{}{} · {} {}",
                    tr.code("period", &l.period),
                    l.domain
                        .as_deref()
                        .map(|d| format!(" · {d}"))
                        .unwrap_or_default(),
                    tr.t("col-vat"),
                    percent(l.vat_rate_bp)
                ),
                amount: m(l.net_minor),
            })
            .collect(),
        discount: q.discount.as_ref().map(|d| QuoteLine {
            name: d.label.clone(),
            detail: String::new(),
            amount: m(-d.net_minor),
        }),
        net: m(q.net_minor),
        vat: m(q.vat_minor),
        total: m(q.total_minor),
        credit: (q.credit_minor > 0).then(|| m(-q.credit_minor)),
        to_charge: m(q.to_charge_minor),
        reverse_charge: q.tax_treatment == "reverse_charge",
    }
}

/// A rate in basis points as a percentage (2000 → "20 %").
fn percent(bp: i64) -> String {
    if bp % 100 == 0 {
        format!("{} %", bp / 100)
    } else {
        format!("{}.{:02} %", bp / 100, bp % 100)
    }
}

/// The review: the order priced as it will be placed, nothing written yet.
async fn review(State(s): State<AppState>, v: Viewer, f: Fields) -> PanelResult {
    v.check(&f)?;
    let (line, voucher) = wanted(&f);
    let input = QuoteInput {
        lines: vec![line],
        currency: None,
        voucher,
    };
    match orders::quote(&s.app, &v.p.account, &input).await {
        Ok(q) => Ok(ok(&review_page(&v, &s, &f, &q))),
        Err(e) => {
            let e = placed_fields(soft(v.tr, e)?);
            let form = Form::from_fields(&f).fail(&v.tr, &e, &FIELDS);
            Ok(render(status_of(&e), &order_view(&s, &v, form).await?))
        }
    }
}

/// Place the reviewed order, then put the voucher on it. Should the voucher be refused in
/// between (its last use taken meanwhile), the order stays unpaid without it and its page
/// says so.
async fn place_order(State(s): State<AppState>, v: Viewer, f: Fields) -> PanelResult {
    v.check(&f)?;
    let (line, voucher) = wanted(&f);
    let input = NewOrder {
        lines: vec![line],
        currency: None,
    };
    match orders::create(&s.app, &v.p.account, &input).await {
        Ok(o) => {
            let Some(code) = voucher else {
                return Ok(see_other(&format!("/orders/{}?done=order_placed", o.id)));
            };
            let done =
                match vouchers::redeem_on_order(&s.app, &v.p.account, &o.id, &RedeemInput { code })
                    .await
                {
                    Ok(_) => "order_placed",
                    Err(e) => {
                        soft(v.tr, e)?;
                        "order_placed_voucher_refused"
                    }
                };
            Ok(see_other(&format!("/orders/{}?done={done}", o.id)))
        }
        Err(e) => {
            let e = placed_fields(soft(v.tr, e)?);
            let form = Form::from_fields(&f).fail(&v.tr, &e, &FIELDS);
            Ok(render(status_of(&e), &order_view(&s, &v, form).await?))
        }
    }
}
