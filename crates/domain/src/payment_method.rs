//! A payment method's status, computed from the clock: a card is usable through the last day
//! of its expiry month, shown `expiring_soon` in the last 30 days before that, `expired`
//! after; a method whose last charge failed is `failed` until a charge succeeds; a SEPA
//! mandate not yet confirmed is `pending_validation`.

use jiff::civil::Date;

/// Days before a card's last valid day when it shows as expiring soon.
pub const EXPIRING_SOON_DAYS: i32 = 30;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Valid,
    ExpiringSoon,
    Expired,
    Failed,
    PendingValidation,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Valid => "valid",
            Status::ExpiringSoon => "expiring_soon",
            Status::Expired => "expired",
            Status::Failed => "failed",
            Status::PendingValidation => "pending_validation",
        }
    }

    /// Whether a charge may be attempted with a method in this status.
    pub fn usable(self) -> bool {
        matches!(self, Status::Valid | Status::ExpiringSoon | Status::Failed)
    }
}

/// The last day a card with this expiry can be used.
pub fn card_last_day(exp_month: i8, exp_year: i16) -> Option<Date> {
    Date::new(exp_year, exp_month, 1)
        .ok()
        .map(|d| d.last_of_month())
}

/// What a method's facts say on `today`.
pub fn status(
    card_expiry: Option<(i8, i16)>,
    failed: bool,
    validated: bool,
    today: Date,
) -> Status {
    if let Some((m, y)) = card_expiry {
        match card_last_day(m, y) {
            None => return Status::Expired,
            Some(last) if today > last => return Status::Expired,
            Some(_) => {}
        }
    }
    if !validated {
        return Status::PendingValidation;
    }
    if failed {
        return Status::Failed;
    }
    if let Some((m, y)) = card_expiry
        && let Some(last) = card_last_day(m, y)
        && today >= last.saturating_sub(jiff::Span::new().days(EXPIRING_SOON_DAYS))
    {
        return Status::ExpiringSoon;
    }
    Status::Valid
}

#[cfg(test)]
mod tests {
    use super::*;
    use jiff::civil::date;

    #[test]
    fn cards_expire_after_their_month() {
        let card = Some((2, 2028));
        assert_eq!(status(card, false, true, date(2027, 12, 1)), Status::Valid);
        assert_eq!(
            status(card, false, true, date(2028, 1, 30)),
            Status::ExpiringSoon
        );
        assert_eq!(
            status(card, false, true, date(2028, 2, 29)),
            Status::ExpiringSoon
        );
        assert_eq!(status(card, false, true, date(2028, 3, 1)), Status::Expired);
        assert_eq!(status(card, true, true, date(2027, 1, 1)), Status::Failed);
        assert_eq!(status(card, true, true, date(2029, 1, 1)), Status::Expired);
        assert_eq!(
            status(Some((13, 2028)), false, true, date(2027, 1, 1)),
            Status::Expired
        );
    }

    #[test]
    fn mandates_wait_for_validation() {
        assert_eq!(
            status(None, false, false, date(2027, 1, 1)),
            Status::PendingValidation
        );
        assert_eq!(status(None, false, true, date(2027, 1, 1)), Status::Valid);
        assert!(!Status::Expired.usable());
        assert!(!Status::PendingValidation.usable());
        assert!(Status::Failed.usable());
    }
}
