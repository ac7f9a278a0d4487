//! Starting the server and the workers, and stopping them gracefully on SIGINT or SIGTERM.

use crate::config::Config;
use anyhow::{Context, Result};
use guichet_app::{App, Clock};
use guichet_store::{Db, DbOptions};
use std::io::Write;
use std::net::SocketAddr;
use tokio::sync::watch;

pub fn init_tracing(c: &Config) {
    use tracing_subscriber::EnvFilter;
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    if c.log_format == "json" {
        let _ = builder.json().with_current_span(true).try_init();
    } else {
        let _ = builder.try_init();
    }
}

/// Open (creating the SQLite file if needed) and migrate the database.
pub async fn open_db(c: &Config) -> Result<Db> {
    let url = c.database_url();
    if url.starts_with("sqlite:") && c.database_url.is_none() {
        std::fs::create_dir_all(&c.data_dir)
            .with_context(|| format!("creating {}", c.data_dir.display()))?;
    }
    let opts = DbOptions {
        max_connections: c.database_max_connections,
        ..Default::default()
    };
    let db = Db::connect(&url, &opts)
        .await
        .with_context(|| format!("connecting to {}", guichet_store::redact_url(&url)))?;
    db.migrate().await.context("migrating the database")?;
    Ok(db)
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {}
        _ = term => {}
    }
    tracing::info!("shutting down");
}

pub(crate) async fn build_app(c: &Config, public_url: String) -> Result<App> {
    let db = open_db(c).await?;
    let app = App::new(db, Clock::system(c.sandbox), c.app_config(public_url));
    // A broken SMTP URL, sender address or DKIM key is a start-up error, not silent mail loss.
    if let Some(url) = app.config.smtp_url.as_deref() {
        guichet_app::mail::sender::MailSender::for_config(url, &app.config)
            .map_err(|e| anyhow::anyhow!("mail configuration: {e}"))?;
    }
    guichet_app::operators::load_clock(&app)
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    Ok(app)
}

pub async fn serve(c: Config, demo: bool, with_worker: bool) -> Result<()> {
    let listener = tokio::net::TcpListener::bind(&c.listen)
        .await
        .with_context(|| format!("binding {}", c.listen))?;
    let addr = listener.local_addr()?;
    let public_url = c
        .public_url
        .clone()
        .unwrap_or_else(|| format!("http://{addr}"));
    let app = build_app(&c, public_url.clone()).await?;
    let metrics = metrics_exporter_prometheus::PrometheusBuilder::new()
        .install_recorder()
        .map_err(|e| tracing::warn!(error = %e, "metrics recorder not installed"))
        .ok();
    if demo {
        let created = guichet_app::demo::seed(&app)
            .await
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        let demo_catalog = guichet_app::catalog::DEMO_CATALOG;
        match guichet_app::catalog::import(&app.db, app.now_ms(), "demo", demo_catalog, |_, _| {})
            .await
        {
            Ok(_) => {}
            Err(guichet_app::catalog::ImportOutcome::Invalid(e)) => {
                anyhow::bail!("demo catalog: {e:?}")
            }
            Err(guichet_app::catalog::ImportOutcome::Failed(e)) => {
                anyhow::bail!("demo catalog: {e}")
            }
        }
        eprintln!(
            "Demo {}: log in at {public_url} as {} with password {} (sandbox mode: nothing is charged, SMS codes go to the log).",
            if created { "ready" } else { "already seeded" },
            guichet_app::demo::DEMO_EMAIL,
            guichet_app::demo::DEMO_PASSWORD
        );
    }
    let (stop_tx, stop_rx) = watch::channel(false);
    let worker = with_worker.then(|| tokio::spawn(guichet_app::worker::run(app.clone(), stop_rx)));
    let router = guichet_http::router(guichet_http::AppState {
        app: app.clone(),
        metrics,
    });
    tracing::info!(%addr, backend = app.db.backend().as_str(), sandbox = c.sandbox, "listening");
    {
        let mut out = std::io::stdout().lock();
        writeln!(out, "listening on http://{addr}")?;
        out.flush()?;
    }
    axum::serve(
        listener,
        router.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown_signal())
    .await?;
    let _ = stop_tx.send(true);
    if let Some(w) = worker {
        let _ = w.await;
    }
    app.db.close().await;
    Ok(())
}

pub async fn worker(c: Config) -> Result<()> {
    let public_url = c
        .public_url
        .clone()
        .unwrap_or_else(|| format!("http://{}", c.listen));
    let app = build_app(&c, public_url).await?;
    let (stop_tx, stop_rx) = watch::channel(false);
    let w = tokio::spawn(guichet_app::worker::run(app.clone(), stop_rx));
    shutdown_signal().await;
    let _ = stop_tx.send(true);
    let _ = w.await;
    app.db.close().await;
    Ok(())
}
