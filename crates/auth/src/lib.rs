//! Credentials and what they grant, with no I/O: password hashing (Argon2id), personal access
//! tokens (random secrets, stored as hashes), the Docker token-auth `scope` grammar, and the
//! short-lived HS256 JWTs `/token` issues. The signing key lives in the database, so every
//! replica can verify what any replica signed.

pub mod jwt;
pub mod password;
pub mod pat;
pub mod scope;
pub mod verified;

pub use jwt::{Claims, JwtError, SigningKey};
pub use pat::{PatError, PersonalAccessToken, TokenScope};
pub use scope::{Access, ScopeError};

/// 32 bytes from the operating system's CSPRNG (via `uuid`'s v4 generator, which uses
/// `getrandom`), so no extra RNG dependency is needed.
pub fn random_bytes() -> [u8; 32] {
    let mut out = [0u8; 32];
    out[..16].copy_from_slice(uuid::Uuid::new_v4().as_bytes());
    out[16..].copy_from_slice(uuid::Uuid::new_v4().as_bytes());
    out
}

/// Compares two byte strings in time that depends only on their lengths.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}
