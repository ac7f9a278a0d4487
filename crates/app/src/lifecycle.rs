//! The lifecycle engine. A planner pass looks at the services whose next step day has come
//! (`services.next_step_on`), asks the domain calendar (`guichet_domain::schedule`) which
//! steps are due, enqueues one job per step under the key `svc:{id}:{E}:{step}` (so each step
//! of each expiration happens once, whichever node plans it and however often), and records
//! the next day to look. A service whose only step due is its automatic renewal charge gets no
//! job: the pass charges such services in batches itself (`renewal_batch`), and plans a job
//! only for what a batch leaves. The jobs do the steps: notice, renewal charge and its retries,
//! reminders, suspension, last warning, deletion, end of a termination; and card-expiry
//! notices. Each handler re-reads the service and does nothing if it moved on (renewed,
//! deleted, switched mode), and writes its change, mails and webhooks with its job's "done"
//! mark in one transaction. Dunning is per service: one unpaid service never touches another.

use crate::accounts::{language_of, recipient};
use crate::mail::{self, LifecycleMail, MailKind};
use crate::payments::{self, RenewalCharge};
use crate::queue::{self, Handled, Job};
use crate::renewals::{self, deletion_day, expiration};
use crate::{App, AppError, Result, ids};
use guichet_domain::lifecycle::RenewalMode;
use guichet_domain::schedule::{Cycle, Step, card_expiry_notice};
use guichet_domain::{BillingPeriod, Language};
use guichet_store::accounts::{self as account_store, AccountRow};
use guichet_store::jobs::NewJob;
use guichet_store::services::{self as service_store, DueService, NextStep, ServiceRow};
use guichet_store::{AnyConnection, payment_methods};
use jiff::ToSpan;
use jiff::civil::Date;
use serde::{Deserialize, Serialize};
use std::sync::atomic::{AtomicI64, Ordering};

pub const SERVICE_STEP: &str = "service_step";
pub const CARD_NOTICE: &str = "card_notice";
const PLAN_BATCH: i64 = 500;

#[derive(Debug, Serialize, Deserialize)]
struct StepPayload {
    service_id: String,
    expires_on: String,
    step: String,
}

#[derive(Debug, Serialize, Deserialize)]
struct CardPayload {
    method_id: String,
    last_day: String,
}

fn today(app: &App) -> Result<Date> {
    crate::clock::utc_date(app.now_ms()).ok_or_else(|| AppError::internal("clock out of range"))
}

fn cycle_of(s: &DueService) -> Option<Cycle> {
    Some(Cycle {
        expires: s.expires_on.parse().ok()?,
        mode: RenewalMode::parse(&s.renewal_mode)?,
        period: BillingPeriod::parse(s.renewal_period.as_deref().unwrap_or(&s.period))?,
        terminating: s.termination_requested_at.is_some(),
    })
}

/// What a planner pass did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Planned {
    /// Jobs enqueued (steps due, and charges left to the one-service path).
    pub jobs: usize,
    /// Automatic renewals the pass charged and settled itself.
    pub renewed: usize,
}

impl Planned {
    pub fn any(&self) -> bool {
        self.jobs + self.renewed > 0
    }
}

/// A renewal charge the planner does itself, in a batch with others, rather than through a
/// job: the only step due of a service is its automatic charge. Its next date stays where it
/// is until the renewal settles, which moves it to the new cycle's first step, so a crash
/// leaves the service due and the next pass finds it again; whatever the batch does not settle
/// (declined, a card to ask about, an order placed before) is planned as a job after all.
pub(crate) struct PlannedCharge {
    id: String,
    expires_on: String,
    seen: String,
    days: i32,
    next: Option<String>,
    /// Its renewal order was placed by another batch or node: its job waits this long, a
    /// lease's time from that placing, before it takes the renewal over.
    not_before: Option<i64>,
}

impl crate::renewal_batch::Ticket for PlannedCharge {
    fn charge(&self) -> Option<(String, String, i32)> {
        Some((self.id.clone(), self.expires_on.clone(), self.days))
    }
    fn job_id(&self) -> Option<&str> {
        None
    }
    fn placed_before(&mut self, placed_at: i64) {
        self.not_before = Some(placed_at + queue::LEASE_MS);
    }
}

/// Renewal charges the planner gathers before it starts them as one batch: 2,000 at most
/// (larger batches rewrite the same hot index pages fewer times), from 500 for the first
/// batch of a pass, doubling, so that a smaller day still has batches to overlap.
const CHARGE_BATCH: usize = 2_000;
const FIRST_CHARGE_BATCH: usize = 500;

/// The jobs and next dates one planner page writes.
#[derive(Default)]
struct PageWrites {
    /// `(key, payload, run_at)` of each job.
    jobs: Vec<(String, String, i64)>,
    next_steps: Vec<NextStep>,
}

impl PageWrites {
    /// The jobs of `steps` (due in this order) of service `s`, and its next date.
    fn plan(&mut self, s: (&str, &str, &str), steps: &[Step], next: Option<String>, first: i64) {
        let (id, expires_on, seen) = s;
        for (i, step) in steps.iter().enumerate() {
            let payload = serde_json::json!(StepPayload {
                service_id: id.to_owned(),
                expires_on: expires_on.to_owned(),
                step: step.key(),
            });
            self.jobs.push((
                format!("svc:{id}:{expires_on}:{}", step.key()),
                payload.to_string(),
                first + i as i64,
            ));
        }
        self.next_steps.push(NextStep {
            id: id.to_owned(),
            expires_on: expires_on.to_owned(),
            seen: seen.to_owned(),
            next,
        });
    }

    /// Write them in one transaction (two multi-row statements: the jobs, then the next
    /// dates, each only if the service did not change meanwhile); returns the jobs enqueued.
    async fn write(self, app: &App) -> Result<usize> {
        if self.jobs.is_empty() && self.next_steps.is_empty() {
            return Ok(0);
        }
        // Ids in planning order, which is the services' order: the queue takes jobs of one
        // due time by id, so a batch of renewals then touches neighbouring rows.
        let ids = ids::new_ids_in_order(app.now_ms(), self.jobs.len());
        let jobs: Vec<NewJob<'_>> = self
            .jobs
            .iter()
            .zip(&ids)
            .map(|((key, payload, run_at), id)| NewJob {
                id,
                kind: SERVICE_STEP,
                unique_key: key,
                payload,
                run_at: *run_at,
            })
            .collect();
        let mut tx = app.db.begin().await?;
        let n = guichet_store::jobs::enqueue_many(tx.conn(), &jobs, app.now_ms()).await?;
        service_store::set_next_steps(tx.conn(), &self.next_steps).await?;
        tx.commit().await?;
        Ok(n as usize)
    }
}

/// Plan as jobs the renewal charges a batch left.
async fn plan_left(app: &App, left: Vec<PlannedCharge>) -> Result<usize> {
    let now = app.now_ms();
    let mut w = PageWrites::default();
    for c in left {
        w.plan(
            (&c.id, &c.expires_on, &c.seen),
            &[Step::Charge(c.days)],
            c.next,
            c.not_before.unwrap_or(now).max(now),
        );
    }
    w.write(app).await
}

/// One planner pass: enqueue the steps that came due, and charge together the automatic
/// renewals that are the only step due of their service.
pub async fn plan_due(app: &App) -> Result<Planned> {
    plan_due_reporting(app, &|_| {}).await
}

/// [`plan_due`], telling `renewed` how many renewals each batch settled.
pub async fn plan_due_reporting(app: &App, renewed: &(dyn Fn(usize) + Sync)) -> Result<Planned> {
    let mut out = Planned::default();
    let mut pipe = crate::renewal_batch::Pipeline::new();
    let pages = plan_pages(app, &mut pipe, &mut out, renewed).await;
    // Whatever happened, the batch started last is settled and what it left planned.
    let last = pipe.flush(app).await;
    out.renewed += last.done;
    renewed(last.done);
    out.jobs += plan_left(app, last.rest).await?;
    pages?;
    out.jobs += plan_card_notices(app, today(app)?).await?;
    Ok(out)
}

/// The page of services due after `after`.
async fn steps_due(
    app: &App,
    day: &str,
    after: &Option<(String, String)>,
) -> Result<Vec<DueService>> {
    let mut c = app.db.conn().await?;
    let after = after.as_ref().map(|(d, id)| (d.as_str(), id.as_str()));
    Ok(service_store::steps_due(&mut c, day, after, PLAN_BATCH).await?)
}

async fn plan_pages(
    app: &App,
    pipe: &mut crate::renewal_batch::Pipeline<PlannedCharge>,
    out: &mut Planned,
    renewed: &(dyn Fn(usize) + Sync),
) -> Result<()> {
    let today = today(app)?;
    let day = today.to_string();
    let now = app.now_ms();
    let mut after: Option<(String, String)> = None;
    let mut charges = Vec::new();
    let mut batch = FIRST_CHARGE_BATCH;
    // The next page, read while a batch was pushed.
    let mut ahead = None;
    // Bounded: a service changed while it is planned is looked at again on the next pass.
    for _ in 0..10_000 {
        let rows = match ahead.take() {
            Some(rows) => rows,
            None => steps_due(app, &day, &after).await?,
        };
        let full = rows.len() as i64 == PLAN_BATCH;
        // Read on past this page: the services charged here keep their date until settled.
        if let Some(last) = rows.last() {
            after = Some((
                last.next_step_on.clone().unwrap_or_default(),
                last.id.clone(),
            ));
        }
        let mut w = PageWrites::default();
        for s in &rows {
            let Some(seen) = s.next_step_on.as_deref() else {
                continue;
            };
            let Some(cycle) = cycle_of(s) else {
                tracing::error!(service = %s.id, "service with an unreadable calendar");
                w.plan((&s.id, &s.expires_on, seen), &[], None, now);
                continue;
            };
            let due = if s.state == "in_creation" {
                // Not delivered yet: look again tomorrow.
                guichet_domain::schedule::Due {
                    steps: Vec::new(),
                    next_on: Some(today.saturating_add(1.days())),
                }
            } else {
                cycle.due(today)
            };
            let next = due.next_on.map(|d| d.to_string());
            if let ([Step::Charge(days)], "active") = (due.steps.as_slice(), s.state.as_str()) {
                charges.push(PlannedCharge {
                    id: s.id.clone(),
                    expires_on: s.expires_on.clone(),
                    seen: seen.to_owned(),
                    days: *days,
                    next,
                    not_before: None,
                });
                continue;
            }
            // Earlier steps first: a charge on E runs before that day's suspension.
            let first = now - due.steps.len() as i64;
            w.plan((&s.id, &s.expires_on, seen), &due.steps, next, first);
        }
        out.jobs += w.write(app).await?;
        if !charges.is_empty() && (charges.len() >= batch || !full) {
            batch = (batch * 2).min(CHARGE_BATCH);
            let charges = std::mem::take(&mut charges);
            let settled = if full {
                // The next page is read while the batch goes in: it does not depend on it.
                let (settled, next) =
                    tokio::join!(pipe.push(app, charges), steps_due(app, &day, &after));
                ahead = Some(next?);
                settled?
            } else {
                pipe.push(app, charges).await?
            };
            out.renewed += settled.done;
            renewed(settled.done);
            out.jobs += plan_left(app, settled.rest).await?;
        }
        if !full {
            break;
        }
    }
    Ok(())
}

/// Once a day per process: cards that expire before a service's next renewal charge get a
/// notice 30 and 7 days before their last valid day.
async fn plan_card_notices(app: &App, today: Date) -> Result<usize> {
    static LAST_DAY: AtomicI64 = AtomicI64::new(i64::MIN);
    let stamp =
        i64::from(today.year()) * 10_000 + i64::from(today.month()) * 100 + i64::from(today.day());
    if LAST_DAY.swap(stamp, Ordering::Relaxed) == stamp {
        return Ok(0);
    }
    let month_index = |d: Date| i64::from(d.year()) * 12 + i64::from(d.month());
    let horizon = today.saturating_add(31.days());
    let mut c = app.db.conn().await?;
    let cards =
        payment_methods::cards_expiring(&mut c, month_index(today), month_index(horizon)).await?;
    let mut n = 0;
    for m in cards {
        let (Some(mo), Some(y)) = (m.exp_month, m.exp_year) else {
            continue;
        };
        let Some(last) = guichet_domain::payment_method::card_last_day(
            i8::try_from(mo).unwrap_or(0),
            i16::try_from(y).unwrap_or(0),
        ) else {
            continue;
        };
        let Some(days) = card_expiry_notice(last, today) else {
            continue;
        };
        // Only when a service renewing automatically is charged after the card's last day.
        let renews_after = service_store::list_for_account(&mut c, &m.account_id)
            .await?
            .iter()
            .filter(|s| s.state != "deleted" && s.termination_requested_at.is_none())
            .filter(|s| s.renewal_mode == "automatic")
            .filter_map(|s| s.expires_on.parse::<Date>().ok())
            .any(|e| e.saturating_sub(7.days()) > last);
        if !renews_after {
            continue;
        }
        let key = format!("card:{}:{last}:{days}", m.id);
        let payload = serde_json::json!(CardPayload {
            method_id: m.id.clone(),
            last_day: last.to_string(),
        });
        if queue::enqueue_in(app, &mut c, CARD_NOTICE, &key, &payload, app.now_ms()).await? {
            n += 1;
        }
    }
    Ok(n)
}

async fn load(app: &App, id: &str) -> Result<Option<(ServiceRow, AccountRow)>> {
    let mut c = app.db.conn().await?;
    let Some(s) = service_store::get(&mut c, id, None).await? else {
        return Ok(None);
    };
    let Some(a) = account_store::by_id(&mut c, &s.account_id).await? else {
        return Ok(None);
    };
    Ok(Some((s, a)))
}

fn link(app: &App, path: &str) -> String {
    app.config.link(path)
}

/// Run one service step.
pub async fn run_step(app: &App, job: &Job) -> Result<Handled> {
    let p: StepPayload = job.payload()?;
    let Some(step) = Step::parse(&p.step) else {
        return Err(AppError::internal("unknown lifecycle step"));
    };
    let Some((s, account)) = load(app, &p.service_id).await? else {
        return Ok(Handled::Done);
    };
    // Renewed (E moved) or deleted meanwhile: this cycle's step no longer applies.
    if s.state == "deleted" || s.expires_on != p.expires_on {
        return Ok(Handled::Done);
    }
    let terminating = s.termination_requested_at.is_some();
    let automatic = s.renewal_mode == RenewalMode::Automatic.as_str();
    let e = expiration(&s)?;
    let service_link = link(app, &format!("/services/{}", s.id));
    let lang = language_of(&account);
    let mail_kind = match step {
        Step::Notice if automatic && !terminating && s.state == "active" => {
            let q = renewals::quote(app, &account, &s, 1).await?;
            let method = payments_label(app, &account.id).await;
            Some(LifecycleMail::RenewalNotice {
                name: s.display_name.clone(),
                expires_on: s.expires_on.clone(),
                charge_on: Step::Charge(7).day(e).to_string(),
                amount: q.total(),
                method,
                link: service_link,
            })
        }
        Step::Reminder(_) if !automatic && !terminating && s.state == "active" => {
            Some(LifecycleMail::RenewalReminder {
                name: s.display_name.clone(),
                expires_on: s.expires_on.clone(),
                link: link(app, &format!("/services/{}/renew", s.id)),
            })
        }
        Step::TerminationReminder if terminating => Some(LifecycleMail::TerminationReminder {
            name: s.display_name.clone(),
            ends_on: s.expires_on.clone(),
            link: service_link,
        }),
        Step::Charge(days) if automatic && !terminating && s.state == "active" => {
            return charge(app, job, &s, &account, days, lang).await;
        }
        Step::Suspend if !terminating && s.state == "active" => {
            return suspend(app, job, &s, &account).await;
        }
        Step::LastWarning if !terminating && s.state == "suspended" => {
            let order = renewals::ensure_order(app, &account, &s).await?;
            Some(LifecycleMail::LastWarning {
                name: s.display_name.clone(),
                order: order.number.clone(),
                deletion_on: deletion_day(e).to_string(),
                link: link(app, &format!("/orders/{}", order.id)),
            })
        }
        Step::Delete if !terminating => return delete(app, job, &s, &account, "unpaid").await,
        Step::EndOfTerm if terminating => {
            return delete(app, job, &s, &account, "expiration").await;
        }
        _ => None,
    };
    let Some(m) = mail_kind else {
        return Ok(Handled::Done);
    };
    let mut tx = app.db.begin().await?;
    if !job.finish_in(app, tx.conn()).await? {
        return Ok(Handled::Finished);
    }
    mail::enqueue(
        app,
        tx.conn(),
        &recipient(&account),
        &MailKind::Lifecycle(m),
    )
    .await?;
    tx.commit().await?;
    app.outbox_signal.notify_waiters();
    Ok(Handled::Finished)
}

/// The label of the default method if it can be charged, for the notice.
async fn payments_label(app: &App, account_id: &str) -> Option<String> {
    crate::payment_methods::for_payment(app, account_id, None)
        .await
        .ok()
        .map(|m| m.label)
}

async fn charge(
    app: &App,
    job: &Job,
    s: &ServiceRow,
    account: &AccountRow,
    days: i32,
    lang: Language,
) -> Result<Handled> {
    if account.state != "active" {
        return Ok(Handled::Done);
    }
    let order = renewals::ensure_order(app, account, s).await?;
    let key = format!("renewal:{}:{days}", order.id);
    match payments::charge_renewal(app, &order, &key).await? {
        RenewalCharge::Sent | RenewalCharge::Nothing => Ok(Handled::Done),
        RenewalCharge::NoMethod(why) => {
            let reason = match lang {
                Language::Fr => "aucun moyen de paiement utilisable",
                Language::En => "no usable payment method",
            };
            let mut tx = app.db.begin().await?;
            if !job.finish_in(app, tx.conn()).await? {
                return Ok(Handled::Finished);
            }
            crate::orders::record_event(
                app,
                tx.conn(),
                &order.id,
                "payment_failed",
                match lang {
                    Language::Fr => format!("Renouvellement non prélevé : {reason}."),
                    Language::En => format!("Renewal not charged: {reason}."),
                },
                "system",
                Some(("pay", order.expires_at)),
            )
            .await?;
            let kind = renewals::failure_mail(
                tx.conn(),
                &order,
                reason,
                link(app, &format!("/orders/{}", order.id)),
            )
            .await?;
            mail::enqueue(app, tx.conn(), &recipient(account), &kind).await?;
            tx.commit().await?;
            tracing::info!(service = %s.id, code = why.code, "renewal not charged");
            app.outbox_signal.notify_waiters();
            Ok(Handled::Finished)
        }
    }
}

/// Whether a payment of this order is still being decided (the step waits for it).
async fn paying(c: &mut AnyConnection, order_id: &str) -> Result<bool> {
    Ok(guichet_store::payments::in_flight(c, order_id).await?)
}

async fn suspend(app: &App, job: &Job, s: &ServiceRow, account: &AccountRow) -> Result<Handled> {
    let order = renewals::ensure_order(app, account, s).await?;
    let e = expiration(s)?;
    let mut tx = app.db.begin().await?;
    if paying(tx.conn(), &order.id).await? {
        return Err(AppError::conflict(
            "payment_in_flight",
            "a renewal payment is being decided; suspension waits",
        ));
    }
    if !job.finish_in(app, tx.conn()).await? {
        return Ok(Handled::Finished);
    }
    if service_store::suspend(tx.conn(), &s.id, &s.expires_on, app.now_ms()).await? {
        let deletion_on = deletion_day(e).to_string();
        mail::enqueue(
            app,
            tx.conn(),
            &recipient(account),
            &MailKind::Lifecycle(LifecycleMail::Suspended {
                name: s.display_name.clone(),
                order: order.number.clone(),
                deletion_on: deletion_on.clone(),
                link: link(app, &format!("/orders/{}", order.id)),
            }),
        )
        .await?;
        let mut data = crate::service_ending::event_data(s);
        data["unpaid_order_id"] = serde_json::json!(order.id);
        data["deletion_on"] = serde_json::json!(deletion_on);
        crate::provisioning::emit(app, tx.conn(), "service.suspended", &s.id, data).await?;
    }
    tx.commit().await?;
    app.outbox_signal.notify_waiters();
    Ok(Handled::Finished)
}

async fn delete(
    app: &App,
    job: &Job,
    s: &ServiceRow,
    account: &AccountRow,
    why: &str,
) -> Result<Handled> {
    let mut tx = app.db.begin().await?;
    if let Some(o) =
        guichet_store::orders::by_renewal_key(tx.conn(), &renewals::renewal_key(s)).await?
        && paying(tx.conn(), &o.id).await?
    {
        return Err(AppError::conflict(
            "payment_in_flight",
            "a renewal payment is being decided; deletion waits",
        ));
    }
    if !job.finish_in(app, tx.conn()).await? {
        return Ok(Handled::Finished);
    }
    if why == "expiration" {
        crate::service_ending::delete_in(app, tx.conn(), s, account, why).await?;
    } else if service_store::mark_deleted(tx.conn(), &s.id, app.now_ms()).await? {
        mail::enqueue(
            app,
            tx.conn(),
            &recipient(account),
            &MailKind::Lifecycle(LifecycleMail::DeletedUnpaid {
                name: s.display_name.clone(),
            }),
        )
        .await?;
        let mut data = crate::service_ending::event_data(s);
        data["reason"] = serde_json::json!(why);
        crate::provisioning::emit(app, tx.conn(), "service.deleted", &s.id, data).await?;
    }
    renewals::cancel_open_in(app, tx.conn(), &s.id, language_of(account)).await?;
    tx.commit().await?;
    app.outbox_signal.notify_waiters();
    Ok(Handled::Finished)
}

/// A card-expiry notice.
pub async fn card_notice(app: &App, job: &Job) -> Result<Handled> {
    let p: CardPayload = job.payload()?;
    let (m, account) = {
        let mut c = app.db.conn().await?;
        let Some(m) = payment_methods::by_id(&mut c, &p.method_id).await? else {
            return Ok(Handled::Done);
        };
        let Some(a) = account_store::by_id(&mut c, &m.account_id).await? else {
            return Ok(Handled::Done);
        };
        (m, a)
    };
    if m.deleted_at.is_some() {
        return Ok(Handled::Done);
    }
    let mut tx = app.db.begin().await?;
    if !job.finish_in(app, tx.conn()).await? {
        return Ok(Handled::Finished);
    }
    mail::enqueue(
        app,
        tx.conn(),
        &recipient(&account),
        &MailKind::Lifecycle(LifecycleMail::CardExpiring {
            card: m.label.clone(),
            last_day: p.last_day,
            link: link(app, "/payment-methods"),
        }),
    )
    .await?;
    tx.commit().await?;
    app.outbox_signal.notify_waiters();
    Ok(Handled::Finished)
}

/// Plan and run until nothing more is due now; returns the jobs done.
pub async fn run_until_idle(app: &App) -> Result<usize> {
    let mut done = 0;
    for _ in 0..100 {
        let planned = plan_due(app).await?;
        let ran = queue::run_due(app).await?;
        done += ran + planned.renewed;
        if !planned.any() && ran == 0 {
            break;
        }
    }
    Ok(done)
}
