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
}

pub async fn run(cmd: BenchCommand) -> Result<()> {
    match cmd {
        BenchCommand::Api {
            requests,
            concurrency,
            database_url,
        } => api(requests, concurrency, database_url).await,
    }
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
