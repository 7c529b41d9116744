//! Pull counts: what each replica counted in memory, added to the database in batches.
//!
//! Every statement adds to the stored count (`pulls = pulls + n`), so replicas flushing at
//! the same time never lose each other's pulls; a flush is one transaction, so a batch is
//! either counted whole or (on failure) kept by the caller for the next flush.

use sqlx::Row;
use wasmhub_oci::{RepoName, Tag};

use crate::{now_millis, Index, IndexError};

/// The pulls of one repository counted since the last flush.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PullCounts {
    pub repository: RepoName,
    /// Every pull of the repository's manifests, by tag or by digest.
    pub total: u64,
    /// The pulls by tag among them.
    pub tags: Vec<(Tag, u64)>,
}

impl Index {
    /// Adds `batch` to the stored counts in one transaction. Pulls of repositories that no
    /// longer exist are dropped.
    pub async fn add_pulls(&self, batch: &[PullCounts]) -> Result<(), IndexError> {
        if batch.is_empty() {
            return Ok(());
        }
        let _guard = self.write_guard().await;
        // Every statement writes, so even a deferred `BEGIN` takes SQLite's write lock first.
        let mut tx = self.pool.begin().await?;
        let now = now_millis();
        for counts in batch {
            sqlx::query(
                "INSERT INTO repository_pulls (repository_id, pulls, last_pulled_at)
                 SELECT id, $2, $3 FROM repositories WHERE name = $1
                 ON CONFLICT (repository_id)
                 DO UPDATE SET pulls = repository_pulls.pulls + excluded.pulls, last_pulled_at = excluded.last_pulled_at",
            )
            .bind(counts.repository.as_str())
            .bind(counts.total as i64)
            .bind(now)
            .execute(&mut *tx)
            .await?;
            for (tag, pulls) in &counts.tags {
                sqlx::query(
                    "INSERT INTO tag_pulls (repository_id, tag, pulls, last_pulled_at)
                     SELECT id, $2, $3, $4 FROM repositories WHERE name = $1
                     ON CONFLICT (repository_id, tag)
                     DO UPDATE SET pulls = tag_pulls.pulls + excluded.pulls, last_pulled_at = excluded.last_pulled_at",
                )
                .bind(counts.repository.as_str())
                .bind(tag.as_str())
                .bind(*pulls as i64)
                .bind(now)
                .execute(&mut *tx)
                .await?;
            }
        }
        tx.commit().await?;
        Ok(())
    }

    /// The stored (flushed) pull count of `repository`; 0 if it was never pulled.
    pub async fn repository_pulls(&self, repository: &RepoName) -> Result<u64, IndexError> {
        let row = sqlx::query(
            "SELECT p.pulls FROM repository_pulls p JOIN repositories r ON r.id = p.repository_id WHERE r.name = $1",
        )
        .bind(repository.as_str())
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.map(|row| row.try_get::<i64, _>("pulls")).transpose()?.unwrap_or(0) as u64)
    }

    /// The stored pull count of `tag` in `repository`; 0 if it was never pulled by tag.
    pub async fn tag_pulls(&self, repository: &RepoName, tag: &Tag) -> Result<u64, IndexError> {
        let row = sqlx::query(
            "SELECT p.pulls FROM tag_pulls p JOIN repositories r ON r.id = p.repository_id
             WHERE r.name = $1 AND p.tag = $2",
        )
        .bind(repository.as_str())
        .bind(tag.as_str())
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.map(|row| row.try_get::<i64, _>("pulls")).transpose()?.unwrap_or(0) as u64)
    }
}
