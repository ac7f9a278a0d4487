//! Invoices: issued once per paid order with gapless numbers (also under concurrent payments),
//! frozen seller and buyer data, VAT treatments (domestic, reverse charge), credit notes, date
//! filters and pages, CSV export, isolation between accounts; and `Idempotency-Key` replays.

use crate::both_backends;
use crate::harness::{Backend, PASSWORD, Server, World, signup_body};
use serde_json::{Value, json};

both_backends!(
    partial_credits_and_refunds,
    invoices_follow_payments,
    gapless_under_concurrent_payments,
    reverse_charge_for_eu_companies,
    idempotency_keys_replay,
);

async fn buy(s: &Server, t: &str) -> Value {
    let (st, o) = s
        .post(
            "/api/v1/me/orders",
            Some(t),
            json!({"lines": [{"plan": "mail-yearly"}]}),
        )
        .await;
    assert_eq!(st, 201, "{o}");
    let id = o["id"].as_str().unwrap();
    let source = s.card_token("4242424242424242").await;
    let (st, o) = s
        .post(
            &format!("/api/v1/me/orders/{id}/pay"),
            Some(t),
            json!({ "source": source }),
        )
        .await;
    assert_eq!(st, 200, "{o}");
    o
}

fn year_of(s: &str) -> &str {
    &s[..4]
}

async fn invoices_follow_payments(b: Backend) {
    let w = World::new(b).await;
    let s = &w.server;
    let op = s.operator_key();
    s.mail_plan(&op, json!({"EUR": 1200})).await;
    let t = s.customer(&w.smtp, "billed@example.fr").await;
    let other = s.customer(&w.smtp, "someone@example.fr").await;

    // An unpaid order has no invoice.
    let (_, o) = s
        .post(
            "/api/v1/me/orders",
            Some(&t),
            json!({"lines": [{"plan": "mail-yearly"}]}),
        )
        .await;
    let (_, page) = s.get("/api/v1/me/invoices", Some(&t)).await;
    assert_eq!(page["items"], json!([]));
    let unpaid = o["id"].as_str().unwrap();

    let o = buy(s, &t).await;
    let (_, page) = s.get("/api/v1/me/invoices", Some(&t)).await;
    let items = page["items"].as_array().unwrap();
    assert_eq!(items.len(), 1);
    let inv = &items[0];
    let year = year_of(inv["issue_date"].as_str().unwrap()).to_owned();
    assert_eq!(inv["number"], format!("GC{year}-000001"));
    assert_eq!(inv["order_id"], o["id"]);
    assert_eq!(inv["total_minor"], 1440);
    assert_eq!(inv["vat_minor"], 240);
    let id = inv["id"].as_str().unwrap();

    let (st, v) = s.get(&format!("/api/v1/me/invoices/{id}"), Some(&t)).await;
    assert_eq!(st, 200);
    let d = &v["document"];
    assert_eq!(d["seller"]["country"], "FR");
    assert!(d["seller"]["vat_number"].is_string());
    assert_eq!(d["buyer"]["name"], "Zoé Martin");
    assert_eq!(d["buyer"]["city"], "Lyon");
    assert_eq!(d["lines"][0]["vat_rate_bp"], 2000);
    assert_eq!(d["totals_per_rate"][0]["vat_minor"], 240);
    assert_eq!(d["payment"]["method"], "Visa •••• 4242");
    assert_eq!(d["payment"]["amount_minor"], 1440);
    assert_eq!(d["tax_treatment"], "domestic");
    assert_eq!(d["order_number"], o["number"]);

    // Frozen: a later profile change does not alter the issued invoice.
    let (st, _) = s
        .call(
            "PATCH",
            "/api/v1/me",
            Some(&t),
            Some(json!({"city": "Paris"})),
        )
        .await;
    assert_eq!(st, 200);
    let (_, v) = s.get(&format!("/api/v1/me/invoices/{id}"), Some(&t)).await;
    assert_eq!(v["document"]["buyer"]["city"], "Lyon");

    // Another account sees nothing.
    let (st, _) = s
        .get(&format!("/api/v1/me/invoices/{id}"), Some(&other))
        .await;
    assert_eq!(st, 404);
    let (_, page) = s.get("/api/v1/me/invoices", Some(&other)).await;
    assert_eq!(page["items"], json!([]));
    w.smtp
        .wait_for("billed@example.fr", &format!("GC{year}-000001"))
        .await;

    // A credit note, once.
    let (st, cn) = s
        .post(
            &format!("/api/v1/admin/invoices/{id}/credit-notes"),
            Some(&op),
            json!({"reason": "Commercial gesture"}),
        )
        .await;
    assert_eq!(st, 201, "{cn}");
    assert_eq!(cn["kind"], "credit_note");
    assert_eq!(cn["number"], format!("GCAV{year}-000001"));
    assert_eq!(
        cn["document"]["credited_invoice_number"],
        format!("GC{year}-000001")
    );
    assert_eq!(cn["total_minor"], 1440);
    let (st, v) = s
        .post(
            &format!("/api/v1/admin/invoices/{id}/credit-notes"),
            Some(&op),
            json!({"reason": "again"}),
        )
        .await;
    assert_eq!((st, v["code"].as_str()), (409, Some("already_credited")));
    let (_, notes) = s.get("/api/v1/me/credit-notes", Some(&t)).await;
    assert_eq!(notes["items"].as_array().unwrap().len(), 1);
    let (_, notes) = s.get("/api/v1/me/credit-notes", Some(&other)).await;
    assert_eq!(notes["items"], json!([]));

    // The CSV export has both documents, amounts as decimals.
    let r = s
        .client
        .get(s.url("/api/v1/me/invoices/export.csv"))
        .bearer_auth(&t)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(
        r.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/csv")
    );
    let csv = r.text().await.unwrap();
    let rows: Vec<&str> = csv.lines().collect();
    assert_eq!(rows.len(), 3, "{csv}");
    assert!(rows[0].starts_with("number,kind,issue_date"));
    assert!(csv.contains(&format!("\"GC{year}-000001\",\"invoice\"")));
    assert!(csv.contains("\"14.40\""));
    assert!(csv.contains(&format!("\"GCAV{year}-000001\",\"credit_note\"")));

    // Date filters.
    let (_, page) = s
        .get(
            &format!(
                "/api/v1/me/invoices?from={}-01-01",
                year.parse::<i32>().unwrap() + 1
            ),
            Some(&t),
        )
        .await;
    assert_eq!(page["items"], json!([]));
    let (_, page) = s
        .get(
            &format!("/api/v1/me/invoices?from={year}-01-01&to={year}-12-31"),
            Some(&t),
        )
        .await;
    assert_eq!(page["items"].as_array().unwrap().len(), 1);
    let (st, v) = s.get("/api/v1/me/invoices?from=yesterday", Some(&t)).await;
    assert_eq!((st, v["code"].as_str()), (422, Some("invalid_date")));

    // The unpaid order still has none; the customer's follow-up is untouched by invoicing.
    let (_, o) = s
        .get(&format!("/api/v1/me/orders/{unpaid}"), Some(&t))
        .await;
    assert_eq!(o["status"], "not_paid");
    let (_, page) = s.get("/api/v1/admin/invoices", Some(&op)).await;
    assert_eq!(page["items"].as_array().unwrap().len(), 1);
}

async fn gapless_under_concurrent_payments(b: Backend) {
    let w = World::new(b).await;
    let s = &w.server;
    let op = s.operator_key();
    s.mail_plan(&op, json!({"EUR": 1200})).await;
    let t = s.customer(&w.smtp, "many@example.fr").await;
    let declined = {
        let (_, v) = s
            .post(
                "/api/v1/sandbox/gateway/tokens",
                None,
                json!({"number": "4000000000000002", "exp_month": 12, "exp_year": 2099, "cvc": "123"}),
            )
            .await;
        v["token"].as_str().unwrap().to_owned()
    };
    let mut orders = Vec::new();
    for _ in 0..12 {
        let (_, o) = s
            .post(
                "/api/v1/me/orders",
                Some(&t),
                json!({"lines": [{"plan": "mail-yearly"}]}),
            )
            .await;
        orders.push(o["id"].as_str().unwrap().to_owned());
    }
    let good = s.card_token("4242424242424242").await;
    // Twelve orders paid at once, with declined attempts mixed in: no number is lost.
    let mut tasks = Vec::new();
    for (i, id) in orders.iter().enumerate() {
        for source in [declined.clone(), good.clone()] {
            let client = s.client.clone();
            let url = s.url(&format!("/api/v1/me/orders/{id}/pay"));
            let t = t.clone();
            tasks.push(tokio::spawn(async move {
                if i % 2 == 0 {
                    tokio::task::yield_now().await;
                }
                client
                    .post(url)
                    .bearer_auth(t)
                    .json(&json!({ "source": source }))
                    .send()
                    .await
                    .unwrap()
                    .status()
                    .as_u16()
            }));
        }
    }
    for task in tasks {
        let st = task.await.unwrap();
        assert!(st == 200 || st == 409, "{st}");
    }
    // Orders whose good payment lost the race to a declined one are paid now.
    let source = s.card_token("4242424242424242").await;
    for id in &orders {
        let (_, o) = s.get(&format!("/api/v1/me/orders/{id}"), Some(&t)).await;
        if o["status"] == "not_paid" {
            let (st, v) = s
                .post(
                    &format!("/api/v1/me/orders/{id}/pay"),
                    Some(&t),
                    json!({ "source": source }),
                )
                .await;
            assert_eq!(st, 200, "{v}");
        }
    }
    let (_, page) = s.get("/api/v1/me/invoices?limit=5", Some(&t)).await;
    let mut numbers: Vec<String> = Vec::new();
    let mut page = page;
    let mut pages = 0;
    loop {
        pages += 1;
        for i in page["items"].as_array().unwrap() {
            numbers.push(i["number"].as_str().unwrap().to_owned());
        }
        let Some(cursor) = page["next_cursor"].as_str() else {
            break;
        };
        let (_, next) = s
            .get(
                &format!("/api/v1/me/invoices?limit=5&before={cursor}"),
                Some(&t),
            )
            .await;
        page = next;
    }
    assert_eq!(pages, 3, "12 invoices by 5");
    let mut seqs: Vec<u32> = numbers
        .iter()
        .map(|n| n.rsplit('-').next().unwrap().parse().unwrap())
        .collect();
    seqs.sort();
    assert_eq!(seqs, (1..=12).collect::<Vec<u32>>(), "{numbers:?}");
}

async fn reverse_charge_for_eu_companies(b: Backend) {
    let w = World::new(b).await;
    let s = &w.server;
    let op = s.operator_key();
    s.mail_plan(&op, json!({"EUR": 1200})).await;
    let mut body = signup_body("compta@example.de");
    body["kind"] = json!("company");
    body["organisation"] = json!("Beispiel GmbH");
    body["country"] = json!("DE");
    body["city"] = json!("Berlin");
    // A VAT number with wrong check digits is refused at sign-up.
    body["vat_number"] = json!("DE 811 363 058");
    let (st, v) = s.post("/api/v1/signup", None, body.clone()).await;
    assert_eq!(
        (st, v["code"].as_str()),
        (422, Some("vat_check_digits")),
        "{v}"
    );
    body["vat_number"] = json!("DE 811 363 057");
    let (st, v) = s.post("/api/v1/signup", None, body).await;
    assert_eq!(st, 201, "{v}");
    let tok = w
        .smtp
        .wait_for_token("compta@example.de", "/verify-email?token=")
        .await;
    s.post("/api/v1/auth/verify-email", None, json!({"token": tok}))
        .await;
    let t = s.login("compta@example.de", PASSWORD).await;
    let o = buy(s, &t).await;
    assert_eq!(o["tax_treatment"], "reverse_charge");
    assert_eq!(o["vat_minor"], 0);
    assert_eq!(o["total_minor"], 1200);
    let (_, page) = s.get("/api/v1/me/invoices", Some(&t)).await;
    let id = page["items"][0]["id"].as_str().unwrap().to_owned();
    let (_, v) = s.get(&format!("/api/v1/me/invoices/{id}"), Some(&t)).await;
    let mentions = v["document"]["mentions"].as_array().unwrap();
    assert!(
        mentions.iter().any(|m| m.as_str().unwrap().contains("196")),
        "{mentions:?}"
    );
    assert_eq!(v["document"]["buyer"]["vat_number"], "DE811363057");
    assert_eq!(v["document"]["buyer"]["organisation"], "Beispiel GmbH");

    // A VAT number from another country than the company's address: VAT is charged.
    let mut body = signup_body("mismatch@example.de");
    body["kind"] = json!("company");
    body["organisation"] = json!("Andere GmbH");
    body["country"] = json!("DE");
    body["vat_number"] = json!("FR40303265045");
    let (st, v) = s.post("/api/v1/signup", None, body).await;
    assert_eq!(st, 201, "{v}");
    let tok = w
        .smtp
        .wait_for_token("mismatch@example.de", "/verify-email?token=")
        .await;
    s.post("/api/v1/auth/verify-email", None, json!({"token": tok}))
        .await;
    let t = s.login("mismatch@example.de", PASSWORD).await;
    let (_, o) = s
        .post(
            "/api/v1/me/orders",
            Some(&t),
            json!({"lines": [{"plan": "mail-yearly"}]}),
        )
        .await;
    assert_eq!(o["tax_treatment"], "oss");
    assert_eq!(o["vat_minor"], 228);
}

async fn idempotency_keys_replay(b: Backend) {
    let w = World::new(b).await;
    let s = &w.server;
    let op = s.operator_key();
    s.mail_plan(&op, json!({"EUR": 1200})).await;
    let t = s.customer(&w.smtp, "retry@example.fr").await;
    let post = |path: String, key: &'static str, body: Value| {
        let r = s
            .client
            .post(s.url(&path))
            .bearer_auth(&t)
            .header("Idempotency-Key", key)
            .json(&body);
        async move {
            let r = r.send().await.unwrap();
            let replayed = r.headers().get("idempotent-replayed").is_some();
            let st = r.status().as_u16();
            (st, replayed, r.json::<Value>().await.unwrap())
        }
    };
    let body = json!({"lines": [{"plan": "mail-yearly"}]});
    let (st, replayed, first) = post("/api/v1/me/orders".into(), "order-1", body.clone()).await;
    assert_eq!((st, replayed), (201, false));
    let (st, replayed, second) = post("/api/v1/me/orders".into(), "order-1", body.clone()).await;
    assert_eq!((st, replayed), (201, true));
    assert_eq!(
        first["id"], second["id"],
        "the same order, not a second one"
    );
    let (_, list) = s.get("/api/v1/me/orders", Some(&t)).await;
    assert_eq!(list.as_array().unwrap().len(), 1);
    let (st, _, v) = post(
        "/api/v1/me/orders".into(),
        "order-1",
        json!({"lines": [{"plan": "mail-yearly", "quantity": 2}]}),
    )
    .await;
    assert_eq!(
        (st, v["code"].as_str()),
        (422, Some("idempotency_key_reused"))
    );

    let id = first["id"].as_str().unwrap();
    let source = s.card_token("4242424242424242").await;
    let pay = format!("/api/v1/me/orders/{id}/pay");
    let (st, replayed, paid) = post(pay.clone(), "pay-1", json!({ "source": source })).await;
    assert_eq!((st, replayed), (200, false), "{paid}");
    // The client lost the answer and retries: the stored answer, no second charge, no 409.
    let (st, replayed, again) = post(pay.clone(), "pay-1", json!({ "source": source })).await;
    assert_eq!((st, replayed), (200, true));
    assert_eq!(again["payments"], paid["payments"]);
    // Without the key, paying again is refused.
    let (st, v) = s.post(&pay, Some(&t), json!({ "source": source })).await;
    assert_eq!((st, v["code"].as_str()), (409, Some("order_not_payable")));
    // Keys are per account: another customer's same key runs afresh.
    let other = s.customer(&w.smtp, "retry2@example.fr").await;
    let r = s
        .client
        .post(s.url("/api/v1/me/orders"))
        .bearer_auth(&other)
        .header("Idempotency-Key", "order-1")
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    assert!(r.headers().get("idempotent-replayed").is_none());
    let (_, page) = s.get("/api/v1/me/invoices", Some(&t)).await;
    assert_eq!(page["items"].as_array().unwrap().len(), 1);
}

async fn partial_credits_and_refunds(b: Backend) {
    let w = World::new(b).await;
    let s = &w.server;
    let op = s.operator_key();
    s.mail_plan(&op, json!({"EUR": 1200})).await;
    let t = s.customer(&w.smtp, "refund@example.fr").await;
    buy(s, &t).await;
    let (_, page) = s.get("/api/v1/me/invoices", Some(&t)).await;
    let inv = page["items"][0]["id"].as_str().unwrap().to_owned();
    let credit = |body: Value| {
        let path = format!("/api/v1/admin/invoices/{inv}/credit-notes");
        let op = op.clone();
        async move { s.post(&path, Some(&op), body).await }
    };
    // 4.40 of 14.40 back: 3.67 net + 0.73 VAT at 20 %, refunded on the card.
    let (st, cn) = credit(json!({"reason": "Outage compensation", "amount_minor": 440})).await;
    assert_eq!(st, 201, "{cn}");
    assert_eq!(cn["total_minor"], 440);
    assert_eq!(cn["net_minor"], 367);
    assert_eq!(cn["vat_minor"], 73);
    assert_eq!(cn["document"]["lines"].as_array().unwrap().len(), 1);
    assert_eq!(cn["refund"]["state"], "succeeded");
    assert_eq!(cn["refund"]["amount_minor"], 440);
    let year = &cn["issue_date"].as_str().unwrap()[..4];
    assert_eq!(cn["number"], format!("GCAV{year}-000001"));
    // More than what is left is refused; nothing is numbered for it.
    let (st, v) = credit(json!({"reason": "too much", "amount_minor": 1001})).await;
    assert_eq!(
        (st, v["code"].as_str()),
        (422, Some("invalid_credit_amount"))
    );
    let (st, _) = credit(json!({"reason": "zero", "amount_minor": 0})).await;
    assert_eq!(st, 422);
    // The rest, without naming an amount.
    let (st, cn) = credit(json!({"reason": "Cancelled"})).await;
    assert_eq!(st, 201, "{cn}");
    assert_eq!(cn["total_minor"], 1000);
    assert_eq!(
        cn["number"],
        format!("GCAV{year}-000002"),
        "gapless: the refused one took no number"
    );
    assert_eq!(cn["refund"]["state"], "succeeded");
    let (st, v) = credit(json!({"reason": "again"})).await;
    assert_eq!((st, v["code"].as_str()), (409, Some("already_credited")));

    // Without a refund (a commercial gesture kept as credit, for example).
    buy(s, &t).await;
    let (_, page) = s.get("/api/v1/me/invoices", Some(&t)).await;
    let second = page["items"][0]["id"].as_str().unwrap().to_owned();
    let (st, cn) = s
        .post(
            &format!("/api/v1/admin/invoices/{second}/credit-notes"),
            Some(&op),
            json!({"reason": "No refund", "amount_minor": 100, "refund": false}),
        )
        .await;
    assert_eq!(st, 201);
    assert!(cn["refund"].is_null());
    // The customer sees the credit notes and their refunds.
    let (_, notes) = s.get("/api/v1/me/credit-notes", Some(&t)).await;
    assert_eq!(notes["items"].as_array().unwrap().len(), 3);
    let first = notes["items"].as_array().unwrap().last().unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let (_, v) = s
        .get(&format!("/api/v1/me/invoices/{first}"), Some(&t))
        .await;
    assert_eq!(v["refund"]["state"], "succeeded");
    // A customer cannot credit.
    let (st, _) = s
        .post(
            &format!("/api/v1/admin/invoices/{second}/credit-notes"),
            Some(&t),
            json!({"reason": "me"}),
        )
        .await;
    assert_eq!(st, 401);
}
