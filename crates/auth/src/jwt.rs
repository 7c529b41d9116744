//! The bearer tokens `/token` issues: compact JWS, HS256, with the Docker token-auth claims
//! (`access` lists what was granted). HMAC keeps verification local and fast; the key is
//! shared by replicas through the database.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};

use crate::Access;

type HmacSha256 = Hmac<sha2::Sha256>;

/// The HMAC key, 32 random bytes.
#[derive(Clone)]
pub struct SigningKey(Vec<u8>);

impl SigningKey {
    pub fn generate() -> SigningKey {
        SigningKey(crate::random_bytes().to_vec())
    }

    pub fn from_bytes(bytes: Vec<u8>) -> SigningKey {
        SigningKey(bytes)
    }

    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    fn mac(&self) -> HmacSha256 {
        HmacSha256::new_from_slice(&self.0).expect("HMAC takes keys of any length")
    }

    /// A short MAC (the first 4 bytes of HMAC-SHA256) of `parts` for `purpose`, which keeps
    /// tags made for one use from passing for another's (tokens are MACs under this key too).
    /// Short, because it has to fit inside a UUID: forging one takes billions of requests.
    pub fn short_tag(&self, purpose: &str, parts: &[&[u8]]) -> [u8; 4] {
        let bytes = self.tagged(purpose, parts).finalize().into_bytes();
        bytes[..4].try_into().expect("a sha256 MAC has 32 bytes")
    }

    /// Whether `tag` is `short_tag(purpose, parts)`, compared in constant time.
    pub fn verify_short_tag(&self, purpose: &str, parts: &[&[u8]], tag: &[u8; 4]) -> bool {
        self.tagged(purpose, parts).verify_truncated_left(tag).is_ok()
    }

    fn tagged(&self, purpose: &str, parts: &[&[u8]]) -> HmacSha256 {
        let mut mac = self.mac();
        mac.update(purpose.as_bytes());
        for part in parts {
            // Length-prefixed, so that no two different lists of parts hash alike.
            mac.update(&(part.len() as u64).to_be_bytes());
            mac.update(part);
        }
        mac
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    pub iss: String,
    /// The user name; empty for an anonymous caller.
    pub sub: String,
    pub aud: String,
    pub exp: i64,
    pub nbf: i64,
    pub iat: i64,
    pub jti: String,
    #[serde(default)]
    pub access: Vec<Access>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JwtError {
    #[error("token is not a compact JWS")]
    Malformed,
    #[error("token signature is invalid")]
    BadSignature,
    #[error("token has expired or is not yet valid")]
    Expired,
    #[error("token was issued for another service")]
    WrongAudience,
}

const HEADER: &str = r#"{"alg":"HS256","typ":"JWT"}"#;

pub fn sign(claims: &Claims, key: &SigningKey) -> String {
    let header = URL_SAFE_NO_PAD.encode(HEADER);
    let payload = URL_SAFE_NO_PAD.encode(serde_json::to_vec(claims).expect("claims serialise"));
    let signing_input = format!("{header}.{payload}");
    let mut mac = key.mac();
    mac.update(signing_input.as_bytes());
    let signature = URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes());
    format!("{signing_input}.{signature}")
}

/// Checks signature, algorithm, validity window (`now` in Unix seconds, with 30 s of clock
/// skew allowed between replicas) and audience, and returns the claims.
pub fn verify(token: &str, key: &SigningKey, now: i64, audience: &str) -> Result<Claims, JwtError> {
    let mut parts = token.split('.');
    let (Some(header), Some(payload), Some(signature), None) = (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(JwtError::Malformed);
    };
    let signature = URL_SAFE_NO_PAD.decode(signature).map_err(|_| JwtError::Malformed)?;
    let mut mac = key.mac();
    mac.update(header.as_bytes());
    mac.update(b".");
    mac.update(payload.as_bytes());
    mac.verify_slice(&signature).map_err(|_| JwtError::BadSignature)?;
    // Only after the signature holds: the header must name the one algorithm we issue.
    let header: serde_json::Value =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(header).map_err(|_| JwtError::Malformed)?)
            .map_err(|_| JwtError::Malformed)?;
    if header["alg"] != "HS256" {
        return Err(JwtError::Malformed);
    }
    let claims: Claims = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).map_err(|_| JwtError::Malformed)?)
        .map_err(|_| JwtError::Malformed)?;
    const SKEW: i64 = 30;
    if now > claims.exp + SKEW || now + SKEW < claims.nbf {
        return Err(JwtError::Expired);
    }
    if claims.aud != audience {
        return Err(JwtError::WrongAudience);
    }
    Ok(claims)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn claims(exp: i64) -> Claims {
        Claims {
            iss: "wasmhub".into(),
            sub: "alice".into(),
            aud: "wasmhub".into(),
            exp,
            nbf: 0,
            iat: 0,
            jti: "1".into(),
            access: crate::scope::parse("repository:alice/x:pull,push").unwrap(),
        }
    }

    #[test]
    fn short_tags_bind_key_purpose_and_every_part() {
        let key = SigningKey::generate();
        let tag = key.short_tag("upload", &[b"ab", b"c"]);
        assert!(key.verify_short_tag("upload", &[b"ab", b"c"], &tag));
        assert!(!key.verify_short_tag("upload", &[b"a", b"bc"], &tag), "parts are length-prefixed");
        assert!(!key.verify_short_tag("session", &[b"ab", b"c"], &tag));
        assert!(!SigningKey::generate().verify_short_tag("upload", &[b"ab", b"c"], &tag));
    }

    #[test]
    fn signed_tokens_verify_and_tampering_is_detected() {
        let key = SigningKey::generate();
        let token = sign(&claims(1000), &key);
        assert_eq!(verify(&token, &key, 10, "wasmhub").unwrap(), claims(1000));
        assert_eq!(verify(&token, &SigningKey::generate(), 10, "wasmhub"), Err(JwtError::BadSignature));
        assert_eq!(verify(&token, &key, 2000, "wasmhub"), Err(JwtError::Expired));
        assert_eq!(verify(&token, &key, 10, "other"), Err(JwtError::WrongAudience));
        // Swap in a payload granting more: the signature no longer matches.
        let mut forged = claims(1000);
        forged.access = crate::scope::parse("repository:bob/x:pull,push").unwrap();
        let forged_payload = sign(&forged, &key).split('.').nth(1).unwrap().to_owned();
        let parts: Vec<&str> = token.split('.').collect();
        let tampered = format!("{}.{}.{}", parts[0], forged_payload, parts[2]);
        assert_eq!(verify(&tampered, &key, 10, "wasmhub"), Err(JwtError::BadSignature));
        let none_alg = format!("{}.{}.", URL_SAFE_NO_PAD.encode(r#"{"alg":"none"}"#), parts[1]);
        assert!(verify(&none_alg, &key, 10, "wasmhub").is_err());
    }

    proptest! {
        #[test]
        fn verify_never_panics(input in "\\PC{0,200}") {
            let _ = verify(&input, &SigningKey::from_bytes(vec![1; 32]), 0, "wasmhub");
        }
    }
}
