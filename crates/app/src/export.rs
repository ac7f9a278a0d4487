//! The personal-data export (`GET /me/export`, available at any time): one ZIP with a JSON
//! file per kind of record the account holds — profile, mails, orders, services, invoices and
//! credit notes (with their PDFs), tickets with their messages and attachments, security
//! events, payment methods (never a gateway token), sessions and API tokens (never a secret).

use crate::accounts::{self, AccountView};
use crate::auth::Principal;
use crate::clock::rfc3339;
use crate::zip::ZipWriter;
use crate::{App, AppError, Result};
use guichet_store::{emails, invoices as invoice_store};
use serde::Serialize;

/// A mail as exported (mailed secrets hidden, as in the mail log).
#[derive(Debug, Serialize)]
struct MailExport {
    id: String,
    to: String,
    kind: String,
    subject: String,
    body_text: String,
    status: String,
    reference: String,
    message_id: String,
    created_at: String,
    sent_at: Option<String>,
}

fn json<T: Serialize>(v: &T) -> Result<Vec<u8>> {
    serde_json::to_vec_pretty(v).map_err(|e| AppError::internal(format!("export JSON: {e}")))
}

fn add(z: &mut ZipWriter, name: &str, bytes: &[u8]) -> Result<()> {
    z.add(name, bytes)
        .map_err(|e| AppError::conflict("export_too_large", e))
}

fn safe_name(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || ".-_".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// The whole export, as ZIP bytes.
pub async fn export(app: &App, p: &Principal) -> Result<Vec<u8>> {
    let account_id = p.account_id.as_str();
    let account = accounts::load(app, account_id).await?;
    let today = crate::clock::utc_date(app.now_ms()).unwrap_or(jiff::civil::Date::MIN);
    let mut z = ZipWriter::new(today);

    add(&mut z, "profile.json", &json(&AccountView::from(&account))?)?;

    let mut mails = Vec::new();
    {
        let mut c = app.db.conn().await?;
        let mut before: Option<(i64, String)> = None;
        loop {
            let rows = emails::list_for_account(
                &mut c,
                account_id,
                before.as_ref().map(|(a, i)| (*a, i.as_str())),
                500,
            )
            .await?;
            let Some(last) = rows.last() else { break };
            before = Some((last.created_at, last.id.clone()));
            let n = rows.len();
            mails.extend(rows.into_iter().map(|m| {
                let text = crate::mail::outbox::render(app, &m).map(|b| b.text);
                MailExport {
                    id: m.id,
                    to: m.to_addr,
                    kind: m.kind,
                    subject: m.subject,
                    body_text: crate::mailbox::redact_secrets(&text.unwrap_or_default()),
                    status: m.status,
                    reference: m.reference,
                    message_id: m.message_id,
                    created_at: rfc3339(m.created_at),
                    sent_at: m.sent_at.map(rfc3339),
                }
            }));
            if n < 500 {
                break;
            }
        }
    }
    add(&mut z, "emails.json", &json(&mails)?)?;

    let mut orders = Vec::new();
    for o in crate::orders::list(app, Some(account_id), None, 500).await? {
        orders.push(crate::orders::get(app, Some(account_id), &o.id).await?);
    }
    add(&mut z, "orders.json", &json(&orders)?)?;

    add(
        &mut z,
        "services.json",
        &json(&crate::services::list(app, account_id).await?)?,
    )?;

    let rows = {
        let mut c = app.db.conn().await?;
        let mut all = Vec::new();
        let mut before: Option<(i64, String)> = None;
        loop {
            let rows = invoice_store::list(
                &mut c,
                &invoice_store::ListFilter {
                    account_id: Some(account_id),
                    before: before.as_ref().map(|(a, i)| (*a, i.as_str())),
                    limit: 200,
                    documents: true,
                    ..Default::default()
                },
            )
            .await?;
            let Some(last) = rows.last() else { break };
            before = Some((last.issued_at, last.id.clone()));
            let n = rows.len();
            all.extend(rows);
            if n < 200 {
                break;
            }
        }
        all
    };
    let (mut invoices, mut credit_notes) = (Vec::new(), Vec::new());
    for r in &rows {
        let v = crate::invoices::get(app, Some(account_id), &r.id).await?;
        let (name, pdf) = crate::invoice_pdf::pdf(app, Some(account_id), &r.id).await?;
        if r.kind == "credit_note" {
            add(&mut z, &format!("credit_notes/{}", safe_name(&name)), &pdf)?;
            credit_notes.push(v);
        } else {
            add(&mut z, &format!("invoices/{}", safe_name(&name)), &pdf)?;
            invoices.push(v);
        }
    }
    add(&mut z, "invoices.json", &json(&invoices)?)?;
    add(&mut z, "credit_notes.json", &json(&credit_notes)?)?;

    let mut tickets = Vec::new();
    for t in crate::tickets::list_mine(app, account_id).await? {
        let v = crate::tickets::get(app, Some(account_id), &t.id).await?;
        for m in &v.messages {
            for a in &m.attachments {
                let (_, bytes) =
                    crate::tickets::attachment(app, Some(account_id), &t.id, &a.id).await?;
                let name = format!("tickets/{}/{}-{}", t.id, a.id, safe_name(&a.file_name));
                add(&mut z, &name, &bytes)?;
            }
        }
        tickets.push(v);
    }
    add(&mut z, "tickets.json", &json(&tickets)?)?;

    add(
        &mut z,
        "security_events.json",
        &json(&crate::security::events(app, p, 200).await?)?,
    )?;
    add(
        &mut z,
        "payment_methods.json",
        &json(&crate::payment_methods::list(app, account_id).await?)?,
    )?;
    add(
        &mut z,
        "sessions.json",
        &json(&crate::auth::list_sessions(app, p).await?)?,
    )?;
    add(
        &mut z,
        "api_tokens.json",
        &json(&crate::auth::list_api_tokens(app, p).await?)?,
    )?;
    z.finish()
        .map_err(|e| AppError::conflict("export_too_large", e))
}
