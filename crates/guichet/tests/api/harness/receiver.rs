//! A real HTTP receiver for provisioning webhooks: it checks each delivery's HMAC-SHA256
//! signature on its own (not with Guichet's code), records what arrived, and can answer 503
//! for a while to simulate an outage.

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

#[derive(Debug, Clone)]
pub struct Delivery {
    pub event_id: String,
    pub body: serde_json::Value,
    /// The signature matched the body and timestamp.
    pub signature_ok: bool,
}

#[derive(Default)]
struct Inner {
    accepted: Mutex<Vec<Delivery>>,
    refused: AtomicUsize,
    down: AtomicBool,
    secret: String,
}

pub struct Receiver {
    pub url: String,
    inner: Arc<Inner>,
}

pub const SECRET: &str = "whsec_test_0123456789abcdef";

fn verify(secret: &str, headers: &HeaderMap, body: &[u8]) -> bool {
    let ts = headers
        .get("guichet-timestamp")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let sig = headers
        .get("guichet-signature")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("v1="))
        .and_then(hex_decode)
        .unwrap_or_default();
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("key");
    mac.update(ts.as_bytes());
    mac.update(b".");
    mac.update(body);
    !ts.is_empty() && mac.verify_slice(&sig).is_ok()
}

fn hex_decode(s: &str) -> Option<Vec<u8>> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect()
}

async fn receive(State(inner): State<Arc<Inner>>, headers: HeaderMap, body: Bytes) -> StatusCode {
    if inner.down.load(Ordering::SeqCst) {
        inner.refused.fetch_add(1, Ordering::SeqCst);
        return StatusCode::SERVICE_UNAVAILABLE;
    }
    let d = Delivery {
        event_id: headers
            .get("guichet-event-id")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_owned(),
        signature_ok: verify(&inner.secret, &headers, &body),
        body: serde_json::from_slice(&body).unwrap_or(serde_json::Value::Null),
    };
    inner.accepted.lock().expect("lock").push(d);
    StatusCode::NO_CONTENT
}

impl Receiver {
    pub async fn start() -> Self {
        let inner = Arc::new(Inner {
            secret: SECRET.to_owned(),
            ..Default::default()
        });
        let app = Router::new()
            .route("/hooks", post(receive))
            .with_state(inner.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Self {
            url: format!("http://{addr}/hooks"),
            inner,
        }
    }

    /// The server environment that points Guichet at this receiver.
    pub fn env(&self) -> Vec<(String, String)> {
        vec![
            ("GUICHET_PROVISIONING_URL".into(), self.url.clone()),
            ("GUICHET_PROVISIONING_SECRET".into(), SECRET.into()),
        ]
    }

    pub fn set_down(&self, down: bool) {
        self.inner.down.store(down, Ordering::SeqCst);
    }

    pub fn refused(&self) -> usize {
        self.inner.refused.load(Ordering::SeqCst)
    }

    pub fn deliveries(&self) -> Vec<Delivery> {
        self.inner.accepted.lock().expect("lock").clone()
    }

    /// Accepted deliveries of one event type.
    pub fn of_type(&self, kind: &str) -> Vec<Delivery> {
        self.deliveries()
            .into_iter()
            .filter(|d| d.body["type"] == kind)
            .collect()
    }
}
