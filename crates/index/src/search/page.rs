//! One page of a search's results, in the order asked for: how free text is ranked, and how
//! each backend finds the page (SQLite from the total, PostgreSQL's planner from its
//! statistics).

use super::filter::{Filter, Probe};
use super::{SearchQuery, SearchSort, HIT_COLUMNS};
use crate::{Backend, Index};

/// Free text is ordered by relevance when its narrowest word is in at most this many modules
/// (counted before the search, up to this cap plus one): ranking then scores at most that
/// many. Broader searches list newest first. Scoring reads each candidate's text: 17,000
/// took 20-50 ms, over the budget of a whole search, for an order that a word common enough
/// to be in that many modules hardly informs. The rule is the same on both backends, and
/// known before the total is, so PostgreSQL reads the page while it counts.
pub(super) const RANK_LIMIT: u64 = 2_000;

/// Above this many matches, a page is found by walking the index in the page's order until
/// the page is full (at least one row in 20 matches, so a page costs a few hundred index
/// entries); at or below it, by reading the matches and sorting them.
pub(super) const WALK_THRESHOLD: u64 = 5_000;

/// Index entries a walk may read for a page of matches that are too few for `WALK_THRESHOLD`:
/// reading the matches instead costs a table read for each of them and a sort, several times
/// an index entry. 2,783 matches of 100,000 (two common words): a walk read ~720 entries for
/// the first page, 1 ms, against 11 ms to read and sort them all.
const WALK_BUDGET: u64 = 5_000;

/// About how many entries a walk in page order reads to fill rows up to `end`, when `total` of
/// `entries` match, spread evenly (`u64::MAX` when unknown).
fn walk_reads(entries: u64, end: u64, total: u64) -> u64 {
    if entries == 0 || total == 0 {
        return u64::MAX;
    }
    entries.saturating_mul(end) / total
}

/// How a page is ordered by relevance: a common table expression (SQLite), a join, the rank it
/// gives (ascending: best first), and the argument of its text query (bound after the
/// filter's own).
pub(super) struct TextRank {
    with: String,
    join: &'static str,
    rank: String,
    pub argument: String,
}
impl Index {
    /// How to rank a free-text search by relevance, when it is asked for and fits `RANK_LIMIT`.
    pub(super) fn text_rank(&self, query: &SearchQuery, filter: &Filter) -> Option<TextRank> {
        if query.words.is_empty() || query.sort != SearchSort::Relevance {
            return None;
        }
        if filter.fewest_word_rows? > RANK_LIMIT {
            return None;
        }
        let n = filter.args.len() + 1;
        Some(match self.backend() {
            // FTS5 scores every artifact that has the words, whatever else the search filters
            // on. Materialised once, and a left join, so the words (matched in `search_terms`)
            // decide what is found even where FTS5's tokenizer splits a word differently.
            Backend::Sqlite => TextRank {
                with: format!(
                    "WITH ranked AS MATERIALIZED
                       (SELECT rowid AS fts_id, rank AS fts_rank FROM wasm_fts WHERE wasm_fts MATCH ${n})"
                ),
                join: "LEFT JOIN ranked f ON f.fts_id = s.artifact_id",
                rank: "COALESCE(f.fts_rank, 0)".into(),
                // Words are alphanumeric (see `SearchQuery::words`), so quoting is enough.
                argument: query.words.iter().map(|w| format!("\"{w}\"*")).collect::<Vec<_>>().join(" "),
            },
            // ts_rank is computed for the rows that pass every filter only.
            Backend::Postgres => TextRank {
                with: String::new(),
                join: "JOIN wasm_artifacts f ON f.id = s.artifact_id",
                rank: format!("-ts_rank(f.search_vector, to_tsquery('simple', ${n}))"),
                argument: query.words.iter().map(|w| format!("{w}:*")).collect::<Vec<_>>().join(" & "),
            },
        })
    }

    /// The page's SQL, for `total` matches of `entries` (0: not read), ranked by `rank` when
    /// there is one: SQLite's planner has no statistics to tell a broad filter from a narrow
    /// one, so the total chooses between walking an index in the page's order and reading
    /// the matches.
    pub(super) fn page_sql(
        &self,
        query: &SearchQuery,
        filter: &Filter,
        total: u64,
        entries: u64,
        rank: Option<&TextRank>,
    ) -> String {
        let (order, walk_index) = page_order(query.sort, rank);
        let reads = walk_reads(entries, query.offset + u64::from(query.limit), total);
        let walk = walk_index.filter(|_| total > WALK_THRESHOLD || reads <= WALK_BUDGET);
        let hint = match walk {
            Some(index) if self.backend() == Backend::Sqlite => format!("INDEXED BY {index}"),
            _ => String::new(),
        };
        // A page walked in order probes each row it passes; otherwise the driver's rows (or
        // each test's list, read once) give the matches, which are sorted.
        let probe = if walk.is_some() { Probe::PerRow } else { Probe::List };
        let join = rank.map_or("", |rank| rank.join);
        let matches = filter.matches_sql(walk.is_none(), &format!("search_entries s {hint}"), join, probe, &[]);
        hits_sql(query, &matches, order, rank)
    }

    /// The page's SQL for PostgreSQL, whose planner chooses how to find it: each term is an
    /// `EXISTS`, which it may probe per entry while walking an index in the page's order (a
    /// broad search) or turn into a join of the terms' rows (a narrow one).
    pub(super) fn planned_page_sql(&self, query: &SearchQuery, filter: &Filter, rank: Option<&TextRank>) -> String {
        let (order, _) = page_order(query.sort, rank);
        let join = rank.map_or("", |rank| rank.join);
        hits_sql(query, &filter.matches_sql(false, "search_entries s", join, Probe::PerRow, &[]), order, rank)
    }
}

/// The order of a page (every order ends in (repository, tag), unique, so pages never overlap
/// or skip), and the index that walks it, if one does.
fn page_order(sort: SearchSort, rank: Option<&TextRank>) -> (&'static str, Option<&'static str>) {
    match (sort, rank) {
        (SearchSort::Relevance, Some(_)) => ("fts_rank, s.updated_at DESC, s.repository, s.tag", None),
        (SearchSort::Relevance | SearchSort::Updated, _) => {
            ("s.updated_at DESC, s.repository, s.tag", Some("search_entries_by_updated"))
        }
        (SearchSort::Name, _) => ("s.repository, s.tag", Some("search_entries_by_name")),
        // Paged by `pulls_order`, never here; name order keeps the match exhaustive.
        (SearchSort::Pulls, _) => ("s.repository, s.tag", Some("search_entries_by_name")),
    }
}

/// A page of hits: the ids of the entries `matches` (`FROM ... WHERE ...` over `s`) in `order`,
/// then only those rows joined to the wide tables.
fn hits_sql(query: &SearchQuery, matches: &str, order: &str, rank: Option<&TextRank>) -> String {
    let (with, rank_column) = match rank {
        Some(rank) => (rank.with.as_str(), format!(", {} AS fts_rank", rank.rank)),
        None => ("", String::new()),
    };
    format!(
        "{with}
         SELECT {HIT_COLUMNS}
         FROM (SELECT s.id{rank_column} {matches}
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
