//! Plan changes of services (upgrades waiting for their payment, downgrades waiting for the
//! next renewal, and the record of those applied or cancelled), the per-product setting that
//! allows immediate downgrades, and the in-place repricing of an unpaid renewal order.

use crate::Result;
use sqlx::{AnyConnection, FromRow};

#[derive(Debug, Clone, FromRow)]
pub struct PlanChangeRow {
    pub id: String,
    pub account_id: String,
    pub service_id: String,
    pub from_plan: String,
    pub to_plan: String,
    /// `upgrade` or `downgrade`.
    pub direction: String,
    /// `now` or `renewal`.
    pub timing: String,
    /// `pending`, `applied` or `cancelled`.
    pub state: String,
    pub order_id: Option<String>,
    pub period_start: String,
    pub period_end: String,
    pub net_minor: i64,
    pub vat_minor: i64,
    pub total_minor: i64,
    pub created_at: i64,
    pub updated_at: i64,
}

const COLUMNS: &str = "id, account_id, service_id, from_plan, to_plan, direction, timing, state, \
    order_id, period_start, period_end, net_minor, vat_minor, total_minor, created_at, updated_at";

pub async fn insert(c: &mut AnyConnection, p: &PlanChangeRow) -> Result<()> {
    sqlx::query(
        "INSERT INTO plan_changes (id, account_id, service_id, from_plan, to_plan, direction, \
         timing, state, order_id, period_start, period_end, net_minor, vat_minor, total_minor, \
         created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, \
         $14, $15, $16)",
    )
    .bind(&p.id)
    .bind(&p.account_id)
    .bind(&p.service_id)
    .bind(&p.from_plan)
    .bind(&p.to_plan)
    .bind(&p.direction)
    .bind(&p.timing)
    .bind(&p.state)
    .bind(&p.order_id)
    .bind(&p.period_start)
    .bind(&p.period_end)
    .bind(p.net_minor)
    .bind(p.vat_minor)
    .bind(p.total_minor)
    .bind(p.created_at)
    .bind(p.updated_at)
    .execute(c)
    .await?;
    Ok(())
}

/// The change in progress of a service, if any.
pub async fn pending_of(c: &mut AnyConnection, service_id: &str) -> Result<Option<PlanChangeRow>> {
    let sql =
        format!("SELECT {COLUMNS} FROM plan_changes WHERE service_id = $1 AND state = 'pending'");
    Ok(sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(service_id)
        .fetch_optional(c)
        .await?)
}

/// The pending changes of several services, in one query (a list page).
pub async fn pending_of_many(
    c: &mut AnyConnection,
    service_ids: &[String],
) -> Result<Vec<PlanChangeRow>> {
    let sql = format!(
        "SELECT {COLUMNS} FROM plan_changes WHERE state = 'pending' AND service_id IN ({{in}})"
    );
    crate::bulk::select_in(c, &sql, &[], service_ids).await
}

/// The change an order pays for, if any.
pub async fn of_order(c: &mut AnyConnection, order_id: &str) -> Result<Option<PlanChangeRow>> {
    let sql = format!("SELECT {COLUMNS} FROM plan_changes WHERE order_id = $1");
    Ok(sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(order_id)
        .fetch_optional(c)
        .await?)
}

/// A service's changes, newest first.
pub async fn of_service(c: &mut AnyConnection, service_id: &str) -> Result<Vec<PlanChangeRow>> {
    let sql = format!(
        "SELECT {COLUMNS} FROM plan_changes WHERE service_id = $1 \
         ORDER BY created_at DESC, id DESC"
    );
    Ok(sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(service_id)
        .fetch_all(c)
        .await?)
}

/// Move a change from `from` to `to`; false if it was no longer in `from`.
pub async fn set_state(
    c: &mut AnyConnection,
    id: &str,
    from: &str,
    to: &str,
    now: i64,
) -> Result<bool> {
    let r = sqlx::query(
        "UPDATE plan_changes SET state = $3, updated_at = $4 WHERE id = $1 AND state = $2",
    )
    .bind(id)
    .bind(from)
    .bind(to)
    .bind(now)
    .execute(c)
    .await?;
    Ok(r.rows_affected() == 1)
}

/// Switch a live service from `from_plan` to `to_plan` without moving its expiration; false
/// if its plan changed meanwhile.
pub async fn switch_plan(
    c: &mut AnyConnection,
    service_id: &str,
    from_plan: &str,
    to_plan: &str,
    now: i64,
) -> Result<bool> {
    let r = sqlx::query(
        "UPDATE services SET plan_code = $3, updated_at = $4 WHERE id = $1 AND plan_code = $2 \
         AND state <> 'deleted'",
    )
    .bind(service_id)
    .bind(from_plan)
    .bind(to_plan)
    .bind(now)
    .execute(c)
    .await?;
    Ok(r.rows_affected() == 1)
}

/// Whether a product lets its services move to a cheaper plan at once (with a credit).
pub async fn immediate_downgrade(c: &mut AnyConnection, product_code: &str) -> Result<bool> {
    let v: Option<i64> =
        sqlx::query_scalar("SELECT immediate_downgrade FROM products WHERE code = $1")
            .bind(product_code)
            .fetch_optional(c)
            .await?;
    Ok(v == Some(1))
}

/// Set a product's immediate-downgrade setting; false if there is no such product.
pub async fn set_immediate_downgrade(
    c: &mut AnyConnection,
    product_code: &str,
    allowed: bool,
    now: i64,
) -> Result<bool> {
    let r = sqlx::query(
        "UPDATE products SET immediate_downgrade = $2, updated_at = $3 WHERE code = $1",
    )
    .bind(product_code)
    .bind(i64::from(allowed))
    .bind(now)
    .execute(c)
    .await?;
    Ok(r.rows_affected() == 1)
}

/// Reprice the single line of an unpaid renewal order (a downgrade set or cancelled after it
/// was placed); false if the order was no longer unpaid.
#[allow(clippy::too_many_arguments)]
pub async fn reprice_renewal(
    c: &mut AnyConnection,
    order_id: &str,
    plan_code: &str,
    plan_name: &str,
    unit_price_minor: i64,
    net_minor: i64,
    vat_minor: i64,
    total_minor: i64,
    now: i64,
) -> Result<bool> {
    let r = sqlx::query(
        "UPDATE orders SET net_minor = $2, vat_minor = $3, total_minor = $4, updated_at = $5 \
         WHERE id = $1 AND status = 'not_paid' AND kind = 'renewal'",
    )
    .bind(order_id)
    .bind(net_minor)
    .bind(vat_minor)
    .bind(total_minor)
    .bind(now)
    .execute(&mut *c)
    .await?;
    if r.rows_affected() != 1 {
        return Ok(false);
    }
    sqlx::query(
        "UPDATE order_lines SET plan_code = $2, plan_name = $3, unit_price_minor = $4, \
         net_minor = $5, vat_minor = $6, total_minor = $7 WHERE order_id = $1 AND line_no = 1",
    )
    .bind(order_id)
    .bind(plan_code)
    .bind(plan_name)
    .bind(unit_price_minor)
    .bind(net_minor)
    .bind(vat_minor)
    .bind(total_minor)
    .execute(c)
    .await?;
    Ok(true)
}

/// Which of these services have a plan change in progress.
pub async fn pending_services(
    c: &mut AnyConnection,
    service_ids: &[String],
) -> Result<Vec<String>> {
    #[derive(sqlx::FromRow)]
    struct Id {
        service_id: String,
    }
    let rows: Vec<Id> = crate::bulk::select_in(
        c,
        "SELECT service_id FROM plan_changes WHERE state = 'pending' AND service_id IN ({in})",
        &[],
        service_ids,
    )
    .await?;
    Ok(rows.into_iter().map(|r| r.service_id).collect())
}
