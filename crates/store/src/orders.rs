//! Orders, their lines, their dated follow-up history and the documents customers send.

use crate::Result;
use crate::bulk::{self, Val};
use sqlx::{AnyConnection, FromRow};

#[derive(Debug, Clone, FromRow)]
pub struct OrderRow {
    pub id: String,
    pub account_id: String,
    pub number: String,
    pub kind: String,
    pub status: String,
    pub currency: String,
    pub net_minor: i64,
    pub vat_minor: i64,
    pub total_minor: i64,
    pub tax_treatment: String,
    pub tax_country: Option<String>,
    pub action_required: Option<String>,
    pub action_due_at: Option<i64>,
    pub delivery_error: Option<String>,
    pub expires_at: i64,
    pub paid_at: Option<i64>,
    pub delivered_at: Option<i64>,
    pub cancelled_at: Option<i64>,
    pub cancel_reason: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
    /// Renewal orders: `{service}:{expiration}` for the automatic one, so a service's
    /// expiration gets one renewal order however often the engine runs.
    pub renewal_key: Option<String>,
}

const COLUMNS: &str = "id, account_id, number, kind, status, currency, net_minor, vat_minor, \
    total_minor, tax_treatment, tax_country, action_required, action_due_at, delivery_error, \
    expires_at, paid_at, delivered_at, cancelled_at, cancel_reason, created_at, updated_at, \
    renewal_key";

#[derive(Debug, Clone, FromRow)]
pub struct LineRow {
    pub order_id: String,
    pub line_no: i64,
    pub product_code: String,
    pub product_name: String,
    pub plan_code: String,
    pub plan_name: String,
    pub period: String,
    pub quantity: i64,
    pub unit_price_minor: i64,
    pub setup_fee_minor: i64,
    pub vat_rate_bp: i64,
    pub net_minor: i64,
    pub vat_minor: i64,
    pub total_minor: i64,
    pub domain: Option<String>,
    pub service_id: Option<String>,
    /// The period a renewal line pays for (`YYYY-MM-DD`); new services count from delivery.
    pub period_start: Option<String>,
    pub period_end: Option<String>,
}

const LINE_COLUMNS: &str = "order_id, line_no, product_code, product_name, plan_code, \
    plan_name, period, quantity, unit_price_minor, setup_fee_minor, vat_rate_bp, net_minor, \
    vat_minor, total_minor, domain, service_id, period_start, period_end";

#[derive(Debug, Clone, FromRow)]
pub struct EventRow {
    pub id: String,
    pub order_id: String,
    pub at: i64,
    pub label: String,
    pub message: String,
    pub actor: String,
    pub action_required: Option<String>,
    pub action_due_at: Option<i64>,
}

#[derive(Debug, Clone, FromRow)]
pub struct DocumentRow {
    pub id: String,
    pub order_id: String,
    pub account_id: String,
    pub file_name: String,
    pub content_type: String,
    pub size_bytes: i64,
    pub sha256: String,
    pub message: String,
    pub created_at: i64,
}

const INSERT_COLUMNS: &str = "id, account_id, number, kind, status, currency, net_minor, \
     vat_minor, total_minor, tax_treatment, tax_country, action_required, action_due_at, \
     delivery_error, expires_at, paid_at, delivered_at, cancelled_at, cancel_reason, \
     created_at, updated_at, renewal_key";

/// An order's values in the column order of its insert; the number is at [`NUMBER_AT`].
pub fn order_values(o: &OrderRow) -> Vec<Val> {
    vec![
        (&o.id).into(),
        (&o.account_id).into(),
        (&o.number).into(),
        (&o.kind).into(),
        (&o.status).into(),
        (&o.currency).into(),
        o.net_minor.into(),
        o.vat_minor.into(),
        o.total_minor.into(),
        (&o.tax_treatment).into(),
        (&o.tax_country).into(),
        (&o.action_required).into(),
        o.action_due_at.into(),
        (&o.delivery_error).into(),
        o.expires_at.into(),
        o.paid_at.into(),
        o.delivered_at.into(),
        o.cancelled_at.into(),
        (&o.cancel_reason).into(),
        o.created_at.into(),
        o.updated_at.into(),
        (&o.renewal_key).into(),
    ]
}

/// Reserve `n` consecutive order numbers of `year` from its counter and return the first:
/// numbers are never reused, and a reservation lost to a crash only leaves a gap. Meant for
/// a short transaction of its own, so that the counter's row is not held for long.
pub async fn reserve_numbers(c: &mut AnyConnection, year: i64, n: i64) -> Result<i64> {
    let last: i64 = sqlx::query_scalar(
        "INSERT INTO order_numbers (year, last_number) VALUES ($1, $2) ON CONFLICT (year) \
         DO UPDATE SET last_number = order_numbers.last_number + $2 RETURNING last_number",
    )
    .bind(year)
    .bind(n)
    .fetch_one(c)
    .await?;
    Ok(last - n + 1)
}

pub async fn insert(c: &mut AnyConnection, o: &OrderRow) -> Result<()> {
    insert_many(c, std::slice::from_ref(o)).await
}

/// Insert orders in as few statements as the parameter limits allow.
pub async fn insert_many(c: &mut AnyConnection, orders: &[OrderRow]) -> Result<()> {
    let rows: Vec<Vec<Val>> = orders.iter().map(order_values).collect();
    bulk::insert(c, "orders", INSERT_COLUMNS, rows, "").await?;
    Ok(())
}

/// Where an order's number sits among [`order_values`].
pub const NUMBER_AT: usize = 2;

/// Insert renewal orders (rows laid out ahead by [`order_values`]), leaving out any whose
/// `renewal_key` is taken already (another batch or node placed that renewal first);
/// returns how many were inserted.
pub async fn insert_renewal_values(c: &mut AnyConnection, rows: Vec<Vec<Val>>) -> Result<u64> {
    bulk::insert(
        c,
        "orders",
        INSERT_COLUMNS,
        rows,
        "ON CONFLICT (renewal_key) DO NOTHING",
    )
    .await
}

/// Which of these order ids exist.
pub async fn existing_ids(c: &mut AnyConnection, ids: &[String]) -> Result<Vec<String>> {
    let rows: Vec<(String,)> =
        bulk::select_in(c, "SELECT id FROM orders WHERE id IN ({in})", &[], ids).await?;
    Ok(rows.into_iter().map(|r| r.0).collect())
}

/// An order line's values in the column order of its insert.
pub fn line_values(l: &LineRow) -> Vec<Val> {
    vec![
        (&l.order_id).into(),
        l.line_no.into(),
        (&l.product_code).into(),
        (&l.product_name).into(),
        (&l.plan_code).into(),
        (&l.plan_name).into(),
        (&l.period).into(),
        l.quantity.into(),
        l.unit_price_minor.into(),
        l.setup_fee_minor.into(),
        l.vat_rate_bp.into(),
        l.net_minor.into(),
        l.vat_minor.into(),
        l.total_minor.into(),
        (&l.domain).into(),
        (&l.service_id).into(),
        (&l.period_start).into(),
        (&l.period_end).into(),
    ]
}

pub async fn insert_line(c: &mut AnyConnection, l: &LineRow) -> Result<()> {
    insert_lines(c, std::slice::from_ref(l)).await
}

pub async fn insert_lines(c: &mut AnyConnection, lines: &[LineRow]) -> Result<()> {
    insert_line_values(c, lines.iter().map(line_values).collect()).await
}

/// [`insert_lines`] of rows laid out ahead by [`line_values`].
pub async fn insert_line_values(c: &mut AnyConnection, rows: Vec<Vec<Val>>) -> Result<()> {
    bulk::insert(c, "order_lines", LINE_COLUMNS, rows, "").await?;
    Ok(())
}

pub async fn insert_event(c: &mut AnyConnection, e: &EventRow) -> Result<()> {
    insert_events(c, &[(e.clone(), 1)]).await
}

/// Append events to their orders' timelines: each gets the next number of its order, plus
/// its offset (1 for the first event of an order in this call, 2 for the second…), as the
/// statement sees the timeline before it runs.
pub async fn insert_events(c: &mut AnyConnection, events: &[(EventRow, i64)]) -> Result<()> {
    let rows = events.iter().map(|(e, k)| event_values(e, *k)).collect();
    insert_event_values(c, rows).await
}

/// An event's values for [`insert_event_values`], `offset` as in [`insert_events`].
pub fn event_values(e: &EventRow, offset: i64) -> Vec<Val> {
    vec![
        (&e.id).into(),
        (&e.order_id).into(),
        offset.into(),
        e.at.into(),
        (&e.label).into(),
        (&e.message).into(),
        (&e.actor).into(),
        (&e.action_required).into(),
        e.action_due_at.into(),
    ]
}

/// [`insert_events`] of rows laid out ahead by [`event_values`].
pub async fn insert_event_values(c: &mut AnyConnection, rows: Vec<Vec<Val>>) -> Result<()> {
    bulk::with_values(
        c,
        "INSERT INTO order_events (id, order_id, seq, at, label, message, actor, \
         action_required, action_due_at) SELECT v.column1, v.column2, \
         (SELECT COALESCE(MAX(e.seq), 0) FROM order_events e WHERE e.order_id = v.column2) \
         + v.column3, v.column4, v.column5, v.column6, v.column7, v.column8, v.column9 \
         FROM (VALUES {values}) AS v",
        &[],
        rows,
    )
    .await?;
    Ok(())
}

/// One order, scoped to its account (`None` for operators).
pub async fn get(
    c: &mut AnyConnection,
    id: &str,
    account_id: Option<&str>,
) -> Result<Option<OrderRow>> {
    let sql =
        format!("SELECT {COLUMNS} FROM orders WHERE id = $1 AND ($2 = '' OR account_id = $2)");
    Ok(sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(id)
        .bind(account_id.unwrap_or(""))
        .fetch_optional(c)
        .await?)
}

/// Orders newest first, optionally of one account and in one status.
pub async fn list(
    c: &mut AnyConnection,
    account_id: Option<&str>,
    status: Option<&str>,
    limit: i64,
) -> Result<Vec<OrderRow>> {
    let (filter, vals, n) =
        crate::filter::eq_filters(&[("account_id", account_id), ("status", status)]);
    let sql = format!(
        "SELECT {COLUMNS} FROM orders {filter} ORDER BY created_at DESC, id DESC LIMIT ${n}"
    );
    let mut q = sqlx::query_as(sqlx::AssertSqlSafe(sql));
    for v in vals {
        q = q.bind(v);
    }
    Ok(q.bind(limit).fetch_all(c).await?)
}

pub async fn lines(c: &mut AnyConnection, order_id: &str) -> Result<Vec<LineRow>> {
    let sql =
        format!("SELECT {LINE_COLUMNS} FROM order_lines WHERE order_id = $1 ORDER BY line_no");
    Ok(sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(order_id)
        .fetch_all(c)
        .await?)
}

pub async fn events(c: &mut AnyConnection, order_id: &str) -> Result<Vec<EventRow>> {
    Ok(sqlx::query_as(
        "SELECT id, order_id, at, label, message, actor, action_required, action_due_at \
         FROM order_events WHERE order_id = $1 ORDER BY seq",
    )
    .bind(order_id)
    .fetch_all(c)
    .await?)
}

/// Move an order from `from` to `to`; false when it was no longer in `from` (someone else
/// moved it first), so each transition happens once.
pub async fn transition(
    c: &mut AnyConnection,
    id: &str,
    from: &str,
    to: &str,
    now: i64,
) -> Result<bool> {
    let r = sqlx::query(
        "UPDATE orders SET status = $3, updated_at = $4, \
         paid_at = CASE WHEN $3 = 'checking' AND paid_at IS NULL THEN $4 ELSE paid_at END, \
         delivered_at = CASE WHEN $3 = 'delivered' THEN $4 ELSE delivered_at END, \
         cancelled_at = CASE WHEN $3 = 'cancelled' THEN $4 ELSE cancelled_at END, \
         delivery_error = CASE WHEN $3 = 'delivering' THEN NULL ELSE delivery_error END, \
         action_required = NULL, action_due_at = NULL \
         WHERE id = $1 AND status = $2",
    )
    .bind(id)
    .bind(from)
    .bind(to)
    .bind(now)
    .execute(c)
    .await?;
    Ok(r.rows_affected() == 1)
}

/// Set what the customer must do and by when (after a transition, which clears it).
pub async fn set_action(
    c: &mut AnyConnection,
    id: &str,
    action: Option<&str>,
    due_at: Option<i64>,
) -> Result<()> {
    sqlx::query("UPDATE orders SET action_required = $2, action_due_at = $3 WHERE id = $1")
        .bind(id)
        .bind(action)
        .bind(due_at)
        .execute(c)
        .await?;
    Ok(())
}

pub async fn set_cancel_reason(c: &mut AnyConnection, id: &str, reason: &str) -> Result<()> {
    sqlx::query("UPDATE orders SET cancel_reason = $2 WHERE id = $1")
        .bind(id)
        .bind(reason)
        .execute(c)
        .await?;
    Ok(())
}

/// Record a delivery failure on an order still being delivered; false if it moved on.
pub async fn set_delivery_error(
    c: &mut AnyConnection,
    id: &str,
    error: Option<&str>,
    now: i64,
) -> Result<bool> {
    let r = sqlx::query(
        "UPDATE orders SET delivery_error = $2, updated_at = $3 \
         WHERE id = $1 AND status = 'delivering'",
    )
    .bind(id)
    .bind(error)
    .bind(now)
    .execute(c)
    .await?;
    Ok(r.rows_affected() == 1)
}

pub async fn set_line_service(
    c: &mut AnyConnection,
    order_id: &str,
    line_no: i64,
    service_id: &str,
) -> Result<()> {
    sqlx::query(
        "UPDATE order_lines SET service_id = COALESCE(service_id, $3) \
         WHERE order_id = $1 AND line_no = $2",
    )
    .bind(order_id)
    .bind(line_no)
    .bind(service_id)
    .execute(c)
    .await?;
    Ok(())
}

/// Unpaid orders past their expiry date.
pub async fn expired_unpaid(c: &mut AnyConnection, now: i64, limit: i64) -> Result<Vec<String>> {
    Ok(sqlx::query_scalar(
        "SELECT id FROM orders WHERE status = 'not_paid' AND expires_at <= $1 \
         ORDER BY expires_at, id LIMIT $2",
    )
    .bind(now)
    .bind(limit)
    .fetch_all(c)
    .await?)
}

pub async fn insert_document(c: &mut AnyConnection, d: &DocumentRow) -> Result<()> {
    sqlx::query(
        "INSERT INTO order_documents (id, order_id, account_id, file_name, content_type, \
         size_bytes, sha256, message, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
    )
    .bind(&d.id)
    .bind(&d.order_id)
    .bind(&d.account_id)
    .bind(&d.file_name)
    .bind(&d.content_type)
    .bind(d.size_bytes)
    .bind(&d.sha256)
    .bind(&d.message)
    .bind(d.created_at)
    .execute(c)
    .await?;
    Ok(())
}

pub async fn documents(c: &mut AnyConnection, order_id: &str) -> Result<Vec<DocumentRow>> {
    Ok(sqlx::query_as(
        "SELECT id, order_id, account_id, file_name, content_type, size_bytes, sha256, message, \
         created_at FROM order_documents WHERE order_id = $1 ORDER BY created_at, id",
    )
    .bind(order_id)
    .fetch_all(c)
    .await?)
}

/// Touch an order still in `status` (taking its row lock on PostgreSQL); false if it moved.
pub async fn touch_if_status(
    c: &mut AnyConnection,
    id: &str,
    status: &str,
    now: i64,
) -> Result<bool> {
    let r = sqlx::query("UPDATE orders SET updated_at = $3 WHERE id = $1 AND status = $2")
        .bind(id)
        .bind(status)
        .bind(now)
        .execute(c)
        .await?;
    Ok(r.rows_affected() == 1)
}

/// Take the order's row lock (PostgreSQL) before touching its payments, so that every
/// transaction on an order and its payments locks in the same order: order first.
pub async fn lock(c: &mut AnyConnection, id: &str, now: i64) -> Result<bool> {
    let r = sqlx::query("UPDATE orders SET updated_at = $2 WHERE id = $1")
        .bind(id)
        .bind(now)
        .execute(c)
        .await?;
    Ok(r.rows_affected() == 1)
}

/// The renewal order with this key, if one was placed.
pub async fn by_renewal_key(c: &mut AnyConnection, key: &str) -> Result<Option<OrderRow>> {
    let sql = format!("SELECT {COLUMNS} FROM orders WHERE renewal_key = $1");
    Ok(sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(key)
        .fetch_optional(c)
        .await?)
}

/// Unpaid renewal orders of a service (its id on one of their lines), oldest first.
pub async fn unpaid_renewals_of(c: &mut AnyConnection, service_id: &str) -> Result<Vec<OrderRow>> {
    let sql = format!(
        "SELECT {COLUMNS} FROM orders WHERE kind = 'renewal' AND status = 'not_paid' AND id IN \
         (SELECT order_id FROM order_lines WHERE service_id = $1) ORDER BY created_at, id"
    );
    Ok(sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(service_id)
        .fetch_all(c)
        .await?)
}

/// The orders placed under these renewal keys.
pub async fn by_renewal_keys(c: &mut AnyConnection, keys: &[String]) -> Result<Vec<OrderRow>> {
    let sql = format!("SELECT {COLUMNS} FROM orders WHERE renewal_key IN ({{in}})");
    bulk::select_in(c, &sql, &[], keys).await
}

/// [`transition`] for many orders; returns how many moved.
pub async fn transition_many(
    c: &mut AnyConnection,
    ids: &[String],
    from: &str,
    to: &str,
    now: i64,
) -> Result<u64> {
    bulk::execute_in(
        c,
        "UPDATE orders SET status = $2, updated_at = $3, \
         paid_at = CASE WHEN $2 IN ('checking', 'delivered') AND paid_at IS NULL THEN $3 \
         ELSE paid_at END, \
         delivered_at = CASE WHEN $2 = 'delivered' THEN $3 ELSE delivered_at END, \
         action_required = NULL, action_due_at = NULL WHERE status = $1 AND id IN ({in})",
        &[from.into(), to.into(), now.into()],
        ids,
    )
    .await
}
