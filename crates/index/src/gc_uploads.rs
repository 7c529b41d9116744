//! The collector's view of upload sessions: the abandoned ones, and which sessions exist (for
//! parts whose session is gone).

use std::collections::HashSet;
use std::time::SystemTime;

use sqlx::Row;
use wasmhub_oci::UploadId;

use crate::batch::Batch;
use crate::gc::millis;
use crate::{Index, IndexError};

/// A session nobody has added to since before the collector's cutoff.
#[derive(Debug, Clone)]
pub struct StaleUpload {
    pub id: UploadId,
    pub repository: String,
    pub size: u64,
}

impl Index {
    /// Sessions not updated since `older_than`, after `after` in id order.
    pub async fn stale_uploads(
        &self,
        older_than: SystemTime,
        after: Option<UploadId>,
        limit: u32,
    ) -> Result<Vec<StaleUpload>, IndexError> {
        let rows = sqlx::query(
            "SELECT id, repository, size FROM uploads WHERE updated_at < $1 AND id > $2 ORDER BY id LIMIT $3",
        )
        .bind(millis(older_than))
        .bind(after.map(|id| id.to_string()).unwrap_or_default())
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter()
            .map(|row| {
                let id: String = row.try_get("id")?;
                Ok(StaleUpload {
                    id: id.parse().map_err(|_| IndexError::Corrupt(format!("upload id {id:?}")))?,
                    repository: row.try_get("repository")?,
                    size: row.try_get::<i64, _>("size")? as u64,
                })
            })
            .collect()
    }

    /// Ends session `id` if it is still not updated since `older_than`; returns its parts'
    /// keys for deletion. A chunk arriving meanwhile either lands first (and the session
    /// stays) or finds the session gone and fails like any request to an unknown upload.
    pub async fn expire_upload(&self, id: UploadId, older_than: SystemTime) -> Result<Option<Vec<String>>, IndexError> {
        let _guard = self.write_guard().await;
        let mut tx = self.begin_write().await?;
        // The keys first: the parts' rows go with the session (ON DELETE CASCADE).
        let parts = sqlx::query("SELECT part_key FROM upload_parts WHERE upload_id = $1 ORDER BY seq")
            .bind(id.to_string())
            .fetch_all(&mut *tx)
            .await?
            .iter()
            .map(|row| row.try_get("part_key"))
            .collect::<Result<Vec<String>, _>>()?;
        // A chunk appended after that read also moved `updated_at`, so the session stays.
        let mut batch = Batch::default();
        let deleted = batch
            .push("DELETE FROM uploads WHERE id = $1 AND updated_at < $2")
            .bind(id.to_string())
            .bind(millis(older_than))
            .index();
        batch.push("DELETE FROM upload_parts WHERE upload_id = $1").bind(id.to_string());
        // An issued id with no row is an open, empty session until it expires: the expired
        // session must not come back as one.
        crate::uploads::mark_ended_into(&mut batch, id);
        if batch.run(&mut tx).await?[deleted] == 0 {
            tx.rollback().await?;
            return Ok(None);
        }
        tx.commit().await?;
        Ok(Some(parts))
    }

    /// Which of `ids` are open sessions.
    pub async fn existing_uploads(&self, ids: &[UploadId]) -> Result<HashSet<UploadId>, IndexError> {
        if ids.is_empty() {
            return Ok(HashSet::new());
        }
        let list: Vec<String> = (1..=ids.len()).map(|n| format!("${n}")).collect();
        let sql = format!("SELECT id FROM uploads WHERE id IN ({})", list.join(", "));
        let mut query = sqlx::query(&sql);
        for id in ids {
            query = query.bind(id.to_string());
        }
        let rows = query.fetch_all(&self.pool).await?;
        rows.into_iter()
            .map(|row| {
                let id: String = row.try_get("id")?;
                id.parse().map_err(|_| IndexError::Corrupt(format!("upload id {id:?}")))
            })
            .collect()
    }
}
