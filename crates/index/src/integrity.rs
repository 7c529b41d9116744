//! What `fsck` asks the index: every recorded blob, and who depends on one.

use std::collections::HashSet;

use sqlx::Row;
use wasmhub_oci::Digest;

use crate::gc::UnreferencedLink;
use crate::{digest_of, Index, IndexError};

/// A blob the index records.
#[derive(Debug, Clone)]
pub struct RecordedBlob {
    pub digest: Digest,
    pub size: u64,
    /// When fsck last re-hashed it and found it intact (Unix milliseconds).
    pub verified_at: Option<i64>,
}

/// A manifest that references a blob.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ManifestUse {
    pub repository: String,
    pub manifest: Digest,
}

impl Index {
    /// Recorded blobs after `after`, in digest order.
    pub async fn recorded_blobs(&self, after: Option<&Digest>, limit: u32) -> Result<Vec<RecordedBlob>, IndexError> {
        let rows =
            sqlx::query("SELECT digest, size, verified_at FROM blobs WHERE digest > $1 ORDER BY digest LIMIT $2")
                .bind(after.map(|d| d.to_string()).unwrap_or_default())
                .bind(i64::from(limit))
                .fetch_all(&self.pool)
                .await?;
        rows.into_iter()
            .map(|row| {
                Ok(RecordedBlob {
                    digest: digest_of(row.try_get("digest")?)?,
                    size: row.try_get::<i64, _>("size")? as u64,
                    verified_at: row.try_get("verified_at")?,
                })
            })
            .collect()
    }

    /// How many recorded blobs were not verified since `since` (Unix milliseconds; `None`:
    /// all of them).
    pub async fn blobs_unverified_since(&self, since: Option<i64>) -> Result<u64, IndexError> {
        let row = sqlx::query("SELECT COUNT(*) AS n FROM blobs WHERE verified_at IS NULL OR verified_at < $1")
            .bind(since.unwrap_or(i64::MAX))
            .fetch_one(&self.pool)
            .await?;
        Ok(row.try_get::<i64, _>("n")? as u64)
    }

    /// Records that `digests` were re-hashed and found intact at `at` (Unix milliseconds).
    pub async fn mark_verified(&self, digests: &[Digest], at: i64) -> Result<(), IndexError> {
        if digests.is_empty() {
            return Ok(());
        }
        let _guard = self.write_guard().await;
        let list: Vec<String> = (2..digests.len() + 2).map(|n| format!("${n}")).collect();
        let sql = format!("UPDATE blobs SET verified_at = $1 WHERE digest IN ({})", list.join(", "));
        let mut query = sqlx::query(&sql).bind(at);
        for digest in digests {
            query = query.bind(digest.to_string());
        }
        query.execute(&self.pool).await?;
        Ok(())
    }

    /// Marks every manifest that references `digest` as damaged, with `reason`; returns how
    /// many were marked. Pulls still work as far as they can (a missing blob is `BLOB_UNKNOWN`).
    pub async fn mark_damaged(&self, digest: &Digest, reason: &str) -> Result<u64, IndexError> {
        let _guard = self.write_guard().await;
        let marked = sqlx::query(
            "UPDATE manifests SET damaged = $2 WHERE EXISTS (
                SELECT 1 FROM manifest_blobs mb WHERE mb.repository_id = manifests.repository_id
                  AND mb.manifest_digest = manifests.digest AND mb.blob_digest = $1)",
        )
        .bind(digest.to_string())
        .bind(reason)
        .execute(&self.pool)
        .await?;
        Ok(marked.rows_affected())
    }

    /// Why `repository`'s manifest `digest` is damaged, if fsck marked it.
    pub async fn manifest_damage(&self, repository: &str, digest: &Digest) -> Result<Option<String>, IndexError> {
        let row = sqlx::query(
            "SELECT m.damaged FROM manifests m JOIN repositories r ON r.id = m.repository_id
             WHERE r.name = $1 AND m.digest = $2",
        )
        .bind(repository)
        .bind(digest.to_string())
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.map(|row| row.try_get::<Option<String>, _>("damaged")).transpose()?.flatten())
    }

    /// The size the index records for `digest`, if it records it.
    pub async fn recorded_blob(&self, digest: &Digest) -> Result<Option<u64>, IndexError> {
        let row = sqlx::query("SELECT size FROM blobs WHERE digest = $1")
            .bind(digest.to_string())
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.map(|row| row.try_get::<i64, _>("size")).transpose()?.map(|size| size as u64))
    }

    /// Up to `limit` manifests that reference `digest`, by repository name.
    pub async fn manifests_using(&self, digest: &Digest, limit: u32) -> Result<Vec<ManifestUse>, IndexError> {
        let rows = sqlx::query(
            "SELECT r.name, mb.manifest_digest FROM manifest_blobs mb JOIN repositories r ON r.id = mb.repository_id
             WHERE mb.blob_digest = $1 ORDER BY r.name, mb.manifest_digest LIMIT $2",
        )
        .bind(digest.to_string())
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter()
            .map(|row| {
                Ok(ManifestUse {
                    repository: row.try_get("name")?,
                    manifest: digest_of(row.try_get("manifest_digest")?)?,
                })
            })
            .collect()
    }

    /// Every repository link to `digest` (to remove them one by one with `expire_link`).
    pub async fn links_to(&self, digest: &Digest) -> Result<Vec<UnreferencedLink>, IndexError> {
        let rows = sqlx::query(
            "SELECT rb.repository_id, r.name FROM repository_blobs rb JOIN repositories r ON r.id = rb.repository_id
             WHERE rb.digest = $1 ORDER BY rb.repository_id",
        )
        .bind(digest.to_string())
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter()
            .map(|row| {
                Ok(UnreferencedLink {
                    repository_id: row.try_get("repository_id")?,
                    repository: row.try_get("name")?,
                    digest: digest.clone(),
                })
            })
            .collect()
    }

    /// Which of `digests` the index records, or a writer is placing right now.
    pub async fn known_digests(&self, digests: &[Digest]) -> Result<HashSet<Digest>, IndexError> {
        if digests.is_empty() {
            return Ok(HashSet::new());
        }
        let placeholders: Vec<String> = (1..=digests.len()).map(|n| format!("${n}")).collect();
        let list = placeholders.join(", ");
        let sql = format!(
            "SELECT digest FROM blobs WHERE digest IN ({list})
             UNION SELECT digest FROM blob_locks WHERE holds > 0 AND digest IN ({list})"
        );
        let mut query = sqlx::query(&sql);
        for digest in digests {
            query = query.bind(digest.to_string());
        }
        let rows = query.fetch_all(&self.pool).await?;
        rows.into_iter().map(|row| digest_of(row.try_get("digest")?)).collect()
    }
}
