//! `guichet bench …`: benchmarks that start a real server process and print figures.
//! Nothing here asserts a time; the figures go to docs/benchmarks.md.

use anyhow::{Context, Result, bail};
use clap::Subcommand;
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

#[derive(Subcommand)]
pub enum BenchCommand {
    /// `GET /api/v1/me` over loopback: requests per second, latency percentiles, idle and
    /// loaded RSS of the server process.
    Api {
        #[arg(long, default_value_t = 20_000)]
        requests: usize,
        #[arg(long, default_value_t = 32)]
        concurrency: usize,
        /// Database of the server under test (default: a fresh SQLite file).
        #[arg(long)]
        database_url: Option<String>,
    },
    /// The billing run: `services` monthly services due the same day renewed by the lifecycle
    /// engine (renewal order, sandbox charge, invoice, mails queued), against the bare
    /// batched-insert ceiling of the same database measured in the same run.
    Renewals {
        #[arg(long, default_value_t = 100_000)]
        services: usize,
        /// Services per customer.
        #[arg(long, default_value_t = 10)]
        per_account: usize,
        /// An empty database to use (default: a fresh SQLite file).
        #[arg(long)]
        database_url: Option<String>,
    },
    /// Seed the configured database with customers whose services are all due for renewal
    /// today (for the crash harness and manual rehearsals; sandbox cards).
    SeedRenewals {
        #[arg(long)]
        services: usize,
        #[arg(long, default_value_t = 10)]
        per_account: usize,
        /// Card behaviour: success, decline, insufficient_funds, timeout.
        #[arg(long, default_value = "success")]
        card: String,
    },
    /// Open a session for each of up to `customers` active customers of the configured
    /// database and write their bearer tokens, one a line, to `out` (for `scripts/load`).
    SeedSessions {
        #[arg(long, default_value_t = 1_000)]
        customers: usize,
        #[arg(long)]
        out: std::path::PathBuf,
    },
    /// The customer panel: each page's server render time (median, p99) at demo scale and
    /// its weight (HTML + CSS + JS).
    Panel {
        #[arg(long, default_value_t = 200)]
        iterations: usize,
        /// Paid orders seeded for the demo customer (each delivers a service).
        #[arg(long, default_value_t = 6)]
        orders: usize,
    },
    /// Invoice PDFs (PDF/A-3b + Factur-X XML) rendered per second, on every core.
    Pdf {
        #[arg(long, default_value_t = 2_000)]
        count: usize,
        /// Lines per invoice.
        #[arg(long, default_value_t = 3)]
        lines: usize,
    },
}

pub async fn run(cmd: BenchCommand) -> Result<()> {
    match cmd {
        BenchCommand::Api {
            requests,
            concurrency,
            database_url,
        } => api(requests, concurrency, database_url).await,
        BenchCommand::Pdf { count, lines } => pdf(count, lines),
        BenchCommand::Panel { iterations, orders } => {
            crate::bench_panel::run(iterations.max(1), orders).await
        }
        BenchCommand::Renewals {
            services,
            per_account,
            database_url,
        } => crate::bench_renewals::run(services, per_account, database_url).await,
        BenchCommand::SeedRenewals {
            services,
            per_account,
            card,
        } => crate::bench_renewals::seed_configured(services, per_account, &card).await,
        BenchCommand::SeedSessions { customers, out } => {
            crate::bench_load::seed_sessions(customers, &out).await
        }
    }
}

/// A realistic invoice: a French company seller, a consumer buyer, `lines` lines at 20 %.
fn sample_invoice(lines: usize) -> guichet_app::invoices::InvoiceDocument {
    use guichet_app::invoices::*;
    let line = |i: usize| LineDoc {
        description: format!("VPS S — vps-{i}.example.net"),
        period_start: Some("2026-11-26".into()),
        period_end: Some("2026-12-26".into()),
        quantity: 1,
        unit_price_minor: 599,
        vat_rate_bp: 2000,
        net_minor: 599,
        vat_minor: 120,
        total_minor: 719,
    };
    let n = i64::try_from(lines).unwrap_or(1);
    InvoiceDocument {
        kind: "invoice".into(),
        number: "GC2026-000001".into(),
        issue_date: "2026-11-26".into(),
        currency: "EUR".into(),
        language: "fr".into(),
        seller: PartyDoc {
            name: "Guichet Demo Hosting SAS".into(),
            organisation: None,
            address_lines: vec!["1 place de la Bourse".into()],
            postal_code: Some("69002".into()),
            city: Some("Lyon".into()),
            country: "FR".into(),
            vat_number: Some("FR40303265045".into()),
            legal_ids: vec![LegalId {
                label: "SIREN".into(),
                value: "303265045".into(),
            }],
            email: Some("billing@example.net".into()),
            customer_code: None,
        },
        buyer: PartyDoc {
            name: "Zoé Martin".into(),
            organisation: None,
            address_lines: vec!["12 rue des Lilas".into()],
            postal_code: Some("69003".into()),
            city: Some("Lyon".into()),
            country: "FR".into(),
            vat_number: None,
            legal_ids: Vec::new(),
            email: Some("zoe@example.fr".into()),
            customer_code: Some("gc-48213".into()),
        },
        lines: (0..lines).map(line).collect(),
        totals_per_rate: vec![RateTotalDoc {
            rate_bp: 2000,
            net_minor: 599 * n,
            vat_minor: 120 * n,
        }],
        net_total_minor: 599 * n,
        vat_total_minor: 120 * n,
        grand_total_minor: 719 * n,
        tax_treatment: "domestic".into(),
        tax_country: Some("FR".into()),
        payment: Some(PaymentDoc {
            date: "2026-11-26".into(),
            method: "Visa •••• 4242".into(),
            amount_minor: 719 * n,
        }),
        credit_payment: None,
        mentions: Vec::new(),
        order_number: Some("2026123456".into()),
        credited_invoice_number: None,
        reason: None,
    }
}

fn pdf(count: usize, lines: usize) -> Result<()> {
    let doc = sample_invoice(lines.max(1));
    let first = guichet_app::invoice_pdf::render_blocking(&doc)
        .map_err(|e| anyhow::anyhow!("rendering failed: {e}"))?;
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let per_thread = count.div_ceil(threads);
    let started = Instant::now();
    let handles: Vec<_> = (0..threads)
        .map(|_| {
            let doc = doc.clone();
            std::thread::spawn(move || {
                let mut times = Vec::with_capacity(per_thread);
                for _ in 0..per_thread {
                    let t = Instant::now();
                    let ok = guichet_app::invoice_pdf::render_blocking(&doc).is_ok();
                    times.push((t.elapsed(), ok));
                }
                times
            })
        })
        .collect();
    let mut times = Vec::new();
    for h in handles {
        times.extend(
            h.join()
                .map_err(|_| anyhow::anyhow!("a bench thread panicked"))?,
        );
    }
    let elapsed = started.elapsed();
    if times.iter().any(|(_, ok)| !ok) {
        bail!("some renderings failed");
    }
    let mut lat: Vec<Duration> = times.iter().map(|(d, _)| *d).collect();
    lat.sort();
    let pct = |p: f64| lat[((lat.len() as f64 * p) as usize).min(lat.len() - 1)];
    println!(
        "invoice PDFs: {} documents of {} lines on {threads} threads in {:.2} s",
        lat.len(),
        lines.max(1),
        elapsed.as_secs_f64()
    );
    println!(
        "  {:.0} PDFs/s, {} bytes each, latency p50 {:.1} ms, p99 {:.1} ms",
        lat.len() as f64 / elapsed.as_secs_f64(),
        first.len(),
        pct(0.50).as_secs_f64() * 1000.0,
        pct(0.99).as_secs_f64() * 1000.0
    );
    Ok(())
}

struct Server {
    child: Child,
    addr: String,
    _dir: TempDir,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A directory removed on drop.
struct TempDir(std::path::PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn start_server(database_url: Option<&str>) -> Result<Server> {
    let dir = std::env::temp_dir().join(format!("guichet-bench-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir)?;
    let exe = std::env::current_exe()?;
    let mut cmd = Command::new(exe);
    cmd.args(["serve", "--demo"])
        .env("GUICHET_LISTEN", "127.0.0.1:0")
        .env("GUICHET_DATA_DIR", &dir)
        .env_remove("GUICHET_SMTP_URL")
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    match database_url {
        Some(u) => cmd.env("GUICHET_DATABASE_URL", u),
        None => cmd.env_remove("GUICHET_DATABASE_URL"),
    };
    let mut child = cmd.spawn().context("starting the server")?;
    let stdout = child.stdout.take().context("no stdout")?;
    let mut line = String::new();
    BufReader::new(stdout).read_line(&mut line)?;
    let addr = line.trim().strip_prefix("listening on ").map(str::to_owned);
    match addr {
        Some(addr) => Ok(Server {
            child,
            addr,
            _dir: TempDir(dir),
        }),
        None => {
            let _ = child.kill();
            bail!("server did not start: {line:?}")
        }
    }
}

fn rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
}

async fn api(requests: usize, concurrency: usize, database_url: Option<String>) -> Result<()> {
    let concurrency = concurrency.clamp(1, 1024);
    let server = start_server(database_url.as_deref())?;
    let base = server.addr.clone();
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(concurrency)
        .build()?;
    let login: serde_json::Value = client
        .post(format!("{base}/api/v1/auth/login"))
        .json(&serde_json::json!({"email": guichet_app::demo::DEMO_EMAIL, "password": guichet_app::demo::DEMO_PASSWORD}))
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    let token = login["token"].as_str().context("no token")?.to_owned();
    tokio::time::sleep(Duration::from_secs(1)).await;
    let idle = rss_kib(server.child.id());

    // Warm-up, then the measured run.
    let url = format!("{base}/api/v1/me");
    for _ in 0..200 {
        client
            .get(&url)
            .bearer_auth(&token)
            .send()
            .await?
            .error_for_status()?;
    }
    let start = Instant::now();
    let per_task = requests.div_ceil(concurrency);
    let mut tasks = Vec::new();
    for _ in 0..concurrency {
        let (client, url, token) = (client.clone(), url.clone(), token.clone());
        tasks.push(tokio::spawn(async move {
            let mut lat = Vec::with_capacity(per_task);
            let mut errors = 0usize;
            for _ in 0..per_task {
                let t = Instant::now();
                match client.get(&url).bearer_auth(&token).send().await {
                    Ok(r) if r.status().is_success() => {
                        let _ = r.bytes().await;
                    }
                    _ => errors += 1,
                }
                lat.push(t.elapsed());
            }
            (lat, errors)
        }));
    }
    let mut lat = Vec::new();
    let mut errors = 0;
    for t in tasks {
        let (l, e) = t.await?;
        lat.extend(l);
        errors += e;
    }
    let elapsed = start.elapsed();
    let loaded = rss_kib(server.child.id());
    lat.sort();
    let pct = |p: f64| lat[((lat.len() as f64 * p) as usize).min(lat.len() - 1)];
    let backend = if database_url
        .as_deref()
        .is_some_and(|u| u.starts_with("postgres"))
    {
        "postgres"
    } else {
        "sqlite"
    };
    println!(
        "bench api: GET /api/v1/me over loopback ({backend}, {} requests, {concurrency} concurrent, client in the same machine)",
        lat.len()
    );
    println!(
        "  requests/s   {:>10.0}",
        lat.len() as f64 / elapsed.as_secs_f64()
    );
    println!(
        "  p50          {:>10.3} ms",
        pct(0.50).as_secs_f64() * 1000.0
    );
    println!(
        "  p99          {:>10.3} ms",
        pct(0.99).as_secs_f64() * 1000.0
    );
    println!("  errors       {errors:>10}");
    println!(
        "  idle RSS     {:>10} KiB",
        idle.map(|v| v.to_string()).unwrap_or_else(|| "n/a".into())
    );
    println!(
        "  loaded RSS   {:>10} KiB",
        loaded
            .map(|v| v.to_string())
            .unwrap_or_else(|| "n/a".into())
    );
    Ok(())
}
