//! Money as integer minor units with an ISO 4217 currency. Never floats.

use serde::{Deserialize, Serialize};
use std::fmt;

/// The currencies Guichet bills in, with their ISO 4217 minor-unit exponent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum Currency {
    Eur,
    Usd,
    Gbp,
    Chf,
    Cad,
    Pln,
    Sek,
    Dkk,
    Czk,
    Jpy,
}

impl PartialOrd for Currency {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Currency {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.code().cmp(other.code())
    }
}

impl Currency {
    pub const ALL: [Currency; 10] = [
        Currency::Eur,
        Currency::Usd,
        Currency::Gbp,
        Currency::Chf,
        Currency::Cad,
        Currency::Pln,
        Currency::Sek,
        Currency::Dkk,
        Currency::Czk,
        Currency::Jpy,
    ];

    pub fn code(self) -> &'static str {
        match self {
            Currency::Eur => "EUR",
            Currency::Usd => "USD",
            Currency::Gbp => "GBP",
            Currency::Chf => "CHF",
            Currency::Cad => "CAD",
            Currency::Pln => "PLN",
            Currency::Sek => "SEK",
            Currency::Dkk => "DKK",
            Currency::Czk => "CZK",
            Currency::Jpy => "JPY",
        }
    }

    /// Number of digits after the decimal point (ISO 4217 minor unit).
    pub fn exponent(self) -> u32 {
        match self {
            Currency::Jpy => 0,
            _ => 2,
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        let up = s.trim().to_ascii_uppercase();
        Self::ALL.into_iter().find(|c| c.code() == up)
    }

    /// The currency an account gets by default from its country.
    pub fn default_for_country(country: &str) -> Self {
        match country {
            "US" | "PR" | "EC" | "SV" => Currency::Usd,
            "GB" | "GG" | "JE" | "IM" => Currency::Gbp,
            "CH" | "LI" => Currency::Chf,
            "CA" => Currency::Cad,
            "PL" => Currency::Pln,
            "SE" => Currency::Sek,
            "DK" => Currency::Dkk,
            "CZ" => Currency::Czk,
            "JP" => Currency::Jpy,
            _ => Currency::Eur,
        }
    }
}

impl TryFrom<String> for Currency {
    type Error = String;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse(&value).ok_or_else(|| format!("unsupported currency {value:?}"))
    }
}

impl From<Currency> for String {
    fn from(value: Currency) -> Self {
        value.code().to_owned()
    }
}

impl fmt::Display for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

/// An amount of money: integer minor units (cents for EUR) and a currency.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Money {
    pub minor: i64,
    pub currency: Currency,
}

impl Money {
    pub fn new(minor: i64, currency: Currency) -> Self {
        Self { minor, currency }
    }

    pub fn zero(currency: Currency) -> Self {
        Self { minor: 0, currency }
    }

    /// Sum of two amounts of the same currency; `None` on a currency mismatch or overflow.
    pub fn checked_add(self, other: Money) -> Option<Money> {
        (self.currency == other.currency)
            .then(|| self.minor.checked_add(other.minor))
            .flatten()
            .map(|minor| Money::new(minor, self.currency))
    }

    /// The amount as a plain decimal string, e.g. `12.50`, for machines (XML, CSV).
    pub fn decimal(&self) -> String {
        let exp = self.currency.exponent();
        if exp == 0 {
            return self.minor.to_string();
        }
        let unit = 10i64.pow(exp);
        let sign = if self.minor < 0 { "-" } else { "" };
        let abs = self.minor.unsigned_abs();
        format!(
            "{sign}{}.{:0width$}",
            abs / unit as u64,
            abs % unit as u64,
            width = exp as usize
        )
    }
}

impl fmt::Display for Money {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.decimal(), self.currency)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn formats_minor_units() {
        assert_eq!(Money::new(1250, Currency::Eur).decimal(), "12.50");
        assert_eq!(Money::new(-5, Currency::Eur).decimal(), "-0.05");
        assert_eq!(Money::new(500, Currency::Jpy).decimal(), "500");
        assert_eq!(
            Money::new(i64::MIN, Currency::Eur).decimal(),
            "-92233720368547758.08"
        );
    }

    #[test]
    fn refuses_mixed_currencies() {
        assert!(
            Money::new(1, Currency::Eur)
                .checked_add(Money::new(1, Currency::Usd))
                .is_none()
        );
        assert!(
            Money::new(i64::MAX, Currency::Eur)
                .checked_add(Money::new(1, Currency::Eur))
                .is_none()
        );
    }

    proptest! {
        #[test]
        fn decimal_round_trips(minor in any::<i64>()) {
            let s = Money::new(minor, Currency::Eur).decimal();
            let back: i128 = s.replace('.', "").parse().unwrap();
            prop_assert_eq!(back, minor as i128);
        }
    }
}
