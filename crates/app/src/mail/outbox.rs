//! Writing a mail to the outbox inside the caller's transaction, and rendering a stored mail.
//! A row holds the mail's subject and what it says (its kind and data, as JSON); the text and
//! HTML bodies are laid out from that when the mail is sent or read, so the outbox carries a
//! few hundred bytes per mail rather than several kilobytes of layout. Rows written before
//! this kept their bodies, and are shown as stored.

use super::layout::{self, Rendered};
use super::templates::MailKind;
use crate::{App, Result, ids};
use guichet_domain::Language;
use guichet_store::{AnyConnection, emails};
use serde::{Deserialize, Serialize};

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

/// What `emails.data` holds: the greeting's name and the mail.
#[derive(Serialize)]
struct StoredRef<'a> {
    first_name: &'a str,
    mail: &'a MailKind,
}

#[derive(Deserialize)]
struct Stored {
    first_name: String,
    mail: MailKind,
}

/// The outbox row of `kind` for `to`, not yet written (batches write many at once).
pub fn build(app: &App, to: &Recipient<'_>, kind: &MailKind) -> emails::EmailRow {
    let now = app.now_ms();
    let id = ids::new_id(now);
    let reference = crate::crypto::mail_reference();
    let content = kind.content(to.language, to.first_name, &app.config.provider_name);
    let stored = serde_json::to_string(&StoredRef {
        first_name: to.first_name,
        mail: kind,
    });
    // A mail that cannot be stored as data (none today: every field is text) keeps its
    // laid-out bodies instead, as rows from before 0018 do.
    let (data, body) = match stored {
        Ok(json) => (Some(json), None),
        Err(e) => {
            tracing::warn!(kind = kind.name(), error = %e, "mail stored with its bodies");
            let r = layout::render(
                &content,
                to.language,
                &app.config.provider_name,
                &reference,
                &app.config.public_url,
            );
            (None, Some(r))
        }
    };
    let (body_text, body_html) = body.map(|r| (r.text, r.html)).unwrap_or_default();
    emails::EmailRow {
        message_id: format!("<{id}@{}>", app.config.mail_domain()),
        id,
        account_id: to.account_id.map(str::to_owned),
        to_addr: to.address.to_owned(),
        kind: kind.name().to_owned(),
        language: to.language.as_str().to_owned(),
        subject: content.subject,
        body_text,
        body_html,
        data,
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

/// The subject and bodies of a stored mail, laid out with this provider's name and panel
/// address. `None` when its data cannot be read back (a mail written by a newer version).
pub fn render(app: &App, row: &emails::EmailRow) -> Option<Rendered> {
    let Some(data) = row.data.as_deref() else {
        return Some(Rendered {
            subject: row.subject.clone(),
            text: row.body_text.clone(),
            html: row.body_html.clone(),
        });
    };
    let stored: Stored = match serde_json::from_str(data) {
        Ok(s) => s,
        Err(e) => {
            tracing::warn!(mail = %row.id, error = %e, "stored mail cannot be rendered");
            return None;
        }
    };
    let lang = Language::parse(&row.language).unwrap_or_default();
    let content = stored
        .mail
        .content(lang, &stored.first_name, &app.config.provider_name);
    let mut r = layout::render(
        &content,
        lang,
        &app.config.provider_name,
        &row.reference,
        &app.config.public_url,
    );
    // The subject as it was queued (the provider's name may have changed since).
    r.subject.clone_from(&row.subject);
    Some(r)
}
