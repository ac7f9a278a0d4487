//! Prices shown before the customer confirms: `POST /me/orders/quote` prices a new order as
//! placing it does (lines, VAT, a voucher's discount, the credit paying uses first) and writes
//! nothing; the panel's order form reviews that price before placing, and the service page
//! prices each plan change on its own confirmation page, the amount then ordered being the
//! amount shown.

use crate::both_backends;
use crate::harness::{Backend, Server, World};
use crate::panel::{browser, form, hidden, page};
use crate::plan_changes::{add_card, buy, vps_catalog};
use serde_json::{Value, json};

both_backends!(
    quote_prices_like_the_order,
    panel_shows_prices_before_confirming
);

/// An amount as the French panel writes it (under 1,000 €).
fn eur_fr(minor: i64) -> String {
    let sign = if minor < 0 { "-" } else { "" };
    let m = minor.abs();
    format!("{sign}{},{:02}\u{a0}€", m / 100, m % 100)
}

async fn voucher(s: &Server, op: &str, body: Value) {
    let (st, v) = s.post("/api/v1/admin/vouchers", Some(op), body).await;
    assert_eq!(st, 201, "{v}");
}

async fn uses_of(s: &Server, op: &str, code: &str) -> i64 {
    let (st, v) = s.get("/api/v1/admin/vouchers", Some(op)).await;
    assert_eq!(st, 200, "{v}");
    v.as_array()
        .unwrap()
        .iter()
        .find(|x| x["code"] == code)
        .unwrap_or_else(|| panic!("no {code} in {v}"))["uses"]
        .as_i64()
        .unwrap()
}

async fn quote_prices_like_the_order(b: Backend) {
    let w = World::new(b).await;
    let s = &w.server;
    let op = s.operator_key();
    vps_catalog(s, &op).await;
    voucher(s, &op, json!({"code": "TEN-M", "kind": "percent", "percent_bp": 1000, "currency": "EUR", "eligible_plans": ["vps-m"]})).await;
    voucher(
        s,
        &op,
        json!({"code": "GIFT", "kind": "credit", "amount_minor": 500, "currency": "EUR"}),
    )
    .await;
    let t = s.customer(&w.smtp, "quote@example.fr").await;
    let (st, v) = s
        .post(
            "/api/v1/me/credit/vouchers",
            Some(&t),
            json!({"code": "GIFT"}),
        )
        .await;
    assert_eq!(st, 200, "{v}");

    let lines = json!([{"plan": "vps-m"}]);
    let (st, q) = s
        .post(
            "/api/v1/me/orders/quote",
            Some(&t),
            json!({"lines": lines, "voucher": "ten-m"}),
        )
        .await;
    assert_eq!(st, 200, "{q}");
    assert_eq!(q["lines"][0]["net_minor"], 1199, "{q}");
    let d = &q["discount"];
    assert_eq!(d["code"], "TEN-M", "{q}");
    assert!(d["net_minor"].as_i64().unwrap() > 0, "{q}");
    let total = q["total_minor"].as_i64().unwrap();
    assert_eq!(
        total,
        q["lines"][0]["total_minor"].as_i64().unwrap() - d["total_minor"].as_i64().unwrap()
    );
    assert_eq!(
        q["credit_minor"], 500,
        "the whole balance, under the total: {q}"
    );
    assert_eq!(q["to_charge_minor"].as_i64().unwrap(), total - 500);

    // Nothing written: no order, the voucher unused, the credit whole.
    let (_, orders) = s.get("/api/v1/me/orders", Some(&t)).await;
    assert_eq!(orders.as_array().unwrap().len(), 0, "{orders}");
    assert_eq!(uses_of(s, &op, "TEN-M").await, 0);
    let (_, credit) = s.get("/api/v1/me/credit", Some(&t)).await;
    assert_eq!(credit["balances"][0]["balance_minor"], 500, "{credit}");

    // Placing the same order and redeeming the same code gives the quoted figures.
    let (st, o) = s
        .post("/api/v1/me/orders", Some(&t), json!({"lines": lines}))
        .await;
    assert_eq!(st, 201, "{o}");
    let (st, o) = s
        .post(
            &format!("/api/v1/me/orders/{}/voucher", o["id"].as_str().unwrap()),
            Some(&t),
            json!({"code": "TEN-M"}),
        )
        .await;
    assert_eq!(st, 200, "{o}");
    for k in ["net_minor", "vat_minor", "total_minor"] {
        assert_eq!(o[k], q[k], "{k}: quoted {q}, ordered {o}");
    }

    // A refused code is refused as a redemption would be, next to the `voucher` field.
    for (code, why) in [
        ("NOPE", "voucher_not_found"),
        ("GIFT", "voucher_wrong_kind"),
    ] {
        let (st, v) = s
            .post(
                "/api/v1/me/orders/quote",
                Some(&t),
                json!({"lines": lines, "voucher": code}),
            )
            .await;
        assert_eq!((st, v["code"].as_str().unwrap()), (422, why), "{v}");
        assert_eq!(v["fields"][0]["field"], "voucher", "{v}");
    }
    // Bad lines are refused like an order's.
    let (st, v) = s
        .post(
            "/api/v1/me/orders/quote",
            Some(&t),
            json!({"lines": [{"plan": "no-such-plan"}]}),
        )
        .await;
    assert_eq!(
        (st, v["code"].as_str().unwrap()),
        (422, "unknown_plan"),
        "{v}"
    );
    let (st, _) = s
        .post("/api/v1/me/orders/quote", None, json!({"lines": lines}))
        .await;
    assert_eq!(st, 401);
}

/// POST a panel form with the session's CSRF token; the response (redirects not followed).
async fn submit(
    s: &Server,
    t: &str,
    csrf: &str,
    path: &str,
    pairs: &[(&str, &str)],
) -> reqwest::Response {
    let mut all = vec![("_csrf", csrf)];
    all.extend_from_slice(pairs);
    browser()
        .post(s.url(path))
        .header("cookie", format!("guichet_session={t}"))
        .header("origin", &s.base)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(form(&all))
        .send()
        .await
        .expect("post")
}

async fn panel_shows_prices_before_confirming(b: Backend) {
    let w = World::new(b).await;
    let s = &w.server;
    let op = s.operator_key();
    vps_catalog(s, &op).await;
    voucher(s, &op, json!({"code": "TEN-M", "kind": "percent", "percent_bp": 1000, "currency": "EUR", "eligible_plans": ["vps-m"]})).await;
    let t = s.customer(&w.smtp, "review@example.fr").await;
    add_card(s, &t).await;
    let id = buy(s, &t, "vps-s").await;

    // The service page offers the upgrade with today's price, as the API prices it.
    let (_, opts) = s
        .get(&format!("/api/v1/me/services/{id}/plan-changes"), Some(&t))
        .await;
    let up = opts["options"]
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["plan"] == "vps-m")
        .unwrap_or_else(|| panic!("no vps-m in {opts}"))
        .clone();
    let charge = up["charge_total_minor"].as_i64().unwrap();
    assert!(charge > 0, "{up}");
    let (st, html) = page(s, &t, &format!("/services/{id}")).await;
    assert_eq!(st, 200, "{html}");
    assert!(html.contains("id=\"h-plan\""), "{html}");
    assert!(
        html.contains(&eur_fr(charge)),
        "{} in {html}",
        eur_fr(charge)
    );
    let csrf = hidden(&html, "_csrf");

    // Its confirmation page shows the exact amount, and confirming orders that amount.
    let (st, html) = page(s, &t, &format!("/services/{id}/plan-change?plan=vps-m")).await;
    assert_eq!(st, 200, "{html}");
    assert!(html.contains("id=\"plan-quote\""), "{html}");
    assert!(html.contains(&eur_fr(charge)), "{html}");
    assert!(
        html.contains(&format!("action=\"/services/{id}/plan-change\"")),
        "{html}"
    );
    let (st, html) = page(s, &t, &format!("/services/{id}/plan-change?plan=nope")).await;
    assert_eq!(st, 422, "{html}");
    let (_, before) = s.get("/api/v1/me/orders", Some(&t)).await;
    assert_eq!(before.as_array().unwrap().len(), 1, "looking wrote nothing");
    let r = submit(
        s,
        &t,
        &csrf,
        &format!("/services/{id}/plan-change"),
        &[("plan", "vps-m")],
    )
    .await;
    assert_eq!(r.status(), 303);
    let to = r.headers()["location"].to_str().unwrap().to_owned();
    let order_id = to
        .strip_prefix("/orders/")
        .and_then(|x| x.strip_suffix("?done=plan_change_ordered"))
        .unwrap_or_else(|| panic!("{to}"));
    let (_, o) = s
        .get(&format!("/api/v1/me/orders/{order_id}"), Some(&t))
        .await;
    assert_eq!(
        (&o["kind"], o["total_minor"].as_i64()),
        (&json!("plan_change"), Some(charge)),
        "{o}"
    );
    let (_, html) = page(s, &t, &format!("/services/{id}")).await;
    assert!(html.contains("id=\"plan-pending\""), "{html}");

    // The order form reviews the price, voucher included, before placing.
    let (_, q) = s
        .post(
            "/api/v1/me/orders/quote",
            Some(&t),
            json!({"lines": [{"plan": "vps-m"}], "voucher": "TEN-M"}),
        )
        .await;
    let r = submit(
        s,
        &t,
        &csrf,
        "/order/review",
        &[("plan", "vps-m"), ("voucher", "ten-m")],
    )
    .await;
    assert_eq!(r.status(), 200);
    let html = r.text().await.unwrap();
    assert!(html.contains("id=\"quote-discount\""), "{html}");
    let to_charge = eur_fr(q["to_charge_minor"].as_i64().unwrap());
    assert!(html.contains(&to_charge), "{to_charge} in {html}");
    assert!(html.contains("name=\"voucher\" value=\"TEN-M\""), "{html}");
    let (_, now) = s.get("/api/v1/me/orders", Some(&t)).await;
    assert_eq!(now.as_array().unwrap().len(), 2, "reviewing wrote nothing");
    let r = submit(
        s,
        &t,
        &csrf,
        "/order",
        &[("plan", "vps-m"), ("voucher", "TEN-M")],
    )
    .await;
    assert_eq!(r.status(), 303);
    let to = r.headers()["location"].to_str().unwrap().to_owned();
    let placed = to
        .strip_prefix("/orders/")
        .and_then(|x| x.strip_suffix("?done=order_placed"))
        .unwrap_or_else(|| panic!("{to}"));
    let (_, o) = s
        .get(&format!("/api/v1/me/orders/{placed}"), Some(&t))
        .await;
    assert_eq!(o["total_minor"], q["total_minor"], "{o}");

    // A refused code is shown next to its field, with what was typed kept.
    let r = submit(
        s,
        &t,
        &csrf,
        "/order/review",
        &[("plan", "vps-m"), ("voucher", "NOPE")],
    )
    .await;
    assert_eq!(r.status(), 422);
    let html = r.text().await.unwrap();
    assert!(html.contains("id=\"e-voucher\""), "{html}");
    assert!(html.contains("value=\"NOPE\""), "{html}");
}
