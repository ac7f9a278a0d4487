//! Legal invoices and credit notes: an invoice is issued in the same transaction as the
//! payment that settles an order, with a gapless number, and with the seller, the buyer, the
//! lines, the totals per VAT rate, the payment and the legal mentions frozen into it. It is
//! never changed afterwards; corrections are numbered credit notes.

use crate::accounts::{language_of, recipient};
use crate::clock::rfc3339;
use crate::mail::{self, MailKind, OrderMail};
use crate::operators::{self, Operator};
use crate::orders::format_money;
use crate::{App, AppError, Result, ids};
use guichet_domain::{Currency, Language, tax::Treatment};
use guichet_store::AnyConnection;
use guichet_store::accounts::AccountRow;
use guichet_store::invoices::{self, InvoiceRow, ListFilter};
use guichet_store::orders::{self as order_store, LineRow, OrderRow};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use utoipa::ToSchema;

pub const INVOICE: &str = "invoice";
pub const CREDIT_NOTE: &str = "credit_note";

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct LegalId {
    pub label: String,
    pub value: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct PartyDoc {
    pub name: String,
    pub organisation: Option<String>,
    pub address_lines: Vec<String>,
    pub postal_code: Option<String>,
    pub city: Option<String>,
    pub country: String,
    pub vat_number: Option<String>,
    pub legal_ids: Vec<LegalId>,
    pub email: Option<String>,
    /// The buyer's customer code (buyers only).
    pub customer_code: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct LineDoc {
    pub description: String,
    /// Service period covered, `YYYY-MM-DD`.
    pub period_start: Option<String>,
    pub period_end: Option<String>,
    pub quantity: i64,
    pub unit_price_minor: i64,
    pub vat_rate_bp: i64,
    pub net_minor: i64,
    pub vat_minor: i64,
    pub total_minor: i64,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct RateTotalDoc {
    pub rate_bp: i64,
    pub net_minor: i64,
    pub vat_minor: i64,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct PaymentDoc {
    /// `YYYY-MM-DD`.
    pub date: String,
    pub method: String,
    pub amount_minor: i64,
}

/// Everything printed on the document, frozen at issue.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct InvoiceDocument {
    /// `invoice` or `credit_note`.
    pub kind: String,
    pub number: String,
    pub issue_date: String,
    pub currency: String,
    /// `fr` or `en`: the language of the labels.
    pub language: String,
    pub seller: PartyDoc,
    pub buyer: PartyDoc,
    pub lines: Vec<LineDoc>,
    pub totals_per_rate: Vec<RateTotalDoc>,
    pub net_total_minor: i64,
    pub vat_total_minor: i64,
    pub grand_total_minor: i64,
    pub tax_treatment: String,
    pub tax_country: Option<String>,
    pub payment: Option<PaymentDoc>,
    /// The part of the total paid with the account's credit balance, if any (`payment` is
    /// then the rest, charged to the payment method).
    #[serde(default)]
    pub credit_payment: Option<PaymentDoc>,
    pub mentions: Vec<String>,
    pub order_number: Option<String>,
    /// For a credit note: the invoice it corrects, and why.
    pub credited_invoice_number: Option<String>,
    pub reason: Option<String>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct InvoiceSummary {
    pub id: String,
    /// `invoice` or `credit_note`.
    pub kind: String,
    pub number: String,
    pub issue_date: String,
    pub currency: String,
    pub net_minor: i64,
    pub vat_minor: i64,
    pub total_minor: i64,
    pub order_id: Option<String>,
    pub credited_invoice_id: Option<String>,
    pub issued_at: String,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct InvoiceView {
    #[serde(flatten)]
    pub summary: InvoiceSummary,
    pub document: InvoiceDocument,
    /// A credit note's refund through the gateway, if any.
    pub refund: Option<RefundView>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct RefundView {
    /// `pending`, `succeeded` or `failed`.
    pub state: String,
    pub amount_minor: i64,
    pub failure_code: Option<String>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct InvoicePage {
    pub items: Vec<InvoiceSummary>,
    /// Pass as `before` for the next page; absent on the last page.
    pub next_cursor: Option<String>,
}

fn summary(r: &InvoiceRow) -> InvoiceSummary {
    InvoiceSummary {
        id: r.id.clone(),
        kind: r.kind.clone(),
        number: r.number.clone(),
        issue_date: r.issue_date.clone(),
        currency: r.currency.clone(),
        net_minor: r.net_minor,
        vat_minor: r.vat_minor,
        total_minor: r.total_minor,
        order_id: r.order_id.clone(),
        credited_invoice_id: r.credited_invoice_id.clone(),
        issued_at: rfc3339(r.issued_at),
    }
}

pub(crate) fn document_of(r: &InvoiceRow) -> Result<InvoiceDocument> {
    serde_json::from_str(&r.document).map_err(|e| {
        tracing::error!(invoice = %r.id, error = %e, "stored invoice document unreadable");
        AppError::internal("invoice document unreadable")
    })
}

fn seller(app: &App) -> PartyDoc {
    let s = &app.config.seller;
    PartyDoc {
        name: s.name.clone(),
        organisation: None,
        address_lines: s.address_lines.clone(),
        postal_code: s.postal_code.clone(),
        city: s.city.clone(),
        country: s.country.clone(),
        vat_number: s.vat_number.clone(),
        legal_ids: s
            .legal_ids
            .iter()
            .map(|(label, value)| LegalId {
                label: label.clone(),
                value: value.clone(),
            })
            .collect(),
        email: s.email.clone(),
        customer_code: None,
    }
}

fn buyer(a: &AccountRow) -> PartyDoc {
    PartyDoc {
        name: format!("{} {}", a.first_name, a.last_name),
        organisation: a.organisation.clone(),
        address_lines: [a.address_line1.clone(), a.address_line2.clone()]
            .into_iter()
            .flatten()
            .filter(|l| !l.trim().is_empty())
            .collect(),
        postal_code: a.postal_code.clone(),
        city: a.city.clone(),
        country: a.country.clone(),
        vat_number: a.vat_number.clone(),
        legal_ids: Vec::new(),
        email: Some(a.email.clone()),
        customer_code: Some(a.customer_code.clone()),
    }
}

fn treatment_of(code: &str) -> Option<Treatment> {
    [
        Treatment::Domestic,
        Treatment::Oss,
        Treatment::ReverseCharge,
        Treatment::OutsideScope,
        Treatment::Exempt,
    ]
    .into_iter()
    .find(|t| t.as_str() == code)
}

/// The legal mentions of an invoice, in its language.
fn mentions(treatment: &str, lang: Language, b2b: bool) -> Vec<String> {
    let mut m = Vec::new();
    if let Some(t) = treatment_of(treatment) {
        match (t, lang) {
            (Treatment::ReverseCharge, Language::Fr) => m.push(
                "Autoliquidation — TVA due par le preneur (article 196 de la directive \
                 2006/112/CE)."
                    .to_owned(),
            ),
            (Treatment::OutsideScope, Language::Fr) => m.push(
                "TVA non applicable — prestation hors de l'Union européenne (article 59 de la \
                 directive 2006/112/CE)."
                    .to_owned(),
            ),
            (Treatment::Exempt, Language::Fr) => {
                m.push("Exonération de TVA.".to_owned());
            }
            (t, Language::En) => {
                if let Some(x) = t.legal_mention() {
                    m.push(format!("{x}."));
                } else if t == Treatment::Exempt {
                    m.push("VAT exempt.".to_owned());
                }
            }
            _ => {}
        }
    }
    if b2b {
        m.push(match lang {
            Language::Fr => "Pas d'escompte pour paiement anticipé. En cas de retard de paiement, \
                             pénalités au taux de trois fois le taux d'intérêt légal et \
                             indemnité forfaitaire pour frais de recouvrement de 40 €."
                .to_owned(),
            Language::En => "No discount for early payment. Late payment: penalties at three \
                             times the legal interest rate and a fixed recovery fee of €40."
                .to_owned(),
        });
    }
    m
}

fn series_prefix(app: &App, kind: &str) -> String {
    if kind == CREDIT_NOTE {
        format!("{}AV", app.config.invoice_prefix)
    } else {
        app.config.invoice_prefix.clone()
    }
}

/// Take the next number of a series in the caller's transaction.
async fn number(app: &App, c: &mut AnyConnection, kind: &str, year: i64) -> Result<(i64, String)> {
    let seq = invoices::next_seq(c, kind, year).await?;
    Ok((seq, format!("{}{year}-{seq:06}", series_prefix(app, kind))))
}

/// Issue the invoice of a paid order, in the payment's transaction. Once per order.
pub(crate) async fn issue_for_order(
    app: &App,
    c: &mut AnyConnection,
    order: &OrderRow,
    account: &AccountRow,
    method: &str,
) -> Result<Option<InvoiceRow>> {
    if invoices::of_order(c, &order.id).await?.is_some() {
        return Ok(None);
    }
    let lines = order_store::lines(c, &order.id).await?;
    let year = i64::from(today_of(app)?.year());
    let seq = invoices::next_seq(c, INVOICE, year).await?;
    let credit = crate::credit::applied_to_order(c, &order.id).await?;
    let (row, mail) = order_invoice(app, order, &lines, account, method, credit, seq)?;
    invoices::insert(c, &row).await?;
    mail::enqueue(app, c, &recipient(account), &mail).await?;
    Ok(Some(row))
}

fn today_of(app: &App) -> Result<jiff::civil::Date> {
    crate::clock::utc_date(app.now_ms()).ok_or_else(|| AppError::internal("clock"))
}

/// The invoice of a paid order under number `seq` of this year's series (`credit` of it paid
/// from the account's credit, the rest by `method`), and its mail; not yet written (the
/// billing run writes many at once).
pub(crate) fn order_invoice(
    app: &App,
    order: &OrderRow,
    lines: &[LineRow],
    account: &AccountRow,
    method: &str,
    credit: i64,
    seq: i64,
) -> Result<(InvoiceRow, MailKind)> {
    let now = app.now_ms();
    let today = today_of(app)?;
    let lang = language_of(account);
    let mut per_rate: BTreeMap<i64, (i64, i64)> = BTreeMap::new();
    let mut docs = Vec::with_capacity(lines.len());
    for l in lines {
        let e = per_rate.entry(l.vat_rate_bp).or_insert((0, 0));
        e.0 += l.net_minor;
        e.1 += l.vat_minor;
        // A renewal line says which period it pays for; a new service counts from today.
        let start = l.period_start.clone().unwrap_or_else(|| today.to_string());
        let end = l.period_end.clone().or_else(|| {
            guichet_domain::BillingPeriod::parse(&l.period)
                .and_then(|p| guichet_domain::period::expiration_after(today, p, 1))
                .map(|d| d.to_string())
        });
        let discount = crate::vouchers::is_discount(l);
        let what = match &l.domain {
            _ if discount => l.plan_name.clone(),
            Some(d) => format!("{} — {} ({d})", l.product_name, l.plan_name),
            None => format!("{} — {}", l.product_name, l.plan_name),
        };
        docs.push(LineDoc {
            description: if l.setup_fee_minor > 0 {
                match lang {
                    Language::Fr => format!("{what}, frais d'installation inclus"),
                    Language::En => format!("{what}, set-up fee included"),
                }
            } else {
                what
            },
            period_start: (!discount).then_some(start),
            period_end: end.filter(|_| !discount),
            quantity: l.quantity,
            unit_price_minor: l.unit_price_minor + l.setup_fee_minor,
            vat_rate_bp: l.vat_rate_bp,
            net_minor: l.net_minor,
            vat_minor: l.vat_minor,
            total_minor: l.total_minor,
        });
    }
    let year = i64::from(today.year());
    let number = format!("{}{year}-{seq:06}", series_prefix(app, INVOICE));
    let doc = InvoiceDocument {
        kind: INVOICE.into(),
        number: number.clone(),
        issue_date: today.to_string(),
        currency: order.currency.clone(),
        language: lang.as_str().into(),
        seller: seller(app),
        buyer: buyer(account),
        lines: docs,
        totals_per_rate: per_rate
            .into_iter()
            .map(|(rate_bp, (net_minor, vat_minor))| RateTotalDoc {
                rate_bp,
                net_minor,
                vat_minor,
            })
            .collect(),
        net_total_minor: order.net_minor,
        vat_total_minor: order.vat_minor,
        grand_total_minor: order.total_minor,
        tax_treatment: order.tax_treatment.clone(),
        tax_country: order.tax_country.clone(),
        payment: (order.total_minor == 0 || credit < order.total_minor).then(|| PaymentDoc {
            date: today.to_string(),
            method: method.to_owned(),
            amount_minor: order.total_minor - credit,
        }),
        credit_payment: (credit > 0).then(|| PaymentDoc {
            date: today.to_string(),
            method: crate::credit::label(lang).to_owned(),
            amount_minor: credit,
        }),
        mentions: mentions(&order.tax_treatment, lang, account.kind == "company"),
        order_number: Some(order.number.clone()),
        credited_invoice_number: None,
        reason: None,
    };
    let row = InvoiceRow {
        id: ids::new_id(now),
        account_id: account.id.clone(),
        kind: INVOICE.into(),
        number: number.clone(),
        series: INVOICE.into(),
        year,
        seq,
        order_id: Some(order.id.clone()),
        credited_invoice_id: None,
        issued_at: now,
        issue_date: today.to_string(),
        currency: order.currency.clone(),
        net_minor: order.net_minor,
        vat_minor: order.vat_minor,
        total_minor: order.total_minor,
        tax_treatment: order.tax_treatment.clone(),
        document: serde_json::to_string(&doc)
            .map_err(|_| AppError::internal("invoice document"))?,
        created_at: now,
    };
    let mail = MailKind::Order(OrderMail::InvoiceIssued {
        number,
        total: format_money(order.total_minor, &order.currency),
        link: app.config.link(&format!("/invoices/{}", row.id)),
    });
    Ok((row, mail))
}

pub(crate) fn date_param(field: &str, v: Option<&str>) -> Result<Option<String>> {
    match v.map(str::trim).filter(|s| !s.is_empty()) {
        None => Ok(None),
        Some(s) => s
            .parse::<jiff::civil::Date>()
            .map(|d| Some(d.to_string()))
            .map_err(|_| AppError::field(field, "invalid_date", "a date YYYY-MM-DD is expected")),
    }
}

/// Query of a document list.
#[derive(Debug, Clone, Default)]
pub struct ListQuery<'a> {
    pub kind: &'a str,
    pub from: Option<&'a str>,
    pub to: Option<&'a str>,
    pub before: Option<&'a str>,
    pub limit: Option<i64>,
}

/// Documents of one account (or all, for operators), newest first, by pages.
pub async fn list(app: &App, account_id: Option<&str>, q: &ListQuery<'_>) -> Result<InvoicePage> {
    let from = date_param("from", q.from)?;
    let to = date_param("to", q.to)?;
    let limit = q.limit.unwrap_or(50).clamp(1, 200);
    let before = match q.before.filter(|s| !s.is_empty()) {
        None => None,
        Some(c) => {
            let bad = || AppError::field("before", "invalid_cursor", "use next_cursor as given");
            let (at, id) = c.split_once('_').ok_or_else(bad)?;
            Some((at.parse::<i64>().map_err(|_| bad())?, id.to_owned()))
        }
    };
    let mut c = app.db.conn().await?;
    let rows = invoices::list(
        &mut c,
        &ListFilter {
            account_id,
            kind: Some(q.kind),
            from: from.as_deref(),
            to: to.as_deref(),
            before: before.as_ref().map(|(a, i)| (*a, i.as_str())),
            limit: limit + 1,
            documents: false,
        },
    )
    .await?;
    let more = rows.len() as i64 > limit;
    let items: Vec<InvoiceSummary> = rows.iter().take(limit as usize).map(summary).collect();
    let next_cursor = if more {
        rows.get(limit as usize - 1)
            .map(|r| format!("{}_{}", r.issued_at, r.id))
    } else {
        None
    };
    Ok(InvoicePage { items, next_cursor })
}

async fn load_in(c: &mut AnyConnection, account_id: Option<&str>, id: &str) -> Result<InvoiceRow> {
    if !ids::is_id(id) {
        return Err(AppError::not_found("invoice_not_found"));
    }
    invoices::get(c, id, account_id)
        .await?
        .ok_or_else(|| AppError::not_found("invoice_not_found"))
}

async fn load(app: &App, account_id: Option<&str>, id: &str) -> Result<InvoiceRow> {
    let mut c = app.db.conn().await?;
    load_in(&mut c, account_id, id).await
}

/// One document with everything printed on it.
pub async fn get(app: &App, account_id: Option<&str>, id: &str) -> Result<InvoiceView> {
    let mut c = app.db.conn().await?;
    let r = load_in(&mut c, account_id, id).await?;
    let refund = guichet_store::refunds::of_credit_note(&mut c, &r.id).await?;
    drop(c);
    Ok(InvoiceView {
        document: document_of(&r)?,
        summary: summary(&r),
        refund: refund.map(|f| RefundView {
            state: f.state,
            amount_minor: f.amount_minor,
            failure_code: f.failure_code,
        }),
    })
}

/// The frozen document of one invoice or credit note (for the PDF).
pub async fn document(app: &App, account_id: Option<&str>, id: &str) -> Result<InvoiceDocument> {
    document_of(&load(app, account_id, id).await?)
}

fn decimal(minor: i64, currency: &str) -> String {
    match Currency::parse(currency) {
        Some(c) => guichet_domain::Money::new(minor, c).decimal(),
        None => minor.to_string(),
    }
}

fn csv_field(s: &str) -> String {
    // Quote always; a leading formula character is neutralised for spreadsheets.
    let s = if s.starts_with(['=', '+', '-', '@']) {
        format!("'{s}")
    } else {
        s.to_owned()
    };
    format!("\"{}\"", s.replace('"', "\"\""))
}

/// Invoices and credit notes of an account issued between two dates, as CSV.
pub async fn csv(
    app: &App,
    account_id: Option<&str>,
    from: Option<&str>,
    to: Option<&str>,
) -> Result<String> {
    let from = date_param("from", from)?;
    let to = date_param("to", to)?;
    let mut c = app.db.conn().await?;
    let mut out = String::from(
        "number,kind,issue_date,currency,net,vat,total,tax_treatment,order_number,credited_invoice\r\n",
    );
    let mut before: Option<(i64, String)> = None;
    loop {
        let rows = invoices::list(
            &mut c,
            &ListFilter {
                account_id,
                kind: None,
                from: from.as_deref(),
                to: to.as_deref(),
                before: before.as_ref().map(|(a, i)| (*a, i.as_str())),
                limit: 500,
                documents: true,
            },
        )
        .await?;
        let Some(last) = rows.last() else { break };
        before = Some((last.issued_at, last.id.clone()));
        for r in &rows {
            let d = document_of(r)?;
            let fields = [
                r.number.clone(),
                r.kind.clone(),
                r.issue_date.clone(),
                r.currency.clone(),
                decimal(r.net_minor, &r.currency),
                decimal(r.vat_minor, &r.currency),
                decimal(r.total_minor, &r.currency),
                r.tax_treatment.clone(),
                d.order_number.unwrap_or_default(),
                d.credited_invoice_number.unwrap_or_default(),
            ];
            let line: Vec<String> = fields.iter().map(|f| csv_field(f)).collect();
            out.push_str(&line.join(","));
            out.push_str("\r\n");
        }
        if rows.len() < 500 {
            break;
        }
    }
    Ok(out)
}

/// What an operator asks for when crediting an invoice.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreditInput {
    /// Printed on the credit note.
    pub reason: String,
    /// Amount to credit, VAT included, in minor units; default: all that is not credited yet.
    pub amount_minor: Option<i64>,
    /// Refund the amount through the gateway that took the payment (default true). The part
    /// of it the account's credit paid goes back to the credit balance.
    pub refund: Option<bool>,
    /// Credit the amount to the account's credit balance instead of refunding it.
    pub to_balance: Option<bool>,
}

/// An operator issues a credit note for all or part of an invoice (audited); with a refund,
/// the gateway gives the money back (once, even if retried).
pub async fn credit(
    app: &App,
    op: &Operator,
    invoice_id: &str,
    input: &CreditInput,
) -> Result<InvoiceView> {
    op.require_role(&["billing"])?;
    let reason = input.reason.trim();
    if reason.is_empty() || reason.chars().count() > 500 {
        return Err(AppError::field(
            "reason",
            "reason_required",
            "1 to 500 characters",
        ));
    }
    let original = load(app, None, invoice_id).await?;
    if original.kind != INVOICE {
        return Err(AppError::conflict(
            "not_an_invoice",
            "only an invoice can be credited",
        ));
    }
    let doc = document_of(&original)?;
    let now = app.now_ms();
    let today = crate::clock::utc_date(now).ok_or_else(|| AppError::internal("clock"))?;
    let year = i64::from(today.year());
    let lang = if doc.language == "en" {
        Language::En
    } else {
        Language::Fr
    };
    let mut tx = app.db.begin().await?;
    // The series counter is taken first: it serialises credit notes, so two cannot both
    // spend what is left of an invoice.
    let (seq, number) = number(app, tx.conn(), CREDIT_NOTE, year).await?;
    let remaining =
        original.total_minor - invoices::credited_total(tx.conn(), &original.id).await?;
    if remaining <= 0 {
        return Err(AppError::conflict(
            "already_credited",
            "this invoice is credited in full already",
        ));
    }
    let amount = input.amount_minor.unwrap_or(remaining);
    if amount <= 0 || amount > remaining {
        return Err(AppError::field(
            "amount_minor",
            "invalid_credit_amount",
            format!("between 1 and {remaining} (what is not credited yet)"),
        ));
    }
    let account = guichet_store::accounts::by_id(tx.conn(), &original.account_id)
        .await?
        .ok_or_else(|| AppError::internal("invoice without account"))?;
    let full = amount == original.total_minor;
    let (lines, per_rate) = if full {
        (doc.lines.clone(), doc.totals_per_rate.clone())
    } else {
        // What is left to credit at each rate: the invoice's, less earlier credit notes'.
        let mut left: BTreeMap<i64, (i64, i64)> = doc
            .totals_per_rate
            .iter()
            .map(|r| (r.rate_bp, (r.net_minor, r.vat_minor)))
            .collect();
        for cn in invoices::credit_notes_of(tx.conn(), &original.id).await? {
            for r in document_of(&cn)?.totals_per_rate {
                let e = left.entry(r.rate_bp).or_insert((0, 0));
                e.0 -= r.net_minor;
                e.1 -= r.vat_minor;
            }
        }
        let rates: Vec<(u32, i64, i64)> = left
            .into_iter()
            .map(|(rate, (net, vat))| (u32::try_from(rate).unwrap_or(0), net.max(0), vat.max(0)))
            .collect();
        let parts = guichet_domain::pricing::split_credit(amount, &rates).ok_or_else(|| {
            AppError::field(
                "amount_minor",
                "invalid_credit_amount",
                "more than the invoice",
            )
        })?;
        let label = match lang {
            Language::Fr => format!("Avoir partiel sur la facture {}", original.number),
            Language::En => format!("Partial credit on invoice {}", original.number),
        };
        let parts: Vec<(u32, i64, i64)> = parts.into_iter().filter(|p| p.1 + p.2 > 0).collect();
        (
            parts
                .iter()
                .map(|&(rate, net, vat)| LineDoc {
                    description: label.clone(),
                    period_start: None,
                    period_end: None,
                    quantity: 1,
                    unit_price_minor: net,
                    vat_rate_bp: i64::from(rate),
                    net_minor: net,
                    vat_minor: vat,
                    total_minor: net + vat,
                })
                .collect(),
            parts
                .iter()
                .map(|&(rate, net, vat)| RateTotalDoc {
                    rate_bp: i64::from(rate),
                    net_minor: net,
                    vat_minor: vat,
                })
                .collect::<Vec<_>>(),
        )
    };
    let net: i64 = per_rate.iter().map(|r| r.net_minor).sum();
    let vat: i64 = per_rate.iter().map(|r| r.vat_minor).sum();
    let credit = InvoiceDocument {
        kind: CREDIT_NOTE.into(),
        number: number.clone(),
        issue_date: today.to_string(),
        payment: None,
        credit_payment: None,
        credited_invoice_number: Some(original.number.clone()),
        reason: Some(reason.to_owned()),
        lines,
        totals_per_rate: per_rate,
        net_total_minor: net,
        vat_total_minor: vat,
        grand_total_minor: amount,
        ..doc
    };
    let row = InvoiceRow {
        id: ids::new_id(now),
        account_id: original.account_id.clone(),
        kind: CREDIT_NOTE.into(),
        number: number.clone(),
        series: CREDIT_NOTE.into(),
        year,
        seq,
        order_id: None,
        credited_invoice_id: Some(original.id.clone()),
        issued_at: now,
        issue_date: today.to_string(),
        currency: original.currency.clone(),
        net_minor: net,
        vat_minor: vat,
        total_minor: amount,
        tax_treatment: original.tax_treatment.clone(),
        document: serde_json::to_string(&credit)
            .map_err(|_| AppError::internal("credit note document"))?,
        created_at: now,
    };
    invoices::insert(tx.conn(), &row).await?;
    let to_balance = input.to_balance.unwrap_or(false);
    let refund = if input.refund.unwrap_or(true) && !to_balance {
        crate::refunds::plan(app, tx.conn(), &original, &row).await?
    } else {
        None
    };
    // What the gateway does not give back goes to the balance: all of it when asked, else
    // the part the account's credit had paid.
    let back_to_balance = if to_balance {
        amount
    } else if input.refund.unwrap_or(true) {
        let credit_paid = match &original.order_id {
            Some(o) => crate::credit::applied_to_order(tx.conn(), o).await?,
            None => 0,
        };
        // Less what earlier credit notes of the invoice already put back.
        let returned = guichet_store::credit::returned_for_invoice(tx.conn(), &original.id).await?;
        (amount - refund.as_ref().map_or(0, |r| r.amount_minor))
            .min(credit_paid - returned)
            .max(0)
    } else {
        0
    };
    if back_to_balance > 0 {
        crate::credit::add_in(
            app,
            tx.conn(),
            &original.account_id,
            &row.currency,
            back_to_balance,
            guichet_domain::credit::MovementKind::CreditNote,
            crate::credit::Refs {
                reason: Some(format!("{}: {reason}", row.number)),
                invoice_id: Some(row.id.clone()),
                operator_id: Some(op.key_id.clone()),
                ..Default::default()
            },
        )
        .await?;
    }
    mail::enqueue(
        app,
        tx.conn(),
        &recipient(&account),
        &MailKind::Order(OrderMail::CreditNoteIssued {
            number,
            invoice: original.number.clone(),
            total: format_money(row.total_minor, &row.currency),
            link: app.config.link(&format!("/invoices/{}", row.id)),
        }),
    )
    .await?;
    operators::audit(
        app,
        tx.conn(),
        op,
        "invoice.credited",
        Some(&original.id),
        Some(format!("{amount} {}: {reason}", row.currency)),
    )
    .await?;
    tx.commit().await?;
    app.outbox_signal.notify_waiters();
    if let Some(r) = refund {
        crate::refunds::send(app, &r).await?;
    }
    get(app, None, &row.id).await
}
