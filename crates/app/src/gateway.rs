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

use crate::{App, AppError, Result};
use guichet_store::payments::{self, SandboxCardRow, SandboxChargeRow};

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
    pub idempotency_key: &'a str,
    pub source: &'a str,
    pub amount_minor: i64,
    pub currency: &'a str,
}

/// The gateways Guichet can drive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Gateway {
    Sandbox,
}

impl Gateway {
    /// The gateway of this installation; `None` when none is configured.
    pub fn for_app(app: &App) -> Option<Gateway> {
        app.config.sandbox.then_some(Gateway::Sandbox)
    }

    pub fn name(self) -> &'static str {
        match self {
            Gateway::Sandbox => "sandbox",
        }
    }

    /// What the gateway shows of a token (brand, last four digits, expiry), or `None` if it
    /// does not know it.
    pub async fn card(self, app: &App, token: &str) -> Result<Option<CardInfo>> {
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
        }
    }

    /// A label for the source (`Visa •••• 4242`), or `None` if the gateway does not know it.
    pub async fn describe(self, app: &App, source: &str) -> Result<Option<String>> {
        Ok(self.card(app, source).await?.map(|c| c.label()))
    }

    pub async fn charge(self, app: &App, r: &ChargeRequest<'_>) -> Result<Outcome> {
        match self {
            Gateway::Sandbox => sandbox_charge(app, r).await,
        }
    }

    pub async fn lookup(self, app: &App, idempotency_key: &str) -> Result<Lookup> {
        match self {
            Gateway::Sandbox => {
                let mut c = app.db.conn().await?;
                Ok(
                    match payments::sandbox_find_charge(&mut c, idempotency_key).await? {
                        Some(ch) => Lookup::Found(stored_outcome(&ch)),
                        None => Lookup::NotFound,
                    },
                )
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
        }
    }

    pub fn parse(name: &str) -> Option<Gateway> {
        (name == "sandbox").then_some(Gateway::Sandbox)
    }
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

/// The sandbox "card network": the charge is recorded once per idempotency key (a replay
/// returns the first answer), and the timeout card records a taken charge but answers nothing.
async fn sandbox_charge(app: &App, r: &ChargeRequest<'_>) -> Result<Outcome> {
    let now = app.now_ms();
    let mut c = app.db.conn().await?;
    let card = payments::sandbox_card(&mut c, r.source).await?;
    let (outcome, lost) = match &card {
        None => ("invalid_source".to_owned(), false),
        Some(card) if card_expired(card, now) => ("expired_card".to_owned(), false),
        Some(card) => match card.behaviour.as_str() {
            "decline" => ("card_declined".to_owned(), false),
            "insufficient_funds" => ("insufficient_funds".to_owned(), false),
            "expired" => ("expired_card".to_owned(), false),
            "timeout" => ("succeeded".to_owned(), true),
            _ => ("succeeded".to_owned(), false),
        },
    };
    drop(c);
    let mut tx = app.db.begin().await?;
    let stored = payments::sandbox_charge(
        tx.conn(),
        &SandboxChargeRow {
            idempotency_key: r.idempotency_key.to_owned(),
            charge_id: format!("ch_sandbox_{}", crate::crypto::random_hex(12)),
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
