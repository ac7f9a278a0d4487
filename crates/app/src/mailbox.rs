//! The customer's "service e-mails": every mail the account was sent, with its delivery status,
//! and the check that answers "is this mail from us?".

use crate::auth::Principal;
use crate::clock::rfc3339;
use crate::{App, AppError, Result, ids};
use guichet_store::emails::{self, EmailRow};
use serde::Serialize;
use utoipa::ToSchema;

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct EmailSummary {
    pub id: String,
    pub kind: String,
    pub to: String,
    pub subject: String,
    /// `queued`, `sent`, `failed` or `not_delivered` (no SMTP server configured).
    pub status: String,
    pub reference: String,
    pub attempts: i64,
    pub last_error: Option<String>,
    pub created_at: String,
    pub sent_at: Option<String>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct EmailDetail {
    #[serde(flatten)]
    pub summary: EmailSummary,
    pub message_id: String,
    pub language: String,
    pub body_text: String,
    pub body_html: String,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct EmailPage {
    pub items: Vec<EmailSummary>,
    /// Pass as `cursor` to get the next (older) page; absent on the last page.
    pub next_cursor: Option<String>,
}

fn summary(e: &EmailRow) -> EmailSummary {
    EmailSummary {
        id: e.id.clone(),
        kind: e.kind.clone(),
        to: e.to_addr.clone(),
        subject: e.subject.clone(),
        status: e.status.clone(),
        reference: e.reference.clone(),
        attempts: e.attempts,
        last_error: e.last_error.clone(),
        created_at: rfc3339(e.created_at),
        sent_at: e.sent_at.map(rfc3339),
    }
}

/// Newest first; `cursor` is opaque (`<created_at>.<id>` of the last item seen).
pub async fn list(app: &App, p: &Principal, cursor: Option<&str>, limit: i64) -> Result<EmailPage> {
    let before = match cursor {
        None | Some("") => None,
        Some(c) => {
            let parsed = c.split_once('.').and_then(|(t, id)| {
                t.parse::<i64>()
                    .ok()
                    .filter(|_| ids::is_id(id))
                    .map(|t| (t, id))
            });
            Some(parsed.ok_or_else(|| {
                AppError::bad_request("invalid_cursor", "this cursor is not valid")
            })?)
        }
    };
    let limit = limit.clamp(1, 100);
    let mut c = app.db.conn().await?;
    let rows = emails::list_for_account(&mut c, &p.account_id, before, limit + 1).await?;
    let more = rows.len() as i64 > limit;
    let items: Vec<_> = rows.iter().take(limit as usize).collect();
    let next_cursor = if more {
        items.last().map(|e| format!("{}.{}", e.created_at, e.id))
    } else {
        None
    };
    Ok(EmailPage {
        items: items.into_iter().map(summary).collect(),
        next_cursor,
    })
}

pub async fn get(app: &App, p: &Principal, id: &str) -> Result<EmailDetail> {
    if !ids::is_id(id) {
        return Err(AppError::not_found("email_not_found"));
    }
    let mut c = app.db.conn().await?;
    let e = emails::get_for_account(&mut c, &p.account_id, id)
        .await?
        .ok_or_else(|| AppError::not_found("email_not_found"))?;
    let body = crate::mail::outbox::render(app, &e);
    let (text, html) = body.map(|b| (b.text, b.html)).unwrap_or_default();
    Ok(EmailDetail {
        summary: summary(&e),
        message_id: e.message_id,
        language: e.language,
        body_text: redact_secrets(&text),
        body_html: redact_secrets(&html),
    })
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct VerifyMailView {
    /// True when the reference or Message-ID belongs to a mail we sent to this account.
    pub genuine: bool,
    pub email: Option<EmailSummary>,
}

/// "Is this mail from us?" for a pasted reference (`GC-XXXX-XXXX`) or Message-ID.
pub async fn verify(app: &App, p: &Principal, pasted: &str) -> Result<VerifyMailView> {
    let v = pasted.trim();
    if v.is_empty() || v.len() > 300 || v.chars().any(char::is_control) {
        return Err(AppError::field(
            "reference",
            "invalid_reference",
            "paste the reference or the Message-ID of the mail",
        ));
    }
    let normalised = if v.to_ascii_uppercase().starts_with("GC-") {
        v.to_ascii_uppercase()
    } else if v.starts_with('<') {
        v.to_owned()
    } else {
        format!("<{v}>")
    };
    let mut c = app.db.conn().await?;
    let found = emails::find_for_account(&mut c, &p.account_id, &normalised).await?;
    Ok(VerifyMailView {
        genuine: found.is_some(),
        email: found.as_ref().map(summary),
    })
}

/// Single-use secrets (`gct_…` tokens in links) are hidden when a mail is read back through
/// the API: the log shows what was sent, but an API token or a borrowed session must not be
/// able to follow a password-reset or e-mail-change link that only the mailbox should hold.
pub fn redact_secrets(body: &str) -> String {
    let mut out = String::with_capacity(body.len());
    let mut rest = body;
    while let Some(i) = rest.find("gct_") {
        out.push_str(&rest[..i]);
        out.push_str("gct_[hidden]");
        let after = &rest[i + 4..];
        let n = after
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == '-'))
            .unwrap_or(after.len());
        rest = &after[n..];
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn secrets_are_hidden() {
        let b = "Reset: https://x/reset-password?token=gct_AbC-d_9 now\n<a href=\"https://x/v?token=gct_Zz\">";
        let r = super::redact_secrets(b);
        assert!(!r.contains("AbC") && !r.contains("Zz"), "{r}");
        assert!(r.contains("token=gct_[hidden] now"));
        assert_eq!(super::redact_secrets("no secret"), "no secret");
    }
}
