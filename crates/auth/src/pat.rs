//! Personal access tokens: `whub_<id>_<secret>`. The id finds the row; only a SHA-256 of the
//! 256-bit random secret is stored (a fast hash is enough for a secret that cannot be guessed,
//! and keeps every authenticated request cheap). The whole token is shown once, at creation.

use std::fmt;
use std::str::FromStr;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use sha2::Digest as _;

const PREFIX: &str = "whub_";

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum TokenScope {
    Pull,
    Push,
    Admin,
}

impl TokenScope {
    pub fn as_str(self) -> &'static str {
        match self {
            TokenScope::Pull => "pull",
            TokenScope::Push => "push",
            TokenScope::Admin => "admin",
        }
    }
}

impl FromStr for TokenScope {
    type Err = PatError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim() {
            "pull" => Ok(TokenScope::Pull),
            "push" => Ok(TokenScope::Push),
            "admin" => Ok(TokenScope::Admin),
            other => Err(PatError::UnknownScope(other.to_owned())),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PatError {
    #[error("not a wasmhub personal access token")]
    Malformed,
    #[error("unknown token scope {0:?} (use pull, push or admin)")]
    UnknownScope(String),
}

/// A token as presented by a client (or just created).
#[derive(Clone, PartialEq, Eq)]
pub struct PersonalAccessToken {
    id: String,
    secret: String,
}

impl PersonalAccessToken {
    pub fn generate() -> PersonalAccessToken {
        let bytes = crate::random_bytes();
        let id: String = bytes[..6].iter().map(|b| format!("{b:02x}")).collect();
        let secret = URL_SAFE_NO_PAD.encode(crate::random_bytes());
        PersonalAccessToken { id, secret }
    }

    /// The public part, stored in clear and shown in listings.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// What the index stores: hex SHA-256 of the secret.
    pub fn secret_hash(&self) -> String {
        format!("{:x}", sha2::Sha256::digest(self.secret.as_bytes()))
    }

    /// Whether this token's secret hashes to `stored_hash`, in constant time.
    pub fn matches(&self, stored_hash: &str) -> bool {
        crate::constant_time_eq(self.secret_hash().as_bytes(), stored_hash.as_bytes())
    }
}

impl FromStr for PersonalAccessToken {
    type Err = PatError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let rest = s.strip_prefix(PREFIX).ok_or(PatError::Malformed)?;
        let (id, secret) = rest.split_once('_').ok_or(PatError::Malformed)?;
        let id_ok = id.len() == 12 && id.bytes().all(|b| b.is_ascii_hexdigit());
        let secret_ok = secret.len() == 43 && URL_SAFE_NO_PAD.decode(secret).is_ok();
        if id_ok && secret_ok {
            Ok(PersonalAccessToken { id: id.to_owned(), secret: secret.to_owned() })
        } else {
            Err(PatError::Malformed)
        }
    }
}

impl fmt::Display for PersonalAccessToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{PREFIX}{}_{}", self.id, self.secret)
    }
}

impl fmt::Debug for PersonalAccessToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PersonalAccessToken({PREFIX}{}_***)", self.id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn generated_tokens_round_trip_and_match_their_hash() {
        let token = PersonalAccessToken::generate();
        let parsed: PersonalAccessToken = token.to_string().parse().unwrap();
        assert_eq!(parsed, token);
        assert!(parsed.matches(&token.secret_hash()));
        assert!(!PersonalAccessToken::generate().matches(&token.secret_hash()));
        assert!(!format!("{token:?}").contains(&token.secret), "Debug never prints the secret");
    }

    proptest! {
        #[test]
        fn parser_never_panics(input in "\\PC{0,80}") {
            let _ = input.parse::<PersonalAccessToken>();
        }
    }
}
