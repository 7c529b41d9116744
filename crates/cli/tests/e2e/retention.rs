//! Retention policies, set with `wasmhub retention` and applied by `wasmhub gc` before blob
//! collection: keep the last N tags, protect release tags, delete old untagged manifests, but
//! never what a kept index lists or a referrer of a kept manifest.

use crate::common;

use std::time::Duration;

use common::{backends, descriptor, oci_manifest, sha256, TestServer, EMPTY_JSON, OCI_EMPTY, OCI_INDEX, OCI_MANIFEST};

fn wasmhub(server: &TestServer, args: &[&str]) -> (bool, String) {
    let dir = server.data_dir();
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_wasmhub"))
        .args(args)
        .args(["--database-url", &backends::database_url(dir)])
        .args(if args[0] == "gc" { vec!["--storage-url".to_owned(), backends::storage_url(dir)] } else { vec![] })
        .env("RUST_LOG", "info,sqlx=warn")
        .output()
        .expect("wasmhub runs");
    let text = format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
    (output.status.success(), text)
}

/// Pushes an image whose layer is unique to `name` under `reference`; returns its manifest
/// bytes and digest. A pause first, so that push times (milliseconds) order the tags.
async fn image(server: &TestServer, repo: &str, reference: &str, name: &str) -> (Vec<u8>, String) {
    tokio::time::sleep(Duration::from_millis(5)).await;
    let layer = format!("layer of {name}").into_bytes();
    server.push_blob(repo, EMPTY_JSON).await;
    server.push_blob(repo, &layer).await;
    let manifest = oci_manifest(
        descriptor(OCI_EMPTY, EMPTY_JSON),
        &[descriptor("application/vnd.oci.image.layer.v1.tar", &layer)],
    );
    let bytes = serde_json::to_vec(&manifest).unwrap();
    let reference = if reference.is_empty() { sha256(&bytes) } else { reference.to_owned() };
    server.push_manifest(repo, &reference, OCI_MANIFEST, &manifest).await
}

async fn tags(server: &TestServer, repo: &str) -> Vec<String> {
    let body: serde_json::Value = server.get(&format!("/v2/{repo}/tags/list")).await.json().await.unwrap();
    let mut tags: Vec<String> =
        body["tags"].as_array().unwrap().iter().map(|t| t.as_str().unwrap().to_owned()).collect();
    tags.sort();
    tags
}

async fn status(server: &TestServer, path: &str) -> u16 {
    server.get(path).await.status().as_u16()
}

#[tokio::test]
async fn gc_applies_retention_before_collection_and_keeps_what_kept_manifests_need() {
    let server = TestServer::start().await;
    let repo = "keep/app";
    let (_, dev1) = image(&server, repo, "dev-1", "dev-1").await;
    image(&server, repo, "dev-2", "dev-2").await;
    image(&server, repo, "v1.0.0", "release").await;
    image(&server, repo, "dev-3", "dev-3").await;
    let (child_bytes, child) = image(&server, repo, "", "child").await;
    tokio::time::sleep(Duration::from_millis(5)).await;
    let index = serde_json::json!({ "schemaVersion": 2, "mediaType": OCI_INDEX,
        "manifests": [descriptor(OCI_MANIFEST, &child_bytes)] });
    server.push_manifest(repo, "multi", OCI_INDEX, &index).await;
    let (dev4_bytes, _) = image(&server, repo, "dev-4", "dev-4").await;
    let (_, orphan) = image(&server, repo, "", "orphan").await;
    let mut signature = oci_manifest(descriptor(OCI_EMPTY, EMPTY_JSON), &[descriptor(OCI_EMPTY, EMPTY_JSON)]);
    signature["artifactType"] = "application/vnd.example.signature".into();
    signature["subject"] = descriptor(OCI_MANIFEST, &dev4_bytes);
    let (_, referrer) =
        server.push_manifest(repo, &sha256(&serde_json::to_vec(&signature).unwrap()), OCI_MANIFEST, &signature).await;
    // A repository no policy governs keeps everything.
    let (_, elsewhere) = image(&server, "free/app", "", "elsewhere").await;

    let policy =
        ["retention", "set", "keep/*", "--keep-last", "2", "--untagged-older-than", "0s", "--protect", "v*.*.*"];
    let (ok, out) = wasmhub(&server, &policy);
    assert!(ok, "{out}");
    let (ok, out) = wasmhub(&server, &["retention", "list"]);
    assert!(ok && out.contains("keep/* --keep-last 2 --untagged-older-than 0s --protect 'v*.*.*'"), "{out}");
    tokio::time::sleep(Duration::from_millis(20)).await;

    let all_tags = ["dev-1", "dev-2", "dev-3", "dev-4", "multi", "v1.0.0"];
    let (ok, log) = wasmhub(&server, &["gc", "--dry-run", "--grace", "0s"]);
    assert!(ok, "{log}");
    assert!(log.contains("retention: 3 tags, 4 untagged manifests"), "dev-1..3 and their manifests, the orphan: {log}");
    assert!(log.contains("retention would delete tag") && log.contains("dev-1"), "each is named: {log}");
    assert_eq!(tags(&server, repo).await, all_tags, "a dry run deletes nothing");

    let (ok, log) = wasmhub(&server, &["gc", "--grace", "0s"]);
    assert!(ok, "{log}");
    assert_eq!(tags(&server, repo).await, ["dev-4", "multi", "v1.0.0"], "two newest unprotected, and the release");
    assert_eq!(status(&server, &format!("/v2/{repo}/manifests/{dev1}")).await, 404);
    assert_eq!(status(&server, &format!("/v2/{repo}/manifests/{orphan}")).await, 404);
    assert_eq!(status(&server, &format!("/v2/{repo}/manifests/{child}")).await, 200, "listed by the kept index");
    assert_eq!(status(&server, &format!("/v2/{repo}/manifests/{referrer}")).await, 200, "refers to a kept manifest");
    assert_eq!(status(&server, &format!("/v2/free/app/manifests/{elsewhere}")).await, 200, "not governed");
    let dev1_layer = sha256(b"layer of dev-1");
    assert_eq!(status(&server, &format!("/v2/{repo}/blobs/{dev1_layer}")).await, 404, "collected in the same run");
    assert_eq!(status(&server, &format!("/v2/{repo}/blobs/{}", sha256(b"layer of child"))).await, 200);

    let runs = server.registry.index().gc_runs(1).await.unwrap();
    assert_eq!((runs[0].tags_deleted, runs[0].manifests_deleted), (3, 4), "{runs:?}");
    let (ok, out) = wasmhub(&server, &["retention", "remove", "keep/*"]);
    assert!(ok, "{out}");
    let (ok, out) = wasmhub(&server, &["retention", "remove", "keep/*"]);
    assert!(!ok && out.contains("no policy"), "{out}");
}

#[tokio::test]
async fn keep_last_alone_removes_tags_but_not_manifests_and_spares_immutable_repositories() {
    let server = TestServer::start().await;
    for tag in ["a", "b", "c"] {
        image(&server, "only/tags", tag, tag).await;
        image(&server, "only/frozen", tag, tag).await;
    }
    server.registry.set_immutable(&"only/frozen".parse().unwrap(), true).await.unwrap();
    let policy = wasmhub_registry::RetentionPolicy {
        pattern: "only/*".parse().unwrap(),
        keep_last: Some(1),
        untagged_older_than: None,
        protect: Vec::new(),
    };
    server.registry.set_retention_policy(&policy).await.unwrap();
    let options = wasmhub_registry::GcOptions { grace: Duration::ZERO, ..Default::default() };
    let report = server.registry.collect_garbage(&options, |_, _| {}).await.unwrap();
    assert_eq!((report.retention.tags, report.retention.manifests), (2, 0), "{report:?}");
    assert_eq!(tags(&server, "only/tags").await, ["c"]);
    assert_eq!(tags(&server, "only/frozen").await, ["a", "b", "c"], "immutable tags are never deleted");
    let untagged = sha256(
        &serde_json::to_vec(&oci_manifest(
            descriptor(OCI_EMPTY, EMPTY_JSON),
            &[descriptor("application/vnd.oci.image.layer.v1.tar", b"layer of a")],
        ))
        .unwrap(),
    );
    assert_eq!(status(&server, &format!("/v2/only/tags/manifests/{untagged}")).await, 200, "no age rule: it stays");
}
