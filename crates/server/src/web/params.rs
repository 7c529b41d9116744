//! `/search` reads the same parameters, with the same limits, as `/api/v1/search`, so a URL
//! can move between the page and the API by changing its path: it is the API's parser, its
//! JSON error's message shown on a 400 page.

use std::collections::HashMap;

use wasmhub_registry::index::SearchQuery;

use crate::api::error::JsonError;
use crate::api::params::{search_query, Paging, Params};
pub use crate::api::params::{DEFAULT_PER_PAGE, FORMATS, KINDS, SORTS};

/// The text parameters a search page echoes back into its form and links, in URL order.
pub const TEXT_KEYS: &[&str] = &["q", "type", "abi", "export", "import", "kind", "format", "namespace", "sort"];

/// The deepest page `per_page` allows.
pub fn max_page(per_page: u32) -> u32 {
    Paging::max_page(per_page)
}

/// A search request as the page shows it: the raw (trimmed) values, checked, and the query
/// they make.
#[derive(Debug, Clone, Default)]
pub struct SearchParams {
    values: HashMap<&'static str, String>,
    pub page: u32,
    pub per_page: u32,
    query: SearchQuery,
}

impl SearchParams {
    /// Parses and checks a query string with the API's own parser; the error is its message,
    /// for a 400 page.
    pub fn parse(query: Option<&str>) -> Result<SearchParams, String> {
        let raw = Params::parse(query).map_err(JsonError::into_message)?;
        let (query, paging) = search_query(&raw).map_err(JsonError::into_message)?;
        let values = TEXT_KEYS.iter().filter_map(|key| raw.text(key).map(|value| (*key, value))).collect();
        Ok(SearchParams { values, page: paging.page, per_page: paging.per_page, query })
    }

    /// No text or filters: page 1 of everything, `per_page` at a time.
    pub fn empty(per_page: u32) -> SearchParams {
        let query = SearchQuery { limit: per_page, ..SearchQuery::default() };
        SearchParams { values: HashMap::new(), page: 1, per_page, query }
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
        self.query.clone()
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
