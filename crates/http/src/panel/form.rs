//! A form being filled in: what the visitor typed (kept on a failed submit, passwords and
//! tokens excepted), the error next to each field, and a message for the whole form.

use super::error::message_of;
use super::i18n::Tr;
use super::session::{CSRF_FIELD, Fields};
use guichet_app::AppError;

#[derive(Debug, Clone, Default)]
pub struct Form {
    values: Vec<(String, String)>,
    errors: Vec<(String, String)>,
    /// A message about the whole form (an error that names no field).
    pub banner: Option<String>,
}

/// Fields never sent back to the browser.
fn secret(name: &str) -> bool {
    name == CSRF_FIELD || name.contains("password") || name == "number" || name == "cvc"
}

impl Form {
    pub fn new() -> Self {
        Self::default()
    }

    /// Prefilled values (for instance a profile).
    pub fn with(mut self, name: &str, value: &str) -> Self {
        self.values.retain(|(k, _)| k != name);
        self.values.push((name.to_owned(), value.to_owned()));
        self
    }

    pub fn from_fields(f: &Fields) -> Self {
        Self {
            values: f.0.iter().filter(|(k, _)| !secret(k)).cloned().collect(),
            errors: Vec::new(),
            banner: None,
        }
    }

    pub fn v(&self, name: &str) -> &str {
        self.values
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .unwrap_or("")
    }

    /// Whether `name` holds `value` (selected options, checked boxes).
    pub fn is(&self, name: &str, value: &str) -> bool {
        self.v(name) == value
    }

    pub fn err(&self, name: &str) -> Option<&str> {
        self.errors
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    pub fn has_errors(&self) -> bool {
        !self.errors.is_empty() || self.banner.is_some()
    }

    /// Put a refused use case's errors next to their fields (`known` are the fields this form
    /// shows), or above the form.
    pub fn fail(mut self, tr: &Tr, e: &AppError, known: &[&str]) -> Self {
        let mut unplaced = Vec::new();
        for f in &e.fields {
            let key = format!("err-{}", f.code.replace('_', "-"));
            let msg = tr
                .try_t(&key)
                .map(str::to_owned)
                .unwrap_or_else(|| f.message.clone());
            let field = f.field.replace("address.", "address_");
            if known.contains(&field.as_str()) {
                self.errors.push((field, msg));
            } else {
                unplaced.push(msg);
            }
        }
        if e.fields.is_empty() {
            self.banner = Some(message_of(tr, e));
        } else if !unplaced.is_empty() {
            self.banner = Some(unplaced.join(" "));
        } else {
            self.banner = Some(tr.t("form-has-errors").to_owned());
        }
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use guichet_domain::Language;

    #[test]
    fn keeps_what_was_typed_but_not_secrets() {
        let f = Fields(vec![
            ("email".into(), "a@b.c".into()),
            ("password".into(), "hunter2hunter2".into()),
            ("_csrf".into(), "x".into()),
        ]);
        let form = Form::from_fields(&f);
        assert_eq!(form.v("email"), "a@b.c");
        assert_eq!(form.v("password"), "");
        assert_eq!(form.v("_csrf"), "");
    }

    #[test]
    fn field_errors_go_next_to_their_field() {
        let tr = Tr::new(Language::En);
        let e = AppError::field("email", "invalid_email", "not an address");
        let form = Form::new().fail(&tr, &e, &["email"]);
        assert!(form.err("email").is_some());
        assert!(form.banner.is_some());
        let form = Form::new().fail(&tr, &e, &["city"]);
        assert!(form.err("email").is_none());
        assert!(form.banner.is_some());
    }
}
