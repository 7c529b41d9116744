//! The garbage collector's fence, on both backends: a digest a push holds cannot be fenced,
//! a fenced digest cannot be held, mounted or recorded, and links go only when unreferenced.

use std::time::{Duration, SystemTime};

use wasmhub_index::{CollectTarget, Index, IndexError};
use wasmhub_oci::{Digest, RepoName};

mod common;

on_both_backends!(hold_and_fence_exclude_each_other, links_go_only_when_old_and_unreferenced);

fn later() -> SystemTime {
    SystemTime::now() + Duration::from_secs(3600)
}

async fn hold_and_fence_exclude_each_other(index: &Index) {
    let repo: RepoName = "gc/fence".parse().unwrap();
    let digest = Digest::sha256_of(b"fenced");
    let blobs = std::slice::from_ref(&digest);

    assert!(index.hold_blob(&digest).await.unwrap());
    assert!(index.begin_collect(blobs, CollectTarget::Stray, later()).await.unwrap().is_empty(), "held: not fenced");
    index.link_blob(&repo, &digest, 6).await.unwrap(); // records it and gives the hold back
    assert!(index.begin_collect(blobs, CollectTarget::Indexed, later()).await.unwrap().is_empty(), "linked");

    let (actor, target) = (wasmhub_index::Actor::cli(), digest.to_string());
    let audit = wasmhub_index::AuditEntry {
        actor: &actor,
        action: "blob.delete",
        repository: None,
        target: &target,
        detail: None,
    };
    assert!(index.unlink_blob(&repo, &digest, &audit).await.unwrap());
    assert_eq!(index.begin_collect(blobs, CollectTarget::Indexed, later()).await.unwrap(), blobs.to_vec());
    assert!(!index.hold_blob(&digest).await.unwrap(), "no push may place a fenced digest");
    assert!(!index.mount_blob(&repo, &digest).await.unwrap(), "nor mount it");
    let recorded = index.link_blob(&repo, &digest, 6).await;
    assert!(matches!(recorded, Err(IndexError::BlobBeingCollected(_))), "nor record it: {recorded:?}");
    assert_eq!(index.recorded_blob(&digest).await.unwrap(), None, "the row went with the fence");

    index.finish_collect(blobs).await.unwrap();
    assert!(index.hold_blob(&digest).await.unwrap(), "after the collection, pushes proceed");
    index.release_hold(&digest).await.unwrap();
}

async fn links_go_only_when_old_and_unreferenced(index: &Index) {
    let repo: RepoName = "gc/links".parse().unwrap();
    let digest = Digest::sha256_of(b"linked");
    assert!(index.hold_blob(&digest).await.unwrap());
    index.link_blob(&repo, &digest, 6).await.unwrap();
    let past = SystemTime::now() - Duration::from_secs(60);
    assert!(index.unreferenced_links(past, None, 10).await.unwrap().is_empty(), "a new link is in its grace");
    tokio::time::sleep(Duration::from_millis(5)).await;
    let links = index.unreferenced_links(SystemTime::now(), None, 10).await.unwrap();
    assert_eq!(links.len(), 1);
    assert_eq!(index.expire_links(&links, past).await.unwrap(), 0, "re-checked against the cutoff");
    assert_eq!(index.expire_links(&links, later()).await.unwrap(), 1);
    assert_eq!(index.repository_blob_size(&repo, &digest).await.unwrap(), None);
    let fenced = index.begin_collect(std::slice::from_ref(&digest), CollectTarget::Indexed, later()).await.unwrap();
    assert_eq!(fenced, vec![digest.clone()], "with its last link gone, the blob is collectable");
    index.finish_collect(&fenced).await.unwrap();
}
