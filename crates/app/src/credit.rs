//! The account credit balance, per currency: what credits it (immediate downgrades, credit
//! notes credited to the balance, credit vouchers, operators' adjustments with a reason),
//! what debits it (an order it is applied to, before the payment method is charged for the
//! rest), and the movements the customer sees. Every debit is a guarded UPDATE in the same
//! transaction as the order's payment row, so two concurrent orders cannot spend the same
//! credit and the balance never goes negative.

use crate::clock::rfc3339;
use crate::operators::{self, Operator};
use crate::{App, AppError, Result, ids};
use guichet_domain::Currency;
use guichet_domain::credit::{MovementKind, to_apply};
use guichet_store::AnyConnection;
use guichet_store::credit::{self as store, MovementRow};
use guichet_store::orders::OrderRow;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct BalanceView {
    pub currency: String,
    pub balance_minor: i64,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct MovementView {
    pub id: String,
    /// `downgrade`, `credit_note`, `voucher`, `adjustment` (credits or debits), `applied`
    /// (to an order: a debit) or `released` (an order cancelled unpaid gave it back).
    pub kind: String,
    pub currency: String,
    /// Positive for a credit, negative for a debit.
    pub amount_minor: i64,
    pub balance_after_minor: i64,
    pub reason: Option<String>,
    pub order_id: Option<String>,
    pub invoice_id: Option<String>,
    pub voucher_code: Option<String>,
    pub created_at: String,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct CreditView {
    /// One entry per currency the account ever had credit in.
    pub balances: Vec<BalanceView>,
    /// Newest first (the last 200).
    pub movements: Vec<MovementView>,
}

fn movement_view(m: MovementRow) -> MovementView {
    MovementView {
        id: m.id,
        kind: m.kind,
        currency: m.currency,
        amount_minor: m.amount_minor,
        balance_after_minor: m.balance_after_minor,
        reason: m.reason,
        order_id: m.order_id,
        invoice_id: m.invoice_id,
        voucher_code: m.voucher_code,
        created_at: rfc3339(m.created_at),
    }
}

/// The balances and movements of an account.
pub async fn get(app: &App, account_id: &str) -> Result<CreditView> {
    let mut c = app.db.conn().await?;
    let balances = store::balances(&mut c, account_id).await?;
    let movements = store::movements(&mut c, account_id, 200).await?;
    Ok(CreditView {
        balances: balances
            .into_iter()
            .map(|b| BalanceView {
                currency: b.currency,
                balance_minor: b.balance_minor,
            })
            .collect(),
        movements: movements.into_iter().map(movement_view).collect(),
    })
}

/// What a movement refers to.
#[derive(Debug, Clone, Default)]
pub(crate) struct Refs {
    pub reason: Option<String>,
    pub order_id: Option<String>,
    pub invoice_id: Option<String>,
    pub plan_change_id: Option<String>,
    pub voucher_code: Option<String>,
    pub operator_id: Option<String>,
}

/// Credit `amount` (positive) to the balance, in the caller's transaction.
pub(crate) async fn add_in(
    app: &App,
    c: &mut AnyConnection,
    account_id: &str,
    currency: &str,
    amount: i64,
    kind: MovementKind,
    refs: Refs,
) -> Result<MovementRow> {
    if amount <= 0 {
        return Err(AppError::internal("a credit is positive"));
    }
    let now = app.now_ms();
    let after = store::add(c, account_id, currency, amount, now).await?;
    let m = movement(now, account_id, currency, amount, kind, after, refs);
    store::insert_movement(c, &m).await?;
    Ok(m)
}

fn movement(
    now: i64,
    account_id: &str,
    currency: &str,
    amount: i64,
    kind: MovementKind,
    after: i64,
    refs: Refs,
) -> MovementRow {
    MovementRow {
        id: ids::new_id(now),
        account_id: account_id.to_owned(),
        currency: currency.to_owned(),
        amount_minor: amount,
        kind: kind.as_str().to_owned(),
        reason: refs.reason,
        order_id: refs.order_id,
        invoice_id: refs.invoice_id,
        plan_change_id: refs.plan_change_id,
        voucher_code: refs.voucher_code,
        operator_id: refs.operator_id,
        balance_after_minor: after,
        created_at: now,
    }
}

/// Take `amount` (positive) off the balance in the caller's transaction; `None` (nothing
/// written) when the balance holds less.
async fn take_in(
    app: &App,
    c: &mut AnyConnection,
    account_id: &str,
    currency: &str,
    amount: i64,
    kind: MovementKind,
    refs: Refs,
) -> Result<Option<MovementRow>> {
    let now = app.now_ms();
    let Some(after) = store::take(c, account_id, currency, amount, now).await? else {
        return Ok(None);
    };
    let m = movement(now, account_id, currency, -amount, kind, after, refs);
    store::insert_movement(c, &m).await?;
    Ok(Some(m))
}

/// The credit applied to an order and not given back.
pub(crate) async fn applied_to_order(c: &mut AnyConnection, order_id: &str) -> Result<i64> {
    if store::of_order(c, order_id, MovementKind::Released.as_str())
        .await?
        .is_some()
    {
        return Ok(0);
    }
    Ok(store::of_order(c, order_id, MovementKind::Applied.as_str())
        .await?
        .map_or(0, |m| -m.amount_minor))
}

/// Apply the account's credit to an unpaid order, in the transaction that writes its payment
/// (the order row locked): as much as the balance holds, up to the order's total, once per
/// order. Returns the credit applied to the order (now or by an earlier attempt).
pub(crate) async fn apply_to_order_in(
    app: &App,
    c: &mut AnyConnection,
    order: &OrderRow,
) -> Result<i64> {
    // Applied once per order: by an earlier attempt (whose charge failed), or given back.
    if store::of_order(c, &order.id, MovementKind::Applied.as_str())
        .await?
        .is_some()
    {
        return applied_to_order(c, &order.id).await;
    }
    // A concurrent order may spend the balance between the read and the guarded UPDATE:
    // read again and take what is left.
    for _ in 0..10 {
        let balance = store::balance(c, &order.account_id, &order.currency).await?;
        let amount = to_apply(balance, order.total_minor);
        if amount == 0 {
            return Ok(0);
        }
        let refs = Refs {
            order_id: Some(order.id.clone()),
            reason: Some(format!("order {}", order.number)),
            ..Refs::default()
        };
        if take_in(
            app,
            c,
            &order.account_id,
            &order.currency,
            amount,
            MovementKind::Applied,
            refs,
        )
        .await?
        .is_some()
        {
            return Ok(amount);
        }
    }
    Ok(0)
}

/// Give back the credit applied to an order cancelled unpaid, in the cancelling transaction;
/// once.
pub(crate) async fn release_order_in(
    app: &App,
    c: &mut AnyConnection,
    order: &OrderRow,
) -> Result<()> {
    let amount = applied_to_order(c, &order.id).await?;
    if amount == 0 {
        return Ok(());
    }
    add_in(
        app,
        c,
        &order.account_id,
        &order.currency,
        amount,
        MovementKind::Released,
        Refs {
            order_id: Some(order.id.clone()),
            reason: Some(format!("order {} cancelled", order.number)),
            ..Refs::default()
        },
    )
    .await?;
    Ok(())
}

/// The balance an account holds in `currency` (for estimates; the debit is guarded).
pub(crate) async fn balance(
    c: &mut AnyConnection,
    account_id: &str,
    currency: &str,
) -> Result<i64> {
    Ok(store::balance(c, account_id, currency).await?)
}

/// An operator's adjustment.
#[derive(Debug, Clone, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AdjustmentInput {
    pub currency: String,
    /// Positive to credit, negative to debit (never below a zero balance).
    pub amount_minor: i64,
    /// Shown to the customer with the movement; 1 to 500 characters.
    pub reason: String,
}

/// An operator credits or debits an account's balance, with a reason (audited).
pub async fn adjust(
    app: &App,
    op: &Operator,
    account_id: &str,
    input: &AdjustmentInput,
) -> Result<CreditView> {
    op.require_role(&["billing"])?;
    if !ids::is_id(account_id) {
        return Err(AppError::not_found("account_not_found"));
    }
    let reason = input.reason.trim();
    if reason.is_empty() || reason.chars().count() > 500 {
        return Err(AppError::field(
            "reason",
            "reason_required",
            "1 to 500 characters",
        ));
    }
    let currency = Currency::parse(&input.currency).ok_or_else(|| {
        AppError::field(
            "currency",
            "invalid_currency",
            "an ISO 4217 currency Guichet bills in is expected",
        )
    })?;
    let amount = input.amount_minor;
    if amount == 0 || amount.abs() > guichet_domain::catalog::MAX_PRICE_MINOR {
        return Err(AppError::field(
            "amount_minor",
            "invalid_amount",
            "a non-zero amount of at most 1,000,000,000 minor units",
        ));
    }
    let mut tx = app.db.begin().await?;
    guichet_store::accounts::by_id(tx.conn(), account_id)
        .await?
        .ok_or_else(|| AppError::not_found("account_not_found"))?;
    let refs = Refs {
        reason: Some(reason.to_owned()),
        operator_id: Some(op.key_id.clone()),
        ..Refs::default()
    };
    let code = currency.code();
    if amount > 0 {
        add_in(
            app,
            tx.conn(),
            account_id,
            code,
            amount,
            MovementKind::Adjustment,
            refs,
        )
        .await?;
    } else if take_in(
        app,
        tx.conn(),
        account_id,
        code,
        -amount,
        MovementKind::Adjustment,
        refs,
    )
    .await?
    .is_none()
    {
        return Err(AppError::conflict(
            "insufficient_credit",
            "the balance holds less than this debit",
        ));
    }
    operators::audit(
        app,
        tx.conn(),
        op,
        "credit.adjusted",
        Some(account_id),
        Some(format!("{amount} {code}: {reason}")),
    )
    .await?;
    tx.commit().await?;
    get(app, account_id).await
}

/// How the account credit is named as a means of payment (orders, invoices).
pub(crate) fn label(lang: guichet_domain::Language) -> &'static str {
    match lang {
        guichet_domain::Language::Fr => "Crédit du compte",
        guichet_domain::Language::En => "Account credit",
    }
}
