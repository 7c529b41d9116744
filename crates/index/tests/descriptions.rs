//! A repository's own description (migration 0008), on both backends: unknown repositories
//! say so, a set description reads back exactly (Unicode and newlines included), clearing it
//! leaves the repository without one, and each change that happened is audited.

use wasmhub_index::{Actor, AuditEntry, AuditQuery, Index};
use wasmhub_oci::{Digest, RepoName};

mod common;

on_both_backends!(descriptions_are_set_read_back_and_cleared);

async fn descriptions_are_set_read_back_and_cleared(index: &Index) {
    let repo: RepoName = "team/filter".parse().unwrap();
    let alice = Actor { name: "alice".into(), client_ip: None };
    let audit = AuditEntry {
        actor: &alice,
        action: "repository.description",
        repository: Some(repo.as_str()),
        target: repo.as_str(),
        detail: None,
    };
    assert_eq!(index.repository_description(&repo).await.unwrap(), None, "unknown repository");
    assert!(!index.set_repository_description(&repo, Some("nothing to describe"), &audit).await.unwrap());

    // A blob link creates the repository.
    index.link_blob(&repo, &Digest::sha256_of(b"blob"), 4).await.unwrap();
    assert_eq!(index.repository_description(&repo).await.unwrap(), Some(None), "none set yet");

    let text = "Adds a header — “x-hello”.\nSecond line <b>as typed</b>.";
    assert!(index.set_repository_description(&repo, Some(text), &audit).await.unwrap());
    assert_eq!(index.repository_description(&repo).await.unwrap(), Some(Some(text.to_owned())));

    assert!(index.set_repository_description(&repo, None, &audit).await.unwrap());
    assert_eq!(index.repository_description(&repo).await.unwrap(), Some(None));

    // Two changes, not the refused one on the unknown repository.
    let by_alice = AuditQuery { actor: Some("alice".into()), limit: 10, ..Default::default() };
    assert_eq!(index.audit(&by_alice).await.unwrap().1, 2);
}
