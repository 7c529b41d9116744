//! Maintenance jobs' bookkeeping: the lease that keeps two garbage-collection runs from
//! overlapping (across replicas and beside a `wasmhub gc` process), and the record of runs.

use std::time::Duration;

use sqlx::Row;

use crate::{now_millis, Index, IndexError};

/// Who holds a lease, and until when (Unix milliseconds).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeaseHolder {
    pub holder: String,
    pub expires_at: i64,
}

/// How many garbage collection runs the index remembers.
pub const KEPT_GC_RUNS: u32 = 1_000;

/// One finished (or skipped) garbage-collection run, as recorded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GcRun {
    pub started_at: i64,
    pub finished_at: i64,
    /// `schedule` or `cli`.
    pub started_by: String,
    pub holder: String,
    /// `success`, `failure` or `skipped`.
    pub outcome: String,
    pub dry_run: bool,
    pub blobs_deleted: u64,
    pub bytes_reclaimed: u64,
    pub manifests_deleted: u64,
    pub tags_deleted: u64,
    /// The error of a failure, or who held the lease when skipped.
    pub detail: Option<String>,
}

impl Index {
    /// Takes the lease `name` for `ttl` if it is free, expired or already `holder`'s; `Err`
    /// carries the current holder when someone else has it. One statement: the upsert only
    /// overwrites an expired row, so of two callers racing, exactly one gets it.
    pub async fn try_acquire_lease(
        &self,
        name: &str,
        holder: &str,
        ttl: Duration,
    ) -> Result<Result<(), LeaseHolder>, IndexError> {
        let _guard = self.write_guard().await;
        let now = now_millis();
        let taken = sqlx::query(
            "INSERT INTO maintenance_leases (name, holder, acquired_at, expires_at) VALUES ($1, $2, $3, $4)
             ON CONFLICT (name) DO UPDATE
                SET holder = excluded.holder, acquired_at = excluded.acquired_at, expires_at = excluded.expires_at
                WHERE maintenance_leases.expires_at < $3 OR maintenance_leases.holder = excluded.holder
             RETURNING holder",
        )
        .bind(name)
        .bind(holder)
        .bind(now)
        .bind(now + ttl.as_millis() as i64)
        .fetch_optional(&self.pool)
        .await?;
        if taken.is_some() {
            return Ok(Ok(()));
        }
        let row = sqlx::query("SELECT holder, expires_at FROM maintenance_leases WHERE name = $1")
            .bind(name)
            .fetch_optional(&self.pool)
            .await?;
        Ok(Err(match row {
            Some(row) => LeaseHolder { holder: row.try_get("holder")?, expires_at: row.try_get("expires_at")? },
            // Released between the two statements: report it as just gone.
            None => LeaseHolder { holder: "(released)".into(), expires_at: now },
        }))
    }

    /// Extends `holder`'s lease by `ttl` from now; `false` when it is no longer theirs (it
    /// expired and someone else took it).
    pub async fn renew_lease(&self, name: &str, holder: &str, ttl: Duration) -> Result<bool, IndexError> {
        let _guard = self.write_guard().await;
        let renewed = sqlx::query("UPDATE maintenance_leases SET expires_at = $3 WHERE name = $1 AND holder = $2")
            .bind(name)
            .bind(holder)
            .bind(now_millis() + ttl.as_millis() as i64)
            .execute(&self.pool)
            .await?;
        Ok(renewed.rows_affected() > 0)
    }

    /// Gives the lease back (only if it is still `holder`'s).
    pub async fn release_lease(&self, name: &str, holder: &str) -> Result<(), IndexError> {
        let _guard = self.write_guard().await;
        sqlx::query("DELETE FROM maintenance_leases WHERE name = $1 AND holder = $2")
            .bind(name)
            .bind(holder)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Records a run and forgets all but the newest `KEPT_GC_RUNS` (a schedule every few
    /// minutes would otherwise grow the table forever), except the last successful one.
    pub async fn record_gc_run(&self, run: &GcRun) -> Result<(), IndexError> {
        let _guard = self.write_guard().await;
        let mut tx = self.begin_write().await?;
        sqlx::query(
            "INSERT INTO gc_runs (started_at, finished_at, started_by, holder, outcome, dry_run, blobs_deleted,
                                  bytes_reclaimed, manifests_deleted, tags_deleted, detail)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
        )
        .bind(run.started_at)
        .bind(run.finished_at)
        .bind(&run.started_by)
        .bind(&run.holder)
        .bind(&run.outcome)
        .bind(i64::from(run.dry_run))
        .bind(run.blobs_deleted as i64)
        .bind(run.bytes_reclaimed as i64)
        .bind(run.manifests_deleted as i64)
        .bind(run.tags_deleted as i64)
        .bind(run.detail.clone())
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "DELETE FROM gc_runs
             WHERE id < (SELECT id FROM gc_runs ORDER BY id DESC LIMIT 1 OFFSET $1)
               AND id <> COALESCE((SELECT MAX(id) FROM gc_runs WHERE outcome = 'success' AND dry_run = 0), -1)",
        )
        .bind(i64::from(KEPT_GC_RUNS) - 1)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// The most recent runs, newest first.
    pub async fn gc_runs(&self, limit: u32) -> Result<Vec<GcRun>, IndexError> {
        let rows = sqlx::query(
            "SELECT started_at, finished_at, started_by, holder, outcome, dry_run, blobs_deleted, bytes_reclaimed,
                    manifests_deleted, tags_deleted, detail
             FROM gc_runs ORDER BY started_at DESC, id DESC LIMIT $1",
        )
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter()
            .map(|row| {
                Ok(GcRun {
                    started_at: row.try_get("started_at")?,
                    finished_at: row.try_get("finished_at")?,
                    started_by: row.try_get("started_by")?,
                    holder: row.try_get("holder")?,
                    outcome: row.try_get("outcome")?,
                    dry_run: row.try_get::<i64, _>("dry_run")? != 0,
                    blobs_deleted: row.try_get::<i64, _>("blobs_deleted")? as u64,
                    bytes_reclaimed: row.try_get::<i64, _>("bytes_reclaimed")? as u64,
                    manifests_deleted: row.try_get::<i64, _>("manifests_deleted")? as u64,
                    tags_deleted: row.try_get::<i64, _>("tags_deleted")? as u64,
                    detail: row.try_get("detail")?,
                })
            })
            .collect()
    }

    /// When the last successful (not dry) run finished, in Unix milliseconds.
    pub async fn last_gc_success(&self) -> Result<Option<i64>, IndexError> {
        let row = sqlx::query(
            "SELECT MAX(finished_at) AS finished_at FROM gc_runs WHERE outcome = 'success' AND dry_run = 0",
        )
        .fetch_one(&self.pool)
        .await?;
        Ok(row.try_get::<Option<i64>, _>("finished_at")?)
    }
}
