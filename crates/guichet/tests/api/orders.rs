//! Orders end to end: place, pay with the sandbox gateway, signed provisioning webhook to a
//! real HTTP receiver, the provider's delivery report, the service and its mail; retries while
//! the receiver is down; expiry of unpaid orders on a moved clock; the documents round trip;
//! payment outcomes (declined, timeout reconciled, concurrent pays charged once); bad orders.

use crate::both_backends;
use crate::harness::receiver::Receiver;
use crate::harness::{Backend, PASSWORD, Server, World, eventually};
use serde_json::{Value, json};

both_backends!(
    order_paid_delivered_by_webhook,
    webhook_retried_while_receiver_down,
    unpaid_order_expires,
    documents_round_trip,
    payment_outcomes,
    instant_products_and_cancellation,
    bad_orders_are_refused,
    paid_orders_are_credited_before_cancelled,
    order_floods_are_slowed,
    payment_killed_before_its_charge_is_charged_once,
    order_numbers_follow_each_other,
);

/// A catalog with a VPS (delivered by the provider), a domain name and an instant product.
async fn catalog(s: &Server, op: &str) {
    for (code, body) in [
        ("vps", json!({"name": "VPS", "category": "vps"})),
        (
            "domain",
            json!({"name": "Domain name", "category": "domain"}),
        ),
        (
            "mail",
            json!({"name": "Mailbox", "category": "email", "instant": true}),
        ),
    ] {
        let (st, v) = s
            .call(
                "PUT",
                &format!("/api/v1/admin/catalog/products/{code}"),
                Some(op),
                Some(body),
            )
            .await;
        assert_eq!(st, 200, "{v}");
    }
    for (product, plan, body) in [
        (
            "vps",
            "vps-s-monthly",
            json!({"name": "VPS S", "period": "P1M", "prices": {"EUR": 599}, "setup_fees": {"EUR": 1000}}),
        ),
        (
            "vps",
            "vps-usd",
            json!({"name": "VPS US", "period": "P1M", "prices": {"USD": 699}}),
        ),
        (
            "domain",
            "domain-fr",
            json!({"name": ".fr", "period": "P1Y", "prices": {"EUR": 799}}),
        ),
        (
            "mail",
            "mail-yearly",
            json!({"name": "Mailbox", "period": "P1Y", "prices": {"EUR": 1200}}),
        ),
    ] {
        let (st, v) = s
            .call(
                "PUT",
                &format!("/api/v1/admin/catalog/products/{product}/plans/{plan}"),
                Some(op),
                Some(body),
            )
            .await;
        assert_eq!(st, 200, "{v}");
    }
}

async fn order(s: &Server, token: &str, lines: Value) -> Value {
    let (st, v) = s
        .post("/api/v1/me/orders", Some(token), json!({ "lines": lines }))
        .await;
    assert_eq!(st, 201, "{v}");
    v
}

async fn pay(s: &Server, token: &str, id: &str, source: &str) -> (u16, Value) {
    s.post(
        &format!("/api/v1/me/orders/{id}/pay"),
        Some(token),
        json!({ "source": source }),
    )
    .await
}

fn labels(o: &Value) -> Vec<String> {
    o["follow_up"]["history"]
        .as_array()
        .expect("history")
        .iter()
        .map(|h| h["label"].as_str().expect("label").to_owned())
        .collect()
}

async fn mail_kinds(s: &Server, token: &str) -> Vec<String> {
    let (_, v) = s.get("/api/v1/me/emails?limit=100", Some(token)).await;
    v["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|m| m["kind"].as_str().expect("kind").to_owned())
        .collect()
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

async fn today(s: &Server, op: &str) -> jiff::civil::Date {
    let (_, c) = s.get("/api/v1/admin/clock", Some(op)).await;
    let t: jiff::Timestamp = c["now"].as_str().expect("now").parse().expect("instant");
    jiff::tz::TimeZone::UTC.to_datetime(t).date()
}

async fn order_paid_delivered_by_webhook(b: Backend) {
    let rx = Receiver::start().await;
    let w = World::with_env(b, rx.env()).await;
    let s = &w.server;
    let op = s.operator_key();
    catalog(s, &op).await;
    let t = s.customer(&w.smtp, "buyer@example.fr").await;

    let o = order(
        s,
        &t,
        json!([{"plan": "vps-s-monthly", "period": "P1M", "quantity": 1}]),
    )
    .await;
    let id = o["id"].as_str().unwrap().to_owned();
    assert_eq!(o["status"], "not_paid");
    assert_eq!(o["currency"], "EUR");
    // (599 + 1000 setup) × 20 % VAT (French consumer) = 319.8 → 320.
    assert_eq!(o["net_minor"], 1599);
    assert_eq!(o["vat_minor"], 320);
    assert_eq!(o["total_minor"], 1919);
    assert_eq!(o["tax_treatment"], "domestic");
    assert_eq!(o["lines"][0]["vat_rate_bp"], 2000);
    assert_eq!(o["follow_up"]["step"], "validating");
    assert_eq!(o["follow_up"]["step_status"], "todo");
    assert_eq!(o["follow_up"]["action"]["what"], "pay");
    assert!(o["follow_up"]["action"]["due_at"].is_string());

    let source = s.card_token("4242 4242 4242 4242").await;
    let (st, o) = pay(s, &t, &id, &source).await;
    assert_eq!(st, 200, "{o}");
    assert_eq!(o["status"], "delivering");
    assert_eq!(o["follow_up"]["step"], "delivering");
    assert_eq!(o["follow_up"]["step_status"], "doing");
    assert!(o["follow_up"]["action"].is_null());
    assert_eq!(o["payments"][0]["state"], "succeeded");
    assert_eq!(o["payments"][0]["method"], "Visa •••• 4242");

    // The provisioning system receives the signed request.
    let hook = eventually(20, "the delivery webhook", || async {
        rx.of_type("order.delivery_requested").into_iter().next()
    })
    .await;
    assert!(hook.signature_ok, "the signature verifies");
    assert_eq!(hook.body["id"], hook.event_id.as_str());
    assert_eq!(hook.body["data"]["order_id"], id.as_str());
    assert_eq!(hook.body["data"]["lines"][0]["plan"], "vps-s-monthly");

    // It reports back.
    let (st, o) = s
        .post(
            &format!("/api/v1/admin/orders/{id}/delivery"),
            Some(&op),
            json!({"outcome": "done", "services": [{"line": 1, "display_name": "vps-1.example.net", "details": {"ipv4": "192.0.2.10"}}]}),
        )
        .await;
    assert_eq!(st, 200, "{o}");
    assert_eq!(o["status"], "delivered");
    assert_eq!(o["follow_up"]["step"], "available");
    assert_eq!(o["follow_up"]["step_status"], "done");
    // A replayed report changes nothing.
    let (st, again) = s
        .post(
            &format!("/api/v1/admin/orders/{id}/delivery"),
            Some(&op),
            json!({"outcome": "done"}),
        )
        .await;
    assert_eq!((st, &again["status"]), (200, &json!("delivered")));

    let (_, o) = s.get(&format!("/api/v1/me/orders/{id}"), Some(&t)).await;
    assert_eq!(
        labels(&o),
        [
            "order_started",
            "payment_received",
            "fraud_check",
            "delivery_started",
            "delivered"
        ]
    );
    let times: Vec<&str> = o["follow_up"]["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["at"].as_str().unwrap())
        .collect();
    let mut sorted = times.clone();
    sorted.sort();
    assert_eq!(times, sorted, "the history is in order");

    let (_, services) = s.get("/api/v1/me/services", Some(&t)).await;
    let services = services.as_array().unwrap();
    assert_eq!(
        services.len(),
        1,
        "one service, however often delivery is reported"
    );
    let svc = &services[0];
    assert_eq!(svc["state"], "active");
    assert_eq!(svc["display_name"], "vps-1.example.net");
    assert_eq!(svc["details"]["ipv4"], "192.0.2.10");
    assert_eq!(svc["renewal"]["mode"], "automatic");
    let expected = today(s, &op)
        .await
        .saturating_add(jiff::Span::new().months(1));
    assert_eq!(svc["expires_on"], expected.to_string());
    assert_eq!(o["lines"][0]["service_id"], svc["id"]);

    let kinds = mail_kinds(s, &t).await;
    for k in ["order_placed", "order_payment_received", "service_ready"] {
        assert!(kinds.iter().any(|x| x == k), "{k} in {kinds:?}");
    }
    w.smtp
        .wait_for("buyer@example.fr", "vps-1.example.net")
        .await;
    eventually(20, "the service.created webhook", || async {
        rx.of_type("service.created").into_iter().next()
    })
    .await;

    // The operator's log shows each event delivered.
    let (_, log) = s
        .get(&format!("/api/v1/admin/webhooks?subject={id}"), Some(&op))
        .await;
    let ev = &log.as_array().unwrap()[0];
    assert_eq!(ev["type"], "order.delivery_requested");
    assert_eq!(ev["status"], "delivered");
}

async fn webhook_retried_while_receiver_down(b: Backend) {
    let rx = Receiver::start().await;
    rx.set_down(true);
    let w = World::with_env(b, rx.env()).await;
    let s = &w.server;
    let op = s.operator_key();
    catalog(s, &op).await;
    let t = s.customer(&w.smtp, "patient@example.fr").await;
    let o = order(s, &t, json!([{"plan": "vps-s-monthly"}])).await;
    let id = o["id"].as_str().unwrap();
    let (st, _) = pay(s, &t, id, &s.card_token("4242424242424242").await).await;
    assert_eq!(st, 200);

    eventually(20, "a refused delivery", || async {
        (rx.refused() >= 1).then_some(())
    })
    .await;
    // The refusal is recorded once the worker has its answer: wait for the row to say so.
    let ev = eventually(20, "the refusal recorded", || async {
        let (_, log) = s
            .get(&format!("/api/v1/admin/webhooks?subject={id}"), Some(&op))
            .await;
        let ev = log[0].clone();
        (ev["last_error"] == "HTTP 503").then_some(ev)
    })
    .await;
    assert_eq!(ev["status"], "pending");
    let event_id = ev["id"].as_str().unwrap().to_owned();

    // Still down after the first backoff: another attempt fails.
    advance(s, &op, 31).await;
    eventually(20, "a second refused delivery", || async {
        (rx.refused() >= 2).then_some(())
    })
    .await;
    rx.set_down(false);
    advance(s, &op, 3600).await;
    let d = eventually(20, "the delivery after the outage", || async {
        rx.of_type("order.delivery_requested").into_iter().next()
    })
    .await;
    assert_eq!(d.event_id, event_id, "a retry carries the same event id");
    assert!(d.signature_ok);
    // Time passes: nothing is delivered twice.
    advance(s, &op, 86_400).await;
    tokio::time::sleep(std::time::Duration::from_millis(2500)).await;
    let same: Vec<_> = rx
        .deliveries()
        .into_iter()
        .filter(|d| d.event_id == event_id)
        .collect();
    assert_eq!(same.len(), 1, "delivered once");
    let (_, detail) = s
        .get(&format!("/api/v1/admin/webhooks/{event_id}"), Some(&op))
        .await;
    assert_eq!(detail["status"], "delivered");
    let attempts = detail["deliveries"].as_array().unwrap();
    assert!(attempts.len() >= 3, "{detail}");
    assert_eq!(attempts[0]["status_code"], 503);
    assert_eq!(attempts.last().unwrap()["status_code"], 204);

    // An operator's replay sends the same event again, same id and body.
    let (st, _) = s
        .post(
            &format!("/api/v1/admin/webhooks/{event_id}/replay"),
            Some(&op),
            json!({}),
        )
        .await;
    assert_eq!(st, 200);
    let replays = eventually(20, "the replay", || async {
        let v: Vec<_> = rx
            .deliveries()
            .into_iter()
            .filter(|d| d.event_id == event_id)
            .collect();
        (v.len() == 2).then_some(v)
    })
    .await;
    assert_eq!(replays[0].body, replays[1].body);
    let (_, audit) = s.get("/api/v1/admin/audit", Some(&op)).await;
    assert!(
        audit
            .as_array()
            .unwrap()
            .iter()
            .any(|a| a["action"] == "webhook.replay")
    );
}

async fn unpaid_order_expires(b: Backend) {
    let w = World::new(b).await;
    let s = &w.server;
    let op = s.operator_key();
    catalog(s, &op).await;
    let t = s.customer(&w.smtp, "late@example.fr").await;
    let o = order(s, &t, json!([{"plan": "vps-s-monthly"}])).await;
    let id = o["id"].as_str().unwrap();

    // Six days later it is still waiting (the session has long expired: log in again).
    advance(s, &op, 6 * 86_400).await;
    let t = s.login("late@example.fr", PASSWORD).await;
    let (_, o) = s.get(&format!("/api/v1/me/orders/{id}"), Some(&t)).await;
    assert_eq!(o["status"], "not_paid");
    // Past seven days, the clock move itself cancels it.
    advance(s, &op, 86_400 + 60).await;
    let t = s.login("late@example.fr", PASSWORD).await;
    let (_, o) = s.get(&format!("/api/v1/me/orders/{id}"), Some(&t)).await;
    assert_eq!(o["status"], "cancelled", "{o}");
    assert_eq!(labels(&o).last().unwrap(), "expired");
    assert_eq!(o["follow_up"]["step_status"], "error");
    assert!(
        mail_kinds(s, &t)
            .await
            .contains(&"order_expired".to_owned())
    );
    w.smtp.wait_for("late@example.fr", "Commande").await;
    let (st, v) = pay(s, &t, id, &s.card_token("4242424242424242").await).await;
    assert_eq!((st, v["code"].as_str()), (409, Some("order_not_payable")));
    // Expiring again changes nothing: one expiry mail.
    advance(s, &op, 86_400).await;
    let t = s.login("late@example.fr", PASSWORD).await;
    let n = mail_kinds(s, &t)
        .await
        .iter()
        .filter(|k| *k == "order_expired")
        .count();
    assert_eq!(n, 1);
}

fn multipart(message: &str, file_name: &str, bytes: &[u8]) -> (String, Vec<u8>) {
    let boundary = "guichet-test-boundary-7d1f";
    let mut body = Vec::new();
    body.extend_from_slice(
        format!(
            "--{boundary}\r\nContent-Disposition: form-data; name=\"message\"\r\n\r\n{message}\r\n"
        )
        .as_bytes(),
    );
    body.extend_from_slice(
        format!(
            "--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{file_name}\"\r\nContent-Type: application/octet-stream\r\n\r\n"
        )
        .as_bytes(),
    );
    body.extend_from_slice(bytes);
    body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    (format!("multipart/form-data; boundary={boundary}"), body)
}

async fn upload(s: &Server, token: &str, id: &str, name: &str, bytes: &[u8]) -> (u16, Value) {
    let (ct, body) = multipart("Here is my ID card.", name, bytes);
    let r = s
        .client
        .post(s.url(&format!("/api/v1/me/orders/{id}/documents")))
        .bearer_auth(token)
        .header("Content-Type", ct)
        .body(body)
        .send()
        .await
        .expect("upload");
    let st = r.status().as_u16();
    let v = r.json().await.unwrap_or(Value::Null);
    assert!(st < 500, "{st} {v}");
    (st, v)
}

async fn documents_round_trip(b: Backend) {
    let rx = Receiver::start().await;
    let w = World::with_env(b, rx.env()).await;
    let s = &w.server;
    let op = s.operator_key();
    catalog(s, &op).await;
    let t = s.customer(&w.smtp, "docs@example.fr").await;
    let other = s.customer(&w.smtp, "nosy@example.fr").await;
    let o = order(s, &t, json!([{"plan": "vps-s-monthly"}])).await;
    let id = o["id"].as_str().unwrap();
    pay(s, &t, id, &s.card_token("4242424242424242").await).await;

    // Nothing asked yet: an upload is refused.
    let pdf = b"%PDF-1.7\n1 0 obj <<>> endobj\ntrailer <<>>\n%%EOF\n".to_vec();
    let (st, v) = upload(s, &t, id, "id.pdf", &pdf).await;
    assert_eq!(
        (st, v["code"].as_str()),
        (409, Some("documents_not_requested"))
    );

    let (st, o) = s
        .post(
            &format!("/api/v1/admin/orders/{id}/documents-request"),
            Some(&op),
            json!({"instructions": "Send a copy of your ID card.", "due_days": 10}),
        )
        .await;
    assert_eq!(st, 200, "{o}");
    assert_eq!(o["status"], "documents_requested");
    let (_, o) = s.get(&format!("/api/v1/me/orders/{id}"), Some(&t)).await;
    assert_eq!(o["follow_up"]["action"]["what"], "send_documents");
    assert_eq!(
        o["follow_up"]["action"]["instructions"],
        "Send a copy of your ID card."
    );
    assert_eq!(o["follow_up"]["step_status"], "todo");
    w.smtp.wait_for("docs@example.fr", "ID card").await;

    // Wrong type, too large, someone else's order.
    let (st, v) = upload(s, &t, id, "id.exe", b"MZ\x90\x00\x03rest").await;
    assert_eq!(
        (st, v["code"].as_str()),
        (415, Some("unsupported_file_type"))
    );
    let mut big = b"%PDF-1.7\n".to_vec();
    big.resize(6 * 1024 * 1024, b'a');
    let (ct, body) = multipart("too big", "big.pdf", &big);
    // Its own client: the server closes this connection, which must not go back to the pool.
    let sent = reqwest::Client::new()
        .post(s.url(&format!("/api/v1/me/orders/{id}/documents")))
        .bearer_auth(&t)
        .header("Content-Type", ct)
        .body(body)
        .send()
        .await;
    // The server answers 413 as soon as the limit is passed; the client may still be sending
    // and see the connection close instead. Either way nothing is stored (checked below).
    if let Ok(r) = sent {
        assert_eq!(r.status(), 413);
    }
    let (_, o) = s.get(&format!("/api/v1/me/orders/{id}"), Some(&t)).await;
    assert_eq!(o["status"], "documents_requested");
    assert_eq!(o["documents"], json!([]));
    let (st, _) = upload(s, &other, id, "id.pdf", &pdf).await;
    assert_eq!(st, 404);

    let (st, o) = upload(s, &t, id, "../../id card.pdf", &pdf).await;
    assert_eq!(st, 200, "{o}");
    assert_eq!(o["status"], "checking");
    let doc = &o["documents"][0];
    assert_eq!(doc["file_name"], "id card.pdf");
    assert_eq!(doc["content_type"], "application/pdf");
    assert_eq!(doc["message"], "Here is my ID card.");
    let doc_id = doc["id"].as_str().unwrap();
    assert_eq!(labels(&o).last().unwrap(), "documents_received");

    // The owner and operators can read it back; nobody else.
    let path = format!("/api/v1/me/orders/{id}/documents/{doc_id}");
    let r = s
        .client
        .get(s.url(&path))
        .bearer_auth(&t)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(
        r.headers()["content-disposition"]
            .to_str()
            .unwrap()
            .starts_with("attachment")
    );
    assert_eq!(r.bytes().await.unwrap().as_ref(), pdf.as_slice());
    let r = s
        .client
        .get(s.url(&path))
        .bearer_auth(&other)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    let r = s
        .client
        .get(s.url(&format!("/api/v1/admin/orders/{id}/documents/{doc_id}")))
        .bearer_auth(&op)
        .send()
        .await
        .unwrap();
    assert_eq!(r.bytes().await.unwrap().as_ref(), pdf.as_slice());
    // The file lives outside the database, in the data directory.
    let stored = w._db.dir.join("documents").join(doc_id);
    assert_eq!(std::fs::read(stored).unwrap(), pdf);

    // The operator validates: delivery is requested again and completes.
    let (st, o) = s
        .post(
            &format!("/api/v1/admin/orders/{id}/validate"),
            Some(&op),
            json!({}),
        )
        .await;
    assert_eq!((st, &o["status"]), (200, &json!("delivering")));
    eventually(20, "the second delivery request", || async {
        (rx.of_type("order.delivery_requested").len() == 2).then_some(())
    })
    .await;
    let (st, o) = s
        .post(
            &format!("/api/v1/admin/orders/{id}/delivery"),
            Some(&op),
            json!({"outcome": "failed", "reason": "rack full"}),
        )
        .await;
    assert_eq!(st, 200);
    assert_eq!(o["follow_up"]["step_status"], "error");
    let (st, o) = s
        .post(
            &format!("/api/v1/admin/orders/{id}/delivery"),
            Some(&op),
            json!({"outcome": "done"}),
        )
        .await;
    assert_eq!((st, &o["status"]), (200, &json!("delivered")));
    assert_eq!(
        labels(&o),
        [
            "order_started",
            "payment_received",
            "fraud_check",
            "delivery_started",
            "documents_requested",
            "documents_received",
            "delivery_started",
            "delivery_failed",
            "delivered"
        ]
    );
}

async fn payment_outcomes(b: Backend) {
    let w = World::new(b).await;
    let s = &w.server;
    let op = s.operator_key();
    catalog(s, &op).await;
    let t = s.customer(&w.smtp, "payer@example.fr").await;

    // Declined and insufficient funds: the order stays payable, the customer is told.
    let o = order(s, &t, json!([{"plan": "mail-yearly"}])).await;
    let id = o["id"].as_str().unwrap().to_owned();
    for (number, code) in [
        ("4000000000000002", "card_declined"),
        ("4000000000009995", "insufficient_funds"),
    ] {
        let (st, o) = pay(s, &t, &id, &s.card_token(number).await).await;
        assert_eq!(st, 200, "{o}");
        assert_eq!(o["status"], "not_paid");
        assert_eq!(
            o["payments"].as_array().unwrap().last().unwrap()["failure_code"],
            code
        );
        assert_eq!(labels(&o).last().unwrap(), "payment_failed");
        assert_eq!(o["follow_up"]["action"]["what"], "pay");
    }
    assert!(
        mail_kinds(s, &t)
            .await
            .contains(&"order_payment_failed".to_owned())
    );
    let (st, v) = pay(s, &t, &id, "tok_sandbox_unknown").await;
    assert_eq!(
        (st, v["code"].as_str()),
        (422, Some("invalid_payment_source"))
    );
    let (st, v) = s
        .post(&format!("/api/v1/me/orders/{id}/pay"), Some(&t), json!({}))
        .await;
    assert_eq!(
        (st, v["code"].as_str()),
        (422, Some("payment_method_required"))
    );
    // Cards are checked at the gateway's door.
    let (st, v) = s
        .post(
            "/api/v1/sandbox/gateway/tokens",
            None,
            json!({"number": "4242424242424241", "exp_month": 1, "exp_year": 2099, "cvc": "1"}),
        )
        .await;
    assert_eq!((st, v["code"].as_str()), (422, Some("invalid_card_number")));

    // Timeout: the charge was taken but the answer lost. No second charge; the reconciler
    // settles it from the gateway.
    let (st, o) = pay(s, &t, &id, &s.card_token("4000000000000119").await).await;
    assert_eq!(st, 200, "{o}");
    assert_eq!(o["status"], "not_paid");
    assert_eq!(
        o["payments"].as_array().unwrap().last().unwrap()["state"],
        "unknown"
    );
    let (st, v) = pay(s, &t, &id, &s.card_token("4242424242424242").await).await;
    assert_eq!((st, v["code"].as_str()), (409, Some("payment_in_progress")));
    let (st, v) = s
        .post(
            &format!("/api/v1/me/orders/{id}/cancel"),
            Some(&t),
            json!({}),
        )
        .await;
    assert_eq!((st, v["code"].as_str()), (409, Some("payment_in_progress")));
    advance(s, &op, 120).await;
    let (_, o) = s.get(&format!("/api/v1/me/orders/{id}"), Some(&t)).await;
    assert_eq!(o["status"], "delivered", "{o}");
    let succeeded = o["payments"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["state"] == "succeeded")
        .count();
    assert_eq!(succeeded, 1);
    let (st, v) = pay(s, &t, &id, &s.card_token("4242424242424242").await).await;
    assert_eq!((st, v["code"].as_str()), (409, Some("order_not_payable")));

    // Twenty concurrent pays of one order: one charge.
    let o = order(s, &t, json!([{"plan": "mail-yearly"}])).await;
    let id = o["id"].as_str().unwrap().to_owned();
    let source = s.card_token("4242424242424242").await;
    let mut tasks = Vec::new();
    for _ in 0..20 {
        let client = s.client.clone();
        let url = s.url(&format!("/api/v1/me/orders/{id}/pay"));
        let (t, source) = (t.clone(), source.clone());
        tasks.push(tokio::spawn(async move {
            client
                .post(url)
                .bearer_auth(t)
                .json(&json!({ "source": source }))
                .send()
                .await
                .expect("pay")
                .status()
                .as_u16()
        }));
    }
    let mut codes = Vec::new();
    for task in tasks {
        codes.push(task.await.unwrap());
    }
    assert_eq!(codes.iter().filter(|c| **c == 200).count(), 1, "{codes:?}");
    assert!(codes.iter().all(|c| *c == 200 || *c == 409), "{codes:?}");
    let (_, o) = s.get(&format!("/api/v1/me/orders/{id}"), Some(&t)).await;
    assert_eq!(o["payments"].as_array().unwrap().len(), 1);
    assert_eq!(o["status"], "delivered");
}

async fn instant_products_and_cancellation(b: Backend) {
    let w = World::new(b).await;
    let s = &w.server;
    let op = s.operator_key();
    catalog(s, &op).await;
    let t = s.customer(&w.smtp, "instant@example.fr").await;

    // Instant products are delivered by the built-in provisioner as soon as paid.
    let o = order(s, &t, json!([{"plan": "mail-yearly", "quantity": 2}])).await;
    let id = o["id"].as_str().unwrap();
    assert_eq!(o["total_minor"], 2880);
    let (_, o) = pay(s, &t, id, &s.card_token("5555555555554444").await).await;
    assert_eq!(o["status"], "delivered", "{o}");
    let (_, services) = s.get("/api/v1/me/services", Some(&t)).await;
    let services = services.as_array().unwrap();
    assert_eq!(services.len(), 2);
    let expected = today(s, &op)
        .await
        .saturating_add(jiff::Span::new().years(1));
    assert!(
        services
            .iter()
            .all(|x| x["expires_on"] == expected.to_string())
    );
    // No provisioning endpoint configured: the events are logged, not sent.
    let (_, log) = s.get("/api/v1/admin/webhooks", Some(&op)).await;
    assert!(
        log.as_array()
            .unwrap()
            .iter()
            .all(|e| e["status"] == "not_configured")
    );
    // Another customer cannot see the services.
    let other = s.customer(&w.smtp, "other@example.fr").await;
    let sid = services[0]["id"].as_str().unwrap();
    let (st, _) = s
        .get(&format!("/api/v1/me/services/{sid}"), Some(&other))
        .await;
    assert_eq!(st, 404);
    let (st, _) = s.get(&format!("/api/v1/me/services/{sid}"), Some(&t)).await;
    assert_eq!(st, 200);

    // Cancelling: only while unpaid, once.
    let o = order(
        s,
        &t,
        json!([{"plan": "domain-fr", "domain": "Zoe-Martin.fr"}]),
    )
    .await;
    assert_eq!(o["lines"][0]["domain"], "zoe-martin.fr");
    let id = o["id"].as_str().unwrap();
    let (st, o) = s
        .post(
            &format!("/api/v1/me/orders/{id}/cancel"),
            Some(&t),
            json!({}),
        )
        .await;
    assert_eq!((st, &o["status"]), (200, &json!("cancelled")));
    let (st, v) = s
        .post(
            &format!("/api/v1/me/orders/{id}/cancel"),
            Some(&t),
            json!({}),
        )
        .await;
    assert_eq!(
        (st, v["code"].as_str()),
        (409, Some("order_not_cancellable"))
    );
    let (_, list) = s.get("/api/v1/me/orders?status=cancelled", Some(&t)).await;
    assert_eq!(list.as_array().unwrap().len(), 1);
    let (_, list) = s.get("/api/v1/me/orders", Some(&t)).await;
    assert_eq!(list.as_array().unwrap().len(), 2);
}

async fn bad_orders_are_refused(b: Backend) {
    let w = World::new(b).await;
    let s = &w.server;
    let op = s.operator_key();
    catalog(s, &op).await;
    let t = s.customer(&w.smtp, "careful@example.fr").await;
    let other = s.customer(&w.smtp, "intruder@example.fr").await;

    for (lines, code) in [
        (json!([{"plan": "no-such-plan"}]), "unknown_plan"),
        (
            json!([{"plan": "vps-s-monthly", "period": "P1Y"}]),
            "period_unavailable",
        ),
        (
            json!([{"plan": "vps-s-monthly", "quantity": 0}]),
            "invalid_quantity",
        ),
        (
            json!([{"plan": "vps-s-monthly", "quantity": 1_000_000_000_i64}]),
            "invalid_quantity",
        ),
        (
            json!([{"plan": "vps-s-monthly", "quantity": -3}]),
            "invalid_quantity",
        ),
        (json!([{"plan": "vps-usd"}]), "currency_unavailable"),
        (json!([{"plan": "domain-fr"}]), "domain_required"),
        (
            json!([{"plan": "domain-fr", "domain": "not a domain"}]),
            "invalid_domain",
        ),
        (
            json!([{"plan": "vps-s-monthly", "domain": "example.fr"}]),
            "option_not_allowed",
        ),
        (json!([]), "invalid_lines"),
    ] {
        let (st, v) = s
            .post("/api/v1/me/orders", Some(&t), json!({ "lines": lines }))
            .await;
        assert_eq!((st, v["code"].as_str()), (422, Some(code)), "{lines}: {v}");
    }
    let (st, v) = s
        .post(
            "/api/v1/me/orders",
            Some(&t),
            json!({"lines": [{"plan": "vps-s-monthly"}], "currency": "USD"}),
        )
        .await;
    assert_eq!((st, v["code"].as_str()), (422, Some("currency_mismatch")));
    let (st, v) = s
        .post(
            "/api/v1/me/orders",
            Some(&t),
            json!({"lines": [{"plan": "nope"}, {"plan": "vps-s-monthly", "quantity": 0}]}),
        )
        .await;
    assert_eq!(st, 422);
    let fields: Vec<&str> = v["fields"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["field"].as_str().unwrap())
        .collect();
    assert_eq!(fields, ["lines[0].plan", "lines[1].quantity"]);
    let (st, _) = s
        .post(
            "/api/v1/me/orders",
            Some(&t),
            json!({"lines": [{"plan": "vps-s-monthly", "colour": "red"}]}),
        )
        .await;
    assert!(st == 400 || st == 422, "{st}");
    let r = s
        .client
        .post(s.url("/api/v1/me/orders"))
        .bearer_auth(&t)
        .header("Content-Type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let (st, _) = s
        .post(
            "/api/v1/me/orders",
            None,
            json!({"lines": [{"plan": "vps-s-monthly"}]}),
        )
        .await;
    assert_eq!(st, 401);

    // Nothing was written by the refused orders.
    let (_, list) = s.get("/api/v1/me/orders", Some(&t)).await;
    assert_eq!(list, json!([]));

    // Someone else's order is not found, whatever the verb.
    let o = order(s, &t, json!([{"plan": "vps-s-monthly"}])).await;
    let id = o["id"].as_str().unwrap();
    let source = s.card_token("4242424242424242").await;
    let (st, _) = s
        .get(&format!("/api/v1/me/orders/{id}"), Some(&other))
        .await;
    assert_eq!(st, 404);
    let (st, _) = pay(s, &other, id, &source).await;
    assert_eq!(st, 404);
    let (st, _) = s
        .post(
            &format!("/api/v1/me/orders/{id}/cancel"),
            Some(&other),
            json!({}),
        )
        .await;
    assert_eq!(st, 404);
    let (st, _) = s.get("/api/v1/me/orders/not-an-id", Some(&t)).await;
    assert_eq!(st, 404);
    let (st, v) = s.get("/api/v1/me/orders?status=bogus", Some(&t)).await;
    assert_eq!((st, v["code"].as_str()), (422, Some("invalid_status")));
    // Operators' delivery report on an unpaid order, and a bad outcome.
    let (st, v) = s
        .post(
            &format!("/api/v1/admin/orders/{id}/delivery"),
            Some(&op),
            json!({"outcome": "done"}),
        )
        .await;
    assert_eq!(
        (st, v["code"].as_str()),
        (409, Some("order_not_delivering"))
    );
    let (st, _) = s
        .post(
            &format!("/api/v1/admin/orders/{id}/delivery"),
            Some(&op),
            json!({"outcome": "maybe"}),
        )
        .await;
    assert_eq!(st, 422);
    let (st, _) = s
        .post(
            &format!("/api/v1/admin/orders/{id}/delivery"),
            Some(&t),
            json!({"outcome": "done"}),
        )
        .await;
    assert_eq!(st, 401);
    // The order is untouched and still payable by its owner.
    let (st, o) = pay(s, &t, id, &source).await;
    assert_eq!((st, &o["status"]), (200, &json!("delivering")));
}

async fn paid_orders_are_credited_before_cancelled(b: Backend) {
    let w = World::new(b).await;
    let s = &w.server;
    let op = s.operator_key();
    catalog(s, &op).await;
    let t = s.customer(&w.smtp, "refused@example.fr").await;
    let o = order(s, &t, json!([{"plan": "vps-s-monthly"}])).await;
    let id = o["id"].as_str().unwrap();
    let (st, o) = pay(s, &t, id, &s.card_token("4242424242424242").await).await;
    assert_eq!((st, &o["status"]), (200, &json!("delivering")));
    let cancel = format!("/api/v1/admin/orders/{id}/cancel");
    let (st, v) = s
        .post(&cancel, Some(&op), json!({"reason": "fraud suspected"}))
        .await;
    assert_eq!(
        (st, v["code"].as_str()),
        (409, Some("credit_invoice_first"))
    );
    let (_, page) = s.get("/api/v1/me/invoices", Some(&t)).await;
    let inv = page["items"][0]["id"].as_str().unwrap();
    let (st, cn) = s
        .post(
            &format!("/api/v1/admin/invoices/{inv}/credit-notes"),
            Some(&op),
            json!({"reason": "Order refused"}),
        )
        .await;
    assert_eq!((st, &cn["refund"]["state"]), (201, &json!("succeeded")));
    let (st, o) = s
        .post(&cancel, Some(&op), json!({"reason": "fraud suspected"}))
        .await;
    assert_eq!((st, &o["status"]), (200, &json!("cancelled")), "{o}");
    // A failure report on a cancelled order is refused, not recorded.
    let (st, v) = s
        .post(
            &format!("/api/v1/admin/orders/{id}/delivery"),
            Some(&op),
            json!({"outcome": "failed", "reason": "late"}),
        )
        .await;
    assert_eq!(
        (st, v["code"].as_str()),
        (409, Some("order_not_delivering"))
    );
}

async fn order_floods_are_slowed(b: Backend) {
    let w = World::new(b).await;
    let s = &w.server;
    let op = s.operator_key();
    catalog(s, &op).await;
    let t = s.customer(&w.smtp, "script@example.fr").await;
    let other = s.customer(&w.smtp, "calm@example.fr").await;
    // Thirty free orders an hour; past them, each one makes the next wait (1 s, then more).
    for _ in 0..31 {
        order(s, &t, json!([{"plan": "vps-s-monthly"}])).await;
    }
    let r = s
        .client
        .post(s.url("/api/v1/me/orders"))
        .bearer_auth(&t)
        .json(&json!({"lines": [{"plan": "vps-s-monthly"}]}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 429);
    assert!(r.headers().get("retry-after").is_some());
    // Another account is not affected.
    order(s, &other, json!([{"plan": "vps-s-monthly"}])).await;
}

/// A process wrote a pending payment and was killed (or is merely slow) before its charge
/// reached the gateway. The reconciler must not take "no record at the gateway" as "never
/// charged" while that charge may still land: it sends the same charge under the same key,
/// so the order is paid once, whichever of the two arrives first.
async fn payment_killed_before_its_charge_is_charged_once(b: Backend) {
    sqlx::any::install_default_drivers();
    let w = World::new(b).await;
    let s = &w.server;
    let op = s.operator_key();
    catalog(s, &op).await;
    let t = s.customer(&w.smtp, "killed@example.fr").await;
    let o = order(s, &t, json!([{"plan": "mail-yearly"}])).await;
    let id = o["id"].as_str().expect("id").to_owned();
    let token = s.card_token("4242424242424242").await;
    let (_, clock) = s.get("/api/v1/admin/clock", Some(&op)).await;
    let now: jiff::Timestamp = clock["now"]
        .as_str()
        .expect("now")
        .parse()
        .expect("instant");
    let now = now.as_millisecond();
    let key = format!("pay:{id}:killed");
    let mut c = <sqlx::AnyConnection as sqlx::Connection>::connect(&w._db.url)
        .await
        .expect("db");
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "INSERT INTO payments (id, account_id, order_id, amount_minor, currency, state, gateway, \
         idempotency_key, source, created_at, updated_at) \
         SELECT '01900000-0000-7000-8000-00000000c0de', account_id, id, total_minor, currency, \
         'pending', 'sandbox', '{key}', '{token}', {now}, {now} FROM orders WHERE id = '{id}'"
    )))
    .execute(&mut c)
    .await
    .expect("pending payment");

    // Past the reconciler's wait and the gateway's grace: the charge is sent, once.
    advance(s, &op, 20 * 60).await;
    let o = eventually(30, "the payment reconciled", || async {
        let (_, o) = s.get(&format!("/api/v1/me/orders/{id}"), Some(&t)).await;
        (o["payments"][0]["state"] != "pending").then_some(o)
    })
    .await;
    assert_eq!(o["payments"][0]["state"], "succeeded", "{o}");
    assert_eq!(o["payments"].as_array().expect("payments").len(), 1, "{o}");
    assert_ne!(o["status"], "not_paid", "{o}");
    let charges: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
        "SELECT COUNT(*) FROM sandbox_charges WHERE idempotency_key = '{key}'"
    )))
    .fetch_one(&mut c)
    .await
    .expect("charges");
    assert_eq!(charges, 1, "one charge at the gateway");
}

/// Order numbers come from a counter per year: consecutive orders of any customers get
/// consecutive numbers (`{year}` and nine digits), and a new year starts again at 1.
async fn order_numbers_follow_each_other(b: Backend) {
    let w = World::new(b).await;
    let s = &w.server;
    let op = s.operator_key();
    catalog(s, &op).await;
    let ana = s.customer(&w.smtp, "ana.numbers@example.fr").await;
    let bob = s.customer(&w.smtp, "bob.numbers@example.fr").await;
    let line = json!([{"plan": "vps-s-monthly", "period": "P1M", "quantity": 1}]);
    let mut numbers = Vec::new();
    for t in [&ana, &bob, &ana] {
        let o = order(s, t, line.clone()).await;
        numbers.push(o["number"].as_str().expect("number").to_owned());
    }
    let year = today(s, &op).await.year();
    for n in &numbers {
        assert_eq!(n.len(), 13, "{numbers:?}");
        assert!(n.starts_with(&year.to_string()), "{numbers:?}");
    }
    let seq: Vec<u64> = numbers
        .iter()
        .map(|n| n[4..].parse().expect("digits"))
        .collect();
    assert_eq!(seq[0], 1, "the year's first order: {numbers:?}");
    assert_eq!(seq, vec![seq[0], seq[0] + 1, seq[0] + 2], "{numbers:?}");

    // The next year starts again at 1.
    let next = jiff::civil::date(year + 1, 1, 1);
    let days = (next - today(s, &op).await).get_days();
    advance(s, &op, i64::from(days) * 86_400 + 3_600).await;
    let bob = s.login("bob.numbers@example.fr", PASSWORD).await;
    let o = order(s, &bob, line).await;
    assert_eq!(o["number"], format!("{}000000001", year + 1), "{o}");
}
