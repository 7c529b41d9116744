//! The original WebAssembly Hub's listing model (a Harbor v1 API, which `wasme list
//! --published` reads): projects are namespaces, identified by a number. Every listing goes
//! through `Registry::visibility`, as search and browsing do.

use wasmhub_index::{query_words, NamespaceSummary, RepositoryFilter, RepositoryListing, SearchQuery, SearchSort};

use crate::{Caller, Registry, RegistryError};

/// Most repositories one Hub search returns (Harbor's search was not paginated either).
pub const MAX_SEARCH_REPOSITORIES: u32 = 100;
/// Namespaces read per query while looking one up by its project id.
const NAMESPACE_SCAN_PAGE: u32 = 1_000;
/// Most namespaces scanned for one project id, so a lookup stays bounded.
const MAX_NAMESPACES_SCANNED: u64 = 100_000;

/// A project's number, derived from its name (FNV-1a, 31 bits, never 0). Harbor's ids were
/// rows of a projects table; wasmhub has none, and a hash of the name stays the same across
/// restarts and replicas without storing anything. Two namespaces sharing a number (rare at
/// 31 bits) would both be listed for it.
pub fn project_id(namespace: &str) -> u32 {
    let mut hash: u32 = 0x811c_9dc5;
    for byte in namespace.bytes() {
        hash ^= u32::from(byte);
        hash = hash.wrapping_mul(0x0100_0193);
    }
    (hash & 0x7fff_ffff).max(1)
}

/// The namespace (project) of a repository name: its first component.
pub fn namespace_of(repository: &str) -> &str {
    repository.split('/').next().unwrap_or(repository)
}

/// What a Hub search found.
#[derive(Debug, Clone, Default)]
pub struct HubSearch {
    pub namespaces: Vec<NamespaceSummary>,
    pub repositories: Vec<RepositoryListing>,
}

impl Registry {
    /// One page of namespaces, by name, and how many there are.
    pub async fn namespace_page(
        &self,
        caller: &Caller,
        offset: u64,
        limit: u32,
    ) -> Result<(u64, Vec<NamespaceSummary>), RegistryError> {
        Ok(self.index.namespace_page(self.visibility(caller), offset, limit).await?)
    }

    /// The namespaces whose project id is `id` (normally one); empty when none is visible.
    pub async fn namespaces_with_project_id(
        &self,
        caller: &Caller,
        id: u32,
    ) -> Result<Vec<NamespaceSummary>, RegistryError> {
        let mut found = Vec::new();
        let mut offset = 0;
        while offset < MAX_NAMESPACES_SCANNED {
            let (total, page) = self.namespace_page(caller, offset, NAMESPACE_SCAN_PAGE).await?;
            found.extend(page.into_iter().filter(|ns| project_id(&ns.name) == id));
            offset += u64::from(NAMESPACE_SCAN_PAGE);
            if offset >= total {
                break;
            }
        }
        Ok(found)
    }

    /// One page of the repositories matching `filter`, and how many match.
    pub async fn repository_listing(
        &self,
        caller: &Caller,
        filter: &RepositoryFilter,
        offset: u64,
        limit: u32,
    ) -> Result<(u64, Vec<RepositoryListing>), RegistryError> {
        Ok(self.index.repository_listing(filter, self.visibility(caller), offset, limit).await?)
    }

    /// Repositories whose name contains `text`, then those whose Wasm modules match it as free
    /// text (description, annotations), and the namespaces whose name contains it.
    pub async fn hub_search(&self, caller: &Caller, text: &str) -> Result<HubSearch, RegistryError> {
        let limit = MAX_SEARCH_REPOSITORIES;
        let contains = RepositoryFilter::NameContains(text.to_owned());
        let (_, mut repositories) = self.repository_listing(caller, &contains, 0, limit).await?;
        let words = query_words(text);
        if !words.is_empty() && repositories.len() < limit as usize {
            let query = SearchQuery { words, sort: SearchSort::Relevance, limit, ..SearchQuery::default() };
            let mut names: Vec<String> = Vec::new();
            for hit in self.search(caller, query).await?.items {
                if !names.contains(&hit.repository) && !repositories.iter().any(|r| r.name == hit.repository) {
                    names.push(hit.repository);
                }
            }
            let (_, more) = self.repository_listing(caller, &RepositoryFilter::Names(names), 0, limit).await?;
            repositories.extend(more);
            repositories.truncate(limit as usize);
        }
        let needle = text.to_ascii_lowercase();
        let mut namespaces = Vec::new();
        if !needle.is_empty() {
            let (_, page) = self.namespace_page(caller, 0, NAMESPACE_SCAN_PAGE).await?;
            namespaces.extend(page.into_iter().filter(|ns| ns.name.to_ascii_lowercase().contains(&needle)));
        }
        Ok(HubSearch { namespaces, repositories })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn project_ids_are_stable_positive_and_distinct() {
        assert_eq!(project_id("team"), project_id("team"));
        assert_ne!(project_id("team"), project_id("apps"));
        assert!(project_id("") >= 1 && project_id("team") <= i32::MAX as u32);
        assert_eq!(namespace_of("team/filter/x"), "team");
        assert_eq!(namespace_of("hello"), "hello");
    }
}
