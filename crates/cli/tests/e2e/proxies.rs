//! Behind a reverse proxy: the client's address comes from `X-Forwarded-For` only when the
//! peer is a proxy the operator trusts (`WASMHUB_TRUSTED_PROXIES`).

use wasmhub_index::AuditQuery;

use crate::common::{self, backends, sha256, WasmhubProcess, OCI_MANIFEST};

/// Pushes a small image through `process`, sending `forwarded` as `X-Forwarded-For`; returns
/// the client address the audit log recorded for the push.
async fn audited_address(
    dir: &std::path::Path,
    process: &WasmhubProcess,
    tag: &str,
    forwarded: Option<&str>,
) -> String {
    let base = format!("http://{}", process.host());
    let client = reqwest::Client::new();
    let layer = format!("the layer of {tag}").into_bytes();
    for blob in [&layer[..], b"{}"] {
        let response =
            client.post(format!("{base}/v2/ops/app/blobs/uploads/?digest={}", sha256(blob))).body(blob.to_vec());
        assert_eq!(response.send().await.unwrap().status(), 201);
    }
    let mut request = client
        .put(format!("{base}/v2/ops/app/manifests/{tag}"))
        .header("content-type", OCI_MANIFEST)
        .body(common::oci_manifest_for(b"{}", &layer));
    if let Some(forwarded) = forwarded {
        request = request.header("x-forwarded-for", forwarded);
    }
    assert_eq!(request.send().await.unwrap().status(), 201);
    let index = wasmhub::open_index(&backends::database_url(dir)).await.unwrap();
    let query = AuditQuery { action: Some("manifest.push".into()), limit: 1, ..Default::default() };
    let (entries, _) = index.audit(&query).await.unwrap();
    index.close().await;
    entries[0].client_ip.clone().unwrap_or_default()
}

#[tokio::test]
async fn x_forwarded_for_names_the_client_only_behind_a_trusted_proxy() {
    let dir = tempfile::tempdir().unwrap();
    let trusting = WasmhubProcess::start_in_with(
        dir.path(),
        &[("WASMHUB_AUTH", "none"), ("WASMHUB_TRUSTED_PROXIES", "127.0.0.0/8, 10.0.0.0/8")],
    );
    // The client wrote the first entry; the proxies appended the others.
    let chain = "203.0.113.66, 198.51.100.7, 10.1.2.3";
    assert_eq!(audited_address(dir.path(), &trusting, "a", Some(chain)).await, "198.51.100.7");
    assert_eq!(audited_address(dir.path(), &trusting, "b", None).await, "127.0.0.1", "no header: the peer");
    drop(trusting);

    let dir = tempfile::tempdir().unwrap();
    let default = WasmhubProcess::start_in_with(dir.path(), &[("WASMHUB_AUTH", "none")]);
    assert_eq!(audited_address(dir.path(), &default, "c", Some(chain)).await, "127.0.0.1", "trusting nobody");
}
