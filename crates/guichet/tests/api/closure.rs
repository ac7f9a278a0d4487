//! Account closure and the right to erasure: each blocker alone (active, suspended service,
//! unpaid order, order in progress) prevents it with its own code and item; with none, the
//! re-authenticated request mails a token that closes the account. Afterwards no table of the
//! database (every text column, read straight from SQLite or PostgreSQL) holds the account's
//! names, addresses, phone or IP, except the frozen invoices and credit notes, which still
//! download for operators; the address can sign up again. The export of a busy account holds
//! every kind of record.

use crate::both_backends;
use crate::harness::{Backend, PASSWORD, Server, TestDb, World, eventually};
use crate::tickets::post_form;
use serde_json::{Value, json};
use sqlx::{Connection, Row};

both_backends!(each_blocker_prevents_closure, erasure_and_export);

async fn product(s: &Server, op: &str, code: &str, instant: bool) {
    let (st, v) = s
        .call(
            "PUT",
            &format!("/api/v1/admin/catalog/products/{code}"),
            Some(op),
            Some(json!({"name": code, "category": "other", "instant": instant})),
        )
        .await;
    assert_eq!(st, 200, "{v}");
    let (st, v) = s
        .call(
            "PUT",
            &format!("/api/v1/admin/catalog/products/{code}/plans/{code}-yearly"),
            Some(op),
            Some(
                json!({"name": format!("{code} yearly"), "period": "P1Y", "prices": {"EUR": 1200}}),
            ),
        )
        .await;
    assert_eq!(st, 200, "{v}");
}

async fn order(s: &Server, t: &str, plan: &str, pay: bool) -> Value {
    let (st, o) = s
        .post(
            "/api/v1/me/orders",
            Some(t),
            json!({"lines": [{"plan": plan}]}),
        )
        .await;
    assert_eq!(st, 201, "{o}");
    if !pay {
        return o;
    }
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

async fn blockers(s: &Server, t: &str) -> Vec<(String, String)> {
    let (st, v) = s.get("/api/v1/me/closure", Some(t)).await;
    assert_eq!(st, 200, "{v}");
    assert_eq!(
        v["possible"].as_bool().unwrap(),
        v["blockers"].as_array().unwrap().is_empty()
    );
    v["blockers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| {
            assert!(b["link"].as_str().unwrap().starts_with("http"));
            (
                b["code"].as_str().unwrap().to_owned(),
                b["item"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

async fn sql(db: &TestDb, q: &str) {
    let mut c = sqlx::AnyConnection::connect(&db.url).await.expect("db");
    sqlx::query(sqlx::AssertSqlSafe(q.to_owned()))
        .execute(&mut c)
        .await
        .expect("sql");
}

async fn each_blocker_prevents_closure(b: Backend) {
    sqlx::any::install_default_drivers();
    let w = World::new(b).await;
    let s = &w.server;
    let op = s.operator_key();
    product(s, &op, "mail", true).await;
    product(s, &op, "rack", false).await;

    // An active service.
    let t = s.customer(&w.smtp, "active@example.fr").await;
    let o = order(s, &t, "mail-yearly", true).await;
    assert_eq!(o["status"], "delivered");
    let sid = o["lines"][0]["service_id"].as_str().unwrap().to_owned();
    let (_, svc) = s.get(&format!("/api/v1/me/services/{sid}"), Some(&t)).await;
    let name = svc["display_name"].as_str().unwrap().to_owned();
    assert_eq!(
        blockers(s, &t).await,
        vec![("service_active".into(), name.clone())]
    );
    let (st, v) = s.post("/api/v1/me/closure", Some(&t), json!({})).await;
    assert_eq!(
        (st, v["code"].as_str()),
        (409, Some("closure_blocked")),
        "{v}"
    );

    // The same service suspended (the lifecycle's unpaid state).
    sql(
        &w._db,
        &format!("UPDATE services SET state = 'suspended' WHERE id = '{sid}'"),
    )
    .await;
    assert_eq!(
        blockers(s, &t).await,
        vec![("service_suspended".into(), name)]
    );

    // An unpaid order.
    let t2 = s.customer(&w.smtp, "unpaid@example.fr").await;
    let o = order(s, &t2, "mail-yearly", false).await;
    let unpaid = o["id"].as_str().unwrap().to_owned();
    let number = o["number"].as_str().unwrap().to_owned();
    assert_eq!(
        blockers(s, &t2).await,
        vec![("order_unpaid".into(), number)]
    );
    let (st, v) = s.post("/api/v1/me/closure", Some(&t2), json!({})).await;
    assert_eq!((st, v["code"].as_str()), (409, Some("closure_blocked")));

    // An order in progress (paid, waiting for the provider's delivery).
    let t3 = s.customer(&w.smtp, "waiting@example.fr").await;
    let o = order(s, &t3, "rack-yearly", true).await;
    assert_eq!(o["status"], "delivering", "{o}");
    let number = o["number"].as_str().unwrap().to_owned();
    assert_eq!(
        blockers(s, &t3).await,
        vec![("order_in_progress".into(), number)]
    );
    let (st, v) = s.post("/api/v1/me/closure", Some(&t3), json!({})).await;
    assert_eq!((st, v["code"].as_str()), (409, Some("closure_blocked")));

    // Credit left on the account: refunded first, never lost by closing.
    let t4 = s.customer(&w.smtp, "credit@example.fr").await;
    let (_, me) = s.get("/api/v1/me", Some(&t4)).await;
    let credit = format!(
        "/api/v1/admin/accounts/{}/credit",
        me["id"].as_str().unwrap()
    );
    let (st, v) = s
        .post(
            &credit,
            Some(&op),
            json!({"currency": "EUR", "amount_minor": 500, "reason": "goodwill"}),
        )
        .await;
    assert_eq!(st, 200, "{v}");
    assert_eq!(
        blockers(s, &t4).await,
        vec![("credit_balance".into(), "5.00 EUR".into())]
    );
    let (st, v) = s.post("/api/v1/me/closure", Some(&t4), json!({})).await;
    assert_eq!((st, v["code"].as_str()), (409, Some("closure_blocked")));
    let (st, v) = s
        .post(
            &credit,
            Some(&op),
            json!({"currency": "EUR", "amount_minor": -500, "reason": "refunded by transfer"}),
        )
        .await;
    assert_eq!(st, 200, "{v}");
    assert_eq!(blockers(s, &t4).await, vec![]);

    // Nothing left: the unpaid order cancelled, the closure goes through.
    let (st, _) = s
        .post(
            &format!("/api/v1/me/orders/{unpaid}/cancel"),
            Some(&t2),
            json!({}),
        )
        .await;
    assert_eq!(st, 200);
    assert_eq!(blockers(s, &t2).await, vec![]);
    let (st, v) = s.post("/api/v1/me/closure", Some(&t2), json!({})).await;
    assert_eq!(st, 202, "{v}");
    let token = w
        .smtp
        .wait_for_token("unpaid@example.fr", "/closure/confirm?token=")
        .await;
    // Another account cannot use the token.
    let (st, v) = s
        .post(
            "/api/v1/me/closure/confirm",
            Some(&t),
            json!({ "token": token }),
        )
        .await;
    assert_eq!((st, v["code"].as_str()), (400, Some("invalid_token")));
    let (st, v) = s
        .post(
            "/api/v1/me/closure/confirm",
            Some(&t2),
            json!({ "token": token }),
        )
        .await;
    assert_eq!((st, v["state"].as_str()), (200, Some("closed")), "{v}");
    let (st, _) = s.get("/api/v1/me", Some(&t2)).await;
    assert_eq!(st, 401);

    // A stale log-in must re-authenticate first.
    s.post(
        "/api/v1/admin/clock",
        Some(&op),
        json!({"advance_seconds": 6 * 60}),
    )
    .await;
    let (st, v) = s.post("/api/v1/me/closure", Some(&t), json!({})).await;
    assert_eq!(
        (st, v["code"].as_str()),
        (403, Some("reauth_required")),
        "{v}"
    );
}

const IP: &str = "198.51.100.77";
const EMAIL: &str = "eulalie.quenneville@example.org";
const BACKUP: &str = "eq-secours@example.net";
const PHONE: &str = "+33698765432";
const FIRST: &str = "Eulalie";
const LAST: &str = "Quenneville-Ardant";
const STREET: &str = "77 impasse des Grives Bleues";
const CITY: &str = "Trifouilly-les-Oies";

/// A request from the customer's own address (through the trusted proxy).
async fn from_ip(
    s: &Server,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: Option<Value>,
) -> (u16, Value) {
    let m = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
    let mut r = s
        .client
        .request(m, s.url(path))
        .header("x-forwarded-for", IP)
        .header("user-agent", "EulalieBrowser/1.0");
    if let Some(t) = token {
        r = r.bearer_auth(t);
    }
    if let Some(b) = body {
        r = r.json(&b);
    }
    let resp = r.send().await.unwrap();
    let st = resp.status().as_u16();
    let v = resp.json().await.unwrap_or(Value::Null);
    assert!(st < 500, "{method} {path}: {st} {v}");
    (st, v)
}

/// Every text value of every table: (table, column, value).
async fn dump(b: Backend, db: &TestDb) -> Vec<(String, String, String)> {
    let mut out = Vec::new();
    match b {
        Backend::Sqlite => {
            let mut c = sqlx::SqliteConnection::connect(&db.url).await.unwrap();
            let tables: Vec<String> = sqlx::query_scalar(
                "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'",
            )
            .fetch_all(&mut c)
            .await
            .unwrap();
            for t in tables {
                let cols: Vec<String> = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
                    "SELECT name FROM pragma_table_info('{t}')"
                )))
                .fetch_all(&mut c)
                .await
                .unwrap();
                for col in cols {
                    let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
                        "SELECT CAST(\"{col}\" AS TEXT) FROM \"{t}\" WHERE typeof(\"{col}\") = 'text'"
                    )))
                    .fetch_all(&mut c)
                    .await
                    .unwrap();
                    for r in rows {
                        out.push((t.clone(), col.clone(), r.get::<String, _>(0)));
                    }
                }
            }
        }
        Backend::Postgres => {
            let mut c = sqlx::PgConnection::connect(&db.url).await.unwrap();
            let cols = sqlx::query(
                "SELECT table_name::text, column_name::text FROM information_schema.columns \
                 WHERE table_schema = 'public' AND data_type IN ('text', 'character varying')",
            )
            .fetch_all(&mut c)
            .await
            .unwrap();
            for r in cols {
                let (t, col): (String, String) = (r.get(0), r.get(1));
                let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
                    "SELECT \"{col}\"::text FROM \"{t}\" WHERE \"{col}\" IS NOT NULL"
                )))
                .fetch_all(&mut c)
                .await
                .unwrap();
                for v in rows {
                    out.push((t.clone(), col.clone(), v.get::<String, _>(0)));
                }
            }
        }
    }
    out
}

/// The entries of a ZIP of stored files.
fn unzip(bytes: &[u8]) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    let mut i = 0;
    while i + 30 <= bytes.len() && bytes[i..i + 4] == [0x50, 0x4b, 0x03, 0x04] {
        let u16_at = |o: usize| u16::from_le_bytes([bytes[o], bytes[o + 1]]) as usize;
        let size = u32::from_le_bytes(bytes[i + 18..i + 22].try_into().unwrap()) as usize;
        let (nlen, elen) = (u16_at(i + 26), u16_at(i + 28));
        let name = String::from_utf8(bytes[i + 30..i + 30 + nlen].to_vec()).unwrap();
        let start = i + 30 + nlen + elen;
        out.push((name, bytes[start..start + size].to_vec()));
        i = start + size;
    }
    out
}

fn json_of(files: &[(String, Vec<u8>)], name: &str) -> Value {
    let (_, b) = files
        .iter()
        .find(|(n, _)| n == name)
        .unwrap_or_else(|| panic!("{name} missing from the export"));
    serde_json::from_slice(b).unwrap()
}

async fn erasure_and_export(b: Backend) {
    sqlx::any::install_default_drivers();
    let w = World::with_env(
        b,
        vec![("GUICHET_TRUSTED_PROXIES".into(), "127.0.0.1".into())],
    )
    .await;
    let s = &w.server;
    let op = s.operator_key();
    product(s, &op, "mail", true).await;

    // A busy account: profile, both addresses, phone, a card, orders, a service, an invoice
    // and a credit note, a ticket with an attachment, mails and events.
    let (st, v) = from_ip(
        s,
        "POST",
        "/api/v1/signup",
        None,
        Some(json!({
            "email": EMAIL, "password": PASSWORD, "first_name": FIRST, "last_name": LAST,
            "country": "FR", "address_line1": STREET, "postal_code": "38990", "city": CITY
        })),
    )
    .await;
    assert_eq!(st, 201, "{v}");
    let token = w.smtp.wait_for_token(EMAIL, "/verify-email?token=").await;
    from_ip(
        s,
        "POST",
        "/api/v1/auth/verify-email",
        None,
        Some(json!({"token": token})),
    )
    .await;
    let (st, v) = from_ip(
        s,
        "POST",
        "/api/v1/auth/login",
        None,
        Some(json!({"email": EMAIL, "password": PASSWORD})),
    )
    .await;
    assert_eq!(st, 200, "{v}");
    let t = v["token"].as_str().unwrap().to_owned();
    let t = t.as_str();
    let (st, _) = from_ip(
        s,
        "PUT",
        "/api/v1/me/security/backup-email",
        Some(t),
        Some(json!({"email": BACKUP})),
    )
    .await;
    assert_eq!(st, 202);
    let bt = w.smtp.wait_for_token(BACKUP, "/verify-email?token=").await;
    from_ip(
        s,
        "POST",
        "/api/v1/auth/verify-email",
        None,
        Some(json!({"token": bt})),
    )
    .await;
    let (st, _) = from_ip(
        s,
        "PUT",
        "/api/v1/me/security/phone",
        Some(t),
        Some(json!({"phone": PHONE})),
    )
    .await;
    assert_eq!(st, 202);
    let code = s.sms_code(&op, PHONE, None).await;
    let (st, v) = from_ip(
        s,
        "POST",
        "/api/v1/me/security/phone/verify",
        Some(t),
        Some(json!({"code": code})),
    )
    .await;
    assert_eq!(st, 204, "{v}");
    let card = s.card_token("4242424242424242").await;
    let (st, v) = from_ip(
        s,
        "POST",
        "/api/v1/me/payment-methods",
        Some(t),
        Some(json!({"kind": "card", "token": card})),
    )
    .await;
    assert_eq!(st, 201, "{v}");
    let o = order(s, t, "mail-yearly", true).await;
    let sid = o["lines"][0]["service_id"].as_str().unwrap().to_owned();
    let (_, invoices) = s.get("/api/v1/me/invoices", Some(t)).await;
    let invoice = invoices["items"][0]["id"].as_str().unwrap().to_owned();
    let (st, v) = s
        .post(
            &format!("/api/v1/admin/invoices/{invoice}/credit-notes"),
            Some(&op),
            json!({"reason": "goodwill", "amount_minor": 100, "refund": false}),
        )
        .await;
    assert_eq!(st, 201, "{v}");
    let (st, v) = post_form(
        s,
        t,
        "/api/v1/me/tickets",
        &[
            ("category", "account"),
            ("subject", &format!("Courrier pour {FIRST} {LAST}")),
            (
                "message",
                &format!("J'habite {STREET}, {CITY}; tel {PHONE}"),
            ),
        ],
        &[("scan.pdf", b"%PDF-1.4 scanned letter")],
    )
    .await;
    assert_eq!(st, 201, "{v}");
    let ticket = v["id"].as_str().unwrap().to_owned();
    s.post(
        &format!("/api/v1/admin/tickets/{ticket}/messages"),
        Some(&op),
        json!({"message": format!("Bonjour {FIRST}, c'est noté.")}),
    )
    .await;

    // The export holds every kind of record.
    let r = s
        .client
        .get(s.url("/api/v1/me/export"))
        .bearer_auth(t)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    assert_eq!(r.headers()["content-type"], "application/zip");
    let files = unzip(&r.bytes().await.unwrap());
    assert_eq!(json_of(&files, "profile.json")["email"], EMAIL);
    assert_eq!(json_of(&files, "profile.json")["phone"], PHONE);
    for (name, min) in [
        ("emails.json", 4),
        ("orders.json", 1),
        ("services.json", 1),
        ("invoices.json", 1),
        ("credit_notes.json", 1),
        ("tickets.json", 1),
        ("security_events.json", 3),
        ("payment_methods.json", 1),
        ("sessions.json", 1),
    ] {
        let n = json_of(&files, name).as_array().unwrap().len();
        assert!(n >= min, "{name}: {n} records");
    }
    let tickets = json_of(&files, "tickets.json");
    assert_eq!(tickets[0]["messages"].as_array().unwrap().len(), 2);
    let pdfs = files
        .iter()
        .filter(|(n, b)| n.starts_with("invoices/") && b.starts_with(b"%PDF"))
        .count();
    assert_eq!(pdfs, 1);
    assert!(files.iter().any(|(n, _)| n.starts_with("credit_notes/")));
    assert!(files.iter().any(|(n, _)| n.starts_with("tickets/")));
    let methods = serde_json::to_string(&json_of(&files, "payment_methods.json")).unwrap();
    assert!(!methods.contains("tok_"), "no gateway token in the export");
    let events = serde_json::to_string(&json_of(&files, "security_events.json")).unwrap();
    assert!(events.contains(IP));

    // Blocked while the service lives; deleted, the closure goes through.
    let (st, _) = from_ip(s, "POST", "/api/v1/me/closure", Some(t), Some(json!({}))).await;
    assert_eq!(st, 409);
    from_ip(
        s,
        "POST",
        &format!("/api/v1/me/services/{sid}/deletion"),
        Some(t),
        Some(json!({})),
    )
    .await;
    let dt = w
        .smtp
        .wait_for_token(EMAIL, &format!("/services/{sid}/delete?token="))
        .await;
    let (st, v) = from_ip(
        s,
        "POST",
        &format!("/api/v1/me/services/{sid}/deletion/confirm"),
        Some(t),
        Some(json!({"token": dt})),
    )
    .await;
    assert_eq!(st, 200, "{v}");
    let (st, v) = from_ip(s, "POST", "/api/v1/me/closure", Some(t), Some(json!({}))).await;
    assert_eq!(st, 202, "{v}");
    let ct = w
        .smtp
        .wait_for_token(EMAIL, "/closure/confirm?token=")
        .await;
    let (st, v) = from_ip(
        s,
        "POST",
        "/api/v1/me/closure/confirm",
        Some(t),
        Some(json!({"token": "gct_wrong"})),
    )
    .await;
    assert_eq!((st, v["code"].as_str()), (400, Some("invalid_token")));
    let (st, v) = from_ip(
        s,
        "POST",
        "/api/v1/me/closure/confirm",
        Some(t),
        Some(json!({"token": ct})),
    )
    .await;
    assert_eq!(st, 200, "{v}");
    let (st, _) = s.get("/api/v1/me", Some(t)).await;
    assert_eq!(st, 401, "the session ended with the account");

    // The last mail reached the address, then lost its recipient and body.
    w.smtp.wait_for(EMAIL, "Votre compte est fermé").await;
    eventually(20, "the last mail erased once sent", || {
        let url = w._db.url.clone();
        async move {
            let mut c = sqlx::AnyConnection::connect(&url).await.ok()?;
            let n: i64 = sqlx::query_scalar(
                "SELECT COUNT(*) FROM emails WHERE erase_after_send = 1 AND to_addr = ''",
            )
            .fetch_one(&mut c)
            .await
            .ok()?;
            (n == 1).then_some(())
        }
    })
    .await;

    // Nothing personal is left, except in the frozen invoices and credit notes.
    let needles = [
        EMAIL,
        BACKUP,
        PHONE,
        FIRST,
        LAST,
        STREET,
        CITY,
        IP,
        "EulalieBrowser",
    ];
    let mut in_invoices = 0;
    for (table, col, value) in dump(b, &w._db).await {
        for n in needles {
            if value.to_lowercase().contains(&n.to_lowercase()) {
                if table == "invoices" && col == "document" {
                    in_invoices += 1;
                } else {
                    panic!("{n:?} left in {table}.{col}: {value}");
                }
            }
        }
    }
    assert!(in_invoices > 0, "the invoices keep the buyer's frozen data");
    let left: Vec<_> = std::fs::read_dir(w._db.dir.join("tickets"))
        .map(|d| d.collect())
        .unwrap_or_default();
    assert!(left.is_empty(), "ticket attachments removed");

    // Operators see the closure and still download the invoice.
    let (_, closures) = s.get("/api/v1/admin/closures", Some(&op)).await;
    assert_eq!(closures.as_array().unwrap().len(), 1, "{closures}");
    assert!(closures[0]["summary"]["mails_erased"].as_u64().unwrap() > 0);
    let r = s
        .client
        .get(s.url(&format!("/api/v1/admin/invoices/{invoice}/pdf")))
        .bearer_auth(&op)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    assert!(r.bytes().await.unwrap().starts_with(b"%PDF"));

    // Log-in is refused; the address opens a new account.
    let (st, _) = s
        .post(
            "/api/v1/auth/login",
            None,
            json!({"email": EMAIL, "password": PASSWORD}),
        )
        .await;
    assert_eq!(st, 401);
    let (st, v) = s
        .post(
            "/api/v1/signup",
            None,
            json!({"email": EMAIL, "password": PASSWORD, "first_name": "Eulalie", "last_name": "Q", "country": "FR"}),
        )
        .await;
    assert_eq!(st, 201, "{v}");
}
