//! Invoices and credit notes: the customer's list (date filters, pages), one document, a CSV
//! export; operators read any and issue credit notes.

use crate::AppState;
use crate::error::{ApiResult, ErrorBody};
use crate::extract::{Auth, Json, OperatorAuth};
use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use guichet_app::invoice_pdf;
use guichet_app::invoices::{
    self, CREDIT_NOTE, CreditInput, INVOICE, InvoicePage, InvoiceView, ListQuery,
};
use serde::Deserialize;
use utoipa::IntoParams;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/me/invoices", get(list_invoices))
        .route("/api/v1/me/invoices/export.csv", get(export_csv))
        .route("/api/v1/me/invoices/export.zip", get(export_zip))
        .route("/api/v1/me/invoices/{id}", get(get_invoice))
        .route("/api/v1/me/invoices/{id}/pdf", get(invoice_pdf))
        .route("/api/v1/me/credit-notes", get(list_credit_notes))
        .route("/api/v1/admin/invoices", get(admin_list))
        .route("/api/v1/admin/invoices/{id}", get(admin_get))
        .route("/api/v1/admin/invoices/{id}/pdf", get(admin_pdf))
        .route("/api/v1/admin/invoices/{id}/credit-notes", post(credit))
}

#[derive(Debug, Deserialize, IntoParams)]
pub struct InvoicesQuery {
    /// Issued on or after this date (`YYYY-MM-DD`).
    pub from: Option<String>,
    /// Issued on or before this date (`YYYY-MM-DD`).
    pub to: Option<String>,
    /// The `next_cursor` of the previous page.
    pub before: Option<String>,
    /// 1 to 200 (default 50).
    pub limit: Option<i64>,
}

fn query<'a>(kind: &'a str, q: &'a InvoicesQuery) -> ListQuery<'a> {
    ListQuery {
        kind,
        from: q.from.as_deref(),
        to: q.to.as_deref(),
        before: q.before.as_deref(),
        limit: q.limit,
    }
}

/// The account's invoices, newest first.
#[utoipa::path(get, path = "/api/v1/me/invoices", tag = "invoices", security(("bearer" = [])), params(InvoicesQuery),
    responses((status = 200, body = InvoicePage), (status = 401, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn list_invoices(
    State(s): State<AppState>,
    Auth(p): Auth,
    Query(q): Query<InvoicesQuery>,
) -> ApiResult<Json<InvoicePage>> {
    Ok(Json(
        invoices::list(&s.app, Some(&p.account_id), &query(INVOICE, &q)).await?,
    ))
}

/// The account's credit notes, newest first.
#[utoipa::path(get, path = "/api/v1/me/credit-notes", tag = "invoices", security(("bearer" = [])), params(InvoicesQuery),
    responses((status = 200, body = InvoicePage), (status = 401, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn list_credit_notes(
    State(s): State<AppState>,
    Auth(p): Auth,
    Query(q): Query<InvoicesQuery>,
) -> ApiResult<Json<InvoicePage>> {
    Ok(Json(
        invoices::list(&s.app, Some(&p.account_id), &query(CREDIT_NOTE, &q)).await?,
    ))
}

/// One invoice (or credit note) with everything printed on it.
#[utoipa::path(get, path = "/api/v1/me/invoices/{id}", tag = "invoices", security(("bearer" = [])),
    params(("id" = String, Path)), responses((status = 200, body = InvoiceView), (status = 404, body = ErrorBody)))]
pub async fn get_invoice(
    State(s): State<AppState>,
    Auth(p): Auth,
    Path(id): Path<String>,
) -> ApiResult<Json<InvoiceView>> {
    Ok(Json(invoices::get(&s.app, Some(&p.account_id), &id).await?))
}

#[derive(Debug, Deserialize, IntoParams)]
pub struct ExportQuery {
    pub from: Option<String>,
    pub to: Option<String>,
}

/// Invoices and credit notes issued between two dates, as CSV (for accounting).
#[utoipa::path(get, path = "/api/v1/me/invoices/export.csv", tag = "invoices", security(("bearer" = [])), params(ExportQuery),
    responses((status = 200, description = "CSV", content_type = "text/csv"), (status = 422, body = ErrorBody)))]
pub async fn export_csv(
    State(s): State<AppState>,
    Auth(p): Auth,
    Query(q): Query<ExportQuery>,
) -> ApiResult<Response> {
    let text = invoices::csv(
        &s.app,
        Some(&p.account_id),
        q.from.as_deref(),
        q.to.as_deref(),
    )
    .await?;
    let mut r = (StatusCode::OK, text).into_response();
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/csv; charset=utf-8"),
    );
    r.headers_mut().insert(
        header::CONTENT_DISPOSITION,
        HeaderValue::from_static("attachment; filename=\"invoices.csv\""),
    );
    Ok(r)
}

#[derive(Debug, Deserialize, IntoParams)]
pub struct AdminInvoicesQuery {
    /// `invoice` (default) or `credit_note`.
    pub kind: Option<String>,
    pub from: Option<String>,
    pub to: Option<String>,
    pub before: Option<String>,
    pub limit: Option<i64>,
}

/// Every invoice or credit note, newest first.
#[utoipa::path(get, path = "/api/v1/admin/invoices", tag = "admin", security(("operator" = [])), params(AdminInvoicesQuery),
    responses((status = 200, body = InvoicePage), (status = 401, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn admin_list(
    State(s): State<AppState>,
    OperatorAuth(_op): OperatorAuth,
    Query(q): Query<AdminInvoicesQuery>,
) -> ApiResult<Json<InvoicePage>> {
    let kind = match q.kind.as_deref() {
        None | Some("") | Some("invoice") => INVOICE,
        Some("credit_note") => CREDIT_NOTE,
        Some(_) => {
            return Err(guichet_app::AppError::field(
                "kind",
                "invalid_kind",
                "invoice or credit_note",
            )
            .into());
        }
    };
    let lq = ListQuery {
        kind,
        from: q.from.as_deref(),
        to: q.to.as_deref(),
        before: q.before.as_deref(),
        limit: q.limit,
    };
    Ok(Json(invoices::list(&s.app, None, &lq).await?))
}

/// Any invoice or credit note.
#[utoipa::path(get, path = "/api/v1/admin/invoices/{id}", tag = "admin", security(("operator" = [])),
    params(("id" = String, Path)), responses((status = 200, body = InvoiceView), (status = 404, body = ErrorBody)))]
pub async fn admin_get(
    State(s): State<AppState>,
    OperatorAuth(_op): OperatorAuth,
    Path(id): Path<String>,
) -> ApiResult<Json<InvoiceView>> {
    Ok(Json(invoices::get(&s.app, None, &id).await?))
}

/// Issue a credit note for all or part of an invoice, refunded through the gateway unless
/// `refund` is false (role billing or admin).
#[utoipa::path(post, path = "/api/v1/admin/invoices/{id}/credit-notes", tag = "admin", security(("operator" = [])),
    params(("id" = String, Path)), request_body = CreditInput,
    responses((status = 201, body = InvoiceView), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn credit(
    State(s): State<AppState>,
    OperatorAuth(op): OperatorAuth,
    Path(id): Path<String>,
    Json(b): Json<CreditInput>,
) -> ApiResult<(StatusCode, Json<InvoiceView>)> {
    Ok((
        StatusCode::CREATED,
        Json(invoices::credit(&s.app, &op, &id, &b).await?),
    ))
}

fn download(content_type: &'static str, name: &str, bytes: Vec<u8>) -> Response {
    crate::routes::orders::file_response(content_type, name, bytes)
}

/// The invoice (or credit note) as PDF/A-3b with its Factur-X XML embedded.
#[utoipa::path(get, path = "/api/v1/me/invoices/{id}/pdf", tag = "invoices", security(("bearer" = [])),
    params(("id" = String, Path)),
    responses((status = 200, description = "PDF/A-3b", content_type = "application/pdf"), (status = 404, body = ErrorBody)))]
pub async fn invoice_pdf(
    State(s): State<AppState>,
    Auth(p): Auth,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    let (name, bytes) = invoice_pdf::pdf(&s.app, Some(&p.account_id), &id).await?;
    Ok(download("application/pdf", &name, bytes))
}

/// The PDFs of every invoice and credit note issued between two dates, in one ZIP.
#[utoipa::path(get, path = "/api/v1/me/invoices/export.zip", tag = "invoices", security(("bearer" = [])), params(ExportQuery),
    responses((status = 200, description = "ZIP of PDFs", content_type = "application/zip"), (status = 422, body = ErrorBody)))]
pub async fn export_zip(
    State(s): State<AppState>,
    Auth(p): Auth,
    Query(q): Query<ExportQuery>,
) -> ApiResult<Response> {
    let bytes = invoice_pdf::zip(&s.app, &p.account_id, q.from.as_deref(), q.to.as_deref()).await?;
    Ok(download("application/zip", "invoices.zip", bytes))
}

/// Any invoice or credit note as PDF (closed accounts' included).
#[utoipa::path(get, path = "/api/v1/admin/invoices/{id}/pdf", tag = "admin", security(("operator" = [])),
    params(("id" = String, Path)),
    responses((status = 200, description = "PDF/A-3b", content_type = "application/pdf"), (status = 404, body = ErrorBody)))]
pub async fn admin_pdf(
    State(s): State<AppState>,
    OperatorAuth(_op): OperatorAuth,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    let (name, bytes) = invoice_pdf::pdf(&s.app, None, &id).await?;
    Ok(download("application/pdf", &name, bytes))
}
