//! `guichet bench renewals`: the billing run's throughput. It seeds N monthly services due
//! for renewal today (default card on file, sandbox gateway), lets the lifecycle engine renew
//! them all (renewal order, charge, invoice with its gapless number, mails queued, webhooks),
//! then measures on the same database the bare batched-insert ceiling of the same rows, and
//! prints services per second and its ratio to the ceiling. Also `bench seed-renewals`, the same seed for the crash
//! harness on the configured database.

use crate::config::Config;
use anyhow::{Result, bail};
use guichet_app::App;
use guichet_store::seed::{self, RenewalSeed};
use jiff::ToSpan;
use std::time::Instant;

fn err(e: guichet_app::AppError) -> anyhow::Error {
    anyhow::anyhow!("{}: {}", e.code, e.message)
}

/// Seed services renewed (charged) today by the engine: they expire in 7 days.
async fn seed_due_today(app: &App, services: usize, per_account: usize, card: &str) -> Result<()> {
    let today = guichet_app::clock::utc_date(app.now_ms())
        .ok_or_else(|| anyhow::anyhow!("clock out of range"))?;
    let expires = today.saturating_add(7.days());
    let created = expires.saturating_sub(1.month());
    seed::renewals(
        &app.db,
        &RenewalSeed {
            services,
            per_account,
            expires_on: &expires.to_string(),
            next_step_on: &today.to_string(),
            created_at: guichet_app::renewals::day_start_ms(created),
            price_minor: 1200,
            currency: "EUR",
            card_behaviour: card,
        },
    )
    .await?;
    Ok(())
}

pub async fn seed_configured(services: usize, per_account: usize, card: &str) -> Result<()> {
    let c = Config::load(None)?;
    let app = crate::serve::build_app(&c, c.public_url.clone().unwrap_or_default()).await?;
    seed_due_today(&app, services, per_account, card).await?;
    println!("seeded {services} services due for renewal today");
    app.db.close().await;
    Ok(())
}

pub async fn run(services: usize, per_account: usize, database_url: Option<String>) -> Result<()> {
    let dir = std::env::temp_dir().join(format!("guichet-bench-renewals-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let c = Config {
        sandbox: true,
        data_dir: dir.clone(),
        database_url: Some(
            database_url.unwrap_or_else(|| format!("sqlite://{}", dir.join("bench.db").display())),
        ),
        ..Default::default()
    };
    let app = crate::serve::build_app(&c, "http://127.0.0.1".into()).await?;
    let backend = app.db.backend().as_str();

    let t = Instant::now();
    seed_due_today(&app, services, per_account, "success").await?;
    let seeded = t.elapsed().as_secs_f64();

    let t = Instant::now();
    loop {
        guichet_app::lifecycle::plan_due(&app).await.map_err(err)?;
        if guichet_app::queue::run_due(&app).await.map_err(err)? == 0 {
            break;
        }
    }
    let secs = t.elapsed().as_secs_f64();
    let counts = {
        let mut conn = app.db.conn().await?;
        guichet_store::jobs::billing_counts(&mut conn).await?
    };
    if counts.invoices < services as i64 {
        bail!(
            "only {} of {services} services were invoiced",
            counts.invoices
        );
    }
    let rate = services as f64 / secs;
    // The ceilings, on the same database after the run: bare rows of an order's shape, and
    // the very rows a renewal writes (same tables' widths, text sizes of this run), bare.
    let t = Instant::now();
    seed::insert_ceiling(&app.db, services).await?;
    let rows_ceiling = services as f64 / t.elapsed().as_secs_f64();
    let sizes = seed::row_sizes(&app.db).await?;
    let t = Instant::now();
    seed::renewal_ceiling(&app.db, services, &sizes).await?;
    let ceiling = services as f64 / t.elapsed().as_secs_f64();
    println!("backend                  {backend}");
    println!(
        "services                 {services} ({per_account} per customer; seeded in {seeded:.1} s)"
    );
    println!("renewed in               {secs:.2} s");
    println!("renewals per second      {rate:.0}");
    println!("renewal-shaped ceiling   {ceiling:.0} renewals/s (the same rows, bare inserts)");
    println!("ratio to the ceiling     {:.1} %", 100.0 * rate / ceiling);
    println!("bare row ceiling         {rows_ceiling:.0} rows/s (an order's shape)");
    println!(
        "per renewal              1 order, 1 payment, 1 invoice, {:.1} mails, 1 webhook",
        counts.mails as f64 / services as f64
    );
    app.db.close().await;
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}
