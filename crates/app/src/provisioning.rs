//! Provisioning webhooks: every order and service event is written to an outbox in the same
//! transaction as the change, then POSTed to the provider's endpoint, signed with HMAC-SHA256
//! over `"{timestamp}.{body}"`, at least once, with exponential backoff for up to three days.
//! A replay (retry or operator's resend) carries the same event id and the same body, so the
//! receiver deduplicates on `Guichet-Event-Id`.

use crate::clock::rfc3339;
use crate::{App, AppError, Result, ids};
use guichet_store::AnyConnection;
use guichet_store::webhooks::{self, AttemptRow, EventRow};
use hmac::{Hmac, Mac};
use serde::Serialize;
use sha2::Sha256;
use std::time::{Duration, Instant};
use utoipa::ToSchema;

/// How long an event is retried before it is marked failed.
pub const RETRY_WINDOW_MS: i64 = 3 * 86_400_000;
const FIRST_RETRY_MS: i64 = 30_000;
const MAX_RETRY_MS: i64 = 3_600_000;
const LEASE_MS: i64 = 60_000;

/// Headers of every delivery.
pub const HEADER_EVENT_ID: &str = "Guichet-Event-Id";
pub const HEADER_TIMESTAMP: &str = "Guichet-Timestamp";
pub const HEADER_SIGNATURE: &str = "Guichet-Signature";

/// `v1=<hex HMAC-SHA256(secret, "{timestamp}.{body}")>`.
pub fn signature(secret: &str, timestamp: i64, body: &str) -> String {
    // HMAC accepts keys of any length.
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(secret.as_bytes())
        .unwrap_or_else(|_| unreachable!("HMAC takes keys of any length"));
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body.as_bytes());
    format!("v1={}", hex::encode(mac.finalize().into_bytes()))
}

/// The wait before retry number `attempts` (1-based): 30 s doubling, capped at one hour.
pub fn backoff_ms(attempts: i64) -> i64 {
    let shift = u32::try_from(attempts.clamp(1, 20) - 1).unwrap_or(0);
    FIRST_RETRY_MS.saturating_mul(1 << shift).min(MAX_RETRY_MS)
}

/// Record an event in the caller's transaction. `data` is the event's object.
pub async fn emit(
    app: &App,
    c: &mut AnyConnection,
    kind: &str,
    subject_id: &str,
    data: serde_json::Value,
) -> Result<String> {
    let row = event(app, kind, subject_id, data);
    webhooks::insert(c, &row).await?;
    Ok(row.id)
}

/// The outbox row of a provisioning event, not yet written (batches write many at once).
pub fn event(app: &App, kind: &str, subject_id: &str, data: serde_json::Value) -> EventRow {
    let now = app.now_ms();
    let id = format!("evt_{}", ids::new_id(now).replace('-', ""));
    let body = serde_json::json!({
        "id": id,
        "type": kind,
        "created_at": rfc3339(now),
        "data": data,
    });
    EventRow {
        id,
        kind: kind.to_owned(),
        subject_id: subject_id.to_owned(),
        payload: body.to_string(),
        status: if app.config.provisioning.is_some() {
            webhooks::PENDING.to_owned()
        } else {
            webhooks::NOT_CONFIGURED.to_owned()
        },
        attempts: 0,
        next_attempt_at: now,
        locked_until: None,
        last_error: None,
        created_at: now,
        delivered_at: None,
    }
}

fn client() -> &'static reqwest::Client {
    static CLIENT: std::sync::OnceLock<reqwest::Client> = std::sync::OnceLock::new();
    CLIENT.get_or_init(|| {
        reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .build()
            .unwrap_or_default()
    })
}

/// Deliver every due event once; returns how many were delivered.
pub async fn deliver_due(app: &App) -> Result<usize> {
    let Some(settings) = app.config.provisioning.clone() else {
        return Ok(0);
    };
    let due = {
        let mut c = app.db.conn().await?;
        webhooks::due(&mut c, app.now_ms(), 50).await?
    };
    let mut delivered = 0;
    for e in due {
        let now = app.now_ms();
        {
            let mut c = app.db.conn().await?;
            if !webhooks::lease(&mut c, &e.id, now, now + LEASE_MS).await? {
                continue;
            }
        }
        let ts = now / 1000;
        let started = Instant::now();
        let result = client()
            .post(&settings.url)
            .header("Content-Type", "application/json")
            .header("User-Agent", "Guichet-Webhooks/1")
            .header(HEADER_EVENT_ID, &e.id)
            .header(HEADER_TIMESTAMP, ts.to_string())
            .header(
                HEADER_SIGNATURE,
                signature(&settings.secret, ts, &e.payload),
            )
            .body(e.payload.clone())
            .send()
            .await;
        let duration_ms = i64::try_from(started.elapsed().as_millis()).unwrap_or(i64::MAX);
        let (status_code, error) = match &result {
            Ok(r) if r.status().is_success() => (Some(i64::from(r.status().as_u16())), None),
            Ok(r) => (
                Some(i64::from(r.status().as_u16())),
                Some(format!("HTTP {}", r.status().as_u16())),
            ),
            Err(err) => (None, Some(transport_error(err))),
        };
        let after = app.now_ms();
        let mut tx = app.db.begin().await?;
        webhooks::insert_attempt(
            tx.conn(),
            &AttemptRow {
                id: ids::new_id(after),
                event_id: e.id.clone(),
                at: after,
                status_code,
                error: error.clone(),
                duration_ms,
            },
        )
        .await?;
        match error {
            None => {
                webhooks::mark_delivered(tx.conn(), &e.id, after).await?;
                delivered += 1;
            }
            Some(err) => {
                let next = after + backoff_ms(e.attempts + 1);
                let next = (next <= e.created_at + RETRY_WINDOW_MS).then_some(next);
                if next.is_none() {
                    tracing::warn!(event = %e.id, "webhook failed for good after three days");
                }
                webhooks::mark_attempt_failed(tx.conn(), &e.id, &err, next).await?;
            }
        }
        tx.commit().await?;
    }
    Ok(delivered)
}

/// A transport error without the URL (it may carry credentials).
fn transport_error(e: &reqwest::Error) -> String {
    if e.is_timeout() {
        "timeout".into()
    } else if e.is_connect() {
        "connection failed".into()
    } else {
        "transport error".into()
    }
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct AttemptView {
    pub at: String,
    pub status_code: Option<i64>,
    pub error: Option<String>,
    pub duration_ms: i64,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct WebhookEventView {
    pub id: String,
    /// See docs/webhooks.md for the catalogue.
    #[serde(rename = "type")]
    pub kind: String,
    pub subject_id: String,
    /// `pending`, `delivered`, `failed` or `not_configured`.
    pub status: String,
    pub attempts: i64,
    pub next_attempt_at: Option<String>,
    pub last_error: Option<String>,
    pub created_at: String,
    pub delivered_at: Option<String>,
    /// The exact body delivered (and signed).
    pub payload: serde_json::Value,
    /// Every delivery attempt, oldest first (on the detail view only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub deliveries: Option<Vec<AttemptView>>,
}

fn view(e: EventRow, deliveries: Option<Vec<AttemptRow>>) -> WebhookEventView {
    WebhookEventView {
        payload: serde_json::from_str(&e.payload).unwrap_or(serde_json::Value::Null),
        next_attempt_at: (e.status == webhooks::PENDING).then(|| rfc3339(e.next_attempt_at)),
        id: e.id,
        kind: e.kind,
        subject_id: e.subject_id,
        status: e.status,
        attempts: e.attempts,
        last_error: e.last_error,
        created_at: rfc3339(e.created_at),
        delivered_at: e.delivered_at.map(rfc3339),
        deliveries: deliveries.map(|d| {
            d.into_iter()
                .map(|a| AttemptView {
                    at: rfc3339(a.at),
                    status_code: a.status_code,
                    error: a.error,
                    duration_ms: a.duration_ms,
                })
                .collect()
        }),
    }
}

/// The delivery log for operators, newest first.
pub async fn list(
    app: &App,
    status: Option<&str>,
    subject_id: Option<&str>,
    limit: i64,
) -> Result<Vec<WebhookEventView>> {
    if let Some(s) = status
        && ![
            webhooks::PENDING,
            webhooks::DELIVERED,
            webhooks::FAILED,
            webhooks::NOT_CONFIGURED,
        ]
        .contains(&s)
    {
        return Err(AppError::field(
            "status",
            "invalid_status",
            "pending, delivered, failed or not_configured",
        ));
    }
    let mut c = app.db.conn().await?;
    Ok(
        webhooks::list(&mut c, status, subject_id, limit.clamp(1, 500))
            .await?
            .into_iter()
            .map(|e| view(e, None))
            .collect(),
    )
}

pub async fn get(app: &App, id: &str) -> Result<WebhookEventView> {
    let mut c = app.db.conn().await?;
    let e = webhooks::get(&mut c, id)
        .await?
        .ok_or_else(|| AppError::not_found("webhook_event_not_found"))?;
    let attempts = webhooks::attempts(&mut c, id).await?;
    Ok(view(e, Some(attempts)))
}

/// Send an event again now, with the same id and body (audited).
pub async fn replay(
    app: &App,
    op: &crate::operators::Operator,
    id: &str,
) -> Result<WebhookEventView> {
    op.require_role(&["support"])?;
    if app.config.provisioning.is_none() {
        return Err(AppError::conflict(
            "provisioning_not_configured",
            "no provisioning endpoint is configured",
        ));
    }
    let mut tx = app.db.begin().await?;
    if !webhooks::requeue(tx.conn(), id, app.now_ms()).await? {
        return Err(AppError::not_found("webhook_event_not_found"));
    }
    crate::operators::audit(app, tx.conn(), op, "webhook.replay", Some(id), None).await?;
    tx.commit().await?;
    app.outbox_signal.notify_waiters();
    get(app, id).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signature_is_hmac_sha256_over_timestamp_and_body() {
        // Known answer computed independently: printf '1700000000.{}' | openssl dgst -sha256 -hmac secret
        let s = signature("secret", 1_700_000_000, "{}");
        assert_eq!(
            s,
            "v1=b8569b78799ff9e3cbff0fc2d63a33a2b57f3282abd07c37ae5e8e7d79a5f163"
        );
        assert_ne!(s, signature("secret", 1_700_000_001, "{}"));
        assert_ne!(s, signature("other", 1_700_000_000, "{}"));
    }

    #[test]
    fn backoff_doubles_and_caps() {
        assert_eq!(backoff_ms(1), 30_000);
        assert_eq!(backoff_ms(2), 60_000);
        assert_eq!(backoff_ms(8), 3_600_000);
        assert_eq!(backoff_ms(100), 3_600_000);
    }
}
