//! VAT: which rate applies to a sale, from the seller's country, the buyer and the date.
//!
//! Rules (EU, business to consumer and business to business, electronically supplied and
//! hosting services):
//! - a buyer outside the EU pays no VAT (`outside_scope`);
//! - an EU company with a VAT number, in another EU country than the seller, is reverse
//!   charged (`reverse_charge`, rate 0, with the legal mention on the invoice);
//! - any other EU buyer pays the VAT of their own country (`domestic` when it is the seller's,
//!   `oss` otherwise: the one-stop-shop rule for electronically supplied services);
//! - a plan in the `exempt` tax category carries no VAT (`exempt`).
//!
//! Rates are in basis points (2000 = 20 %) and carry the date they took effect, so an order
//! placed before a change is priced at the old rate. `reduced` is the country's main reduced
//! rate (the one that applies to e-books and online press where it differs).

use jiff::civil::Date;
use serde::Serialize;

/// One rate period of one country: `(country, effective from, standard bp, reduced bp)`.
type RateRow = (&'static str, (i16, i8, i8), u32, u32);

/// EU VAT rates, with the changes of recent years. Newest entry per country wins once in force.
const RATES: &[RateRow] = &[
    ("AT", (2016, 1, 1), 2000, 1000),
    ("BE", (1996, 1, 1), 2100, 600),
    ("BG", (2007, 1, 1), 2000, 900),
    ("CY", (2014, 1, 13), 1900, 500),
    ("CZ", (2024, 1, 1), 2100, 1200),
    ("DE", (2021, 1, 1), 1900, 700),
    ("DK", (1992, 1, 1), 2500, 2500),
    ("EE", (2024, 1, 1), 2200, 900),
    ("EE", (2025, 7, 1), 2400, 900),
    ("ES", (2012, 9, 1), 2100, 1000),
    ("FI", (2013, 1, 1), 2400, 1000),
    ("FI", (2024, 9, 1), 2550, 1000),
    ("FR", (2014, 1, 1), 2000, 550),
    ("GR", (2016, 6, 1), 2400, 600),
    ("HR", (2013, 1, 1), 2500, 500),
    ("HU", (2012, 1, 1), 2700, 500),
    ("IE", (2021, 3, 1), 2300, 900),
    ("IT", (2013, 10, 1), 2200, 400),
    ("LT", (2009, 9, 1), 2100, 500),
    ("LU", (2024, 1, 1), 1700, 300),
    ("LV", (2009, 1, 1), 2100, 500),
    ("MT", (2004, 5, 1), 1800, 500),
    ("NL", (2019, 1, 1), 2100, 900),
    ("PL", (2011, 1, 1), 2300, 500),
    ("PT", (2011, 1, 1), 2300, 600),
    ("RO", (2017, 1, 1), 1900, 500),
    ("RO", (2025, 8, 1), 2100, 1100),
    ("SE", (1990, 1, 1), 2500, 600),
    ("SI", (2002, 1, 1), 2200, 500),
    ("SK", (2011, 1, 1), 2000, 1000),
    ("SK", (2025, 1, 1), 2300, 500),
];

/// Why a sale carries the rate it does; shown on orders and invoices.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Treatment {
    /// Buyer in the seller's country.
    Domestic,
    /// EU consumer (or company without a VAT number) in another member state: their rate.
    Oss,
    /// EU company with a VAT number in another member state: VAT due by the buyer.
    ReverseCharge,
    /// Buyer outside the EU.
    OutsideScope,
    /// The plan's tax category is exempt.
    Exempt,
}

impl Treatment {
    pub fn as_str(self) -> &'static str {
        match self {
            Treatment::Domestic => "domestic",
            Treatment::Oss => "oss",
            Treatment::ReverseCharge => "reverse_charge",
            Treatment::OutsideScope => "outside_scope",
            Treatment::Exempt => "exempt",
        }
    }

    /// The mention an invoice must carry, if any.
    pub fn legal_mention(self) -> Option<&'static str> {
        match self {
            Treatment::ReverseCharge => {
                Some("Reverse charge — Article 196 of Directive 2006/112/EC")
            }
            Treatment::OutsideScope => Some(
                "VAT not applicable — place of supply outside the EU (Article 59 of Directive 2006/112/EC)",
            ),
            _ => None,
        }
    }
}

/// The buyer, as far as VAT cares.
#[derive(Debug, Clone, Copy)]
pub struct Buyer<'a> {
    /// ISO 3166-1 alpha-2, upper case.
    pub country: &'a str,
    pub is_company: bool,
    /// A syntactically valid VAT number (checked by the caller), if the buyer gave one.
    pub vat_number: Option<&'a str>,
}

/// The rate of one sale and why.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Decision {
    /// Basis points: 2000 = 20 %.
    pub rate_bp: u32,
    pub treatment: Treatment,
    /// The country whose rate applies (None when no VAT is due).
    pub country: Option<&'static str>,
}

fn is_eu(country: &str) -> bool {
    RATES.iter().any(|r| r.0 == country)
}

/// The standard and reduced rates of an EU country on `date`.
pub fn rates_on(country: &str, date: Date) -> Option<(&'static str, u32, u32)> {
    RATES
        .iter()
        .filter(|r| r.0 == country)
        .filter(|r| {
            let (y, m, d) = r.1;
            Date::new(y, m, d).is_ok_and(|from| from <= date)
        })
        .max_by_key(|r| r.1)
        .map(|r| (r.0, r.2, r.3))
}

/// The VAT decision for a sale by a seller established in `seller_country` (an EU country).
/// `tax_category` is the plan's: `standard`, `reduced` or `exempt`.
pub fn decide(seller_country: &str, buyer: Buyer<'_>, tax_category: &str, date: Date) -> Decision {
    if tax_category == "exempt" {
        return Decision {
            rate_bp: 0,
            treatment: Treatment::Exempt,
            country: None,
        };
    }
    if !is_eu(buyer.country) {
        return Decision {
            rate_bp: 0,
            treatment: Treatment::OutsideScope,
            country: None,
        };
    }
    let domestic = buyer.country == seller_country;
    if !domestic && buyer.is_company && buyer.vat_number.is_some() {
        return Decision {
            rate_bp: 0,
            treatment: Treatment::ReverseCharge,
            country: None,
        };
    }
    match rates_on(buyer.country, date) {
        Some((country, standard, reduced)) => Decision {
            rate_bp: if tax_category == "reduced" {
                reduced
            } else {
                standard
            },
            treatment: if domestic {
                Treatment::Domestic
            } else {
                Treatment::Oss
            },
            country: Some(country),
        },
        None => Decision {
            rate_bp: 0,
            treatment: Treatment::OutsideScope,
            country: None,
        },
    }
}

/// VAT on a net amount, rounded half away from zero to the minor unit. `None` on overflow.
pub fn vat_of(net_minor: i64, rate_bp: u32) -> Option<i64> {
    let product = i128::from(net_minor) * i128::from(rate_bp);
    let q = product / 10_000;
    let r = product % 10_000;
    let rounded = if r.abs() * 2 >= 10_000 {
        q + product.signum()
    } else {
        q
    };
    i64::try_from(rounded).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn d(y: i16, m: i8, day: i8) -> Date {
        Date::new(y, m, day).unwrap()
    }

    fn consumer(country: &str) -> Buyer<'_> {
        Buyer {
            country,
            is_company: false,
            vat_number: None,
        }
    }

    #[test]
    fn every_eu_country_has_a_rate_today() {
        for c in [
            "AT", "BE", "BG", "CY", "CZ", "DE", "DK", "EE", "ES", "FI", "FR", "GR", "HR", "HU",
            "IE", "IT", "LT", "LU", "LV", "MT", "NL", "PL", "PT", "RO", "SE", "SI", "SK",
        ] {
            assert!(rates_on(c, d(2026, 11, 26)).is_some(), "{c}");
        }
        assert!(rates_on("CH", d(2026, 1, 1)).is_none());
    }

    #[test]
    fn rules() {
        let today = d(2026, 11, 26);
        let fr = decide("FR", consumer("FR"), "standard", today);
        assert_eq!((fr.rate_bp, fr.treatment), (2000, Treatment::Domestic));
        let de = decide("FR", consumer("DE"), "standard", today);
        assert_eq!((de.rate_bp, de.treatment), (1900, Treatment::Oss));
        let de_reduced = decide("FR", consumer("DE"), "reduced", today);
        assert_eq!(de_reduced.rate_bp, 700);
        let company = Buyer {
            country: "DE",
            is_company: true,
            vat_number: Some("DE123456789"),
        };
        let rc = decide("FR", company, "standard", today);
        assert_eq!((rc.rate_bp, rc.treatment), (0, Treatment::ReverseCharge));
        assert!(rc.treatment.legal_mention().is_some());
        // A French company pays French VAT: reverse charge is for other member states.
        let fr_company = Buyer {
            country: "FR",
            is_company: true,
            vat_number: Some("FR40303265045"),
        };
        assert_eq!(decide("FR", fr_company, "standard", today).rate_bp, 2000);
        // A company without a VAT number is taxed like a consumer.
        let no_number = Buyer {
            country: "DE",
            is_company: true,
            vat_number: None,
        };
        assert_eq!(decide("FR", no_number, "standard", today).rate_bp, 1900);
        let us = decide("FR", consumer("US"), "standard", today);
        assert_eq!((us.rate_bp, us.treatment), (0, Treatment::OutsideScope));
        let ex = decide("FR", consumer("FR"), "exempt", today);
        assert_eq!((ex.rate_bp, ex.treatment), (0, Treatment::Exempt));
    }

    #[test]
    fn rates_follow_their_effective_dates() {
        assert_eq!(rates_on("EE", d(2025, 6, 30)).unwrap().1, 2200);
        assert_eq!(rates_on("EE", d(2025, 7, 1)).unwrap().1, 2400);
        assert_eq!(rates_on("FI", d(2024, 8, 31)).unwrap().1, 2400);
        assert_eq!(rates_on("FI", d(2024, 9, 1)).unwrap().1, 2550);
        assert_eq!(rates_on("SK", d(2024, 12, 31)).unwrap().1, 2000);
        assert_eq!(rates_on("SK", d(2025, 1, 1)).unwrap().1, 2300);
    }

    #[test]
    fn rounding_is_half_away_from_zero() {
        assert_eq!(vat_of(1000, 2000), Some(200));
        // 0.5 minor unit rounds up: 5.5 % of 10 = 0.55 -> 1
        assert_eq!(vat_of(10, 550), Some(1));
        // 5.5 % of 9 = 0.495 -> 0
        assert_eq!(vat_of(9, 550), Some(0));
        assert_eq!(vat_of(-10, 550), Some(-1));
        assert_eq!(vat_of(i64::MAX, 20_000), None);
    }

    proptest! {
        #[test]
        fn vat_is_within_half_a_unit_of_exact(net in 0i64..10_000_000_000, rate in 0u32..3000) {
            let v = vat_of(net, rate).unwrap();
            let exact = i128::from(net) * i128::from(rate);
            let diff = (i128::from(v) * 10_000 - exact).abs();
            prop_assert!(diff <= 5_000);
        }

        #[test]
        fn vat_is_monotonic(a in 0i64..1_000_000_000, b in 0i64..1_000_000_000, rate in 0u32..3000) {
            let (lo, hi) = if a <= b { (a, b) } else { (b, a) };
            prop_assert!(vat_of(lo, rate).unwrap() <= vat_of(hi, rate).unwrap());
        }
    }
}
