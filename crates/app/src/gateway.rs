//! Payment gateways behind one interface. Guichet never sees a card number: a gateway hands
//! out tokens (in sandbox mode the card form posts to the sandbox gateway's own tokenisation
//! endpoint, as a hosted field would) and charges them with an idempotency key, so a charge
//! sent twice is taken once and an unknown outcome can be looked up instead of retried.
//!
//! The sandbox gateway's test cards (any future expiry date, any CVC):
//!
//! | number              | outcome                                              |
//! |---------------------|------------------------------------------------------|
//! | 4242 4242 4242 4242 | success                                              |
//! | 5555 5555 5555 4444 | success (Mastercard)                                 |
//! | 4000 0000 0000 0002 | declined (`card_declined`)                           |
//! | 4000 0000 0000 9995 | declined (`insufficient_funds`)                      |
//! | 4000 0000 0000 0069 | declined (`expired_card`)                            |
//! | 4000 0000 0000 0119 | timeout: the charge **is taken**, the answer is lost |
//!
//! Any other number passing the Luhn check succeeds.
//!
//! The Stripe gateway ([`Gateway::Stripe`], chosen with `GUICHET_GATEWAY=stripe`) drives
//! [`crate::stripe::StripeClient`]: each account gets one Stripe customer (recorded in
//! `gateway_customers`), cards are saved through a SetupIntent confirmed by Stripe.js in the
//! browser, and charges are off-session PaymentIntents under the payment's idempotency key.

use crate::stripe::{StripeClient, StripeError};
use crate::{App, AppError, ErrorKind, Result};
use guichet_store::payments::{self, PaymentRow, SandboxCardRow, SandboxChargeRow};

/// What a charge came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Succeeded {
        charge_id: String,
    },
    Failed {
        code: String,
    },
    /// No answer (timeout): the charge may or may not have been taken.
    Unknown,
}

/// What the gateway knows of an idempotency key, when asked later.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Lookup {
    Found(Outcome),
    NotFound,
}

/// What a refund came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RefundOutcome {
    Succeeded {
        refund_id: String,
    },
    Failed {
        code: String,
    },
    /// No answer: retried later with the same idempotency key.
    Unknown,
}

/// What can be shown of a card token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CardInfo {
    pub brand: String,
    pub last4: String,
    pub exp_month: i64,
    pub exp_year: i64,
}

impl CardInfo {
    pub fn label(&self) -> String {
        format!("{} •••• {}", self.brand, self.last4)
    }
}

pub struct ChargeRequest<'a> {
    /// The account charged (Stripe: whose customer owns the payment method).
    pub account_id: &'a str,
    pub idempotency_key: &'a str,
    pub source: &'a str,
    pub amount_minor: i64,
    pub currency: &'a str,
}

impl<'a> ChargeRequest<'a> {
    /// The charge a payment row stands for (its key, source, amount and currency).
    pub fn of(p: &'a PaymentRow) -> Self {
        ChargeRequest {
            account_id: &p.account_id,
            idempotency_key: &p.idempotency_key,
            source: &p.source,
            amount_minor: p.amount_minor,
            currency: &p.currency,
        }
    }
}

/// The gateways Guichet can drive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Gateway {
    Sandbox,
    Stripe,
}

/// Stripe replays the stored answer of an idempotent request for at least 24 hours; an
/// unknown charge younger than this is sent again with its key instead of being searched.
pub const RESEND_WINDOW_MS: i64 = 23 * 3_600_000;

/// A SetupIntent for the card form: Stripe.js confirms it with the client secret, and the
/// resulting payment method (`pm_…`) is then saved with `POST /api/v1/me/payment-methods`.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct SetupIntentView {
    /// `stripe`.
    pub gateway: String,
    /// `seti_…`.
    pub setup_intent_id: String,
    /// For `stripe.confirmCardSetup(client_secret, …)` in the browser; valid for this
    /// SetupIntent only.
    pub client_secret: String,
    /// The publishable key (`pk_…`) Stripe.js is loaded with, when configured.
    pub publishable_key: Option<String>,
}

fn stripe_of(app: &App) -> Result<&StripeClient> {
    app.stripe.as_ref().ok_or_else(|| {
        AppError::conflict(
            "no_payment_gateway",
            "the Stripe gateway is not configured on this installation",
        )
    })
}

/// Stripe could not be asked (or answered an error it should not have): the customer may
/// try again; nothing was charged.
fn unavailable(e: &StripeError) -> AppError {
    tracing::warn!(error = %e, "Stripe request failed");
    AppError::new(
        ErrorKind::Unavailable,
        "gateway_unavailable",
        "the payment gateway could not be reached; try again in a moment",
    )
}

/// What a Stripe payment method id looks like (`pm_` and letters, digits, underscores).
fn is_pm_id(token: &str) -> bool {
    token.len() <= 255
        && token.strip_prefix("pm_").is_some_and(|r| {
            !r.is_empty() && r.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
        })
}

/// The account's Stripe customer, created once: the request carries the idempotency key
/// `customer:{account}` (concurrent first uses get the same customer from Stripe) and the
/// first id recorded wins. The customer carries only the account id (metadata), no personal
/// data.
pub async fn stripe_customer(app: &App, account_id: &str) -> Result<String> {
    let name = Gateway::Stripe.name();
    {
        let mut c = app.db.conn().await?;
        if let Some(id) = guichet_store::gateway_customers::get(&mut c, account_id, name).await? {
            return Ok(id);
        }
    }
    let client = stripe_of(app)?;
    let created = client
        .create_customer(account_id)
        .await
        .map_err(|e| unavailable(&e))?;
    let mut tx = app.db.begin().await?;
    let recorded = guichet_store::gateway_customers::insert_once(
        tx.conn(),
        account_id,
        name,
        &created,
        app.now_ms(),
    )
    .await?;
    tx.commit().await?;
    recorded.ok_or_else(|| AppError::internal("gateway customer not recorded"))
}

impl Gateway {
    /// The gateway of this installation: Stripe when configured, else the sandbox gateway in
    /// sandbox mode; `None` when there is none.
    pub fn for_app(app: &App) -> Option<Gateway> {
        if app.stripe.is_some() {
            return Some(Gateway::Stripe);
        }
        app.config.sandbox.then_some(Gateway::Sandbox)
    }

    pub fn name(self) -> &'static str {
        match self {
            Gateway::Sandbox => "sandbox",
            Gateway::Stripe => "stripe",
        }
    }

    /// What the gateway shows of a token of `account_id` (brand, last four digits, expiry),
    /// or `None` if it does not know it (Stripe: or it belongs to another customer).
    pub async fn card(self, app: &App, account_id: &str, token: &str) -> Result<Option<CardInfo>> {
        match self {
            Gateway::Sandbox => {
                let mut c = app.db.conn().await?;
                Ok(payments::sandbox_card(&mut c, token)
                    .await?
                    .map(|card| CardInfo {
                        brand: card.brand,
                        last4: card.last4,
                        exp_month: card.exp_month,
                        exp_year: card.exp_year,
                    }))
            }
            Gateway::Stripe => {
                if !is_pm_id(token) {
                    return Ok(None);
                }
                let client = stripe_of(app)?;
                let card = match client.payment_method(token).await {
                    Ok(card) => card,
                    // Unknown, or not a card.
                    Err(StripeError::Api { status: 404, .. }) | Err(StripeError::Decode(_)) => {
                        return Ok(None);
                    }
                    Err(e) => return Err(unavailable(&e)),
                };
                let customer = stripe_customer(app, account_id).await?;
                if card.customer.as_deref() != Some(customer.as_str()) {
                    // Saved for another customer (or not saved at all): not this account's.
                    return Ok(None);
                }
                Ok(Some(CardInfo {
                    brand: card.display_brand().to_owned(),
                    last4: card.last4,
                    exp_month: card.exp_month,
                    exp_year: card.exp_year,
                }))
            }
        }
    }

    /// A label for the source (`Visa •••• 4242`), or `None` if the gateway does not know it.
    pub async fn describe(
        self,
        app: &App,
        account_id: &str,
        source: &str,
    ) -> Result<Option<String>> {
        Ok(self.card(app, account_id, source).await?.map(|c| c.label()))
    }

    /// A SetupIntent for the account's card form (Stripe only: the sandbox gateway saves
    /// cards through its own tokenisation endpoint).
    pub async fn setup_intent(self, app: &App, account_id: &str) -> Result<SetupIntentView> {
        match self {
            Gateway::Sandbox => Err(AppError::conflict(
                "setup_intent_unsupported",
                "the sandbox gateway has no setup intents: get a card token from \
                 POST /api/v1/sandbox/gateway/tokens",
            )),
            Gateway::Stripe => {
                let customer = stripe_customer(app, account_id).await?;
                let (id, secret) = stripe_of(app)?
                    .create_setup_intent(&customer)
                    .await
                    .map_err(|e| unavailable(&e))?;
                Ok(SetupIntentView {
                    gateway: self.name().to_owned(),
                    setup_intent_id: id,
                    client_secret: secret,
                    publishable_key: app
                        .config
                        .stripe
                        .as_ref()
                        .and_then(|s| s.publishable_key.clone()),
                })
            }
        }
    }

    pub async fn charge(self, app: &App, r: &ChargeRequest<'_>) -> Result<Outcome> {
        match self {
            Gateway::Sandbox => sandbox_charge(app, r).await,
            Gateway::Stripe => {
                let client = stripe_of(app)?;
                let customer = stripe_customer(app, r.account_id).await?;
                Ok(client.charge(r, &customer).await)
            }
        }
    }

    /// Several charges, answered in order: the sandbox records them in one statement; Stripe
    /// gets a few requests at a time. An error is an unknown outcome, as for one charge.
    pub async fn charge_many(self, app: &App, reqs: &[ChargeRequest<'_>]) -> Vec<Outcome> {
        match self {
            Gateway::Sandbox => sandbox_charge_many(app, reqs).await.unwrap_or_else(|e| {
                tracing::warn!(error = %e.message, "sandbox charges outcome unknown");
                reqs.iter().map(|_| Outcome::Unknown).collect()
            }),
            Gateway::Stripe => {
                let mut out = Vec::with_capacity(reqs.len());
                for chunk in reqs.chunks(8) {
                    let answers = futures_join(chunk.iter().map(|r| self.charge(app, r))).await;
                    out.extend(answers.into_iter().map(|a| {
                        a.unwrap_or_else(|e| {
                            tracing::warn!(error = %e.message, "charge outcome unknown");
                            Outcome::Unknown
                        })
                    }));
                }
                out
            }
        }
    }

    /// What became of a payment whose outcome is unknown. The sandbox gateway's record is
    /// read directly; when it has none within [`RESEND_WINDOW_MS`], the same charge is sent
    /// again under its key first, as for Stripe: "no record" may only mean that the charge
    /// is still on its way from another process (killed or merely slow), and taking it as
    /// never sent would let that charge land on a payment already marked failed while the
    /// next attempt charges the card again. Stripe's search is not read-after-write, so within
    /// [`RESEND_WINDOW_MS`] the very same charge request is sent again (same
    /// `Idempotency-Key`, same parameters): Stripe replays the answer it stored, or runs it
    /// once if it never got it. Past that window, when Stripe may have forgotten the key, the
    /// search by metadata is the only safe question.
    pub async fn reconcile(self, app: &App, p: &PaymentRow) -> Result<Lookup> {
        match self {
            Gateway::Sandbox => {
                let find = async || -> Result<Option<Lookup>> {
                    let mut c = app.db.conn().await?;
                    Ok(payments::sandbox_find_charge(&mut c, &p.idempotency_key)
                        .await?
                        .map(|ch| Lookup::Found(stored_outcome(&ch))))
                };
                if let Some(found) = find().await? {
                    return Ok(found);
                }
                if app.now_ms() - p.created_at >= RESEND_WINDOW_MS {
                    return Ok(Lookup::NotFound);
                }
                // Recorded now under the key (or the in-flight one's record, whichever came
                // first), then read back: a simulated lost answer does not hide it here.
                sandbox_charge(app, &ChargeRequest::of(p)).await?;
                Ok(find().await?.unwrap_or(Lookup::NotFound))
            }
            Gateway::Stripe => {
                let client = stripe_of(app)?;
                if app.now_ms() - p.created_at < RESEND_WINDOW_MS {
                    let outcome = self.charge(app, &ChargeRequest::of(p)).await?;
                    return Ok(Lookup::Found(outcome));
                }
                client
                    .lookup(&p.idempotency_key)
                    .await
                    .map_err(|e| unavailable(&e))
            }
        }
    }

    /// Refund `amount_minor` of the charge `charge_ref`, once per `idempotency_key`.
    pub async fn refund(
        self,
        app: &App,
        charge_ref: &str,
        amount_minor: i64,
        idempotency_key: &str,
    ) -> Result<RefundOutcome> {
        match self {
            Gateway::Sandbox => {
                sandbox_refund(app, charge_ref, amount_minor, idempotency_key).await
            }
            Gateway::Stripe => {
                let client = stripe_of(app)?;
                Ok(
                    match client
                        .refund(charge_ref, amount_minor, idempotency_key)
                        .await
                    {
                        Ok(refund_id) => RefundOutcome::Succeeded { refund_id },
                        // Refused before running: nothing was refunded, and sending it again
                        // would be refused again. A refused key (401/403: a configuration
                        // to fix), a key in use (409) and rate limits (429) are retried.
                        Err(StripeError::Api { status, code, .. })
                            if (400..500).contains(&status)
                                && !matches!(status, 401 | 403 | 409 | 429) =>
                        {
                            RefundOutcome::Failed {
                                code: code.unwrap_or_else(|| format!("stripe_http_{status}")),
                            }
                        }
                        Err(e) => {
                            tracing::warn!(error = %e, "Stripe refund outcome unknown");
                            RefundOutcome::Unknown
                        }
                    },
                )
            }
        }
    }

    /// The customer deleted a saved method: the gateway forgets it too (Stripe: detached
    /// from the customer, so it can never be charged again). The sandbox keeps its tokens.
    pub async fn forget(self, app: &App, token: &str) -> Result<()> {
        match self {
            Gateway::Sandbox => Ok(()),
            Gateway::Stripe => {
                if !is_pm_id(token) {
                    return Ok(());
                }
                match stripe_of(app)?.detach(token).await {
                    Ok(()) => Ok(()),
                    // Already detached (or gone): nothing left to do.
                    Err(StripeError::Api {
                        status: 400 | 404, ..
                    }) => Ok(()),
                    Err(e) => Err(unavailable(&e)),
                }
            }
        }
    }

    pub fn parse(name: &str) -> Option<Gateway> {
        match name {
            "sandbox" => Some(Gateway::Sandbox),
            "stripe" => Some(Gateway::Stripe),
            _ => None,
        }
    }
}

async fn sandbox_refund(
    app: &App,
    charge_ref: &str,
    amount_minor: i64,
    idempotency_key: &str,
) -> Result<RefundOutcome> {
    let mut tx = app.db.begin().await?;
    let Some((charged, outcome)) =
        guichet_store::refunds::sandbox_charge_of(tx.conn(), charge_ref).await?
    else {
        return Ok(RefundOutcome::Failed {
            code: "charge_not_found".into(),
        });
    };
    if outcome != "succeeded" {
        return Ok(RefundOutcome::Failed {
            code: "charge_not_found".into(),
        });
    }
    let id = format!("re_sandbox_{}", crate::crypto::random_hex(12));
    let stored = guichet_store::refunds::sandbox_refund(
        tx.conn(),
        idempotency_key,
        &id,
        charge_ref,
        amount_minor,
        charged,
        app.now_ms(),
    )
    .await?;
    tx.commit().await?;
    Ok(match stored {
        Some(refund_id) => RefundOutcome::Succeeded { refund_id },
        None => RefundOutcome::Failed {
            code: "amount_too_large".into(),
        },
    })
}

fn stored_outcome(ch: &SandboxChargeRow) -> Outcome {
    if ch.outcome == "succeeded" {
        Outcome::Succeeded {
            charge_id: ch.charge_id.clone(),
        }
    } else {
        Outcome::Failed {
            code: ch.outcome.clone(),
        }
    }
}

/// A sandbox charge id: `ch_sandbox_` and a time-ordered id, so the charges of one batch sit
/// side by side in the `charge_id` index (random ones touched most of its leaves each batch).
fn sandbox_charge_id(now: i64) -> String {
    format!("ch_sandbox_{}", crate::ids::new_id(now).replace('-', ""))
}

/// The sandbox "card network": the charge is recorded once per idempotency key (a replay
/// returns the first answer), and the timeout card records a taken charge but answers nothing.
async fn sandbox_charge(app: &App, r: &ChargeRequest<'_>) -> Result<Outcome> {
    let now = app.now_ms();
    let mut c = app.db.conn().await?;
    let card = payments::sandbox_card(&mut c, r.source).await?;
    let (outcome, lost) = sandbox_verdict(card.as_ref(), now);
    drop(c);
    let mut tx = app.db.begin().await?;
    let stored = payments::sandbox_charge(
        tx.conn(),
        &SandboxChargeRow {
            idempotency_key: r.idempotency_key.to_owned(),
            charge_id: sandbox_charge_id(now),
            token: r.source.to_owned(),
            amount_minor: r.amount_minor,
            currency: r.currency.to_owned(),
            outcome,
            created_at: now,
        },
    )
    .await?;
    tx.commit().await?;
    if lost {
        return Ok(Outcome::Unknown);
    }
    Ok(stored_outcome(&stored))
}

/// Await futures together (on this task), answers in order.
async fn futures_join<F: std::future::Future>(futs: impl Iterator<Item = F>) -> Vec<F::Output> {
    let mut set: Vec<std::pin::Pin<Box<F>>> = futs.map(Box::pin).collect();
    let mut out: Vec<Option<F::Output>> = set.iter().map(|_| None).collect();
    std::future::poll_fn(|cx| {
        let mut pending = false;
        for (i, f) in set.iter_mut().enumerate() {
            if out[i].is_none() {
                match f.as_mut().poll(cx) {
                    std::task::Poll::Ready(v) => out[i] = Some(v),
                    std::task::Poll::Pending => pending = true,
                }
            }
        }
        if pending {
            std::task::Poll::Pending
        } else {
            std::task::Poll::Ready(())
        }
    })
    .await;
    out.into_iter().flatten().collect()
}

/// What the sandbox network answers for a card: the stored outcome, and whether the answer
/// is lost on the way (the timeout card).
fn sandbox_verdict(card: Option<&SandboxCardRow>, now: i64) -> (String, bool) {
    match card {
        None => ("invalid_source".to_owned(), false),
        Some(card) if card_expired(card, now) => ("expired_card".to_owned(), false),
        Some(card) => match card.behaviour.as_str() {
            "decline" => ("card_declined".to_owned(), false),
            "insufficient_funds" => ("insufficient_funds".to_owned(), false),
            "expired" => ("expired_card".to_owned(), false),
            "timeout" => ("succeeded".to_owned(), true),
            _ => ("succeeded".to_owned(), false),
        },
    }
}

/// [`sandbox_charge`] for many requests in one transaction.
async fn sandbox_charge_many(app: &App, reqs: &[ChargeRequest<'_>]) -> Result<Vec<Outcome>> {
    let now = app.now_ms();
    let tokens: Vec<String> = reqs.iter().map(|r| r.source.to_owned()).collect();
    let cards: std::collections::HashMap<String, SandboxCardRow> = {
        let mut c = app.db.conn().await?;
        payments::sandbox_cards(&mut c, &tokens)
            .await?
            .into_iter()
            .map(|k| (k.token.clone(), k))
            .collect()
    };
    let mut lost = Vec::with_capacity(reqs.len());
    let rows: Vec<SandboxChargeRow> = reqs
        .iter()
        .map(|r| {
            let (outcome, l) = sandbox_verdict(cards.get(r.source), now);
            lost.push(l);
            SandboxChargeRow {
                idempotency_key: r.idempotency_key.to_owned(),
                charge_id: sandbox_charge_id(now),
                token: r.source.to_owned(),
                amount_minor: r.amount_minor,
                currency: r.currency.to_owned(),
                outcome,
                created_at: now,
            }
        })
        .collect();
    let mut tx = app.db.begin().await?;
    let stored: std::collections::HashMap<String, SandboxChargeRow> =
        payments::sandbox_charge_many(tx.conn(), &rows)
            .await?
            .into_iter()
            .map(|ch| (ch.idempotency_key.clone(), ch))
            .collect();
    tx.commit().await?;
    Ok(reqs
        .iter()
        .zip(lost)
        .map(|(r, lost)| match stored.get(r.idempotency_key) {
            _ if lost => Outcome::Unknown,
            Some(ch) => stored_outcome(ch),
            None => Outcome::Unknown,
        })
        .collect())
}

fn card_expired(card: &SandboxCardRow, now_ms: i64) -> bool {
    let Some(today) = crate::clock::utc_date(now_ms) else {
        return true;
    };
    (card.exp_year, card.exp_month) < (i64::from(today.year()), i64::from(today.month()))
}

/// Luhn check of a card number's digits.
pub fn luhn_ok(digits: &str) -> bool {
    let mut sum = 0;
    for (i, ch) in digits.bytes().rev().enumerate() {
        let mut d = u32::from(ch - b'0');
        if i % 2 == 1 {
            d *= 2;
            if d > 9 {
                d -= 9;
            }
        }
        sum += d;
    }
    sum % 10 == 0
}

fn brand_of(digits: &str) -> &'static str {
    match digits.as_bytes().first() {
        Some(b'4') => "Visa",
        Some(b'5') | Some(b'2') => "Mastercard",
        Some(b'3') => "American Express",
        _ => "Card",
    }
}

#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct SandboxToken {
    /// Give this to Guichet; the card number stays with the gateway.
    pub token: String,
    pub brand: String,
    pub last4: String,
    pub exp_month: i64,
    pub exp_year: i64,
}

/// The sandbox gateway's tokenisation endpoint: checks the card and hands back a token. Only
/// the brand, the last four digits, the expiry and the test behaviour are kept.
pub async fn sandbox_tokenize(
    app: &App,
    number: &str,
    exp_month: i64,
    exp_year: i64,
    cvc: &str,
) -> Result<SandboxToken> {
    if !app.config.sandbox {
        return Err(AppError::not_found("not_found"));
    }
    let digits: String = number
        .chars()
        .filter(|c| !c.is_whitespace() && *c != '-')
        .collect();
    if !(12..=19).contains(&digits.len())
        || !digits.bytes().all(|b| b.is_ascii_digit())
        || !luhn_ok(&digits)
    {
        return Err(AppError::field(
            "number",
            "invalid_card_number",
            "not a valid card number",
        ));
    }
    if !(1..=12).contains(&exp_month) || !(2000..=2100).contains(&exp_year) {
        return Err(AppError::field(
            "exp_month",
            "invalid_expiry",
            "month 1 to 12 and a four-digit year",
        ));
    }
    if !(3..=4).contains(&cvc.len()) || !cvc.bytes().all(|b| b.is_ascii_digit()) {
        return Err(AppError::field("cvc", "invalid_cvc", "3 or 4 digits"));
    }
    let behaviour = match digits.as_str() {
        "4000000000000002" => "decline",
        "4000000000009995" => "insufficient_funds",
        "4000000000000069" => "expired",
        "4000000000000119" => "timeout",
        _ => "success",
    };
    let now = app.now_ms();
    let row = SandboxCardRow {
        token: format!("tok_sandbox_{}", crate::crypto::random_hex(12)),
        brand: brand_of(&digits).to_owned(),
        last4: digits[digits.len() - 4..].to_owned(),
        exp_month,
        exp_year,
        behaviour: behaviour.to_owned(),
        created_at: now,
    };
    if card_expired(&row, now) {
        return Err(AppError::field(
            "exp_year",
            "card_expired",
            "this card has expired",
        ));
    }
    let mut tx = app.db.begin().await?;
    payments::sandbox_insert_card(tx.conn(), &row).await?;
    tx.commit().await?;
    Ok(SandboxToken {
        token: row.token,
        brand: row.brand,
        last4: row.last4,
        exp_month,
        exp_year,
    })
}

/// The sandbox gateway's side of a SEPA mandate: the IBAN becomes a token that can be
/// debited. `DE62 3704 0044 0532 0130 01` is the test IBAN whose debits fail
/// (`insufficient_funds`); every other valid IBAN is debited.
pub async fn sandbox_tokenize_iban(
    app: &App,
    iban: &guichet_domain::iban::Iban,
    _holder: &str,
) -> Result<String> {
    if !app.config.sandbox {
        return Err(AppError::conflict(
            "no_payment_gateway",
            "no payment gateway is configured on this installation",
        ));
    }
    let now = app.now_ms();
    let s = iban.as_str();
    let row = SandboxCardRow {
        token: format!("tok_sandbox_sepa_{}", crate::crypto::random_hex(12)),
        brand: "SEPA".into(),
        last4: s[s.len() - 4..].to_owned(),
        exp_month: 12,
        exp_year: 2099,
        behaviour: if s == "DE62370400440532013001" {
            "insufficient_funds".into()
        } else {
            "success".into()
        },
        created_at: now,
    };
    let mut tx = app.db.begin().await?;
    payments::sandbox_insert_card(tx.conn(), &row).await?;
    tx.commit().await?;
    Ok(row.token)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn luhn() {
        for ok in [
            "4242424242424242",
            "4000000000000002",
            "4000000000009995",
            "4000000000000069",
            "4000000000000119",
            "5555555555554444",
        ] {
            assert!(luhn_ok(ok), "{ok}");
        }
        assert!(!luhn_ok("4242424242424241"));
    }
}
