//! Support tickets: a thread of messages between a customer and the provider's operators,
//! with attachments (their bytes are files under the data directory, only metadata here).

use crate::Result;
use sqlx::{AnyConnection, FromRow};

#[derive(Debug, Clone, FromRow)]
pub struct TicketRow {
    pub id: String,
    pub account_id: String,
    pub category: String,
    pub subject: String,
    pub service_id: Option<String>,
    /// `open`, `awaiting_customer`, `awaiting_provider` or `closed`.
    pub state: String,
    /// The operator name the ticket is assigned to.
    pub assignee: Option<String>,
    /// When the ticket started waiting for the customer (auto-close counts from there).
    pub awaiting_since: Option<i64>,
    pub created_at: i64,
    pub updated_at: i64,
    pub closed_at: Option<i64>,
}

const COLUMNS: &str = "id, account_id, category, subject, service_id, state, assignee, \
    awaiting_since, created_at, updated_at, closed_at";

#[derive(Debug, Clone, FromRow)]
pub struct MessageRow {
    pub id: String,
    pub ticket_id: String,
    /// `customer`, `operator` or `system`.
    pub author: String,
    pub operator_name: Option<String>,
    pub body: String,
    pub created_at: i64,
}

#[derive(Debug, Clone, FromRow)]
pub struct AttachmentRow {
    pub id: String,
    pub ticket_id: String,
    pub message_id: String,
    pub file_name: String,
    pub content_type: String,
    pub size_bytes: i64,
    pub sha256: String,
    pub created_at: i64,
}

pub async fn insert(c: &mut AnyConnection, t: &TicketRow) -> Result<()> {
    sqlx::query(
        "INSERT INTO tickets (id, account_id, category, subject, service_id, state, assignee, \
         awaiting_since, created_at, updated_at, closed_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
    )
    .bind(&t.id)
    .bind(&t.account_id)
    .bind(&t.category)
    .bind(&t.subject)
    .bind(&t.service_id)
    .bind(&t.state)
    .bind(&t.assignee)
    .bind(t.awaiting_since)
    .bind(t.created_at)
    .bind(t.updated_at)
    .bind(t.closed_at)
    .execute(c)
    .await?;
    Ok(())
}

pub async fn insert_message(c: &mut AnyConnection, m: &MessageRow) -> Result<()> {
    sqlx::query(
        "INSERT INTO ticket_messages (id, ticket_id, author, operator_name, body, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(&m.id)
    .bind(&m.ticket_id)
    .bind(&m.author)
    .bind(&m.operator_name)
    .bind(&m.body)
    .bind(m.created_at)
    .execute(c)
    .await?;
    Ok(())
}

pub async fn insert_attachment(c: &mut AnyConnection, a: &AttachmentRow) -> Result<()> {
    sqlx::query(
        "INSERT INTO ticket_attachments (id, ticket_id, message_id, file_name, content_type, \
         size_bytes, sha256, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(&a.id)
    .bind(&a.ticket_id)
    .bind(&a.message_id)
    .bind(&a.file_name)
    .bind(&a.content_type)
    .bind(a.size_bytes)
    .bind(&a.sha256)
    .bind(a.created_at)
    .execute(c)
    .await?;
    Ok(())
}

/// One ticket; with `account_id`, only if it belongs to that account.
pub async fn get(
    c: &mut AnyConnection,
    id: &str,
    account_id: Option<&str>,
) -> Result<Option<TicketRow>> {
    let sql =
        format!("SELECT {COLUMNS} FROM tickets WHERE id = $1 AND ($2 = '' OR account_id = $2)");
    Ok(sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(id)
        .bind(account_id.unwrap_or(""))
        .fetch_optional(c)
        .await?)
}

/// What an operator filters the ticket list by (empty strings mean "any").
#[derive(Debug, Clone, Default)]
pub struct ListFilter<'a> {
    pub account_id: &'a str,
    pub state: &'a str,
    pub category: &'a str,
    pub assignee: &'a str,
    pub limit: i64,
}

/// Tickets, most recently updated first.
pub async fn list(c: &mut AnyConnection, f: &ListFilter<'_>) -> Result<Vec<TicketRow>> {
    let (filter, vals, n) = crate::filter::eq_filters(&[
        ("account_id", Some(f.account_id)),
        ("state", Some(f.state)),
        ("category", Some(f.category)),
        ("assignee", Some(f.assignee)),
    ]);
    let sql = format!(
        "SELECT {COLUMNS} FROM tickets {filter} ORDER BY updated_at DESC, id DESC LIMIT ${n}"
    );
    let mut q = sqlx::query_as(sqlx::AssertSqlSafe(sql));
    for v in vals {
        q = q.bind(v);
    }
    Ok(q.bind(f.limit).fetch_all(c).await?)
}

pub async fn messages(c: &mut AnyConnection, ticket_id: &str) -> Result<Vec<MessageRow>> {
    Ok(sqlx::query_as(
        "SELECT id, ticket_id, author, operator_name, body, created_at FROM ticket_messages \
         WHERE ticket_id = $1 ORDER BY created_at, id",
    )
    .bind(ticket_id)
    .fetch_all(c)
    .await?)
}

pub async fn attachments(c: &mut AnyConnection, ticket_id: &str) -> Result<Vec<AttachmentRow>> {
    Ok(sqlx::query_as(
        "SELECT id, ticket_id, message_id, file_name, content_type, size_bytes, sha256, \
         created_at FROM ticket_attachments WHERE ticket_id = $1 ORDER BY created_at, id",
    )
    .bind(ticket_id)
    .fetch_all(c)
    .await?)
}

/// Move a ticket to `state` if it is in one of `from` (any state when empty); false if it
/// was not. `awaiting_since` is set when entering `awaiting_customer`, cleared otherwise.
pub async fn set_state(
    c: &mut AnyConnection,
    id: &str,
    from: &[&str],
    state: &str,
    now: i64,
) -> Result<bool> {
    let from = from.join(",");
    let r = sqlx::query(
        "UPDATE tickets SET state = $2, updated_at = $3, \
         awaiting_since = CASE WHEN $2 = 'awaiting_customer' THEN $3 ELSE NULL END, \
         closed_at = CASE WHEN $2 = 'closed' THEN $3 ELSE NULL END \
         WHERE id = $1 AND ($4 = '' OR (',' || $4 || ',') LIKE ('%,' || state || ',%'))",
    )
    .bind(id)
    .bind(state)
    .bind(now)
    .bind(from)
    .execute(c)
    .await?;
    Ok(r.rows_affected() == 1)
}

/// Touch a ticket (a new message) and take its row lock (PostgreSQL).
pub async fn touch(c: &mut AnyConnection, id: &str, now: i64) -> Result<bool> {
    let r = sqlx::query("UPDATE tickets SET updated_at = $2 WHERE id = $1")
        .bind(id)
        .bind(now)
        .execute(c)
        .await?;
    Ok(r.rows_affected() == 1)
}

pub async fn assign(
    c: &mut AnyConnection,
    id: &str,
    assignee: Option<&str>,
    now: i64,
) -> Result<bool> {
    let r = sqlx::query("UPDATE tickets SET assignee = $2, updated_at = $3 WHERE id = $1")
        .bind(id)
        .bind(assignee)
        .bind(now)
        .execute(c)
        .await?;
    Ok(r.rows_affected() == 1)
}

/// Tickets waiting for the customer since before `cutoff`.
pub async fn awaiting_customer_since(
    c: &mut AnyConnection,
    cutoff: i64,
    limit: i64,
) -> Result<Vec<String>> {
    Ok(sqlx::query_scalar(
        "SELECT id FROM tickets WHERE state = 'awaiting_customer' AND awaiting_since <= $1 \
         ORDER BY awaiting_since, id LIMIT $2",
    )
    .bind(cutoff)
    .bind(limit)
    .fetch_all(c)
    .await?)
}

/// Every ticket of an account (for the export and the erasure).
pub async fn of_account(c: &mut AnyConnection, account_id: &str) -> Result<Vec<TicketRow>> {
    let sql = format!(
        "SELECT {COLUMNS} FROM tickets WHERE account_id = $1 ORDER BY created_at DESC, id DESC"
    );
    Ok(sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(account_id)
        .fetch_all(c)
        .await?)
}

/// The ids of every attachment of an account's tickets (their files are removed on erasure).
pub async fn attachment_ids_of_account(
    c: &mut AnyConnection,
    account_id: &str,
) -> Result<Vec<String>> {
    Ok(sqlx::query_scalar(
        "SELECT a.id FROM ticket_attachments a JOIN tickets t ON t.id = a.ticket_id \
         WHERE t.account_id = $1",
    )
    .bind(account_id)
    .fetch_all(c)
    .await?)
}

/// Anonymise an account's tickets: subjects and message bodies replaced by `erased`, operator
/// names dropped, attachments removed; states and dates are kept. Returns the ticket count.
pub async fn anonymise_account(
    c: &mut AnyConnection,
    account_id: &str,
    erased: &str,
) -> Result<u64> {
    sqlx::query(
        "DELETE FROM ticket_attachments WHERE ticket_id IN \
         (SELECT id FROM tickets WHERE account_id = $1)",
    )
    .bind(account_id)
    .execute(&mut *c)
    .await?;
    sqlx::query(
        "UPDATE ticket_messages SET body = $2, operator_name = NULL WHERE ticket_id IN \
         (SELECT id FROM tickets WHERE account_id = $1)",
    )
    .bind(account_id)
    .bind(erased)
    .execute(&mut *c)
    .await?;
    let r = sqlx::query("UPDATE tickets SET subject = $2 WHERE account_id = $1")
        .bind(account_id)
        .bind(erased)
        .execute(&mut *c)
        .await?;
    Ok(r.rows_affected())
}
