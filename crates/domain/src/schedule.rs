//! Which lifecycle steps of a service fall due, day by day, for one expiration date E: the
//! renewal notice and charges (automatic), the reminders (manual), suspension, last warning
//! and deletion when E passes unpaid, and the end of a termination. The engine records each
//! step under the key `(service, E, step)`, so a step is done once per expiration date; once
//! a renewal moves E, the next cycle's steps are new.
//!
//! Catch-up rule (a node down for days, or a clock moved far at once): of the steps whose day
//! has come, only the latest of each family is done. Reminders are one family (a notice on E−30
//! and a reminder on E−7 both due: only the E−7 one is sent), charges another (one attempt,
//! not five); no reminder is sent once E has come; and once deletion is due, neither
//! suspension nor its last warning is done first. Run every day, every step comes due on its
//! own day and is done (property-tested below).

use crate::BillingPeriod;
use crate::lifecycle::{AUTO_CHARGE_DAYS, DELETE_AFTER_DAYS, MANUAL_REMINDER_DAYS, RenewalMode};
use jiff::Span;
use jiff::civil::Date;

/// Days after E of the last warning before deletion.
pub const LAST_WARNING_AFTER_DAYS: i32 = 5;
/// Days before E of automatic renewal's notice (periods over a month only).
pub const NOTICE_DAYS: i32 = 30;
/// Days before E of the reminder that a terminated service is about to end.
pub const TERMINATION_REMINDER_DAYS: i32 = 7;
/// Days before a card's last valid day when its holder is told it expires.
pub const CARD_EXPIRY_NOTICE_DAYS: [i32; 2] = [30, 7];

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Step {
    /// Automatic renewal is coming (E−30, periods over a month).
    Notice,
    /// Charge the renewal, this many days before E (7, then retries 5, 3, 1, 0).
    Charge(i32),
    /// Manual renewal: renew before E (30, 15, 7, 1 days before).
    Reminder(i32),
    /// A terminated service ends in a week.
    TerminationReminder,
    /// E came unpaid: suspend (data kept).
    Suspend,
    /// E+5: deleted in two days unless paid.
    LastWarning,
    /// E+7 unpaid: deleted.
    Delete,
    /// A terminated service reached E: deleted, as asked.
    EndOfTerm,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Family {
    Mail,
    Charge,
    State,
}

impl Step {
    /// The stable text of the step, part of its unique key.
    pub fn key(self) -> String {
        match self {
            Step::Notice => "notice".into(),
            Step::Charge(d) => format!("charge-{d}"),
            Step::Reminder(d) => format!("reminder-{d}"),
            Step::TerminationReminder => "termination-reminder".into(),
            Step::Suspend => "suspend".into(),
            Step::LastWarning => "last-warning".into(),
            Step::Delete => "delete".into(),
            Step::EndOfTerm => "end-of-term".into(),
        }
    }

    pub fn parse(s: &str) -> Option<Step> {
        let days =
            |rest: &str, allowed: &[i32]| rest.parse::<i32>().ok().filter(|d| allowed.contains(d));
        Some(match s {
            "notice" => Step::Notice,
            "termination-reminder" => Step::TerminationReminder,
            "suspend" => Step::Suspend,
            "last-warning" => Step::LastWarning,
            "delete" => Step::Delete,
            "end-of-term" => Step::EndOfTerm,
            _ => {
                if let Some(rest) = s.strip_prefix("charge-") {
                    Step::Charge(days(rest, &AUTO_CHARGE_DAYS)?)
                } else if let Some(rest) = s.strip_prefix("reminder-") {
                    Step::Reminder(days(rest, &MANUAL_REMINDER_DAYS)?)
                } else {
                    return None;
                }
            }
        })
    }

    /// The day of this step for a service expiring on `e`.
    pub fn day(self, e: Date) -> Date {
        let shift = |days: i32| e.saturating_add(Span::new().days(days));
        match self {
            Step::Notice => shift(-NOTICE_DAYS),
            Step::Charge(d) | Step::Reminder(d) => shift(-d),
            Step::TerminationReminder => shift(-TERMINATION_REMINDER_DAYS),
            Step::Suspend | Step::EndOfTerm => e,
            Step::LastWarning => shift(LAST_WARNING_AFTER_DAYS),
            Step::Delete => shift(DELETE_AFTER_DAYS),
        }
    }

    fn family(self) -> Family {
        match self {
            Step::Notice | Step::Reminder(_) | Step::TerminationReminder => Family::Mail,
            Step::Charge(_) => Family::Charge,
            Step::Suspend | Step::LastWarning | Step::Delete | Step::EndOfTerm => Family::State,
        }
    }
}

/// What the calendar of a service depends on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cycle {
    pub expires: Date,
    pub mode: RenewalMode,
    pub period: BillingPeriod,
    pub terminating: bool,
}

/// The steps due as of a day, and the next day something falls due.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Due {
    /// In the order they must be done.
    pub steps: Vec<Step>,
    /// The first day after `today` with a step, if any is left in this cycle.
    pub next_on: Option<Date>,
}

impl Cycle {
    /// Every step of this cycle, in date order.
    pub fn steps(&self) -> Vec<Step> {
        let mut v = Vec::new();
        if self.terminating {
            v.push(Step::TerminationReminder);
            v.push(Step::EndOfTerm);
            return v;
        }
        match self.mode {
            RenewalMode::Automatic => {
                if self.period.longer_than_a_month() {
                    v.push(Step::Notice);
                }
                v.extend(AUTO_CHARGE_DAYS.iter().map(|d| Step::Charge(*d)));
            }
            RenewalMode::Manual => {
                v.extend(MANUAL_REMINDER_DAYS.iter().map(|d| Step::Reminder(*d)));
            }
        }
        v.extend([Step::Suspend, Step::LastWarning, Step::Delete]);
        // Charges and the suspension share E: the charge goes first (stable sort).
        v.sort_by_key(|s| s.day(self.expires));
        v
    }

    /// The steps to do as of `today` (see the catch-up rule above).
    pub fn due(&self, today: Date) -> Due {
        let all = self.steps();
        let e = self.expires;
        let next_on = all.iter().map(|s| s.day(e)).find(|d| *d > today);
        let came: Vec<Step> = all.into_iter().filter(|s| s.day(e) <= today).collect();
        let deletion_due = came
            .iter()
            .any(|s| matches!(s, Step::Delete | Step::EndOfTerm));
        let latest = |f: Family| came.iter().rev().find(|s| s.family() == f).copied();
        let mut steps = Vec::new();
        if today < e
            && let Some(m) = latest(Family::Mail)
        {
            steps.push(m);
        }
        if !deletion_due {
            steps.extend(latest(Family::Charge));
        }
        for s in &came {
            let keep = match s {
                Step::Delete | Step::EndOfTerm => true,
                Step::Suspend => !deletion_due,
                Step::LastWarning => !deletion_due,
                _ => false,
            };
            if keep {
                steps.push(*s);
            }
        }
        Due { steps, next_on }
    }
}

/// The card-expiry notice due as of `today` for a card whose last valid day is `last_day`
/// (30 or 7 days before; only the latest when both have come), while the card is still valid.
pub fn card_expiry_notice(last_day: Date, today: Date) -> Option<i32> {
    if today > last_day {
        return None;
    }
    CARD_EXPIRY_NOTICE_DAYS
        .iter()
        .copied()
        .filter(|d| last_day.saturating_sub(Span::new().days(*d)) <= today)
        .min()
}

#[cfg(test)]
mod tests {
    use super::*;
    use jiff::ToSpan;
    use jiff::civil::date;
    use proptest::prelude::*;

    fn cycle(mode: RenewalMode, period: BillingPeriod, terminating: bool) -> Cycle {
        Cycle {
            expires: date(2027, 3, 31),
            mode,
            period,
            terminating,
        }
    }

    #[test]
    fn automatic_yearly_calendar() {
        let c = cycle(RenewalMode::Automatic, BillingPeriod::P1Y, false);
        let days: Vec<(String, String)> = c
            .steps()
            .into_iter()
            .map(|s| (s.key(), s.day(c.expires).to_string()))
            .collect();
        let expect = [
            ("notice", "2027-03-01"),
            ("charge-7", "2027-03-24"),
            ("charge-5", "2027-03-26"),
            ("charge-3", "2027-03-28"),
            ("charge-1", "2027-03-30"),
            ("charge-0", "2027-03-31"),
            ("suspend", "2027-03-31"),
            ("last-warning", "2027-04-05"),
            ("delete", "2027-04-07"),
        ];
        assert_eq!(
            days,
            expect
                .iter()
                .map(|(a, b)| (a.to_string(), b.to_string()))
                .collect::<Vec<_>>()
        );
        assert_eq!(c.due(date(2027, 2, 1)).steps, vec![]);
        assert_eq!(c.due(date(2027, 2, 1)).next_on, Some(date(2027, 3, 1)));
        assert_eq!(
            c.due(date(2027, 3, 31)).steps,
            vec![Step::Charge(0), Step::Suspend]
        );
    }

    #[test]
    fn catch_up_keeps_the_latest_of_each_family() {
        let c = cycle(RenewalMode::Automatic, BillingPeriod::P1Y, false);
        // Down from before the notice until E−2: one mail, one charge.
        assert_eq!(
            c.due(date(2027, 3, 29)).steps,
            vec![Step::Notice, Step::Charge(3)]
        );
        // Until E+6: a charge at E, then suspension and the last warning.
        assert_eq!(
            c.due(date(2027, 4, 6)).steps,
            vec![Step::Charge(0), Step::Suspend, Step::LastWarning]
        );
        // Past deletion: only the deletion.
        assert_eq!(c.due(date(2027, 5, 1)).steps, vec![Step::Delete]);
        assert_eq!(c.due(date(2027, 5, 1)).next_on, None);
    }

    #[test]
    fn manual_and_terminating() {
        let m = cycle(RenewalMode::Manual, BillingPeriod::P1M, false);
        assert_eq!(m.due(date(2027, 3, 16)).steps, vec![Step::Reminder(15)]);
        assert_eq!(m.due(date(2027, 3, 31)).steps, vec![Step::Suspend]);
        let t = cycle(RenewalMode::Automatic, BillingPeriod::P1Y, true);
        assert_eq!(
            t.due(date(2027, 3, 25)).steps,
            vec![Step::TerminationReminder]
        );
        assert_eq!(t.due(date(2027, 3, 31)).steps, vec![Step::EndOfTerm]);
        assert_eq!(t.due(date(2027, 3, 1)).next_on, Some(date(2027, 3, 24)));
    }

    #[test]
    fn keys_round_trip() {
        for c in [
            cycle(RenewalMode::Automatic, BillingPeriod::P1Y, false),
            cycle(RenewalMode::Manual, BillingPeriod::P1Y, false),
            cycle(RenewalMode::Manual, BillingPeriod::P1Y, true),
        ] {
            for s in c.steps() {
                assert_eq!(Step::parse(&s.key()), Some(s));
            }
        }
        assert_eq!(Step::parse("charge-6"), None);
        assert_eq!(Step::parse("reminder-x"), None);
    }

    #[test]
    fn card_notices() {
        let last = date(2027, 6, 30);
        assert_eq!(card_expiry_notice(last, date(2027, 5, 30)), None);
        assert_eq!(card_expiry_notice(last, date(2027, 5, 31)), Some(30));
        assert_eq!(card_expiry_notice(last, date(2027, 6, 23)), Some(7));
        assert_eq!(card_expiry_notice(last, date(2027, 7, 1)), None);
    }

    fn periods() -> impl Strategy<Value = BillingPeriod> {
        prop::sample::select(vec![
            BillingPeriod::P1M,
            BillingPeriod::P3M,
            BillingPeriod::P6M,
            BillingPeriod::P1Y,
            BillingPeriod::P2Y,
            BillingPeriod::P3Y,
        ])
    }

    proptest! {
        /// Run every day of a cycle, each step comes due exactly on its own day.
        #[test]
        fn daily_runs_do_every_step_on_its_day(
            offset in 0i32..4000, period in periods(), manual in any::<bool>(), terminating in any::<bool>()
        ) {
            let expires = date(2026, 1, 1).saturating_add(offset.days());
            let c = Cycle {
                expires,
                mode: if manual { RenewalMode::Manual } else { RenewalMode::Automatic },
                period,
                terminating,
            };
            let mut done = Vec::new();
            let mut day = expires.saturating_sub(40.days());
            let end = expires.saturating_add(10.days());
            while day <= end {
                for s in c.due(day).steps {
                    if !done.contains(&s) {
                        prop_assert_eq!(s.day(expires), day, "{:?} done on another day", s);
                        done.push(s);
                    }
                }
                if let Some(n) = c.due(day).next_on {
                    prop_assert!(n > day);
                }
                day = day.saturating_add(1.days());
            }
            prop_assert_eq!(done, c.steps());
        }

        /// Whenever the engine looks, nothing it does is dated after that day, and the next
        /// day it is told to look again is the next step's day.
        #[test]
        fn due_steps_have_come(offset in -60i32..60, period in periods(), manual in any::<bool>()) {
            let expires = date(2027, 2, 28);
            let c = Cycle {
                expires,
                mode: if manual { RenewalMode::Manual } else { RenewalMode::Automatic },
                period,
                terminating: false,
            };
            let today = expires.saturating_add(offset.days());
            let due = c.due(today);
            for s in &due.steps {
                prop_assert!(s.day(expires) <= today);
            }
            let next = c.steps().into_iter().map(|s| s.day(expires)).find(|d| *d > today);
            prop_assert_eq!(due.next_on, next);
        }
    }
}
