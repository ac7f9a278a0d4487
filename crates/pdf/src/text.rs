//! The compiled-in fonts (DejaVu Sans, regular and bold) and what layout needs from them:
//! text widths, word wrapping and glyph runs for krilla. Shaping is one glyph per character
//! from the font's cmap and advances, enough for the Latin, Greek and Cyrillic text of
//! invoices, and it keeps the width we measure equal to the width we draw.

use krilla::text::{Font, GlyphId, KrillaGlyph};
use skrifa::charmap::Charmap;
use skrifa::instance::{LocationRef, Size};
use skrifa::metrics::GlyphMetrics;
use skrifa::{FontRef, MetadataProvider};

use crate::PdfError;

static REGULAR: &[u8] = include_bytes!("../fonts/DejaVuSans.ttf");
static BOLD: &[u8] = include_bytes!("../fonts/DejaVuSans-Bold.ttf");

/// One font: the krilla handle to draw with and the metrics to measure with.
pub(crate) struct Face {
    pub(crate) font: Font,
    charmap: Charmap<'static>,
    metrics: GlyphMetrics<'static>,
    units_per_em: f32,
}

impl Face {
    fn load(bytes: &'static [u8], name: &'static str) -> Result<Face, PdfError> {
        let font_ref = FontRef::new(bytes).map_err(|_| PdfError::Font(name))?;
        let units_per_em = f32::from(
            font_ref
                .metrics(Size::unscaled(), LocationRef::default())
                .units_per_em,
        );
        if units_per_em <= 0.0 {
            return Err(PdfError::Font(name));
        }
        let font = Font::new(bytes.into(), 0).ok_or(PdfError::Font(name))?;
        Ok(Face {
            font,
            charmap: font_ref.charmap(),
            metrics: font_ref.glyph_metrics(Size::unscaled(), LocationRef::default()),
            units_per_em,
        })
    }

    /// The glyph of a character, if the font has one.
    fn glyph(&self, ch: char) -> Option<skrifa::GlyphId> {
        self.charmap.map(ch).filter(|g| g.to_u32() != 0)
    }

    /// Advance of a glyph in em.
    fn advance(&self, gid: skrifa::GlyphId) -> f32 {
        self.metrics.advance_width(gid).unwrap_or(0.0) / self.units_per_em
    }

    /// The text as this font can draw it: control characters become spaces and characters
    /// without a glyph become `?` (PDF/A forbids showing the .notdef glyph).
    pub(crate) fn printable(&self, text: &str) -> String {
        text.chars()
            .map(|c| {
                if c.is_control() {
                    ' '
                } else if self.glyph(c).is_some() {
                    c
                } else {
                    '?'
                }
            })
            .collect()
    }

    /// Width of already printable text, in points.
    pub(crate) fn width(&self, text: &str, size: f32) -> f32 {
        text.chars()
            .filter_map(|c| self.glyph(c))
            .map(|g| self.advance(g))
            .sum::<f32>()
            * size
    }

    /// The glyph run krilla draws for already printable text; each glyph maps back to its
    /// character so the text can be copied and searched.
    pub(crate) fn glyphs(&self, text: &str) -> Vec<KrillaGlyph> {
        text.char_indices()
            .filter_map(|(i, c)| {
                let g = self.glyph(c)?;
                Some(KrillaGlyph::new(
                    GlyphId::new(g.to_u32()),
                    self.advance(g),
                    0.0,
                    0.0,
                    0.0,
                    i..i + c.len_utf8(),
                    None,
                ))
            })
            .collect()
    }

    /// Splits printable text into lines no wider than `max` points: on spaces, and inside a
    /// word only when the word alone is wider than the line. `\n` in the source (already
    /// turned into a space by [`Face::printable`]) is not special.
    pub(crate) fn wrap(&self, text: &str, size: f32, max: f32) -> Vec<String> {
        let mut lines = Vec::new();
        let mut current = String::new();
        for word in text.split(' ').filter(|w| !w.is_empty()) {
            let candidate = if current.is_empty() {
                word.to_string()
            } else {
                format!("{current} {word}")
            };
            if self.width(&candidate, size) <= max {
                current = candidate;
                continue;
            }
            if !current.is_empty() {
                lines.push(std::mem::take(&mut current));
            }
            if self.width(word, size) <= max {
                current = word.to_string();
                continue;
            }
            // A word wider than the line: cut it where it overflows.
            for ch in word.chars() {
                let mut next = current.clone();
                next.push(ch);
                if !current.is_empty() && self.width(&next, size) > max {
                    lines.push(std::mem::take(&mut current));
                    current.push(ch);
                } else {
                    current = next;
                }
            }
        }
        if !current.is_empty() || lines.is_empty() {
            lines.push(current);
        }
        lines
    }
}

/// The two faces every document uses.
pub(crate) struct Fonts {
    pub(crate) regular: Face,
    pub(crate) bold: Face,
}

impl Fonts {
    pub(crate) fn load() -> Result<Fonts, PdfError> {
        Ok(Fonts {
            regular: Face::load(REGULAR, "DejaVuSans.ttf")?,
            bold: Face::load(BOLD, "DejaVuSans-Bold.ttf")?,
        })
    }

    pub(crate) fn face(&self, bold: bool) -> &Face {
        if bold { &self.bold } else { &self.regular }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fonts_cover_invoice_text() {
        let f = Fonts::load().expect("fonts load");
        let s = "Désignation — Visa •••• 4242 — 1 234,56 € — Œuvre ß Ж";
        assert_eq!(f.regular.printable(s), s, "every character has a glyph");
        assert_eq!(f.regular.glyphs(s).len(), s.chars().count());
        assert_eq!(f.bold.printable("Total TTC €"), "Total TTC €");
        // A character DejaVu Sans lacks becomes '?', never the .notdef glyph.
        assert_eq!(f.regular.printable("a\u{4e2d}b\u{1}"), "a?b ");
    }

    #[test]
    fn widths_grow_with_text_and_size() {
        let f = Fonts::load().expect("fonts load");
        let w1 = f.regular.width("1 234,56 €", 10.0);
        assert!(w1 > 30.0 && w1 < 80.0, "{w1}");
        assert!((f.regular.width("1 234,56 €", 20.0) - 2.0 * w1).abs() < 0.01);
        assert!(f.bold.width("Total", 10.0) > f.regular.width("Total", 10.0));
        assert_eq!(f.regular.width("", 10.0), 0.0);
    }

    #[test]
    fn wrapping_respects_the_width() {
        let f = Fonts::load().expect("fonts load");
        let text = "Hébergement VPS S avec sauvegardes quotidiennes et adresse IPv4 dédiée";
        let lines = f.regular.wrap(text, 9.0, 100.0);
        assert!(lines.len() >= 3, "{lines:?}");
        for l in &lines {
            assert!(f.regular.width(l, 9.0) <= 100.0, "{l:?} too wide");
        }
        assert_eq!(lines.join(" "), text, "no word lost");

        let long = "x".repeat(200);
        let cut = f.regular.wrap(&long, 9.0, 50.0);
        assert!(cut.len() > 3);
        assert!(cut.iter().all(|l| f.regular.width(l, 9.0) <= 50.0));
        assert_eq!(cut.concat(), long);

        assert_eq!(f.regular.wrap("", 9.0, 50.0), vec![String::new()]);
    }
}
