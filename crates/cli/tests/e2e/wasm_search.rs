//! Wasm indexing on push and the search API, over HTTP: modules built from WAT, pushed in each
//! packaging format, found by what they are the moment the push returns.

use crate::common;

use common::wasm::{component, proxy_filter, wasi_command};
use common::{sha256, TestServer};

#[tokio::test]
async fn a_solo_filter_is_found_by_type_abi_and_export_as_soon_as_it_is_pushed() {
    let server = TestServer::start().await;
    let module = proxy_filter();
    let digest = server.push_solo("team/filter", "v1", &module, "v0.2.1").await;
    for query in
        ["type=envoy_proxy&abi=0.2.1", "abi=v0.2.1", "export=proxy_on_request_headers", "q=header", "import=proxy_log"]
    {
        let found = server.api(&format!("/api/v1/search?{query}"), 200).await;
        assert_eq!(found["total"], 1, "{query}: {found}");
        let item = &found["items"][0];
        assert_eq!(item["repository"], "team/filter");
        assert_eq!(item["tag"], "v1");
        assert_eq!(item["digest"], digest.as_str());
        assert_eq!(item["moduleDigest"], sha256(&module).as_str());
        assert_eq!(item["format"], "soloOci");
        assert_eq!(item["outcome"], "wasm");
        assert_eq!(item["runtimeType"], "envoy_proxy");
        assert_eq!(item["abiVersions"], serde_json::json!(["0.2.1"]));
        assert_eq!(item["kind"], "module");
        assert_eq!(item["size"], module.len());
        assert_eq!(found["facets"]["runtimeType"]["envoy_proxy"], 1);
        assert_eq!(found["facets"]["abi"]["0.2.1"], 1);
        assert_eq!(found["facets"]["kind"]["module"], 1);
    }
    for query in ["type=wasi", "abi=0.1.0", "export=_start", "q=nothingmatches", "kind=component", "namespace=other"] {
        assert_eq!(server.api(&format!("/api/v1/search?{query}"), 200).await["total"], 0, "{query}");
    }
}

#[tokio::test]
async fn every_format_is_indexed_with_its_facts() {
    let server = TestServer::start().await;
    let filter = proxy_filter();
    server.push_compat("istio/filter", "v1", &filter).await;
    server.push_cncf("apps/hello", "1.0.0", &wasi_command(), "wasip1").await;
    server.push_wasm_to_oci("legacy/hello", "latest", &wasi_command()).await;
    server.push_cncf("apps/component", "0.1.0", &component(), "wasip2").await;

    let compat = server.api("/api/v1/search?export=proxy_on_request_headers", 200).await;
    assert_eq!(compat["total"], 1, "{compat}");
    assert_eq!(compat["items"][0]["format"], "soloCompat");
    assert_eq!(compat["items"][0]["moduleDigest"], sha256(&filter).as_str());

    let wasi = server.api("/api/v1/search?import=wasi_snapshot_preview1&sort=name", 200).await;
    let names: Vec<&str> =
        wasi["items"].as_array().unwrap().iter().map(|i| i["repository"].as_str().unwrap()).collect();
    assert_eq!(names, ["apps/hello", "legacy/hello"], "{wasi}");
    assert_eq!(wasi["items"][0]["wasi"], "preview1");
    assert_eq!(wasi["items"][1]["format"], "wasmToOci");

    let components = server.api("/api/v1/search?kind=component", 200).await;
    assert_eq!(components["total"], 1, "{components}");
    assert_eq!(components["items"][0]["repository"], "apps/component");
    let by_interface = server.api("/api/v1/search?export=wasi:cli/run@0.2.0", 200).await;
    assert_eq!(by_interface["total"], 1, "{by_interface}");

    let apps = server.api("/api/v1/search?namespace=apps&format=cncfWasm", 200).await;
    assert_eq!(apps["total"], 2);
    assert_eq!(apps["facets"]["kind"], serde_json::json!({"component": 1, "module": 1}));
    let text = server.api("/api/v1/search?q=hello%20world&kind=module", 200).await;
    assert_eq!(text["total"], 1, "{text}");
    assert_eq!(text["items"][0]["description"], "a hello world command");
}

#[tokio::test]
async fn tag_details_carry_every_fact_and_the_module_can_be_downloaded() {
    let server = TestServer::start().await;
    let module = proxy_filter();
    let digest = server.push_solo("team/filter", "v1", &module, "v0.2.1").await;
    server.push_compat("team/compat", "v1", &module).await;

    let details = server.api("/api/v1/repositories/team/filter/tags/v1", 200).await;
    assert_eq!(details["digest"], digest.as_str());
    let wasm = &details["wasm"];
    assert_eq!(wasm["moduleDigest"], sha256(&module).as_str());
    assert_eq!(wasm["declaredAbiVersions"], serde_json::json!(["v0.2.1"]));
    assert_eq!(wasm["detectedAbiVersions"], serde_json::json!(["0.2.1"]));
    let exports: Vec<&str> = wasm["exports"].as_array().unwrap().iter().map(|e| e["name"].as_str().unwrap()).collect();
    assert!(exports.contains(&"proxy_on_request_headers"), "{exports:?}");
    assert!(wasm["imports"].as_array().unwrap().iter().any(|i| i["module"] == "env" && i["name"] == "proxy_log"));
    assert_eq!(wasm["annotations"]["description"], "adds a header to every request");
    assert!(wasm["warnings"].is_array());
    assert_eq!(wasm["facts"]["rootIds"], serde_json::json!(["add_header"]));

    for repo in ["team/filter", "team/compat"] {
        let response = server.get(&format!("/api/v1/repositories/{repo}/tags/v1/module.wasm")).await;
        assert_eq!(response.status(), 200, "{repo}");
        assert_eq!(common::header(&response, "content-type"), "application/wasm");
        assert_eq!(common::body(response).await, module, "{repo}");
    }

    let repository = server.api("/api/v1/repositories/team/filter", 200).await;
    assert_eq!(repository["tags"][0]["tag"], "v1");
    assert_eq!(repository["latest"]["runtimeType"], "envoy_proxy");
    assert_eq!(repository["description"], "adds a header to every request");
    let list = server.api("/api/v1/repositories?per_page=1", 200).await;
    assert_eq!(list["total"], 2);
    assert_eq!(list["items"][0]["name"], "team/compat");
    assert_eq!(list["items"][0]["tagCount"], 1);

    server.api("/api/v1/repositories/team/nothing", 404).await;
    server.api("/api/v1/repositories/team/filter/tags/v2", 404).await;
}

#[tokio::test]
async fn deleting_a_manifest_removes_it_and_moving_a_tag_shows_the_new_module() {
    let server = TestServer::start().await;
    let first = server.push_solo("team/filter", "v1", &proxy_filter(), "v0.2.1").await;
    let response = server.delete(&format!("/v2/team/filter/manifests/{first}")).await;
    assert_eq!(response.status(), 202);
    assert_eq!(server.api("/api/v1/search?type=envoy_proxy", 200).await["total"], 0);

    server.push_solo("team/filter", "v1", &proxy_filter(), "v0.2.1").await;
    server.push_cncf("team/filter", "v1", &wasi_command(), "wasip1").await;
    let moved = server.api("/api/v1/search?namespace=team", 200).await;
    assert_eq!(moved["total"], 1, "{moved}");
    assert_eq!(moved["items"][0]["format"], "cncfWasm");
    assert_eq!(server.api("/api/v1/search?type=envoy_proxy", 200).await["total"], 0);
}

#[tokio::test]
async fn a_malformed_module_is_indexed_as_unrecognised_with_its_reason() {
    let server = TestServer::start().await;
    let broken = b"\0asm\x01\0\0\0\x07garbage".to_vec();
    server.push_solo("team/broken", "v1", &broken, "v0.2.1").await;
    let found = server.api("/api/v1/search?type=envoy_proxy", 200).await;
    assert_eq!(found["total"], 1);
    assert_eq!(found["items"][0]["outcome"], "unrecognised");
    assert!(found["items"][0]["reason"].as_str().unwrap().len() > 3, "{found}");
    let details = server.api("/api/v1/repositories/team/broken/tags/v1", 200).await;
    assert_eq!(details["wasm"]["outcome"], "unrecognised");
}

#[tokio::test]
async fn bad_parameters_are_400s_that_say_what_is_wrong() {
    let server = TestServer::start().await;
    for query in [
        "per_page=1000",
        "per_page=0",
        "page=0",
        "page=abc",
        "sort=random",
        "kind=library",
        "format=zip",
        "namespace=UPPER",
    ] {
        let body = server.api(&format!("/api/v1/search?{query}"), 400).await;
        assert!(body["error"]["message"].as_str().unwrap().contains('`'), "{query}: {body}");
    }
    server.api("/api/v1/repositories?page=-1", 400).await;
    server.api("/api/v1/repositories/UPPER/case", 400).await;
    // FTS syntax in free text is only words to us.
    assert_eq!(server.api("/api/v1/search?q=%22a%22%20OR%20NEAR(*", 200).await["total"], 0);
    let openapi = server.api("/api/v1/openapi.json", 200).await;
    assert_eq!(openapi["openapi"], "3.0.3");
    let wkg = server.api("/.well-known/wasm-pkg/registry.json", 200).await;
    assert_eq!(wkg["preferredProtocol"], "oci");
}

/// A server with `--strict-wasm`, on its own data directory.
async fn strict_server(dir: &std::path::Path) -> String {
    let limits = wasmhub_registry::Limits { strict_wasm: true, ..Default::default() };
    let (database, storage) = (common::backends::database_url(dir), common::backends::storage_url(dir));
    let registry = wasmhub::open_registry(&database, &storage, limits).await.unwrap();
    let state = wasmhub_server::AppState::new(registry, Default::default()).await.unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(wasmhub_server::serve(listener, state, std::future::pending(), std::time::Duration::from_secs(1)));
    base
}

#[tokio::test]
async fn strict_validation_refuses_a_malformed_module_with_manifest_invalid() {
    let dir = tempfile::tempdir().unwrap();
    let base = strict_server(dir.path()).await;
    let client = reqwest::Client::new();
    let broken = b"\0asm\x01\0\0\0\x07garbage".to_vec();
    let config = common::wasm::solo_config("v0.2.1");
    let mut layers = Vec::new();
    for (media_type, bytes) in [(common::WASM_LAYER, &broken)] {
        let digest = sha256(bytes);
        let url = format!("{base}/v2/team/broken/blobs/uploads/?digest={digest}");
        assert_eq!(client.post(url).body(bytes.clone()).send().await.unwrap().status(), 201);
        layers.push(common::descriptor(media_type, bytes));
    }
    let url = format!("{base}/v2/team/broken/blobs/uploads/?digest={}", sha256(&config));
    assert_eq!(client.post(url).body(config.clone()).send().await.unwrap().status(), 201);
    let manifest = common::oci_manifest(common::descriptor(common::WASM_CONFIG, &config), &layers);
    let response = client
        .put(format!("{base}/v2/team/broken/manifests/v1"))
        .header("content-type", common::OCI_MANIFEST)
        .body(serde_json::to_vec(&manifest).unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["errors"][0]["code"], "MANIFEST_INVALID", "{body}");
    assert!(body["errors"][0]["message"].as_str().unwrap().contains("Wasm artifact"), "{body}");
    let found: serde_json::Value =
        client.get(format!("{base}/api/v1/search")).send().await.unwrap().json().await.unwrap();
    assert_eq!(found["total"], 0);
    common::backends::release(dir.path());
}

#[tokio::test]
async fn reindex_rebuilds_the_facts_of_every_manifest_while_the_registry_serves() {
    let server = TestServer::start().await;
    server.push_solo("team/filter", "v1", &proxy_filter(), "v0.2.1").await;
    server.push_cncf("apps/hello", "1", &wasi_command(), "wasip1").await;
    // The harness's image has a solo.io config but a layer that is no module: unrecognised.
    server.push_image("plain/image", "v1", b"not wasm").await;
    let mut seen = 0;
    let summary = server.registry.reindex(|so_far| seen = so_far.manifests).await.unwrap();
    assert_eq!(seen, 3);
    assert_eq!((summary.manifests, summary.wasm, summary.unrecognised, summary.not_wasm), (3, 2, 1, 0), "{summary:?}");
    let found = server.api("/api/v1/search?sort=name", 200).await;
    assert_eq!(found["total"], 3, "{found}");
    assert_eq!(found["items"][1]["outcome"], "unrecognised");
    assert_eq!(found["items"][2]["runtimeType"], "envoy_proxy");
    assert_eq!(found["items"][2]["outcome"], "wasm");
}

#[tokio::test]
async fn a_module_downloads_whole_whatever_size_its_manifest_declares() {
    let server = TestServer::start().await;
    let module = proxy_filter();
    let config = br#"{"type":"envoy_proxy","abiVersions":["v0.2.1"]}"#;
    server.push_blob("team/sizes", config).await;
    server.push_blob("team/sizes", &module).await;
    // Nothing makes a descriptor's size agree with the blob; the download must not trust it.
    let mut layer = common::descriptor("application/vnd.module.wasm.content.layer.v1+wasm", &module);
    layer["size"] = serde_json::json!(module.len() - 10);
    let manifest = serde_json::json!({
        "schemaVersion": 2, "mediaType": common::OCI_MANIFEST,
        "config": common::descriptor("application/vnd.module.wasm.config.v1+json", config), "layers": [layer],
    });
    server.push_manifest("team/sizes", "v1", common::OCI_MANIFEST, &manifest).await;
    let response = server.get("/api/v1/repositories/team/sizes/tags/v1/module.wasm").await;
    assert_eq!(response.status(), 200);
    assert_eq!(common::header(&response, "content-length"), module.len().to_string());
    assert_eq!(common::body(response).await, module);
}

/// `len` letters that do not compress (PostgreSQL compresses a B-tree entry before it checks
/// the entry's size, about 2.7 KB at most).
fn incompressible(len: usize, seed: u32) -> String {
    let mut state = seed | 1;
    (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 17;
            state ^= state << 5;
            char::from(b'a' + (state % 26) as u8)
        })
        .collect()
}

#[tokio::test]
async fn a_module_with_names_longer_than_an_index_entry_is_pushed_and_indexed() {
    let server = TestServer::start().await;
    // Import and export names are indexed for search.
    let long = incompressible(4096, 0x2545_f491);
    let module = wat::parse_str(format!(
        r#"(module (import "{long}" "{long}" (func)) (func (export "{long}")) (func (export "run")))"#
    ))
    .unwrap();
    server.push_cncf("odd/names", "v1", &module, "wasip1").await;
    let found = server.api("/api/v1/search?export=run", 200).await;
    assert_eq!(found["items"][0]["repository"], "odd/names", "{found}");
    let details = server.api("/api/v1/repositories/odd/names/tags/v1", 200).await;
    let exports: Vec<&str> =
        details["wasm"]["exports"].as_array().unwrap().iter().map(|e| e["name"].as_str().unwrap()).collect();
    assert_eq!(exports, ["run"], "names too long to index are counted, not kept");
}

#[tokio::test]
async fn a_config_declaring_huge_runtime_types_and_abis_is_pushed_and_indexed() {
    let server = TestServer::start().await;
    let abis: Vec<String> = (0..40).map(|n| incompressible(200, n)).chain(["v0.2.1".to_owned()]).collect();
    let config =
        serde_json::to_vec(&serde_json::json!({"type": incompressible(4096, 7), "abiVersions": abis})).unwrap();
    let module = proxy_filter();
    server.push_blob("odd/config", &config).await;
    server.push_blob("odd/config", &module).await;
    let manifest = serde_json::json!({
        "schemaVersion": 2, "mediaType": common::OCI_MANIFEST,
        "config": common::descriptor("application/vnd.module.wasm.config.v1+json", &config),
        "layers": [common::descriptor("application/vnd.module.wasm.content.layer.v1+wasm", &module)],
    });
    // Runtime types and ABIs are keys of the facet rows' unique index.
    server.push_manifest("odd/config", "v1", common::OCI_MANIFEST, &manifest).await;
    let found = server.api("/api/v1/search?abi=v0.2.1", 200).await;
    assert_eq!(found["items"][0]["repository"], "odd/config", "{found}");
}
