//! Plan changes, the credit balance and vouchers, end to end: an upgrade on day 10 of a
//! 30-day month priced by the documented formula and applied once paid (same expiration,
//! invoice line naming the change and its days, `service.plan_changed`); a downgrade at
//! renewal pricing the renewal order, and its cancellation restoring the old price; an
//! immediate downgrade crediting the balance, the next order taking the credit first, and
//! twenty concurrent payments never spending more than the balance; every voucher refusal
//! with its own code, a percentage discount with its VAT on the invoice; and someone else's
//! service or redemption answering 404.

use crate::both_backends;
use crate::harness::{Backend, PASSWORD, Server, World};
use jiff::ToSpan;
use jiff::civil::Date;
use serde_json::{Value, json};

both_backends!(
    upgrade_on_day_ten,
    downgrade_at_renewal,
    immediate_downgrade_and_credit,
    vouchers
);

fn date(v: &Value) -> Date {
    v.as_str().unwrap()[..10].parse().unwrap()
}

async fn today(s: &Server, op: &str) -> Date {
    let (_, c) = s.get("/api/v1/admin/clock", Some(op)).await;
    date(&c["now"])
}

async fn move_to(s: &Server, op: &str, day: Date) {
    let (st, v) = s
        .post(
            "/api/v1/admin/clock",
            Some(op),
            json!({ "now": format!("{day}T12:00:00Z") }),
        )
        .await;
    assert_eq!(st, 200, "{v}");
}

/// The first day of the next month that has 30 days.
async fn next_thirty_day_month(s: &Server, op: &str) -> Date {
    let mut d = today(s, op).await.first_of_month();
    loop {
        d = d.saturating_add(1.month());
        if d.days_in_month() == 30 {
            return d;
        }
    }
}

/// A product `vps` (instant) with monthly plans S at 5.99 and M at 11.99 EUR.
pub(crate) async fn vps_catalog(s: &Server, op: &str) {
    let (st, v) = s
        .call(
            "PUT",
            "/api/v1/admin/catalog/products/vps",
            Some(op),
            Some(json!({"name": "VPS", "category": "vps", "instant": true})),
        )
        .await;
    assert_eq!(st, 200, "{v}");
    for (code, name, price) in [("vps-s", "VPS S", 599), ("vps-m", "VPS M", 1199)] {
        let (st, v) = s
            .call(
                "PUT",
                &format!("/api/v1/admin/catalog/products/vps/plans/{code}"),
                Some(op),
                Some(json!({"name": name, "period": "P1M", "prices": {"EUR": price}})),
            )
            .await;
        assert_eq!(st, 200, "{v}");
    }
}

pub(crate) async fn add_card(s: &Server, t: &str) {
    let tok = s.card_token("4242424242424242").await;
    let (st, v) = s
        .post(
            "/api/v1/me/payment-methods",
            Some(t),
            json!({"kind": "card", "token": tok}),
        )
        .await;
    assert_eq!(st, 201, "{v}");
}

pub(crate) async fn place(s: &Server, t: &str, plan: &str) -> Value {
    let (st, o) = s
        .post(
            "/api/v1/me/orders",
            Some(t),
            json!({"lines": [{"plan": plan}]}),
        )
        .await;
    assert_eq!(st, 201, "{o}");
    o
}

pub(crate) async fn pay(s: &Server, t: &str, order_id: &str) -> Value {
    let (st, o) = s
        .post(
            &format!("/api/v1/me/orders/{order_id}/pay"),
            Some(t),
            json!({}),
        )
        .await;
    assert_eq!((st, &o["status"]), (200, &json!("delivered")), "{o}");
    o
}

/// Buy `plan` with the card on file: the service id.
pub(crate) async fn buy(s: &Server, t: &str, plan: &str) -> String {
    let o = place(s, t, plan).await;
    let o = pay(s, t, o["id"].as_str().unwrap()).await;
    o["lines"][0]["service_id"].as_str().unwrap().to_owned()
}

async fn service(s: &Server, t: &str, id: &str) -> Value {
    let (st, v) = s.get(&format!("/api/v1/me/services/{id}"), Some(t)).await;
    assert_eq!(st, 200, "{v}");
    v
}

async fn webhook_kinds(s: &Server, op: &str, subject: &str) -> Vec<String> {
    let (_, log) = s
        .get(
            &format!("/api/v1/admin/webhooks?subject={subject}"),
            Some(op),
        )
        .await;
    log.as_array()
        .unwrap()
        .iter()
        .map(|e| e["type"].as_str().unwrap().to_owned())
        .collect()
}

/// The invoice of an order, in full.
async fn invoice_of(s: &Server, t: &str, order_id: &str) -> Value {
    let (_, inv) = s.get("/api/v1/me/invoices", Some(t)).await;
    let item = inv["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["order_id"] == order_id)
        .unwrap_or_else(|| panic!("no invoice for {order_id}: {inv}"))
        .clone();
    let (_, full) = s
        .get(
            &format!("/api/v1/me/invoices/{}", item["id"].as_str().unwrap()),
            Some(t),
        )
        .await;
    full
}

async fn credit(s: &Server, t: &str) -> Value {
    let (st, v) = s.get("/api/v1/me/credit", Some(t)).await;
    assert_eq!(st, 200, "{v}");
    v
}

fn eur_balance(c: &Value) -> i64 {
    c["balances"]
        .as_array()
        .unwrap()
        .iter()
        .find(|b| b["currency"] == "EUR")
        .map_or(0, |b| b["balance_minor"].as_i64().unwrap())
}

async fn upgrade_on_day_ten(b: Backend) {
    let w = World::new(b).await;
    let s = &w.server;
    let op = s.operator_key();
    vps_catalog(s, &op).await;
    let day1 = next_thirty_day_month(s, &op).await;
    let e = day1.saturating_add(1.month());
    move_to(s, &op, day1).await;
    let email = "up@example.fr";
    let t = s.customer(&w.smtp, email).await;
    s.customer(&w.smtp, "other-up@example.fr").await;
    add_card(s, &t).await;
    let sid = buy(s, &t, "vps-s").await;
    assert_eq!(date(&service(s, &t, &sid).await["expires_on"]), e);

    let day10 = day1.saturating_add(9.days());
    move_to(s, &op, day10).await;
    let t = s.login(email, PASSWORD).await;
    let (st, opts) = s
        .get(&format!("/api/v1/me/services/{sid}/plan-changes"), Some(&t))
        .await;
    assert_eq!(st, 200, "{opts}");
    assert_eq!(
        (
            date(&opts["period_start"]),
            date(&opts["period_end"]),
            &opts["days_in_period"],
            &opts["days_remaining"]
        ),
        (day1, e, &json!(30), &json!(21)),
        "{opts}"
    );
    let m = opts["options"]
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["plan"] == "vps-m")
        .unwrap()
        .clone();
    // remaining days × (new daily − old daily) = 21 × (1199 − 599) / 30 = 420, + 20 % VAT.
    let net = 21 * (1199 - 599) / 30;
    assert_eq!(net, 420);
    assert_eq!(
        (
            &m["direction"],
            &m["timing"],
            &m["charge_net_minor"],
            &m["charge_vat_minor"],
            &m["charge_total_minor"]
        ),
        (
            &json!("upgrade"),
            &json!("now"),
            &json!(net),
            &json!(84),
            &json!(504)
        ),
        "{m}"
    );
    // A simulation: nothing was written.
    assert!(opts["pending"].is_null());

    // Someone else's service: 404, for the options and the change.
    let other = s.login("other-up@example.fr", PASSWORD).await;
    let (st, _) = s
        .get(
            &format!("/api/v1/me/services/{sid}/plan-changes"),
            Some(&other),
        )
        .await;
    assert_eq!(st, 404);
    let (st, _) = s
        .post(
            &format!("/api/v1/me/services/{sid}/plan-change"),
            Some(&other),
            json!({"plan": "vps-m"}),
        )
        .await;
    assert_eq!(st, 404);

    // The change, twice under one Idempotency-Key: one order.
    let mut ids = Vec::new();
    for _ in 0..2 {
        let r = s
            .client
            .post(s.url(&format!("/api/v1/me/services/{sid}/plan-change")))
            .bearer_auth(&t)
            .header("Idempotency-Key", "upgrade-1")
            .json(&json!({"plan": "vps-m"}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 201);
        let v: Value = r.json().await.unwrap();
        assert_eq!(v["change"]["state"], "pending", "{v}");
        ids.push(v["order"]["id"].as_str().unwrap().to_owned());
        assert_eq!(v["order"]["total_minor"], 504, "{v}");
        assert_eq!(v["order"]["kind"], "plan_change");
    }
    assert_eq!(ids[0], ids[1]);
    let svc = service(s, &t, &sid).await;
    assert_eq!(svc["plan"], "vps-s", "not before it is paid");
    assert!(
        svc["pending_actions"]
            .as_array()
            .unwrap()
            .contains(&json!("plan_change_pending"))
    );
    // A second change while the first waits: refused.
    let (st, v) = s
        .post(
            &format!("/api/v1/me/services/{sid}/plan-change"),
            Some(&t),
            json!({"plan": "vps-m"}),
        )
        .await;
    assert_eq!(
        (st, &v["code"]),
        (409, &json!("plan_change_pending")),
        "{v}"
    );

    let o = pay(s, &t, &ids[0]).await;
    assert_eq!(o["payments"][0]["amount_minor"], 504);
    let svc = service(s, &t, &sid).await;
    assert_eq!(svc["plan"], "vps-m", "{svc}");
    assert_eq!(date(&svc["expires_on"]), e, "the expiration does not move");
    assert!(svc["pending_plan_change"].is_null());
    assert!(
        webhook_kinds(s, &op, &sid)
            .await
            .contains(&"service.plan_changed".to_owned())
    );

    let inv = invoice_of(s, &t, &ids[0]).await;
    let line = &inv["document"]["lines"][0];
    assert_eq!(date(&line["period_start"]), day10, "{inv}");
    assert_eq!(date(&line["period_end"]), e);
    let what = line["description"].as_str().unwrap();
    assert!(
        what.contains("VPS M") && what.contains("VPS S") && what.contains("21"),
        "{what}"
    );
    assert_eq!(inv["document"]["grand_total_minor"], 504);

    // Now on M, S is a downgrade (at the renewal by default).
    let (_, opts) = s
        .get(&format!("/api/v1/me/services/{sid}/plan-changes"), Some(&t))
        .await;
    let back = &opts["options"][0];
    assert_eq!(
        (&back["plan"], &back["direction"], &back["timing"]),
        (&json!("vps-s"), &json!("downgrade"), &json!("renewal")),
        "{opts}"
    );
    assert_eq!(opts["history"][0]["state"], "applied");
}

async fn downgrade_at_renewal(b: Backend) {
    let w = World::new(b).await;
    let s = &w.server;
    let op = s.operator_key();
    vps_catalog(s, &op).await;
    let day1 = next_thirty_day_month(s, &op).await;
    let e = day1.saturating_add(1.month());
    move_to(s, &op, day1).await;
    let email = "down@example.fr";
    let t = s.customer(&w.smtp, email).await;
    add_card(s, &t).await;
    let kept = buy(s, &t, "vps-m").await;
    let undone = buy(s, &t, "vps-m").await;

    move_to(s, &op, day1.saturating_add(4.days())).await;
    let t = s.login(email, PASSWORD).await;
    for sid in [&kept, &undone] {
        let (st, v) = s
            .post(
                &format!("/api/v1/me/services/{sid}/plan-change"),
                Some(&t),
                json!({"plan": "vps-s"}),
            )
            .await;
        assert_eq!(st, 201, "{v}");
        assert_eq!(
            (&v["change"]["timing"], &v["change"]["state"], &v["order"]),
            (&json!("renewal"), &json!("pending"), &Value::Null),
            "{v}"
        );
        assert_eq!(v["service"]["plan"], "vps-m", "until the renewal");
        assert_eq!(v["service"]["pending_plan_change"]["plan"], "vps-s");
        assert_eq!(v["service"]["pending_plan_change"]["cancellable"], true);
    }
    // A renewal asked for by hand is priced at the new plan: 5.99 + 20 %.
    let (st, manual) = s
        .post(
            &format!("/api/v1/me/services/{undone}/renew"),
            Some(&t),
            json!({}),
        )
        .await;
    assert_eq!(st, 201, "{manual}");
    assert_eq!(manual["total_minor"], 719, "{manual}");
    // Cancelling the downgrade restores the old plan's renewal, on that open order too.
    let (st, v) = s
        .call(
            "DELETE",
            &format!("/api/v1/me/services/{undone}/plan-change"),
            Some(&t),
            None,
        )
        .await;
    assert_eq!(st, 200, "{v}");
    assert!(v["pending"].is_null(), "{v}");
    assert_eq!(v["history"][0]["state"], "cancelled");
    let (_, again) = s
        .get(
            &format!("/api/v1/me/orders/{}", manual["id"].as_str().unwrap()),
            Some(&t),
        )
        .await;
    assert_eq!(again["total_minor"], 1439, "{again}");
    assert_eq!(again["lines"][0]["plan"], "vps-m");
    let (st, _) = s
        .post(
            &format!(
                "/api/v1/me/orders/{}/cancel",
                manual["id"].as_str().unwrap()
            ),
            Some(&t),
            json!({}),
        )
        .await;
    assert_eq!(st, 200);
    let (st, v) = s
        .call(
            "DELETE",
            &format!("/api/v1/me/services/{undone}/plan-change"),
            Some(&t),
            None,
        )
        .await;
    assert_eq!((st, &v["code"]), (404, &json!("plan_change_not_found")));

    // The automatic renewal (E − 7): one service at the new price, the other at the old.
    move_to(s, &op, e - 7.days()).await;
    let t = s.login(email, PASSWORD).await;
    let (_, list) = s.get("/api/v1/me/orders", Some(&t)).await;
    let mut renewal_totals = Vec::new();
    for o in list.as_array().unwrap() {
        if o["kind"] != "renewal" || o["status"] == "cancelled" {
            continue;
        }
        let (_, full) = s
            .get(
                &format!("/api/v1/me/orders/{}", o["id"].as_str().unwrap()),
                Some(&t),
            )
            .await;
        assert_eq!(full["status"], "delivered", "{full}");
        let sid = full["lines"][0]["service_id"].as_str().unwrap().to_owned();
        renewal_totals.push((sid, full["total_minor"].as_i64().unwrap()));
    }
    renewal_totals.sort();
    let mut want = vec![(kept.clone(), 719), (undone.clone(), 1439)];
    want.sort();
    assert_eq!(renewal_totals, want);
    let svc = service(s, &t, &kept).await;
    assert_eq!(svc["plan"], "vps-s", "{svc}");
    assert_eq!(date(&svc["expires_on"]), e.saturating_add(1.month()));
    assert!(svc["pending_plan_change"].is_null());
    assert_eq!(service(s, &t, &undone).await["plan"], "vps-m");
    assert!(
        webhook_kinds(s, &op, &kept)
            .await
            .contains(&"service.plan_changed".to_owned())
    );
    assert!(
        !webhook_kinds(s, &op, &undone)
            .await
            .contains(&"service.plan_changed".to_owned())
    );
}

async fn immediate_downgrade_and_credit(b: Backend) {
    let w = World::new(b).await;
    let s = &w.server;
    let op = s.operator_key();
    vps_catalog(s, &op).await;
    let (st, v) = s
        .call(
            "PUT",
            "/api/v1/admin/catalog/products/vps/plan-changes",
            Some(&op),
            Some(json!({"immediate_downgrade": true})),
        )
        .await;
    assert_eq!(st, 200, "{v}");
    let day1 = next_thirty_day_month(s, &op).await;
    move_to(s, &op, day1).await;
    let email = "credit@example.fr";
    let t = s.customer(&w.smtp, email).await;
    add_card(s, &t).await;
    let sid = buy(s, &t, "vps-m").await;

    move_to(s, &op, day1.saturating_add(9.days())).await;
    let t = s.login(email, PASSWORD).await;
    let (_, opts) = s
        .get(&format!("/api/v1/me/services/{sid}/plan-changes"), Some(&t))
        .await;
    let down = &opts["options"][0];
    assert_eq!(
        (&down["plan"], &down["timing"], &down["credit_minor"]),
        (&json!("vps-s"), &json!("now"), &json!(504)),
        "{opts}"
    );
    let (st, v) = s
        .post(
            &format!("/api/v1/me/services/{sid}/plan-change"),
            Some(&t),
            json!({"plan": "vps-s"}),
        )
        .await;
    assert_eq!(st, 201, "{v}");
    assert_eq!(v["change"]["state"], "applied");
    assert_eq!(v["service"]["plan"], "vps-s");
    let c = credit(s, &t).await;
    assert_eq!(eur_balance(&c), 504, "{c}");
    assert_eq!(c["movements"][0]["kind"], "downgrade");
    assert!(
        webhook_kinds(s, &op, &sid)
            .await
            .contains(&"service.plan_changed".to_owned())
    );

    // The next order takes the credit first, the card the rest: 11.99 + 20 % = 14.39.
    let o = place(s, &t, "vps-m").await;
    let o = pay(s, &t, o["id"].as_str().unwrap()).await;
    assert_eq!(o["total_minor"], 1439);
    assert_eq!(o["credit_applied_minor"], 504, "{o}");
    assert_eq!(o["payments"][0]["amount_minor"], 1439 - 504);
    let c = credit(s, &t).await;
    assert_eq!(eur_balance(&c), 0, "{c}");
    assert_eq!(c["movements"][0]["kind"], "applied");
    assert_eq!(c["movements"][0]["amount_minor"], -504);
    let inv = invoice_of(s, &t, o["id"].as_str().unwrap()).await;
    let doc = &inv["document"];
    assert_eq!(doc["grand_total_minor"], 1439);
    assert_eq!(doc["credit_payment"]["amount_minor"], 504, "{doc}");
    assert_eq!(doc["payment"]["amount_minor"], 935);

    // Two partial credit notes on it: the card gets back at most what it paid (935), the
    // balance at most what the credit paid (504), together the invoice's 14.39.
    let invoice_id = inv["id"].as_str().unwrap().to_owned();
    let mut refunded = 0;
    for amount in [900, 539] {
        let (st, cn) = s
            .post(
                &format!("/api/v1/admin/invoices/{invoice_id}/credit-notes"),
                Some(&op),
                json!({"reason": "outage", "amount_minor": amount}),
            )
            .await;
        assert_eq!(st, 201, "{cn}");
        refunded += cn["refund"]["amount_minor"].as_i64().unwrap_or(0);
    }
    assert_eq!(refunded, 935, "the card gets back what it paid, no more");
    let c = credit(s, &t).await;
    assert_eq!(
        eur_balance(&c),
        504,
        "and the balance what the credit paid: {c}"
    );
    let (_, me) = s.get("/api/v1/me", Some(&t)).await;
    let (st, v) = s
        .post(
            &format!(
                "/api/v1/admin/accounts/{}/credit",
                me["id"].as_str().unwrap()
            ),
            Some(&op),
            json!({"currency": "EUR", "amount_minor": -504, "reason": "paid out"}),
        )
        .await;
    assert_eq!((st, eur_balance(&v)), (200, 0), "{v}");

    // Twenty orders paid at once against a balance of 10.00: never more than 10.00 spent.
    let (st, v) = s
        .post(
            "/api/v1/admin/accounts/x/credit",
            Some(&op),
            json!({"currency": "EUR", "amount_minor": 1000, "reason": "goodwill"}),
        )
        .await;
    assert_eq!(st, 404, "{v}");
    let (_, me) = s.get("/api/v1/me", Some(&t)).await;
    let account_id = me["id"].as_str().unwrap().to_owned();
    let (st, v) = s
        .post(
            &format!("/api/v1/admin/accounts/{account_id}/credit"),
            Some(&op),
            json!({"currency": "EUR", "amount_minor": -1, "reason": "too much"}),
        )
        .await;
    assert_eq!(
        (st, &v["code"]),
        (409, &json!("insufficient_credit")),
        "{v}"
    );
    let (st, v) = s
        .post(
            &format!("/api/v1/admin/accounts/{account_id}/credit"),
            Some(&op),
            json!({"currency": "EUR", "amount_minor": 1000, "reason": "goodwill"}),
        )
        .await;
    assert_eq!(st, 200, "{v}");
    assert_eq!(eur_balance(&v), 1000);
    let mut orders = Vec::new();
    for _ in 0..20 {
        orders.push(
            place(s, &t, "vps-s").await["id"]
                .as_str()
                .unwrap()
                .to_owned(),
        );
    }
    let paid = pay_all_at_once(s, &t, &orders).await;
    let mut spent = 0;
    for o in &paid {
        assert_eq!(o["status"], "delivered", "{o}");
        let c = o["credit_applied_minor"].as_i64().unwrap();
        assert!((0..=719).contains(&c), "{o}");
        let charged: i64 = o["payments"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|p| p["state"] == "succeeded")
            .map(|p| p["amount_minor"].as_i64().unwrap())
            .sum();
        assert_eq!(charged + c, 719, "{o}");
        spent += c;
    }
    assert_eq!(spent, 1000, "all of the balance, not a cent more");
    let c = credit(s, &t).await;
    assert_eq!(eur_balance(&c), 0);
    let applied: i64 = c["movements"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["kind"] == "applied")
        .map(|m| m["amount_minor"].as_i64().unwrap())
        .sum();
    assert_eq!(applied, -(1000 + 504));
}

/// Pay every order at the same time; their final views.
async fn pay_all_at_once(s: &Server, t: &str, orders: &[String]) -> Vec<Value> {
    let mut set = tokio::task::JoinSet::new();
    for id in orders {
        let client = s.client.clone();
        let url = s.url(&format!("/api/v1/me/orders/{id}/pay"));
        let t = t.to_owned();
        set.spawn(async move {
            let r = client
                .post(url)
                .bearer_auth(&t)
                .json(&json!({}))
                .send()
                .await
                .unwrap();
            let status = r.status().as_u16();
            let v: Value = r.json().await.unwrap();
            (status, v)
        });
    }
    let mut out = Vec::new();
    while let Some(r) = set.join_next().await {
        let (status, v) = r.unwrap();
        assert_eq!(status, 200, "{v}");
        out.push(v);
    }
    out
}

async fn vouchers(b: Backend) {
    let w = World::new(b).await;
    let s = &w.server;
    let op = s.operator_key();
    vps_catalog(s, &op).await;
    let today = today(s, &op).await;
    let day = |n: i32| today.saturating_add(n.days()).to_string();
    let make = |body: Value| {
        let op = op.clone();
        async move {
            let (st, v) = s.post("/api/v1/admin/vouchers", Some(&op), body).await;
            assert_eq!(st, 201, "{v}");
        }
    };
    make(json!({"code": "ten-m", "kind": "percent", "percent_bp": 1000, "currency": "EUR", "eligible_plans": ["vps-m"]})).await;
    make(json!({"code": "OLD", "kind": "fixed", "amount_minor": 100, "currency": "EUR", "valid_until": day(-1)})).await;
    make(json!({"code": "SOON", "kind": "fixed", "amount_minor": 100, "currency": "EUR", "valid_from": day(2)})).await;
    make(json!({"code": "ONCE", "kind": "fixed", "amount_minor": 100, "currency": "EUR", "max_uses": 1})).await;
    make(json!({"code": "MINE", "kind": "fixed", "amount_minor": 100, "currency": "EUR", "max_uses_per_customer": 1})).await;
    make(json!({"code": "DOLLAR", "kind": "fixed", "amount_minor": 100, "currency": "USD"})).await;
    make(json!({"code": "FIRST", "kind": "fixed", "amount_minor": 100, "currency": "EUR", "first_order_only": true})).await;
    make(json!({"code": "GIFT", "kind": "credit", "amount_minor": 500, "currency": "EUR", "max_uses_per_customer": 1})).await;
    let (st, v) = s
        .post(
            "/api/v1/admin/vouchers",
            Some(&op),
            json!({"code": "ONCE", "kind": "fixed", "amount_minor": 1, "currency": "EUR"}),
        )
        .await;
    assert_eq!((st, &v["code"]), (409, &json!("voucher_code_taken")));
    let (st, v) = s
        .post(
            "/api/v1/admin/vouchers",
            Some(&op),
            json!({"code": "X", "kind": "percent", "percent_bp": 0, "currency": "EUR"}),
        )
        .await;
    assert_eq!(st, 422, "{v}");

    let email = "vouchers@example.fr";
    let t = s.customer(&w.smtp, email).await;
    add_card(s, &t).await;
    let redeem = |order: String, code: &'static str| {
        let t = t.clone();
        async move {
            s.post(
                &format!("/api/v1/me/orders/{order}/voucher"),
                Some(&t),
                json!({ "code": code }),
            )
            .await
        }
    };
    let small = place(s, &t, "vps-s").await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    for (code, why) in [
        ("NOPE", "voucher_not_found"),
        ("ten-m", "voucher_not_eligible"),
        ("OLD", "voucher_expired"),
        ("SOON", "voucher_not_yet_valid"),
        ("DOLLAR", "voucher_currency_mismatch"),
        ("GIFT", "voucher_wrong_kind"),
    ] {
        let (st, v) = redeem(small.clone(), code).await;
        assert_eq!((st, v["code"].as_str().unwrap()), (422, why), "{code}: {v}");
    }
    // The one-use code, used: exhausted for the next order.
    let (st, v) = redeem(small.clone(), "ONCE").await;
    assert_eq!(st, 200, "{v}");
    assert_eq!(v["total_minor"], 719 - 120, "1.00 off, and its 0.20 of VAT");
    let (st, v) = redeem(small.clone(), "MINE").await;
    assert_eq!((st, &v["code"]), (409, &json!("voucher_already_applied")));
    pay(s, &t, &small).await;
    let second = place(s, &t, "vps-s").await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let (st, v) = redeem(second.clone(), "ONCE").await;
    assert_eq!((st, &v["code"]), (422, &json!("voucher_exhausted")), "{v}");
    // Having paid an order: not a first order any more.
    let (st, v) = redeem(second.clone(), "FIRST").await;
    assert_eq!(
        (st, &v["code"]),
        (422, &json!("voucher_first_order_only")),
        "{v}"
    );
    // Per customer: once, even if the first order is cancelled and gives it back… then used.
    let (st, v) = redeem(second.clone(), "MINE").await;
    assert_eq!(st, 200, "{v}");
    let third = place(s, &t, "vps-s").await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let (st, v) = redeem(third.clone(), "MINE").await;
    assert_eq!(
        (st, &v["code"]),
        (422, &json!("voucher_already_used")),
        "{v}"
    );
    let (st, _) = s
        .post(
            &format!("/api/v1/me/orders/{second}/cancel"),
            Some(&t),
            json!({}),
        )
        .await;
    assert_eq!(st, 200);
    let (st, v) = redeem(third.clone(), "MINE").await;
    assert_eq!(st, 200, "a cancelled order gives its use back: {v}");

    // A percentage: 10 % of 11.99 = 1.20 off the net, 0.24 off the VAT.
    let big = place(s, &t, "vps-m").await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let (st, v) = redeem(big.clone(), "ten-m").await;
    assert_eq!(st, 200, "{v}");
    assert_eq!(
        (&v["net_minor"], &v["vat_minor"], &v["total_minor"]),
        (&json!(1079), &json!(216), &json!(1295)),
        "{v}"
    );
    pay(s, &t, &big).await;
    let inv = invoice_of(s, &t, &big).await;
    let doc = &inv["document"];
    let lines = doc["lines"].as_array().unwrap();
    assert_eq!(lines.len(), 2, "{doc}");
    assert_eq!(
        (&lines[1]["net_minor"], &lines[1]["vat_minor"]),
        (&json!(-120), &json!(-24)),
        "{doc}"
    );
    assert!(lines[1]["description"].as_str().unwrap().contains("TEN-M"));
    assert_eq!(
        doc["totals_per_rate"],
        json!([{"rate_bp": 2000, "net_minor": 1079, "vat_minor": 216}])
    );
    assert_eq!(doc["grand_total_minor"], 1295);
    assert_eq!(doc["payment"]["amount_minor"], 1295);

    // A credit code goes into the balance, once per customer.
    let (st, c) = s
        .post(
            "/api/v1/me/credit/vouchers",
            Some(&t),
            json!({"code": "gift"}),
        )
        .await;
    assert_eq!(st, 200, "{c}");
    assert_eq!(eur_balance(&c), 500);
    let (st, v) = s
        .post(
            "/api/v1/me/credit/vouchers",
            Some(&t),
            json!({"code": "GIFT"}),
        )
        .await;
    assert_eq!((st, &v["code"]), (422, &json!("voucher_already_used")));
    let (st, v) = s
        .post(
            "/api/v1/me/credit/vouchers",
            Some(&t),
            json!({"code": "ONCE"}),
        )
        .await;
    assert_eq!((st, &v["code"]), (422, &json!("voucher_wrong_kind")), "{v}");

    // Redemptions by id: someone else's is a 404.
    let (_, mine) = s.get("/api/v1/me/voucher-redemptions", Some(&t)).await;
    let rid = mine[0]["id"].as_str().unwrap().to_owned();
    let (st, _) = s
        .get(&format!("/api/v1/me/voucher-redemptions/{rid}"), Some(&t))
        .await;
    assert_eq!(st, 200);
    let other = s.customer(&w.smtp, "other-voucher@example.fr").await;
    let (st, _) = s
        .get(
            &format!("/api/v1/me/voucher-redemptions/{rid}"),
            Some(&other),
        )
        .await;
    assert_eq!(st, 404);
    let (st, _) = s
        .post(
            &format!("/api/v1/me/orders/{third}/voucher"),
            Some(&other),
            json!({"code": "MINE"}),
        )
        .await;
    assert_eq!(st, 404);
}
