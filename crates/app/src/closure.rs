//! Account closure with the right to erasure ("Fermeture de compte", "Droit d'effacement"):
//! the blockers that prevent it (each active or suspended service, each unpaid order, each
//! order in progress, credit left on the account), the request (re-authenticated, confirmed by a mailed single-use token),
//! and the erasure itself, in one transaction: personal data erased or pseudonymised, sessions
//! and tokens revoked, payment methods deleted, mails, texts, tickets and events stripped,
//! invoices and credit notes kept with their frozen data, and an erasure record (no personal
//! data) kept for audit. One last mail goes to the address; the sender erases it once sent.

use crate::accounts::{self, RequestCtx, recipient};
use crate::auth::Principal;
use crate::clock::rfc3339;
use crate::mail::{self, MailKind, SupportMail};
use crate::{App, AppError, Result, ids};
use guichet_store::AnyConnection;
use guichet_store::erasure::{self, ErasureRow};
use guichet_store::{orders as order_store, services as service_store, tickets as ticket_store};
use serde::Serialize;
use utoipa::ToSchema;

/// The purpose of the mailed confirmation token.
const PURPOSE: &str = "account_closure";
/// How long the confirmation token is valid.
pub const TOKEN_HOURS: i64 = 24;
/// Closed accounts get `closed-<id>@erased.invalid` as their primary address (`.invalid` is
/// reserved: nothing is ever delivered there).
pub const PSEUDONYM_DOMAIN: &str = "erased.invalid";

/// One thing that prevents the closure.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Blocker {
    /// `service_active`, `service_suspended`, `service_in_creation`, `order_unpaid`,
    /// `order_in_progress` or `credit_balance` (credit left on the account: ask for its refund
    /// in a billing ticket, so that closing never loses the customer's money).
    pub code: String,
    /// `service`, `order` or `credit`.
    pub kind: String,
    /// The service or order id, or the credit's currency.
    pub id: String,
    /// What it is: the service's name, the order's number, or the credit left.
    pub item: String,
    /// Where to deal with it in the panel.
    pub link: String,
    /// The same item in the API.
    pub api: String,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ClosureStatus {
    /// True when nothing blocks the closure.
    pub possible: bool,
    pub blockers: Vec<Blocker>,
}

async fn blockers_in(app: &App, c: &mut AnyConnection, account_id: &str) -> Result<Vec<Blocker>> {
    let mut out = Vec::new();
    for s in service_store::list_for_account(c, account_id).await? {
        let code = match s.state.as_str() {
            "active" => "service_active",
            "suspended" => "service_suspended",
            "in_creation" => "service_in_creation",
            _ => continue,
        };
        out.push(Blocker {
            code: code.into(),
            kind: "service".into(),
            link: app.config.link(&format!("/services/{}", s.id)),
            api: format!("/api/v1/me/services/{}", s.id),
            item: s.display_name,
            id: s.id,
        });
    }
    for o in order_store::list(c, Some(account_id), None, 10_000).await? {
        let code = match o.status.as_str() {
            "not_paid" => "order_unpaid",
            "checking" | "delivering" | "documents_requested" => "order_in_progress",
            _ => continue,
        };
        out.push(Blocker {
            code: code.into(),
            kind: "order".into(),
            link: app.config.link(&format!("/orders/{}", o.id)),
            api: format!("/api/v1/me/orders/{}", o.id),
            item: o.number,
            id: o.id,
        });
    }
    for b in guichet_store::credit::balances(c, account_id).await? {
        if b.balance_minor <= 0 {
            continue;
        }
        out.push(Blocker {
            code: "credit_balance".into(),
            kind: "credit".into(),
            link: app.config.link("/tickets"),
            api: "/api/v1/me/credit".into(),
            item: crate::orders::format_money(b.balance_minor, &b.currency),
            id: b.currency,
        });
    }
    Ok(out)
}

/// `GET /me/closure`: what prevents closing the account.
pub async fn status(app: &App, account_id: &str) -> Result<ClosureStatus> {
    let mut c = app.db.conn().await?;
    let blockers = blockers_in(app, &mut c, account_id).await?;
    Ok(ClosureStatus {
        possible: blockers.is_empty(),
        blockers,
    })
}

fn blocked(b: &[Blocker]) -> AppError {
    let codes: Vec<String> = b.iter().map(|x| format!("{} {}", x.code, x.item)).collect();
    AppError::conflict(
        "closure_blocked",
        format!(
            "the account cannot be closed yet: {} (see GET /api/v1/me/closure)",
            codes.join(", ")
        ),
    )
}

/// `POST /me/closure`: re-authenticated; mails a single-use confirmation token.
pub async fn request(app: &App, p: &Principal) -> Result<()> {
    crate::factors::require_recent_auth(app, p).await?;
    let account = accounts::load(app, &p.account_id).await?;
    let mut tx = app.db.begin().await?;
    let b = blockers_in(app, tx.conn(), &account.id).await?;
    if !b.is_empty() {
        return Err(blocked(&b));
    }
    let token = accounts::issue_action_token(
        app,
        tx.conn(),
        &account.id,
        PURPOSE,
        None,
        TOKEN_HOURS * 3_600_000,
    )
    .await?;
    mail::enqueue(
        app,
        tx.conn(),
        &recipient(&account),
        &MailKind::Support(SupportMail::ClosureToken {
            link: app.config.link(&format!("/closure/confirm?token={token}")),
            token,
            hours: TOKEN_HOURS,
        }),
    )
    .await?;
    accounts::security_event(
        app,
        tx.conn(),
        &account.id,
        "closure_requested",
        &RequestCtx::default(),
        None,
    )
    .await?;
    tx.commit().await?;
    app.outbox_signal.notify_waiters();
    Ok(())
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ClosedView {
    /// `closed`.
    pub state: String,
    pub closed_at: String,
    /// The erasure record kept for audit.
    pub erasure_id: String,
}

/// `POST /me/closure/confirm`: with the mailed token, erase the account's personal data.
pub async fn confirm(
    app: &App,
    p: &Principal,
    token: &str,
    _ctx: &RequestCtx,
) -> Result<ClosedView> {
    let now = app.now_ms();
    let mut tx = app.db.begin().await?;
    let t = accounts::take_token(app, tx.conn(), &[PURPOSE], token).await?;
    if t.account_id != p.account_id {
        return Err(AppError::bad_request(
            "invalid_token",
            "this link or code is not valid",
        ));
    }
    let account = guichet_store::accounts::by_id(tx.conn(), &p.account_id)
        .await?
        .filter(|a| a.state == "active")
        .ok_or_else(|| AppError::unauthorized("unauthenticated", "sign in first"))?;
    // Checked again inside the transaction: something may have been ordered since.
    let b = blockers_in(app, tx.conn(), &account.id).await?;
    if !b.is_empty() {
        return Err(blocked(&b));
    }
    let c = tx.conn();
    let ips = erasure::known_ips(c, &account.id).await?;
    let document_ids = erasure::delete_order_documents(c, &account.id).await?;
    let attachment_ids = ticket_store::attachment_ids_of_account(c, &account.id).await?;

    // The last mail, to the address about to be erased: written first, so that it is kept
    // while the others are erased, and erased by the sender once delivered. Without SMTP it
    // will never be sent, so it is erased at once with the rest.
    let last = mail::enqueue(
        app,
        c,
        &recipient(&account),
        &MailKind::Support(SupportMail::AccountClosed),
    )
    .await?;
    let keep = if app.config.smtp_url.is_some() {
        erasure::erase_mail_after_send(c, &last.id).await?;
        last.id.as_str()
    } else {
        ""
    };
    let mut addresses = vec![account.email.as_str()];
    if let Some(b) = account.backup_email.as_deref() {
        addresses.push(b);
    }
    let mails = erasure::erase_mails(c, &account.id, &addresses, keep).await?;
    let pseudonym = format!("closed-{}@{PSEUDONYM_DOMAIN}", account.id);
    if !erasure::pseudonymise_account(c, &account.id, &pseudonym, now).await? {
        return Err(AppError::conflict(
            "account_closed",
            "this account is closed already",
        ));
    }
    let (sessions, api_tokens) = erasure::end_sessions_and_tokens(c, &account.id, now).await?;
    let secrets = erasure::delete_secrets(c, &account.id).await?;
    let payment_methods = erasure::delete_payment_methods(c, &account.id).await?;
    let sms = erasure::delete_sms(c, &account.id, account.phone.as_deref().unwrap_or("")).await?;
    let events = erasure::strip_security_events(c, &account.id).await?;
    let idempotency = erasure::delete_idempotency(c, &account.id).await?;
    let services = erasure::strip_services(c, &account.id).await?;
    let tickets = ticket_store::anonymise_account(c, &account.id, erasure::ERASED).await?;
    let mut rate_limits = 0;
    let mut needles: Vec<&str> = vec![account.id.as_str()];
    needles.extend(addresses.iter().copied());
    needles.extend(ips.iter().map(String::as_str));
    for n in needles.iter().filter(|n| !n.is_empty()) {
        rate_limits += erasure::delete_rate_limits_naming(c, n).await?;
    }
    // The closure itself, without address or browser (those are what is being erased).
    accounts::security_event(
        app,
        c,
        &account.id,
        "account_closed",
        &RequestCtx::default(),
        None,
    )
    .await?;
    let summary = serde_json::json!({
        "profile": "pseudonymised",
        "mails_erased": mails,
        "sessions_revoked": sessions,
        "api_tokens_revoked": api_tokens,
        "secrets_deleted": secrets,
        "payment_methods_deleted": payment_methods,
        "gateway_tokens": "payment method rows deleted (the gateway seam has no detach call)",
        "sms_deleted": sms,
        "security_events_stripped": events,
        "idempotency_keys_deleted": idempotency,
        "rate_limit_keys_deleted": rate_limits,
        "services_stripped": services,
        "tickets_anonymised": tickets,
        "ticket_attachments_deleted": attachment_ids.len(),
        "order_documents_deleted": document_ids.len(),
        "last_mail_erased_once_sent": !keep.is_empty(),
        "kept": ["invoices", "credit_notes", "orders", "payments", "refunds"],
    });
    let record = ErasureRow {
        id: ids::new_id(now),
        account_id: account.id.clone(),
        customer_code: account.customer_code.clone(),
        requested_at: t.created_at,
        erased_at: now,
        summary: summary.to_string(),
    };
    erasure::insert(c, &record).await?;
    tx.commit().await?;
    // Files go once the rows are gone (a crash here leaves orphan files, never dangling rows).
    for id in &document_ids {
        let _ = tokio::fs::remove_file(crate::documents::path_of(app, id)).await;
    }
    crate::tickets::remove_files(app, &attachment_ids).await;
    app.outbox_signal.notify_waiters();
    Ok(ClosedView {
        state: "closed".into(),
        closed_at: rfc3339(now),
        erasure_id: record.id,
    })
}

/// An erasure record, as operators see it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ClosureRecordView {
    pub id: String,
    pub account_id: String,
    pub customer_code: String,
    pub requested_at: String,
    pub erased_at: String,
    /// What was erased, pseudonymised or kept (counts only).
    pub summary: serde_json::Value,
}

/// `GET /admin/closures`: the erasure records, newest first.
pub async fn list(
    app: &App,
    op: &crate::operators::Operator,
    limit: i64,
) -> Result<Vec<ClosureRecordView>> {
    op.require_role(&["support", "billing"])?;
    let mut c = app.db.conn().await?;
    Ok(erasure::list(&mut c, limit.clamp(1, 500))
        .await?
        .into_iter()
        .map(|e| ClosureRecordView {
            summary: serde_json::from_str(&e.summary).unwrap_or(serde_json::Value::Null),
            id: e.id,
            account_id: e.account_id,
            customer_code: e.customer_code,
            requested_at: rfc3339(e.requested_at),
            erased_at: rfc3339(e.erased_at),
        })
        .collect())
}
