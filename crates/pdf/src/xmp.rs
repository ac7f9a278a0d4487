//! Adds the Factur-X XMP properties that krilla 0.8 cannot write (no custom XMP yet): the
//! `fx:` namespace (DocumentType, DocumentFileName, Version, ConformanceLevel) and its PDF/A
//! extension schema description, without which a PDF/A-3 validator rejects the `fx:` keys.
//!
//! How: the finished PDF is patched in place. The trailer's /Root leads to the catalog's
//! /Metadata stream (krilla writes it unfiltered, with a direct /Length); the XMP packet is
//! extended (the Factur-X schema joins krilla's own `pdfaExtension:schemas` bag, the `fx:`
//! values get their own `rdf:Description`), its /Length is rewritten, and every
//! cross-reference offset behind the stream is moved by the size difference, as is
//! `startxref`. The file keeps a single revision (no incremental update). Any surprise in
//! the structure is an error, never a guess, and the result is checked: every in-use xref
//! entry must point at its `N G obj`.

use crate::PdfError;
use crate::pdf::XML_NAME;

/// The Factur-X 1.0 XMP namespace (with the mixed case and the trailing `#` of the spec).
pub(crate) const FX_NS: &str = "urn:factur-x:pdfa:CrossIndustryDocument:invoice:1p0#";

fn err(msg: &'static str) -> PdfError {
    PdfError::Metadata(msg)
}

/// One classic cross-reference entry: where its 10-digit offset sits in the file.
struct Entry {
    object: u32,
    offset: usize,
    in_use: bool,
    /// Position of the entry (its 20 bytes) in the file.
    at: usize,
}

/// The last cross-reference section of the file.
struct Xref {
    /// Where `xref` starts.
    start: usize,
    entries: Vec<Entry>,
    /// Position and length of the `startxref` number.
    startxref_at: usize,
    startxref_len: usize,
    /// The trailer dictionary's text.
    trailer: (usize, usize),
}

fn skip_ws(pdf: &[u8], mut i: usize) -> usize {
    while i < pdf.len() && matches!(pdf[i], b' ' | b'\r' | b'\n' | b'\t' | b'\x0c' | b'\0') {
        i += 1;
    }
    i
}

/// Reads an unsigned decimal at `i`; returns it and the position after it.
fn number(pdf: &[u8], i: usize) -> Option<(usize, usize)> {
    let end = pdf[i..]
        .iter()
        .position(|b| !b.is_ascii_digit())
        .map_or(pdf.len(), |n| i + n);
    if end == i || end - i > 12 {
        return None;
    }
    let s = std::str::from_utf8(&pdf[i..end]).ok()?;
    Some((s.parse().ok()?, end))
}

fn find(hay: &[u8], needle: &[u8], from: usize) -> Option<usize> {
    if from > hay.len() {
        return None;
    }
    hay[from..]
        .windows(needle.len())
        .position(|w| w == needle)
        .map(|p| p + from)
}

fn rfind(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).rposition(|w| w == needle)
}

/// The object number of an indirect reference `/Key N G R` inside `dict`.
fn reference(dict: &[u8], key: &[u8]) -> Option<u32> {
    let mut from = 0;
    // The key must not be a prefix of a longer name (/Root vs /RootX).
    loop {
        let k = find(dict, key, from)?;
        let after = k + key.len();
        from = after;
        if dict.get(after).is_some_and(|b| b.is_ascii_alphanumeric()) {
            continue;
        }
        let i = skip_ws(dict, after);
        let (num, i) = number(dict, i)?;
        let i = skip_ws(dict, i);
        let (_gen, i) = number(dict, i)?;
        let i = skip_ws(dict, i);
        if dict.get(i) != Some(&b'R') {
            return None;
        }
        return u32::try_from(num).ok();
    }
}

impl Xref {
    fn parse(pdf: &[u8]) -> Result<Xref, PdfError> {
        let sx = rfind(pdf, b"startxref").ok_or(err("no startxref"))?;
        let at = skip_ws(pdf, sx + b"startxref".len());
        let (start, end) = number(pdf, at).ok_or(err("bad startxref"))?;
        if pdf.get(start..start + 4) != Some(b"xref") {
            return Err(err("startxref does not point at a classic xref table"));
        }
        let mut i = skip_ws(pdf, start + 4);
        let mut entries = Vec::new();
        while pdf.get(i).is_some_and(u8::is_ascii_digit) {
            let (first, j) = number(pdf, i).ok_or(err("bad xref subsection"))?;
            let j = skip_ws(pdf, j);
            let (count, j) = number(pdf, j).ok_or(err("bad xref subsection"))?;
            i = skip_ws(pdf, j);
            for n in 0..count {
                let e = pdf.get(i..i + 20).ok_or(err("truncated xref entry"))?;
                let (offset, _) = number(e, 0).ok_or(err("bad xref offset"))?;
                let in_use = match e.get(17) {
                    Some(b'n') => true,
                    Some(b'f') => false,
                    _ => return Err(err("bad xref entry type")),
                };
                let object = u32::try_from(first + n).map_err(|_| err("object number"))?;
                entries.push(Entry {
                    object,
                    offset,
                    in_use,
                    at: i,
                });
                i += 20;
            }
        }
        let t = find(pdf, b"trailer", i).ok_or(err("no trailer"))?;
        if t > sx {
            return Err(err("trailer after startxref"));
        }
        Ok(Xref {
            start,
            entries,
            startxref_at: at,
            startxref_len: end - at,
            trailer: (t, sx),
        })
    }

    fn offset_of(&self, object: u32) -> Option<usize> {
        self.entries
            .iter()
            .find(|e| e.object == object && e.in_use)
            .map(|e| e.offset)
    }
}

/// The body of object `n` (from `n G obj` to its `endobj`).
fn object<'a>(pdf: &'a [u8], xref: &Xref, n: u32) -> Result<(usize, &'a [u8]), PdfError> {
    let at = xref.offset_of(n).ok_or(err("object missing from xref"))?;
    let head = format!("{n} 0 obj");
    if pdf.get(at..at + head.len()) != Some(head.as_bytes()) {
        return Err(err("xref offset does not point at its object"));
    }
    let end = find(pdf, b"endobj", at).ok_or(err("object without endobj"))?;
    Ok((at, &pdf[at..end]))
}

/// The Factur-X schema, as one more entry of the `pdfaExtension:schemas` bag.
fn schema_entry() -> String {
    let prop = |name: &str, desc: &str| {
        format!(
            "<rdf:li rdf:parseType=\"Resource\"><pdfaProperty:name>{name}</pdfaProperty:name>\
             <pdfaProperty:valueType>Text</pdfaProperty:valueType>\
             <pdfaProperty:category>external</pdfaProperty:category>\
             <pdfaProperty:description>{desc}</pdfaProperty:description></rdf:li>"
        )
    };
    format!(
        "<rdf:li rdf:parseType=\"Resource\">\
         <pdfaSchema:schema>Factur-X PDFA Extension Schema</pdfaSchema:schema>\
         <pdfaSchema:namespaceURI>{FX_NS}</pdfaSchema:namespaceURI>\
         <pdfaSchema:prefix>fx</pdfaSchema:prefix>\
         <pdfaSchema:property><rdf:Seq>{}{}{}{}</rdf:Seq></pdfaSchema:property></rdf:li>",
        prop("DocumentFileName", "name of the embedded XML invoice file"),
        prop("DocumentType", "INVOICE"),
        prop("Version", "The actual version of the Factur-X XML schema"),
        prop(
            "ConformanceLevel",
            "The conformance level of the embedded Factur-X data"
        ),
    )
}

/// The `fx:` values of this document.
fn fx_description() -> String {
    format!(
        "<rdf:Description rdf:about=\"\" xmlns:fx=\"{FX_NS}\">\
         <fx:DocumentType>INVOICE</fx:DocumentType>\
         <fx:DocumentFileName>{XML_NAME}</fx:DocumentFileName>\
         <fx:Version>1.0</fx:Version>\
         <fx:ConformanceLevel>EN 16931</fx:ConformanceLevel></rdf:Description>"
    )
}

/// The XMP packet with the Factur-X schema and values added.
pub(crate) fn extend_xmp(xmp: &str) -> Result<String, PdfError> {
    if xmp.contains(FX_NS) {
        return Err(err("the XMP already has Factur-X properties"));
    }
    if xmp.matches("</rdf:RDF>").count() != 1 {
        return Err(err("the XMP has no single rdf:RDF"));
    }
    const BAG_END: &str = "</rdf:Bag></pdfaExtension:schemas>";
    let mut out = match xmp.matches(BAG_END).count() {
        // krilla already describes extension schemas: join its bag.
        1 => xmp.replacen(BAG_END, &format!("{}{BAG_END}", schema_entry()), 1),
        0 if !xmp.contains("pdfaExtension:schemas") => {
            let block = format!(
                "<rdf:Description rdf:about=\"\" \
                 xmlns:pdfaExtension=\"http://www.aiim.org/pdfa/ns/extension/\" \
                 xmlns:pdfaSchema=\"http://www.aiim.org/pdfa/ns/schema#\" \
                 xmlns:pdfaProperty=\"http://www.aiim.org/pdfa/ns/property#\">\
                 <pdfaExtension:schemas><rdf:Bag>{}</rdf:Bag></pdfaExtension:schemas>\
                 </rdf:Description></rdf:RDF>",
                schema_entry()
            );
            xmp.replacen("</rdf:RDF>", &block, 1)
        }
        _ => return Err(err("unexpected pdfaExtension:schemas layout")),
    };
    out = out.replacen("</rdf:RDF>", &format!("{}</rdf:RDF>", fx_description()), 1);
    Ok(out)
}

/// Every in-use xref entry points at `N G obj`.
pub(crate) fn xref_consistent(pdf: &[u8]) -> Result<(), PdfError> {
    let xref = Xref::parse(pdf)?;
    for e in xref.entries.iter().filter(|e| e.in_use) {
        let head = format!("{} ", e.object);
        let ok = pdf.get(e.offset..e.offset + head.len()) == Some(head.as_bytes())
            && find(pdf, b"obj", e.offset).is_some_and(|p| p - e.offset < 24);
        if !ok {
            return Err(err("an xref offset is off after patching"));
        }
    }
    Ok(())
}

/// Adds the Factur-X XMP to a PDF written by krilla (see the module documentation).
pub(crate) fn add_factur_x(pdf: &[u8]) -> Result<Vec<u8>, PdfError> {
    let xref = Xref::parse(pdf)?;
    let trailer = &pdf[xref.trailer.0..xref.trailer.1];
    let root = reference(trailer, b"/Root").ok_or(err("trailer without /Root"))?;
    let (_, catalog) = object(pdf, &xref, root)?;
    let meta = reference(catalog, b"/Metadata").ok_or(err("catalog without /Metadata"))?;
    let (meta_at, meta_obj) = object(pdf, &xref, meta)?;

    // The stream dictionary, its /Length and the stream data.
    let dict_start = find(meta_obj, b"<<", 0).ok_or(err("metadata without dictionary"))?;
    let kw = find(meta_obj, b"stream", dict_start).ok_or(err("metadata is not a stream"))?;
    let dict = &meta_obj[dict_start..kw];
    if find(dict, b"/Filter", 0).is_some() {
        return Err(err("the metadata stream is filtered"));
    }
    let len_key = find(dict, b"/Length", 0).ok_or(err("metadata without /Length"))?;
    let len_at = skip_ws(dict, len_key + b"/Length".len());
    let (old_len, len_end) = number(dict, len_at).ok_or(err("indirect or bad /Length"))?;
    if dict
        .get(skip_ws(dict, len_end))
        .is_some_and(u8::is_ascii_digit)
    {
        return Err(err("indirect /Length"));
    }
    let mut data_start = kw + b"stream".len();
    if meta_obj.get(data_start) == Some(&b'\r') {
        data_start += 1;
    }
    if meta_obj.get(data_start) != Some(&b'\n') {
        return Err(err("stream keyword without end of line"));
    }
    data_start += 1;
    let data_end = data_start + old_len;
    let tail = meta_obj
        .get(data_end..)
        .ok_or(err("stream longer than its object"))?;
    if !tail.trim_ascii_start().starts_with(b"endstream") {
        return Err(err("stream /Length does not end at endstream"));
    }
    let xmp =
        std::str::from_utf8(&meta_obj[data_start..data_end]).map_err(|_| err("XMP not UTF-8"))?;
    let new_xmp = extend_xmp(xmp)?;

    // Absolute positions in the file.
    let (len_abs, len_abs_end) = (
        meta_at + dict_start + len_at,
        meta_at + dict_start + len_end,
    );
    let (data_abs, data_abs_end) = (meta_at + data_start, meta_at + data_end);
    if xref.start < data_abs_end {
        return Err(err("the xref table is not after the metadata stream"));
    }
    let new_len = new_xmp.len().to_string();
    let delta = (new_len.len() + new_xmp.len()) as i64 - ((len_abs_end - len_abs) + old_len) as i64;
    let moved = |offset: usize| -> Result<usize, PdfError> {
        if offset > data_abs {
            usize::try_from(offset as i64 + delta).map_err(|_| err("offset underflow"))
        } else {
            Ok(offset)
        }
    };

    let mut out = Vec::with_capacity(pdf.len() + new_xmp.len());
    out.extend_from_slice(&pdf[..len_abs]);
    out.extend_from_slice(new_len.as_bytes());
    out.extend_from_slice(&pdf[len_abs_end..data_abs]);
    out.extend_from_slice(new_xmp.as_bytes());
    // Up to the xref table, then the table with moved offsets, then the trailer.
    let mut cursor = data_abs_end;
    for e in &xref.entries {
        out.extend_from_slice(&pdf[cursor..e.at]);
        let offset = if e.in_use { moved(e.offset)? } else { e.offset };
        if offset > 9_999_999_999 {
            return Err(err("offset too large for the xref table"));
        }
        out.extend_from_slice(format!("{offset:010}").as_bytes());
        cursor = e.at + 10;
    }
    out.extend_from_slice(&pdf[cursor..xref.startxref_at]);
    out.extend_from_slice(moved(xref.start)?.to_string().as_bytes());
    out.extend_from_slice(&pdf[xref.startxref_at + xref.startxref_len..]);

    xref_consistent(&out)?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn joins_an_existing_extension_bag() {
        let xmp = "<x:xmpmeta><rdf:RDF><rdf:Description rdf:about=\"\" \
                   xmlns:pdfaExtension=\"a\" xmlns:pdfaSchema=\"b\" xmlns:pdfaProperty=\"c\">\
                   <pdfaExtension:schemas><rdf:Bag><rdf:li>x</rdf:li></rdf:Bag>\
                   </pdfaExtension:schemas></rdf:Description></rdf:RDF></x:xmpmeta>";
        let out = extend_xmp(xmp).expect("extends");
        assert_eq!(out.matches("<pdfaExtension:schemas>").count(), 1);
        assert_eq!(out.matches("<rdf:Bag>").count(), 1);
        assert!(out.contains(
            "<rdf:li>x</rdf:li><rdf:li rdf:parseType=\"Resource\"><pdfaSchema:schema>Factur-X"
        ));
        assert!(out.contains("<fx:ConformanceLevel>EN 16931</fx:ConformanceLevel>"));
        assert!(out.ends_with("</rdf:Description></rdf:RDF></x:xmpmeta>"));
        assert!(extend_xmp(&out).is_err(), "never twice");
    }

    #[test]
    fn adds_an_extension_block_when_there_is_none() {
        let xmp = "<rdf:RDF><rdf:Description rdf:about=\"\"/></rdf:RDF>";
        let out = extend_xmp(xmp).expect("extends");
        assert_eq!(out.matches("<pdfaExtension:schemas><rdf:Bag>").count(), 1);
        assert!(out.contains("xmlns:pdfaProperty=\"http://www.aiim.org/pdfa/ns/property#\""));
        assert!(out.contains("<fx:DocumentType>INVOICE</fx:DocumentType>"));
        assert!(extend_xmp("<x/>").is_err());
    }

    #[test]
    fn reads_references() {
        assert_eq!(
            reference(b"<</Size 26/Root 25 0 R/Info 23 0 R>>", b"/Root"),
            Some(25)
        );
        assert_eq!(reference(b"<</RootX 1 0 R/Root 7 0 R>>", b"/Root"), Some(7));
        assert_eq!(reference(b"<</Root 7>>", b"/Root"), None);
    }
}
