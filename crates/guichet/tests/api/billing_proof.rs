//! The billing guarantees, checked against the database itself: fifty concurrent pays of one
//! order (with the same and with different idempotency keys) make one charge and one invoice;
//! two server processes on one PostgreSQL number their invoices without gaps or duplicates;
//! the VAT of French, German (OSS) and American consumers.

use crate::both_backends;
use crate::harness::{Backend, PASSWORD, Server, SmtpSink, TestDb, World, signup_body};
use serde_json::{Value, json};
use sqlx::Connection;

both_backends!(
    fifty_concurrent_pays_charge_once,
    vat_by_buyer_country,
    vies_decides_reverse_charge,
);

/// Count rows straight from the database (not through the API under test).
async fn count(db: &TestDb, sql: &str, bind: &str) -> i64 {
    let mut c = sqlx::AnyConnection::connect(&db.url).await.expect("db");
    sqlx::query_scalar::<_, i64>(sqlx::AssertSqlSafe(sql.to_owned()))
        .bind(bind.to_owned())
        .fetch_one(&mut c)
        .await
        .expect("count")
}

async fn fifty_concurrent_pays_charge_once(b: Backend) {
    sqlx::any::install_default_drivers();
    let w = World::new(b).await;
    let s = &w.server;
    let op = s.operator_key();
    s.mail_plan(&op, json!({"EUR": 1000, "USD": 1100})).await;
    let t = s.customer(&w.smtp, "hammer@example.fr").await;
    let (_, o) = s
        .post(
            "/api/v1/me/orders",
            Some(&t),
            json!({"lines": [{"plan": "mail-yearly"}]}),
        )
        .await;
    let id = o["id"].as_str().unwrap().to_owned();
    let source = s.card_token("4242424242424242").await;
    let mut tasks = Vec::new();
    for i in 0..50 {
        let client = s.client.clone();
        let url = s.url(&format!("/api/v1/me/orders/{id}/pay"));
        let (t, source) = (t.clone(), source.clone());
        // A third share one key, a third have their own, a third none.
        let key = match i % 3 {
            0 => Some("same-key".to_owned()),
            1 => Some(format!("key-{i}")),
            _ => None,
        };
        tasks.push(tokio::spawn(async move {
            let mut r = client
                .post(url)
                .bearer_auth(t)
                .json(&json!({ "source": source }));
            if let Some(k) = key {
                r = r.header("Idempotency-Key", k);
            }
            let r = r.send().await.expect("pay");
            let st = r.status().as_u16();
            let body: Value = r.json().await.unwrap_or(Value::Null);
            (st, body)
        }));
    }
    let mut ok = 0;
    for task in tasks {
        let (st, body) = task.await.unwrap();
        assert!(st == 200 || st == 409, "{st} {body}");
        if st == 200 {
            ok += 1;
            assert_eq!(body["payments"][0]["state"], "succeeded");
        }
    }
    assert!(ok >= 1);
    let charges = count(
        &w._db,
        "SELECT COUNT(*) FROM sandbox_charges WHERE idempotency_key LIKE $1",
        &format!("order:{id}:%"),
    )
    .await;
    assert_eq!(charges, 1, "one charge at the gateway");
    let invoices = count(
        &w._db,
        "SELECT COUNT(*) FROM invoices WHERE order_id = $1",
        &id,
    )
    .await;
    assert_eq!(invoices, 1, "one invoice");
    let payments = count(
        &w._db,
        "SELECT COUNT(*) FROM payments WHERE order_id = $1",
        &id,
    )
    .await;
    assert_eq!(payments, 1, "one payment row");
}

async fn consumer(s: &Server, smtp: &SmtpSink, email: &str, country: &str) -> String {
    let mut body = signup_body(email);
    body["country"] = json!(country);
    let (st, v) = s.post("/api/v1/signup", None, body).await;
    assert_eq!(st, 201, "{v}");
    let tok = smtp.wait_for_token(email, "/verify-email?token=").await;
    s.post("/api/v1/auth/verify-email", None, json!({"token": tok}))
        .await;
    s.login(email, PASSWORD).await
}

async fn vat_by_buyer_country(b: Backend) {
    let w = World::new(b).await;
    let s = &w.server;
    let op = s.operator_key();
    s.mail_plan(&op, json!({"EUR": 1000, "USD": 1100})).await;
    for (email, country, currency, vat, treatment, rate) in [
        ("fr@example.fr", "FR", "EUR", 200, "domestic", 2000),
        ("de@example.de", "DE", "EUR", 190, "oss", 1900),
        ("us@example.com", "US", "USD", 0, "outside_scope", 0),
    ] {
        let t = consumer(s, &w.smtp, email, country).await;
        let (st, o) = s
            .post(
                "/api/v1/me/orders",
                Some(&t),
                json!({"lines": [{"plan": "mail-yearly"}]}),
            )
            .await;
        assert_eq!(st, 201, "{o}");
        assert_eq!(o["currency"], currency, "{country}");
        assert_eq!(o["vat_minor"], vat, "{country}");
        assert_eq!(o["tax_treatment"], treatment, "{country}");
        assert_eq!(o["lines"][0]["vat_rate_bp"], rate);
        let id = o["id"].as_str().unwrap();
        let source = s.card_token("4242424242424242").await;
        let (st, _) = s
            .post(
                &format!("/api/v1/me/orders/{id}/pay"),
                Some(&t),
                json!({ "source": source }),
            )
            .await;
        assert_eq!(st, 200);
        let (_, page) = s.get("/api/v1/me/invoices", Some(&t)).await;
        let inv = page["items"][0]["id"].as_str().unwrap();
        let (_, v) = s.get(&format!("/api/v1/me/invoices/{inv}"), Some(&t)).await;
        let d = &v["document"];
        assert_eq!(
            d["grand_total_minor"].as_i64().unwrap(),
            d["net_total_minor"].as_i64().unwrap() + d["vat_total_minor"].as_i64().unwrap()
        );
        let mentions: Vec<&str> = d["mentions"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m.as_str().unwrap())
            .collect();
        if country == "US" {
            assert!(mentions.iter().any(|m| m.contains("59")), "{mentions:?}");
        } else {
            assert!(mentions.iter().all(|m| !m.contains("59")), "{mentions:?}");
        }
        assert_eq!(
            d["tax_country"],
            if country == "US" {
                json!(null)
            } else {
                json!(country)
            }
        );
        // Every invoice of every customer still renders as a PDF.
        let r = s
            .client
            .get(s.url(&format!("/api/v1/me/invoices/{inv}/pdf")))
            .bearer_auth(&t)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "{country}");
    }
}

/// Two `guichet serve` processes on one PostgreSQL, paying different orders at the same time:
/// every invoice number is used once, from 1, without a hole.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_nodes_number_invoices_without_gaps() {
    sqlx::any::install_default_drivers();
    let db = TestDb::new(Backend::Postgres).await;
    let smtp = SmtpSink::start().await;
    let a = Server::start(&db, Some(&smtp));
    let b = Server::start(&db, Some(&smtp));
    let op = a.operator_key();
    a.mail_plan(&op, json!({"EUR": 1000, "USD": 1100})).await;
    let mut buyers = Vec::new();
    for (i, s) in [&a, &b].into_iter().enumerate() {
        for j in 0..3 {
            let t = s.customer(&smtp, &format!("node{i}-{j}@example.fr")).await;
            buyers.push((i, t));
        }
    }
    let mut orders = Vec::new();
    for (i, t) in &buyers {
        let s = if *i == 0 { &a } else { &b };
        for _ in 0..4 {
            let (_, o) = s
                .post(
                    "/api/v1/me/orders",
                    Some(t),
                    json!({"lines": [{"plan": "mail-yearly"}]}),
                )
                .await;
            orders.push((*i, t.clone(), o["id"].as_str().unwrap().to_owned()));
        }
    }
    let source = a.card_token("4242424242424242").await;
    let mut tasks = Vec::new();
    for (i, t, id) in orders {
        // Orders placed on one node are paid through the other.
        let server = if i == 0 { &b } else { &a };
        let client = server.client.clone();
        let url = server.url(&format!("/api/v1/me/orders/{id}/pay"));
        let source = source.clone();
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
    for task in tasks {
        assert_eq!(task.await.unwrap(), 200);
    }
    let mut c = sqlx::AnyConnection::connect(&db.url).await.expect("db");
    let seqs: Vec<i64> =
        sqlx::query_scalar("SELECT seq FROM invoices WHERE series = 'invoice' ORDER BY seq")
            .fetch_all(&mut c)
            .await
            .expect("seqs");
    assert_eq!(seqs, (1..=24).collect::<Vec<i64>>());
    let numbers: i64 = sqlx::query_scalar("SELECT COUNT(DISTINCT number) FROM invoices")
        .fetch_one(&mut c)
        .await
        .expect("numbers");
    assert_eq!(numbers, 24);
    drop(a);
    drop(b);
}

/// A VIES-shaped server: DE811363057 registered, DE221304969 not, anything else a failure.
async fn fake_vies() -> String {
    use axum::routing::post;
    async fn check(
        axum::Json(b): axum::Json<Value>,
    ) -> (axum::http::StatusCode, axum::Json<Value>) {
        let n = format!(
            "{}{}",
            b["countryCode"].as_str().unwrap_or(""),
            b["vatNumber"].as_str().unwrap_or("")
        );
        let valid = match n.as_str() {
            "DE811363057" => true,
            "DE221304969" => false,
            _ => {
                return (
                    axum::http::StatusCode::INTERNAL_SERVER_ERROR,
                    axum::Json(json!({"errorWrappers": [{"error": "MS_UNAVAILABLE"}]})),
                );
            }
        };
        (
            axum::http::StatusCode::OK,
            axum::Json(
                json!({"countryCode": &n[..2], "vatNumber": &n[2..], "valid": valid, "name": "---"}),
            ),
        )
    }
    let app = axum::Router::new().route("/check-vat-number", post(check));
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    tokio::spawn(async move {
        let _ = axum::serve(l, app).await;
    });
    format!("http://{addr}")
}

async fn vies_decides_reverse_charge(b: Backend) {
    let vies = fake_vies().await;
    let w = World::with_env(b, vec![("GUICHET_VIES_URL".into(), vies)]).await;
    let s = &w.server;
    let op = s.operator_key();
    s.mail_plan(&op, json!({"EUR": 1000, "USD": 1100})).await;
    for (email, vat, treatment, vat_minor) in [
        ("registered@example.de", "DE811363057", "reverse_charge", 0),
        ("unregistered@example.de", "DE221304969", "oss", 190),
        ("unknown@example.de", "DE113866163", "oss", 190),
    ] {
        let mut body = signup_body(email);
        body["kind"] = json!("company");
        body["organisation"] = json!("Beispiel GmbH");
        body["country"] = json!("DE");
        body["vat_number"] = json!(vat);
        let (st, v) = s.post("/api/v1/signup", None, body).await;
        assert_eq!(st, 201, "{v}");
        let tok = w.smtp.wait_for_token(email, "/verify-email?token=").await;
        s.post("/api/v1/auth/verify-email", None, json!({"token": tok}))
            .await;
        let t = s.login(email, PASSWORD).await;
        let (st, o) = s
            .post(
                "/api/v1/me/orders",
                Some(&t),
                json!({"lines": [{"plan": "mail-yearly"}]}),
            )
            .await;
        assert_eq!(st, 201, "{o}");
        assert_eq!(o["tax_treatment"], treatment, "{vat}");
        assert_eq!(o["vat_minor"], vat_minor, "{vat}");
    }
}
