//! The periodic work that falls due with time: payments whose outcome is unknown, unpaid
//! orders expiring, refunds to send again, the lifecycle engine (renewals, reminders,
//! suspensions, deletions: `lifecycle`), old idempotency keys. The worker runs it every pass; a sandbox clock move runs it at once so
//! that what fell due is done before the move answers. Each step is idempotent, and one
//! failing step does not stop the others.

use crate::{App, AppError};

#[derive(Debug, Default, Clone, Copy, serde::Serialize, utoipa::ToSchema)]
pub struct DueReport {
    pub payments_reconciled: usize,
    pub orders_expired: usize,
    pub refunds_retried: usize,
    /// Lifecycle jobs done (renewal notices and charges, reminders, suspensions, deletions…).
    pub lifecycle_jobs: usize,
}

fn logged(step: &str, r: Result<usize, AppError>) -> usize {
    r.unwrap_or_else(|e| {
        tracing::warn!(step, error = %e.message, "due work failed; retried next pass");
        0
    })
}

pub async fn run_due(app: &App) -> crate::Result<DueReport> {
    let _pass = app.due_lock.lock().await;
    run_due_locked(app).await
}

/// [`run_due`] for a caller that holds `app.due_lock`.
pub(crate) async fn run_due_locked(app: &App) -> crate::Result<DueReport> {
    // Settle unknown payments first: an order paid in fact must not expire.
    let payments_reconciled = logged("payments", crate::payments::reconcile_due(app).await);
    // The lifecycle before order expiry: an unpaid service deleted at E+7 cancels its own
    // renewal order (as "service deleted"), rather than the order expiring with a mail that
    // invites a new order.
    let lifecycle_jobs = logged("lifecycle", crate::lifecycle::run_until_idle(app).await);
    let orders_expired = logged("orders", crate::orders::expire_due(app).await);
    let refunds_retried = logged("refunds", crate::refunds::retry_due(app).await);
    logged("tickets", crate::tickets::auto_close_due(app).await);
    logged(
        "idempotency",
        crate::idempotency::purge(app).await.map(|n| n as usize),
    );
    Ok(DueReport {
        payments_reconciled,
        orders_expired,
        refunds_retried,
        lifecycle_jobs,
    })
}
