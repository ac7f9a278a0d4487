//! The account credit balance's rules: how much of a balance an order takes, and the kinds
//! of movement. A balance is per currency and never negative; an order takes as much of it as
//! it can, before its payment method is charged for the rest.

/// What moved a balance.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MovementKind {
    /// The unused part of a plan after an immediate downgrade (credit).
    Downgrade,
    /// A credit note credited to the balance instead of refunded (credit).
    CreditNote,
    /// A credit-type voucher redeemed (credit).
    Voucher,
    /// An operator's adjustment, with a reason (credit or debit).
    Adjustment,
    /// Applied to an order (debit).
    Applied,
    /// Given back from an order cancelled unpaid (credit).
    Released,
}

impl MovementKind {
    pub const ALL: [MovementKind; 6] = [
        MovementKind::Downgrade,
        MovementKind::CreditNote,
        MovementKind::Voucher,
        MovementKind::Adjustment,
        MovementKind::Applied,
        MovementKind::Released,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            MovementKind::Downgrade => "downgrade",
            MovementKind::CreditNote => "credit_note",
            MovementKind::Voucher => "voucher",
            MovementKind::Adjustment => "adjustment",
            MovementKind::Applied => "applied",
            MovementKind::Released => "released",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

/// How much of `balance_minor` an order with `due_minor` left to pay takes: all it can, never
/// more than is due, never a negative amount.
pub fn to_apply(balance_minor: i64, due_minor: i64) -> i64 {
    balance_minor.max(0).min(due_minor.max(0))
}

/// The balance after a movement of `delta_minor`, or `None` if it would go negative or
/// overflow.
pub fn after(balance_minor: i64, delta_minor: i64) -> Option<i64> {
    balance_minor.checked_add(delta_minor).filter(|b| *b >= 0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn takes_what_it_can() {
        assert_eq!(to_apply(1000, 300), 300);
        assert_eq!(to_apply(200, 300), 200);
        assert_eq!(to_apply(0, 300), 0);
        assert_eq!(to_apply(-5, 300), 0);
        assert_eq!(after(100, -100), Some(0));
        assert_eq!(after(100, -101), None);
        for k in MovementKind::ALL {
            assert_eq!(MovementKind::parse(k.as_str()), Some(k));
        }
    }

    proptest! {
        /// However orders come, applying credit one after the other never takes more than
        /// the balance held, and never leaves it negative.
        #[test]
        fn never_overspent(balance in 0i64..1_000_000, dues in prop::collection::vec(0i64..100_000, 0..40)) {
            let mut b = balance;
            let mut taken = 0;
            for d in dues {
                let t = to_apply(b, d);
                prop_assert!(t <= d);
                b = after(b, -t).unwrap();
                taken += t;
            }
            prop_assert_eq!(taken + b, balance);
            prop_assert!(b >= 0);
        }
    }
}
