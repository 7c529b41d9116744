//! Webhooks and the durable event queue.
//!
//! A change that others may want to hear about (a push, a tag moving, a delete, a GC run)
//! writes an `events` row, and one `event_deliveries` row per webhook that wants it, inside
//! the transaction that makes the change: an event exists exactly when its change committed.
//! The delivery worker (`wasmhub_registry::webhooks`) claims due deliveries with a lease, so
//! that replicas sharing one PostgreSQL never send the same delivery at the same time, and a
//! worker that dies mid-attempt leaves the row to be claimed again when its lease runs out.

use std::str::FromStr;

use sqlx::{AnyConnection, Row};

use crate::audit::AuditEntry;
use crate::batch::Batch;
use crate::rows::{BatchRow, Columns};
use crate::{now_millis, Index, IndexError};

/// What happened; the CloudEvent `type` is `dev.wasmhub.<kind>`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EventKind {
    ManifestPushed,
    TagMoved,
    ManifestDeleted,
    TagDeleted,
    GcCompleted,
}

impl EventKind {
    pub const ALL: [EventKind; 5] = [
        EventKind::ManifestPushed,
        EventKind::TagMoved,
        EventKind::ManifestDeleted,
        EventKind::TagDeleted,
        EventKind::GcCompleted,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::ManifestPushed => "manifest.pushed",
            EventKind::TagMoved => "tag.moved",
            EventKind::ManifestDeleted => "manifest.deleted",
            EventKind::TagDeleted => "tag.deleted",
            EventKind::GcCompleted => "gc.completed",
        }
    }
}

impl FromStr for EventKind {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        EventKind::ALL.into_iter().find(|kind| kind.as_str() == text).ok_or_else(|| {
            let known: Vec<&str> = EventKind::ALL.iter().map(|kind| kind.as_str()).collect();
            format!("unknown event kind {text:?} (known: {})", known.join(", "))
        })
    }
}

/// Who made a change, as the audit log and the events record it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Actor {
    /// A user name, `anonymous`, or `cli`.
    pub name: String,
    pub client_ip: Option<String>,
}

impl Actor {
    /// No credentials, or a registry running with `WASMHUB_AUTH=none`.
    pub fn anonymous(client_ip: Option<String>) -> Actor {
        Actor { name: "anonymous".into(), client_ip }
    }

    /// The registry itself: retention policies, garbage collection, and changes made through
    /// the index directly.
    pub fn system() -> Actor {
        Actor { name: "system".into(), client_ip: None }
    }

    /// The operator, through the `wasmhub` command line (straight on the database).
    pub fn cli() -> Actor {
        Actor { name: "cli".into(), client_ip: None }
    }
}

#[derive(Debug, Clone)]
pub struct Webhook {
    pub id: i64,
    /// `None` for a global webhook.
    pub namespace: Option<String>,
    pub url: String,
    pub secret: String,
    /// The kinds it wants; empty means all.
    pub events: Vec<EventKind>,
    pub created_at: i64,
}

impl Webhook {
    fn wants(&self, kind: EventKind) -> bool {
        self.events.is_empty() || self.events.contains(&kind)
    }
}

/// An event to record. `repository` decides which namespace's webhooks get it; without
/// one (GC) only global webhooks do.
#[derive(Debug, Clone)]
pub struct NewEvent {
    pub kind: EventKind,
    pub repository: Option<String>,
    pub tag: Option<String>,
    pub digest: Option<String>,
    pub media_type: Option<String>,
    pub size: Option<i64>,
    pub actor: Option<String>,
    /// A JSON object of kind-specific fields, merged into the CloudEvent's `data`.
    pub detail: Option<String>,
}

impl NewEvent {
    pub fn new(kind: EventKind) -> NewEvent {
        NewEvent {
            kind,
            repository: None,
            tag: None,
            digest: None,
            media_type: None,
            size: None,
            actor: None,
            detail: None,
        }
    }
}

#[derive(Debug, Clone)]
pub struct StoredEvent {
    pub id: String,
    pub kind: String,
    pub repository: Option<String>,
    pub tag: Option<String>,
    pub digest: Option<String>,
    pub media_type: Option<String>,
    pub size: Option<i64>,
    pub actor: Option<String>,
    pub detail: Option<String>,
    pub created_at: i64,
}

fn join_kinds(kinds: &[EventKind]) -> String {
    kinds.iter().map(|kind| kind.as_str()).collect::<Vec<_>>().join(",")
}

fn webhook_from(row: &impl Columns) -> Result<Webhook, IndexError> {
    let events: String = row.field("events")?;
    let events = events
        .split(',')
        .filter(|kind| !kind.is_empty())
        .map(|kind| kind.parse().map_err(IndexError::Corrupt))
        .collect::<Result<_, _>>()?;
    Ok(Webhook {
        id: row.field("id")?,
        namespace: row.field("namespace")?,
        url: row.field("url")?,
        secret: row.field("secret")?,
        events,
        created_at: row.field("created_at")?,
    })
}

/// Queues `event` for every webhook that wants it, within the caller's transaction. Nothing
/// is written when no webhook wants it (the audit log keeps the history).
pub(crate) async fn enqueue_in(conn: &mut AnyConnection, event: &NewEvent) -> Result<(), IndexError> {
    let webhooks = webhooks_for(conn, event.repository.as_deref()).await?;
    let mut batch = Batch::default();
    enqueue_into(&mut batch, event, &webhooks);
    batch.run(conn).await?;
    Ok(())
}

/// The webhooks an event of `repository` may go to: its namespace's and the global ones.
pub(crate) async fn webhooks_for(
    conn: &mut AnyConnection,
    repository: Option<&str>,
) -> Result<Vec<Webhook>, IndexError> {
    let mut batch = Batch::default();
    let read = webhooks_into(&mut batch, repository);
    webhooks_from(&batch.run_returning(conn).await?[read].rows)
}

/// Adds the read of `webhooks_for` to `batch`; `webhooks_from` reads its rows.
pub(crate) fn webhooks_into(batch: &mut Batch, repository: Option<&str>) -> usize {
    let namespace = repository.map(|name| name.split('/').next().unwrap_or(name));
    batch
        .push(
            "SELECT id, namespace, url, secret, events, created_at FROM webhooks
             WHERE namespace IS NULL OR namespace = $1 ORDER BY id",
        )
        .bind(namespace.unwrap_or_default())
        .index()
}

pub(crate) fn webhooks_from(rows: &[BatchRow]) -> Result<Vec<Webhook>, IndexError> {
    rows.iter().map(webhook_from).collect()
}

/// Adds `event`, and its delivery to each of `webhooks` (from `webhooks_for`) that wants it,
/// to `batch`; nothing when none does.
pub(crate) fn enqueue_into(batch: &mut Batch, event: &NewEvent, webhooks: &[Webhook]) {
    // Registry-wide events go to global webhooks only.
    let targets: Vec<i64> = webhooks
        .iter()
        .filter(|webhook| webhook.wants(event.kind) && (event.repository.is_some() || webhook.namespace.is_none()))
        .map(|webhook| webhook.id)
        .collect();
    if targets.is_empty() {
        return;
    }
    let id = uuid::Uuid::new_v4().to_string();
    let now = now_millis();
    batch
        .push(
            "INSERT INTO events (id, kind, repository, tag, digest, media_type, size, actor, detail, created_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
        )
        .bind(id.clone())
        .bind(event.kind.as_str())
        .bind(event.repository.clone())
        .bind(event.tag.clone())
        .bind(event.digest.clone())
        .bind(event.media_type.clone())
        .bind(event.size)
        .bind(event.actor.clone())
        .bind(event.detail.clone())
        .bind(now);
    for webhook_id in targets {
        batch
            .push(
                "INSERT INTO event_deliveries (event_id, webhook_id, next_attempt_at, created_at)
                 VALUES ($1, $2, $3, $3)",
            )
            .bind(id.clone())
            .bind(webhook_id)
            .bind(now);
    }
}

impl Index {
    /// Adds a webhook (`namespace` `None`: global); returns its id. Audited as `webhook.add`
    /// by `actor`, with `detail`, its target the new id.
    pub async fn add_webhook(
        &self,
        namespace: Option<&str>,
        url: &str,
        secret: &str,
        events: &[EventKind],
        actor: &Actor,
        detail: Option<String>,
    ) -> Result<i64, IndexError> {
        let _guard = self.write_guard().await;
        let mut tx = self.begin_write().await?;
        let id: i64 = sqlx::query(
            "INSERT INTO webhooks (namespace, url, secret, events, created_at) VALUES ($1, $2, $3, $4, $5)
             RETURNING id",
        )
        .bind(namespace.map(str::to_owned))
        .bind(url)
        .bind(secret)
        .bind(join_kinds(events))
        .bind(now_millis())
        .fetch_one(&mut *tx)
        .await?
        .try_get("id")?;
        let target = id.to_string();
        let audit = AuditEntry { actor, action: "webhook.add", repository: None, target: &target, detail };
        crate::audit::audit_in(&mut tx, &audit).await?;
        tx.commit().await?;
        Ok(id)
    }

    pub async fn webhooks(&self) -> Result<Vec<Webhook>, IndexError> {
        let rows = sqlx::query("SELECT id, namespace, url, secret, events, created_at FROM webhooks ORDER BY id")
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(webhook_from).collect()
    }

    /// Removes a webhook and its undelivered deliveries. Returns whether it existed.
    pub async fn remove_webhook(&self, id: i64, audit: &AuditEntry<'_>) -> Result<bool, IndexError> {
        let change = sqlx::query("DELETE FROM webhooks WHERE id = $1").bind(id);
        Ok(self.execute_audited(change, audit).await? > 0)
    }

    /// Records an event in a transaction of its own (for changes made outside the index,
    /// such as a garbage-collection run).
    pub async fn record_event(&self, event: &NewEvent) -> Result<(), IndexError> {
        let _guard = self.write_guard().await;
        let mut tx = self.pool.begin().await?;
        enqueue_in(&mut tx, event).await?;
        tx.commit().await?;
        Ok(())
    }
}
