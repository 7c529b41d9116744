//! Several `wasmhub serve` replicas sharing one PostgreSQL and one blob store behave as one
//! registry, and concurrent pushers on the production path finish intact.
//!
//! These tests always run on PostgreSQL (they are about the production backend), with S3
//! when `WASMHUB_TEST_STORAGE=s3` and a shared directory otherwise.

use crate::common;

use common::{sha256, TestServer, OCI_MANIFEST};

fn image_manifest(config: &[u8], layers: &[&[u8]]) -> Vec<u8> {
    let layers: Vec<_> = layers
        .iter()
        .map(|layer| serde_json::json!({"mediaType": "application/wasm", "digest": sha256(layer), "size": layer.len()}))
        .collect();
    serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2, "mediaType": OCI_MANIFEST,
        "config": {"mediaType": "application/vnd.wasm.config.v0+json", "digest": sha256(config), "size": config.len()},
        "layers": layers,
    }))
    .unwrap()
}

async fn pull_and_verify(server: &TestServer, repo: &str, tag: &str) -> String {
    let response = server.client.get(server.url(&format!("/v2/{repo}/manifests/{tag}"))).send().await.unwrap();
    assert_eq!(response.status(), 200, "{repo}:{tag} through {}", server.base);
    let digest = common::header(&response, "docker-content-digest");
    let manifest: serde_json::Value = response.json().await.unwrap();
    for descriptor in std::iter::once(&manifest["config"]).chain(manifest["layers"].as_array().unwrap()) {
        let digest = descriptor["digest"].as_str().unwrap();
        let blob = server.client.get(server.url(&format!("/v2/{repo}/blobs/{digest}"))).send().await.unwrap();
        assert_eq!(blob.status(), 200, "blob {digest} of {repo}:{tag}");
        assert_eq!(sha256(&blob.bytes().await.unwrap()), digest, "blob {digest} is intact");
    }
    digest
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_upload_started_on_one_replica_is_continued_and_finished_on_the_other() {
    let (a, b) = TestServer::start_replicas().await;
    let data: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
    let digest = sha256(&data);
    let start = a.client.post(a.url("/v2/replicas/upload/blobs/uploads/")).send().await.unwrap();
    assert_eq!(start.status(), 202);
    let mut location = common::header(&start, "location");
    for (index, chunk) in data.chunks(100_000).enumerate() {
        let server = if index % 2 == 0 { &a } else { &b };
        let first = index * 100_000;
        let response = server
            .client
            .patch(server.url(&location))
            .header("content-range", format!("{first}-{}", first + chunk.len() - 1))
            .body(chunk.to_vec())
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 202, "chunk {index} through {}", server.base);
        location = common::header(&response, "location");
    }
    let status = a.client.get(a.url(&location)).send().await.unwrap();
    assert_eq!(status.status(), 204);
    assert_eq!(common::header(&status, "range"), format!("0-{}", data.len() - 1));
    let finish = b.client.put(b.url(&format!("{location}?digest={digest}"))).send().await.unwrap();
    assert_eq!(finish.status(), 201);
    let pulled = a.client.get(a.url(&format!("/v2/replicas/upload/blobs/{digest}"))).send().await.unwrap();
    assert_eq!(pulled.status(), 200);
    assert_eq!(sha256(&pulled.bytes().await.unwrap()), digest);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_upload_id_issued_by_one_replica_is_finished_by_the_other_and_then_unknown_to_both() {
    // The POST writes nothing: the other replica knows the id by its signature alone.
    let (a, b) = TestServer::start_replicas().await;
    let data = b"a whole blob in the PUT after the POST".to_vec();
    let start = a.client.post(a.url("/v2/replicas/issued/blobs/uploads/")).send().await.unwrap();
    assert_eq!(start.status(), 202);
    let location = common::header(&start, "location");
    let finish = b.client.put(b.url(&format!("{location}?digest={}", sha256(&data)))).body(data).send().await.unwrap();
    assert_eq!(finish.status(), 201);
    for server in [&a, &b] {
        let status = server.client.get(server.url(&location)).send().await.unwrap();
        assert_eq!(status.status(), 404, "a finished session through {}", server.base);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_tag_pushed_through_one_replica_is_visible_through_the_other_at_once() {
    let (a, b) = TestServer::start_replicas().await;
    let (_, first) = a.push_image("replicas/tags", "v1", b"first layer").await;
    assert_eq!(pull_and_verify(&b, "replicas/tags", "v1").await, first);
    let (_, second) = b.push_image("replicas/tags", "v1", b"second layer").await;
    assert_eq!(pull_and_verify(&a, "replicas/tags", "v1").await, second, "the tag moved for both replicas");
    let tags: serde_json::Value =
        a.client.get(a.url("/v2/replicas/tags/tags/list")).send().await.unwrap().json().await.unwrap();
    assert_eq!(tags["tags"], serde_json::json!(["v1"]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_pushes_of_different_manifests_to_one_tag_leave_it_on_one_complete_manifest() {
    let (a, b) = TestServer::start_replicas().await;
    let repo = "replicas/race";
    for round in 0..10u32 {
        let (layer_a, layer_b) = (format!("a-{round}").into_bytes(), format!("b-{round}").into_bytes());
        let config = b"{}".to_vec();
        for blob in [&layer_a, &layer_b, &config] {
            a.push_blob(repo, blob).await;
        }
        let manifest_a = image_manifest(&config, &[&layer_a]);
        let manifest_b = image_manifest(&config, &[&layer_b]);
        let (ra, rb) = tokio::join!(
            a.put_manifest(repo, "latest", OCI_MANIFEST, &manifest_a),
            b.put_manifest(repo, "latest", OCI_MANIFEST, &manifest_b)
        );
        assert_eq!((ra.status().as_u16(), rb.status().as_u16()), (201, 201), "round {round}");
        let seen_a = pull_and_verify(&a, repo, "latest").await;
        let seen_b = pull_and_verify(&b, repo, "latest").await;
        assert_eq!(seen_a, seen_b, "both replicas agree on the tag");
        assert!([sha256(&manifest_a), sha256(&manifest_b)].contains(&seen_a), "the tag is on one of the two pushes");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn thirty_two_concurrent_pushers_with_shared_layers_finish_intact_without_server_errors() {
    let (a, b) = TestServer::start_replicas().await;
    let servers = std::sync::Arc::new((a, b));
    let shared_layer: Vec<u8> = (0..200_000u32).map(|i| (i * 7 % 256) as u8).collect();
    let mut pushers = Vec::new();
    for pusher in 0..32usize {
        let servers = servers.clone();
        let shared_layer = shared_layer.clone();
        pushers.push(tokio::spawn(async move {
            let server = if pusher % 2 == 0 { &servers.0 } else { &servers.1 };
            let repo = format!("load/repo-{}", pusher % 8);
            let own_layer = format!("pusher {pusher} owns this layer").repeat(1000).into_bytes();
            let config = format!(r#"{{"pusher":{pusher}}}"#).into_bytes();
            let mut statuses = Vec::new();
            for blob in [&shared_layer, &own_layer, &config] {
                let response = server
                    .client
                    .post(server.url(&format!("/v2/{repo}/blobs/uploads/?digest={}", sha256(blob))))
                    .body(blob.clone())
                    .send()
                    .await
                    .unwrap();
                statuses.push(response.status().as_u16());
            }
            let manifest = image_manifest(&config, &[&shared_layer, &own_layer]);
            let response = server.put_manifest(&repo, &format!("p{pusher}"), OCI_MANIFEST, &manifest).await;
            statuses.push(response.status().as_u16());
            (repo, format!("p{pusher}"), statuses)
        }));
    }
    for pusher in pushers {
        let (repo, tag, statuses) = pusher.await.unwrap();
        assert!(statuses.iter().all(|&s| s == 201), "{repo}:{tag} push statuses {statuses:?}");
        pull_and_verify(&servers.0, &repo, &tag).await;
        pull_and_verify(&servers.1, &repo, &tag).await;
    }
}
