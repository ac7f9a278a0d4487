//! Stripe as the installation's gateway, end to end against the Stripe-shaped fake: a card
//! saved through a SetupIntent and its `pm_…`, an order paid with one charge at the fake, a
//! declined card, a lost answer reconciled by sending the same idempotent request again
//! (search kept blind) with exactly one charge and one invoice, a refund through a credit
//! note, search asked only past Stripe's 24-hour idempotency window, a deleted method
//! detached; the sandbox's answer to a setup intent; configuration
//! refused without a key and the key masked by `check-config`; the panel's card form through
//! Stripe's field (SetupIntent asked with the CSRF token, the `pm_…` saved, the page's
//! widened content policy).

use crate::both_backends;
use crate::harness::stripe::{ERROR_PM, Fake, SECRET, SLOW_PM};
use crate::harness::{Backend, Server, World, eventually};
use serde_json::{Value, json};

both_backends!(
    stripe_cards_and_payments,
    stripe_lost_answer_reconciled_and_refunded,
    stripe_configuration,
    stripe_card_in_the_panel,
);

/// The browser's part: a SetupIntent from Guichet, confirmed at "Stripe" with a test card.
async fn saved_card(s: &Server, fake: &Fake, t: &str, test_card: &str) -> String {
    let (st, si) = s
        .post(
            "/api/v1/me/payment-methods/setup-intent",
            Some(t),
            json!({}),
        )
        .await;
    assert_eq!(st, 201, "{si}");
    assert_eq!(si["gateway"], "stripe");
    assert_eq!(si["publishable_key"], "pk_test_51GuichetFake");
    let secret = si["client_secret"].as_str().expect("client secret");
    fake.confirm_setup_intent(secret, test_card).await
}

async fn add_card(s: &Server, t: &str, pm: &str) -> (u16, Value) {
    s.post(
        "/api/v1/me/payment-methods",
        Some(t),
        json!({"kind": "card", "token": pm}),
    )
    .await
}

async fn order(s: &Server, t: &str) -> String {
    let (st, o) = s
        .post(
            "/api/v1/me/orders",
            Some(t),
            json!({"lines": [{"plan": "mail-yearly"}]}),
        )
        .await;
    assert_eq!(st, 201, "{o}");
    o["id"].as_str().expect("id").to_owned()
}

async fn pay(s: &Server, t: &str, id: &str, method: &str) -> Value {
    let (st, o) = s
        .post(
            &format!("/api/v1/me/orders/{id}/pay"),
            Some(t),
            json!({"payment_method_id": method}),
        )
        .await;
    assert_eq!(st, 200, "{o}");
    o
}

fn last_payment(o: &Value) -> &Value {
    o["payments"]
        .as_array()
        .and_then(|p| p.last())
        .expect("a payment")
}

async fn advance(s: &Server, op: &str, seconds: i64) {
    let (st, v) = s
        .post(
            "/api/v1/admin/clock",
            Some(op),
            json!({ "advance_seconds": seconds }),
        )
        .await;
    assert_eq!(st, 200, "{v}");
}

async fn invoices(s: &Server, t: &str) -> Vec<Value> {
    let (_, page) = s.get("/api/v1/me/invoices", Some(t)).await;
    page["items"].as_array().expect("items").clone()
}

async fn stripe_cards_and_payments(b: Backend) {
    let (w, fake) = World::with_stripe(b).await;
    let s = &w.server;
    let op = s.operator_key();
    s.mail_plan(&op, json!({"EUR": 1200})).await;
    let t = s.customer(&w.smtp, "stripe@example.fr").await;

    // A card saved through a SetupIntent: Guichet reads brand, last four and expiry from
    // Stripe. The account has one Stripe customer however many setup intents it asks for.
    let pm = saved_card(s, &fake, &t, "pm_card_visa").await;
    assert!(pm.starts_with("pm_"), "{pm}");
    let (st, m) = add_card(s, &t, &pm).await;
    assert_eq!(st, 201, "{m}");
    assert_eq!(m["label"], "Visa •••• 4242");
    assert_eq!(m["brand"], "Visa");
    assert_eq!(
        (&m["exp_month"], &m["exp_year"]),
        (&json!(12), &json!(2034))
    );
    assert_eq!(m["is_default"], true);
    let visa = m["id"].as_str().expect("id").to_owned();
    let declining = saved_card(s, &fake, &t, "pm_card_chargeDeclinedInsufficientFunds").await;
    let (st, m) = add_card(s, &t, &declining).await;
    assert_eq!(st, 201, "{m}");
    let declining_id = m["id"].as_str().expect("id").to_owned();
    let customer = {
        let st = fake.state.lock().expect("fake");
        assert_eq!(st.customers.len(), 1, "one Stripe customer per account");
        let (id, c) = st.customers.iter().next().expect("customer");
        assert!(c["metadata"]["guichet_account_id"].is_string(), "{c}");
        assert!(c["email"].is_null(), "no personal data at Stripe: {c}");
        id.clone()
    };
    // The same card twice, an unknown id, a sandbox token: refused.
    let (st, v) = add_card(s, &t, &pm).await;
    assert_eq!(
        (st, v["code"].as_str()),
        (409, Some("payment_method_exists"))
    );
    for bad in [
        "pm_doesNotExist",
        "tok_sandbox_0123456789ab",
        "pm_../../v1/customers",
    ] {
        let (st, v) = add_card(s, &t, bad).await;
        assert_eq!(
            (st, v["code"].as_str()),
            (422, Some("invalid_token")),
            "{bad}"
        );
    }
    // Another account cannot save (or pay with) this account's card.
    let other = s.customer(&w.smtp, "other-stripe@example.fr").await;
    let (st, v) = add_card(s, &other, &pm).await;
    assert_eq!((st, v["code"].as_str()), (422, Some("invalid_token")));
    let other_order = order(s, &other).await;
    let (st, v) = s
        .post(
            &format!("/api/v1/me/orders/{other_order}/pay"),
            Some(&other),
            json!({"source": pm}),
        )
        .await;
    assert_eq!(
        (st, v["code"].as_str()),
        (422, Some("invalid_payment_source"))
    );
    // SEPA by IBAN is the sandbox's; with Stripe it is refused clearly.
    let (st, v) = s
        .post(
            "/api/v1/me/payment-methods",
            Some(&t),
            json!({"kind": "sepa_debit", "iban": "DE89 3704 0044 0532 0130 00", "holder_name": "Zoé Martin"}),
        )
        .await;
    assert_eq!((st, v["code"].as_str()), (409, Some("sepa_unsupported")));

    // A declined card: nothing taken, the order stays payable, the method is marked.
    let id = order(s, &t).await;
    let o = pay(s, &t, &id, &declining_id).await;
    assert_eq!(o["status"], "not_paid", "{o}");
    assert_eq!(last_payment(&o)["state"], "failed");
    assert_eq!(last_payment(&o)["failure_code"], "insufficient_funds");
    assert_eq!(fake.charges_taken(), 0);

    // Paid with the saved card: one off-session charge of the order's total, for the
    // account's customer, under the payment's idempotency key; one invoice.
    let o = pay(s, &t, &id, &visa).await;
    assert_eq!(o["status"], "delivered", "{o}");
    assert_eq!(last_payment(&o)["state"], "succeeded");
    assert_eq!(fake.charges_taken(), 1);
    {
        let st = fake.state.lock().expect("fake");
        let pi = st
            .intents
            .iter()
            .find(|pi| pi["status"] == "succeeded")
            .expect("the charge");
        assert_eq!(pi["amount"], o["total_minor"]);
        assert_eq!(pi["currency"], "eur");
        assert_eq!(pi["customer"], customer.as_str());
        assert_eq!(pi["payment_method"], pm.as_str());
        let key = pi["metadata"]["guichet_key"].as_str().expect("key");
        assert!(key.starts_with(&format!("order:{id}:")), "{key}");
    }
    assert_eq!(invoices(s, &t).await.len(), 1);

    // Deleting a method detaches it at Stripe: it can never be charged again.
    let (st, _) = s
        .call(
            "DELETE",
            &format!("/api/v1/me/payment-methods/{visa}"),
            Some(&t),
            None,
        )
        .await;
    assert_eq!(st, 204);
    assert!(
        fake.state.lock().expect("fake").detached.contains(&pm),
        "detached at Stripe"
    );
    let (_, list) = s.get("/api/v1/me/payment-methods", Some(&t)).await;
    assert_eq!(list.as_array().expect("list").len(), 1);
}

async fn stripe_lost_answer_reconciled_and_refunded(b: Backend) {
    let (w, fake) = World::with_stripe(b).await;
    // Stripe's search is not read-after-write: here it never finds anything, so the
    // reconciler must not depend on it.
    fake.set_search_blind(true);
    let s = &w.server;
    let op = s.operator_key();
    s.mail_plan(&op, json!({"EUR": 1200})).await;
    let t = s.customer(&w.smtp, "slow@example.fr").await;
    let pm = saved_card(s, &fake, &t, SLOW_PM).await;
    let (st, m) = add_card(s, &t, &pm).await;
    assert_eq!(st, 201, "{m}");
    let method = m["id"].as_str().expect("id").to_owned();

    // The charge is taken, the answer comes after Guichet's timeout: unknown.
    let id = order(s, &t).await;
    let o = pay(s, &t, &id, &method).await;
    assert_eq!(o["status"], "not_paid", "{o}");
    assert_eq!(last_payment(&o)["state"], "unknown");
    assert_eq!(fake.charges_taken(), 1);

    // A minute later the worker's reconciler sends the same request with the same key:
    // Stripe replays the stored success, nothing is charged again.
    advance(s, &op, 120).await;
    let o = eventually(30, "the payment reconciled", || async {
        let (_, o) = s.get(&format!("/api/v1/me/orders/{id}"), Some(&t)).await;
        (o["status"] == "delivered").then_some(o)
    })
    .await;
    let payments = o["payments"].as_array().expect("payments");
    assert_eq!(payments.len(), 1);
    assert_eq!(payments[0]["state"], "succeeded");
    {
        let st = fake.state.lock().expect("fake");
        assert_eq!(st.charges_taken, 1, "exactly one charge");
        assert_eq!(st.intents.len(), 1);
        assert!(st.charge_requests >= 2, "the request was sent again");
        assert_eq!(st.searches, 0, "search was not trusted");
    }
    let invs = invoices(s, &t).await;
    assert_eq!(invs.len(), 1, "exactly one invoice");

    // A partial credit note is refunded at Stripe, once, with its idempotency key.
    let inv = invs[0]["id"].as_str().expect("id");
    let (st, cn) = s
        .post(
            &format!("/api/v1/admin/invoices/{inv}/credit-notes"),
            Some(&op),
            json!({"reason": "Outage compensation", "amount_minor": 440}),
        )
        .await;
    assert_eq!(st, 201, "{cn}");
    assert_eq!(cn["refund"]["state"], "succeeded", "{cn}");
    assert_eq!(fake.state.lock().expect("fake").refunds, vec![440]);
    let (_, notes) = s.get("/api/v1/me/credit-notes", Some(&t)).await;
    assert_eq!(notes["items"].as_array().expect("notes").len(), 1);

    // A server error stored under the key: every replay is a 500 again, so the payment stays
    // unknown while Stripe keeps the key. Past 24 hours the key may be forgotten and sending
    // it again could charge anew: only then is search asked, and it finds nothing taken.
    let pm = saved_card(s, &fake, &t, ERROR_PM).await;
    let (st, m) = add_card(s, &t, &pm).await;
    assert_eq!(st, 201, "{m}");
    let method = m["id"].as_str().expect("id").to_owned();
    let id = order(s, &t).await;
    let o = pay(s, &t, &id, &method).await;
    assert_eq!(last_payment(&o)["state"], "unknown", "{o}");
    let sent = fake.state.lock().expect("fake").charge_requests;
    advance(s, &op, 120).await;
    eventually(30, "the request sent again", || async {
        (fake.state.lock().expect("fake").charge_requests > sent).then_some(())
    })
    .await;
    let (_, o) = s.get(&format!("/api/v1/me/orders/{id}"), Some(&t)).await;
    assert_eq!(last_payment(&o)["state"], "unknown", "{o}");
    assert_eq!(fake.state.lock().expect("fake").searches, 0);
    fake.set_search_blind(false);
    advance(s, &op, 25 * 3600).await;
    // A day later the session has ended (idle): log in again.
    let t = s.login("slow@example.fr", crate::harness::PASSWORD).await;
    let o = eventually(30, "the payment failed from search", || async {
        let (_, o) = s.get(&format!("/api/v1/me/orders/{id}"), Some(&t)).await;
        (last_payment(&o)["state"] == "failed").then_some(o)
    })
    .await;
    assert_eq!(last_payment(&o)["failure_code"], "abandoned");
    assert_eq!(o["status"], "not_paid");
    let st = fake.state.lock().expect("fake");
    assert!(st.searches >= 1);
    assert_eq!(st.charges_taken, 1, "still exactly one charge");
}

async fn stripe_configuration(b: Backend) {
    // The sandbox gateway has no setup intents: a clear 409.
    let w = World::new(b).await;
    let s = &w.server;
    let t = s.customer(&w.smtp, "sandbox@example.fr").await;
    let (st, v) = s
        .post(
            "/api/v1/me/payment-methods/setup-intent",
            Some(&t),
            json!({}),
        )
        .await;
    assert_eq!(
        (st, v["code"].as_str()),
        (409, Some("setup_intent_unsupported"))
    );

    let run = |extra: &[(&str, &str)]| {
        let mut c = std::process::Command::new(env!("CARGO_BIN_EXE_guichet"));
        c.arg("check-config")
            .env_remove("GUICHET_CONFIG")
            .envs(s.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .envs(extra.iter().copied());
        c.output().expect("run guichet")
    };
    // Stripe chosen without a key: refused, saying what is missing.
    let out = run(&[("GUICHET_GATEWAY", "stripe")]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("GUICHET_STRIPE_SECRET_KEY"), "{err}");
    let out = run(&[("GUICHET_GATEWAY", "paypal")]);
    assert!(!out.status.success());
    // With a key: shown masked, never in clear.
    let out = run(&[
        ("GUICHET_GATEWAY", "stripe"),
        ("GUICHET_STRIPE_SECRET_KEY", SECRET),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let shown = String::from_utf8_lossy(&out.stdout);
    assert!(shown.contains("gateway = \"stripe\""), "{shown}");
    assert!(shown.contains("https://api.stripe.com"), "{shown}");
    assert!(!shown.contains(SECRET), "{shown}");
    assert!(!String::from_utf8_lossy(&out.stderr).contains(SECRET));
}

/// A panel POST with the session cookie, from the panel's origin.
async fn panel_post(s: &Server, t: &str, path: &str, pairs: &[(&str, &str)]) -> reqwest::Response {
    crate::panel::browser()
        .post(s.url(path))
        .header("cookie", format!("guichet_session={t}"))
        .header("origin", &s.base)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(crate::panel::form(pairs))
        .send()
        .await
        .expect("panel post")
}

async fn stripe_card_in_the_panel(b: Backend) {
    let (w, fake) = World::with_stripe(b).await;
    let s = &w.server;
    let t = s.customer(&w.smtp, "panel-card@example.fr").await;

    // The page offers Stripe's card field (no sandbox card form), with the policy it needs.
    let r = crate::panel::browser()
        .get(s.url("/payment-methods"))
        .header("cookie", format!("guichet_session={t}"))
        .send()
        .await
        .expect("page");
    assert_eq!(r.status(), 200);
    let csp = r.headers()["content-security-policy"]
        .to_str()
        .expect("csp")
        .to_owned();
    assert!(
        csp.contains("script-src 'self' https://js.stripe.com"),
        "{csp}"
    );
    assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
    let html = r.text().await.expect("html");
    assert!(html.contains("id=\"stripe-card\""), "{html}");
    assert!(
        html.contains("data-key=\"pk_test_51GuichetFake\""),
        "{html}"
    );
    assert!(html.contains("https://js.stripe.com/v3/"), "{html}");
    assert!(!html.contains("action=\"/payment-methods/card\""), "{html}");
    let csrf = crate::panel::hidden(&html, "_csrf");
    let r = crate::panel::browser()
        .get(s.url(crate::panel::STRIPE_SCRIPT))
        .send()
        .await
        .expect("script");
    assert_eq!(r.status(), 200);
    assert!(r.text().await.expect("js").contains("confirmCardSetup"));

    // The script's SetupIntent: refused without the form's token, then its client secret.
    let r = panel_post(s, &t, "/payment-methods/stripe/setup", &[]).await;
    assert_eq!(r.status(), 403);
    let r = panel_post(s, &t, "/payment-methods/stripe/setup", &[("_csrf", &csrf)]).await;
    assert_eq!(r.status(), 200);
    let si: Value = r.json().await.expect("json");
    let secret = si["client_secret"].as_str().expect("client secret");
    // Stripe.js confirms it with the card typed in Stripe's field; the form posts the pm_….
    let pm = fake.confirm_setup_intent(secret, "pm_card_visa").await;
    let r = panel_post(
        s,
        &t,
        "/payment-methods/stripe",
        &[("_csrf", &csrf), ("token", &pm), ("make_default", "1")],
    )
    .await;
    assert_eq!(r.status(), 303);
    assert_eq!(
        r.headers()["location"],
        "/payment-methods?done=method_added"
    );
    let (_, list) = s.get("/api/v1/me/payment-methods", Some(&t)).await;
    let cards = list.as_array().expect("list");
    assert_eq!(cards.len(), 1, "{list}");
    assert_eq!(cards[0]["kind"], "card");
    assert_eq!(cards[0]["is_default"], true);

    // A token Stripe does not know comes back on the page with the error, nothing saved.
    let r = panel_post(
        s,
        &t,
        "/payment-methods/stripe",
        &[("_csrf", &csrf), ("token", "pm_doesNotExist")],
    )
    .await;
    assert!(r.status().is_client_error(), "{}", r.status());
    let html = r.text().await.expect("html");
    assert!(html.contains("role=\"alert\""), "{html}");
    let (_, list) = s.get("/api/v1/me/payment-methods", Some(&t)).await;
    assert_eq!(list.as_array().expect("list").len(), 1);
}
