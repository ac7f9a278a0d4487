//! The OpenAPI 3.1 document, generated from the handlers' annotations and the wire types.

use crate::routes::{
    admin, admin_orders, auth, catalog, closure, health, invoices, me, ops, orders,
    payment_methods, plans_credit, services, tickets,
};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

struct Security;

impl Modify for Security {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some("A session token from /api/v1/auth/login (also sent as the guichet_session cookie) or a personal API token."))
                    .build(),
            ),
        );
        components.add_security_scheme(
            "operator",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some("An operator key from `guichet operator create-key`."))
                    .build(),
            ),
        );
    }
}

#[derive(OpenApi)]
#[openapi(
    info(title = "Guichet API", description = "Customer accounts, billing and service lifecycle for hosting providers. Errors are JSON `{\"code\", \"message\"}` with a 4xx status."),
    paths(
        ops::healthz, ops::readyz, ops::metrics, ops::openapi,
        auth::signup, auth::login, auth::login_second_factor, auth::login_sms, auth::factor_recovery, auth::factor_recovery_confirm, auth::factor_recovery_cancel, auth::logout, auth::verify_email, auth::resend_verification,
        auth::password_reset, auth::password_reset_confirm,
        me::get_me, me::patch_me, me::change_password, me::change_email,
        me::set_backup_email, me::remove_backup_email, me::set_phone, me::remove_phone, me::verify_phone,
        me::security_events, me::list_sessions, me::revoke_session, me::revoke_other_sessions,
        me::list_tokens, me::create_token, me::revoke_token,
        me::list_emails, me::get_email, me::verify_mail,
        me::security_status, me::enrol_totp, me::confirm_totp, me::disable_totp, me::regenerate_backup_codes, me::reauth, me::cancel_factor_recovery,
        catalog::public_catalog, catalog::admin_catalog, catalog::put_product, catalog::delete_product, catalog::put_plan, catalog::delete_plan,
        admin::audit, admin::get_clock, admin::move_clock, admin::sandbox_sms,
        orders::list_orders, orders::create_order, orders::quote_order, orders::get_order, orders::pay_order, orders::cancel_order,
        orders::send_documents, orders::download_document, orders::list_services, orders::get_service, orders::sandbox_token,
        admin_orders::list_orders, admin_orders::get_order, admin_orders::delivery, admin_orders::documents_request,
        admin_orders::download_document, admin_orders::validate, admin_orders::cancel, admin_orders::get_service,
        admin_orders::list_webhooks, admin_orders::get_webhook, admin_orders::replay_webhook,
        invoices::list_invoices, invoices::list_credit_notes, invoices::get_invoice, invoices::export_csv,
        invoices::admin_list, invoices::admin_get, invoices::credit,
        invoices::invoice_pdf, invoices::export_zip, invoices::admin_pdf,
        payment_methods::list_methods, payment_methods::add_method, payment_methods::setup_intent,
        payment_methods::delete_method,
        payment_methods::default_method, payment_methods::transfer_received,
        services::set_renewal, services::renew, services::terminate, services::cancel_termination,
        services::request_deletion, services::confirm_deletion,
        tickets::list_tickets, tickets::create_ticket, tickets::get_ticket, tickets::reply, tickets::close,
        tickets::reopen, tickets::download_attachment, tickets::admin_list, tickets::admin_get,
        tickets::admin_reply, tickets::admin_state, tickets::admin_assign, tickets::admin_download_attachment,
        closure::closure_status, closure::request_closure, closure::confirm_closure, closure::export,
        closure::admin_closures,
        health::account_health,
        plans_credit::list_plan_changes, plans_credit::change_plan, plans_credit::cancel_plan_change,
        plans_credit::get_credit, plans_credit::redeem_credit_voucher, plans_credit::redeem_order_voucher,
        plans_credit::list_redemptions, plans_credit::get_redemption, plans_credit::admin_list_vouchers,
        plans_credit::admin_create_voucher, plans_credit::admin_get_credit, plans_credit::admin_adjust_credit,
        plans_credit::admin_product_plan_changes,
    ),
    modifiers(&Security),
    tags(
        (name = "ops", description = "Health, readiness, metrics"),
        (name = "auth", description = "Sign-up, log-in, mailbox proofs, password reset"),
        (name = "account", description = "The customer's profile"),
        (name = "security", description = "Contact points, sessions, security events"),
        (name = "tokens", description = "Personal API tokens"),
        (name = "emails", description = "Service e-mails"),
        (name = "catalog", description = "Products and plans for sale"),
        (name = "orders", description = "Orders, their follow-up and payment"),
        (name = "services", description = "Delivered services"),
        (name = "invoices", description = "Invoices and credit notes"),
        (name = "payment-methods", description = "Cards, SEPA direct debit, bank transfer"),
        (name = "sandbox", description = "The sandbox gateway (sandbox mode only)"),
        (name = "support", description = "Support tickets"),
        (name = "closure", description = "Account closure (right to erasure) and personal-data export"),
        (name = "credit", description = "The account credit balance and vouchers"),
        (name = "admin", description = "Operators"),
    )
)]
pub struct ApiDoc;

/// The document as pretty JSON (cached).
pub fn json() -> String {
    static DOC: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    DOC.get_or_init(|| {
        let mut doc = ApiDoc::openapi();
        doc.info.version = env!("CARGO_PKG_VERSION").to_owned();
        doc.to_pretty_json().unwrap_or_else(|_| "{}".to_owned())
    })
    .clone()
}

#[cfg(test)]
mod tests {
    /// The checked-in document (`docs/openapi.json`) is the contract: any change to the API
    /// shows up in review. Regenerate with `UPDATE_OPENAPI=1 cargo test -p guichet-http`.
    #[test]
    fn openapi_snapshot() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/openapi.json");
        let current = format!("{}\n", super::json());
        if std::env::var_os("UPDATE_OPENAPI").is_some() {
            std::fs::write(path, &current).expect("write docs/openapi.json");
            return;
        }
        let stored = std::fs::read_to_string(path).unwrap_or_default();
        assert!(
            stored == current,
            "docs/openapi.json is out of date: run UPDATE_OPENAPI=1 cargo test -p guichet-http"
        );
    }

    #[test]
    fn every_route_is_documented() {
        let doc: serde_json::Value = serde_json::from_str(&super::json()).expect("json");
        let paths = doc["paths"].as_object().expect("paths");
        for p in [
            "/api/v1/signup",
            "/api/v1/auth/login",
            "/api/v1/auth/logout",
            "/api/v1/auth/verify-email",
            "/api/v1/auth/password-reset",
            "/api/v1/auth/password-reset/confirm",
            "/api/v1/me",
            "/api/v1/me/tokens",
            "/api/v1/me/tokens/{id}",
            "/api/v1/me/sessions",
            "/api/v1/me/emails",
            "/api/v1/me/emails/{id}",
            "/api/v1/me/emails/verify",
            "/healthz",
            "/readyz",
            "/metrics",
        ] {
            assert!(
                paths.contains_key(p),
                "{p} missing from the OpenAPI document"
            );
        }
    }
}
