//! Where everything goes on the page: header with seller and buyer, the table of lines
//! (repeating its header on each new page), VAT summary, totals, payment status, mentions
//! and a footer with page numbers. The result is a plain list of positioned texts and
//! rectangles per page, so pagination is tested without reading a PDF.

use crate::format::{human_date, money, number, rate};
use crate::labels::{Labels, country, labels};
use crate::text::Fonts;
use crate::{Category, DocumentKind, Invoice, Lang, Party, amount_due};

/// A4 in points.
pub(crate) const PAGE_W: f32 = 595.28;
pub(crate) const PAGE_H: f32 = 841.89;
const MARGIN: f32 = 42.52;
const RIGHT: f32 = PAGE_W - MARGIN;
const WIDTH: f32 = RIGHT - MARGIN;
/// Content stops here; the footer lives below.
const BOTTOM: f32 = PAGE_H - 62.0;
const FOOTER_BASELINE: f32 = PAGE_H - 30.0;

/// Grey levels (0 black, 255 white).
const INK: u8 = 25;
const SOFT: u8 = 85;
const FAINT: u8 = 120;
const RULE: u8 = 205;
const SHADE: u8 = 234;
const PANEL: u8 = 245;

/// One thing drawn on a page. Coordinates from the top-left corner, y downwards; a text's
/// `y` is its baseline and its string only holds characters the font has.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Op {
    Text {
        x: f32,
        y: f32,
        size: f32,
        bold: bool,
        gray: u8,
        text: String,
    },
    Rect {
        x: f32,
        y: f32,
        w: f32,
        h: f32,
        gray: u8,
    },
}

pub(crate) type Page = Vec<Op>;

/// Horizontal alignment of a text in a box.
#[derive(Clone, Copy)]
enum Align {
    Left,
    Right,
}

/// Columns of the table of lines: (left x, width, alignment).
const COLS: [(f32, f32, Align); 6] = {
    let w = [182.0, 104.0, 38.0, 70.0, 46.0];
    let x1 = MARGIN + w[0];
    let x2 = x1 + w[1];
    let x3 = x2 + w[2];
    let x4 = x3 + w[3];
    let x5 = x4 + w[4];
    [
        (MARGIN, w[0], Align::Left),
        (x1, w[1], Align::Left),
        (x2, w[2], Align::Right),
        (x3, w[3], Align::Right),
        (x4, w[4], Align::Right),
        (x5, RIGHT - x5, Align::Right),
    ]
};
const CELL_PAD: f32 = 5.0;
const ROW_SIZE: f32 = 8.5;
const ROW_LINE: f32 = 11.0;
/// A row never takes more lines than this (a runaway description must not loop pages).
const MAX_ROW_LINES: usize = 40;

struct Layout<'a> {
    fonts: &'a Fonts,
    inv: &'a Invoice,
    lang: Lang,
    l: &'static Labels,
    pages: Vec<Page>,
    /// The page drawn on.
    current: usize,
    y: f32,
}

impl Layout<'_> {
    fn page(&mut self) -> &mut Page {
        while self.pages.len() <= self.current {
            self.pages.push(Vec::new());
        }
        &mut self.pages[self.current]
    }

    /// Draws text with its left edge at `x`; returns its width.
    fn text(&mut self, x: f32, y: f32, size: f32, bold: bool, gray: u8, s: &str) -> f32 {
        let face = self.fonts.face(bold);
        let text = face.printable(s);
        let w = face.width(&text, size);
        if !text.trim().is_empty() {
            self.page().push(Op::Text {
                x,
                y,
                size,
                bold,
                gray,
                text,
            });
        }
        w
    }

    /// Draws text with its right edge at `right`.
    fn text_right(&mut self, right: f32, y: f32, size: f32, bold: bool, gray: u8, s: &str) {
        let face = self.fonts.face(bold);
        let w = face.width(&face.printable(s), size);
        self.text(right - w, y, size, bold, gray, s);
    }

    /// The size at which `s` fits in `max` points (at most `size`, at least 5 pt).
    fn fit(&self, s: &str, size: f32, bold: bool, max: f32) -> f32 {
        let face = self.fonts.face(bold);
        let w = face.width(&face.printable(s), size);
        if w <= max || w <= 0.0 {
            size
        } else {
            (size * max / w).max(5.0)
        }
    }

    fn rect(&mut self, x: f32, y: f32, w: f32, h: f32, gray: u8) {
        self.page().push(Op::Rect { x, y, w, h, gray });
    }

    fn wrap(&self, s: &str, size: f32, bold: bool, max: f32) -> Vec<String> {
        let face = self.fonts.face(bold);
        face.wrap(&face.printable(s), size, max)
    }

    fn title(&self) -> &'static str {
        match self.inv.kind {
            DocumentKind::Invoice => self.l.invoice,
            DocumentKind::CreditNote { .. } => self.l.credit_note,
        }
    }

    /// Starts a new page with a one-line reminder of the document.
    fn new_page(&mut self) {
        self.pages.push(Vec::new());
        self.current = self.pages.len() - 1;
        self.y = MARGIN;
        let head = format!(
            "{} {} {} ({})",
            self.title(),
            self.l.number,
            self.inv.number,
            self.l.continued
        );
        self.text(MARGIN, self.y + 9.0, 9.0, true, SOFT, &head);
        self.y += 24.0;
    }

    /// Makes sure `h` points fit below the cursor, starting a new page otherwise.
    fn room(&mut self, h: f32) -> bool {
        if self.y + h > BOTTOM {
            self.new_page();
            true
        } else {
            false
        }
    }

    /// The lines that describe a party, after its name.
    fn party_lines(&self, p: &Party) -> Vec<String> {
        let mut out = Vec::new();
        if p.organisation
            .as_deref()
            .is_some_and(|o| !o.trim().is_empty())
            && !p.name.trim().is_empty()
        {
            out.push(p.name.clone());
        }
        out.extend(
            p.address_lines
                .iter()
                .filter(|l| !l.trim().is_empty())
                .cloned(),
        );
        let town = [p.postal_code.as_deref(), p.city.as_deref()]
            .into_iter()
            .flatten()
            .filter(|s| !s.trim().is_empty())
            .collect::<Vec<_>>()
            .join(" ");
        if !town.is_empty() {
            out.push(town);
        }
        out.push(country(&p.country, self.lang));
        if let Some(vat) = p.vat_number.as_deref().filter(|v| !v.trim().is_empty()) {
            out.push((self.l.key_value)(self.l.vat_number, vat));
        }
        for (k, v) in &p.legal_ids {
            out.push((self.l.key_value)(k, v));
        }
        if let Some(email) = p.email.as_deref().filter(|e| !e.trim().is_empty()) {
            out.push(email.to_string());
        }
        out
    }

    fn display_name(p: &Party) -> &str {
        p.organisation
            .as_deref()
            .filter(|o| !o.trim().is_empty())
            .unwrap_or(&p.name)
    }

    fn header(&mut self) {
        let inv = self.inv;
        // Seller, top left.
        let left_w = 265.0;
        let mut y = MARGIN;
        for line in self.wrap(Self::display_name(&inv.seller), 13.0, true, left_w) {
            y += 14.0;
            self.text(MARGIN, y, 13.0, true, INK, &line);
        }
        y += 4.0;
        for item in self.party_lines(&inv.seller) {
            for line in self.wrap(&item, 8.5, false, left_w) {
                y += 11.0;
                self.text(MARGIN, y, 8.5, false, SOFT, &line);
            }
        }
        let left_bottom = y;

        // Title, number and dates, top right.
        let mut y = MARGIN + 20.0;
        let title = self.title().to_uppercase();
        self.text_right(RIGHT, y, 20.0, true, INK, &title);
        y += 18.0;
        let number = format!("{} {}", self.l.number, inv.number);
        let size = self.fit(&number, 10.0, true, 230.0);
        self.text_right(RIGHT, y, size, true, INK, &number);
        y += 13.0;
        let date = (self.l.key_value)(self.l.date, &human_date(&inv.issue_date, self.lang));
        self.text_right(RIGHT, y, 9.0, false, SOFT, &date);
        if let DocumentKind::CreditNote { original_number } = &inv.kind {
            y += 12.0;
            let orig = (self.l.key_value)(self.l.original_invoice, original_number);
            let size = self.fit(&orig, 9.0, false, 230.0);
            self.text_right(RIGHT, y, size, false, SOFT, &orig);
        }

        // Buyer, in a panel under the title.
        let box_x = 320.0;
        let box_w = RIGHT - box_x;
        let inner = box_w - 16.0;
        let mut rows: Vec<(f32, bool, u8, String)> =
            vec![(7.5, false, FAINT, self.l.billed_to.into())];
        for line in self.wrap(Self::display_name(&inv.buyer), 10.0, true, inner) {
            rows.push((10.0, true, INK, line));
        }
        for item in self.party_lines(&inv.buyer) {
            for line in self.wrap(&item, 8.5, false, inner) {
                rows.push((8.5, false, SOFT, line));
            }
        }
        let top = y + 14.0;
        let height: f32 = rows.iter().map(|(s, ..)| s * 1.3).sum::<f32>() + 14.0;
        self.rect(box_x, top, box_w, height, PANEL);
        let mut by = top + 6.0;
        for (size, bold, gray, line) in rows {
            by += size * 1.3;
            self.text(box_x + 8.0, by - size * 0.3, size, bold, gray, &line);
        }
        self.y = left_bottom.max(top + height) + 24.0;
    }

    fn table_header(&mut self) {
        let y = self.y;
        self.rect(MARGIN, y, WIDTH, 18.0, SHADE);
        let names = [
            self.l.col_description,
            self.l.col_period,
            self.l.col_quantity,
            self.l.col_unit_price,
            self.l.col_vat,
            self.l.col_net,
        ];
        for ((x, w, align), name) in COLS.iter().zip(names) {
            let size = self.fit(name, 8.0, true, w - 2.0 * CELL_PAD);
            match align {
                Align::Left => {
                    self.text(x + CELL_PAD, y + 12.0, size, true, INK, name);
                }
                Align::Right => self.text_right(x + w - CELL_PAD, y + 12.0, size, true, INK, name),
            }
        }
        self.y += 18.0;
    }

    fn rows(&mut self) {
        let inv = self.inv;
        let (exp, cur, lang) = (inv.currency_exponent, inv.currency.as_str(), self.lang);
        self.table_header();
        for line in &inv.lines {
            let mut desc = self.wrap(
                &line.description,
                ROW_SIZE,
                false,
                COLS[0].1 - 2.0 * CELL_PAD,
            );
            if desc.len() > MAX_ROW_LINES {
                desc.truncate(MAX_ROW_LINES);
                if let Some(last) = desc.last_mut() {
                    last.push('…');
                }
            }
            let period = line.period.as_ref().map_or_else(Vec::new, |(s, e)| {
                let text = format!("{} – {}", human_date(s, lang), human_date(e, lang));
                self.wrap(&text, ROW_SIZE, false, COLS[1].1 - 2.0 * CELL_PAD)
            });
            let numbers = [
                number(line.quantity, 0, lang),
                money(line.unit_price_minor, exp, cur, lang),
                rate(line.vat_rate_bp, lang),
                money(line.net_minor, exp, cur, lang),
            ];
            let lines = desc.len().max(period.len()).max(1);
            let h = lines as f32 * ROW_LINE + 2.0 * CELL_PAD;
            if self.room(h) {
                self.table_header();
            }
            let base = self.y + CELL_PAD + ROW_SIZE;
            for (i, l) in desc.iter().enumerate() {
                self.text(
                    COLS[0].0 + CELL_PAD,
                    base + i as f32 * ROW_LINE,
                    ROW_SIZE,
                    false,
                    INK,
                    l,
                );
            }
            for (i, l) in period.iter().enumerate() {
                self.text(
                    COLS[1].0 + CELL_PAD,
                    base + i as f32 * ROW_LINE,
                    ROW_SIZE,
                    false,
                    SOFT,
                    l,
                );
            }
            for ((x, w, _), n) in COLS[2..].iter().zip(&numbers) {
                let size = self.fit(n, ROW_SIZE, false, w - 2.0 * CELL_PAD);
                self.text_right(x + w - CELL_PAD, base, size, false, INK, n);
            }
            self.y += h;
            self.rect(MARGIN, self.y - 0.5, WIDTH, 0.5, RULE);
        }
    }

    /// VAT summary on the left, totals and payment status on the right.
    fn totals(&mut self) {
        let inv = self.inv;
        let (exp, cur, lang) = (inv.currency_exponent, inv.currency.as_str(), self.lang);
        let l = self.l;

        // What the right column says, measured before drawing.
        let paid = inv.payment.as_ref().map_or(0, |p| p.amount_minor);
        let credit = matches!(inv.kind, DocumentKind::CreditNote { .. });
        let right_x = 322.0;
        let right_w = RIGHT - right_x;
        let status = inv.payment.as_ref().map(|p| {
            let date = human_date(&p.date, lang);
            let text = if credit {
                (l.refunded_on)(&date, &p.method)
            } else {
                (l.paid_on)(&date, &p.method)
            };
            self.wrap(&text, 8.5, false, right_w - 10.0)
        });
        let notes: Vec<String> = {
            let mut cats: Vec<Category> = inv
                .totals_per_rate
                .iter()
                .map(|r| Category::of(&inv.tax_treatment, r.rate_bp))
                .collect();
            cats.dedup();
            cats.iter()
                .filter_map(|c| c.exemption_text(lang))
                .flat_map(|t| self.wrap(t, 7.5, false, 245.0))
                .collect()
        };
        let left_h =
            16.0 + 16.0 + inv.totals_per_rate.len() as f32 * 13.0 + notes.len() as f32 * 10.0 + 6.0;
        let status_h = status
            .as_ref()
            .map_or(0.0, |s| s.len() as f32 * 11.0 + 6.0 + 14.0);
        let right_h = 3.0 * 15.0 + 6.0 + status_h + 18.0;
        self.y += 14.0;
        self.room(left_h.max(right_h));
        let top = self.y;

        // VAT summary.
        let mut y = top + 10.0;
        self.text(MARGIN, y, 9.0, true, INK, l.vat_summary);
        y += 6.0;
        self.rect(MARGIN, y, 250.0, 15.0, SHADE);
        self.text(MARGIN + 5.0, y + 10.5, 8.0, true, INK, l.rate);
        self.text_right(MARGIN + 160.0, y + 10.5, 8.0, true, INK, l.base);
        self.text_right(MARGIN + 245.0, y + 10.5, 8.0, true, INK, l.vat);
        y += 15.0;
        for r in &inv.totals_per_rate {
            y += 12.0;
            // The category code only where the rate alone does not say it (0 % lines).
            let label = match Category::of(&inv.tax_treatment, r.rate_bp) {
                Category::S => rate(r.rate_bp, lang),
                cat => format!("{} ({})", rate(r.rate_bp, lang), cat.code()),
            };
            self.text(MARGIN + 5.0, y - 1.0, 8.5, false, INK, &label);
            let base = money(r.net_minor, exp, cur, lang);
            let size = self.fit(&base, 8.5, false, 90.0);
            self.text_right(MARGIN + 160.0, y - 1.0, size, false, INK, &base);
            let vat = money(r.vat_minor, exp, cur, lang);
            let size = self.fit(&vat, 8.5, false, 80.0);
            self.text_right(MARGIN + 245.0, y - 1.0, size, false, INK, &vat);
            self.rect(MARGIN, y + 2.5, 250.0, 0.5, RULE);
            y += 1.0;
        }
        y += 4.0;
        for n in &notes {
            y += 10.0;
            self.text(MARGIN, y, 7.5, false, SOFT, n);
        }
        let left_bottom = y;

        // Totals.
        let mut y = top;
        let row =
            |me: &mut Self, y: &mut f32, label: &str, value: i64, bold: bool, shaded: bool| {
                if shaded {
                    me.rect(right_x, *y, right_w, 17.0, SHADE);
                }
                let size = if bold { 9.5 } else { 9.0 };
                me.text(right_x + 6.0, *y + 12.0, size, bold, INK, label);
                let v = money(value, exp, cur, lang);
                let vsize = me.fit(&v, size, bold, right_w - 110.0);
                me.text_right(RIGHT - 6.0, *y + 12.0, vsize, bold, INK, &v);
                *y += if shaded { 19.0 } else { 15.0 };
            };
        row(self, &mut y, l.total_net, inv.net_total_minor, false, false);
        row(self, &mut y, l.total_vat, inv.vat_total_minor, false, false);
        row(
            self,
            &mut y,
            l.total_gross,
            inv.grand_total_minor,
            true,
            true,
        );
        y += 6.0;
        if let Some(lines) = status {
            for s in lines {
                y += 11.0;
                self.text(right_x + 6.0, y, 8.5, false, SOFT, &s);
            }
            y += 4.0;
            let label = if credit {
                l.amount_refunded
            } else {
                l.amount_paid
            };
            row(self, &mut y, label, paid, false, false);
        }
        let due_label = if credit {
            l.amount_to_refund
        } else {
            l.amount_due
        };
        row(self, &mut y, due_label, amount_due(inv), true, false);
        self.y = left_bottom.max(y) + 8.0;
    }

    fn mentions(&mut self) {
        let mentions: Vec<String> = self
            .inv
            .mentions
            .iter()
            .filter(|m| !m.trim().is_empty())
            .cloned()
            .collect();
        if mentions.is_empty() {
            return;
        }
        self.y += 12.0;
        self.room(24.0);
        self.rect(MARGIN, self.y, WIDTH, 0.5, RULE);
        self.y += 4.0;
        for m in &mentions {
            for line in self.wrap(m, 7.5, false, WIDTH) {
                self.room(10.0);
                self.y += 10.0;
                self.text(MARGIN, self.y, 7.5, false, SOFT, &line);
            }
            self.y += 3.0;
        }
    }

    /// Seller's legal line and page numbers at the bottom of every page.
    fn footers(&mut self) {
        let seller = &self.inv.seller;
        let mut parts = vec![Self::display_name(seller).to_string()];
        parts.extend(seller.legal_ids.iter().map(|(k, v)| format!("{k} {v}")));
        if let Some(vat) = seller
            .vat_number
            .as_deref()
            .filter(|v| !v.trim().is_empty())
        {
            parts.push((self.l.key_value)(self.l.vat_number, vat));
        }
        let legal = parts.join(" — ");
        let total = self.pages.len();
        let size = self.fit(&legal, 7.0, false, WIDTH - 90.0);
        for i in 0..total {
            let count = format!("{} {}/{}", self.l.page, i + 1, total);
            self.current = i;
            self.rect(MARGIN, FOOTER_BASELINE - 10.0, WIDTH, 0.5, RULE);
            self.text(MARGIN, FOOTER_BASELINE, size, false, FAINT, &legal);
            self.text_right(RIGHT, FOOTER_BASELINE, 7.0, false, FAINT, &count);
        }
    }
}

/// Lays out a (normalized) document on as many A4 pages as its lines need.
pub(crate) fn layout(inv: &Invoice, fonts: &Fonts) -> Vec<Page> {
    let lang = Lang::of(inv);
    let mut l = Layout {
        fonts,
        inv,
        lang,
        l: labels(lang),
        pages: vec![Vec::new()],
        current: 0,
        y: MARGIN,
    };
    l.header();
    l.rows();
    l.totals();
    l.mentions();
    l.footers();
    l.pages
}
