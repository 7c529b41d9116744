//! What pushes and deletes of manifests and tags tell the event queue and the audit log,
//! written inside the transaction that makes the change (see `events.rs`).

use sqlx::{AnyConnection, Row};
use wasmhub_oci::Tag;

use crate::audit::{audit_in, AuditEntry};
use crate::events::enqueue_in;
use crate::{Actor, EventKind, IndexError, NewEvent, NewManifest};

/// The digest `tag` points at before this transaction moves it, if any.
pub(crate) async fn tag_target(
    conn: &mut AnyConnection,
    repository_id: i64,
    tag: &Tag,
) -> Result<Option<String>, IndexError> {
    let row = sqlx::query("SELECT manifest_digest FROM tags WHERE repository_id = $1 AND name = $2")
        .bind(repository_id)
        .bind(tag.as_str())
        .fetch_optional(&mut *conn)
        .await?;
    Ok(row.map(|row| row.try_get("manifest_digest")).transpose()?)
}

/// A JSON array of names that need no escaping (tags are `[A-Za-z0-9_.-]`).
fn tag_list(tags: &[&Tag]) -> String {
    let quoted: Vec<String> = tags.iter().map(|tag| format!("\"{}\"", tag.as_str())).collect();
    format!("[{}]", quoted.join(","))
}

/// `manifest.pushed`, and `tag.moved` for each tag that pointed at another manifest
/// (`moved`: the tag and its previous digest).
pub(crate) async fn pushed_in(
    conn: &mut AnyConnection,
    manifest: &NewManifest<'_>,
    actor: &Actor,
    moved: &[(&Tag, String)],
) -> Result<(), IndexError> {
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
    enqueue_in(conn, &pushed).await?;
    for (tag, previous) in moved {
        let moved = NewEvent {
            kind: EventKind::TagMoved,
            tag: Some(tag.as_str().to_owned()),
            detail: Some(format!("{{\"previousDigest\":\"{previous}\"}}")),
            ..base.clone()
        };
        enqueue_in(conn, &moved).await?;
    }
    let detail = Some(format!("{{\"tags\":{tags},\"mediaType\":\"{}\"}}", manifest.media_type.as_str()));
    let entry = AuditEntry { actor, action: "manifest.push", repository: Some(repository), target: &digest, detail };
    audit_in(conn, &entry).await
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
    enqueue_in(conn, &event).await?;
    let entry =
        AuditEntry { actor, action: "manifest.delete", repository: Some(repository), target: digest, detail: None };
    audit_in(conn, &entry).await
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
    enqueue_in(conn, &event).await?;
    let entry = AuditEntry { actor, action: "tag.delete", repository: Some(repository), target: tag.as_str(), detail };
    audit_in(conn, &entry).await
}
