//! Billing periods and the renewal calendar's date rule.
//!
//! The rule, written down: a period of N months added to an anchor date lands on the same day
//! of the month N months later; when that month is shorter, on its last day (31 January + 1
//! month = 28 February, or 29 in a leap year). Successive expirations are always computed from
//! the original anchor, never from the previous (possibly clamped) date, so a service anchored
//! on the 31st expires on 31 January, 28/29 February, 31 March, 30 April, 31 May…

use jiff::civil::Date;
use serde::{Deserialize, Serialize};
use std::fmt;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum BillingPeriod {
    P1M,
    P3M,
    P6M,
    P1Y,
    P2Y,
    P3Y,
}

impl BillingPeriod {
    pub const ALL: [BillingPeriod; 6] = [
        BillingPeriod::P1M,
        BillingPeriod::P3M,
        BillingPeriod::P6M,
        BillingPeriod::P1Y,
        BillingPeriod::P2Y,
        BillingPeriod::P3Y,
    ];

    /// ISO 8601 duration text, as used in the API (`P1M`, `P1Y`…).
    pub fn code(self) -> &'static str {
        match self {
            BillingPeriod::P1M => "P1M",
            BillingPeriod::P3M => "P3M",
            BillingPeriod::P6M => "P6M",
            BillingPeriod::P1Y => "P1Y",
            BillingPeriod::P2Y => "P2Y",
            BillingPeriod::P3Y => "P3Y",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        let up = s.trim().to_ascii_uppercase();
        Self::ALL.into_iter().find(|p| p.code() == up)
    }

    pub fn months(self) -> i32 {
        match self {
            BillingPeriod::P1M => 1,
            BillingPeriod::P3M => 3,
            BillingPeriod::P6M => 6,
            BillingPeriod::P1Y => 12,
            BillingPeriod::P2Y => 24,
            BillingPeriod::P3Y => 36,
        }
    }

    /// Whether the E−30 renewal notice applies (periods over a month).
    pub fn longer_than_a_month(self) -> bool {
        self.months() > 1
    }
}

impl TryFrom<String> for BillingPeriod {
    type Error = String;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse(&value).ok_or_else(|| {
            format!("unknown billing period {value:?} (P1M, P3M, P6M, P1Y, P2Y, P3Y)")
        })
    }
}

impl From<BillingPeriod> for String {
    fn from(value: BillingPeriod) -> Self {
        value.code().to_owned()
    }
}

impl fmt::Display for BillingPeriod {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

fn days_in_month(year: i16, month: i8) -> i8 {
    match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        _ => {
            let y = i32::from(year);
            if (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 {
                29
            } else {
                28
            }
        }
    }
}

/// `anchor` moved by `months` (may be negative), clamped to the end of shorter months.
/// `None` outside the supported calendar (years 1 to 9999).
pub fn add_months(anchor: Date, months: i32) -> Option<Date> {
    let index = i32::from(anchor.year()) * 12 + i32::from(anchor.month()) - 1 + months;
    let year = i16::try_from(index.div_euclid(12)).ok()?;
    if !(1..=9999).contains(&year) {
        return None;
    }
    let month = i8::try_from(index.rem_euclid(12) + 1).ok()?;
    let day = anchor.day().min(days_in_month(year, month));
    Date::new(year, month, day).ok()
}

/// The expiration after `k` periods from `anchor` (the rule at the top of this module).
pub fn expiration_after(anchor: Date, period: BillingPeriod, k: i32) -> Option<Date> {
    add_months(anchor, period.months().checked_mul(k)?)
}

/// A service anchored on `anchor` and expiring on `expires`, renewed for `k` more periods:
/// the new expiration counts the months from the anchor, so a clamped date (28 February for
/// an anchor on the 31st) does not drag the following ones (31 March, not 28 March).
pub fn renewed_expiration(
    anchor: Date,
    expires: Date,
    period: BillingPeriod,
    k: i32,
) -> Option<Date> {
    let months = (i32::from(expires.year()) - i32::from(anchor.year())) * 12
        + i32::from(expires.month())
        - i32::from(anchor.month());
    let day_kept = add_months(anchor, months) == Some(expires);
    let base = if day_kept { anchor } else { expires };
    let from_base = if day_kept { months } else { 0 };
    add_months(
        base,
        from_base.checked_add(period.months().checked_mul(k)?)?,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use jiff::civil::date;
    use proptest::prelude::*;

    #[test]
    fn month_ends_clamp() {
        assert_eq!(add_months(date(2026, 1, 31), 1), Some(date(2026, 2, 28)));
        assert_eq!(add_months(date(2028, 1, 31), 1), Some(date(2028, 2, 29)));
        assert_eq!(add_months(date(2026, 3, 31), 1), Some(date(2026, 4, 30)));
        assert_eq!(add_months(date(2026, 12, 15), 1), Some(date(2027, 1, 15)));
        assert_eq!(add_months(date(2028, 2, 29), 12), Some(date(2029, 2, 28)));
        assert_eq!(add_months(date(2026, 3, 31), -1), Some(date(2026, 2, 28)));
        assert_eq!(add_months(date(9999, 12, 1), 1), None);
    }

    #[test]
    fn expirations_keep_their_anchor() {
        let a = date(2026, 1, 31);
        let e: Vec<Date> = (1..=4)
            .map(|k| expiration_after(a, BillingPeriod::P1M, k).unwrap())
            .collect();
        assert_eq!(
            e,
            vec![
                date(2026, 2, 28),
                date(2026, 3, 31),
                date(2026, 4, 30),
                date(2026, 5, 31)
            ]
        );
        assert_eq!(
            expiration_after(a, BillingPeriod::P1Y, 1),
            Some(date(2027, 1, 31))
        );
    }

    #[test]
    fn renewals_keep_the_anchor() {
        let a = date(2026, 1, 31);
        let feb = date(2026, 2, 28);
        assert_eq!(
            renewed_expiration(a, feb, BillingPeriod::P1M, 1),
            Some(date(2026, 3, 31))
        );
        assert_eq!(
            renewed_expiration(a, feb, BillingPeriod::P1Y, 2),
            Some(date(2028, 2, 29))
        );
        // An expiration that is not on the anchor's calendar renews from itself.
        assert_eq!(
            renewed_expiration(a, date(2026, 2, 10), BillingPeriod::P1M, 1),
            Some(date(2026, 3, 10))
        );
    }

    #[test]
    fn periods_parse() {
        assert_eq!(BillingPeriod::parse("p1y"), Some(BillingPeriod::P1Y));
        assert_eq!(BillingPeriod::parse("P2W"), None);
        assert!(BillingPeriod::P3M.longer_than_a_month());
        assert!(!BillingPeriod::P1M.longer_than_a_month());
    }

    proptest! {
        /// Adding months agrees with jiff's own calendar arithmetic (which also clamps).
        #[test]
        fn agrees_with_jiff(y in 1900i16..2200, m in 1i8..=12, d in 1i8..=31, n in -60i32..=60) {
            let d = d.min(days_in_month(y, m));
            let anchor = date(y, m, d);
            let ours = add_months(anchor, n).unwrap();
            let theirs = anchor.checked_add(jiff::Span::new().months(n)).unwrap();
            prop_assert_eq!(ours, theirs);
        }

        /// The day of the month never moves except down to a month's end.
        #[test]
        fn day_is_kept_or_clamped(y in 1900i16..2200, m in 1i8..=12, d in 1i8..=31, k in 1i32..=40) {
            let d = d.min(days_in_month(y, m));
            let e = expiration_after(date(y, m, d), BillingPeriod::P1M, k).unwrap();
            prop_assert!(e.day() == d || (e.day() < d && e.day() == days_in_month(e.year(), e.month())));
        }
    }
}
