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

/// Split a partial credit of `gross_minor` (VAT included) over the VAT rates of an invoice,
/// in proportion to each rate's gross amount, and each part into net and VAT at its rate.
/// `per_rate` is `(rate_bp, net, vat)` of the invoice. The parts sum exactly to `gross_minor`
/// and none exceeds its rate's gross amount. `None` if `gross_minor` is negative or more than
/// the invoice's total.
pub fn split_credit(
    gross_minor: i64,
    per_rate: &[(u32, i64, i64)],
) -> Option<Vec<(u32, i64, i64)>> {
    let total: i64 = per_rate.iter().map(|r| r.1 + r.2).sum();
    if gross_minor < 0 || gross_minor > total || per_rate.is_empty() {
        return None;
    }
    // Largest share first by floor, then the units left over go to rates with room.
    let mut parts: Vec<i64> = per_rate
        .iter()
        .map(|&(_, net, vat)| {
            let p = i128::from(gross_minor) * i128::from(net + vat) / i128::from(total.max(1));
            i64::try_from(p).unwrap_or(0)
        })
        .collect();
    let mut left = gross_minor - parts.iter().sum::<i64>();
    for (i, &(_, net, vat)) in per_rate.iter().enumerate() {
        let room = (net + vat - parts[i]).min(left);
        parts[i] += room;
        left -= room;
    }
    if left != 0 {
        return None;
    }
    let mut out = Vec::with_capacity(per_rate.len());
    for (&(rate, _, _), part) in per_rate.iter().zip(parts) {
        // Net = part / (1 + rate), rounded half up; VAT is the rest, so net + VAT = part.
        let d = i128::from(10_000 + rate);
        let n = i64::try_from((i128::from(part) * 20_000 + d) / (2 * d)).ok()?;
        out.push((rate, n, part - n));
    }
    Some(out)
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

    #[test]
    fn partial_credits() {
        // 20 % on 100.00 net: crediting 60.00 gross is 50.00 net + 10.00 VAT.
        assert_eq!(
            split_credit(6000, &[(2000, 10_000, 2000)]),
            Some(vec![(2000, 5000, 1000)])
        );
        assert_eq!(split_credit(12_001, &[(2000, 10_000, 2000)]), None);
        assert_eq!(split_credit(-1, &[(2000, 10_000, 2000)]), None);
        let two = split_credit(1000, &[(2000, 1000, 200), (550, 1000, 55)]).unwrap();
        assert_eq!(two.iter().map(|p| p.1 + p.2).sum::<i64>(), 1000);
    }

    proptest! {
        #[test]
        fn credit_parts_add_up_and_stay_within_the_invoice(
            rates in prop::collection::vec((prop::sample::select(vec![0u32, 550, 1000, 2000, 2550]), 0i64..10_000_000), 1..5),
            share in 0u32..=1000,
        ) {
            let per_rate: Vec<(u32, i64, i64)> = rates
                .iter()
                .map(|&(r, net)| (r, net, crate::tax::vat_of(net, r).unwrap()))
                .collect();
            let total: i64 = per_rate.iter().map(|r| r.1 + r.2).sum();
            let gross = total * i64::from(share) / 1000;
            let parts = split_credit(gross, &per_rate).unwrap();
            prop_assert_eq!(parts.iter().map(|p| p.1 + p.2).sum::<i64>(), gross);
            for (p, r) in parts.iter().zip(&per_rate) {
                prop_assert!(p.1 + p.2 <= r.1 + r.2, "{:?} within {:?}", p, r);
                prop_assert!(p.1 >= 0 && p.2 >= 0);
            }
            let full = split_credit(total, &per_rate).unwrap();
            for (p, r) in full.iter().zip(&per_rate) {
                prop_assert_eq!(p.1 + p.2, r.1 + r.2);
            }
        }

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
