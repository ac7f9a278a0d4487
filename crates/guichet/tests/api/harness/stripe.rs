//! A Stripe-shaped fake for tests: an axum server on a random 127.0.0.1 port that answers
//! the endpoints Guichet's Stripe client uses with Stripe's JSON and error shapes, checks the
//! bearer key, and keeps Stripe's idempotency rules (the same key and parameters replay the
//! stored answer; the same key with other parameters is a 400 `idempotency_error`; a key
//! still running is a 409). It counts the charges it takes, so "charged once" is checked
//! where the money is. Shared by the client's tests (`crates/app/tests/stripe_fake.rs`) and
//! the end-to-end harness.
//!
//! Test payment methods, as in Stripe's test mode:
//! `pm_card_visa` (succeeds), `pm_card_chargeDeclined` (`card_declined` / `generic_decline`),
//! `pm_card_chargeDeclinedInsufficientFunds`, `pm_card_chargeDeclinedExpiredCard`,
//! `pm_card_authenticationRequired`; and two of the fake's own: [`SLOW_PM`] takes the charge
//! and then answers after [`SLOW_ANSWER`] (longer than the client's timeout in these tests),
//! [`ERROR_PM`] answers HTTP 500 without taking anything. Confirming a SetupIntent with one of
//! them (`POST /v1/setup_intents/{id}/confirm`, what Stripe.js does in the browser) saves a new
//! `pm_…` attached to the SetupIntent's customer that behaves like it.
//!
//! Search can be made blind ([`Fake::set_search_blind`]): Stripe's search is not
//! read-after-write, and a blind search proves that a caller does not depend on it.

#![allow(dead_code)]

use axum::Router;
use axum::extract::{Path, Query, Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::{Value, json};
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

pub const SECRET: &str = "sk_test_51GuichetFakeSecretKey";
pub const SLOW_PM: &str = "pm_card_guichetSlowAnswer";
pub const ERROR_PM: &str = "pm_card_guichetServerError";
pub const SLOW_ANSWER: Duration = Duration::from_secs(3);

// ---------------------------------------------------------------------------------------
// The fake
// ---------------------------------------------------------------------------------------

struct TestCard {
    last4: &'static str,
    exp_year: i64,
    /// `(code, decline_code, message)` of the card error a charge gets.
    decline: Option<(&'static str, &'static str, &'static str)>,
}

fn test_card(pm: &str) -> Option<TestCard> {
    let ok = |last4| TestCard {
        last4,
        exp_year: 2034,
        decline: None,
    };
    let declined = |last4, d| TestCard {
        last4,
        exp_year: 2034,
        decline: Some(d),
    };
    Some(match pm {
        "pm_card_visa" => ok("4242"),
        SLOW_PM => ok("0119"),
        ERROR_PM => ok("0000"),
        "pm_card_chargeDeclined" => declined(
            "0002",
            (
                "card_declined",
                "generic_decline",
                "Your card was declined.",
            ),
        ),
        "pm_card_chargeDeclinedInsufficientFunds" => declined(
            "9995",
            (
                "card_declined",
                "insufficient_funds",
                "Your card has insufficient funds.",
            ),
        ),
        "pm_card_chargeDeclinedExpiredCard" => declined(
            "0069",
            ("expired_card", "expired_card", "Your card has expired."),
        ),
        "pm_card_authenticationRequired" => declined(
            "3184",
            (
                "authentication_required",
                "authentication_required",
                "Your card was declined. This transaction requires authentication.",
            ),
        ),
        _ => return None,
    })
}

fn payment_method_json(pm: &str, card: &TestCard, customer: Option<&str>) -> Value {
    json!({
        "id": pm,
        "object": "payment_method",
        "type": "card",
        "customer": customer,
        "card": {
            "brand": "visa",
            "country": "US",
            "exp_month": 12,
            "exp_year": card.exp_year,
            "funding": "credit",
            "last4": card.last4,
        },
        "livemode": false,
        "metadata": {},
    })
}

enum Idem {
    Running {
        endpoint: String,
        params: Vec<(String, String)>,
    },
    Done {
        endpoint: String,
        params: Vec<(String, String)>,
        status: u16,
        body: Value,
    },
}

#[derive(Default)]
pub struct FakeState {
    next: u64,
    pub customers: HashMap<String, Value>,
    pub setup_intents: Vec<Value>,
    /// Payment methods saved by confirming a SetupIntent: id → (test card it behaves like,
    /// customer it is attached to).
    pub saved: HashMap<String, (String, String)>,
    pub detached: HashSet<String>,
    pub intents: Vec<Value>,
    pub refunded: HashMap<String, i64>,
    /// Refunds made (money given back), with their amounts.
    pub refunds: Vec<i64>,
    /// Successful charges: money taken from a card.
    pub charges_taken: u32,
    /// `POST /v1/payment_intents` requests received, replays included.
    pub charge_requests: u32,
    /// Searches received.
    pub searches: u32,
    /// Search answers as if nothing were indexed yet.
    pub search_blind: bool,
    idempotency: HashMap<String, Idem>,
}

impl FakeState {
    fn id(&mut self, prefix: &str) -> String {
        self.next += 1;
        format!("{prefix}_fake{:08}", self.next)
    }

    /// The test card a payment method behaves like, and the customer it is attached to.
    fn card_of(&self, pm: &str) -> Option<(TestCard, Option<String>)> {
        if let Some((template, customer)) = self.saved.get(pm) {
            let attached = (!self.detached.contains(pm)).then(|| customer.clone());
            return test_card(template).map(|c| (c, attached));
        }
        let attached = (!self.detached.contains(pm)).then(|| "cus_fake_owner".to_owned());
        test_card(pm).map(|c| (c, attached))
    }

    /// The test card name behind a payment method (itself for the fixed test ids).
    fn template_of<'a>(&'a self, pm: &'a str) -> &'a str {
        self.saved.get(pm).map_or(pm, |(t, _)| t.as_str())
    }
}

type Shared = Arc<Mutex<FakeState>>;
type Params = Vec<(String, String)>;
/// An answer: HTTP status and JSON body.
type Answer = (u16, Value);

fn param<'a>(p: &'a Params, name: &str) -> Option<&'a str> {
    p.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
}

fn error(status: u16, error: Value) -> Answer {
    (status, json!({ "error": error }))
}

fn invalid(param_name: &str, code: Option<&str>, message: String) -> Answer {
    error(
        400,
        json!({"type": "invalid_request_error", "code": code, "param": param_name, "message": message}),
    )
}

fn respond((status, body): Answer, replayed: bool) -> Response {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut resp = (status, axum::Json(body)).into_response();
    resp.headers_mut()
        .insert("request-id", "req_fake".parse().expect("header"));
    if replayed {
        resp.headers_mut()
            .insert("idempotent-replayed", "true".parse().expect("header"));
    }
    resp
}

/// Every request needs `Authorization: Bearer <the fake's secret key>`.
async fn auth(req: Request, next: Next) -> Response {
    let expected = format!("Bearer {SECRET}");
    let given = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    if given != Some(expected.as_str()) {
        return respond(
            error(
                401,
                json!({"type": "invalid_request_error",
                       "message": "Invalid API Key provided: sk_test_****************"}),
            ),
            false,
        );
    }
    next.run(req).await
}

/// The parameters of a form-encoded POST, or Stripe's answer to another content type.
fn form_params(headers: &HeaderMap, body: &str) -> Result<Params, Answer> {
    let ct = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if !body.is_empty() && !ct.starts_with("application/x-www-form-urlencoded") {
        return Err(invalid(
            "",
            None,
            format!("Invalid request: unsupported Content-Type {ct}."),
        ));
    }
    let mut params: Params = url::form_urlencoded::parse(body.as_bytes())
        .into_owned()
        .collect();
    params.sort();
    Ok(params)
}

enum Begin {
    Fresh(Option<String>),
    Answered(Answer, bool),
}

/// Stripe's idempotency layer, before running a POST.
fn begin(st: &mut FakeState, headers: &HeaderMap, endpoint: &str, params: &Params) -> Begin {
    let Some(key) = headers
        .get("idempotency-key")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
    else {
        return Begin::Fresh(None);
    };
    let mismatch = |key: &str| {
        Begin::Answered(
            error(
                400,
                json!({"type": "idempotency_error",
                       "message": format!("Keys for idempotent requests can only be used with the same parameters they were first used with. Try using a key other than '{key}' if you meant to execute a different request.")}),
            ),
            false,
        )
    };
    match st.idempotency.get(&key) {
        None => {
            st.idempotency.insert(
                key.clone(),
                Idem::Running {
                    endpoint: endpoint.to_owned(),
                    params: params.clone(),
                },
            );
            Begin::Fresh(Some(key))
        }
        Some(Idem::Running {
            endpoint: e,
            params: p,
        }) => {
            if e != endpoint || p != params {
                mismatch(&key)
            } else {
                Begin::Answered(
                    error(
                        409,
                        json!({"type": "invalid_request_error", "code": "idempotency_key_in_use",
                               "message": "There is currently another in-progress request using this Idempotent Key (that probably means you submitted twice, and the other request is still going through): ".to_owned() + &key + ". Please try again later."}),
                    ),
                    false,
                )
            }
        }
        Some(Idem::Done {
            endpoint: e,
            params: p,
            status,
            body,
        }) => {
            if e != endpoint || p != params {
                mismatch(&key)
            } else {
                Begin::Answered((*status, body.clone()), true)
            }
        }
    }
}

/// After running: the answer is stored for the key, unless the request failed validation
/// (Stripe saves results only once an endpoint starts executing).
fn finish(st: &mut FakeState, key: Option<String>, answer: &Answer, executed: bool) {
    let Some(key) = key else { return };
    if !executed {
        st.idempotency.remove(&key);
        return;
    }
    if let Some(Idem::Running { endpoint, params }) = st.idempotency.remove(&key) {
        st.idempotency.insert(
            key,
            Idem::Done {
                endpoint,
                params,
                status: answer.0,
                body: answer.1.clone(),
            },
        );
    }
}

/// Run a POST through the idempotency layer; `run` returns the answer and whether the
/// endpoint executed (`false`: refused at validation).
fn idempotent_post(
    state: &Shared,
    headers: &HeaderMap,
    endpoint: &str,
    body: &str,
    run: impl FnOnce(&mut FakeState, &Params) -> (Answer, bool),
) -> (Answer, bool) {
    let mut st = state.lock().expect("fake state");
    let params = match form_params(headers, body) {
        Ok(p) => p,
        Err(a) => return (a, false),
    };
    match begin(&mut st, headers, endpoint, &params) {
        Begin::Answered(answer, replayed) => (answer, replayed),
        Begin::Fresh(key) => {
            let (answer, executed) = run(&mut st, &params);
            finish(&mut st, key, &answer, executed);
            (answer, false)
        }
    }
}

async fn create_customer(
    State(state): State<Shared>,
    headers: HeaderMap,
    body: String,
) -> Response {
    let (answer, replayed) = idempotent_post(&state, &headers, "/v1/customers", &body, |st, p| {
        let id = st.id("cus");
        let metadata: serde_json::Map<String, Value> = p
            .iter()
            .filter_map(|(k, v)| {
                k.strip_prefix("metadata[")
                    .and_then(|k| k.strip_suffix(']'))
                    .map(|k| (k.to_owned(), json!(v)))
            })
            .collect();
        let customer = json!({
            "id": id, "object": "customer", "email": param(p, "email"),
            "metadata": metadata, "livemode": false,
        });
        st.customers.insert(id, customer.clone());
        ((200, customer), true)
    });
    respond(answer, replayed)
}

async fn create_setup_intent(
    State(state): State<Shared>,
    headers: HeaderMap,
    body: String,
) -> Response {
    let (answer, replayed) =
        idempotent_post(&state, &headers, "/v1/setup_intents", &body, |st, p| {
            let customer = param(p, "customer").unwrap_or("").to_owned();
            if !st.customers.contains_key(&customer) {
                return (
                    invalid(
                        "customer",
                        Some("resource_missing"),
                        format!("No such customer: '{customer}'"),
                    ),
                    false,
                );
            }
            if !matches!(param(p, "usage"), None | Some("off_session" | "on_session")) {
                return (invalid("usage", None, "Invalid usage".into()), false);
            }
            let id = st.id("seti");
            let secret = format!("{id}_secret_{}", st.id("s"));
            let si = json!({
                "id": id, "object": "setup_intent", "client_secret": secret,
                "customer": customer, "status": "requires_payment_method",
                "usage": param(p, "usage").unwrap_or("off_session"),
                "payment_method": null, "livemode": false,
            });
            st.setup_intents.push(si.clone());
            ((200, si), true)
        });
    respond(answer, replayed)
}

/// `POST /v1/setup_intents/{id}/confirm` with `payment_method` = a test card: what Stripe.js
/// does in the browser. A new payment method, attached to the SetupIntent's customer and
/// behaving like the test card, is saved.
async fn confirm_setup_intent(
    State(state): State<Shared>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: String,
) -> Response {
    let endpoint = format!("/v1/setup_intents/{id}/confirm");
    let (answer, replayed) = idempotent_post(&state, &headers, &endpoint, &body, |st, p| {
        let template = param(p, "payment_method").unwrap_or("").to_owned();
        if test_card(&template).is_none() {
            return (
                invalid(
                    "payment_method",
                    Some("resource_missing"),
                    format!("No such PaymentMethod: '{template}'"),
                ),
                false,
            );
        }
        let Some(i) = st
            .setup_intents
            .iter()
            .position(|si| si["id"] == id.as_str())
        else {
            return (
                invalid(
                    "intent",
                    Some("resource_missing"),
                    format!("No such setupintent: '{id}'"),
                ),
                false,
            );
        };
        if st.setup_intents[i]["status"] == "succeeded" {
            return (
                invalid(
                    "",
                    Some("setup_intent_unexpected_state"),
                    "You cannot confirm this SetupIntent because it has already succeeded.".into(),
                ),
                false,
            );
        }
        let pm = st.id("pm");
        let customer = st.setup_intents[i]["customer"]
            .as_str()
            .unwrap_or("")
            .to_owned();
        st.saved.insert(pm.clone(), (template, customer));
        let si = &mut st.setup_intents[i];
        si["status"] = json!("succeeded");
        si["payment_method"] = json!(pm);
        ((200, si.clone()), true)
    });
    respond(answer, replayed)
}

async fn get_payment_method(State(state): State<Shared>, Path(pm): Path<String>) -> Response {
    let st = state.lock().expect("fake state");
    let answer = match st.card_of(&pm) {
        Some((card, customer)) => (200, payment_method_json(&pm, &card, customer.as_deref())),
        None => error(
            404,
            json!({"type": "invalid_request_error", "code": "resource_missing", "param": "payment_method",
                   "message": format!("No such PaymentMethod: '{pm}'")}),
        ),
    };
    respond(answer, false)
}

async fn detach_payment_method(
    State(state): State<Shared>,
    Path(pm): Path<String>,
    headers: HeaderMap,
    body: String,
) -> Response {
    let endpoint = format!("/v1/payment_methods/{pm}/detach");
    let (answer, replayed) = idempotent_post(&state, &headers, &endpoint, &body, |st, _| {
        let Some((card, _)) = st.card_of(&pm) else {
            return (
                error(
                    404,
                    json!({"type": "invalid_request_error", "code": "resource_missing",
                           "message": format!("No such PaymentMethod: '{pm}'")}),
                ),
                false,
            );
        };
        if !st.detached.insert(pm.clone()) {
            return (
                invalid(
                    "",
                    None,
                    "The payment method you provided is not attached to a customer so detachment is impossible.".into(),
                ),
                true,
            );
        }
        ((200, payment_method_json(&pm, &card, None)), true)
    });
    respond(answer, replayed)
}

/// `POST /v1/payment_intents` with `confirm=true`: the charge.
fn run_payment_intent(st: &mut FakeState, p: &Params) -> (Answer, bool) {
    let Some(amount) = param(p, "amount")
        .and_then(|a| a.parse::<i64>().ok())
        .filter(|a| *a > 0)
    else {
        return (
            invalid(
                "amount",
                Some("parameter_invalid_integer"),
                "Invalid positive integer".into(),
            ),
            false,
        );
    };
    let currency = param(p, "currency").unwrap_or("").to_owned();
    if currency.len() != 3 {
        return (
            invalid(
                "currency",
                Some("parameter_missing"),
                "Missing required param: currency.".into(),
            ),
            false,
        );
    }
    let customer = param(p, "customer").unwrap_or("").to_owned();
    if !st.customers.contains_key(&customer) {
        return (
            invalid(
                "customer",
                Some("resource_missing"),
                format!("No such customer: '{customer}'"),
            ),
            false,
        );
    }
    let pm = param(p, "payment_method").unwrap_or("").to_owned();
    let Some((card, owner)) = st.card_of(&pm) else {
        return (
            invalid(
                "payment_method",
                Some("resource_missing"),
                format!("No such PaymentMethod: '{pm}'"),
            ),
            false,
        );
    };
    if st.detached.contains(&pm) {
        return (
            invalid(
                "payment_method",
                None,
                "The provided PaymentMethod was previously used with a PaymentIntent without Customer attachment, shared with a connected account without Customer attachment, or was detached from a Customer. It may not be used again. To use a PaymentMethod multiple times, you must attach it to a Customer first.".into(),
            ),
            false,
        );
    }
    if st.saved.contains_key(&pm) && owner.as_deref() != Some(customer.as_str()) {
        return (
            invalid(
                "payment_method",
                None,
                format!("The provided PaymentMethod does not belong to the Customer {customer}."),
            ),
            false,
        );
    }
    if param(p, "confirm") != Some("true") || param(p, "off_session") != Some("true") {
        return (
            invalid(
                "confirm",
                None,
                "The fake only takes confirmed off-session charges.".into(),
            ),
            false,
        );
    }
    if st.template_of(&pm) == ERROR_PM {
        // Stripe stores a 500 under the key too.
        return (
            error(
                500,
                json!({"type": "api_error", "message": "An unknown error occurred"}),
            ),
            true,
        );
    }
    let metadata: serde_json::Map<String, Value> = p
        .iter()
        .filter_map(|(k, v)| {
            k.strip_prefix("metadata[")
                .and_then(|k| k.strip_suffix(']'))
                .map(|k| (k.to_owned(), json!(v)))
        })
        .collect();
    let id = st.id("pi");
    let charge = st.id("ch");
    let created = i64::try_from(st.next).unwrap_or(0);
    let mut pi = json!({
        "id": id, "object": "payment_intent", "amount": amount, "currency": currency,
        "customer": customer, "payment_method": pm, "created": created,
        "capture_method": "automatic", "confirmation_method": "automatic",
        "metadata": metadata, "livemode": false, "latest_charge": charge,
        "client_secret": format!("{id}_secret_fake"),
    });
    match card.decline {
        None => {
            st.charges_taken += 1;
            pi["status"] = json!("succeeded");
            pi["amount_received"] = json!(amount);
            pi["last_payment_error"] = Value::Null;
            st.intents.push(pi.clone());
            ((200, pi), true)
        }
        Some((code, decline_code, message)) => {
            let err = json!({
                "type": "card_error", "code": code, "decline_code": decline_code,
                "message": message, "charge": charge,
                "doc_url": format!("https://stripe.com/docs/error-codes/{}", code.replace('_', "-")),
            });
            pi["status"] = json!("requires_payment_method");
            pi["amount_received"] = json!(0);
            pi["last_payment_error"] = err.clone();
            st.intents.push(pi.clone());
            let mut err = err;
            err["payment_intent"] = pi;
            ((402, json!({ "error": err })), true)
        }
    }
}

async fn create_payment_intent(
    State(state): State<Shared>,
    headers: HeaderMap,
    body: String,
) -> Response {
    let slow = {
        let mut st = state.lock().expect("fake state");
        st.charge_requests += 1;
        form_params(&headers, &body).ok().is_some_and(|p| {
            param(&p, "payment_method").is_some_and(|pm| st.template_of(pm) == SLOW_PM)
        })
    };
    let (answer, replayed) = idempotent_post(
        &state,
        &headers,
        "/v1/payment_intents",
        &body,
        run_payment_intent,
    );
    if slow && !replayed {
        // The charge is taken and stored; the answer comes too late for the client.
        tokio::time::sleep(SLOW_ANSWER).await;
    }
    respond(answer, replayed)
}

/// The one query form the client sends: `metadata['KEY']:'VALUE'` (quotes may be `'` or
/// `"`, `\` escapes the next character in the value).
fn parse_metadata_query(q: &str) -> Option<(String, String)> {
    let rest = q.trim().strip_prefix("metadata[")?;
    let quote = rest.chars().next().filter(|c| *c == '\'' || *c == '"')?;
    let rest = &rest[1..];
    let end = rest.find(quote)?;
    let field = rest[..end].to_owned();
    let rest = rest[end + 1..].strip_prefix("]:")?;
    let vq = rest.chars().next().filter(|c| *c == '\'' || *c == '"')?;
    let mut value = String::new();
    let mut chars = rest[1..].chars();
    loop {
        match chars.next()? {
            '\\' => value.push(chars.next()?),
            c if c == vq => break,
            c => value.push(c),
        }
    }
    chars.as_str().trim().is_empty().then_some((field, value))
}

async fn search_payment_intents(
    State(state): State<Shared>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let mut st = state.lock().expect("fake state");
    st.searches += 1;
    let Some((field, value)) = q.get("query").and_then(|q| parse_metadata_query(q)) else {
        return respond(
            invalid(
                "query",
                None,
                "We were unable to parse your search query. Try using the format `metadata['key']:'value'`".into(),
            ),
            false,
        );
    };
    let data: Vec<Value> = st
        .intents
        .iter()
        .filter(|pi| !st.search_blind && pi["metadata"][&field].as_str() == Some(value.as_str()))
        .cloned()
        .collect();
    respond(
        (
            200,
            json!({"object": "search_result", "url": "/v1/payment_intents/search",
                   "has_more": false, "next_page": null, "data": data}),
        ),
        false,
    )
}

fn run_refund(st: &mut FakeState, p: &Params) -> (Answer, bool) {
    let pi_id = param(p, "payment_intent").unwrap_or("").to_owned();
    let Some(pi) = st
        .intents
        .iter()
        .find(|pi| pi["id"] == pi_id.as_str())
        .cloned()
    else {
        return (
            invalid(
                "payment_intent",
                Some("resource_missing"),
                format!("No such payment_intent: '{pi_id}'"),
            ),
            false,
        );
    };
    if pi["status"] != "succeeded" {
        return (
            invalid(
                "payment_intent",
                None,
                format!(
                    "This PaymentIntent ({pi_id}) does not have a successful charge to refund."
                ),
            ),
            true,
        );
    }
    let received = pi["amount_received"].as_i64().unwrap_or(0);
    let refunded = st.refunded.get(&pi_id).copied().unwrap_or(0);
    let left = received - refunded;
    let amount = match param(p, "amount") {
        None => left,
        Some(a) => match a.parse::<i64>() {
            Ok(a) if a > 0 => a,
            _ => {
                return (
                    invalid(
                        "amount",
                        Some("parameter_invalid_integer"),
                        "Invalid positive integer".into(),
                    ),
                    false,
                );
            }
        },
    };
    let charge = pi["latest_charge"].as_str().unwrap_or("").to_owned();
    if left == 0 {
        return (
            invalid(
                "charge",
                Some("charge_already_refunded"),
                format!("Charge {charge} has already been refunded."),
            ),
            true,
        );
    }
    if amount > left {
        return (
            invalid(
                "amount",
                None,
                format!(
                    "Refund amount ({amount}) is greater than unrefunded amount on charge ({left})"
                ),
            ),
            true,
        );
    }
    st.refunded.insert(pi_id.clone(), refunded + amount);
    st.refunds.push(amount);
    let id = st.id("re");
    (
        (
            200,
            json!({"id": id, "object": "refund", "amount": amount, "currency": pi["currency"],
                   "charge": charge, "payment_intent": pi_id, "status": "succeeded",
                   "metadata": {}}),
        ),
        true,
    )
}

async fn create_refund(State(state): State<Shared>, headers: HeaderMap, body: String) -> Response {
    let (answer, replayed) = idempotent_post(&state, &headers, "/v1/refunds", &body, run_refund);
    respond(answer, replayed)
}

pub struct Fake {
    pub url: String,
    pub state: Shared,
    /// A client to play the browser (Stripe.js) with.
    http: reqwest::Client,
}

impl Fake {
    pub async fn start() -> Fake {
        let state: Shared = Arc::default();
        let app = Router::new()
            .route("/v1/customers", post(create_customer))
            .route("/v1/setup_intents", post(create_setup_intent))
            .route("/v1/setup_intents/{id}/confirm", post(confirm_setup_intent))
            .route("/v1/payment_methods/{pm}", get(get_payment_method))
            .route(
                "/v1/payment_methods/{pm}/detach",
                post(detach_payment_method),
            )
            .route("/v1/payment_intents", post(create_payment_intent))
            .route("/v1/payment_intents/search", get(search_payment_intents))
            .route("/v1/refunds", post(create_refund))
            .layer(middleware::from_fn(auth))
            .with_state(state.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        tokio::spawn(async move {
            axum::serve(listener, app).await.expect("fake Stripe");
        });
        install_crypto_provider();
        Fake {
            url: format!("http://{addr}"),
            state,
            http: reqwest::Client::new(),
        }
    }

    pub fn charges_taken(&self) -> u32 {
        self.state.lock().expect("fake state").charges_taken
    }

    /// Answer searches as if nothing were indexed yet (or again normally).
    pub fn set_search_blind(&self, blind: bool) {
        self.state.lock().expect("fake state").search_blind = blind;
    }

    /// What Stripe does to idempotency keys at least 24 hours old: forget them.
    pub fn prune_idempotency_keys(&self) {
        self.state.lock().expect("fake state").idempotency.clear();
    }

    /// What Stripe.js does with a SetupIntent's client secret once the customer typed a card:
    /// confirm it with a test card. Returns the saved payment method (`pm_…`).
    pub async fn confirm_setup_intent(&self, client_secret: &str, test_card: &str) -> String {
        let id = client_secret
            .split_once("_secret_")
            .map(|(id, _)| id)
            .expect("a SetupIntent client secret");
        let resp = self
            .http
            .post(format!("{}/v1/setup_intents/{id}/confirm", self.url))
            .bearer_auth(SECRET)
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(
                url::form_urlencoded::Serializer::new(String::new())
                    .append_pair("payment_method", test_card)
                    .finish(),
            )
            .send()
            .await
            .expect("confirm");
        assert_eq!(resp.status().as_u16(), 200, "confirm {id}");
        let si: Value =
            serde_json::from_str(&resp.text().await.expect("body")).expect("setup intent");
        assert_eq!(si["status"], "succeeded", "{si}");
        si["payment_method"].as_str().expect("pm").to_owned()
    }

    /// The PaymentIntents the fake holds for a charge key.
    pub fn intents_for(&self, key: &str) -> Vec<Value> {
        self.state
            .lock()
            .expect("fake state")
            .intents
            .iter()
            .filter(|pi| pi["metadata"]["guichet_key"] == key)
            .cloned()
            .collect()
    }
}

/// reqwest is built with rustls and no default crypto provider (the binary installs ring at
/// start-up); a test process has to do the same before it builds a client.
pub fn install_crypto_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}
