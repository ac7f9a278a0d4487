//! Services as customers see them: what they have, its state and expiration date, and the
//! renewal setting (the lifecycle engine that acts on these dates comes with renewals).

use crate::clock::rfc3339;
use crate::{App, AppError, Result, ids};
use guichet_store::services::{self, ServiceRow};
use serde::Serialize;
use utoipa::ToSchema;

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct RenewalView {
    /// `automatic` or `manual`.
    pub mode: String,
    pub period: String,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ServiceView {
    pub id: String,
    pub display_name: String,
    pub product: String,
    pub plan: String,
    /// `in_creation`, `active`, `suspended` or `deleted`.
    pub state: String,
    /// Expiration date (UTC), `YYYY-MM-DD`.
    pub expires_on: String,
    pub renewal: RenewalView,
    pub currency: String,
    /// What the provider reported at delivery (host name, addresses…).
    pub details: serde_json::Value,
    pub order_id: String,
    pub created_at: String,
}

pub fn view(s: ServiceRow) -> ServiceView {
    ServiceView {
        details: serde_json::from_str(&s.details).unwrap_or(serde_json::Value::Null),
        renewal: RenewalView {
            mode: s.renewal_mode,
            period: s.period,
        },
        id: s.id,
        display_name: s.display_name,
        product: s.product_code,
        plan: s.plan_code,
        state: s.state,
        expires_on: s.expires_on,
        currency: s.currency,
        order_id: s.order_id,
        created_at: rfc3339(s.created_at),
    }
}

pub async fn list(app: &App, account_id: &str) -> Result<Vec<ServiceView>> {
    let mut c = app.db.conn().await?;
    Ok(services::list_for_account(&mut c, account_id)
        .await?
        .into_iter()
        .map(view)
        .collect())
}

/// One service; `account_id` scopes it to a customer (`None` for operators).
pub async fn get(app: &App, account_id: Option<&str>, id: &str) -> Result<ServiceView> {
    if !ids::is_id(id) {
        return Err(AppError::not_found("service_not_found"));
    }
    let mut c = app.db.conn().await?;
    services::get(&mut c, id, account_id)
        .await?
        .map(view)
        .ok_or_else(|| AppError::not_found("service_not_found"))
}
