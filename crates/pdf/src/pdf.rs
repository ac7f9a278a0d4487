//! Turns the laid-out pages into a PDF/A-3b with krilla: embedded DejaVu fonts, sRGB output
//! intent, document metadata dated from the issue date (never the clock), and `factur-x.xml`
//! attached as the document's associated file with AFRelationship Data.

use krilla::Document;
use krilla::SerializeSettings;
use krilla::color::rgb;
use krilla::configure::{Archival, ConfigurationBuilder};
use krilla::embed::{AssociationKind, EmbeddedFile, MimeType};
use krilla::geom::{PathBuilder, Point, Rect};
use krilla::metadata::{DateTime, Metadata};
use krilla::num::NormalizedF32;
use krilla::page::PageSettings;
use krilla::paint::{Fill, FillRule};

use crate::format::Date;
use crate::labels::labels;
use crate::layout::{Op, PAGE_H, PAGE_W, Page};
use crate::text::Fonts;
use crate::{DocumentKind, Invoice, Lang, PdfError};

/// The embedded file's name, fixed by the Factur-X specification.
pub(crate) const XML_NAME: &str = "factur-x.xml";

fn fill(gray: u8) -> Option<Fill> {
    Some(Fill {
        paint: rgb::Color::new(gray, gray, gray).into(),
        opacity: NormalizedF32::ONE,
        rule: FillRule::NonZero,
    })
}

/// Midnight UTC of the issue date: the creation date of the PDF and of its attachment.
fn issue_datetime(inv: &Invoice) -> Result<DateTime, PdfError> {
    let d = Date::parse(&inv.issue_date)
        .ok_or_else(|| PdfError::Invalid(format!("issue_date {:?}", inv.issue_date)))?;
    Ok(DateTime::new(d.year)
        .month(d.month)
        .day(d.day)
        .hour(0)
        .minute(0)
        .second(0)
        .utc_offset_hour(0)
        .utc_offset_minute(0))
}

/// Writes the pages and the XML into a PDF/A-3b (without the Factur-X XMP, added after).
pub(crate) fn write(
    inv: &Invoice,
    fonts: &Fonts,
    pages: &[Page],
    xml: Vec<u8>,
) -> Result<Vec<u8>, PdfError> {
    let configuration = ConfigurationBuilder::new()
        .with_archival_validator(Archival::A3_B)
        .finish()
        .map_err(|e| PdfError::Pdf(format!("PDF/A-3b configuration: {e:?}")))?;
    let settings = SerializeSettings {
        configuration,
        ..SerializeSettings::default()
    };
    let mut doc = Document::new_with(settings);
    let lang = Lang::of(inv);
    let title_word = match inv.kind {
        DocumentKind::Invoice => labels(lang).invoice,
        DocumentKind::CreditNote { .. } => labels(lang).credit_note,
    };
    let seller = inv
        .seller
        .organisation
        .clone()
        .filter(|o| !o.trim().is_empty())
        .unwrap_or_else(|| inv.seller.name.clone());
    let created = issue_datetime(inv)?;
    doc.set_metadata(
        Metadata::new()
            .title(format!("{title_word} {}", inv.number))
            .authors(vec![seller])
            .creator("Guichet".to_string())
            .language(inv.language.clone())
            .document_id(inv.number.clone())
            .creation_date(created),
    );

    let mime = MimeType::new("text/xml").ok_or(PdfError::Pdf("mime type text/xml".into()))?;
    doc.embed_file(EmbeddedFile {
        path: XML_NAME.to_string(),
        mime_type: Some(mime),
        description: Some("Factur-X invoice (EN 16931)".to_string()),
        association_kind: AssociationKind::Data,
        data: xml.into(),
        modification_date: Some(created),
        compress: Some(true),
        location: None,
    })
    .ok_or_else(|| PdfError::Pdf("factur-x.xml embedded twice".into()))?;

    let size = PageSettings::from_wh(PAGE_W, PAGE_H).ok_or(PdfError::Pdf("page size".into()))?;
    for ops in pages {
        let mut page = doc.start_page_with(size.clone());
        let mut surface = page.surface();
        for op in ops {
            match op {
                Op::Rect { x, y, w, h, gray } => {
                    let Some(rect) = Rect::from_xywh(*x, *y, *w, *h) else {
                        continue;
                    };
                    let mut pb = PathBuilder::new();
                    pb.push_rect(rect);
                    if let Some(path) = pb.finish() {
                        surface.set_fill(fill(*gray));
                        surface.draw_path(&path);
                    }
                }
                Op::Text {
                    x,
                    y,
                    size,
                    bold,
                    gray,
                    text,
                } => {
                    let face = fonts.face(*bold);
                    let glyphs = face.glyphs(text);
                    surface.set_fill(fill(*gray));
                    surface.draw_glyphs(
                        Point::from_xy(*x, *y),
                        &glyphs,
                        face.font.clone(),
                        text,
                        *size,
                        false,
                    );
                }
            }
        }
        surface.finish();
        page.finish();
    }
    doc.finish().map_err(|e| PdfError::Pdf(format!("{e:?}")))
}
