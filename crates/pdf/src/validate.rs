//! The checks made before a document is issued: a legal invoice with an impossible date or
//! totals that do not add up must fail loudly here rather than leave as a broken e-invoice
//! (EN 16931 rules BR-CO-10, -13, -14, -15, BR-S-08 and the zero-rate categories).

use std::collections::BTreeMap;

use crate::format::Date;
use crate::{Category, DocumentKind, Invoice, Party, PdfError, normalized};

fn invalid(msg: impl Into<String>) -> PdfError {
    PdfError::Invalid(msg.into())
}

fn date(field: &str, s: &str) -> Result<Date, PdfError> {
    Date::parse(s).ok_or_else(|| invalid(format!("{field}: {s:?} is not a YYYY-MM-DD date")))
}

fn text(field: &str, s: &str) -> Result<(), PdfError> {
    if s.trim().is_empty() {
        return Err(invalid(format!("{field} is empty")));
    }
    Ok(())
}

fn party(role: &str, p: &Party) -> Result<(), PdfError> {
    if p.name.trim().is_empty()
        && p.organisation
            .as_deref()
            .is_none_or(|o| o.trim().is_empty())
    {
        return Err(invalid(format!("{role}: no name and no organisation")));
    }
    let c = p.country.as_bytes();
    if c.len() != 2 || !c.iter().all(u8::is_ascii_uppercase) {
        return Err(invalid(format!(
            "{role}.country: {:?} is not an ISO 3166-1 alpha-2 code",
            p.country
        )));
    }
    Ok(())
}

fn sum(field: &str, values: impl Iterator<Item = i64>) -> Result<i64, PdfError> {
    let mut total: i64 = 0;
    for v in values {
        total = total
            .checked_add(v)
            .ok_or_else(|| invalid(format!("{field} overflows")))?;
    }
    Ok(total)
}

/// Everything [`crate::render`] needs to hold before it writes a byte.
pub(crate) fn check(raw: &Invoice) -> Result<(), PdfError> {
    let inv = normalized(raw);
    text("number", &inv.number)?;
    if inv.number.chars().any(char::is_control) {
        return Err(invalid("number contains control characters"));
    }
    date("issue_date", &inv.issue_date)?;
    let cur = inv.currency.as_bytes();
    if cur.len() != 3 || !cur.iter().all(u8::is_ascii_uppercase) {
        return Err(invalid(format!(
            "currency: {:?} is not an ISO 4217 code",
            inv.currency
        )));
    }
    if inv.currency_exponent > 4 {
        return Err(invalid(format!(
            "currency_exponent {} (ISO 4217 goes up to 4)",
            inv.currency_exponent
        )));
    }
    if !matches!(inv.language.as_str(), "fr" | "en") {
        return Err(invalid(format!(
            "language: {:?} (\"fr\" or \"en\")",
            inv.language
        )));
    }
    if !matches!(
        inv.tax_treatment.as_str(),
        "domestic" | "oss" | "reverse_charge" | "outside_scope" | "exempt"
    ) {
        return Err(invalid(format!(
            "tax_treatment: unknown {:?}",
            inv.tax_treatment
        )));
    }
    if let DocumentKind::CreditNote { original_number } = &inv.kind {
        text("original_number", original_number)?;
    }
    party("seller", &inv.seller)?;
    party("buyer", &inv.buyer)?;
    if inv.lines.is_empty() {
        return Err(invalid("no lines (EN 16931 wants at least one)"));
    }

    for (i, l) in inv.lines.iter().enumerate() {
        let n = i + 1;
        text(&format!("line {n} description"), &l.description)?;
        if let Some((start, end)) = &l.period {
            let s = date(&format!("line {n} period start"), start)?;
            let e = date(&format!("line {n} period end"), end)?;
            if (s.year, s.month, s.day) > (e.year, e.month, e.day) {
                return Err(invalid(format!("line {n}: period ends before it starts")));
            }
        }
        if l.vat_rate_bp > 10_000 {
            return Err(invalid(format!(
                "line {n}: VAT rate {} bp is over 100 %",
                l.vat_rate_bp
            )));
        }
        let cat = Category::of(&inv.tax_treatment, l.vat_rate_bp);
        if !matches!(cat, Category::S) && (l.vat_rate_bp != 0 || l.vat_minor != 0) {
            return Err(invalid(format!(
                "line {n}: {} carries no VAT, but the line has a rate or VAT amount",
                inv.tax_treatment
            )));
        }
    }

    // Rates: one total per rate, each the sum of its lines (BR-S-08 and friends).
    let mut by_rate: BTreeMap<u32, i64> = BTreeMap::new();
    for l in &inv.lines {
        let e = by_rate.entry(l.vat_rate_bp).or_insert(0);
        *e = e
            .checked_add(l.net_minor)
            .ok_or_else(|| invalid("line nets overflow"))?;
    }
    let mut seen = BTreeMap::new();
    for r in &inv.totals_per_rate {
        if seen.insert(r.rate_bp, ()).is_some() {
            return Err(invalid(format!(
                "totals_per_rate: rate {} twice",
                r.rate_bp
            )));
        }
        match by_rate.get(&r.rate_bp) {
            Some(net) if *net == r.net_minor => {}
            Some(net) => {
                return Err(invalid(format!(
                    "totals_per_rate: rate {} has net {} but its lines add up to {net}",
                    r.rate_bp, r.net_minor
                )));
            }
            None => {
                return Err(invalid(format!(
                    "totals_per_rate: rate {} has no line",
                    r.rate_bp
                )));
            }
        }
        if Category::of(&inv.tax_treatment, r.rate_bp) != Category::S && r.vat_minor != 0 {
            return Err(invalid(format!(
                "totals_per_rate: rate {} carries VAT under {}",
                r.rate_bp, inv.tax_treatment
            )));
        }
    }
    if let Some(rate) = by_rate.keys().find(|r| !seen.contains_key(r)) {
        return Err(invalid(format!(
            "totals_per_rate: no total for the lines at rate {rate}"
        )));
    }

    let lines_net = sum("line nets", inv.lines.iter().map(|l| l.net_minor))?;
    if lines_net != inv.net_total_minor {
        return Err(invalid(format!(
            "net_total_minor {} but the lines add up to {lines_net}",
            inv.net_total_minor
        )));
    }
    let rates_vat = sum("VAT", inv.totals_per_rate.iter().map(|r| r.vat_minor))?;
    if rates_vat != inv.vat_total_minor {
        return Err(invalid(format!(
            "vat_total_minor {} but totals_per_rate add up to {rates_vat}",
            inv.vat_total_minor
        )));
    }
    let grand = inv
        .net_total_minor
        .checked_add(inv.vat_total_minor)
        .ok_or_else(|| invalid("grand total overflows"))?;
    if grand != inv.grand_total_minor {
        return Err(invalid(format!(
            "grand_total_minor {} is not net {} + VAT {}",
            inv.grand_total_minor, inv.net_total_minor, inv.vat_total_minor
        )));
    }
    if inv.grand_total_minor < 0 {
        return Err(invalid(
            "the total is negative: issue a credit note for the original invoice instead",
        ));
    }

    if let Some(p) = &inv.payment {
        date("payment.date", &p.date)?;
        text("payment.method", &p.method)?;
        if p.amount_minor < 0 || p.amount_minor > inv.grand_total_minor {
            return Err(invalid(format!(
                "payment of {} for a total of {}",
                p.amount_minor, inv.grand_total_minor
            )));
        }
    }
    Ok(())
}
