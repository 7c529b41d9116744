//! The web catalog over real HTTP: modules pushed as clients push them, then every page read
//! as a browser reads it (no JavaScript): status, content type, the facts and snippets on the
//! page, escaping of untrusted text, private repositories kept out, and the size budget.

use crate::common;

use base64::Engine as _;
use common::wasm::{proxy_filter, solo_config, wasi_command};
use common::{descriptor, sha256, TestServer, OCI_MANIFEST, WASM_CONFIG, WASM_LAYER};
use serde_json::json;

/// Every page, with its inline stylesheet, stays under this (issue 7's budget).
const PAGE_BUDGET: usize = 50 * 1024;
const PASSWORD: &str = "correct horse battery";

fn basic(user: &str) -> String {
    format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(format!("{user}:{PASSWORD}")))
}

/// GETs a page (as `auth` when given); checks status, HTML content type and size; returns the body.
async fn page(server: &TestServer, path: &str, auth: Option<&str>, status: u16) -> String {
    let mut request = server.client.get(server.url(path));
    if let Some(auth) = auth {
        request = request.header("authorization", auth);
    }
    let response = request.send().await.unwrap();
    let actual = response.status().as_u16();
    let content_type = common::header(&response, "content-type");
    let body = response.text().await.unwrap();
    assert_eq!(actual, status, "GET {path}: {body}");
    assert_eq!(content_type, "text/html; charset=utf-8", "GET {path}");
    assert!(body.len() < PAGE_BUDGET, "GET {path} is {} bytes", body.len());
    assert!(body.starts_with("<!doctype html>"), "GET {path}");
    body
}

/// A solo.io filter with `description`, pushed as `auth` (anonymous when None).
async fn push_filter(server: &TestServer, auth: Option<&str>, repo: &str, description: &str) -> (String, String) {
    let module = proxy_filter();
    let config = solo_config("v0.2.1");
    for blob in [&config, &module] {
        let mut request = server.client.post(server.url(&format!("/v2/{repo}/blobs/uploads/?digest={}", sha256(blob))));
        if let Some(auth) = auth {
            request = request.header("authorization", auth);
        }
        assert_eq!(request.body(blob.clone()).send().await.unwrap().status(), 201, "blob to {repo}");
    }
    let manifest = serde_json::to_vec(&json!({
        "schemaVersion": 2, "mediaType": OCI_MANIFEST,
        "config": descriptor(WASM_CONFIG, &config),
        "layers": [descriptor(WASM_CONFIG, &config), descriptor(WASM_LAYER, &module)],
        "annotations": {"module.wasm.runtime/type": "envoy_proxy", "module.wasm.runtime/abi_version": "v0.2.1",
            "org.opencontainers.image.description": description, "org.opencontainers.image.source": "javascript:alert(1)"},
    }))
    .unwrap();
    let mut request = server
        .client
        .put(server.url(&format!("/v2/{repo}/manifests/v1")))
        .header("content-type", OCI_MANIFEST)
        .body(manifest.clone());
    if let Some(auth) = auth {
        request = request.header("authorization", auth);
    }
    assert_eq!(request.send().await.unwrap().status(), 201, "manifest to {repo}");
    (sha256(&manifest), sha256(&module))
}

#[tokio::test]
async fn every_page_shows_a_pushed_filter_with_its_facts_and_snippets() {
    let server = TestServer::start().await;
    let (manifest, module) = push_filter(&server, None, "team/add-header", "adds a header").await;
    server.push_cncf("apps/hello", "1.0.0", &wasi_command(), "wasip1").await;
    let host = server.base.trim_start_matches("http://");

    let home = page(&server, "/", None, 200).await;
    for expected in ["team/add-header", "apps/hello", "href=\"/search?type=envoy_proxy\"", "href=\"/search?abi=0.2.1\""]
    {
        assert!(home.contains(expected), "home lacks {expected}: {home}");
    }

    let search = page(&server, "/search?type=envoy_proxy&abi=0.2.1", None, 200).await;
    assert!(search.contains("href=\"/repositories/team/add-header/tags/v1\""), "{search}");
    assert!(!search.contains("apps/hello"), "{search}");
    assert!(search.contains("1 found"), "{search}");
    // A facet link keeps the other filters and can remove its own.
    assert!(search.contains("href=\"/search?abi=0.2.1\" aria-current=\"true\""), "{search}");
    let text = page(&server, "/search?q=hello&kind=module", None, 200).await;
    assert!(text.contains("apps/hello") && !text.contains("team/add-header"), "{text}");

    let repository = page(&server, "/repositories/team/add-header", None, 200).await;
    for expected in [manifest.as_str(), "adds a header", "soloOci", "<time datetime="] {
        assert!(repository.contains(expected), "repository page lacks {expected}: {repository}");
    }

    let tag = page(&server, "/repositories/team/add-header/tags/v1", None, 200).await;
    let manifest_hex = manifest.trim_start_matches("sha256:");
    let module_hex = module.trim_start_matches("sha256:");
    for expected in [
        manifest.clone(),
        module.clone(),
        "envoy_proxy".into(),
        "add_header".into(),
        "proxy_on_request_headers".into(),
        format!("oras pull {host}/team/add-header:v1"),
        format!("docker pull {host}/team/add-header:v1"),
        format!("wkg oci pull {host}/team/add-header:v1"),
        format!("url: oci://{host}/team/add-header:v1\n  sha256: {manifest_hex}\n"),
        format!("uri: http://{host}/api/v1/repositories/team/add-header/tags/v1/module.wasm"),
        format!("sha256: {module_hex}\n"),
        format!("echo &quot;{module_hex}  module.wasm&quot; | sha256sum -c"),
    ] {
        assert!(tag.contains(&expected), "tag page lacks {expected:?}: {tag}");
    }
    // A pushed `javascript:` source stays text.
    assert!(!tag.contains("href=\"javascript:"), "{tag}");

    let script = server.client.get(server.url("/static/copy.js")).send().await.unwrap();
    assert_eq!(common::header(&script, "content-type"), "text/javascript; charset=utf-8");
    let total = tag.len() + script.text().await.unwrap().len();
    assert!(total < PAGE_BUDGET, "tag page and script are {total} bytes");
}

#[tokio::test]
async fn a_declared_abi_the_module_does_not_export_is_a_warning_beside_the_facts() {
    let server = TestServer::start().await;
    server.push_solo("team/mislabelled", "v1", &proxy_filter(), "v0.1.0").await;
    let tag = page(&server, "/repositories/team/mislabelled/tags/v1", None, 200).await;
    assert!(tag.contains("<dt>ABI versions declared</dt><dd>v0.1.0</dd>"), "{tag}");
    assert!(tag.contains("<dt>ABI versions detected</dt><dd>0.2.1</dd>"), "{tag}");
    assert!(tag.contains("class=\"warn\" role=\"note\">Warning: declares ABI v0.1.0"), "{tag}");
    assert_eq!(tag.matches("Warning: declares ABI").count(), 1, "the mismatch is shown once: {tag}");
}

#[tokio::test]
async fn untrusted_text_is_escaped_on_every_page() {
    let server = TestServer::start().await;
    push_filter(&server, None, "team/evil", "<script>alert(1)</script> & \"quotes\"").await;
    for path in ["/", "/search?q=alert", "/repositories/team/evil", "/repositories/team/evil/tags/v1"] {
        let body = page(&server, path, None, 200).await;
        assert!(!body.contains("<script>alert"), "{path}: {body}");
        assert!(body.contains("&lt;script&gt;alert(1)&lt;/script&gt; &amp; &quot;quotes&quot;"), "{path}: {body}");
    }
    let echoed = page(&server, "/search?q=%3Cscript%3Ex", None, 200).await;
    assert!(!echoed.contains("<script>x") && echoed.contains("&lt;script&gt;x"), "{echoed}");
}

#[tokio::test]
async fn bad_parameters_and_names_are_400_pages_that_say_what_is_wrong() {
    let server = TestServer::start().await;
    for (path, says) in [
        ("/search?kind=library", "`kind` must be one of"),
        ("/search?per_page=1000", "`per_page`"),
        ("/search?page=0", "`page`"),
        ("/search?namespace=UPPER", "`namespace`"),
        ("/repositories/UPPER/case", "invalid repository name"),
    ] {
        let body = page(&server, path, None, 400).await;
        assert!(body.contains(says), "{path}: {body}");
    }
    page(&server, "/repositories/team/nothing", None, 404).await;
    page(&server, "/repositories/team/nothing/tags/v1", None, 404).await;
}

#[tokio::test]
async fn private_repositories_are_404_and_never_listed_for_anonymous_callers() {
    let server = TestServer::start_enforced().await;
    server.registry.create_user(&"alice".parse().unwrap(), PASSWORD, false).await.unwrap();
    let alice = basic("alice");
    push_filter(&server, Some(&alice), "alice/open-filter", "public").await;
    push_filter(&server, Some(&alice), "alice/hidden-filter", "private").await;
    let caller = wasmhub_registry::Caller::Open;
    server.registry.set_visibility(&caller, &"alice/hidden-filter".parse().unwrap(), true).await.unwrap();

    let unknown = page(&server, "/repositories/alice/no-such-filter", None, 404).await;
    assert_eq!(page(&server, "/repositories/alice/hidden-filter", None, 404).await, unknown);
    let unknown_tag = page(&server, "/repositories/alice/no-such-filter/tags/v1", None, 404).await;
    assert_eq!(page(&server, "/repositories/alice/hidden-filter/tags/v1", None, 404).await, unknown_tag);
    for path in ["/", "/search", "/search?q=hidden", "/search?namespace=alice", "/search?type=envoy_proxy"] {
        let body = page(&server, path, None, 200).await;
        assert!(!body.contains("hidden-filter"), "{path} shows a private repository: {body}");
    }
    assert!(page(&server, "/", None, 200).await.contains("alice/open-filter"));

    // Its owner, sending credentials, sees it; bad credentials are refused, not anonymous.
    page(&server, "/repositories/alice/hidden-filter/tags/v1", Some(&alice), 200).await;
    assert!(page(&server, "/search?q=hidden", Some(&alice), 200).await.contains("alice/hidden-filter"));
    let wrong = format!("Basic {}", base64::engine::general_purpose::STANDARD.encode("alice:wrong"));
    page(&server, "/", Some(&wrong), 401).await;
}

#[tokio::test]
async fn search_pages_link_to_each_other_with_shareable_urls() {
    let server = TestServer::start().await;
    for repo in ["team/one", "team/two", "team/three"] {
        server.push_solo(repo, "v1", &proxy_filter(), "v0.2.1").await;
    }
    let first = page(&server, "/search?namespace=team&sort=name&per_page=2", None, 200).await;
    assert!(first.contains("Page 1 of 2"), "{first}");
    assert!(first.contains("rel=\"next\" href=\"/search?namespace=team&amp;sort=name&amp;page=2&amp;per_page=2\""));
    assert!(first.contains("team/one") && first.contains("team/three") && !first.contains("team/two"), "{first}");
    let second = page(&server, "/search?namespace=team&sort=name&page=2&per_page=2", None, 200).await;
    assert!(second.contains("team/two") && !second.contains("team/one"), "{second}");
    assert!(second.contains("rel=\"prev\" href=\"/search?namespace=team&amp;sort=name&amp;per_page=2\""));
    // The form keeps the page size and shows the chosen values.
    assert!(second.contains("<input type=\"hidden\" name=\"per_page\" value=\"2\">"), "{second}");
    assert!(second.contains("<option selected>name</option>"), "{second}");
}

#[tokio::test]
async fn snippets_name_the_configured_public_url_rather_than_the_request_host() {
    let dir = tempfile::tempdir().unwrap();
    let (database, storage) = (common::backends::database_url(dir.path()), common::backends::storage_url(dir.path()));
    let registry = wasmhub::open_registry(&database, &storage, Default::default()).await.unwrap();
    let settings =
        wasmhub_server::AuthSettings { public_url: Some("https://wasm.example.com/".into()), ..Default::default() };
    let state = wasmhub_server::AppState::new(registry, settings).await.unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(wasmhub_server::serve(listener, state, std::future::pending(), std::time::Duration::from_secs(1)));
    let client = reqwest::Client::new();
    let module = proxy_filter();
    for blob in [solo_config("v0.2.1"), module.clone()] {
        let url = format!("{base}/v2/team/filter/blobs/uploads/?digest={}", sha256(&blob));
        assert_eq!(client.post(url).body(blob).send().await.unwrap().status(), 201);
    }
    let config = solo_config("v0.2.1");
    let manifest = common::oci_manifest(descriptor(WASM_CONFIG, &config), &[descriptor(WASM_LAYER, &module)]);
    let response = client
        .put(format!("{base}/v2/team/filter/manifests/v1"))
        .header("content-type", OCI_MANIFEST)
        .body(serde_json::to_vec(&manifest).unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    let tag =
        client.get(format!("{base}/repositories/team/filter/tags/v1")).send().await.unwrap().text().await.unwrap();
    assert!(tag.contains("url: oci://wasm.example.com/team/filter:v1"), "{tag}");
    assert!(tag.contains("uri: https://wasm.example.com/api/v1/repositories/team/filter/tags/v1/module.wasm"), "{tag}");
    assert!(!tag.contains("127.0.0.1"), "{tag}");
}
