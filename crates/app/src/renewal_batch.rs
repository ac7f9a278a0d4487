//! The billing run's fast path: the automatic renewal charges of many services done
//! together, whether the planner found them due ([`crate::lifecycle::plan_due`]) or the queue
//! claimed their jobs (a retry, or work a crash left). One transaction writes every order, line, first event and pending payment of
//! the batch; the gateway is asked for all the charges at once; a second transaction settles
//! the successful ones (payments, orders delivered, gapless invoice numbers taken together,
//! invoices, mails, webhooks, new expiration dates, jobs done), each kind of row in one
//! multi-row statement. The rows are the same ones, built by the same functions, as the
//! one-service path (`lifecycle::run_step` → `renewals` → `payments::settle`), and the keys
//! are the same (`{service}:{E}` for the order, `renewal:{order}:{day}` for the charge), so a
//! crash anywhere leaves work the one-service path finishes: an order already placed, a
//! payment pending whose charge is sent again under its key. The order's key also shares the
//! work between nodes: a batch places only the orders nobody placed before it. Anything out of the ordinary
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
use guichet_store::bulk::Val;
use guichet_store::orders::{self as order_store, EventRow, LineRow, OrderRow};
use guichet_store::payments::{self as payment_store, PaymentRow};
use guichet_store::services::{self as service_store, ServiceRow};
use guichet_store::{invoices as invoice_store, jobs, payment_methods, webhooks};
use std::collections::{HashMap, HashSet};

/// What a batch renews: a job claimed from the queue, or a service the planner found due.
pub(crate) trait Ticket: Send + Sync + 'static {
    /// The service, the expiration and the charge step (days before it) this stands for.
    fn charge(&self) -> Option<(String, String, i32)>;
    /// The job marked done with the renewal, if this is one.
    fn job_id(&self) -> Option<&str>;
    /// Its renewal order was placed before (at `placed_at`), by another batch or node.
    fn placed_before(&mut self, _placed_at: i64) {}
}

impl Ticket for Job {
    fn charge(&self) -> Option<(String, String, i32)> {
        charge_step(self)
    }
    fn job_id(&self) -> Option<&str> {
        Some(&self.row.id)
    }
}

/// A service whose renewal charge the batch takes on.
struct Item<T> {
    ticket: T,
    service: ServiceRow,
    order: OrderRow,
    line: LineRow,
    started: EventRow,
    payment: PaymentRow,
}

/// What the batch did: how many renewals it settled, and what it leaves to the one-service
/// path.
pub(crate) struct BatchOutcome<T> {
    pub done: usize,
    pub rest: Vec<T>,
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
struct Charged<T> {
    paid: Vec<(Item<T>, String)>,
    rest: Vec<T>,
    accounts: HashMap<String, AccountRow>,
}

/// Batches run in overlapping stages, so that SQLite's single writer (the billing run's
/// bottleneck) is kept busy: while the database settles one batch (its second transaction),
/// this process lays out the settling rows of the batch charged after it; then the batch
/// read and priced before is placed and charged. Each batch is read and priced on a task of
/// its own from the moment it is pushed until the next push places it, so its reading
/// overlaps a whole round of writes (a settling, a placing and a charging) rather than the
/// settling alone. Each transaction is the one a batch always writes, so a crash leaves what
/// it always left, only for up to two batches at once (a third is only read).
pub(crate) struct Pipeline<T> {
    /// The batch charged last, its settling rows not laid out yet.
    charged: Option<Charged<T>>,
    /// The batch charged before it, laid out, waiting for its settling transaction.
    ready: Option<Ready<T>>,
    /// The batch pushed last, being read and priced.
    reading: Option<tokio::task::JoinHandle<Priced<T>>>,
}

/// A charged batch and its settling rows, laid out (or why they could not be).
struct Ready<T> {
    charged: Charged<T>,
    rows: Result<Settlement>,
}

fn joined<V>(r: std::result::Result<V, tokio::task::JoinError>) -> Result<V> {
    r.map_err(|e| AppError::internal(format!("renewal batch task: {e}")))
}

impl<T: Ticket> Pipeline<T> {
    pub fn new() -> Self {
        Self {
            charged: None,
            ready: None,
            reading: None,
        }
    }

    /// Take `batch` into the pipeline; returns what the batch it settled meanwhile did.
    pub async fn push(&mut self, app: &App, batch: Vec<T>) -> Result<BatchOutcome<T>> {
        let numbers = self.next_numbers(app).await?;
        let lay = self.charged.take().map(|c| {
            let app = app.clone();
            tokio::task::spawn_blocking(move || lay_out(&app, c, numbers))
        });
        let read = tokio::spawn({
            let app = app.clone();
            async move { read_and_price(&app, batch).await }
        });
        let earlier = self.reading.replace(read);
        // Durations only (how long each stage held or waited for the writer), for the
        // debug log: never the clock's time.
        let t = std::time::Instant::now();
        let settled = match self.ready.take() {
            Some(r) => settle_ready(app, r).await,
            None => BatchOutcome::default(),
        };
        let settling = t.elapsed();
        if let Some(lay) = lay {
            self.ready = Some(joined(lay.await)?);
        }
        let laying = t.elapsed() - settling;
        let mut reading = std::time::Duration::ZERO;
        let mut placing = std::time::Duration::ZERO;
        if let Some(earlier) = earlier {
            let r = std::time::Instant::now();
            let prepared = joined(earlier.await)?;
            reading = r.elapsed();
            self.charged = Some(place_and_charge(app, prepared).await);
            placing = r.elapsed() - reading;
        }
        tracing::debug!(
            settled = settled.done,
            settle_ms = settling.as_secs_f64() * 1e3,
            lay_wait_ms = laying.as_secs_f64() * 1e3,
            read_wait_ms = reading.as_secs_f64() * 1e3,
            place_charge_ms = placing.as_secs_f64() * 1e3,
            "renewal batch stages"
        );
        Ok(settled)
    }

    /// Settle every batch in the pipeline, in order; returns what they did.
    pub async fn flush(&mut self, app: &App) -> BatchOutcome<T> {
        let mut out = BatchOutcome::default();
        loop {
            let more = if let Some(r) = self.ready.take() {
                settle_ready(app, r).await
            } else if let Some(c) = self.charged.take() {
                self.ready = Some(match self.next_numbers(app).await {
                    Ok(numbers) => lay_out(app, c, numbers),
                    Err(e) => Ready {
                        charged: c,
                        rows: Err(e),
                    },
                });
                continue;
            } else if let Some(r) = self.reading.take() {
                match joined(r.await) {
                    Ok(prepared) => self.charged = Some(place_and_charge(app, prepared).await),
                    // Its tickets went with the task: left to the jobs' leases or the next
                    // planner pass, as after a crash.
                    Err(e) => tracing::error!(error = %e.message, "renewal batch lost"),
                }
                continue;
            } else {
                break;
            };
            out.done += more.done;
            out.rest.extend(more.rest);
        }
        out
    }

    /// The year and first invoice number the next batch laid out guesses it takes: after the
    /// batch laid out and not yet settled, if any; else after the series' last number.
    async fn next_numbers(&self, app: &App) -> Result<(i64, i64)> {
        if let Some(Ready {
            charged,
            rows: Ok(rows),
        }) = &self.ready
        {
            return Ok((rows.year, rows.first + charged.paid.len() as i64));
        }
        let year = i64::from(
            crate::clock::utc_date(app.now_ms())
                .ok_or_else(|| AppError::internal("clock out of range"))?
                .year(),
        );
        let mut c = app.db.conn().await?;
        Ok((
            year,
            invoice_store::last_seq(&mut c, crate::invoices::INVOICE, year).await? + 1,
        ))
    }
}

impl<T> Default for BatchOutcome<T> {
    fn default() -> Self {
        Self {
            done: 0,
            rest: Vec::new(),
        }
    }
}

/// Lay out the settling rows of a charged batch, numbering its invoices from `numbers`.
fn lay_out<T>(app: &App, charged: Charged<T>, numbers: (i64, i64)) -> Ready<T> {
    let rows = settlement(app, &charged.paid, &charged.accounts, numbers);
    Ready { charged, rows }
}

/// The settling transaction of a laid-out batch; what it leaves (declined, unanswered, or a
/// row that moved meanwhile) comes back in `rest`.
async fn settle_ready<T: Ticket>(app: &App, ready: Ready<T>) -> BatchOutcome<T> {
    let Ready {
        charged: Charged {
            paid,
            mut rest,
            accounts,
        },
        rows,
    } = ready;
    if paid.is_empty() {
        return BatchOutcome { done: 0, rest };
    }
    let n = paid.len();
    let settled = match rows {
        Ok(rows) => settle(app, &paid, &accounts, rows).await,
        Err(e) => Err(e),
    };
    match settled {
        Ok(()) => {
            app.outbox_signal.notify_waiters();
            BatchOutcome { done: n, rest }
        }
        Err(e) => {
            tracing::info!(error = %e.message, "renewal batch not settled; one at a time instead");
            rest.extend(paid.into_iter().map(|(i, _)| i.ticket));
            BatchOutcome { done: 0, rest }
        }
    }
}

/// What [`read_and_price`] hands on: the batch priced, or (reading it failed) handed back.
struct Priced<T> {
    items: Vec<Item<T>>,
    rest: Vec<T>,
    accounts: HashMap<String, AccountRow>,
    /// The placing transaction's rows, laid out beside the settling of an earlier batch.
    laid: Option<PlaceRows>,
}

/// The rows the placing transaction inserts, as their statements' values, one per item in
/// the items' order (the orders' numbers are filled in inside the transaction).
struct PlaceRows {
    orders: Vec<Vec<Val>>,
    lines: Vec<Vec<Val>>,
    events: Vec<Vec<Val>>,
    payments: Vec<Vec<Val>>,
}

impl PlaceRows {
    fn of<T>(items: &[Item<T>]) -> Self {
        Self {
            orders: items
                .iter()
                .map(|i| order_store::order_values(&i.order))
                .collect(),
            lines: items
                .iter()
                .map(|i| order_store::line_values(&i.line))
                .collect(),
            events: items
                .iter()
                .map(|i| order_store::event_values(&i.started, 1))
                .collect(),
            payments: items
                .iter()
                .map(|i| payment_store::values(&i.payment))
                .collect(),
        }
    }
}

/// Read and price a batch. Never fails: what it cannot take on is left to the one-service
/// path.
async fn read_and_price<T: Ticket>(app: &App, batch: Vec<T>) -> Priced<T> {
    let mut back = Vec::new();
    match prepare(app, batch, &mut back).await {
        Ok((items, rest, accounts)) => Priced {
            laid: Some(PlaceRows::of(&items)),
            items,
            rest,
            accounts,
        },
        Err(e) => {
            // Reading the batch failed: each is tried on its own (and retried as usual).
            tracing::warn!(error = %e.message, "renewal batch failed; one at a time instead");
            Priced {
                items: Vec::new(),
                rest: back,
                accounts: HashMap::new(),
                laid: None,
            }
        }
    }
}

/// Place the orders and pending payments of a priced batch and send the charges. Never
/// fails: what it cannot take on is left to the one-service path.
async fn place_and_charge<T: Ticket>(app: &App, priced: Priced<T>) -> Charged<T> {
    let Priced {
        mut items,
        mut rest,
        accounts,
        mut laid,
    } = priced;
    let unpaid = |rest| Charged {
        paid: Vec::new(),
        rest,
        accounts: HashMap::new(),
    };
    if items.is_empty() {
        return unpaid(rest);
    }
    // The batch's order numbers are reserved in its first transaction; a number given
    // before 0019 already taken fails the whole statement (and the transaction): again.
    let mut placed = Err(AppError::internal("not placed"));
    for _ in 0..3 {
        let rows = laid.take().unwrap_or_else(|| PlaceRows::of(&items));
        placed = place(app, &mut items, rows).await;
        if placed.is_ok() {
            break;
        }
    }
    let placed = match placed {
        Ok(p) => p,
        Err(e) => {
            // The one-service path sorts each out.
            tracing::info!(error = %e.message, "renewal batch not placed; one at a time instead");
            rest.extend(items.into_iter().map(|i| i.ticket));
            return unpaid(rest);
        }
    };
    // Orders another batch or node placed between our reading and our writing are theirs.
    let items = if placed.len() == items.len() {
        items
    } else {
        let now = app.now_ms();
        let mut kept = Vec::with_capacity(placed.len());
        for mut i in items {
            if placed.contains(&i.order.id) {
                kept.push(i);
            } else {
                i.ticket.placed_before(now);
                rest.push(i.ticket);
            }
        }
        kept
    };
    if items.is_empty() {
        return unpaid(rest);
    }
    let outcomes = charge(app, &items).await;
    let mut paid = Vec::with_capacity(items.len());
    for (item, outcome) in items.into_iter().zip(outcomes) {
        match outcome {
            Outcome::Succeeded { charge_id } => paid.push((item, charge_id)),
            // Declined or unanswered: its pending payment is found and asked about again by
            // the one-service path, which records the outcome and mails.
            _ => rest.push(item.ticket),
        }
    }
    Charged {
        paid,
        rest,
        accounts,
    }
}

type Prepared<T> = (Vec<Item<T>>, Vec<T>, HashMap<String, AccountRow>);

/// Read what the batch needs in a few queries and price every renewal it takes on; if reading
/// fails, the batch is in `back`.
async fn prepare<T: Ticket>(app: &App, batch: Vec<T>, back: &mut Vec<T>) -> Result<Prepared<T>> {
    let mut rest = Vec::new();
    let mut wanted = Vec::with_capacity(batch.len());
    for t in batch {
        match t.charge() {
            Some((sid, e, days)) => wanted.push((t, sid, e, days)),
            None => rest.push(t),
        }
    }
    match read_batch(app, &wanted).await {
        Ok(found) => Ok(price(app, wanted, rest, found).await),
        Err(e) => {
            rest.extend(wanted.into_iter().map(|w| w.0));
            *back = rest;
            Err(e)
        }
    }
}

/// What [`prepare`] reads about a batch's services, their accounts and what may stand in the
/// way of an ordinary charge.
struct Found {
    services: HashMap<String, ServiceRow>,
    accounts: HashMap<String, AccountRow>,
    methods: HashMap<String, payment_methods::MethodRow>,
    credit: HashSet<(String, String)>,
    changing: HashSet<String>,
    /// Renewal orders already placed: their key and when.
    placed: HashMap<String, i64>,
}

async fn read_batch<T>(app: &App, wanted: &[(T, String, String, i32)]) -> Result<Found> {
    let mut c = app.db.conn().await?;
    let ids: Vec<String> = wanted.iter().map(|w| w.1.clone()).collect();
    let services: HashMap<String, ServiceRow> = service_store::by_ids(&mut c, &ids)
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
    let credit = guichet_store::credit::positive_of(&mut c, &account_ids)
        .await?
        .into_iter()
        .map(|b| (b.account_id, b.currency))
        .collect();
    let changing = guichet_store::plan_changes::pending_services(&mut c, &ids)
        .await?
        .into_iter()
        .collect();
    let keys: Vec<String> = services.values().map(renewals::renewal_key).collect();
    let placed = order_store::by_renewal_keys(&mut c, &keys)
        .await?
        .into_iter()
        .filter_map(|o| Some((o.renewal_key?, o.created_at)))
        .collect();
    Ok(Found {
        services,
        accounts,
        methods,
        credit,
        changing,
        placed,
    })
}

/// Price every renewal the batch takes on and lay out its order, line, first event and
/// pending payment; what is out of the ordinary goes to `rest`.
async fn price<T: Ticket>(
    app: &App,
    wanted: Vec<(T, String, String, i32)>,
    mut rest: Vec<T>,
    found: Found,
) -> Prepared<T> {
    let Found {
        mut services,
        accounts,
        methods,
        credit,
        changing,
        placed,
    } = found;
    let mut plans: HashMap<_, Option<RenewalPlan>> = HashMap::new();
    let mut vat: HashMap<String, Option<String>> = HashMap::new();
    let now = app.now_ms();
    let mut items = Vec::with_capacity(wanted.len());
    for (mut ticket, sid, e, days) in wanted {
        let Some(s) = services.remove(&sid) else {
            rest.push(ticket);
            continue;
        };
        if let Some(at) = placed.get(&renewals::renewal_key(&s)) {
            ticket.placed_before(*at);
            rest.push(ticket);
            continue;
        }
        let ordinary = s.state == "active"
            && s.expires_on == e
            && s.renewal_mode == RenewalMode::Automatic.as_str()
            && s.termination_requested_at.is_none()
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
            rest.push(ticket);
            continue;
        };
        let key = renewals::plan_key(&s);
        if !plans.contains_key(&key) {
            let rp = match app.db.conn().await {
                Ok(mut c) => renewals::renewal_plan(&mut c, &s, None).await.ok(),
                Err(_) => None,
            };
            plans.insert(key.clone(), rp);
        }
        let Some(Some(rp)) = plans.get(&key) else {
            rest.push(ticket);
            continue;
        };
        if !vat.contains_key(&account.id) {
            let v = crate::orders::reverse_charge_number(app, account).await;
            vat.insert(account.id.clone(), v);
        }
        let v = vat.get(&account.id).cloned().flatten();
        let Ok(q) = renewals::quote_from(app, account, v.as_deref(), &s, rp, 1) else {
            rest.push(ticket);
            continue;
        };
        let rkey = renewals::renewal_key(&s);
        let Ok((order, line, started)) =
            renewals::renewal_order(app, account, &s, &q, Some(&rkey), String::new())
        else {
            rest.push(ticket);
            continue;
        };
        if order.total_minor == 0 {
            rest.push(ticket);
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
            ticket,
            service: s,
            order,
            line,
            started,
            payment,
        });
    }
    (items, rest, accounts)
}

/// The first transaction: the order numbers, orders, lines, their first events and the
/// pending payments. An order whose renewal key another batch or node took first is left out
/// with its rows; returns the ids of the orders placed. The rows come laid out as values
/// (with the batch's reading and pricing, beside an earlier batch's settling; only the
/// numbers are filled in inside), so that SQLite's single writer is not held meanwhile.
async fn place<T>(app: &App, items: &mut [Item<T>], rows: PlaceRows) -> Result<HashSet<String>> {
    let PlaceRows {
        mut orders,
        mut lines,
        mut events,
        mut payments,
    } = rows;
    let t = std::time::Instant::now();
    let mut tx = app.db.begin().await?;
    let begun = t.elapsed();
    let numbers = crate::orders::new_numbers_in(tx.conn(), app.now_ms(), items.len()).await?;
    for (o, number) in orders.iter_mut().zip(&numbers) {
        o[order_store::NUMBER_AT] = Val::Text(number.clone());
    }
    let n = order_store::insert_renewal_values(tx.conn(), orders).await?;
    let placed: HashSet<String> = if n == items.len() as u64 {
        items.iter().map(|i| i.order.id.clone()).collect()
    } else {
        let ids: Vec<String> = items.iter().map(|i| i.order.id.clone()).collect();
        let placed: HashSet<String> = order_store::existing_ids(tx.conn(), &ids)
            .await?
            .into_iter()
            .collect();
        // The rows follow the items' order: keep those of the orders placed here.
        let keep: Vec<bool> = items.iter().map(|i| placed.contains(&i.order.id)).collect();
        for rows in [&mut lines, &mut events, &mut payments] {
            let mut k = keep.iter();
            rows.retain(|_| k.next().copied().unwrap_or(false));
        }
        placed
    };
    order_store::insert_line_values(tx.conn(), lines).await?;
    order_store::insert_event_values(tx.conn(), events).await?;
    payment_store::insert_values(tx.conn(), payments).await?;
    let written = t.elapsed();
    tx.commit().await?;
    tracing::debug!(
        begin_ms = begun.as_secs_f64() * 1e3,
        statements_ms = (written - begun).as_secs_f64() * 1e3,
        commit_ms = (t.elapsed() - written).as_secs_f64() * 1e3,
        "renewal batch placed"
    );
    for (i, number) in items.iter_mut().zip(numbers) {
        i.order.number = number;
    }
    Ok(placed)
}

/// Ask the gateways for every charge, in the batch's order.
async fn charge<T>(app: &App, items: &[Item<T>]) -> Vec<Outcome> {
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
    year: i64,
    /// The clock's year was `year` all the while the rows were built (the invoices are
    /// numbered in it); if not (the year turned), the settling transaction builds them again.
    same_year: bool,
    first: i64,
    /// The rows to insert, already as their statements' values (laid out off the writer's
    /// path, moved into the statements inside it).
    invoices: Vec<Vec<Val>>,
    mails: Vec<Vec<Val>>,
    hooks: Vec<Vec<Val>>,
    events: Vec<Vec<Val>>,
    extensions: Vec<service_store::Extension>,
}

fn settlement<T>(
    app: &App,
    paid: &[(Item<T>, String)],
    accounts: &HashMap<String, AccountRow>,
    (year, first): (i64, i64),
) -> Result<Settlement> {
    let changed = || crate::AppError::conflict("batch_changed", "a row changed meanwhile");
    let year_now = || crate::clock::utc_date(app.now_ms()).map(|d| i64::from(d.year()));
    let before = year_now();
    let mut out = Settlement {
        year,
        same_year: false,
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
        out.invoices.push(invoice_store::values(&inv));
        out.events.push(order_store::event_values(
            &crate::payments::received_event(app, &i.payment, lang),
            1,
        ));
        out.mails
            .push(guichet_store::emails::values(&crate::mail::outbox::build(
                app, &to, &inv_mail,
            )));
        let r = renewals::renewal_of(app, &i.order, &i.line, &i.service)?.ok_or_else(changed)?;
        out.mails
            .push(guichet_store::emails::values(&crate::mail::outbox::build(
                app, &to, &r.mail,
            )));
        out.hooks.extend(r.webhooks.iter().map(webhooks::values));
        out.extensions.push(r.extension);
        out.events.push(order_store::event_values(
            &renewals::delivered_event(app, &i.order.id, lang),
            2,
        ));
    }
    out.same_year = before == Some(year) && year_now() == Some(year);
    Ok(out)
}

/// The second transaction: everything a successful renewal charge settles, for the whole
/// batch. Any row that moved meanwhile rolls it all back (the one-service path then settles
/// each, under the same charge keys).
async fn settle<T: Ticket>(
    app: &App,
    paid: &[(Item<T>, String)],
    accounts: &HashMap<String, AccountRow>,
    mut rows: Settlement,
) -> Result<()> {
    let now = app.now_ms();
    let today = crate::clock::utc_date(now)
        .ok_or_else(|| crate::AppError::internal("clock out of range"))?;
    let changed = || crate::AppError::conflict("batch_changed", "a row changed meanwhile");
    let n = paid.len() as u64;
    let order_ids: Vec<String> = paid.iter().map(|(i, _)| i.order.id.clone()).collect();
    let job_ids: Vec<String> = paid
        .iter()
        .filter_map(|(i, _)| i.ticket.job_id().map(str::to_owned))
        .collect();
    let year = i64::from(today.year());

    let t = std::time::Instant::now();
    let mut tx = app.db.begin().await?;
    let begun = t.elapsed();
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
    if (year, first) != (rows.year, rows.first) || !rows.same_year {
        // Another writer took numbers since the guess (or the year turned): lay the rows
        // out again with ours.
        rows = settlement(app, paid, accounts, (year, first))?;
    }
    let Settlement {
        invoices,
        mails,
        hooks,
        events,
        extensions,
        ..
    } = rows;
    invoice_store::insert_values(c, invoices).await?;
    order_store::insert_event_values(c, events).await?;
    if service_store::extend_many(c, &extensions, &today.to_string(), now).await? != n {
        return Err(changed());
    }
    guichet_store::emails::insert_values(c, mails).await?;
    webhooks::insert_values(c, hooks).await?;
    if !job_ids.is_empty()
        && jobs::finish_many(c, &job_ids, crate::queue::worker_id(), now).await?
            != job_ids.len() as u64
    {
        return Err(changed());
    }
    let written = t.elapsed();
    tx.commit().await?;
    tracing::debug!(
        begin_ms = begun.as_secs_f64() * 1e3,
        statements_ms = (written - begun).as_secs_f64() * 1e3,
        commit_ms = (t.elapsed() - written).as_secs_f64() * 1e3,
        "renewal batch settled"
    );
    Ok(())
}
