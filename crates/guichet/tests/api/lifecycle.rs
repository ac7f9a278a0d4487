//! The lifecycle engine over simulated years, by moving the sandbox clock (which runs every
//! day's work on its day): automatic renewal (notice, charge at E−7, invoice, new E),
//! failed charges retried then suspension, payment while suspended reactivating from E,
//! manual renewal reminders and early renewal of several periods, the last warning and
//! deletion of an unpaid service while another of the same customer renews, card-expiry
//! notices and the last-week reminder of a terminated service. Each mail on its day, each
//! order and invoice once; another account's service is a 404. A renewal order another node
//! placed moments before the planner's batch is left to that node for a lease's time.

use crate::both_backends;
use crate::harness::{Backend, PASSWORD, Server, World};
use jiff::ToSpan;
use jiff::civil::Date;
use serde_json::{Value, json};

both_backends!(
    automatic_renewal_year,
    renewal_placed_elsewhere_waits_out_its_lease,
    failed_charges_then_reactivation,
    unpaid_service_never_touches_another,
    manual_renewal_several_periods,
    card_expiry_and_termination_reminders
);

fn date(v: &Value) -> Date {
    v.as_str().unwrap()[..10].parse().unwrap()
}

async fn today(s: &Server, op: &str) -> Date {
    let (_, c) = s.get("/api/v1/admin/clock", Some(op)).await;
    date(&c["now"])
}

/// Move the clock to noon (UTC) of `day`; every day in between runs on its own.
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

/// The dates (UTC) of the mails of `kind` the customer received.
async fn mail_days(s: &Server, email: &str, kind: &str) -> Vec<Date> {
    let t = s.login(email, PASSWORD).await;
    let (_, v) = s.get("/api/v1/me/emails?limit=100", Some(&t)).await;
    let mut days: Vec<Date> = v["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["kind"] == kind)
        .map(|m| date(&m["created_at"]))
        .collect();
    days.sort();
    days
}

async fn service(s: &Server, email: &str, id: &str) -> Value {
    let t = s.login(email, PASSWORD).await;
    let (st, v) = s.get(&format!("/api/v1/me/services/{id}"), Some(&t)).await;
    assert_eq!(st, 200, "{v}");
    v
}

async fn orders_of(s: &Server, email: &str) -> Vec<Value> {
    let t = s.login(email, PASSWORD).await;
    let (_, v) = s.get("/api/v1/me/orders", Some(&t)).await;
    let list = v.as_array().cloned().unwrap_or_default();
    let mut full = Vec::new();
    for o in list {
        let (_, o) = s
            .get(
                &format!("/api/v1/me/orders/{}", o["id"].as_str().unwrap()),
                Some(&t),
            )
            .await;
        full.push(o);
    }
    full
}

async fn renewal_orders(s: &Server, email: &str, service_id: &str) -> Vec<Value> {
    orders_of(s, email)
        .await
        .into_iter()
        .filter(|o| o["kind"] == "renewal" && o["lines"][0]["service_id"] == service_id)
        .collect()
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

/// Buy a yearly mailbox; with `source`, a one-off card, else the default method. Returns the
/// service id and its expiration date.
async fn buy(s: &Server, t: &str, source: Option<&str>) -> (String, Date) {
    buy_plan(s, t, "mail-yearly", source).await
}

/// [`buy`] of another plan.
async fn buy_plan(s: &Server, t: &str, plan: &str, source: Option<&str>) -> (String, Date) {
    let (st, o) = s
        .post(
            "/api/v1/me/orders",
            Some(t),
            json!({"lines": [{"plan": plan}]}),
        )
        .await;
    assert_eq!(st, 201, "{o}");
    let id = o["id"].as_str().unwrap();
    let body = match source {
        Some(src) => json!({ "source": src }),
        None => json!({}),
    };
    let (st, o) = s
        .post(&format!("/api/v1/me/orders/{id}/pay"), Some(t), body)
        .await;
    assert_eq!((st, &o["status"]), (200, &json!("delivered")), "{o}");
    let sid = o["lines"][0]["service_id"].as_str().unwrap().to_owned();
    let (_, svc) = s.get(&format!("/api/v1/me/services/{sid}"), Some(t)).await;
    (sid, date(&svc["expires_on"]))
}

async fn add_card(s: &Server, t: &str, number: &str) {
    let tok = s.card_token(number).await;
    let (st, v) = s
        .post(
            "/api/v1/me/payment-methods",
            Some(t),
            json!({"kind": "card", "token": tok}),
        )
        .await;
    assert_eq!(st, 201, "{v}");
}

fn days(n: i32) -> jiff::Span {
    n.days()
}

async fn automatic_renewal_year(b: Backend) {
    let w = World::new(b).await;
    let s = &w.server;
    let op = s.operator_key();
    s.mail_plan(&op, json!({"EUR": 1200})).await;
    let email = "auto@example.fr";
    let t = s.customer(&w.smtp, email).await;
    add_card(s, &t, "4242424242424242").await;
    let (sid, e) = buy(s, &t, None).await;
    let next_e = e.saturating_add(1.year());

    move_to(s, &op, e - days(31)).await;
    assert!(mail_days(s, email, "renewal_notice").await.is_empty());
    move_to(s, &op, e - days(8)).await;
    assert_eq!(
        mail_days(s, email, "renewal_notice").await,
        vec![e - days(30)]
    );
    assert!(renewal_orders(s, email, &sid).await.is_empty());

    move_to(s, &op, e - days(7)).await;
    let svc = service(s, email, &sid).await;
    assert_eq!(svc["state"], "active");
    assert_eq!(date(&svc["expires_on"]), next_e, "{svc}");
    let renewals = renewal_orders(s, email, &sid).await;
    assert_eq!(renewals.len(), 1);
    let r = &renewals[0];
    assert_eq!(r["status"], "delivered");
    assert_eq!(r["total_minor"], 1440, "1200 + 20 % VAT");
    let paid: Vec<&Value> = r["payments"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["state"] == "succeeded")
        .collect();
    assert_eq!(paid.len(), 1, "one charge: {r}");
    assert_eq!(
        mail_days(s, email, "service_renewed").await,
        vec![e - days(7)]
    );

    // The invoice names the period renewed.
    let t = s.login(email, PASSWORD).await;
    let (_, inv) = s.get("/api/v1/me/invoices", Some(&t)).await;
    let items = inv["items"].as_array().unwrap();
    assert_eq!(items.len(), 2, "{inv}");
    let newest = items
        .iter()
        .max_by_key(|i| i["number"].as_str().unwrap().to_owned())
        .unwrap();
    let (_, full) = s
        .get(
            &format!("/api/v1/me/invoices/{}", newest["id"].as_str().unwrap()),
            Some(&t),
        )
        .await;
    let line = &full["document"]["lines"][0];
    assert_eq!(date(&line["period_start"]), e, "{full}");
    assert_eq!(date(&line["period_end"]), next_e);

    // The rest of the year: nothing more happens to it.
    move_to(s, &op, e + days(10)).await;
    let svc = service(s, email, &sid).await;
    assert_eq!(
        (svc["state"].as_str(), date(&svc["expires_on"])),
        (Some("active"), next_e)
    );
    assert_eq!(renewal_orders(s, email, &sid).await.len(), 1);
    assert!(mail_days(s, email, "renewal_failed").await.is_empty());
    assert!(mail_days(s, email, "service_suspended").await.is_empty());
    assert_eq!(mail_days(s, email, "invoice_issued").await.len(), 2);
    let hooks = webhook_kinds(s, &op, &sid).await;
    assert_eq!(
        hooks.iter().filter(|k| *k == "service.renewed").count(),
        1,
        "{hooks:?}"
    );
    let next = &svc["next_dates"];
    assert_eq!(date(&next["next_charge"]), next_e - days(7));
}

async fn failed_charges_then_reactivation(b: Backend) {
    let w = World::new(b).await;
    let s = &w.server;
    let op = s.operator_key();
    s.mail_plan(&op, json!({"EUR": 1200})).await;
    let email = "retry@example.fr";
    let t = s.customer(&w.smtp, email).await;
    s.customer(&w.smtp, "someone-else@example.fr").await;
    // Paid once with a one-off card: no method on file for the renewal.
    let src = s.card_token("4242424242424242").await;
    let (sid, e) = buy(s, &t, Some(&src)).await;

    move_to(s, &op, e - days(6)).await;
    assert_eq!(
        mail_days(s, email, "renewal_failed").await,
        vec![e - days(7)]
    );
    move_to(s, &op, e - days(1)).await;
    assert_eq!(
        mail_days(s, email, "renewal_failed").await,
        vec![e - days(7), e - days(5), e - days(3), e - days(1)]
    );
    assert_eq!(service(s, email, &sid).await["state"], "active");
    move_to(s, &op, e).await;
    assert_eq!(mail_days(s, email, "renewal_failed").await.len(), 5);
    let svc = service(s, email, &sid).await;
    assert_eq!(svc["state"], "suspended", "{svc}");
    assert_eq!(svc["pending_actions"], json!(["pay_to_reactivate"]));
    assert_eq!(date(&svc["next_dates"]["deletion"]), e + days(7));
    assert!(svc["next_dates"]["next_charge"].is_null());
    assert_eq!(mail_days(s, email, "service_suspended").await, vec![e]);
    assert!(
        webhook_kinds(s, &op, &sid)
            .await
            .contains(&"service.suspended".to_owned())
    );
    let renewals = renewal_orders(s, email, &sid).await;
    assert_eq!(renewals.len(), 1, "one renewal order for all the attempts");
    let order_id = renewals[0]["id"].as_str().unwrap().to_owned();
    assert_eq!(renewals[0]["status"], "not_paid");

    // Someone else cannot pay or renew it.
    let other = s.login("someone-else@example.fr", PASSWORD).await;
    let (st, _) = s
        .post(
            &format!("/api/v1/me/services/{sid}/renew"),
            Some(&other),
            json!({}),
        )
        .await;
    assert_eq!(st, 404);

    // Paid while suspended: active again, the new period counted from E.
    move_to(s, &op, e + days(3)).await;
    let t = s.login(email, PASSWORD).await;
    let src = s.card_token("4242424242424242").await;
    let (st, o) = s
        .post(
            &format!("/api/v1/me/orders/{order_id}/pay"),
            Some(&t),
            json!({ "source": src }),
        )
        .await;
    assert_eq!((st, &o["status"]), (200, &json!("delivered")), "{o}");
    let svc = service(s, email, &sid).await;
    assert_eq!(svc["state"], "active");
    assert_eq!(date(&svc["expires_on"]), e.saturating_add(1.year()));
    assert!(
        webhook_kinds(s, &op, &sid)
            .await
            .contains(&"service.reactivated".to_owned())
    );
    move_to(s, &op, e + days(9)).await;
    let svc = service(s, email, &sid).await;
    assert_eq!(svc["state"], "active", "paid: never deleted");
    assert!(mail_days(s, email, "service_last_warning").await.is_empty());
    assert!(
        mail_days(s, email, "service_deleted_unpaid")
            .await
            .is_empty()
    );
}

async fn unpaid_service_never_touches_another(b: Backend) {
    let w = World::new(b).await;
    let s = &w.server;
    let op = s.operator_key();
    s.mail_plan(&op, json!({"EUR": 1200})).await;
    let email = "two@example.fr";
    let t = s.customer(&w.smtp, email).await;
    add_card(s, &t, "4242424242424242").await;
    let (unpaid, e) = buy(s, &t, None).await;
    let (st, v) = s
        .call(
            "PUT",
            &format!("/api/v1/me/services/{unpaid}/renewal"),
            Some(&t),
            Some(json!({"mode": "manual"})),
        )
        .await;
    assert_eq!(st, 200, "{v}");
    move_to(s, &op, today(s, &op).await + days(40)).await;
    let t = s.login(email, PASSWORD).await;
    let (paid, e2) = buy(s, &t, None).await;
    assert!(e2 > e);

    // Manual renewal: reminders on their days, then suspension, last warning, deletion.
    move_to(s, &op, e + days(7)).await;
    assert_eq!(
        mail_days(s, email, "renewal_reminder").await,
        vec![e - days(30), e - days(15), e - days(7), e - days(1)]
    );
    assert_eq!(mail_days(s, email, "service_suspended").await, vec![e]);
    assert_eq!(
        mail_days(s, email, "service_last_warning").await,
        vec![e + days(5)]
    );
    assert_eq!(
        mail_days(s, email, "service_deleted_unpaid").await,
        vec![e + days(7)]
    );
    let svc = service(s, email, &unpaid).await;
    assert_eq!(svc["state"], "deleted");
    let renewals = renewal_orders(s, email, &unpaid).await;
    assert_eq!(renewals.len(), 1);
    assert_eq!(
        renewals[0]["status"], "cancelled",
        "the unpaid renewal is void"
    );
    assert_eq!(renewals[0]["cancel_reason"], "service_deleted");
    assert!(
        mail_days(s, email, "order_expired").await.is_empty(),
        "the deletion mail says it all; no 'order expired, order again' mail"
    );
    let hooks = webhook_kinds(s, &op, &unpaid).await;
    assert!(hooks.contains(&"service.deleted".to_owned()), "{hooks:?}");

    // The other service was never touched, and renews on its own day.
    let svc = service(s, email, &paid).await;
    assert_eq!(svc["state"], "active");
    assert_eq!(date(&svc["expires_on"]), e2);
    move_to(s, &op, e2 - days(7)).await;
    let svc = service(s, email, &paid).await;
    assert_eq!(svc["state"], "active");
    assert_eq!(date(&svc["expires_on"]), e2.saturating_add(1.year()));
    assert_eq!(mail_days(s, email, "service_suspended").await.len(), 1);
}

async fn manual_renewal_several_periods(b: Backend) {
    let w = World::new(b).await;
    let s = &w.server;
    let op = s.operator_key();
    s.mail_plan(&op, json!({"EUR": 1200})).await;
    let email = "manual@example.fr";
    let t = s.customer(&w.smtp, email).await;
    let other = s.customer(&w.smtp, "nosy@example.fr").await;
    let src = s.card_token("4242424242424242").await;
    let (sid, e) = buy(s, &t, Some(&src)).await;
    let renew = format!("/api/v1/me/services/{sid}/renew");
    s.call(
        "PUT",
        &format!("/api/v1/me/services/{sid}/renewal"),
        Some(&t),
        Some(json!({"mode": "manual"})),
    )
    .await;

    let (st, v) = s.post(&renew, Some(&t), json!({"periods": 11})).await;
    assert_eq!((st, v["code"].as_str()), (422, Some("invalid_periods")));
    let (st, _) = s.post(&renew, Some(&other), json!({"periods": 1})).await;
    assert_eq!(st, 404);
    let (st, _) = s
        .post(
            "/api/v1/me/services/0190f0c0-0000-7000-8000-000000000000/renew",
            Some(&t),
            json!({}),
        )
        .await;
    assert_eq!(st, 404);

    // Early, two periods at once: they add to E.
    move_to(s, &op, e - days(20)).await;
    assert_eq!(
        mail_days(s, email, "renewal_reminder").await,
        vec![e - days(30)]
    );
    let t = s.login(email, PASSWORD).await;
    let (st, o) = s.post(&renew, Some(&t), json!({"periods": 2})).await;
    assert_eq!(st, 201, "{o}");
    assert_eq!(o["kind"], "renewal");
    assert_eq!(o["total_minor"], 2 * 1440);
    assert_eq!(o["lines"][0]["quantity"], 2);
    // Asked twice before paying: the same order.
    let (_, again) = s.post(&renew, Some(&t), json!({"periods": 2})).await;
    assert_eq!(again["id"], o["id"]);
    let src = s.card_token("4242424242424242").await;
    let (st, paid) = s
        .post(
            &format!("/api/v1/me/orders/{}/pay", o["id"].as_str().unwrap()),
            Some(&t),
            json!({ "source": src }),
        )
        .await;
    assert_eq!((st, &paid["status"]), (200, &json!("delivered")), "{paid}");
    let new_e = e.saturating_add(2.years());
    assert_eq!(date(&service(s, email, &sid).await["expires_on"]), new_e);

    // No more reminders for the old date; the next ones count from the new one.
    move_to(s, &op, e + days(10)).await;
    assert_eq!(mail_days(s, email, "renewal_reminder").await.len(), 1);
    assert!(mail_days(s, email, "service_suspended").await.is_empty());
    let svc = service(s, email, &sid).await;
    assert_eq!(date(&svc["next_dates"]["next_reminder"]), new_e - days(30));
}

async fn card_expiry_and_termination_reminders(b: Backend) {
    let w = World::new(b).await;
    let s = &w.server;
    let op = s.operator_key();
    s.mail_plan(&op, json!({"EUR": 1200})).await;
    let email = "card@example.fr";
    let t = s.customer(&w.smtp, email).await;
    let now = today(s, &op).await;
    // A card valid four more months, well before the renewal charge in a year.
    let exp = now.saturating_add(4.months());
    let tok = s
        .card_token_until(
            "4242424242424242",
            i64::from(exp.month()),
            i64::from(exp.year()),
        )
        .await;
    let (st, v) = s
        .post(
            "/api/v1/me/payment-methods",
            Some(&t),
            json!({"kind": "card", "token": tok}),
        )
        .await;
    assert_eq!(st, 201, "{v}");
    let (sid, e) = buy(s, &t, None).await;
    let last = exp.last_of_month();

    move_to(s, &op, last - days(31)).await;
    assert!(mail_days(s, email, "card_expiring").await.is_empty());
    move_to(s, &op, last - days(6)).await;
    assert_eq!(
        mail_days(s, email, "card_expiring").await,
        vec![last - days(30), last - days(7)]
    );
    move_to(s, &op, last + days(3)).await;
    assert_eq!(mail_days(s, email, "card_expiring").await.len(), 2);

    // Résilier: a reminder the last week, deleted at E; no renewal is charged.
    let t = s.login(email, PASSWORD).await;
    let (st, v) = s
        .post(
            &format!("/api/v1/me/services/{sid}/termination"),
            Some(&t),
            json!({"reason": "not_needed"}),
        )
        .await;
    assert_eq!(st, 200, "{v}");
    move_to(s, &op, e).await;
    assert_eq!(
        mail_days(s, email, "service_termination_reminder").await,
        vec![e - days(7)]
    );
    assert!(mail_days(s, email, "renewal_notice").await.is_empty());
    assert!(renewal_orders(s, email, &sid).await.is_empty());
    assert_eq!(service(s, email, &sid).await["state"], "deleted");
}

/// A renewal order placed by another node (here written straight into the database, a minute
/// before the charge day's run) is that node's: the planner's batch leaves the service alone,
/// and its job waits out the lease (five minutes) before taking the order over; then the one
/// charge is made on that very order.
async fn renewal_placed_elsewhere_waits_out_its_lease(b: Backend) {
    use sqlx::{Connection, Row};
    let w = World::new(b).await;
    let s = &w.server;
    let op = s.operator_key();
    s.mail_plan(&op, json!({"EUR": 1200})).await;
    // Monthly: its only step on the charge day is the charge (no notice), so the planner's
    // batch takes it.
    let (st, v) = s
        .call(
            "PUT",
            "/api/v1/admin/catalog/products/mail/plans/mail-monthly",
            Some(&op),
            Some(json!({"name": "Mailbox 10 GB", "period": "P1M", "prices": {"EUR": 1200}})),
        )
        .await;
    assert_eq!(st, 200, "{v}");
    let email = "elsewhere@example.fr";
    let t = s.customer(&w.smtp, email).await;
    add_card(s, &t, "4242424242424242").await;
    let (sid, e) = buy_plan(s, &t, "mail-monthly", None).await;
    let next_e = e.saturating_add(1.month());
    let charge_day = e - days(7);
    move_to(s, &op, charge_day - days(1)).await;

    sqlx::any::install_default_drivers();
    let mut c = sqlx::AnyConnection::connect(&w._db.url)
        .await
        .expect("connect");
    let account: String = sqlx::query("SELECT account_id FROM services WHERE id = $1")
        .bind(&sid)
        .fetch_one(&mut c)
        .await
        .expect("service")
        .get(0);
    // Noon of the charge day (when the clock is moved there) less a minute, in ms.
    let day_number = i64::from((charge_day - jiff::civil::date(1970, 1, 1)).get_days());
    let placed_at = day_number * 86_400_000 + 12 * 3_600_000 - 60_000;
    let order_id = "01900000-0000-7000-8000-0000000e15e1";
    sqlx::query(
        "INSERT INTO orders (id, account_id, number, kind, status, currency, net_minor, \
         vat_minor, total_minor, tax_treatment, expires_at, created_at, updated_at, renewal_key) \
         VALUES ($1, $2, '2099000000001', 'renewal', 'not_paid', 'EUR', 1200, 240, 1440, \
         'domestic', $3, $4, $4, $5)",
    )
    .bind(order_id)
    .bind(&account)
    .bind(placed_at + 30 * 86_400_000)
    .bind(placed_at)
    .bind(format!("{sid}:{e}"))
    .execute(&mut c)
    .await
    .expect("order");
    sqlx::query(
        "INSERT INTO order_lines (order_id, line_no, product_code, product_name, plan_code, \
         plan_name, period, quantity, unit_price_minor, setup_fee_minor, vat_rate_bp, \
         net_minor, vat_minor, total_minor, service_id, period_start, period_end) \
         SELECT $1, 1, product_code, 'Mail', plan_code, 'Mailbox 10 GB', period, 1, 1200, 0, \
         2000, 1200, 240, 1440, id, $2, $3 FROM services WHERE id = $4",
    )
    .bind(order_id)
    .bind(e.to_string())
    .bind(next_e.to_string())
    .bind(&sid)
    .execute(&mut c)
    .await
    .expect("line");

    // The charge day: the order is a minute old, so its job waits; nothing is charged.
    move_to(s, &op, charge_day).await;
    let svc = service(s, email, &sid).await;
    assert_eq!(date(&svc["expires_on"]), e, "not renewed yet: {svc}");
    let renewals = renewal_orders(s, email, &sid).await;
    assert_eq!(renewals.len(), 1, "no second order");
    assert_eq!(renewals[0]["status"], "not_paid");
    let waiting: i64 = sqlx::query(
        "SELECT COUNT(*) FROM jobs WHERE unique_key = $1 AND state = 'queued' AND run_at >= $2",
    )
    .bind(format!("svc:{sid}:{e}:charge-7"))
    .bind(placed_at + 5 * 60_000)
    .fetch_one(&mut c)
    .await
    .expect("job")
    .get(0);
    assert_eq!(waiting, 1, "the charge job waits out the lease");

    // The next day the lease is long past: the job charges that order, once.
    move_to(s, &op, charge_day + days(1)).await;
    let svc = service(s, email, &sid).await;
    assert_eq!(date(&svc["expires_on"]), next_e, "{svc}");
    let renewals = renewal_orders(s, email, &sid).await;
    assert_eq!(renewals.len(), 1, "{renewals:?}");
    assert_eq!(renewals[0]["id"], order_id);
    assert_eq!(renewals[0]["status"], "delivered");
    let paid = renewals[0]["payments"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["state"] == "succeeded")
        .count();
    assert_eq!(paid, 1);
    assert_eq!(
        mail_days(s, email, "service_renewed").await,
        vec![charge_day + days(1)]
    );
}
