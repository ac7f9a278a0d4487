//! Payment methods: cards (tokens), SEPA direct debit (IBAN checked, mandate), bank transfer
//! (IBAN and reference shown, an operator marks it received); one default, used when a pay
//! names none; statuses that follow the clock; failures marking the method; another account's
//! method is a 404. Invoice PDFs and the ZIP of a date range.

use crate::both_backends;
use crate::harness::{Backend, PASSWORD, Server, World};
use serde_json::{Value, json};

both_backends!(
    cards_sepa_and_defaults,
    bank_transfer_round_trip,
    card_statuses_follow_the_clock,
    invoice_pdfs_and_zip,
);

async fn add(s: &Server, t: &str, body: Value) -> (u16, Value) {
    s.post("/api/v1/me/payment-methods", Some(t), body).await
}

async fn new_order(s: &Server, t: &str) -> String {
    let (st, o) = s
        .post(
            "/api/v1/me/orders",
            Some(t),
            json!({"lines": [{"plan": "mail-yearly"}]}),
        )
        .await;
    assert_eq!(st, 201, "{o}");
    o["id"].as_str().unwrap().to_owned()
}

async fn cards_sepa_and_defaults(b: Backend) {
    let w = World::new(b).await;
    let s = &w.server;
    let op = s.operator_key();
    s.mail_plan(&op, json!({"EUR": 1200})).await;
    let t = s.customer(&w.smtp, "wallet@example.fr").await;
    let other = s.customer(&w.smtp, "thief@example.fr").await;

    // Nothing registered: paying without a method is refused with a clear code.
    let id = new_order(s, &t).await;
    let (st, v) = s
        .post(&format!("/api/v1/me/orders/{id}/pay"), Some(&t), json!({}))
        .await;
    assert_eq!(
        (st, v["code"].as_str()),
        (422, Some("payment_method_required"))
    );

    let tok = s.card_token("4242424242424242").await;
    let (st, card) = add(s, &t, json!({"kind": "card", "token": tok})).await;
    assert_eq!(st, 201, "{card}");
    assert_eq!(card["label"], "Visa •••• 4242");
    assert_eq!(card["status"], "valid");
    assert_eq!(card["is_default"], true, "the first method is the default");
    assert!(card.get("token").is_none(), "the token is never shown");
    let card_id = card["id"].as_str().unwrap().to_owned();

    for (iban, code) in [
        ("DE89 3704 0044 0532 0130 01", "iban_check_digits"),
        ("US12 3456 7890", "iban_country_not_sepa"),
    ] {
        let (st, v) = add(
            s,
            &t,
            json!({"kind": "sepa_debit", "iban": iban, "holder_name": "Zoé Martin"}),
        )
        .await;
        assert_eq!((st, v["code"].as_str()), (422, Some(code)), "{v}");
    }
    let (st, v) = add(
        s,
        &t,
        json!({"kind": "sepa_debit", "iban": "DE89370400440532013000"}),
    )
    .await;
    assert_eq!(
        (st, v["code"].as_str()),
        (422, Some("holder_name_required"))
    );
    let (st, sepa) = add(
        s,
        &t,
        json!({"kind": "sepa_debit", "iban": "de89 3704 0044 0532 0130 00", "holder_name": "Zoé Martin"}),
    )
    .await;
    assert_eq!(st, 201, "{sepa}");
    assert_eq!(sepa["iban_masked"], "DE89 •••• 3000");
    assert!(
        sepa["mandate_reference"]
            .as_str()
            .unwrap()
            .starts_with("GC-")
    );
    assert!(sepa["mandate_signed_at"].is_string());
    assert_eq!(sepa["is_default"], false);
    let sepa_id = sepa["id"].as_str().unwrap().to_owned();
    let (st, v) = add(s, &t, json!({"kind": "bank_transfer"})).await;
    assert_eq!(
        (st, v["code"].as_str()),
        (422, Some("bank_transfer_unavailable"))
    );
    let (st, _) = add(s, &t, json!({"kind": "cheque"})).await;
    assert_eq!(st, 422);

    // Another account: not found, whatever the verb.
    let (st, _) = s
        .call(
            "DELETE",
            &format!("/api/v1/me/payment-methods/{card_id}"),
            Some(&other),
            None,
        )
        .await;
    assert_eq!(st, 404);
    let (st, _) = s
        .post(
            &format!("/api/v1/me/payment-methods/{card_id}/default"),
            Some(&other),
            json!({}),
        )
        .await;
    assert_eq!(st, 404);
    let oid = new_order(s, &other).await;
    let (st, v) = s
        .post(
            &format!("/api/v1/me/orders/{oid}/pay"),
            Some(&other),
            json!({"payment_method_id": card_id}),
        )
        .await;
    assert_eq!(
        (st, v["code"].as_str()),
        (422, Some("payment_method_not_found"))
    );
    let (_, list) = s.get("/api/v1/me/payment-methods", Some(&other)).await;
    assert_eq!(list, json!([]));

    // No method named: the default (the card) is charged.
    let (st, o) = s
        .post(&format!("/api/v1/me/orders/{id}/pay"), Some(&t), json!({}))
        .await;
    assert_eq!(st, 200, "{o}");
    assert_eq!(o["status"], "delivered");
    assert_eq!(o["payments"][0]["method"], "Visa •••• 4242");

    // SEPA as default; a failing IBAN marks its method failed.
    let (st, v) = s
        .post(
            &format!("/api/v1/me/payment-methods/{sepa_id}/default"),
            Some(&t),
            json!({}),
        )
        .await;
    assert_eq!((st, &v["is_default"]), (200, &json!(true)));
    let id2 = new_order(s, &t).await;
    let (_, o) = s
        .post(&format!("/api/v1/me/orders/{id2}/pay"), Some(&t), json!({}))
        .await;
    assert_eq!(o["status"], "delivered");
    assert_eq!(o["payments"][0]["method"], "SEPA DE89 •••• 3000");
    let (_, bad) = add(
        s,
        &t,
        json!({"kind": "sepa_debit", "iban": "DE62370400440532013001", "holder_name": "Zoé Martin"}),
    )
    .await;
    let bad_id = bad["id"].as_str().unwrap();
    let id3 = new_order(s, &t).await;
    let (_, o) = s
        .post(
            &format!("/api/v1/me/orders/{id3}/pay"),
            Some(&t),
            json!({"payment_method_id": bad_id}),
        )
        .await;
    assert_eq!(o["status"], "not_paid");
    assert_eq!(o["payments"][0]["failure_code"], "insufficient_funds");
    let (_, list) = s.get("/api/v1/me/payment-methods", Some(&t)).await;
    let failed = list
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["id"] == bad_id)
        .unwrap();
    assert_eq!(failed["status"], "failed");
    assert_eq!(list[0]["id"], sepa_id.as_str(), "the default comes first");

    // Deleting the default hands the role to another usable method.
    let (st, _) = s
        .call(
            "DELETE",
            &format!("/api/v1/me/payment-methods/{sepa_id}"),
            Some(&t),
            None,
        )
        .await;
    assert_eq!(st, 204);
    let (_, list) = s.get("/api/v1/me/payment-methods", Some(&t)).await;
    let list = list.as_array().unwrap();
    assert_eq!(list.len(), 2);
    assert_eq!(list.iter().filter(|m| m["is_default"] == true).count(), 1);
    let (st, _) = s
        .call(
            "DELETE",
            &format!("/api/v1/me/payment-methods/{sepa_id}"),
            Some(&t),
            None,
        )
        .await;
    assert_eq!(st, 404);
    let kinds = s.event_kinds(&t).await;
    assert!(kinds.contains(&"payment_method_added".to_owned()));
    assert!(kinds.contains(&"payment_method_removed".to_owned()));
}

async fn bank_transfer_round_trip(b: Backend) {
    let w = World::with_env(
        b,
        vec![
            (
                "GUICHET_BANK_TRANSFER_IBAN".into(),
                "FR76 3000 6000 0112 3456 7890 189".into(),
            ),
            ("GUICHET_BANK_TRANSFER_BIC".into(), "AGRIFRPP".into()),
        ],
    )
    .await;
    let s = &w.server;
    let op = s.operator_key();
    s.mail_plan(&op, json!({"EUR": 1200})).await;
    let t = s.customer(&w.smtp, "transfer@example.fr").await;
    let (st, m) = add(s, &t, json!({"kind": "bank_transfer"})).await;
    assert_eq!((st, &m["status"]), (201, &json!("valid")), "{m}");
    let id = new_order(s, &t).await;
    let (st, o) = s
        .post(&format!("/api/v1/me/orders/{id}/pay"), Some(&t), json!({}))
        .await;
    assert_eq!(st, 200, "{o}");
    assert_eq!(o["status"], "not_paid");
    assert_eq!(o["follow_up"]["action"]["what"], "pay_by_transfer");
    let number = o["number"].as_str().unwrap().to_owned();
    let last = o["follow_up"]["history"]
        .as_array()
        .unwrap()
        .last()
        .unwrap()
        .clone();
    assert!(
        last["message"]
            .as_str()
            .unwrap()
            .contains("FR7630006000011234567890189")
    );
    assert!(last["message"].as_str().unwrap().contains(&number));
    w.smtp.wait_for("transfer@example.fr", "AGRIFRPP").await;
    let payment = o["payments"][0]["id"].as_str().unwrap().to_owned();
    assert_eq!(o["payments"][0]["state"], "pending");
    // Waiting for the transfer, a card payment is refused (one payment at a time).
    let (st, _) = s
        .post(&format!("/api/v1/me/orders/{id}/pay"), Some(&t), json!({}))
        .await;
    assert_eq!(st, 409);
    // A customer cannot mark it received; an operator can, once.
    let (st, _) = s
        .post(
            &format!("/api/v1/admin/payments/{payment}/transfer-received"),
            Some(&t),
            json!({}),
        )
        .await;
    assert_eq!(st, 401);
    let (st, o) = s
        .post(
            &format!("/api/v1/admin/payments/{payment}/transfer-received"),
            Some(&op),
            json!({}),
        )
        .await;
    assert_eq!(st, 200, "{o}");
    assert_eq!(o["status"], "delivered");
    let (st, v) = s
        .post(
            &format!("/api/v1/admin/payments/{payment}/transfer-received"),
            Some(&op),
            json!({}),
        )
        .await;
    assert_eq!(
        (st, v["code"].as_str()),
        (409, Some("payment_not_awaiting_transfer"))
    );
    let (_, page) = s.get("/api/v1/me/invoices", Some(&t)).await;
    let inv = page["items"][0]["id"].as_str().unwrap();
    let (_, inv) = s.get(&format!("/api/v1/me/invoices/{inv}"), Some(&t)).await;
    assert_eq!(
        inv["document"]["payment"]["method"],
        format!("Bank transfer {number}")
    );

    // A transfer never received: the order expires after seven days all the same.
    let id = new_order(s, &t).await;
    s.post(&format!("/api/v1/me/orders/{id}/pay"), Some(&t), json!({}))
        .await;
    s.post(
        "/api/v1/admin/clock",
        Some(&op),
        json!({"advance_seconds": 8 * 86_400}),
    )
    .await;
    let t = s.login("transfer@example.fr", PASSWORD).await;
    let (_, o) = s.get(&format!("/api/v1/me/orders/{id}"), Some(&t)).await;
    assert_eq!(o["status"], "cancelled", "{o}");
    assert_eq!(o["payments"][0]["failure_code"], "transfer_not_received");
}

async fn card_statuses_follow_the_clock(b: Backend) {
    let w = World::new(b).await;
    let s = &w.server;
    let op = s.operator_key();
    s.mail_plan(&op, json!({"EUR": 1200})).await;
    let t = s.customer(&w.smtp, "expiring@example.fr").await;
    let (_, c) = s.get("/api/v1/admin/clock", Some(&op)).await;
    let now: jiff::Timestamp = c["now"].as_str().unwrap().parse().unwrap();
    let today = jiff::tz::TimeZone::UTC.to_datetime(now).date();
    // A card valid through the end of next month.
    let next = today
        .first_of_month()
        .saturating_add(jiff::Span::new().months(1));
    let tok = s
        .card_token_until(
            "4242424242424242",
            i64::from(next.month()),
            i64::from(next.year()),
        )
        .await;
    let (_, m) = add(s, &t, json!({"kind": "card", "token": tok})).await;
    let days_left = (next.last_of_month() - today).get_days();
    let expected = if days_left <= 30 {
        "expiring_soon"
    } else {
        "valid"
    };
    assert_eq!(m["status"], expected, "{days_left} days left");
    // Two months later it has expired and cannot pay.
    s.post(
        "/api/v1/admin/clock",
        Some(&op),
        json!({"advance_seconds": 70 * 86_400}),
    )
    .await;
    let t = s.login("expiring@example.fr", PASSWORD).await;
    let (_, list) = s.get("/api/v1/me/payment-methods", Some(&t)).await;
    assert_eq!(list[0]["status"], "expired");
    let id = new_order(s, &t).await;
    let (st, v) = s
        .post(&format!("/api/v1/me/orders/{id}/pay"), Some(&t), json!({}))
        .await;
    assert_eq!(
        (st, v["code"].as_str()),
        (409, Some("payment_method_unusable"))
    );
    // An expired card cannot be registered either.
    let (st, v) = add(s, &t, json!({"kind": "card", "token": tok})).await;
    assert_eq!((st, v["code"].as_str()), (422, Some("card_expired")));
}

async fn invoice_pdfs_and_zip(b: Backend) {
    let w = World::new(b).await;
    let s = &w.server;
    let op = s.operator_key();
    s.mail_plan(&op, json!({"EUR": 1200})).await;
    let t = s.customer(&w.smtp, "pdf@example.fr").await;
    let other = s.customer(&w.smtp, "notmine@example.fr").await;
    let tok = s.card_token("4242424242424242").await;
    add(s, &t, json!({"kind": "card", "token": tok})).await;
    for _ in 0..2 {
        let id = new_order(s, &t).await;
        let (st, _) = s
            .post(&format!("/api/v1/me/orders/{id}/pay"), Some(&t), json!({}))
            .await;
        assert_eq!(st, 200);
    }
    let (_, page) = s.get("/api/v1/me/invoices", Some(&t)).await;
    let first = page["items"][0].clone();
    let id = first["id"].as_str().unwrap();
    let (st, _) = s
        .post(
            &format!("/api/v1/admin/invoices/{id}/credit-notes"),
            Some(&op),
            json!({"reason": "Duplicate order"}),
        )
        .await;
    assert_eq!(st, 201);

    let get = |path: String, token: String| {
        let r = s.client.get(s.url(&path)).bearer_auth(token);
        async move {
            let r = r.send().await.unwrap();
            let st = r.status().as_u16();
            let ct = r
                .headers()
                .get("content-type")
                .map(|v| v.to_str().unwrap().to_owned())
                .unwrap_or_default();
            (st, ct, r.bytes().await.unwrap().to_vec())
        }
    };
    let (st, ct, pdf) = get(format!("/api/v1/me/invoices/{id}/pdf"), t.clone()).await;
    assert_eq!((st, ct.as_str()), (200, "application/pdf"));
    assert!(pdf.starts_with(b"%PDF-"));
    let text = String::from_utf8_lossy(&pdf);
    assert!(
        text.contains("factur-x.xml"),
        "the Factur-X XML is embedded"
    );
    assert!(text.contains("pdfaid:part"), "PDF/A metadata");
    let (st, _, _) = get(format!("/api/v1/me/invoices/{id}/pdf"), other.clone()).await;
    assert_eq!(st, 404);
    let (st, _, admin_pdf) = get(format!("/api/v1/admin/invoices/{id}/pdf"), op.clone()).await;
    assert_eq!(st, 200);
    assert!(admin_pdf.starts_with(b"%PDF-"));

    // The ZIP holds every invoice and credit note of the range, readable by an independent
    // reader (Python's zipfile).
    let (st, ct, zip) = get("/api/v1/me/invoices/export.zip".into(), t.clone()).await;
    assert_eq!((st, ct.as_str()), (200, "application/zip"));
    let path = std::env::temp_dir().join(format!("guichet-{}.zip", uuid::Uuid::new_v4()));
    std::fs::write(&path, &zip).unwrap();
    let out = std::process::Command::new("python3")
        .arg("-c")
        .arg(
            "import sys, zipfile\n\
             z = zipfile.ZipFile(sys.argv[1])\n\
             assert z.testzip() is None\n\
             for n in z.namelist():\n    assert z.read(n).startswith(b'%PDF-'), n\n    print(n)",
        )
        .arg(&path)
        .output()
        .expect("python3 is required");
    let _ = std::fs::remove_file(&path);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let names = String::from_utf8(out.stdout).unwrap();
    let mut names: Vec<&str> = names.lines().collect();
    names.sort();
    assert_eq!(names.len(), 3, "{names:?}");
    assert!(names.iter().filter(|n| n.starts_with("GCAV")).count() == 1);
    let (_, _, empty) = get("/api/v1/me/invoices/export.zip".into(), other.clone()).await;
    assert_eq!(
        empty.len(),
        22,
        "an empty archive for an account without invoices"
    );
    let (st, _, _) = get("/api/v1/me/invoices/export.zip?from=nope".into(), t.clone()).await;
    assert_eq!(st, 422);
}
