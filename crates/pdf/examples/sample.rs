//! Writes sample documents for `scripts/facturx-check` (and for a human look): a paid French
//! invoice, a refunded French credit note, and a long unpaid English reverse-charge invoice.
//!
//! Usage: `cargo run -p guichet-pdf --example sample -- DIR`. Prints one line per file:
//! `file<TAB>number<TAB>type code<TAB>grand total as in the XML<TAB>grand total as printed<TAB>
//! minimum page count`.

use std::path::PathBuf;
use std::process::ExitCode;

use guichet_pdf::{DocumentKind, Invoice, Line, Party, Payment, RateTotal, render};

fn seller() -> Party {
    Party {
        name: "Guichet SAS".into(),
        organisation: None,
        address_lines: vec!["12 rue de la République".into()],
        postal_code: Some("69002".into()),
        city: Some("Lyon".into()),
        country: "FR".into(),
        vat_number: Some("FR32123456789".into()),
        legal_ids: vec![
            ("SIREN".into(), "123456789".into()),
            ("RCS".into(), "Lyon B 123 456 789".into()),
            ("Capital".into(), "10 000 €".into()),
        ],
        email: Some("facturation@guichet.example".into()),
    }
}

fn line(
    description: &str,
    period: Option<(&str, &str)>,
    quantity: i64,
    unit: i64,
    bp: u32,
) -> Line {
    let net = quantity * unit;
    // Half-up rounding of the line VAT, in integers.
    let vat = (net * i64::from(bp) + 5_000) / 10_000;
    Line {
        description: description.into(),
        period: period.map(|(s, e)| (s.into(), e.into())),
        quantity,
        unit_price_minor: unit,
        vat_rate_bp: bp,
        net_minor: net,
        vat_minor: vat,
    }
}

/// Fills the totals from the lines (VAT per rate = sum of the line VAT).
fn with_totals(mut inv: Invoice) -> Invoice {
    let mut rates: Vec<RateTotal> = Vec::new();
    for l in &inv.lines {
        if let Some(r) = rates.iter_mut().find(|r| r.rate_bp == l.vat_rate_bp) {
            r.net_minor += l.net_minor;
            r.vat_minor += l.vat_minor;
        } else {
            rates.push(RateTotal {
                rate_bp: l.vat_rate_bp,
                net_minor: l.net_minor,
                vat_minor: l.vat_minor,
            });
        }
    }
    inv.net_total_minor = rates.iter().map(|r| r.net_minor).sum();
    inv.vat_total_minor = rates.iter().map(|r| r.vat_minor).sum();
    inv.grand_total_minor = inv.net_total_minor + inv.vat_total_minor;
    inv.totals_per_rate = rates;
    inv
}

fn french_mentions() -> Vec<String> {
    vec![
        "Pas d’escompte pour paiement anticipé. En cas de retard de paiement : pénalités au taux \
         de trois fois le taux d’intérêt légal et indemnité forfaitaire de 40 € pour frais de \
         recouvrement (art. L441-10 du Code de commerce)."
            .into(),
    ]
}

fn invoice() -> Invoice {
    let mut inv = with_totals(Invoice {
        kind: DocumentKind::Invoice,
        number: "GC2026-000123".into(),
        issue_date: "2026-01-15".into(),
        currency: "EUR".into(),
        currency_exponent: 2,
        language: "fr".into(),
        seller: seller(),
        buyer: Party {
            name: "Élodie Dupré".into(),
            organisation: Some("Crème & Brûlée SARL".into()),
            address_lines: vec!["3 place Bellecour".into(), "Bâtiment B, 2ᵉ étage".into()],
            postal_code: Some("69002".into()),
            city: Some("Lyon".into()),
            country: "FR".into(),
            vat_number: Some("FR45987654321".into()),
            legal_ids: vec![("SIREN".into(), "987654321".into())],
            email: Some("compta@creme-brulee.example".into()),
        },
        lines: vec![
            line(
                "VPS S — vps-1.example.net (2 vCPU, 4 Go, sauvegardes quotidiennes)",
                Some(("2026-01-15", "2026-02-14")),
                1,
                1200,
                2000,
            ),
            line(
                "Adresse IPv4 supplémentaire",
                Some(("2026-01-15", "2026-02-14")),
                2,
                250,
                2000,
            ),
            line(
                "Nom de domaine crème-brûlée.fr — renouvellement",
                Some(("2026-01-20", "2027-01-19")),
                1,
                999,
                2000,
            ),
            line("Livre numérique « Héberger soi-même »", None, 1, 1500, 550),
        ],
        totals_per_rate: vec![],
        net_total_minor: 0,
        vat_total_minor: 0,
        grand_total_minor: 0,
        tax_treatment: "domestic".into(),
        payment: None,
        mentions: french_mentions(),
    });
    inv.payment = Some(Payment {
        date: "2026-01-15".into(),
        method: "Visa •••• 4242".into(),
        amount_minor: inv.grand_total_minor,
    });
    inv
}

fn credit_note() -> Invoice {
    let mut inv = with_totals(Invoice {
        kind: DocumentKind::CreditNote {
            original_number: "GC2026-000123".into(),
        },
        number: "AV2026-000007".into(),
        issue_date: "2026-01-20".into(),
        lines: vec![line(
            "Remboursement au prorata — VPS S — vps-1.example.net",
            Some(("2026-01-20", "2026-02-14")),
            1,
            -968,
            2000,
        )],
        mentions: vec!["Avoir émis suite à la résiliation anticipée du service.".into()],
        ..invoice()
    });
    inv.payment = Some(Payment {
        date: "2026-01-21".into(),
        method: "Visa •••• 4242".into(),
        amount_minor: inv.grand_total_minor,
    });
    inv
}

fn reverse_charge() -> Invoice {
    let lines = (1..=60)
        .map(|i| {
            line(
                &format!("Managed server srv-{i:02}.example.de — monitoring and backups"),
                Some(("2026-02-01", "2026-02-28")),
                1,
                4_900 + i * 10,
                0,
            )
        })
        .collect();
    with_totals(Invoice {
        kind: DocumentKind::Invoice,
        number: "GC2026-000124".into(),
        issue_date: "2026-02-01".into(),
        currency: "EUR".into(),
        currency_exponent: 2,
        language: "en".into(),
        seller: seller(),
        buyer: Party {
            name: "Jürgen Groß".into(),
            organisation: Some("Straße & Söhne GmbH".into()),
            address_lines: vec!["Königsallee 1".into()],
            postal_code: Some("40212".into()),
            city: Some("Düsseldorf".into()),
            country: "DE".into(),
            vat_number: Some("DE123456789".into()),
            legal_ids: vec![],
            email: None,
        },
        lines,
        totals_per_rate: vec![],
        net_total_minor: 0,
        vat_total_minor: 0,
        grand_total_minor: 0,
        tax_treatment: "reverse_charge".into(),
        payment: None,
        mentions: vec![
            "Reverse charge: VAT to be accounted for by the recipient (Article 196, Council \
             Directive 2006/112/EC). Autoliquidation."
                .into(),
        ],
    })
}

/// `1234567` → `1 234 567` (with `sep`), the way the document prints whole units.
fn grouped(n: i64, sep: char) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(sep);
        }
        out.push(c);
    }
    out
}

fn main() -> ExitCode {
    let Some(dir) = std::env::args_os().nth(1).map(PathBuf::from) else {
        eprintln!("usage: sample DIR");
        return ExitCode::from(2);
    };
    if let Err(e) = std::fs::create_dir_all(&dir) {
        eprintln!("cannot create {}: {e}", dir.display());
        return ExitCode::FAILURE;
    }
    for (file, inv, min_pages) in [
        ("invoice.pdf", invoice(), 1),
        ("credit-note.pdf", credit_note(), 1),
        // 60 lines of two text lines each do not fit on one A4 page.
        ("reverse-charge.pdf", reverse_charge(), 2),
    ] {
        let pdf = match render(&inv) {
            Ok(pdf) => pdf,
            Err(e) => {
                eprintln!("{file}: {e}");
                return ExitCode::FAILURE;
            }
        };
        let path = dir.join(file);
        if let Err(e) = std::fs::write(&path, pdf) {
            eprintln!("cannot write {}: {e}", path.display());
            return ExitCode::FAILURE;
        }
        // The same numbers the document shows, recomputed here from the input.
        let grand = inv.grand_total_minor.abs();
        let code = match inv.kind {
            DocumentKind::Invoice => "380",
            DocumentKind::CreditNote { .. } => "381",
        };
        let xml_total = format!("{}.{:02}", grand / 100, grand % 100);
        let printed = if inv.language == "fr" {
            format!("{},{:02} €", grouped(grand / 100, ' '), grand % 100)
        } else {
            format!("€{}.{:02}", grouped(grand / 100, ','), grand % 100)
        };
        println!(
            "{file}\t{}\t{code}\t{xml_total}\t{printed}\t{min_pages}",
            inv.number
        );
    }
    ExitCode::SUCCESS
}
