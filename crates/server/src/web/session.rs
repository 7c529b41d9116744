//! Browser sessions: after a password sign-in on `/login`, a cookie holding an HS256 JWT (the
//! key `/token` signs with) names the user until it expires. No session is stored on the
//! server, so any replica reads any session: its `jti` names the generation of the user's
//! sessions it was issued in (`users.session_generation`, read with the user on every page),
//! and signing out or a new password starts the next generation, so every earlier session,
//! a copied cookie or another browser's, is refused at once. A disabled user is too.
//!
//! The session's audience differs from `/token`'s, so a session is never accepted as a bearer
//! token on `/v2` or the API, and a bearer token (limited to its grants) never becomes a
//! session. Only web pages read the cookie.
//!
//! Forgery: the cookie is `SameSite=Strict` (a cross-site form post carries none) and every
//! POST must also come from this origin (`Origin`, else `Referer`), so a page elsewhere can
//! neither act as the user nor sign a browser in as someone else.

use std::time::Duration;

use axum::http::{header, HeaderMap, HeaderValue};
use wasmhub_auth::jwt::{self, Claims};
use wasmhub_registry::index::User;
use wasmhub_registry::{Caller, Limit, Principal};

use super::PageError;
use crate::auth::now_seconds;
use crate::AppState;

/// How long a sign-in lasts.
pub const SESSION_LIFETIME: Duration = Duration::from_secs(12 * 3600);
/// The cookie's name over plain HTTP, and over HTTPS (the `__Host-` prefix makes browsers
/// refuse it unless it is `Secure`, host-only and for `/`).
const COOKIE: &str = "wasmhub_session";
const SECURE_COOKIE: &str = "__Host-wasmhub_session";

fn audience(state: &AppState) -> String {
    format!("{}:web-session", state.auth.settings.service)
}

/// Whether browsers reach this registry over HTTPS (configured URL, or the proxy says so).
pub fn is_secure(state: &AppState, headers: &HeaderMap) -> bool {
    state.auth.public_url(headers).starts_with("https://")
}

/// A signed session for `user`, and the `Set-Cookie` value carrying it.
pub fn sign_in_cookie(state: &AppState, headers: &HeaderMap, user: &User) -> HeaderValue {
    let now = now_seconds();
    let random: String = wasmhub_auth::random_bytes().iter().take(12).map(|b| format!("{b:02x}")).collect();
    let claims = Claims {
        iss: state.auth.settings.service.clone(),
        sub: user.name.to_string(),
        aud: audience(state),
        exp: now + SESSION_LIFETIME.as_secs() as i64,
        nbf: now,
        iat: now,
        jti: format!("{}.{random}", user.session_generation),
        access: Vec::new(),
    };
    let token = jwt::sign(&claims, &state.auth.key);
    cookie(state, headers, &token, SESSION_LIFETIME.as_secs())
}

/// The `Set-Cookie` value that deletes the session.
pub fn sign_out_cookie(state: &AppState, headers: &HeaderMap) -> HeaderValue {
    cookie(state, headers, "", 0)
}

fn cookie(state: &AppState, headers: &HeaderMap, value: &str, max_age: u64) -> HeaderValue {
    let secure = is_secure(state, headers);
    let (name, flags) = if secure { (SECURE_COOKIE, "; Secure") } else { (COOKIE, "") };
    // A JWT is base64url and dots: always a valid header value.
    HeaderValue::from_str(&format!("{name}={value}; Path=/; Max-Age={max_age}; HttpOnly; SameSite=Strict{flags}"))
        .expect("cookie text is visible ASCII")
}

/// The session token a request carries, if any.
fn session_token(headers: &HeaderMap) -> Option<&str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == COOKIE || *name == SECURE_COOKIE)
        .map(|(_, value)| value)
        .filter(|value| !value.is_empty())
}

/// Who is asking: the credentials `/v2` and the API accept (Basic or Bearer) when sent, else
/// the session cookie. A missing, expired or forged cookie is simply anonymous (the page then
/// offers to sign in); bad credentials in `Authorization` are a 401 page.
pub async fn caller(state: &AppState, headers: &HeaderMap) -> Result<Caller, PageError> {
    let registry = &state.registry;
    if headers.contains_key(header::AUTHORIZATION) || !registry.policy().enforce {
        return state.auth.caller(registry, headers).await.map_err(|_| PageError::Unauthorized);
    }
    Ok(match session_user(state, headers).await? {
        Some(user) => Caller::User(Principal { user, limit: Limit::Unlimited }),
        None => Caller::Anonymous,
    })
}

/// The user a request's session cookie names, if it is valid: signed, unexpired, of the user's
/// current session generation, and the user not disabled.
pub async fn session_user(state: &AppState, headers: &HeaderMap) -> Result<Option<User>, PageError> {
    let Some(token) = session_token(headers) else { return Ok(None) };
    let Ok(claims) = jwt::verify(token, &state.auth.key, now_seconds(), &audience(state)) else {
        return Ok(None);
    };
    match state.registry.index().user(&claims.sub).await {
        Ok(Some(user)) if !user.disabled && generation(&claims.jti) == Some(user.session_generation) => Ok(Some(user)),
        Ok(_) => Ok(None),
        Err(error) => Err(wasmhub_registry::RegistryError::from(error).into()),
    }
}

/// The session generation a session's `jti` names (`<generation>.<random hex>`). Sessions
/// from before generations (a random `jti`) name none, and are refused.
fn generation(jti: &str) -> Option<i64> {
    let digits = jti.split_once('.')?.0;
    digits.bytes().all(|b| b.is_ascii_digit()).then(|| digits.parse().ok()).flatten()
}

/// Refuses a POST that did not come from one of this registry's own pages.
pub fn same_origin(state: &AppState, headers: &HeaderMap) -> Result<(), PageError> {
    let ours = state.auth.public_url(headers);
    let text = |name| headers.get(name).and_then(|v: &HeaderValue| v.to_str().ok());
    let matches = match (text(header::ORIGIN), text(header::REFERER)) {
        (Some(origin), _) => origin == ours,
        (None, Some(referer)) => referer == ours || referer.starts_with(&format!("{ours}/")),
        (None, None) => false,
    };
    if matches {
        Ok(())
    } else {
        Err(PageError::Forbidden("This form was not sent from this registry's own pages.".into()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_session_names_its_generation_and_nothing_else_passes() {
        assert_eq!(generation("0.9f86d081884c7d65"), Some(0));
        assert_eq!(generation("17.ab"), Some(17));
        for bad in ["", "9f86d081884c7d65", ".ab", "x.ab", "1x.ab", " 1.ab", "+1.ab", "-1.ab"] {
            assert_eq!(generation(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn finds_the_session_among_other_cookies() {
        let mut headers = HeaderMap::new();
        headers.insert(header::COOKIE, HeaderValue::from_static("theme=dark; wasmhub_session=a.b.c; x=y"));
        assert_eq!(session_token(&headers), Some("a.b.c"));
        headers.insert(header::COOKIE, HeaderValue::from_static("wasmhub_session="));
        assert_eq!(session_token(&headers), None);
        headers.insert(header::COOKIE, HeaderValue::from_static("__Host-wasmhub_session=s"));
        assert_eq!(session_token(&headers), Some("s"));
    }
}
