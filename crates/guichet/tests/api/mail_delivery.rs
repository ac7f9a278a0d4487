//! Mail is written with the change and delivered by the worker: an SMTP outage and a crash of
//! the server lose nothing and send nothing twice.

use crate::both_backends;
use crate::harness::{Backend, Server, SmtpSink, TestDb, signup_body};
use serde_json::json;
use std::time::Duration;

both_backends!(queued_mail_survives_kill_and_smtp_outage);

async fn queued_mail_survives_kill_and_smtp_outage(b: Backend) {
    let db = TestDb::new(b).await;
    let mut smtp = SmtpSink::down().await;
    let mut server = Server::start(&db, Some(&smtp));
    let op = server.operator_key();
    let people = [
        "ana@example.fr",
        "ben@example.fr",
        "cleo@example.fr",
        "dan@example.fr",
    ];
    for p in people {
        let (st, v) = server.post("/api/v1/signup", None, signup_body(p)).await;
        assert_eq!(st, 201, "{v}");
    }
    // Let the worker try (and fail) at least once, then crash the server.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    server.kill9();
    assert!(smtp.all().is_empty());

    smtp.up().await;
    server.restart();
    // Retries are scheduled with backoff: move the sandbox clock past it.
    let (st, v) = server
        .post(
            "/api/v1/admin/clock",
            Some(&op),
            json!({"advance_seconds": 300}),
        )
        .await;
    assert_eq!(st, 200, "{v}");
    for p in people {
        smtp.wait_for_token(p, "/verify-email?token=").await;
    }
    // Give any duplicate a chance to show up, then count.
    tokio::time::sleep(Duration::from_secs(3)).await;
    for p in people {
        assert_eq!(smtp.to(p).len(), 1, "exactly one mail to {p}");
    }
    // The log shows the mail delivered after more than one attempt.
    let token = smtp
        .wait_for_token("ana@example.fr", "/verify-email?token=")
        .await;
    let (st, _) = server
        .post("/api/v1/auth/verify-email", None, json!({"token": token}))
        .await;
    assert_eq!(st, 200);
    let t = server
        .login("ana@example.fr", crate::harness::PASSWORD)
        .await;
    let (_, page) = server.get("/api/v1/me/emails", Some(&t)).await;
    let m = &page["items"][0];
    assert_eq!(m["status"], "sent");
    assert!(m["attempts"].as_i64().unwrap() >= 2, "{m}");

    // The outbox row holds what the mail says, not its layout: the bodies are laid out when
    // it is sent (the SMTP copy above) and when it is read back (the same text, the same
    // reference and action, the link's secret hidden).
    use sqlx::Connection;
    sqlx::any::install_default_drivers();
    let mut c = sqlx::AnyConnection::connect(&db.url).await.expect("db");
    let (text, html, data): (String, String, Option<String>) =
        sqlx::query_as("SELECT body_text, body_html, data FROM emails WHERE id = $1")
            .bind(m["id"].as_str().unwrap())
            .fetch_one(&mut c)
            .await
            .expect("mail row");
    assert_eq!((text.as_str(), html.as_str()), ("", ""));
    let data = data.expect("stored data");
    assert!(data.contains("VerifyEmail"), "{data}");
    let (st, detail) = server
        .get(
            &format!("/api/v1/me/emails/{}", m["id"].as_str().unwrap()),
            Some(&t),
        )
        .await;
    assert_eq!(st, 200, "{detail}");
    let reference = m["reference"].as_str().unwrap();
    let sent = smtp.to("ana@example.fr")[0].text();
    let read = detail["body_text"].as_str().unwrap();
    let html = detail["body_html"].as_str().unwrap();
    assert!(
        sent.contains(reference) && read.contains(reference),
        "{read}"
    );
    assert!(
        html.contains(reference) && html.contains("<a href="),
        "{html}"
    );
    assert!(
        read.contains("token=gct_[hidden]") && !read.contains(&token),
        "{read}"
    );
    let sent = sent.replace(&token, "gct_[hidden]");
    for line in read.lines().filter(|l| !l.trim().is_empty()) {
        assert!(
            sent.contains(line),
            "read back but not sent: {line:?}\n{sent}"
        );
    }
}
