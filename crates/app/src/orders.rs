//! Orders as customers place and follow them: a cart of plan lines priced with VAT by the
//! domain crate, the follow-up (current step, dated history, what the customer must do and by
//! when), cancellation while unpaid, and the expiry of orders left unpaid.

use crate::accounts::{language_of, recipient};
use crate::clock::rfc3339;
use crate::mail::{self, MailKind, OrderMail};
use crate::{App, AppError, Result, ids};
use guichet_domain::order::{OrderStatus, follow_up};
use guichet_domain::pricing::{self, LineInput, MAX_LINES, MAX_QUANTITY};
use guichet_domain::{BillingPeriod, Currency, FieldError, Language, Money, tax};
use guichet_store::accounts::AccountRow;
use guichet_store::orders::{self, DocumentRow, EventRow, LineRow, OrderRow};
use guichet_store::{AnyConnection, catalog, payments};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// One line of a new order.
#[derive(Debug, Clone, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewLine {
    /// Plan code from the catalog.
    pub plan: String,
    /// The plan's billing period (`P1M`…`P3Y`); optional, checked when given.
    pub period: Option<String>,
    /// 1 to 100 (default 1).
    pub quantity: Option<i64>,
    /// Domain name: required for `domain` products, optional for web hosting.
    pub domain: Option<String>,
}

#[derive(Debug, Clone, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewOrder {
    pub lines: Vec<NewLine>,
    /// The account's currency; optional, checked when given.
    pub currency: Option<String>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct LineView {
    pub line: i64,
    pub product: String,
    pub product_name: String,
    pub plan: String,
    pub plan_name: String,
    pub period: String,
    pub quantity: i64,
    pub unit_price_minor: i64,
    pub setup_fee_minor: i64,
    /// Basis points: 2000 = 20 %.
    pub vat_rate_bp: i64,
    pub net_minor: i64,
    pub vat_minor: i64,
    pub total_minor: i64,
    pub domain: Option<String>,
    /// The service delivered for this line (its first unit), once delivered.
    pub service_id: Option<String>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ActionView {
    /// What the customer must do: `pay` or `send_documents`.
    pub what: String,
    /// Instructions, when the provider gave some.
    pub instructions: Option<String>,
    /// By when (RFC 3339).
    pub due_at: Option<String>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct HistoryItem {
    pub at: String,
    /// `order_started`, `payment_received`, `payment_failed`, `fraud_check`,
    /// `documents_requested`, `documents_received`, `delivery_started`, `delivery_failed`,
    /// `delivered`, `cancelled`, `expired`.
    pub label: String,
    pub message: String,
    /// Set when this event asked something of the customer.
    pub action_required: Option<String>,
    pub action_due_at: Option<String>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct FollowUpView {
    /// `validating`, `validated`, `delivering` or `available`.
    pub step: String,
    /// `todo`, `doing`, `done` or `error`.
    pub step_status: String,
    /// What the customer must do now, if anything.
    pub action: Option<ActionView>,
    /// Every event, oldest first.
    pub history: Vec<HistoryItem>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct PaymentSummary {
    pub id: String,
    /// `pending`, `succeeded`, `failed` or `unknown`.
    pub state: String,
    pub amount_minor: i64,
    pub method: Option<String>,
    pub failure_code: Option<String>,
    pub created_at: String,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct DocumentView {
    pub id: String,
    pub file_name: String,
    pub content_type: String,
    pub size_bytes: i64,
    pub sha256: String,
    pub message: String,
    pub created_at: String,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct OrderView {
    pub id: String,
    /// The number quoted in mails and on the invoice.
    pub number: String,
    /// `new`, `renewal` or `plan_change` (an upgrade's prorated difference).
    pub kind: String,
    /// `not_paid`, `checking`, `documents_requested`, `delivering`, `delivered` or `cancelled`.
    pub status: String,
    pub currency: String,
    pub net_minor: i64,
    pub vat_minor: i64,
    pub total_minor: i64,
    /// The part of the total paid with the account's credit balance (applied when paying).
    pub credit_applied_minor: i64,
    /// `domestic`, `oss`, `reverse_charge`, `outside_scope` or `exempt`.
    pub tax_treatment: String,
    pub tax_country: Option<String>,
    /// An unpaid order is cancelled at this instant.
    pub expires_at: String,
    pub paid_at: Option<String>,
    pub delivered_at: Option<String>,
    pub cancelled_at: Option<String>,
    pub cancel_reason: Option<String>,
    pub created_at: String,
    pub lines: Vec<LineView>,
    pub follow_up: FollowUpView,
    pub payments: Vec<PaymentSummary>,
    pub documents: Vec<DocumentView>,
}

/// A short view for lists.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct OrderSummary {
    pub id: String,
    pub number: String,
    pub kind: String,
    pub status: String,
    pub currency: String,
    pub total_minor: i64,
    pub step: String,
    pub step_status: String,
    /// What the customer must do now, if anything (`pay`, `send_documents`).
    pub action_required: Option<String>,
    pub action_due_at: Option<String>,
    pub expires_at: String,
    pub created_at: String,
    /// Set on operator lists.
    pub account_id: Option<String>,
}

fn status_of(o: &OrderRow) -> OrderStatus {
    OrderStatus::parse(&o.status).unwrap_or(OrderStatus::Cancelled)
}

fn step_of(o: &OrderRow) -> (&'static str, &'static str) {
    let (s, st) = follow_up(
        status_of(o),
        o.delivery_error.is_some(),
        o.paid_at.is_some(),
    );
    (s.as_str(), st.as_str())
}

pub fn summary(o: OrderRow, with_account: bool) -> OrderSummary {
    let (step, step_status) = step_of(&o);
    OrderSummary {
        step: step.to_owned(),
        step_status: step_status.to_owned(),
        account_id: with_account.then(|| o.account_id.clone()),
        id: o.id,
        number: o.number,
        kind: o.kind,
        status: o.status,
        currency: o.currency,
        total_minor: o.total_minor,
        action_required: o.action_required.clone(),
        action_due_at: o.action_due_at.map(rfc3339),
        expires_at: rfc3339(o.expires_at),
        created_at: rfc3339(o.created_at),
    }
}

/// `12.34 EUR`.
pub fn format_money(minor: i64, currency: &str) -> String {
    match Currency::parse(currency) {
        Some(c) => format!("{} {}", Money::new(minor, c).decimal(), c.code()),
        None => format!("{minor} {currency}"),
    }
}

/// `2026-11-26` (UTC).
pub fn date_of(ms: i64) -> String {
    crate::clock::utc_date(ms)
        .map(|d| d.to_string())
        .unwrap_or_default()
}

/// The label text of a history event, in the account's language.
pub fn label_text(label: &str, lang: Language) -> &'static str {
    let fr = lang == Language::Fr;
    match (label, fr) {
        ("order_started", true) => "Commande enregistrée",
        ("order_started", false) => "Order placed",
        ("payment_received", true) => "Paiement reçu",
        ("payment_received", false) => "Payment received",
        ("payment_failed", true) => "Échec du paiement",
        ("payment_failed", false) => "Payment failed",
        ("payment_pending", true) => "Paiement en cours de confirmation",
        ("payment_pending", false) => "Payment being confirmed",
        ("fraud_check", true) => "Vérification de la commande effectuée",
        ("fraud_check", false) => "Order checked",
        ("documents_requested", true) => "Documents demandés",
        ("documents_requested", false) => "Documents requested",
        ("documents_received", true) => "Documents reçus",
        ("documents_received", false) => "Documents received",
        ("delivery_started", true) => "Livraison en cours",
        ("delivery_started", false) => "Delivery started",
        ("delivery_failed", true) => "Incident de livraison",
        ("delivery_failed", false) => "Delivery problem",
        ("delivered", true) => "Service livré",
        ("delivered", false) => "Service delivered",
        ("cancelled", true) => "Commande annulée",
        ("cancelled", false) => "Order cancelled",
        ("expired", true) => "Commande expirée faute de paiement",
        ("expired", false) => "Order expired unpaid",
        (_, true) => "Événement",
        (_, false) => "Event",
    }
}

/// Append an event to an order's history, in the caller's transaction.
#[allow(clippy::too_many_arguments)]
pub async fn record_event(
    app: &App,
    c: &mut AnyConnection,
    order_id: &str,
    label: &str,
    message: String,
    actor: &str,
    action: Option<(&str, i64)>,
) -> Result<()> {
    orders::insert_event(c, &event(app, order_id, label, message, actor, action)).await?;
    Ok(())
}

/// A follow-up event, not yet written (batches write many at once).
pub(crate) fn event(
    app: &App,
    order_id: &str,
    label: &str,
    message: String,
    actor: &str,
    action: Option<(&str, i64)>,
) -> EventRow {
    let now = app.now_ms();
    EventRow {
        id: ids::new_id(now),
        order_id: order_id.to_owned(),
        at: now,
        label: label.to_owned(),
        message,
        actor: actor.to_owned(),
        action_required: action.map(|a| a.0.to_owned()),
        action_due_at: action.map(|a| a.1),
    }
}

/// `n` new order numbers: the year and its counter's next values (`2026000000042`), reserved
/// in a short transaction of their own. Call it before beginning the transaction that writes
/// the orders: on SQLite a task already holding the writer would wait on itself, and on
/// PostgreSQL the counter's row would stay locked until that transaction ends. Consecutive
/// orders get neighbouring numbers, which keeps `orders.number`'s unique index written at one
/// end instead of all over it.
pub(crate) async fn new_numbers(app: &App, now: i64, n: usize) -> Result<Vec<String>> {
    let mut tx = app.db.begin().await?;
    let numbers = new_numbers_in(tx.conn(), now, n).await?;
    tx.commit().await?;
    Ok(numbers)
}

/// [`new_numbers`] in the caller's transaction (its rollback gives them back).
pub(crate) async fn new_numbers_in(
    c: &mut AnyConnection,
    now: i64,
    n: usize,
) -> Result<Vec<String>> {
    if n == 0 {
        return Ok(Vec::new());
    }
    let year = &date_of(now)[..4];
    let y: i64 = year.parse().unwrap_or(0);
    let count = i64::try_from(n).unwrap_or(i64::MAX);
    let first = orders::reserve_numbers(c, y, count).await?;
    Ok((first..first + count)
        .map(|k| format!("{year}{k:09}"))
        .collect())
}

/// One new order number (see [`new_numbers`]).
pub(crate) async fn new_number(app: &App, now: i64) -> Result<String> {
    let mut v = new_numbers(app, now, 1).await?;
    v.pop()
        .ok_or_else(|| AppError::internal("no order number reserved"))
}

fn bad(field: String, code: &'static str, message: &str) -> FieldError {
    FieldError {
        field,
        code,
        message: message.to_owned(),
    }
}

/// The account's VAT number when it may be reverse charged: a company whose number is of its
/// own country and, when VIES is configured, confirmed by it.
pub(crate) async fn reverse_charge_number(app: &App, account: &AccountRow) -> Option<String> {
    let number_country = account
        .vat_number
        .as_deref()
        .and_then(|v| guichet_domain::vat_number::VatNumber::parse(v).ok())
        .map(|n| n.country().to_owned());
    let usable = account.kind == "company"
        && number_country.as_deref() == Some(account.country.as_str())
        && crate::vies::usable_for_reverse_charge(
            app.vat_checker.as_deref(),
            account.vat_number.as_deref(),
        )
        .await;
    if usable {
        account.vat_number.clone()
    } else {
        None
    }
}

/// The VAT decision for one tax category sold to `account` on `today`.
pub(crate) fn tax_decision(
    app: &App,
    account: &AccountRow,
    vat_number: Option<&str>,
    tax_category: &str,
    today: jiff::civil::Date,
) -> tax::Decision {
    tax::decide(
        &app.config.seller_country,
        tax::Buyer {
            country: &account.country,
            is_company: account.kind == "company",
            vat_number,
        },
        tax_category,
        today,
    )
}

/// A validated, priced line ready to be written.
struct Priced {
    row: LineRow,
}

/// An order validated and priced, not written: its lines, totals and VAT treatment.
struct PricedOrder {
    currency: String,
    lines: Vec<Priced>,
    totals: pricing::Totals,
    treatment: tax::Decision,
}

/// Only an active account orders (or is quoted a price).
fn may_order(account: &AccountRow) -> Result<()> {
    if account.state == "active" {
        Ok(())
    } else {
        Err(AppError::forbidden(
            "account_not_active",
            "this account cannot place orders",
        ))
    }
}

/// Place an order for `account`.
pub async fn create(app: &App, account: &AccountRow, input: &NewOrder) -> Result<OrderView> {
    may_order(account)?;
    if input.lines.is_empty() || input.lines.len() > MAX_LINES {
        return Err(AppError::field(
            "lines",
            "invalid_lines",
            "an order has 1 to 50 lines",
        ));
    }
    crate::limits::attempt(
        app,
        &format!("orders:account:{}", account.id),
        &crate::limits::ORDERS_PER_ACCOUNT,
    )
    .await?;
    let now = app.now_ms();
    let PricedOrder {
        currency,
        lines: mut priced,
        totals,
        treatment,
    } = price_order(app, account, input, now).await?;
    let id = ids::new_id(now);
    let expires_at = now + app.config.order_expiry_days * 86_400_000;
    let lang = language_of(account);
    let number = new_number(app, now).await?;
    let mut tx = app.db.begin().await?;
    let mut order = OrderRow {
        id: id.clone(),
        account_id: account.id.clone(),
        number,
        kind: "new".into(),
        status: OrderStatus::NotPaid.as_str().into(),
        currency: currency.clone(),
        net_minor: totals.net_minor,
        vat_minor: totals.vat_minor,
        total_minor: totals.total_minor,
        tax_treatment: treatment.treatment.as_str().into(),
        tax_country: treatment.country.map(str::to_owned),
        action_required: Some("pay".into()),
        action_due_at: Some(expires_at),
        delivery_error: None,
        expires_at,
        paid_at: None,
        delivered_at: None,
        cancelled_at: None,
        cancel_reason: None,
        created_at: now,
        updated_at: now,
        renewal_key: None,
    };
    // A number from the counter is new, but one of the nine-random-digit numbers given
    // before 0019 may hold it: then take the next.
    let mut tries = 0;
    loop {
        match orders::insert(tx.conn(), &order).await {
            Ok(()) => break,
            Err(e) if e.is_unique_on("number") && tries < 5 => {
                // A failed statement aborts a PostgreSQL transaction: start a new one.
                drop(tx);
                order.number = new_number(app, now).await?;
                tx = app.db.begin().await?;
                tries += 1;
            }
            Err(e) => return Err(e.into()),
        }
    }
    for p in &mut priced {
        p.row.order_id = id.clone();
        orders::insert_line(tx.conn(), &p.row).await?;
    }
    let total = format_money(order.total_minor, &currency);
    record_event(
        app,
        tx.conn(),
        &id,
        "order_started",
        match lang {
            Language::Fr => format!(
                "Commande {} de {total} en attente de paiement.",
                order.number
            ),
            Language::En => format!("Order {} for {total} waiting for payment.", order.number),
        },
        "customer",
        Some(("pay", expires_at)),
    )
    .await?;
    mail::enqueue(
        app,
        tx.conn(),
        &recipient(account),
        &MailKind::Order(OrderMail::Placed {
            number: order.number.clone(),
            total,
            expires_on: date_of(expires_at),
            link: app.config.link(&format!("/orders/{id}")),
        }),
    )
    .await?;
    tx.commit().await?;
    app.outbox_signal.notify_waiters();
    get(app, Some(&account.id), &id).await
}

/// What the order form sends to see the price before placing: the lines of a new order and,
/// optionally, a discount code.
#[derive(Debug, Clone, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct QuoteInput {
    pub lines: Vec<NewLine>,
    /// The account's currency; optional, checked when given.
    pub currency: Option<String>,
    /// A discount voucher's code, checked and priced in (not used: redeem it on the order).
    pub voucher: Option<String>,
}

/// A new order priced as `POST /me/orders` would price it now, with the voucher's discount
/// and the credit paying would use first. Nothing is written.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct OrderQuote {
    pub currency: String,
    /// The lines as the order will hold them (before the discount).
    pub lines: Vec<LineView>,
    /// `domestic`, `oss`, `reverse_charge`, `outside_scope` or `exempt`.
    pub tax_treatment: String,
    pub tax_country: Option<String>,
    /// The discount, when a voucher was given and accepted.
    pub discount: Option<crate::vouchers::DiscountQuote>,
    /// Totals after the discount.
    pub net_minor: i64,
    pub vat_minor: i64,
    pub total_minor: i64,
    /// The account's credit balance that paying would use first (up to the total).
    pub credit_minor: i64,
    /// Left for the payment method: the total less the credit.
    pub to_charge_minor: i64,
}

/// Price a new order without placing it (the order form's review).
pub async fn quote(app: &App, account: &AccountRow, input: &QuoteInput) -> Result<OrderQuote> {
    may_order(account)?;
    if input.lines.is_empty() || input.lines.len() > MAX_LINES {
        return Err(AppError::field(
            "lines",
            "invalid_lines",
            "an order has 1 to 50 lines",
        ));
    }
    let order = NewOrder {
        lines: input.lines.clone(),
        currency: input.currency.clone(),
    };
    let p = price_order(app, account, &order, app.now_ms()).await?;
    let rows: Vec<LineRow> = p.lines.into_iter().map(|l| l.row).collect();
    let discount = match input.voucher.as_deref().map(str::trim) {
        Some(code) if !code.is_empty() => Some(
            crate::vouchers::quote_discount(app, account, code, &p.currency, &rows)
                .await
                .map_err(|mut e| {
                    for f in &mut e.fields {
                        f.field = "voucher".into();
                    }
                    e
                })?,
        ),
        _ => None,
    };
    let (dn, dv) = discount
        .as_ref()
        .map_or((0, 0), |d| (d.net_minor, d.vat_minor));
    let total = p.totals.total_minor - dn - dv;
    let balance = {
        let mut c = app.db.conn().await?;
        crate::credit::balance(&mut c, &account.id, &p.currency).await?
    };
    let credit = guichet_domain::credit::to_apply(balance, total);
    Ok(OrderQuote {
        lines: rows.into_iter().map(line_view).collect(),
        tax_treatment: p.treatment.treatment.as_str().into(),
        tax_country: p.treatment.country.map(str::to_owned),
        discount,
        net_minor: p.totals.net_minor - dn,
        vat_minor: p.totals.vat_minor - dv,
        total_minor: total,
        credit_minor: credit,
        to_charge_minor: total - credit,
        currency: p.currency,
    })
}

/// Check and price the lines of a new order for `account` at `now` (no write).
async fn price_order(
    app: &App,
    account: &AccountRow,
    input: &NewOrder,
    now: i64,
) -> Result<PricedOrder> {
    let currency = account.currency.clone();
    if let Some(c) = &input.currency
        && !c.eq_ignore_ascii_case(&currency)
    {
        return Err(AppError::field(
            "currency",
            "currency_mismatch",
            "orders are in the account's currency",
        ));
    }
    let today =
        crate::clock::utc_date(now).ok_or_else(|| AppError::internal("clock out of range"))?;
    let vat_number = reverse_charge_number(app, account).await;
    let decision_for =
        |tax_category: &str| tax_decision(app, account, vat_number.as_deref(), tax_category, today);

    let mut c = app.db.conn().await?;
    let mut errors = Vec::new();
    let mut priced = Vec::new();
    let mut treatment = None;
    for (i, l) in input.lines.iter().enumerate() {
        let f = |name: &str| format!("lines[{i}].{name}");
        let Some(plan) = catalog::plan(&mut c, &l.plan)
            .await?
            .filter(|p| p.active == 1)
        else {
            errors.push(bad(f("plan"), "unknown_plan", "no such plan for sale"));
            continue;
        };
        let Some(product) = catalog::product(&mut c, &plan.product_code)
            .await?
            .filter(|p| p.active == 1)
        else {
            errors.push(bad(f("plan"), "unknown_plan", "no such plan for sale"));
            continue;
        };
        if let Some(p) = &l.period
            && BillingPeriod::parse(p).map(|x| x.code()) != Some(plan.period.as_str())
        {
            errors.push(bad(
                f("period"),
                "period_unavailable",
                "this plan is not sold for that period",
            ));
            continue;
        }
        let quantity = l.quantity.unwrap_or(1);
        if !(1..=i64::from(MAX_QUANTITY)).contains(&quantity) {
            errors.push(bad(
                f("quantity"),
                "invalid_quantity",
                "quantity is 1 to 100",
            ));
            continue;
        }
        let domain = match (&l.domain, product.category.as_str()) {
            (None, "domain") => {
                errors.push(bad(
                    f("domain"),
                    "domain_required",
                    "a domain name is required",
                ));
                continue;
            }
            (None, _) => None,
            (Some(d), "domain" | "web_hosting") => match guichet_domain::order::domain_name(d) {
                Some(d) => Some(d),
                None => {
                    errors.push(bad(
                        f("domain"),
                        "invalid_domain",
                        "not a valid domain name",
                    ));
                    continue;
                }
            },
            (Some(_), _) => {
                errors.push(bad(
                    f("domain"),
                    "option_not_allowed",
                    "this product takes no domain name",
                ));
                continue;
            }
        };
        if domain.is_some() && quantity != 1 {
            errors.push(bad(
                f("quantity"),
                "invalid_quantity",
                "a line with a domain name has a quantity of 1",
            ));
            continue;
        }
        let Some(price) = catalog::prices_of(&mut c, &plan.code)
            .await?
            .into_iter()
            .find(|p| p.currency == currency)
        else {
            errors.push(bad(
                f("plan"),
                "currency_unavailable",
                "this plan is not sold in the account's currency",
            ));
            continue;
        };
        let d = decision_for(&plan.tax_category);
        if d.treatment != tax::Treatment::Exempt {
            treatment = Some(d);
        }
        let input = LineInput {
            unit_price_minor: price.price_minor,
            setup_fee_minor: price.setup_fee_minor,
            quantity: u32::try_from(quantity).unwrap_or(1),
            rate_bp: d.rate_bp,
        };
        let p = match pricing::price_line(&input) {
            Ok(p) => p,
            Err(e) => {
                errors.push(bad(f("quantity"), "invalid_amount", &e.to_string()));
                continue;
            }
        };
        priced.push(Priced {
            row: LineRow {
                order_id: String::new(),
                line_no: i64::try_from(i).unwrap_or(0) + 1,
                product_code: product.code.clone(),
                product_name: product.name.clone(),
                plan_code: plan.code.clone(),
                plan_name: plan.name.clone(),
                period: plan.period.clone(),
                quantity,
                unit_price_minor: price.price_minor,
                setup_fee_minor: price.setup_fee_minor,
                vat_rate_bp: i64::from(d.rate_bp),
                net_minor: p.net_minor,
                vat_minor: p.vat_minor,
                total_minor: p.total_minor,
                domain,
                service_id: None,
                period_start: None,
                period_end: None,
            },
        });
    }
    drop(c);
    if !errors.is_empty() {
        return Err(AppError::validation(errors));
    }
    let inputs: Vec<LineInput> = priced
        .iter()
        .map(|p| LineInput {
            unit_price_minor: p.row.unit_price_minor,
            setup_fee_minor: p.row.setup_fee_minor,
            quantity: u32::try_from(p.row.quantity).unwrap_or(1),
            rate_bp: u32::try_from(p.row.vat_rate_bp).unwrap_or(0),
        })
        .collect();
    let (_, totals) = pricing::price(&inputs)
        .map_err(|e| AppError::field("lines", "invalid_amount", e.to_string()))?;
    let treatment = treatment.unwrap_or_else(|| decision_for("exempt"));
    Ok(PricedOrder {
        currency,
        lines: priced,
        totals,
        treatment,
    })
}

fn line_view(l: LineRow) -> LineView {
    LineView {
        line: l.line_no,
        product: l.product_code,
        product_name: l.product_name,
        plan: l.plan_code,
        plan_name: l.plan_name,
        period: l.period,
        quantity: l.quantity,
        unit_price_minor: l.unit_price_minor,
        setup_fee_minor: l.setup_fee_minor,
        vat_rate_bp: l.vat_rate_bp,
        net_minor: l.net_minor,
        vat_minor: l.vat_minor,
        total_minor: l.total_minor,
        domain: l.domain,
        service_id: l.service_id,
    }
}

/// One order with its lines, follow-up, payments and documents. `account_id` scopes it to a
/// customer (`None` for operators); another account's order is a 404.
pub async fn get(app: &App, account_id: Option<&str>, id: &str) -> Result<OrderView> {
    if !ids::is_id(id) {
        return Err(AppError::not_found("order_not_found"));
    }
    let mut c = app.db.conn().await?;
    let o = orders::get(&mut c, id, account_id)
        .await?
        .ok_or_else(|| AppError::not_found("order_not_found"))?;
    let lines = orders::lines(&mut c, id).await?;
    let events = orders::events(&mut c, id).await?;
    let pays = payments::of_order(&mut c, id).await?;
    let docs = orders::documents(&mut c, id).await?;
    let credit_applied = crate::credit::applied_to_order(&mut c, id).await?;
    let instructions = events
        .iter()
        .rev()
        .find(|e| e.label == "documents_requested")
        .map(|e| e.message.clone());
    let (step, step_status) = step_of(&o);
    let action = o.action_required.as_ref().map(|what| ActionView {
        instructions: (what == "send_documents")
            .then(|| instructions.clone())
            .flatten(),
        what: what.clone(),
        due_at: o.action_due_at.map(rfc3339),
    });
    Ok(OrderView {
        follow_up: FollowUpView {
            step: step.to_owned(),
            step_status: step_status.to_owned(),
            action,
            history: events
                .into_iter()
                .map(|e| HistoryItem {
                    at: rfc3339(e.at),
                    label: e.label,
                    message: e.message,
                    action_required: e.action_required,
                    action_due_at: e.action_due_at.map(rfc3339),
                })
                .collect(),
        },
        lines: lines.into_iter().map(line_view).collect(),
        payments: pays
            .into_iter()
            .map(|p| PaymentSummary {
                id: p.id,
                state: p.state,
                amount_minor: p.amount_minor,
                method: p.method_label,
                failure_code: p.failure_code,
                created_at: rfc3339(p.created_at),
            })
            .collect(),
        documents: docs.into_iter().map(document_view).collect(),
        id: o.id,
        number: o.number,
        kind: o.kind,
        status: o.status,
        currency: o.currency,
        net_minor: o.net_minor,
        vat_minor: o.vat_minor,
        total_minor: o.total_minor,
        credit_applied_minor: credit_applied,
        tax_treatment: o.tax_treatment,
        tax_country: o.tax_country,
        expires_at: rfc3339(o.expires_at),
        paid_at: o.paid_at.map(rfc3339),
        delivered_at: o.delivered_at.map(rfc3339),
        cancelled_at: o.cancelled_at.map(rfc3339),
        cancel_reason: o.cancel_reason,
        created_at: rfc3339(o.created_at),
    })
}

pub fn document_view(d: DocumentRow) -> DocumentView {
    DocumentView {
        id: d.id,
        file_name: d.file_name,
        content_type: d.content_type,
        size_bytes: d.size_bytes,
        sha256: d.sha256,
        message: d.message,
        created_at: rfc3339(d.created_at),
    }
}

/// Orders newest first (of one account, or all for operators), optionally in one status.
pub async fn list(
    app: &App,
    account_id: Option<&str>,
    status: Option<&str>,
    limit: i64,
) -> Result<Vec<OrderSummary>> {
    if let Some(s) = status
        && OrderStatus::parse(s).is_none()
    {
        return Err(AppError::field(
            "status",
            "invalid_status",
            "not an order status",
        ));
    }
    let mut c = app.db.conn().await?;
    let rows = orders::list(&mut c, account_id, status, limit.clamp(1, 500)).await?;
    Ok(rows
        .into_iter()
        .map(|o| summary(o, account_id.is_none()))
        .collect())
}

/// Cancel an order in the caller's transaction: the status moves once, the history and the
/// mail are written with it. Returns false if the order had already moved on or a payment of
/// it is in flight; the caller must then drop its transaction.
#[allow(clippy::too_many_arguments)]
pub(crate) async fn cancel_in(
    app: &App,
    c: &mut AnyConnection,
    order: &OrderRow,
    account: &AccountRow,
    label: &str,
    reason: &str,
    actor: &str,
    mail: OrderMail,
) -> Result<bool> {
    let now = app.now_ms();
    if !orders::transition(
        c,
        &order.id,
        &order.status,
        OrderStatus::Cancelled.as_str(),
        now,
    )
    .await?
    {
        return Ok(false);
    }
    // Checked after the row lock the transition took: a payment started before it wins (the
    // caller drops the transaction, undoing the transition).
    if order.status == OrderStatus::NotPaid.as_str() && payments::in_flight(c, &order.id).await? {
        return Ok(false);
    }
    orders::set_cancel_reason(c, &order.id, reason).await?;
    crate::plan_changes::after_order_cancelled(app, c, order).await?;
    record_event(app, c, &order.id, label, reason.to_owned(), actor, None).await?;
    mail::enqueue(app, c, &recipient(account), &MailKind::Order(mail)).await?;
    crate::provisioning::emit(
        app,
        c,
        "order.cancelled",
        &order.id,
        serde_json::json!({ "order_id": order.id, "number": order.number, "reason": reason }),
    )
    .await?;
    Ok(true)
}

/// The customer cancels an order they have not paid.
pub async fn cancel_by_customer(app: &App, account: &AccountRow, id: &str) -> Result<OrderView> {
    if !ids::is_id(id) {
        return Err(AppError::not_found("order_not_found"));
    }
    let mut tx = app.db.begin().await?;
    let o = orders::get(tx.conn(), id, Some(&account.id))
        .await?
        .ok_or_else(|| AppError::not_found("order_not_found"))?;
    if o.status != OrderStatus::NotPaid.as_str() {
        return Err(AppError::conflict(
            "order_not_cancellable",
            "only an unpaid order can be cancelled",
        ));
    }
    if payments::in_flight(tx.conn(), id).await? {
        return Err(AppError::conflict(
            "payment_in_progress",
            "a payment of this order is being processed",
        ));
    }
    let reason = match language_of(account) {
        Language::Fr => "annulée à votre demande",
        Language::En => "cancelled at your request",
    };
    let number = o.number.clone();
    if !cancel_in(
        app,
        tx.conn(),
        &o,
        account,
        "cancelled",
        reason,
        "customer",
        OrderMail::Cancelled {
            number,
            reason: reason.to_owned(),
        },
    )
    .await?
    {
        return Err(AppError::conflict(
            "order_not_cancellable",
            "the order changed meanwhile",
        ));
    }
    tx.commit().await?;
    app.outbox_signal.notify_waiters();
    get(app, Some(&account.id), id).await
}

/// Cancel every unpaid order past its expiry date (with its mail). Idempotent: an order is
/// cancelled once however many workers run this at the same time. Returns how many.
pub async fn expire_due(app: &App) -> Result<usize> {
    let now = app.now_ms();
    let ids = {
        let mut c = app.db.conn().await?;
        orders::expired_unpaid(&mut c, now, 500).await?
    };
    let mut n = 0;
    for id in ids {
        let mut tx = app.db.begin().await?;
        let Some(o) = orders::get(tx.conn(), &id, None).await? else {
            continue;
        };
        if o.status != OrderStatus::NotPaid.as_str() {
            continue;
        }
        // A transfer never received no longer holds the order; a card payment still being
        // settled decides first.
        orders::lock(tx.conn(), &id, now).await?;
        crate::transfers::fail_overdue(app, tx.conn(), &o).await?;
        if payments::in_flight(tx.conn(), &id).await? {
            continue;
        }
        let Some(account) = guichet_store::accounts::by_id(tx.conn(), &o.account_id).await? else {
            continue;
        };
        let lang = language_of(&account);
        let message = match lang {
            Language::Fr => format!(
                "Non payée avant le {}, la commande a été annulée.",
                date_of(o.expires_at)
            ),
            Language::En => format!(
                "Not paid by {}, the order was cancelled.",
                date_of(o.expires_at)
            ),
        };
        let number = o.number.clone();
        if cancel_in(
            app,
            tx.conn(),
            &o,
            &account,
            "expired",
            &message,
            "system",
            OrderMail::Expired { number },
        )
        .await?
        {
            tx.commit().await?;
            n += 1;
        }
    }
    if n > 0 {
        app.outbox_signal.notify_waiters();
    }
    Ok(n)
}

/// Load an order's account (for mails) in the caller's transaction.
pub(crate) async fn account_of(c: &mut AnyConnection, o: &OrderRow) -> Result<AccountRow> {
    guichet_store::accounts::by_id(c, &o.account_id)
        .await?
        .ok_or_else(|| AppError::internal("order without account"))
}
