//! Who is calling: credentials on a request become a `Caller`.
//!
//! Accepted: `Authorization: Bearer <jwt>` (issued by `/token`), `Authorization: Bearer
//! <personal access token>` (API clients), and `Authorization: Basic` with a password or a
//! personal access token (clients that skip the token dance). Failed sign-ins are rate limited
//! per user name and per client address.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use axum::http::{header, HeaderMap};
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use wasmhub_auth::{jwt, SigningKey};
use wasmhub_oci::{ErrorCode, Namespace};
use wasmhub_registry::{Caller, Registry, RegistryError};

use crate::error::ApiError;

/// How the server names itself in tokens and challenges.
#[derive(Debug, Clone)]
pub struct AuthSettings {
    /// The URL clients reach the registry at; derived from `Host` when unset.
    pub public_url: Option<String>,
    /// The `service` of the token-auth spec (the JWT audience).
    pub service: String,
}

impl Default for AuthSettings {
    fn default() -> Self {
        AuthSettings { public_url: None, service: "wasmhub".into() }
    }
}

/// Lifetime of the bearer tokens `/token` issues.
pub const TOKEN_LIFETIME: Duration = Duration::from_secs(300);
const FAILURES_PER_USER: u32 = 5;
const FAILURES_PER_ADDRESS: u32 = 20;
const FAILURE_WINDOW: Duration = Duration::from_secs(60);
/// How many characters of a failed sign-in's user name the log keeps (real names are at most
/// 64; what is sent may be anything).
const MAX_LOGGED_NAME: usize = 64;

pub struct AuthContext {
    pub settings: AuthSettings,
    pub key: SigningKey,
    failures: Mutex<HashMap<String, (u32, Instant)>>,
}

/// Credentials as sent, before checking.
enum Credentials {
    None,
    Basic { user: String, secret: String },
    Bearer(String),
}

fn credentials(headers: &HeaderMap) -> Result<Credentials, ApiError> {
    let Some(value) = headers.get(header::AUTHORIZATION) else {
        return Ok(Credentials::None);
    };
    let malformed = || ApiError::new(ErrorCode::Unauthorized, "malformed Authorization header");
    let value = value.to_str().map_err(|_| malformed())?;
    let (scheme, rest) = value.split_once(' ').ok_or_else(malformed)?;
    match scheme.to_ascii_lowercase().as_str() {
        "basic" => {
            let decoded = STANDARD.decode(rest.trim()).map_err(|_| malformed())?;
            let decoded = String::from_utf8(decoded).map_err(|_| malformed())?;
            let (user, secret) = decoded.split_once(':').ok_or_else(malformed)?;
            Ok(Credentials::Basic { user: user.to_owned(), secret: secret.to_owned() })
        }
        "bearer" => Ok(Credentials::Bearer(rest.trim().to_owned())),
        _ => Err(malformed()),
    }
}

pub fn now_seconds() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs() as i64).unwrap_or(0)
}

/// The rate-limit counters a failed sign-in adds to, with their limits. A user name counts only
/// when it could name a user (a personal access token sent alone has none, and a made-up name
/// of any length must not become a key); the address only when it is known, never as one
/// shared "unknown" counter that one client could exhaust for everybody.
fn failure_keys(user: &str, peer: Option<IpAddr>) -> Vec<(String, u32)> {
    let mut keys = Vec::with_capacity(2);
    if user.parse::<Namespace>().is_ok() {
        keys.push((format!("user:{user}"), FAILURES_PER_USER));
    }
    if let Some(peer) = peer {
        keys.push((format!("address:{peer}"), FAILURES_PER_ADDRESS));
    }
    keys
}

impl AuthContext {
    pub async fn load(registry: &Registry, settings: AuthSettings) -> Result<AuthContext, RegistryError> {
        Ok(AuthContext { settings, key: registry.signing_key().await?, failures: Mutex::default() })
    }

    /// The caller behind `headers`. Bad credentials are an error (401), never anonymous.
    pub async fn caller(&self, registry: &Registry, headers: &HeaderMap) -> Result<Caller, ApiError> {
        if !registry.policy().enforce {
            return Ok(Caller::Open);
        }
        match credentials(headers)? {
            Credentials::None => Ok(Caller::Anonymous),
            Credentials::Basic { user, secret } => self.sign_in(registry, &user, &secret).await,
            Credentials::Bearer(token) if token.starts_with("whub_") => self.sign_in(registry, "", &token).await,
            Credentials::Bearer(token) => {
                let claims = jwt::verify(&token, &self.key, now_seconds(), &self.settings.service)
                    .map_err(|e| ApiError::new(ErrorCode::Unauthorized, e.to_string()))?;
                if claims.sub.is_empty() {
                    return Ok(Caller::Anonymous);
                }
                match registry.principal_for_bearer(&claims.sub, claims.access).await? {
                    Some(principal) => Ok(Caller::User(principal)),
                    None => {
                        Err(ApiError::new(ErrorCode::Unauthorized, "the token's user no longer exists or is disabled"))
                    }
                }
            }
        }
    }

    /// Checks a user name and secret, with the rate limits applied: per user name, and per
    /// address of the request's client (resolved once per request, `client_ip.rs`).
    pub async fn sign_in(&self, registry: &Registry, user: &str, secret: &str) -> Result<Caller, ApiError> {
        let peer = wasmhub_registry::request_client_ip();
        let keys = failure_keys(user, peer);
        self.check_rate(&keys)?;
        match registry.authenticate(user, secret).await? {
            Some(principal) => {
                // A success forgives the user's failures, not the address's.
                if let Some((key, _)) = keys.iter().find(|(key, _)| key.starts_with("user:")) {
                    self.failures.lock().expect("not poisoned").remove(key);
                }
                Ok(Caller::User(principal))
            }
            None => {
                self.record_failure(&keys);
                let logged = user.char_indices().nth(MAX_LOGGED_NAME).map_or(user, |(end, _)| &user[..end]);
                tracing::info!(user = logged, ?peer, "failed sign-in");
                Err(ApiError::new(ErrorCode::Unauthorized, "invalid user name, password or token"))
            }
        }
    }

    fn check_rate(&self, keys: &[(String, u32)]) -> Result<(), ApiError> {
        let failures = self.failures.lock().expect("not poisoned");
        for (key, limit) in keys.iter().map(|(key, limit)| (key, *limit)) {
            if let Some((count, since)) = failures.get(key) {
                let elapsed = since.elapsed();
                if *count >= limit && elapsed < FAILURE_WINDOW {
                    let retry = (FAILURE_WINDOW - elapsed).as_secs().max(1);
                    return Err(ApiError::from(RegistryError::TooManyAttempts { retry_after_seconds: retry })
                        .with_header(header::RETRY_AFTER, &retry.to_string()));
                }
            }
        }
        Ok(())
    }

    fn record_failure(&self, keys: &[(String, u32)]) {
        let mut failures = self.failures.lock().expect("not poisoned");
        // Bounded: forget old entries when the table grows (an attacker rotating names).
        if failures.len() > 100_000 {
            failures.retain(|_, (_, since)| since.elapsed() < FAILURE_WINDOW);
        }
        for (key, _) in keys {
            let entry = failures.entry(key.clone()).or_insert((0, Instant::now()));
            if entry.1.elapsed() >= FAILURE_WINDOW {
                *entry = (0, Instant::now());
            }
            entry.0 += 1;
        }
    }

    /// The `WWW-Authenticate` challenge for a 401, naming the scope the request needed.
    pub fn challenge(&self, headers: &HeaderMap, scope: Option<&str>) -> String {
        let realm = format!("{}/token", self.public_url(headers));
        let mut challenge = format!("Bearer realm=\"{realm}\",service=\"{}\"", self.settings.service);
        if let Some(scope) = scope {
            challenge.push_str(&format!(",scope=\"{scope}\""));
        }
        challenge
    }

    /// The configured public URL, or one derived from the request's `Host` header.
    pub fn public_url(&self, headers: &HeaderMap) -> String {
        if let Some(url) = &self.settings.public_url {
            return url.trim_end_matches('/').to_owned();
        }
        let host = headers.get(header::HOST).and_then(|h| h.to_str().ok()).unwrap_or("localhost");
        let proto = headers.get("x-forwarded-proto").and_then(|h| h.to_str().ok()).unwrap_or("http");
        // Only what a Host header may hold: no quotes or spaces can reach the challenge.
        let host: String = host.chars().filter(|c| c.is_ascii_alphanumeric() || "-.:[]".contains(*c)).collect();
        let proto = if proto == "https" { "https" } else { "http" };
        format!("{proto}://{host}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failures_count_per_possible_user_name_and_per_known_address_only() {
        let address: IpAddr = "192.0.2.7".parse().unwrap();
        let keys = |user: &str, peer| failure_keys(user, peer).into_iter().map(|(key, _)| key).collect::<Vec<_>>();
        assert_eq!(keys("alice", Some(address)), ["user:alice", "address:192.0.2.7"]);
        assert_eq!(keys("alice", None), ["user:alice"], "no shared counter for an unknown address");
        assert_eq!(keys("", Some(address)), ["address:192.0.2.7"], "a token sent alone names no user");
        assert_eq!(keys(&"x".repeat(100_000), Some(address)), ["address:192.0.2.7"], "nor does a made-up name");
        assert_eq!(keys("Not A User", None), Vec::<String>::new());
    }
}
