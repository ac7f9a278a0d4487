//! The catalog: products (what a provider sells) and their plans (a billing period, a price
//! per currency, a setup fee, a tax category, whether manual renewal is allowed). Validation
//! lives here so that the admin API and `guichet catalog import` refuse the same things.

use crate::validation::{self, FieldError, Fields};
use crate::{BillingPeriod, Currency};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

pub const CATEGORIES: [&str; 6] = [
    "vps",
    "web_hosting",
    "domain",
    "dedicated_server",
    "email",
    "other",
];
pub const TAX_CATEGORIES: [&str; 3] = ["standard", "reduced", "exempt"];
/// Upper bound of a price, in minor units (10 million in a two-decimal currency).
pub const MAX_PRICE_MINOR: i64 = 1_000_000_000;

/// Raw product input (admin API, import file).
#[derive(Debug, Clone, Default, Deserialize)]
pub struct ProductInput {
    pub code: String,
    pub name: String,
    pub category: String,
    #[serde(default)]
    pub description: Option<String>,
    /// Delivered by the built-in provisioner, without the provider's infrastructure.
    #[serde(default)]
    pub instant: bool,
    #[serde(default = "yes")]
    pub active: bool,
}

fn yes() -> bool {
    true
}

/// Raw plan input.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct PlanInput {
    pub code: String,
    pub name: String,
    pub period: String,
    /// Price per period by ISO 4217 code, in minor units.
    pub prices: BTreeMap<String, i64>,
    #[serde(default)]
    pub setup_fees: BTreeMap<String, i64>,
    #[serde(default = "standard")]
    pub tax_category: String,
    #[serde(default = "yes")]
    pub manual_renewal_allowed: bool,
    #[serde(default = "yes")]
    pub active: bool,
}

fn standard() -> String {
    "standard".into()
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Product {
    pub code: String,
    pub name: String,
    pub category: String,
    pub description: Option<String>,
    pub instant: bool,
    pub active: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Plan {
    pub code: String,
    pub name: String,
    pub period: BillingPeriod,
    pub prices: BTreeMap<Currency, i64>,
    pub setup_fees: BTreeMap<Currency, i64>,
    pub tax_category: String,
    pub manual_renewal_allowed: bool,
    pub active: bool,
}

/// A catalog code: 2 to 64 characters among `a-z`, `0-9` and `-`, starting with a letter.
pub fn code(input: &str) -> Result<String, FieldError> {
    let v = input.trim();
    let ok = (2..=64).contains(&v.len())
        && v.starts_with(|c: char| c.is_ascii_lowercase())
        && v.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
    if ok {
        Ok(v.to_owned())
    } else {
        Err(FieldError {
            field: String::new(),
            code: "invalid_code",
            message:
                "2 to 64 characters: lower-case letters, digits and '-', starting with a letter"
                    .into(),
        })
    }
}

fn money_map(
    f: &mut Fields,
    field: &str,
    input: &BTreeMap<String, i64>,
) -> BTreeMap<Currency, i64> {
    let mut out = BTreeMap::new();
    for (cur, amount) in input {
        let name = format!("{field}.{cur}");
        match Currency::parse(cur) {
            None => f.push(
                &name,
                "invalid_currency",
                "an ISO 4217 currency Guichet bills in is expected",
            ),
            Some(c) if !(0..=MAX_PRICE_MINOR).contains(amount) => {
                let _ = c;
                f.push(
                    &name,
                    "invalid_amount",
                    "an amount in minor units from 0 to 1,000,000,000 is expected",
                );
            }
            Some(c) => {
                out.insert(c, *amount);
            }
        }
    }
    out
}

impl ProductInput {
    pub fn validate(&self) -> Result<Product, Vec<FieldError>> {
        let mut f = Fields::new();
        let code = f.check("code", code(&self.code));
        let name = f.check("name", validation::text(&self.name, 1, 200));
        if !CATEGORIES.contains(&self.category.as_str()) {
            f.push(
                "category",
                "invalid_category",
                format!("one of {}", CATEGORIES.join(", ")),
            );
        }
        let description = f
            .check(
                "description",
                validation::optional_text(self.description.as_deref(), 2000),
            )
            .flatten();
        match (code, name, f.is_empty()) {
            (Some(code), Some(name), true) => Ok(Product {
                code,
                name,
                category: self.category.clone(),
                description,
                instant: self.instant,
                active: self.active,
            }),
            _ => Err(f.into_vec()),
        }
    }
}

impl PlanInput {
    pub fn validate(&self) -> Result<Plan, Vec<FieldError>> {
        let mut f = Fields::new();
        let code = f.check("code", code(&self.code));
        let name = f.check("name", validation::text(&self.name, 1, 200));
        let period = BillingPeriod::parse(&self.period);
        if period.is_none() {
            f.push(
                "period",
                "invalid_period",
                "one of P1M, P3M, P6M, P1Y, P2Y, P3Y",
            );
        }
        let prices = money_map(&mut f, "prices", &self.prices);
        if self.prices.is_empty() {
            f.push(
                "prices",
                "required",
                "a plan has a price in at least one currency",
            );
        }
        let setup_fees = money_map(&mut f, "setup_fees", &self.setup_fees);
        for c in setup_fees.keys() {
            if !prices.contains_key(c) {
                f.push(
                    &format!("setup_fees.{c}"),
                    "currency_without_price",
                    "a setup fee needs a price in the same currency",
                );
            }
        }
        if !TAX_CATEGORIES.contains(&self.tax_category.as_str()) {
            f.push(
                "tax_category",
                "invalid_tax_category",
                format!("one of {}", TAX_CATEGORIES.join(", ")),
            );
        }
        match (code, name, period, f.is_empty()) {
            (Some(code), Some(name), Some(period), true) => Ok(Plan {
                code,
                name,
                period,
                prices,
                setup_fees,
                tax_category: self.tax_category.clone(),
                manual_renewal_allowed: self.manual_renewal_allowed,
                active: self.active,
            }),
            _ => Err(f.into_vec()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan() -> PlanInput {
        PlanInput {
            code: "vps-s-monthly".into(),
            name: "VPS S".into(),
            period: "P1M".into(),
            prices: [("EUR".to_owned(), 599)].into(),
            tax_category: "standard".into(),
            manual_renewal_allowed: true,
            active: true,
            ..Default::default()
        }
    }

    #[test]
    fn codes() {
        assert!(code("vps-s").is_ok());
        for bad in ["", "a", "VPS", "1vps", "vps s", "vps_s", &"a".repeat(65)] {
            assert!(code(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn plans_validate() {
        let p = plan().validate().unwrap();
        assert_eq!(p.period, BillingPeriod::P1M);
        assert_eq!(p.prices[&Currency::Eur], 599);
        let mut bad = plan();
        bad.period = "P2W".into();
        bad.prices = [("XXX".to_owned(), 1), ("USD".to_owned(), -1)].into();
        bad.setup_fees = [("GBP".to_owned(), 100)].into();
        let errs = bad.validate().unwrap_err();
        let codes: Vec<_> = errs.iter().map(|e| (e.field.as_str(), e.code)).collect();
        assert!(codes.contains(&("period", "invalid_period")));
        assert!(codes.contains(&("prices.XXX", "invalid_currency")));
        assert!(codes.contains(&("prices.USD", "invalid_amount")));
        assert!(codes.contains(&("setup_fees.GBP", "currency_without_price")));
    }

    #[test]
    fn products_validate() {
        let p = ProductInput {
            code: "vps".into(),
            name: "VPS".into(),
            category: "vps".into(),
            active: true,
            ..Default::default()
        };
        assert!(p.validate().is_ok());
        let bad = ProductInput {
            code: "V".into(),
            name: "".into(),
            category: "cars".into(),
            ..Default::default()
        };
        assert_eq!(bad.validate().unwrap_err().len(), 3);
    }
}
