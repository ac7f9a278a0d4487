//! The catalog tables: products, plans and plan prices.

use crate::Result;
use sqlx::{AnyConnection, FromRow};

#[derive(Debug, Clone, FromRow, PartialEq, Eq)]
pub struct ProductRow {
    pub code: String,
    pub name: String,
    pub category: String,
    pub description: Option<String>,
    pub instant: i64,
    pub active: i64,
    pub created_at: i64,
    pub updated_at: i64,
}

#[derive(Debug, Clone, FromRow, PartialEq, Eq)]
pub struct PlanRow {
    pub code: String,
    pub product_code: String,
    pub name: String,
    pub period: String,
    pub tax_category: String,
    pub manual_renewal_allowed: i64,
    pub active: i64,
    pub created_at: i64,
    pub updated_at: i64,
}

#[derive(Debug, Clone, FromRow, PartialEq, Eq)]
pub struct PriceRow {
    pub plan_code: String,
    pub currency: String,
    pub price_minor: i64,
    pub setup_fee_minor: i64,
}

/// Insert or update a product; returns true when something changed.
pub async fn upsert_product(c: &mut AnyConnection, p: &ProductRow) -> Result<bool> {
    let existing = product(c, &p.code).await?;
    match existing {
        Some(e)
            if e.name == p.name
                && e.category == p.category
                && e.description == p.description
                && e.instant == p.instant
                && e.active == p.active =>
        {
            Ok(false)
        }
        Some(_) => {
            sqlx::query(
                "UPDATE products SET name = $2, category = $3, description = $4, instant = $5, \
                 active = $6, updated_at = $7 WHERE code = $1",
            )
            .bind(&p.code)
            .bind(&p.name)
            .bind(&p.category)
            .bind(&p.description)
            .bind(p.instant)
            .bind(p.active)
            .bind(p.updated_at)
            .execute(c)
            .await?;
            Ok(true)
        }
        None => {
            sqlx::query(
                "INSERT INTO products (code, name, category, description, instant, active, \
                 created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
            )
            .bind(&p.code)
            .bind(&p.name)
            .bind(&p.category)
            .bind(&p.description)
            .bind(p.instant)
            .bind(p.active)
            .bind(p.created_at)
            .bind(p.updated_at)
            .execute(c)
            .await?;
            Ok(true)
        }
    }
}

pub async fn product(c: &mut AnyConnection, code: &str) -> Result<Option<ProductRow>> {
    Ok(sqlx::query_as(
        "SELECT code, name, category, description, instant, active, created_at, updated_at \
         FROM products WHERE code = $1",
    )
    .bind(code)
    .fetch_optional(c)
    .await?)
}

pub async fn products(c: &mut AnyConnection, active_only: bool) -> Result<Vec<ProductRow>> {
    Ok(sqlx::query_as(
        "SELECT code, name, category, description, instant, active, created_at, updated_at \
         FROM products WHERE active = 1 OR $1 = 0 ORDER BY category, code",
    )
    .bind(i64::from(active_only))
    .fetch_all(c)
    .await?)
}

pub async fn plan(c: &mut AnyConnection, code: &str) -> Result<Option<PlanRow>> {
    Ok(sqlx::query_as(
        "SELECT code, product_code, name, period, tax_category, manual_renewal_allowed, active, \
         created_at, updated_at FROM plans WHERE code = $1",
    )
    .bind(code)
    .fetch_optional(c)
    .await?)
}

pub async fn plans(c: &mut AnyConnection, active_only: bool) -> Result<Vec<PlanRow>> {
    Ok(sqlx::query_as(
        "SELECT code, product_code, name, period, tax_category, manual_renewal_allowed, active, \
         created_at, updated_at FROM plans WHERE active = 1 OR $1 = 0 ORDER BY product_code, code",
    )
    .bind(i64::from(active_only))
    .fetch_all(c)
    .await?)
}

pub async fn prices(c: &mut AnyConnection) -> Result<Vec<PriceRow>> {
    Ok(sqlx::query_as(
        "SELECT plan_code, currency, price_minor, setup_fee_minor FROM plan_prices \
         ORDER BY plan_code, currency",
    )
    .fetch_all(c)
    .await?)
}

pub async fn prices_of(c: &mut AnyConnection, plan_code: &str) -> Result<Vec<PriceRow>> {
    Ok(sqlx::query_as(
        "SELECT plan_code, currency, price_minor, setup_fee_minor FROM plan_prices \
         WHERE plan_code = $1 ORDER BY currency",
    )
    .bind(plan_code)
    .fetch_all(c)
    .await?)
}

/// Insert or update a plan and replace its prices; returns true when something changed.
pub async fn upsert_plan(
    c: &mut AnyConnection,
    p: &PlanRow,
    new_prices: &[PriceRow],
) -> Result<bool> {
    let existing = plan(&mut *c, &p.code).await?;
    let old_prices = prices_of(&mut *c, &p.code).await?;
    let same_plan = existing.as_ref().is_some_and(|e| {
        e.product_code == p.product_code
            && e.name == p.name
            && e.period == p.period
            && e.tax_category == p.tax_category
            && e.manual_renewal_allowed == p.manual_renewal_allowed
            && e.active == p.active
    });
    if same_plan && old_prices == new_prices {
        return Ok(false);
    }
    if existing.is_some() {
        sqlx::query(
            "UPDATE plans SET product_code = $2, name = $3, period = $4, tax_category = $5, \
             manual_renewal_allowed = $6, active = $7, updated_at = $8 WHERE code = $1",
        )
        .bind(&p.code)
        .bind(&p.product_code)
        .bind(&p.name)
        .bind(&p.period)
        .bind(&p.tax_category)
        .bind(p.manual_renewal_allowed)
        .bind(p.active)
        .bind(p.updated_at)
        .execute(&mut *c)
        .await?;
    } else {
        sqlx::query(
            "INSERT INTO plans (code, product_code, name, period, tax_category, \
             manual_renewal_allowed, active, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        )
        .bind(&p.code)
        .bind(&p.product_code)
        .bind(&p.name)
        .bind(&p.period)
        .bind(&p.tax_category)
        .bind(p.manual_renewal_allowed)
        .bind(p.active)
        .bind(p.created_at)
        .bind(p.updated_at)
        .execute(&mut *c)
        .await?;
    }
    sqlx::query("DELETE FROM plan_prices WHERE plan_code = $1")
        .bind(&p.code)
        .execute(&mut *c)
        .await?;
    for pr in new_prices {
        sqlx::query(
            "INSERT INTO plan_prices (plan_code, currency, price_minor, setup_fee_minor) \
             VALUES ($1, $2, $3, $4)",
        )
        .bind(&pr.plan_code)
        .bind(&pr.currency)
        .bind(pr.price_minor)
        .bind(pr.setup_fee_minor)
        .execute(&mut *c)
        .await?;
    }
    Ok(true)
}

pub async fn set_product_active(
    c: &mut AnyConnection,
    code: &str,
    active: bool,
    now: i64,
) -> Result<bool> {
    let r = sqlx::query("UPDATE products SET active = $2, updated_at = $3 WHERE code = $1")
        .bind(code)
        .bind(i64::from(active))
        .bind(now)
        .execute(c)
        .await?;
    Ok(r.rows_affected() == 1)
}

pub async fn set_plan_active(
    c: &mut AnyConnection,
    code: &str,
    active: bool,
    now: i64,
) -> Result<bool> {
    let r = sqlx::query("UPDATE plans SET active = $2, updated_at = $3 WHERE code = $1")
        .bind(code)
        .bind(i64::from(active))
        .bind(now)
        .execute(c)
        .await?;
    Ok(r.rows_affected() == 1)
}
