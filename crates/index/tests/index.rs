//! The index's behaviour, written once and run against both backends: SQLite (a temporary
//! file) and PostgreSQL (a fresh schema in `WASMHUB_TEST_POSTGRES_URL`, default
//! `postgres://postgres@127.0.0.1:5432/postgres`).

use wasmhub_index::{Index, IndexError, NewManifest, UploadEnd, UploadLookup};
use wasmhub_oci::{Digest, MediaType, Reference, RepoName, Tag, UploadId};

mod common;

on_both_backends!(
    migrations_are_idempotent,
    blob_links_are_per_repository,
    upload_sessions_advance_only_from_their_current_size,
    completing_an_upload_makes_the_blob_visible_and_ends_the_session,
    ended_upload_ids_are_forgotten_once_expired,
    a_manifest_with_a_missing_reference_records_nothing,
    a_tag_push_racing_the_deletion_of_its_manifest_never_fails,
    manifests_resolve_by_tag_and_digest_and_tags_move,
    tags_list_in_bytewise_order_with_pagination,
    deleting_a_manifest_removes_its_tags_but_deleting_a_tag_keeps_the_manifest,
    referrers_are_found_by_subject_and_filtered_by_artifact_type,
    repositories_list_in_order_with_pagination,
);

fn name(s: &str) -> RepoName {
    s.parse().unwrap()
}

fn digest_of(s: &str) -> Digest {
    Digest::sha256_of(s.as_bytes())
}

fn manifest_type() -> MediaType {
    MediaType::from_static("application/vnd.oci.image.manifest.v1+json")
}

/// A plain image manifest (no subject, annotations or Wasm facts) of `content`.
fn plain_manifest<'a>(
    repo: &'a RepoName,
    digest: &'a Digest,
    media_type: &'a MediaType,
    content: &'a str,
    blobs: &[&'a Digest],
    tags: &[&'a Tag],
) -> NewManifest<'a> {
    NewManifest {
        repository: repo,
        digest,
        media_type,
        artifact_type: None,
        subject: None,
        annotations_json: None,
        content: content.as_bytes(),
        blobs: blobs.to_vec(),
        children: Vec::new(),
        tags: tags.to_vec(),
        wasm: None,
    }
}

async fn push_manifest(index: &Index, repo: &RepoName, content: &str, blobs: &[&Digest], tags: &[&Tag]) -> Digest {
    let (digest, media_type) = (digest_of(content), manifest_type());
    index.put_manifest(&plain_manifest(repo, &digest, &media_type, content, blobs, tags)).await.unwrap();
    digest
}

/// Retention deleting a manifest while a push tags it again: on PostgreSQL the push once saw
/// the manifest, then failed its tag's foreign key when the delete committed in between (a
/// 500). Whichever commits first, the push must succeed.
async fn a_tag_push_racing_the_deletion_of_its_manifest_never_fails(index: &Index) {
    let (repo, content, media_type) = (name("ns/race"), "a manifest retention deletes", manifest_type());
    let digest = digest_of(content);
    for round in 0..100 {
        let tag: Tag = format!("t{round}").parse().unwrap();
        push_manifest(index, &repo, content, &[], &[]).await;
        let manifest = plain_manifest(&repo, &digest, &media_type, content, &[], &[&tag]);
        let (pushed, deleted) = tokio::join!(index.put_manifest(&manifest), index.delete_manifest(&repo, &digest));
        pushed.unwrap_or_else(|error| panic!("round {round}: the push failed: {error}"));
        deleted.unwrap();
    }
}

async fn migrations_are_idempotent(index: &Index) {
    assert_eq!(index.migrate().await.unwrap(), 0, "a second run applies nothing");
}

async fn blob_links_are_per_repository(index: &Index) {
    let (a, b, blob) = (name("ns/a"), name("ns/b"), digest_of("blob"));
    index.link_blob(&a, &blob, 4).await.unwrap();
    assert_eq!(index.repository_blob_size(&a, &blob).await.unwrap(), Some(4));
    assert_eq!(index.repository_blob_size(&b, &blob).await.unwrap(), None);
    assert_eq!(index.repositories_with_blob(&blob, 10).await.unwrap(), vec![a.clone()]);
    // The unlink and its audit entry commit together; an unlink that changes nothing has none.
    let actor = wasmhub_index::Actor::cli();
    let target = blob.to_string();
    let audit = wasmhub_index::AuditEntry {
        actor: &actor,
        action: "blob.delete",
        repository: Some(a.as_str()),
        target: &target,
        detail: None,
    };
    assert!(index.unlink_blob(&a, &blob, &audit).await.unwrap());
    assert!(!index.unlink_blob(&a, &blob, &audit).await.unwrap());
    assert_eq!(index.repository_blob_size(&a, &blob).await.unwrap(), None);
    let query = wasmhub_index::AuditQuery { action: Some("blob.delete".into()), limit: 10, ..Default::default() };
    let (entries, total) = index.audit(&query).await.unwrap();
    assert_eq!((total, entries[0].target.as_str(), entries[0].actor.as_str()), (1, target.as_str(), "cli"));
}

async fn upload_sessions_advance_only_from_their_current_size(index: &Index) {
    let (repo, id) = (name("ns/up"), UploadId::random());
    assert!(matches!(index.upload(id, &repo).await.unwrap(), UploadLookup::NoRow));
    assert!(index.create_upload(id, &repo, b"state0", 1).await.unwrap());
    assert!(!index.create_upload(id, &repo, b"again", 1).await.unwrap(), "a session gets one row");
    assert!(matches!(index.upload(id, &name("ns/other")).await.unwrap(), UploadLookup::NoRow), "one repository");
    assert!(index.append_upload_part(id, 0, "part-1", 10, b"state1").await.unwrap());
    assert!(!index.append_upload_part(id, 0, "part-x", 10, b"stale").await.unwrap(), "a stale writer is refused");
    assert!(index.append_upload_part(id, 10, "part-2", 5, b"state2").await.unwrap());
    let UploadLookup::Open(session) = index.upload(id, &repo).await.unwrap() else { panic!("the session is open") };
    assert_eq!((session.size, session.hash_state.as_slice(), session.recorded), (15, &b"state2"[..], true));
    assert_eq!(session.parts, vec!["part-1", "part-2"]);
    let end = UploadEnd { id, recorded: true };
    assert_eq!(index.delete_upload(end).await.unwrap(), Some(vec!["part-1".to_owned(), "part-2".to_owned()]));
    assert_eq!(index.delete_upload(end).await.unwrap(), None);
    assert!(matches!(index.upload(id, &repo).await.unwrap(), UploadLookup::Ended));
    assert!(!index.create_upload(id, &repo, b"state0", 1).await.unwrap(), "an ended session stays ended");
}

async fn completing_an_upload_makes_the_blob_visible_and_ends_the_session(index: &Index) {
    for recorded in [true, false] {
        let (repo, id, blob) = (name("ns/done"), UploadId::random(), digest_of("content"));
        if recorded {
            index.create_upload(id, &repo, b"s", 1).await.unwrap();
        }
        let end = UploadEnd { id, recorded };
        assert!(index.complete_upload(end, &repo, &blob, 7).await.unwrap());
        assert_eq!(index.repository_blob_size(&repo, &blob).await.unwrap(), Some(7));
        assert!(matches!(index.upload(id, &repo).await.unwrap(), UploadLookup::Ended));
        assert!(!index.complete_upload(end, &repo, &blob, 7).await.unwrap(), "a session completes once");
    }
}

async fn ended_upload_ids_are_forgotten_once_expired(index: &Index) {
    let (repo, id) = (name("ns/pruned"), UploadId::random());
    index.delete_upload(UploadEnd { id, recorded: false }).await.unwrap();
    assert!(matches!(index.upload(id, &repo).await.unwrap(), UploadLookup::Ended));
    let an_hour_ago = std::time::SystemTime::now() - std::time::Duration::from_secs(3600);
    assert_eq!(index.prune_ended_uploads(an_hour_ago).await.unwrap(), 0, "ended just now");
    let soon = std::time::SystemTime::now() + std::time::Duration::from_secs(1);
    assert!(index.prune_ended_uploads(soon).await.unwrap() >= 1);
    assert!(matches!(index.upload(id, &repo).await.unwrap(), UploadLookup::NoRow));
}

async fn a_manifest_with_a_missing_reference_records_nothing(index: &Index) {
    let (repo, missing, tag) = (name("ns/missing"), digest_of("absent"), "v1".parse::<Tag>().unwrap());
    let content = "manifest";
    let digest = digest_of(content);
    let media_type = manifest_type();
    let error = index
        .put_manifest(&plain_manifest(&repo, &digest, &media_type, content, &[&missing], &[&tag]))
        .await
        .unwrap_err();
    assert!(matches!(error, IndexError::MissingReference(d) if d == missing));
    assert!(!index.repository_exists(&repo).await.unwrap(), "the transaction left no repository behind");
    assert!(index.manifest(&repo, &Reference::Tag(tag)).await.unwrap().is_none());
}

async fn manifests_resolve_by_tag_and_digest_and_tags_move(index: &Index) {
    let (repo, blob, tag) = (name("ns/m"), digest_of("layer"), "latest".parse::<Tag>().unwrap());
    index.link_blob(&repo, &blob, 5).await.unwrap();
    let first = push_manifest(index, &repo, "first", &[&blob], &[&tag]).await;
    let stored = index.manifest(&repo, &Reference::Tag(tag.clone())).await.unwrap().unwrap();
    assert_eq!((stored.digest, stored.content), (first.clone(), b"first".to_vec()));
    let second = push_manifest(index, &repo, "second", &[&blob], &[&tag]).await;
    let moved = index.manifest(&repo, &Reference::Tag(tag)).await.unwrap().unwrap();
    assert_eq!(moved.digest, second);
    assert!(index.manifest(&repo, &Reference::Digest(first)).await.unwrap().is_some(), "the old manifest stays");
}

async fn tags_list_in_bytewise_order_with_pagination(index: &Index) {
    let repo = name("ns/tags");
    let names = ["b", "A", "a", "B", "1.0", "_x"];
    for (i, tag) in names.iter().enumerate() {
        push_manifest(index, &repo, &format!("m{i}"), &[], &[&tag.parse().unwrap()]).await;
    }
    let all: Vec<String> = index.tags(&repo, None, 100).await.unwrap().unwrap().iter().map(|t| t.to_string()).collect();
    assert_eq!(all, ["1.0", "A", "B", "_x", "a", "b"]);
    let page: Vec<String> =
        index.tags(&repo, Some("B"), 2).await.unwrap().unwrap().iter().map(|t| t.to_string()).collect();
    assert_eq!(page, ["_x", "a"]);
    assert!(index.tags(&name("ns/none"), None, 10).await.unwrap().is_none());
}

async fn deleting_a_manifest_removes_its_tags_but_deleting_a_tag_keeps_the_manifest(index: &Index) {
    let repo = name("ns/del");
    let (v1, v2) = ("v1".parse::<Tag>().unwrap(), "v2".parse::<Tag>().unwrap());
    let digest = push_manifest(index, &repo, "content", &[], &[&v1, &v2]).await;
    assert!(index.delete_tag(&repo, &v1).await.unwrap());
    assert!(index.manifest(&repo, &Reference::Digest(digest.clone())).await.unwrap().is_some());
    assert!(index.delete_manifest(&repo, &digest).await.unwrap());
    assert!(index.manifest(&repo, &Reference::Tag(v2)).await.unwrap().is_none(), "tags go with their manifest");
    assert!(!index.delete_manifest(&repo, &digest).await.unwrap());
}

async fn referrers_are_found_by_subject_and_filtered_by_artifact_type(index: &Index) {
    let repo = name("ns/refs");
    let subject = push_manifest(index, &repo, "subject", &[], &[]).await;
    let media_type = manifest_type();
    let (sig, sbom) =
        (MediaType::from_static("application/vnd.dev.sig"), MediaType::from_static("application/spdx+json"));
    for (content, artifact_type) in [("signature", &sig), ("sbom", &sbom)] {
        let digest = digest_of(content);
        index
            .put_manifest(&NewManifest {
                repository: &repo,
                digest: &digest,
                media_type: &media_type,
                artifact_type: Some(artifact_type),
                subject: Some(&subject),
                annotations_json: Some(r#"{"k":"v"}"#.into()),
                content: content.as_bytes(),
                blobs: Vec::new(),
                children: Vec::new(),
                tags: Vec::new(),
                wasm: None,
            })
            .await
            .unwrap();
    }
    assert_eq!(index.referrers(&repo, &subject, None, None, 10).await.unwrap().len(), 2);
    let first = index.referrers(&repo, &subject, None, None, 1).await.unwrap();
    let rest = index.referrers(&repo, &subject, None, Some(&first[0].digest), 10).await.unwrap();
    assert_eq!((first.len(), rest.len()), (1, 1), "pages of one");
    assert!(first[0].digest < rest[0].digest, "in digest order");
    let signatures = index.referrers(&repo, &subject, Some(&sig), None, 10).await.unwrap();
    assert_eq!(signatures.len(), 1);
    assert_eq!(signatures[0].digest, digest_of("signature"));
    assert_eq!(signatures[0].annotations_json.as_deref(), Some(r#"{"k":"v"}"#));
    assert!(index.referrers(&name("ns/elsewhere"), &subject, None, None, 10).await.unwrap().is_empty());
}

async fn repositories_list_in_order_with_pagination(index: &Index) {
    for repo in ["zeta/x", "alpha/y", "alpha/x", "mid"] {
        index.link_blob(&name(repo), &digest_of("b"), 1).await.unwrap();
    }
    let names = |list: Vec<RepoName>| list.iter().map(|n| n.to_string()).collect::<Vec<_>>();
    assert_eq!(
        names(index.repositories(None, 10, Default::default()).await.unwrap()),
        ["alpha/x", "alpha/y", "mid", "zeta/x"]
    );
    assert_eq!(names(index.repositories(Some("alpha/y"), 1, Default::default()).await.unwrap()), ["mid"]);
}
