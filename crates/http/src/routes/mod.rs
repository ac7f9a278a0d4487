//! Every route of the JSON API, by area.

pub(crate) mod admin;
pub(crate) mod admin_orders;
pub(crate) mod auth;
pub(crate) mod catalog;
pub(crate) mod closure;
pub(crate) mod health;
pub(crate) mod invoices;
pub(crate) mod me;
pub(crate) mod ops;
pub(crate) mod orders;
pub(crate) mod payment_methods;
pub(crate) mod plans_credit;
pub(crate) mod services;
pub(crate) mod tickets;

use crate::AppState;
use axum::Router;

pub fn routes() -> Router<AppState> {
    Router::new()
        .merge(ops::routes())
        .merge(auth::routes())
        .merge(me::routes())
        .merge(admin::routes())
        .merge(catalog::routes())
        .merge(orders::routes())
        .merge(invoices::routes())
        .merge(payment_methods::routes())
        .merge(services::routes())
        .merge(admin_orders::routes())
        .merge(tickets::routes())
        .merge(closure::routes())
        .merge(health::routes())
        .merge(plans_credit::routes())
}
