//! `guichet`: one binary for the server, the workers and the operator's commands.

mod alloc;
mod bench;
mod bench_load;
mod bench_panel;
mod bench_renewals;
mod billing;
mod config;
mod migrate_data;
mod serve;

use anyhow::{Context, Result};

#[global_allocator]
static GLOBAL: alloc::Split = alloc::Split;
use clap::{Parser, Subcommand};
use config::Config;
use std::path::PathBuf;

#[derive(Parser)]
#[command(
    name = "guichet",
    version,
    about = "Customer accounts, billing and service lifecycle for hosting providers"
)]
struct Cli {
    /// TOML configuration file (default: $GUICHET_CONFIG, else ./guichet.toml when present).
    #[arg(long, global = true)]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the API and panel, with the workers in the same process unless --no-worker.
    Serve {
        /// Seed a demo customer and run in sandbox mode; prints how to log in.
        #[arg(long)]
        demo: bool,
        /// Serve only; run the workers elsewhere with `guichet worker`.
        #[arg(long)]
        no_worker: bool,
    },
    /// Run the background workers only (mail and SMS delivery).
    Worker,
    /// Create or upgrade the database schema, then exit.
    Migrate,
    /// Print the effective configuration, secrets masked.
    CheckConfig,
    /// Operator keys.
    Operator {
        #[command(subcommand)]
        command: OperatorCommand,
    },
    /// The catalog of products and plans.
    Catalog {
        #[command(subcommand)]
        command: CatalogCommand,
    },
    /// The billing and lifecycle engine, run by hand.
    Billing {
        #[command(subcommand)]
        command: BillingCommand,
    },
    /// Copy a whole installation into a fresh, empty database (e.g. SQLite to PostgreSQL),
    /// in one transaction on the target; stop the service first.
    MigrateData {
        /// The installation's database URL (sqlite://… or postgres://…).
        #[arg(long)]
        from: String,
        /// The new, empty database (its schema is created).
        #[arg(long)]
        to: String,
    },
    /// Benchmarks that print figures.
    Bench {
        #[command(subcommand)]
        command: bench::BenchCommand,
    },
}

#[derive(Subcommand)]
enum BillingCommand {
    /// Do every renewal, reminder, suspension and deletion due (up to DATE: a future date
    /// moves a sandbox clock day by day), with a progress bar and a summary table.
    Run {
        /// Last day to run (YYYY-MM-DD); default today.
        #[arg(long)]
        until: Option<String>,
    },
}

#[derive(Subcommand)]
enum CatalogCommand {
    /// Import products and plans from a TOML file: validated whole first (errors name the
    /// line and field, nothing is written), then applied in one transaction. Idempotent.
    Import { file: PathBuf },
}

#[derive(Subcommand)]
enum OperatorCommand {
    /// Create an operator API key; it is printed once.
    CreateKey {
        #[arg(long)]
        name: String,
        /// admin, billing or support.
        #[arg(long, default_value = "admin")]
        role: String,
    },
    /// List operator keys (never their secret).
    ListKeys,
    /// Revoke an operator key by id; it stops working at once.
    RevokeKey { id: String },
}

/// Password hashing allocates 19 MiB per argon2 computation; glibc keeps such blocks in the
/// heap after they are freed, so a burst of log-ins would leave hundreds of MiB resident.
/// Serving every allocation of 1 MiB or more with its own mapping gives them back at once.
fn return_large_allocations_to_the_system() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only changes an allocator tunable; it is called once, before any thread
    // is started.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 1 << 20);
    }
}

fn main() -> Result<()> {
    return_large_allocations_to_the_system();
    let cli = Cli::parse();
    let _ = rustls::crypto::ring::default_provider().install_default();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    rt.block_on(async move {
        match cli.command {
            Command::CheckConfig => {
                let c = Config::load(cli.config.as_deref())?;
                print!("{}", c.masked_toml()?);
                Ok(())
            }
            Command::Serve { demo, no_worker } => {
                let mut c = Config::load(cli.config.as_deref())?;
                if demo {
                    c.sandbox = true;
                    // No provisioning system behind the demo: the built-in one delivers all.
                    if c.provisioning_url.is_none() {
                        c.builtin_provisioner_all = true;
                    }
                    // A seller identity for the demo's invoices, unless one is configured.
                    if c.seller_name.is_none() {
                        c.seller_name = Some("Guichet Demo Hosting SAS".into());
                        c.seller_address = vec!["1 place de la Bourse".into()];
                        c.seller_postal_code = Some("69002".into());
                        c.seller_city = Some("Lyon".into());
                        c.seller_vat_number = Some("FR40303265045".into());
                        c.seller_legal_ids = vec!["SIREN=303265045".into()];
                    }
                }
                serve::init_tracing(&c);
                serve::serve(c, demo, !no_worker).await
            }
            Command::Worker => {
                let c = Config::load(cli.config.as_deref())?;
                serve::init_tracing(&c);
                serve::worker(c).await
            }
            Command::Migrate => {
                let c = Config::load(cli.config.as_deref())?;
                serve::init_tracing(&c);
                let db = serve::open_db(&c).await?;
                db.close().await;
                println!("database is up to date ({})", db.backend().as_str());
                Ok(())
            }
            Command::Operator { command: OperatorCommand::CreateKey { name, role } } => {
                let c = Config::load(cli.config.as_deref())?;
                let db = serve::open_db(&c).await?;
                let clock = guichet_app::Clock::system(false);
                let key = guichet_app::operators::create_key(&db, clock.now_ms(), &name, &role)
                    .await
                    .map_err(|e| anyhow::anyhow!("{e}"))
                    .context("creating the operator key")?;
                db.close().await;
                println!("{key}");
                eprintln!("Operator key for {name} ({role}). It is shown this once: keep it in a secret store.");
                Ok(())
            }
            Command::Operator { command: OperatorCommand::ListKeys } => {
                let c = Config::load(cli.config.as_deref())?;
                let db = serve::open_db(&c).await?;
                let mut conn = db.conn().await.map_err(|e| anyhow::anyhow!("{e}"))?;
                let keys = guichet_store::operators::list_keys(&mut conn).await.map_err(|e| anyhow::anyhow!("{e}"))?;
                drop(conn);
                db.close().await;
                for k in keys {
                    let state = if k.revoked_at.is_some() { "revoked" } else { "active" };
                    println!("{}  {:<8} {:<8} {}", k.id, k.role, state, k.name);
                }
                Ok(())
            }
            Command::Operator { command: OperatorCommand::RevokeKey { id } } => {
                let c = Config::load(cli.config.as_deref())?;
                let db = serve::open_db(&c).await?;
                let clock = guichet_app::Clock::system(false);
                let mut tx = db.begin().await.map_err(|e| anyhow::anyhow!("{e}"))?;
                let done = guichet_store::operators::revoke_key(tx.conn(), &id, clock.now_ms()).await.map_err(|e| anyhow::anyhow!("{e}"))?;
                if done {
                    guichet_store::operators::audit(
                        tx.conn(),
                        &guichet_store::operators::AuditRow {
                            id: guichet_app::ids::new_id(clock.now_ms()),
                            actor: "cli".into(),
                            action: "operator_key.revoke".into(),
                            subject: Some(id.clone()),
                            details: None,
                            created_at: clock.now_ms(),
                        },
                    )
                    .await
                    .map_err(|e| anyhow::anyhow!("{e}"))?;
                }
                tx.commit().await.map_err(|e| anyhow::anyhow!("{e}"))?;
                db.close().await;
                if !done {
                    anyhow::bail!("no active operator key with id {id}");
                }
                println!("revoked {id}");
                Ok(())
            }
            Command::Catalog { command: CatalogCommand::Import { file } } => {
                let c = Config::load(cli.config.as_deref())?;
                let text = std::fs::read_to_string(&file).with_context(|| format!("reading {}", file.display()))?;
                let db = serve::open_db(&c).await?;
                let clock = guichet_app::Clock::system(false);
                let bar = indicatif::ProgressBar::new(0);
                bar.set_style(
                    indicatif::ProgressStyle::with_template("{bar:40} {pos}/{len} products")
                        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
                );
                let r = guichet_app::catalog::import(&db, clock.now_ms(), "cli", &text, |done, total| {
                    if total >= 50 {
                        bar.set_length(total as u64);
                        bar.set_position(done as u64);
                    }
                })
                .await;
                bar.finish_and_clear();
                db.close().await;
                match r {
                    Ok(s) => {
                        println!("imported {} products, {} plans ({} changed)", s.products, s.plans, s.changed);
                        Ok(())
                    }
                    Err(guichet_app::catalog::ImportOutcome::Invalid(errors)) => {
                        for e in &errors {
                            eprintln!("{}: {e}", file.display());
                        }
                        anyhow::bail!("{} problem(s) in {}; nothing was imported", errors.len(), file.display())
                    }
                    Err(guichet_app::catalog::ImportOutcome::Failed(e)) => anyhow::bail!("import failed, nothing was imported: {e}"),
                }
            }
            Command::Billing { command: BillingCommand::Run { until } } => {
                let c = Config::load(cli.config.as_deref())?;
                serve::init_tracing(&c);
                billing::run(c, until).await
            }
            Command::Bench { command } => bench::run(command).await,
            Command::MigrateData { from, to } => migrate_data::run(&from, &to).await,
        }
    })
}
