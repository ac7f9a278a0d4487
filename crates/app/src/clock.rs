//! The one source of time. Production reads the system clock; sandbox mode adds an offset that
//! operators (and tests) move forward. Nothing else in Guichet reads the wall clock.

use jiff::Timestamp;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

#[derive(Clone, Debug)]
pub struct Clock {
    offset_ms: Arc<AtomicI64>,
    movable: bool,
}

impl Clock {
    /// The system clock; `movable` allows [`Clock::set_offset_ms`] (sandbox mode only).
    pub fn system(movable: bool) -> Self {
        Self {
            offset_ms: Arc::new(AtomicI64::new(0)),
            movable,
        }
    }

    fn system_ms() -> i64 {
        match std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH) {
            Ok(d) => i64::try_from(d.as_millis()).unwrap_or(i64::MAX),
            Err(_) => 0,
        }
    }

    pub fn now_ms(&self) -> i64 {
        Self::system_ms().saturating_add(self.offset_ms.load(Ordering::Relaxed))
    }

    pub fn now(&self) -> Timestamp {
        Timestamp::from_millisecond(self.now_ms()).unwrap_or(Timestamp::UNIX_EPOCH)
    }

    pub fn is_movable(&self) -> bool {
        self.movable
    }

    pub fn offset_ms(&self) -> i64 {
        self.offset_ms.load(Ordering::Relaxed)
    }

    /// Move the clock: only in sandbox mode, and never backwards.
    pub fn set_offset_ms(&self, offset: i64) -> bool {
        if !self.movable {
            return false;
        }
        self.offset_ms.fetch_max(offset, Ordering::Relaxed);
        true
    }
}

/// Milliseconds to RFC 3339 text (UTC) with exactly three decimals, for JSON answers and
/// mails: fixed width, so the text sorts like the instant.
pub fn rfc3339(ms: i64) -> String {
    Timestamp::from_millisecond(ms)
        .map(|t| t.strftime("%Y-%m-%dT%H:%M:%S%.3fZ").to_string())
        .unwrap_or_default()
}

/// The UTC calendar date of an instant in milliseconds.
pub fn utc_date(ms: i64) -> Option<jiff::civil::Date> {
    Timestamp::from_millisecond(ms)
        .ok()
        .map(|t| jiff::tz::TimeZone::UTC.to_datetime(t).date())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn instants_print_with_fixed_width() {
        assert_eq!(rfc3339(1_700_000_000_000), "2023-11-14T22:13:20.000Z");
        assert_eq!(rfc3339(1_700_000_000_290), "2023-11-14T22:13:20.290Z");
    }

    #[test]
    fn only_a_movable_clock_moves_and_only_forward() {
        let fixed = Clock::system(false);
        assert!(!fixed.set_offset_ms(1000));
        let c = Clock::system(true);
        let before = c.now_ms();
        assert!(c.set_offset_ms(86_400_000));
        assert!(c.now_ms() >= before + 86_400_000);
        c.set_offset_ms(0);
        assert_eq!(c.offset_ms(), 86_400_000);
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00.000Z");
    }
}
