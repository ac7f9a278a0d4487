//! Sign-up to log-out, the whole way, plus sessions, API tokens and password reset.

use crate::both_backends;
use crate::harness::{Backend, PASSWORD, World, signup_body};
use serde_json::json;

both_backends!(
    signup_verify_login_me_logout,
    api_tokens,
    password_reset_ends_sessions,
    profile_patch
);

async fn signup_verify_login_me_logout(b: Backend) {
    let w = World::new(b).await;
    let s = &w.server;
    let (st, acc) = s
        .post("/api/v1/signup", None, signup_body("zoe@example.fr"))
        .await;
    assert_eq!(st, 201, "{acc}");
    assert_eq!(acc["email_verified"], false);
    assert!(acc["customer_code"].as_str().unwrap().starts_with("gc-"));
    assert_eq!(acc["language"], "fr");

    // Not verified yet: the password is right but the account waits for its mailbox proof.
    let (st, e) = s
        .post(
            "/api/v1/auth/login",
            None,
            json!({"email": "zoe@example.fr", "password": PASSWORD}),
        )
        .await;
    assert_eq!((st, e["code"].as_str()), (403, Some("email_not_verified")));

    // The mail crossed the wire to the right recipient, with the link.
    let token = w
        .smtp
        .wait_for_token("zoe@example.fr", "/verify-email?token=")
        .await;
    let mail = &w.smtp.to("zoe@example.fr")[0];
    assert!(
        mail.text()
            .contains(&format!("{}/verify-email?token={token}", s.base))
    );
    assert!(
        mail.header("subject").unwrap().contains("=?utf-8?")
            || mail.header("subject").unwrap().contains("Confirmez")
    );
    let (st, v) = s
        .post("/api/v1/auth/verify-email", None, json!({"token": token}))
        .await;
    assert_eq!((st, v["result"].as_str()), (200, Some("email_verified")));
    // A link works once.
    let (st, e) = s
        .post("/api/v1/auth/verify-email", None, json!({"token": token}))
        .await;
    assert_eq!((st, e["code"].as_str()), (400, Some("token_used")));

    // Log in: token in the body and an HttpOnly cookie.
    let resp = s
        .client
        .post(s.url("/api/v1/auth/login"))
        .json(&json!({"email": "ZOE@example.fr", "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let cookie = resp
        .headers()
        .get("set-cookie")
        .unwrap()
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        cookie.contains("guichet_session=gcs_")
            && cookie.contains("HttpOnly")
            && cookie.contains("SameSite=Lax"),
        "{cookie}"
    );
    let login: serde_json::Value = resp.json().await.unwrap();
    let t = login["token"].as_str().unwrap();

    let (st, me) = s.get("/api/v1/me", Some(t)).await;
    assert_eq!(st, 200);
    assert_eq!(me["email"], "zoe@example.fr");
    assert_eq!(me["email_verified"], true);
    assert_eq!(me["address"]["city"], "Lyon");

    // The verification mail is in the service e-mail log, delivered.
    let (st, page) = s.get("/api/v1/me/emails", Some(t)).await;
    assert_eq!(st, 200);
    let items = page["items"].as_array().unwrap();
    let verify = items
        .iter()
        .find(|m| m["kind"] == "verify_email")
        .expect("verification mail in the log");
    assert_eq!(verify["status"], "sent");
    assert_eq!(verify["to"], "zoe@example.fr");
    // And it is genuine, by reference and by Message-ID.
    let (_, v) = s
        .post(
            "/api/v1/me/emails/verify",
            Some(t),
            json!({"reference": verify["reference"]}),
        )
        .await;
    assert_eq!(v["genuine"], true);
    let mid = w.smtp.to("zoe@example.fr")[0].header("message-id").unwrap();
    let (_, v) = s
        .post(
            "/api/v1/me/emails/verify",
            Some(t),
            json!({"reference": mid}),
        )
        .await;
    assert_eq!(v["genuine"], true, "{mid}");
    let (_, v) = s
        .post(
            "/api/v1/me/emails/verify",
            Some(t),
            json!({"reference": "GC-0000-0000"}),
        )
        .await;
    assert_eq!(v["genuine"], false);

    // Cookie authentication works for reads.
    let r = s
        .client
        .get(s.url("/api/v1/me"))
        .header("cookie", cookie.split(';').next().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);

    // Log out: the token no longer works.
    let (st, _) = s.post("/api/v1/auth/logout", Some(t), json!({})).await;
    assert_eq!(st, 204);
    let (st, e) = s.get("/api/v1/me", Some(t)).await;
    assert_eq!((st, e["code"].as_str()), (401, Some("session_expired")));
}

async fn api_tokens(b: Backend) {
    let w = World::new(b).await;
    let s = &w.server;
    let t = s.customer(&w.smtp, "tokens@example.fr").await;
    let (st, read) = s
        .post(
            "/api/v1/me/tokens",
            Some(&t),
            json!({"name": "monitoring", "scope": "read", "expires_in_days": 30}),
        )
        .await;
    assert_eq!(st, 201, "{read}");
    let read_secret = read["token"].as_str().unwrap().to_owned();
    assert!(read_secret.starts_with("gcp_"));
    // Shown once: the list never carries the secret.
    let (_, list) = s.get("/api/v1/me/tokens", Some(&t)).await;
    assert_eq!(list.as_array().unwrap().len(), 1);
    assert!(list[0].get("token").is_none());
    assert!(!list.to_string().contains(&read_secret));

    // A read token reads but may not write, nor manage tokens.
    let (st, _) = s.get("/api/v1/me", Some(&read_secret)).await;
    assert_eq!(st, 200);
    let (st, e) = s
        .call(
            "PATCH",
            "/api/v1/me",
            Some(&read_secret),
            Some(json!({"city": "Paris"})),
        )
        .await;
    assert_eq!((st, e["code"].as_str()), (403, Some("read_only_token")));
    let (st, w_tok) = s
        .post(
            "/api/v1/me/tokens",
            Some(&t),
            json!({"name": "deploy", "scope": "write"}),
        )
        .await;
    assert_eq!(st, 201);
    let write_secret = w_tok["token"].as_str().unwrap();
    let (st, _) = s
        .call(
            "PATCH",
            "/api/v1/me",
            Some(write_secret),
            Some(json!({"city": "Paris"})),
        )
        .await;
    assert_eq!(st, 200);
    let (st, e) = s
        .post(
            "/api/v1/me/tokens",
            Some(write_secret),
            json!({"name": "x", "scope": "write"}),
        )
        .await;
    assert_eq!((st, e["code"].as_str()), (403, Some("session_required")));

    // Mail bodies read back through the API never carry a single-use link's secret.
    let (_, page) = s.get("/api/v1/me/emails", Some(&read_secret)).await;
    let verify = page["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["kind"] == "verify_email")
        .unwrap()
        .clone();
    let (st, mail) = s
        .get(
            &format!("/api/v1/me/emails/{}", verify["id"].as_str().unwrap()),
            Some(&read_secret),
        )
        .await;
    assert_eq!(st, 200);
    let body = mail["body_text"].as_str().unwrap();
    assert!(body.contains("token=gct_[hidden]"), "{body}");
    let sent = w
        .smtp
        .wait_for_token("tokens@example.fr", "/verify-email?token=")
        .await;
    assert!(!mail.to_string().contains(&sent));

    // Revoked: refused at once.
    let id = read["id"].as_str().unwrap();
    let (st, _) = s
        .call("DELETE", &format!("/api/v1/me/tokens/{id}"), Some(&t), None)
        .await;
    assert_eq!(st, 204);
    let (st, _) = s.get("/api/v1/me", Some(&read_secret)).await;
    assert_eq!(st, 401);
    let (st, _) = s
        .call("DELETE", &format!("/api/v1/me/tokens/{id}"), Some(&t), None)
        .await;
    assert_eq!(st, 404);

    // Bad token requests.
    for (body, code) in [
        (json!({"name": "", "scope": "read"}), "required"),
        (json!({"name": "x", "scope": "admin"}), "invalid_scope"),
        (
            json!({"name": "x", "scope": "read", "expires_in_days": 0}),
            "invalid_expiry",
        ),
        (
            json!({"name": "x", "scope": "read", "expires_in_days": 1000}),
            "invalid_expiry",
        ),
    ] {
        let (st, e) = s.post("/api/v1/me/tokens", Some(&t), body).await;
        assert_eq!((st, e["code"].as_str()), (422, Some(code)), "{e}");
    }
    // Events recorded the creation.
    let (_, events) = s.get("/api/v1/me/security/events", Some(&t)).await;
    assert!(
        events
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["kind"] == "api_token_created")
    );
}

async fn password_reset_ends_sessions(b: Backend) {
    let w = World::new(b).await;
    let s = &w.server;
    let t1 = s.customer(&w.smtp, "reset@example.fr").await;
    let t2 = s.login("reset@example.fr", PASSWORD).await;
    // Same answer for a known and an unknown address.
    let (st_known, known) = s
        .post(
            "/api/v1/auth/password-reset",
            None,
            json!({"email": "reset@example.fr"}),
        )
        .await;
    let (st_unknown, unknown) = s
        .post(
            "/api/v1/auth/password-reset",
            None,
            json!({"email": "nobody@example.fr"}),
        )
        .await;
    assert_eq!((st_known, &known), (st_unknown, &unknown));
    assert_eq!(st_known, 202);
    let token = w
        .smtp
        .wait_for_token("reset@example.fr", "/reset-password?token=")
        .await;

    // A refused password does not spend the token.
    let (st, e) = s
        .post(
            "/api/v1/auth/password-reset/confirm",
            None,
            json!({"token": token, "password": "short"}),
        )
        .await;
    assert_eq!((st, e["code"].as_str()), (422, Some("password_too_short")));
    let new_pw = "a brand new passphrase";
    let (st, _) = s
        .post(
            "/api/v1/auth/password-reset/confirm",
            None,
            json!({"token": token, "password": new_pw}),
        )
        .await;
    assert_eq!(st, 204);
    let (st, e) = s
        .post(
            "/api/v1/auth/password-reset/confirm",
            None,
            json!({"token": token, "password": new_pw}),
        )
        .await;
    assert_eq!((st, e["code"].as_str()), (400, Some("token_used")));

    // Every session ended; the old password is refused; the new one works.
    for t in [&t1, &t2] {
        let (st, _) = s.get("/api/v1/me", Some(t)).await;
        assert_eq!(st, 401);
    }
    let (st, _) = s
        .post(
            "/api/v1/auth/login",
            None,
            json!({"email": "reset@example.fr", "password": PASSWORD}),
        )
        .await;
    assert_eq!(st, 401);
    let t3 = s.login("reset@example.fr", new_pw).await;
    let (_, page) = s.get("/api/v1/me/emails", Some(&t3)).await;
    assert!(
        page["items"]
            .as_array()
            .unwrap()
            .iter()
            .any(|m| m["kind"] == "password_changed")
    );
}

async fn profile_patch(b: Backend) {
    let w = World::new(b).await;
    let s = &w.server;
    let t = s.customer(&w.smtp, "profile@example.fr").await;
    let (st, me) = s
        .call(
            "PATCH",
            "/api/v1/me",
            Some(&t),
            Some(json!({"last_name": "Durand", "city": "", "language": "en"})),
        )
        .await;
    assert_eq!(st, 200, "{me}");
    assert_eq!(me["last_name"], "Durand");
    assert_eq!(me["address"]["city"], serde_json::Value::Null);
    assert_eq!(me["language"], "en");
    // A refused patch changes nothing.
    let (st, e) = s
        .call(
            "PATCH",
            "/api/v1/me",
            Some(&t),
            Some(json!({"last_name": "Ok", "country": "XX"})),
        )
        .await;
    assert_eq!((st, e["code"].as_str()), (422, Some("invalid_country")));
    let (_, me) = s.get("/api/v1/me", Some(&t)).await;
    assert_eq!(me["last_name"], "Durand");
    let (st, e) = s
        .call(
            "PATCH",
            "/api/v1/me",
            Some(&t),
            Some(json!({"email": "x@example.fr"})),
        )
        .await;
    assert_eq!(
        (st, e["code"].as_str()),
        (422, Some("email_change_separate"))
    );
}
