//! Immutable tags: once a repository is marked (`wasmhub immutable set`), a tag that exists
//! never moves to another digest and is never deleted; the answer is 403 with `DENIED`.

use crate::common;

use common::{backends, descriptor, error_code, oci_manifest, TestServer, OCI_MANIFEST};

/// Runs the `wasmhub` binary against the server's database; returns success and stdout.
fn wasmhub(server: &TestServer, args: &[&str]) -> (bool, String) {
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_wasmhub"))
        .args(args)
        .args(["--database-url", &backends::database_url(server.data_dir())])
        .env("RUST_LOG", "warn")
        .output()
        .expect("wasmhub runs");
    let text = format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
    (output.status.success(), text)
}

/// An image manifest whose config says `which` (so each call gives a new digest).
async fn manifest(server: &TestServer, repo: &str, which: &str) -> serde_json::Value {
    let config = format!(r#"{{"which":"{which}"}}"#).into_bytes();
    server.push_blob(repo, &config).await;
    server.push_blob(repo, b"a layer").await;
    oci_manifest(
        descriptor("application/vnd.oci.image.config.v1+json", &config),
        &[descriptor("application/vnd.oci.image.layer.v1.tar", b"a layer")],
    )
}

async fn put(server: &TestServer, repo: &str, reference: &str, manifest: &serde_json::Value) -> reqwest::Response {
    server.put_manifest(repo, reference, OCI_MANIFEST, &serde_json::to_vec(manifest).unwrap()).await
}

async fn denied(response: reqwest::Response) -> String {
    assert_eq!(response.status(), 403);
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["errors"][0]["code"], "DENIED", "{body}");
    body["errors"][0]["message"].as_str().unwrap_or_default().to_owned()
        + body["errors"][0]["detail"].as_str().unwrap_or_default()
}

#[tokio::test]
async fn an_immutable_tag_accepts_its_own_digest_again_and_nothing_else() {
    let server = TestServer::start().await;
    let (ok, out) = wasmhub(&server, &["immutable", "set", "frozen/app"]);
    assert!(ok, "{out}");
    let first = manifest(&server, "frozen/app", "first").await;
    let second = manifest(&server, "frozen/app", "second").await;
    let (_, first_digest) = server.push_manifest("frozen/app", "v1", OCI_MANIFEST, &first).await;

    assert_eq!(put(&server, "frozen/app", "v1", &first).await.status(), 201, "the same digest again is fine");
    let message = denied(put(&server, "frozen/app", "v1", &second).await).await;
    assert!(message.contains("immutable") && message.contains("v1"), "a clear reason: {message}");
    let pulled = server.get("/v2/frozen/app/manifests/v1").await;
    assert_eq!(common::header(&pulled, "docker-content-digest"), first_digest, "the tag did not move");

    // New tags, and digests pushed without a tag, are still welcome.
    assert_eq!(put(&server, "frozen/app", "v2", &second).await.status(), 201);
    let third = manifest(&server, "frozen/app", "third").await;
    let third_digest = common::sha256(&serde_json::to_vec(&third).unwrap());
    assert_eq!(put(&server, "frozen/app", &third_digest, &third).await.status(), 201);

    let (ok, out) = wasmhub(&server, &["immutable", "list"]);
    assert!(ok && out.contains("frozen/app"), "{out}");
}

#[tokio::test]
async fn immutable_tags_cannot_be_deleted_nor_their_manifests_but_untagged_ones_can() {
    let server = TestServer::start().await;
    server.registry.set_immutable(&"frozen/del".parse().unwrap(), true).await.unwrap();
    let tagged = manifest(&server, "frozen/del", "tagged").await;
    let (_, tagged_digest) = server.push_manifest("frozen/del", "v1", OCI_MANIFEST, &tagged).await;
    let loose = manifest(&server, "frozen/del", "loose").await;
    let loose_digest = common::sha256(&serde_json::to_vec(&loose).unwrap());
    server.push_manifest("frozen/del", &loose_digest, OCI_MANIFEST, &loose).await;

    denied(server.delete("/v2/frozen/del/manifests/v1").await).await;
    denied(server.delete(&format!("/v2/frozen/del/manifests/{tagged_digest}")).await).await;
    assert_eq!(server.get("/v2/frozen/del/manifests/v1").await.status(), 200);
    assert_eq!(server.delete(&format!("/v2/frozen/del/manifests/{loose_digest}")).await.status(), 202);

    // Mutable again: the same requests succeed.
    let (ok, out) = wasmhub(&server, &["immutable", "unset", "frozen/del"]);
    assert!(ok, "{out}");
    let other = manifest(&server, "frozen/del", "other").await;
    assert_eq!(put(&server, "frozen/del", "v1", &other).await.status(), 201);
    assert_eq!(server.delete("/v2/frozen/del/manifests/v1").await.status(), 202);
}

#[tokio::test]
async fn other_repositories_are_unaffected() {
    let server = TestServer::start().await;
    server.registry.set_immutable(&"frozen/one".parse().unwrap(), true).await.unwrap();
    let first = manifest(&server, "free/one", "first").await;
    let second = manifest(&server, "free/one", "second").await;
    server.push_manifest("free/one", "v1", OCI_MANIFEST, &first).await;
    assert_eq!(put(&server, "free/one", "v1", &second).await.status(), 201, "tags move where not immutable");
    let response = server.delete("/v2/free/one/manifests/nonexistent").await;
    assert_eq!(error_code(response).await, "MANIFEST_UNKNOWN");
}
