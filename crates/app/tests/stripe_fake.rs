//! The Stripe client against the Stripe-shaped fake (shared with the end-to-end harness, in
//! `crates/guichet/tests/api/harness/stripe.rs`): charges, declines, idempotent replays, lost
//! answers, lookups, refunds, saving and detaching a card, and a wrong key never shown.

#[path = "../../guichet/tests/api/harness/stripe.rs"]
mod fake;

use fake::{ERROR_PM, Fake, SECRET, SLOW_ANSWER, SLOW_PM, install_crypto_provider};
use guichet_app::gateway::{ChargeRequest, Lookup, Outcome};
use guichet_app::stripe::{StripeClient, StripeError};
use std::time::Duration;

const CLIENT_TIMEOUT: Duration = Duration::from_secs(5);
const SHORT_TIMEOUT: Duration = Duration::from_millis(300);

trait ClientOf {
    fn client(&self) -> StripeClient;
}

impl ClientOf for Fake {
    fn client(&self) -> StripeClient {
        install_crypto_provider();
        StripeClient::with_timeout(&self.url, SECRET, CLIENT_TIMEOUT)
    }
}

fn charge<'a>(key: &'a str, pm: &'a str, amount_minor: i64) -> ChargeRequest<'a> {
    ChargeRequest {
        account_id: "acc_1",
        idempotency_key: key,
        source: pm,
        amount_minor,
        currency: "EUR",
    }
}

async fn customer(stripe: &StripeClient) -> String {
    stripe.create_customer("acc_1").await.expect("customer")
}

// ---------------------------------------------------------------------------------------
// Tests
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn a_saved_card_is_charged() {
    let fake = Fake::start().await;
    let stripe = fake.client();
    let cus = customer(&stripe).await;
    assert!(cus.starts_with("cus_"), "{cus}");

    let outcome = stripe
        .charge(&charge("order:o1:p1", "pm_card_visa", 1050), &cus)
        .await;
    let intents = fake.intents_for("order:o1:p1");
    assert_eq!(intents.len(), 1);
    let pi = &intents[0];
    assert_eq!(
        outcome,
        Outcome::Succeeded {
            charge_id: pi["id"].as_str().expect("id").to_owned()
        }
    );
    assert_eq!(fake.charges_taken(), 1);
    // What the client sent: the amount in minor units, the currency in lower case, the
    // customer and the payment method.
    assert_eq!(pi["amount"], 1050);
    assert_eq!(pi["currency"], "eur");
    assert_eq!(pi["customer"], cus.as_str());
    assert_eq!(pi["payment_method"], "pm_card_visa");
}

#[tokio::test]
async fn declines_fail_with_their_code() {
    let fake = Fake::start().await;
    let stripe = fake.client();
    let cus = customer(&stripe).await;
    for (i, (pm, code)) in [
        ("pm_card_chargeDeclined", "card_declined"),
        (
            "pm_card_chargeDeclinedInsufficientFunds",
            "insufficient_funds",
        ),
        ("pm_card_chargeDeclinedExpiredCard", "expired_card"),
        ("pm_card_authenticationRequired", "authentication_required"),
    ]
    .into_iter()
    .enumerate()
    {
        let key = format!("order:o{i}:p{i}");
        let outcome = stripe.charge(&charge(&key, pm, 2000), &cus).await;
        assert_eq!(outcome, Outcome::Failed { code: code.into() }, "{pm}");
        // The reconciler would find the same failure.
        assert_eq!(
            stripe.lookup(&key).await.expect("lookup"),
            Lookup::Found(Outcome::Failed { code: code.into() }),
            "{pm}"
        );
    }
    assert_eq!(fake.charges_taken(), 0);
}

#[tokio::test]
async fn a_lookup_reports_money_taken_over_an_earlier_failure() {
    let fake = Fake::start().await;
    let stripe = fake.client();
    let cus = customer(&stripe).await;
    let declined = stripe
        .charge(&charge("order:o1:p1", "pm_card_chargeDeclined", 1000), &cus)
        .await;
    assert_eq!(
        declined,
        Outcome::Failed {
            code: "card_declined".into()
        }
    );
    // A day later Stripe has forgotten the key, and a second PaymentIntent carries the same
    // metadata (a retry that should not have happened, but did): the lookup must say that
    // money was taken, not report the earlier failure.
    fake.prune_idempotency_keys();
    let taken = stripe
        .charge(&charge("order:o1:p1", "pm_card_visa", 1000), &cus)
        .await;
    assert!(matches!(taken, Outcome::Succeeded { .. }), "{taken:?}");
    assert_eq!(fake.intents_for("order:o1:p1").len(), 2);
    assert_eq!(
        stripe.lookup("order:o1:p1").await.expect("lookup"),
        Lookup::Found(taken)
    );
}

#[tokio::test]
async fn the_same_key_charges_once() {
    let fake = Fake::start().await;
    let stripe = fake.client();
    let cus = customer(&stripe).await;
    let first = stripe
        .charge(&charge("order:o1:p1", "pm_card_visa", 1000), &cus)
        .await;
    let second = stripe
        .charge(&charge("order:o1:p1", "pm_card_visa", 1000), &cus)
        .await;
    assert!(matches!(first, Outcome::Succeeded { .. }), "{first:?}");
    assert_eq!(first, second);
    assert_eq!(fake.charges_taken(), 1);
    assert_eq!(fake.intents_for("order:o1:p1").len(), 1);

    // The same key with other parameters: Stripe refuses (idempotency_error), and the client
    // does not call that a failure, since the first request with that key was taken.
    let other = stripe
        .charge(&charge("order:o1:p1", "pm_card_visa", 2000), &cus)
        .await;
    assert_eq!(other, Outcome::Unknown);
    assert_eq!(fake.charges_taken(), 1);
    assert_eq!(
        stripe.lookup("order:o1:p1").await.expect("lookup"),
        Lookup::Found(first)
    );
}

#[tokio::test]
async fn a_lost_answer_is_unknown_and_the_lookup_finds_the_charge() {
    let fake = Fake::start().await;
    install_crypto_provider();
    let stripe = StripeClient::with_timeout(&fake.url, SECRET, SHORT_TIMEOUT);
    let cus = customer(&stripe).await;

    let started = std::time::Instant::now();
    let outcome = stripe
        .charge(&charge("order:o9:p9", SLOW_PM, 4200), &cus)
        .await;
    assert_eq!(outcome, Outcome::Unknown);
    assert!(
        started.elapsed() < SLOW_ANSWER,
        "the client waited for the answer"
    );
    assert_eq!(fake.charges_taken(), 1, "the fake took the charge");

    let pi = fake.intents_for("order:o9:p9")[0]["id"]
        .as_str()
        .expect("id")
        .to_owned();
    let found = stripe.lookup("order:o9:p9").await.expect("lookup");
    assert_eq!(
        found,
        Lookup::Found(Outcome::Succeeded {
            charge_id: pi.clone()
        })
    );
    assert_eq!(fake.charges_taken(), 1, "a lookup never charges");

    // Even a naive retry with the same key replays the stored answer instead of charging.
    let retried = stripe
        .charge(&charge("order:o9:p9", SLOW_PM, 4200), &cus)
        .await;
    assert_eq!(retried, Outcome::Succeeded { charge_id: pi });
    assert_eq!(fake.charges_taken(), 1);
}

#[tokio::test]
async fn server_errors_and_unreachable_stripe_are_unknown() {
    let fake = Fake::start().await;
    let stripe = fake.client();
    let cus = customer(&stripe).await;
    let outcome = stripe
        .charge(&charge("order:o5:p5", ERROR_PM, 1000), &cus)
        .await;
    assert_eq!(outcome, Outcome::Unknown);
    assert_eq!(fake.charges_taken(), 0);
    assert_eq!(
        stripe.lookup("order:o5:p5").await.expect("lookup"),
        Lookup::NotFound
    );

    // Nothing listens on this port any more.
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        l.local_addr().expect("addr")
    };
    let nowhere = StripeClient::with_timeout(&format!("http://{closed}"), SECRET, SHORT_TIMEOUT);
    assert_eq!(
        nowhere
            .charge(&charge("order:o6:p6", "pm_card_visa", 1000), &cus)
            .await,
        Outcome::Unknown
    );
    match nowhere.lookup("order:o6:p6").await {
        Err(StripeError::Transport(_)) => {}
        other => panic!("a lookup that cannot reach Stripe must be an error: {other:?}"),
    }
}

#[tokio::test]
async fn an_unknown_key_is_not_found() {
    let fake = Fake::start().await;
    let stripe = fake.client();
    let cus = customer(&stripe).await;
    let _ = stripe
        .charge(&charge("order:o1:p1", "pm_card_visa", 1000), &cus)
        .await;
    assert_eq!(
        stripe.lookup("order:o1:p2").await.expect("lookup"),
        Lookup::NotFound
    );
    // A key with a quote in it is escaped, not broken.
    assert_eq!(
        stripe.lookup("order:o'1:p1").await.expect("lookup"),
        Lookup::NotFound
    );
}

#[tokio::test]
async fn partial_refunds_stop_at_the_amount_charged() {
    let fake = Fake::start().await;
    let stripe = fake.client();
    let cus = customer(&stripe).await;
    let Outcome::Succeeded { charge_id } = stripe
        .charge(&charge("order:o1:p1", "pm_card_visa", 1000), &cus)
        .await
    else {
        panic!("charge");
    };

    let r1 = stripe
        .refund(&charge_id, 400, "refund:1")
        .await
        .expect("refund 400");
    assert!(r1.starts_with("re_"), "{r1}");
    // Sent again with its key: the same refund, not a second one.
    assert_eq!(
        stripe
            .refund(&charge_id, 400, "refund:1")
            .await
            .expect("replay"),
        r1
    );

    match stripe.refund(&charge_id, 700, "refund:2").await {
        Err(StripeError::Api {
            status: 400,
            message,
            ..
        }) => assert!(
            message.contains("greater than unrefunded amount"),
            "{message}"
        ),
        other => panic!("a refund over the remainder must be refused: {other:?}"),
    }
    let r3 = stripe
        .refund(&charge_id, 600, "refund:3")
        .await
        .expect("refund the rest");
    assert_ne!(r3, r1);
    match stripe.refund(&charge_id, 1, "refund:4").await {
        Err(StripeError::Api {
            status: 400,
            code: Some(code),
            ..
        }) => assert_eq!(code, "charge_already_refunded"),
        other => panic!("a fully refunded charge must refuse more: {other:?}"),
    }
}

#[tokio::test]
async fn a_wrong_key_is_refused_and_never_shown() {
    let fake = Fake::start().await;
    install_crypto_provider();
    let wrong_key = "sk_test_51WrongKeyThatMustNotLeak";
    let stripe = StripeClient::with_timeout(&fake.url, wrong_key, CLIENT_TIMEOUT);
    let err = stripe
        .create_customer("acc_1")
        .await
        .expect_err("wrong key");
    match &err {
        StripeError::Api { status: 401, .. } => {}
        other => panic!("expected a 401: {other:?}"),
    }
    for shown in [err.to_string(), format!("{err:?}"), format!("{stripe:?}")] {
        assert!(!shown.contains(wrong_key), "{shown}");
        assert!(!shown.contains("Bearer"), "{shown}");
    }
    assert!(matches!(
        stripe.lookup("order:o1:p1").await,
        Err(StripeError::Api { status: 401, .. })
    ));
    // A charge Stripe refused outright took nothing: failed, not unknown.
    let outcome = stripe
        .charge(&charge("order:o1:p1", "pm_card_visa", 1000), "cus_x")
        .await;
    assert_eq!(
        outcome,
        Outcome::Failed {
            code: "stripe_http_401".into()
        }
    );
    assert_eq!(fake.charges_taken(), 0);
}

#[tokio::test]
async fn a_card_is_saved_read_and_detached() {
    let fake = Fake::start().await;
    let stripe = fake.client();
    let cus = customer(&stripe).await;
    let (seti, secret) = stripe.create_setup_intent(&cus).await.expect("setup");
    assert!(seti.starts_with("seti_"), "{seti}");
    assert!(secret.starts_with(&format!("{seti}_secret_")), "{secret}");
    {
        let st = fake.state.lock().expect("fake state");
        let si = st.setup_intents.last().expect("stored");
        assert_eq!(si["usage"], "off_session");
        assert_eq!(si["customer"], cus.as_str());
    }
    // Unknown customer: Stripe's error comes back with its code.
    match stripe.create_setup_intent("cus_nobody").await {
        Err(StripeError::Api {
            status: 400,
            code: Some(code),
            ..
        }) => assert_eq!(code, "resource_missing"),
        other => panic!("{other:?}"),
    }

    // The card form confirmed the SetupIntent with pm_card_visa.
    let card = stripe.payment_method("pm_card_visa").await.expect("card");
    assert_eq!(card.brand, "visa");
    assert_eq!(card.last4, "4242");
    assert_eq!((card.exp_month, card.exp_year), (12, 2034));
    assert_eq!(card.label(), "Visa •••• 4242");
    assert!(matches!(
        stripe.payment_method("pm_nope").await,
        Err(StripeError::Api { status: 404, .. })
    ));

    stripe.detach("pm_card_visa").await.expect("detach");
    assert!(
        stripe.detach("pm_card_visa").await.is_err(),
        "a detached method cannot be detached again"
    );
    // A detached method can no longer be charged; nothing is taken.
    let outcome = stripe
        .charge(&charge("order:o1:p1", "pm_card_visa", 1000), &cus)
        .await;
    assert!(matches!(outcome, Outcome::Failed { .. }), "{outcome:?}");
    assert_eq!(fake.charges_taken(), 0);
}
