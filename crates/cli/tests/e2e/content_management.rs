//! Content management (OCI distribution-spec v1.1, end-9, end-10): deleting manifests (with
//! their tags), tags alone and blobs, the 404s for what is not there, and 405 for methods an
//! endpoint does not have.

use crate::common;

use common::{
    body, descriptor, error_code, header, oci_manifest, sha256, TestServer, OCI_MANIFEST, WASM_CONFIG, WASM_LAYER,
};
use serde_json::{json, Value};

async fn status(server: &TestServer, path: &str) -> u16 {
    server.get(path).await.status().as_u16()
}

async fn tags(server: &TestServer, repo: &str) -> Value {
    server.get(&format!("/v2/{repo}/tags/list")).await.json::<Value>().await.unwrap()["tags"].clone()
}

/// `DELETE path`, expecting `code` with a 404.
async fn delete_unknown(server: &TestServer, path: &str, code: &str) {
    let response = server.delete(path).await;
    assert_eq!(response.status(), 404, "DELETE {path}");
    assert_eq!(error_code(response).await, code, "DELETE {path}");
}

#[tokio::test]
async fn deleting_a_manifest_by_digest_removes_it_and_all_its_tags() {
    let server = TestServer::start().await;
    let (manifest, digest) = server.push_image("ns/app", "v1", b"module").await;
    server.put_manifest("ns/app", "latest", OCI_MANIFEST, &manifest).await;
    server.push_image("ns/app", "other", b"another module").await;

    let response = server.delete(&format!("/v2/ns/app/manifests/{digest}")).await;
    assert_eq!(response.status(), 202);
    for reference in [digest.as_str(), "v1", "latest"] {
        let response = server.get(&format!("/v2/ns/app/manifests/{reference}")).await;
        assert_eq!(response.status(), 404, "{reference}");
        assert_eq!(error_code(response).await, "MANIFEST_UNKNOWN");
        assert_eq!(server.head(&format!("/v2/ns/app/manifests/{reference}")).await.status(), 404);
    }
    assert_eq!(tags(&server, "ns/app").await, json!(["other"]));
    assert_eq!(status(&server, "/v2/ns/app/manifests/other").await, 200);
}

#[tokio::test]
async fn deleting_a_tag_leaves_the_manifest_and_other_tags() {
    let server = TestServer::start().await;
    let (manifest, digest) = server.push_image("ns/app", "v1", b"module").await;
    server.put_manifest("ns/app", "stable", OCI_MANIFEST, &manifest).await;

    let response = server.delete("/v2/ns/app/manifests/v1").await;
    assert_eq!(response.status(), 202);
    let response = server.get("/v2/ns/app/manifests/v1").await;
    assert_eq!(response.status(), 404);
    assert_eq!(error_code(response).await, "MANIFEST_UNKNOWN");
    assert_eq!(body(server.get(&format!("/v2/ns/app/manifests/{digest}")).await).await, manifest);
    assert_eq!(body(server.get("/v2/ns/app/manifests/stable").await).await, manifest);
    assert_eq!(tags(&server, "ns/app").await, json!(["stable"]));
}

#[tokio::test]
async fn deleting_a_blob_unlinks_it_from_that_repository_only() {
    let server = TestServer::start().await;
    let blob = b"shared layer bytes";
    let digest = server.push_blob("ns/one", blob).await;
    server.push_blob("ns/two", blob).await;

    let response = server.delete(&format!("/v2/ns/one/blobs/{digest}")).await;
    assert_eq!(response.status(), 202);
    let response = server.get(&format!("/v2/ns/one/blobs/{digest}")).await;
    assert_eq!(response.status(), 404);
    assert_eq!(error_code(response).await, "BLOB_UNKNOWN");
    assert_eq!(server.head(&format!("/v2/ns/one/blobs/{digest}")).await.status(), 404);
    let response = server.get(&format!("/v2/ns/two/blobs/{digest}")).await;
    assert_eq!(response.status(), 200);
    assert_eq!(body(response).await, blob);
}

#[tokio::test]
async fn a_mounted_blob_survives_deletion_from_its_source() {
    let server = TestServer::start().await;
    let digest = server.push_blob("ns/source", b"mounted bytes").await;
    let mount = server.url(&format!("/v2/ns/target/blobs/uploads/?mount={digest}&from=ns/source"));
    assert_eq!(server.client.post(mount).send().await.unwrap().status(), 201);
    assert_eq!(server.delete(&format!("/v2/ns/source/blobs/{digest}")).await.status(), 202);
    assert_eq!(body(server.get(&format!("/v2/ns/target/blobs/{digest}")).await).await, b"mounted bytes");
}

#[tokio::test]
async fn a_deleted_blob_cannot_be_named_by_a_new_manifest_until_pushed_again() {
    let server = TestServer::start().await;
    let config = br#"{"type":"envoy_proxy"}"#;
    let layer = b"\0asm\x01\0\0\0";
    server.push_blob("ns/app", config).await;
    let digest = server.push_blob("ns/app", layer).await;
    assert_eq!(server.delete(&format!("/v2/ns/app/blobs/{digest}")).await.status(), 202);

    let manifest = oci_manifest(descriptor(WASM_CONFIG, config), &[descriptor(WASM_LAYER, layer)]);
    let bytes = serde_json::to_vec(&manifest).unwrap();
    let response = server.put_manifest("ns/app", "v1", OCI_MANIFEST, &bytes).await;
    assert_eq!(response.status(), 400);
    assert_eq!(error_code(response).await, "MANIFEST_BLOB_UNKNOWN");

    server.push_blob("ns/app", layer).await;
    assert_eq!(body(server.get(&format!("/v2/ns/app/blobs/{digest}")).await).await, layer);
    assert_eq!(server.put_manifest("ns/app", "v1", OCI_MANIFEST, &bytes).await.status(), 201);
}

#[tokio::test]
async fn a_blob_in_use_by_a_manifest_can_be_deleted_and_the_manifest_stays() {
    let server = TestServer::start().await;
    let (manifest, _) = server.push_image("ns/app", "v1", b"layer in use").await;
    let layer = sha256(b"layer in use");
    assert_eq!(server.delete(&format!("/v2/ns/app/blobs/{layer}")).await.status(), 202);
    assert_eq!(status(&server, &format!("/v2/ns/app/blobs/{layer}")).await, 404);
    assert_eq!(body(server.get("/v2/ns/app/manifests/v1").await).await, manifest);
}

#[tokio::test]
async fn deleting_what_is_not_there_is_404() {
    let server = TestServer::start().await;
    let (_, digest) = server.push_image("ns/app", "v1", b"module").await;
    let absent = sha256(b"never pushed");
    delete_unknown(&server, &format!("/v2/ns/app/manifests/{absent}"), "MANIFEST_UNKNOWN").await;
    delete_unknown(&server, "/v2/ns/app/manifests/nope", "MANIFEST_UNKNOWN").await;
    delete_unknown(&server, &format!("/v2/ns/app/blobs/{absent}"), "BLOB_UNKNOWN").await;
    delete_unknown(&server, &format!("/v2/ns/other/manifests/{digest}"), "NAME_UNKNOWN").await;
    delete_unknown(&server, "/v2/ns/other/manifests/v1", "NAME_UNKNOWN").await;
    // Deleting twice: the second finds nothing.
    assert_eq!(server.delete("/v2/ns/app/manifests/v1").await.status(), 202);
    delete_unknown(&server, "/v2/ns/app/manifests/v1", "MANIFEST_UNKNOWN").await;
    assert_eq!(server.delete(&format!("/v2/ns/app/manifests/{digest}")).await.status(), 202);
    delete_unknown(&server, &format!("/v2/ns/app/manifests/{digest}"), "MANIFEST_UNKNOWN").await;
}

#[tokio::test]
async fn delete_with_an_invalid_reference_is_400() {
    let server = TestServer::start().await;
    server.push_image("ns/app", "v1", b"module").await;
    for (path, code) in [
        ("/v2/ns/app/manifests/sha256:123", "DIGEST_INVALID"),
        ("/v2/ns/app/blobs/sha256:123", "DIGEST_INVALID"),
        ("/v2/NS/app/manifests/v1", "NAME_INVALID"),
    ] {
        let response = server.delete(path).await;
        assert_eq!(response.status(), 400, "{path}");
        assert_eq!(error_code(response).await, code, "{path}");
    }
}

#[tokio::test]
async fn a_deleted_manifest_can_be_pushed_again() {
    let server = TestServer::start().await;
    let (manifest, digest) = server.push_image("ns/app", "v1", b"module").await;
    assert_eq!(server.delete(&format!("/v2/ns/app/manifests/{digest}")).await.status(), 202);
    let response = server.put_manifest("ns/app", "v1", OCI_MANIFEST, &manifest).await;
    assert_eq!(response.status(), 201);
    assert_eq!(common::header(&response, "docker-content-digest"), digest);
    assert_eq!(body(server.get("/v2/ns/app/manifests/v1").await).await, manifest);
    assert_eq!(body(server.get(&format!("/v2/ns/app/manifests/{digest}")).await).await, manifest);
    assert_eq!(tags(&server, "ns/app").await, json!(["v1"]));
}

#[tokio::test]
async fn referrers_come_in_pages_linked_by_the_spec_link_header_keeping_the_filter() {
    let limits = wasmhub_registry::Limits { referrers_page_size: 2, ..Default::default() };
    let server = TestServer::start_with_limits(limits).await;
    let (_, subject) = server.push_image("ns/app", "v1", b"module").await;
    let mut pushed = Vec::new();
    for n in 0..5 {
        let config = format!(r#"{{"signature":{n}}}"#);
        server.push_blob("ns/app", config.as_bytes()).await;
        let kind = if n == 4 { "application/vnd.example.sbom" } else { "application/vnd.example.sig" };
        let mut manifest = oci_manifest(descriptor("application/vnd.example.config+json", config.as_bytes()), &[]);
        manifest["artifactType"] = json!(kind);
        manifest["subject"] = json!({"mediaType": OCI_MANIFEST, "digest": subject, "size": 1});
        let (_, digest) = server.push_manifest("ns/app", &format!("sig{n}"), OCI_MANIFEST, &manifest).await;
        pushed.push((digest, kind));
    }
    let walk = |first: String| {
        let server = &server;
        async move {
            let (mut next, mut listed, mut pages) = (Some(first), Vec::new(), 0);
            while let Some(path) = next.take() {
                let response = server.get(&path).await;
                assert_eq!(response.status(), 200, "{path}");
                next = response.headers().get("link").map(|link| {
                    let link = link.to_str().unwrap();
                    assert!(link.ends_with(r#">; rel="next""#), "{link}");
                    link[1..link.find('>').unwrap()].to_owned()
                });
                let page = response.json::<Value>().await.unwrap()["manifests"].as_array().unwrap().clone();
                assert!(page.len() <= 2, "page {pages} has {} descriptors", page.len());
                listed.extend(page.iter().map(|d| d["digest"].as_str().unwrap().to_owned()));
                pages += 1;
            }
            (listed, pages)
        }
    };
    let mut all: Vec<String> = pushed.iter().map(|(digest, _)| digest.clone()).collect();
    all.sort();
    assert_eq!(walk(format!("/v2/ns/app/referrers/{subject}")).await, (all, 3));
    let mut signatures: Vec<String> =
        pushed.iter().filter(|(_, kind)| kind.ends_with("sig")).map(|(digest, _)| digest.clone()).collect();
    signatures.sort();
    let filtered = format!("/v2/ns/app/referrers/{subject}?artifactType=application%2Fvnd.example.sig");
    assert_eq!(walk(filtered).await, (signatures, 2), "every page keeps the filter");
}

#[tokio::test]
async fn a_deleted_referrer_leaves_the_referrers_list() {
    let server = TestServer::start().await;
    let (_, subject) = server.push_image("ns/app", "v1", b"module").await;
    let config = br#"{"signed":true}"#;
    server.push_blob("ns/app", config).await;
    let mut manifest = oci_manifest(descriptor("application/vnd.example.sig.config+json", config), &[]);
    manifest["subject"] = json!({"mediaType": OCI_MANIFEST, "digest": subject, "size": 1});
    let (_, digest) = server.push_manifest("ns/app", "sig", OCI_MANIFEST, &manifest).await;
    let path = format!("/v2/ns/app/referrers/{subject}");
    let listed = server.get(&path).await.json::<Value>().await.unwrap()["manifests"].clone();
    assert_eq!(listed.as_array().unwrap().len(), 1);
    assert_eq!(server.delete(&format!("/v2/ns/app/manifests/{digest}")).await.status(), 202);
    let listed = server.get(&path).await.json::<Value>().await.unwrap()["manifests"].clone();
    assert_eq!(listed, json!([]));
}

#[tokio::test]
async fn methods_an_endpoint_does_not_have_are_405_unsupported() {
    let server = TestServer::start().await;
    let (_, digest) = server.push_image("ns/app", "v1", b"module").await;
    let client = &server.client;
    let requests = [
        client.delete(server.url("/v2/")),
        client.delete(server.url("/v2/_catalog")),
        client.delete(server.url("/v2/ns/app/tags/list")),
        client.delete(server.url(&format!("/v2/ns/app/referrers/{digest}"))),
        client.post(server.url("/v2/ns/app/manifests/v1")),
        client.patch(server.url("/v2/ns/app/manifests/v1")),
        client.put(server.url(&format!("/v2/ns/app/blobs/{digest}"))),
        client.patch(server.url(&format!("/v2/ns/app/blobs/{digest}"))),
        client.get(server.url("/v2/ns/app/blobs/uploads/")),
        client.delete(server.url("/v2/ns/app/blobs/uploads/")),
        client.post(server.url("/v2/ns/app/tags/list")),
    ];
    for request in requests {
        let response = request.send().await.unwrap();
        let what = format!("{}", response.url());
        assert_eq!(response.status(), 405, "{what}");
        // RFC 9110: a 405 says what the endpoint does answer.
        assert!(!header(&response, "allow").is_empty(), "{what}");
        assert_eq!(error_code(response).await, "UNSUPPORTED", "{what}");
    }
    // Nothing was changed by the refused requests.
    assert_eq!(status(&server, "/v2/ns/app/manifests/v1").await, 200);
}
