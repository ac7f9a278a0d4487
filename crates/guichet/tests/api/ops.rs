//! Operations endpoints, error shapes for unknown paths and methods, configuration output,
//! operator authentication and the sandbox clock.

use crate::both_backends;
use crate::harness::{Backend, Server, World};
use serde_json::json;

both_backends!(ops_endpoints, operator_clock);

async fn ops_endpoints(b: Backend) {
    let w = World::new(b).await;
    let s = &w.server;
    let (st, v) = s.get("/healthz", None).await;
    assert_eq!((st, v["status"].as_str()), (200, Some("ok")));
    let (st, v) = s.get("/readyz", None).await;
    assert_eq!(st, 200);
    assert_eq!(
        v["database"],
        if b == Backend::Sqlite {
            "sqlite"
        } else {
            "postgres"
        }
    );
    let (st, doc) = s.get("/api/v1/openapi.json", None).await;
    assert_eq!(st, 200);
    assert_eq!(doc["openapi"], "3.1.0");
    assert!(doc["paths"]["/api/v1/signup"]["post"].is_object());
    let r = s.client.get(s.url("/metrics")).send().await.unwrap();
    assert!(r.headers().get("x-request-id").is_some());
    let text = r.text().await.unwrap();
    assert!(text.contains("guichet_http_requests_total"), "{text}");
    let (st, e) = s.get("/api/v1/nowhere", None).await;
    assert_eq!((st, e["code"].as_str()), (404, Some("not_found")));
    let (st, e) = s.call("DELETE", "/api/v1/signup", None, None).await;
    assert_eq!((st, e["code"].as_str()), (405, Some("method_not_allowed")));
    let r = s.client.get(s.url("/api/v1/me")).send().await.unwrap();
    assert_eq!(
        r.headers().get("x-content-type-options").unwrap(),
        "nosniff"
    );
    assert!(
        r.headers()
            .get("content-security-policy")
            .unwrap()
            .to_str()
            .unwrap()
            .contains("frame-ancestors 'none'")
    );

    // check-config prints the effective configuration with the database password masked.
    let mut env = s.env.clone();
    env.push((
        "GUICHET_DATABASE_URL".into(),
        "postgres://guichet:s3cret@db.internal/guichet".into(),
    ));
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_guichet"))
        .arg("check-config")
        .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success());
    assert!(
        text.contains("postgres://guichet:***@db.internal/guichet"),
        "{text}"
    );
    assert!(!text.contains("s3cret"));
    assert!(text.contains("sandbox = true"));
}

async fn operator_clock(b: Backend) {
    let w = World::new(b).await;
    let s = &w.server;
    let op = s.operator_key();
    let (st, _) = s.get("/api/v1/admin/clock", None).await;
    assert_eq!(st, 401);
    let (st, _) = s
        .get("/api/v1/admin/clock", Some("gco_not-a-real-key"))
        .await;
    assert_eq!(st, 401);
    let (st, before) = s.get("/api/v1/admin/clock", Some(&op)).await;
    assert_eq!(st, 200);
    let (st, after) = s
        .post(
            "/api/v1/admin/clock",
            Some(&op),
            json!({"advance_seconds": 86400}),
        )
        .await;
    assert_eq!(st, 200, "{after}");
    assert!(after["offset_seconds"].as_i64().unwrap() >= 86400);
    assert!(after["now"].as_str().unwrap() > before["now"].as_str().unwrap());
    let (st, e) = s
        .post(
            "/api/v1/admin/clock",
            Some(&op),
            json!({"now": "2001-01-01T00:00:00Z"}),
        )
        .await;
    assert_eq!((st, e["code"].as_str()), (400, Some("clock_backwards")));
    let (st, e) = s.post("/api/v1/admin/clock", Some(&op), json!({})).await;
    assert_eq!((st, e["code"].as_str()), (400, Some("invalid_clock_move")));
    let (_, audit) = s.get("/api/v1/admin/audit", Some(&op)).await;
    assert!(
        audit
            .as_array()
            .unwrap()
            .iter()
            .any(|a| a["action"] == "clock.move")
    );

    // Keys are listed without their secret and revoked at once.
    let list = s.cli(&["operator", "list-keys"]);
    assert!(
        list.contains("admin") && list.contains("active") && !list.contains(&op),
        "{list}"
    );
    let other = s.operator_key();
    let (st, _) = s.get("/api/v1/admin/clock", Some(&other)).await;
    assert_eq!(st, 200);
    let id = s
        .cli(&["operator", "list-keys"])
        .lines()
        .last()
        .unwrap()
        .split_whitespace()
        .next()
        .unwrap()
        .to_owned();
    assert_eq!(
        s.cli(&["operator", "revoke-key", &id]),
        format!("revoked {id}")
    );
    let (st, _) = s.get("/api/v1/admin/clock", Some(&other)).await;
    assert_eq!(st, 401);
    assert!(
        !s.cli_output(&["operator", "revoke-key", &id])
            .status
            .success()
    );

    // Outside sandbox mode the clock does not move.
    let mut env = s.env.clone();
    env.retain(|(k, _)| k != "GUICHET_SANDBOX");
    env.push(("GUICHET_SANDBOX".into(), "0".into()));
    let prod = Server::start_with(env);
    let (st, e) = prod
        .post(
            "/api/v1/admin/clock",
            Some(&op),
            json!({"advance_seconds": 60}),
        )
        .await;
    assert_eq!((st, e["code"].as_str()), (403, Some("not_sandbox")));
}
