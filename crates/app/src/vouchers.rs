//! Vouchers: operators create codes (see `guichet_domain::voucher` for the rules); customers
//! redeem a discount code on an unpaid order (a discount line per VAT rate, on the order and
//! its invoice) or a credit code into their balance. Each refusal has its own error code. A
//! use is taken under the voucher's row lock, and given back if the order is cancelled.

use crate::clock::rfc3339;
use crate::credit::{CreditView, Refs};
use crate::operators::{self, Operator};
use crate::orders::{self, OrderView};
use crate::{App, AppError, Result, ids};
use guichet_domain::credit::MovementKind;
use guichet_domain::order::OrderStatus;
use guichet_domain::voucher::{self, Context, Kind, Refusal, Voucher, VoucherInput};
use guichet_domain::{Currency, Language};
use guichet_store::AnyConnection;
use guichet_store::accounts::AccountRow;
use guichet_store::orders::{self as order_store, LineRow, OrderRow};
use guichet_store::vouchers::{self as store, RedemptionRow, VoucherRow};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use utoipa::ToSchema;

/// The product code of a discount line (not a valid catalog code, so never a product's).
pub const DISCOUNT_PRODUCT: &str = "_voucher";

/// Whether an order line is a voucher's discount (no service is delivered for it).
pub fn is_discount(l: &LineRow) -> bool {
    l.product_code == DISCOUNT_PRODUCT
}

/// The operator's voucher, as sent (`guichet_domain::voucher::VoucherInput`).
#[derive(Debug, Clone, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct VoucherBody {
    /// 3 to 32 letters, digits and `-` (stored upper-cased).
    pub code: String,
    /// `fixed` (an amount off the order's net), `percent`, or `credit` (into the balance).
    pub kind: String,
    /// Minor units, for `fixed` and `credit`.
    pub amount_minor: Option<i64>,
    /// Basis points (1000 = 10 %), for `percent`.
    pub percent_bp: Option<i64>,
    pub currency: String,
    /// First and last day of validity, `YYYY-MM-DD` (UTC), both included.
    pub valid_from: Option<String>,
    pub valid_until: Option<String>,
    pub max_uses: Option<i64>,
    pub max_uses_per_customer: Option<i64>,
    /// Plan codes the discount applies to; empty or absent for every plan.
    pub eligible_plans: Option<Vec<String>>,
    pub first_order_only: Option<bool>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct VoucherView {
    pub code: String,
    pub kind: String,
    pub amount_minor: i64,
    pub percent_bp: i64,
    pub currency: String,
    pub valid_from: Option<String>,
    pub valid_until: Option<String>,
    pub max_uses: Option<i64>,
    pub max_uses_per_customer: Option<i64>,
    pub eligible_plans: Vec<String>,
    pub first_order_only: bool,
    /// Uses taken (an order cancelled unpaid gives its use back).
    pub uses: i64,
    pub created_at: String,
}

#[derive(Debug, Clone, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RedeemInput {
    pub code: String,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct RedemptionView {
    pub id: String,
    pub code: String,
    /// The order discounted; absent for a credit voucher.
    pub order_id: Option<String>,
    /// The discount (net, VAT, total), or the credit in `total_minor`.
    pub net_minor: i64,
    pub vat_minor: i64,
    pub total_minor: i64,
    /// `active`, or `released` (the order was cancelled unpaid).
    pub state: String,
    pub created_at: String,
}

fn view(v: VoucherRow) -> VoucherView {
    VoucherView {
        eligible_plans: serde_json::from_str(&v.eligible_plans).unwrap_or_default(),
        first_order_only: v.first_order_only == 1,
        code: v.code,
        kind: v.kind,
        amount_minor: v.amount_minor,
        percent_bp: v.percent_bp,
        currency: v.currency,
        valid_from: v.valid_from,
        valid_until: v.valid_until,
        max_uses: v.max_uses,
        max_uses_per_customer: v.max_uses_per_customer,
        uses: v.uses,
        created_at: rfc3339(v.created_at),
    }
}

fn redemption_view(r: RedemptionRow) -> RedemptionView {
    RedemptionView {
        id: r.id,
        code: r.voucher_code,
        order_id: r.order_id,
        net_minor: r.net_minor,
        vat_minor: r.vat_minor,
        total_minor: r.total_minor,
        state: r.state,
        created_at: rfc3339(r.created_at),
    }
}

fn parsed(v: &VoucherRow) -> Result<Voucher> {
    let bad = || AppError::internal("stored voucher unreadable");
    Ok(Voucher {
        code: v.code.clone(),
        kind: Kind::parse(&v.kind).ok_or_else(bad)?,
        amount_minor: v.amount_minor,
        percent_bp: u32::try_from(v.percent_bp).map_err(|_| bad())?,
        currency: Currency::parse(&v.currency).ok_or_else(bad)?,
        valid_from: v.valid_from.as_deref().and_then(|d| d.parse().ok()),
        valid_until: v.valid_until.as_deref().and_then(|d| d.parse().ok()),
        max_uses: v.max_uses,
        max_uses_per_customer: v.max_uses_per_customer,
        eligible_plans: serde_json::from_str(&v.eligible_plans).map_err(|_| bad())?,
        first_order_only: v.first_order_only == 1,
    })
}

/// An operator creates a voucher (audited).
pub async fn create(app: &App, op: &Operator, body: &VoucherBody) -> Result<VoucherView> {
    op.require_role(&["billing"])?;
    let input = VoucherInput {
        code: body.code.clone(),
        kind: body.kind.clone(),
        amount_minor: body.amount_minor,
        percent_bp: body.percent_bp,
        currency: body.currency.clone(),
        valid_from: body.valid_from.clone(),
        valid_until: body.valid_until.clone(),
        max_uses: body.max_uses,
        max_uses_per_customer: body.max_uses_per_customer,
        eligible_plans: body.eligible_plans.clone().unwrap_or_default(),
        first_order_only: body.first_order_only.unwrap_or(false),
    };
    let v = input.validate().map_err(AppError::validation)?;
    let now = app.now_ms();
    let row = VoucherRow {
        code: v.code.clone(),
        kind: v.kind.as_str().to_owned(),
        amount_minor: v.amount_minor,
        percent_bp: i64::from(v.percent_bp),
        currency: v.currency.code().to_owned(),
        valid_from: v.valid_from.map(|d| d.to_string()),
        valid_until: v.valid_until.map(|d| d.to_string()),
        max_uses: v.max_uses,
        max_uses_per_customer: v.max_uses_per_customer,
        eligible_plans: serde_json::to_string(&v.eligible_plans)
            .map_err(|_| AppError::internal("eligible plans"))?,
        first_order_only: i64::from(v.first_order_only),
        uses: 0,
        created_at: now,
        updated_at: now,
    };
    let mut tx = app.db.begin().await?;
    if !store::insert(tx.conn(), &row).await? {
        return Err(AppError::conflict(
            "voucher_code_taken",
            "a voucher with this code exists",
        ));
    }
    operators::audit(
        app,
        tx.conn(),
        op,
        "voucher.created",
        Some(&row.code),
        Some(format!("{} {}", row.kind, row.currency)),
    )
    .await?;
    tx.commit().await?;
    Ok(view(row))
}

/// Every voucher, newest first.
pub async fn list(app: &App, op: &Operator) -> Result<Vec<VoucherView>> {
    op.require_role(&["billing", "support"])?;
    let mut c = app.db.conn().await?;
    Ok(store::list(&mut c, 500)
        .await?
        .into_iter()
        .map(view)
        .collect())
}

fn refused(r: Refusal) -> AppError {
    AppError::field("code", r.code(), r.message())
}

/// Find a code and take one of its uses for `account`, in the caller's transaction, after
/// the checks in their documented order.
async fn take(
    app: &App,
    c: &mut AnyConnection,
    account: &AccountRow,
    code: &str,
    on_order: bool,
    currency: &str,
    plans: &[&str],
) -> Result<Voucher> {
    let code = voucher::normalize_code(code).ok_or_else(|| refused(Refusal::NotFound))?;
    // The use is taken first: it locks the voucher's row, so the counts below are not raced
    // (a refusal drops the transaction, and the use with it).
    let took = store::take_use(c, &code, app.now_ms()).await?;
    let v = checked(app, c, account, &code, on_order, currency, plans, took).await?;
    if !took {
        return Err(refused(Refusal::Exhausted));
    }
    Ok(v)
}

/// The checks of a normalized code in their documented order. `taken`: this use was just
/// taken, so it counts in the stored `uses` already.
#[allow(clippy::too_many_arguments)]
async fn checked(
    app: &App,
    c: &mut AnyConnection,
    account: &AccountRow,
    code: &str,
    on_order: bool,
    currency: &str,
    plans: &[&str],
    taken: bool,
) -> Result<Voucher> {
    let today = crate::clock::utc_date(app.now_ms()).ok_or_else(|| AppError::internal("clock"))?;
    let row = store::get(c, code)
        .await?
        .ok_or_else(|| refused(Refusal::NotFound))?;
    let v = parsed(&row)?;
    let cx = Context {
        today,
        on_order,
        currency: Currency::parse(currency).ok_or_else(|| AppError::internal("currency"))?,
        // Not taken: the limit is reached, and `uses` says so.
        uses: if taken { row.uses - 1 } else { row.uses },
        customer_uses: store::customer_uses(c, code, &account.id).await?,
        has_paid_order: store::has_paid_order(c, &account.id).await?,
        plans,
    };
    voucher::check(&v, &cx).map_err(refused)?;
    Ok(v)
}

/// A discount voucher priced on an order's lines: one part per VAT rate, over the eligible
/// lines' net; refused when nothing on the order is eligible.
fn discount_on(v: &Voucher, lines: &[LineRow]) -> Result<(Vec<voucher::Discount>, i64, i64)> {
    let mut eligible: BTreeMap<u32, i64> = BTreeMap::new();
    for l in lines.iter().filter(|l| voucher::eligible(v, &l.plan_code)) {
        *eligible
            .entry(u32::try_from(l.vat_rate_bp).unwrap_or(0))
            .or_insert(0) += l.net_minor;
    }
    let parts = voucher::discount(v, &eligible);
    let net: i64 = parts.iter().map(|p| p.net_minor).sum();
    let vat: i64 = parts.iter().map(|p| p.vat_minor).sum();
    if net == 0 {
        return Err(refused(Refusal::NotEligible));
    }
    Ok((parts, net, vat))
}

/// The name of a discount line, in the customer's language.
fn discount_label(v: &Voucher, lang: Language) -> String {
    match (v.kind, lang) {
        (Kind::Percent, Language::Fr) => format!(
            "Bon de réduction {} (−{} %)",
            v.code,
            percent_text(v.percent_bp)
        ),
        (Kind::Percent, Language::En) => {
            format!("Voucher {} (−{} %)", v.code, percent_text(v.percent_bp))
        }
        (_, Language::Fr) => format!("Bon de réduction {}", v.code),
        (_, Language::En) => format!("Voucher {}", v.code),
    }
}

/// A discount code priced on lines not yet ordered, with the checks of a redemption and
/// nothing taken or written (the order form's review).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct DiscountQuote {
    pub code: String,
    /// The discount line's name, as the order and invoice will show it.
    pub label: String,
    /// The discount, positive: net, VAT and total taken off the order.
    pub net_minor: i64,
    pub vat_minor: i64,
    pub total_minor: i64,
}

pub(crate) async fn quote_discount(
    app: &App,
    account: &AccountRow,
    code: &str,
    currency: &str,
    lines: &[LineRow],
) -> Result<DiscountQuote> {
    let code = voucher::normalize_code(code).ok_or_else(|| refused(Refusal::NotFound))?;
    let plans: Vec<&str> = lines.iter().map(|l| l.plan_code.as_str()).collect();
    let mut c = app.db.conn().await?;
    let v = checked(app, &mut c, account, &code, true, currency, &plans, false).await?;
    let (_, net, vat) = discount_on(&v, lines)?;
    Ok(DiscountQuote {
        label: discount_label(&v, lang_of(account)),
        code: v.code,
        net_minor: net,
        vat_minor: vat,
        total_minor: net + vat,
    })
}

fn lang_of(account: &AccountRow) -> Language {
    crate::accounts::language_of(account)
}

/// Redeem a discount code on an unpaid order of the account: a discount line per VAT rate.
pub async fn redeem_on_order(
    app: &App,
    account: &AccountRow,
    order_id: &str,
    input: &RedeemInput,
) -> Result<OrderView> {
    if !ids::is_id(order_id) {
        return Err(AppError::not_found("order_not_found"));
    }
    let now = app.now_ms();
    let mut tx = app.db.begin().await?;
    let o = order_store::get(tx.conn(), order_id, Some(&account.id))
        .await?
        .ok_or_else(|| AppError::not_found("order_not_found"))?;
    // Lock the order (PostgreSQL) and check it is still unpaid.
    if o.status != OrderStatus::NotPaid.as_str()
        || !order_store::touch_if_status(tx.conn(), &o.id, OrderStatus::NotPaid.as_str(), now)
            .await?
    {
        return Err(AppError::conflict(
            "order_not_payable",
            "a voucher goes on an order waiting for its payment",
        ));
    }
    if o.kind != "new" {
        return Err(AppError::conflict(
            "voucher_not_for_this_order",
            "vouchers apply to new orders",
        ));
    }
    let started = guichet_store::payments::of_order(tx.conn(), &o.id)
        .await?
        .iter()
        .any(|p| matches!(p.state.as_str(), "pending" | "unknown" | "succeeded"));
    if started || crate::credit::applied_to_order(tx.conn(), &o.id).await? > 0 {
        return Err(AppError::conflict(
            "payment_in_progress",
            "this order is being paid: a voucher goes on before the payment",
        ));
    }
    if store::active_on_order(tx.conn(), &o.id).await?.is_some() {
        return Err(AppError::conflict(
            "voucher_already_applied",
            "this order carries a voucher already",
        ));
    }
    let lines = order_store::lines(tx.conn(), &o.id).await?;
    let plans: Vec<&str> = lines.iter().map(|l| l.plan_code.as_str()).collect();
    let v = take(
        app,
        tx.conn(),
        account,
        &input.code,
        true,
        &o.currency,
        &plans,
    )
    .await?;
    let (parts, net, vat) = discount_on(&v, &lines)?;
    let first_line = lines.iter().map(|l| l.line_no).max().unwrap_or(0) + 1;
    let label = discount_label(&v, lang_of(account));
    for (i, p) in parts.iter().enumerate() {
        order_store::insert_line(
            tx.conn(),
            &LineRow {
                order_id: o.id.clone(),
                line_no: first_line + i64::try_from(i).unwrap_or(0),
                product_code: DISCOUNT_PRODUCT.into(),
                product_name: label.clone(),
                plan_code: v.code.clone(),
                plan_name: label.clone(),
                period: lines.first().map(|l| l.period.clone()).unwrap_or_default(),
                quantity: 1,
                unit_price_minor: -p.net_minor,
                setup_fee_minor: 0,
                vat_rate_bp: i64::from(p.rate_bp),
                net_minor: -p.net_minor,
                vat_minor: -p.vat_minor,
                total_minor: -(p.net_minor + p.vat_minor),
                domain: None,
                service_id: None,
                period_start: None,
                period_end: None,
            },
        )
        .await?;
    }
    if !store::discount_order(tx.conn(), &o.id, net, vat, net + vat, now).await? {
        return Err(AppError::conflict(
            "order_not_payable",
            "the order changed meanwhile",
        ));
    }
    store::insert_redemption(
        tx.conn(),
        &RedemptionRow {
            id: ids::new_id(now),
            voucher_code: v.code.clone(),
            account_id: account.id.clone(),
            order_id: Some(o.id.clone()),
            net_minor: net,
            vat_minor: vat,
            total_minor: net + vat,
            state: "active".into(),
            created_at: now,
            updated_at: now,
        },
    )
    .await?;
    orders::record_event(
        app,
        tx.conn(),
        &o.id,
        "voucher_applied",
        format!("{label}: −{}", orders::format_money(net + vat, &o.currency)),
        "customer",
        Some(("pay", o.expires_at)),
    )
    .await?;
    tx.commit().await?;
    orders::get(app, Some(&account.id), &o.id).await
}

fn percent_text(bp: u32) -> String {
    if bp.is_multiple_of(100) {
        (bp / 100).to_string()
    } else {
        format!("{}.{:02}", bp / 100, bp % 100)
    }
}

/// Redeem a credit code into the account's balance, in the account's currency.
pub async fn redeem_credit(
    app: &App,
    account: &AccountRow,
    input: &RedeemInput,
) -> Result<CreditView> {
    let now = app.now_ms();
    let mut tx = app.db.begin().await?;
    let v = take(
        app,
        tx.conn(),
        account,
        &input.code,
        false,
        &account.currency,
        &[],
    )
    .await?;
    let m = crate::credit::add_in(
        app,
        tx.conn(),
        &account.id,
        &account.currency,
        v.amount_minor,
        MovementKind::Voucher,
        Refs {
            voucher_code: Some(v.code.clone()),
            reason: Some(v.code.clone()),
            ..Refs::default()
        },
    )
    .await?;
    store::insert_redemption(
        tx.conn(),
        &RedemptionRow {
            id: ids::new_id(now),
            voucher_code: v.code.clone(),
            account_id: account.id.clone(),
            order_id: None,
            net_minor: m.amount_minor,
            vat_minor: 0,
            total_minor: m.amount_minor,
            state: "active".into(),
            created_at: now,
            updated_at: now,
        },
    )
    .await?;
    tx.commit().await?;
    crate::credit::get(app, &account.id).await
}

/// The account's redemptions, newest first.
pub async fn redemptions(app: &App, account_id: &str) -> Result<Vec<RedemptionView>> {
    let mut c = app.db.conn().await?;
    Ok(store::redemptions_of(&mut c, account_id)
        .await?
        .into_iter()
        .map(redemption_view)
        .collect())
}

/// One redemption of the account; someone else's is a 404.
pub async fn redemption(app: &App, account_id: &str, id: &str) -> Result<RedemptionView> {
    if !ids::is_id(id) {
        return Err(AppError::not_found("redemption_not_found"));
    }
    let mut c = app.db.conn().await?;
    store::redemption(&mut c, id, Some(account_id))
        .await?
        .map(redemption_view)
        .ok_or_else(|| AppError::not_found("redemption_not_found"))
}

/// An order cancelled unpaid gives its voucher use back, in the cancelling transaction.
pub(crate) async fn release_order_in(
    app: &App,
    c: &mut AnyConnection,
    order: &OrderRow,
) -> Result<()> {
    let now = app.now_ms();
    if let Some(r) = store::active_on_order(c, &order.id).await?
        && store::release(c, &r.id, now).await?
    {
        store::give_back_use(c, &r.voucher_code, now).await?;
    }
    Ok(())
}
