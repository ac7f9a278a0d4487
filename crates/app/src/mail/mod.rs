//! Service e-mails: what each mail says (in French and English), how it is written to the
//! outbox in the caller's transaction, and how the sender job delivers it over SMTP.

pub mod dkim;
mod layout;
pub mod lifecycle_mail;
pub mod order_mail;
pub mod outbox;
pub mod sender;
pub mod support_mail;
mod templates;

pub use layout::Rendered;
pub use lifecycle_mail::LifecycleMail;
pub use order_mail::OrderMail;
pub use outbox::{Recipient, enqueue};
pub use support_mail::SupportMail;
pub use templates::{MailKind, mask_email};
