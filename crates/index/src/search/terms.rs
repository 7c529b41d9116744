//! Artifact-level filters: exports, imports and free-text words, all read from `search_terms`
//! (one row per (field, term, artifact) with the artifact's facet row, privacy and tag count;
//! migrations 0005 and 0010).
//!
//! A word matches as a prefix. Before a search is planned, each word is resolved against the
//! stored words: none (nothing can match), exactly one (the common case: a whole word typed;
//! then it is an equality test like an export), or several (a range of terms, which can hold
//! two rows of one artifact). One test with an equality is chosen to *drive* the search: its
//! rows are read in order and every other test probes the primary key per row. Counting
//! through a driver needs no join at all, as each row carries what a total and the facets
//! need; the full-text index (FTS5, tsvector) is left to ranking a short list.

use sqlx::Row;

use crate::{Index, IndexError};

/// Rows of one term counted before planning, at most: enough to choose the narrowest driver
/// and to tell whether ranking fits `RANK_LIMIT`, without reading a common word's every row.
pub(super) const COUNT_CAP: u64 = 5_000;

/// One field of `search_terms`: what `field` holds for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Field {
    Export,
    Import,
    Word,
}

impl Field {
    fn as_str(self) -> &'static str {
        match self {
            Field::Export => "export",
            Field::Import => "import",
            Field::Word => "word",
        }
    }
}

/// How a test matches `term`, with its parameter numbers in the search's argument list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Matcher {
    Equal(usize),
    /// `low <= term < high`: every stored word that starts with a prefix.
    Range {
        low: usize,
        high: usize,
    },
}

/// One artifact-level test of a search.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct TermTest {
    pub field: Field,
    pub matcher: Matcher,
    /// Rows of `search_terms` it matches, counted up to `COUNT_CAP`.
    pub rows: u64,
}

impl TermTest {
    /// The test as a condition on the `search_terms` row `alias`.
    pub fn on(&self, alias: &str) -> String {
        let field = self.field.as_str();
        match self.matcher {
            Matcher::Equal(n) => format!("{alias}.field = '{field}' AND {alias}.term = ${n}"),
            Matcher::Range { low, high } => {
                format!("{alias}.field = '{field}' AND {alias}.term >= ${low} AND {alias}.term < ${high}")
            }
        }
    }

    /// The test on an artifact id (`column`): a primary-key probe per row.
    pub fn probe(&self, column: &str) -> String {
        format!("EXISTS (SELECT 1 FROM search_terms x WHERE {} AND x.artifact_id = {column})", self.on("x"))
    }

    /// The test on an artifact id as membership of the list of matching artifacts, read once:
    /// for plans that visit most of the list anyway.
    pub fn list(&self, column: &str) -> String {
        format!("{column} IN (SELECT x.artifact_id FROM search_terms x WHERE {})", self.on("x"))
    }
}

/// What is known of one requested term before planning.
pub(super) enum Resolved {
    /// No stored term matches: the search finds nothing.
    Nothing,
    /// Match this stored term exactly (`rows` counted up to `COUNT_CAP`).
    Exact { term: String, rows: u64 },
    /// Several stored terms start with the prefix.
    Prefix { rows: u64 },
}

/// A term requested by a search, before resolution.
pub(super) struct Wanted<'a> {
    pub field: Field,
    pub value: &'a str,
    /// A word, matched as a prefix; exports and imports match whole.
    pub prefix: bool,
}

/// The first string above every string that starts with `prefix`, bytewise (SQLite's BINARY
/// collation, `COLLATE "C"` on PostgreSQL): stored words are letters and digits, which never
/// encode to bytes above those of U+10FFFF.
pub(super) fn prefix_end(prefix: &str) -> String {
    format!("{prefix}\u{10FFFF}")
}

impl Index {
    /// Resolves every wanted term in one statement: for a prefix, its first and last stored
    /// term; for each, its rows counted up to `COUNT_CAP`. Each subquery is an index seek or a
    /// bounded range of `search_terms`' primary key.
    /// Rows are counted up to `cap` (at most `COUNT_CAP`; 0: not counted, reported as
    /// `u64::MAX`). Also reads how many entries there are in all (for the page's plan).
    pub(super) async fn resolve_terms(
        &self,
        wanted: &[Wanted<'_>],
        cap: u64,
    ) -> Result<(Vec<Resolved>, u64), IndexError> {
        let cap = cap.min(COUNT_CAP);
        if wanted.is_empty() {
            return Ok((Vec::new(), 0));
        }
        let mut args: Vec<String> = Vec::new();
        let mut columns = Vec::new();
        for (i, term) in wanted.iter().enumerate() {
            let field = term.field.as_str();
            args.push(term.value.to_owned());
            let low = args.len();
            let range = if term.prefix {
                args.push(prefix_end(term.value));
                format!("field = '{field}' AND term >= ${low} AND term < ${}", args.len())
            } else {
                format!("field = '{field}' AND term = ${low}")
            };
            let rows = match cap {
                0 => "-1".to_owned(),
                cap => format!("(SELECT COUNT(*) FROM (SELECT 1 FROM search_terms WHERE {range} LIMIT {cap}) c{i})"),
            };
            columns.push(format!(
                "(SELECT term FROM search_terms WHERE {range} ORDER BY term LIMIT 1) AS first{i},
                 (SELECT term FROM search_terms WHERE {range} ORDER BY term DESC LIMIT 1) AS last{i},
                 CAST({rows} AS BIGINT) AS rows{i}"
            ));
        }
        let sql =
            format!("SELECT {}, (SELECT CAST(SUM(n) AS BIGINT) FROM search_counts) AS entries", columns.join(", "));
        let row =
            args.iter().fold(sqlx::query(&sql), |query, arg| query.bind(arg.as_str())).fetch_one(&self.pool).await?;
        let entries = row.try_get::<Option<i64>, _>("entries")?.unwrap_or(0) as u64;
        let resolved = (0..wanted.len())
            .map(|i| {
                let first: Option<String> = row.try_get(format!("first{i}").as_str())?;
                let last: Option<String> = row.try_get(format!("last{i}").as_str())?;
                let rows = u64::try_from(row.try_get::<i64, _>(format!("rows{i}").as_str())?).unwrap_or(u64::MAX);
                Ok(match (first, last) {
                    (Some(first), Some(last)) if first == last => Resolved::Exact { term: first, rows },
                    (Some(_), Some(_)) => Resolved::Prefix { rows },
                    _ => Resolved::Nothing,
                })
            })
            .collect::<Result<_, IndexError>>()?;
        Ok((resolved, entries))
    }
}

#[cfg(test)]
mod tests {
    use super::prefix_end;

    #[test]
    fn a_prefix_range_holds_every_longer_word_and_nothing_else() {
        let end = prefix_end("rate");
        for word in ["rate", "ratelimit", "rate9", "rateé", "rate漢字"] {
            assert!(word >= "rate" && word < end.as_str(), "{word}");
        }
        for word in ["rat", "ratf", "rb", "r"] {
            assert!(!(word >= "rate" && word < end.as_str()), "{word}");
        }
    }
}
