//! The original WebAssembly Hub's listing API, in its original shapes, so `wasme list
//! --published --server <wasmhub>` works unchanged. The Hub ran a fork of Harbor v1, and
//! `wasme` reads four endpoints of it (see solo-io/wasm `tools/wasme/cli/pkg/cmd/list`):
//!
//! - `GET /api/search?q=` → `{"project": [...], "repository": [...], "chart": []}`
//! - `GET /api/projects` → `[project]` (wasme skips projects whose `repo_count` is 0)
//! - `GET /api/repositories?project_id=` → `[{"name": "ns/repo", ...}]`
//! - `GET /api/repositories/{repo}/tags?detail=true` → `[tag]`, each with the
//!   `module.wasm.runtime/*` annotations the Hub showed.
//!
//! A project is a namespace (first name component); its number is `project_id(name)`. Fields
//! wasmhub has no notion of (pull counts, stars, owners, CVE allow-lists) keep Harbor's zero
//! values so Go clients decoding into Harbor's structs still parse them. `wasme` sends no
//! paging parameters, so the default page is large; `page`/`page_size` are Harbor's names,
//! and `X-Total-Count` carries the total as Harbor did.

use std::collections::BTreeMap;

use axum::extract::{Path, RawQuery, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Serialize;
use wasmhub_registry::index::{NamespaceSummary, RepositoryFilter, RepositoryListing, TagSummary};
use wasmhub_registry::oci::RepoName;
use wasmhub_registry::{namespace_of, project_id};

use super::error::JsonError;
use super::params::{Params, MAX_OFFSET};
use crate::time::rfc3339;
use crate::AppState;

/// Entries per page when `page_size` is absent: enough that `wasme`, which never pages, sees
/// every repository of an ordinary project.
const DEFAULT_PAGE_SIZE: u32 = 100;
const MAX_PAGE_SIZE: u32 = 500;
/// Go's zero `time.Time`, which Harbor sent for "never" (e.g. `pull_time`).
const ZERO_TIME: &str = "0001-01-01T00:00:00Z";
const RUNTIME_TYPE: &str = "module.wasm.runtime/type";
const ABI_VERSION: &str = "module.wasm.runtime/abi_version";

/// Harbor's `page` and `page_size`, as (offset, limit).
fn paging(params: &Params) -> Result<(u64, u32), JsonError> {
    let size = params.number("page_size", DEFAULT_PAGE_SIZE, 1, MAX_PAGE_SIZE)?;
    let page = params.number("page", 1, 1, (MAX_OFFSET / u64::from(size)) as u32)?;
    Ok((u64::from(page - 1) * u64::from(size), size))
}

fn with_total<T: Serialize>(total: u64, body: T) -> Response {
    ([("x-total-count", total.to_string())], Json(body)).into_response()
}

#[derive(Debug, Serialize)]
pub struct CveAllowlist {
    id: u32,
    project_id: u32,
    items: Vec<serde_json::Value>,
    creation_time: String,
    update_time: String,
}

/// Harbor v1's `Project`.
#[derive(Debug, Serialize)]
pub struct Project {
    project_id: u32,
    owner_id: u32,
    name: String,
    creation_time: String,
    update_time: String,
    deleted: bool,
    owner_name: String,
    current_user_role_id: u32,
    current_user_role_ids: Vec<u32>,
    repo_count: u64,
    chart_count: u64,
    cve_whitelist: CveAllowlist,
    metadata: BTreeMap<&'static str, String>,
}

impl From<NamespaceSummary> for Project {
    fn from(ns: NamespaceSummary) -> Project {
        let id = project_id(&ns.name);
        let (created, updated) = (rfc3339(ns.created_at), rfc3339(ns.updated_at));
        Project {
            project_id: id,
            owner_id: 0,
            owner_name: String::new(),
            deleted: false,
            current_user_role_id: 0,
            current_user_role_ids: Vec::new(),
            repo_count: ns.repository_count,
            chart_count: 0,
            cve_whitelist: CveAllowlist {
                id: 0,
                project_id: id,
                items: Vec::new(),
                creation_time: ZERO_TIME.into(),
                update_time: ZERO_TIME.into(),
            },
            metadata: BTreeMap::from([("public", ns.public.to_string())]),
            name: ns.name,
            creation_time: created,
            update_time: updated,
        }
    }
}

/// Harbor v1's `RepoRecord`.
#[derive(Debug, Serialize)]
pub struct Repository {
    id: i64,
    name: String,
    project_id: u32,
    description: String,
    pull_count: u64,
    star_count: u64,
    tags_count: u64,
    labels: Vec<serde_json::Value>,
    creation_time: String,
    update_time: String,
}

impl From<RepositoryListing> for Repository {
    fn from(r: RepositoryListing) -> Repository {
        Repository {
            id: r.id,
            project_id: project_id(namespace_of(&r.name)),
            description: r.description.unwrap_or_default(),
            pull_count: 0,
            star_count: 0,
            tags_count: r.tag_count,
            labels: Vec::new(),
            creation_time: rfc3339(r.created_at),
            update_time: rfc3339(r.updated_at),
            name: r.name,
        }
    }
}

/// Harbor v1's search result for one repository.
#[derive(Debug, Serialize)]
pub struct SearchRepository {
    project_id: u32,
    project_name: String,
    project_public: bool,
    pull_count: u64,
    repository_name: String,
    tags_count: u64,
}

#[derive(Debug, Serialize)]
pub struct SearchResult {
    project: Vec<Project>,
    repository: Vec<SearchRepository>,
    chart: Vec<serde_json::Value>,
}

/// Harbor v1's detailed tag, with the Hub's Wasm annotations.
#[derive(Debug, Serialize)]
pub struct Tag {
    digest: String,
    name: String,
    /// The module's size (the Hub's images were one module and a tiny config).
    size: u64,
    architecture: String,
    os: String,
    #[serde(rename = "os.version")]
    os_version: String,
    docker_version: String,
    author: String,
    created: String,
    config: Option<serde_json::Value>,
    immutable: bool,
    signature: Option<serde_json::Value>,
    labels: Vec<serde_json::Value>,
    push_time: String,
    pull_time: String,
    annotations: BTreeMap<&'static str, String>,
}

impl From<TagSummary> for Tag {
    fn from(t: TagSummary) -> Tag {
        let mut annotations = BTreeMap::new();
        let wasm = t.wasm.as_ref();
        if let Some(runtime) = wasm.and_then(|w| w.runtime_type.clone()) {
            annotations.insert(RUNTIME_TYPE, runtime);
        }
        if let Some(abis) = wasm.map(|w| w.abis.join(",")).filter(|abis| !abis.is_empty()) {
            annotations.insert(ABI_VERSION, abis);
        }
        let updated = rfc3339(t.updated_at);
        Tag {
            digest: t.digest,
            name: t.tag,
            size: wasm.and_then(|w| w.module_size).unwrap_or(0),
            architecture: if wasm.is_some() { "wasm".into() } else { String::new() },
            os: String::new(),
            os_version: String::new(),
            docker_version: String::new(),
            author: String::new(),
            created: updated.clone(),
            config: None,
            immutable: false,
            signature: None,
            labels: Vec::new(),
            push_time: updated,
            pull_time: ZERO_TIME.into(),
            annotations,
        }
    }
}

/// `GET /api/projects`
pub async fn projects(
    State(state): State<AppState>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Result<Response, JsonError> {
    let (offset, limit) = paging(&Params::parse(query.as_deref())?)?;
    let caller = super::caller(&state, &headers).await?;
    let (total, page) = state.registry.namespace_page(&caller, offset, limit).await?;
    Ok(with_total(total, page.into_iter().map(Project::from).collect::<Vec<_>>()))
}

/// `GET /api/repositories?project_id=`
pub async fn repositories(
    State(state): State<AppState>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Result<Response, JsonError> {
    let params = Params::parse(query.as_deref())?;
    let (offset, limit) = paging(&params)?;
    if params.text("project_id").is_none() {
        return Err(JsonError::bad_request("`project_id` is required"));
    }
    let id = params.number("project_id", 0, 1, i32::MAX as u32)?;
    let caller = super::caller(&state, &headers).await?;
    let registry = &state.registry;
    let mut namespaces = registry.namespaces_with_project_id(&caller, id).await?;
    // Harbor answered 404 for an unknown project; a hash collision (two namespaces) lists the first.
    let Some(namespace) = namespaces.drain(..).next() else {
        return Err(JsonError::not_found(format!("project {id} not found")));
    };
    let filter = RepositoryFilter::Namespace(namespace.name);
    let (total, page) = registry.repository_listing(&caller, &filter, offset, limit).await?;
    Ok(with_total(total, page.into_iter().map(Repository::from).collect::<Vec<_>>()))
}

/// `GET /api/repositories/{repo}/tags` (`detail` is accepted; tags are always detailed).
pub async fn tags(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(path): Path<String>,
) -> Result<Response, JsonError> {
    let Some(name) = path.trim_end_matches('/').strip_suffix("/tags") else {
        return Err(JsonError::not_found(format!("no such Hub API path: /api/repositories/{path}")));
    };
    let name: RepoName =
        name.parse().map_err(|e| JsonError::bad_request(format!("invalid repository name {name:?}: {e}")))?;
    let caller = super::caller(&state, &headers).await?;
    let tags = state.registry.repository_tags(&caller, &name).await?;
    Ok(with_total(tags.len() as u64, tags.into_iter().map(Tag::from).collect::<Vec<_>>()))
}

/// `GET /api/search?q=`
pub async fn search(
    State(state): State<AppState>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Result<Json<SearchResult>, JsonError> {
    let text = Params::parse(query.as_deref())?.text("q").unwrap_or_default();
    let caller = super::caller(&state, &headers).await?;
    let found = state.registry.hub_search(&caller, &text).await?;
    let repository = found
        .repositories
        .into_iter()
        .map(|r| {
            let project_name = namespace_of(&r.name).to_owned();
            SearchRepository {
                project_id: project_id(&project_name),
                project_name,
                project_public: r.public,
                pull_count: 0,
                tags_count: r.tag_count,
                repository_name: r.name,
            }
        })
        .collect();
    Ok(Json(SearchResult {
        project: found.namespaces.into_iter().map(Project::from).collect(),
        repository,
        chart: Vec::new(),
    }))
}
