//! Guichet's storage: one SQL text per query for SQLite and PostgreSQL (`$N` placeholders,
//! portable types only: TEXT, 64-bit integers), migrations per backend kept in lock-step, and
//! repositories cut by capability. The only place that knows a backend's quirks.
//!
//! Conventions: times are UTC milliseconds (`i64`), booleans are 0/1 integers, ids are UUID v7
//! text. Repository functions take `&mut AnyConnection`, so that they run the same inside a
//! transaction (business change + outbox rows) or on a pooled connection.

pub mod accounts;
pub mod action_tokens;
pub mod bulk;
pub mod catalog;
mod checkpoint;
pub mod copy;
pub mod credit;
mod db;
pub mod emails;
pub mod erasure;
mod error;
pub mod factors;
mod filter;
pub mod gateway_customers;
pub mod idempotency;
pub mod invoices;
pub mod jobs;
pub mod operators;
pub mod orders;
pub mod payment_methods;
pub mod payments;
pub mod plan_changes;
pub mod rate_limits;
pub mod refunds;
pub mod security_events;
pub mod seed;
pub mod services;
pub mod sessions;
pub mod settings;
pub mod sms;
mod sqlite_rows;
pub mod tickets;
pub mod vouchers;
pub mod webhooks;

pub use db::{Backend, Db, DbOptions, Tx, redact_url};
pub use error::StoreError;
pub use sqlx::AnyConnection;

pub type Result<T> = std::result::Result<T, StoreError>;
