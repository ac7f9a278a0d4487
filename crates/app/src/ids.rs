//! Identifiers: UUID v7 built from the application clock (sortable, index-friendly).

use crate::crypto;

pub fn new_id(now_ms: i64) -> String {
    let mut rand = [0u8; 10];
    crypto::fill_random(&mut rand);
    let ms = u64::try_from(now_ms).unwrap_or(0);
    uuid::Builder::from_unix_timestamp_millis(ms, &rand)
        .into_uuid()
        .to_string()
}

/// `n` ids of one instant, sorted, so rows made together in an order (a planner batch's jobs)
/// are taken back in that order by whatever reads them by id.
pub fn new_ids_in_order(now_ms: i64, n: usize) -> Vec<String> {
    let mut v: Vec<String> = (0..n).map(|_| new_id(now_ms)).collect();
    v.sort_unstable();
    v
}

/// Whether `s` looks like one of our ids (so that a malformed id is a 404, not a query).
pub fn is_id(s: &str) -> bool {
    uuid::Uuid::parse_str(s).is_ok() && s.len() == 36
}

#[cfg(test)]
mod tests {
    #[test]
    fn ids_of_one_instant_come_in_order() {
        let v = super::new_ids_in_order(1_764_000_000_000, 200);
        assert_eq!(v.len(), 200);
        assert!(v.windows(2).all(|w| w[0] < w[1]), "{v:?}");
        assert!(v.iter().all(|id| super::is_id(id)));
    }
}
