//! Account security: two-step log-in with an authenticator app, backup codes, re-authentication,
//! brute-force limits that hold in the database, and reset that keeps the second factor.

use crate::both_backends;
use crate::harness::{Backend, PASSWORD, Server, World};
use crate::panel::{browser, form, hidden};
use serde_json::{Value, json};

both_backends!(
    totp_login_backup_codes_and_reauth,
    brute_force_limits_per_account_and_ip,
    sms_as_an_extra_second_factor,
    lost_second_factor_recovery,
    attempts_within_the_allowance_are_never_refused,
);

/// The server's (sandbox) clock, in seconds.
async fn server_now(s: &Server, op: &str) -> u64 {
    let (_, c) = s.get("/api/v1/admin/clock", Some(op)).await;
    let t: jiff::Timestamp = c["now"].as_str().unwrap().parse().unwrap();
    t.as_second() as u64
}

fn code(secret: &str, at: u64) -> String {
    let t = totp_rs::Builder::new()
        .with_secret(totp_rs::Secret::try_from_base32(secret).unwrap())
        .build()
        .unwrap();
    t.generate(at).to_string()
}

async fn login_step1(s: &Server, email: &str, password: &str) -> Value {
    let (st, v) = s
        .post(
            "/api/v1/auth/login",
            None,
            json!({"email": email, "password": password}),
        )
        .await;
    assert_eq!(st, 200, "{v}");
    v
}

async fn totp_login_backup_codes_and_reauth(b: Backend) {
    let w = World::new(b).await;
    let s = &w.server;
    let op = s.operator_key();
    let t = s.customer(&w.smtp, "mfa@example.fr").await;

    // Enrol: secret, otpauth URI and an inline SVG QR code; confirm with a computed code.
    let (st, e) = s
        .post("/api/v1/me/security/totp", Some(&t), json!({}))
        .await;
    assert_eq!(st, 200, "{e}");
    let secret = e["secret"].as_str().unwrap().to_owned();
    assert!(
        e["otpauth_uri"]
            .as_str()
            .unwrap()
            .starts_with("otpauth://totp/")
    );
    assert!(e["qr_svg"].as_str().unwrap().contains("<svg"));
    let (st, err) = s
        .post(
            "/api/v1/me/security/totp/confirm",
            Some(&t),
            json!({"code": "000000"}),
        )
        .await;
    assert!(
        st == 400 && err["code"] == "invalid_code"
            || code(&secret, server_now(s, &op).await) == "000000"
    );
    let now = server_now(s, &op).await;
    let (st, codes) = s
        .post(
            "/api/v1/me/security/totp/confirm",
            Some(&t),
            json!({"code": code(&secret, now)}),
        )
        .await;
    assert_eq!(st, 200, "{codes}");
    let backup: Vec<String> = codes["backup_codes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap().to_owned())
        .collect();
    assert_eq!(backup.len(), 10);
    let (_, status) = s.get("/api/v1/me/security", Some(&t)).await;
    assert_eq!(
        (
            status["totp_enabled"].as_bool(),
            status["backup_codes_remaining"].as_i64()
        ),
        (Some(true), Some(10))
    );

    // Log-in is now two steps; no session (and no cookie) after the password alone.
    let v = login_step1(s, "mfa@example.fr", PASSWORD).await;
    assert_eq!(v["status"], "mfa_required");
    assert!(v.get("token").is_none());
    let challenge = v["challenge"].as_str().unwrap().to_owned();
    let (st, e) = s
        .post(
            "/api/v1/auth/login/second-factor",
            None,
            json!({"challenge": challenge, "code": "12345"}),
        )
        .await;
    assert_eq!((st, e["code"].as_str()), (401, Some("invalid_code")));
    // The code that confirmed enrolment was spent: the next step's code is needed.
    let next = code(&secret, server_now(s, &op).await + 30);
    let (st, v) = s
        .post(
            "/api/v1/auth/login/second-factor",
            None,
            json!({"challenge": challenge, "code": next}),
        )
        .await;
    assert_eq!(st, 200, "{v}");
    assert_eq!(v["status"], "ok");
    let t2 = v["token"].as_str().unwrap().to_owned();
    // A challenge works once; a replayed code is refused.
    let (st, _) = s
        .post(
            "/api/v1/auth/login/second-factor",
            None,
            json!({"challenge": challenge, "code": next}),
        )
        .await;
    assert_eq!(st, 401);
    let again = login_step1(s, "mfa@example.fr", PASSWORD).await;
    let (st, _) = s
        .post(
            "/api/v1/auth/login/second-factor",
            None,
            json!({"challenge": again["challenge"], "code": next}),
        )
        .await;
    assert_eq!(st, 401, "a TOTP code is accepted once");

    // A backup code works once.
    let c1 = login_step1(s, "mfa@example.fr", PASSWORD).await;
    let (st, _) = s
        .post(
            "/api/v1/auth/login/second-factor",
            None,
            json!({"challenge": c1["challenge"], "code": backup[0].to_lowercase()}),
        )
        .await;
    assert_eq!(st, 200);
    let c2 = login_step1(s, "mfa@example.fr", PASSWORD).await;
    let (st, _) = s
        .post(
            "/api/v1/auth/login/second-factor",
            None,
            json!({"challenge": c2["challenge"], "code": backup[0]}),
        )
        .await;
    assert_eq!(st, 401, "a used backup code fails the second time");
    let (_, status) = s.get("/api/v1/me/security", Some(&t2)).await;
    assert_eq!(status["backup_codes_remaining"], 9);

    // Sensitive changes need a recent re-authentication.
    s.post(
        "/api/v1/admin/clock",
        Some(&op),
        json!({"advance_seconds": 6 * 60}),
    )
    .await;
    let (st, e) = s
        .call(
            "DELETE",
            "/api/v1/me/security/totp",
            Some(&t2),
            Some(json!({"password": PASSWORD, "code": backup[1]})),
        )
        .await;
    assert_eq!((st, e["code"].as_str()), (403, Some("reauth_required")));
    let (st, e) = s
        .post(
            "/api/v1/me/tokens",
            Some(&t2),
            json!({"name": "x", "scope": "read"}),
        )
        .await;
    assert_eq!((st, e["code"].as_str()), (403, Some("reauth_required")));
    let (st, e) = s
        .post(
            "/api/v1/me/reauth",
            Some(&t2),
            json!({"password": PASSWORD}),
        )
        .await;
    assert_eq!(
        (st, e["code"].as_str()),
        (403, Some("invalid_code")),
        "the second factor is part of re-authentication"
    );
    let (st, _) = s
        .post(
            "/api/v1/me/reauth",
            Some(&t2),
            json!({"password": PASSWORD, "code": backup[2]}),
        )
        .await;
    assert_eq!(st, 204);
    let (st, _) = s
        .post(
            "/api/v1/me/tokens",
            Some(&t2),
            json!({"name": "x", "scope": "read"}),
        )
        .await;
    assert_eq!(st, 201);

    // Password reset does not bypass the second factor.
    s.post(
        "/api/v1/auth/password-reset",
        None,
        json!({"email": "mfa@example.fr"}),
    )
    .await;
    let reset = w
        .smtp
        .wait_for_token("mfa@example.fr", "/reset-password?token=")
        .await;
    let (st, _) = s
        .post(
            "/api/v1/auth/password-reset/confirm",
            None,
            json!({"token": reset, "password": "a fresh passphrase here"}),
        )
        .await;
    assert_eq!(st, 204);
    let v = login_step1(s, "mfa@example.fr", "a fresh passphrase here").await;
    assert_eq!(v["status"], "mfa_required");

    // Disable with re-authentication, password and a code: log-in is one step again.
    let c3 = code(&secret, server_now(s, &op).await);
    let (st, v) = s
        .post(
            "/api/v1/auth/login/second-factor",
            None,
            json!({"challenge": v["challenge"], "code": c3}),
        )
        .await;
    assert_eq!(st, 200, "{v}");
    let t3 = v["token"].as_str().unwrap().to_owned();
    let (st, _) = s
        .call(
            "DELETE",
            "/api/v1/me/security/totp",
            Some(&t3),
            Some(json!({"password": "a fresh passphrase here", "code": backup[3]})),
        )
        .await;
    assert_eq!(st, 204);
    let v = login_step1(s, "mfa@example.fr", "a fresh passphrase here").await;
    assert_eq!(v["status"], "ok");
    // Every change was mailed and logged.
    let (_, page) = s.get("/api/v1/me/emails?limit=100", Some(&t3)).await;
    let kinds: Vec<&str> = page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["kind"].as_str().unwrap())
        .collect();
    assert!(kinds.contains(&"security_change"), "{kinds:?}");
    let ev = s.event_kinds(&t3).await;
    for k in [
        "totp_enabled",
        "second_factor_failed",
        "reauth",
        "totp_disabled",
    ] {
        assert!(ev.iter().any(|e| e == k), "{k} missing from {ev:?}");
    }
}

async fn brute_force_limits_per_account_and_ip(b: Backend) {
    let db = crate::harness::TestDb::new(b).await;
    let smtp = crate::harness::SmtpSink::start().await;
    let mut server = Server::start(&db, Some(&smtp));
    // Behind a trusted proxy, the client address comes from X-Forwarded-For.
    server
        .env
        .push(("GUICHET_TRUSTED_PROXIES".into(), "127.0.0.1".into()));
    server.restart();
    let s = &server;
    let op = s.operator_key();
    s.customer(&smtp, "victim@example.fr").await;
    s.customer(&smtp, "bystander@example.fr").await;
    let attempt = |email: &'static str, password: &'static str, ip: &'static str| async move {
        let r = s
            .client
            .post(s.url("/api/v1/auth/login"))
            .header("x-forwarded-for", ip)
            .json(&json!({"email": email, "password": password}))
            .send()
            .await
            .unwrap();
        let st = r.status().as_u16();
        let retry = r
            .headers()
            .get("retry-after")
            .map(|v| v.to_str().unwrap().parse::<u64>().unwrap());
        (st, retry)
    };
    let mut limited = 0;
    let mut max_retry = 0;
    for _ in 0..50 {
        let (st, retry) = attempt("victim@example.fr", "wrong password 123", "203.0.113.7").await;
        assert!(st == 401 || st == 429, "{st}");
        if st == 429 {
            limited += 1;
            max_retry = max_retry.max(retry.expect("Retry-After on 429"));
        }
    }
    assert!(limited >= 40, "only {limited} of 50 attempts were limited");
    // Blocked, even the right password is refused.
    let (st, _) = attempt("victim@example.fr", PASSWORD, "203.0.113.7").await;
    assert_eq!(st, 429);
    // Another account from another address is unaffected.
    let (st, _) = attempt("bystander@example.fr", PASSWORD, "198.51.100.20").await;
    assert_eq!(st, 200);
    // After the delay, the right password works.
    s.post(
        "/api/v1/admin/clock",
        Some(&op),
        json!({"advance_seconds": max_retry + 1}),
    )
    .await;
    let (st, _) = attempt("victim@example.fr", PASSWORD, "203.0.113.7").await;
    assert_eq!(st, 200);
    // The limit is kept in the database: a restart does not forget it.
    for _ in 0..8 {
        attempt(
            "bystander@example.fr",
            "wrong password 123",
            "198.51.100.21",
        )
        .await;
    }
    let (st, _) = attempt(
        "bystander@example.fr",
        "wrong password 123",
        "198.51.100.21",
    )
    .await;
    assert_eq!(st, 429);
    server.restart();
    let s = &server;
    let r = s
        .client
        .post(s.url("/api/v1/auth/login"))
        .header("x-forwarded-for", "198.51.100.21")
        .json(&json!({"email": "bystander@example.fr", "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 429);
    assert!(r.headers().get("retry-after").is_some());
}

async fn sms_as_an_extra_second_factor(b: Backend) {
    let w = World::new(b).await;
    let s = &w.server;
    let op = s.operator_key();
    let t = s.customer(&w.smtp, "sms@example.fr").await;
    let (st, _) = s
        .call(
            "PUT",
            "/api/v1/me/security/phone",
            Some(&t),
            Some(json!({"phone": "+33611223344"})),
        )
        .await;
    assert_eq!(st, 202);
    let first = s.sms_code(&op, "+33611223344", None).await;
    let (st, _) = s
        .post(
            "/api/v1/me/security/phone/verify",
            Some(&t),
            json!({"code": first}),
        )
        .await;
    assert_eq!(st, 204);
    // Without an authenticator app there is no second step, and no SMS log-in.
    let v = login_step1(s, "sms@example.fr", PASSWORD).await;
    assert_eq!(v["status"], "ok");
    let (_, e) = s
        .post("/api/v1/me/security/totp", Some(&t), json!({}))
        .await;
    let secret = e["secret"].as_str().unwrap().to_owned();
    let (st, _) = s
        .post(
            "/api/v1/me/security/totp/confirm",
            Some(&t),
            json!({"code": code(&secret, server_now(s, &op).await)}),
        )
        .await;
    assert_eq!(st, 200);
    let v = login_step1(s, "sms@example.fr", PASSWORD).await;
    assert_eq!(v["status"], "mfa_required");
    assert!(
        v["methods"].as_array().unwrap().iter().any(|m| m == "sms"),
        "{v}"
    );
    let (st, _) = s
        .post(
            "/api/v1/auth/login/sms",
            None,
            json!({"challenge": v["challenge"]}),
        )
        .await;
    assert_eq!(st, 202);
    let texted = s.sms_code(&op, "+33611223344", Some(&first)).await;
    let (st, r) = s
        .post(
            "/api/v1/auth/login/second-factor",
            None,
            json!({"challenge": v["challenge"], "code": texted}),
        )
        .await;
    assert_eq!(st, 200, "{r}");
    assert_eq!(r["status"], "ok");
    // The texted code works once.
    let v2 = login_step1(s, "sms@example.fr", PASSWORD).await;
    let (st, _) = s
        .post(
            "/api/v1/auth/login/second-factor",
            None,
            json!({"challenge": v2["challenge"], "code": texted}),
        )
        .await;
    assert_eq!(st, 401);
    let (st, e) = s
        .post(
            "/api/v1/auth/login/sms",
            None,
            json!({"challenge": "gcm_forged"}),
        )
        .await;
    assert_eq!((st, e["code"].as_str()), (401, Some("invalid_challenge")));
}

async fn lost_second_factor_recovery(b: Backend) {
    let w = World::new(b).await;
    let s = &w.server;
    let op = s.operator_key();
    let email = "lost@example.fr";
    let t = s.customer(&w.smtp, email).await;
    // Not possible without a verified backup address and phone.
    let (_, e) = s
        .post("/api/v1/me/security/totp", Some(&t), json!({}))
        .await;
    let secret = e["secret"].as_str().unwrap().to_owned();
    let (st, _) = s
        .post(
            "/api/v1/me/security/totp/confirm",
            Some(&t),
            json!({"code": code(&secret, server_now(s, &op).await)}),
        )
        .await;
    assert_eq!(st, 200);
    let (st, e) = s
        .post(
            "/api/v1/auth/factor-recovery",
            None,
            json!({"email": email, "password": PASSWORD}),
        )
        .await;
    assert_eq!(
        (st, e["code"].as_str()),
        (409, Some("recovery_unavailable"))
    );
    s.call(
        "PUT",
        "/api/v1/me/security/backup-email",
        Some(&t),
        Some(json!({"email": "lost.backup@example.org"})),
    )
    .await;
    let tok = w
        .smtp
        .wait_for_token("lost.backup@example.org", "/verify-email?token=")
        .await;
    s.post("/api/v1/auth/verify-email", None, json!({"token": tok}))
        .await;
    s.call(
        "PUT",
        "/api/v1/me/security/phone",
        Some(&t),
        Some(json!({"phone": "+33699887766"})),
    )
    .await;
    let c = s.sms_code(&op, "+33699887766", None).await;
    let (st, _) = s
        .post(
            "/api/v1/me/security/phone/verify",
            Some(&t),
            json!({"code": c}),
        )
        .await;
    assert_eq!(st, 204);

    // Wrong password: nothing is sent.
    let (st, _) = s
        .post(
            "/api/v1/auth/factor-recovery",
            None,
            json!({"email": email, "password": "not the password"}),
        )
        .await;
    assert_eq!(st, 401);
    // Request, then confirm with the mailed link and the texted code.
    let (st, _) = s
        .post(
            "/api/v1/auth/factor-recovery",
            None,
            json!({"email": email, "password": PASSWORD}),
        )
        .await;
    assert_eq!(st, 202);
    let link = w
        .smtp
        .wait_for_token("lost.backup@example.org", "/factor-recovery?token=")
        .await;
    let texted = s.sms_code(&op, "+33699887766", Some(&c)).await;
    let wrong = if texted == "000000" {
        "111111"
    } else {
        "000000"
    };
    let (st, e) = s
        .post(
            "/api/v1/auth/factor-recovery/confirm",
            None,
            json!({"token": link, "code": wrong}),
        )
        .await;
    assert_eq!((st, e["code"].as_str()), (400, Some("invalid_code")));
    let (st, v) = s
        .post(
            "/api/v1/auth/factor-recovery/confirm",
            None,
            json!({"token": link, "code": texted}),
        )
        .await;
    assert_eq!(st, 200, "{v}");
    assert!(v["effective_at"].is_string());
    // Both addresses are told, with a cancel link.
    let cancel = w
        .smtp
        .wait_for_token(email, "/factor-recovery/cancel?token=")
        .await;
    w.smtp
        .wait_for_token("lost.backup@example.org", "/factor-recovery/cancel?token=")
        .await;

    // Before 72 hours, the second factor still holds.
    s.post(
        "/api/v1/admin/clock",
        Some(&op),
        json!({"advance_seconds": 71 * 3600}),
    )
    .await;
    assert_eq!(
        login_step1(s, email, PASSWORD).await["status"],
        "mfa_required"
    );
    // The owner cancels: even after the delay, the factor stays.
    let (st, _) = s
        .post(
            "/api/v1/auth/factor-recovery/cancel",
            None,
            json!({"token": cancel}),
        )
        .await;
    assert_eq!(st, 204);
    let (st, _) = s
        .post(
            "/api/v1/auth/factor-recovery/cancel",
            None,
            json!({"token": cancel}),
        )
        .await;
    assert_eq!(st, 400);
    // The notice's link opens the panel's cancel form, token filled in; spent, it is refused.
    let page = Guest::new(s, &format!("/factor-recovery/cancel?token={cancel}")).await;
    assert!(
        page.html.contains(&format!("value=\"{cancel}\"")),
        "{}",
        page.html
    );
    let (st, html) = page
        .post(s, "/factor-recovery/cancel", &[("token", cancel.as_str())])
        .await;
    assert_eq!(st, 400, "{html}");
    assert!(html.contains("role=\"alert\""), "{html}");
    s.post(
        "/api/v1/admin/clock",
        Some(&op),
        json!({"advance_seconds": 2 * 3600}),
    )
    .await;
    assert_eq!(
        login_step1(s, email, PASSWORD).await["status"],
        "mfa_required"
    );

    // A new recovery, through the panel's pages this time (the second-factor page links to
    // it; the mailed link opens its form), left to run: after 72 hours the password alone
    // signs in.
    let guest = Guest::new(s, "/factor-recovery/start").await;
    let (st, html) = guest
        .post(
            s,
            "/factor-recovery/start",
            &[("email", email), ("password", PASSWORD)],
        )
        .await;
    assert_eq!(st, 200, "{html}");
    let link2 = crate::harness::eventually(20, "a second recovery link", || async {
        let mails = w.smtp.to("lost.backup@example.org");
        mails
            .iter()
            .rev()
            .find_map(|m| crate::harness::smtp::token_after(&m.text(), "/factor-recovery?token="))
            .filter(|t| *t != link)
    })
    .await;
    let texted2 = s.sms_code(&op, "+33699887766", Some(&texted)).await;
    let page = Guest::new(s, &format!("/factor-recovery?token={link2}")).await;
    assert!(
        page.html.contains(&format!("value=\"{link2}\"")),
        "the mailed token is filled in: {}",
        page.html
    );
    let (st, html) = page
        .post(
            s,
            "/factor-recovery",
            &[("token", link2.as_str()), ("code", wrong)],
        )
        .await;
    assert_eq!(st, 400, "a wrong code is refused on the page: {html}");
    let (st, html) = page
        .post(
            s,
            "/factor-recovery",
            &[("token", link2.as_str()), ("code", texted2.as_str())],
        )
        .await;
    assert_eq!(st, 200, "{html}");
    s.post(
        "/api/v1/admin/clock",
        Some(&op),
        json!({"advance_seconds": 72 * 3600 + 60}),
    )
    .await;
    let v = login_step1(s, email, PASSWORD).await;
    assert_eq!(v["status"], "ok", "{v}");
    let t2 = v["token"].as_str().unwrap();
    let (_, status) = s.get("/api/v1/me/security", Some(t2)).await;
    assert_eq!(status["totp_enabled"], false);
    let ev = s.event_kinds(t2).await;
    for k in [
        "factor_recovery_requested",
        "factor_recovery_scheduled",
        "factor_recovery_cancelled",
        "factor_recovery_applied",
    ] {
        assert!(ev.iter().any(|e| e == k), "{k} missing from {ev:?}");
    }
}

/// A visitor of the panel: the CSRF cookie and token of a page, to post its form.
struct Guest {
    cookie: String,
    csrf: String,
    html: String,
}

impl Guest {
    async fn new(s: &Server, path: &str) -> Self {
        let r = browser().get(s.url(path)).send().await.expect("page");
        assert_eq!(r.status(), 200, "{path}");
        let cookie = r
            .headers()
            .get_all("set-cookie")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .find_map(|v| v.strip_prefix("guichet_csrf="))
            .and_then(|v| v.split(';').next())
            .expect("csrf cookie")
            .to_owned();
        let html = r.text().await.expect("html");
        Self {
            csrf: hidden(&html, "_csrf"),
            cookie: format!("guichet_csrf={cookie}"),
            html,
        }
    }

    async fn post(&self, s: &Server, path: &str, pairs: &[(&str, &str)]) -> (u16, String) {
        let mut all = vec![("_csrf", self.csrf.as_str())];
        all.extend_from_slice(pairs);
        let r = browser()
            .post(s.url(path))
            .header("cookie", &self.cookie)
            .header("origin", &s.base)
            .header("content-type", "application/x-www-form-urlencoded")
            .body(form(&all))
            .send()
            .await
            .expect("post");
        (r.status().as_u16(), r.text().await.expect("body"))
    }
}

/// Two nodes (or two requests) read the clock a millisecond apart: within the allowance, the
/// later attempt must not block the earlier one; past it, the doubling delay holds.
async fn attempts_within_the_allowance_are_never_refused(b: Backend) {
    use guichet_store::rate_limits::claim;
    sqlx::any::install_default_drivers();
    let w = World::new(b).await;
    let mut c = <sqlx::AnyConnection as sqlx::Connection>::connect(&w._db.url)
        .await
        .expect("db");
    let (window, free, max) = (60_000, 5, 900_000);
    assert_eq!(
        claim(&mut c, "t:key", 1_000, window, free, max)
            .await
            .unwrap(),
        Some(1)
    );
    // Read the clock a millisecond earlier, and lands second.
    assert_eq!(
        claim(&mut c, "t:key", 999, window, free, max)
            .await
            .unwrap(),
        Some(2)
    );
    for n in 3..=6 {
        assert_eq!(
            claim(&mut c, "t:key", 1_001, window, free, max)
                .await
                .unwrap(),
            Some(n)
        );
    }
    // The sixth attempt was past the allowance of five: blocked for a second.
    assert_eq!(
        claim(&mut c, "t:key", 1_500, window, free, max)
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        claim(&mut c, "t:key", 2_001, window, free, max)
            .await
            .unwrap(),
        Some(7)
    );
}
