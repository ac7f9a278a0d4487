//! The periodic work that falls due with time: unpaid orders expiring and payments whose
//! outcome is unknown. The worker runs it every pass; a sandbox clock move runs it at once so
//! that what fell due is done before the move answers. Each step is idempotent.

use crate::{App, Result};

#[derive(Debug, Default, Clone, Copy, serde::Serialize, utoipa::ToSchema)]
pub struct DueReport {
    pub orders_expired: usize,
    pub payments_reconciled: usize,
}

pub async fn run_due(app: &App) -> Result<DueReport> {
    // Settle unknown payments first: an order paid in fact must not expire.
    let payments_reconciled = crate::payments::reconcile_due(app).await?;
    let orders_expired = crate::orders::expire_due(app).await?;
    crate::idempotency::purge(app).await?;
    crate::refunds::retry_due(app).await?;
    crate::service_ending::terminations_due(app).await?;
    Ok(DueReport {
        orders_expired,
        payments_reconciled,
    })
}
