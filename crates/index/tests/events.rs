//! The event queue and the audit log, on SQLite and PostgreSQL: events are queued in the
//! transaction of their change (and not for a change that failed), only for the webhooks
//! that want them; claims lease deliveries so no two workers hold one; the audit log pages
//! and filters.

use wasmhub_index::{Actor, AttemptOutcome, AuditQuery, EventKind, Index, IndexError, NewEvent, NewManifest};
use wasmhub_oci::{Digest, MediaType, RepoName, Tag};

mod common;

on_both_backends!(
    a_push_queues_one_delivery_per_matching_webhook_in_its_transaction,
    a_failed_push_queues_nothing_and_audits_nothing,
    moving_and_deleting_tags_queue_their_own_events,
    a_claimed_delivery_is_not_claimed_again_until_its_lease_passes,
    pruning_forgets_finished_deliveries_and_keeps_pending_ones,
    the_audit_log_filters_and_pages_newest_first,
);

fn alice() -> Actor {
    Actor { name: "alice".into(), client_ip: Some("192.0.2.7".into()) }
}

fn name(s: &str) -> RepoName {
    s.parse().unwrap()
}

async fn push(index: &Index, repo: &RepoName, content: &str, tags: &[&Tag]) -> Result<Digest, IndexError> {
    let digest = Digest::sha256_of(content.as_bytes());
    let blob = Digest::sha256_of(format!("blob of {content}").as_bytes());
    index.link_blob(repo, &blob, 10).await?;
    let media_type = MediaType::from_static("application/vnd.oci.image.manifest.v1+json");
    let manifest = NewManifest {
        repository: repo,
        digest: &digest,
        media_type: &media_type,
        artifact_type: None,
        subject: None,
        annotations_json: None,
        content: content.as_bytes(),
        blobs: vec![&blob],
        children: vec![],
        tags: tags.to_vec(),
        wasm: None,
    };
    index.put_manifest_as(&manifest, &alice()).await?;
    Ok(digest)
}

async fn a_push_queues_one_delivery_per_matching_webhook_in_its_transaction(index: &Index) {
    let everything = index.add_webhook(None, "http://global.test/", "s", &[], &Actor::cli(), None).await.unwrap();
    let team = index.add_webhook(Some("team"), "http://team.test/", "s", &[], &Actor::cli(), None).await.unwrap();
    let other = index.add_webhook(Some("other"), "http://other.test/", "s", &[], &Actor::cli(), None).await.unwrap();
    let only_gc =
        index.add_webhook(None, "http://gc.test/", "s", &[EventKind::GcCompleted], &Actor::cli(), None).await.unwrap();
    let v1: Tag = "v1".parse().unwrap();
    let digest = push(index, &name("team/app"), "manifest one", &[&v1]).await.unwrap();

    for (webhook, expected) in [(everything, 1), (team, 1), (other, 0), (only_gc, 0)] {
        let queued = index.deliveries(Some(webhook), 10).await.unwrap();
        assert_eq!(queued.len(), expected, "webhook {webhook}");
    }
    let claimed = index.claim_deliveries(10, 60_000).await.unwrap();
    assert_eq!(claimed.len(), 2);
    let event = &claimed[0].event;
    assert_eq!(claimed[0].event.id, claimed[1].event.id, "one event, two deliveries");
    assert_eq!(event.kind, "manifest.pushed");
    assert_eq!(event.repository.as_deref(), Some("team/app"));
    assert_eq!(event.tag.as_deref(), Some("v1"));
    assert_eq!(event.digest.as_deref(), Some(digest.to_string().as_str()));
    assert_eq!(event.size, Some("manifest one".len() as i64));
    assert_eq!(event.actor.as_deref(), Some("alice"));

    // Registry-wide events reach global webhooks only.
    index.record_event(&NewEvent::new(EventKind::GcCompleted)).await.unwrap();
    assert_eq!(index.deliveries(Some(only_gc), 10).await.unwrap().len(), 1);
    assert_eq!(index.deliveries(Some(team), 10).await.unwrap().len(), 1, "still only the push");
}

async fn a_failed_push_queues_nothing_and_audits_nothing(index: &Index) {
    index.add_webhook(None, "http://global.test/", "s", &[], &Actor::cli(), None).await.unwrap();
    let repo = name("team/app");
    let digest = Digest::sha256_of(b"dangling");
    let missing = Digest::sha256_of(b"never pushed");
    let media_type = MediaType::from_static("application/vnd.oci.image.manifest.v1+json");
    let manifest = NewManifest {
        repository: &repo,
        digest: &digest,
        media_type: &media_type,
        artifact_type: None,
        subject: None,
        annotations_json: None,
        content: b"dangling",
        blobs: vec![&missing],
        children: vec![],
        tags: vec![],
        wasm: None,
    };
    let refused = index.put_manifest_as(&manifest, &alice()).await;
    assert!(matches!(refused, Err(IndexError::MissingReference(_))), "{refused:?}");
    assert!(index.deliveries(None, 10).await.unwrap().is_empty());
    // (The webhook's own `webhook.add`, by `cli`, is the log's one entry.)
    let pushes = AuditQuery { actor: Some("alice".into()), limit: 10, ..Default::default() };
    let (entries, total) = index.audit(&pushes).await.unwrap();
    assert_eq!((entries.len(), total), (0, 0));
}

async fn moving_and_deleting_tags_queue_their_own_events(index: &Index) {
    let hook = index.add_webhook(Some("team"), "http://team.test/", "s", &[], &Actor::cli(), None).await.unwrap();
    let repo = name("team/app");
    let v1: Tag = "v1".parse().unwrap();
    let first = push(index, &repo, "first", &[&v1]).await.unwrap();
    push(index, &repo, "first", &[&v1]).await.unwrap();
    let second = push(index, &repo, "second", &[&v1]).await.unwrap();
    assert!(index.delete_tag_as(&repo, &v1, &alice()).await.unwrap());
    assert!(index.delete_manifest_as(&repo, &first, &alice()).await.unwrap());
    assert!(!index.delete_manifest_as(&repo, &first, &alice()).await.unwrap(), "nothing left to delete");

    let mut kinds: Vec<String> =
        index.deliveries(Some(hook), 20).await.unwrap().into_iter().map(|d| d.event_kind).collect();
    kinds.reverse();
    assert_eq!(
        kinds,
        ["manifest.pushed", "manifest.pushed", "manifest.pushed", "tag.moved", "tag.deleted", "manifest.deleted"],
        "re-pushing the same digest moves nothing"
    );
    let claimed = index.claim_deliveries(20, 60_000).await.unwrap();
    let moved = claimed.iter().find(|d| d.event.kind == "tag.moved").unwrap();
    assert_eq!(moved.event.digest.as_deref(), Some(second.to_string().as_str()));
    assert_eq!(moved.event.detail.as_deref(), Some(format!(r#"{{"previousDigest":"{first}"}}"#).as_str()));
    let untagged = claimed.iter().find(|d| d.event.kind == "tag.deleted").unwrap();
    assert_eq!(untagged.event.digest.as_deref(), Some(second.to_string().as_str()));
}

async fn a_claimed_delivery_is_not_claimed_again_until_its_lease_passes(index: &Index) {
    index.add_webhook(None, "http://global.test/", "s", &[], &Actor::cli(), None).await.unwrap();
    push(index, &name("team/app"), "leased", &[]).await.unwrap();
    let claimed = index.claim_deliveries(10, 3_600_000).await.unwrap();
    assert_eq!((claimed.len(), claimed[0].attempt), (1, 1));
    assert!(index.claim_deliveries(10, 3_600_000).await.unwrap().is_empty(), "held by the first claim");

    // A failed attempt due now is claimed again, as attempt 2; a lease of zero expires at once.
    let retry = AttemptOutcome::Retry { status: Some(503), error: "busy".into(), retry_at: 0 };
    index.finish_attempt(claimed[0].id, &retry).await.unwrap();
    let again = index.claim_deliveries(10, 0).await.unwrap();
    assert_eq!(again.iter().map(|d| d.attempt).collect::<Vec<_>>(), [2]);
    let expired = index.claim_deliveries(10, 0).await.unwrap();
    assert_eq!(expired.iter().map(|d| d.attempt).collect::<Vec<_>>(), [3], "a worker that died mid-attempt");

    index.finish_attempt(claimed[0].id, &AttemptOutcome::Delivered { status: 204 }).await.unwrap();
    assert!(index.claim_deliveries(10, 0).await.unwrap().is_empty(), "delivered is final");
    let status = &index.deliveries(None, 1).await.unwrap()[0];
    assert_eq!((status.state.as_str(), status.last_status, status.attempts), ("delivered", Some(204), 3));
}

async fn the_audit_log_filters_and_pages_newest_first(index: &Index) {
    let v1: Tag = "v1".parse().unwrap();
    let app = name("team/app");
    let digest = push(index, &app, "audited", &[&v1]).await.unwrap();
    push(index, &name("team/other"), "elsewhere", &[]).await.unwrap();
    index.delete_tag_as(&app, &v1, &Actor::anonymous(None)).await.unwrap();

    let all = |limit, offset| AuditQuery { limit, offset, ..Default::default() };
    let (entries, total) = index.audit(&all(10, 0)).await.unwrap();
    assert_eq!(total, 3);
    let actions: Vec<&str> = entries.iter().map(|e| e.action.as_str()).collect();
    assert_eq!(actions, ["tag.delete", "manifest.push", "manifest.push"]);
    let (page, _) = index.audit(&all(1, 1)).await.unwrap();
    assert_eq!(page[0].repository.as_deref(), Some("team/other"));

    let alice_in_app = AuditQuery {
        actor: Some("alice".into()),
        repository: Some("team/app".into()),
        limit: 10,
        ..Default::default()
    };
    let (entries, total) = index.audit(&alice_in_app).await.unwrap();
    assert_eq!(total, 1);
    assert_eq!(entries[0].target, digest.to_string());
    assert_eq!(entries[0].client_ip.as_deref(), Some("192.0.2.7"));
    assert_eq!(
        entries[0].detail.as_deref(),
        Some(r#"{"tags":["v1"],"mediaType":"application/vnd.oci.image.manifest.v1+json"}"#)
    );
    let deletes = AuditQuery { action: Some("tag.delete".into()), limit: 10, ..Default::default() };
    let (entries, _) = index.audit(&deletes).await.unwrap();
    assert_eq!((entries[0].actor.as_str(), entries[0].target.as_str()), ("anonymous", "v1"));
}

async fn pruning_forgets_finished_deliveries_and_keeps_pending_ones(index: &Index) {
    index.add_webhook(None, "http://global.test/", "s", &[], &Actor::cli(), None).await.unwrap();
    for content in ["delivered", "dead", "pending"] {
        push(index, &name("team/app"), content, &[]).await.unwrap();
    }
    let claimed = index.claim_deliveries(2, 0).await.unwrap();
    index.finish_attempt(claimed[0].id, &AttemptOutcome::Delivered { status: 200 }).await.unwrap();
    let dead = AttemptOutcome::Dead { status: None, error: "connection refused".into() };
    index.finish_attempt(claimed[1].id, &dead).await.unwrap();

    assert_eq!(index.prune_deliveries(0).await.unwrap(), 0, "nothing finished before the epoch");
    assert_eq!(index.prune_deliveries(i64::MAX).await.unwrap(), 2);
    let left = index.deliveries(None, 10).await.unwrap();
    assert_eq!(left.iter().map(|d| d.state.as_str()).collect::<Vec<_>>(), ["pending"]);
    let remaining = index.claim_deliveries(10, 0).await.unwrap();
    assert_eq!(remaining[0].event.digest, Some(Digest::sha256_of(b"pending").to_string()), "its event is kept");
}
