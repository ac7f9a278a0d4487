//! Guichet's legal documents as files: an invoice or a credit note becomes one PDF/A-3b that
//! people read and machines parse, with its Factur-X (EN 16931) CII XML embedded as
//! `factur-x.xml` and announced in the XMP metadata, as French e-invoicing expects.
//!
//! The input is plain data that the billing code has already computed: amounts are integer
//! minor units and are trusted per line; [`render`] still refuses a document whose totals do
//! not add up, because the XML would then break the EN 16931 business rules. Rendering is a
//! pure function of the [`Invoice`]: no clock, no file system, no network (the fonts are
//! compiled in), so the same invoice always gives the same bytes.
//!
//! Credit notes: EN 16931 wants positive amounts with type code 381. A credit note given with
//! negative totals (the way a ledger stores it) is turned positive, in the XML and on paper.

mod format;
mod labels;
mod layout;
mod pdf;
mod text;
mod validate;
mod xml;
mod xmp;

pub use xml::factur_x_xml;

/// A seller or a buyer.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Party {
    /// Person or company name.
    pub name: String,
    pub organisation: Option<String>,
    pub address_lines: Vec<String>,
    pub postal_code: Option<String>,
    pub city: Option<String>,
    /// ISO 3166-1 alpha-2.
    pub country: String,
    pub vat_number: Option<String>,
    /// e.g. `("SIREN", "123456789")`, `("RCS", "Lyon B 123 456 789")`; seller only usually.
    pub legal_ids: Vec<(String, String)>,
    pub email: Option<String>,
}

/// One invoice line, already priced.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Line {
    /// e.g. "VPS S — vps-1.example.net".
    pub description: String,
    /// Service period start and end dates, `YYYY-MM-DD`.
    pub period: Option<(String, String)>,
    pub quantity: i64,
    /// Net, per unit, minor units.
    pub unit_price_minor: i64,
    /// Basis points: 2000 = 20 %, 550 = 5.5 %.
    pub vat_rate_bp: u32,
    /// Line net (already computed, trusted).
    pub net_minor: i64,
    pub vat_minor: i64,
}

/// Net and VAT of all the lines at one rate.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RateTotal {
    pub rate_bp: u32,
    pub net_minor: i64,
    pub vat_minor: i64,
}

/// How (and when) the document was settled.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Payment {
    /// `YYYY-MM-DD`.
    pub date: String,
    /// As shown to people, e.g. "Visa •••• 4242".
    pub method: String,
    pub amount_minor: i64,
}

/// An invoice, or a credit note that cancels (part of) an earlier invoice.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DocumentKind {
    Invoice,
    CreditNote { original_number: String },
}

/// Everything printed on the document and written into its XML.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invoice {
    pub kind: DocumentKind,
    /// e.g. "GC2026-000123".
    pub number: String,
    /// `YYYY-MM-DD`.
    pub issue_date: String,
    /// ISO 4217.
    pub currency: String,
    /// 2 for EUR, 0 for JPY, 3 for TND…
    pub currency_exponent: u32,
    /// `"fr"` or `"en"`: the language of the PDF's labels.
    pub language: String,
    pub seller: Party,
    pub buyer: Party,
    pub lines: Vec<Line>,
    pub totals_per_rate: Vec<RateTotal>,
    pub net_total_minor: i64,
    pub vat_total_minor: i64,
    pub grand_total_minor: i64,
    /// `"domestic"`, `"oss"`, `"reverse_charge"`, `"outside_scope"` or `"exempt"`.
    pub tax_treatment: String,
    /// A paid document shows the payment date and method, and an amount due of 0.
    pub payment: Option<Payment>,
    /// Legal mentions printed at the bottom (e.g. the reverse-charge mention).
    pub mentions: Vec<String>,
}

/// Why a document could not be rendered.
#[derive(Debug, thiserror::Error)]
pub enum PdfError {
    /// The invoice is not one we may issue (bad date, unknown treatment, totals that do not
    /// add up…); the message names the field.
    #[error("invalid invoice: {0}")]
    Invalid(String),
    /// A compiled-in font could not be read (a broken build, not bad input).
    #[error("embedded font unusable: {0}")]
    Font(&'static str),
    /// The PDF library refused the document (for example a PDF/A rule).
    #[error("PDF generation failed: {0}")]
    Pdf(String),
    /// The generated PDF did not have the structure the Factur-X metadata step expects.
    #[error("could not add the Factur-X XMP metadata: {0}")]
    Metadata(&'static str),
}

/// Renders the document as PDF/A-3b with `factur-x.xml` embedded (AFRelationship Data) and
/// the Factur-X XMP properties (fx: DocumentType INVOICE, DocumentFileName factur-x.xml,
/// Version 1.0, ConformanceLevel EN 16931).
pub fn render(inv: &Invoice) -> Result<Vec<u8>, PdfError> {
    validate::check(inv)?;
    let inv = normalized(inv);
    let xml = xml::build(&inv);
    let fonts = text::Fonts::load()?;
    let pages = layout::layout(&inv, &fonts);
    let bytes = pdf::write(&inv, &fonts, &pages, xml.into_bytes())?;
    xmp::add_factur_x(&bytes)
}

/// The document's language; English unless it says French.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Lang {
    Fr,
    En,
}

impl Lang {
    pub(crate) fn of(inv: &Invoice) -> Lang {
        match inv.language.as_str() {
            "fr" => Lang::Fr,
            _ => Lang::En,
        }
    }
}

/// The EN 16931 VAT category of the document's lines (UNTDID 5305).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Category {
    /// Standard rated (any rate above 0).
    S,
    /// Zero rated (a domestic 0 % line; not expected from Guichet's tax rules).
    Z,
    /// Reverse charge: the buyer accounts for the VAT.
    Ae,
    /// Export outside the EU.
    G,
    /// Exempt.
    E,
}

impl Category {
    pub(crate) fn of(tax_treatment: &str, rate_bp: u32) -> Category {
        match tax_treatment {
            "reverse_charge" => Category::Ae,
            "outside_scope" => Category::G,
            "exempt" => Category::E,
            _ if rate_bp > 0 => Category::S,
            _ => Category::Z,
        }
    }

    pub(crate) fn code(self) -> &'static str {
        match self {
            Category::S => "S",
            Category::Z => "Z",
            Category::Ae => "AE",
            Category::G => "G",
            Category::E => "E",
        }
    }

    /// The VATEX code of the exemption, where the category needs one.
    pub(crate) fn exemption_code(self) -> Option<&'static str> {
        match self {
            Category::Ae => Some("VATEX-EU-AE"),
            Category::G => Some("VATEX-EU-G"),
            Category::S | Category::Z | Category::E => None,
        }
    }

    /// The exemption reason in words, where the category needs one.
    pub(crate) fn exemption_text(self, lang: Lang) -> Option<&'static str> {
        let l = labels::labels(lang);
        match self {
            Category::Ae => Some(l.reverse_charge),
            Category::G => Some(l.export_outside_eu),
            Category::E => Some(l.exempt),
            Category::S | Category::Z => None,
        }
    }
}

/// The invoice with the signs EN 16931 wants: a credit note given with a negative total is
/// negated as a whole (lines, rate totals, totals, payment), so it reads positive.
pub(crate) fn normalized(inv: &Invoice) -> Invoice {
    let mut out = inv.clone();
    if matches!(inv.kind, DocumentKind::CreditNote { .. }) && inv.grand_total_minor < 0 {
        let neg = |v: &mut i64| *v = v.saturating_neg();
        for l in &mut out.lines {
            // Net = quantity × price: flip whichever of the two carries the minus sign.
            if l.unit_price_minor < 0 {
                neg(&mut l.unit_price_minor);
            } else {
                neg(&mut l.quantity);
            }
            neg(&mut l.net_minor);
            neg(&mut l.vat_minor);
        }
        for r in &mut out.totals_per_rate {
            neg(&mut r.net_minor);
            neg(&mut r.vat_minor);
        }
        neg(&mut out.net_total_minor);
        neg(&mut out.vat_total_minor);
        neg(&mut out.grand_total_minor);
        if let Some(p) = &mut out.payment {
            neg(&mut p.amount_minor);
        }
    }
    out
}

/// The amount still to be paid (or refunded, for a credit note).
pub(crate) fn amount_due(inv: &Invoice) -> i64 {
    let paid = inv.payment.as_ref().map_or(0, |p| p.amount_minor);
    inv.grand_total_minor.saturating_sub(paid)
}

#[cfg(test)]
mod tests;
