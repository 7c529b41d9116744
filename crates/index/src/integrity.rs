//! What `fsck` asks the index: every recorded blob, and who depends on one.

use std::collections::HashSet;

use sqlx::Row;
use wasmhub_oci::Digest;

use crate::gc::UnreferencedLink;
use crate::{Index, IndexError};

/// A blob the index records.
#[derive(Debug, Clone)]
pub struct RecordedBlob {
    pub digest: Digest,
    pub size: u64,
}

/// A manifest that references a blob.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ManifestUse {
    pub repository: String,
    pub manifest: Digest,
}

fn digest_of(text: String) -> Result<Digest, IndexError> {
    text.parse().map_err(|_| IndexError::Corrupt(format!("digest {text:?}")))
}

impl Index {
    /// Recorded blobs after `after`, in digest order.
    pub async fn recorded_blobs(&self, after: Option<&Digest>, limit: u32) -> Result<Vec<RecordedBlob>, IndexError> {
        let rows = sqlx::query("SELECT digest, size FROM blobs WHERE digest > $1 ORDER BY digest LIMIT $2")
            .bind(after.map(|d| d.to_string()).unwrap_or_default())
            .bind(i64::from(limit))
            .fetch_all(&self.pool)
            .await?;
        rows.into_iter()
            .map(|row| {
                Ok(RecordedBlob {
                    digest: digest_of(row.try_get("digest")?)?,
                    size: row.try_get::<i64, _>("size")? as u64,
                })
            })
            .collect()
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
