//! E-mail addresses as Guichet accepts them: syntax checked, trimmed, compared case-insensitively.

use crate::validation::FieldError;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// A syntactically valid e-mail address, stored in lower case so that one mailbox maps to one
/// account whatever case the customer types. Whether the mailbox exists is proved separately,
/// by a confirmation mail.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct EmailAddress(String);

impl EmailAddress {
    pub const MAX_LEN: usize = 254;

    pub fn parse(input: &str) -> Result<Self, FieldError> {
        let v = input.trim().to_lowercase();
        let err = |code: &'static str, message: &str| FieldError {
            field: String::new(),
            code,
            message: message.to_owned(),
        };
        if v.is_empty() {
            return Err(err("required", "an e-mail address is required"));
        }
        if v.len() > Self::MAX_LEN {
            return Err(err(
                "too_long",
                "an e-mail address has at most 254 characters",
            ));
        }
        let parsed = email_address::EmailAddress::from_str(&v)
            .map_err(|_| err("invalid_email", "this is not a valid e-mail address"))?;
        // A display name ("Zoé <z@x.fr>") or an IP-literal domain is not an address we mail.
        if parsed.as_str() != v || v.contains(['<', '>', '[', ']', ' ']) {
            return Err(err("invalid_email", "this is not a valid e-mail address"));
        }
        let domain = parsed.domain();
        if !domain.contains('.') || domain.starts_with('.') || domain.ends_with('.') {
            return Err(err(
                "invalid_email",
                "the domain of this e-mail address is not valid",
            ));
        }
        Ok(Self(v))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn domain(&self) -> &str {
        self.0.rsplit_once('@').map(|(_, d)| d).unwrap_or("")
    }
}

impl TryFrom<String> for EmailAddress {
    type Error = String;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse(&value).map_err(|e| e.message)
    }
}

impl From<EmailAddress> for String {
    fn from(value: EmailAddress) -> Self {
        value.0
    }
}

impl fmt::Display for EmailAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_and_normalises() {
        let e = EmailAddress::parse("  Zoe.Martin@Example.FR ").unwrap();
        assert_eq!(e.as_str(), "zoe.martin@example.fr");
        assert_eq!(e.domain(), "example.fr");
    }

    #[test]
    fn refuses_bad_addresses() {
        for bad in [
            "",
            "plain",
            "a@b",
            "@example.com",
            "a@.com",
            "Zoé <z@example.com>",
            "a b@example.com",
            "a@[127.0.0.1]",
        ] {
            assert!(
                EmailAddress::parse(bad).is_err(),
                "{bad:?} should be refused"
            );
        }
        let long = format!("{}@example.com", "a".repeat(250));
        assert_eq!(EmailAddress::parse(&long).unwrap_err().code, "too_long");
    }
}
