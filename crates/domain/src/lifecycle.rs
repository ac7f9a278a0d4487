//! A service's calendar: from its expiration date E, its renewal mode and whether it is being
//! terminated, the next dates that matter (charge, reminder, suspension, deletion) and the
//! rules for ending it. Defaults of PRODUCT.md "Lifecycle rules":
//! - automatic renewal: a notice at E−30 for periods over a month, the renewal charged at
//!   E−7 (retries E−5, E−3, E−1, E);
//! - manual renewal: reminders at E−30, E−15, E−7 and E−1;
//! - not renewed at E: suspended; deleted at E+7;
//! - terminated at expiration: no renewal, a reminder at E−7, deleted at E; the termination
//!   can be cancelled until 24 hours before E.

use crate::BillingPeriod;
use jiff::civil::Date;

pub const TERMINATION_REASONS: [&str; 8] = [
    "too_expensive",
    "not_needed",
    "migrating",
    "missing_features",
    "performance",
    "reliability",
    "support",
    "other",
];

/// Days before E of automatic renewal's first charge, then its retries.
pub const AUTO_CHARGE_DAYS: [i32; 5] = [7, 5, 3, 1, 0];
/// Days before E of manual renewal's reminders.
pub const MANUAL_REMINDER_DAYS: [i32; 4] = [30, 15, 7, 1];
/// Days after E when an unrenewed service is deleted.
pub const DELETE_AFTER_DAYS: i32 = 7;
/// Hours before E after which a termination can no longer be cancelled.
pub const CANCEL_TERMINATION_UNTIL_HOURS: i64 = 24;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RenewalMode {
    Automatic,
    Manual,
}

impl RenewalMode {
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "automatic" => Some(Self::Automatic),
            "manual" => Some(Self::Manual),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Automatic => "automatic",
            Self::Manual => "manual",
        }
    }
}

/// The next dates of a service, as of `today`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct NextDates {
    pub next_charge: Option<Date>,
    pub next_reminder: Option<Date>,
    pub suspension: Option<Date>,
    pub deletion: Option<Date>,
}

/// The calendar of an active service expiring on `expires`, read off the engine's own list of
/// steps (`schedule::Cycle`), so what the customer is shown is what the engine will do.
pub fn next_dates(
    expires: Date,
    mode: RenewalMode,
    period: BillingPeriod,
    terminating: bool,
    today: Date,
) -> NextDates {
    use crate::schedule::{Cycle, Step};
    let cycle = Cycle {
        expires,
        mode,
        period,
        terminating,
    };
    let steps = cycle.steps();
    let first = |f: fn(&Step) -> bool| {
        steps
            .iter()
            .filter(|s| f(s))
            .map(|s| s.day(expires))
            .find(|d| *d >= today)
    };
    let any = |f: fn(&Step) -> bool| steps.iter().find(|s| f(s)).map(|s| s.day(expires));
    NextDates {
        next_charge: first(|s| matches!(s, Step::Charge(_))),
        next_reminder: first(|s| {
            matches!(
                s,
                Step::Notice | Step::Reminder(_) | Step::TerminationReminder
            )
        }),
        suspension: any(|s| matches!(s, Step::Suspend)),
        deletion: any(|s| matches!(s, Step::Delete | Step::EndOfTerm)),
    }
}

/// Whether a termination at expiration may still be cancelled at `now_ms` (until 24 hours
/// before the start of E, UTC).
pub fn termination_cancellable(expires: Date, now_ms: i64) -> bool {
    let Ok(start) = jiff::tz::TimeZone::UTC.to_timestamp(expires.at(0, 0, 0, 0)) else {
        return false;
    };
    let limit = start.as_millisecond() - CANCEL_TERMINATION_UNTIL_HOURS * 3_600_000;
    now_ms < limit
}

#[cfg(test)]
mod tests {
    use super::*;
    use jiff::civil::date;

    #[test]
    fn automatic_yearly() {
        let e = date(2027, 6, 30);
        let d = next_dates(
            e,
            RenewalMode::Automatic,
            BillingPeriod::P1Y,
            false,
            date(2027, 1, 1),
        );
        assert_eq!(d.next_reminder, Some(date(2027, 5, 31)));
        assert_eq!(d.next_charge, Some(date(2027, 6, 23)));
        assert_eq!(d.suspension, Some(e));
        assert_eq!(d.deletion, Some(date(2027, 7, 7)));
        // After the first charge date, the next retry.
        let d = next_dates(
            e,
            RenewalMode::Automatic,
            BillingPeriod::P1Y,
            false,
            date(2027, 6, 24),
        );
        assert_eq!(d.next_charge, Some(date(2027, 6, 25)));
        assert_eq!(d.next_reminder, None);
    }

    #[test]
    fn monthly_gets_no_notice_and_manual_gets_reminders() {
        let e = date(2027, 2, 28);
        let d = next_dates(
            e,
            RenewalMode::Automatic,
            BillingPeriod::P1M,
            false,
            date(2027, 2, 1),
        );
        assert_eq!(d.next_reminder, None);
        let d = next_dates(
            e,
            RenewalMode::Manual,
            BillingPeriod::P1M,
            false,
            date(2027, 2, 1),
        );
        assert_eq!(d.next_charge, None);
        assert_eq!(d.next_reminder, Some(date(2027, 2, 13)));
        let d = next_dates(
            e,
            RenewalMode::Manual,
            BillingPeriod::P1M,
            false,
            date(2027, 2, 27),
        );
        assert_eq!(d.next_reminder, Some(date(2027, 2, 27)));
    }

    #[test]
    fn terminating_services_end_at_expiration() {
        let e = date(2027, 3, 31);
        let d = next_dates(
            e,
            RenewalMode::Automatic,
            BillingPeriod::P1Y,
            true,
            date(2027, 3, 1),
        );
        assert_eq!(d.next_charge, None);
        assert_eq!(d.next_reminder, Some(date(2027, 3, 24)));
        assert_eq!(d.deletion, Some(e));
        assert_eq!(d.suspension, None);
    }

    #[test]
    fn termination_cancellable_until_a_day_before() {
        let e = date(2027, 3, 31);
        let ms = |y, m, d, h| {
            jiff::tz::TimeZone::UTC
                .to_timestamp(date(y, m, d).at(h, 0, 0, 0))
                .unwrap()
                .as_millisecond()
        };
        assert!(termination_cancellable(e, ms(2027, 3, 29, 23)));
        assert!(!termination_cancellable(e, ms(2027, 3, 30, 0)));
        assert!(!termination_cancellable(e, ms(2027, 4, 1, 0)));
    }
}
