//! The audit log: who pushed, deleted, or changed access, to what, when, and from where.
//! Every change records its entry in its own transaction: one that commits has its entry, one
//! that fails or changes nothing has none, and a crash cannot leave one without the other.

use sqlx::{AnyConnection, Row};

use crate::batch::Batch;
use crate::{now_millis, Actor, Index, IndexError};

/// One entry to record. `action` is a dotted verb (`manifest.push`, `tag.delete`,
/// `repository.visibility`, `token.create`...); `target` what it acted on (a digest, a tag,
/// a user or token id); `detail` an optional JSON object.
#[derive(Debug, Clone)]
pub struct AuditEntry<'a> {
    pub actor: &'a Actor,
    pub action: &'a str,
    pub repository: Option<&'a str>,
    pub target: &'a str,
    pub detail: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditRecord {
    pub id: i64,
    /// Milliseconds since the epoch.
    pub at: i64,
    pub actor: String,
    pub action: String,
    pub repository: Option<String>,
    pub target: String,
    pub client_ip: Option<String>,
    pub detail: Option<String>,
}

/// Filters (exact matches) and a page; newest entries first.
#[derive(Debug, Clone, Default)]
pub struct AuditQuery {
    pub actor: Option<String>,
    pub repository: Option<String>,
    pub action: Option<String>,
    pub offset: u64,
    pub limit: u32,
}

/// Records `entry` on `conn`, within the caller's transaction if it has one.
pub(crate) async fn audit_in(conn: &mut AnyConnection, entry: &AuditEntry<'_>) -> Result<(), IndexError> {
    let mut batch = Batch::default();
    audit_into(&mut batch, entry);
    batch.run(conn).await?;
    Ok(())
}

/// Adds the recording of `entry` to `batch`.
pub(crate) fn audit_into(batch: &mut Batch, entry: &AuditEntry<'_>) {
    batch
        .push(
            "INSERT INTO audit_log (at, actor, action, repository, target, client_ip, detail)
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(now_millis())
        .bind(entry.actor.name.as_str())
        .bind(entry.action)
        .bind(entry.repository.map(str::to_owned))
        .bind(entry.target)
        .bind(entry.actor.client_ip.clone())
        .bind(entry.detail.clone());
}

impl Index {
    /// Runs `change`, one statement, and records `audit` in the same transaction if it
    /// changed a row. How many rows it changed.
    pub(crate) async fn execute_audited<'q>(
        &self,
        change: sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>>,
        audit: &AuditEntry<'_>,
    ) -> Result<u64, IndexError> {
        let _guard = self.write_guard().await;
        let mut tx = self.begin_write().await?;
        let changed = change.execute(&mut *tx).await?.rows_affected();
        if changed > 0 {
            audit_in(&mut tx, audit).await?;
        }
        tx.commit().await?;
        Ok(changed)
    }

    /// Deletes the entries recorded before `before`; how many.
    pub async fn prune_audit(&self, before: std::time::SystemTime) -> Result<u64, IndexError> {
        self.delete_before("DELETE FROM audit_log WHERE at < $1", before).await
    }

    /// One page of entries matching `query`, and how many match in all.
    pub async fn audit(&self, query: &AuditQuery) -> Result<(Vec<AuditRecord>, u64), IndexError> {
        // Only the filters given become conditions, numbered in the order they are bound.
        let filters = [("actor", &query.actor), ("repository", &query.repository), ("action", &query.action)];
        let given: Vec<(&str, &String)> =
            filters.iter().filter_map(|(column, value)| value.as_ref().map(|value| (*column, value))).collect();
        let conditions: Vec<String> =
            given.iter().enumerate().map(|(n, (column, _))| format!("{column} = ${}", n + 1)).collect();
        let clause = if conditions.is_empty() { String::new() } else { format!("WHERE {}", conditions.join(" AND ")) };

        let count_sql = format!("SELECT COUNT(*) AS n FROM audit_log {clause}");
        let mut count = sqlx::query(&count_sql);
        for (_, value) in &given {
            count = count.bind(value.as_str());
        }
        let total: i64 = count.fetch_one(&self.pool).await?.try_get("n")?;

        let n = given.len();
        let page_sql = format!(
            "SELECT id, at, actor, action, repository, target, client_ip, detail FROM audit_log {clause}
             ORDER BY id DESC LIMIT ${} OFFSET ${}",
            n + 1,
            n + 2
        );
        let mut page = sqlx::query(&page_sql);
        for (_, value) in &given {
            page = page.bind(value.as_str());
        }
        let rows = page
            .bind(i64::from(query.limit))
            .bind(i64::try_from(query.offset).unwrap_or(i64::MAX))
            .fetch_all(&self.pool)
            .await?;
        let records = rows
            .iter()
            .map(|row| {
                Ok(AuditRecord {
                    id: row.try_get("id")?,
                    at: row.try_get("at")?,
                    actor: row.try_get("actor")?,
                    action: row.try_get("action")?,
                    repository: row.try_get("repository")?,
                    target: row.try_get("target")?,
                    client_ip: row.try_get("client_ip")?,
                    detail: row.try_get("detail")?,
                })
            })
            .collect::<Result<Vec<_>, IndexError>>()?;
        Ok((records, total.max(0) as u64))
    }
}
