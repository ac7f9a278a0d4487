//! The pure rules of Guichet: validated values and decisions, with no I/O, no async and no SQL.
//!
//! Everything here takes the current time as an argument and returns values; the store and the
//! application layers turn those values into rows, mails and jobs.

pub mod account;
pub mod catalog;
pub mod country;
pub mod credit;
pub mod email;
pub mod iban;
pub mod language;
pub mod lifecycle;
pub mod money;
pub mod order;
pub mod password;
pub mod payment_method;
pub mod period;
pub mod phone;
pub mod pricing;
pub mod proration;
pub mod schedule;
pub mod tax;
pub mod validation;
pub mod vat_number;
pub mod voucher;

pub use account::{
    AccountKind, AccountState, ApiTokenScope, CustomerCode, NewAccount, ProfilePatch,
};
pub use country::CountryCode;
pub use email::EmailAddress;
pub use language::Language;
pub use money::{Currency, Money};
pub use password::{Password, PasswordError};
pub use period::BillingPeriod;
pub use phone::PhoneNumber;
pub use validation::{FieldError, Fields};
