//! Pricing an order: each line's net, VAT and total, then the totals per VAT rate.
//!
//! The rounding rule: a line's net is exact (unit price × quantity + setup fee × quantity, in
//! minor units); its VAT is rounded once, half away from zero, to the minor unit
//! ([`crate::tax::vat_of`]); the order's VAT for a rate is the sum of its lines' VAT, so every
//! line on an order or invoice adds up to the totals printed under it.

use crate::tax::vat_of;
use std::collections::BTreeMap;

/// Most units of one plan on one order.
pub const MAX_QUANTITY: u32 = 100;
/// Most lines on one order.
pub const MAX_LINES: usize = 50;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LineInput {
    /// Price of one period, in minor units.
    pub unit_price_minor: i64,
    /// Charged once per unit.
    pub setup_fee_minor: i64,
    pub quantity: u32,
    pub rate_bp: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PricedLine {
    pub net_minor: i64,
    pub vat_minor: i64,
    pub total_minor: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Totals {
    pub net_minor: i64,
    pub vat_minor: i64,
    pub total_minor: i64,
    /// `rate_bp → (net, vat)`, one entry per rate present on the order.
    pub per_rate: BTreeMap<u32, (i64, i64)>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum PricingError {
    #[error("an amount is negative")]
    Negative,
    #[error("a quantity must be between 1 and {MAX_QUANTITY}")]
    Quantity,
    #[error("the amounts are too large")]
    Overflow,
}

pub fn price_line(l: &LineInput) -> Result<PricedLine, PricingError> {
    if l.unit_price_minor < 0 || l.setup_fee_minor < 0 {
        return Err(PricingError::Negative);
    }
    if l.quantity == 0 || l.quantity > MAX_QUANTITY {
        return Err(PricingError::Quantity);
    }
    let q = i64::from(l.quantity);
    let net = l
        .unit_price_minor
        .checked_add(l.setup_fee_minor)
        .and_then(|u| u.checked_mul(q))
        .ok_or(PricingError::Overflow)?;
    let vat = vat_of(net, l.rate_bp).ok_or(PricingError::Overflow)?;
    let total = net.checked_add(vat).ok_or(PricingError::Overflow)?;
    Ok(PricedLine {
        net_minor: net,
        vat_minor: vat,
        total_minor: total,
    })
}

/// Price every line and sum them per rate.
pub fn price(lines: &[LineInput]) -> Result<(Vec<PricedLine>, Totals), PricingError> {
    let mut out = Vec::with_capacity(lines.len());
    let mut t = Totals::default();
    for l in lines {
        let p = price_line(l)?;
        let e = t.per_rate.entry(l.rate_bp).or_insert((0, 0));
        e.0 = e.0.checked_add(p.net_minor).ok_or(PricingError::Overflow)?;
        e.1 = e.1.checked_add(p.vat_minor).ok_or(PricingError::Overflow)?;
        t.net_minor = t
            .net_minor
            .checked_add(p.net_minor)
            .ok_or(PricingError::Overflow)?;
        t.vat_minor = t
            .vat_minor
            .checked_add(p.vat_minor)
            .ok_or(PricingError::Overflow)?;
        out.push(p);
    }
    t.total_minor = t
        .net_minor
        .checked_add(t.vat_minor)
        .ok_or(PricingError::Overflow)?;
    Ok((out, t))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn line(unit: i64, setup: i64, quantity: u32, rate_bp: u32) -> LineInput {
        LineInput {
            unit_price_minor: unit,
            setup_fee_minor: setup,
            quantity,
            rate_bp,
        }
    }

    #[test]
    fn a_simple_order() {
        let (lines, t) = price(&[line(599, 0, 2, 2000), line(1200, 500, 1, 550)]).unwrap();
        assert_eq!(
            lines[0],
            PricedLine {
                net_minor: 1198,
                vat_minor: 240,
                total_minor: 1438
            }
        );
        assert_eq!(lines[1].net_minor, 1700);
        assert_eq!(lines[1].vat_minor, 94); // 93.5 -> 94
        assert_eq!(t.net_minor, 2898);
        assert_eq!(t.vat_minor, 334);
        assert_eq!(t.total_minor, 3232);
        assert_eq!(t.per_rate[&2000], (1198, 240));
        assert_eq!(t.per_rate[&550], (1700, 94));
    }

    #[test]
    fn bad_lines_are_refused() {
        assert_eq!(
            price_line(&line(100, 0, 0, 2000)),
            Err(PricingError::Quantity)
        );
        assert_eq!(
            price_line(&line(100, 0, 101, 2000)),
            Err(PricingError::Quantity)
        );
        assert_eq!(
            price_line(&line(-1, 0, 1, 2000)),
            Err(PricingError::Negative)
        );
        assert_eq!(
            price_line(&line(i64::MAX, 1, 1, 2000)),
            Err(PricingError::Overflow)
        );
    }

    proptest! {
        #[test]
        fn totals_are_the_sum_of_the_lines(
            raw in prop::collection::vec((0i64..1_000_000_000, 0i64..100_000, 1u32..=100, prop::sample::select(vec![0u32, 550, 1000, 2000, 2100, 2550])), 1..20)
        ) {
            let input: Vec<LineInput> = raw.iter().map(|&(u, s, q, r)| line(u, s, q, r)).collect();
            let (lines, t) = price(&input).unwrap();
            prop_assert_eq!(t.net_minor, lines.iter().map(|l| l.net_minor).sum::<i64>());
            prop_assert_eq!(t.vat_minor, lines.iter().map(|l| l.vat_minor).sum::<i64>());
            prop_assert_eq!(t.total_minor, t.net_minor + t.vat_minor);
            prop_assert_eq!(t.vat_minor, t.per_rate.values().map(|v| v.1).sum::<i64>());
            for l in &lines {
                prop_assert_eq!(l.total_minor, l.net_minor + l.vat_minor);
            }
        }
    }
}
