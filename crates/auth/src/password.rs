//! Passwords, hashed with Argon2id (the `argon2` crate's defaults: 19 MiB, 2 passes), stored in
//! PHC string format so parameters can be raised later without a migration.

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;

/// The PHC string of `password` under a fresh random salt.
pub fn hash(password: &str) -> String {
    let salt = SaltString::encode_b64(&crate::random_bytes()[..16]).expect("16 bytes is a valid salt length");
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .expect("default Argon2 parameters are valid")
        .to_string()
}

/// Whether `password` matches `phc`. A malformed stored hash never matches.
pub fn verify(password: &str, phc: &str) -> bool {
    match PasswordHash::new(phc) {
        Ok(parsed) => Argon2::default().verify_password(password.as_bytes(), &parsed).is_ok(),
        Err(_) => false,
    }
}

/// Spends the same time as a real verification, for logins naming a user that does not
/// exist: the response time must not reveal which user names are taken.
pub fn verify_against_nothing(password: &str) {
    static DUMMY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    let dummy = DUMMY.get_or_init(|| hash("wasmhub timing equaliser"));
    let _ = verify(password, dummy);
}

#[cfg(test)]
mod tests {
    #[test]
    fn hashes_verify_and_differ_by_salt() {
        let (a, b) = (super::hash("s3cret"), super::hash("s3cret"));
        assert_ne!(a, b);
        assert!(a.starts_with("$argon2id$"));
        assert!(super::verify("s3cret", &a));
        assert!(!super::verify("wrong", &a));
        assert!(!super::verify("s3cret", "not a phc string"));
    }
}
