//! Plan changes in the middle of a billing period: which days are left, what a change costs
//! or gives back, and how it is rounded. The rules, written down (also in
//! `docs/plan-changes.md`):
//!
//! - The current period runs from its start (the previous expiration, or the day the service
//!   was created) to the expiration date, end excluded: `total` days. The day of the change
//!   counts as a day of the new plan, so `remaining = expiration − today` days.
//! - A plan's daily price is its period price divided by `total` (not rounded). The prorated
//!   difference of a change is `remaining × (new daily price − old daily price)`, computed
//!   exactly as `(new − old) × remaining / total` and rounded **down** once, to the minor
//!   unit. Rounding down means the customer is never charged more than the exact amount, and
//!   is never given back more than the exact amount; the prorated pieces of a period never
//!   sum to more than its full price.
//! - The VAT of a prorated amount is computed on its net, once, by [`crate::tax::vat_of`]
//!   (half away from zero), like any order line. An upgrade is charged `net + VAT`; an
//!   immediate downgrade credits `net + VAT` of the same computation, so an upgrade and an
//!   immediate downgrade back on the same day cancel out to the minor unit.

use crate::tax::vat_of;
use jiff::civil::Date;

/// The days of the current period, as used for proration.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PeriodDays {
    /// Days from the period's start to its end (end excluded), at least 1.
    pub total: i64,
    /// Days from today to the end, between 0 and `total`.
    pub remaining: i64,
}

/// The days of the period `[start, end)` seen on `today`. `None` if the period is empty or
/// reversed. Before the start, the whole period remains; after the end, nothing does.
pub fn period_days(start: Date, end: Date, today: Date) -> Option<PeriodDays> {
    let total = days_between(start, end)?;
    if total <= 0 {
        return None;
    }
    let remaining = days_between(today, end)?.clamp(0, total);
    Some(PeriodDays { total, remaining })
}

fn days_between(a: Date, b: Date) -> Option<i64> {
    a.until((jiff::Unit::Day, b))
        .ok()
        .map(|s| i64::from(s.get_days()))
}

/// `price_minor × remaining / total`, rounded down. `None` on a negative price or impossible
/// day counts.
pub fn prorate(price_minor: i64, days: PeriodDays) -> Option<i64> {
    if price_minor < 0 || days.total <= 0 || !(0..=days.total).contains(&days.remaining) {
        return None;
    }
    let v = i128::from(price_minor) * i128::from(days.remaining) / i128::from(days.total);
    i64::try_from(v).ok()
}

/// Which way a change goes, by the plans' period prices.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// The new plan costs more: charged now, for the days left.
    Upgrade,
    /// The new plan costs the same or less: at the next renewal, or now with a credit.
    Downgrade,
}

/// A change priced for today: its direction and the prorated difference (never negative),
/// net of VAT, then its VAT and total at `rate_bp`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Change {
    pub direction: Direction,
    pub net_minor: i64,
    pub vat_minor: i64,
    pub total_minor: i64,
}

/// Price a change from a plan at `old_price_minor` to one at `new_price_minor` (both for the
/// same period length), with `days` left, at VAT `rate_bp`.
pub fn change(
    old_price_minor: i64,
    new_price_minor: i64,
    days: PeriodDays,
    rate_bp: u32,
) -> Option<Change> {
    if old_price_minor < 0 || new_price_minor < 0 {
        return None;
    }
    let (direction, diff) = if new_price_minor > old_price_minor {
        (Direction::Upgrade, new_price_minor - old_price_minor)
    } else {
        (Direction::Downgrade, old_price_minor - new_price_minor)
    };
    let net = prorate(diff, days)?;
    let vat = vat_of(net, rate_bp)?;
    Some(Change {
        direction,
        net_minor: net,
        vat_minor: vat,
        total_minor: net.checked_add(vat)?,
    })
}

/// The start of the period ending on `expires` for a service anchored on `anchor` (the day
/// it was created) and billed every `months`: the previous date of the anchor's calendar
/// (see [`crate::period`]), or `anchor` itself for the first period. An expiration off the
/// anchor's calendar counts back `months` from itself.
pub fn period_start(anchor: Date, expires: Date, months: i32) -> Option<Date> {
    if months <= 0 {
        return None;
    }
    let mut prev = anchor;
    for k in 1..=1200 {
        let e = crate::period::add_months(anchor, months.checked_mul(k)?)?;
        if e == expires {
            return Some(prev);
        }
        if e > expires {
            break;
        }
        prev = e;
    }
    crate::period::add_months(expires, -months)
}

#[cfg(test)]
mod tests {
    use super::*;
    use jiff::civil::date;
    use proptest::prelude::*;

    #[test]
    fn day_ten_of_a_thirty_day_month() {
        // Created 1 November, expires 1 December: 30 days; on 10 November, 21 remain.
        let d = period_days(date(2026, 11, 1), date(2026, 12, 1), date(2026, 11, 10)).unwrap();
        assert_eq!(
            d,
            PeriodDays {
                total: 30,
                remaining: 21
            }
        );
        // 5.99 → 11.99 a month: 21 × (1199 − 599) / 30 = 420.
        let c = change(599, 1199, d, 2000).unwrap();
        assert_eq!(c.direction, Direction::Upgrade);
        assert_eq!((c.net_minor, c.vat_minor, c.total_minor), (420, 84, 504));
        let back = change(1199, 599, d, 2000).unwrap();
        assert_eq!(back.direction, Direction::Downgrade);
        assert_eq!(back.total_minor, 504);
    }

    #[test]
    fn rounding_is_down() {
        let d = PeriodDays {
            total: 31,
            remaining: 10,
        };
        // 1000 × 10 / 31 = 322.58… → 322.
        assert_eq!(prorate(1000, d), Some(322));
        assert_eq!(prorate(-1, d), None);
        assert_eq!(
            prorate(
                1,
                PeriodDays {
                    total: 0,
                    remaining: 0
                }
            ),
            None
        );
    }

    #[test]
    fn outside_the_period() {
        let (s, e) = (date(2026, 11, 1), date(2026, 12, 1));
        assert_eq!(period_days(s, e, date(2026, 12, 5)).unwrap().remaining, 0);
        assert_eq!(period_days(s, e, date(2026, 10, 5)).unwrap().remaining, 30);
        assert_eq!(period_days(e, s, date(2026, 11, 5)), None);
    }

    #[test]
    fn period_starts_follow_the_anchor() {
        let a = date(2026, 1, 31);
        assert_eq!(period_start(a, date(2026, 2, 28), 1), Some(a));
        assert_eq!(
            period_start(a, date(2026, 4, 30), 1),
            Some(date(2026, 3, 31))
        );
        assert_eq!(
            period_start(a, date(2027, 1, 31), 12),
            Some(date(2026, 1, 31))
        );
        // Off the calendar (a renewal from a date that was not the anchor's).
        assert_eq!(
            period_start(a, date(2026, 5, 10), 1),
            Some(date(2026, 4, 10))
        );
    }

    proptest! {
        /// Cut a period into consecutive pieces: the pieces' prorated prices never sum to
        /// more than the full price, and fall short by less than one unit per piece.
        #[test]
        fn pieces_never_exceed_the_full_price(
            price in 0i64..1_000_000_000,
            cuts in prop::collection::vec(1i64..40, 1..12),
        ) {
            let total: i64 = cuts.iter().sum();
            let sum: i64 = cuts
                .iter()
                .map(|&d| prorate(price, PeriodDays { total, remaining: d }).unwrap())
                .sum();
            prop_assert!(sum <= price, "{sum} > {price}");
            prop_assert!(price - sum < i64::try_from(cuts.len()).unwrap());
        }

        /// An upgrade then an immediate downgrade back on the same day: what was charged and
        /// what is credited differ by at most one minor unit (here they are equal).
        #[test]
        fn upgrade_then_downgrade_is_neutral(
            old in 0i64..100_000_000,
            extra in 1i64..100_000_000,
            total in 1i64..1200,
            used in 0i64..1200,
            rate in prop::sample::select(vec![0u32, 550, 1000, 2000, 2100, 2550]),
        ) {
            let days = PeriodDays { total, remaining: total - used.min(total) };
            let up = change(old, old + extra, days, rate).unwrap();
            let down = change(old + extra, old, days, rate).unwrap();
            prop_assert_eq!(up.direction, Direction::Upgrade);
            prop_assert_eq!(down.direction, Direction::Downgrade);
            prop_assert!((up.total_minor - down.total_minor).abs() <= 1);
            prop_assert!((up.net_minor - down.net_minor).abs() <= 1);
        }

        /// The prorated amount is the exact formula rounded down: within one unit below it.
        #[test]
        fn prorated_amount_is_the_formula(
            old in 0i64..1_000_000,
            new in 0i64..1_000_000,
            total in 1i64..1200,
            left in 0i64..1200,
        ) {
            let days = PeriodDays { total, remaining: left.min(total) };
            let c = change(old, new, days, 0).unwrap();
            // remaining × (new/total − old/total), exactly, times `total` to stay in integers.
            let exact_times_total = i128::from((new - old).abs()) * i128::from(days.remaining);
            let charged_times_total = i128::from(c.net_minor) * i128::from(total);
            prop_assert!(charged_times_total <= exact_times_total);
            prop_assert!(exact_times_total - charged_times_total < i128::from(total));
        }

        /// The start found is before the expiration, and one period before it on the calendar.
        #[test]
        fn period_start_is_one_period_back(
            y in 2000i16..2100, m in 1i8..=12, d in 1i8..=28, k in 1i32..30,
            months in prop::sample::select(vec![1i32, 3, 6, 12, 24, 36]),
        ) {
            let a = date(y, m, d);
            let e = crate::period::add_months(a, months * k).unwrap();
            let s = period_start(a, e, months).unwrap();
            prop_assert!(s < e);
            prop_assert_eq!(crate::period::add_months(a, months * (k - 1)).unwrap(), s);
        }
    }
}
