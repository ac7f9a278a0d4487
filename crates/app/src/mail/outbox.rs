//! Writing a mail to the outbox inside the caller's transaction.

use super::layout;
use super::templates::MailKind;
use crate::{App, Result, ids};
use guichet_domain::Language;
use guichet_store::{AnyConnection, emails};

/// Who a mail goes to.
pub struct Recipient<'a> {
    pub account_id: Option<&'a str>,
    pub address: &'a str,
    pub first_name: &'a str,
    pub language: Language,
}

/// Render `kind` and queue it in the same transaction as the change that causes it.
pub async fn enqueue(
    app: &App,
    c: &mut AnyConnection,
    to: &Recipient<'_>,
    kind: &MailKind,
) -> Result<emails::EmailRow> {
    let row = build(app, to, kind);
    emails::insert(c, &row).await?;
    Ok(row)
}

/// The outbox row of `kind` for `to`, rendered, not yet written (batches write many at once).
pub fn build(app: &App, to: &Recipient<'_>, kind: &MailKind) -> emails::EmailRow {
    let now = app.now_ms();
    let id = ids::new_id(now);
    let reference = crate::crypto::mail_reference();
    let content = kind.content(to.language, to.first_name, &app.config.provider_name);
    let r = layout::render(
        &content,
        to.language,
        &app.config.provider_name,
        &reference,
        &app.config.public_url,
    );
    emails::EmailRow {
        message_id: format!("<{id}@{}>", app.config.mail_domain()),
        id,
        account_id: to.account_id.map(str::to_owned),
        to_addr: to.address.to_owned(),
        kind: kind.name().to_owned(),
        language: to.language.as_str().to_owned(),
        subject: r.subject,
        body_text: r.text,
        body_html: r.html,
        reference,
        // A closed account's pseudonym is never written to: kept in the log, not sent.
        status: if app.config.smtp_url.is_some()
            && !to
                .address
                .ends_with(&format!("@{}", crate::closure::PSEUDONYM_DOMAIN))
        {
            emails::QUEUED.to_owned()
        } else {
            emails::NOT_DELIVERED.to_owned()
        },
        attempts: 0,
        next_attempt_at: now,
        locked_until: None,
        last_error: None,
        created_at: now,
        sent_at: None,
    }
}
