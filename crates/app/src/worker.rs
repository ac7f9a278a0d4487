//! The background workers run by `guichet serve` (unless `--no-worker`) and `guichet worker`:
//! they deliver the mail, SMS and webhook outboxes and run what fell due (order expiry, payment
//! reconciliation), woken at once when a row is queued in-process and
//! polling every second for rows queued by other nodes or due for a retry.

use crate::App;
use crate::mail::sender::MailSender;
use std::time::Duration;
use tokio::sync::watch;

/// Run until `shutdown` turns true. Each pass finishes the mail it is sending before stopping.
pub async fn run(app: App, mut shutdown: watch::Receiver<bool>) {
    let mailer = match app.config.smtp_url.as_deref() {
        Some(url) => match MailSender::for_config(url, &app.config) {
            Ok(m) => Some(m),
            Err(e) => {
                tracing::error!(error = %e, "mail sender disabled");
                None
            }
        },
        None => None,
    };
    tracing::info!(smtp = mailer.is_some(), "workers started");
    loop {
        if let Some(m) = &mailer
            && let Err(e) = m.deliver_due(&app).await
        {
            tracing::warn!(error = %e, "mail delivery pass failed");
        }
        if let Err(e) = crate::sms::deliver_due(&app).await {
            tracing::warn!(error = %e, "SMS delivery pass failed");
        }
        if let Err(e) = crate::provisioning::deliver_due(&app).await {
            tracing::warn!(error = %e, "webhook delivery pass failed");
        }
        if let Err(e) = crate::jobs::run_due(&app).await {
            tracing::warn!(error = %e, "due jobs pass failed");
        }
        tokio::select! {
            _ = app.outbox_signal.notified() => {}
            _ = tokio::time::sleep(Duration::from_secs(1)) => {}
            _ = shutdown.changed() => {}
        }
        if *shutdown.borrow() {
            tracing::info!("workers stopped");
            return;
        }
    }
}

/// POST a JSON body; any non-2xx answer or transport failure is an error (to retry).
pub async fn post_json(url: &str, body: &serde_json::Value) -> Result<(), String> {
    static CLIENT: std::sync::OnceLock<reqwest::Client> = std::sync::OnceLock::new();
    let client = CLIENT.get_or_init(|| {
        reqwest::Client::builder()
            .timeout(Duration::from_secs(15))
            .build()
            .unwrap_or_default()
    });
    let r = client
        .post(url)
        .json(body)
        .send()
        .await
        .map_err(|e| e.to_string())?;
    if r.status().is_success() {
        Ok(())
    } else {
        Err(format!("HTTP {}", r.status()))
    }
}
