//! Searching tagged Wasm modules: equality filters on indexed columns and child tables, free
//! text, facets, one page of results.
//!
//! Every query here goes through `Filter::sql`, so the visibility predicate (accounts and
//! private repositories, issue 8) is added in exactly one place: `Visibility::predicate`.
//! Free text is the only part that differs per backend (FTS5 on SQLite, a tsvector on
//! PostgreSQL); `TextSearch` is the one place that branches on `Index::backend()`.

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
const FACET_LIMIT: i64 = 50;

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
    join: String,
    condition: String,
    /// Ascending: best first.
    rank: String,
    argument: String,
}

impl TextSearch {
    fn new(backend: Backend, words: &[String], param: usize) -> TextSearch {
        match backend {
            Backend::Sqlite => TextSearch {
                join: format!(
                    "JOIN (SELECT rowid AS fts_id, rank AS fts_rank FROM wasm_fts WHERE wasm_fts MATCH ${param}) f
                     ON f.fts_id = a.id"
                ),
                condition: "1 = 1".into(),
                rank: "f.fts_rank".into(),
                // Words are alphanumeric (see `SearchQuery::words`), so quoting is enough.
                argument: words.iter().map(|w| format!("\"{w}\"*")).collect::<Vec<_>>().join(" "),
            },
            Backend::Postgres => TextSearch {
                join: String::new(),
                condition: format!("a.search_vector @@ to_tsquery('simple', ${param})"),
                rank: format!("-ts_rank(a.search_vector, to_tsquery('simple', ${param}))"),
                argument: words.iter().map(|w| format!("{w}:*")).collect::<Vec<_>>().join(" & "),
            },
        }
    }
}

/// A WHERE clause with its arguments, numbered in order.
struct Filter {
    from: String,
    conditions: Vec<String>,
    args: Vec<String>,
    rank: Option<String>,
}

impl Filter {
    fn new(index: &Index, query: &SearchQuery, visibility: Visibility) -> Filter {
        let mut filter = Filter {
            from: "tags t
                JOIN wasm_artifacts a ON a.repository_id = t.repository_id AND a.manifest_digest = t.manifest_digest
                JOIN repositories r ON r.id = t.repository_id"
                .into(),
            conditions: vec![visibility.predicate()],
            args: Vec::new(),
            rank: None,
        };
        if !query.words.is_empty() {
            let text = TextSearch::new(index.backend(), &query.words, 1);
            filter.args.push(text.argument);
            filter.from = format!("{} {}", filter.from, text.join);
            filter.conditions.push(text.condition);
            filter.rank = Some(text.rank);
        }
        fn equal(column: &'static str) -> impl FnOnce(usize) -> String {
            move |n| format!("{column} = ${n}")
        }
        filter.add(query.runtime_type.as_deref(), equal("a.runtime_type"));
        filter.add(query.kind.as_deref(), equal("a.kind"));
        filter.add(query.format.as_deref(), equal("a.format"));
        filter.add(query.repository.as_deref(), equal("r.name"));
        filter.add(query.abi.as_deref(), |n| format!("a.id IN (SELECT artifact_id FROM wasm_abis WHERE abi = ${n})"));
        filter.add(query.export.as_deref(), |n| {
            format!("a.id IN (SELECT artifact_id FROM wasm_exports WHERE name = ${n})")
        });
        filter.add(query.import.as_deref(), |n| {
            format!(
                "a.id IN (SELECT artifact_id FROM wasm_imports WHERE name = ${n}
                          UNION SELECT artifact_id FROM wasm_imports WHERE module = ${n})"
            )
        });
        if let Some(namespace) = &query.namespace {
            // Names under `ns/` sort between `ns/` and `ns0` ('0' follows '/'), bytewise on
            // both backends: an index range, and no LIKE wildcards to escape.
            let namespace = namespace.trim_end_matches('/');
            filter.add(Some(&format!("{namespace}/")), |n| format!("r.name >= ${n}"));
            filter.add(Some(&format!("{namespace}0")), |n| format!("r.name < ${n}"));
        }
        filter
    }

    fn add(&mut self, value: Option<&str>, condition: impl FnOnce(usize) -> String) {
        if let Some(value) = value {
            self.args.push(value.to_owned());
            self.conditions.push(condition(self.args.len()));
        }
    }

    /// `FROM ... WHERE ...`, with `join` (another table) after the filter's own joins.
    fn sql(&self, join: &str) -> String {
        format!("FROM {} {join} WHERE {}", self.from, self.conditions.join(" AND "))
    }

    fn bind<'q>(&'q self, sql: &'q str) -> sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>> {
        self.args.iter().fold(sqlx::query(sql), |query, arg| query.bind(arg.as_str()))
    }
}

impl Index {
    /// One page of tagged Wasm artifacts matching `query`, the total, and facet counts.
    pub async fn search(&self, query: &SearchQuery, visibility: Visibility) -> Result<SearchResults, IndexError> {
        let filter = Filter::new(self, query, visibility);
        let from = filter.sql("");
        let order = match (query.sort, &filter.rank) {
            (SearchSort::Relevance, Some(rank)) => format!("{rank}, t.updated_at DESC, r.name, t.name"),
            (SearchSort::Relevance | SearchSort::Updated, _) => "t.updated_at DESC, r.name, t.name".into(),
            (SearchSort::Name, _) => "r.name, t.name".into(),
        };
        let items_sql =
            format!("SELECT {HIT_COLUMNS} {from} ORDER BY {order} LIMIT {} OFFSET {}", query.limit, query.offset);
        let total_sql = format!("SELECT COUNT(*) AS n {from}");
        let facet = |column: &str, join: &str| {
            format!(
                "SELECT {column} AS value, COUNT(*) AS n {} AND {column} IS NOT NULL
                 GROUP BY {column} ORDER BY n DESC, value LIMIT {FACET_LIMIT}",
                filter.sql(join)
            )
        };
        let runtime_sql = facet("a.runtime_type", "");
        let kind_sql = facet("a.kind", "");
        let abi_sql = facet("ab.abi", "JOIN wasm_abis ab ON ab.artifact_id = a.id");
        let (items, total, runtime_type, kind, abi) = tokio::try_join!(
            filter.bind(&items_sql).fetch_all(&self.pool),
            filter.bind(&total_sql).fetch_one(&self.pool),
            filter.bind(&runtime_sql).fetch_all(&self.pool),
            filter.bind(&kind_sql).fetch_all(&self.pool),
            filter.bind(&abi_sql).fetch_all(&self.pool),
        )?;
        let counts = |rows: Vec<AnyRow>| -> Result<Vec<(String, u64)>, IndexError> {
            rows.iter().map(|row| Ok((row.try_get("value")?, row.try_get::<i64, _>("n")? as u64))).collect()
        };
        Ok(SearchResults {
            total: total.try_get::<i64, _>("n")? as u64,
            items: items.iter().map(read_hit).collect::<Result<_, _>>()?,
            facets: Facets { runtime_type: counts(runtime_type)?, abi: counts(abi)?, kind: counts(kind)? },
        })
    }
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
