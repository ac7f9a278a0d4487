//! An order's life: its statuses, the moves allowed between them, and the follow-up a customer
//! sees (current step and its status), derived from the status so the two never disagree.

use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum OrderStatus {
    NotPaid,
    Checking,
    DocumentsRequested,
    Delivering,
    Delivered,
    Cancelled,
}

impl OrderStatus {
    pub const ALL: [OrderStatus; 6] = [
        OrderStatus::NotPaid,
        OrderStatus::Checking,
        OrderStatus::DocumentsRequested,
        OrderStatus::Delivering,
        OrderStatus::Delivered,
        OrderStatus::Cancelled,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            OrderStatus::NotPaid => "not_paid",
            OrderStatus::Checking => "checking",
            OrderStatus::DocumentsRequested => "documents_requested",
            OrderStatus::Delivering => "delivering",
            OrderStatus::Delivered => "delivered",
            OrderStatus::Cancelled => "cancelled",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|x| x.as_str() == s)
    }

    /// Whether the order may move from `self` to `to`.
    pub fn can_become(self, to: OrderStatus) -> bool {
        use OrderStatus::*;
        matches!(
            (self, to),
            (NotPaid, Checking)
                | (NotPaid, Cancelled)
                | (Checking, Delivering)
                | (Checking, DocumentsRequested)
                | (Checking, Cancelled)
                | (DocumentsRequested, Checking)
                | (DocumentsRequested, Cancelled)
                | (Delivering, Delivered)
                | (Delivering, DocumentsRequested)
                | (Delivering, Cancelled)
        )
    }

    /// Still on its way: counts as an order in progress (a blocker for closing the account).
    pub fn in_progress(self) -> bool {
        matches!(
            self,
            OrderStatus::Checking | OrderStatus::DocumentsRequested | OrderStatus::Delivering
        )
    }
}

/// The steps of the follow-up, in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Step {
    Validating,
    Validated,
    Delivering,
    Available,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum StepStatus {
    Todo,
    Doing,
    Done,
    Error,
}

impl Step {
    pub fn as_str(self) -> &'static str {
        match self {
            Step::Validating => "validating",
            Step::Validated => "validated",
            Step::Delivering => "delivering",
            Step::Available => "available",
        }
    }
}

impl StepStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            StepStatus::Todo => "todo",
            StepStatus::Doing => "doing",
            StepStatus::Done => "done",
            StepStatus::Error => "error",
        }
    }
}

/// The current step and its status. `delivery_failed`: the provider reported a failure that
/// is not resolved yet. `was_paid` tells a cancelled order's last step.
pub fn follow_up(status: OrderStatus, delivery_failed: bool, was_paid: bool) -> (Step, StepStatus) {
    match status {
        // Waiting for the customer's payment.
        OrderStatus::NotPaid => (Step::Validating, StepStatus::Todo),
        OrderStatus::Checking => (Step::Validating, StepStatus::Doing),
        // Waiting for the customer's documents.
        OrderStatus::DocumentsRequested => (Step::Validating, StepStatus::Todo),
        OrderStatus::Delivering if delivery_failed => (Step::Delivering, StepStatus::Error),
        OrderStatus::Delivering => (Step::Delivering, StepStatus::Doing),
        OrderStatus::Delivered => (Step::Available, StepStatus::Done),
        OrderStatus::Cancelled if was_paid => (Step::Validated, StepStatus::Error),
        OrderStatus::Cancelled => (Step::Validating, StepStatus::Error),
    }
}

/// A domain name as an order option: lower case, 2 to 253 characters, labels of letters,
/// digits and hyphens (IDNs in their `xn--` form), at least two labels.
pub fn domain_name(input: &str) -> Option<String> {
    let s = input.trim().trim_end_matches('.').to_ascii_lowercase();
    if s.len() < 3 || s.len() > 253 {
        return None;
    }
    let labels: Vec<&str> = s.split('.').collect();
    if labels.len() < 2 {
        return None;
    }
    for l in &labels {
        if l.is_empty()
            || l.len() > 63
            || l.starts_with('-')
            || l.ends_with('-')
            || !l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
        {
            return None;
        }
    }
    let tld = labels[labels.len() - 1];
    if tld.len() < 2 || tld.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finished_orders_stay_finished() {
        for to in OrderStatus::ALL {
            assert!(!OrderStatus::Delivered.can_become(to));
            assert!(!OrderStatus::Cancelled.can_become(to));
        }
        assert!(!OrderStatus::NotPaid.can_become(OrderStatus::Delivered));
        assert!(OrderStatus::NotPaid.can_become(OrderStatus::Checking));
    }

    #[test]
    fn statuses_round_trip() {
        for s in OrderStatus::ALL {
            assert_eq!(OrderStatus::parse(s.as_str()), Some(s));
        }
        assert_eq!(OrderStatus::parse("paid"), None);
    }

    #[test]
    fn follow_up_matches_the_status() {
        assert_eq!(
            follow_up(OrderStatus::NotPaid, false, false),
            (Step::Validating, StepStatus::Todo)
        );
        assert_eq!(
            follow_up(OrderStatus::Delivering, true, true),
            (Step::Delivering, StepStatus::Error)
        );
        assert_eq!(
            follow_up(OrderStatus::Delivered, false, true),
            (Step::Available, StepStatus::Done)
        );
    }

    #[test]
    fn domain_names() {
        assert_eq!(domain_name("Example.FR").as_deref(), Some("example.fr"));
        assert_eq!(
            domain_name("xn--bcher-kva.de").as_deref(),
            Some("xn--bcher-kva.de")
        );
        for bad in ["", "fr", "-a.fr", "a-.fr", "a..fr", "a b.fr", "1.2", "é.fr"] {
            assert_eq!(domain_name(bad), None, "{bad}");
        }
    }
}
