//! The JSON API under `/api/v1` (search and browsing, documented by `openapi.json`) and the
//! well-known document `wkg` reads. Handlers are thin: typed parameters in, one `Registry`
//! call, a serialisable response out; failures become `JsonError` in one place.

mod admin;
pub(crate) mod error;
mod hub;
pub(crate) mod params;
mod repositories;
mod search;

use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::IntoResponse;
use axum::routing::get;
use axum::{Json, Router};
use wasmhub_registry::Caller;

use crate::AppState;
pub use error::JsonError;

/// The OpenAPI 3 document, hand-written beside the handlers it describes.
const OPENAPI: &str = include_str!("openapi.json");

pub fn router() -> Router<AppState> {
    Router::new()
        .merge(admin::router())
        .route("/api/v1/search", get(search::search))
        .route("/api/v1/repositories", get(repositories::list))
        .route("/api/v1/repositories/{*path}", get(repositories::under))
        .route("/api/v1/openapi.json", get(|| async { ([(header::CONTENT_TYPE, "application/json")], OPENAPI) }))
        .route("/.well-known/wasm-pkg/registry.json", get(wasm_pkg_metadata))
        // The original WebAssembly Hub's listing API (what `wasme list --published` reads).
        .route("/api/search", get(hub::search))
        .route("/api/projects", get(hub::projects))
        .route("/api/repositories", get(hub::repositories))
        .route("/api/repositories/{*path}", get(hub::tags))
}

/// Who is asking: the same credentials `/v2` accepts. The one place the API meets auth.
async fn caller(state: &AppState, headers: &HeaderMap) -> Result<Caller, JsonError> {
    state.auth.caller(&state.registry, headers).await.map_err(|_| JsonError::unauthorized())
}

/// wasm-pkg-tools' registry metadata: packages live in this registry's OCI namespace
/// (`wkg` maps `ns:name` to the repository `ns/name`).
async fn wasm_pkg_metadata(State(_state): State<AppState>, headers: HeaderMap) -> impl IntoResponse {
    let Some(host) = headers.get(header::HOST).and_then(|h| h.to_str().ok()).filter(|h| !h.is_empty()) else {
        return (
            StatusCode::BAD_REQUEST,
            Json(serde_json::json!({"error": {"code": "BAD_REQUEST", "message": "the request has no Host header"}})),
        )
            .into_response();
    };
    Json(serde_json::json!({ "preferredProtocol": "oci", "oci": { "registry": host } })).into_response()
}
