//! IBANs for SEPA direct debit: normalised, length checked for the SEPA countries, and the
//! ISO 13616 check digits verified (mod 97), so a typo is caught before a mandate is signed.

use crate::FieldError;

/// Length of the IBAN of each SEPA country (ISO 13616 registry).
const LENGTHS: &[(&str, usize)] = &[
    ("AD", 24),
    ("AT", 20),
    ("BE", 16),
    ("BG", 22),
    ("CH", 21),
    ("CY", 28),
    ("CZ", 24),
    ("DE", 22),
    ("DK", 18),
    ("EE", 20),
    ("ES", 24),
    ("FI", 18),
    ("FR", 27),
    ("GB", 22),
    ("GI", 23),
    ("GR", 27),
    ("HR", 21),
    ("HU", 28),
    ("IE", 22),
    ("IS", 26),
    ("IT", 27),
    ("LI", 21),
    ("LT", 20),
    ("LU", 20),
    ("LV", 21),
    ("MC", 27),
    ("MT", 31),
    ("NL", 18),
    ("NO", 15),
    ("PL", 28),
    ("PT", 25),
    ("RO", 24),
    ("SE", 24),
    ("SI", 19),
    ("SK", 24),
    ("SM", 27),
    ("VA", 22),
];

/// A checked IBAN, upper case without spaces.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Iban(String);

fn err(code: &'static str, message: &str) -> FieldError {
    FieldError {
        field: "iban".into(),
        code,
        message: message.into(),
    }
}

impl Iban {
    pub fn parse(input: &str) -> Result<Iban, FieldError> {
        let s: String = input
            .chars()
            .filter(|c| !c.is_whitespace() && *c != '-')
            .collect::<String>()
            .to_ascii_uppercase();
        if !s.bytes().all(|b| b.is_ascii_alphanumeric()) || s.len() < 5 {
            return Err(err("invalid_iban", "an IBAN has letters and digits only"));
        }
        let country = &s[..2];
        let Some(&(_, len)) = LENGTHS.iter().find(|(c, _)| *c == country) else {
            return Err(err(
                "iban_country_not_sepa",
                "this IBAN's country is not in the SEPA area",
            ));
        };
        if s.len() != len || !s[2..4].bytes().all(|b| b.is_ascii_digit()) {
            return Err(err(
                "invalid_iban",
                "this IBAN does not have the length of its country",
            ));
        }
        if mod97(&s) != 1 {
            return Err(err(
                "iban_check_digits",
                "this IBAN's check digits are wrong: check for a typo",
            ));
        }
        Ok(Iban(s))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn country(&self) -> &str {
        &self.0[..2]
    }

    /// `FR76 •••• 0189`: enough to recognise it, not enough to use it.
    pub fn masked(&self) -> String {
        format!("{} •••• {}", &self.0[..4], &self.0[self.0.len() - 4..])
    }
}

/// The IBAN, rotated (first four characters to the end), letters as numbers, mod 97.
fn mod97(s: &str) -> u32 {
    let rotated = s[4..].bytes().chain(s[..4].bytes());
    let mut r: u32 = 0;
    for b in rotated {
        let v = if b.is_ascii_digit() {
            u32::from(b - b'0')
        } else {
            u32::from(b - b'A') + 10
        };
        r = if v >= 10 {
            (r * 100 + v) % 97
        } else {
            (r * 10 + v) % 97
        };
    }
    r
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn valid_ibans() {
        for (input, norm) in [
            (
                "FR14 2004 1010 0505 0001 3M02 606",
                "FR1420041010050500013M02606",
            ),
            ("de89 3704 0044 0532 0130 00", "DE89370400440532013000"),
            ("NL91ABNA0417164300", "NL91ABNA0417164300"),
            ("BE68 5390 0754 7034", "BE68539007547034"),
        ] {
            assert_eq!(Iban::parse(input).unwrap().as_str(), norm);
        }
        assert_eq!(
            Iban::parse("DE89370400440532013000").unwrap().masked(),
            "DE89 •••• 3000"
        );
    }

    #[test]
    fn bad_ibans() {
        assert_eq!(
            Iban::parse("DE89370400440532013001").unwrap_err().code,
            "iban_check_digits"
        );
        assert_eq!(
            Iban::parse("DE8937040044053201300").unwrap_err().code,
            "invalid_iban"
        );
        assert_eq!(
            Iban::parse("US12345678901234567890").unwrap_err().code,
            "iban_country_not_sepa"
        );
        assert_eq!(Iban::parse("FR76 3000 é").unwrap_err().code, "invalid_iban");
    }

    proptest! {
        #[test]
        fn any_single_digit_change_is_caught(pos in 4usize..22, d in 0u8..10) {
            let good = "DE89370400440532013000";
            let mut b = good.as_bytes().to_vec();
            prop_assume!(b[pos] != b'0' + d);
            b[pos] = b'0' + d;
            let s = String::from_utf8(b).unwrap();
            prop_assert!(Iban::parse(&s).is_err());
        }

        #[test]
        fn never_panics(s in ".{0,40}") {
            let _ = Iban::parse(&s);
        }
    }
}
