//! Stripe as a payment gateway: a thin client over Stripe's REST API that saves cards for
//! off-session use, charges them under Guichet's idempotency keys and looks those keys up
//! later, so it keeps the gateway contract (one charge per key, an unknown outcome is looked
//! up, never charged twice).
//!
//! Requests are form-encoded (`application/x-www-form-urlencoded`, nested fields as
//! `metadata[guichet_key]=…`), answers are JSON, and the secret key goes in
//! `Authorization: Bearer sk_…`. The API version is pinned with `Stripe-Version` so the
//! shapes read here do not change with the account's default version.
//!
//! Endpoints used:
//!
//! | method | path                                   | for                                   |
//! |--------|----------------------------------------|---------------------------------------|
//! | POST   | `/v1/customers` (idempotent per account) | [`StripeClient::create_customer`]   |
//! | POST   | `/v1/setup_intents`                    | [`StripeClient::create_setup_intent`] |
//! | GET    | `/v1/payment_methods/{id}`             | [`StripeClient::payment_method`]      |
//! | POST   | `/v1/payment_intents` (confirm=true)   | [`StripeClient::charge`]              |
//! | GET    | `/v1/payment_intents/search`           | [`StripeClient::lookup`]              |
//! | POST   | `/v1/refunds`                          | [`StripeClient::refund`]              |
//! | POST   | `/v1/payment_methods/{id}/detach`      | [`StripeClient::detach`]              |
//!
//! Amounts are integers in the currency's smallest unit, as everywhere in Guichet: cents for
//! EUR and USD (`1050` is 10.50 €). For zero-decimal currencies such as JPY the smallest unit
//! is the yen itself (`1050` is ¥1050), which is also what Guichet stores as "minor units".
//!
//! Outcomes of a charge:
//! - `succeeded` → [`Outcome::Succeeded`] with the PaymentIntent id (what a refund names);
//! - a card error (HTTP 402) → [`Outcome::Failed`] with the most useful of `decline_code` and
//!   `code` (`insufficient_funds`, `expired_card`, `card_declined`, `authentication_required`);
//! - `requires_action` / `requires_payment_method` → [`Outcome::Failed`] (nothing was taken);
//! - any other request Stripe refused (4xx) → [`Outcome::Failed`]: Stripe does not run a
//!   request it refuses, so nothing was taken;
//! - no answer (timeout, connection error), 5xx, 429, 409 (the same key still running) and
//!   400 `idempotency_error` (the key was already used, with other parameters) →
//!   [`Outcome::Unknown`], never `Failed`: the charge may have been taken, and the reconciler
//!   settles it (see below).
//!
//! Search is not read-after-write: Stripe documents that new data is usually searchable
//! within a minute, later during incidents. A [`Lookup::NotFound`] for a key charged moments
//! ago is therefore not proof that nothing was taken. This is why the reconciler
//! ([`crate::gateway::Gateway::reconcile`]) sends an unknown charge again with its key (Stripe
//! replays the stored answer for 24 hours) and searches only for older keys.
//!
//! Nothing here logs the secret key (the `Debug` of the client hides it, error texts never
//! carry request headers, and key-like words in Stripe's messages are masked); Guichet only
//! ever sees card brand, last four digits and expiry.

use crate::gateway::{ChargeRequest, Lookup, Outcome};
use reqwest::Method;
use reqwest::header::CONTENT_TYPE;
use serde_json::Value;
use std::time::Duration;
use url::Url;

/// Stripe's API host.
pub const DEFAULT_BASE_URL: &str = "https://api.stripe.com";
/// The API version the shapes below were written against (sent as `Stripe-Version`).
pub const API_VERSION: &str = "2024-06-20";
/// Time allowed for a whole request, answer included, unless [`StripeClient::with_timeout`].
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// The PaymentIntent metadata field that carries Guichet's idempotency key.
pub const METADATA_KEY: &str = "guichet_key";
/// The Customer metadata field that carries Guichet's account id.
pub const ACCOUNT_METADATA_KEY: &str = "guichet_account_id";

/// A Stripe API client for one account (one secret key).
#[derive(Clone)]
pub struct StripeClient {
    base_url: String,
    secret_key: String,
    http: reqwest::Client,
}

impl std::fmt::Debug for StripeClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StripeClient")
            .field("base_url", &self.base_url)
            .field("secret_key", &"<redacted>")
            .finish_non_exhaustive()
    }
}

/// What Guichet keeps of a saved card.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CardInfo {
    /// Stripe's brand name, lower case: `visa`, `mastercard`, `amex`, …
    pub brand: String,
    pub last4: String,
    pub exp_month: i64,
    pub exp_year: i64,
    /// The customer the payment method is attached to (`None`: detached or never saved).
    pub customer: Option<String>,
}

impl CardInfo {
    /// A label for lists and receipts, like the sandbox's: `Visa •••• 4242`.
    pub fn label(&self) -> String {
        format!("{} •••• {}", self.display_brand(), self.last4)
    }

    /// The brand as shown to people: `Visa`, `Mastercard`, `American Express`, …
    pub fn display_brand(&self) -> &'static str {
        match self.brand.as_str() {
            "visa" => "Visa",
            "mastercard" => "Mastercard",
            "amex" => "American Express",
            "discover" => "Discover",
            "diners" => "Diners Club",
            "jcb" => "JCB",
            "unionpay" => "UnionPay",
            "cartes_bancaires" => "Cartes Bancaires",
            _ => "Card",
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum StripeError {
    /// No usable answer: timeout, connection refused, TLS, a cut-off body.
    #[error("Stripe could not be reached: {0}")]
    Transport(String),
    /// Stripe answered with an error (its `error.code` and `error.message`).
    #[error("Stripe refused the request: HTTP {status} ({}): {message}", .code.as_deref().unwrap_or("no code"))]
    Api {
        status: u16,
        code: Option<String>,
        message: String,
    },
    /// A success answer that does not have the expected shape.
    #[error("unexpected answer from Stripe: {0}")]
    Decode(String),
}

/// One answer: its status and its JSON body (`Null` when the body is not JSON).
struct Reply {
    status: u16,
    body: Value,
}

impl Reply {
    fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }

    /// The body of a success answer, or the error Stripe sent.
    fn into_ok(self) -> Result<Value, StripeError> {
        if self.is_success() {
            return if self.body.is_object() {
                Ok(self.body)
            } else {
                Err(StripeError::Decode(format!(
                    "HTTP {} without a JSON object",
                    self.status
                )))
            };
        }
        Err(api_error(self.status, &self.body))
    }
}

fn api_error(status: u16, body: &Value) -> StripeError {
    let error = &body["error"];
    StripeError::Api {
        status,
        code: error["code"].as_str().map(str::to_owned),
        message: error["message"]
            .as_str()
            .map_or_else(|| format!("HTTP {status}"), redact),
    }
}

/// Stripe's messages can quote the key they were given (masked by Stripe, but masked again
/// here): any word that looks like a secret or restricted key is replaced.
fn redact(message: &str) -> String {
    message
        .split(' ')
        .map(|word| {
            let bare = word.trim_start_matches(|c: char| !c.is_ascii_alphanumeric());
            if bare.starts_with("sk_") || bare.starts_with("rk_") {
                "[redacted]"
            } else {
                word
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// A transport error without its URL or any header.
fn transport(e: &reqwest::Error) -> StripeError {
    let kind = if e.is_timeout() {
        "timeout"
    } else if e.is_connect() {
        "connection failed"
    } else if e.is_body() || e.is_decode() {
        "answer cut off"
    } else {
        "transport error"
    };
    StripeError::Transport(kind.to_owned())
}

fn form(pairs: &[(&str, &str)]) -> String {
    url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(pairs)
        .finish()
}

impl StripeClient {
    /// A client for `base_url` (normally [`DEFAULT_BASE_URL`]) with the default timeout.
    pub fn new(base_url: &str, secret_key: &str) -> Self {
        Self::with_timeout(base_url, secret_key, DEFAULT_TIMEOUT)
    }

    /// A client whose requests give up after `timeout` (answer included). A charge that times
    /// out is [`Outcome::Unknown`], so a short timeout costs a lookup, never a double charge.
    ///
    /// reqwest is built here with rustls and no default crypto provider: the process must
    /// have installed one before (the `guichet` binary installs ring at start-up).
    pub fn with_timeout(base_url: &str, secret_key: &str, timeout: Duration) -> Self {
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout.min(CONNECT_TIMEOUT))
            .user_agent("Guichet")
            .build()
            .unwrap_or_else(|e| {
                tracing::error!(error = %e.without_url(), "Stripe HTTP client with defaults");
                reqwest::Client::new()
            });
        Self {
            base_url: base_url.trim_end_matches('/').to_owned(),
            secret_key: secret_key.to_owned(),
            http,
        }
    }

    fn url(&self, segments: &[&str]) -> Result<Url, StripeError> {
        let invalid = || StripeError::Transport("invalid Stripe base URL".into());
        let mut url = Url::parse(&self.base_url).map_err(|_| invalid())?;
        url.path_segments_mut()
            .map_err(|()| invalid())?
            .pop_if_empty()
            .extend(segments);
        Ok(url)
    }

    async fn send(
        &self,
        method: Method,
        url: Url,
        body: Option<String>,
        idempotency_key: Option<&str>,
    ) -> Result<Reply, StripeError> {
        let mut req = self
            .http
            .request(method, url)
            .bearer_auth(&self.secret_key)
            .header("Stripe-Version", API_VERSION);
        if let Some(key) = idempotency_key {
            req = req.header("Idempotency-Key", key);
        }
        if let Some(body) = body {
            req = req
                .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
                .body(body);
        }
        let resp = req.send().await.map_err(|e| transport(&e))?;
        let status = resp.status().as_u16();
        let text = resp.text().await.map_err(|e| transport(&e))?;
        Ok(Reply {
            status,
            body: serde_json::from_str(&text).unwrap_or(Value::Null),
        })
    }

    async fn post(
        &self,
        segments: &[&str],
        pairs: &[(&str, &str)],
        idempotency_key: Option<&str>,
    ) -> Result<Reply, StripeError> {
        let url = self.url(segments)?;
        self.send(Method::POST, url, Some(form(pairs)), idempotency_key)
            .await
    }

    /// Create the Customer of an account (metadata `guichet_account_id`, nothing personal)
    /// → `cus_…`. Sent with `Idempotency-Key: customer:{account_id}`, so two first uses of an
    /// account at once get the same customer back instead of two.
    pub async fn create_customer(&self, account_id: &str) -> Result<String, StripeError> {
        let key = format!("customer:{account_id}");
        let body = self
            .post(
                &["v1", "customers"],
                &[(&format!("metadata[{ACCOUNT_METADATA_KEY}]"), account_id)],
                Some(&key),
            )
            .await?
            .into_ok()?;
        id_of(&body, "customer")
    }

    /// A SetupIntent that saves a card of `customer` for off-session charges
    /// (`usage=off_session`); the card form confirms it with the client secret. Returns
    /// `(setup_intent_id, client_secret)`. Redirect-based methods are refused
    /// (`automatic_payment_methods[allow_redirects]=never`): Guichet charges without the
    /// customer, so only methods that need no redirect are worth saving.
    pub async fn create_setup_intent(
        &self,
        customer: &str,
    ) -> Result<(String, String), StripeError> {
        let body = self
            .post(
                &["v1", "setup_intents"],
                &[
                    ("customer", customer),
                    ("usage", "off_session"),
                    ("automatic_payment_methods[enabled]", "true"),
                    ("automatic_payment_methods[allow_redirects]", "never"),
                ],
                None,
            )
            .await?
            .into_ok()?;
        let id = id_of(&body, "setup intent")?;
        let secret = body["client_secret"]
            .as_str()
            .ok_or_else(|| StripeError::Decode("setup intent without client_secret".into()))?;
        Ok((id, secret.to_owned()))
    }

    /// The card of a PaymentMethod (as saved by a SetupIntent): brand, last4, expiry.
    pub async fn payment_method(&self, pm: &str) -> Result<CardInfo, StripeError> {
        let url = self.url(&["v1", "payment_methods", pm])?;
        let body = self.send(Method::GET, url, None, None).await?.into_ok()?;
        let card = &body["card"];
        let text = |field: &str| card[field].as_str().map(str::to_owned);
        match (
            text("brand"),
            text("last4"),
            card["exp_month"].as_i64(),
            card["exp_year"].as_i64(),
        ) {
            (Some(brand), Some(last4), Some(exp_month), Some(exp_year)) => Ok(CardInfo {
                brand,
                last4,
                exp_month,
                exp_year,
                customer: body["customer"].as_str().map(str::to_owned),
            }),
            _ => Err(StripeError::Decode(format!(
                "payment method of type {} is not a card",
                body["type"].as_str().unwrap_or("?")
            ))),
        }
    }

    /// Charge a saved payment method of `customer` off-session: a PaymentIntent created and
    /// confirmed at once, sent with `Idempotency-Key` = the charge's key (so Stripe runs it
    /// once however often it is sent) and the key in `metadata[guichet_key]` (so
    /// [`Self::lookup`] finds it). Never returns `Failed` when the charge may have been taken.
    pub async fn charge(&self, r: &ChargeRequest<'_>, customer: &str) -> Outcome {
        let amount = r.amount_minor.to_string();
        let currency = r.currency.to_ascii_lowercase();
        let metadata = format!("metadata[{METADATA_KEY}]");
        let reply = self
            .post(
                &["v1", "payment_intents"],
                &[
                    ("amount", &amount),
                    ("currency", &currency),
                    ("customer", customer),
                    ("payment_method", r.source),
                    ("off_session", "true"),
                    ("confirm", "true"),
                    ("automatic_payment_methods[enabled]", "true"),
                    ("automatic_payment_methods[allow_redirects]", "never"),
                    (&metadata, r.idempotency_key),
                ],
                Some(r.idempotency_key),
            )
            .await;
        match reply {
            Ok(reply) => {
                let outcome = charge_outcome(reply.status, &reply.body);
                if outcome == Outcome::Unknown {
                    tracing::warn!(status = reply.status, "Stripe charge outcome unknown");
                }
                outcome
            }
            Err(e) => {
                tracing::warn!(error = %e, "Stripe charge outcome unknown");
                Outcome::Unknown
            }
        }
    }

    /// What Stripe knows of a charge key: the PaymentIntents whose `metadata['guichet_key']`
    /// is `key`, found with the search API. A succeeded one wins, then one still in flight
    /// (`Found(Unknown)`, to ask again later), then the latest failure. Transport and API
    /// errors are `Err`, so the reconciler tries again later. See the module doc on search
    /// freshness.
    pub async fn lookup(&self, key: &str) -> Result<Lookup, StripeError> {
        let mut url = self.url(&["v1", "payment_intents", "search"])?;
        url.query_pairs_mut()
            .append_pair("query", &search_query(key))
            .append_pair("limit", "100");
        let body = self.send(Method::GET, url, None, None).await?.into_ok()?;
        let data = body["data"]
            .as_array()
            .ok_or_else(|| StripeError::Decode("search result without data".into()))?;
        let mut found: Vec<(i64, Outcome)> = Vec::new();
        for pi in data {
            // The query is exact, but only an exact metadata match counts.
            if pi["metadata"][METADATA_KEY].as_str() != Some(key) {
                continue;
            }
            let outcome = intent_outcome(pi)
                .ok_or_else(|| StripeError::Decode("payment intent without id or status".into()))?;
            found.push((pi["created"].as_i64().unwrap_or(0), outcome));
        }
        if let Some((_, o)) = found
            .iter()
            .find(|(_, o)| matches!(o, Outcome::Succeeded { .. }))
        {
            return Ok(Lookup::Found(o.clone()));
        }
        if found.iter().any(|(_, o)| *o == Outcome::Unknown) {
            return Ok(Lookup::Found(Outcome::Unknown));
        }
        Ok(found
            .into_iter()
            .max_by_key(|(created, _)| *created)
            .map_or(Lookup::NotFound, |(_, o)| Lookup::Found(o)))
    }

    /// Refund `amount_minor` of a charge (the PaymentIntent id that [`Self::charge`] gave),
    /// once per `key` (sent as `Idempotency-Key`). Returns the refund id (`re_…`). Stripe
    /// refuses a refund larger than what is left to refund (HTTP 400). A card refund may stay
    /// `pending` for a while at Stripe; the id is enough to follow it.
    pub async fn refund(
        &self,
        payment_intent: &str,
        amount_minor: i64,
        key: &str,
    ) -> Result<String, StripeError> {
        let amount = amount_minor.to_string();
        let body = self
            .post(
                &["v1", "refunds"],
                &[("payment_intent", payment_intent), ("amount", &amount)],
                Some(key),
            )
            .await?
            .into_ok()?;
        id_of(&body, "refund")
    }

    /// Detach a PaymentMethod from its customer (the customer deleted it or closed the
    /// account). A detached method cannot be charged or attached again.
    pub async fn detach(&self, pm: &str) -> Result<(), StripeError> {
        self.post(&["v1", "payment_methods", pm, "detach"], &[], None)
            .await?
            .into_ok()
            .map(|_| ())
    }
}

fn id_of(body: &Value, what: &str) -> Result<String, StripeError> {
    body["id"]
        .as_str()
        .map(str::to_owned)
        .ok_or_else(|| StripeError::Decode(format!("{what} without id")))
}

/// `metadata['guichet_key']:'KEY'`, quotes and backslashes in the key escaped with a
/// backslash as the search query language wants.
fn search_query(key: &str) -> String {
    let escaped = key.replace('\\', "\\\\").replace('\'', "\\'");
    format!("metadata['{METADATA_KEY}']:'{escaped}'")
}

/// The outcome of a charge request from Stripe's answer.
fn charge_outcome(status: u16, body: &Value) -> Outcome {
    let error = &body["error"];
    match status {
        200..=299 => intent_outcome(body).unwrap_or(Outcome::Unknown),
        // A card error: the payment was attempted and declined.
        402 => Outcome::Failed {
            code: failure_code(error).unwrap_or_else(|| "card_declined".to_owned()),
        },
        // The key was used before with other parameters: that first request's outcome is
        // not known from here.
        400 if error["type"].as_str() == Some("idempotency_error") => Outcome::Unknown,
        // 409: a request with this key is still running; 424: a dependency failed; 429: rate
        // limited; 5xx: Stripe's side. None of these says nothing was taken.
        409 | 424 | 429 | 500..=599 => Outcome::Unknown,
        // Refused before running (bad parameters, unknown payment method, bad key): nothing
        // was taken.
        400..=499 => Outcome::Failed {
            code: error["code"]
                .as_str()
                .map_or_else(|| format!("stripe_http_{status}"), str::to_owned),
        },
        _ => Outcome::Unknown,
    }
}

/// The outcome a PaymentIntent stands for; `None` when it has no id or status.
fn intent_outcome(pi: &Value) -> Option<Outcome> {
    let id = pi["id"].as_str()?;
    let failed = |code: &str| Outcome::Failed {
        code: code.to_owned(),
    };
    Some(match pi["status"].as_str()? {
        "succeeded" => Outcome::Succeeded {
            charge_id: id.to_owned(),
        },
        // Not final yet (or authorised and not captured: Guichet captures automatically).
        "processing" | "requires_capture" => Outcome::Unknown,
        // Off-session, nobody can authenticate: nothing is taken.
        "requires_action" => failed("authentication_required"),
        "requires_payment_method" => Outcome::Failed {
            code: failure_code(&pi["last_payment_error"])
                .unwrap_or_else(|| "requires_payment_method".to_owned()),
        },
        "requires_confirmation" => failed("requires_confirmation"),
        "canceled" => failed("canceled"),
        _ => Outcome::Unknown,
    })
}

/// The code of a failed payment, from a Stripe error object (`error` of a 402, or a
/// PaymentIntent's `last_payment_error`): the issuer's `decline_code` when it says more than
/// a generic decline, else the error `code`.
fn failure_code(error: &Value) -> Option<String> {
    let code = error["code"].as_str();
    let decline = error["decline_code"]
        .as_str()
        .filter(|d| !d.is_empty() && *d != "generic_decline");
    match (code, decline) {
        (Some("card_declined") | None, Some(d)) => Some(d.to_owned()),
        (Some(c), _) => Some(c.to_owned()),
        (None, None) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn decline_codes() {
        let e = |code: &str, decline: Option<&str>| json!({"code": code, "decline_code": decline});
        assert_eq!(
            failure_code(&e("card_declined", Some("insufficient_funds"))).as_deref(),
            Some("insufficient_funds")
        );
        assert_eq!(
            failure_code(&e("card_declined", Some("generic_decline"))).as_deref(),
            Some("card_declined")
        );
        assert_eq!(
            failure_code(&e("expired_card", Some("expired_card"))).as_deref(),
            Some("expired_card")
        );
        assert_eq!(
            failure_code(&e(
                "authentication_required",
                Some("authentication_required")
            ))
            .as_deref(),
            Some("authentication_required")
        );
        assert_eq!(failure_code(&Value::Null), None);
    }

    #[test]
    fn intent_statuses() {
        let pi = |status: &str| json!({"id": "pi_1", "status": status});
        assert_eq!(
            intent_outcome(&pi("succeeded")),
            Some(Outcome::Succeeded {
                charge_id: "pi_1".into()
            })
        );
        for (status, code) in [
            ("requires_action", "authentication_required"),
            ("requires_payment_method", "requires_payment_method"),
            ("canceled", "canceled"),
        ] {
            assert_eq!(
                intent_outcome(&pi(status)),
                Some(Outcome::Failed { code: code.into() }),
                "{status}"
            );
        }
        assert_eq!(intent_outcome(&pi("processing")), Some(Outcome::Unknown));
        let declined = json!({
            "id": "pi_1",
            "status": "requires_payment_method",
            "last_payment_error": {"code": "card_declined", "decline_code": "insufficient_funds"}
        });
        assert_eq!(
            intent_outcome(&declined),
            Some(Outcome::Failed {
                code: "insufficient_funds".into()
            })
        );
        assert_eq!(intent_outcome(&json!({"status": "succeeded"})), None);
    }

    #[test]
    fn http_statuses_never_fail_a_charge_that_may_be_taken() {
        let err = |t: &str| json!({"error": {"type": t, "message": "x"}});
        for status in [409, 424, 429, 500, 502, 503, 504] {
            assert_eq!(
                charge_outcome(status, &err("api_error")),
                Outcome::Unknown,
                "{status}"
            );
        }
        assert_eq!(
            charge_outcome(400, &err("idempotency_error")),
            Outcome::Unknown
        );
        // A success answer that cannot be read: the charge may have been taken.
        assert_eq!(charge_outcome(200, &Value::Null), Outcome::Unknown);
        assert_eq!(
            charge_outcome(
                400,
                &json!({"error": {"type": "invalid_request_error", "code": "resource_missing"}})
            ),
            Outcome::Failed {
                code: "resource_missing".into()
            }
        );
        assert_eq!(
            charge_outcome(401, &err("invalid_request_error")),
            Outcome::Failed {
                code: "stripe_http_401".into()
            }
        );
    }

    #[test]
    fn search_query_escapes_quotes() {
        assert_eq!(
            search_query("order:1:2"),
            "metadata['guichet_key']:'order:1:2'"
        );
        assert_eq!(search_query(r"a'b\c"), r"metadata['guichet_key']:'a\'b\\c'");
    }

    #[test]
    fn secrets_are_masked() {
        assert_eq!(
            redact("Invalid API Key provided: sk_test_****1234"),
            "Invalid API Key provided: [redacted]"
        );
    }

    #[test]
    fn card_label() {
        let card = CardInfo {
            brand: "visa".into(),
            last4: "4242".into(),
            exp_month: 12,
            exp_year: 2034,
            customer: None,
        };
        assert_eq!(card.label(), "Visa •••• 4242");
    }
}
