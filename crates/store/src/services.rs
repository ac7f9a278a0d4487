//! Services: one row per delivered thing, with its lifecycle state and expiration date.

use crate::Result;
use sqlx::{AnyConnection, FromRow};

#[derive(Debug, Clone, FromRow)]
pub struct ServiceRow {
    pub id: String,
    pub account_id: String,
    pub order_id: String,
    pub line_no: i64,
    pub unit_no: i64,
    pub product_code: String,
    pub plan_code: String,
    pub display_name: String,
    /// JSON object given by the provisioning system (addresses, host names…).
    pub details: String,
    pub state: String,
    pub period: String,
    pub currency: String,
    /// `YYYY-MM-DD` (UTC).
    pub expires_on: String,
    pub renewal_mode: String,
    pub created_at: i64,
    pub updated_at: i64,
    pub deleted_at: Option<i64>,
}

const COLUMNS: &str = "id, account_id, order_id, line_no, unit_no, product_code, plan_code, \
    display_name, details, state, period, currency, expires_on, renewal_mode, created_at, \
    updated_at, deleted_at";

/// Insert a service unless this unit of this order line already has one; true if inserted.
pub async fn insert(c: &mut AnyConnection, s: &ServiceRow) -> Result<bool> {
    let r = sqlx::query(
        "INSERT INTO services (id, account_id, order_id, line_no, unit_no, product_code, \
         plan_code, display_name, details, state, period, currency, expires_on, renewal_mode, \
         created_at, updated_at, deleted_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, \
         $11, $12, $13, $14, $15, $16, $17) ON CONFLICT (order_id, line_no, unit_no) DO NOTHING",
    )
    .bind(&s.id)
    .bind(&s.account_id)
    .bind(&s.order_id)
    .bind(s.line_no)
    .bind(s.unit_no)
    .bind(&s.product_code)
    .bind(&s.plan_code)
    .bind(&s.display_name)
    .bind(&s.details)
    .bind(&s.state)
    .bind(&s.period)
    .bind(&s.currency)
    .bind(&s.expires_on)
    .bind(&s.renewal_mode)
    .bind(s.created_at)
    .bind(s.updated_at)
    .bind(s.deleted_at)
    .execute(c)
    .await?;
    Ok(r.rows_affected() == 1)
}

pub async fn get(
    c: &mut AnyConnection,
    id: &str,
    account_id: Option<&str>,
) -> Result<Option<ServiceRow>> {
    let sql =
        format!("SELECT {COLUMNS} FROM services WHERE id = $1 AND ($2 = '' OR account_id = $2)");
    Ok(sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(id)
        .bind(account_id.unwrap_or(""))
        .fetch_optional(c)
        .await?)
}

pub async fn list_for_account(c: &mut AnyConnection, account_id: &str) -> Result<Vec<ServiceRow>> {
    let sql = format!(
        "SELECT {COLUMNS} FROM services WHERE account_id = $1 ORDER BY created_at DESC, id DESC"
    );
    Ok(sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(account_id)
        .fetch_all(c)
        .await?)
}

pub async fn of_order(c: &mut AnyConnection, order_id: &str) -> Result<Vec<ServiceRow>> {
    let sql =
        format!("SELECT {COLUMNS} FROM services WHERE order_id = $1 ORDER BY line_no, unit_no");
    Ok(sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(order_id)
        .fetch_all(c)
        .await?)
}
