//! Blobs and their links to repositories.

use sqlx::Row;
use wasmhub_oci::{Digest, RepoName};

use crate::uploads::UploadEnd;

use crate::audit::AuditEntry;
use crate::batch::{Batch, Runner};
use crate::connection::{Commit, WriteTx};
use crate::rows::Columns;
use crate::{now_millis, Index, IndexError};

/// A blob being recorded and placed under one transaction. `write` locks the digest's fence
/// row and writes the blob's rows; the caller then places its object and commits
/// (`WrittenRecording`). Until the commit the lock keeps the garbage collector from fencing or
/// deleting the digest, and nobody sees the rows: the exclusion of a hold (see
/// `wasmhub_registry::gc`) without a transaction of its own for taking it, so one write
/// transaction per pushed blob instead of two. For placements that are quick (a rename),
/// since on SQLite every other write waits meanwhile.
pub struct BlobRecording<'a> {
    /// On SQLite it holds the write lock, and a dropped recording rolls back before the next
    /// writer of this process may begin.
    tx: WriteTx<'a>,
    digest: Digest,
}

/// A recording whose rows are written: the caller places the object, then commits (or
/// abandons, if placing failed). Dropped, it rolls back.
pub struct WrittenRecording<'a> {
    tx: WriteTx<'a>,
}

impl<'a> BlobRecording<'a> {
    /// Locks the digest against the collector and writes the blob's row and its link into
    /// `repository`, all in one batch (one round trip on PostgreSQL); with `upload`, that
    /// session ends too. `None`, rolled back, when the session had ended (finished or
    /// cancelled concurrently), or when a session without a row of its own had one with bytes
    /// (`end_upload_with_blob_into`); `BlobBeingCollected` while the collector is deleting the
    /// digest (the caller waits and begins again).
    pub async fn write(
        mut self,
        repository: &RepoName,
        size: u64,
        upload: Option<UploadEnd>,
    ) -> Result<Option<WrittenRecording<'a>>, IndexError> {
        let mut fenced = Batch::default();
        let fence = match &self.tx {
            // `BEGIN IMMEDIATE` holds the database's only write lock, which already excludes
            // the collector: reading the row is enough.
            WriteTx::Sqlite(_) => crate::gc::check_fence_into(&mut fenced, &self.digest),
            // Takes no hold: the upsert locks the row until commit, and the row is removed
            // again at once unless someone holds it (the deleted row stays locked as long).
            WriteTx::Postgres(_) => crate::gc::lock_fence_into(&mut fenced, &self.digest, "blob_locks.holds"),
        };
        if !record_blob_in(&mut self.tx, fenced, Some(fence), repository, &self.digest, size, upload).await? {
            self.tx.rollback().await?;
            return Ok(None);
        }
        Ok(Some(WrittenRecording { tx: self.tx }))
    }
}

impl WrittenRecording<'_> {
    /// Makes the recording visible: the caller has placed the object.
    pub async fn commit(self) -> Result<(), IndexError> {
        self.tx.commit().await
    }

    /// Gives up (placing the object failed): nothing is recorded.
    pub async fn abandon(self) -> Result<(), IndexError> {
        self.tx.rollback().await
    }
}

/// Returns the id of `repository`, creating the row on first use (one statement when the
/// repository exists, which is almost always).
pub(crate) async fn ensure_repository(conn: &mut impl Runner, repository: &RepoName) -> Result<i64, IndexError> {
    let read_id =
        |batch: &mut Batch| batch.push("SELECT id FROM repositories WHERE name = $1").bind(repository.as_str()).index();
    let mut lookup = Batch::default();
    let id = read_id(&mut lookup);
    if let Some(row) = lookup.run_returning(conn).await?[id].rows.first() {
        return row.field("id");
    }
    let mut create = Batch::default();
    create
        .push("INSERT INTO repositories (name, created_at) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING")
        .bind(repository.as_str())
        .bind(now_millis());
    let id = read_id(&mut create);
    match create.run_returning(conn).await?[id].rows.first() {
        Some(row) => row.field("id"),
        None => Err(IndexError::Corrupt(format!("repository {repository} has no row after its insert"))),
    }
}

/// Records a verified blob and links it into `repository`, within the caller's transaction,
/// giving back the hold the caller took before placing the object; with `upload`, that
/// session ends too (`false`, and the caller rolls back, if it had ended already).
pub(crate) async fn link_blob_in(
    conn: &mut impl Runner,
    repository: &RepoName,
    digest: &Digest,
    size: u64,
    upload: Option<UploadEnd>,
) -> Result<bool, IndexError> {
    // First, so that the digest's fence row stays locked until commit (see `gc.rs`).
    crate::gc::release_hold_in(conn, digest).await?;
    record_blob_in(conn, Batch::default(), None, repository, digest, size, upload).await
}

/// Ends `upload` (if given) and records the blob and its link, in one batch within the
/// caller's transaction, after the statements `batch` already holds; the caller has locked the
/// digest's fence row, or has its lock or read in `batch` at the statement `fence` names
/// (`BlobBeingCollected` when it says the collector is at the digest). `false` when the
/// session had ended already: the caller rolls back.
async fn record_blob_in(
    conn: &mut impl Runner,
    mut batch: Batch,
    fence: Option<usize>,
    repository: &RepoName,
    digest: &Digest,
    size: u64,
    upload: Option<UploadEnd>,
) -> Result<bool, IndexError> {
    let ending = upload.map(|end| crate::uploads::end_upload_with_blob_into(&mut batch, end, repository));
    let link = record_blob_into(&mut batch, repository, digest, size);
    let outcomes = batch.run_returning(conn).await?;
    if let Some(statement) = fence {
        crate::gc::refuse_if_collecting(&outcomes[statement].rows, digest)?;
    }
    let affected: Vec<u64> = outcomes.iter().map(|outcome| outcome.affected).collect();
    if ending.is_some_and(|ending| !ending.ended(&affected)) {
        return Ok(false);
    }
    link.finish(conn, &affected).await?;
    Ok(true)
}

/// A blob's link written by a batch, which `finish` completes once the batch has run.
struct PendingLink<'a> {
    repository: &'a RepoName,
    digest: &'a Digest,
    now: i64,
    statement: usize,
}

impl PendingLink<'_> {
    /// The link names its repository by a subquery, so an existing repository (almost always)
    /// costs no statement of its own. For a repository's first blob it wrote nothing: the
    /// repository gets its row and the link is written again.
    async fn finish(self, conn: &mut impl Runner, affected: &[u64]) -> Result<(), IndexError> {
        if affected[self.statement] == 0 {
            ensure_repository(conn, self.repository).await?;
            let mut batch = Batch::default();
            link_into(&mut batch, self.repository, self.digest, self.now);
            batch.run(conn).await?;
        }
        Ok(())
    }
}

/// Adds the rows of a recorded blob and its link to `batch`.
fn record_blob_into<'a>(batch: &mut Batch, repository: &'a RepoName, digest: &'a Digest, size: u64) -> PendingLink<'a> {
    let now = now_millis();
    batch
        .push("INSERT INTO blobs (digest, size, created_at) VALUES ($1, $2, $3) ON CONFLICT (digest) DO NOTHING")
        .bind(digest.to_string())
        .bind(size as i64)
        .bind(now);
    let statement = link_into(batch, repository, digest, now);
    PendingLink { repository, digest, now, statement }
}

/// Adds the link of `digest` into `repository` (if that repository exists) to `batch`.
pub(crate) fn link_into(batch: &mut Batch, repository: &RepoName, digest: &Digest, now: i64) -> usize {
    batch
        .push(
            // A blob pushed again starts its grace period again: the collector spares links
            // newer than its grace, and this push's manifest may be on its way.
            "INSERT INTO repository_blobs (repository_id, digest, created_at)
             SELECT id, $2, $3 FROM repositories WHERE name = $1
             ON CONFLICT (repository_id, digest) DO UPDATE SET created_at = excluded.created_at",
        )
        .bind(repository.as_str())
        .bind(digest.to_string())
        .bind(now)
        .index()
}

impl Index {
    /// Starts recording `digest` (`BlobRecording`): on SQLite it waits for the write lock, on
    /// PostgreSQL it takes a writer connection (`BEGIN` goes with the recording's batch).
    ///
    /// The recording's commit is `Deferred` (see `Commit`): a blob nothing references yet is
    /// the one write a database crash may take back. The push's manifest, whose commit is
    /// durable, makes the blob's row durable with it, and a manifest whose blob row was lost
    /// is refused (`MANIFEST_BLOB_UNKNOWN`), so the client pushes the blob again. Meanwhile
    /// the object is a stray, which the collector removes or the next push of it replaces.
    pub async fn begin_recording(&self, digest: &Digest) -> Result<BlobRecording<'_>, IndexError> {
        let tx = self.begin_write_tx(Commit::Deferred).await?;
        Ok(BlobRecording { tx, digest: digest.clone() })
    }

    /// The size of `digest` if `repository` links it.
    pub async fn repository_blob_size(
        &self,
        repository: &RepoName,
        digest: &Digest,
    ) -> Result<Option<u64>, IndexError> {
        self.timed("blob_size", self.repository_blob_size_untimed(repository, digest)).await
    }

    async fn repository_blob_size_untimed(
        &self,
        repository: &RepoName,
        digest: &Digest,
    ) -> Result<Option<u64>, IndexError> {
        let row = sqlx::query(
            "SELECT b.size FROM repository_blobs rb
             JOIN repositories r ON r.id = rb.repository_id
             JOIN blobs b ON b.digest = rb.digest
             WHERE r.name = $1 AND rb.digest = $2",
        )
        .bind(repository.as_str())
        .bind(digest.to_string())
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.map(|row| row.try_get::<i64, _>("size")).transpose()?.map(|size| size as u64))
    }

    /// Repositories that link `digest` (candidates for a cross-repository mount), by name.
    pub async fn repositories_with_blob(&self, digest: &Digest, limit: u32) -> Result<Vec<RepoName>, IndexError> {
        let rows = sqlx::query(
            "SELECT r.name FROM repository_blobs rb JOIN repositories r ON r.id = rb.repository_id
             WHERE rb.digest = $1 ORDER BY r.name LIMIT $2",
        )
        .bind(digest.to_string())
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                let name: String = row.try_get("name")?;
                name.parse().map_err(|_| IndexError::Corrupt(format!("repository name {name:?}")))
            })
            .collect()
    }

    /// Links a blob that is already recorded (a mount) into `repository`.
    pub async fn link_blob(&self, repository: &RepoName, digest: &Digest, size: u64) -> Result<(), IndexError> {
        let mut tx = self.begin_write_tx(Commit::Deferred).await?;
        link_blob_in(&mut tx, repository, digest, size, None).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Removes `repository`'s link to `digest`; the storage is reclaimed by garbage collection.
    pub async fn unlink_blob(
        &self,
        repository: &RepoName,
        digest: &Digest,
        audit: &AuditEntry<'_>,
    ) -> Result<bool, IndexError> {
        let change = sqlx::query(
            "DELETE FROM repository_blobs
             WHERE repository_id = (SELECT id FROM repositories WHERE name = $1) AND digest = $2",
        )
        .bind(repository.as_str())
        .bind(digest.to_string());
        Ok(self.execute_audited(change, audit).await? > 0)
    }
}
