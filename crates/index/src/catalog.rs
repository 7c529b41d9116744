//! Browsing: repositories with their tags, and everything known about one tag. Like search,
//! every query takes a `Visibility` and applies its predicate to the `repositories` row `r`.

use sqlx::Row;

use crate::search::{read_hit, SearchHit, HIT_COLUMNS};
use crate::{Index, IndexError, Visibility};

/// A repository in a listing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RepositorySummary {
    pub name: String,
    pub tag_count: u64,
    /// Latest tag update, or the repository's creation when it has no tags.
    pub updated_at: i64,
    /// The description of the most recently updated Wasm tag.
    pub description: Option<String>,
}

/// One tag of a repository, with its Wasm facts when it is Wasm.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TagSummary {
    pub tag: String,
    pub digest: String,
    pub updated_at: i64,
    pub wasm: Option<SearchHit>,
}

/// Everything the index knows about one tag.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TagDetails {
    pub summary: TagSummary,
    pub media_type: String,
    /// The full facts JSON, for Wasm artifacts.
    pub facts_json: Option<String>,
    /// Why the manifest cannot be pulled whole, when `fsck --repair` marked it.
    pub damaged: Option<String>,
}

impl Index {
    /// One page of repositories, by name, and how many there are.
    pub async fn repository_page(
        &self,
        visibility: Visibility,
        offset: u64,
        limit: u32,
    ) -> Result<(u64, Vec<RepositorySummary>), IndexError> {
        let predicate = visibility.predicate();
        let total = sqlx::query(&format!("SELECT COUNT(*) AS n FROM repositories r WHERE {predicate}"))
            .fetch_one(&self.pool)
            .await?
            .try_get::<i64, _>("n")? as u64;
        let rows = sqlx::query(&format!(
            "SELECT r.name, r.created_at,
                (SELECT COUNT(*) FROM tags t WHERE t.repository_id = r.id) AS tag_count,
                (SELECT MAX(t.updated_at) FROM tags t WHERE t.repository_id = r.id) AS updated_at,
                (SELECT a.description FROM tags t JOIN wasm_artifacts a
                    ON a.repository_id = t.repository_id AND a.manifest_digest = t.manifest_digest
                 WHERE t.repository_id = r.id ORDER BY t.updated_at DESC, t.name LIMIT 1) AS description
             FROM repositories r WHERE {predicate} ORDER BY r.name LIMIT {limit} OFFSET {offset}"
        ))
        .fetch_all(&self.pool)
        .await?;
        let items = rows
            .iter()
            .map(|row| {
                let created: i64 = row.try_get("created_at")?;
                Ok(RepositorySummary {
                    name: row.try_get("name")?,
                    tag_count: row.try_get::<i64, _>("tag_count")? as u64,
                    updated_at: row.try_get::<Option<i64>, _>("updated_at")?.unwrap_or(created),
                    description: row.try_get("description")?,
                })
            })
            .collect::<Result<_, IndexError>>()?;
        Ok((total, items))
    }

    /// The tags of `repository`, most recently updated first; None when it does not exist
    /// (or the caller may not see it).
    pub async fn repository_tags(
        &self,
        repository: &str,
        visibility: Visibility,
        limit: u32,
    ) -> Result<Option<Vec<TagSummary>>, IndexError> {
        let predicate = visibility.predicate();
        let exists = sqlx::query(&format!("SELECT r.id FROM repositories r WHERE r.name = $1 AND {predicate}"))
            .bind(repository)
            .fetch_optional(&self.pool)
            .await?;
        if exists.is_none() {
            return Ok(None);
        }
        let rows = sqlx::query(&format!(
            "SELECT {HIT_COLUMNS}, a.id AS artifact_id FROM tags t
             JOIN repositories r ON r.id = t.repository_id
             LEFT JOIN wasm_artifacts a ON a.repository_id = t.repository_id AND a.manifest_digest = t.manifest_digest
             WHERE r.name = $1 ORDER BY t.updated_at DESC, t.name LIMIT {limit}"
        ))
        .bind(repository)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                let is_wasm = row.try_get::<Option<i64>, _>("artifact_id")?.is_some();
                Ok(TagSummary {
                    tag: row.try_get("tag")?,
                    digest: row.try_get("digest")?,
                    updated_at: row.try_get("updated_at")?,
                    wasm: if is_wasm { Some(read_hit(row)?) } else { None },
                })
            })
            .collect::<Result<_, IndexError>>()
            .map(Some)
    }

    /// One tag with all its facts; None when the repository or tag is unknown (or hidden).
    pub async fn tag_details(
        &self,
        repository: &str,
        tag: &str,
        visibility: Visibility,
    ) -> Result<Option<TagDetails>, IndexError> {
        let predicate = visibility.predicate();
        let row = sqlx::query(&format!(
            "SELECT {HIT_COLUMNS}, a.id AS artifact_id, a.facts, m.media_type, m.damaged FROM tags t
             JOIN repositories r ON r.id = t.repository_id
             JOIN manifests m ON m.repository_id = t.repository_id AND m.digest = t.manifest_digest
             LEFT JOIN wasm_artifacts a ON a.repository_id = t.repository_id AND a.manifest_digest = t.manifest_digest
             WHERE r.name = $1 AND t.name = $2 AND {predicate}"
        ))
        .bind(repository)
        .bind(tag)
        .fetch_optional(&self.pool)
        .await?;
        let Some(row) = row else { return Ok(None) };
        let is_wasm = row.try_get::<Option<i64>, _>("artifact_id")?.is_some();
        Ok(Some(TagDetails {
            summary: TagSummary {
                tag: row.try_get("tag")?,
                digest: row.try_get("digest")?,
                updated_at: row.try_get("updated_at")?,
                wasm: if is_wasm { Some(read_hit(&row)?) } else { None },
            },
            media_type: row.try_get("media_type")?,
            facts_json: row.try_get("facts")?,
            damaged: row.try_get("damaged")?,
        }))
    }
}
