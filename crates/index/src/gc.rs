//! The index side of garbage collection: the per-digest fence that keeps the collector and
//! pushes apart, and the collector's scans. The reasoning is in `wasmhub_registry::gc`; in
//! short, every decision is "lock the row, then re-check in a fresh statement":
//!
//! - `blob_locks` holds one row per digest while a writer is placing it (`holds > 0`) or the
//!   collector is deleting it (`collecting_since` set). Writers take a hold before placing the
//!   object and release it in the transaction that records the blob; the collector may only
//!   fence a digest nobody holds. Both upsert the same primary key, so on PostgreSQL they
//!   serialise on it, and on SQLite all writes are serialised anyway.
//! - A statement that runs after taking a row lock sees every transaction that committed
//!   before the lock was granted (READ COMMITTED takes a fresh snapshot per statement), so the
//!   re-checks that follow a lock are never stale.

use std::time::SystemTime;

use sqlx::{AnyConnection, Row};
use wasmhub_oci::{Digest, RepoName};

use crate::batch::{Batch, Runner};
use crate::blobs::{ensure_repository, link_into};
use crate::connection::Commit;
use crate::rows::{BatchRow, Columns};
use crate::{digest_of, now_millis, Index, IndexError};

/// A writer's hold older than this is from a crashed process: the collector may override it.
/// Generous, because placing a 64 GiB blob by composing parts can take many minutes.
const STALE_HOLD_MILLIS: i64 = 24 * 60 * 60 * 1000;

pub(crate) fn millis(time: SystemTime) -> i64 {
    time.duration_since(SystemTime::UNIX_EPOCH).map(|elapsed| elapsed.as_millis() as i64).unwrap_or_default()
}

impl Index {
    /// Runs `delete`, a `DELETE` of the rows whose time (milliseconds) is before `$1`, with
    /// `before`; how many rows went. For the history tables that are pruned by age.
    pub(crate) async fn delete_before(&self, delete: &'static str, before: SystemTime) -> Result<u64, IndexError> {
        let _guard = self.write_guard().await;
        Ok(sqlx::query(delete).bind(millis(before)).execute(&self.pool).await?.rows_affected())
    }
}

/// Called first in every transaction that records a blob: releases the caller's hold (if it
/// took one) and refuses while the collector is deleting the digest. The upsert locks the
/// digest's fence row until the caller commits, so the collector cannot fence it meanwhile.
pub(crate) async fn release_hold_in(conn: &mut impl Runner, digest: &Digest) -> Result<(), IndexError> {
    lock_fence_in(conn, digest, "CASE WHEN blob_locks.holds > 0 THEN blob_locks.holds - 1 ELSE 0 END").await
}

/// Locks the digest's fence row until the caller commits, setting `holds` to `holds`
/// (an SQL expression); refuses while the collector is deleting the digest. One round trip.
pub(crate) async fn lock_fence_in(conn: &mut impl Runner, digest: &Digest, holds: &str) -> Result<(), IndexError> {
    let mut batch = Batch::default();
    let upsert = lock_fence_into(&mut batch, digest, holds);
    let outcomes = batch.run_returning(conn).await?;
    refuse_if_collecting(&outcomes[upsert].rows, digest)
}

/// Adds `lock_fence_in`'s statements to `batch`: the upsert, which locks the row, and the
/// row's removal when nobody holds it any more and no collector is at it (a deleted row stays
/// locked until commit). Returns the upsert's statement, for `refuse_if_collecting`.
pub(crate) fn lock_fence_into(batch: &mut Batch, digest: &Digest, holds: &str) -> usize {
    let upsert = batch
        .push(format!(
            "INSERT INTO blob_locks (digest, holds, held_at) VALUES ($1, 0, $2)
             ON CONFLICT (digest) DO UPDATE SET holds = {holds}
             RETURNING collecting_since"
        ))
        .bind(digest.to_string())
        .bind(now_millis())
        .index();
    batch
        .push("DELETE FROM blob_locks WHERE digest = $1 AND holds = 0 AND collecting_since IS NULL")
        .bind(digest.to_string());
    upsert
}

/// SQLite's form of `lock_fence_into(batch, digest, "blob_locks.holds")` for a transaction
/// begun with `BEGIN IMMEDIATE`: that already holds the database's only write lock until
/// commit, so the collector (in this process or another) cannot fence the digest meanwhile,
/// and reading the row is enough. Returns the read's statement, for `refuse_if_collecting`.
pub(crate) fn check_fence_into(batch: &mut Batch, digest: &Digest) -> usize {
    batch.push("SELECT collecting_since FROM blob_locks WHERE digest = $1").bind(digest.to_string()).index()
}

/// `BlobBeingCollected` if the fence row `rows` read (by `lock_fence_into` or
/// `check_fence_into`) says the collector is deleting the digest.
pub(crate) fn refuse_if_collecting(rows: &[BatchRow], digest: &Digest) -> Result<(), IndexError> {
    match rows.first() {
        Some(row) if row.field::<Option<i64>>("collecting_since")?.is_some() => {
            Err(IndexError::BlobBeingCollected(digest.clone()))
        }
        _ => Ok(()),
    }
}

/// A link the collector may remove: old, and no manifest of its repository references it.
#[derive(Debug, Clone)]
pub struct UnreferencedLink {
    pub repository_id: i64,
    pub repository: String,
    pub digest: Digest,
}

/// A blob row no manifest references and no recent link protects.
#[derive(Debug, Clone)]
pub struct CollectableBlob {
    pub digest: Digest,
    pub size: u64,
}

/// What the collector is about to fence: a blob the index records, or an object it does not.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CollectTarget {
    Indexed,
    Stray,
}

impl Index {
    /// Announces that the caller is about to place `digest` in storage. `false` while the
    /// collector is deleting it (the caller waits and asks again).
    pub async fn hold_blob(&self, digest: &Digest) -> Result<bool, IndexError> {
        let _guard = self.write_guard().await;
        let row = sqlx::query(
            "INSERT INTO blob_locks (digest, holds, held_at) VALUES ($1, 1, $2)
             ON CONFLICT (digest) DO UPDATE SET holds = blob_locks.holds + 1, held_at = excluded.held_at
             WHERE blob_locks.collecting_since IS NULL
             RETURNING holds",
        )
        .bind(digest.to_string())
        .bind(now_millis())
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.is_some())
    }

    /// Gives back a hold without recording the blob (the push failed).
    pub async fn release_hold(&self, digest: &Digest) -> Result<(), IndexError> {
        let _guard = self.write_guard().await;
        let mut tx = self.begin_write().await?;
        sqlx::query("UPDATE blob_locks SET holds = holds - 1 WHERE digest = $1 AND holds > 0")
            .bind(digest.to_string())
            .execute(&mut *tx)
            .await?;
        sqlx::query("DELETE FROM blob_locks WHERE digest = $1 AND holds = 0 AND collecting_since IS NULL")
            .bind(digest.to_string())
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Links a blob the index already records into `repository` (a cross-repository mount).
    /// `false`, changing nothing, when the blob is gone or being collected: the client then
    /// uploads it. Never creates a `blobs` row, since nobody placed an object for it.
    pub async fn mount_blob(&self, repository: &RepoName, digest: &Digest) -> Result<bool, IndexError> {
        // Deferred, as a recording (`begin_recording`): a link no manifest uses yet.
        let mut tx = self.begin_write_tx(Commit::Deferred).await?;
        // Lock only: a mount places nothing, so it neither takes nor gives back a hold.
        let fenced = match lock_fence_in(&mut tx, digest, "blob_locks.holds").await {
            Err(IndexError::BlobBeingCollected(_)) => true,
            other => {
                other?;
                false
            }
        };
        let mut known = Batch::default();
        known.push("SELECT 1 AS known FROM blobs WHERE digest = $1").bind(digest.to_string());
        let known = !known.run_returning(&mut tx).await?[0].rows.is_empty();
        if fenced || !known {
            tx.rollback().await?;
            return Ok(false);
        }
        ensure_repository(&mut tx, repository).await?;
        let mut link = Batch::default();
        link_into(&mut link, repository, digest, now_millis());
        link.run(&mut tx).await?;
        tx.commit().await?;
        Ok(true)
    }

    /// Links created before `older_than` that no manifest of their repository references,
    /// after `after` in (repository id, digest) order.
    pub async fn unreferenced_links(
        &self,
        older_than: SystemTime,
        after: Option<&UnreferencedLink>,
        limit: u32,
    ) -> Result<Vec<UnreferencedLink>, IndexError> {
        let (after_id, after_digest) = after.map_or((-1, String::new()), |l| (l.repository_id, l.digest.to_string()));
        let rows = sqlx::query(
            "SELECT rb.repository_id, r.name, rb.digest FROM repository_blobs rb
             JOIN repositories r ON r.id = rb.repository_id
             WHERE rb.created_at < $1
               AND (rb.repository_id > $2 OR (rb.repository_id = $2 AND rb.digest > $3))
               AND NOT EXISTS (SELECT 1 FROM manifest_blobs mb
                               WHERE mb.repository_id = rb.repository_id AND mb.blob_digest = rb.digest)
             ORDER BY rb.repository_id, rb.digest LIMIT $4",
        )
        .bind(millis(older_than))
        .bind(after_id)
        .bind(after_digest)
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter()
            .map(|row| {
                Ok(UnreferencedLink {
                    repository_id: row.try_get("repository_id")?,
                    repository: row.try_get("name")?,
                    digest: digest_of(row.try_get("digest")?)?,
                })
            })
            .collect()
    }

    /// Removes those of `links` that are still older than `older_than` and unreferenced, in
    /// one transaction (keep batches small: it is one write lock on SQLite); returns how many.
    /// Each link is locked first by a no-op update, so a manifest push touching it
    /// (`put_manifest` refreshes the links it relies on) either committed before the re-check
    /// (which then sees its reference) or finds the link gone and fails cleanly.
    pub async fn expire_links(&self, links: &[UnreferencedLink], older_than: SystemTime) -> Result<u64, IndexError> {
        let _guard = self.write_guard().await;
        let mut tx = self.begin_write().await?;
        let mut removed = 0;
        for link in links {
            let locked = sqlx::query(
                "UPDATE repository_blobs SET created_at = created_at
                 WHERE repository_id = $1 AND digest = $2 AND created_at < $3",
            )
            .bind(link.repository_id)
            .bind(link.digest.to_string())
            .bind(millis(older_than))
            .execute(&mut *tx)
            .await?;
            if locked.rows_affected() == 0 {
                continue;
            }
            let deleted = sqlx::query(
                "DELETE FROM repository_blobs WHERE repository_id = $1 AND digest = $2
                   AND NOT EXISTS (SELECT 1 FROM manifest_blobs WHERE repository_id = $1 AND blob_digest = $2)",
            )
            .bind(link.repository_id)
            .bind(link.digest.to_string())
            .execute(&mut *tx)
            .await?;
            removed += deleted.rows_affected();
        }
        tx.commit().await?;
        Ok(removed)
    }

    /// Blobs recorded before `older_than` that no manifest references and no link newer than
    /// `older_than` protects, after `after` in digest order. (Older links without a
    /// reference are the ones `expire_link` removes, so a dry run can count ahead.)
    pub async fn collectable_blobs(
        &self,
        older_than: SystemTime,
        after: Option<&Digest>,
        limit: u32,
    ) -> Result<Vec<CollectableBlob>, IndexError> {
        let rows = sqlx::query(
            "SELECT b.digest, b.size FROM blobs b
             WHERE b.created_at < $1 AND b.digest > $2
               AND NOT EXISTS (SELECT 1 FROM manifest_blobs mb WHERE mb.blob_digest = b.digest)
               AND NOT EXISTS (SELECT 1 FROM repository_blobs rb WHERE rb.digest = b.digest AND rb.created_at >= $1)
             ORDER BY b.digest LIMIT $3",
        )
        .bind(millis(older_than))
        .bind(after.map(|d| d.to_string()).unwrap_or_default())
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter()
            .map(|row| {
                Ok(CollectableBlob {
                    digest: digest_of(row.try_get("digest")?)?,
                    size: row.try_get::<i64, _>("size")? as u64,
                })
            })
            .collect()
    }

    /// Fences each of `digests` for deletion, in one transaction (keep batches small), and
    /// returns those fenced: afterwards no push can record them, and their `blobs` rows (for
    /// `Indexed`) are gone, until `finish_collect`. A digest is skipped when a writer holds it
    /// or it is no longer collectable: an `Indexed` blob that is linked, referenced or newer
    /// than `older_than`; a `Stray` that the index now records.
    pub async fn begin_collect(
        &self,
        digests: &[Digest],
        target: CollectTarget,
        older_than: SystemTime,
    ) -> Result<Vec<Digest>, IndexError> {
        let _guard = self.write_guard().await;
        let mut tx = self.begin_write().await?;
        let now = now_millis();
        let mut fenced = Vec::new();
        for digest in digests {
            let locked = sqlx::query(
                "INSERT INTO blob_locks (digest, holds, held_at, collecting_since) VALUES ($1, 0, 0, $2)
                 ON CONFLICT (digest) DO UPDATE SET collecting_since = excluded.collecting_since, holds = 0
                 WHERE blob_locks.collecting_since IS NULL AND (blob_locks.holds = 0 OR blob_locks.held_at < $3)
                 RETURNING digest",
            )
            .bind(digest.to_string())
            .bind(now)
            .bind(now - STALE_HOLD_MILLIS)
            .fetch_optional(&mut *tx)
            .await?
            .is_some();
            if !locked {
                continue;
            }
            // The fence row is ours until commit: what follows sees every push that got there
            // first, and no later one can record the digest.
            if self.still_collectable(&mut tx, digest, target, older_than).await? {
                sqlx::query("DELETE FROM blobs WHERE digest = $1").bind(digest.to_string()).execute(&mut *tx).await?;
                fenced.push(digest.clone());
            } else {
                // Not ours to delete after all: drop the fence row (only a stale hold, if any,
                // was in it).
                sqlx::query("DELETE FROM blob_locks WHERE digest = $1")
                    .bind(digest.to_string())
                    .execute(&mut *tx)
                    .await?;
            }
        }
        tx.commit().await?;
        Ok(fenced)
    }

    async fn still_collectable(
        &self,
        conn: &mut AnyConnection,
        digest: &Digest,
        target: CollectTarget,
        older_than: SystemTime,
    ) -> Result<bool, IndexError> {
        let row = sqlx::query("SELECT created_at FROM blobs WHERE digest = $1")
            .bind(digest.to_string())
            .fetch_optional(&mut *conn)
            .await?;
        match (target, row) {
            (CollectTarget::Stray, row) => Ok(row.is_none()),
            (CollectTarget::Indexed, None) => Ok(false),
            (CollectTarget::Indexed, Some(row)) => {
                if row.try_get::<i64, _>("created_at")? >= millis(older_than) {
                    return Ok(false);
                }
                let in_use = sqlx::query(
                    "SELECT 1 AS in_use FROM repository_blobs WHERE digest = $1
                     UNION ALL SELECT 1 AS in_use FROM manifest_blobs WHERE blob_digest = $1",
                )
                .bind(digest.to_string())
                .fetch_optional(&mut *conn)
                .await?;
                Ok(in_use.is_none())
            }
        }
    }

    /// Lifts the fences once the objects are deleted.
    pub async fn finish_collect(&self, digests: &[Digest]) -> Result<(), IndexError> {
        if digests.is_empty() {
            return Ok(());
        }
        let _guard = self.write_guard().await;
        let list: Vec<String> = (1..=digests.len()).map(|n| format!("${n}")).collect();
        let sql =
            format!("DELETE FROM blob_locks WHERE collecting_since IS NOT NULL AND digest IN ({})", list.join(", "));
        let mut query = sqlx::query(&sql);
        for digest in digests {
            query = query.bind(digest.to_string());
        }
        query.execute(&self.pool).await?;
        Ok(())
    }

    /// Fences left by a collector that stopped before deleting the object (fenced before
    /// `older_than`): the object must still go, then the fence.
    pub async fn abandoned_collections(&self, older_than: SystemTime, limit: u32) -> Result<Vec<Digest>, IndexError> {
        let rows = sqlx::query(
            "SELECT digest FROM blob_locks WHERE collecting_since IS NOT NULL AND collecting_since < $1
             ORDER BY digest LIMIT $2",
        )
        .bind(millis(older_than))
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter().map(|row| digest_of(row.try_get("digest")?)).collect()
    }
}
