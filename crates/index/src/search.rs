//! Searching tagged Wasm modules: equality filters, free text, an exact total and facets, one
//! page of results, read from the search tables of migration 0005 (`search_entries`,
//! `search_facets`, `search_counts`, `search_terms`; kept in step by triggers).
//!
//! Every query here is built by `Filter`, so the visibility predicate (accounts and private
//! repositories, issue 8) comes from one place: `Visibility::predicate`, or the `private`
//! flag the triggers copy from it. Free text differs per backend (FTS5 on SQLite, a tsvector
//! on PostgreSQL) in `TextSearch`; the page's plan hint (SQLite has no statistics) is the
//! other place that branches on `Index::backend()`.

mod pulls_order;

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

/// The backend-specific pieces of a free-text match.
struct TextSearch {
    /// A condition on `s.artifact_id`.
    condition: String,
    /// For relevance order: a join, and the rank it gives (ascending: best first).
    rank_join: String,
    rank: String,
    /// Whether the rank join already keeps only matches (then `condition` is left out).
    rank_join_filters: bool,
    /// How many artifacts match the words alone, when ranking costs per such match.
    text_matches: Option<String>,
    argument: String,
}

impl TextSearch {
    fn new(backend: Backend, words: &[String], param: usize) -> TextSearch {
        match backend {
            // FTS5 computes bm25 for every document matching the words, whatever else the
            // search filters on; counting them first (a read of the index alone) tells
            // whether ranking fits the budget.
            Backend::Sqlite => TextSearch {
                condition: format!("s.artifact_id IN (SELECT rowid FROM wasm_fts WHERE wasm_fts MATCH ${param})"),
                rank_join: format!(
                    "JOIN (SELECT rowid AS fts_id, rank AS fts_rank FROM wasm_fts WHERE wasm_fts MATCH ${param}) f
                     ON f.fts_id = s.artifact_id"
                ),
                rank: "f.fts_rank".into(),
                rank_join_filters: true,
                text_matches: Some(format!("(SELECT COUNT(*) FROM wasm_fts WHERE wasm_fts MATCH ${param})")),
                // Words are alphanumeric (see `SearchQuery::words`), so quoting is enough.
                argument: words.iter().map(|w| format!("\"{w}\"*")).collect::<Vec<_>>().join(" "),
            },
            // ts_rank is computed for the rows that pass every filter only.
            Backend::Postgres => TextSearch {
                condition: format!(
                    "s.artifact_id IN (SELECT id FROM wasm_artifacts WHERE search_vector @@ to_tsquery('simple', ${param}))"
                ),
                rank_join: "JOIN wasm_artifacts f ON f.id = s.artifact_id".into(),
                rank: format!("-ts_rank(f.search_vector, to_tsquery('simple', ${param}))"),
                rank_join_filters: false,
                text_matches: None,
                argument: words.iter().map(|w| format!("{w}:*")).collect::<Vec<_>>().join(" & "),
            },
        }
    }
}

/// Conditions on `s` (a `search_entries` row) with their arguments, numbered in order (free
/// text, when present, is `$1`). Each
/// filter is a test on one of the columns every `search_entries` index carries (`private`,
/// `facet_id`, `artifact_id`, `repository_id`), so totals, facets and pages are read from an
/// index without visiting the wide tables.
struct Filter {
    conditions: Vec<String>,
    /// Export and import filters: (`search_terms.field`, parameter number), see `Probe`.
    artifact_tests: Vec<(&'static str, usize)>,
    args: Vec<String>,
    text: Option<TextSearch>,
    /// The facet filter, `IN (...)` of facet row ids, when there is one.
    facet: Option<String>,
    /// Whether only the facet filter and visibility apply (so `search_counts` answers totals),
    /// and at most one export or import term (then its `search_terms` rows answer them).
    counted: bool,
    visibility: Visibility,
}

/// How an artifact-level filter (exports, imports) is tested.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Probe {
    /// `artifact_id IN (list)`: the list is read once; for totals, which visit every match.
    List,
    /// `EXISTS (...)` per row: an index probe; for a page walked in order, which stops early.
    PerRow,
}

impl Filter {
    fn new(index: &Index, query: &SearchQuery, visibility: Visibility) -> Filter {
        let mut filter = Filter {
            conditions: Vec::new(),
            artifact_tests: Vec::new(),
            args: Vec::new(),
            text: None,
            facet: None,
            counted: false,
            visibility,
        };
        if !query.words.is_empty() {
            let text = TextSearch::new(index.backend(), &query.words, 1);
            filter.args.push(text.argument.clone());
            filter.text = Some(text);
        }
        // Runtime type, kind, format and ABI are properties of the facet row: one subquery for
        // all, so the few facet rows that pass drive the search.
        let mut facet = Vec::new();
        for (column, value) in [("runtime_type", &query.runtime_type), ("kind", &query.kind), ("format", &query.format)]
        {
            if let Some(value) = value {
                filter.args.push(value.clone());
                facet.push(format!("{column} = ${}", filter.args.len()));
            }
        }
        if let Some(abi) = &query.abi {
            filter.args.push(abi.clone());
            facet.push(format!("id IN (SELECT facet_id FROM search_facet_abis WHERE abi = ${})", filter.args.len()));
        }
        if !facet.is_empty() {
            let facet = format!("IN (SELECT id FROM search_facets WHERE {})", facet.join(" AND "));
            filter.conditions.push(format!("s.facet_id {facet}"));
            filter.facet = Some(facet);
        }
        filter.visibility = visibility;
        for (value, field) in [(&query.export, "export"), (&query.import, "import")] {
            if let Some(value) = value {
                filter.args.push(value.clone());
                filter.artifact_tests.push((field, filter.args.len()));
            }
        }
        filter.counted = filter.artifact_tests.len() <= 1
            && query.words.is_empty()
            && query.repository.is_none()
            && query.namespace.is_none();
        filter.add(query.repository.as_deref(), |n| {
            format!("s.repository_id IN (SELECT id FROM repositories WHERE name = ${n})")
        });
        if let Some(condition) = visibility.entry_condition() {
            filter.conditions.push(condition);
        }
        if let Some(namespace) = &query.namespace {
            // Names under `ns/` sort between `ns/` and `ns0` ('0' follows '/'), bytewise on
            // both backends: an index range, and no LIKE wildcards to escape.
            let namespace = namespace.trim_end_matches('/');
            filter.args.push(format!("{namespace}/"));
            filter.args.push(format!("{namespace}0"));
            let (low, high) = (filter.args.len() - 1, filter.args.len());
            filter.conditions.push(format!(
                "s.repository_id IN (SELECT id FROM repositories WHERE name >= ${low} AND name < ${high})"
            ));
        }
        filter
    }

    fn add(&mut self, value: Option<&str>, condition: impl FnOnce(usize) -> String) {
        if let Some(value) = value {
            self.args.push(value.to_owned());
            self.conditions.push(condition(self.args.len()));
        }
    }

    /// `WHERE ...` (or nothing), with or without the free-text condition.
    fn where_clause(&self, with_text: bool, probe: Probe) -> String {
        let text = self.text.as_ref().filter(|_| with_text).map(|text| text.condition.clone());
        let artifact_tests = self.artifact_tests.iter().map(|(field, n)| match probe {
            Probe::List => {
                format!(
                    "s.artifact_id IN (SELECT artifact_id FROM search_terms WHERE field = '{field}' AND term = ${n})"
                )
            }
            Probe::PerRow => format!(
                "EXISTS (SELECT 1 FROM search_terms x
                         WHERE x.field = '{field}' AND x.term = ${n} AND x.artifact_id = s.artifact_id)"
            ),
        });
        let conditions: Vec<String> = self.conditions.iter().cloned().chain(artifact_tests).chain(text).collect();
        if conditions.is_empty() {
            String::new()
        } else {
            format!("WHERE {}", conditions.join(" AND "))
        }
    }

    fn bind<'q>(&'q self, sql: &'q str) -> sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>> {
        self.args.iter().fold(sqlx::query(sql), |query, arg| query.bind(arg.as_str()))
    }
}

impl Visibility {
    /// The visibility predicate as a condition on a `search_entries` row `s`, whose `private`
    /// mirrors its repository's (kept in step by a trigger): `None` when everything is visible.
    /// A signed-in user's private repositories are found by `predicate` itself.
    fn entry_condition(self) -> Option<String> {
        match self {
            Visibility::All => None,
            Visibility::Public => Some("s.private = 0".into()),
            Visibility::Nothing => Some("1 = 0".into()),
            Visibility::PublicOr { .. } => Some(format!(
                "(s.private = 0 OR s.repository_id IN (SELECT r.id FROM repositories r WHERE r.private <> 0 AND {}))",
                self.predicate()
            )),
        }
    }
}

/// Free text is ordered by relevance when ranking scores at most this many modules: on SQLite
/// those matching the words (FTS5 scores them all, whatever else is filtered), on PostgreSQL
/// those matching the whole search. Broader searches list newest first. Scoring reads each
/// candidate's text: 17,000 took 20-50 ms, over the budget of a whole search, for an order
/// that a word common enough to match that many modules hardly informs.
pub const RANK_LIMIT: u64 = 2_000;

/// Above this many matches, a page is found by walking the index in the page's order until
/// the page is full (at least one row in 20 matches, so a page costs a few hundred index
/// entries); at or below it, by reading the matches and sorting them.
const WALK_THRESHOLD: u64 = 5_000;

impl Index {
    /// One page of tagged Wasm artifacts matching `query`, the total, and facet counts.
    ///
    /// First one `GROUP BY facet_id` gives the exact total and all three facets (a facet row
    /// holds runtime type, kind and ABIs): over `search_counts` or one term's `search_terms`
    /// rows when the filters allow, else over the matching `search_entries`. Knowing the total
    /// then picks the page's plan: see `RANK_LIMIT` and `WALK_THRESHOLD`. The page's ids come
    /// from `search_entries` alone; only those rows are joined to the wide tables.
    pub async fn search(&self, query: &SearchQuery, visibility: Visibility) -> Result<SearchResults, IndexError> {
        let filter = Filter::new(self, query, visibility);
        let conditions = filter.where_clause(true, Probe::List);
        let text_matches = filter.text.as_ref().and_then(|text| text.text_matches.as_deref());
        let grouped = match (filter.counted, filter.visibility) {
            // Kept per (facet row, privacy), a few rows whatever the number of modules; or per
            // (term, artifact) with the artifact's facet row, privacy and tag count: one index
            // range over the term's rows.
            (true, Visibility::All | Visibility::Public | Visibility::Nothing) => {
                let (from, n, mut tests) = match filter.artifact_tests.first() {
                    None => ("search_counts c", "c.n", Vec::new()),
                    Some((field, n)) => (
                        "search_terms c",
                        "c.tag_count",
                        vec![format!("c.field = '{field}'"), format!("c.term = ${n}")],
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
                    "SELECT c.facet_id, CAST(SUM({n}) AS BIGINT) AS n FROM {from} {tests}
                     GROUP BY c.facet_id HAVING SUM({n}) > 0"
                )
            }
            _ => format!("SELECT s.facet_id, COUNT(*) AS n FROM search_entries s {conditions} GROUP BY s.facet_id"),
        };
        let counts_sql = format!(
            "SELECT g.facet_id, g.n, f.runtime_type, f.kind, fa.abi{}
             FROM ({grouped}) g
             JOIN search_facets f ON f.id = g.facet_id
             LEFT JOIN search_facet_abis fa ON fa.facet_id = g.facet_id",
            text_matches.map(|count| format!(", {count} AS text_matches")).unwrap_or_default()
        );
        let counts = filter.bind(&counts_sql).fetch_all(&self.pool).await?;
        let (total, facets) = tally(&counts)?;
        if total <= query.offset || query.limit == 0 {
            return Ok(SearchResults { total, items: Vec::new(), facets });
        }
        let to_rank = match text_matches {
            Some(_) => counts[0].try_get::<i64, _>("text_matches")? as u64,
            None => total,
        };
        if query.sort == SearchSort::Pulls {
            let items = self.pulls_page(query, &filter, total).await?;
            return Ok(SearchResults { total, items, facets });
        }
        let items_sql = self.page_sql(query, &filter, total, to_rank);
        let items = filter.bind(&items_sql).fetch_all(&self.pool).await?;
        Ok(SearchResults { total, items: items.iter().map(read_hit).collect::<Result<_, _>>()?, facets })
    }

    /// The page's SQL, for `total` matches of which `to_rank` would be ranked by relevance.
    fn page_sql(&self, query: &SearchQuery, filter: &Filter, total: u64, to_rank: u64) -> String {
        let text = filter.text.as_ref().filter(|_| query.sort == SearchSort::Relevance && to_rank <= RANK_LIMIT);
        // Every order ends in (repository, tag), unique, so pages never overlap or skip.
        let (order, walk_index) = match (query.sort, text) {
            (SearchSort::Relevance, Some(_)) => ("fts_rank, s.updated_at DESC, s.repository, s.tag", None),
            (SearchSort::Relevance | SearchSort::Updated, _) => {
                ("s.updated_at DESC, s.repository, s.tag", Some("search_entries_by_updated"))
            }
            (SearchSort::Name, _) => ("s.repository, s.tag", Some("search_entries_by_name")),
            // Paged by `pulls_order`, never here; name order keeps the match exhaustive.
            (SearchSort::Pulls, _) => ("s.repository, s.tag", Some("search_entries_by_name")),
        };
        // SQLite's planner has no statistics to tell a broad filter from a narrow one; PostgreSQL's
        // has, and is left to choose.
        let walk = walk_index.filter(|_| total > WALK_THRESHOLD);
        let hint = match walk {
            Some(index) if self.backend() == Backend::Sqlite => format!("INDEXED BY {index}"),
            _ => String::new(),
        };
        let (rank_join, rank_column) = match text {
            Some(text) => (text.rank_join.as_str(), format!(", {} AS fts_rank", text.rank)),
            None => ("", String::new()),
        };
        // A page walked in order probes each row it passes; one read from the matches reads
        // each list once.
        let probe = if walk.is_some() { Probe::PerRow } else { Probe::List };
        let conditions = filter.where_clause(!text.is_some_and(|text| text.rank_join_filters), probe);
        format!(
            "SELECT {HIT_COLUMNS}
             FROM (SELECT s.id{rank_column} FROM search_entries s {hint} {rank_join} {conditions}
                   ORDER BY {order} LIMIT {} OFFSET {}) p
             JOIN search_entries s ON s.id = p.id
             JOIN tags t ON t.repository_id = s.repository_id AND t.name = s.tag
             JOIN wasm_artifacts a ON a.id = s.artifact_id
             JOIN repositories r ON r.id = s.repository_id
             ORDER BY {}",
            query.limit,
            query.offset,
            order.replace("fts_rank", "p.fts_rank")
        )
    }
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
