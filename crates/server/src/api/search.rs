//! `GET /api/v1/search`, and the item shape every listing shares.

use std::collections::BTreeMap;

use axum::extract::{RawQuery, State};
use axum::http::HeaderMap;
use axum::Json;
use serde::Serialize;
use wasmhub_registry::index::{SearchHit, SearchResults};

use super::error::JsonError;
use super::params::{search_query, Params};
use crate::time::rfc3339;
use crate::AppState;

/// One tagged Wasm module (OpenAPI `SearchItem`). Every key is always present.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SearchItem {
    pub repository: String,
    pub tag: String,
    /// The manifest digest (what `oci://` URLs pin).
    pub digest: String,
    /// sha256 of the module bytes (what `https://` URLs pin).
    pub module_digest: Option<String>,
    pub format: String,
    pub outcome: String,
    pub reason: Option<String>,
    pub runtime_type: Option<String>,
    pub abi_versions: Vec<String>,
    pub kind: Option<String>,
    pub wasi: Option<String>,
    pub size: Option<u64>,
    pub title: Option<String>,
    pub description: Option<String>,
    pub version: Option<String>,
    pub updated_at: String,
}

impl From<SearchHit> for SearchItem {
    fn from(hit: SearchHit) -> SearchItem {
        SearchItem {
            repository: hit.repository,
            tag: hit.tag,
            digest: hit.digest,
            module_digest: hit.module_digest,
            format: hit.format,
            outcome: hit.outcome,
            reason: hit.reason,
            runtime_type: hit.runtime_type,
            abi_versions: hit.abis,
            kind: hit.kind,
            wasi: hit.wasi,
            size: hit.module_size,
            title: hit.title,
            description: hit.description,
            version: hit.version,
            updated_at: rfc3339(hit.updated_at),
        }
    }
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Facets {
    pub runtime_type: BTreeMap<String, u64>,
    pub abi: BTreeMap<String, u64>,
    pub kind: BTreeMap<String, u64>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SearchResponse {
    pub total: u64,
    pub page: u32,
    pub per_page: u32,
    pub items: Vec<SearchItem>,
    pub facets: Facets,
}

pub async fn search(
    State(state): State<AppState>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Result<Json<SearchResponse>, JsonError> {
    let params = Params::parse(query.as_deref())?;
    let (query, paging) = search_query(&params)?;
    let caller = super::caller(&state, &headers).await?;
    let SearchResults { total, items, facets } = state.registry.search(&caller, query).await?;
    Ok(Json(SearchResponse {
        total,
        page: paging.page,
        per_page: paging.per_page,
        items: items.into_iter().map(SearchItem::from).collect(),
        facets: Facets {
            runtime_type: facets.runtime_type.into_iter().collect(),
            abi: facets.abi.into_iter().collect(),
            kind: facets.kind.into_iter().collect(),
        },
    }))
}
