//! Two accounts: neither reaches the other's profile, mails, tokens or sessions by any id.

use crate::both_backends;
use crate::harness::{Backend, World};
use serde_json::json;

both_backends!(accounts_are_isolated);

async fn accounts_are_isolated(b: Backend) {
    let w = World::new(b).await;
    let s = &w.server;
    let a = s.customer(&w.smtp, "alice@example.fr").await;
    let bob = s.customer(&w.smtp, "bob@example.fr").await;
    let (_, bob_me) = s.get("/api/v1/me", Some(&bob)).await;
    let (_, bob_mails) = s.get("/api/v1/me/emails", Some(&bob)).await;
    let bob_mail = bob_mails["items"][0].clone();
    let (_, bob_token) = s
        .post(
            "/api/v1/me/tokens",
            Some(&bob),
            json!({"name": "b", "scope": "read"}),
        )
        .await;
    let (_, bob_sessions) = s.get("/api/v1/me/sessions", Some(&bob)).await;
    let bob_session = bob_sessions[0]["id"].as_str().unwrap().to_owned();

    // Alice sees only her own things.
    let (_, me) = s.get("/api/v1/me", Some(&a)).await;
    assert_eq!(me["email"], "alice@example.fr");
    assert_ne!(me["id"], bob_me["id"]);
    let (_, mails) = s.get("/api/v1/me/emails", Some(&a)).await;
    assert!(
        mails["items"]
            .as_array()
            .unwrap()
            .iter()
            .all(|m| m["to"] == "alice@example.fr")
    );
    let (st, _) = s
        .get(
            &format!("/api/v1/me/emails/{}", bob_mail["id"].as_str().unwrap()),
            Some(&a),
        )
        .await;
    assert_eq!(st, 404);
    let (_, v) = s
        .post(
            "/api/v1/me/emails/verify",
            Some(&a),
            json!({"reference": bob_mail["reference"]}),
        )
        .await;
    assert_eq!(
        v["genuine"], false,
        "another account's reference is not genuine for Alice"
    );
    let (st, _) = s
        .call(
            "DELETE",
            &format!("/api/v1/me/tokens/{}", bob_token["id"].as_str().unwrap()),
            Some(&a),
            None,
        )
        .await;
    assert_eq!(st, 404);
    let (st, _) = s
        .call(
            "DELETE",
            &format!("/api/v1/me/sessions/{bob_session}"),
            Some(&a),
            None,
        )
        .await;
    assert_eq!(st, 404);
    let (_, sessions) = s.get("/api/v1/me/sessions", Some(&a)).await;
    assert!(
        sessions
            .as_array()
            .unwrap()
            .iter()
            .all(|x| x["id"] != bob_session.as_str())
    );
    let (_, tokens) = s.get("/api/v1/me/tokens", Some(&a)).await;
    assert_eq!(tokens.as_array().unwrap().len(), 0);
    let (_, events) = s.get("/api/v1/me/security/events", Some(&a)).await;
    assert!(!events.to_string().contains("api_token_created"));

    // Bob's things still work for Bob.
    let (st, _) = s
        .get(
            &format!("/api/v1/me/emails/{}", bob_mail["id"].as_str().unwrap()),
            Some(&bob),
        )
        .await;
    assert_eq!(st, 200);
    let (st, _) = s
        .get("/api/v1/me", Some(bob_token["token"].as_str().unwrap()))
        .await;
    assert_eq!(st, 200);
    // Bob can end his other session, and it is then refused.
    let bob2 = s.login("bob@example.fr", crate::harness::PASSWORD).await;
    let (_, sessions) = s.get("/api/v1/me/sessions", Some(&bob2)).await;
    assert_eq!(sessions.as_array().unwrap().len(), 2);
    assert_eq!(
        sessions
            .as_array()
            .unwrap()
            .iter()
            .filter(|x| x["current"] == true)
            .count(),
        1
    );
    let (st, _) = s
        .call(
            "DELETE",
            &format!("/api/v1/me/sessions/{bob_session}"),
            Some(&bob2),
            None,
        )
        .await;
    assert_eq!(st, 204);
    let (st, _) = s.get("/api/v1/me", Some(&bob)).await;
    assert_eq!(st, 401);
}
