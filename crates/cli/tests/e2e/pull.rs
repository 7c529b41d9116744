//! Pull (OCI distribution-spec v1.1, end-1 to end-3): manifests and blobs by `GET` and `HEAD`,
//! the headers that come with them, conditional and range requests, and the 404/400 answers
//! with the spec's error codes. Every `/v2` response carries `Docker-Distribution-API-Version`.

use crate::common;

use common::{body, descriptor, error_code, header, sha256, TestServer, OCI_MANIFEST, WASM_CONFIG, WASM_LAYER};

const API_VERSION: &str = "docker-distribution-api-version";
const LAYER: &[u8] = b"\0asm\x01\0\0\0 a tiny module for range requests";

/// A manifest with odd whitespace and key order: what is served must be these exact bytes.
fn odd_manifest(config: &[u8], layer: &[u8]) -> Vec<u8> {
    format!(
        "{{\n   \"layers\" : [ {{\"size\":{}, \"digest\":\"{}\",\"mediaType\":\"{WASM_LAYER}\"}} ],\n\t\
         \"schemaVersion\":2,\"config\":{{\"digest\":\"{}\",\"mediaType\":\"{WASM_CONFIG}\",\"size\":{}}},  \
         \"mediaType\":\"{OCI_MANIFEST}\"   }}\n\n",
        layer.len(),
        sha256(layer),
        sha256(config),
        config.len()
    )
    .into_bytes()
}

/// Pushes `LAYER` to `repo`; returns its path under `/v2`.
async fn pushed_layer(server: &TestServer, repo: &str) -> String {
    let digest = server.push_blob(repo, LAYER).await;
    format!("/v2/{repo}/blobs/{digest}")
}

async fn get_range(server: &TestServer, path: &str, range: &str) -> reqwest::Response {
    server.client.get(server.url(path)).header("range", range).send().await.unwrap()
}

#[tokio::test]
async fn base_endpoint_answers_200_with_api_version() {
    let server = TestServer::start().await;
    for path in ["/v2/", "/v2"] {
        let response = server.get(path).await;
        assert_eq!(response.status(), 200, "{path}");
        assert_eq!(header(&response, API_VERSION), "registry/2.0");
        assert_eq!(header(&response, "content-type"), "application/json");
        assert_eq!(body(response).await, b"{}");
    }
    let head = server.head("/v2/").await;
    assert_eq!(head.status(), 200);
    assert_eq!(header(&head, API_VERSION), "registry/2.0");
}

#[tokio::test]
async fn every_v2_response_carries_the_api_version_header_including_errors() {
    let server = TestServer::start().await;
    let (_, digest) = server.push_image("ns/app", "v1", b"module").await;
    let missing = sha256(b"missing");
    let requests = [
        server.client.get(server.url("/v2/ns/app/manifests/v1")),
        server.client.head(server.url(&format!("/v2/ns/app/manifests/{digest}"))),
        server.client.get(server.url("/v2/ns/app/manifests/nope")),
        server.client.head(server.url(&format!("/v2/ns/app/blobs/{missing}"))),
        server.client.get(server.url("/v2/Invalid/manifests/v1")),
        server.client.get(server.url("/v2/ns/app/blobs/sha256:1234")),
        server.client.get(server.url("/v2/ns/app/unknown-endpoint")),
        server.client.patch(server.url("/v2/ns/app/manifests/v1")),
        server.client.get(server.url("/v2/ns/app/tags/list")),
        server.client.get(server.url("/v2/_catalog")),
        server.client.post(server.url("/v2/ns/app/blobs/uploads/")),
    ];
    for request in requests {
        let response = request.send().await.unwrap();
        let what = format!("{} {}", response.status(), response.url());
        assert_eq!(response.headers().get(API_VERSION).map(|v| v.to_str().unwrap()), Some("registry/2.0"), "{what}");
    }
}

#[tokio::test]
async fn manifest_get_by_tag_serves_the_exact_bytes_with_its_headers() {
    let server = TestServer::start().await;
    let config = b"{\"type\":\"envoy_proxy\"}";
    server.push_blob("ns/app", config).await;
    server.push_blob("ns/app", LAYER).await;
    let manifest = odd_manifest(config, LAYER);
    assert_eq!(server.put_manifest("ns/app", "v1", OCI_MANIFEST, &manifest).await.status(), 201);

    let response = server.get("/v2/ns/app/manifests/v1").await;
    assert_eq!(response.status(), 200);
    assert_eq!(header(&response, "content-type"), OCI_MANIFEST);
    assert_eq!(header(&response, "docker-content-digest"), sha256(&manifest));
    assert_eq!(header(&response, "content-length"), manifest.len().to_string());
    assert_eq!(header(&response, "etag"), format!("\"{}\"", sha256(&manifest)));
    assert_eq!(body(response).await, manifest, "stored bytes must be served unchanged");
}

#[tokio::test]
async fn manifest_get_by_digest_serves_the_same_manifest() {
    let server = TestServer::start().await;
    let (manifest, digest) = server.push_image("ns/app", "v1", b"module").await;
    let response =
        server.client.get(server.url(&format!("/v2/ns/app/manifests/{digest}"))).header("accept", OCI_MANIFEST);
    let response = response.send().await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(header(&response, "content-type"), OCI_MANIFEST);
    assert_eq!(header(&response, "docker-content-digest"), digest);
    assert_eq!(body(response).await, manifest);
}

#[tokio::test]
async fn manifest_head_reports_size_and_digest_without_a_body() {
    let server = TestServer::start().await;
    let (manifest, digest) = server.push_image("ns/app", "v1", b"module").await;
    for reference in ["v1", digest.as_str()] {
        let response = server.head(&format!("/v2/ns/app/manifests/{reference}")).await;
        assert_eq!(response.status(), 200, "{reference}");
        assert_eq!(header(&response, "content-type"), OCI_MANIFEST);
        assert_eq!(header(&response, "docker-content-digest"), digest);
        assert_eq!(header(&response, "content-length"), manifest.len().to_string());
        assert_eq!(header(&response, "etag"), format!("\"{digest}\""));
        assert!(body(response).await.is_empty());
    }
}

#[tokio::test]
async fn if_none_match_with_the_current_etag_answers_304() {
    let server = TestServer::start().await;
    let (manifest, digest) = server.push_image("ns/app", "v1", b"module").await;
    let etag = format!("\"{digest}\"");
    let conditional =
        |value: String| server.client.get(server.url("/v2/ns/app/manifests/v1")).header("if-none-match", value).send();
    for value in [etag.clone(), format!("\"sha256:other\", {etag}"), format!("W/{etag}"), "*".to_owned()] {
        let response = conditional(value.clone()).await.unwrap();
        assert_eq!(response.status(), 304, "If-None-Match: {value}");
        assert_eq!(header(&response, "etag"), etag);
        assert!(body(response).await.is_empty());
    }
    let stale = conditional(format!("\"{}\"", sha256(b"older"))).await.unwrap();
    assert_eq!(stale.status(), 200);
    assert_eq!(body(stale).await, manifest);
}

#[tokio::test]
async fn a_blob_the_client_holds_answers_304_and_an_unknown_one_still_404() {
    let server = TestServer::start().await;
    let path = pushed_layer(&server, "ns/app").await;
    let digest = path.rsplit('/').next().unwrap().to_owned();
    let conditional =
        |path: String| server.client.get(server.url(&path)).header("if-none-match", format!("\"{digest}\"")).send();
    let held = conditional(path.clone()).await.unwrap();
    assert_eq!(held.status(), 304);
    assert_eq!(header(&held, "etag"), format!("\"{digest}\""));
    assert!(body(held).await.is_empty());
    let elsewhere = conditional(format!("/v2/ns/other/blobs/{digest}")).await.unwrap();
    assert_eq!(elsewhere.status(), 404, "a 304 only for a blob this repository has");
}

#[tokio::test]
async fn nested_names_and_keyword_components_route_to_the_right_repository() {
    let server = TestServer::start().await;
    let (manifest, _) = server.push_image("org/manifests/blobs", "tags", b"module").await;
    let response = server.get("/v2/org/manifests/blobs/manifests/tags").await;
    assert_eq!(response.status(), 200);
    assert_eq!(body(response).await, manifest);
    let deep = "a/b/c/d/e/f";
    let (manifest, _) = server.push_image(deep, "latest", b"deep module").await;
    assert_eq!(body(server.get(&format!("/v2/{deep}/manifests/latest")).await).await, manifest);
}

#[tokio::test]
async fn blob_get_serves_the_bytes_with_digest_and_length() {
    let server = TestServer::start().await;
    let path = pushed_layer(&server, "ns/app").await;
    let response = server.get(&path).await;
    assert_eq!(response.status(), 200);
    assert_eq!(header(&response, "docker-content-digest"), sha256(LAYER));
    assert_eq!(header(&response, "content-length"), LAYER.len().to_string());
    assert_eq!(header(&response, "accept-ranges"), "bytes");
    assert_eq!(body(response).await, LAYER);
}

#[tokio::test]
async fn blob_head_reports_size_and_digest_without_a_body() {
    let server = TestServer::start().await;
    let path = pushed_layer(&server, "ns/app").await;
    let response = server.head(&path).await;
    assert_eq!(response.status(), 200);
    assert_eq!(header(&response, "docker-content-digest"), sha256(LAYER));
    assert_eq!(header(&response, "content-length"), LAYER.len().to_string());
    assert!(body(response).await.is_empty());
}

#[tokio::test]
async fn bounded_range_returns_206_with_content_range() {
    let server = TestServer::start().await;
    let path = pushed_layer(&server, "ns/app").await;
    let response = get_range(&server, &path, "bytes=2-9").await;
    assert_eq!(response.status(), 206);
    assert_eq!(header(&response, "content-range"), format!("bytes 2-9/{}", LAYER.len()));
    assert_eq!(header(&response, "content-length"), "8");
    assert_eq!(header(&response, "docker-content-digest"), sha256(LAYER));
    assert_eq!(body(response).await, &LAYER[2..=9]);
}

#[tokio::test]
async fn range_past_the_end_is_cut_to_the_blob() {
    let server = TestServer::start().await;
    let path = pushed_layer(&server, "ns/app").await;
    let last = LAYER.len() - 1;
    let response = get_range(&server, &path, "bytes=30-5000").await;
    assert_eq!(response.status(), 206);
    assert_eq!(header(&response, "content-range"), format!("bytes 30-{last}/{}", LAYER.len()));
    assert_eq!(body(response).await, &LAYER[30..]);
}

#[tokio::test]
async fn open_range_returns_the_rest_of_the_blob() {
    let server = TestServer::start().await;
    let path = pushed_layer(&server, "ns/app").await;
    let response = get_range(&server, &path, "bytes=8-").await;
    assert_eq!(response.status(), 206);
    assert_eq!(header(&response, "content-range"), format!("bytes 8-{}/{}", LAYER.len() - 1, LAYER.len()));
    assert_eq!(body(response).await, &LAYER[8..]);
}

#[tokio::test]
async fn suffix_range_returns_the_last_bytes() {
    let server = TestServer::start().await;
    let path = pushed_layer(&server, "ns/app").await;
    let response = get_range(&server, &path, "bytes=-7").await;
    assert_eq!(response.status(), 206);
    let size = LAYER.len();
    assert_eq!(header(&response, "content-range"), format!("bytes {}-{}/{size}", size - 7, size - 1));
    assert_eq!(body(response).await, &LAYER[size - 7..]);
}

#[tokio::test]
async fn unsatisfiable_range_answers_416_with_the_size() {
    let server = TestServer::start().await;
    let path = pushed_layer(&server, "ns/app").await;
    for range in [format!("bytes={}-", LAYER.len()), "bytes=5000-6000".to_owned(), "bytes=-0".to_owned()] {
        let response = get_range(&server, &path, &range).await;
        assert_eq!(response.status(), 416, "{range}");
        assert_eq!(header(&response, "content-range"), format!("bytes */{}", LAYER.len()));
    }
    let empty = server.push_blob("ns/app", b"").await;
    let response = get_range(&server, &format!("/v2/ns/app/blobs/{empty}"), "bytes=0-").await;
    assert_eq!(response.status(), 416);
    assert_eq!(header(&response, "content-range"), "bytes */0");
}

#[tokio::test]
async fn multiple_ranges_and_other_units_get_the_whole_blob() {
    let server = TestServer::start().await;
    let path = pushed_layer(&server, "ns/app").await;
    for range in ["bytes=0-1,4-5", "items=0-3", "bytes=5-2", "bytes=x-y", "bytes"] {
        let response = get_range(&server, &path, range).await;
        assert_eq!(response.status(), 200, "{range}");
        assert!(response.headers().get("content-range").is_none());
        assert_eq!(body(response).await, LAYER);
    }
}

#[tokio::test]
async fn unknown_blob_is_404_blob_unknown() {
    let server = TestServer::start().await;
    server.push_blob("ns/app", b"something else").await;
    let path = format!("/v2/ns/app/blobs/{}", sha256(b"never pushed"));
    let response = server.get(&path).await;
    assert_eq!(response.status(), 404);
    assert_eq!(error_code(response).await, "BLOB_UNKNOWN");
    assert_eq!(server.head(&path).await.status(), 404);
}

#[tokio::test]
async fn blobs_are_visible_only_in_repositories_that_hold_them() {
    let server = TestServer::start().await;
    let digest = server.push_blob("ns/one", LAYER).await;
    server.push_blob("ns/two", b"other").await;
    let response = server.get(&format!("/v2/ns/two/blobs/{digest}")).await;
    assert_eq!(response.status(), 404);
    assert_eq!(error_code(response).await, "BLOB_UNKNOWN");
    let response = server.get(&format!("/v2/ns/never/blobs/{digest}")).await;
    assert_eq!(response.status(), 404);
    assert!(["BLOB_UNKNOWN", "NAME_UNKNOWN"].contains(&error_code(response).await.as_str()));
}

#[tokio::test]
async fn unknown_manifest_is_404_manifest_unknown() {
    let server = TestServer::start().await;
    let (_, digest) = server.push_image("ns/app", "v1", b"module").await;
    for reference in ["v2".to_owned(), sha256(b"no such manifest")] {
        let response = server.get(&format!("/v2/ns/app/manifests/{reference}")).await;
        assert_eq!(response.status(), 404, "{reference}");
        assert_eq!(error_code(response).await, "MANIFEST_UNKNOWN");
        assert_eq!(server.head(&format!("/v2/ns/app/manifests/{reference}")).await.status(), 404);
    }
    // A manifest of one repository is not visible through another.
    server.push_image("ns/other", "v1", b"other module").await;
    let response = server.get(&format!("/v2/ns/other/manifests/{digest}")).await;
    assert_eq!(response.status(), 404);
    assert_eq!(error_code(response).await, "MANIFEST_UNKNOWN");
}

#[tokio::test]
async fn unknown_repository_is_404_name_unknown() {
    let server = TestServer::start().await;
    for path in ["/v2/no/such/repo/manifests/latest".to_owned(), format!("/v2/nothere/manifests/{}", sha256(b"x"))] {
        let response = server.get(&path).await;
        assert_eq!(response.status(), 404, "{path}");
        assert_eq!(error_code(response).await, "NAME_UNKNOWN");
    }
}

#[tokio::test]
async fn invalid_repository_names_are_400_name_invalid() {
    let server = TestServer::start().await;
    let long = "a".repeat(256);
    for name in ["Upper/case", "a..b", "trailing-/x", "-lead", long.as_str()] {
        for path in [format!("/v2/{name}/manifests/latest"), format!("/v2/{name}/blobs/{}", sha256(b"x"))] {
            let response = server.get(&path).await;
            assert_eq!(response.status(), 400, "{path}");
            assert_eq!(error_code(response).await, "NAME_INVALID", "{path}");
        }
    }
}

#[tokio::test]
async fn invalid_digests_are_400_digest_invalid() {
    let server = TestServer::start().await;
    server.push_image("ns/app", "v1", b"module").await;
    let upper = sha256(b"x").to_uppercase().replace("SHA256", "sha256");
    for digest in ["sha256:1234", "md5:d41d8cd98f00b204e9800998ecf8427e", "sha256:", upper.as_str()] {
        for path in [format!("/v2/ns/app/blobs/{digest}"), format!("/v2/ns/app/manifests/{digest}")] {
            let response = server.get(&path).await;
            assert_eq!(response.status(), 400, "{path}");
            assert_eq!(error_code(response).await, "DIGEST_INVALID", "{path}");
        }
    }
}

#[tokio::test]
async fn error_bodies_follow_the_spec_format() {
    let server = TestServer::start().await;
    server.push_blob("ns/app", b"x").await;
    let response = server.get(&format!("/v2/ns/app/blobs/{}", sha256(b"missing"))).await;
    assert_eq!(header(&response, "content-type"), "application/json");
    let json: serde_json::Value = response.json().await.unwrap();
    let errors = json["errors"].as_array().expect("errors is an array");
    assert_eq!(errors.len(), 1);
    assert_eq!(errors[0]["code"], "BLOB_UNKNOWN");
    assert!(errors[0]["message"].is_string());
    assert_eq!(errors[0]["detail"]["digest"], sha256(b"missing"));
}

#[tokio::test]
async fn a_blob_pulled_by_its_manifest_descriptor_matches_the_digest() {
    let server = TestServer::start().await;
    let (manifest, _) = server.push_image("ns/app", "v1", LAYER).await;
    let manifest: serde_json::Value = serde_json::from_slice(&manifest).unwrap();
    for entry in [&manifest["config"], &manifest["layers"][0]] {
        let response = server.get(&format!("/v2/ns/app/blobs/{}", entry["digest"].as_str().unwrap())).await;
        assert_eq!(response.status(), 200);
        let bytes = body(response).await;
        assert_eq!(serde_json::json!(sha256(&bytes)), entry["digest"]);
        assert_eq!(serde_json::json!(bytes.len()), entry["size"]);
    }
    assert_eq!(descriptor(WASM_LAYER, LAYER), manifest["layers"][0]);
}

/// The distribution spec's error codes (code-1 to code-14): a 4xx JSON body must use one.
const SPEC_CODES: [&str; 14] = [
    "BLOB_UNKNOWN",
    "BLOB_UPLOAD_INVALID",
    "BLOB_UPLOAD_UNKNOWN",
    "DIGEST_INVALID",
    "MANIFEST_BLOB_UNKNOWN",
    "MANIFEST_INVALID",
    "MANIFEST_UNKNOWN",
    "NAME_INVALID",
    "NAME_UNKNOWN",
    "SIZE_INVALID",
    "UNAUTHORIZED",
    "DENIED",
    "UNSUPPORTED",
    "TOOMANYREQUESTS",
];

#[tokio::test]
async fn client_errors_use_only_the_spec_error_codes() {
    let server = TestServer::start().await;
    let (_, digest) = server.push_image("ns/app", "v1", b"module").await;
    let client = &server.client;
    let upload = server.location(&client.post(server.url("/v2/ns/app/blobs/uploads/")).send().await.unwrap());
    let requests = [
        // The conformance suite's own case: a malformed digest reference on PUT.
        client
            .put(server.url("/v2/ns/app/manifests/sha256:totallywrong"))
            .header("content-type", OCI_MANIFEST)
            .body("{"),
        client.put(server.url("/v2/ns/app/manifests/v2")).header("content-type", OCI_MANIFEST).body("{}"),
        client.delete(server.url("/v2/ns/app/manifests/missing")),
        client.delete(server.url(&format!("/v2/ns/app/blobs/{}", sha256(b"missing")))),
        client.get(server.url(&format!("/v2/ns/app/referrers/{digest}x"))),
        client.patch(&upload).header("content-range", "5-9").body("12345"),
        client.put(&upload).query(&[("digest", sha256(b"wrong"))]).body("content"),
        client.get(server.url("/v2/ns/app/blobs/uploads/00000000-0000-4000-8000-000000000000")),
        client.get(server.url("/v2/a/b/c")),
        client.delete(server.url("/v2/ns/app/tags/list")),
    ];
    for request in requests {
        let response = request.send().await.unwrap();
        let what = format!("{} {}", response.status(), response.url());
        assert!(response.status().is_client_error(), "{what}");
        let code = error_code(response).await;
        assert!(SPEC_CODES.contains(&code.as_str()), "{what}: {code} is not a spec error code");
    }
}
