//! Guichet's use cases: each loads what it needs, asks the domain, and writes the decision
//! together with its outbox rows (mails, SMS) in one transaction. Jobs that deliver the outbox
//! live here too, with the adapters they drive (SMTP, SMS gateway, clock).

pub mod accounts;
pub mod auth;
pub mod catalog;
pub mod clock;
pub mod closure;
pub mod config;
pub mod credit;
pub mod crypto;
pub mod demo;
pub mod documents;
mod error;
pub mod export;
pub mod factors;
pub mod fulfilment;
pub mod gateway;
pub mod health;
pub mod idempotency;
pub mod ids;
pub mod invoice_pdf;
pub mod invoices;
pub mod jobs;
pub mod lifecycle;
pub mod limits;
pub mod mail;
pub mod mailbox;
pub mod operators;
pub mod orders;
pub mod payment_methods;
pub mod payments;
pub mod plan_changes;
pub mod provisioning;
pub mod queue;
pub mod recovery;
pub mod refunds;
pub mod renewal_batch;
pub mod renewals;
pub mod security;
pub mod service_ending;
pub mod services;
pub mod sms;
pub mod stripe;
pub mod tickets;
pub mod transfers;
pub mod vies;
pub mod vouchers;
pub mod worker;
pub mod zip;

pub use clock::Clock;
pub use config::AppConfig;
pub use error::{AppError, ErrorKind};
use guichet_store::Db;
use std::sync::Arc;

/// Everything a use case needs; cheap to clone.
#[derive(Clone)]
pub struct App {
    pub db: Db,
    pub clock: Clock,
    pub config: Arc<AppConfig>,
    /// Wakes the delivery workers as soon as a mail or SMS is queued.
    pub outbox_signal: Arc<tokio::sync::Notify>,
    /// VIES registration checks of VAT numbers, when configured.
    pub vat_checker: Option<Arc<dyn vies::VatChecker>>,
    /// Held by a pass over the due work: a sandbox clock move waits for the worker's pass to
    /// end before moving, so work done "today" is dated today.
    pub due_lock: Arc<tokio::sync::Mutex<()>>,
    /// The Stripe client, when Stripe is the installation's gateway.
    pub stripe: Option<stripe::StripeClient>,
}

impl App {
    pub fn new(db: Db, clock: Clock, config: AppConfig) -> Self {
        Self {
            db,
            clock,
            vat_checker: config
                .vies_url
                .as_deref()
                .map(|u| Arc::new(vies::ViesRest::new(u)) as Arc<dyn vies::VatChecker>),
            stripe: config
                .stripe
                .as_ref()
                .map(|s| stripe::StripeClient::with_timeout(&s.api_url, &s.secret_key, s.timeout)),
            outbox_signal: Arc::new(tokio::sync::Notify::new()),
            due_lock: Arc::new(tokio::sync::Mutex::new(())),
            config: Arc::new(config),
        }
    }

    /// Now, in UTC milliseconds, from the application clock.
    pub fn now_ms(&self) -> i64 {
        self.clock.now_ms()
    }
}

pub type Result<T> = std::result::Result<T, AppError>;
