//! Legal invoices and credit notes. Numbers come from a per-series, per-year counter bumped in
//! the issuing transaction: the counter row stays locked until commit (PostgreSQL) or the
//! single writer holds it (SQLite), and a rolled-back transaction takes its number back with
//! it, so numbers stay gapless across concurrent payments and nodes. A numbered document is
//! never updated or deleted.

use crate::Result;
use crate::bulk::{self, Val};
use sqlx::{AnyConnection, FromRow};

#[derive(Debug, Clone, FromRow)]
pub struct InvoiceRow {
    pub id: String,
    pub account_id: String,
    /// `invoice` or `credit_note`.
    pub kind: String,
    pub number: String,
    pub series: String,
    pub year: i64,
    pub seq: i64,
    pub order_id: Option<String>,
    pub credited_invoice_id: Option<String>,
    pub issued_at: i64,
    /// `YYYY-MM-DD` (UTC).
    pub issue_date: String,
    pub currency: String,
    pub net_minor: i64,
    pub vat_minor: i64,
    pub total_minor: i64,
    pub tax_treatment: String,
    /// The frozen document (seller, buyer, lines, totals, payment, mentions) as JSON.
    pub document: String,
    pub created_at: i64,
}

const COLUMNS: &str = "id, account_id, kind, number, series, year, seq, order_id, \
    credited_invoice_id, issued_at, issue_date, currency, net_minor, vat_minor, total_minor, \
    tax_treatment, document, created_at";

/// [`COLUMNS`] with an empty document.
const SUMMARY_COLUMNS: &str = "id, account_id, kind, number, series, year, seq, order_id, \
    credited_invoice_id, issued_at, issue_date, currency, net_minor, vat_minor, total_minor, \
    tax_treatment, '' AS document, created_at";

/// The next number of `series` in `year`, taken inside the caller's transaction.
pub async fn next_seq(c: &mut AnyConnection, series: &str, year: i64) -> Result<i64> {
    next_seqs(c, series, year, 1).await
}

/// The last number a series took in `year` (0 before its first); read outside a transaction,
/// only a guess of what [`next_seqs`] will give.
pub async fn last_seq(c: &mut AnyConnection, series: &str, year: i64) -> Result<i64> {
    let last: Option<i64> = sqlx::query_scalar(
        "SELECT last_value FROM invoice_sequences WHERE series = $1 AND year = $2",
    )
    .bind(series)
    .bind(year)
    .fetch_optional(c)
    .await?;
    Ok(last.unwrap_or(0))
}

/// Take the next `n` numbers of a series in the caller's transaction: returns the last one
/// (the numbers are `last - n + 1 ..= last`, gapless since the row stays locked until commit).
pub async fn next_seqs(c: &mut AnyConnection, series: &str, year: i64, n: i64) -> Result<i64> {
    Ok(sqlx::query_scalar(
        "INSERT INTO invoice_sequences (series, year, last_value) VALUES ($1, $2, $3) \
         ON CONFLICT (series, year) DO UPDATE SET last_value = invoice_sequences.last_value + $3 \
         RETURNING last_value",
    )
    .bind(series)
    .bind(year)
    .bind(n)
    .fetch_one(c)
    .await?)
}

const INSERT_COLUMNS: &str = "id, account_id, kind, number, series, year, seq, order_id, \
     credited_invoice_id, issued_at, issue_date, currency, net_minor, vat_minor, total_minor, \
     tax_treatment, document, created_at";

pub async fn insert(c: &mut AnyConnection, r: &InvoiceRow) -> Result<()> {
    insert_many(c, std::slice::from_ref(r)).await
}

pub async fn insert_many(c: &mut AnyConnection, invoices: &[InvoiceRow]) -> Result<()> {
    insert_values(c, invoices.iter().map(values).collect()).await
}

/// An invoice's values in the column order of its insert.
pub fn values(r: &InvoiceRow) -> Vec<Val> {
    vec![
        (&r.id).into(),
        (&r.account_id).into(),
        (&r.kind).into(),
        (&r.number).into(),
        (&r.series).into(),
        r.year.into(),
        r.seq.into(),
        (&r.order_id).into(),
        (&r.credited_invoice_id).into(),
        r.issued_at.into(),
        (&r.issue_date).into(),
        (&r.currency).into(),
        r.net_minor.into(),
        r.vat_minor.into(),
        r.total_minor.into(),
        (&r.tax_treatment).into(),
        (&r.document).into(),
        r.created_at.into(),
    ]
}

/// [`insert_many`] of rows laid out ahead by [`values`].
pub async fn insert_values(c: &mut AnyConnection, rows: Vec<Vec<Val>>) -> Result<()> {
    bulk::insert(c, "invoices", INSERT_COLUMNS, rows, "").await?;
    Ok(())
}

/// One document, scoped to its account (`None` for operators).
pub async fn get(
    c: &mut AnyConnection,
    id: &str,
    account_id: Option<&str>,
) -> Result<Option<InvoiceRow>> {
    let sql =
        format!("SELECT {COLUMNS} FROM invoices WHERE id = $1 AND ($2 = '' OR account_id = $2)");
    Ok(sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(id)
        .bind(account_id.unwrap_or(""))
        .fetch_optional(c)
        .await?)
}

pub async fn of_order(c: &mut AnyConnection, order_id: &str) -> Result<Option<InvoiceRow>> {
    let sql = format!("SELECT {COLUMNS} FROM invoices WHERE order_id = $1");
    Ok(sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(order_id)
        .fetch_optional(c)
        .await?)
}

/// Filters of a document list.
#[derive(Debug, Clone, Default)]
pub struct ListFilter<'a> {
    pub account_id: Option<&'a str>,
    /// `invoice` or `credit_note`.
    pub kind: Option<&'a str>,
    /// Inclusive `YYYY-MM-DD` bounds of the issue date.
    pub from: Option<&'a str>,
    pub to: Option<&'a str>,
    /// Keyset: documents strictly before this `(issued_at, id)`.
    pub before: Option<(i64, &'a str)>,
    pub limit: i64,
    /// Load each frozen document too (exports); lists leave it empty, which keeps a page of
    /// fifty invoices to a few kilobytes in memory.
    pub documents: bool,
}

/// Documents newest first.
pub async fn list(c: &mut AnyConnection, f: &ListFilter<'_>) -> Result<Vec<InvoiceRow>> {
    let columns = if f.documents {
        COLUMNS
    } else {
        SUMMARY_COLUMNS
    };
    // Only the conditions that apply, so that the planner uses
    // `invoices_account_kind_issued` for a customer's page instead of scanning every invoice.
    let mut conds: Vec<String> = Vec::new();
    let mut n = 0;
    let mut next = || {
        n += 1;
        n
    };
    if f.account_id.is_some() {
        conds.push(format!("account_id = ${}", next()));
    }
    if f.kind.is_some() {
        conds.push(format!("kind = ${}", next()));
    }
    if f.from.is_some() {
        conds.push(format!("issue_date >= ${}", next()));
    }
    if f.to.is_some() {
        conds.push(format!("issue_date <= ${}", next()));
    }
    if f.before.is_some() {
        let (a, b) = (next(), next());
        conds.push(format!(
            "(issued_at < ${a} OR (issued_at = ${a} AND id < ${b}))"
        ));
    }
    let limit = next();
    let filter = if conds.is_empty() {
        String::new()
    } else {
        format!("WHERE {}", conds.join(" AND "))
    };
    let sql = format!(
        "SELECT {columns} FROM invoices {filter} ORDER BY issued_at DESC, id DESC LIMIT ${limit}"
    );
    let mut q = sqlx::query_as(sqlx::AssertSqlSafe(sql));
    for v in [f.account_id, f.kind, f.from, f.to].into_iter().flatten() {
        q = q.bind(v);
    }
    if let Some((at, id)) = f.before {
        q = q.bind(at).bind(id);
    }
    Ok(q.bind(f.limit).fetch_all(c).await?)
}

/// The credit notes issued against an invoice.
pub async fn credit_notes_of(c: &mut AnyConnection, invoice_id: &str) -> Result<Vec<InvoiceRow>> {
    let sql = format!("SELECT {COLUMNS} FROM invoices WHERE credited_invoice_id = $1 ORDER BY seq");
    Ok(sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(invoice_id)
        .fetch_all(c)
        .await?)
}

/// Sum of the credit notes already issued against an invoice.
pub async fn credited_total(c: &mut AnyConnection, invoice_id: &str) -> Result<i64> {
    Ok(sqlx::query_scalar(
        "SELECT CAST(COALESCE(SUM(total_minor), 0) AS BIGINT) FROM invoices \
         WHERE credited_invoice_id = $1",
    )
    .bind(invoice_id)
    .fetch_one(c)
    .await?)
}
