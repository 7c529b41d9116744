//! The delivery side of the event queue (see `events.rs`): claiming due deliveries under a
//! lease, recording how each attempt ended, and pruning the finished ones.

use sqlx::Row;

use crate::events::StoredEvent;
use crate::{now_millis, Backend, Index, IndexError};

/// A claimed delivery: the event, where it goes, and which attempt this is (from 1).
#[derive(Debug, Clone)]
pub struct Delivery {
    pub id: i64,
    pub attempt: i64,
    pub url: String,
    pub secret: String,
    pub event: StoredEvent,
}

/// A delivery's state, as `wasmhub webhook list` and the API show it.
#[derive(Debug, Clone)]
pub struct DeliveryStatus {
    pub id: i64,
    pub webhook_id: i64,
    pub event_id: String,
    pub event_kind: String,
    /// `pending`, `delivered` or `dead`.
    pub state: String,
    pub attempts: i64,
    pub next_attempt_at: i64,
    pub last_status: Option<i64>,
    pub last_error: Option<String>,
}

/// How an attempt ended.
#[derive(Debug, Clone)]
pub enum AttemptOutcome {
    Delivered {
        status: u16,
    },
    /// Failed; try again at `retry_at` (milliseconds since the epoch).
    Retry {
        status: Option<u16>,
        error: String,
        retry_at: i64,
    },
    /// Failed for the last time.
    Dead {
        status: Option<u16>,
        error: String,
    },
}

const EVENT_COLUMNS: &str =
    "e.id, e.kind, e.repository, e.tag, e.digest, e.media_type, e.size, e.actor, e.detail, e.created_at";

fn event_from(row: &sqlx::any::AnyRow) -> Result<StoredEvent, IndexError> {
    Ok(StoredEvent {
        id: row.try_get("id")?,
        kind: row.try_get("kind")?,
        repository: row.try_get("repository")?,
        tag: row.try_get("tag")?,
        digest: row.try_get("digest")?,
        media_type: row.try_get("media_type")?,
        size: row.try_get("size")?,
        actor: row.try_get("actor")?,
        detail: row.try_get("detail")?,
        created_at: row.try_get("created_at")?,
    })
}

impl Index {
    /// Claims up to `limit` due deliveries for `lease_millis`: each becomes due again only
    /// when the lease has passed, so a worker that dies mid-attempt delays it, never loses it.
    /// On PostgreSQL, `SKIP LOCKED` lets replicas claim side by side without waiting.
    pub async fn claim_deliveries(&self, limit: u32, lease_millis: i64) -> Result<Vec<Delivery>, IndexError> {
        let _guard = self.write_guard().await;
        let now = now_millis();
        let lock = if self.backend() == Backend::Postgres { "FOR UPDATE SKIP LOCKED" } else { "" };
        let claimed = sqlx::query(&format!(
            "UPDATE event_deliveries SET next_attempt_at = $1, attempts = attempts + 1
             WHERE id IN (SELECT id FROM event_deliveries WHERE state = 'pending' AND next_attempt_at <= $2
                          ORDER BY next_attempt_at, id LIMIT $3 {lock})
             RETURNING id, attempts"
        ))
        .bind(now + lease_millis)
        .bind(now)
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        let mut deliveries = Vec::with_capacity(claimed.len());
        for row in claimed {
            let id: i64 = row.try_get("id")?;
            let attempt: i64 = row.try_get("attempts")?;
            // Gone only if its webhook was removed in between (the rows cascade).
            let found = sqlx::query(&format!(
                "SELECT {EVENT_COLUMNS}, w.url, w.secret FROM event_deliveries d
                 JOIN events e ON e.id = d.event_id JOIN webhooks w ON w.id = d.webhook_id WHERE d.id = $1"
            ))
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
            if let Some(row) = found {
                let event = event_from(&row)?;
                deliveries.push(Delivery {
                    id,
                    attempt,
                    url: row.try_get("url")?,
                    secret: row.try_get("secret")?,
                    event,
                });
            }
        }
        Ok(deliveries)
    }

    /// Records how an attempt ended.
    pub async fn finish_attempt(&self, id: i64, outcome: &AttemptOutcome) -> Result<(), IndexError> {
        let _guard = self.write_guard().await;
        let now = now_millis();
        let (state, status, error, next) = match outcome {
            AttemptOutcome::Delivered { status } => ("delivered", Some(*status), None, now),
            AttemptOutcome::Retry { status, error, retry_at } => ("pending", *status, Some(error.clone()), *retry_at),
            AttemptOutcome::Dead { status, error } => ("dead", *status, Some(error.clone()), now),
        };
        let finished = (state != "pending").then_some(now);
        sqlx::query(
            "UPDATE event_deliveries
             SET state = $2, last_status = $3, last_error = $4, next_attempt_at = $5, finished_at = $6
             WHERE id = $1",
        )
        .bind(id)
        .bind(state)
        .bind(status.map(i64::from))
        .bind(error)
        .bind(next)
        .bind(finished)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Forgets deliveries that finished (delivered or dead) before `finished_before`, and
    /// the events left with no delivery; pending ones are never touched. Returns how many
    /// deliveries went.
    pub async fn prune_deliveries(&self, finished_before: i64) -> Result<u64, IndexError> {
        let _guard = self.write_guard().await;
        let mut tx = self.begin_write().await?;
        let pruned =
            sqlx::query("DELETE FROM event_deliveries WHERE state IN ('delivered', 'dead') AND finished_at < $1")
                .bind(finished_before)
                .execute(&mut *tx)
                .await?
                .rows_affected();
        sqlx::query(
            "DELETE FROM events WHERE created_at < $1
             AND NOT EXISTS (SELECT 1 FROM event_deliveries d WHERE d.event_id = events.id)",
        )
        .bind(finished_before)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(pruned)
    }

    /// The most recent deliveries (of one webhook, or all), newest first.
    pub async fn deliveries(&self, webhook_id: Option<i64>, limit: u32) -> Result<Vec<DeliveryStatus>, IndexError> {
        let rows = sqlx::query(
            "SELECT d.id, d.webhook_id, d.event_id, e.kind, d.state, d.attempts, d.next_attempt_at,
                    d.last_status, d.last_error
             FROM event_deliveries d JOIN events e ON e.id = d.event_id
             WHERE $1 < 0 OR d.webhook_id = $1 ORDER BY d.id DESC LIMIT $2",
        )
        .bind(webhook_id.unwrap_or(-1))
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                Ok(DeliveryStatus {
                    id: row.try_get("id")?,
                    webhook_id: row.try_get("webhook_id")?,
                    event_id: row.try_get("event_id")?,
                    event_kind: row.try_get("kind")?,
                    state: row.try_get("state")?,
                    attempts: row.try_get("attempts")?,
                    next_attempt_at: row.try_get("next_attempt_at")?,
                    last_status: row.try_get("last_status")?,
                    last_error: row.try_get("last_error")?,
                })
            })
            .collect()
    }
}
