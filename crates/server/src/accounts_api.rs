//! The account administration API: `/api/v1/users`, `/api/v1/orgs`, `/api/v1/tokens`, and
//! `/api/users/current` in the WebAssembly Hub's shape for `wasme login`. Callers sign in like
//! on `/v2/` (Basic, or `Bearer` with a personal access token or a `/token` JWT).

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post, put};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use wasmhub_auth::TokenScope;
use wasmhub_index::{OccupiedNamespace, Role, StoredToken, User};
use wasmhub_oci::{ErrorCode, Namespace};
use wasmhub_registry::{Caller, Principal};

use crate::error::ApiError;
use crate::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v1/users", get(list_users).post(create_user))
        .route("/api/v1/users/{name}/password", put(set_password))
        .route("/api/v1/users/{name}/disabled", put(set_disabled))
        .route("/api/v1/orgs", post(create_org))
        .route("/api/v1/orgs/{org}/members/{user}", put(set_member).delete(remove_member))
        .route("/api/v1/tokens", get(list_tokens).post(create_token))
        .route("/api/v1/tokens/{id}", delete(revoke_token))
        .route("/api/users/current", get(current_user))
}

async fn caller(state: &AppState, headers: &HeaderMap) -> Result<Caller, ApiError> {
    state.auth.caller(&state.registry, headers).await
}

/// The signed-in user, or 401.
async fn signed_in(state: &AppState, headers: &HeaderMap) -> Result<Principal, ApiError> {
    match caller(state, headers).await? {
        Caller::User(principal) => Ok(principal),
        _ => Err(ApiError::new(ErrorCode::Unauthorized, "sign in with a password or a personal access token")),
    }
}

/// Who the audit log names for a change `principal` made.
pub(crate) fn actor(principal: &Principal) -> wasmhub_index::Actor {
    wasmhub_registry::actor_of(&Caller::User(principal.clone()))
}

/// An administrator whose credential allows administration, or 401/403.
pub(crate) async fn administrator(state: &AppState, headers: &HeaderMap) -> Result<Principal, ApiError> {
    let principal = signed_in(state, headers).await?;
    if principal.user.is_admin && principal.limit.allows_admin() {
        Ok(principal)
    } else {
        Err(ApiError::new(ErrorCode::Denied, "administrators only (with a password, or a token with the admin scope)"))
    }
}

fn namespace(text: &str) -> Result<Namespace, ApiError> {
    text.parse()
        .map_err(|e: wasmhub_oci::NameError| ApiError::api(StatusCode::BAD_REQUEST, "INVALID_INPUT", e.to_string()))
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct UserView {
    name: String,
    admin: bool,
    disabled: bool,
}

impl From<&User> for UserView {
    fn from(user: &User) -> Self {
        UserView { name: user.name.to_string(), admin: user.is_admin, disabled: user.disabled }
    }
}

async fn list_users(State(state): State<AppState>, headers: HeaderMap) -> Result<Response, ApiError> {
    administrator(&state, &headers).await?;
    let users: Vec<UserView> = state.registry.users().await?.iter().map(UserView::from).collect();
    Ok(Json(users).into_response())
}

#[derive(Deserialize)]
struct NewUser {
    name: String,
    password: String,
    #[serde(default)]
    admin: bool,
}

async fn create_user(
    State(state): State<AppState>,
    headers: HeaderMap,
    Json(body): Json<NewUser>,
) -> Result<Response, ApiError> {
    let admin = administrator(&state, &headers).await?;
    let name = namespace(&body.name)?;
    state.registry.create_user(&name, &body.password, body.admin, &actor(&admin)).await?;
    let user = state.registry.user(&name).await?;
    Ok((StatusCode::CREATED, Json(UserView::from(&user))).into_response())
}

#[derive(Deserialize)]
struct NewPassword {
    password: String,
}

async fn set_password(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(name): Path<String>,
    Json(body): Json<NewPassword>,
) -> Result<Response, ApiError> {
    let principal = signed_in(&state, &headers).await?;
    let name = namespace(&name)?;
    let allowed = principal.limit.allows_admin() && (principal.user.is_admin || principal.user.name == name);
    if !allowed {
        return Err(ApiError::new(ErrorCode::Denied, "only the user or an administrator may change a password"));
    }
    state.registry.set_password(&name, &body.password, &actor(&principal)).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

#[derive(Deserialize)]
struct Disabled {
    disabled: bool,
}

async fn set_disabled(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(name): Path<String>,
    Json(body): Json<Disabled>,
) -> Result<Response, ApiError> {
    let admin = administrator(&state, &headers).await?;
    state.registry.set_user_disabled(&namespace(&name)?, body.disabled, &actor(&admin)).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

#[derive(Deserialize)]
struct NewOrg {
    name: String,
}

/// Any signed-in user may create an organisation, and becomes its owner; in a namespace that
/// already holds repositories, only an administrator may.
async fn create_org(
    State(state): State<AppState>,
    headers: HeaderMap,
    Json(body): Json<NewOrg>,
) -> Result<Response, ApiError> {
    let principal = signed_in(&state, &headers).await?;
    if !principal.limit.allows_admin() {
        return Err(ApiError::new(
            ErrorCode::Denied,
            "creating an organisation needs a password or an admin-scoped token",
        ));
    }
    // A namespace holding repositories but owned by nobody would give its new owner them all.
    let occupied = if principal.user.is_admin { OccupiedNamespace::Take } else { OccupiedNamespace::Refuse };
    state.registry.create_org(&namespace(&body.name)?, &principal.user.name, occupied, &actor(&principal)).await?;
    Ok((StatusCode::CREATED, Json(serde_json::json!({ "name": body.name, "owner": principal.user.name })))
        .into_response())
}

#[derive(Deserialize)]
struct Membership {
    role: String,
}

async fn set_member(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path((org, user)): Path<(String, String)>,
    Json(body): Json<Membership>,
) -> Result<Response, ApiError> {
    let role = match body.role.as_str() {
        "owner" => Role::Owner,
        "maintainer" => Role::Maintainer,
        "reader" => Role::Reader,
        other => {
            return Err(ApiError::api(StatusCode::BAD_REQUEST, "INVALID_INPUT", format!("unknown role {other:?}")));
        }
    };
    change_member(&state, &headers, &org, &user, Some(role)).await
}

async fn remove_member(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path((org, user)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    change_member(&state, &headers, &org, &user, None).await
}

async fn change_member(
    state: &AppState,
    headers: &HeaderMap,
    org: &str,
    user: &str,
    role: Option<Role>,
) -> Result<Response, ApiError> {
    let caller = caller(state, headers).await?;
    let org = namespace(org)?;
    if !state.registry.may_admin_org(&caller, &org).await? {
        return Err(ApiError::new(ErrorCode::Denied, "only the organisation's owners may change its members"));
    }
    state.registry.set_org_member(&org, &namespace(user)?, role, &wasmhub_registry::actor_of(&caller)).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct TokenView {
    id: String,
    name: String,
    scopes: Vec<String>,
    expires_at: Option<i64>,
    revoked: bool,
    last_used_at: Option<i64>,
    created_at: i64,
    /// Only in the answer to the request that created the token.
    #[serde(skip_serializing_if = "Option::is_none")]
    token: Option<String>,
}

impl From<&StoredToken> for TokenView {
    fn from(token: &StoredToken) -> Self {
        TokenView {
            id: token.id.clone(),
            name: token.name.clone(),
            scopes: token.scopes.split(',').map(str::to_owned).collect(),
            expires_at: token.expires_at,
            revoked: token.revoked_at.is_some(),
            last_used_at: token.last_used_at,
            created_at: token.created_at,
            token: None,
        }
    }
}

async fn list_tokens(State(state): State<AppState>, headers: HeaderMap) -> Result<Response, ApiError> {
    let principal = signed_in(&state, &headers).await?;
    let tokens: Vec<TokenView> = state.registry.tokens_of(&principal.user).await?.iter().map(TokenView::from).collect();
    Ok(Json(tokens).into_response())
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct NewToken {
    name: String,
    scopes: Vec<String>,
    expires_in_days: Option<u32>,
}

async fn create_token(
    State(state): State<AppState>,
    headers: HeaderMap,
    Json(body): Json<NewToken>,
) -> Result<Response, ApiError> {
    let principal = signed_in(&state, &headers).await?;
    let scopes = body
        .scopes
        .iter()
        .map(|s| s.parse::<TokenScope>())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| ApiError::api(StatusCode::BAD_REQUEST, "INVALID_INPUT", e.to_string()))?;
    // A token cannot mint a token with more power than its own.
    if !principal.limit.allows_admin() {
        return Err(ApiError::new(ErrorCode::Denied, "creating tokens needs a password or an admin-scoped token"));
    }
    let now = crate::auth::now_seconds() * 1000;
    let expires = body.expires_in_days.map(|days| now + i64::from(days) * 86_400_000);
    let (token, stored) =
        state.registry.create_token(&principal.user, &body.name, &scopes, expires, &actor(&principal)).await?;
    let view = TokenView { token: Some(token.to_string()), ..TokenView::from(&stored) };
    Ok((StatusCode::CREATED, Json(view)).into_response())
}

async fn revoke_token(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let principal = signed_in(&state, &headers).await?;
    // As for creating one: a pull or push token must not revoke the account's other tokens
    // (nor, for an administrator's, everyone's).
    if !principal.limit.allows_admin() {
        return Err(ApiError::new(ErrorCode::Denied, "revoking tokens needs a password or an admin-scoped token"));
    }
    let owner = (!principal.user.is_admin).then_some(&principal.user);
    state.registry.revoke_token(&id, owner, &actor(&principal)).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// The WebAssembly Hub's "who am I" for `wasme login`.
async fn current_user(State(state): State<AppState>, headers: HeaderMap) -> Result<Response, ApiError> {
    let principal = signed_in(&state, &headers).await?;
    let name = principal.user.name.to_string();
    Ok(Json(serde_json::json!({ "id": name, "username": name, "name": name, "admin": principal.user.is_admin }))
        .into_response())
}
