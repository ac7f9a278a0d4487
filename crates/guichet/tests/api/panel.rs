//! The customer panel over HTTP, and the account-health checklist it shares with
//! `GET /api/v1/me/health`: the checklist follows the account (card, unpaid order, security
//! events read in the panel); pages need a session and send guests to the log-in page; a form
//! without its CSRF token or from another site is refused with an HTML page; a failed log-in
//! keeps the address typed; the log-in form opens a session cookie.

use crate::both_backends;
use crate::harness::{Backend, PASSWORD, Server, World};
use serde_json::{Value, json};

both_backends!(health_checklist_follows_the_account, panel_pages_and_forms);

fn item<'a>(h: &'a Value, code: &str) -> &'a Value {
    h["items"]
        .as_array()
        .expect("items")
        .iter()
        .find(|i| i["code"] == code)
        .unwrap_or_else(|| panic!("no {code} in {h}"))
}

fn ok(h: &Value, code: &str) -> bool {
    item(h, code)["ok"].as_bool().expect("ok")
}

/// The panel's script for Stripe's card field.
pub(crate) const STRIPE_SCRIPT: &str = "/assets/stripe-card.js?v=1";

/// A client that does not follow redirects (cookies are passed by hand).
pub(crate) fn browser() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client")
}

/// A form body.
pub(crate) fn form(pairs: &[(&str, &str)]) -> String {
    url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(pairs)
        .finish()
}

/// The value of cookie `name` set by a response.
fn set_cookie(r: &reqwest::Response, name: &str) -> String {
    r.headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(|v| v.strip_prefix(&format!("{name}=")))
        .and_then(|v| v.split(';').next())
        .unwrap_or_else(|| panic!("no {name} cookie"))
        .to_owned()
}

pub(crate) fn hidden(html: &str, name: &str) -> String {
    let marker = format!("name=\"{name}\" value=\"");
    let start = html
        .find(&marker)
        .unwrap_or_else(|| panic!("no {name} in {html}"))
        + marker.len();
    html[start..start + html[start..].find('"').expect("end")].to_owned()
}

pub(crate) async fn page(s: &Server, token: &str, path: &str) -> (u16, String) {
    let r = s
        .client
        .get(s.url(path))
        .header("cookie", format!("guichet_session={token}"))
        .send()
        .await
        .expect("page");
    (r.status().as_u16(), r.text().await.expect("body"))
}

async fn health_checklist_follows_the_account(b: Backend) {
    let w = World::new(b).await;
    let s = &w.server;
    let op = s.operator_key();
    s.mail_plan(&op, json!({"EUR": 1200})).await;
    let t = s.customer(&w.smtp, "healthy@example.fr").await;

    let (st, h) = s.get("/api/v1/me/health", Some(&t)).await;
    assert_eq!(st, 200, "{h}");
    assert_eq!(h["total"], 8);
    assert!(ok(&h, "email_verified"));
    assert!(!ok(&h, "backup_email_verified"));
    assert!(!ok(&h, "phone_verified"));
    assert!(!ok(&h, "second_factor"));
    assert!(!ok(&h, "payment_method"), "no card yet");
    assert!(ok(&h, "automatic_renewal"), "no service, nothing on manual");
    assert!(ok(&h, "no_unpaid_order"));
    assert!(
        ok(&h, "no_unread_security_event"),
        "sign-up, verification and log-in are routine: {h}"
    );
    assert_eq!(item(&h, "second_factor")["fix"], "/security#totp");
    assert_eq!(h["ok"], false);

    // A card that expires before nothing is due is valid through the next renewals.
    let card = s.card_token("4242424242424242").await;
    let (st, v) = s
        .post(
            "/api/v1/me/payment-methods",
            Some(&t),
            json!({"kind": "card", "token": card}),
        )
        .await;
    assert_eq!(st, 201, "{v}");
    let (_, order) = s
        .post(
            "/api/v1/me/orders",
            Some(&t),
            json!({"lines": [{"plan": "mail-yearly"}]}),
        )
        .await;
    let (_, h) = s.get("/api/v1/me/health", Some(&t)).await;
    assert!(ok(&h, "payment_method"), "{h}");
    assert!(!ok(&h, "no_unpaid_order"));
    assert_eq!(item(&h, "no_unpaid_order")["count"], 1);

    // Paying it delivers a yearly service renewing automatically.
    let (st, v) = s
        .post(
            &format!("/api/v1/me/orders/{}/pay", order["id"].as_str().unwrap()),
            Some(&t),
            json!({}),
        )
        .await;
    assert_eq!(st, 200, "{v}");
    let (_, h) = s.get("/api/v1/me/health", Some(&t)).await;
    assert!(ok(&h, "no_unpaid_order"), "{h}");

    // A password change is a security event to read; reading the panel's security page
    // marks it read.
    let (st, v) = s
        .post(
            "/api/v1/me/password",
            Some(&t),
            json!({"current_password": PASSWORD, "new_password": "another long passphrase 2026"}),
        )
        .await;
    assert_eq!(st, 204, "{v}");
    let (_, h) = s.get("/api/v1/me/health", Some(&t)).await;
    assert!(!ok(&h, "no_unread_security_event"), "{h}");
    // The password change, and the other sessions it ended.
    assert!(
        item(&h, "no_unread_security_event")["count"]
            .as_i64()
            .is_some_and(|n| n >= 1),
        "{h}"
    );
    let (st, html) = page(s, &t, "/security").await;
    assert_eq!(st, 200, "{html}");
    assert!(
        html.contains("password_changed") || html.contains("Mot de passe"),
        "{html}"
    );
    let (_, h) = s.get("/api/v1/me/health", Some(&t)).await;
    assert!(ok(&h, "no_unread_security_event"), "{h}");

    // The dashboard shows the same list; another account sees its own.
    let (st, html) = page(s, &t, "/dashboard").await;
    assert_eq!(st, 200);
    assert!(html.contains("/security#totp"), "{html}");
    let (st, v) = s.get("/api/v1/me/health", None).await;
    assert_eq!(st, 401, "{v}");
}

async fn panel_pages_and_forms(b: Backend) {
    let w = World::new(b).await;
    let s = &w.server;
    let t = s.customer(&w.smtp, "panel@example.fr").await;

    // Guests are sent to the log-in page, and back after it.
    let c = browser();
    let r = c.get(s.url("/services")).send().await.expect("get");
    assert_eq!(r.status(), 303);
    assert_eq!(r.headers()["location"], "/login?next=/services");

    // A log-in form without its token, or from another site, is refused with an HTML page.
    let r = c.get(s.url("/login")).send().await.expect("login page");
    assert_eq!(r.status(), 200);
    assert!(
        r.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    let guest = format!("guichet_csrf={}", set_cookie(&r, "guichet_csrf"));
    let html = r.text().await.expect("html");
    let csrf = hidden(&html, "_csrf");
    let r = c
        .post(s.url("/login"))
        .header("cookie", &guest)
        .header("origin", &s.base)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(form(&[
            ("email", "panel@example.fr"),
            ("password", PASSWORD),
        ]))
        .send()
        .await
        .expect("post");
    assert_eq!(r.status(), 403);
    assert!(r.text().await.unwrap().contains("<html"));
    let r = c
        .post(s.url("/login"))
        .header("cookie", &guest)
        .header("origin", "https://evil.example")
        .header("content-type", "application/x-www-form-urlencoded")
        .body(form(&[
            ("_csrf", csrf.as_str()),
            ("email", "panel@example.fr"),
            ("password", PASSWORD),
        ]))
        .send()
        .await
        .expect("post");
    assert_eq!(r.status(), 403);

    // A wrong password keeps the address typed, with the error shown.
    let r = c
        .post(s.url("/login"))
        .header("cookie", &guest)
        .header("origin", &s.base)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(form(&[
            ("_csrf", csrf.as_str()),
            ("email", "panel@example.fr"),
            ("password", "not the password at all"),
        ]))
        .send()
        .await
        .expect("post");
    assert_eq!(r.status(), 401);
    let html = r.text().await.unwrap();
    assert!(html.contains("value=\"panel@example.fr\""), "{html}");
    assert!(html.contains("role=\"alert\""), "{html}");

    // The right one opens a session and goes where the visitor was going.
    let r = c
        .post(s.url("/login"))
        .header("cookie", &guest)
        .header("origin", &s.base)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(form(&[
            ("_csrf", csrf.as_str()),
            ("email", "panel@example.fr"),
            ("password", PASSWORD),
            ("next", "/services"),
        ]))
        .send()
        .await
        .expect("post");
    assert_eq!(r.status(), 303);
    assert_eq!(r.headers()["location"], "/services");
    let session = format!("guichet_session={}", set_cookie(&r, "guichet_session"));
    let r = c
        .get(s.url("/services"))
        .header("cookie", &session)
        .send()
        .await
        .expect("services");
    assert_eq!(r.status(), 200);
    let html = r.text().await.unwrap();
    assert!(html.contains("lang=\"fr\""), "French account: {html}");

    // Someone else's service is a 404 page; the assets are cached.
    let (st, html) = page(s, &t, "/services/0190f1e2-0000-7000-8000-000000000000").await;
    assert_eq!(st, 404, "{html}");
    let r = c
        .get(s.url("/assets/htmx-2.0.11.min.js"))
        .send()
        .await
        .expect("htmx");
    assert_eq!(r.status(), 200);
    assert!(
        r.headers()["cache-control"]
            .to_str()
            .unwrap()
            .contains("max-age=31536000")
    );
}
