//! `/login` and `/logout`. Sign-in takes a user name and password (never a personal access
//! token: a token is limited to its scopes, a session is not), goes through the same rate
//! limits as Basic credentials on `/v2`, and answers with the session cookie and a redirect
//! (303, so a reload does not post the password again).

use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use wasmhub_registry::{Caller, Limit};

use super::html::{w, Esc};
use super::session::{same_origin, session_user, sign_in_cookie, sign_out_cookie};
use super::{caller, Account, Page, PageError};
use crate::AppState;

/// Longest user name or password read from the form (both are far shorter in practice).
const MAX_FIELD_CHARS: usize = 1024;

/// Where to go after signing in: a path on this site only, so a crafted link cannot send a
/// freshly signed-in user elsewhere (`//host` and `/\host` are other sites to a browser).
pub fn safe_next(next: Option<&str>) -> &str {
    match next {
        Some(path)
            if path.starts_with('/')
                && !path.starts_with("//")
                && !path.starts_with("/\\")
                && path.len() <= 512
                && !path.chars().any(char::is_control) =>
        {
            path
        }
        _ => "/",
    }
}

/// The fields of an `application/x-www-form-urlencoded` body; a repeated field keeps its
/// first value.
pub fn form_fields(body: &[u8]) -> Result<Vec<(String, String)>, PageError> {
    let mut fields: Vec<(String, String)> = Vec::new();
    for (key, value) in form_urlencoded::parse(body) {
        if value.chars().count() > MAX_FIELD_CHARS * 4 {
            return Err(PageError::BadRequest(format!("the field `{key}` is too long")));
        }
        if !fields.iter().any(|(k, _)| *k == key) {
            fields.push((key.into_owned(), value.into_owned()));
        }
    }
    Ok(fields)
}

pub fn field<'a>(fields: &'a [(String, String)], key: &str) -> Option<&'a str> {
    fields.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
}

pub async fn form(
    State(state): State<AppState>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Result<Response, PageError> {
    let next: Option<String> = form_urlencoded::parse(query.unwrap_or_default().as_bytes())
        .find(|(k, _)| k == "next")
        .map(|(_, v)| v.into_owned());
    let caller = caller(&state, &headers).await?;
    let account = Account::of(&state, &caller);
    if let Account::User(name) = &account {
        let mut main = String::new();
        w!(
            &mut main,
            "<h1>Signed in</h1><p>You are signed in as <strong>{}</strong>. <a href=\"/settings\">Settings</a></p>",
            Esc(name)
        );
        return Ok(Page { title: "Signed in".into(), q: String::new(), main, account }.into_response());
    }
    Ok(form_page(&state, &account, safe_next(next.as_deref()), "", None).into_response())
}

fn form_page(state: &AppState, account: &Account, next: &str, user: &str, error: Option<&str>) -> Page {
    let mut main =
        String::from("<section class=\"narrow\" aria-labelledby=\"login-title\"><h1 id=\"login-title\">Sign in</h1>");
    if !state.registry.policy().enforce {
        main.push_str(
            "<p class=\"warn\" role=\"note\">This registry runs without access control \
             (<code>WASMHUB_AUTH=none</code>): there is nothing to sign in to.</p>",
        );
    }
    if let Some(error) = error {
        w!(&mut main, "<p class=\"error\" role=\"alert\" id=\"login-error\">{}</p>", Esc(error));
    }
    let described = if error.is_some() { " aria-describedby=\"login-error\"" } else { "" };
    w!(
        &mut main,
        "<form class=\"stack\" action=\"/login\" method=\"post\">\
         <input type=\"hidden\" name=\"next\" value=\"{}\">\
         <label for=\"login-user\">User name</label>\
         <input id=\"login-user\" name=\"username\" autocomplete=\"username\" required value=\"{}\"{described}>\
         <label for=\"login-password\">Password</label>\
         <input id=\"login-password\" name=\"password\" type=\"password\" autocomplete=\"current-password\" required{described}>\
         <button type=\"submit\">Sign in</button></form>\
         <p class=\"muted\">Personal access tokens work with OCI clients and the API; the catalog takes your password.</p>\
         </section>",
        Esc(next),
        Esc(user)
    );
    Page { title: "Sign in".into(), q: String::new(), main, account: account.clone() }
}

pub async fn submit(State(state): State<AppState>, headers: HeaderMap, body: Bytes) -> Result<Response, PageError> {
    same_origin(&state, &headers)?;
    let fields = form_fields(&body)?;
    let user = field(&fields, "username").unwrap_or_default().trim().to_owned();
    let password = field(&fields, "password").unwrap_or_default();
    let next = safe_next(field(&fields, "next")).to_owned();
    let refuse = |status: StatusCode, message: &str| {
        let page = form_page(&state, &Account::Anonymous, &next, &user, Some(message));
        (status, page).into_response()
    };
    if user.is_empty() || password.is_empty() || user.len() > MAX_FIELD_CHARS || password.len() > MAX_FIELD_CHARS {
        return Ok(refuse(StatusCode::BAD_REQUEST, "Enter your user name and password."));
    }
    // A personal access token is refused before it is checked: a session would outgrow its scopes.
    if password.starts_with("whub_") {
        return Ok(refuse(StatusCode::UNAUTHORIZED, "Sign in with your password, not a personal access token."));
    }
    match state.auth.sign_in(&state.registry, &user, password).await {
        Ok(Caller::User(principal)) if matches!(principal.limit, Limit::Unlimited) => {
            tracing::info!(user = %principal.user.name, "signed in to the web catalog");
            let cookie = sign_in_cookie(&state, &headers, &principal.user);
            Ok(([(header::SET_COOKIE, cookie)], Redirect::to(&next)).into_response())
        }
        Ok(_) => Ok(refuse(StatusCode::UNAUTHORIZED, "Invalid user name or password.")),
        Err(error) => {
            let response = error.into_response();
            if response.status() == StatusCode::TOO_MANY_REQUESTS {
                let retry = response.headers().get(header::RETRY_AFTER).cloned();
                let mut page =
                    refuse(StatusCode::TOO_MANY_REQUESTS, "Too many failed sign-ins; wait a minute and try again.");
                if let Some(retry) = retry {
                    page.headers_mut().insert(header::RETRY_AFTER, retry);
                }
                return Ok(page);
            }
            if response.status().is_server_error() {
                return Err(PageError::Internal);
            }
            Ok(refuse(StatusCode::UNAUTHORIZED, "Invalid user name or password."))
        }
    }
}

/// Ends the user's sessions everywhere (see `session.rs`), and deletes this browser's cookie,
/// even when the first fails (then with an error page saying so).
pub async fn sign_out(State(state): State<AppState>, headers: HeaderMap) -> Result<Response, PageError> {
    same_origin(&state, &headers)?;
    let cleared = [(header::SET_COOKIE, sign_out_cookie(&state, &headers))];
    if let Err(error) = end_sessions(&state, &headers).await {
        return Ok((cleared, error).into_response());
    }
    Ok((cleared, Redirect::to("/")).into_response())
}

async fn end_sessions(state: &AppState, headers: &HeaderMap) -> Result<(), PageError> {
    if let Some(user) = session_user(state, headers).await? {
        state.registry.index().end_sessions(user.id).await.map_err(wasmhub_registry::RegistryError::from)?;
        tracing::info!(user = %user.name, "signed out of the web catalog");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_local_paths_are_followed_after_sign_in() {
        assert_eq!(safe_next(Some("/settings")), "/settings");
        for bad in ["//evil.example/", "/\\evil.example", "https://evil.example/", "settings", "/a\nb"] {
            assert_eq!(safe_next(Some(bad)), "/", "{bad:?}");
        }
        assert_eq!(safe_next(None), "/");
    }

    #[test]
    fn form_fields_keep_the_first_value() {
        let fields = form_fields(b"username=a%20b&username=c&password=p%26q").unwrap();
        assert_eq!(field(&fields, "username"), Some("a b"));
        assert_eq!(field(&fields, "password"), Some("p&q"));
        assert_eq!(field(&fields, "next"), None);
    }
}
