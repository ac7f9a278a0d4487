//! End-to-end tests of the crate: XML content and well-formedness (parsed back with
//! quick-xml), the PDF's PDF/A and Factur-X markers, the embedded XML (inflated and compared),
//! the printed texts, pagination and the refusal of inconsistent invoices.

use std::io::Read;

use quick_xml::Reader;
use quick_xml::events::Event;

use super::*;
use crate::layout::Op;

fn seller() -> Party {
    Party {
        name: "Guichet SAS".into(),
        organisation: None,
        address_lines: vec!["12 rue de la République".into()],
        postal_code: Some("69002".into()),
        city: Some("Lyon".into()),
        country: "FR".into(),
        vat_number: Some("FR12 123456789".into()),
        legal_ids: vec![
            ("SIREN".into(), "123 456 789".into()),
            ("RCS".into(), "Lyon B 123 456 789".into()),
        ],
        email: Some("facturation@guichet.example".into()),
    }
}

fn buyer() -> Party {
    Party {
        name: "Élodie Dupré".into(),
        organisation: Some("Crème & Brûlée SARL".into()),
        address_lines: vec!["3 place Bellecour".into(), "Bâtiment B".into()],
        postal_code: Some("69002".into()),
        city: Some("Lyon".into()),
        country: "FR".into(),
        vat_number: None,
        legal_ids: vec![],
        email: Some("elodie@creme.example".into()),
    }
}

fn line(desc: &str, qty: i64, price: i64, bp: u32) -> Line {
    let net = qty * price;
    Line {
        description: desc.into(),
        period: Some(("2026-01-01".into(), "2026-01-31".into())),
        quantity: qty,
        unit_price_minor: price,
        vat_rate_bp: bp,
        net_minor: net,
        vat_minor: net * i64::from(bp) / 10_000,
    }
}

/// Builds a consistent invoice from its lines (totals per rate, totals).
fn invoice(lines: Vec<Line>, treatment: &str) -> Invoice {
    let mut rates: Vec<RateTotal> = Vec::new();
    for l in &lines {
        match rates.iter_mut().find(|r| r.rate_bp == l.vat_rate_bp) {
            Some(r) => {
                r.net_minor += l.net_minor;
                r.vat_minor += l.vat_minor;
            }
            None => rates.push(RateTotal {
                rate_bp: l.vat_rate_bp,
                net_minor: l.net_minor,
                vat_minor: l.vat_minor,
            }),
        }
    }
    let net: i64 = rates.iter().map(|r| r.net_minor).sum();
    let vat: i64 = rates.iter().map(|r| r.vat_minor).sum();
    Invoice {
        kind: DocumentKind::Invoice,
        number: "GC2026-000123".into(),
        issue_date: "2026-01-15".into(),
        currency: "EUR".into(),
        currency_exponent: 2,
        language: "fr".into(),
        seller: seller(),
        buyer: buyer(),
        lines,
        totals_per_rate: rates,
        net_total_minor: net,
        vat_total_minor: vat,
        grand_total_minor: net + vat,
        tax_treatment: treatment.into(),
        payment: None,
        mentions: vec![
            "En cas de retard de paiement, indemnité forfaitaire de 40 € pour frais de recouvrement."
                .into(),
        ],
    }
}

/// Paid, two rates: 2 × 12,00 € at 20 % + 10,00 € at 5,5 %.
fn sample() -> Invoice {
    let mut inv = invoice(
        vec![
            line("VPS S — vps-1.example.net", 2, 1200, 2000),
            line("Livre numérique « Rust »", 1, 1000, 550),
        ],
        "domestic",
    );
    inv.payment = Some(Payment {
        date: "2026-01-15".into(),
        method: "Visa •••• 4242".into(),
        amount_minor: inv.grand_total_minor,
    });
    inv
}

/// (path, text) of every element, in document order; panics on malformed XML.
fn parse_xml(xml: &str) -> Vec<(String, String)> {
    let mut reader = Reader::from_str(xml);
    let mut stack: Vec<(String, String)> = Vec::new();
    let mut out = Vec::new();
    let mut roots = 0;
    loop {
        match reader.read_event().expect("well-formed XML") {
            Event::Start(e) => {
                if stack.is_empty() {
                    roots += 1;
                }
                stack.push((e.name().as_ref().to_string(), String::new()));
            }
            Event::Empty(e) => {
                let path = stack.iter().map(|(n, _)| n.as_str()).collect::<Vec<_>>();
                out.push((
                    format!("{}/{}", path.join("/"), e.name().as_ref()),
                    String::new(),
                ));
            }
            Event::Text(t) => {
                if let Some(top) = stack.last_mut() {
                    top.1.push_str(&t);
                } else {
                    assert!(t.trim().is_empty(), "text outside the root");
                }
            }
            Event::GeneralRef(r) => {
                let ch = match &*r {
                    "amp" => '&',
                    "lt" => '<',
                    "gt" => '>',
                    "quot" => '"',
                    "apos" => '\'',
                    _ => r
                        .resolve_char_ref()
                        .expect("char ref")
                        .expect("known entity"),
                };
                stack.last_mut().expect("inside an element").1.push(ch);
            }
            Event::End(e) => {
                let path = stack
                    .iter()
                    .map(|(n, _)| n.as_str())
                    .collect::<Vec<_>>()
                    .join("/");
                let (name, text) = stack.pop().expect("balanced");
                assert_eq!(name, e.name().as_ref());
                out.push((path, text.trim().to_string()));
            }
            Event::Eof => break,
            Event::Decl(_) => {}
            other => panic!("unexpected XML event {other:?}"),
        }
    }
    assert!(stack.is_empty(), "unclosed elements");
    assert_eq!(roots, 1, "one root element");
    out
}

fn values<'a>(xml: &'a [(String, String)], suffix: &str) -> Vec<&'a str> {
    xml.iter()
        .filter(|(p, _)| p.ends_with(suffix))
        .map(|(_, t)| t.as_str())
        .collect()
}

fn one<'a>(xml: &'a [(String, String)], suffix: &str) -> &'a str {
    let v = values(xml, suffix);
    assert_eq!(v.len(), 1, "{suffix}: {v:?}");
    v[0]
}

const SUM: &str = "rsm:SupplyChainTradeTransaction/ram:ApplicableHeaderTradeSettlement/ram:SpecifiedTradeSettlementHeaderMonetarySummation/";

#[test]
fn xml_is_well_formed_and_has_the_totals() {
    let inv = sample();
    let xml = factur_x_xml(&inv);
    assert!(xml.starts_with("<?xml version=\"1.0\" encoding=\"UTF-8\"?>"));
    let x = parse_xml(&xml);
    assert_eq!(
        one(&x, "GuidelineSpecifiedDocumentContextParameter/ram:ID"),
        "urn:cen.eu:en16931:2017"
    );
    assert_eq!(one(&x, "rsm:ExchangedDocument/ram:ID"), "GC2026-000123");
    assert_eq!(one(&x, "rsm:ExchangedDocument/ram:TypeCode"), "380");
    assert_eq!(one(&x, "ram:IssueDateTime/udt:DateTimeString"), "20260115");
    // 2 × 12,00 at 20 % = 24,00 + 4,80; 10,00 at 5,5 % = 10,00 + 0,55.
    assert_eq!(one(&x, &format!("{SUM}ram:LineTotalAmount")), "34.00");
    assert_eq!(one(&x, &format!("{SUM}ram:TaxBasisTotalAmount")), "34.00");
    assert_eq!(one(&x, &format!("{SUM}ram:TaxTotalAmount")), "5.35");
    assert_eq!(one(&x, &format!("{SUM}ram:GrandTotalAmount")), "39.35");
    assert_eq!(one(&x, &format!("{SUM}ram:TotalPrepaidAmount")), "39.35");
    assert_eq!(one(&x, &format!("{SUM}ram:DuePayableAmount")), "0.00");
    assert!(xml.contains("<ram:TaxTotalAmount currencyID=\"EUR\">5.35</ram:TaxTotalAmount>"));
    let tax = "ram:ApplicableHeaderTradeSettlement/ram:ApplicableTradeTax/";
    assert_eq!(
        values(&x, &format!("{tax}ram:RateApplicablePercent")),
        ["20.00", "5.50"]
    );
    assert_eq!(
        values(&x, &format!("{tax}ram:BasisAmount")),
        ["24.00", "10.00"]
    );
    assert_eq!(
        values(&x, &format!("{tax}ram:CalculatedAmount")),
        ["4.80", "0.55"]
    );
    assert_eq!(values(&x, &format!("{tax}ram:CategoryCode")), ["S", "S"]);
    // Lines.
    assert_eq!(
        values(&x, "ram:AssociatedDocumentLineDocument/ram:LineID"),
        ["1", "2"]
    );
    assert_eq!(
        values(&x, "ram:SpecifiedTradeProduct/ram:Name"),
        ["VPS S — vps-1.example.net", "Livre numérique « Rust »"]
    );
    assert_eq!(
        values(&x, "ram:NetPriceProductTradePrice/ram:ChargeAmount"),
        ["12.00", "10.00"]
    );
    assert_eq!(values(&x, "ram:BilledQuantity"), ["2", "1"]);
    assert_eq!(
        values(
            &x,
            "ram:SpecifiedTradeSettlementLineMonetarySummation/ram:LineTotalAmount"
        ),
        ["24.00", "10.00"]
    );
    assert_eq!(
        values(
            &x,
            "ram:SpecifiedLineTradeSettlement/ram:BillingSpecifiedPeriod/ram:StartDateTime/udt:DateTimeString"
        ),
        ["20260101", "20260101"]
    );
    let header_period = "ram:ApplicableHeaderTradeSettlement/ram:BillingSpecifiedPeriod/";
    assert_eq!(
        one(
            &x,
            &format!("{header_period}ram:StartDateTime/udt:DateTimeString")
        ),
        "20260101"
    );
    assert_eq!(
        one(
            &x,
            &format!("{header_period}ram:EndDateTime/udt:DateTimeString")
        ),
        "20260131"
    );
    // Parties.
    assert_eq!(one(&x, "ram:SellerTradeParty/ram:Name"), "Guichet SAS");
    assert_eq!(
        one(&x, "ram:SellerTradeParty/ram:Description"),
        "RCS Lyon B 123 456 789"
    );
    assert_eq!(
        one(
            &x,
            "ram:SellerTradeParty/ram:SpecifiedLegalOrganization/ram:ID"
        ),
        "123456789"
    );
    assert!(xml.contains("<ram:ID schemeID=\"0002\">123456789</ram:ID>"));
    assert!(xml.contains("<ram:ID schemeID=\"VA\">FR12123456789</ram:ID>"));
    assert_eq!(
        one(&x, "ram:BuyerTradeParty/ram:Name"),
        "Crème & Brûlée SARL",
        "escaped and read back"
    );
    assert_eq!(
        one(
            &x,
            "ram:BuyerTradeParty/ram:DefinedTradeContact/ram:PersonName"
        ),
        "Élodie Dupré"
    );
    assert_eq!(
        values(
            &x,
            "ram:BuyerTradeParty/ram:PostalTradeAddress/ram:CountryID"
        ),
        ["FR"]
    );
    // Payment.
    assert_eq!(
        one(&x, "ram:SpecifiedTradeSettlementPaymentMeans/ram:TypeCode"),
        "48"
    );
    assert_eq!(
        one(&x, "ram:ApplicableTradeSettlementFinancialCard/ram:ID"),
        "4242"
    );
    assert!(
        values(&x, "ram:SpecifiedTradePaymentTerms/ram:Description").is_empty(),
        "paid: no terms"
    );
    assert_eq!(values(&x, "ram:IncludedNote/ram:Content").len(), 1);
    assert!(values(&x, "ram:InvoiceReferencedDocument/ram:IssuerAssignedID").is_empty());
}

#[test]
fn xml_element_order_follows_the_xsd() {
    // The Factur-X XSD is a sequence: a few orderings that are easy to get wrong.
    let xml = factur_x_xml(&sample());
    let pos = |s: &str| xml.find(s).unwrap_or_else(|| panic!("{s} missing"));
    assert!(
        pos("<ram:IncludedSupplyChainTradeLineItem>") < pos("<ram:ApplicableHeaderTradeAgreement>")
    );
    assert!(
        pos("<ram:ApplicableHeaderTradeAgreement>") < pos("<ram:ApplicableHeaderTradeDelivery/>")
    );
    assert!(
        pos("<ram:ApplicableHeaderTradeDelivery/>") < pos("<ram:ApplicableHeaderTradeSettlement>")
    );
    assert!(pos("<ram:InvoiceCurrencyCode>") < pos("<ram:SpecifiedTradeSettlementPaymentMeans>"));
    assert!(pos("<ram:SpecifiedTradeSettlementPaymentMeans>") < pos("<ram:CalculatedAmount>"));
    assert!(pos("<ram:Name>Guichet SAS") < pos("<ram:SpecifiedLegalOrganization>"));
    assert!(pos("<ram:SpecifiedLegalOrganization>") < pos("<ram:PostalTradeAddress>"));
    assert!(pos("<ram:PostalTradeAddress>") < pos("<ram:URIUniversalCommunication>"));
    assert!(pos("<ram:URIUniversalCommunication>") < pos("<ram:SpecifiedTaxRegistration>"));
}

#[test]
fn credit_note_is_positive_381_and_references_the_invoice() {
    let mut inv = sample();
    inv.kind = DocumentKind::CreditNote {
        original_number: "GC2026-000100".into(),
    };
    inv.number = "AV2026-000007".into();
    // As a ledger stores it: everything negative, prices or quantities.
    for (i, l) in inv.lines.iter_mut().enumerate() {
        if i == 0 {
            l.quantity = -l.quantity;
        } else {
            l.unit_price_minor = -l.unit_price_minor;
        }
        l.net_minor = -l.net_minor;
        l.vat_minor = -l.vat_minor;
    }
    for r in &mut inv.totals_per_rate {
        r.net_minor = -r.net_minor;
        r.vat_minor = -r.vat_minor;
    }
    inv.net_total_minor = -inv.net_total_minor;
    inv.vat_total_minor = -inv.vat_total_minor;
    inv.grand_total_minor = -inv.grand_total_minor;
    inv.payment = None;

    let x = parse_xml(&factur_x_xml(&inv));
    assert_eq!(one(&x, "rsm:ExchangedDocument/ram:TypeCode"), "381");
    assert_eq!(
        one(&x, "ram:InvoiceReferencedDocument/ram:IssuerAssignedID"),
        "GC2026-000100"
    );
    assert_eq!(one(&x, &format!("{SUM}ram:GrandTotalAmount")), "39.35");
    assert_eq!(one(&x, &format!("{SUM}ram:DuePayableAmount")), "39.35");
    assert_eq!(values(&x, "ram:BilledQuantity"), ["2", "1"]);
    assert_eq!(
        values(&x, "ram:NetPriceProductTradePrice/ram:ChargeAmount"),
        ["12.00", "10.00"]
    );
    assert_eq!(
        one(&x, "ram:SpecifiedTradePaymentTerms/ram:Description"),
        "Remboursable à réception"
    );
    for (path, text) in &x {
        assert!(!text.starts_with('-'), "{path} is negative: {text}");
    }
    let pdf = render(&inv).expect("credit note renders");
    assert!(pdf.starts_with(b"%PDF-"));
    let texts = page_texts(&inv).concat();
    assert!(texts.iter().any(|t| t == "AVOIR"), "{texts:?}");
    assert!(
        texts
            .iter()
            .any(|t| t == "Facture d’origine\u{a0}: GC2026-000100")
    );
    assert!(texts.iter().any(|t| t == "Montant à rembourser"));
}

#[test]
fn reverse_charge_export_and_exempt_categories() {
    for (treatment, code, vatex) in [
        ("reverse_charge", "AE", Some("VATEX-EU-AE")),
        ("outside_scope", "G", Some("VATEX-EU-G")),
        ("exempt", "E", None),
    ] {
        let mut inv = invoice(vec![line("Serveur dédié", 1, 9900, 0)], treatment);
        inv.buyer.vat_number = Some("DE123456789".into());
        inv.buyer.country = "DE".into();
        let x = parse_xml(&factur_x_xml(&inv));
        assert_eq!(values(&x, "ram:CategoryCode"), [code, code], "{treatment}");
        assert_eq!(values(&x, "ram:RateApplicablePercent"), ["0.00", "0.00"]);
        assert_eq!(
            one(&x, "ram:ApplicableTradeTax/ram:CalculatedAmount"),
            "0.00"
        );
        assert!(!one(&x, "ram:ApplicableTradeTax/ram:ExemptionReason").is_empty());
        assert_eq!(
            values(&x, "ram:ExemptionReasonCode"),
            vatex.into_iter().collect::<Vec<_>>()
        );
        assert_eq!(one(&x, &format!("{SUM}ram:GrandTotalAmount")), "99.00");
        assert_eq!(
            one(&x, "ram:SpecifiedTradePaymentTerms/ram:Description"),
            "Payable à réception"
        );
        let texts = page_texts(&inv).concat();
        assert!(texts.contains(&format!("0\u{a0}% ({code})")), "{texts:?}");
        let reason = Category::of(treatment, 0)
            .exemption_text(Lang::Fr)
            .expect("reason");
        assert!(texts.iter().any(|t| t == reason), "{reason} printed");
        render(&inv).expect(treatment);
    }
}

#[test]
fn amounts_follow_the_currency_exponent() {
    // JPY: exponent 0.
    let mut jpy = invoice(vec![line("Plan", 3, 1500, 1000)], "domestic");
    jpy.currency = "JPY".into();
    jpy.currency_exponent = 0;
    jpy.language = "en".into();
    let x = parse_xml(&factur_x_xml(&jpy));
    assert_eq!(one(&x, &format!("{SUM}ram:GrandTotalAmount")), "4950");
    assert_eq!(values(&x, "ram:ChargeAmount"), ["1500"]);
    let texts = page_texts(&jpy).concat();
    assert!(texts.iter().any(|t| t == "¥4,950"), "{texts:?}");

    // KWD: exponent 3.
    let mut kwd = invoice(vec![line("Plan", 1, 12345, 2000)], "domestic");
    kwd.currency = "KWD".into();
    kwd.currency_exponent = 3;
    let x = parse_xml(&factur_x_xml(&kwd));
    assert_eq!(one(&x, &format!("{SUM}ram:LineTotalAmount")), "12.345");
    assert_eq!(one(&x, &format!("{SUM}ram:TaxTotalAmount")), "2.469");
    assert_eq!(one(&x, &format!("{SUM}ram:GrandTotalAmount")), "14.814");
    let texts = page_texts(&kwd).concat();
    assert!(texts.iter().any(|t| t == "14,814\u{a0}KWD"), "{texts:?}");

    // EUR: exponent 2, French and English.
    let mut eur = invoice(vec![line("Plan", 1, 123456, 2000)], "domestic");
    let texts = page_texts(&eur).concat();
    assert!(
        texts.iter().any(|t| t == "1\u{a0}481,47\u{a0}€"),
        "{texts:?}"
    );
    eur.language = "en".into();
    let texts = page_texts(&eur).concat();
    assert!(texts.iter().any(|t| t == "€1,481.47"), "{texts:?}");
}

/// The texts drawn on each page, in drawing order.
fn page_texts(inv: &Invoice) -> Vec<Vec<String>> {
    let fonts = text::Fonts::load().expect("fonts");
    layout::layout(&normalized(inv), &fonts)
        .into_iter()
        .map(|ops| {
            ops.into_iter()
                .filter_map(|op| match op {
                    Op::Text { text, .. } => Some(text),
                    Op::Rect { .. } => None,
                })
                .collect()
        })
        .collect()
}

#[test]
fn pdf_shows_the_document_in_french() {
    let texts = page_texts(&sample()).concat();
    let has = |s: &str| texts.iter().any(|t| t == s);
    for s in [
        "FACTURE",
        "N° GC2026-000123",
        "Date\u{a0}: 15/01/2026",
        "Guichet SAS",
        "Crème & Brûlée SARL",
        "Élodie Dupré",
        "Facturé à",
        "VPS S — vps-1.example.net",
        "Désignation",
        "Période",
        "Qté",
        "PU HT",
        "20\u{a0}%",
        "5,5\u{a0}%",
        "24,00\u{a0}€",
        "Récapitulatif TVA",
        "Total HT",
        "34,00\u{a0}€",
        "TVA",
        "5,35\u{a0}€",
        "Total TTC",
        "39,35\u{a0}€",
        "Payée le 15/01/2026 par Visa •••• 4242",
        "Reste à payer",
        "0,00\u{a0}€",
        "N° TVA\u{a0}: FR12 123456789",
        "SIREN\u{a0}: 123 456 789",
        "Page 1/1",
    ] {
        assert!(has(s), "{s:?} not printed in {texts:?}");
    }
    assert!(
        texts.iter().any(|t| t.starts_with("01/01/2026 –")),
        "period printed: {texts:?}"
    );
    assert!(
        texts.iter().any(|t| t.starts_with("En cas de retard")),
        "mention printed"
    );
}

#[test]
fn pdf_shows_the_document_in_english() {
    let mut inv = sample();
    inv.language = "en".into();
    let texts = page_texts(&inv).concat();
    let has = |s: &str| texts.iter().any(|t| t == s);
    for s in [
        "INVOICE",
        "No. GC2026-000123",
        "Date: 15\u{a0}Jan\u{a0}2026",
        "Billed to",
        "Total excl. VAT",
        "Total incl. VAT",
        "€39.35",
        "Paid on 15\u{a0}Jan\u{a0}2026 by Visa •••• 4242",
        "Amount due",
        "€0.00",
    ] {
        assert!(has(s), "{s:?} not printed in {texts:?}");
    }
    assert!(!has("Total TTC"));
}

#[test]
fn unpaid_invoice_shows_the_amount_due() {
    let inv = invoice(vec![line("Domaine example.fr", 1, 1000, 2000)], "domestic");
    let texts = page_texts(&inv).concat();
    let due = texts
        .iter()
        .position(|t| t == "Reste à payer")
        .expect("due label");
    assert_eq!(texts[due + 1], "12,00\u{a0}€");
    assert!(!texts.iter().any(|t| t.starts_with("Payée le")));
}

/// The object stream that holds `factur-x.xml`, inflated.
fn embedded_xml(pdf: &[u8]) -> String {
    let hay = pdf;
    let at = hay
        .windows(18)
        .position(|w| w == b"/Type/EmbeddedFile")
        .expect("an EmbeddedFile stream");
    let obj_start = hay[..at]
        .windows(3)
        .rposition(|w| w == b"obj")
        .expect("obj");
    let dict = &hay[obj_start..];
    let len_at = dict
        .windows(7)
        .position(|w| w == b"/Length")
        .expect("length")
        + 7;
    let len: usize = std::str::from_utf8(&dict[len_at..len_at + 12])
        .expect("ascii")
        .trim_start()
        .split(|c: char| !c.is_ascii_digit())
        .next()
        .expect("digits")
        .parse()
        .expect("number");
    let stream = dict
        .windows(7)
        .position(|w| w == b"stream\n")
        .expect("stream")
        + 7;
    let data = &dict[stream..stream + len];
    assert!(
        dict[..stream].windows(12).any(|w| w == b"/FlateDecode"),
        "compressed"
    );
    let mut out = String::new();
    flate2::read::ZlibDecoder::new(data)
        .read_to_string(&mut out)
        .expect("inflates");
    out
}

fn contains(pdf: &[u8], s: &str) -> bool {
    pdf.windows(s.len()).any(|w| w == s.as_bytes())
}

#[test]
fn pdf_is_pdfa3_with_factur_x() {
    let inv = sample();
    let pdf = render(&inv).expect("renders");
    assert!(pdf.starts_with(b"%PDF-1.7"));
    assert!(contains(&pdf, "%%EOF"));
    for s in [
        "(factur-x.xml)",
        "/AFRelationship/Data",
        "/Subtype/text#2Fxml",
        "/AF[",
        "/OutputIntent",
        "/GTS_PDFA1",
        "<pdfaid:part>3</pdfaid:part>",
        "<pdfaid:conformance>B</pdfaid:conformance>",
        "xmlns:fx=\"urn:factur-x:pdfa:CrossIndustryDocument:invoice:1p0#\"",
        "<fx:DocumentType>INVOICE</fx:DocumentType>",
        "<fx:DocumentFileName>factur-x.xml</fx:DocumentFileName>",
        "<fx:Version>1.0</fx:Version>",
        "<fx:ConformanceLevel>EN 16931</fx:ConformanceLevel>",
        "<pdfaSchema:namespaceURI>urn:factur-x:pdfa:CrossIndustryDocument:invoice:1p0#</pdfaSchema:namespaceURI>",
        "<pdfaSchema:prefix>fx</pdfaSchema:prefix>",
        "/FontFile2",
    ] {
        assert!(contains(&pdf, s), "{s} missing from the PDF");
    }
    // One extension schema bag, holding krilla's schemas and Factur-X's.
    let text = String::from_utf8_lossy(&pdf);
    assert_eq!(text.matches("<pdfaExtension:schemas>").count(), 1);
    assert_eq!(text.matches("<x:xmpmeta").count(), 1, "a single XMP packet");
    // The patched file still has a correct cross-reference table.
    xmp::xref_consistent(&pdf).expect("xref points at every object");
    // The attachment is exactly the XML.
    assert_eq!(embedded_xml(&pdf), factur_x_xml(&inv));
    // Same input, same bytes.
    assert_eq!(render(&inv).expect("renders again"), pdf);
}

#[test]
fn xmp_patch_keeps_the_metadata_length_right() {
    let pdf = render(&sample()).expect("renders");
    let at = pdf
        .windows(14)
        .position(|w| w == b"/Type/Metadata")
        .expect("metadata stream");
    let obj = pdf[..at]
        .windows(3)
        .rposition(|w| w == b"obj")
        .expect("obj");
    let dict = &pdf[obj..at + 40];
    let l = dict
        .windows(8)
        .position(|w| w == b"/Length ")
        .expect("length")
        + 8;
    let digits: String = dict[l..]
        .iter()
        .take_while(|b| b.is_ascii_digit())
        .map(|b| char::from(*b))
        .collect();
    let len: usize = digits.parse().expect("length");
    let start = obj
        + pdf[obj..]
            .windows(7)
            .position(|w| w == b"stream\n")
            .expect("stream")
        + 7;
    assert!(pdf[start..].starts_with(b"<?xpacket begin"));
    let end = start + len;
    assert!(
        pdf[end..].starts_with(b"\nendstream"),
        "length points at endstream"
    );
    assert!(pdf[start..end].ends_with(b"<?xpacket end=\"r\"?>"));
}

#[test]
fn a_long_invoice_takes_several_pages() {
    let lines = (1..=120)
        .map(|i| {
            line(
                &format!("Service n°{i} — srv-{i}.example.net"),
                1,
                100 * i,
                2000,
            )
        })
        .collect();
    let inv = invoice(lines, "domestic");
    let pages = page_texts(&inv);
    let n = pages.len();
    assert!(n >= 3, "120 lines on {n} pages");
    for (i, texts) in pages.iter().enumerate() {
        assert!(
            texts.contains(&format!("Page {}/{n}", i + 1)),
            "footer of page {}",
            i + 1
        );
    }
    // Every line once, in order; the table header on each page that has lines.
    let all = pages.concat();
    let mut last = 0;
    for i in 1..=120 {
        let d = format!("Service n°{i} — srv-{i}.example.net");
        let hits: Vec<usize> = all
            .iter()
            .enumerate()
            .filter(|(_, t)| **t == d)
            .map(|(p, _)| p)
            .collect();
        assert_eq!(hits.len(), 1, "line {i} printed once");
        assert!(hits[0] > last, "line {i} in order");
        last = hits[0];
    }
    for (i, texts) in pages.iter().enumerate() {
        if texts.iter().any(|t| t.starts_with("Service n°")) {
            assert!(
                texts.contains(&"Désignation".to_string()),
                "table header on page {}",
                i + 1
            );
        }
        if i > 0 {
            assert!(
                texts[0].contains("(suite)"),
                "continuation header on page {}",
                i + 1
            );
        }
    }
    assert!(
        pages[n - 1].contains(&"Total TTC".to_string()),
        "totals on the last page"
    );
    // The PDF has as many pages as the layout.
    let pdf = render(&inv).expect("renders");
    assert!(
        contains(&pdf, &format!("/Type/Pages/Count {n}/")),
        "page tree count"
    );
    assert!(contains(
        &pdf,
        &format!("<xmpTPg:NPages>{n}</xmpTPg:NPages>")
    ));
    xmp::xref_consistent(&pdf).expect("xref");
}

#[test]
fn every_text_stays_on_the_page() {
    let mut inv = sample();
    inv.lines[0].description = "Un-mot-très-long-sans-espace-".repeat(12);
    inv.buyer.address_lines.push(
        "Une adresse vraiment très longue qui ne tient pas sur une seule ligne de l’encadré".into(),
    );
    let fonts = text::Fonts::load().expect("fonts");
    for page in layout::layout(&inv, &fonts) {
        for op in page {
            if let Op::Text {
                x,
                y,
                size,
                bold,
                text,
                ..
            } = op
            {
                let w = fonts.face(bold).width(&text, size);
                assert!(
                    x >= 42.0 && x + w <= layout::PAGE_W - 42.0 + 0.01,
                    "{text:?} at {x}+{w}"
                );
                assert!(y > 0.0 && y < layout::PAGE_H, "{text:?} at y {y}");
            }
        }
    }
}

/// A way to break a valid invoice.
type Spoil = Box<dyn Fn(&mut Invoice)>;

#[test]
fn inconsistent_invoices_are_refused() {
    let cases: Vec<(&str, Spoil)> = vec![
        (
            "issue_date",
            Box::new(|i| i.issue_date = "2026-02-30".into()),
        ),
        ("net_total_minor", Box::new(|i| i.net_total_minor += 1)),
        ("vat_total_minor", Box::new(|i| i.vat_total_minor += 1)),
        ("grand_total_minor", Box::new(|i| i.grand_total_minor += 1)),
        (
            "totals_per_rate",
            Box::new(|i| i.totals_per_rate[0].net_minor += 1),
        ),
        (
            "totals_per_rate",
            Box::new(|i| {
                i.totals_per_rate.pop();
            }),
        ),
        (
            "tax_treatment",
            Box::new(|i| i.tax_treatment = "vatfree".into()),
        ),
        (
            "reverse_charge",
            Box::new(|i| i.tax_treatment = "reverse_charge".into()),
        ),
        ("currency", Box::new(|i| i.currency = "eur".into())),
        ("language", Box::new(|i| i.language = "de".into())),
        (
            "buyer.country",
            Box::new(|i| i.buyer.country = "France".into()),
        ),
        ("no lines", Box::new(|i| i.lines.clear())),
        (
            "period",
            Box::new(|i| i.lines[0].period = Some(("2026-02-01".into(), "2026-01-01".into()))),
        ),
        (
            "payment",
            Box::new(|i| {
                if let Some(p) = &mut i.payment {
                    p.amount_minor += 1
                }
            }),
        ),
        (
            "payment.date",
            Box::new(|i| {
                if let Some(p) = &mut i.payment {
                    p.date = "15/01/2026".into()
                }
            }),
        ),
    ];
    for (what, spoil) in cases {
        let mut inv = sample();
        spoil(&mut inv);
        match render(&inv) {
            Err(PdfError::Invalid(msg)) => {
                let key = what.split(' ').next().unwrap_or(what);
                assert!(msg.contains(key) || what == "no lines", "{what}: {msg}");
            }
            other => panic!("{what}: expected Invalid, got {other:?}"),
        }
    }
    assert!(render(&sample()).is_ok(), "the unspoiled sample renders");
}

#[test]
fn xml_escapes_and_drops_forbidden_characters() {
    let mut inv = sample();
    inv.lines[0].description = "a < b && c > \"d\" 'e'\u{1}\u{7}".into();
    let xml = factur_x_xml(&inv);
    let x = parse_xml(&xml);
    assert_eq!(
        values(&x, "ram:SpecifiedTradeProduct/ram:Name")[0],
        "a < b && c > \"d\" 'e'"
    );
}

#[test]
fn negative_line_price_becomes_negative_quantity() {
    let mut inv = invoice(
        vec![
            line("Plan", 1, 2000, 2000),
            line("Remise fidélité", 1, -500, 2000),
        ],
        "domestic",
    );
    inv.payment = None;
    let x = parse_xml(&factur_x_xml(&inv));
    assert_eq!(values(&x, "ram:ChargeAmount"), ["20.00", "5.00"]);
    assert_eq!(values(&x, "ram:BilledQuantity"), ["1", "-1"]);
    assert_eq!(
        values(
            &x,
            "ram:SpecifiedTradeSettlementLineMonetarySummation/ram:LineTotalAmount"
        ),
        ["20.00", "-5.00"]
    );
    render(&inv).expect("renders");
}
