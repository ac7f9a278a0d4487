//! Vouchers: the codes operators create (a fixed amount or a percentage off an order, or a
//! fixed amount into the credit balance), the checks a redemption passes in order, each
//! refusal with its own code, and the discount of an order, per VAT rate.
//!
//! The rules, written down (also in `docs/plan-changes.md`):
//! - A code is 3 to 32 characters among `A-Z`, `0-9` and `-`, compared upper-cased.
//! - The checks, in this order: the code exists (`voucher_not_found`); its kind fits the use
//!   (`voucher_wrong_kind`); today is on or after its first day (`voucher_not_yet_valid`) and
//!   on or before its last (`voucher_expired`); it has uses left (`voucher_exhausted`); the
//!   customer has uses left (`voucher_already_used`); its currency is the order's or the
//!   account's (`voucher_currency_mismatch`); a first-order-only code on an account that
//!   already paid an order (`voucher_first_order_only`); an order line of an eligible plan
//!   (`voucher_not_eligible`).
//! - Discounts are on the net (prices are net of VAT). A percentage is of the eligible
//!   lines' net, per VAT rate, rounded half up to the minor unit; a fixed amount is taken from
//!   the eligible lines' net, highest VAT rate first, never more than they sum to. Each
//!   rate's discount carries its own VAT ([`crate::tax::vat_of`]), so the invoice's VAT is
//!   the lines' VAT minus the discount's.

use crate::Currency;
use crate::validation::{FieldError, Fields};
use jiff::civil::Date;
use serde::Deserialize;
use std::collections::BTreeMap;

/// What a voucher gives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A fixed amount off an order's net.
    Fixed,
    /// A percentage off an order's net (basis points: 1000 = 10 %).
    Percent,
    /// A fixed amount into the account's credit balance.
    Credit,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Fixed => "fixed",
            Kind::Percent => "percent",
            Kind::Credit => "credit",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        [Kind::Fixed, Kind::Percent, Kind::Credit]
            .into_iter()
            .find(|k| k.as_str() == s)
    }
}

/// An operator's voucher as sent.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct VoucherInput {
    pub code: String,
    /// `fixed`, `percent` or `credit`.
    pub kind: String,
    /// Minor units (`fixed`, `credit`).
    pub amount_minor: Option<i64>,
    /// Basis points, 1 to 10000 (`percent`).
    pub percent_bp: Option<i64>,
    pub currency: String,
    /// First and last day of validity (`YYYY-MM-DD`, UTC), both included.
    pub valid_from: Option<String>,
    pub valid_until: Option<String>,
    /// Uses in all; per customer.
    pub max_uses: Option<i64>,
    pub max_uses_per_customer: Option<i64>,
    /// Plan codes; empty means every plan.
    #[serde(default)]
    pub eligible_plans: Vec<String>,
    #[serde(default)]
    pub first_order_only: bool,
}

/// A validated voucher.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Voucher {
    pub code: String,
    pub kind: Kind,
    pub amount_minor: i64,
    pub percent_bp: u32,
    pub currency: Currency,
    pub valid_from: Option<Date>,
    pub valid_until: Option<Date>,
    pub max_uses: Option<i64>,
    pub max_uses_per_customer: Option<i64>,
    pub eligible_plans: Vec<String>,
    pub first_order_only: bool,
}

/// A code as customers type it: trimmed, upper-cased, 3 to 32 of `A-Z 0-9 -`.
pub fn normalize_code(input: &str) -> Option<String> {
    let c = input.trim().to_ascii_uppercase();
    ((3..=32).contains(&c.len())
        && c.bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'-'))
    .then_some(c)
}

impl VoucherInput {
    pub fn validate(&self) -> Result<Voucher, Vec<FieldError>> {
        let mut f = Fields::new();
        let code = normalize_code(&self.code);
        if code.is_none() {
            f.push(
                "code",
                "invalid_code",
                "3 to 32 characters: letters, digits and '-'",
            );
        }
        let kind = Kind::parse(&self.kind);
        if kind.is_none() {
            f.push("kind", "invalid_kind", "one of fixed, percent, credit");
        }
        let currency = Currency::parse(&self.currency);
        if currency.is_none() {
            f.push(
                "currency",
                "invalid_currency",
                "an ISO 4217 currency Guichet bills in is expected",
            );
        }
        let mut amount = 0;
        let mut percent = 0;
        match kind {
            Some(Kind::Percent) => match self.percent_bp {
                Some(p) if (1..=10_000).contains(&p) => percent = u32::try_from(p).unwrap_or(0),
                _ => f.push(
                    "percent_bp",
                    "invalid_percent",
                    "basis points from 1 to 10000 (1000 = 10 %)",
                ),
            },
            Some(_) => match self.amount_minor {
                Some(a) if (1..=crate::catalog::MAX_PRICE_MINOR).contains(&a) => amount = a,
                _ => f.push(
                    "amount_minor",
                    "invalid_amount",
                    "an amount in minor units from 1 to 1,000,000,000 is expected",
                ),
            },
            None => {}
        }
        let day = |f: &mut Fields, name: &str, v: &Option<String>| -> Option<Date> {
            let s = v.as_deref()?;
            match s.parse::<Date>() {
                Ok(d) => Some(d),
                Err(_) => {
                    f.push(name, "invalid_date", "a date YYYY-MM-DD is expected");
                    None
                }
            }
        };
        let valid_from = day(&mut f, "valid_from", &self.valid_from);
        let valid_until = day(&mut f, "valid_until", &self.valid_until);
        if let (Some(a), Some(b)) = (valid_from, valid_until)
            && b < a
        {
            f.push(
                "valid_until",
                "invalid_dates",
                "the last day is on or after the first",
            );
        }
        for (name, v) in [
            ("max_uses", self.max_uses),
            ("max_uses_per_customer", self.max_uses_per_customer),
        ] {
            if let Some(n) = v
                && !(1..=1_000_000_000).contains(&n)
            {
                f.push(name, "invalid_limit", "a limit is at least 1");
            }
        }
        let mut plans = Vec::new();
        for (i, p) in self.eligible_plans.iter().enumerate() {
            match crate::catalog::code(p) {
                Ok(c) => plans.push(c),
                Err(_) => f.push(
                    &format!("eligible_plans[{i}]"),
                    "invalid_code",
                    "a plan code",
                ),
            }
        }
        match (code, kind, currency, f.is_empty()) {
            (Some(code), Some(kind), Some(currency), true) => Ok(Voucher {
                code,
                kind,
                amount_minor: amount,
                percent_bp: percent,
                currency,
                valid_from,
                valid_until,
                max_uses: self.max_uses,
                max_uses_per_customer: self.max_uses_per_customer,
                eligible_plans: plans,
                first_order_only: self.first_order_only,
            }),
            _ => Err(f.into_vec()),
        }
    }
}

/// Why a code is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    NotFound,
    WrongKind,
    NotYetValid,
    Expired,
    Exhausted,
    AlreadyUsed,
    CurrencyMismatch,
    FirstOrderOnly,
    NotEligible,
}

impl Refusal {
    pub fn code(self) -> &'static str {
        match self {
            Refusal::NotFound => "voucher_not_found",
            Refusal::WrongKind => "voucher_wrong_kind",
            Refusal::NotYetValid => "voucher_not_yet_valid",
            Refusal::Expired => "voucher_expired",
            Refusal::Exhausted => "voucher_exhausted",
            Refusal::AlreadyUsed => "voucher_already_used",
            Refusal::CurrencyMismatch => "voucher_currency_mismatch",
            Refusal::FirstOrderOnly => "voucher_first_order_only",
            Refusal::NotEligible => "voucher_not_eligible",
        }
    }

    pub fn message(self) -> &'static str {
        match self {
            Refusal::NotFound => "no such voucher code",
            Refusal::WrongKind => "this code is not redeemed this way",
            Refusal::NotYetValid => "this code is not valid yet",
            Refusal::Expired => "this code has expired",
            Refusal::Exhausted => "this code has been used up",
            Refusal::AlreadyUsed => "you have already used this code",
            Refusal::CurrencyMismatch => "this code is for another currency",
            Refusal::FirstOrderOnly => "this code is for a first order only",
            Refusal::NotEligible => "this code applies to none of the order's plans",
        }
    }
}

/// What a redemption is checked against.
#[derive(Debug, Clone, Copy)]
pub struct Context<'a> {
    pub today: Date,
    /// `true` for an order, `false` for the credit balance.
    pub on_order: bool,
    pub currency: Currency,
    pub uses: i64,
    pub customer_uses: i64,
    pub has_paid_order: bool,
    /// Plan codes of the order's lines (empty for the balance).
    pub plans: &'a [&'a str],
}

/// The checks, in the documented order.
pub fn check(v: &Voucher, cx: &Context<'_>) -> Result<(), Refusal> {
    if (v.kind == Kind::Credit) == cx.on_order {
        return Err(Refusal::WrongKind);
    }
    if v.valid_from.is_some_and(|d| cx.today < d) {
        return Err(Refusal::NotYetValid);
    }
    if v.valid_until.is_some_and(|d| cx.today > d) {
        return Err(Refusal::Expired);
    }
    if v.max_uses.is_some_and(|m| cx.uses >= m) {
        return Err(Refusal::Exhausted);
    }
    if v.max_uses_per_customer
        .is_some_and(|m| cx.customer_uses >= m)
    {
        return Err(Refusal::AlreadyUsed);
    }
    if v.currency != cx.currency {
        return Err(Refusal::CurrencyMismatch);
    }
    if v.first_order_only && cx.has_paid_order {
        return Err(Refusal::FirstOrderOnly);
    }
    if cx.on_order && !cx.plans.iter().any(|p| eligible(v, p)) {
        return Err(Refusal::NotEligible);
    }
    Ok(())
}

/// Whether a plan is one the voucher applies to.
pub fn eligible(v: &Voucher, plan: &str) -> bool {
    v.eligible_plans.is_empty() || v.eligible_plans.iter().any(|p| p == plan)
}

/// One rate's discount: a positive net taken off, and its VAT.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Discount {
    pub rate_bp: u32,
    pub net_minor: i64,
    pub vat_minor: i64,
}

/// The discount of an order whose eligible lines' net sum to `eligible_net[rate]`.
pub fn discount(v: &Voucher, eligible_net: &BTreeMap<u32, i64>) -> Vec<Discount> {
    let mut out = Vec::new();
    match v.kind {
        Kind::Credit => {}
        Kind::Percent => {
            for (&rate, &net) in eligible_net {
                let d = (i128::from(net.max(0)) * i128::from(v.percent_bp) + 5_000) / 10_000;
                let d = i64::try_from(d).unwrap_or(0).min(net.max(0));
                if d > 0 {
                    out.push(Discount {
                        rate_bp: rate,
                        net_minor: d,
                        vat_minor: crate::tax::vat_of(d, rate).unwrap_or(0),
                    });
                }
            }
        }
        Kind::Fixed => {
            let mut left = v.amount_minor;
            for (&rate, &net) in eligible_net.iter().rev() {
                let d = left.min(net.max(0));
                if d > 0 {
                    out.push(Discount {
                        rate_bp: rate,
                        net_minor: d,
                        vat_minor: crate::tax::vat_of(d, rate).unwrap_or(0),
                    });
                    left -= d;
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use jiff::civil::date;
    use proptest::prelude::*;

    fn input() -> VoucherInput {
        VoucherInput {
            code: "welcome-10".into(),
            kind: "percent".into(),
            percent_bp: Some(1000),
            currency: "EUR".into(),
            valid_from: Some("2026-01-01".into()),
            valid_until: Some("2026-12-31".into()),
            max_uses: Some(2),
            max_uses_per_customer: Some(1),
            eligible_plans: vec!["vps-m-monthly".into()],
            first_order_only: true,
            ..Default::default()
        }
    }

    fn cx<'a>(plans: &'a [&'a str]) -> Context<'a> {
        Context {
            today: date(2026, 6, 1),
            on_order: true,
            currency: Currency::Eur,
            uses: 0,
            customer_uses: 0,
            has_paid_order: false,
            plans,
        }
    }

    #[test]
    fn validates() {
        let v = input().validate().unwrap();
        assert_eq!(v.code, "WELCOME-10");
        assert_eq!(v.percent_bp, 1000);
        let mut bad = input();
        bad.kind = "fixed".into();
        bad.valid_until = Some("2025-01-01".into());
        bad.max_uses = Some(0);
        bad.currency = "XXX".into();
        let codes: Vec<_> = bad
            .validate()
            .unwrap_err()
            .into_iter()
            .map(|e| e.code)
            .collect();
        for c in [
            "invalid_amount",
            "invalid_dates",
            "invalid_limit",
            "invalid_currency",
        ] {
            assert!(codes.contains(&c), "{c} in {codes:?}");
        }
    }

    #[test]
    fn each_refusal_has_its_reason() {
        let v = input().validate().unwrap();
        let plans = ["vps-m-monthly"];
        assert_eq!(check(&v, &cx(&plans)), Ok(()));
        let cases: Vec<(Context, Refusal)> = vec![
            (
                Context {
                    on_order: false,
                    ..cx(&plans)
                },
                Refusal::WrongKind,
            ),
            (
                Context {
                    today: date(2025, 12, 31),
                    ..cx(&plans)
                },
                Refusal::NotYetValid,
            ),
            (
                Context {
                    today: date(2027, 1, 1),
                    ..cx(&plans)
                },
                Refusal::Expired,
            ),
            (
                Context {
                    uses: 2,
                    ..cx(&plans)
                },
                Refusal::Exhausted,
            ),
            (
                Context {
                    customer_uses: 1,
                    ..cx(&plans)
                },
                Refusal::AlreadyUsed,
            ),
            (
                Context {
                    currency: Currency::Usd,
                    ..cx(&plans)
                },
                Refusal::CurrencyMismatch,
            ),
            (
                Context {
                    has_paid_order: true,
                    ..cx(&plans)
                },
                Refusal::FirstOrderOnly,
            ),
            (cx(&["vps-s-monthly"]), Refusal::NotEligible),
        ];
        for (c, want) in cases {
            assert_eq!(check(&v, &c), Err(want));
        }
    }

    #[test]
    fn percent_discount_and_its_vat() {
        let v = input().validate().unwrap();
        let d = discount(&v, &[(2000u32, 1199i64)].into());
        // 10 % of 11.99 = 1.199 → 1.20, VAT 0.24.
        assert_eq!(
            d,
            vec![Discount {
                rate_bp: 2000,
                net_minor: 120,
                vat_minor: 24
            }]
        );
    }

    proptest! {
        /// A discount never takes more than the eligible net, per rate and in all.
        #[test]
        fn discount_within_the_order(
            nets in prop::collection::btree_map(prop::sample::select(vec![0u32, 550, 2000]), 0i64..1_000_000, 1..3),
            amount in 1i64..2_000_000,
            bp in 1u32..=10_000,
            percent in any::<bool>(),
        ) {
            let v = Voucher {
                code: "X-1".into(),
                kind: if percent { Kind::Percent } else { Kind::Fixed },
                amount_minor: amount,
                percent_bp: bp,
                currency: Currency::Eur,
                valid_from: None,
                valid_until: None,
                max_uses: None,
                max_uses_per_customer: None,
                eligible_plans: vec![],
                first_order_only: false,
            };
            let d = discount(&v, &nets);
            let total: i64 = d.iter().map(|x| x.net_minor).sum();
            prop_assert!(total <= nets.values().sum::<i64>());
            if !percent {
                prop_assert!(total <= amount);
            }
            for x in &d {
                prop_assert!(x.net_minor <= nets[&x.rate_bp]);
            }
        }
    }
}
