//! The customer's payment methods: cards (a gateway token, never the number), SEPA direct
//! debit (IBAN checked, a mandate with its reference and date) and bank transfer; one default;
//! a status computed from the clock; every change in the security log.

use crate::accounts::RequestCtx;
use crate::accounts::security_event;
use crate::gateway::Gateway;
use crate::{App, AppError, Result, ids};
use guichet_domain::iban::Iban;
use guichet_domain::payment_method::{Status, status};
use guichet_store::payment_methods::{self, MethodRow};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

pub const MAX_METHODS: usize = 20;

#[derive(Debug, Clone, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewMethod {
    /// `card`, `sepa_debit` or `bank_transfer`.
    pub kind: String,
    /// Card: the gateway token (sandbox: from `POST /api/v1/sandbox/gateway/tokens`; Stripe:
    /// the `pm_…` id of the SetupIntent from `POST /api/v1/me/payment-methods/setup-intent`,
    /// once Stripe.js has confirmed it).
    pub token: Option<String>,
    /// SEPA direct debit: the account's IBAN.
    pub iban: Option<String>,
    /// SEPA direct debit: the account holder, as on the mandate.
    pub holder_name: Option<String>,
    /// Make it the default method (the first method always is).
    pub make_default: Option<bool>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct MethodView {
    pub id: String,
    /// `card`, `sepa_debit` or `bank_transfer`.
    pub kind: String,
    /// `Visa •••• 4242`, `SEPA DE89 •••• 3000`, `Bank transfer`.
    pub label: String,
    /// `valid`, `expiring_soon`, `expired`, `failed` or `pending_validation`.
    pub status: String,
    pub is_default: bool,
    pub brand: Option<String>,
    pub last4: Option<String>,
    pub exp_month: Option<i64>,
    pub exp_year: Option<i64>,
    pub iban_masked: Option<String>,
    pub mandate_reference: Option<String>,
    pub mandate_signed_at: Option<String>,
    pub created_at: String,
}

/// The status of a method today.
pub fn status_of(app: &App, m: &MethodRow) -> Status {
    let today = crate::clock::utc_date(app.now_ms()).unwrap_or(jiff::civil::Date::MIN);
    let expiry = match (m.exp_month, m.exp_year) {
        (Some(mo), Some(y)) => Some((i8::try_from(mo).unwrap_or(0), i16::try_from(y).unwrap_or(0))),
        _ => None,
    };
    status(
        expiry,
        m.failed_at.is_some(),
        m.validated_at.is_some(),
        today,
    )
}

pub fn view(app: &App, m: MethodRow) -> MethodView {
    MethodView {
        status: status_of(app, &m).as_str().to_owned(),
        is_default: m.is_default == 1,
        mandate_signed_at: m.mandate_signed_at.map(crate::clock::rfc3339),
        created_at: crate::clock::rfc3339(m.created_at),
        id: m.id,
        kind: m.kind,
        label: m.label,
        brand: m.brand,
        last4: m.last4,
        exp_month: m.exp_month,
        exp_year: m.exp_year,
        iban_masked: m.iban_masked,
        mandate_reference: m.mandate_reference,
    }
}

pub async fn list(app: &App, account_id: &str) -> Result<Vec<MethodView>> {
    let mut c = app.db.conn().await?;
    Ok(payment_methods::list(&mut c, account_id)
        .await?
        .into_iter()
        .map(|m| view(app, m))
        .collect())
}

/// One live method of the account (404 otherwise).
pub async fn get_row(app: &App, account_id: &str, id: &str) -> Result<MethodRow> {
    if !ids::is_id(id) {
        return Err(AppError::not_found("payment_method_not_found"));
    }
    let mut c = app.db.conn().await?;
    payment_methods::get(&mut c, account_id, id)
        .await?
        .ok_or_else(|| AppError::not_found("payment_method_not_found"))
}

pub async fn add(
    app: &App,
    account_id: &str,
    input: &NewMethod,
    ctx: &RequestCtx,
) -> Result<MethodView> {
    let now = app.now_ms();
    let id = ids::new_id(now);
    let base = MethodRow {
        id: id.clone(),
        account_id: account_id.to_owned(),
        kind: input.kind.clone(),
        gateway: String::new(),
        token: None,
        label: String::new(),
        brand: None,
        last4: None,
        exp_month: None,
        exp_year: None,
        iban_masked: None,
        mandate_reference: None,
        mandate_signed_at: None,
        failed_at: None,
        validated_at: Some(now),
        is_default: 0,
        created_at: now,
        deleted_at: None,
    };
    let row = match input.kind.as_str() {
        "card" => {
            let gateway = Gateway::for_app(app).ok_or_else(no_gateway)?;
            let token = input
                .token
                .as_deref()
                .map(str::trim)
                .filter(|t| !t.is_empty())
                .ok_or_else(|| {
                    AppError::field("token", "token_required", "a card token is required")
                })?;
            let card = gateway.card(app, account_id, token).await?.ok_or_else(|| {
                AppError::field(
                    "token",
                    "invalid_token",
                    "the gateway does not know this token",
                )
            })?;
            let row = MethodRow {
                gateway: gateway.name().to_owned(),
                token: Some(token.to_owned()),
                label: card.label(),
                brand: Some(card.brand),
                last4: Some(card.last4),
                exp_month: Some(card.exp_month),
                exp_year: Some(card.exp_year),
                ..base
            };
            if status_of(app, &row) == Status::Expired {
                return Err(AppError::field(
                    "token",
                    "card_expired",
                    "this card has expired",
                ));
            }
            row
        }
        "sepa_debit" => {
            let gateway = Gateway::for_app(app).ok_or_else(no_gateway)?;
            if gateway != Gateway::Sandbox {
                return Err(AppError::conflict(
                    "sepa_unsupported",
                    "SEPA mandates by IBAN are taken by the sandbox gateway only; save a card \
                     through the setup intent instead",
                ));
            }
            let iban = Iban::parse(input.iban.as_deref().unwrap_or(""))
                .map_err(|e| AppError::validation(vec![e]))?;
            let holder = input
                .holder_name
                .as_deref()
                .map(str::trim)
                .filter(|h| !h.is_empty() && h.chars().count() <= 70)
                .ok_or_else(|| {
                    AppError::field(
                        "holder_name",
                        "holder_name_required",
                        "the account holder's name (up to 70 characters) is required",
                    )
                })?;
            let token = crate::gateway::sandbox_tokenize_iban(app, &iban, holder).await?;
            MethodRow {
                gateway: gateway.name().to_owned(),
                token: Some(token),
                label: format!("SEPA {}", iban.masked()),
                iban_masked: Some(iban.masked()),
                last4: Some(iban.as_str()[iban.as_str().len() - 4..].to_owned()),
                mandate_reference: Some(format!(
                    "GC-{}",
                    crate::crypto::random_hex(8).to_ascii_uppercase()
                )),
                mandate_signed_at: Some(now),
                ..base
            }
        }
        "bank_transfer" => {
            if app.config.bank_transfer.is_none() {
                return Err(AppError::field(
                    "kind",
                    "bank_transfer_unavailable",
                    "this provider does not take bank transfers",
                ));
            }
            MethodRow {
                gateway: "bank_transfer".into(),
                label: "Bank transfer".into(),
                ..base
            }
        }
        _ => {
            return Err(AppError::field(
                "kind",
                "invalid_kind",
                "card, sepa_debit or bank_transfer",
            ));
        }
    };
    let mut tx = app.db.begin().await?;
    let existing = payment_methods::list(tx.conn(), account_id).await?;
    if existing.len() >= MAX_METHODS {
        return Err(AppError::conflict(
            "too_many_payment_methods",
            "delete a payment method first",
        ));
    }
    if row.token.is_some() && existing.iter().any(|m| m.token == row.token) {
        // Deleting one copy would detach the card from under the other.
        return Err(AppError::conflict(
            "payment_method_exists",
            "this card is already saved",
        ));
    }
    payment_methods::insert(tx.conn(), &row).await?;
    if existing.is_empty() || input.make_default == Some(true) {
        payment_methods::set_default(tx.conn(), account_id, &id).await?;
    }
    security_event(
        app,
        tx.conn(),
        account_id,
        "payment_method_added",
        ctx,
        Some(row.label.clone()),
    )
    .await?;
    tx.commit().await?;
    let row = get_row(app, account_id, &id).await?;
    Ok(view(app, row))
}

fn no_gateway() -> AppError {
    AppError::conflict(
        "no_payment_gateway",
        "no payment gateway is configured on this installation",
    )
}

pub async fn make_default(
    app: &App,
    account_id: &str,
    id: &str,
    ctx: &RequestCtx,
) -> Result<MethodView> {
    let m = get_row(app, account_id, id).await?;
    if !status_of(app, &m).usable() {
        return Err(AppError::conflict(
            "payment_method_unusable",
            "an expired or unvalidated method cannot be the default",
        ));
    }
    let mut tx = app.db.begin().await?;
    payment_methods::set_default(tx.conn(), account_id, id).await?;
    security_event(
        app,
        tx.conn(),
        account_id,
        "payment_method_default",
        ctx,
        Some(m.label.clone()),
    )
    .await?;
    tx.commit().await?;
    Ok(view(app, get_row(app, account_id, id).await?))
}

/// A SetupIntent for saving a card with the installation's gateway (Stripe): the browser
/// confirms it with Stripe.js and the client secret, then adds the resulting `pm_…` with
/// [`add`]. The card number goes from the browser to Stripe, never to Guichet.
pub async fn setup_intent(app: &App, account_id: &str) -> Result<crate::gateway::SetupIntentView> {
    let gateway = Gateway::for_app(app).ok_or_else(no_gateway)?;
    gateway.setup_intent(app, account_id).await
}

/// Delete a method; if it was the default, the newest usable one takes its place. The
/// gateway forgets it after commit (Stripe: detached); if the gateway cannot be reached then,
/// the method is gone from Guichet all the same and can never be charged by it.
pub async fn delete(app: &App, account_id: &str, id: &str, ctx: &RequestCtx) -> Result<()> {
    let m = get_row(app, account_id, id).await?;
    let mut tx = app.db.begin().await?;
    if !payment_methods::delete(tx.conn(), account_id, id, app.now_ms()).await? {
        return Err(AppError::not_found("payment_method_not_found"));
    }
    if m.is_default == 1 {
        let next = payment_methods::list(tx.conn(), account_id)
            .await?
            .into_iter()
            .find(|x| status_of(app, x).usable());
        if let Some(n) = next {
            payment_methods::set_default(tx.conn(), account_id, &n.id).await?;
        }
    }
    security_event(
        app,
        tx.conn(),
        account_id,
        "payment_method_removed",
        ctx,
        Some(m.label.clone()),
    )
    .await?;
    tx.commit().await?;
    if let (Some(gateway), Some(token)) = (Gateway::parse(&m.gateway), m.token.as_deref())
        && let Err(e) = gateway.forget(app, token).await
    {
        tracing::warn!(method = %m.id, error = %e.message, "payment method not detached at the gateway");
    }
    Ok(())
}

/// The method to charge: the one named, or the account's default.
pub async fn for_payment(app: &App, account_id: &str, id: Option<&str>) -> Result<MethodRow> {
    let m = match id {
        Some(id) => get_row(app, account_id, id).await.map_err(|_| {
            AppError::field(
                "payment_method_id",
                "payment_method_not_found",
                "no such payment method on this account",
            )
        })?,
        None => {
            let mut c = app.db.conn().await?;
            payment_methods::list(&mut c, account_id)
                .await?
                .into_iter()
                .find(|m| m.is_default == 1)
                .ok_or_else(|| {
                    AppError::field(
                        "payment_method_id",
                        "payment_method_required",
                        "give a payment method or a source, or register a default method",
                    )
                })?
        }
    };
    let st = status_of(app, &m);
    if !st.usable() {
        return Err(AppError::conflict(
            "payment_method_unusable",
            format!("this payment method is {}", st.as_str()),
        ));
    }
    Ok(m)
}
