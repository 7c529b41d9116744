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
use wasmhub_oci::ErrorCode;
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

impl AuthContext {
    pub async fn load(registry: &Registry, settings: AuthSettings) -> Result<AuthContext, RegistryError> {
        Ok(AuthContext { settings, key: registry.signing_key().await?, failures: Mutex::default() })
    }

    /// The caller behind `headers`. Bad credentials are an error (401), never anonymous.
    pub async fn caller(
        &self,
        registry: &Registry,
        headers: &HeaderMap,
        peer: Option<IpAddr>,
    ) -> Result<Caller, ApiError> {
        if !registry.policy().enforce {
            return Ok(Caller::Open);
        }
        match credentials(headers)? {
            Credentials::None => Ok(Caller::Anonymous),
            Credentials::Basic { user, secret } => self.sign_in(registry, &user, &secret, peer).await,
            Credentials::Bearer(token) if token.starts_with("whub_") => self.sign_in(registry, "", &token, peer).await,
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

    /// Checks a user name and secret, with the rate limits applied.
    pub async fn sign_in(
        &self,
        registry: &Registry,
        user: &str,
        secret: &str,
        peer: Option<IpAddr>,
    ) -> Result<Caller, ApiError> {
        let keys = [format!("user:{user}"), format!("address:{}", peer.map(|p| p.to_string()).unwrap_or_default())];
        self.check_rate(&keys)?;
        match registry.authenticate(user, secret).await? {
            Some(principal) => {
                self.failures.lock().expect("not poisoned").remove(&keys[0]);
                Ok(Caller::User(principal))
            }
            None => {
                self.record_failure(&keys);
                tracing::info!(user, ?peer, "failed sign-in");
                Err(ApiError::new(ErrorCode::Unauthorized, "invalid user name, password or token"))
            }
        }
    }

    fn check_rate(&self, keys: &[String; 2]) -> Result<(), ApiError> {
        let failures = self.failures.lock().expect("not poisoned");
        for (key, limit) in keys.iter().zip([FAILURES_PER_USER, FAILURES_PER_ADDRESS]) {
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

    fn record_failure(&self, keys: &[String; 2]) {
        let mut failures = self.failures.lock().expect("not poisoned");
        // Bounded: forget old entries when the table grows (an attacker rotating names).
        if failures.len() > 100_000 {
            failures.retain(|_, (_, since)| since.elapsed() < FAILURE_WINDOW);
        }
        for key in keys {
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
