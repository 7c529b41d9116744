//! Passwords verified recently, so that a client sending Basic credentials with every request
//! (some do, instead of fetching a token) pays for Argon2 once per few minutes rather than on
//! every request: each verification is tens of milliseconds of CPU by design.
//!
//! An entry is a keyed fingerprint (HMAC-SHA256 under a key made for this process) of the
//! stored hash and the password that matched it: the password itself is not kept, and a
//! changed password (a new stored hash) never matches an old entry. Someone holding a dump of
//! the process's memory (key included) could test guesses against the remembered entries at
//! HMAC speed rather than Argon2's; entries therefore live minutes only. Only successes are
//! remembered; whether the account is disabled is still the caller's to check every time.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use hmac::{Hmac, Mac};

type Fingerprint = [u8; 32];

pub struct VerifiedPasswords {
    key: [u8; 32],
    ttl: Duration,
    capacity: usize,
    entries: Mutex<HashMap<Fingerprint, Instant>>,
}

impl VerifiedPasswords {
    /// Remembers a verification for `ttl`, at most `capacity` of them (all are forgotten when
    /// it is full: an attacker cannot fill it with successes without the passwords).
    pub fn new(ttl: Duration, capacity: usize) -> VerifiedPasswords {
        VerifiedPasswords { key: crate::random_bytes(), ttl, capacity, entries: Mutex::default() }
    }

    fn fingerprint(&self, password: &str, phc: &str) -> Fingerprint {
        let mut mac = Hmac::<sha2::Sha256>::new_from_slice(&self.key).expect("HMAC takes keys of any length");
        mac.update(&(phc.len() as u64).to_be_bytes());
        mac.update(phc.as_bytes());
        mac.update(password.as_bytes());
        mac.finalize().into_bytes().into()
    }

    /// Whether `password` was verified against `phc` within the last `ttl` before `now`.
    pub fn contains(&self, password: &str, phc: &str, now: Instant) -> bool {
        let fingerprint = self.fingerprint(password, phc);
        let entries = self.entries.lock().expect("not poisoned");
        entries.get(&fingerprint).is_some_and(|&at| now.saturating_duration_since(at) < self.ttl)
    }

    /// Records that `password` matched `phc` at `now`.
    pub fn insert(&self, password: &str, phc: &str, now: Instant) {
        let fingerprint = self.fingerprint(password, phc);
        let mut entries = self.entries.lock().expect("not poisoned");
        if entries.len() >= self.capacity {
            entries.retain(|_, at| now.saturating_duration_since(*at) < self.ttl);
            if entries.len() >= self.capacity {
                entries.clear();
            }
        }
        entries.insert(fingerprint, now);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_verification_is_remembered_for_its_password_and_hash_until_it_expires() {
        let cache = VerifiedPasswords::new(Duration::from_secs(60), 10);
        let now = Instant::now();
        assert!(!cache.contains("s3cret", "$argon2id$one", now));
        cache.insert("s3cret", "$argon2id$one", now);
        assert!(cache.contains("s3cret", "$argon2id$one", now + Duration::from_secs(59)));
        assert!(!cache.contains("s3cret", "$argon2id$one", now + Duration::from_secs(60)), "expired");
        assert!(!cache.contains("s3cre", "$argon2id$one", now), "another password");
        assert!(!cache.contains("s3cret", "$argon2id$two", now), "a changed password's new hash");
        assert!(!cache.contains("cret", "$argon2id$ones3", now), "the parts are length-prefixed");
    }

    #[test]
    fn a_full_cache_forgets_rather_than_grows() {
        let cache = VerifiedPasswords::new(Duration::from_secs(60), 3);
        let now = Instant::now();
        for n in 0..10 {
            cache.insert(&format!("password {n}"), "$phc", now);
            assert!(cache.entries.lock().unwrap().len() <= 3);
        }
        assert!(cache.contains("password 9", "$phc", now), "the newest is kept");
    }
}
