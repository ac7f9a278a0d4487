//! Documents customers send when an order asks for them: checked for size and type (by their
//! content, not their name), stored as files under the data directory (never in database rows),
//! and served back only to the account that sent them and to operators.

use crate::accounts::language_of;
use crate::orders::{self, OrderView, record_event};
use crate::{App, AppError, Result, ids};
use guichet_domain::Language;
use guichet_domain::order::OrderStatus;
use guichet_store::accounts::AccountRow;
use guichet_store::orders::{self as order_store, DocumentRow};
use sha2::{Digest, Sha256};
use std::path::PathBuf;

/// Largest document accepted.
pub const MAX_BYTES: usize = 5 * 1024 * 1024;

/// The accepted types, recognised by their first bytes.
pub fn sniff(bytes: &[u8]) -> Option<&'static str> {
    if bytes.starts_with(b"%PDF-") {
        Some("application/pdf")
    } else if bytes.starts_with(b"\x89PNG\r\n\x1a\n") {
        Some("image/png")
    } else if bytes.starts_with(&[0xFF, 0xD8, 0xFF]) {
        Some("image/jpeg")
    } else {
        None
    }
}

fn dir(app: &App) -> PathBuf {
    app.config.data_dir.join("documents")
}

pub(crate) fn path_of(app: &App, id: &str) -> PathBuf {
    dir(app).join(id)
}

pub(crate) fn clean_name(name: &str) -> String {
    let base = name.rsplit(['/', '\\']).next().unwrap_or("");
    let cleaned: String = base.chars().filter(|c| !c.is_control()).take(120).collect();
    if cleaned.trim().is_empty() {
        "document".to_owned()
    } else {
        cleaned
    }
}

/// The customer answers a documents request with a message and a file.
pub async fn submit(
    app: &App,
    account: &AccountRow,
    order_id: &str,
    message: &str,
    file_name: &str,
    bytes: &[u8],
) -> Result<OrderView> {
    if !ids::is_id(order_id) {
        return Err(AppError::not_found("order_not_found"));
    }
    let message = message.trim();
    if message.chars().count() > 2000 {
        return Err(AppError::field(
            "message",
            "invalid_message",
            "at most 2000 characters",
        ));
    }
    if bytes.is_empty() {
        return Err(AppError::field(
            "file",
            "file_required",
            "attach a document",
        ));
    }
    if bytes.len() > MAX_BYTES {
        return Err(AppError::new(
            crate::ErrorKind::PayloadTooLarge,
            "file_too_large",
            "documents are limited to 5 MiB",
        ));
    }
    let content_type = sniff(bytes).ok_or_else(|| {
        AppError::new(
            crate::ErrorKind::UnsupportedMediaType,
            "unsupported_file_type",
            "send a PDF, PNG or JPEG file",
        )
    })?;
    {
        let mut c = app.db.conn().await?;
        let o = order_store::get(&mut c, order_id, Some(&account.id))
            .await?
            .ok_or_else(|| AppError::not_found("order_not_found"))?;
        if o.status != OrderStatus::DocumentsRequested.as_str() {
            return Err(AppError::conflict(
                "documents_not_requested",
                "this order is not waiting for documents",
            ));
        }
    }
    let now = app.now_ms();
    let id = ids::new_id(now);
    // The file first, under a temporary name then renamed, so a row never points to a
    // missing or partial file; a file left by a failed transaction is removed below.
    let path = path_of(app, &id);
    write_file(&path, bytes).await.map_err(|e| {
        tracing::error!(error = %e, "cannot store a document");
        AppError::new(
            crate::ErrorKind::Unavailable,
            "storage_unavailable",
            "the document could not be stored; try again later",
        )
    })?;
    let result = record(
        app,
        account,
        order_id,
        &id,
        message,
        file_name,
        content_type,
        bytes,
        now,
    )
    .await;
    if result.is_err() {
        let _ = tokio::fs::remove_file(&path).await;
    }
    result?;
    app.outbox_signal.notify_waiters();
    orders::get(app, Some(&account.id), order_id).await
}

pub(crate) async fn write_file(path: &std::path::Path, bytes: &[u8]) -> std::io::Result<()> {
    if let Some(parent) = path.parent() {
        tokio::fs::create_dir_all(parent).await?;
    }
    let tmp = path.with_extension("part");
    tokio::fs::write(&tmp, bytes).await?;
    tokio::fs::rename(&tmp, path).await
}

#[allow(clippy::too_many_arguments)]
async fn record(
    app: &App,
    account: &AccountRow,
    order_id: &str,
    id: &str,
    message: &str,
    file_name: &str,
    content_type: &str,
    bytes: &[u8],
    now: i64,
) -> Result<()> {
    let mut tx = app.db.begin().await?;
    if !order_store::transition(
        tx.conn(),
        order_id,
        OrderStatus::DocumentsRequested.as_str(),
        OrderStatus::Checking.as_str(),
        now,
    )
    .await?
    {
        return Err(AppError::conflict(
            "documents_not_requested",
            "this order is not waiting for documents",
        ));
    }
    order_store::insert_document(
        tx.conn(),
        &DocumentRow {
            id: id.to_owned(),
            order_id: order_id.to_owned(),
            account_id: account.id.clone(),
            file_name: clean_name(file_name),
            content_type: content_type.to_owned(),
            size_bytes: i64::try_from(bytes.len()).unwrap_or(i64::MAX),
            sha256: hex::encode(Sha256::digest(bytes)),
            message: message.to_owned(),
            created_at: now,
        },
    )
    .await?;
    let text = match language_of(account) {
        Language::Fr => "Vos documents ont été reçus ; nous les examinons.",
        Language::En => "Your documents were received; we are reviewing them.",
    };
    record_event(
        app,
        tx.conn(),
        order_id,
        "documents_received",
        text.to_owned(),
        "customer",
        None,
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// A document's metadata and bytes: for its owner (`account_id`) or an operator (`None`).
pub async fn read(
    app: &App,
    account_id: Option<&str>,
    order_id: &str,
    document_id: &str,
) -> Result<(DocumentRow, Vec<u8>)> {
    if !ids::is_id(order_id) || !ids::is_id(document_id) {
        return Err(AppError::not_found("document_not_found"));
    }
    let mut c = app.db.conn().await?;
    let doc = order_store::documents(&mut c, order_id)
        .await?
        .into_iter()
        .find(|d| d.id == document_id && account_id.is_none_or(|a| a == d.account_id))
        .ok_or_else(|| AppError::not_found("document_not_found"))?;
    drop(c);
    let bytes = tokio::fs::read(path_of(app, &doc.id)).await.map_err(|e| {
        tracing::error!(error = %e, document = %doc.id, "document file missing");
        AppError::not_found("document_not_found")
    })?;
    Ok((doc, bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn types_are_recognised_by_content() {
        assert_eq!(sniff(b"%PDF-1.7\n"), Some("application/pdf"));
        assert_eq!(sniff(b"\x89PNG\r\n\x1a\n...."), Some("image/png"));
        assert_eq!(sniff(&[0xFF, 0xD8, 0xFF, 0xE0]), Some("image/jpeg"));
        assert_eq!(sniff(b"MZ\x90\x00"), None);
        assert_eq!(sniff(b"<html>"), None);
    }

    #[test]
    fn names_lose_their_path() {
        assert_eq!(clean_name("../../etc/passwd"), "passwd");
        assert_eq!(clean_name("C:\\x\\id.pdf"), "id.pdf");
        assert_eq!(clean_name(""), "document");
    }
}
