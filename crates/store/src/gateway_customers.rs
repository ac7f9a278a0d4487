//! The customer each account has at an external gateway (Stripe's `cus_…`): one per account
//! and gateway, recorded once so every card and charge of the account names the same one.

use crate::Result;
use sqlx::AnyConnection;

/// The account's customer at `gateway`, if one was recorded.
pub async fn get(c: &mut AnyConnection, account_id: &str, gateway: &str) -> Result<Option<String>> {
    Ok(sqlx::query_scalar(
        "SELECT customer_ref FROM gateway_customers WHERE account_id = $1 AND gateway = $2",
    )
    .bind(account_id)
    .bind(gateway)
    .fetch_optional(c)
    .await?)
}

/// Record the account's customer at `gateway` unless one is recorded already; returns the
/// one that is recorded afterwards (the first writer wins).
pub async fn insert_once(
    c: &mut AnyConnection,
    account_id: &str,
    gateway: &str,
    customer_ref: &str,
    now: i64,
) -> Result<Option<String>> {
    sqlx::query(
        "INSERT INTO gateway_customers (account_id, gateway, customer_ref, created_at) \
         VALUES ($1, $2, $3, $4) ON CONFLICT (account_id, gateway) DO NOTHING",
    )
    .bind(account_id)
    .bind(gateway)
    .bind(customer_ref)
    .bind(now)
    .execute(&mut *c)
    .await?;
    get(c, account_id, gateway).await
}
