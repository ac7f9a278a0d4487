//! The machine-readable half of the document: the UN/CEFACT CII XML of the Factur-X
//! EN 16931 profile (`urn:cen.eu:en16931:2017`), written element by element in the order the
//! Factur-X XSD demands. A hand-rolled writer: it cannot fail, escapes every text and drops
//! the characters XML 1.0 forbids.

use crate::format::{compact_date, decimal, rate_decimal};
use crate::labels::labels;
use crate::{Category, DocumentKind, Invoice, Lang, Party, amount_due, normalized};

/// The Factur-X CII XML (EN 16931 profile) of the document. It is written for any input; use
/// [`crate::render`], which checks the invoice first, for documents that will be issued.
pub fn factur_x_xml(inv: &Invoice) -> String {
    build(&normalized(inv))
}

/// An indenting XML writer into a string.
struct Writer {
    out: String,
    depth: usize,
}

/// Escapes text and attribute values, and drops what XML 1.0 cannot carry at all.
fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for ch in s.chars() {
        match ch {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\t' | '\n' | '\r' => out.push(ch),
            c if (c as u32) < 0x20 || c == '\u{fffe}' || c == '\u{ffff}' => {}
            c => out.push(c),
        }
    }
    out
}

impl Writer {
    fn indent(&mut self) {
        for _ in 0..self.depth {
            self.out.push_str("  ");
        }
    }

    fn start(&mut self, tag: &str, attrs: &[(&str, &str)]) {
        self.out.push('<');
        self.out.push_str(tag);
        for (k, v) in attrs {
            self.out.push(' ');
            self.out.push_str(k);
            self.out.push_str("=\"");
            self.out.push_str(&escape(v));
            self.out.push('"');
        }
    }

    fn open(&mut self, tag: &str) {
        self.open_with(tag, &[]);
    }

    fn open_with(&mut self, tag: &str, attrs: &[(&str, &str)]) {
        self.indent();
        self.start(tag, attrs);
        self.out.push_str(">\n");
        self.depth += 1;
    }

    fn close(&mut self, tag: &str) {
        self.depth = self.depth.saturating_sub(1);
        self.indent();
        self.out.push_str("</");
        self.out.push_str(tag);
        self.out.push_str(">\n");
    }

    fn empty(&mut self, tag: &str) {
        self.indent();
        self.start(tag, &[]);
        self.out.push_str("/>\n");
    }

    fn leaf(&mut self, tag: &str, text: &str) {
        self.leaf_with(tag, &[], text);
    }

    fn leaf_with(&mut self, tag: &str, attrs: &[(&str, &str)], text: &str) {
        self.indent();
        self.start(tag, attrs);
        self.out.push('>');
        self.out.push_str(&escape(text));
        self.out.push_str("</");
        self.out.push_str(tag);
        self.out.push_str(">\n");
    }

    /// `<tag><udt:DateTimeString format="102">YYYYMMDD</udt:DateTimeString></tag>`
    fn date(&mut self, tag: &str, iso: &str) {
        self.open(tag);
        self.leaf_with(
            "udt:DateTimeString",
            &[("format", "102")],
            &compact_date(iso),
        );
        self.close(tag);
    }
}

/// The ICD scheme of a legal identifier we know how to declare (ISO 6523): SIREN and SIRET.
fn legal_scheme(key: &str) -> Option<&'static str> {
    match key.trim().to_ascii_uppercase().as_str() {
        "SIREN" => Some("0002"),
        "SIRET" => Some("0009"),
        _ => None,
    }
}

/// A VAT number as the XML wants it: no spaces or dots, upper case.
fn vat_id(v: &str) -> String {
    v.chars()
        .filter(|c| !c.is_whitespace() && *c != '.' && *c != '-')
        .flat_map(char::to_uppercase)
        .collect()
}

/// UNTDID 4461 payment means, guessed from how the method is shown to people.
pub(crate) fn payment_means_code(method: &str) -> &'static str {
    let m = method.to_lowercase();
    let has = |w: &str| m.contains(w);
    if has("•••") || has("card") || has("carte") || has("visa") || has("mastercard") || has("amex")
    {
        "48"
    } else if has("sepa") && (has("debit") || has("débit") || has("prélèvement")) {
        "59"
    } else if has("prélèvement") || has("direct debit") {
        "49"
    } else if has("sepa") && (has("virement") || has("transfer")) {
        "58"
    } else if has("virement") || has("transfer") {
        "30"
    } else {
        "1"
    }
}

fn party(w: &mut Writer, tag: &str, p: &Party, seller: bool) {
    w.open(tag);
    let legal_name = p
        .organisation
        .as_deref()
        .filter(|o| !o.trim().is_empty())
        .unwrap_or(&p.name);
    w.leaf("ram:Name", legal_name);
    if seller {
        // BT-33: the seller's other legal mentions (RCS, share capital…).
        let extra: Vec<String> = p
            .legal_ids
            .iter()
            .filter(|(k, _)| legal_scheme(k).is_none())
            .map(|(k, v)| format!("{k} {v}"))
            .collect();
        if !extra.is_empty() {
            w.leaf("ram:Description", &extra.join(" — "));
        }
    }
    let registered = p
        .legal_ids
        .iter()
        .filter_map(|(k, v)| legal_scheme(k).map(|s| (s, v)))
        .min_by_key(|(s, _)| *s);
    if let Some((scheme, id)) = registered {
        w.open("ram:SpecifiedLegalOrganization");
        let id: String = id.chars().filter(|c| !c.is_whitespace()).collect();
        w.leaf_with("ram:ID", &[("schemeID", scheme)], &id);
        w.close("ram:SpecifiedLegalOrganization");
    }
    if p.organisation.is_some() && !p.name.trim().is_empty() && p.name != legal_name {
        w.open("ram:DefinedTradeContact");
        w.leaf("ram:PersonName", &p.name);
        w.close("ram:DefinedTradeContact");
    }
    w.open("ram:PostalTradeAddress");
    if let Some(pc) = &p.postal_code {
        w.leaf("ram:PostcodeCode", pc);
    }
    let lines: Vec<&str> = p
        .address_lines
        .iter()
        .map(|l| l.trim())
        .filter(|l| !l.is_empty())
        .collect();
    for (i, tag) in ["ram:LineOne", "ram:LineTwo"].iter().enumerate() {
        if let Some(l) = lines.get(i) {
            w.leaf(tag, l);
        }
    }
    if lines.len() > 2 {
        w.leaf("ram:LineThree", &lines[2..].join(", "));
    }
    if let Some(city) = &p.city {
        w.leaf("ram:CityName", city);
    }
    w.leaf("ram:CountryID", &p.country);
    w.close("ram:PostalTradeAddress");
    if let Some(email) = p.email.as_deref().filter(|e| !e.trim().is_empty()) {
        w.open("ram:URIUniversalCommunication");
        w.leaf_with("ram:URIID", &[("schemeID", "EM")], email.trim());
        w.close("ram:URIUniversalCommunication");
    }
    if let Some(vat) = p.vat_number.as_deref().filter(|v| !v.trim().is_empty()) {
        w.open("ram:SpecifiedTaxRegistration");
        w.leaf_with("ram:ID", &[("schemeID", "VA")], &vat_id(vat));
        w.close("ram:SpecifiedTaxRegistration");
    }
    w.close(tag);
}

/// The XML of an invoice whose signs are already normalized.
pub(crate) fn build(inv: &Invoice) -> String {
    let exp = inv.currency_exponent;
    let amount = |minor: i64| decimal(minor, exp);
    let lang = Lang::of(inv);
    let mut w = Writer {
        out: String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"),
        depth: 0,
    };

    w.open_with(
        "rsm:CrossIndustryInvoice",
        &[
            (
                "xmlns:rsm",
                "urn:un:unece:uncefact:data:standard:CrossIndustryInvoice:100",
            ),
            (
                "xmlns:qdt",
                "urn:un:unece:uncefact:data:standard:QualifiedDataType:100",
            ),
            (
                "xmlns:ram",
                "urn:un:unece:uncefact:data:standard:ReusableAggregateBusinessInformationEntity:100",
            ),
            ("xmlns:xs", "http://www.w3.org/2001/XMLSchema"),
            (
                "xmlns:udt",
                "urn:un:unece:uncefact:data:standard:UnqualifiedDataType:100",
            ),
        ],
    );

    w.open("rsm:ExchangedDocumentContext");
    w.open("ram:GuidelineSpecifiedDocumentContextParameter");
    w.leaf("ram:ID", "urn:cen.eu:en16931:2017");
    w.close("ram:GuidelineSpecifiedDocumentContextParameter");
    w.close("rsm:ExchangedDocumentContext");

    w.open("rsm:ExchangedDocument");
    w.leaf("ram:ID", &inv.number);
    let type_code = match inv.kind {
        DocumentKind::Invoice => "380",
        DocumentKind::CreditNote { .. } => "381",
    };
    w.leaf("ram:TypeCode", type_code);
    w.date("ram:IssueDateTime", &inv.issue_date);
    for mention in inv.mentions.iter().filter(|m| !m.trim().is_empty()) {
        w.open("ram:IncludedNote");
        w.leaf("ram:Content", mention);
        w.close("ram:IncludedNote");
    }
    w.close("rsm:ExchangedDocument");

    w.open("rsm:SupplyChainTradeTransaction");
    for (i, line) in inv.lines.iter().enumerate() {
        // BR-27: the price is never negative; a negative line is a negative quantity.
        let (price, quantity) = if line.unit_price_minor < 0 {
            (
                line.unit_price_minor.saturating_neg(),
                line.quantity.saturating_neg(),
            )
        } else {
            (line.unit_price_minor, line.quantity)
        };
        let cat = Category::of(&inv.tax_treatment, line.vat_rate_bp);
        w.open("ram:IncludedSupplyChainTradeLineItem");
        w.open("ram:AssociatedDocumentLineDocument");
        w.leaf("ram:LineID", &(i + 1).to_string());
        w.close("ram:AssociatedDocumentLineDocument");
        w.open("ram:SpecifiedTradeProduct");
        w.leaf("ram:Name", &line.description);
        w.close("ram:SpecifiedTradeProduct");
        w.open("ram:SpecifiedLineTradeAgreement");
        w.open("ram:NetPriceProductTradePrice");
        w.leaf("ram:ChargeAmount", &amount(price));
        w.close("ram:NetPriceProductTradePrice");
        w.close("ram:SpecifiedLineTradeAgreement");
        w.open("ram:SpecifiedLineTradeDelivery");
        w.leaf_with(
            "ram:BilledQuantity",
            &[("unitCode", "C62")],
            &quantity.to_string(),
        );
        w.close("ram:SpecifiedLineTradeDelivery");
        w.open("ram:SpecifiedLineTradeSettlement");
        w.open("ram:ApplicableTradeTax");
        w.leaf("ram:TypeCode", "VAT");
        w.leaf("ram:CategoryCode", cat.code());
        w.leaf("ram:RateApplicablePercent", &rate_decimal(line.vat_rate_bp));
        w.close("ram:ApplicableTradeTax");
        if let Some((start, end)) = &line.period {
            w.open("ram:BillingSpecifiedPeriod");
            w.date("ram:StartDateTime", start);
            w.date("ram:EndDateTime", end);
            w.close("ram:BillingSpecifiedPeriod");
        }
        w.open("ram:SpecifiedTradeSettlementLineMonetarySummation");
        w.leaf("ram:LineTotalAmount", &amount(line.net_minor));
        w.close("ram:SpecifiedTradeSettlementLineMonetarySummation");
        w.close("ram:SpecifiedLineTradeSettlement");
        w.close("ram:IncludedSupplyChainTradeLineItem");
    }

    w.open("ram:ApplicableHeaderTradeAgreement");
    party(&mut w, "ram:SellerTradeParty", &inv.seller, true);
    party(&mut w, "ram:BuyerTradeParty", &inv.buyer, false);
    w.close("ram:ApplicableHeaderTradeAgreement");

    w.empty("ram:ApplicableHeaderTradeDelivery");

    w.open("ram:ApplicableHeaderTradeSettlement");
    w.leaf("ram:InvoiceCurrencyCode", &inv.currency);
    if let Some(p) = &inv.payment {
        let code = payment_means_code(&p.method);
        w.open("ram:SpecifiedTradeSettlementPaymentMeans");
        w.leaf("ram:TypeCode", code);
        w.leaf("ram:Information", &p.method);
        // BT-87: the last digits of the card, when the method shows them.
        let digits: String = p
            .method
            .chars()
            .rev()
            .take_while(char::is_ascii_digit)
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .collect();
        if code == "48" && (4..=6).contains(&digits.len()) {
            w.open("ram:ApplicableTradeSettlementFinancialCard");
            w.leaf("ram:ID", &digits);
            w.close("ram:ApplicableTradeSettlementFinancialCard");
        }
        w.close("ram:SpecifiedTradeSettlementPaymentMeans");
    }
    for r in &inv.totals_per_rate {
        let cat = Category::of(&inv.tax_treatment, r.rate_bp);
        w.open("ram:ApplicableTradeTax");
        w.leaf("ram:CalculatedAmount", &amount(r.vat_minor));
        w.leaf("ram:TypeCode", "VAT");
        if let Some(reason) = cat.exemption_text(lang) {
            w.leaf("ram:ExemptionReason", reason);
        }
        w.leaf("ram:BasisAmount", &amount(r.net_minor));
        w.leaf("ram:CategoryCode", cat.code());
        if let Some(code) = cat.exemption_code() {
            w.leaf("ram:ExemptionReasonCode", code);
        }
        w.leaf("ram:RateApplicablePercent", &rate_decimal(r.rate_bp));
        w.close("ram:ApplicableTradeTax");
    }
    // BG-14: the invoicing period, from the first service day to the last one.
    let starts = inv
        .lines
        .iter()
        .filter_map(|l| l.period.as_ref().map(|p| compact_date(&p.0)));
    let ends = inv
        .lines
        .iter()
        .filter_map(|l| l.period.as_ref().map(|p| compact_date(&p.1)));
    if let (Some(start), Some(end)) = (starts.min(), ends.max()) {
        w.open("ram:BillingSpecifiedPeriod");
        for (tag, date) in [("ram:StartDateTime", start), ("ram:EndDateTime", end)] {
            w.open(tag);
            w.leaf_with("udt:DateTimeString", &[("format", "102")], &date);
            w.close(tag);
        }
        w.close("ram:BillingSpecifiedPeriod");
    }
    let due = amount_due(inv);
    if due > 0 {
        // BR-CO-25: an amount due needs payment terms or a due date.
        let terms = match inv.kind {
            DocumentKind::Invoice => labels(lang).terms_on_receipt,
            DocumentKind::CreditNote { .. } => labels(lang).terms_refund,
        };
        w.open("ram:SpecifiedTradePaymentTerms");
        w.leaf("ram:Description", terms);
        w.close("ram:SpecifiedTradePaymentTerms");
    }
    w.open("ram:SpecifiedTradeSettlementHeaderMonetarySummation");
    w.leaf("ram:LineTotalAmount", &amount(inv.net_total_minor));
    w.leaf("ram:TaxBasisTotalAmount", &amount(inv.net_total_minor));
    w.leaf_with(
        "ram:TaxTotalAmount",
        &[("currencyID", &inv.currency)],
        &amount(inv.vat_total_minor),
    );
    w.leaf("ram:GrandTotalAmount", &amount(inv.grand_total_minor));
    if let Some(p) = &inv.payment {
        w.leaf("ram:TotalPrepaidAmount", &amount(p.amount_minor));
    }
    w.leaf("ram:DuePayableAmount", &amount(due));
    w.close("ram:SpecifiedTradeSettlementHeaderMonetarySummation");
    if let DocumentKind::CreditNote { original_number } = &inv.kind {
        w.open("ram:InvoiceReferencedDocument");
        w.leaf("ram:IssuerAssignedID", original_number);
        w.close("ram:InvoiceReferencedDocument");
    }
    w.close("ram:ApplicableHeaderTradeSettlement");
    w.close("rsm:SupplyChainTradeTransaction");
    w.close("rsm:CrossIndustryInvoice");
    w.out
}
