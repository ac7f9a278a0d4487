//! The EU's VIES service behind a trait: whether a VAT number is registered, which checksums
//! cannot tell. Off by default; when configured, a company buyer in another member state is
//! reverse charged only if VIES confirms its number (otherwise VAT is charged, the safe side
//! for the seller). Answers are cached for a day.

use guichet_domain::vat_number::VatNumber;
use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Mutex;
use std::time::{Duration, Instant};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Registration {
    Registered,
    NotRegistered,
}

pub type CheckFuture<'a> = Pin<Box<dyn Future<Output = Result<Registration, String>> + Send + 'a>>;

/// Anything that can tell whether a VAT number is registered.
pub trait VatChecker: Send + Sync {
    fn check<'a>(&'a self, number: &'a VatNumber) -> CheckFuture<'a>;
}

/// The VIES REST API (`POST {base}/check-vat-number`).
pub struct ViesRest {
    base: String,
    client: reqwest::Client,
    cache: Mutex<HashMap<String, (Registration, Instant)>>,
}

const CACHE_FOR: Duration = Duration::from_secs(86_400);

impl ViesRest {
    pub fn new(base: &str) -> Self {
        Self {
            base: base.trim_end_matches('/').to_owned(),
            client: reqwest::Client::builder()
                .timeout(Duration::from_secs(8))
                .build()
                .unwrap_or_default(),
            cache: Mutex::new(HashMap::new()),
        }
    }

    async fn ask(&self, number: &VatNumber) -> Result<Registration, String> {
        let s = number.as_str();
        let body = serde_json::json!({ "countryCode": &s[..2], "vatNumber": &s[2..] });
        let r = self
            .client
            .post(format!("{}/check-vat-number", self.base))
            .json(&body)
            .send()
            .await
            .map_err(|e| {
                if e.is_timeout() {
                    "timeout".to_owned()
                } else {
                    "unreachable".to_owned()
                }
            })?;
        if !r.status().is_success() {
            return Err(format!("HTTP {}", r.status().as_u16()));
        }
        let v: serde_json::Value = r.json().await.map_err(|_| "bad answer".to_owned())?;
        match v.get("valid").and_then(serde_json::Value::as_bool) {
            Some(true) => Ok(Registration::Registered),
            Some(false) => Ok(Registration::NotRegistered),
            None => Err("bad answer".to_owned()),
        }
    }
}

impl VatChecker for ViesRest {
    fn check<'a>(&'a self, number: &'a VatNumber) -> CheckFuture<'a> {
        Box::pin(async move {
            let key = number.as_str().to_owned();
            if let Ok(cache) = self.cache.lock()
                && let Some((r, at)) = cache.get(&key)
                && at.elapsed() < CACHE_FOR
            {
                return Ok(*r);
            }
            let r = self.ask(number).await?;
            if let Ok(mut cache) = self.cache.lock() {
                cache.insert(key, (r, Instant::now()));
            }
            Ok(r)
        })
    }
}

/// Whether `vat_number` may be used for a reverse charge: syntax and check digits always,
/// and VIES registration when a checker is configured.
pub async fn usable_for_reverse_charge(
    checker: Option<&dyn VatChecker>,
    vat_number: Option<&str>,
) -> bool {
    let Some(n) = vat_number.and_then(|v| VatNumber::parse(v).ok()) else {
        return false;
    };
    match checker {
        None => true,
        Some(c) => match c.check(&n).await {
            Ok(Registration::Registered) => true,
            Ok(Registration::NotRegistered) => false,
            Err(e) => {
                tracing::warn!(error = %e, "VIES unavailable: VAT charged instead of reverse charge");
                false
            }
        },
    }
}
