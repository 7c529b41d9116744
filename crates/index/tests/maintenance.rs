//! Maintenance bookkeeping on both backends: the GC lease (one holder at a time, expiry,
//! renewal only by the holder), immutable tags in the manifest write, and retention's
//! re-checked deletes.

use std::time::{Duration, SystemTime};

use wasmhub_index::{GcRun, Index, IndexError, NewManifest, TagRow, KEPT_GC_RUNS};
use wasmhub_oci::{Digest, MediaType, RepoName, Tag};

mod common;

on_both_backends!(
    one_lease_holder_at_a_time_until_it_expires,
    an_immutable_tag_only_takes_its_own_digest,
    retention_deletes_recheck_what_was_decided,
    only_the_newest_gc_runs_and_the_last_success_are_kept
);

async fn only_the_newest_gc_runs_and_the_last_success_are_kept(index: &Index) {
    let run = |at: i64, outcome: &str| GcRun {
        started_at: at,
        finished_at: at + 1,
        started_by: "schedule".into(),
        holder: "test".into(),
        outcome: outcome.into(),
        dry_run: false,
        blobs_deleted: 0,
        bytes_reclaimed: 0,
        manifests_deleted: 0,
        tags_deleted: 0,
        detail: None,
    };
    index.record_gc_run(&run(1, "success")).await.unwrap();
    let kept = i64::from(KEPT_GC_RUNS);
    for at in 2..=kept + 5 {
        index.record_gc_run(&run(at, "skipped")).await.unwrap();
    }
    let runs = index.gc_runs(KEPT_GC_RUNS + 100).await.unwrap();
    assert_eq!(runs.len() as i64, kept + 1, "the newest runs and the last success");
    assert_eq!(runs[0].started_at, kept + 5);
    assert_eq!(runs[runs.len() - 2].started_at, 6);
    assert_eq!(index.last_gc_success().await.unwrap(), Some(2), "the last success is kept");
}

const TTL: Duration = Duration::from_secs(60);

async fn one_lease_holder_at_a_time_until_it_expires(index: &Index) {
    assert!(index.try_acquire_lease("gc", "a", TTL).await.unwrap().is_ok());
    assert!(index.try_acquire_lease("gc", "a", TTL).await.unwrap().is_ok(), "the holder may take it again");
    let refused = index.try_acquire_lease("gc", "b", TTL).await.unwrap().unwrap_err();
    assert_eq!(refused.holder, "a");
    assert!(!index.renew_lease("gc", "b", TTL).await.unwrap(), "only the holder renews");
    assert!(index.renew_lease("gc", "a", TTL).await.unwrap());
    index.release_lease("gc", "b").await.unwrap();
    assert!(index.try_acquire_lease("gc", "b", TTL).await.unwrap().is_err(), "only the holder releases");
    index.release_lease("gc", "a").await.unwrap();
    assert!(index.try_acquire_lease("gc", "b", Duration::ZERO).await.unwrap().is_ok());
    tokio::time::sleep(Duration::from_millis(5)).await;
    assert!(index.try_acquire_lease("gc", "c", TTL).await.unwrap().is_ok(), "an expired lease is taken over");
    assert!(!index.renew_lease("gc", "b", TTL).await.unwrap(), "and its old holder has lost it");
    assert!(index.try_acquire_lease("other-job", "b", TTL).await.unwrap().is_ok(), "leases are per job");
}

fn manifest<'a>(
    repository: &'a RepoName,
    digest: &'a Digest,
    media_type: &'a MediaType,
    tags: Vec<&'a Tag>,
) -> NewManifest<'a> {
    NewManifest {
        repository,
        digest,
        media_type,
        artifact_type: None,
        subject: None,
        annotations_json: None,
        content: b"{}",
        blobs: Vec::new(),
        children: Vec::new(),
        tags,
        wasm: None,
    }
}

async fn an_immutable_tag_only_takes_its_own_digest(index: &Index) {
    let repo: RepoName = "frozen/app".parse().unwrap();
    let media_type: MediaType = "application/vnd.oci.image.manifest.v1+json".parse().unwrap();
    let (first, second) = (Digest::sha256_of(b"first"), Digest::sha256_of(b"second"));
    let v1: Tag = "v1".parse().unwrap();
    index.set_immutable(&repo, true).await.unwrap();
    assert!(index.is_immutable(&repo).await.unwrap());
    index.put_manifest(&manifest(&repo, &first, &media_type, vec![&v1])).await.unwrap();
    index.put_manifest(&manifest(&repo, &first, &media_type, vec![&v1])).await.unwrap();
    let moved = index.put_manifest(&manifest(&repo, &second, &media_type, vec![&v1])).await;
    assert!(matches!(moved, Err(IndexError::ImmutableTag { .. })), "{moved:?}");
    assert!(index.is_tagged(&repo, &first).await.unwrap());
    assert!(!index.is_tagged(&repo, &second).await.unwrap(), "the refused push left nothing behind");
    let by_digest = wasmhub_oci::Reference::Digest(second.clone());
    assert!(index.manifest(&repo, &by_digest).await.unwrap().is_none(), "nor its manifest");
    index.set_immutable(&repo, false).await.unwrap();
    index.put_manifest(&manifest(&repo, &second, &media_type, vec![&v1])).await.unwrap();
    assert!(index.is_tagged(&repo, &second).await.unwrap());
}

async fn retention_deletes_recheck_what_was_decided(index: &Index) {
    let repo: RepoName = "keep/app".parse().unwrap();
    let media_type: MediaType = "application/vnd.oci.image.manifest.v1+json".parse().unwrap();
    let (old, tagged) = (Digest::sha256_of(b"old"), Digest::sha256_of(b"tagged"));
    let latest: Tag = "latest".parse().unwrap();
    index.put_manifest(&manifest(&repo, &old, &media_type, vec![&latest])).await.unwrap();
    let (id, _) = index.repositories_after("", 10).await.unwrap().into_iter().next().unwrap();
    let decided: TagRow = index.retention_tags(id).await.unwrap().remove(0);
    // The tag is pushed again after the decision: the delete must spare it.
    tokio::time::sleep(Duration::from_millis(5)).await;
    index.put_manifest(&manifest(&repo, &old, &media_type, vec![&latest])).await.unwrap();
    assert!(!index.delete_tag_if_unchanged(id, &decided).await.unwrap());
    let current = index.retention_tags(id).await.unwrap().remove(0);
    assert!(index.delete_tag_if_unchanged(id, &current).await.unwrap());

    let later = SystemTime::now() + Duration::from_secs(60);
    index.put_manifest(&manifest(&repo, &tagged, &media_type, vec![&latest])).await.unwrap();
    assert!(!index.delete_manifest_if_unused(id, &tagged, later).await.unwrap(), "a tagged manifest stays");
    assert!(!index.delete_manifest_if_unused(id, &old, SystemTime::UNIX_EPOCH).await.unwrap(), "too young");
    assert!(index.delete_manifest_if_unused(id, &old, later).await.unwrap());
    assert_eq!(index.retention_manifests(id).await.unwrap().len(), 1);
}
