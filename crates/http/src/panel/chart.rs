//! The 12-month spending chart, drawn as inline SVG on the server (no script): one bar per
//! month of invoices less credit notes in the account's currency, each bar titled with its
//! amount for screen readers and tooltips.

use super::i18n::{Tr, month_name};
use guichet_app::invoices::InvoiceSummary;
use std::fmt::Write;

/// Net spending (invoiced minus credited, minor units) of each of the 12 months ending with
/// `today`'s, oldest first, as `(year, month, minor)`.
pub fn monthly(
    today: jiff::civil::Date,
    invoices: &[InvoiceSummary],
    credit_notes: &[InvoiceSummary],
    currency: &str,
) -> Vec<(i16, i8, i64)> {
    let mut months = Vec::with_capacity(12);
    let (mut y, mut m) = (today.year(), today.month());
    for _ in 0..12 {
        months.push((y, m, 0i64));
        if m == 1 {
            y -= 1;
            m = 12;
        } else {
            m -= 1;
        }
    }
    months.reverse();
    let mut add = |d: &InvoiceSummary, sign: i64| {
        if d.currency != currency {
            return;
        }
        let Ok(date) = d.issue_date.parse::<jiff::civil::Date>() else {
            return;
        };
        if let Some(slot) = months
            .iter_mut()
            .find(|(y, m, _)| *y == date.year() && *m == date.month())
        {
            // A credit note's total is already negative or positive depending on the
            // series; count it as money given back either way.
            slot.2 += sign * d.total_minor.abs();
        }
    };
    for d in invoices {
        add(d, 1);
    }
    for d in credit_notes {
        add(d, -1);
    }
    months
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

pub fn spending_svg(
    tr: &Tr,
    today: Option<jiff::civil::Date>,
    invoices: &[InvoiceSummary],
    credit_notes: &[InvoiceSummary],
    currency: &str,
) -> String {
    let Some(today) = today else {
        return String::new();
    };
    let data = monthly(today, invoices, credit_notes, currency);
    let max = data.iter().map(|d| d.2.max(0)).max().unwrap_or(0).max(1);
    let (w, h, top, bottom) = (600i64, 220i64, 20i64, 40i64);
    let bar_w = w / 12;
    let total: i64 = data.iter().map(|d| d.2).sum();
    let label = tr.t1("chart-label", "total", &tr.money(total, currency));
    let mut svg = String::new();
    let _ = write!(
        svg,
        r##"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {w} {h}" role="img" aria-labelledby="chart-title"><title id="chart-title">{}</title><line x1="0" y1="{}" x2="{w}" y2="{}" stroke="#4a5058"/>"##,
        esc(&label),
        h - bottom,
        h - bottom
    );
    for (i, (y, m, v)) in data.iter().enumerate() {
        let i = i64::try_from(i).unwrap_or(0);
        let bh = (v.max(&0) * (h - top - bottom)) / max;
        let x = i * bar_w + 6;
        let name = month_name(tr.lang, *m);
        // "juin" and "juillet" (and "June", "July") must not both read "jui"/"Jun".
        let short: String = name
            .chars()
            .take(if name.starts_with("jui") { 4 } else { 3 })
            .collect();
        let _ = write!(
            svg,
            r##"<g><title>{} {}: {}</title><rect x="{x}" y="{}" width="{}" height="{bh}" fill="#0b5cad"/><text x="{}" y="{}" font-size="12" text-anchor="middle" fill="#1a1d21">{}</text></g>"##,
            esc(name),
            y,
            esc(&tr.money(*v, currency)),
            h - bottom - bh,
            bar_w - 12,
            x + (bar_w - 12) / 2,
            h - bottom + 16,
            esc(&short)
        );
    }
    svg.push_str("</svg>");
    svg
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doc(date: &str, total: i64) -> InvoiceSummary {
        InvoiceSummary {
            id: "x".into(),
            kind: "invoice".into(),
            number: "n".into(),
            issue_date: date.into(),
            currency: "EUR".into(),
            net_minor: total,
            vat_minor: 0,
            total_minor: total,
            order_id: None,
            credited_invoice_id: None,
            issued_at: format!("{date}T00:00:00Z"),
        }
    }

    #[test]
    fn twelve_months_ending_now() {
        let today: jiff::civil::Date = "2026-12-02".parse().unwrap();
        let inv = [
            doc("2026-12-01", 1000),
            doc("2026-01-15", 500),
            doc("2025-12-31", 7),
        ];
        let cn = [doc("2026-12-02", 300)];
        let m = monthly(today, &inv, &cn, "EUR");
        assert_eq!(m.len(), 12);
        assert_eq!(m[0], (2026, 1, 500));
        assert_eq!(m[11], (2026, 12, 700));
        assert_eq!(m.iter().map(|x| x.2).sum::<i64>(), 1200);
    }

    #[test]
    fn svg_has_a_title_per_bar() {
        let today: jiff::civil::Date = "2026-12-02".parse().unwrap();
        let tr = Tr::new(guichet_domain::Language::En);
        let svg = spending_svg(&tr, Some(today), &[doc("2026-12-01", 1000)], &[], "EUR");
        assert_eq!(svg.matches("<rect").count(), 12);
        assert!(svg.contains("December 2026: €10.00"));
    }
}
