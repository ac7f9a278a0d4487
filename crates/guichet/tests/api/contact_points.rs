//! Primary e-mail change, backup e-mail, mobile phone, and reset through the backup address.

use crate::both_backends;
use crate::harness::{Backend, PASSWORD, World, eventually};
use serde_json::json;

both_backends!(
    primary_email_change,
    backup_email_and_reset_through_it,
    phone_verified_by_sms_code
);

async fn primary_email_change(b: Backend) {
    let w = World::new(b).await;
    let s = &w.server;
    let t = s.customer(&w.smtp, "old@example.fr").await;
    let (st, e) = s
        .post(
            "/api/v1/me/email",
            Some(&t),
            json!({"email": "new@example.fr", "password": "wrong password here"}),
        )
        .await;
    assert_eq!((st, e["code"].as_str()), (403, Some("invalid_password")));
    let (st, e) = s
        .post(
            "/api/v1/me/email",
            Some(&t),
            json!({"email": "old@example.fr", "password": PASSWORD}),
        )
        .await;
    assert_eq!((st, e["code"].as_str()), (422, Some("same_email")));
    let (st, _) = s
        .post(
            "/api/v1/me/email",
            Some(&t),
            json!({"email": "New@Example.fr", "password": PASSWORD}),
        )
        .await;
    assert_eq!(st, 202);
    // The old address is told; the link goes to the new one.
    eventually(20, "notice to the old address", || async {
        w.smtp
            .to("old@example.fr")
            .iter()
            .any(|m| m.text().contains("n•••@example.fr"))
            .then_some(())
    })
    .await;
    let token = w
        .smtp
        .wait_for_token("new@example.fr", "/verify-email?token=")
        .await;
    let (_, me) = s.get("/api/v1/me", Some(&t)).await;
    assert_eq!(
        me["email"], "old@example.fr",
        "nothing changes before confirmation"
    );
    let (st, v) = s
        .post("/api/v1/auth/verify-email", None, json!({"token": token}))
        .await;
    assert_eq!((st, v["result"].as_str()), (200, Some("email_changed")));
    let (_, me) = s.get("/api/v1/me", Some(&t)).await;
    assert_eq!(me["email"], "new@example.fr");
    s.login("new@example.fr", PASSWORD).await;
    let (st, _) = s
        .post(
            "/api/v1/auth/login",
            None,
            json!({"email": "old@example.fr", "password": PASSWORD}),
        )
        .await;
    assert_eq!(st, 401);
    // Another account cannot take an address in use.
    let t2 = s.customer(&w.smtp, "other@example.fr").await;
    let (st, e) = s
        .post(
            "/api/v1/me/email",
            Some(&t2),
            json!({"email": "new@example.fr", "password": PASSWORD}),
        )
        .await;
    assert_eq!((st, e["code"].as_str()), (409, Some("email_taken")));
}

async fn backup_email_and_reset_through_it(b: Backend) {
    let w = World::new(b).await;
    let s = &w.server;
    let t = s.customer(&w.smtp, "main@example.fr").await;
    let (st, e) = s
        .call(
            "PUT",
            "/api/v1/me/security/backup-email",
            Some(&t),
            Some(json!({"email": "main@example.fr"})),
        )
        .await;
    assert_eq!((st, e["code"].as_str()), (422, Some("same_as_primary")));
    let (st, _) = s
        .call(
            "PUT",
            "/api/v1/me/security/backup-email",
            Some(&t),
            Some(json!({"email": "backup@example.org"})),
        )
        .await;
    assert_eq!(st, 202);
    let (_, me) = s.get("/api/v1/me", Some(&t)).await;
    assert_eq!(
        (
            me["backup_email"].as_str(),
            me["backup_email_verified"].as_bool()
        ),
        (Some("backup@example.org"), Some(false))
    );

    // An unverified backup address cannot receive a reset.
    let (st, _) = s
        .post(
            "/api/v1/auth/password-reset",
            None,
            json!({"email": "backup@example.org"}),
        )
        .await;
    assert_eq!(st, 202);
    let token = w
        .smtp
        .wait_for_token("backup@example.org", "/verify-email?token=")
        .await;
    assert!(
        w.smtp
            .to("backup@example.org")
            .iter()
            .all(|m| !m.text().contains("/reset-password"))
    );
    let (st, v) = s
        .post("/api/v1/auth/verify-email", None, json!({"token": token}))
        .await;
    assert_eq!(
        (st, v["result"].as_str()),
        (200, Some("backup_email_verified"))
    );

    // Lost access to the primary mailbox: the reset goes to the backup, the primary is told.
    let (st, _) = s
        .post(
            "/api/v1/auth/password-reset",
            None,
            json!({"email": "backup@example.org"}),
        )
        .await;
    assert_eq!(st, 202);
    let reset = w
        .smtp
        .wait_for_token("backup@example.org", "/reset-password?token=")
        .await;
    eventually(20, "notice to the primary", || async {
        w.smtp
            .to("main@example.fr")
            .iter()
            .any(|m| m.text().contains("b•••@example.org"))
            .then_some(())
    })
    .await;
    let (st, _) = s
        .post(
            "/api/v1/auth/password-reset/confirm",
            None,
            json!({"token": reset, "password": "recovered passphrase!"}),
        )
        .await;
    assert_eq!(st, 204);
    s.login("main@example.fr", "recovered passphrase!").await;
}

async fn phone_verified_by_sms_code(b: Backend) {
    let w = World::new(b).await;
    let s = &w.server;
    let op = s.operator_key();
    let t = s.customer(&w.smtp, "phone@example.fr").await;
    let (st, e) = s
        .call(
            "PUT",
            "/api/v1/me/security/phone",
            Some(&t),
            Some(json!({"phone": "0612345678"})),
        )
        .await;
    assert_eq!((st, e["code"].as_str()), (422, Some("invalid_phone")));
    let (st, _) = s
        .call(
            "PUT",
            "/api/v1/me/security/phone",
            Some(&t),
            Some(json!({"phone": "+33 6 12 34 56 78"})),
        )
        .await;
    assert_eq!(st, 202);
    // The sandbox SMS sender keeps the text for operators.
    let code = s.sms_code(&op, "+33612345678", None).await;
    let wrong = if code == "000000" { "111111" } else { "000000" };
    let (st, e) = s
        .post(
            "/api/v1/me/security/phone/verify",
            Some(&t),
            json!({"code": wrong}),
        )
        .await;
    assert_eq!((st, e["code"].as_str()), (400, Some("invalid_code")));
    let (st, _) = s
        .post(
            "/api/v1/me/security/phone/verify",
            Some(&t),
            json!({"code": code}),
        )
        .await;
    assert_eq!(st, 204);
    let (_, me) = s.get("/api/v1/me", Some(&t)).await;
    assert_eq!(
        (me["phone"].as_str(), me["phone_verified"].as_bool()),
        (Some("+33612345678"), Some(true))
    );
    // A customer token is not an operator key.
    let (st, _) = s.get("/api/v1/admin/sandbox/sms", Some(&t)).await;
    assert_eq!(st, 401);
}
