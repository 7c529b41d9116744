//! The page of a `sort=pulls` search without sorting every match.
//!
//! The order is (repository pulls, tag pulls, repository, tag), descending pulls first. Only
//! repositories that were pulled have a `repository_pulls` row (counts are only ever added, so
//! a row means at least one pull), and only they have `tag_pulls` rows. So the matches fall in
//! two runs: those in pulled repositories, ordered by their counts, read from the few pulled
//! repositories' entries; then everything else, in name order, which an index walks. A page
//! takes what it needs from each run. Sorting all matches by a joined count instead took
//! 43 ms for the home page's "Most pulled" list at 100,000 modules.

use super::{read_hit, Filter, Probe, SearchHit, SearchQuery, HIT_COLUMNS, WALK_THRESHOLD};
use crate::{Backend, Index, IndexError};

/// Entries of pulled repositories, with their counts, read from the pulled repositories:
/// `CROSS JOIN` fixes that join order on SQLite, whose planner (without statistics) otherwise
/// scanned every entry to probe `repository_pulls`. `PULLED_JOIN` goes into the `WHERE`.
const PULLED: &str = "repository_pulls rp CROSS JOIN search_entries s";
const PULLED_TAGS: &str = "LEFT JOIN tag_pulls tp ON tp.repository_id = s.repository_id AND tp.tag = s.tag";
const PULLED_JOIN: &str = "s.repository_id = rp.repository_id";

impl Index {
    /// One page, in pull order, of the `total` matches of `filter`.
    pub(super) async fn pulls_page(
        &self,
        query: &SearchQuery,
        filter: &Filter,
        total: u64,
    ) -> Result<Vec<SearchHit>, IndexError> {
        let pulled_from = filter.matches_sql(false, PULLED, PULLED_TAGS, Probe::List, &[PULLED_JOIN]);
        let count_sql = format!("SELECT COUNT(*) AS n {pulled_from}");
        let pulled: i64 = sqlx::Row::try_get(&filter.bind(&count_sql, &[]).fetch_one(&self.search_pool).await?, "n")?;
        let pulled = pulled as u64;
        let (offset, limit) = (query.offset, u64::from(query.limit));

        let mut hits = Vec::new();
        if offset < pulled {
            let take = limit.min(pulled - offset);
            let sql = with_hits(
                &format!(
                    "SELECT s.id, rp.pulls AS pulls_r, COALESCE(tp.pulls, 0) AS pulls_t
                     {pulled_from}
                     ORDER BY pulls_r DESC, pulls_t DESC, s.repository, s.tag LIMIT {take} OFFSET {offset}"
                ),
                "p.pulls_r DESC, p.pulls_t DESC, s.repository, s.tag",
            );
            for row in filter.bind(&sql, &[]).fetch_all(&self.search_pool).await? {
                hits.push(read_hit(&row)?);
            }
        }
        let wanted = limit - hits.len() as u64;
        let rest = total.saturating_sub(pulled);
        if wanted > 0 && rest > 0 {
            let skip = offset.saturating_sub(pulled);
            // The unpulled run in name order: walked along the name index when it is long.
            let walk = rest > WALK_THRESHOLD;
            let hint = if walk && self.backend() == Backend::Sqlite { "INDEXED BY search_entries_by_name" } else { "" };
            let probe = if walk { Probe::PerRow } else { Probe::List };
            let unpulled = "s.repository_id NOT IN (SELECT repository_id FROM repository_pulls)";
            let matches = filter.matches_sql(false, &format!("search_entries s {hint}"), "", probe, &[unpulled]);
            let sql = with_hits(
                &format!(
                    "SELECT s.id {matches}
                     ORDER BY s.repository, s.tag LIMIT {wanted} OFFSET {skip}"
                ),
                "s.repository, s.tag",
            );
            for row in filter.bind(&sql, &[]).fetch_all(&self.search_pool).await? {
                hits.push(read_hit(&row)?);
            }
        }
        Ok(hits)
    }
}

/// The hit columns of the entries whose ids `ids` selects (as `p.id`), in `order`.
fn with_hits(ids: &str, order: &str) -> String {
    format!(
        "SELECT {HIT_COLUMNS}
         FROM ({ids}) p
         JOIN search_entries s ON s.id = p.id
         JOIN tags t ON t.repository_id = s.repository_id AND t.name = s.tag
         JOIN wasm_artifacts a ON a.id = s.artifact_id
         JOIN repositories r ON r.id = s.repository_id
         ORDER BY {order}"
    )
}
