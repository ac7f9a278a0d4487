//! End-to-end tests: each starts the real `guichet` binary on a random port with a fresh
//! database (a temporary SQLite file, or a new PostgreSQL database), a real SMTP server, and
//! talks to it over HTTP. Every scenario runs on both backends.

mod harness;

mod access_matrix;
mod accounts;
mod billing_proof;
mod catalog;
mod closure;
mod contact_points;
mod crash;
mod invoices;
mod isolation;
mod lifecycle;
mod mail_delivery;
mod migrate_data;
mod ops;
mod order_review;
mod orders;
mod panel;
mod payment_methods;
mod plan_changes;
mod security;
mod services;
mod stripe;
mod tickets;
mod validation;
