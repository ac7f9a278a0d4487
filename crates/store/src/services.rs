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
    /// The period of the next renewal when it differs from `period`.
    pub renewal_period: Option<String>,
    pub termination_reason: Option<String>,
    pub termination_comment: Option<String>,
    /// Set while the service is to end at its expiration ("Résilier").
    pub termination_requested_at: Option<i64>,
    /// The day the lifecycle engine looks at this service next (`YYYY-MM-DD`).
    pub next_step_on: Option<String>,
    pub suspended_at: Option<i64>,
}

const COLUMNS: &str = "id, account_id, order_id, line_no, unit_no, product_code, plan_code, \
    display_name, details, state, period, currency, expires_on, renewal_mode, created_at, \
    updated_at, deleted_at, renewal_period, termination_reason, termination_comment, \
    termination_requested_at, next_step_on, suspended_at";

/// Insert a service unless this unit of this order line already has one; true if inserted.
pub async fn insert(c: &mut AnyConnection, s: &ServiceRow) -> Result<bool> {
    let r = sqlx::query(
        "INSERT INTO services (id, account_id, order_id, line_no, unit_no, product_code, \
         plan_code, display_name, details, state, period, currency, expires_on, renewal_mode, \
         created_at, updated_at, deleted_at, renewal_period, termination_reason, \
         termination_comment, termination_requested_at, next_step_on, suspended_at) VALUES ($1, \
         $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, NULL, NULL, \
         NULL, NULL, $18, NULL) \
         ON CONFLICT (order_id, line_no, unit_no) DO NOTHING",
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
    .bind(&s.next_step_on)
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

pub async fn set_renewal(
    c: &mut AnyConnection,
    id: &str,
    mode: &str,
    renewal_period: Option<&str>,
    now: i64,
) -> Result<()> {
    sqlx::query(
        "UPDATE services SET renewal_mode = $2, renewal_period = $3, updated_at = $4 WHERE id = $1",
    )
    .bind(id)
    .bind(mode)
    .bind(renewal_period)
    .bind(now)
    .execute(c)
    .await?;
    Ok(())
}

/// Ask for (or, with `None`, cancel) the termination at expiration of a service still active.
pub async fn set_termination(
    c: &mut AnyConnection,
    id: &str,
    termination: Option<(&str, Option<&str>)>,
    now: i64,
) -> Result<bool> {
    let r = sqlx::query(
        "UPDATE services SET termination_reason = $2, termination_comment = $3, \
         termination_requested_at = $4, updated_at = $5 WHERE id = $1 AND state <> 'deleted'",
    )
    .bind(id)
    .bind(termination.map(|t| t.0))
    .bind(termination.and_then(|t| t.1))
    .bind(termination.map(|_| now))
    .bind(now)
    .execute(c)
    .await?;
    Ok(r.rows_affected() == 1)
}

/// Delete a service once; false if it was deleted already.
pub async fn mark_deleted(c: &mut AnyConnection, id: &str, now: i64) -> Result<bool> {
    let r = sqlx::query(
        "UPDATE services SET state = 'deleted', deleted_at = $2, updated_at = $2, \
         next_step_on = NULL \
         WHERE id = $1 AND state <> 'deleted'",
    )
    .bind(id)
    .bind(now)
    .execute(c)
    .await?;
    Ok(r.rows_affected() == 1)
}

/// Have the lifecycle engine look at a service again on `today`'s pass (after a change to
/// its renewal, termination or expiration).
pub async fn wake(c: &mut AnyConnection, id: &str, today: &str) -> Result<()> {
    sqlx::query("UPDATE services SET next_step_on = $2 WHERE id = $1 AND state <> 'deleted'")
        .bind(id)
        .bind(today)
        .execute(c)
        .await?;
    Ok(())
}

/// What the planner reads of a service whose next step day has come: its calendar.
#[derive(Debug, Clone, FromRow)]
pub struct DueService {
    pub id: String,
    pub state: String,
    pub expires_on: String,
    pub renewal_mode: String,
    pub period: String,
    pub renewal_period: Option<String>,
    pub termination_requested_at: Option<i64>,
    pub next_step_on: Option<String>,
}

/// Live services whose next lifecycle step has come, oldest first; with `after`, only those
/// past that `(next_step_on, id)` in that order (a pass that leaves some rows due reads on).
pub async fn steps_due(
    c: &mut AnyConnection,
    today: &str,
    after: Option<(&str, &str)>,
    limit: i64,
) -> Result<Vec<DueService>> {
    let (day, id) = after.unwrap_or(("", ""));
    Ok(sqlx::query_as(
        "SELECT id, state, expires_on, renewal_mode, period, renewal_period, \
         termination_requested_at, next_step_on FROM services \
         WHERE next_step_on <= $1 AND state <> 'deleted' \
         AND (next_step_on, id) > ($2, $3) \
         ORDER BY next_step_on, id LIMIT $4",
    )
    .bind(today)
    .bind(day)
    .bind(id)
    .bind(limit)
    .fetch_all(c)
    .await?)
}

/// Record when the engine must look at a service next, unless it changed meanwhile (its
/// expiration date is still `expires_on` and nobody woke it for an earlier day).
pub async fn set_next_step(
    c: &mut AnyConnection,
    id: &str,
    expires_on: &str,
    seen: &str,
    next: Option<&str>,
) -> Result<()> {
    sqlx::query(
        "UPDATE services SET next_step_on = $4 WHERE id = $1 AND expires_on = $2 \
         AND next_step_on = $3",
    )
    .bind(id)
    .bind(expires_on)
    .bind(seen)
    .bind(next)
    .execute(c)
    .await?;
    Ok(())
}

/// When the engine must look at a service next (`set_next_step` for many).
pub struct NextStep {
    pub id: String,
    pub expires_on: String,
    pub seen: String,
    pub next: Option<String>,
}

/// [`set_next_step`] for many services in multi-row statements, each unless it changed
/// meanwhile.
pub async fn set_next_steps(c: &mut AnyConnection, steps: &[NextStep]) -> Result<u64> {
    use crate::bulk::Val;
    let rows: Vec<Vec<Val>> = steps
        .iter()
        .map(|s| {
            vec![
                (&s.id).into(),
                (&s.expires_on).into(),
                (&s.seen).into(),
                (&s.next).into(),
            ]
        })
        .collect();
    let ids: Vec<&str> = steps.iter().map(|s| s.id.as_str()).collect();
    crate::bulk::lock_in_order(c, "services", &ids).await?;
    crate::bulk::with_values(
        c,
        "UPDATE services SET next_step_on = v.column4 FROM (VALUES {values}) AS v \
         WHERE services.id = v.column1 AND services.expires_on = v.column2 \
         AND services.next_step_on = v.column3",
        &[],
        rows,
    )
    .await
}

/// Suspend an active service that reached `expires_on` unpaid; false if it moved meanwhile.
pub async fn suspend(c: &mut AnyConnection, id: &str, expires_on: &str, now: i64) -> Result<bool> {
    let r = sqlx::query(
        "UPDATE services SET state = 'suspended', suspended_at = $3, updated_at = $3 \
         WHERE id = $1 AND state = 'active' AND expires_on = $2",
    )
    .bind(id)
    .bind(expires_on)
    .bind(now)
    .execute(c)
    .await?;
    Ok(r.rows_affected() == 1)
}

/// Several services by id (any order; missing ones left out).
pub async fn by_ids(c: &mut AnyConnection, ids: &[String]) -> Result<Vec<ServiceRow>> {
    let sql = format!("SELECT {COLUMNS} FROM services WHERE id IN ({{in}})");
    crate::bulk::select_in(c, &sql, &[], ids).await
}

/// One service's renewal for [`extend_many`]: from the expiration it was priced at to the new
/// one, on the plan and period paid for.
pub struct Extension {
    pub id: String,
    pub from: String,
    pub to: String,
    pub plan: String,
    pub period: String,
    /// The day the engine looks at the service next, worked out for the renewal mode `mode`
    /// with no termination asked; if either changed meanwhile, the day of the update instead.
    pub next_step_on: String,
    pub mode: String,
}

/// Move services' expiration dates on after a paid renewal (state back to active, the plan
/// and period paid for), in one statement per chunk; returns how many moved (fewer than
/// given when some expiration moved meanwhile).
pub async fn extend_many(
    c: &mut AnyConnection,
    ext: &[Extension],
    today: &str,
    now: i64,
) -> Result<u64> {
    use crate::bulk::Val;
    let rows: Vec<Vec<Val>> = ext
        .iter()
        .map(|e| {
            vec![
                (&e.id).into(),
                (&e.from).into(),
                (&e.to).into(),
                (&e.plan).into(),
                (&e.period).into(),
                (&e.next_step_on).into(),
                (&e.mode).into(),
            ]
        })
        .collect();
    let ids: Vec<&str> = ext.iter().map(|e| e.id.as_str()).collect();
    crate::bulk::lock_in_order(c, "services", &ids).await?;
    crate::bulk::with_values(
        c,
        "UPDATE services SET expires_on = v.column3, state = 'active', suspended_at = NULL, \
         plan_code = v.column4, period = v.column5, renewal_period = NULL, \
         next_step_on = CASE WHEN services.renewal_mode = v.column7 \
         AND services.termination_requested_at IS NULL THEN v.column6 ELSE $1 END, \
         updated_at = $2 FROM (VALUES {values}) AS v WHERE services.id = v.column1 \
         AND services.expires_on = v.column2 AND services.state <> 'deleted'",
        &[today.into(), now.into()],
        rows,
    )
    .await
}
