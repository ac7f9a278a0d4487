//! Secrets: random tokens (stored as SHA-256 hashes), argon2id password hashes, constant-time
//! comparisons and the short references printed on every mail.

use argon2::Argon2;
use argon2::password_hash::phc::PasswordHash;
use argon2::password_hash::{PasswordHasher, PasswordVerifier};
use base64::Engine;
use sha2::{Digest, Sha256};
use std::sync::OnceLock;
use subtle::ConstantTimeEq;

pub fn fill_random(buf: &mut [u8]) {
    // Small draws (ids, references, tokens) come from a per-thread pool of operating-system
    // randomness refilled 4 KiB at a time: a renewal draws about ten ids, and one system call
    // each was a measurable part of the billing run. A byte leaves the pool once and is
    // zeroed there.
    const POOL: usize = 4096;
    thread_local! {
        static RANDOM: std::cell::RefCell<(Box<[u8; POOL]>, usize)> =
            std::cell::RefCell::new((Box::new([0; POOL]), POOL));
    }
    if buf.len() > POOL / 16 {
        return os_random(buf);
    }
    RANDOM.with_borrow_mut(|(pool, used)| {
        if POOL - *used < buf.len() {
            os_random(&mut pool[..]);
            *used = 0;
        }
        let taken = &mut pool[*used..*used + buf.len()];
        buf.copy_from_slice(taken);
        taken.fill(0);
        *used += buf.len();
    });
}

fn os_random(buf: &mut [u8]) {
    // getrandom only fails when the OS has no entropy source at all; nothing can run then.
    if let Err(e) = getrandom::fill(buf) {
        panic!("no operating-system randomness available: {e}");
    }
}

pub fn random_u64() -> u64 {
    let mut b = [0u8; 8];
    fill_random(&mut b);
    u64::from_le_bytes(b)
}

/// A new secret token with a recognisable prefix (`gcs_` session, `gcp_` personal API token,
/// `gco_` operator key, `gct_` mailed action token) and its hash for storage.
pub fn new_token(prefix: &str) -> (String, String) {
    let mut b = [0u8; 32];
    fill_random(&mut b);
    let token = format!(
        "{prefix}{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b)
    );
    let hash = hash_token(&token);
    (token, hash)
}

pub fn hash_token(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// A numeric code of `digits` digits for SMS, uniformly drawn.
pub fn numeric_code(digits: u32) -> String {
    let max = 10u64.pow(digits);
    // Rejection sampling keeps the draw uniform.
    let limit = u64::MAX - (u64::MAX % max);
    loop {
        let r = random_u64();
        if r < limit {
            return format!("{:0width$}", r % max, width = digits as usize);
        }
    }
}

/// The hash under which a short code is stored: bound to its account so that equal codes of
/// two accounts never collide.
pub fn hash_code(account_id: &str, code: &str) -> String {
    hash_token(&format!("{account_id}:{code}"))
}

pub fn ct_eq(a: &str, b: &str) -> bool {
    a.as_bytes().ct_eq(b.as_bytes()).into()
}

const REF_ALPHABET: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";

/// A short mail reference, e.g. `GC-7KQ2-9XHD-M3PA` (Crockford base32, 60 random bits; unique
/// within its account, where it is looked up: a collision stays out of reach).
pub fn mail_reference() -> String {
    let r = random_u64();
    let c: Vec<char> = (0..12)
        .map(|i| REF_ALPHABET[((r >> (i * 5)) & 31) as usize] as char)
        .collect();
    format!(
        "GC-{}-{}-{}",
        c[..4].iter().collect::<String>(),
        c[4..8].iter().collect::<String>(),
        c[8..].iter().collect::<String>()
    )
}

/// Hash a password with argon2id (OWASP parameters: 19 MiB, 2 passes, 1 lane).
pub fn hash_password(password: &str) -> Result<String, String> {
    Argon2::default()
        .hash_password(password.as_bytes())
        .map(|h| h.to_string())
        .map_err(|e| e.to_string())
}

fn dummy_hash() -> &'static str {
    static DUMMY: OnceLock<String> = OnceLock::new();
    DUMMY.get_or_init(|| hash_password("guichet dummy password for timing").unwrap_or_default())
}

/// Verify `password` against `hash`. With `None` (unknown account) a dummy hash is verified,
/// so that the answer takes the same time whether or not the account exists.
pub fn verify_password(password: &str, hash: Option<&str>) -> bool {
    let (h, real) = match hash {
        Some(h) => (h, true),
        None => (dummy_hash(), false),
    };
    let ok = match PasswordHash::new(h) {
        Ok(parsed) => Argon2::default()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok(),
        Err(_) => false,
    };
    ok && real
}

/// At most this many argon2 computations at once (19 MiB each): a flood of log-in attempts
/// queues up instead of exhausting memory and threads.
fn argon2_permits() -> &'static tokio::sync::Semaphore {
    static PERMITS: OnceLock<tokio::sync::Semaphore> = OnceLock::new();
    PERMITS.get_or_init(|| {
        let cores = std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(2);
        tokio::sync::Semaphore::new(cores * 2)
    })
}

/// Run CPU-heavy password work off the async threads.
pub async fn hash_password_async(password: String) -> Result<String, String> {
    let _permit = argon2_permits()
        .acquire()
        .await
        .map_err(|e| e.to_string())?;
    tokio::task::spawn_blocking(move || hash_password(&password))
        .await
        .map_err(|e| e.to_string())?
}

pub async fn verify_password_async(password: String, hash: Option<String>) -> bool {
    let Ok(_permit) = argon2_permits().acquire().await else {
        return false;
    };
    tokio::task::spawn_blocking(move || verify_password(&password, hash.as_deref()))
        .await
        .unwrap_or(false)
}

/// `n` random bytes in hex (identifiers that need not be secret-length tokens).
pub fn random_hex(n: usize) -> String {
    let mut b = vec![0u8; n];
    fill_random(&mut b);
    hex::encode(b)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pooled_randomness_never_repeats() {
        // 1,000 draws of 24 bytes cross several refills of the pool: none repeats, none is
        // zero (a byte handed out twice, or a draw from an emptied pool, would show).
        let mut seen = std::collections::HashSet::new();
        for _ in 0..1000 {
            let mut b = [0u8; 24];
            fill_random(&mut b);
            assert_ne!(b, [0u8; 24]);
            assert!(seen.insert(b), "a draw repeated");
        }
        let mut big = vec![0u8; 1000];
        fill_random(&mut big);
        assert!(big.iter().any(|&x| x != 0));
    }

    #[test]
    fn tokens_hash_and_differ() {
        let (a, ha) = new_token("gcs_");
        let (b, _) = new_token("gcs_");
        assert!(a.starts_with("gcs_") && a.len() > 40);
        assert_ne!(a, b);
        assert_eq!(hash_token(&a), ha);
        assert!(ct_eq(&ha, &hash_token(&a)));
        assert!(!ct_eq(&ha, "x"));
    }

    #[test]
    fn codes_and_references() {
        let c = numeric_code(6);
        assert_eq!(c.len(), 6);
        assert!(c.chars().all(|c| c.is_ascii_digit()));
        let r = mail_reference();
        assert_eq!(r.len(), 17);
        assert!(r.starts_with("GC-"));
    }

    #[test]
    fn argon2id_round_trip() {
        let h = hash_password("a long enough passphrase").unwrap();
        assert!(h.starts_with("$argon2id$"));
        assert!(verify_password("a long enough passphrase", Some(&h)));
        assert!(!verify_password("another passphrase!", Some(&h)));
        assert!(!verify_password("guichet dummy password for timing", None));
    }
}
