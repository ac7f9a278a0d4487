//! Field-level validation errors, collected so that a client (and the panel) can show every
//! problem of a form at once, next to the field it belongs to.

use serde::Serialize;

/// One field that failed validation: which field, a stable code and a human message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FieldError {
    pub field: String,
    pub code: &'static str,
    pub message: String,
}

/// A collection of field errors built while validating a whole input.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Fields {
    errors: Vec<FieldError>,
}

impl Fields {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn push(&mut self, field: &str, code: &'static str, message: impl Into<String>) {
        self.errors.push(FieldError {
            field: field.to_owned(),
            code,
            message: message.into(),
        });
    }

    /// Validate one value, keeping the good result or recording the error under `field`.
    pub fn check<T, E: Into<FieldError>>(&mut self, field: &str, r: Result<T, E>) -> Option<T> {
        match r {
            Ok(v) => Some(v),
            Err(e) => {
                let mut fe: FieldError = e.into();
                fe.field = field.to_owned();
                self.errors.push(fe);
                None
            }
        }
    }

    pub fn is_empty(&self) -> bool {
        self.errors.is_empty()
    }

    pub fn into_vec(self) -> Vec<FieldError> {
        self.errors
    }

    /// `Ok(())` when nothing failed, otherwise every error.
    pub fn finish(self) -> Result<(), Vec<FieldError>> {
        if self.errors.is_empty() {
            Ok(())
        } else {
            Err(self.errors)
        }
    }
}

/// Trim a free-text field and check its length in characters (not bytes).
pub fn text(value: &str, min: usize, max: usize) -> Result<String, FieldError> {
    let v = value.trim();
    let n = v.chars().count();
    if n < min {
        return Err(FieldError {
            field: String::new(),
            code: if n == 0 { "required" } else { "too_short" },
            message: if n == 0 {
                "this field is required".into()
            } else {
                format!("must be at least {min} characters")
            },
        });
    }
    if n > max {
        return Err(FieldError {
            field: String::new(),
            code: "too_long",
            message: format!("must be at most {max} characters"),
        });
    }
    if v.chars().any(|c| c.is_control()) {
        return Err(FieldError {
            field: String::new(),
            code: "invalid_characters",
            message: "must not contain control characters".into(),
        });
    }
    Ok(v.to_owned())
}

/// Like [`text`] for an optional field: empty or absent becomes `None`.
pub fn optional_text(value: Option<&str>, max: usize) -> Result<Option<String>, FieldError> {
    match value.map(str::trim) {
        None | Some("") => Ok(None),
        Some(v) => text(v, 1, max).map(Some),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_trims_and_counts_characters() {
        assert_eq!(text("  Zoé ", 1, 3).unwrap(), "Zoé");
        assert_eq!(text("", 1, 3).unwrap_err().code, "required");
        assert_eq!(text("abcd", 1, 3).unwrap_err().code, "too_long");
        assert_eq!(
            text("a\u{0}b", 1, 3).unwrap_err().code,
            "invalid_characters"
        );
        assert_eq!(optional_text(Some("  "), 3).unwrap(), None);
    }
}
