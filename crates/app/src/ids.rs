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

/// Whether `s` looks like one of our ids (so that a malformed id is a 404, not a query).
pub fn is_id(s: &str) -> bool {
    uuid::Uuid::parse_str(s).is_ok() && s.len() == 36
}
