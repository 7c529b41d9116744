//! `/settings`: the signed-in user's personal access tokens (create, with the secret shown
//! once; revoke) and the repositories the user may push to (visibility and description, the
//! same rule `wasmhub visibility` and the registry apply). Plain forms, no JavaScript; each
//! change is a POST from this origin, answered with a redirect back (or, for a new token, the
//! page with its secret).

use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use wasmhub_auth::TokenScope;
use wasmhub_index::{RepositoryFilter, StoredToken};
use wasmhub_registry::oci::RepoName;
use wasmhub_registry::{Caller, Limit, Principal, RegistryError, MAX_DESCRIPTION_CHARS};

use super::html::{time_element, w, Esc};
use super::login::{field, form_fields};
use super::session::same_origin;
use super::{caller, Account, Page, PageError};
use crate::AppState;

/// Most repositories listed per namespace (the page must stay small).
const MAX_REPOSITORIES_PER_NAMESPACE: u32 = 100;
/// Lifetimes offered for a new token, in days (0: no expiry).
const LIFETIMES: &[(u32, &str)] = &[(30, "30 days"), (90, "90 days"), (365, "1 year"), (0, "No expiry")];

/// The signed-in user with an unlimited credential (a password or the session), or the
/// response to send instead: to `/login` when nobody is signed in.
async fn signed_in(state: &AppState, headers: &HeaderMap) -> Result<Principal, Response> {
    match caller(state, headers).await.map_err(IntoResponse::into_response)? {
        Caller::User(principal) if matches!(principal.limit, Limit::Unlimited) => Ok(principal),
        Caller::User(_) => Err(PageError::Forbidden(
            "Settings need a password sign-in; a token or bearer credential cannot manage tokens.".into(),
        )
        .into_response()),
        Caller::Open => Err(PageError::BadRequest(
            "This registry runs without access control (WASMHUB_AUTH=none): there are no accounts to manage.".into(),
        )
        .into_response()),
        Caller::Anonymous => Err(Redirect::to("/login?next=%2Fsettings").into_response()),
    }
}

pub async fn page(State(state): State<AppState>, headers: HeaderMap, RawQuery(query): RawQuery) -> Response {
    let principal = match signed_in(&state, &headers).await {
        Ok(principal) => principal,
        Err(response) => return response,
    };
    let done = form_urlencoded::parse(query.unwrap_or_default().as_bytes())
        .find(|(k, _)| k == "done")
        .map(|(_, v)| v.into_owned());
    // Fixed messages chosen by a code: nothing from the URL is echoed into the page.
    let notice = match done.as_deref() {
        Some("revoked") => Some("Token revoked."),
        Some("saved") => Some("Repository saved."),
        _ => None,
    };
    match render(&state, principal, notice, None).await {
        Ok(page) => page.into_response(),
        Err(error) => error.into_response(),
    }
}

async fn render(
    state: &AppState,
    principal: Principal,
    notice: Option<&str>,
    new_token: Option<(&str, &str)>,
) -> Result<Page, PageError> {
    let user = &principal.user;
    let mut main = String::new();
    w!(&mut main, "<h1>Settings</h1><p class=\"muted\">Signed in as <strong>{}</strong>.</p>", Esc(user.name.as_str()));
    if let Some(notice) = notice {
        w!(&mut main, "<p class=\"notice\" role=\"status\">{}</p>", Esc(notice));
    }
    if let Some((name, secret)) = new_token {
        w!(
            &mut main,
            "<section class=\"secret\" aria-labelledby=\"new-token\"><h2 id=\"new-token\">New token “{}”</h2>\
             <p>Copy it now: it is shown once and cannot be read again.</p>\
             <div class=\"bar\"><code id=\"token-secret\">{}</code><button type=\"button\" data-copy=\"token-secret\" \
             aria-label=\"Copy the new token\" hidden>Copy</button></div>\
             <p class=\"muted\">Use it as the password of any OCI client, e.g. <code>oras login -u {} \
             --password-stdin</code>.</p></section>",
            Esc(name),
            Esc(secret),
            Esc(user.name.as_str())
        );
    }
    let tokens = state.registry.tokens_of(user).await?;
    tokens_section(&mut main, &tokens);
    let caller = Caller::User(principal.clone());
    repositories_section(state, &caller, &principal, &mut main).await?;
    Ok(Page { title: "Settings".into(), q: String::new(), main, account: Account::of(state, &caller) })
}

fn tokens_section(out: &mut String, tokens: &[StoredToken]) {
    out.push_str("<section aria-labelledby=\"tokens\"><h2 id=\"tokens\">Personal access tokens</h2>");
    if tokens.is_empty() {
        out.push_str("<p class=\"muted\">No tokens yet.</p>");
    } else {
        out.push_str(
            "<div class=\"scroll\"><table><thead><tr><th scope=\"col\">Name</th><th scope=\"col\">Scopes</th>\
             <th scope=\"col\">Created</th><th scope=\"col\">Expires</th><th scope=\"col\">Last used</th>\
             <th scope=\"col\"><span class=\"sr\">Action</span></th></tr></thead><tbody>",
        );
        let now = crate::auth::now_seconds() * 1000;
        for token in tokens {
            w!(out, "<tr><th scope=\"row\">{}</th><td>{}</td><td>", Esc(&token.name), Esc(&token.scopes));
            time_element(out, token.created_at);
            out.push_str("</td><td>");
            match token.expires_at {
                Some(at) => time_element(out, at),
                None => out.push_str("never"),
            }
            out.push_str("</td><td>");
            match token.last_used_at {
                Some(at) => time_element(out, at),
                None => out.push_str("never"),
            }
            out.push_str("</td><td>");
            if token.revoked_at.is_some() {
                out.push_str("revoked");
            } else if token.expires_at.is_some_and(|at| at <= now) {
                out.push_str("expired");
            } else {
                w!(
                    out,
                    "<form action=\"/settings/tokens/revoke\" method=\"post\"><input type=\"hidden\" name=\"id\" \
                     value=\"{}\"><button type=\"submit\" aria-label=\"Revoke the token {}\">Revoke</button></form>",
                    Esc(&token.id),
                    Esc(&token.name)
                );
            }
            out.push_str("</td></tr>");
        }
        out.push_str("</tbody></table></div>");
    }
    out.push_str(
        "<h3>Create a token</h3><form class=\"stack\" action=\"/settings/tokens\" method=\"post\">\
         <label for=\"token-name\">Name</label><input id=\"token-name\" name=\"name\" required maxlength=\"100\" \
         placeholder=\"ci-pipeline\"><fieldset><legend>Scopes</legend>\
         <label><input type=\"checkbox\" name=\"scope_pull\" checked> pull</label>\
         <label><input type=\"checkbox\" name=\"scope_push\" checked> push</label>\
         <label><input type=\"checkbox\" name=\"scope_admin\"> admin (manage tokens and organisations)</label>\
         </fieldset><label for=\"token-expiry\">Expires</label><select id=\"token-expiry\" name=\"expires_in_days\">",
    );
    for (days, label) in LIFETIMES {
        let selected = if *days == 90 { " selected" } else { "" };
        w!(out, "<option value=\"{days}\"{selected}>{label}</option>");
    }
    out.push_str("</select><button type=\"submit\">Create token</button></form></section>");
}

async fn repositories_section(
    state: &AppState,
    caller: &Caller,
    principal: &Principal,
    out: &mut String,
) -> Result<(), PageError> {
    out.push_str("<section aria-labelledby=\"repositories\"><h2 id=\"repositories\">Repositories</h2>");
    let namespaces = state.registry.index().pushable_namespaces(&principal.user).await.map_err(RegistryError::from)?;
    // Administrators may push anywhere: they get every repository (the first page of them).
    let groups: Vec<(String, RepositoryFilter)> = if principal.user.is_admin {
        out.push_str("<p class=\"muted\">As an administrator you may change every repository.");
        vec![("all namespaces".into(), RepositoryFilter::NameContains(String::new()))]
    } else {
        w!(out, "<p class=\"muted\">Repositories in the namespaces you push to: {}.", Esc(&namespaces.join(", ")));
        namespaces.iter().map(|ns| (ns.clone(), RepositoryFilter::Namespace(ns.clone()))).collect()
    };
    out.push_str(" The description is shown on the repository's page instead of its modules' annotation.</p>");
    let mut any = false;
    for (group, filter) in &groups {
        let (total, repositories) =
            state.registry.repository_listing(caller, filter, 0, MAX_REPOSITORIES_PER_NAMESPACE).await?;
        for listing in &repositories {
            any = true;
            let Ok(name) = listing.name.parse::<RepoName>() else { continue };
            let description = state.registry.repository_description(caller, &name).await?.unwrap_or_default();
            repository_form(out, &name, listing.public, &description);
        }
        if total > repositories.len() as u64 {
            w!(
                out,
                "<p class=\"muted\">{} more in {} (use <code>wasmhub visibility</code>).</p>",
                total - repositories.len() as u64,
                Esc(group)
            );
        }
    }
    if !any {
        out.push_str("<p class=\"muted\">No repositories yet: push one and it appears here.</p>");
    }
    out.push_str("</section>");
    Ok(())
}

fn repository_form(out: &mut String, name: &RepoName, public: bool, description: &str) {
    let id = name.as_str().replace(['/', '.', '_'], "-");
    let (public_selected, private_selected) = if public { (" selected", "") } else { ("", " selected") };
    w!(
        out,
        "<form class=\"repo-settings\" id=\"repo-{id}\" action=\"/settings/repositories\" method=\"post\">\
         <input type=\"hidden\" name=\"repository\" value=\"{n}\">\
         <h3><a href=\"/repositories/{n}\">{n}</a></h3>\
         <label for=\"vis-{id}\">Visibility</label><select id=\"vis-{id}\" name=\"visibility\">\
         <option value=\"public\"{public_selected}>public</option><option value=\"private\"{private_selected}>private</option>\
         </select><label for=\"desc-{id}\">Description</label>\
         <textarea id=\"desc-{id}\" name=\"description\" rows=\"2\" maxlength=\"{MAX_DESCRIPTION_CHARS}\">{d}</textarea>\
         <button type=\"submit\">Save {n}</button></form>",
        n = Esc(name.as_str()),
        d = Esc(description),
    );
}

/// A registry refusal as the page a form post gets.
fn refusal(error: RegistryError) -> PageError {
    match error {
        RegistryError::InvalidInput(message) => PageError::BadRequest(message),
        RegistryError::Denied(message) => PageError::Forbidden(message),
        other => other.into(),
    }
}

pub async fn create_token(State(state): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    let result: Result<Response, PageError> = async {
        same_origin(&state, &headers)?;
        let principal = match signed_in(&state, &headers).await {
            Ok(principal) => principal,
            Err(response) => return Ok(response),
        };
        let fields = form_fields(&body)?;
        let name = field(&fields, "name").unwrap_or_default().trim().to_owned();
        let scopes: Vec<TokenScope> =
            [("scope_pull", TokenScope::Pull), ("scope_push", TokenScope::Push), ("scope_admin", TokenScope::Admin)]
                .into_iter()
                .filter(|(key, _)| field(&fields, key).is_some())
                .map(|(_, scope)| scope)
                .collect();
        let days: u32 = match field(&fields, "expires_in_days").unwrap_or("0").parse() {
            Ok(days) if LIFETIMES.iter().any(|(d, _)| *d == days) => days,
            _ => return Err(PageError::BadRequest("choose one of the offered lifetimes".into())),
        };
        let now = crate::auth::now_seconds() * 1000;
        let expires = (days > 0).then(|| now + i64::from(days) * 86_400_000);
        let actor = crate::accounts_api::actor(&principal);
        let (token, stored) =
            state.registry.create_token(&principal.user, &name, &scopes, expires, &actor).await.map_err(refusal)?;
        tracing::info!(user = %principal.user.name, token = %stored.id, "token created on the settings page");
        let page = render(&state, principal, None, Some((&stored.name, &token.to_string()))).await?;
        let mut response = (StatusCode::CREATED, page).into_response();
        // The secret is in this page: no cache may keep it.
        response.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        Ok(response)
    }
    .await;
    result.unwrap_or_else(IntoResponse::into_response)
}

pub async fn revoke_token(State(state): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    let result: Result<Response, PageError> = async {
        same_origin(&state, &headers)?;
        let principal = match signed_in(&state, &headers).await {
            Ok(principal) => principal,
            Err(response) => return Ok(response),
        };
        let fields = form_fields(&body)?;
        let id = field(&fields, "id").unwrap_or_default();
        // Only the user's own tokens, administrators included (they have the API for others).
        let actor = crate::accounts_api::actor(&principal);
        state.registry.revoke_token(id, Some(&principal.user), &actor).await.map_err(refusal)?;
        Ok(Redirect::to("/settings?done=revoked").into_response())
    }
    .await;
    result.unwrap_or_else(IntoResponse::into_response)
}

pub async fn update_repository(State(state): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    let result: Result<Response, PageError> = async {
        same_origin(&state, &headers)?;
        let principal = match signed_in(&state, &headers).await {
            Ok(principal) => principal,
            Err(response) => return Ok(response),
        };
        let fields = form_fields(&body)?;
        let text = field(&fields, "repository").unwrap_or_default();
        let name: RepoName =
            text.parse().map_err(|e| PageError::BadRequest(format!("invalid repository name {text:?}: {e}")))?;
        let private = match field(&fields, "visibility") {
            Some("public") => false,
            Some("private") => true,
            _ => return Err(PageError::BadRequest("visibility is `public` or `private`".into())),
        };
        let description = field(&fields, "description").unwrap_or_default();
        let caller = Caller::User(principal);
        // The description first: it is the one that can be refused for its content.
        state.registry.set_repository_description(&caller, &name, description).await.map_err(refusal)?;
        state.registry.set_visibility(&caller, &name, private).await.map_err(refusal)?;
        Ok(Redirect::to("/settings?done=saved").into_response())
    }
    .await;
    result.unwrap_or_else(IntoResponse::into_response)
}
