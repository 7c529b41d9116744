//! Upload sessions: a row from the first chunk on (a `POST` writes nothing: its id is signed,
//! see `wasmhub_registry::uploads`), advanced by each chunk, and ended by the final `PUT`, a
//! cancel or the collector, which leave the id in `ended_uploads` so it cannot start again.

use sqlx::Row;
use wasmhub_oci::{Digest, RepoName, UploadId};

use crate::batch::Batch;
use crate::blobs::link_blob_in;
use crate::connection::Commit;
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
    /// Whether the session has a row (it has received a chunk); an issued id's session has
    /// none before that.
    pub recorded: bool,
}

/// What the index knows of an upload id in a repository.
#[derive(Debug, Clone)]
pub enum UploadLookup {
    /// A session with a row.
    Open(UploadSession),
    /// Finished, cancelled or expired: the id may not be used again.
    Ended,
    /// Neither: a session nobody has sent a chunk to yet, if the id was issued for this
    /// repository, otherwise unknown.
    NoRow,
}

/// The session a `PUT` or a cancel ends, and whether it has a row to remove.
#[derive(Debug, Clone, Copy)]
pub struct UploadEnd {
    pub id: UploadId,
    pub recorded: bool,
}

impl Index {
    /// Gives session `id` its row (at its first chunk), unless it has one or has ended:
    /// `false` then.
    pub async fn create_upload(
        &self,
        id: UploadId,
        repository: &RepoName,
        hash_state: &[u8],
        created_at: i64,
    ) -> Result<bool, IndexError> {
        let _guard = self.write_guard().await;
        let created = sqlx::query(
            "INSERT INTO uploads (id, repository, size, hash_state, created_at, updated_at)
             SELECT $1, $2, 0, $3, $4, $5 WHERE NOT EXISTS (SELECT 1 FROM ended_uploads WHERE id = $1)
             ON CONFLICT (id) DO NOTHING",
        )
        .bind(id.to_string())
        .bind(repository.as_str())
        .bind(hash_state.to_vec())
        .bind(created_at)
        .bind(now_millis())
        .execute(&self.pool)
        .await?;
        Ok(created.rows_affected() == 1)
    }

    /// The session `id` in `repository`: one statement (plus one for the parts of a session
    /// that has bytes).
    pub async fn upload(&self, id: UploadId, repository: &RepoName) -> Result<UploadLookup, IndexError> {
        let row = sqlx::query(
            "SELECT u.size, u.hash_state, u.created_at,
                    CAST(CASE WHEN EXISTS (SELECT 1 FROM ended_uploads e WHERE e.id = $1) THEN 1 ELSE 0 END
                         AS BIGINT) AS ended
             FROM (SELECT 1 AS one) q LEFT JOIN uploads u ON u.id = $1 AND u.repository = $2",
        )
        .bind(id.to_string())
        .bind(repository.as_str())
        .fetch_one(&self.pool)
        .await?;
        if row.try_get::<i64, _>("ended")? != 0 {
            return Ok(UploadLookup::Ended);
        }
        let Some(size) = row.try_get::<Option<i64>, _>("size")? else {
            return Ok(UploadLookup::NoRow);
        };
        let size = size as u64;
        // Parts are only ever recorded together with the bytes they add, so an empty session
        // has none: no need to ask.
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
        Ok(UploadLookup::Open(UploadSession {
            repository: repository.clone(),
            size,
            hash_state: row.try_get("hash_state")?,
            parts,
            created_at: row.try_get("created_at")?,
            recorded: true,
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
        // Deferred (see `Commit`): an unfinished upload is what a database crash may take back;
        // the client's next chunk then fails on its offset and the upload starts over.
        let mut tx = self.begin_write_tx(Commit::Deferred).await?;
        let mut batch = Batch::default();
        let advance = batch
            .push("UPDATE uploads SET size = $1, hash_state = $2, updated_at = $3 WHERE id = $4 AND size = $5")
            .bind((expected_size + part_size) as i64)
            .bind(hash_state.to_vec())
            .bind(now_millis())
            .bind(id.to_string())
            .bind(expected_size as i64)
            .index();
        // Written whether or not the session advanced; rolled back when it did not.
        batch
            .push(
                "INSERT INTO upload_parts (upload_id, seq, part_key, size)
                 SELECT $1, COALESCE(MAX(seq), 0) + 1, $2, $3 FROM upload_parts WHERE upload_id = $1",
            )
            .bind(id.to_string())
            .bind(part_key)
            .bind(part_size as i64);
        if batch.run(&mut tx).await?[advance] != 1 {
            tx.rollback().await?;
            return Ok(false);
        }
        tx.commit().await?;
        Ok(true)
    }

    /// Ends a session without a blob; returns its parts' keys for deletion, or `None` if it
    /// had already ended.
    pub async fn delete_upload(&self, end: UploadEnd) -> Result<Option<Vec<String>>, IndexError> {
        let _guard = self.write_guard().await;
        let mut tx = self.begin_write().await?;
        let parts = sqlx::query("SELECT part_key FROM upload_parts WHERE upload_id = $1 ORDER BY seq")
            .bind(end.id.to_string())
            .fetch_all(&mut *tx)
            .await?
            .iter()
            .map(|row| row.try_get("part_key"))
            .collect::<Result<Vec<String>, _>>()?;
        let mut batch = Batch::default();
        let ending = end_upload_into(&mut batch, end, None);
        if !ending.ended(&batch.run(&mut tx).await?) {
            tx.rollback().await?;
            return Ok(None);
        }
        tx.commit().await?;
        Ok(Some(parts))
    }

    /// Ends a session with its verified blob: in one transaction the session ends and the
    /// blob becomes visible in the repository. Returns `false` if the session had already
    /// ended (finished concurrently elsewhere).
    pub async fn complete_upload(
        &self,
        end: UploadEnd,
        repository: &RepoName,
        digest: &Digest,
        size: u64,
    ) -> Result<bool, IndexError> {
        // Deferred, as a recording (`begin_recording`): a blob no manifest uses yet.
        let mut tx = self.begin_write_tx(Commit::Deferred).await?;
        if !link_blob_in(&mut tx, repository, digest, size, Some(end)).await? {
            tx.rollback().await?;
            return Ok(false);
        }
        tx.commit().await?;
        Ok(true)
    }

    /// Forgets ended sessions that ended before `before` (their ids have expired by then).
    pub async fn prune_ended_uploads(&self, before: std::time::SystemTime) -> Result<u64, IndexError> {
        self.delete_before("DELETE FROM ended_uploads WHERE ended_at < $1", before).await
    }
}

/// Adds the recording of `id` in `ended_uploads` to `batch`; the statement writes a row
/// unless the id was there already.
pub(crate) fn mark_ended_into(batch: &mut Batch, id: UploadId) -> usize {
    batch
        .push("INSERT INTO ended_uploads (id, ended_at) VALUES ($1, $2) ON CONFLICT (id) DO NOTHING")
        .bind(id.to_string())
        .bind(now_millis())
        .index()
}

/// The statements of a batch that end a session (`end_upload_into`).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Ending {
    marked: usize,
    deleted: Option<usize>,
}

impl Ending {
    /// Whether the session ended by this batch: `false` if it had already ended (or its row
    /// is gone), and the caller rolls back.
    pub(crate) fn ended(&self, affected: &[u64]) -> bool {
        affected[self.marked] == 1 && self.deleted.is_none_or(|deleted| affected[deleted] == 1)
    }
}

/// Adds the end of session `end` to `batch`: its id joins `ended_uploads` and its row, if it
/// has one, goes (with its parts' rows), in `repository` if given.
pub(crate) fn end_upload_into(batch: &mut Batch, end: UploadEnd, repository: Option<&RepoName>) -> Ending {
    let marked = mark_ended_into(batch, end.id);
    if !end.recorded {
        // An issued id's session without a chunk has no row. Should a chunk have given it
        // one meanwhile, that row is ended all the same (lookups see `ended_uploads` first)
        // and the collector removes it and its parts once it is stale.
        return Ending { marked, deleted: None };
    }
    let deleted = match repository {
        Some(repository) => batch
            .push("DELETE FROM uploads WHERE id = $1 AND repository = $2")
            .bind(end.id.to_string())
            .bind(repository.as_str())
            .index(),
        None => batch.push("DELETE FROM uploads WHERE id = $1").bind(end.id.to_string()).index(),
    };
    Ending { marked, deleted: Some(deleted) }
}

/// `end_upload_into` for a session whose blob is being recorded. A session without a row
/// (`recorded: false`) is ended only if no chunk has given it bytes meanwhile: its `PUT` is
/// taken for the whole blob without a look at the session first (`finish_upload`), and when
/// the session turns out to have bytes the caller rolls back, looks, and appends the body as
/// the session's last chunk instead.
pub(crate) fn end_upload_with_blob_into(batch: &mut Batch, end: UploadEnd, repository: &RepoName) -> Ending {
    if end.recorded {
        return end_upload_into(batch, end, Some(repository));
    }
    let marked = batch
        .push(
            "INSERT INTO ended_uploads (id, ended_at)
             SELECT $1, $2 WHERE NOT EXISTS (SELECT 1 FROM uploads WHERE id = $1 AND size > 0)
             ON CONFLICT (id) DO NOTHING",
        )
        .bind(end.id.to_string())
        .bind(now_millis())
        .index();
    Ending { marked, deleted: None }
}
