//! Bad input everywhere: malformed JSON, missing or oversized fields, invalid e-mail, weak
//! passwords, duplicates, wrong credentials, expired and reused tokens. Always a 4xx with a
//! stable code (the harness fails on any 5xx), and nothing half-written.

use crate::both_backends;
use crate::harness::{Backend, PASSWORD, World, signup_body};
use serde_json::{Value, json};
use std::time::Duration;

both_backends!(
    bad_input_gets_4xx_and_writes_nothing,
    expired_and_unknown_tokens
);

async fn raw(
    w: &World,
    method: &str,
    path: &str,
    content_type: Option<&str>,
    body: Vec<u8>,
) -> (u16, Value) {
    let s = &w.server;
    let mut r = s
        .client
        .request(
            reqwest::Method::from_bytes(method.as_bytes()).unwrap(),
            s.url(path),
        )
        .body(body);
    if let Some(ct) = content_type {
        r = r.header("content-type", ct);
    }
    let resp = r.send().await.unwrap();
    let st = resp.status().as_u16();
    let v: Value = resp.json().await.unwrap_or(Value::Null);
    assert!(st < 500, "{method} {path} → {st} {v}");
    (st, v)
}

async fn bad_input_gets_4xx_and_writes_nothing(b: Backend) {
    let w = World::new(b).await;
    let s = &w.server;
    let json_ct = Some("application/json");
    let posts = [
        "/api/v1/signup",
        "/api/v1/auth/login",
        "/api/v1/auth/verify-email",
        "/api/v1/auth/verify-email/resend",
        "/api/v1/auth/password-reset",
        "/api/v1/auth/password-reset/confirm",
    ];
    for p in posts {
        let (st, e) = raw(&w, "POST", p, json_ct, b"{\"email\": ".to_vec()).await;
        assert_eq!(
            (st, e["code"].as_str()),
            (400, Some("malformed_json")),
            "{p}"
        );
        let (st, e) = raw(&w, "POST", p, json_ct, b"{}".to_vec()).await;
        assert_eq!((st, e["code"].as_str()), (422, Some("invalid_body")), "{p}");
        let (st, e) = raw(&w, "POST", p, json_ct, b"[1,2,3]".to_vec()).await;
        assert_eq!((st, e["code"].as_str()), (422, Some("invalid_body")), "{p}");
        let (st, e) = raw(&w, "POST", p, Some("text/plain"), b"{}".to_vec()).await;
        assert_eq!(
            (st, e["code"].as_str()),
            (415, Some("unsupported_media_type")),
            "{p}"
        );
        let (st, e) = raw(&w, "POST", p, None, Vec::new()).await;
        assert_eq!(
            (st, e["code"].as_str()),
            (415, Some("unsupported_media_type")),
            "{p}"
        );
        let big = format!("{{\"email\": \"{}\"}}", "a".repeat(100_000));
        let (st, e) = raw(&w, "POST", p, json_ct, big.into_bytes()).await;
        assert_eq!(
            (st, e["code"].as_str()),
            (413, Some("payload_too_large")),
            "{p}"
        );
        let (st, e) = raw(
            &w,
            "POST",
            p,
            json_ct,
            b"{\"email\": 42, \"password\": []}".to_vec(),
        )
        .await;
        assert_eq!((st, e["code"].as_str()), (422, Some("invalid_body")), "{p}");
    }

    // Field by field on sign-up; none of them creates anything.
    let cases: Vec<(Value, &str)> = vec![
        (json!({"email": "not-an-email"}), "invalid_email"),
        (json!({"email": "a@b"}), "invalid_email"),
        (
            json!({"email": format!("{}@example.fr", "x".repeat(300))}),
            "too_long",
        ),
        (json!({"password": "too short"}), "password_too_short"),
        (json!({"password": "1qaz2wsx3edc"}), "password_too_common"),
        (json!({"password": "x".repeat(129)}), "password_too_long"),
        (json!({"first_name": ""}), "required"),
        (json!({"first_name": "x".repeat(101)}), "too_long"),
        (
            json!({"last_name": "bad\u{0007}name"}),
            "invalid_characters",
        ),
        (json!({"country": "ZZ"}), "invalid_country"),
        (json!({"language": "de"}), "invalid_language"),
        (json!({"kind": "robot"}), "invalid_kind"),
        (json!({"kind": "company"}), "required"),
        (
            json!({"vat_number": "FR40303265045"}),
            "vat_number_for_companies",
        ),
        (
            json!({"kind": "company", "organisation": "ACME", "vat_number": "!!"}),
            "invalid_vat_number",
        ),
        (json!({"postal_code": "1".repeat(21)}), "too_long"),
    ];
    for (patch, code) in cases {
        let mut body = signup_body("fields@example.fr");
        for (k, v) in patch.as_object().unwrap() {
            body[k] = v.clone();
        }
        let (st, e) = s.post("/api/v1/signup", None, body.clone()).await;
        assert_eq!(st, 422, "{body} → {e}");
        let codes: Vec<&str> = e["fields"]
            .as_array()
            .map(|f| f.iter().filter_map(|x| x["code"].as_str()).collect())
            .unwrap_or_default();
        assert!(
            e["code"] == code || codes.contains(&code),
            "{patch} expected {code}, got {e}"
        );
    }
    // Several bad fields at once are all reported.
    let (st, e) = s.post("/api/v1/signup", None, json!({"email": "x", "password": "y", "first_name": "", "last_name": "", "country": "??"})).await;
    assert_eq!((st, e["code"].as_str()), (422, Some("validation_failed")));
    assert!(e["fields"].as_array().unwrap().len() >= 5, "{e}");

    // Nothing was half-written: the address is free, and no mail went out for the refusals.
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(w.smtp.to("fields@example.fr").is_empty());
    let (st, _) = s
        .post("/api/v1/signup", None, signup_body("fields@example.fr"))
        .await;
    assert_eq!(st, 201);
    // A duplicate (in any case) is refused and sends no second mail.
    let (st, e) = s
        .post("/api/v1/signup", None, signup_body("Fields@Example.FR"))
        .await;
    assert_eq!((st, e["code"].as_str()), (409, Some("email_taken")));
    w.smtp
        .wait_for_token("fields@example.fr", "/verify-email?token=")
        .await;
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert_eq!(w.smtp.to("fields@example.fr").len(), 1);

    // Wrong credentials answer alike for an unknown address and a wrong password.
    let t = s.customer(&w.smtp, "creds@example.fr").await;
    let (st1, e1) = s
        .post(
            "/api/v1/auth/login",
            None,
            json!({"email": "creds@example.fr", "password": "wrong password!!"}),
        )
        .await;
    let (st2, e2) = s
        .post(
            "/api/v1/auth/login",
            None,
            json!({"email": "nobody@example.fr", "password": "wrong password!!"}),
        )
        .await;
    assert_eq!(st2, 401);
    let (st3, e3) = s
        .post(
            "/api/v1/auth/login",
            None,
            json!({"email": "not an email", "password": PASSWORD}),
        )
        .await;
    assert_eq!((st1, &e1), (401, &e2));
    assert_eq!((st3, &e3), (401, &e2));
    assert_eq!(e1["code"], "invalid_credentials");
    let (_, events) = s.get("/api/v1/me/security/events", Some(&t)).await;
    assert!(
        events
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["kind"] == "login_failed")
    );

    // Authenticated endpoints: no token, a garbage token, bad ids, bad cursors.
    for (m, p) in [
        ("GET", "/api/v1/me"),
        ("GET", "/api/v1/me/emails"),
        ("GET", "/api/v1/me/tokens"),
        ("GET", "/api/v1/me/sessions"),
    ] {
        let (st, e) = s.call(m, p, None, None).await;
        assert_eq!(
            (st, e["code"].as_str()),
            (401, Some("unauthenticated")),
            "{p}"
        );
        let (st, _) = s.call(m, p, Some("gcs_forged"), None).await;
        assert_eq!(st, 401, "{p}");
    }
    let (st, _) = s.get("/api/v1/me/emails/not-an-id", Some(&t)).await;
    assert_eq!(st, 404);
    let (st, e) = s.get("/api/v1/me/emails?cursor=garbage", Some(&t)).await;
    assert_eq!((st, e["code"].as_str()), (400, Some("invalid_cursor")));
    let (st, e) = s.get("/api/v1/me/emails?limit=abc", Some(&t)).await;
    assert_eq!(
        (st, e["code"].as_str()),
        (400, Some("invalid_request")),
        "{e}"
    );
    let (st, e) = s
        .post(
            "/api/v1/me/emails/verify",
            Some(&t),
            json!({"reference": "GC-\u{0000}"}),
        )
        .await;
    assert_eq!((st, e["code"].as_str()), (422, Some("invalid_reference")));
    let (st, _) = s
        .call(
            "DELETE",
            "/api/v1/me/sessions/'; DROP TABLE accounts; --",
            Some(&t),
            None,
        )
        .await;
    assert_eq!(st, 404);
    let (st, e) = s
        .post(
            "/api/v1/me/emails/verify",
            Some(&t),
            json!({"reference": ""}),
        )
        .await;
    assert_eq!((st, e["code"].as_str()), (422, Some("invalid_reference")));
    let (st, e) = s
        .post(
            "/api/v1/me/password",
            Some(&t),
            json!({"current_password": PASSWORD, "new_password": "password"}),
        )
        .await;
    assert_eq!((st, e["code"].as_str()), (422, Some("password_too_short")));
    let (st, e) = s
        .post(
            "/api/v1/me/password",
            Some(&t),
            json!({"current_password": "not it at all", "new_password": "another good passphrase"}),
        )
        .await;
    assert_eq!((st, e["code"].as_str()), (403, Some("invalid_password")));
    let (st, e) = s
        .post(
            "/api/v1/auth/password-reset",
            None,
            json!({"email": "nope"}),
        )
        .await;
    assert_eq!((st, e["code"].as_str()), (422, Some("invalid_email")));
    // Cookie-authenticated writes from another origin are refused (CSRF).
    let cookie = format!("guichet_session={t}");
    let r = s
        .client
        .patch(s.url("/api/v1/me"))
        .header("cookie", &cookie)
        .header("origin", "https://evil.example")
        .json(&json!({"city": "X"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    // A cross-origin POST with the session cookie and no CSRF proof is refused too, and
    // writes nothing.
    let r = s
        .client
        .post(s.url("/api/v1/me/tokens"))
        .header("cookie", &cookie)
        .header("origin", "https://evil.example")
        .json(&json!({"name": "stolen", "scope": "write"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    let (_, tokens) = s.get("/api/v1/me/tokens", Some(&t)).await;
    assert!(tokens.as_array().unwrap().is_empty());
    let r = s
        .client
        .patch(s.url("/api/v1/me"))
        .header("cookie", &cookie)
        .json(&json!({"city": "X"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    let r = s
        .client
        .patch(s.url("/api/v1/me"))
        .header("cookie", &cookie)
        .header("origin", &s.base)
        .json(&json!({"city": "X"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
}

async fn expired_and_unknown_tokens(b: Backend) {
    let w = World::new(b).await;
    let s = &w.server;
    let op = s.operator_key();
    for bad in ["", "gct_unknown", &"x".repeat(500)] {
        let (st, e) = s
            .post("/api/v1/auth/verify-email", None, json!({"token": bad}))
            .await;
        assert_eq!((st, e["code"].as_str()), (400, Some("invalid_token")));
        let (st, e) = s
            .post(
                "/api/v1/auth/password-reset/confirm",
                None,
                json!({"token": bad, "password": "a good long passphrase"}),
            )
            .await;
        assert_eq!((st, e["code"].as_str()), (400, Some("invalid_token")));
    }
    let (st, _) = s
        .post("/api/v1/signup", None, signup_body("late@example.fr"))
        .await;
    assert_eq!(st, 201);
    let token = w
        .smtp
        .wait_for_token("late@example.fr", "/verify-email?token=")
        .await;
    // A verification link lives 48 hours.
    let (st, _) = s
        .post(
            "/api/v1/admin/clock",
            Some(&op),
            json!({"advance_seconds": 49 * 3600}),
        )
        .await;
    assert_eq!(st, 200);
    let (st, e) = s
        .post("/api/v1/auth/verify-email", None, json!({"token": token}))
        .await;
    assert_eq!((st, e["code"].as_str()), (400, Some("token_expired")));
    // A new link can be asked for, and works.
    let (st, _) = s
        .post(
            "/api/v1/auth/verify-email/resend",
            None,
            json!({"email": "late@example.fr"}),
        )
        .await;
    assert_eq!(st, 202);
    let fresh = crate::harness::eventually(20, "a second verification mail", || async {
        let mails = w.smtp.to("late@example.fr");
        (mails.len() >= 2)
            .then(|| crate::harness::smtp::token_after(&mails[1].text(), "/verify-email?token="))
            .flatten()
    })
    .await;
    assert_ne!(fresh, token);
    let (st, _) = s
        .post("/api/v1/auth/verify-email", None, json!({"token": fresh}))
        .await;
    assert_eq!(st, 200);

    // A password-reset link lives 30 minutes.
    let (st, _) = s
        .post(
            "/api/v1/auth/password-reset",
            None,
            json!({"email": "late@example.fr"}),
        )
        .await;
    assert_eq!(st, 202);
    let reset = w
        .smtp
        .wait_for_token("late@example.fr", "/reset-password?token=")
        .await;
    s.post(
        "/api/v1/admin/clock",
        Some(&op),
        json!({"advance_seconds": 31 * 60}),
    )
    .await;
    let (st, e) = s
        .post(
            "/api/v1/auth/password-reset/confirm",
            None,
            json!({"token": reset, "password": "a good long passphrase"}),
        )
        .await;
    assert_eq!((st, e["code"].as_str()), (400, Some("token_expired")));
    s.login("late@example.fr", PASSWORD).await;

    // Sessions end after their idle timeout.
    let t = s.login("late@example.fr", PASSWORD).await;
    s.post(
        "/api/v1/admin/clock",
        Some(&op),
        json!({"advance_seconds": 3 * 3600}),
    )
    .await;
    let (st, e) = s.get("/api/v1/me", Some(&t)).await;
    assert_eq!((st, e["code"].as_str()), (401, Some("session_expired")));
}
