//! Support tickets ("Créer un ticket"): a customer opens one (category, subject, optionally one
//! of their services, a message and attachments), follows the thread, replies, closes and
//! reopens it; operators list and filter them, reply (the customer is mailed through the
//! outbox), change their state and assign them, every action audited. A ticket waiting for
//! the customer longer than `ticket_autoclose_days` is closed with a notice.

use crate::accounts::recipient;
use crate::clock::rfc3339;
use crate::mail::{self, MailKind, SupportMail};
use crate::operators::{self, Operator};
use crate::{App, AppError, ErrorKind, Result, documents, ids};
use guichet_store::AnyConnection;
use guichet_store::accounts::{self as account_store, AccountRow};
use guichet_store::tickets::{self as store, AttachmentRow, ListFilter, MessageRow, TicketRow};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use utoipa::ToSchema;

pub const CATEGORIES: [&str; 6] = ["billing", "technical", "account", "order", "abuse", "other"];
pub const STATES: [&str; 4] = ["open", "awaiting_customer", "awaiting_provider", "closed"];
/// Attachments per message.
pub const MAX_ATTACHMENTS: usize = 3;
/// Each attachment, as for order documents.
pub const MAX_ATTACHMENT_BYTES: usize = documents::MAX_BYTES;

/// A file sent with a message.
#[derive(Debug, Clone)]
pub struct Upload {
    pub file_name: String,
    pub bytes: Vec<u8>,
}

#[derive(Debug, Clone, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewTicket {
    /// `billing`, `technical`, `account`, `order`, `abuse` or `other`.
    pub category: String,
    /// 1 to 200 characters.
    pub subject: String,
    /// One of the account's services, when the request is about it.
    pub service_id: Option<String>,
    /// 1 to 10,000 characters.
    pub message: String,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct AttachmentView {
    pub id: String,
    pub file_name: String,
    pub content_type: String,
    pub size_bytes: i64,
    pub sha256: String,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct MessageView {
    pub id: String,
    /// `customer`, `operator` or `system`.
    pub author: String,
    /// The operator's name (operators' view only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub operator_name: Option<String>,
    pub body: String,
    pub attachments: Vec<AttachmentView>,
    pub created_at: String,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct TicketSummary {
    pub id: String,
    pub category: String,
    pub subject: String,
    pub service_id: Option<String>,
    /// `open`, `awaiting_customer`, `awaiting_provider` or `closed`.
    pub state: String,
    /// Operators' view only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub account_id: Option<String>,
    /// Operators' view only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub assignee: Option<String>,
    pub created_at: String,
    pub updated_at: String,
    pub closed_at: Option<String>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct TicketView {
    #[serde(flatten)]
    pub ticket: TicketSummary,
    /// Oldest first.
    pub messages: Vec<MessageView>,
}

fn summary(t: TicketRow, operator: bool) -> TicketSummary {
    TicketSummary {
        id: t.id,
        category: t.category,
        subject: t.subject,
        service_id: t.service_id,
        state: t.state,
        account_id: operator.then_some(t.account_id),
        assignee: if operator { t.assignee } else { None },
        created_at: rfc3339(t.created_at),
        updated_at: rfc3339(t.updated_at),
        closed_at: t.closed_at.map(rfc3339),
    }
}

fn not_found() -> AppError {
    AppError::not_found("ticket_not_found")
}

fn text_field(field: &str, code: &'static str, v: &str, max: usize, what: &str) -> Result<String> {
    let v = v.trim();
    if v.is_empty() || v.chars().count() > max {
        return Err(AppError::field(
            field,
            code,
            format!("{what}: 1 to {max} characters"),
        ));
    }
    if v.chars()
        .any(|c| c.is_control() && c != '\n' && c != '\r' && c != '\t')
    {
        return Err(AppError::field(
            field,
            code,
            "control characters are refused",
        ));
    }
    Ok(v.to_owned())
}

fn check_message(m: &str) -> Result<String> {
    text_field("message", "invalid_message", m, 10_000, "the message")
}

/// Size and type of each file, by content (PDF, PNG or JPEG), before anything is written.
fn check_uploads(files: &[Upload]) -> Result<Vec<&'static str>> {
    if files.len() > MAX_ATTACHMENTS {
        return Err(AppError::field(
            "file",
            "too_many_attachments",
            format!("at most {MAX_ATTACHMENTS} files per message"),
        ));
    }
    files
        .iter()
        .map(|f| {
            if f.bytes.is_empty() {
                return Err(AppError::field("file", "empty_file", "this file is empty"));
            }
            if f.bytes.len() > MAX_ATTACHMENT_BYTES {
                return Err(AppError::new(
                    ErrorKind::PayloadTooLarge,
                    "file_too_large",
                    "attachments are limited to 5 MiB each",
                )
                .on_field("file"));
            }
            documents::sniff(&f.bytes).ok_or_else(|| {
                AppError::new(
                    ErrorKind::UnsupportedMediaType,
                    "unsupported_file_type",
                    "attach PDF, PNG or JPEG files",
                )
                .on_field("file")
            })
        })
        .collect()
}

fn file_path(app: &App, id: &str) -> std::path::PathBuf {
    app.config.data_dir.join("tickets").join(id)
}

/// Write the files first (a row never points to a missing file); returns their rows.
async fn store_files(
    app: &App,
    ticket_id: &str,
    message_id: &str,
    files: &[Upload],
    types: &[&'static str],
    now: i64,
) -> Result<Vec<AttachmentRow>> {
    let mut rows = Vec::new();
    for (f, ct) in files.iter().zip(types) {
        let id = ids::new_id(now);
        let path = file_path(app, &id);
        if let Err(e) = documents::write_file(&path, &f.bytes).await {
            tracing::error!(error = %e, "cannot store a ticket attachment");
            remove_files(app, &ids_of(&rows)).await;
            return Err(AppError::new(
                ErrorKind::Unavailable,
                "storage_unavailable",
                "the attachment could not be stored; try again later",
            ));
        }
        rows.push(AttachmentRow {
            id,
            ticket_id: ticket_id.to_owned(),
            message_id: message_id.to_owned(),
            file_name: documents::clean_name(&f.file_name),
            content_type: (*ct).to_owned(),
            size_bytes: i64::try_from(f.bytes.len()).unwrap_or(i64::MAX),
            sha256: hex::encode(Sha256::digest(&f.bytes)),
            created_at: now,
        });
    }
    Ok(rows)
}

fn ids_of(rows: &[AttachmentRow]) -> Vec<String> {
    rows.iter().map(|r| r.id.clone()).collect()
}

/// Remove attachment files (after a failed transaction, or on erasure).
pub(crate) async fn remove_files(app: &App, ids: &[String]) {
    for id in ids {
        let _ = tokio::fs::remove_file(file_path(app, id)).await;
    }
}

async fn insert_message(
    c: &mut AnyConnection,
    m: &MessageRow,
    attachments: &[AttachmentRow],
) -> Result<()> {
    store::insert_message(c, m).await?;
    for a in attachments {
        store::insert_attachment(c, a).await?;
    }
    Ok(())
}

/// Open a ticket.
pub async fn create(
    app: &App,
    account: &AccountRow,
    input: &NewTicket,
    files: &[Upload],
) -> Result<TicketView> {
    let category = input.category.trim();
    if !CATEGORIES.contains(&category) {
        return Err(AppError::field(
            "category",
            "invalid_category",
            "billing, technical, account, order, abuse or other",
        ));
    }
    let subject = text_field(
        "subject",
        "invalid_subject",
        &input.subject,
        200,
        "the subject",
    )?;
    if subject.contains('\n') {
        return Err(AppError::field(
            "subject",
            "invalid_subject",
            "the subject is one line",
        ));
    }
    let message = check_message(&input.message)?;
    let service_id = match input.service_id.as_deref().map(str::trim) {
        None | Some("") => None,
        Some(id) => {
            let unknown = || {
                AppError::field(
                    "service_id",
                    "service_not_found",
                    "not one of your services",
                )
            };
            if !ids::is_id(id) {
                return Err(unknown());
            }
            let mut c = app.db.conn().await?;
            guichet_store::services::get(&mut c, id, Some(&account.id))
                .await?
                .ok_or_else(unknown)?;
            Some(id.to_owned())
        }
    };
    let types = check_uploads(files)?;
    let now = app.now_ms();
    let ticket = TicketRow {
        id: ids::new_id(now),
        account_id: account.id.clone(),
        category: category.to_owned(),
        subject,
        service_id,
        state: "open".into(),
        assignee: None,
        awaiting_since: None,
        created_at: now,
        updated_at: now,
        closed_at: None,
    };
    let msg = MessageRow {
        id: ids::new_id(now),
        ticket_id: ticket.id.clone(),
        author: "customer".into(),
        operator_name: None,
        body: message,
        created_at: now,
    };
    let atts = store_files(app, &ticket.id, &msg.id, files, &types, now).await?;
    let r = async {
        let mut tx = app.db.begin().await?;
        store::insert(tx.conn(), &ticket).await?;
        insert_message(tx.conn(), &msg, &atts).await?;
        tx.commit().await?;
        Ok::<_, AppError>(())
    }
    .await;
    if let Err(e) = r {
        remove_files(app, &ids_of(&atts)).await;
        return Err(e);
    }
    get(app, Some(&account.id), &ticket.id).await
}

/// The account's tickets (`account_id`), newest activity first.
pub async fn list_mine(app: &App, account_id: &str) -> Result<Vec<TicketSummary>> {
    let mut c = app.db.conn().await?;
    Ok(store::list(
        &mut c,
        &ListFilter {
            account_id,
            limit: 500,
            ..Default::default()
        },
    )
    .await?
    .into_iter()
    .map(|t| summary(t, false))
    .collect())
}

/// What an operator filters by.
#[derive(Debug, Clone, Default)]
pub struct AdminFilter {
    pub state: Option<String>,
    pub category: Option<String>,
    pub account_id: Option<String>,
    pub assignee: Option<String>,
    pub limit: Option<i64>,
}

pub async fn list_admin(app: &App, f: &AdminFilter) -> Result<Vec<TicketSummary>> {
    if let Some(s) = f.state.as_deref().filter(|s| !s.is_empty())
        && !STATES.contains(&s)
    {
        return Err(AppError::field(
            "state",
            "invalid_state",
            "open, awaiting_customer, awaiting_provider or closed",
        ));
    }
    let mut c = app.db.conn().await?;
    Ok(store::list(
        &mut c,
        &ListFilter {
            account_id: f.account_id.as_deref().unwrap_or(""),
            state: f.state.as_deref().unwrap_or(""),
            category: f.category.as_deref().unwrap_or(""),
            assignee: f.assignee.as_deref().unwrap_or(""),
            limit: f.limit.unwrap_or(100).clamp(1, 500),
        },
    )
    .await?
    .into_iter()
    .map(|t| summary(t, true))
    .collect())
}

async fn load(app: &App, account_id: Option<&str>, id: &str) -> Result<TicketRow> {
    if !ids::is_id(id) {
        return Err(not_found());
    }
    let mut c = app.db.conn().await?;
    store::get(&mut c, id, account_id)
        .await?
        .ok_or_else(not_found)
}

/// A ticket with its thread; `account_id` scopes it to a customer (`None`: operators).
pub async fn get(app: &App, account_id: Option<&str>, id: &str) -> Result<TicketView> {
    let t = load(app, account_id, id).await?;
    let mut c = app.db.conn().await?;
    let msgs = store::messages(&mut c, &t.id).await?;
    let atts = store::attachments(&mut c, &t.id).await?;
    let operator = account_id.is_none();
    let messages = msgs
        .into_iter()
        .map(|m| MessageView {
            attachments: atts
                .iter()
                .filter(|a| a.message_id == m.id)
                .map(|a| AttachmentView {
                    id: a.id.clone(),
                    file_name: a.file_name.clone(),
                    content_type: a.content_type.clone(),
                    size_bytes: a.size_bytes,
                    sha256: a.sha256.clone(),
                })
                .collect(),
            id: m.id,
            author: m.author,
            operator_name: if operator { m.operator_name } else { None },
            body: m.body,
            created_at: rfc3339(m.created_at),
        })
        .collect();
    Ok(TicketView {
        ticket: summary(t, operator),
        messages,
    })
}

/// An attachment's metadata and bytes, for the ticket's owner or an operator (`None`).
pub async fn attachment(
    app: &App,
    account_id: Option<&str>,
    ticket_id: &str,
    attachment_id: &str,
) -> Result<(AttachmentRow, Vec<u8>)> {
    if !ids::is_id(attachment_id) {
        return Err(AppError::not_found("attachment_not_found"));
    }
    let t = load(app, account_id, ticket_id).await?;
    let mut c = app.db.conn().await?;
    let a = store::attachments(&mut c, &t.id)
        .await?
        .into_iter()
        .find(|a| a.id == attachment_id)
        .ok_or_else(|| AppError::not_found("attachment_not_found"))?;
    drop(c);
    let bytes = tokio::fs::read(file_path(app, &a.id)).await.map_err(|e| {
        tracing::error!(error = %e, attachment = %a.id, "ticket attachment file missing");
        AppError::not_found("attachment_not_found")
    })?;
    Ok((a, bytes))
}

fn closed_conflict() -> AppError {
    AppError::conflict("ticket_closed", "this ticket is closed: reopen it first")
}

/// The customer answers: the ticket now waits for the provider.
pub async fn reply(
    app: &App,
    account: &AccountRow,
    id: &str,
    message: &str,
    files: &[Upload],
) -> Result<TicketView> {
    let t = load(app, Some(&account.id), id).await?;
    let body = check_message(message)?;
    let types = check_uploads(files)?;
    if t.state == "closed" {
        return Err(closed_conflict());
    }
    let now = app.now_ms();
    let msg = MessageRow {
        id: ids::new_id(now),
        ticket_id: t.id.clone(),
        author: "customer".into(),
        operator_name: None,
        body,
        created_at: now,
    };
    let atts = store_files(app, &t.id, &msg.id, files, &types, now).await?;
    let r = async {
        let mut tx = app.db.begin().await?;
        // A new ticket stays `open` until the provider has answered once.
        let next = if t.state == "open" {
            "open"
        } else {
            "awaiting_provider"
        };
        if !store::set_state(
            tx.conn(),
            &t.id,
            &["open", "awaiting_customer", "awaiting_provider"],
            next,
            now,
        )
        .await?
        {
            return Err(closed_conflict());
        }
        insert_message(tx.conn(), &msg, &atts).await?;
        tx.commit().await?;
        Ok(())
    }
    .await;
    if let Err(e) = r {
        remove_files(app, &ids_of(&atts)).await;
        return Err(e);
    }
    get(app, Some(&account.id), &t.id).await
}

/// The customer closes the ticket (solved).
pub async fn close(app: &App, account: &AccountRow, id: &str) -> Result<TicketView> {
    let t = load(app, Some(&account.id), id).await?;
    let now = app.now_ms();
    let mut tx = app.db.begin().await?;
    if !store::set_state(
        tx.conn(),
        &t.id,
        &["open", "awaiting_customer", "awaiting_provider"],
        "closed",
        now,
    )
    .await?
    {
        return Err(AppError::conflict(
            "ticket_closed",
            "this ticket is closed already",
        ));
    }
    tx.commit().await?;
    get(app, Some(&account.id), &t.id).await
}

/// The customer reopens a closed ticket: it waits for the provider again.
pub async fn reopen(app: &App, account: &AccountRow, id: &str) -> Result<TicketView> {
    let t = load(app, Some(&account.id), id).await?;
    let now = app.now_ms();
    let mut tx = app.db.begin().await?;
    if !store::set_state(tx.conn(), &t.id, &["closed"], "awaiting_provider", now).await? {
        return Err(AppError::conflict(
            "ticket_not_closed",
            "this ticket is not closed",
        ));
    }
    tx.commit().await?;
    get(app, Some(&account.id), &t.id).await
}

#[derive(Debug, Clone, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OperatorReply {
    /// 1 to 10,000 characters; mailed to the customer.
    pub message: String,
    /// The state after the reply (default `awaiting_customer`).
    pub state: Option<String>,
}

fn parse_state(s: &str) -> Result<&'static str> {
    STATES.iter().copied().find(|x| *x == s).ok_or_else(|| {
        AppError::field(
            "state",
            "invalid_state",
            "open, awaiting_customer, awaiting_provider or closed",
        )
    })
}

async fn owner(c: &mut AnyConnection, t: &TicketRow) -> Result<AccountRow> {
    account_store::by_id(c, &t.account_id)
        .await?
        .ok_or_else(|| AppError::internal("ticket without its account"))
}

/// An operator answers: the customer is mailed (outbox, same transaction); audited.
pub async fn operator_reply(
    app: &App,
    op: &Operator,
    id: &str,
    input: &OperatorReply,
) -> Result<TicketView> {
    op.require_role(&["support"])?;
    let t = load(app, None, id).await?;
    let body = check_message(&input.message)?;
    let state = parse_state(input.state.as_deref().unwrap_or("awaiting_customer"))?;
    let now = app.now_ms();
    let mut tx = app.db.begin().await?;
    let account = owner(tx.conn(), &t).await?;
    if account.state != "active" {
        return Err(AppError::conflict(
            "account_closed",
            "the account of this ticket is closed",
        ));
    }
    store::set_state(tx.conn(), &t.id, &[], state, now).await?;
    store::insert_message(
        tx.conn(),
        &MessageRow {
            id: ids::new_id(now),
            ticket_id: t.id.clone(),
            author: "operator".into(),
            operator_name: Some(op.name.clone()),
            body: body.clone(),
            created_at: now,
        },
    )
    .await?;
    mail::enqueue(
        app,
        tx.conn(),
        &recipient(&account),
        &MailKind::Support(SupportMail::TicketReply {
            subject: t.subject.clone(),
            message: body,
            link: app.config.link(&format!("/tickets/{}", t.id)),
        }),
    )
    .await?;
    operators::audit(
        app,
        tx.conn(),
        op,
        "ticket.replied",
        Some(&t.id),
        Some(format!("state={state}")),
    )
    .await?;
    tx.commit().await?;
    app.outbox_signal.notify_waiters();
    get(app, None, &t.id).await
}

/// An operator sets the state; audited.
pub async fn set_state(app: &App, op: &Operator, id: &str, state: &str) -> Result<TicketView> {
    op.require_role(&["support"])?;
    let t = load(app, None, id).await?;
    let state = parse_state(state)?;
    let mut tx = app.db.begin().await?;
    store::set_state(tx.conn(), &t.id, &[], state, app.now_ms()).await?;
    operators::audit(
        app,
        tx.conn(),
        op,
        "ticket.state",
        Some(&t.id),
        Some(format!("{} -> {state}", t.state)),
    )
    .await?;
    tx.commit().await?;
    get(app, None, &t.id).await
}

/// An operator assigns the ticket to an operator name (or unassigns it); audited.
pub async fn assign(
    app: &App,
    op: &Operator,
    id: &str,
    assignee: Option<&str>,
) -> Result<TicketView> {
    op.require_role(&["support"])?;
    let t = load(app, None, id).await?;
    let assignee = match assignee.map(str::trim).filter(|a| !a.is_empty()) {
        None => None,
        Some(a) => Some(text_field(
            "assignee",
            "invalid_assignee",
            a,
            100,
            "the assignee",
        )?),
    };
    let mut tx = app.db.begin().await?;
    store::assign(tx.conn(), &t.id, assignee.as_deref(), app.now_ms()).await?;
    operators::audit(
        app,
        tx.conn(),
        op,
        "ticket.assigned",
        Some(&t.id),
        assignee.clone(),
    )
    .await?;
    tx.commit().await?;
    get(app, None, &t.id).await
}

/// Close the tickets that waited for the customer longer than `ticket_autoclose_days`, each
/// with a system message and a notice mail in its transaction. Idempotent: a ticket moves
/// from `awaiting_customer` once.
pub async fn auto_close_due(app: &App) -> Result<usize> {
    let days = app.config.ticket_autoclose_days;
    let now = app.now_ms();
    let due = {
        let mut c = app.db.conn().await?;
        store::awaiting_customer_since(&mut c, now - days * 86_400_000, 500).await?
    };
    let mut n = 0;
    for id in due {
        let mut tx = app.db.begin().await?;
        let Some(t) = store::get(tx.conn(), &id, None).await? else {
            continue;
        };
        if !store::set_state(tx.conn(), &id, &["awaiting_customer"], "closed", now).await? {
            continue;
        }
        store::insert_message(
            tx.conn(),
            &MessageRow {
                id: ids::new_id(now),
                ticket_id: id.clone(),
                author: "system".into(),
                operator_name: None,
                body: format!("Closed after {days} days without an answer."),
                created_at: now,
            },
        )
        .await?;
        let account = owner(tx.conn(), &t).await?;
        if account.state == "active" {
            mail::enqueue(
                app,
                tx.conn(),
                &recipient(&account),
                &MailKind::Support(SupportMail::TicketAutoClosed {
                    subject: t.subject.clone(),
                    days,
                    link: app.config.link(&format!("/tickets/{id}")),
                }),
            )
            .await?;
        }
        tx.commit().await?;
        n += 1;
    }
    if n > 0 {
        app.outbox_signal.notify_waiters();
    }
    Ok(n)
}
