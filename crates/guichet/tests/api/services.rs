//! A service's end, the guide's three buttons: renewal settings, "Résilier" (terminate at
//! expiration, cancellable until 24 hours before, deleted at E by the moved clock), and
//! "Supprimer immédiatement" (a mailed single-use token, then deleted at once). Next dates and
//! pending actions follow; another account's service is a 404.

use crate::both_backends;
use crate::harness::{Backend, PASSWORD, Server, World};
use serde_json::{Value, json};

both_backends!(renewal_and_termination, delete_now_with_mailed_token);

async fn bought_service(s: &Server, t: &str) -> Value {
    let (st, o) = s
        .post(
            "/api/v1/me/orders",
            Some(t),
            json!({"lines": [{"plan": "mail-yearly"}]}),
        )
        .await;
    assert_eq!(st, 201, "{o}");
    let id = o["id"].as_str().unwrap();
    let source = s.card_token("4242424242424242").await;
    let (st, o) = s
        .post(
            &format!("/api/v1/me/orders/{id}/pay"),
            Some(t),
            json!({ "source": source }),
        )
        .await;
    assert_eq!((st, &o["status"]), (200, &json!("delivered")), "{o}");
    let sid = o["lines"][0]["service_id"].as_str().unwrap();
    let (_, svc) = s.get(&format!("/api/v1/me/services/{sid}"), Some(t)).await;
    svc
}

fn date(v: &Value) -> jiff::civil::Date {
    v.as_str().unwrap().parse().unwrap()
}

async fn mail_kinds(s: &Server, t: &str) -> Vec<String> {
    let (_, v) = s.get("/api/v1/me/emails?limit=100", Some(t)).await;
    v["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["kind"].as_str().unwrap().to_owned())
        .collect()
}

async fn renewal_and_termination(b: Backend) {
    let w = World::new(b).await;
    let s = &w.server;
    let op = s.operator_key();
    s.mail_plan(&op, json!({"EUR": 1200})).await;
    let t = s.customer(&w.smtp, "ending@example.fr").await;
    let other = s.customer(&w.smtp, "outsider@example.fr").await;
    let svc = bought_service(s, &t).await;
    let id = svc["id"].as_str().unwrap().to_owned();
    let e = date(&svc["expires_on"]);
    let nd = &svc["next_dates"];
    assert_eq!(
        date(&nd["next_charge"]),
        e.saturating_sub(jiff::Span::new().days(7))
    );
    assert_eq!(
        date(&nd["next_reminder"]),
        e.saturating_sub(jiff::Span::new().days(30))
    );
    assert_eq!(date(&nd["suspension"]), e);
    assert_eq!(
        date(&nd["deletion"]),
        e.saturating_add(jiff::Span::new().days(7))
    );
    assert_eq!(svc["pending_actions"], json!(["renewal_automatic"]));

    // Renewal settings.
    let path = format!("/api/v1/me/services/{id}/renewal");
    let (st, v) = s
        .call("PUT", &path, Some(&t), Some(json!({"mode": "manual"})))
        .await;
    assert_eq!(st, 200, "{v}");
    assert_eq!(v["renewal"]["mode"], "manual");
    assert!(v["next_dates"]["next_charge"].is_null());
    assert_eq!(v["pending_actions"], json!(["renewal_manual_due"]));
    let (st, v) = s
        .call(
            "PUT",
            &path,
            Some(&t),
            Some(json!({"mode": "automatic", "period": "P1M"})),
        )
        .await;
    assert_eq!((st, v["code"].as_str()), (422, Some("period_unavailable")));
    let (st, v) = s
        .call("PUT", &path, Some(&t), Some(json!({"mode": "sometimes"})))
        .await;
    assert_eq!((st, v["code"].as_str()), (422, Some("invalid_mode")));
    let (st, _) = s
        .call("PUT", &path, Some(&other), Some(json!({"mode": "manual"})))
        .await;
    assert_eq!(st, 404);
    s.call("PUT", &path, Some(&t), Some(json!({"mode": "automatic"})))
        .await;

    // Résilier.
    let term = format!("/api/v1/me/services/{id}/termination");
    let (st, v) = s.post(&term, Some(&t), json!({"reason": "bored"})).await;
    assert_eq!((st, v["code"].as_str()), (422, Some("invalid_reason")));
    let (st, _) = s
        .post(&term, Some(&other), json!({"reason": "other"}))
        .await;
    assert_eq!(st, 404);
    let (st, v) = s
        .post(
            &term,
            Some(&t),
            json!({"reason": "migrating", "comment": "Moving in-house"}),
        )
        .await;
    assert_eq!(st, 200, "{v}");
    assert_eq!(v["termination"]["reason"], "migrating");
    assert_eq!(v["termination"]["cancellable"], true);
    assert_eq!(date(&v["next_dates"]["deletion"]), e);
    assert!(v["next_dates"]["next_charge"].is_null());
    assert_eq!(v["pending_actions"], json!(["termination_scheduled"]));
    let (st, v) = s.post(&term, Some(&t), json!({"reason": "other"})).await;
    assert_eq!((st, v["code"].as_str()), (409, Some("already_terminating")));
    let (st, v) = s
        .call("PUT", &path, Some(&t), Some(json!({"mode": "manual"})))
        .await;
    assert_eq!((st, v["code"].as_str()), (409, Some("service_terminating")));
    assert!(
        mail_kinds(s, &t)
            .await
            .contains(&"service_termination_scheduled".to_owned())
    );
    // Cancelled, then asked again.
    let (st, v) = s.call("DELETE", &term, Some(&t), None).await;
    assert_eq!((st, &v["termination"]), (200, &Value::Null));
    let (st, _) = s
        .post(&term, Some(&t), json!({"reason": "too_expensive"}))
        .await;
    assert_eq!(st, 200);

    // Less than 24 hours before E: final.
    let (_, c) = s.get("/api/v1/admin/clock", Some(&op)).await;
    let now: jiff::Timestamp = c["now"].as_str().unwrap().parse().unwrap();
    let e_start = jiff::tz::TimeZone::UTC
        .to_timestamp(e.at(0, 0, 0, 0))
        .unwrap();
    let to = e_start.as_second() - 12 * 3600 - now.as_second();
    s.post(
        "/api/v1/admin/clock",
        Some(&op),
        json!({"advance_seconds": to}),
    )
    .await;
    let t = s.login("ending@example.fr", PASSWORD).await;
    let (st, v) = s.call("DELETE", &term, Some(&t), None).await;
    assert_eq!(
        (st, v["code"].as_str()),
        (409, Some("termination_final")),
        "{v}"
    );
    let (_, v) = s.get(&format!("/api/v1/me/services/{id}"), Some(&t)).await;
    assert_eq!(v["state"], "active");
    assert_eq!(v["termination"]["cancellable"], false);

    // E comes: the clock move deletes it, with its mail and webhook event.
    s.post(
        "/api/v1/admin/clock",
        Some(&op),
        json!({"advance_seconds": 13 * 3600}),
    )
    .await;
    let t = s.login("ending@example.fr", PASSWORD).await;
    let (_, v) = s.get(&format!("/api/v1/me/services/{id}"), Some(&t)).await;
    assert_eq!(v["state"], "deleted", "{v}");
    assert!(v["next_dates"].is_null());
    assert_eq!(v["pending_actions"], json!([]));
    assert!(
        mail_kinds(s, &t)
            .await
            .contains(&"service_deleted".to_owned())
    );
    let (_, log) = s
        .get(&format!("/api/v1/admin/webhooks?subject={id}"), Some(&op))
        .await;
    let kinds: Vec<&str> = log
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["type"].as_str().unwrap())
        .collect();
    assert!(kinds.contains(&"service.deleted"), "{kinds:?}");
    assert!(kinds.contains(&"service.termination_scheduled"));
    // Nothing more can be done with it.
    let (st, v) = s.post(&term, Some(&t), json!({"reason": "other"})).await;
    assert_eq!((st, v["code"].as_str()), (409, Some("service_deleted")));
}

async fn delete_now_with_mailed_token(b: Backend) {
    let w = World::new(b).await;
    let s = &w.server;
    let op = s.operator_key();
    s.mail_plan(&op, json!({"EUR": 1200})).await;
    let t = s.customer(&w.smtp, "deleter@example.fr").await;
    let other = s.customer(&w.smtp, "bystander@example.fr").await;
    let svc = bought_service(s, &t).await;
    let id = svc["id"].as_str().unwrap().to_owned();
    let ask = format!("/api/v1/me/services/{id}/deletion");
    let confirm = format!("/api/v1/me/services/{id}/deletion/confirm");

    let (st, _) = s.post(&ask, Some(&other), json!({})).await;
    assert_eq!(st, 404);
    let (st, v) = s.post(&ask, Some(&t), json!({})).await;
    assert_eq!((st, &v["mailed"]), (202, &json!(true)));
    let token = w
        .smtp
        .wait_for_token(
            "deleter@example.fr",
            &format!("/services/{id}/delete?token="),
        )
        .await;
    // Still active until confirmed.
    let (_, v) = s.get(&format!("/api/v1/me/services/{id}"), Some(&t)).await;
    assert_eq!(v["state"], "active");
    let (st, v) = s
        .post(&confirm, Some(&t), json!({"token": "gct_wrong"}))
        .await;
    assert_eq!((st, v["code"].as_str()), (400, Some("invalid_token")));
    // Another account cannot use it, even with the token.
    let (st, _) = s
        .post(&confirm, Some(&other), json!({ "token": token }))
        .await;
    assert_eq!(st, 404);
    let (st, v) = s.post(&confirm, Some(&t), json!({ "token": token })).await;
    assert_eq!(st, 200, "{v}");
    assert_eq!(v["state"], "deleted");
    assert!(v["deleted_at"].is_string());
    let (st, v) = s.post(&confirm, Some(&t), json!({ "token": token })).await;
    assert_eq!((st, v["code"].as_str()), (409, Some("service_deleted")));
    assert!(
        mail_kinds(s, &t)
            .await
            .contains(&"service_deleted".to_owned())
    );
    assert!(
        s.event_kinds(&t)
            .await
            .contains(&"service_deleted".to_owned())
    );

    // A token expires after 72 hours.
    let svc = bought_service(s, &t).await;
    let id = svc["id"].as_str().unwrap().to_owned();
    s.post(
        &format!("/api/v1/me/services/{id}/deletion"),
        Some(&t),
        json!({}),
    )
    .await;
    let token = w
        .smtp
        .wait_for_token(
            "deleter@example.fr",
            &format!("/services/{id}/delete?token="),
        )
        .await;
    s.post(
        "/api/v1/admin/clock",
        Some(&op),
        json!({"advance_seconds": 73 * 3600}),
    )
    .await;
    let t = s.login("deleter@example.fr", PASSWORD).await;
    let (st, v) = s
        .post(
            &format!("/api/v1/me/services/{id}/deletion/confirm"),
            Some(&t),
            json!({ "token": token }),
        )
        .await;
    assert_eq!((st, v["code"].as_str()), (400, Some("token_expired")));
}
