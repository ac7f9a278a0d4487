//! `guichet migrate-data`: an installation built on SQLite through the API (customers,
//! orders, invoices with a credit note pointing at its invoice, services, a ticket, the moved
//! sandbox clock) is moved to a fresh PostgreSQL database; the API answers the same before and
//! after (lists, details, invoice PDFs byte for byte, with the same session tokens), the
//! invoice numbers go on from where they were, and a non-empty target is refused.

use crate::harness::{Backend, Server, TestDb, World};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_installation_moves_to_postgres() {
    let w = World::new(Backend::Sqlite).await;
    let s = &w.server;
    let op = s.operator_key();
    s.mail_plan(&op, json!({"EUR": 1200})).await;
    let alice = s.customer(&w.smtp, "alice@example.fr").await;
    let bob = s.customer(&w.smtp, "bob@example.fr").await;
    for t in [&alice, &bob, &alice] {
        let (st, o) = s
            .post(
                "/api/v1/me/orders",
                Some(t),
                json!({"lines": [{"plan": "mail-yearly"}]}),
            )
            .await;
        assert_eq!(st, 201, "{o}");
        let source = s.card_token("4242424242424242").await;
        let (st, o) = s
            .post(
                &format!("/api/v1/me/orders/{}/pay", o["id"].as_str().unwrap()),
                Some(t),
                json!({ "source": source }),
            )
            .await;
        assert_eq!((st, &o["status"]), (200, &json!("delivered")), "{o}");
    }
    let (_, page) = s.get("/api/v1/me/invoices", Some(&bob)).await;
    let bob_invoice = page["items"][0]["id"].as_str().unwrap().to_owned();
    let (st, cn) = s
        .post(
            &format!("/api/v1/admin/invoices/{bob_invoice}/credit-notes"),
            Some(&op),
            json!({"reason": "Commercial gesture"}),
        )
        .await;
    assert_eq!(st, 201, "{cn}");
    let (st, v) = s
        .post(
            "/api/v1/me/tickets",
            Some(&alice),
            json!({"category": "billing", "subject": "A question", "message": "Hello."}),
        )
        .await;
    assert_eq!(st, 201, "{v}");
    let (st, v) = s
        .post(
            "/api/v1/admin/clock",
            Some(&op),
            json!({"advance_seconds": 3_600}),
        )
        .await;
    assert_eq!(st, 200, "{v}");

    for t in [&alice, &bob] {
        crate::access_matrix::all_mail_sent(s, t).await;
    }
    let before = answers(s, &[&alice, &bob], &op).await;
    let sqlite_url = w._db.url.clone();
    let mut env = w.server.env.clone();
    let mut w = w;
    w.server.kill9();

    // Into a fresh PostgreSQL database.
    let pg = TestDb::new(Backend::Postgres).await;
    let out = migrate(&sqlite_url, &pg.url);
    assert!(
        out.status.success(),
        "migrate-data failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report = String::from_utf8_lossy(&out.stdout);
    assert!(report.contains("from sqlite to postgres"), "{report}");
    assert!(report.contains("invoices"), "{report}");

    // Once filled, the target is refused, and left as it was.
    let again = migrate(&sqlite_url, &pg.url);
    assert!(!again.status.success());
    assert!(
        String::from_utf8_lossy(&again.stderr).contains("not empty"),
        "{}",
        String::from_utf8_lossy(&again.stderr)
    );

    for (k, v) in env.iter_mut() {
        if k == "GUICHET_DATABASE_URL" {
            *v = pg.url.clone();
        }
    }
    let s = Server::start_with(env);
    let after = answers(&s, &[&alice, &bob], &op).await;
    assert_eq!(before.len(), after.len());
    for ((what, a), (_, b)) in before.iter().zip(&after) {
        assert_eq!(a, b, "{what} differs after the move");
    }

    // The counters went along: the next invoice takes the next number.
    let (_, page) = s.get("/api/v1/me/invoices", Some(&alice)).await;
    let last: Vec<String> = page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["number"].as_str().unwrap().to_owned())
        .collect();
    let (st, o) = s
        .post(
            "/api/v1/me/orders",
            Some(&alice),
            json!({"lines": [{"plan": "mail-yearly"}]}),
        )
        .await;
    assert_eq!(st, 201, "{o}");
    let source = s.card_token("4242424242424242").await;
    let (st, o) = s
        .post(
            &format!("/api/v1/me/orders/{}/pay", o["id"].as_str().unwrap()),
            Some(&alice),
            json!({ "source": source }),
        )
        .await;
    assert_eq!(st, 200, "{o}");
    let (_, page) = s.get("/api/v1/me/invoices", Some(&alice)).await;
    let numbers: Vec<String> = page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["number"].as_str().unwrap().to_owned())
        .collect();
    let newest = numbers
        .iter()
        .find(|n| !last.contains(n))
        .expect("a new invoice")
        .clone();
    let seq = |n: &str| -> i64 { n.rsplit('-').next().unwrap().parse().unwrap() };
    // Invoices so far: Alice's two and Bob's one (the credit note has its own series).
    assert_eq!(seq(&newest), 4, "{numbers:?}");
}

fn migrate(from: &str, to: &str) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_guichet"))
        .args(["migrate-data", "--from", from, "--to", to])
        .env_remove("GUICHET_CONFIG")
        .output()
        .expect("run guichet migrate-data")
}

/// What the API answers about the installation, as comparable text.
async fn answers(s: &Server, customers: &[&str], op: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for (i, t) in customers.iter().enumerate() {
        for path in [
            "/api/v1/me",
            "/api/v1/me/invoices",
            "/api/v1/me/credit-notes",
            "/api/v1/me/services",
            "/api/v1/me/orders",
            "/api/v1/me/tickets",
            "/api/v1/me/emails",
            "/api/v1/me/payment-methods",
        ] {
            let (st, v) = s.get(path, Some(t)).await;
            assert_eq!(st, 200, "{path}: {v}");
            out.push((format!("customer {i} {path}"), v.to_string()));
        }
        let (_, page) = s.get("/api/v1/me/invoices", Some(t)).await;
        let (_, notes) = s.get("/api/v1/me/credit-notes", Some(t)).await;
        for doc in page["items"]
            .as_array()
            .unwrap()
            .iter()
            .chain(notes["items"].as_array().unwrap())
        {
            let id = doc["id"].as_str().unwrap();
            let (_, v) = s.get(&format!("/api/v1/me/invoices/{id}"), Some(t)).await;
            out.push((format!("invoice {id}"), v.to_string()));
            out.push((format!("invoice {id} pdf"), pdf_hash(s, t, id).await));
        }
        let (_, services) = s.get("/api/v1/me/services", Some(t)).await;
        for svc in services["items"]
            .as_array()
            .or_else(|| services.as_array())
            .unwrap()
        {
            let id = svc["id"].as_str().unwrap();
            let (_, v) = s.get(&format!("/api/v1/me/services/{id}"), Some(t)).await;
            out.push((format!("service {id}"), v.to_string()));
        }
    }
    for path in [
        "/api/v1/admin/invoices",
        "/api/v1/admin/orders",
        "/api/v1/admin/tickets",
        "/api/v1/admin/clock",
        "/api/v1/admin/catalog",
    ] {
        let (st, v) = s.get(path, Some(op)).await;
        assert_eq!(st, 200, "{path}: {v}");
        out.push((path.to_owned(), without_wall_time(v).to_string()));
    }
    out
}

/// The clock's answer carries the real time it was read at; the rest is stored data.
fn without_wall_time(mut v: Value) -> Value {
    if let Some(o) = v.as_object_mut() {
        o.remove("now");
        o.remove("real_now");
    }
    v
}

async fn pdf_hash(s: &Server, t: &str, id: &str) -> String {
    let r = s
        .client
        .get(s.url(&format!("/api/v1/me/invoices/{id}/pdf")))
        .bearer_auth(t)
        .send()
        .await
        .expect("pdf");
    assert_eq!(r.status(), 200);
    hex(&Sha256::digest(r.bytes().await.expect("pdf bytes")))
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}
