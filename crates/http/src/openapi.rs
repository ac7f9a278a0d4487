//! The OpenAPI 3.1 document, generated from the handlers' annotations and the wire types.

use crate::routes::{admin, auth, me, ops};
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
        auth::signup, auth::login, auth::logout, auth::verify_email, auth::resend_verification,
        auth::password_reset, auth::password_reset_confirm,
        me::get_me, me::patch_me, me::change_password, me::change_email,
        me::set_backup_email, me::remove_backup_email, me::set_phone, me::remove_phone, me::verify_phone,
        me::security_events, me::list_sessions, me::revoke_session, me::revoke_other_sessions,
        me::list_tokens, me::create_token, me::revoke_token,
        me::list_emails, me::get_email, me::verify_mail,
        admin::audit, admin::get_clock, admin::move_clock, admin::sandbox_sms,
    ),
    modifiers(&Security),
    tags(
        (name = "ops", description = "Health, readiness, metrics"),
        (name = "auth", description = "Sign-up, log-in, mailbox proofs, password reset"),
        (name = "account", description = "The customer's profile"),
        (name = "security", description = "Contact points, sessions, security events"),
        (name = "tokens", description = "Personal API tokens"),
        (name = "emails", description = "Service e-mails"),
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
