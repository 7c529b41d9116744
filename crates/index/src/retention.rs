//! Retention policies and immutable tags as stored, and the rechecked deletes that apply a
//! policy. What to delete is decided in `wasmhub_registry::retention`; every delete here
//! re-checks in the same transaction that the row is still what was decided on, so a push
//! that lands between the decision and the delete wins.

use std::time::{Duration, SystemTime};

use sqlx::{AnyConnection, Row};
use wasmhub_oci::{Digest, RepoName};

use crate::gc::millis;
use crate::{digest_of, now_millis, Backend, Index, IndexError};

/// A retention policy as stored: the registry parses `pattern` and `protect` into types.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredPolicy {
    pub pattern: String,
    pub keep_last: Option<u32>,
    pub untagged_older_than: Option<Duration>,
    pub protect: Vec<String>,
    pub updated_at: i64,
}

/// A tag as retention sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TagRow {
    pub name: String,
    pub digest: Digest,
    /// When the tag was last pushed (Unix milliseconds).
    pub updated_at: i64,
}

/// A manifest as retention sees it: its age, subject and index entries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ManifestRow {
    pub digest: Digest,
    pub created_at: i64,
    pub subject: Option<Digest>,
    pub children: Vec<Digest>,
}

/// Whether `repository`'s tags are immutable, inside the caller's transaction.
pub(crate) async fn is_immutable_in(conn: &mut AnyConnection, repository: &RepoName) -> Result<bool, IndexError> {
    let row = sqlx::query("SELECT 1 AS immutable FROM immutable_repositories WHERE name = $1")
        .bind(repository.as_str())
        .fetch_optional(&mut *conn)
        .await?;
    Ok(row.is_some())
}

impl Index {
    /// Creates or replaces the policy for `policy.pattern`.
    pub async fn set_retention_policy(&self, policy: &StoredPolicy) -> Result<(), IndexError> {
        let _guard = self.write_guard().await;
        sqlx::query(
            "INSERT INTO retention_policies (pattern, keep_last, untagged_older_than, protect, updated_at)
             VALUES ($1, $2, $3, $4, $5)
             ON CONFLICT (pattern) DO UPDATE SET keep_last = excluded.keep_last,
                untagged_older_than = excluded.untagged_older_than, protect = excluded.protect,
                updated_at = excluded.updated_at",
        )
        .bind(&policy.pattern)
        .bind(policy.keep_last.map(i64::from))
        .bind(policy.untagged_older_than.map(|age| age.as_millis() as i64))
        .bind(policy.protect.join("\n"))
        .bind(now_millis())
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    pub async fn retention_policies(&self) -> Result<Vec<StoredPolicy>, IndexError> {
        let rows = sqlx::query(
            "SELECT pattern, keep_last, untagged_older_than, protect, updated_at FROM retention_policies
             ORDER BY pattern",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter()
            .map(|row| {
                let protect: String = row.try_get("protect")?;
                Ok(StoredPolicy {
                    pattern: row.try_get("pattern")?,
                    keep_last: row.try_get::<Option<i64>, _>("keep_last")?.map(|n| n as u32),
                    untagged_older_than: row
                        .try_get::<Option<i64>, _>("untagged_older_than")?
                        .map(|ms| Duration::from_millis(ms as u64)),
                    protect: protect.lines().filter(|line| !line.is_empty()).map(str::to_owned).collect(),
                    updated_at: row.try_get("updated_at")?,
                })
            })
            .collect()
    }

    /// Returns whether there was such a policy.
    pub async fn remove_retention_policy(&self, pattern: &str) -> Result<bool, IndexError> {
        let _guard = self.write_guard().await;
        let removed =
            sqlx::query("DELETE FROM retention_policies WHERE pattern = $1").bind(pattern).execute(&self.pool).await?;
        Ok(removed.rows_affected() > 0)
    }

    /// Makes `repository`'s tags immutable (or mutable again). The repository need not exist
    /// yet: the setting waits for its first push.
    pub async fn set_immutable(&self, repository: &RepoName, immutable: bool) -> Result<(), IndexError> {
        let _guard = self.write_guard().await;
        let query = if immutable {
            sqlx::query("INSERT INTO immutable_repositories (name, created_at) VALUES ($1, $2) ON CONFLICT DO NOTHING")
                .bind(repository.as_str())
                .bind(now_millis())
        } else {
            sqlx::query("DELETE FROM immutable_repositories WHERE name = $1").bind(repository.as_str())
        };
        query.execute(&self.pool).await?;
        Ok(())
    }

    pub async fn is_immutable(&self, repository: &RepoName) -> Result<bool, IndexError> {
        let mut conn = self.pool.acquire().await?;
        is_immutable_in(&mut conn, repository).await
    }

    /// Whether any tag of `repository` names `digest`.
    pub async fn is_tagged(&self, repository: &RepoName, digest: &Digest) -> Result<bool, IndexError> {
        let row = sqlx::query(
            "SELECT 1 AS tagged FROM tags t JOIN repositories r ON r.id = t.repository_id
             WHERE r.name = $1 AND t.manifest_digest = $2",
        )
        .bind(repository.as_str())
        .bind(digest.to_string())
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.is_some())
    }

    pub async fn immutable_repositories(&self) -> Result<Vec<String>, IndexError> {
        let rows = sqlx::query("SELECT name FROM immutable_repositories ORDER BY name").fetch_all(&self.pool).await?;
        rows.into_iter().map(|row| Ok(row.try_get("name")?)).collect()
    }

    /// Repositories (id, name) after `after` in name order.
    pub async fn repositories_after(&self, after: &str, limit: u32) -> Result<Vec<(i64, String)>, IndexError> {
        let rows = sqlx::query("SELECT id, name FROM repositories WHERE name > $1 ORDER BY name LIMIT $2")
            .bind(after)
            .bind(i64::from(limit))
            .fetch_all(&self.pool)
            .await?;
        rows.into_iter().map(|row| Ok((row.try_get("id")?, row.try_get("name")?))).collect()
    }

    /// Every tag of a repository, newest push first.
    pub async fn retention_tags(&self, repository_id: i64) -> Result<Vec<TagRow>, IndexError> {
        let rows = sqlx::query(
            "SELECT name, manifest_digest, updated_at FROM tags WHERE repository_id = $1
             ORDER BY updated_at DESC, name",
        )
        .bind(repository_id)
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter()
            .map(|row| {
                Ok(TagRow {
                    name: row.try_get("name")?,
                    digest: digest_of(row.try_get("manifest_digest")?)?,
                    updated_at: row.try_get("updated_at")?,
                })
            })
            .collect()
    }

    /// Every manifest of a repository with its subject and index entries.
    pub async fn retention_manifests(&self, repository_id: i64) -> Result<Vec<ManifestRow>, IndexError> {
        let rows =
            sqlx::query("SELECT digest, created_at, subject FROM manifests WHERE repository_id = $1 ORDER BY digest")
                .bind(repository_id)
                .fetch_all(&self.pool)
                .await?;
        let children = sqlx::query(
            "SELECT manifest_digest, child_digest FROM manifest_children WHERE repository_id = $1
             ORDER BY manifest_digest",
        )
        .bind(repository_id)
        .fetch_all(&self.pool)
        .await?;
        let mut manifests = rows
            .into_iter()
            .map(|row| {
                Ok(ManifestRow {
                    digest: digest_of(row.try_get("digest")?)?,
                    created_at: row.try_get("created_at")?,
                    subject: row.try_get::<Option<String>, _>("subject")?.map(digest_of).transpose()?,
                    children: Vec::new(),
                })
            })
            .collect::<Result<Vec<_>, IndexError>>()?;
        for row in children {
            let parent = digest_of(row.try_get("manifest_digest")?)?;
            let child = digest_of(row.try_get("child_digest")?)?;
            if let Ok(at) = manifests.binary_search_by(|m| m.digest.to_string().cmp(&parent.to_string())) {
                manifests[at].children.push(child);
            }
        }
        Ok(manifests)
    }

    /// Deletes a tag if it still names `digest` and has not been pushed since `updated_at`.
    pub async fn delete_tag_if_unchanged(&self, repository_id: i64, tag: &TagRow) -> Result<bool, IndexError> {
        let _guard = self.write_guard().await;
        let deleted = sqlx::query(
            "DELETE FROM tags WHERE repository_id = $1 AND name = $2 AND manifest_digest = $3 AND updated_at = $4",
        )
        .bind(repository_id)
        .bind(&tag.name)
        .bind(tag.digest.to_string())
        .bind(tag.updated_at)
        .execute(&self.pool)
        .await?;
        Ok(deleted.rows_affected() > 0)
    }

    /// Deletes an untagged manifest created before `older_than` if nothing still needs it: no
    /// tag names it, no manifest of the repository lists it, and (for a referrer) its subject
    /// is gone. The row is locked first, so a concurrent push either committed before the
    /// re-check (which then sees its tag or reference) or runs after the delete.
    pub async fn delete_manifest_if_unused(
        &self,
        repository_id: i64,
        digest: &Digest,
        older_than: SystemTime,
    ) -> Result<bool, IndexError> {
        let _guard = self.write_guard().await;
        let mut tx = self.begin_write().await?;
        let lock = match self.backend() {
            // FOR UPDATE conflicts with the key-share lock a tag insert takes on its manifest.
            Backend::Postgres => {
                "SELECT subject FROM manifests WHERE repository_id = $1 AND digest = $2 AND created_at < $3 FOR UPDATE"
            }
            // BEGIN IMMEDIATE already excludes every other writer.
            Backend::Sqlite => {
                "SELECT subject FROM manifests WHERE repository_id = $1 AND digest = $2 AND created_at < $3"
            }
        };
        let Some(row) = sqlx::query(lock)
            .bind(repository_id)
            .bind(digest.to_string())
            .bind(millis(older_than))
            .fetch_optional(&mut *tx)
            .await?
        else {
            tx.rollback().await?;
            return Ok(false);
        };
        let subject: Option<String> = row.try_get("subject")?;
        let needed = sqlx::query(
            "SELECT 1 AS needed FROM tags WHERE repository_id = $1 AND manifest_digest = $2
             UNION ALL SELECT 1 AS needed FROM manifest_children WHERE repository_id = $1 AND child_digest = $2
             UNION ALL SELECT 1 AS needed FROM manifests WHERE repository_id = $1 AND digest = $3",
        )
        .bind(repository_id)
        .bind(digest.to_string())
        .bind(subject.unwrap_or_default())
        .fetch_optional(&mut *tx)
        .await?;
        if needed.is_some() {
            tx.rollback().await?;
            return Ok(false);
        }
        sqlx::query("DELETE FROM manifests WHERE repository_id = $1 AND digest = $2")
            .bind(repository_id)
            .bind(digest.to_string())
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(true)
    }
}
