//! `GET /token`: the Docker token authentication endpoint. Basic credentials (a password or a
//! personal access token) or none; every requested `scope` is reduced to the actions the caller
//! may do; the answer is a short-lived HS256 JWT every replica accepts.

use axum::extract::{Request, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use wasmhub_auth::{jwt, Access, Claims};
use wasmhub_oci::RepoName;
use wasmhub_registry::Caller;

use crate::auth::{now_seconds, TOKEN_LIFETIME};
use crate::error::ApiError;
use crate::AppState;

/// Most scopes one token request may ask for.
const MAX_SCOPES: usize = 32;

#[derive(Serialize)]
struct TokenResponse {
    token: String,
    access_token: String,
    expires_in: u64,
    issued_at: String,
}

pub async fn issue(State(state): State<AppState>, request: Request) -> Response {
    match issue_token(state, request).await {
        Ok(response) => response,
        Err(error) => error.into_response(),
    }
}

async fn issue_token(state: AppState, request: Request) -> Result<Response, ApiError> {
    let caller = state.auth.caller(&state.registry, request.headers()).await?;
    let query = request.uri().query().unwrap_or_default();
    let mut requested = Vec::new();
    for (key, value) in form_urlencoded::parse(query.as_bytes()) {
        if key == "scope" {
            // Malformed scopes are ignored, as the token spec allows: nothing is granted for them.
            // Each scope's actions come deduplicated (`scope::parse`).
            requested.extend(wasmhub_auth::scope::parse(&value).unwrap_or_default());
        }
    }
    // Each scope costs lookups and lands in the token: clients ask for a handful (a push with
    // mounts names a few repositories), so more than this is refused rather than worked through.
    if requested.len() > MAX_SCOPES {
        return Err(ApiError::api(
            StatusCode::BAD_REQUEST,
            "INVALID_REQUEST",
            format!("at most {MAX_SCOPES} scopes per token request"),
        ));
    }
    let mut granted = Vec::new();
    for access in requested {
        let actions = match access.kind.as_str() {
            "repository" => match access.name.parse::<RepoName>() {
                Ok(repository) => state.registry.granted_actions(&caller, &repository, &access.actions).await,
                Err(_) => Vec::new(),
            },
            // The catalog is filtered per caller, so asking for it is harmless.
            "registry" if access.name == "catalog" => access.actions.clone(),
            _ => Vec::new(),
        };
        granted.push(Access { kind: access.kind, name: access.name, actions });
    }
    let subject = match &caller {
        Caller::User(principal) => principal.user.name.to_string(),
        Caller::Open | Caller::Anonymous => String::new(),
    };
    let now = now_seconds();
    let claims = Claims {
        iss: "wasmhub".into(),
        sub: subject,
        aud: state.auth.settings.service.clone(),
        exp: now + TOKEN_LIFETIME.as_secs() as i64,
        nbf: now - 1,
        iat: now,
        jti: wasmhub_oci::UploadId::random().to_string(),
        access: granted,
    };
    let token = jwt::sign(&claims, &state.auth.key);
    let body = TokenResponse {
        token: token.clone(),
        access_token: token,
        expires_in: TOKEN_LIFETIME.as_secs(),
        issued_at: crate::time::rfc3339(now * 1000),
    };
    Ok((StatusCode::OK, [(header::CONTENT_TYPE, "application/json")], serde_json::to_vec(&body).expect("serialises"))
        .into_response())
}
