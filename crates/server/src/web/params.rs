//! `/search` reads the same parameters, with the same limits, as `/api/v1/search`, so a URL
//! can move between the page and the API by changing its path. (The API's parser answers
//! with JSON errors; this one with a message for the 400 page.)

use std::collections::HashMap;

use wasmhub_registry::index::{query_words, SearchQuery, SearchSort};

pub const DEFAULT_PER_PAGE: u32 = 20;
const MAX_PER_PAGE: u32 = 100;
/// Deepest result served: `page * per_page` stays below this (deep OFFSETs are slow).
const MAX_OFFSET: u64 = 10_000;
const MAX_VALUE_CHARS: usize = 256;

pub const FORMATS: &[&str] = &["soloOci", "soloCompat", "cncfWasm", "wasmToOci", "spin", "crunWasmEdge"];
pub const KINDS: &[&str] = &["module", "component"];
pub const SORTS: &[&str] = &["relevance", "updated", "name", "pulls"];

/// The text parameters a search page echoes back into its form and links, in URL order.
pub const TEXT_KEYS: &[&str] = &["q", "type", "abi", "export", "import", "kind", "format", "namespace", "sort"];

/// The deepest page `per_page` allows.
pub fn max_page(per_page: u32) -> u32 {
    (MAX_OFFSET / u64::from(per_page)) as u32
}

/// A search request as the page shows it: the raw (trimmed) values, checked.
#[derive(Debug, Clone, Default)]
pub struct SearchParams {
    values: HashMap<&'static str, String>,
    pub page: u32,
    pub per_page: u32,
}

impl SearchParams {
    /// Parses and checks a query string; the error is a message for a 400 page.
    pub fn parse(query: Option<&str>) -> Result<SearchParams, String> {
        let mut raw: HashMap<String, String> = HashMap::new();
        for (key, value) in form_urlencoded::parse(query.unwrap_or_default().as_bytes()) {
            if value.chars().count() > MAX_VALUE_CHARS {
                return Err(format!("`{key}` is longer than {MAX_VALUE_CHARS} characters"));
            }
            raw.insert(key.into_owned(), value.trim().to_owned());
        }
        let mut values = HashMap::new();
        for key in TEXT_KEYS {
            if let Some(value) = raw.get(*key).filter(|v| !v.is_empty()) {
                values.insert(*key, value.clone());
            }
        }
        let number = |key: &str, default: u32, max: u32| -> Result<u32, String> {
            match raw.get(key).filter(|v| !v.is_empty()) {
                None => Ok(default),
                Some(text) => match text.parse::<u32>() {
                    Ok(n) if (1..=max).contains(&n) => Ok(n),
                    _ => Err(format!("`{key}` must be an integer from 1 to {max}, not {text:?}")),
                },
            }
        };
        let per_page = number("per_page", DEFAULT_PER_PAGE, MAX_PER_PAGE)?;
        let page = number("page", 1, max_page(per_page))?;
        let params = SearchParams { values, page, per_page };
        for (key, allowed) in [("kind", KINDS), ("format", FORMATS), ("sort", SORTS)] {
            if let Some(value) = params.get(key).filter(|v| !allowed.contains(v)) {
                return Err(format!("`{key}` must be one of {}, not {value:?}", allowed.join(", ")));
            }
        }
        if let Some(ns) = params.get("namespace") {
            if ns.trim_matches('/').parse::<wasmhub_registry::oci::RepoName>().is_err() {
                return Err(format!("`namespace` is not a repository name prefix: {ns:?}"));
            }
        }
        Ok(params)
    }

    /// No text or filters: page 1 of everything, `per_page` at a time.
    pub fn empty(per_page: u32) -> SearchParams {
        SearchParams { values: HashMap::new(), page: 1, per_page }
    }

    /// A parameter's value, or None when absent or empty.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.values.get(key).map(String::as_str)
    }

    /// Whether any filter or text is set (the home page's query has none).
    pub fn is_filtered(&self) -> bool {
        TEXT_KEYS.iter().any(|k| *k != "sort" && self.get(k).is_some())
    }

    pub fn query(&self) -> SearchQuery {
        let text = |key: &str| self.get(key).map(str::to_owned);
        SearchQuery {
            words: self.get("q").map(query_words).unwrap_or_default(),
            runtime_type: text("type"),
            abi: text("abi"),
            export: text("export"),
            import: text("import"),
            kind: text("kind"),
            format: text("format"),
            namespace: self.get("namespace").map(|ns| ns.trim_matches('/').to_owned()),
            repository: None,
            sort: match self.get("sort") {
                Some("updated") => SearchSort::Updated,
                Some("name") => SearchSort::Name,
                Some("pulls") => SearchSort::Pulls,
                _ => SearchSort::Relevance,
            },
            offset: u64::from(self.page - 1) * u64::from(self.per_page),
            limit: self.per_page,
        }
    }

    /// The `/search` URL for these parameters with `changes` applied (an empty value removes
    /// a key) and, unless `page` is among the changes, back on page 1.
    pub fn url_with(&self, changes: &[(&str, &str)]) -> String {
        let mut pairs: Vec<(&str, String)> = Vec::new();
        for key in TEXT_KEYS {
            let value = changes.iter().find(|(k, _)| k == key).map(|(_, v)| *v).or(self.get(key));
            pairs.push((key, value.unwrap_or_default().to_owned()));
        }
        let page = changes.iter().find(|(k, _)| *k == "page").map(|(_, v)| v.to_string()).unwrap_or_default();
        pairs.push(("page", if page == "1" { String::new() } else { page }));
        let per_page = if self.per_page == DEFAULT_PER_PAGE { String::new() } else { self.per_page.to_string() };
        pairs.push(("per_page", per_page));
        let query = super::html::query_string(pairs.iter().map(|(k, v)| (*k, v.as_str())));
        if query.is_empty() {
            "/search".to_owned()
        } else {
            format!("/search?{query}")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::SearchParams;

    #[test]
    fn rejects_what_the_api_rejects() {
        for bad in
            ["per_page=1000", "page=0", "page=abc", "sort=random", "kind=library", "format=zip", "namespace=UPPER"]
        {
            assert!(SearchParams::parse(Some(bad)).is_err(), "{bad}");
        }
    }

    #[test]
    fn urls_keep_filters_and_reset_the_page() {
        let params = SearchParams::parse(Some("q=hello&abi=0.2.1&page=3&per_page=10&utm=x")).unwrap();
        assert_eq!(
            params.url_with(&[("type", "envoy_proxy")]),
            "/search?q=hello&type=envoy_proxy&abi=0.2.1&per_page=10"
        );
        assert_eq!(params.url_with(&[("abi", ""), ("page", "2")]), "/search?q=hello&page=2&per_page=10");
    }
}
