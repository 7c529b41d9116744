//! `GET /api/v1/repositories` and everything under `/api/v1/repositories/{name}`. A repository
//! name contains `/`, so the path after `repositories/` is read from its right-hand end, as the
//! `/v2` router does: `.../tags/<tag>/module.wasm`, `.../tags/<tag>`, else the whole is a name.

use axum::body::Body;
use axum::extract::{Path, RawQuery, State};
use axum::http::{header, HeaderMap};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Serialize;
use wasmhub_registry::oci::{RepoName, Tag};
use wasmhub_registry::wasm::Description;
use wasmhub_registry::ModuleContent;

use super::error::JsonError;
use super::params::{Paging, Params};
use super::search::SearchItem;
use crate::time::rfc3339;
use crate::AppState;

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RepositoryItem {
    pub name: String,
    pub tag_count: u64,
    pub updated_at: String,
    pub description: Option<String>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RepositoryPage {
    pub total: u64,
    pub page: u32,
    pub per_page: u32,
    pub items: Vec<RepositoryItem>,
}

pub async fn list(
    State(state): State<AppState>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Result<Json<RepositoryPage>, JsonError> {
    let paging = Paging::parse(&Params::parse(query.as_deref())?)?;
    let caller = super::caller(&state, &headers).await?;
    let (total, items) = state.registry.repository_page(&caller, paging.offset(), paging.per_page).await?;
    Ok(Json(RepositoryPage {
        total,
        page: paging.page,
        per_page: paging.per_page,
        items: items
            .into_iter()
            .map(|r| RepositoryItem {
                name: r.name,
                tag_count: r.tag_count,
                updated_at: rfc3339(r.updated_at),
                description: r.description,
            })
            .collect(),
    }))
}

/// What a path under `/api/v1/repositories/` names.
#[derive(Debug, PartialEq, Eq)]
enum Target {
    Repository(RepoName),
    Tag(RepoName, Tag),
    Module(RepoName, Tag),
}

fn parse_target(path: &str) -> Result<Target, JsonError> {
    let name = |segments: &[&str]| {
        let text = segments.join("/");
        text.parse::<RepoName>().map_err(|e| JsonError::bad_request(format!("invalid repository name {text:?}: {e}")))
    };
    let tag =
        |text: &str| text.parse::<Tag>().map_err(|e| JsonError::bad_request(format!("invalid tag {text:?}: {e}")));
    let segments: Vec<&str> = path.trim_end_matches('/').split('/').collect();
    match segments.as_slice() {
        [rest @ .., "tags", t, "module.wasm"] if !rest.is_empty() => Ok(Target::Module(name(rest)?, tag(t)?)),
        [rest @ .., "tags", t] if !rest.is_empty() => Ok(Target::Tag(name(rest)?, tag(t)?)),
        all => Ok(Target::Repository(name(all)?)),
    }
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TagItem {
    pub tag: String,
    pub digest: String,
    pub updated_at: String,
    /// The tag's Wasm facts; null when it is not a Wasm artifact.
    pub wasm: Option<SearchItem>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RepositoryDetails {
    pub name: String,
    pub description: Option<String>,
    pub updated_at: Option<String>,
    /// The most recently updated Wasm tag.
    pub latest: Option<SearchItem>,
    pub tags: Vec<TagItem>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TagDetails {
    pub repository: String,
    pub tag: String,
    pub digest: String,
    pub media_type: String,
    pub updated_at: String,
    pub wasm: Option<WasmDetails>,
    /// Set by `fsck --repair` when a blob the manifest needs is corrupt or missing.
    pub damaged: Option<String>,
}

/// All facts of a tag's module (OpenAPI `WasmDetails`).
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct WasmDetails {
    #[serde(flatten)]
    pub summary: SearchItem,
    pub declared_abi_versions: Vec<String>,
    pub detected_abi_versions: Vec<String>,
    pub exports: serde_json::Value,
    pub imports: serde_json::Value,
    pub producers: serde_json::Value,
    pub warnings: serde_json::Value,
    pub annotations: serde_json::Value,
    /// The complete facts, as `wasmhub_wasm` describes them.
    pub facts: serde_json::Value,
    /// Where to fetch the module itself.
    pub module_url: Option<String>,
}

pub async fn under(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(path): Path<String>,
) -> Result<Response, JsonError> {
    let caller = super::caller(&state, &headers).await?;
    let registry = &state.registry;
    match parse_target(&path)? {
        Target::Repository(name) => {
            let tags = registry.repository_tags(&caller, &name).await?;
            let tags: Vec<TagItem> = tags
                .into_iter()
                .map(|t| TagItem {
                    tag: t.tag,
                    digest: t.digest,
                    updated_at: rfc3339(t.updated_at),
                    wasm: t.wasm.map(SearchItem::from),
                })
                .collect();
            let latest = tags.iter().find_map(|t| t.wasm.clone());
            Ok(Json(RepositoryDetails {
                name: name.to_string(),
                description: latest.as_ref().and_then(|l| l.description.clone()),
                updated_at: tags.first().map(|t| t.updated_at.clone()),
                latest,
                tags,
            })
            .into_response())
        }
        Target::Tag(name, tag) => {
            let details = registry.tag_details(&caller, &name, &tag).await?;
            let wasm = details.summary.wasm.map(|hit| {
                let facts: Option<Description> =
                    details.facts_json.as_deref().and_then(|j| serde_json::from_str(j).ok());
                wasm_details(&name, &tag, SearchItem::from(hit), facts)
            });
            Ok(Json(TagDetails {
                repository: name.to_string(),
                tag: details.summary.tag,
                digest: details.summary.digest,
                media_type: details.media_type,
                updated_at: rfc3339(details.summary.updated_at),
                wasm,
                damaged: details.damaged,
            })
            .into_response())
        }
        Target::Module(name, tag) => {
            let content = registry.module_content(&caller, &name, &tag).await?;
            let wasm = [(header::CONTENT_TYPE, "application/wasm")];
            Ok(match content {
                ModuleContent::Stream { stream, size } => {
                    (wasm, [(header::CONTENT_LENGTH, size.to_string())], Body::from_stream(stream)).into_response()
                }
                ModuleContent::Bytes(bytes) => (wasm, bytes).into_response(),
            })
        }
    }
}

fn wasm_details(name: &RepoName, tag: &Tag, summary: SearchItem, description: Option<Description>) -> WasmDetails {
    let facts = description.as_ref().and_then(|d| d.facts());
    let primary = facts.and_then(|f| f.primary_module());
    let json = |value: Option<serde_json::Value>| value.unwrap_or(serde_json::Value::Null);
    let list = |value: Option<serde_json::Value>| value.unwrap_or_else(|| serde_json::json!([]));
    let abis = |list: Option<Vec<String>>| list.unwrap_or_default();
    WasmDetails {
        declared_abi_versions: abis(facts.map(|f| f.abi_versions.clone())),
        detected_abi_versions: abis(facts.map(|f| f.detected_proxy_abis.iter().map(|a| a.to_string()).collect())),
        exports: list(primary.map(|m| serde_json::json!(m.exports))),
        imports: list(primary.map(|m| serde_json::json!(m.imports))),
        producers: json(primary.map(|m| serde_json::json!(m.producers))),
        warnings: list(facts.map(|f| serde_json::json!(f.warnings))),
        annotations: json(facts.map(|f| serde_json::json!(f.annotations))),
        facts: json(description.as_ref().and_then(|d| serde_json::to_value(d).ok())),
        module_url: summary
            .module_digest
            .as_ref()
            .map(|_| format!("/api/v1/repositories/{name}/tags/{tag}/module.wasm")),
        summary,
    }
}
