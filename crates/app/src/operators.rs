//! Operators (the provider's staff): API keys created from the CLI, recognised on
//! `/api/v1/admin/...`, every action written to the audit log; and the sandbox clock.

use crate::clock::rfc3339;
use crate::{App, AppError, Result, crypto, ids};
use guichet_store::operators::{self, AuditRow, OperatorKeyRow};
use guichet_store::{AnyConnection, Db, settings};
use serde::Serialize;
use utoipa::ToSchema;

pub const KEY_PREFIX: &str = "gco_";
pub const ROLES: [&str; 3] = ["admin", "billing", "support"];

#[derive(Debug, Clone)]
pub struct Operator {
    pub key_id: String,
    pub name: String,
    pub role: String,
}

impl Operator {
    pub fn actor(&self) -> String {
        format!("operator:{}:{}", self.name, self.key_id)
    }

    pub fn require_role(&self, allowed: &[&str]) -> Result<()> {
        if self.role == "admin" || allowed.contains(&self.role.as_str()) {
            Ok(())
        } else {
            Err(AppError::forbidden(
                "forbidden_role",
                "this operator role may not do this",
            ))
        }
    }
}

/// Create a key (from the CLI); returns the secret, shown once.
pub async fn create_key(db: &Db, now: i64, name: &str, role: &str) -> Result<String> {
    let name = guichet_domain::validation::text(name, 1, 100)
        .map_err(|e| AppError::bad_request("invalid_name", e.message))?;
    if !ROLES.contains(&role) {
        return Err(AppError::bad_request(
            "invalid_role",
            "role must be admin, billing or support",
        ));
    }
    let (token, hash) = crypto::new_token(KEY_PREFIX);
    let id = ids::new_id(now);
    let mut tx = db.begin().await?;
    operators::insert_key(
        tx.conn(),
        &OperatorKeyRow {
            id: id.clone(),
            name: name.clone(),
            role: role.to_owned(),
            token_hash: hash,
            created_at: now,
            last_used_at: None,
            revoked_at: None,
        },
    )
    .await?;
    operators::audit(
        tx.conn(),
        &AuditRow {
            id: ids::new_id(now),
            actor: "cli".into(),
            action: "operator_key.create".into(),
            subject: Some(id),
            details: Some(format!("{name} ({role})")),
            created_at: now,
        },
    )
    .await?;
    tx.commit().await?;
    Ok(token)
}

pub async fn authenticate(app: &App, token: &str) -> Result<Operator> {
    let denied = || AppError::unauthorized("unauthenticated", "an operator key is required");
    if !token.starts_with(KEY_PREFIX) {
        return Err(denied());
    }
    let mut c = app.db.conn().await?;
    let k = operators::key_by_hash(&mut c, &crypto::hash_token(token))
        .await?
        .ok_or_else(denied)?;
    if k.revoked_at.is_some() {
        return Err(denied());
    }
    Ok(Operator {
        key_id: k.id,
        name: k.name,
        role: k.role,
    })
}

/// Write an audit entry in the caller's transaction.
pub async fn audit(
    app: &App,
    c: &mut AnyConnection,
    op: &Operator,
    action: &str,
    subject: Option<&str>,
    details: Option<String>,
) -> Result<()> {
    let now = app.now_ms();
    operators::audit(
        c,
        &AuditRow {
            id: ids::new_id(now),
            actor: op.actor(),
            action: action.to_owned(),
            subject: subject.map(str::to_owned),
            details,
            created_at: now,
        },
    )
    .await?;
    Ok(())
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct AuditView {
    pub id: String,
    pub actor: String,
    pub action: String,
    pub subject: Option<String>,
    pub details: Option<String>,
    pub created_at: String,
}

pub async fn list_audit(app: &App, limit: i64) -> Result<Vec<AuditView>> {
    let mut c = app.db.conn().await?;
    Ok(operators::list_audit(&mut c, limit.clamp(1, 500))
        .await?
        .into_iter()
        .map(|a| AuditView {
            id: a.id,
            actor: a.actor,
            action: a.action,
            subject: a.subject,
            details: a.details,
            created_at: rfc3339(a.created_at),
        })
        .collect())
}

const CLOCK_KEY: &str = "sandbox_clock_offset_ms";

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ClockView {
    pub now: String,
    pub offset_seconds: i64,
    pub sandbox: bool,
}

pub fn clock_view(app: &App) -> ClockView {
    ClockView {
        now: rfc3339(app.now_ms()),
        offset_seconds: app.clock.offset_ms() / 1000,
        sandbox: app.clock.is_movable(),
    }
}

/// Move the sandbox clock forward to `target_ms` (or by `advance_secs`); refused outside
/// sandbox mode and backwards. The offset is stored so that every node and a restart agree.
pub async fn move_clock(
    app: &App,
    op: &Operator,
    target_ms: Option<i64>,
    advance_secs: Option<i64>,
) -> Result<ClockView> {
    op.require_role(&[])?;
    if !app.clock.is_movable() {
        return Err(AppError::forbidden(
            "not_sandbox",
            "the clock moves only in sandbox mode",
        ));
    }
    let now = app.now_ms();
    let target = match (target_ms, advance_secs) {
        (Some(t), None) => t,
        (None, Some(s)) if (0..=10 * 366 * 86_400).contains(&s) => now.saturating_add(s * 1000),
        (None, Some(_)) => {
            return Err(AppError::field(
                "advance_seconds",
                "invalid_advance",
                "advance between 0 and ten years",
            ));
        }
        _ => {
            return Err(AppError::bad_request(
                "invalid_clock_move",
                "give exactly one of `now` or `advance_seconds`",
            ));
        }
    };
    if target < now {
        return Err(AppError::bad_request(
            "clock_backwards",
            "the clock never moves backwards",
        ));
    }
    advance_clock(app, target - now).await?;
    let offset = app.clock.offset_ms();
    let mut tx = app.db.begin().await?;
    settings::put(tx.conn(), CLOCK_KEY, &offset.to_string()).await?;
    audit(
        app,
        tx.conn(),
        op,
        "clock.move",
        None,
        Some(rfc3339(target)),
    )
    .await?;
    tx.commit().await?;
    app.outbox_signal.notify_waiters();
    Ok(clock_view(app))
}

/// Move a sandbox clock forward by `by_ms` a day at most at a time, doing what falls due
/// on each day before the next (a year moved at once renews, reminds and suspends on the
/// days it would have), and store the offset so a restart keeps it.
pub async fn advance_clock(app: &App, by_ms: i64) -> Result<()> {
    const DAY: i64 = 86_400_000;
    // In offset terms: the clock ends exactly `by_ms` ahead of where it was, however long the
    // days' work takes in real time.
    let target = app.clock.offset_ms().saturating_add(by_ms.max(0));
    loop {
        let pass = app.due_lock.lock().await;
        let off = app.clock.offset_ms();
        let next = target.min(off + DAY);
        if next > off {
            app.clock.set_offset_ms(next);
        }
        crate::jobs::run_due_locked(app).await?;
        drop(pass);
        if next >= target {
            break;
        }
    }
    let mut tx = app.db.begin().await?;
    settings::put(tx.conn(), CLOCK_KEY, &app.clock.offset_ms().to_string()).await?;
    tx.commit().await?;
    Ok(())
}

/// At start-up in sandbox mode: take up the stored clock offset.
pub async fn load_clock(app: &App) -> Result<()> {
    if !app.clock.is_movable() {
        return Ok(());
    }
    let mut c = app.db.conn().await?;
    if let Some(v) = settings::get(&mut c, CLOCK_KEY).await?
        && let Ok(off) = v.parse::<i64>()
    {
        app.clock.set_offset_ms(off);
    }
    Ok(())
}
