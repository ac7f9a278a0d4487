//! The catalog: operators' CRUD (audited), the public catalog, and the idempotent,
//! all-or-nothing TOML import whose errors name the line and the field.

use crate::both_backends;
use crate::harness::{Backend, World};
use serde_json::json;

both_backends!(catalog_admin_and_public, catalog_import_from_file);

async fn catalog_admin_and_public(b: Backend) {
    let w = World::new(b).await;
    let s = &w.server;
    let op = s.operator_key();
    let (st, v) = s.get("/api/v1/catalog", None).await;
    assert_eq!((st, v), (200, json!([])));
    let (st, v) = s
        .call(
            "PUT",
            "/api/v1/admin/catalog/products/vps",
            Some(&op),
            Some(json!({"name": "VPS", "category": "vps", "instant": true})),
        )
        .await;
    assert_eq!((st, v["changed"].as_bool()), (200, Some(true)));
    let (_, v) = s
        .call(
            "PUT",
            "/api/v1/admin/catalog/products/vps",
            Some(&op),
            Some(json!({"name": "VPS", "category": "vps", "instant": true})),
        )
        .await;
    assert_eq!(
        v["changed"], false,
        "the same product again changes nothing"
    );
    let plan = json!({"name": "VPS S monthly", "period": "P1M", "prices": {"EUR": 599, "USD": 699}, "setup_fees": {"EUR": 1000}});
    let (st, v) = s
        .call(
            "PUT",
            "/api/v1/admin/catalog/products/vps/plans/vps-s-monthly",
            Some(&op),
            Some(plan),
        )
        .await;
    assert_eq!(st, 200, "{v}");
    s.call(
        "PUT",
        "/api/v1/admin/catalog/products/vps/plans/vps-s-yearly",
        Some(&op),
        Some(json!({"name": "VPS S yearly", "period": "P1Y", "prices": {"EUR": 5990}})),
    )
    .await;

    let (_, cat) = s.get("/api/v1/catalog", None).await;
    let plans = cat[0]["plans"].as_array().unwrap();
    assert_eq!(plans.len(), 2);
    let m = plans.iter().find(|p| p["code"] == "vps-s-monthly").unwrap();
    assert_eq!(m["period"], "P1M");
    let eur = m["prices"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["currency"] == "EUR")
        .unwrap();
    assert_eq!(
        (eur["price_minor"].as_i64(), eur["setup_fee_minor"].as_i64()),
        (Some(599), Some(1000))
    );
    let (_, usd) = s.get("/api/v1/catalog?currency=usd", None).await;
    assert_eq!(
        usd[0]["plans"].as_array().unwrap().len(),
        1,
        "only plans priced in USD"
    );
    let (st, e) = s.get("/api/v1/catalog?currency=XYZ", None).await;
    assert_eq!((st, e["code"].as_str()), (422, Some("invalid_currency")));

    // Bad input, each with its code; nothing written.
    for (path, body, status, code) in [
        (
            "/api/v1/admin/catalog/products/V%20PS",
            json!({"name": "x", "category": "vps"}),
            422,
            "invalid_code",
        ),
        (
            "/api/v1/admin/catalog/products/web",
            json!({"name": "", "category": "vps"}),
            422,
            "required",
        ),
        (
            "/api/v1/admin/catalog/products/web",
            json!({"name": "Web", "category": "cars"}),
            422,
            "invalid_category",
        ),
        (
            "/api/v1/admin/catalog/products/vps/plans/p2",
            json!({"name": "x", "period": "P2W", "prices": {"EUR": 1}}),
            422,
            "invalid_period",
        ),
        (
            "/api/v1/admin/catalog/products/vps/plans/p2",
            json!({"name": "x", "period": "P1M", "prices": {}}),
            422,
            "required",
        ),
        (
            "/api/v1/admin/catalog/products/vps/plans/p2",
            json!({"name": "x", "period": "P1M", "prices": {"EUR": -1}}),
            422,
            "invalid_amount",
        ),
        (
            "/api/v1/admin/catalog/products/vps/plans/p2",
            json!({"name": "x", "period": "P1M", "prices": {"EUR": 1e15}}),
            422,
            "invalid_body",
        ),
        (
            "/api/v1/admin/catalog/products/nope/plans/p2",
            json!({"name": "x", "period": "P1M", "prices": {"EUR": 1}}),
            404,
            "product_not_found",
        ),
    ] {
        let (st, e) = s.call("PUT", path, Some(&op), Some(body.clone())).await;
        assert_eq!(
            (st, e["code"].as_str()),
            (status, Some(code)),
            "{path} {body}"
        );
    }
    s.call(
        "PUT",
        "/api/v1/admin/catalog/products/web",
        Some(&op),
        Some(json!({"name": "Web", "category": "web_hosting"})),
    )
    .await;
    let (st, e) = s
        .call(
            "PUT",
            "/api/v1/admin/catalog/products/web/plans/vps-s-yearly",
            Some(&op),
            Some(json!({"name": "x", "period": "P1M", "prices": {"EUR": 1}})),
        )
        .await;
    assert_eq!(
        (st, e["code"].as_str()),
        (409, Some("plan_of_another_product"))
    );

    // Customers and strangers cannot administer.
    let t = s.customer(&w.smtp, "buyer@example.fr").await;
    let (st, _) = s
        .call(
            "PUT",
            "/api/v1/admin/catalog/products/vps",
            Some(&t),
            Some(json!({"name": "Mine", "category": "vps"})),
        )
        .await;
    assert_eq!(st, 401);
    let (st, _) = s.get("/api/v1/admin/catalog", None).await;
    assert_eq!(st, 401);

    // Withdrawn plans leave the public catalog but stay for operators.
    let (st, _) = s
        .call(
            "DELETE",
            "/api/v1/admin/catalog/products/vps/plans/vps-s-yearly",
            Some(&op),
            None,
        )
        .await;
    assert_eq!(st, 204);
    let (st, _) = s
        .call(
            "DELETE",
            "/api/v1/admin/catalog/products/web/plans/vps-s-monthly",
            Some(&op),
            None,
        )
        .await;
    assert_eq!(st, 404, "a plan is withdrawn through its own product");
    let (_, cat) = s.get("/api/v1/catalog", None).await;
    let vps = cat
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["code"] == "vps")
        .unwrap();
    assert_eq!(vps["plans"].as_array().unwrap().len(), 1);
    let (_, all) = s.get("/api/v1/admin/catalog", Some(&op)).await;
    let vps = all
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["code"] == "vps")
        .unwrap();
    assert_eq!(vps["plans"].as_array().unwrap().len(), 2);
    let (_, audit) = s.get("/api/v1/admin/audit", Some(&op)).await;
    let actions: Vec<&str> = audit
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["action"].as_str().unwrap())
        .collect();
    assert!(
        actions.contains(&"catalog.product.put")
            && actions.contains(&"catalog.plan.put")
            && actions.contains(&"catalog.deactivate"),
        "{actions:?}"
    );
}

async fn catalog_import_from_file(b: Backend) {
    let w = World::new(b).await;
    let s = &w.server;
    let op = s.operator_key();
    let dir = std::env::temp_dir().join(format!("guichet-cat-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    let good = dir.join("good.toml");
    std::fs::write(
        &good,
        "[[product]]\ncode = \"vps\"\nname = \"VPS\"\ncategory = \"vps\"\ninstant = true\n\n  [[product.plan]]\n  code = \"vps-s-monthly\"\n  name = \"VPS S\"\n  period = \"P1M\"\n  prices = { EUR = 599 }\n\n[[product]]\ncode = \"domain-name\"\nname = \"Domain\"\ncategory = \"domain\"\n\n  [[product.plan]]\n  code = \"domain-fr\"\n  name = \".fr\"\n  period = \"P1Y\"\n  prices = { EUR = 799 }\n",
    )
    .unwrap();
    let out = s.cli(&["catalog", "import", good.to_str().unwrap()]);
    assert_eq!(out, "imported 2 products, 2 plans (4 changed)");
    let out = s.cli(&["catalog", "import", good.to_str().unwrap()]);
    assert_eq!(
        out, "imported 2 products, 2 plans (0 changed)",
        "idempotent"
    );
    let (_, cat) = s.get("/api/v1/catalog", None).await;
    assert_eq!(cat.as_array().unwrap().len(), 2);

    // A malformed file names the line and field, and changes nothing.
    let bad = dir.join("bad.toml");
    std::fs::write(
        &bad,
        "[[product]]\ncode = \"vps\"\nname = \"VPS renamed\"\ncategory = \"vps\"\n\n  [[product.plan]]\n  code = \"vps-s-monthly\"\n  name = \"VPS S\"\n  period = \"P2W\"\n  prices = { EUR = 599 }\n",
    )
    .unwrap();
    let o = s.cli_output(&["catalog", "import", bad.to_str().unwrap()]);
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("line 9: plan.period"), "{err}");
    let syntax = dir.join("syntax.toml");
    std::fs::write(
        &syntax,
        "[[product]]\ncode = \"vps\"\nname = \"VPS\"\ncategory = vps\n",
    )
    .unwrap();
    let o = s.cli_output(&["catalog", "import", syntax.to_str().unwrap()]);
    assert!(!o.status.success());
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("line 4"),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let (_, cat) = s.get("/api/v1/catalog", None).await;
    let vps = cat
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["code"] == "vps")
        .unwrap();
    assert_eq!(vps["name"], "VPS", "the refused import changed nothing");
    let (_, audit) = s.get("/api/v1/admin/audit", Some(&op)).await;
    assert_eq!(
        audit
            .as_array()
            .unwrap()
            .iter()
            .filter(|a| a["action"] == "catalog.import")
            .count(),
        1
    );
    let _ = std::fs::remove_dir_all(&dir);
}
