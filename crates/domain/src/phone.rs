//! Mobile phone numbers in E.164 form, the only form an SMS gateway accepts everywhere.

use crate::validation::FieldError;
use serde::{Deserialize, Serialize};
use std::fmt;

/// An E.164 number: `+`, a country code that does not start with 0, 8 to 15 digits in all.
/// Spaces, dots, dashes and parentheses typed by people are removed first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct PhoneNumber(String);

impl PhoneNumber {
    pub fn parse(input: &str) -> Result<Self, FieldError> {
        let cleaned: String = input
            .trim()
            .chars()
            .filter(|c| !matches!(c, ' ' | '.' | '-' | '(' | ')'))
            .collect();
        let err = || FieldError {
            field: String::new(),
            code: "invalid_phone",
            message: "a mobile number in international form is expected, e.g. +33612345678".into(),
        };
        let digits = cleaned.strip_prefix('+').ok_or_else(err)?;
        if !(8..=15).contains(&digits.len())
            || !digits.chars().all(|c| c.is_ascii_digit())
            || digits.starts_with('0')
        {
            return Err(err());
        }
        Ok(Self(cleaned))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The number with all but its last two digits hidden, for notices and logs.
    pub fn masked(&self) -> String {
        let n = self.0.len();
        let visible = &self.0[n.saturating_sub(2)..];
        format!(
            "{}{}{}",
            &self.0[..3.min(n)],
            "•".repeat(n.saturating_sub(5)),
            visible
        )
    }
}

impl TryFrom<String> for PhoneNumber {
    type Error = String;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse(&value).map_err(|e| e.message)
    }
}

impl From<PhoneNumber> for String {
    fn from(value: PhoneNumber) -> Self {
        value.0
    }
}

impl fmt::Display for PhoneNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_e164() {
        assert_eq!(
            PhoneNumber::parse("+33 6 12 34 56 78").unwrap().as_str(),
            "+33612345678"
        );
        assert_eq!(
            PhoneNumber::parse("+33612345678").unwrap().masked(),
            "+33•••••••78"
        );
        for bad in [
            "0612345678",
            "+0612345678",
            "+33",
            "+33abc45678",
            "+1234567890123456",
        ] {
            assert!(PhoneNumber::parse(bad).is_err(), "{bad}");
        }
    }
}
