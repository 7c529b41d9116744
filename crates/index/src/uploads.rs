//! Upload sessions: created on `POST`, advanced by each chunk, consumed on the final `PUT`.

use sqlx::Row;
use wasmhub_oci::{Digest, RepoName, UploadId};

use crate::blobs::link_blob_in;
use crate::{now_millis, Index, IndexError};

/// The persisted state of an upload session.
#[derive(Debug, Clone)]
pub struct UploadSession {
    pub repository: RepoName,
    /// Bytes received so far.
    pub size: u64,
    /// `DigestHasher::to_state` of the bytes received so far.
    pub hash_state: Vec<u8>,
    /// Storage keys of the parts, in order.
    pub parts: Vec<String>,
    pub created_at: i64,
}

impl Index {
    pub async fn create_upload(
        &self,
        id: UploadId,
        repository: &RepoName,
        hash_state: &[u8],
    ) -> Result<(), IndexError> {
        let _guard = self.write_guard().await;
        let now = now_millis();
        sqlx::query(
            "INSERT INTO uploads (id, repository, size, hash_state, created_at, updated_at) VALUES ($1, $2, 0, $3, $4, $4)",
        )
        .bind(id.to_string())
        .bind(repository.as_str())
        .bind(hash_state.to_vec())
        .bind(now)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// The session `id`, if it exists and belongs to `repository`.
    pub async fn upload(&self, id: UploadId, repository: &RepoName) -> Result<Option<UploadSession>, IndexError> {
        let Some(row) =
            sqlx::query("SELECT size, hash_state, created_at FROM uploads WHERE id = $1 AND repository = $2")
                .bind(id.to_string())
                .bind(repository.as_str())
                .fetch_optional(&self.pool)
                .await?
        else {
            return Ok(None);
        };
        let size = row.try_get::<i64, _>("size")? as u64;
        // Parts are only ever recorded together with the bytes they add, so an empty session
        // has none: no need to ask (the common case: the PUT right after the POST).
        let parts = if size == 0 {
            Vec::new()
        } else {
            sqlx::query("SELECT part_key FROM upload_parts WHERE upload_id = $1 ORDER BY seq")
                .bind(id.to_string())
                .fetch_all(&self.pool)
                .await?
                .iter()
                .map(|row| row.try_get("part_key"))
                .collect::<Result<_, _>>()?
        };
        Ok(Some(UploadSession {
            repository: repository.clone(),
            size,
            hash_state: row.try_get("hash_state")?,
            parts,
            created_at: row.try_get("created_at")?,
        }))
    }

    /// Appends a written part, if the session is still at `expected_size` (another writer
    /// may have advanced it meanwhile: then nothing changes and `false` is returned).
    pub async fn append_upload_part(
        &self,
        id: UploadId,
        expected_size: u64,
        part_key: &str,
        part_size: u64,
        hash_state: &[u8],
    ) -> Result<bool, IndexError> {
        let _guard = self.write_guard().await;
        let mut tx = self.begin_write().await?;
        let updated =
            sqlx::query("UPDATE uploads SET size = $1, hash_state = $2, updated_at = $3 WHERE id = $4 AND size = $5")
                .bind((expected_size + part_size) as i64)
                .bind(hash_state.to_vec())
                .bind(now_millis())
                .bind(id.to_string())
                .bind(expected_size as i64)
                .execute(&mut *tx)
                .await?;
        if updated.rows_affected() != 1 {
            tx.rollback().await?;
            return Ok(false);
        }
        sqlx::query(
            "INSERT INTO upload_parts (upload_id, seq, part_key, size)
             SELECT $1, COALESCE(MAX(seq), 0) + 1, $2, $3 FROM upload_parts WHERE upload_id = $1",
        )
        .bind(id.to_string())
        .bind(part_key)
        .bind(part_size as i64)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(true)
    }

    /// Ends a session without a blob; returns its parts' keys for deletion, or `None` if
    /// there was no such session.
    pub async fn delete_upload(&self, id: UploadId) -> Result<Option<Vec<String>>, IndexError> {
        let _guard = self.write_guard().await;
        let mut tx = self.begin_write().await?;
        let parts = sqlx::query("SELECT part_key FROM upload_parts WHERE upload_id = $1 ORDER BY seq")
            .bind(id.to_string())
            .fetch_all(&mut *tx)
            .await?
            .iter()
            .map(|row| row.try_get("part_key"))
            .collect::<Result<Vec<String>, _>>()?;
        let deleted = sqlx::query("DELETE FROM uploads WHERE id = $1").bind(id.to_string()).execute(&mut *tx).await?;
        tx.commit().await?;
        Ok((deleted.rows_affected() > 0).then_some(parts))
    }

    /// Ends a session with its verified blob: in one transaction the session disappears and
    /// the blob becomes visible in the repository. Returns `false` if the session was already
    /// gone (finished concurrently elsewhere).
    pub async fn complete_upload(
        &self,
        id: UploadId,
        repository: &RepoName,
        digest: &Digest,
        size: u64,
    ) -> Result<bool, IndexError> {
        let _guard = self.write_guard().await;
        let mut tx = self.begin_write().await?;
        let deleted = sqlx::query("DELETE FROM uploads WHERE id = $1 AND repository = $2")
            .bind(id.to_string())
            .bind(repository.as_str())
            .execute(&mut *tx)
            .await?;
        if deleted.rows_affected() != 1 {
            tx.rollback().await?;
            return Ok(false);
        }
        link_blob_in(&mut tx, repository, digest, size).await?;
        tx.commit().await?;
        Ok(true)
    }
}
