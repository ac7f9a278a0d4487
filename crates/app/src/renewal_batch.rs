//! The billing run's fast path: the automatic renewal charges of many services done
//! together. One transaction writes every order, line, first event and pending payment of
//! the batch; the gateway is asked for all the charges at once; a second transaction settles
//! the successful ones (payments, orders delivered, gapless invoice numbers taken together,
//! invoices, mails, webhooks, new expiration dates, jobs done), each kind of row in one
//! multi-row statement. The rows are the same ones, built by the same functions, as the
//! one-service path (`lifecycle::run_step` → `renewals` → `payments::settle`), and the keys
//! are the same (`{service}:{E}` for the order, `renewal:{order}:{day}` for the charge), so a
//! crash anywhere leaves work the one-service path finishes: an order already placed, a
//! payment pending whose charge is sent again under its key. Anything out of the ordinary
//! (an order already there, no usable card, credit on the account to spend first, a plan
//! change in progress, a free renewal, a declined or unanswered charge, a service changed
//! meanwhile) is left to that path.

use crate::accounts::{language_of, recipient};
use crate::gateway::{ChargeRequest, Gateway, Outcome};
use crate::payment_methods::status_of;
use crate::queue::Job;
use crate::renewals::{self, RenewalPlan};
use crate::{App, AppError, Result, ids};
use guichet_domain::lifecycle::RenewalMode;
use guichet_domain::schedule::Step;
use guichet_store::accounts::{self as account_store, AccountRow};
use guichet_store::emails::EmailRow;
use guichet_store::orders::{self as order_store, EventRow, LineRow, OrderRow};
use guichet_store::payments::{self as payment_store, PaymentRow};
use guichet_store::services::{self as service_store, ServiceRow};
use guichet_store::{invoices as invoice_store, jobs, payment_methods, webhooks};
use std::collections::HashMap;

/// A service whose renewal charge the batch takes on.
struct Item {
    job: Job,
    service: ServiceRow,
    order: OrderRow,
    line: LineRow,
    started: EventRow,
    payment: PaymentRow,
}

/// What the batch did: how many jobs it finished, and the jobs it leaves to the one-service
/// path.
pub(crate) struct BatchOutcome {
    pub done: usize,
    pub rest: Vec<Job>,
}

fn charge_step(job: &Job) -> Option<(String, String, i32)> {
    #[derive(serde::Deserialize)]
    struct P {
        service_id: String,
        expires_on: String,
        step: String,
    }
    let p: P = serde_json::from_str(&job.row.payload).ok()?;
    match Step::parse(&p.step)? {
        Step::Charge(days) => Some((p.service_id, p.expires_on, days)),
        _ => None,
    }
}

/// Whether a job is a renewal charge the batch may take.
pub(crate) fn is_charge(job: &Job) -> bool {
    job.row.kind == crate::lifecycle::SERVICE_STEP && charge_step(job).is_some()
}

/// A batch whose charges were sent: the paid ones are left to settle, and the jobs the batch
/// does not take on wait for the one-service path.
pub(crate) struct Charged {
    paid: Vec<(Item, String)>,
    rest: Vec<Job>,
    accounts: HashMap<String, AccountRow>,
}

/// Everything up to the settling transaction: read and price, place the orders and pending
/// payments, send the charges. Never fails: what it cannot take on is left to the
/// one-service path.
pub(crate) async fn start(app: &App, batch: Vec<Job>) -> Charged {
    let rows: Vec<_> = batch.iter().map(|j| j.row.clone()).collect();
    match start_checked(app, batch).await {
        Ok(charged) => charged,
        Err(e) => {
            // Reading the batch failed: each job is tried on its own (and retried as usual).
            tracing::warn!(error = %e.message, "renewal batch failed; one at a time instead");
            Charged {
                paid: Vec::new(),
                rest: rows.into_iter().map(|row| Job { row }).collect(),
                accounts: HashMap::new(),
            }
        }
    }
}

/// The settling transaction of a started batch; the jobs it leaves (declined, unanswered, or
/// a row that moved meanwhile) come back in `rest`.
pub(crate) async fn finish(app: &App, charged: Charged) -> BatchOutcome {
    let Charged {
        paid,
        mut rest,
        accounts,
    } = charged;
    if paid.is_empty() {
        return BatchOutcome { done: 0, rest };
    }
    let n = paid.len();
    match settle(app, &paid, &accounts).await {
        Ok(()) => {
            app.outbox_signal.notify_waiters();
            BatchOutcome { done: n, rest }
        }
        Err(e) => {
            tracing::info!(error = %e.message, "renewal batch not settled; one at a time instead");
            rest.extend(paid.into_iter().map(|(i, _)| i.job));
            BatchOutcome { done: 0, rest }
        }
    }
}

async fn start_checked(app: &App, batch: Vec<Job>) -> Result<Charged> {
    let (items, mut rest, accounts) = prepare(app, batch).await?;
    let unpaid = |rest| Charged {
        paid: Vec::new(),
        rest,
        accounts: HashMap::new(),
    };
    if items.is_empty() {
        return Ok(unpaid(rest));
    }
    let mut items = items;
    // The batch's order numbers, reserved together before its first transaction; a number
    // given before 0019 already taken fails the whole statement: reserve others.
    let mut placed = Err(AppError::internal("not placed"));
    for _ in 0..3 {
        let numbers = crate::orders::new_numbers(app, app.now_ms(), items.len()).await?;
        for (i, number) in items.iter_mut().zip(numbers) {
            i.order.number = number;
        }
        placed = place(app, &items).await;
        if placed.is_ok() {
            break;
        }
    }
    if let Err(e) = placed {
        // A concurrent node placed one of these orders: the one-service path sorts each out.
        tracing::info!(error = %e.message, "renewal batch not placed; one at a time instead");
        rest.extend(items.into_iter().map(|i| i.job));
        return Ok(unpaid(rest));
    }
    let outcomes = charge(app, &items).await;
    let mut paid = Vec::with_capacity(items.len());
    for (item, outcome) in items.into_iter().zip(outcomes) {
        match outcome {
            Outcome::Succeeded { charge_id } => paid.push((item, charge_id)),
            // Declined or unanswered: its pending payment is found and asked about again by
            // the one-service path, which records the outcome and mails.
            _ => rest.push(item.job),
        }
    }
    Ok(Charged {
        paid,
        rest,
        accounts,
    })
}

type Prepared = (Vec<Item>, Vec<Job>, HashMap<String, AccountRow>);

/// Read what the batch needs in a few queries and price every renewal it takes on.
async fn prepare(app: &App, batch: Vec<Job>) -> Result<Prepared> {
    let mut rest = Vec::new();
    let mut wanted = Vec::with_capacity(batch.len());
    for job in batch {
        match charge_step(&job) {
            Some((sid, e, days)) => wanted.push((job, sid, e, days)),
            None => rest.push(job),
        }
    }
    let mut c = app.db.conn().await?;
    let ids: Vec<String> = wanted.iter().map(|w| w.1.clone()).collect();
    let mut services: HashMap<String, ServiceRow> = service_store::by_ids(&mut c, &ids)
        .await?
        .into_iter()
        .map(|s| (s.id.clone(), s))
        .collect();
    let account_ids: Vec<String> = {
        let mut v: Vec<String> = services.values().map(|s| s.account_id.clone()).collect();
        v.sort();
        v.dedup();
        v
    };
    let accounts: HashMap<String, AccountRow> = account_store::by_ids(&mut c, &account_ids)
        .await?
        .into_iter()
        .map(|a| (a.id.clone(), a))
        .collect();
    let methods: HashMap<String, payment_methods::MethodRow> =
        payment_methods::defaults_of(&mut c, &account_ids)
            .await?
            .into_iter()
            .map(|m| (m.account_id.clone(), m))
            .collect();
    // Credit to spend first, or a plan change in progress: the one-service path does those.
    let credit: std::collections::HashSet<(String, String)> =
        guichet_store::credit::positive_of(&mut c, &account_ids)
            .await?
            .into_iter()
            .map(|b| (b.account_id, b.currency))
            .collect();
    let changing: std::collections::HashSet<String> =
        guichet_store::plan_changes::pending_services(&mut c, &ids)
            .await?
            .into_iter()
            .collect();
    let keys: Vec<String> = services.values().map(renewals::renewal_key).collect();
    let placed: std::collections::HashSet<String> = order_store::by_renewal_keys(&mut c, &keys)
        .await?
        .into_iter()
        .filter_map(|o| o.renewal_key)
        .collect();
    let mut plans: HashMap<_, Option<RenewalPlan>> = HashMap::new();
    let mut vat: HashMap<String, Option<String>> = HashMap::new();
    let now = app.now_ms();
    let mut items = Vec::with_capacity(wanted.len());
    for (job, sid, e, days) in wanted {
        let Some(s) = services.remove(&sid) else {
            rest.push(job);
            continue;
        };
        let ordinary = s.state == "active"
            && s.expires_on == e
            && s.renewal_mode == RenewalMode::Automatic.as_str()
            && s.termination_requested_at.is_none()
            && !placed.contains(&renewals::renewal_key(&s))
            && !changing.contains(&s.id)
            && !credit.contains(&(s.account_id.clone(), s.currency.clone()));
        let account = accounts.get(&s.account_id).filter(|a| a.state == "active");
        let method = methods.get(&s.account_id).filter(|m| {
            m.kind != "bank_transfer" && m.token.is_some() && status_of(app, m).usable()
        });
        let gateway = method.and_then(|m| Gateway::parse(&m.gateway));
        let (true, Some(account), Some(method), Some(gateway)) =
            (ordinary, account, method, gateway)
        else {
            rest.push(job);
            continue;
        };
        let key = renewals::plan_key(&s);
        if !plans.contains_key(&key) {
            let rp = renewals::renewal_plan(&mut c, &s, None).await.ok();
            plans.insert(key.clone(), rp);
        }
        let Some(Some(rp)) = plans.get(&key) else {
            rest.push(job);
            continue;
        };
        if !vat.contains_key(&account.id) {
            let v = crate::orders::reverse_charge_number(app, account).await;
            vat.insert(account.id.clone(), v);
        }
        let v = vat.get(&account.id).cloned().flatten();
        let Ok(q) = renewals::quote_from(app, account, v.as_deref(), &s, rp, 1) else {
            rest.push(job);
            continue;
        };
        let rkey = renewals::renewal_key(&s);
        let Ok((order, line, started)) =
            renewals::renewal_order(app, account, &s, &q, Some(&rkey), String::new())
        else {
            rest.push(job);
            continue;
        };
        if order.total_minor == 0 {
            rest.push(job);
            continue;
        }
        let payment = PaymentRow {
            id: ids::new_id(now),
            account_id: account.id.clone(),
            order_id: order.id.clone(),
            amount_minor: order.total_minor,
            currency: order.currency.clone(),
            state: "pending".into(),
            gateway: gateway.name().to_owned(),
            idempotency_key: format!("renewal:{}:{days}", order.id),
            source: method.token.clone().unwrap_or_default(),
            method_label: Some(method.label.clone()),
            gateway_ref: None,
            failure_code: None,
            created_at: now,
            updated_at: now,
            settled_at: None,
            payment_method_id: Some(method.id.clone()),
        };
        items.push(Item {
            job,
            service: s,
            order,
            line,
            started,
            payment,
        });
    }
    Ok((items, rest, accounts))
}

/// The first transaction: orders, lines, their first events and the pending payments.
async fn place(app: &App, items: &[Item]) -> Result<()> {
    let orders: Vec<OrderRow> = items.iter().map(|i| i.order.clone()).collect();
    let lines: Vec<LineRow> = items.iter().map(|i| i.line.clone()).collect();
    let payments: Vec<PaymentRow> = items.iter().map(|i| i.payment.clone()).collect();
    let mut tx = app.db.begin().await?;
    order_store::insert_many(tx.conn(), &orders).await?;
    order_store::insert_lines(tx.conn(), &lines).await?;
    let events: Vec<(EventRow, i64)> = items.iter().map(|i| (i.started.clone(), 1)).collect();
    order_store::insert_events(tx.conn(), &events).await?;
    payment_store::insert_many(tx.conn(), &payments).await?;
    tx.commit().await?;
    Ok(())
}

/// Ask the gateways for every charge, in the batch's order.
async fn charge(app: &App, items: &[Item]) -> Vec<Outcome> {
    let mut out: Vec<Option<Outcome>> = items.iter().map(|_| None).collect();
    let mut by_gateway: HashMap<&str, Vec<usize>> = HashMap::new();
    for (k, i) in items.iter().enumerate() {
        by_gateway
            .entry(i.payment.gateway.as_str())
            .or_default()
            .push(k);
    }
    for (name, idx) in by_gateway {
        let Some(g) = Gateway::parse(name) else {
            continue;
        };
        let reqs: Vec<ChargeRequest<'_>> = idx
            .iter()
            .map(|&k| ChargeRequest::of(&items[k].payment))
            .collect();
        for (k, o) in idx.into_iter().zip(g.charge_many(app, &reqs).await) {
            out[k] = Some(o);
        }
    }
    out.into_iter()
        .map(|o| o.unwrap_or(Outcome::Unknown))
        .collect()
}

/// The rows a settling transaction writes, built before it begins so that the database's
/// writer (SQLite has one) is not held while this process lays them out. The invoices carry
/// the numbers `first..`, a guess checked inside the transaction.
struct Settlement {
    first: i64,
    invoices: Vec<guichet_store::invoices::InvoiceRow>,
    mails: Vec<EmailRow>,
    hooks: Vec<webhooks::EventRow>,
    events: Vec<(EventRow, i64)>,
    extensions: Vec<service_store::Extension>,
}

fn settlement(
    app: &App,
    paid: &[(Item, String)],
    accounts: &HashMap<String, AccountRow>,
    first: i64,
) -> Result<Settlement> {
    let changed = || crate::AppError::conflict("batch_changed", "a row changed meanwhile");
    let mut out = Settlement {
        first,
        invoices: Vec::with_capacity(paid.len()),
        mails: Vec::with_capacity(paid.len() * 2),
        hooks: Vec::with_capacity(paid.len()),
        events: Vec::with_capacity(paid.len() * 2),
        extensions: Vec::with_capacity(paid.len()),
    };
    for (k, (i, _)) in paid.iter().enumerate() {
        let account = accounts.get(&i.order.account_id).ok_or_else(changed)?;
        let lang = language_of(account);
        let to = recipient(account);
        let label = i.payment.method_label.as_deref().unwrap_or_default();
        let (inv, inv_mail) = crate::invoices::order_invoice(
            app,
            &i.order,
            std::slice::from_ref(&i.line),
            account,
            label,
            0,
            first + k as i64,
        )?;
        out.invoices.push(inv);
        out.events
            .push((crate::payments::received_event(app, &i.payment, lang), 1));
        out.mails
            .push(crate::mail::outbox::build(app, &to, &inv_mail));
        let r = renewals::renewal_of(app, &i.order, &i.line, &i.service)?.ok_or_else(changed)?;
        out.mails
            .push(crate::mail::outbox::build(app, &to, &r.mail));
        out.hooks.extend(r.webhooks);
        out.extensions.push(r.extension);
        out.events
            .push((renewals::delivered_event(app, &i.order.id, lang), 2));
    }
    Ok(out)
}

/// The second transaction: everything a successful renewal charge settles, for the whole
/// batch. Any row that moved meanwhile rolls it all back (the one-service path then settles
/// each, under the same charge keys).
async fn settle(
    app: &App,
    paid: &[(Item, String)],
    accounts: &HashMap<String, AccountRow>,
) -> Result<()> {
    let now = app.now_ms();
    let today = crate::clock::utc_date(now)
        .ok_or_else(|| crate::AppError::internal("clock out of range"))?;
    let changed = || crate::AppError::conflict("batch_changed", "a row changed meanwhile");
    let n = paid.len() as u64;
    let order_ids: Vec<String> = paid.iter().map(|(i, _)| i.order.id.clone()).collect();
    let job_ids: Vec<String> = paid.iter().map(|(i, _)| i.job.row.id.clone()).collect();
    let year = i64::from(today.year());
    // The invoice numbers this batch will take unless another writer takes some first.
    let guess = {
        let mut c = app.db.conn().await?;
        invoice_store::last_seq(&mut c, crate::invoices::INVOICE, year).await? + 1
    };
    let mut rows = settlement(app, paid, accounts, guess)?;

    let mut tx = app.db.begin().await?;
    let c = tx.conn();
    // Orders first, as every payment path locks them.
    if order_store::transition_many(c, &order_ids, "not_paid", "delivered", now).await? != n {
        return Err(changed());
    }
    let refs: Vec<(String, String)> = paid
        .iter()
        .map(|(i, charge)| (i.payment.id.clone(), charge.clone()))
        .collect();
    if payment_store::succeed_many(c, &refs, now).await? != n {
        return Err(changed());
    }
    let methods: Vec<String> = paid
        .iter()
        .filter_map(|(i, _)| i.payment.payment_method_id.clone())
        .collect();
    payment_methods::record_successes(c, &methods).await?;
    let last = invoice_store::next_seqs(c, crate::invoices::INVOICE, year, n as i64).await?;
    let first = last - n as i64 + 1;
    if first != rows.first {
        // Another writer took numbers since the guess: lay the rows out again with ours.
        rows = settlement(app, paid, accounts, first)?;
    }
    let Settlement {
        invoices,
        mails,
        hooks,
        events,
        extensions,
        ..
    } = rows;
    invoice_store::insert_many(c, &invoices).await?;
    order_store::insert_events(c, &events).await?;
    if service_store::extend_many(c, &extensions, &today.to_string(), now).await? != n {
        return Err(changed());
    }
    guichet_store::emails::insert_many(c, &mails).await?;
    webhooks::insert_many(c, &hooks).await?;
    if jobs::finish_many(c, &job_ids, crate::queue::worker_id(), now).await? != n {
        return Err(changed());
    }
    tx.commit().await?;
    Ok(())
}
