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
}
