//! Query strings parsed into typed requests, with explicit limits. Unknown parameters are
//! ignored (clients add their own); a known parameter with a bad value is a 400 that names it.

use std::collections::HashMap;

use wasmhub_registry::index::{query_words, SearchQuery, SearchSort};

use super::error::JsonError;

/// Results per page unless `per_page` says otherwise, and the most it may say.
pub const DEFAULT_PER_PAGE: u32 = 20;
pub const MAX_PER_PAGE: u32 = 100;
/// Deepest page served: `page * per_page` must stay below this (deep OFFSETs are slow).
pub const MAX_OFFSET: u64 = 10_000;
/// Longest value accepted for any one parameter.
const MAX_VALUE_CHARS: usize = 256;

/// The raw parameters, last value wins.
pub struct Params(HashMap<String, String>);

impl Params {
    pub fn parse(query: Option<&str>) -> Result<Params, JsonError> {
        let mut map = HashMap::new();
        for (key, value) in form_urlencoded::parse(query.unwrap_or_default().as_bytes()) {
            if value.chars().count() > MAX_VALUE_CHARS {
                return Err(JsonError::bad_request(format!("`{key}` is longer than {MAX_VALUE_CHARS} characters")));
            }
            map.insert(key.into_owned(), value.into_owned());
        }
        Ok(Params(map))
    }

    /// A non-empty trimmed value.
    pub fn text(&self, key: &str) -> Option<String> {
        self.0.get(key).map(|v| v.trim()).filter(|v| !v.is_empty()).map(str::to_owned)
    }

    /// An integer within `min..=max`, or `default` when absent.
    pub fn number(&self, key: &str, default: u32, min: u32, max: u32) -> Result<u32, JsonError> {
        let Some(text) = self.text(key) else { return Ok(default) };
        match text.parse::<u32>() {
            Ok(n) if (min..=max).contains(&n) => Ok(n),
            _ => Err(JsonError::bad_request(format!("`{key}` must be an integer from {min} to {max}, not {text:?}"))),
        }
    }

    /// `text` restricted to `allowed` values.
    pub fn one_of(&self, key: &str, allowed: &[&str]) -> Result<Option<String>, JsonError> {
        match self.text(key) {
            Some(value) if !allowed.contains(&value.as_str()) => {
                Err(JsonError::bad_request(format!("`{key}` must be one of {}, not {value:?}", allowed.join(", "))))
            }
            value => Ok(value),
        }
    }
}

/// `page` and `per_page`, checked together.
#[derive(Debug, Clone, Copy)]
pub struct Paging {
    pub page: u32,
    pub per_page: u32,
}

impl Paging {
    pub fn parse(params: &Params) -> Result<Paging, JsonError> {
        let per_page = params.number("per_page", DEFAULT_PER_PAGE, 1, MAX_PER_PAGE)?;
        let page = params.number("page", 1, 1, Paging::max_page(per_page))?;
        Ok(Paging { page, per_page })
    }

    /// The deepest page `per_page` allows.
    pub fn max_page(per_page: u32) -> u32 {
        (MAX_OFFSET / u64::from(per_page)) as u32
    }

    pub fn offset(self) -> u64 {
        u64::from(self.page - 1) * u64::from(self.per_page)
    }
}

pub const FORMATS: &[&str] = &["soloOci", "soloCompat", "cncfWasm", "wasmToOci", "spin", "crunWasmEdge"];
pub const KINDS: &[&str] = &["module", "component"];
pub const SORTS: &[&str] = &["relevance", "updated", "name", "pulls"];

/// `GET /api/v1/search`.
pub fn search_query(params: &Params) -> Result<(SearchQuery, Paging), JsonError> {
    let paging = Paging::parse(params)?;
    let sort = match params.one_of("sort", SORTS)?.as_deref() {
        Some("updated") => SearchSort::Updated,
        Some("name") => SearchSort::Name,
        Some("pulls") => SearchSort::Pulls,
        _ => SearchSort::Relevance,
    };
    let namespace = params.text("namespace");
    if let Some(ns) = &namespace {
        if ns.trim_matches('/').parse::<wasmhub_registry::oci::RepoName>().is_err() {
            return Err(JsonError::bad_request(format!("`namespace` is not a repository name prefix: {ns:?}")));
        }
    }
    let query = SearchQuery {
        words: params.text("q").map(|q| query_words(&q)).unwrap_or_default(),
        runtime_type: params.text("type"),
        abi: params.text("abi"),
        export: params.text("export"),
        import: params.text("import"),
        kind: params.one_of("kind", KINDS)?,
        format: params.one_of("format", FORMATS)?,
        namespace: namespace.map(|ns| ns.trim_matches('/').to_owned()),
        repository: None,
        sort,
        offset: paging.offset(),
        limit: paging.per_page,
    };
    Ok((query, paging))
}
