//! Searching tagged Wasm modules: equality filters, free text, an exact total and facets, one
//! page of results, read from the search tables of migration 0005 (`search_entries`,
//! `search_facets`, `search_counts`, `search_terms`; kept in step by triggers).
//!
//! Every query here is built by `Filter` (filter.rs), so the visibility predicate (accounts
//! and private repositories, issue 8) comes from one place: `Visibility::predicate`, or the
//! `private` flag the triggers copy from it. Exports, imports and free-text words are all
//! terms of `search_terms` (terms.rs). The backends differ in three places: ranking by
//! relevance (FTS5's bm25 on SQLite, `ts_rank` on PostgreSQL; `TextRank`, page.rs), how a
//! page is found (SQLite's plan follows from the total, its planner having no statistics;
//! PostgreSQL's planner chooses, while the total is counted), and which rows are counted
//! before the search (`Index::search`).

mod filter;
mod page;
mod pulls_order;
mod terms;

use filter::{Filter, Probe};
use page::{RANK_LIMIT, WALK_THRESHOLD};

use sqlx::any::AnyRow;
use sqlx::Row;

use crate::{Backend, Index, IndexError};

/// Which repositories a caller may see; every search and listing query applies it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Visibility {
    /// Administrators, and a registry running open.
    #[default]
    All,
    /// Anonymous callers: public repositories only.
    Public,
    /// Anonymous callers when anonymous pulls are off.
    Nothing,
    /// A signed-in user: public repositories, and private ones in namespaces where the user
    /// has a role (its own name, or an organisation it belongs to).
    PublicOr { user_id: i64 },
}

impl Visibility {
    /// A condition on `r` (the `repositories` row) that keeps what the caller may see. The
    /// namespace test compares a prefix with `substr` rather than `LIKE`, whose `_` wildcard
    /// would let `a_b` match `axb`. The user id is a number from the index, not client input.
    pub(crate) fn predicate(self) -> String {
        match self {
            Visibility::All => "1 = 1".into(),
            Visibility::Public => "r.private = 0".into(),
            Visibility::Nothing => "1 = 0".into(),
            Visibility::PublicOr { user_id } => format!(
                "(r.private = 0
                  OR EXISTS (SELECT 1 FROM users vu WHERE vu.id = {user_id}
                             AND substr(r.name, 1, length(vu.name) + 1) = vu.name || '/')
                  OR EXISTS (SELECT 1 FROM org_members vm JOIN organisations vo ON vo.id = vm.org_id
                             WHERE vm.user_id = {user_id}
                             AND substr(r.name, 1, length(vo.name) + 1) = vo.name || '/'))"
            ),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SearchSort {
    /// Text rank when there is free text, else most recently updated first.
    #[default]
    Relevance,
    Updated,
    Name,
    /// Most pulled repositories first (the counts flushed by every replica, see `pulls.rs`),
    /// within a repository its most pulled tags; then by name.
    Pulls,
}

/// A parsed search; every string is matched by equality except `words` (free text) and
/// `namespace` (a repository-name prefix, whole components only).
#[derive(Debug, Clone, Default)]
pub struct SearchQuery {
    /// Lower-case alphanumeric words, all of which must match (as prefixes).
    pub words: Vec<String>,
    pub runtime_type: Option<String>,
    /// Normalised as `wasm_abis.abi` is (`0.2.1` for a known proxy-wasm ABI).
    pub abi: Option<String>,
    pub export: Option<String>,
    /// Matches an import's name or its core module name.
    pub import: Option<String>,
    pub kind: Option<String>,
    pub format: Option<String>,
    pub namespace: Option<String>,
    /// Exactly this repository (repository pages).
    pub repository: Option<String>,
    pub sort: SearchSort,
    pub offset: u64,
    pub limit: u32,
}

/// One tagged Wasm artifact.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SearchHit {
    pub repository: String,
    pub tag: String,
    pub digest: String,
    pub updated_at: i64,
    pub format: String,
    pub outcome: String,
    pub reason: Option<String>,
    pub runtime_type: Option<String>,
    pub kind: Option<String>,
    pub wasi: Option<String>,
    pub module_digest: Option<String>,
    pub module_size: Option<u64>,
    pub abis: Vec<String>,
    pub title: Option<String>,
    pub description: Option<String>,
    pub version: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Facets {
    pub runtime_type: Vec<(String, u64)>,
    pub abi: Vec<(String, u64)>,
    pub kind: Vec<(String, u64)>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SearchResults {
    pub total: u64,
    pub items: Vec<SearchHit>,
    pub facets: Facets,
}

/// Most values one facet reports.
const FACET_LIMIT: usize = 50;

/// The columns a `SearchHit` is read from (`r`, `t`, `a` aliases).
pub(crate) const HIT_COLUMNS: &str = "r.name AS repository, t.name AS tag, t.manifest_digest AS digest,
    t.updated_at AS updated_at, a.format, a.outcome, a.reason, a.runtime_type, a.kind, a.wasi,
    a.module_digest, a.module_size, a.abi_list, a.title, a.description, a.version";

pub(crate) fn read_hit(row: &AnyRow) -> Result<SearchHit, IndexError> {
    let abi_list: String = row.try_get("abi_list")?;
    Ok(SearchHit {
        repository: row.try_get("repository")?,
        tag: row.try_get("tag")?,
        digest: row.try_get("digest")?,
        updated_at: row.try_get("updated_at")?,
        format: row.try_get("format")?,
        outcome: row.try_get("outcome")?,
        reason: row.try_get("reason")?,
        runtime_type: row.try_get("runtime_type")?,
        kind: row.try_get("kind")?,
        wasi: row.try_get("wasi")?,
        module_digest: row.try_get("module_digest")?,
        module_size: row.try_get::<Option<i64>, _>("module_size")?.map(|size| size as u64),
        abis: abi_list.split(',').filter(|a| !a.is_empty()).map(str::to_owned).collect(),
        title: row.try_get("title")?,
        description: row.try_get("description")?,
        version: row.try_get("version")?,
    })
}

/// Most private repositories of a signed-in user listed by id in a search's SQL.
const OWN_LIST_LIMIT: u64 = 1_000;

impl Index {
    /// One page of tagged Wasm artifacts matching `query`, the total, and facet counts.
    ///
    /// The wanted terms (words, export, import) are resolved first (`resolve_terms`). Then one
    /// `GROUP BY facet_id` gives the exact total and all three facets (a facet row holds
    /// runtime type, kind and ABIs): over `search_counts` or the driving term's
    /// `search_terms` rows when the filters allow, else over the matching `search_entries`.
    /// On SQLite, knowing the total then picks the page's plan (see `WALK_THRESHOLD`); on
    /// PostgreSQL the page is read at the same time, planned by PostgreSQL. Either way the
    /// page's ids come from the narrow tables alone; only those rows are joined to the wide
    /// ones.
    pub async fn search(&self, query: &SearchQuery, visibility: Visibility) -> Result<SearchResults, IndexError> {
        let wanted = Filter::wanted(query);
        // On SQLite rows are counted to choose the driver among several tests (its planner,
        // without statistics, follows the order the SQL gives). On both, words are counted to
        // know whether ranking fits (see `RANK_LIMIT`).
        let ranked = !query.words.is_empty() && query.sort == SearchSort::Relevance;
        let count_cap = match self.backend() {
            Backend::Sqlite if wanted.len() > 1 => terms::COUNT_CAP,
            _ if ranked => RANK_LIMIT + 1,
            _ => 0,
        };
        let (resolved, entries) = self.resolve_terms(&wanted, count_cap).await?;
        let visibility = self.own_private_repositories(visibility).await?;
        let Some(filter) = Filter::new(self.backend(), query, visibility, resolved) else {
            return Ok(SearchResults::default());
        };
        let counts_sql = format!(
            "SELECT g.facet_id, g.n, f.runtime_type, f.kind, fa.abi
             FROM ({}) g
             JOIN search_facets f ON f.id = g.facet_id
             LEFT JOIN search_facet_abis fa ON fa.facet_id = g.facet_id",
            grouped_sql(self.backend(), &filter)
        );
        let rank = self.text_rank(query, &filter);
        let extra: Vec<String> = rank.iter().map(|rank| rank.argument.clone()).collect();
        if self.backend() == Backend::Postgres && query.sort != SearchSort::Pulls && query.limit > 0 {
            // The page's SQL does not depend on the total here (PostgreSQL's planner chooses
            // between walking an index in the page's order and reading the matches, from its
            // statistics), so both run at once, on two connections: for two words in 17,000
            // modules each, 6 ms to count and 5 ms for the page, one after the other before.
            let items_sql = self.planned_page_sql(query, &filter, rank.as_ref());
            let (counts, items) = tokio::try_join!(
                filter.bind(&counts_sql, &[]).fetch_all(&self.search_pool),
                filter.bind(&items_sql, &extra).fetch_all(&self.search_pool),
            )?;
            let (total, facets) = tally(&counts)?;
            return Ok(SearchResults { total, items: items.iter().map(read_hit).collect::<Result<_, _>>()?, facets });
        }
        let counts = filter.bind(&counts_sql, &[]).fetch_all(&self.search_pool).await?;
        let (total, facets) = tally(&counts)?;
        if total <= query.offset || query.limit == 0 {
            return Ok(SearchResults { total, items: Vec::new(), facets });
        }
        if query.sort == SearchSort::Pulls {
            let items = self.pulls_page(query, &filter, total).await?;
            return Ok(SearchResults { total, items, facets });
        }
        let items_sql = self.page_sql(query, &filter, total, entries, rank.as_ref());
        let items = filter.bind(&items_sql, &extra).fetch_all(&self.search_pool).await?;
        Ok(SearchResults { total, items: items.iter().map(read_hit).collect::<Result<_, _>>()?, facets })
    }

    /// For a signed-in user, the private repositories they may see, listed when there are at
    /// most `OWN_LIST_LIMIT`: a literal `IN` list costs nothing per row, where the predicate
    /// made PostgreSQL scan every entry (44 ms at 100,000 modules); none at all makes it the
    /// anonymous caller's search.
    async fn own_private_repositories(
        &self,
        visibility: Visibility,
    ) -> Result<(Visibility, Option<String>), IndexError> {
        if !matches!(visibility, Visibility::PublicOr { .. }) {
            return Ok((visibility, None));
        }
        let sql = format!(
            "SELECT r.id FROM repositories r WHERE r.private <> 0 AND {} LIMIT {}",
            visibility.predicate(),
            OWN_LIST_LIMIT + 1
        );
        let ids: Vec<i64> = sqlx::query_scalar(&sql).fetch_all(&self.pool).await?;
        Ok(match ids.len() {
            0 => (Visibility::Public, None),
            n if n as u64 > OWN_LIST_LIMIT => (visibility, None),
            _ => (visibility, Some(ids.iter().map(i64::to_string).collect::<Vec<_>>().join(", "))),
        })
    }
}

/// Per facet row, the matches of `filter` (`facet_id`, `n`). Kept per (facet row, privacy) in
/// `search_counts`, a few rows whatever the number of modules; or per (term, artifact) with the
/// artifact's facet row, privacy and tag count in `search_terms`: one index range over the
/// driving term's rows, each probing the other terms. Otherwise counted over the entries.
///
/// A signed-in user sees public entries and the private ones of their namespaces: the public
/// count is the anonymous caller's, and the few private entries the user may see are counted
/// from those repositories' entries (`s.private <> 0` and public entries are disjoint).
/// Counting every visible entry instead took 30-50 ms at 100,000 modules.
fn grouped_sql(backend: Backend, filter: &Filter) -> String {
    if let (true, Visibility::PublicOr { .. }) = (filter.counted, filter.visibility) {
        let public = grouped_sql(backend, &filter.seen_by(Visibility::Public));
        let own = filter.own_private_entry();
        // From the user's private repositories' entries, whatever SQLite's planner would guess.
        let source = match backend {
            Backend::Sqlite => "search_entries s INDEXED BY search_entries_by_tag",
            Backend::Postgres => "search_entries s",
        };
        let private = filter.seen_by(Visibility::All).matches_sql(false, source, "", Probe::List, &[&own]);
        return format!(
            "SELECT u.facet_id, CAST(SUM(u.n) AS BIGINT) AS n
             FROM ({public} UNION ALL SELECT s.facet_id, COUNT(*) AS n {private} GROUP BY s.facet_id) u
             GROUP BY u.facet_id"
        );
    }
    if !filter.counted {
        let matches = filter.matches_sql(filter.driven(), "search_entries s", "", Probe::List, &[]);
        return format!("SELECT s.facet_id, COUNT(*) AS n {matches} GROUP BY s.facet_id");
    }
    let (from, n, mut tests) = match filter.driving() {
        None => ("search_counts c", "c.n", Vec::new()),
        Some(driver) => (
            "search_terms c",
            "c.tag_count",
            std::iter::once(driver.on("c")).chain(filter.probes().map(|test| test.probe("c.artifact_id"))).collect(),
        ),
    };
    tests.extend(filter.facet.iter().map(|facet| format!("c.facet_id {facet}")));
    match filter.visibility {
        Visibility::Public => tests.push("c.private = 0".into()),
        Visibility::Nothing => tests.push("1 = 0".into()),
        _ => {}
    }
    let tests = if tests.is_empty() { String::new() } else { format!("WHERE {}", tests.join(" AND ")) };
    format!(
        "SELECT c.facet_id, CAST(SUM({n}) AS BIGINT) AS n FROM {from} {tests} GROUP BY c.facet_id HAVING SUM({n}) > 0"
    )
}

/// The total and the facets from per-facet-row counts: one row per (facet row, ABI), so a
/// facet row's count is taken once for the total, runtime type and kind, and once per ABI.
fn tally(rows: &[AnyRow]) -> Result<(u64, Facets), IndexError> {
    use std::collections::{BTreeMap, BTreeSet};
    let mut seen = BTreeSet::new();
    let mut total = 0;
    let (mut runtime_type, mut kind, mut abi) = (BTreeMap::new(), BTreeMap::new(), BTreeMap::new());
    for row in rows {
        let n = row.try_get::<i64, _>("n")? as u64;
        if let Some(value) = row.try_get::<Option<String>, _>("abi")? {
            *abi.entry(value).or_insert(0) += n;
        }
        if !seen.insert(row.try_get::<i64, _>("facet_id")?) {
            continue;
        }
        total += n;
        if let Some(value) = row.try_get::<Option<String>, _>("runtime_type")? {
            *runtime_type.entry(value).or_insert(0) += n;
        }
        if let Some(value) = row.try_get::<Option<String>, _>("kind")? {
            *kind.entry(value).or_insert(0) += n;
        }
    }
    // Most frequent first, then by value; at most FACET_LIMIT values each.
    let ranked = |counts: BTreeMap<String, u64>| {
        let mut counts: Vec<(String, u64)> = counts.into_iter().collect();
        counts.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        counts.truncate(FACET_LIMIT);
        counts
    };
    Ok((total, Facets { runtime_type: ranked(runtime_type), abi: ranked(abi), kind: ranked(kind) }))
}

/// Most words one free-text query uses; the rest are ignored.
const MAX_QUERY_WORDS: usize = 16;
/// Longest word kept (longer ones are cut), so a pasted blob cannot make a huge query.
const MAX_WORD_CHARS: usize = 64;

/// The words of `text` as both backends index and match them: lower-case runs of letters and
/// digits. Stored text and queries both go through this, so `envoy_proxy`, `team/filter` and
/// `https://example.com` split the same way on SQLite and PostgreSQL.
pub fn text_words(text: &str) -> Vec<String> {
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|word| !word.is_empty())
        .map(|word| word.chars().take(MAX_WORD_CHARS).collect::<String>().to_lowercase())
        .collect()
}

/// The words of a free-text query (at most `MAX_QUERY_WORDS`).
pub fn query_words(text: &str) -> Vec<String> {
    let mut words = text_words(text);
    words.truncate(MAX_QUERY_WORDS);
    words
}
