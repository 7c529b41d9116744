//! Push, manifests (OCI distribution-spec v1.1, end-7): every manifest kind the registry
//! accepts (OCI image and index, Docker schema 2 and manifest list, artifacts with any media
//! types, OCI 1.1 `artifactType`/`subject`), the checks on what they reference, and the 400s and
//! 413 for manifests that must be refused.

use crate::common;

use common::{
    body, descriptor, error_code, header, oci_manifest, sha256, sha512, TestServer, DOCKER_CONFIG, DOCKER_LAYER,
    DOCKER_LIST, DOCKER_MANIFEST, EMPTY_JSON, OCI_EMPTY, OCI_INDEX, OCI_MANIFEST, WASM_CONFIG, WASM_LAYER,
};
use serde_json::json;

const MODULE: &[u8] = b"\0asm\x01\0\0\0";
const CONFIG: &[u8] = br#"{"type":"envoy_proxy","abiVersions":["v0.2.1"]}"#;

/// Pushes `CONFIG` and `MODULE` to `repo` and returns a wasm manifest naming them.
async fn wasm_manifest(server: &TestServer, repo: &str) -> serde_json::Value {
    server.push_blob(repo, CONFIG).await;
    server.push_blob(repo, MODULE).await;
    oci_manifest(descriptor(WASM_CONFIG, CONFIG), &[descriptor(WASM_LAYER, MODULE)])
}

/// `GET` a manifest: status, Content-Type (if 200) and body.
async fn pull(server: &TestServer, repo: &str, reference: &str) -> (u16, Option<String>, Vec<u8>) {
    let response = server.get(&format!("/v2/{repo}/manifests/{reference}")).await;
    let status = response.status().as_u16();
    let content_type = (status == 200).then(|| header(&response, "content-type"));
    (status, content_type, body(response).await)
}

async fn tags(server: &TestServer, repo: &str) -> serde_json::Value {
    server.get(&format!("/v2/{repo}/tags/list")).await.json::<serde_json::Value>().await.unwrap()["tags"].clone()
}

/// `PUT` raw bytes and expect a 4xx with `code`.
async fn rejected(server: &TestServer, reference: &str, content_type: &str, bytes: &[u8], status: u16, code: &str) {
    let response = server.put_manifest("ns/app", reference, content_type, bytes).await;
    assert_eq!(response.status(), status, "{}", String::from_utf8_lossy(&bytes[..bytes.len().min(200)]));
    assert_eq!(error_code(response).await, code);
}

#[tokio::test]
async fn oci_image_manifest_push_by_tag_answers_201_with_location_and_digest() {
    let server = TestServer::start().await;
    let manifest = serde_json::to_vec(&wasm_manifest(&server, "ns/app").await).unwrap();
    let response = server.put_manifest("ns/app", "v1", OCI_MANIFEST, &manifest).await;
    assert_eq!(response.status(), 201);
    let digest = sha256(&manifest);
    assert_eq!(header(&response, "location"), format!("/v2/ns/app/manifests/{digest}"));
    assert_eq!(header(&response, "docker-content-digest"), digest);
    assert!(response.headers().get("oci-subject").is_none());
    assert_eq!(pull(&server, "ns/app", "v1").await, (200, Some(OCI_MANIFEST.to_owned()), manifest.clone()));
    assert_eq!(pull(&server, "ns/app", &digest).await.2, manifest);
}

#[tokio::test]
async fn manifest_pushed_by_digest_is_stored_untagged() {
    let server = TestServer::start().await;
    let manifest = serde_json::to_vec(&wasm_manifest(&server, "ns/app").await).unwrap();
    let digest = sha256(&manifest);
    let response = server.put_manifest("ns/app", &digest, OCI_MANIFEST, &manifest).await;
    assert_eq!(response.status(), 201);
    assert_eq!(header(&response, "docker-content-digest"), digest);
    assert_eq!(pull(&server, "ns/app", &digest).await.2, manifest);
    assert_eq!(tags(&server, "ns/app").await, json!([]));
}

#[tokio::test]
async fn manifest_pushed_by_sha512_digest_is_served_under_it() {
    let server = TestServer::start().await;
    let manifest = serde_json::to_vec(&wasm_manifest(&server, "ns/app").await).unwrap();
    let digest = sha512(&manifest);
    let response = server.put_manifest("ns/app", &digest, OCI_MANIFEST, &manifest).await;
    assert_eq!(response.status(), 201);
    assert_eq!(header(&response, "docker-content-digest"), digest);
    let response = server.get(&format!("/v2/ns/app/manifests/{digest}")).await;
    assert_eq!(header(&response, "docker-content-digest"), digest);
    assert_eq!(body(response).await, manifest);
}

#[tokio::test]
async fn oci_index_is_accepted_when_its_children_exist() {
    let server = TestServer::start().await;
    let (a, a_digest) = server.push_image("ns/app", "a", b"module a").await;
    let (b, b_digest) = server.push_image("ns/app", "b", b"module b").await;
    let index = json!({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": [
        {"mediaType": OCI_MANIFEST, "digest": a_digest, "size": a.len(), "platform": {"architecture": "wasm", "os": "wasip1"}},
        {"mediaType": OCI_MANIFEST, "digest": b_digest, "size": b.len(), "platform": {"architecture": "wasm", "os": "wasip2"}},
    ]});
    let (bytes, _) = server.push_manifest("ns/app", "multi", OCI_INDEX, &index).await;
    assert_eq!(pull(&server, "ns/app", "multi").await, (200, Some(OCI_INDEX.to_owned()), bytes));
}

#[tokio::test]
async fn index_naming_a_missing_child_is_rejected_and_not_tagged() {
    let server = TestServer::start().await;
    let (a, a_digest) = server.push_image("ns/app", "a", b"module a").await;
    let index = json!({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": [
        {"mediaType": OCI_MANIFEST, "digest": a_digest, "size": a.len()},
        {"mediaType": OCI_MANIFEST, "digest": sha256(b"never pushed"), "size": 13},
    ]});
    rejected(&server, "multi", OCI_INDEX, &serde_json::to_vec(&index).unwrap(), 400, "MANIFEST_BLOB_UNKNOWN").await;
    assert_eq!(pull(&server, "ns/app", "multi").await.0, 404);
    assert_eq!(tags(&server, "ns/app").await, json!(["a"]));
}

#[tokio::test]
async fn docker_schema2_manifest_and_manifest_list_are_accepted() {
    let server = TestServer::start().await;
    let config = br#"{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}"#;
    server.push_blob("ns/app", config).await;
    server.push_blob("ns/app", MODULE).await;
    let manifest = json!({"schemaVersion": 2, "mediaType": DOCKER_MANIFEST,
        "config": descriptor(DOCKER_CONFIG, config), "layers": [descriptor(DOCKER_LAYER, MODULE)]});
    let (bytes, digest) = server.push_manifest("ns/app", "docker", DOCKER_MANIFEST, &manifest).await;
    assert_eq!(pull(&server, "ns/app", "docker").await, (200, Some(DOCKER_MANIFEST.to_owned()), bytes.clone()));
    let list = json!({"schemaVersion": 2, "mediaType": DOCKER_LIST, "manifests": [
        {"mediaType": DOCKER_MANIFEST, "digest": digest, "size": bytes.len(), "platform": {"architecture": "amd64", "os": "linux"}}]});
    let (bytes, _) = server.push_manifest("ns/app", "list", DOCKER_LIST, &list).await;
    assert_eq!(pull(&server, "ns/app", "list").await, (200, Some(DOCKER_LIST.to_owned()), bytes));
}

#[tokio::test]
async fn artifacts_with_any_config_and_layer_media_types_are_accepted() {
    let server = TestServer::start().await;
    let cases = [
        ("solo", WASM_CONFIG, WASM_LAYER),
        ("cncf", "application/vnd.wasm.config.v0+json", "application/wasm"),
        ("wasm-to-oci", "application/vnd.wasm.config.v1+json", "application/vnd.wasm.content.layer.v1+wasm"),
        ("spin", "application/vnd.fermyon.spin.application.v1+config", "application/vnd.wasm.content.layer.v1+wasm"),
        ("custom", "application/x.example.config+cbor", "text/plain"),
    ];
    for (tag, config_type, layer_type) in cases {
        let config = format!(r#"{{"for":"{tag}"}}"#);
        server.push_blob("ns/app", config.as_bytes()).await;
        server.push_blob("ns/app", MODULE).await;
        let manifest = oci_manifest(descriptor(config_type, config.as_bytes()), &[descriptor(layer_type, MODULE)]);
        let (bytes, _) = server.push_manifest("ns/app", tag, OCI_MANIFEST, &manifest).await;
        assert_eq!(pull(&server, "ns/app", tag).await, (200, Some(OCI_MANIFEST.to_owned()), bytes));
    }
}

#[tokio::test]
async fn manifest_without_media_type_is_served_as_the_pushed_content_type() {
    let server = TestServer::start().await;
    let mut manifest = wasm_manifest(&server, "ns/app").await;
    manifest.as_object_mut().unwrap().remove("mediaType");
    // solo.io `wasme` pushes the config blob again as layers[0].
    manifest["layers"] = json!([descriptor(WASM_CONFIG, CONFIG), descriptor(WASM_LAYER, MODULE)]);
    let (bytes, digest) = server.push_manifest("ns/app", "wasme", OCI_MANIFEST, &manifest).await;
    let response = server.get("/v2/ns/app/manifests/wasme").await;
    assert_eq!(header(&response, "content-type"), OCI_MANIFEST);
    assert_eq!(header(&response, "docker-content-digest"), digest);
    assert_eq!(body(response).await, bytes);
}

#[tokio::test]
async fn content_type_parameters_are_ignored() {
    let server = TestServer::start().await;
    let mut manifest = wasm_manifest(&server, "ns/app").await;
    manifest.as_object_mut().unwrap().remove("mediaType");
    let content_type = format!("{OCI_MANIFEST}; charset=utf-8");
    server.push_manifest("ns/app", "v1", &content_type, &manifest).await;
    assert_eq!(pull(&server, "ns/app", "v1").await.1.as_deref(), Some(OCI_MANIFEST));
}

#[tokio::test]
async fn artifact_type_with_the_empty_config_is_accepted() {
    let server = TestServer::start().await;
    let empty = server.push_blob("ns/app", EMPTY_JSON).await;
    assert_eq!(empty, "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a");
    server.push_blob("ns/app", MODULE).await;
    let mut manifest = oci_manifest(descriptor(OCI_EMPTY, EMPTY_JSON), &[descriptor("application/wasm", MODULE)]);
    manifest["artifactType"] = json!("application/vnd.example.wasm.v1");
    let (bytes, _) = server.push_manifest("ns/app", "artifact", OCI_MANIFEST, &manifest).await;
    assert_eq!(pull(&server, "ns/app", "artifact").await.2, bytes);
}

#[tokio::test]
async fn manifest_naming_a_missing_blob_is_rejected_and_nothing_is_tagged() {
    let server = TestServer::start().await;
    server.push_blob("ns/app", CONFIG).await;
    let missing = b"layer never uploaded";
    let manifest = oci_manifest(descriptor(WASM_CONFIG, CONFIG), &[descriptor(WASM_LAYER, missing)]);
    let bytes = serde_json::to_vec(&manifest).unwrap();
    let response = server.put_manifest("ns/app", "v1", OCI_MANIFEST, &bytes).await;
    assert_eq!(response.status(), 400);
    let error: serde_json::Value = response.json().await.unwrap();
    assert_eq!(error["errors"][0]["code"], "MANIFEST_BLOB_UNKNOWN");
    assert_eq!(error["errors"][0]["detail"]["digest"], sha256(missing));
    assert_eq!(pull(&server, "ns/app", "v1").await.0, 404);
    assert_eq!(pull(&server, "ns/app", &sha256(&bytes)).await.0, 404);
    assert_eq!(tags(&server, "ns/app").await, json!([]));
}

#[tokio::test]
async fn manifest_cannot_use_blobs_of_another_repository() {
    let server = TestServer::start().await;
    let manifest = wasm_manifest(&server, "ns/other").await;
    server.push_blob("ns/app", CONFIG).await;
    let bytes = serde_json::to_vec(&manifest).unwrap();
    rejected(&server, "v1", OCI_MANIFEST, &bytes, 400, "MANIFEST_BLOB_UNKNOWN").await;
}

#[tokio::test]
async fn foreign_layers_need_not_be_pushed() {
    let server = TestServer::start().await;
    let config = br#"{"os":"windows"}"#;
    server.push_blob("ns/app", config).await;
    let mut foreign = descriptor("application/vnd.docker.image.rootfs.foreign.diff.tar.gzip", b"base layer");
    foreign["urls"] = json!(["https://example.com/base.tar.gz"]);
    let manifest = json!({"schemaVersion": 2, "mediaType": DOCKER_MANIFEST,
        "config": descriptor(DOCKER_CONFIG, config), "layers": [foreign]});
    server.push_manifest("ns/app", "win", DOCKER_MANIFEST, &manifest).await;
}

#[tokio::test]
async fn manifest_with_a_subject_not_yet_pushed_is_accepted_with_oci_subject() {
    let server = TestServer::start().await;
    let subject = sha256(b"the image this signs, pushed later");
    let empty = server.push_blob("ns/app", EMPTY_JSON).await;
    let mut manifest = oci_manifest(descriptor(OCI_EMPTY, EMPTY_JSON), &[descriptor(OCI_EMPTY, EMPTY_JSON)]);
    manifest["artifactType"] = json!("application/vnd.example.signature.v1");
    manifest["subject"] = json!({"mediaType": OCI_MANIFEST, "digest": subject, "size": 123});
    let bytes = serde_json::to_vec(&manifest).unwrap();
    let response = server.put_manifest("ns/app", &sha256(&bytes), OCI_MANIFEST, &bytes).await;
    assert_eq!(response.status(), 201);
    assert_eq!(header(&response, "oci-subject"), subject);
    assert_eq!(pull(&server, "ns/app", &sha256(&bytes)).await.2, bytes);
    assert_eq!(empty, sha256(EMPTY_JSON));
}

#[tokio::test]
async fn put_by_a_digest_that_does_not_match_the_body_is_rejected() {
    let server = TestServer::start().await;
    let bytes = serde_json::to_vec(&wasm_manifest(&server, "ns/app").await).unwrap();
    let wrong = sha256(b"another manifest");
    rejected(&server, &wrong, OCI_MANIFEST, &bytes, 400, "DIGEST_INVALID").await;
    assert_eq!(pull(&server, "ns/app", &wrong).await.0, 404);
    assert_eq!(pull(&server, "ns/app", &sha256(&bytes)).await.0, 404);
}

#[tokio::test]
async fn malformed_manifests_are_400_manifest_invalid() {
    let server = TestServer::start().await;
    let mut no_config = wasm_manifest(&server, "ns/app").await;
    no_config.as_object_mut().unwrap().remove("config");
    let mut version3 = wasm_manifest(&server, "ns/app").await;
    version3["schemaVersion"] = json!(3);
    let mut index_with_layers = json!({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": []});
    index_with_layers["layers"] = json!([]);
    let cases: [(&str, Vec<u8>); 6] = [
        (OCI_MANIFEST, b"{not json".to_vec()),
        (OCI_MANIFEST, b"".to_vec()),
        (OCI_MANIFEST, serde_json::to_vec(&no_config).unwrap()),
        (OCI_MANIFEST, serde_json::to_vec(&version3).unwrap()),
        (OCI_INDEX, serde_json::to_vec(&index_with_layers).unwrap()),
        (OCI_MANIFEST, br#"{"schemaVersion":2,"mediaType":"application/vnd.oci.artifact.manifest.v1+json"}"#.to_vec()),
    ];
    for (content_type, bytes) in cases {
        rejected(&server, "bad", content_type, &bytes, 400, "MANIFEST_INVALID").await;
    }
    assert_eq!(pull(&server, "ns/app", "bad").await.0, 404);
}

#[tokio::test]
async fn docker_schema1_manifests_are_rejected() {
    let server = TestServer::start().await;
    let schema1 =
        br#"{"schemaVersion":1,"name":"ns/app","tag":"v1","architecture":"amd64","fsLayers":[],"history":[]}"#;
    for content_type in [
        "application/vnd.docker.distribution.manifest.v1+prettyjws",
        "application/vnd.docker.distribution.manifest.v1+json",
        "application/json",
    ] {
        rejected(&server, "v1", content_type, schema1, 400, "MANIFEST_INVALID").await;
    }
}

#[tokio::test]
async fn manifests_up_to_4_mib_are_accepted_and_larger_ones_are_413() {
    let server = TestServer::start().await;
    let limit = 4 * 1024 * 1024;
    let mut manifest = wasm_manifest(&server, "ns/app").await;
    manifest["annotations"] = json!({"padding": ""});
    let overhead = serde_json::to_vec(&manifest).unwrap().len();
    manifest["annotations"]["padding"] = json!("x".repeat(limit - overhead));
    let exact = serde_json::to_vec(&manifest).unwrap();
    assert_eq!(exact.len(), limit);
    assert_eq!(server.put_manifest("ns/app", "big", OCI_MANIFEST, &exact).await.status(), 201);
    assert_eq!(pull(&server, "ns/app", "big").await.2, exact);

    manifest["annotations"]["padding"] = json!("x".repeat(limit - overhead + 1));
    let over = serde_json::to_vec(&manifest).unwrap();
    rejected(&server, "too-big", OCI_MANIFEST, &over, 413, "SIZE_INVALID").await;
    assert_eq!(pull(&server, "ns/app", "too-big").await.0, 404);
}

#[tokio::test]
async fn media_type_field_conflicting_with_content_type_is_rejected() {
    let server = TestServer::start().await;
    let bytes = serde_json::to_vec(&wasm_manifest(&server, "ns/app").await).unwrap();
    for content_type in [OCI_INDEX, DOCKER_MANIFEST] {
        rejected(&server, "v1", content_type, &bytes, 400, "MANIFEST_INVALID").await;
    }
    assert_eq!(pull(&server, "ns/app", "v1").await.0, 404);
}

#[tokio::test]
async fn tag_parameters_on_a_push_by_digest_add_those_tags() {
    let server = TestServer::start().await;
    let bytes = serde_json::to_vec(&wasm_manifest(&server, "ns/app").await).unwrap();
    let digest = sha256(&bytes);
    let url = server.url(&format!("/v2/ns/app/manifests/{digest}?tag=v1&tag=v1.0.0&tag=latest"));
    let response = server.client.put(url).header("content-type", OCI_MANIFEST).body(bytes.clone()).send().await;
    let response = response.unwrap();
    assert_eq!(response.status(), 201);
    assert_eq!(header(&response, "docker-content-digest"), digest);
    assert_eq!(tags(&server, "ns/app").await, json!(["latest", "v1", "v1.0.0"]));
    for tag in ["v1", "v1.0.0", "latest"] {
        assert_eq!(pull(&server, "ns/app", tag).await.2, bytes, "{tag}");
    }
    let url = server.url(&format!("/v2/ns/app/manifests/{digest}?tag=-invalid"));
    let response = server.client.put(url).header("content-type", OCI_MANIFEST).body(bytes).send().await.unwrap();
    assert_eq!(response.status(), 400);
}

#[tokio::test]
async fn pushing_a_tag_again_moves_it_and_same_bytes_are_idempotent() {
    let server = TestServer::start().await;
    let (first, first_digest) = server.push_image("ns/app", "latest", b"module one").await;
    let (second, second_digest) = server.push_image("ns/app", "latest", b"module two").await;
    assert_ne!(first_digest, second_digest);
    assert_eq!(pull(&server, "ns/app", "latest").await.2, second);
    assert_eq!(pull(&server, "ns/app", &first_digest).await.2, first, "the old manifest stays, untagged");
    let again = server.put_manifest("ns/app", "latest", OCI_MANIFEST, &second).await;
    assert_eq!(again.status(), 201);
    assert_eq!(header(&again, "docker-content-digest"), second_digest);
    assert_eq!(tags(&server, "ns/app").await, json!(["latest"]));
}

#[tokio::test]
async fn tags_follow_the_spec_grammar() {
    let server = TestServer::start().await;
    let bytes = serde_json::to_vec(&wasm_manifest(&server, "ns/app").await).unwrap();
    let longest = format!("_{}", "a.B-9".repeat(127 / 5)) + &"x".repeat(127 % 5);
    assert_eq!(longest.len(), 128);
    for tag in [longest.as_str(), "0", "_", "V1.0-rc_1"] {
        assert_eq!(server.put_manifest("ns/app", tag, OCI_MANIFEST, &bytes).await.status(), 201, "{tag}");
        assert_eq!(pull(&server, "ns/app", tag).await.2, bytes, "{tag}");
    }
    let too_long = "t".repeat(129);
    for tag in [too_long.as_str(), ".hidden", "-dash", "a+b"] {
        rejected(&server, tag, OCI_MANIFEST, &bytes, 400, "MANIFEST_INVALID").await;
    }
}
