//! The right to erasure, as SQL: every statement that erases or pseudonymises one account's
//! personal data, run by the closure use case in one transaction, and the erasure records
//! (what was erased and when, no personal data) kept for audit. Invoices and credit notes are
//! never touched here: their frozen copies are kept for their legal retention.

use crate::Result;
use sqlx::{AnyConnection, FromRow};

/// What the account's pseudonymised row keeps in place of each erased text.
pub const ERASED: &str = "[erased]";

#[derive(Debug, Clone, FromRow)]
pub struct ErasureRow {
    pub id: String,
    pub account_id: String,
    pub customer_code: String,
    pub requested_at: i64,
    pub erased_at: i64,
    /// JSON object: how many rows of each kind were erased or pseudonymised.
    pub summary: String,
}

pub async fn insert(c: &mut AnyConnection, e: &ErasureRow) -> Result<()> {
    sqlx::query(
        "INSERT INTO erasures (id, account_id, customer_code, requested_at, erased_at, summary) \
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(&e.id)
    .bind(&e.account_id)
    .bind(&e.customer_code)
    .bind(e.requested_at)
    .bind(e.erased_at)
    .bind(&e.summary)
    .execute(c)
    .await?;
    Ok(())
}

/// Erasure records, newest first.
pub async fn list(c: &mut AnyConnection, limit: i64) -> Result<Vec<ErasureRow>> {
    Ok(sqlx::query_as(
        "SELECT id, account_id, customer_code, requested_at, erased_at, summary FROM erasures \
         ORDER BY erased_at DESC, id DESC LIMIT $1",
    )
    .bind(limit)
    .fetch_all(c)
    .await?)
}

/// The distinct client addresses the account was seen from (sessions, security events).
pub async fn known_ips(c: &mut AnyConnection, account_id: &str) -> Result<Vec<String>> {
    Ok(sqlx::query_scalar(
        "SELECT ip FROM sessions WHERE account_id = $1 AND ip IS NOT NULL \
         UNION SELECT ip FROM security_events WHERE account_id = $1 AND ip IS NOT NULL",
    )
    .bind(account_id)
    .fetch_all(c)
    .await?)
}

/// `LIKE` pattern matching `needle` anywhere, with `\` escaping the wildcards.
fn contains_pattern(needle: &str) -> String {
    let mut p = String::from("%");
    for ch in needle.chars() {
        if matches!(ch, '%' | '_' | '\\') {
            p.push('\\');
        }
        p.push(ch);
    }
    p.push('%');
    p
}

/// Delete the rate-limit counters whose key names `needle` (an account id, an address, an IP).
pub async fn delete_rate_limits_naming(c: &mut AnyConnection, needle: &str) -> Result<u64> {
    let r = sqlx::query("DELETE FROM rate_limits WHERE key LIKE $1 ESCAPE '\\'")
        .bind(contains_pattern(needle))
        .execute(c)
        .await?;
    Ok(r.rows_affected())
}

/// The account row: personal fields cleared, primary e-mail replaced by `pseudonym` (so the
/// address may open a new account), password and factors made unusable, state `closed`.
pub async fn pseudonymise_account(
    c: &mut AnyConnection,
    account_id: &str,
    pseudonym: &str,
    now: i64,
) -> Result<bool> {
    let r = sqlx::query(
        "UPDATE accounts SET state = 'closed', closed_at = $3, updated_at = $3, email = $2, \
         email_verified_at = NULL, password_hash = '!closed', first_name = '', last_name = '', \
         organisation = NULL, vat_number = NULL, address_line1 = NULL, address_line2 = NULL, \
         postal_code = NULL, city = NULL, region = NULL, backup_email = NULL, \
         backup_email_verified_at = NULL, phone = NULL, phone_verified_at = NULL, \
         totp_secret = NULL, totp_pending_secret = NULL, totp_enabled_at = NULL, \
         totp_last_step = NULL WHERE id = $1 AND state = 'active'",
    )
    .bind(account_id)
    .bind(pseudonym)
    .bind(now)
    .execute(c)
    .await?;
    Ok(r.rows_affected() == 1)
}

/// Sessions revoked, their addresses and browsers forgotten; API tokens revoked and renamed.
pub async fn end_sessions_and_tokens(
    c: &mut AnyConnection,
    account_id: &str,
    now: i64,
) -> Result<(u64, u64)> {
    let s = sqlx::query(
        "UPDATE sessions SET ip = NULL, user_agent = NULL, \
         revoked_at = COALESCE(revoked_at, $2), \
         revoked_reason = COALESCE(revoked_reason, 'account_closed') WHERE account_id = $1",
    )
    .bind(account_id)
    .bind(now)
    .execute(&mut *c)
    .await?;
    let t = sqlx::query(
        "UPDATE api_tokens SET name = $3, revoked_at = COALESCE(revoked_at, $2) \
         WHERE account_id = $1",
    )
    .bind(account_id)
    .bind(now)
    .bind(ERASED)
    .execute(&mut *c)
    .await?;
    Ok((s.rows_affected(), t.rows_affected()))
}

/// Single-use secrets and second factors of the account: mailed tokens (their payloads hold
/// addresses), backup codes, log-in challenges, factor recoveries.
pub async fn delete_secrets(c: &mut AnyConnection, account_id: &str) -> Result<u64> {
    let mut n = 0;
    for table in [
        "action_tokens",
        "backup_codes",
        "login_challenges",
        "factor_recoveries",
    ] {
        let sql = format!("DELETE FROM {table} WHERE account_id = $1");
        n += sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(account_id)
            .execute(&mut *c)
            .await?
            .rows_affected();
    }
    Ok(n)
}

/// Mails of the account, or to one of its addresses: recipient, subject and bodies erased
/// (kind, status, dates and reference stay for the log); those still queued are not sent.
/// `except` is the last mail, erased by the sender once delivered.
pub async fn erase_mails(
    c: &mut AnyConnection,
    account_id: &str,
    addresses: &[&str],
    except: &str,
) -> Result<u64> {
    let a = addresses.first().copied().unwrap_or("");
    let b = addresses.get(1).copied().unwrap_or("");
    let r = sqlx::query(
        "UPDATE emails SET to_addr = '', subject = '', body_text = '', body_html = '', \
         data = NULL, last_error = NULL, locked_until = NULL, \
         status = CASE WHEN status = 'queued' THEN 'failed' ELSE status END \
         WHERE id <> $4 AND (account_id = $1 OR (to_addr <> '' AND (to_addr = $2 OR to_addr = $3)))",
    )
    .bind(account_id)
    .bind(a)
    .bind(b)
    .bind(except)
    .execute(c)
    .await?;
    Ok(r.rows_affected())
}

/// The mail `id` keeps its recipient and body until it is delivered (or given up), then the
/// sender erases them.
pub async fn erase_mail_after_send(c: &mut AnyConnection, id: &str) -> Result<()> {
    sqlx::query("UPDATE emails SET erase_after_send = 1 WHERE id = $1")
        .bind(id)
        .execute(c)
        .await?;
    Ok(())
}

/// Texts of the account or to its phone: deleted.
pub async fn delete_sms(c: &mut AnyConnection, account_id: &str, phone: &str) -> Result<u64> {
    let r = sqlx::query(
        "DELETE FROM sms_messages WHERE account_id = $1 OR ($2 <> '' AND to_phone = $2)",
    )
    .bind(account_id)
    .bind(phone)
    .execute(c)
    .await?;
    Ok(r.rows_affected())
}

/// Security events keep their kind and date; address, browser and details are dropped.
pub async fn strip_security_events(c: &mut AnyConnection, account_id: &str) -> Result<u64> {
    let r = sqlx::query(
        "UPDATE security_events SET ip = NULL, user_agent = NULL, details = NULL \
         WHERE account_id = $1",
    )
    .bind(account_id)
    .execute(c)
    .await?;
    Ok(r.rows_affected())
}

/// Stored answers of `Idempotency-Key` requests (their bodies hold account data).
pub async fn delete_idempotency(c: &mut AnyConnection, account_id: &str) -> Result<u64> {
    let r = sqlx::query("DELETE FROM idempotency_keys WHERE account_id = $1")
        .bind(account_id)
        .execute(c)
        .await?;
    Ok(r.rows_affected())
}

/// Saved payment methods: deleted outright (payments keep only their label).
pub async fn delete_payment_methods(c: &mut AnyConnection, account_id: &str) -> Result<u64> {
    let r = sqlx::query("DELETE FROM payment_methods WHERE account_id = $1")
        .bind(account_id)
        .execute(c)
        .await?;
    Ok(r.rows_affected())
}

/// Documents the customer sent with orders: ids of the files to remove, rows deleted.
pub async fn delete_order_documents(
    c: &mut AnyConnection,
    account_id: &str,
) -> Result<Vec<String>> {
    let ids: Vec<String> =
        sqlx::query_scalar("SELECT id FROM order_documents WHERE account_id = $1")
            .bind(account_id)
            .fetch_all(&mut *c)
            .await?;
    sqlx::query("DELETE FROM order_documents WHERE account_id = $1")
        .bind(account_id)
        .execute(&mut *c)
        .await?;
    Ok(ids)
}

/// Services keep their product, dates and states; what the customer wrote (termination
/// comment) and what provisioning stored about them (details) are dropped.
pub async fn strip_services(c: &mut AnyConnection, account_id: &str) -> Result<u64> {
    let r = sqlx::query(
        "UPDATE services SET details = '{}', termination_comment = NULL WHERE account_id = $1",
    )
    .bind(account_id)
    .execute(c)
    .await?;
    Ok(r.rows_affected())
}
