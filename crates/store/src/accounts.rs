//! Customer accounts: identity, profile, verified contact points and password.

use crate::Result;
use sqlx::{AnyConnection, FromRow};

#[derive(Debug, Clone, FromRow)]
pub struct AccountRow {
    pub id: String,
    pub customer_code: String,
    pub kind: String,
    pub state: String,
    pub email: String,
    pub email_verified_at: Option<i64>,
    pub password_hash: String,
    pub password_changed_at: i64,
    pub first_name: String,
    pub last_name: String,
    pub organisation: Option<String>,
    pub vat_number: Option<String>,
    pub address_line1: Option<String>,
    pub address_line2: Option<String>,
    pub postal_code: Option<String>,
    pub city: Option<String>,
    pub region: Option<String>,
    pub country: String,
    pub language: String,
    pub currency: String,
    pub backup_email: Option<String>,
    pub backup_email_verified_at: Option<i64>,
    pub phone: Option<String>,
    pub phone_verified_at: Option<i64>,
    pub created_at: i64,
    pub updated_at: i64,
    pub closed_at: Option<i64>,
}

const COLUMNS: &str = "id, customer_code, kind, state, email, email_verified_at, password_hash, \
    password_changed_at, first_name, last_name, organisation, vat_number, address_line1, \
    address_line2, postal_code, city, region, country, language, currency, backup_email, \
    backup_email_verified_at, phone, phone_verified_at, created_at, updated_at, closed_at";

pub async fn insert(c: &mut AnyConnection, a: &AccountRow) -> Result<()> {
    sqlx::query(
        "INSERT INTO accounts (id, customer_code, kind, state, email, email_verified_at, \
         password_hash, password_changed_at, first_name, last_name, organisation, vat_number, \
         address_line1, address_line2, postal_code, city, region, country, language, currency, \
         backup_email, backup_email_verified_at, phone, phone_verified_at, created_at, \
         updated_at, closed_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, \
         $14, $15, $16, $17, $18, $19, $20, $21, $22, $23, $24, $25, $26, $27)",
    )
    .bind(&a.id)
    .bind(&a.customer_code)
    .bind(&a.kind)
    .bind(&a.state)
    .bind(&a.email)
    .bind(a.email_verified_at)
    .bind(&a.password_hash)
    .bind(a.password_changed_at)
    .bind(&a.first_name)
    .bind(&a.last_name)
    .bind(&a.organisation)
    .bind(&a.vat_number)
    .bind(&a.address_line1)
    .bind(&a.address_line2)
    .bind(&a.postal_code)
    .bind(&a.city)
    .bind(&a.region)
    .bind(&a.country)
    .bind(&a.language)
    .bind(&a.currency)
    .bind(&a.backup_email)
    .bind(a.backup_email_verified_at)
    .bind(&a.phone)
    .bind(a.phone_verified_at)
    .bind(a.created_at)
    .bind(a.updated_at)
    .bind(a.closed_at)
    .execute(c)
    .await?;
    Ok(())
}

pub async fn by_id(c: &mut AnyConnection, id: &str) -> Result<Option<AccountRow>> {
    let sql = format!("SELECT {COLUMNS} FROM accounts WHERE id = $1");
    Ok(sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(id)
        .fetch_optional(c)
        .await?)
}

pub async fn by_email(c: &mut AnyConnection, email: &str) -> Result<Option<AccountRow>> {
    let sql = format!("SELECT {COLUMNS} FROM accounts WHERE email = $1");
    Ok(sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(email)
        .fetch_optional(c)
        .await?)
}

/// The account whose verified backup address is `email`, if any.
pub async fn by_verified_backup_email(
    c: &mut AnyConnection,
    email: &str,
) -> Result<Option<AccountRow>> {
    let sql = format!(
        "SELECT {COLUMNS} FROM accounts WHERE backup_email = $1 \
         AND backup_email_verified_at IS NOT NULL AND state = 'active'"
    );
    Ok(sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(email)
        .fetch_optional(c)
        .await?)
}

pub async fn customer_code_taken(c: &mut AnyConnection, code: &str) -> Result<bool> {
    let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM accounts WHERE customer_code = $1")
        .bind(code)
        .fetch_one(c)
        .await?;
    Ok(n > 0)
}

/// Write back the profile fields ("Mon profil").
pub async fn update_profile(c: &mut AnyConnection, a: &AccountRow, now: i64) -> Result<()> {
    sqlx::query(
        "UPDATE accounts SET first_name = $2, last_name = $3, organisation = $4, vat_number = $5, \
         address_line1 = $6, address_line2 = $7, postal_code = $8, city = $9, region = $10, \
         country = $11, language = $12, updated_at = $13 WHERE id = $1",
    )
    .bind(&a.id)
    .bind(&a.first_name)
    .bind(&a.last_name)
    .bind(&a.organisation)
    .bind(&a.vat_number)
    .bind(&a.address_line1)
    .bind(&a.address_line2)
    .bind(&a.postal_code)
    .bind(&a.city)
    .bind(&a.region)
    .bind(&a.country)
    .bind(&a.language)
    .bind(now)
    .execute(c)
    .await?;
    Ok(())
}

pub async fn mark_email_verified(c: &mut AnyConnection, id: &str, now: i64) -> Result<bool> {
    let r = sqlx::query(
        "UPDATE accounts SET email_verified_at = $2, updated_at = $2 \
         WHERE id = $1 AND email_verified_at IS NULL",
    )
    .bind(id)
    .bind(now)
    .execute(c)
    .await?;
    Ok(r.rows_affected() == 1)
}

/// Replace the primary address (already proved by a mail to the new one).
pub async fn set_email(c: &mut AnyConnection, id: &str, email: &str, now: i64) -> Result<()> {
    sqlx::query(
        "UPDATE accounts SET email = $2, email_verified_at = $3, updated_at = $3 WHERE id = $1",
    )
    .bind(id)
    .bind(email)
    .bind(now)
    .execute(c)
    .await?;
    Ok(())
}

pub async fn set_password(c: &mut AnyConnection, id: &str, hash: &str, now: i64) -> Result<()> {
    sqlx::query(
        "UPDATE accounts SET password_hash = $2, password_changed_at = $3, updated_at = $3 \
         WHERE id = $1",
    )
    .bind(id)
    .bind(hash)
    .bind(now)
    .execute(c)
    .await?;
    Ok(())
}

/// Set (unverified) or clear the backup address.
pub async fn set_backup_email(
    c: &mut AnyConnection,
    id: &str,
    email: Option<&str>,
    now: i64,
) -> Result<()> {
    sqlx::query(
        "UPDATE accounts SET backup_email = $2, backup_email_verified_at = NULL, updated_at = $3 \
         WHERE id = $1",
    )
    .bind(id)
    .bind(email)
    .bind(now)
    .execute(c)
    .await?;
    Ok(())
}

/// Mark the backup address verified, only if it is still the one that was mailed.
pub async fn verify_backup_email(
    c: &mut AnyConnection,
    id: &str,
    email: &str,
    now: i64,
) -> Result<bool> {
    let r = sqlx::query(
        "UPDATE accounts SET backup_email_verified_at = $3, updated_at = $3 \
         WHERE id = $1 AND backup_email = $2",
    )
    .bind(id)
    .bind(email)
    .bind(now)
    .execute(c)
    .await?;
    Ok(r.rows_affected() == 1)
}

pub async fn set_phone(
    c: &mut AnyConnection,
    id: &str,
    phone: Option<&str>,
    verified_at: Option<i64>,
    now: i64,
) -> Result<()> {
    sqlx::query(
        "UPDATE accounts SET phone = $2, phone_verified_at = $3, updated_at = $4 WHERE id = $1",
    )
    .bind(id)
    .bind(phone)
    .bind(verified_at)
    .bind(now)
    .execute(c)
    .await?;
    Ok(())
}

/// Several accounts by id (any order; missing ones left out).
pub async fn by_ids(c: &mut AnyConnection, ids: &[String]) -> Result<Vec<AccountRow>> {
    let sql = format!("SELECT {COLUMNS} FROM accounts WHERE id IN ({{in}})");
    crate::bulk::select_in(c, &sql, &[], ids).await
}
