//! `guichet billing run [--until DATE]`: an operator runs the lifecycle engine by hand (a
//! catch-up after downtime, or a sandbox rehearsal of the days to come) with a progress bar,
//! then reads what it did in a summary table. It is the same engine the workers run: safe to
//! run beside them, and safe to kill and run again.

use crate::config::Config;
use anyhow::{Result, bail};
use guichet_app::App;
use guichet_store::jobs::{self, BillingCounts};

pub async fn run(c: Config, until: Option<String>) -> Result<()> {
    let app = crate::serve::build_app(&c, c.public_url.clone().unwrap_or_default()).await?;
    let today = guichet_app::clock::utc_date(app.now_ms())
        .ok_or_else(|| anyhow::anyhow!("clock out of range"))?;
    let until: jiff::civil::Date = match until.as_deref() {
        None => today,
        Some(d) => d
            .parse()
            .map_err(|_| anyhow::anyhow!("--until takes a date YYYY-MM-DD, not {d:?}"))?,
    };
    if until > today && !app.clock.is_movable() {
        bail!("--until {until} is in the future: only a sandbox installation moves its clock");
    }
    let before = counts(&app).await?;
    let started = std::time::Instant::now();
    let bar = indicatif::ProgressBar::new(0);
    bar.set_style(
        indicatif::ProgressStyle::with_template("{spinner} {msg} {bar:40} {pos}/{len} jobs")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    let mut day = today;
    loop {
        if day > today {
            let target = guichet_app::renewals::day_start_ms(day);
            guichet_app::operators::advance_clock(&app, target - app.now_ms())
                .await
                .map_err(|e| anyhow::anyhow!("{}", e.message))?;
        }
        bar.set_message(day.to_string());
        run_day(&app, &bar).await?;
        if day >= until {
            break;
        }
        day = day.tomorrow()?;
    }
    bar.finish_and_clear();
    let after = counts(&app).await?;
    let secs = started.elapsed().as_secs_f64();
    print_summary(&before, &after, secs);
    app.db.close().await;
    Ok(())
}

async fn counts(app: &App) -> Result<BillingCounts> {
    let mut c = app.db.conn().await?;
    Ok(jobs::billing_counts(&mut c).await?)
}

/// Plan and run everything due now, moving the bar as jobs are done; then the other sweeps
/// (payments to reconcile, unpaid orders to expire, refunds to retry).
async fn run_day(app: &App, bar: &indicatif::ProgressBar) -> Result<()> {
    let err = |e: guichet_app::AppError| anyhow::anyhow!("{}", e.message);
    loop {
        // The planner charges most automatic renewals itself: each batch it settles moves
        // the bar as far.
        let renewed = |n: usize| {
            bar.inc_length(n as u64);
            bar.inc(n as u64);
        };
        let planned = guichet_app::lifecycle::plan_due_reporting(app, &renewed)
            .await
            .map_err(err)?;
        let due = {
            let mut c = app.db.conn().await?;
            jobs::count_due(&mut c, app.now_ms()).await?
        };
        if due == 0 {
            if planned.any() {
                // What it renewed may have a step due today in its new cycle: plan again.
                continue;
            }
            break;
        }
        bar.set_length(bar.position() + u64::try_from(due).unwrap_or(0));
        let mut runner = guichet_app::queue::Runner::new(app);
        while let Some(n) = runner.next().await.map_err(err)? {
            bar.inc(n as u64);
        }
    }
    guichet_app::jobs::run_due(app).await.map_err(err)?;
    Ok(())
}

fn print_summary(b: &BillingCounts, a: &BillingCounts, secs: f64) {
    let rows = [
        ("renewal orders placed", a.renewal_orders - b.renewal_orders),
        (
            "payments succeeded",
            a.payments_succeeded - b.payments_succeeded,
        ),
        ("payments failed", a.payments_failed - b.payments_failed),
        ("invoices issued", a.invoices - b.invoices),
        ("services suspended (now)", a.services_suspended),
        ("services deleted", a.services_deleted - b.services_deleted),
        ("mails queued", a.mails - b.mails),
        ("jobs done", a.jobs_done - b.jobs_done),
        ("jobs given up", a.jobs_failed - b.jobs_failed),
    ];
    println!("{:<28} {:>10}", "billing run", "count");
    println!("{:-<28} {:->10}", "", "");
    for (k, v) in rows {
        println!("{k:<28} {v:>10}");
    }
    println!("{:-<28} {:->10}", "", "");
    println!("{:<28} {:>9.2}s", "elapsed", secs);
}
