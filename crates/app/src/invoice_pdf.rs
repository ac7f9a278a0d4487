//! Invoice and credit note PDFs (PDF/A-3b with the Factur-X XML embedded), rendered from the
//! frozen document on each download, and a ZIP of the PDFs of a date range.

use crate::invoices::{self, InvoiceDocument};
use crate::zip::ZipWriter;
use crate::{App, AppError, Result};
use guichet_domain::Currency;

/// Most documents in one ZIP.
pub const ZIP_MAX: usize = 1000;

fn party(p: &invoices::PartyDoc) -> guichet_pdf::Party {
    guichet_pdf::Party {
        name: p.name.clone(),
        organisation: p.organisation.clone(),
        address_lines: p.address_lines.clone(),
        postal_code: p.postal_code.clone(),
        city: p.city.clone(),
        country: p.country.clone(),
        vat_number: p.vat_number.clone(),
        legal_ids: p
            .legal_ids
            .iter()
            .map(|l| (l.label.clone(), l.value.clone()))
            .collect(),
        email: p.email.clone(),
    }
}

fn bp(v: i64) -> u32 {
    u32::try_from(v).unwrap_or(0)
}

pub fn to_pdf_model(d: &InvoiceDocument) -> guichet_pdf::Invoice {
    guichet_pdf::Invoice {
        kind: match &d.credited_invoice_number {
            Some(n) if d.kind == invoices::CREDIT_NOTE => guichet_pdf::DocumentKind::CreditNote {
                original_number: n.clone(),
            },
            _ => guichet_pdf::DocumentKind::Invoice,
        },
        number: d.number.clone(),
        issue_date: d.issue_date.clone(),
        currency: d.currency.clone(),
        currency_exponent: Currency::parse(&d.currency).map_or(2, Currency::exponent),
        language: d.language.clone(),
        seller: party(&d.seller),
        buyer: party(&d.buyer),
        lines: d
            .lines
            .iter()
            .map(|l| guichet_pdf::Line {
                description: l.description.clone(),
                period: l.period_start.clone().zip(l.period_end.clone()),
                quantity: l.quantity,
                unit_price_minor: l.unit_price_minor,
                vat_rate_bp: bp(l.vat_rate_bp),
                net_minor: l.net_minor,
                vat_minor: l.vat_minor,
            })
            .collect(),
        totals_per_rate: d
            .totals_per_rate
            .iter()
            .map(|r| guichet_pdf::RateTotal {
                rate_bp: bp(r.rate_bp),
                net_minor: r.net_minor,
                vat_minor: r.vat_minor,
            })
            .collect(),
        net_total_minor: d.net_total_minor,
        vat_total_minor: d.vat_total_minor,
        grand_total_minor: d.grand_total_minor,
        tax_treatment: d.tax_treatment.clone(),
        // The account credit is a payment too: one status line names both means.
        payment: match (&d.payment, &d.credit_payment) {
            (Some(p), Some(c)) => Some(guichet_pdf::Payment {
                date: p.date.clone(),
                method: format!(
                    "{} + {} {}",
                    p.method,
                    c.method,
                    crate::orders::format_money(c.amount_minor, &d.currency)
                ),
                amount_minor: p.amount_minor + c.amount_minor,
            }),
            (Some(p), None) | (None, Some(p)) => Some(guichet_pdf::Payment {
                date: p.date.clone(),
                method: p.method.clone(),
                amount_minor: p.amount_minor,
            }),
            (None, None) => None,
        },
        mentions: {
            let mut m = d.mentions.clone();
            if let Some(r) = &d.reason {
                m.insert(0, r.clone());
            }
            m
        },
    }
}

/// Render on the calling thread (benchmarks; servers use [`render`]).
pub fn render_blocking(d: &InvoiceDocument) -> std::result::Result<Vec<u8>, String> {
    guichet_pdf::render(&to_pdf_model(d)).map_err(|e| e.to_string())
}

/// Render off the async threads (PDF generation is CPU work).
pub async fn render(d: InvoiceDocument) -> Result<Vec<u8>> {
    let number = d.number.clone();
    tokio::task::spawn_blocking(move || guichet_pdf::render(&to_pdf_model(&d)))
        .await
        .map_err(|_| AppError::internal("PDF task failed"))?
        .map_err(|e| {
            tracing::error!(invoice = %number, error = %e, "PDF rendering failed");
            AppError::internal("PDF rendering failed")
        })
}

/// One document's PDF, with its file name.
pub async fn pdf(app: &App, account_id: Option<&str>, id: &str) -> Result<(String, Vec<u8>)> {
    let d = invoices::document(app, account_id, id).await?;
    let name = format!("{}.pdf", d.number);
    Ok((name, render(d).await?))
}

/// The PDFs of every invoice and credit note of the account issued in a date range.
pub async fn zip(
    app: &App,
    account_id: &str,
    from: Option<&str>,
    to: Option<&str>,
) -> Result<Vec<u8>> {
    let from = invoices::date_param("from", from)?;
    let to = invoices::date_param("to", to)?;
    let mut docs = Vec::new();
    {
        let mut c = app.db.conn().await?;
        let mut before: Option<(i64, String)> = None;
        loop {
            let rows = guichet_store::invoices::list(
                &mut c,
                &guichet_store::invoices::ListFilter {
                    account_id: Some(account_id),
                    kind: None,
                    from: from.as_deref(),
                    to: to.as_deref(),
                    before: before.as_ref().map(|(a, i)| (*a, i.as_str())),
                    limit: 200,
                    documents: true,
                },
            )
            .await?;
            let Some(last) = rows.last() else { break };
            before = Some((last.issued_at, last.id.clone()));
            for r in &rows {
                docs.push(invoices::document_of(r)?);
            }
            if docs.len() > ZIP_MAX {
                return Err(AppError::field(
                    "from",
                    "too_many_documents",
                    "more than 1000 documents: choose a shorter date range",
                ));
            }
            if rows.len() < 200 {
                break;
            }
        }
    }
    let today = crate::clock::utc_date(app.now_ms()).unwrap_or(jiff::civil::Date::MIN);
    let mut z = ZipWriter::new(today);
    for d in docs {
        let name = format!("{}.pdf", d.number);
        let bytes = render(d).await?;
        z.add(&name, &bytes)
            .map_err(|e| AppError::field("from", "archive_too_large", e))?;
    }
    z.finish()
        .map_err(|e| AppError::field("from", "archive_too_large", e))
}
