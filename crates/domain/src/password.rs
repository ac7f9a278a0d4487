//! The password policy: 12 to 128 characters, never truncated, no composition rules, and not
//! one of the 10,000 most common passwords (NIST SP 800-63B, OWASP ASVS 5.0 §6.2).

use crate::validation::FieldError;
use std::io::Read;
use std::sync::OnceLock;

pub const MIN_CHARS: usize = 12;
pub const MAX_CHARS: usize = 128;

static COMMON_GZ: &[u8] = include_bytes!("../data/common-passwords-10k.txt.gz");

fn common() -> &'static Vec<String> {
    static LIST: OnceLock<Vec<String>> = OnceLock::new();
    LIST.get_or_init(|| {
        let mut text = String::new();
        // The file is part of the crate; a failure here is a build defect caught by the tests.
        if flate2::read::GzDecoder::new(COMMON_GZ)
            .read_to_string(&mut text)
            .is_err()
        {
            return Vec::new();
        }
        let mut v: Vec<String> = text.lines().map(|l| l.trim().to_lowercase()).collect();
        v.sort();
        v.dedup();
        v
    })
}

/// Whether `candidate` (compared case-insensitively) is among the most common passwords.
pub fn is_common(candidate: &str) -> bool {
    common().binary_search(&candidate.to_lowercase()).is_ok()
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PasswordError {
    #[error("a password has at least {MIN_CHARS} characters")]
    TooShort,
    #[error("a password has at most {MAX_CHARS} characters")]
    TooLong,
    #[error("this password is among the most common ones; choose another")]
    TooCommon,
    #[error("this password is too close to your e-mail address or name")]
    TooPersonal,
}

impl PasswordError {
    pub fn code(&self) -> &'static str {
        match self {
            PasswordError::TooShort => "password_too_short",
            PasswordError::TooLong => "password_too_long",
            PasswordError::TooCommon => "password_too_common",
            PasswordError::TooPersonal => "password_too_personal",
        }
    }
}

impl From<PasswordError> for FieldError {
    fn from(e: PasswordError) -> Self {
        FieldError {
            field: "password".into(),
            code: e.code(),
            message: e.to_string(),
        }
    }
}

/// A password that satisfies the policy. It is never logged nor serialised.
pub struct Password(String);

impl std::fmt::Debug for Password {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Password(***)")
    }
}

impl Password {
    /// Check a new password. `personal` holds the e-mail address and names of the account:
    /// a password equal to one of them (ignoring case) is refused.
    pub fn new(candidate: &str, personal: &[&str]) -> Result<Self, PasswordError> {
        let n = candidate.chars().count();
        if n < MIN_CHARS {
            return Err(PasswordError::TooShort);
        }
        if n > MAX_CHARS {
            return Err(PasswordError::TooLong);
        }
        if is_common(candidate) {
            return Err(PasswordError::TooCommon);
        }
        let lower = candidate.to_lowercase();
        for p in personal {
            let p = p.trim().to_lowercase();
            if p.len() >= 4 && (lower == p || p.split('@').next() == Some(lower.as_str())) {
                return Err(PasswordError::TooPersonal);
            }
        }
        Ok(Self(candidate.to_owned()))
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn list_loads_ten_thousand_entries() {
        assert!(common().len() > 9_000, "{}", common().len());
        assert!(is_common("password"));
        assert!(is_common("PASSWORD"));
        assert!(!is_common("correct horse battery staple 42"));
    }

    #[test]
    fn policy() {
        assert_eq!(
            Password::new("short", &[]).unwrap_err(),
            PasswordError::TooShort
        );
        assert_eq!(
            Password::new(&"x".repeat(129), &[]).unwrap_err(),
            PasswordError::TooLong
        );
        assert!(Password::new(&"é".repeat(128), &[]).is_ok());
        // A common password long enough to pass the length rule.
        assert_eq!(
            Password::new("1qaz2wsx3edc", &[]).unwrap_err(),
            PasswordError::TooCommon
        );
        assert_eq!(
            Password::new("QWERTY123456", &[]).unwrap_err(),
            PasswordError::TooCommon
        );
        assert_eq!(
            Password::new("zoe.martin.home", &["zoe.martin.home@example.fr"]).unwrap_err(),
            PasswordError::TooPersonal
        );
        assert!(Password::new("a long enough passphrase", &["zoe@example.fr"]).is_ok());
        assert_eq!(
            format!(
                "{:?}",
                Password::new("a long enough passphrase", &[]).unwrap()
            ),
            "Password(***)"
        );
    }
}
