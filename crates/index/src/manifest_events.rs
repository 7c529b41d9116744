//! What pushes and deletes of manifests and tags tell the event queue and the audit log,
//! written inside the transaction that makes the change (see `events.rs`).

use sqlx::AnyConnection;
use wasmhub_oci::Tag;

use crate::audit::{audit_into, AuditEntry};
use crate::batch::Batch;
use crate::events::{enqueue_into, webhooks_for};
use crate::rows::{BatchRow, Columns};
use crate::{Actor, EventKind, IndexError, NewEvent, NewManifest, Webhook};

/// Adds the read of where `tags` point now in `repository` to `batch` (none for no tags);
/// `moved_from` reads its rows.
pub(crate) fn tag_targets_into(batch: &mut Batch, repository: &str, tags: &[&Tag]) -> Option<usize> {
    if tags.is_empty() {
        return None;
    }
    let list = (2..2 + tags.len()).map(|n| format!("${n}")).collect::<Vec<_>>().join(", ");
    let statement = batch.push(format!(
        "SELECT t.name, t.manifest_digest FROM tags t JOIN repositories r ON r.id = t.repository_id
         WHERE r.name = $1 AND t.name IN ({list})"
    ));
    statement.bind(repository);
    for tag in tags {
        statement.bind(tag.as_str());
    }
    Some(statement.index())
}

/// The tags among `tags` that point at a manifest other than `digest` before this
/// transaction moves them, with that manifest's digest, in the order of `tags` (the order of
/// the events).
pub(crate) fn moved_from<'t>(
    rows: &[BatchRow],
    tags: &[&'t Tag],
    digest: &str,
) -> Result<Vec<(&'t Tag, String)>, IndexError> {
    let targets = rows
        .iter()
        .map(|row| Ok((row.field("name")?, row.field("manifest_digest")?)))
        .collect::<Result<Vec<(String, String)>, IndexError>>()?;
    let moved = tags.iter().filter_map(|tag| {
        let (_, previous) = targets.iter().find(|(name, previous)| name == tag.as_str() && previous != digest)?;
        Some((*tag, previous.clone()))
    });
    Ok(moved.collect())
}

/// A JSON array of names that need no escaping (tags are `[A-Za-z0-9_.-]`).
fn tag_list(tags: &[&Tag]) -> String {
    let quoted: Vec<String> = tags.iter().map(|tag| format!("\"{}\"", tag.as_str())).collect();
    format!("[{}]", quoted.join(","))
}

/// `manifest.pushed`, and `tag.moved` for each tag that pointed at another manifest
/// (`moved`: the tag and its previous digest).
/// Added to `batch`; `webhooks` are `webhooks_for` the manifest's repository.
pub(crate) fn pushed_into(
    batch: &mut Batch,
    manifest: &NewManifest<'_>,
    actor: &Actor,
    moved: &[(&Tag, String)],
    webhooks: &[Webhook],
) {
    let repository = manifest.repository.as_str();
    let digest = manifest.digest.to_string();
    let tags = tag_list(&manifest.tags);
    let base = NewEvent {
        repository: Some(repository.to_owned()),
        digest: Some(digest.clone()),
        media_type: Some(manifest.media_type.as_str().to_owned()),
        size: Some(manifest.content.len() as i64),
        actor: Some(actor.name.clone()),
        ..NewEvent::new(EventKind::ManifestPushed)
    };
    let pushed = NewEvent {
        tag: manifest.tags.first().map(|tag| tag.as_str().to_owned()),
        detail: Some(format!("{{\"tags\":{tags}}}")),
        ..base.clone()
    };
    enqueue_into(batch, &pushed, webhooks);
    for (tag, previous) in moved {
        let moved = NewEvent {
            kind: EventKind::TagMoved,
            tag: Some(tag.as_str().to_owned()),
            detail: Some(format!("{{\"previousDigest\":\"{previous}\"}}")),
            ..base.clone()
        };
        enqueue_into(batch, &moved, webhooks);
    }
    let detail = Some(format!("{{\"tags\":{tags},\"mediaType\":\"{}\"}}", manifest.media_type.as_str()));
    let entry = AuditEntry { actor, action: "manifest.push", repository: Some(repository), target: &digest, detail };
    audit_into(batch, &entry);
}

/// `manifest.deleted` (with its media type and size) and its audit entry.
pub(crate) async fn manifest_deleted_in(
    conn: &mut AnyConnection,
    repository: &str,
    digest: &str,
    media_type: String,
    size: i64,
    actor: &Actor,
) -> Result<(), IndexError> {
    let event = NewEvent {
        repository: Some(repository.to_owned()),
        digest: Some(digest.to_owned()),
        media_type: Some(media_type),
        size: Some(size),
        actor: Some(actor.name.clone()),
        ..NewEvent::new(EventKind::ManifestDeleted)
    };
    let entry =
        AuditEntry { actor, action: "manifest.delete", repository: Some(repository), target: digest, detail: None };
    record_in(conn, &event, &entry).await
}

/// `tag.deleted` (with the digest it pointed at) and its audit entry.
pub(crate) async fn tag_deleted_in(
    conn: &mut AnyConnection,
    repository: &str,
    tag: &Tag,
    digest: String,
    actor: &Actor,
) -> Result<(), IndexError> {
    let detail = Some(format!("{{\"digest\":\"{digest}\"}}"));
    let event = NewEvent {
        repository: Some(repository.to_owned()),
        tag: Some(tag.as_str().to_owned()),
        digest: Some(digest),
        actor: Some(actor.name.clone()),
        ..NewEvent::new(EventKind::TagDeleted)
    };
    let entry = AuditEntry { actor, action: "tag.delete", repository: Some(repository), target: tag.as_str(), detail };
    record_in(conn, &event, &entry).await
}

/// Queues `event` and records `entry` within the caller's transaction.
async fn record_in(conn: &mut AnyConnection, event: &NewEvent, entry: &AuditEntry<'_>) -> Result<(), IndexError> {
    let webhooks = webhooks_for(conn, event.repository.as_deref()).await?;
    let mut batch = Batch::default();
    enqueue_into(&mut batch, event, &webhooks);
    audit_into(&mut batch, entry);
    batch.run(conn).await?;
    Ok(())
}
