//! One layout for every mail, in plain text and HTML, from the same structured content, so
//! the two versions never say different things.

use guichet_domain::Language;

/// What a mail says, before layout.
pub struct Content {
    pub subject: String,
    pub greeting: String,
    pub paragraphs: Vec<String>,
    /// A button (HTML) or a labelled link (text).
    pub action: Option<(String, String)>,
    pub after: Vec<String>,
}

#[derive(Debug, Clone)]
pub struct Rendered {
    pub subject: String,
    pub text: String,
    pub html: String,
}

pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(c),
        }
    }
    out
}

fn footer(lang: Language, provider: &str, reference: &str, panel: &str) -> (String, String) {
    match lang {
        Language::Fr => (
            provider.to_string(),
            format!(
                "Référence de cet e-mail : {reference}. Pour vérifier qu'il vient bien de nous, \
                 collez cette référence dans votre espace client ({panel}), rubrique « E-mails de \
                 service ». Nous ne vous demanderons jamais votre mot de passe par e-mail."
            ),
        ),
        Language::En => (
            provider.to_string(),
            format!(
                "Reference of this e-mail: {reference}. To check that it really comes from us, \
                 paste this reference in your customer space ({panel}), under \"Service \
                 e-mails\". We will never ask for your password by e-mail."
            ),
        ),
    }
}

pub fn render(
    c: &Content,
    lang: Language,
    provider: &str,
    reference: &str,
    panel: &str,
) -> Rendered {
    let (sign, note) = footer(lang, provider, reference, panel);
    let mut text = String::new();
    text.push_str(&c.greeting);
    text.push_str("\n\n");
    for p in &c.paragraphs {
        text.push_str(p);
        text.push_str("\n\n");
    }
    if let Some((label, url)) = &c.action {
        text.push_str(&format!("{label}:\n{url}\n\n"));
    }
    for p in &c.after {
        text.push_str(p);
        text.push_str("\n\n");
    }
    text.push_str(&format!("-- \n{sign}\n{note}\n"));

    let mut html = String::from(
        "<!doctype html><html><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width\"></head>\
         <body style=\"font-family:system-ui,sans-serif;color:#1b1f24;max-width:36rem;margin:auto;padding:1rem\">",
    );
    html.push_str(&format!("<p>{}</p>", escape(&c.greeting)));
    for p in &c.paragraphs {
        html.push_str(&format!("<p>{}</p>", escape(p)));
    }
    if let Some((label, url)) = &c.action {
        html.push_str(&format!(
            "<p><a href=\"{}\" style=\"display:inline-block;padding:.6rem 1rem;background:#1d4ed8;\
             color:#fff;border-radius:.3rem;text-decoration:none\">{}</a></p>\
             <p style=\"font-size:.85rem;color:#555\">{}</p>",
            escape(url),
            escape(label),
            escape(url)
        ));
    }
    for p in &c.after {
        html.push_str(&format!("<p>{}</p>", escape(p)));
    }
    html.push_str(&format!(
        "<hr><p style=\"font-size:.85rem;color:#555\">{}<br>{}</p></body></html>",
        escape(&sign),
        escape(&note)
    ));
    Rendered {
        subject: c.subject.clone(),
        text,
        html,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn html_is_escaped_and_text_carries_the_link() {
        let c = Content {
            subject: "S".into(),
            greeting: "Hello <b>".into(),
            paragraphs: vec!["a & b".into()],
            action: Some(("Go".into(), "https://x/?a=1&b=2".into())),
            after: vec![],
        };
        let r = render(&c, Language::En, "P", "GC-AAAA-BBBB", "https://x");
        assert!(r.html.contains("Hello &lt;b&gt;"));
        assert!(r.html.contains("a &amp; b"));
        assert!(r.text.contains("https://x/?a=1&b=2"));
        assert!(r.text.contains("GC-AAAA-BBBB"));
        assert!(r.html.contains("GC-AAAA-BBBB"));
    }
}
