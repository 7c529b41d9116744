//! The web catalog over real HTTP: modules pushed as clients push them, then every page read
//! as a browser reads it (no JavaScript): status, content type, the facts and snippets on the
//! page, escaping of untrusted text, private repositories kept out, and the size budget.

use crate::common;

use base64::Engine as _;
use common::wasm::{proxy_filter, solo_config, wasi_command};
use common::{descriptor, sha256, TestServer, OCI_MANIFEST, WASM_CONFIG, WASM_LAYER};
use serde_json::json;

/// Every page, with its inline stylesheet, stays under this (issue 7's budget).
pub const PAGE_BUDGET: usize = 50 * 1024;
pub const PASSWORD: &str = "correct horse battery";

pub fn basic(user: &str) -> String {
    format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(format!("{user}:{PASSWORD}")))
}

/// GETs a page (as `auth` when given); checks status, HTML content type and size; returns the body.
pub async fn page(server: &TestServer, path: &str, auth: Option<&str>, status: u16) -> String {
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
pub async fn push_filter(server: &TestServer, auth: Option<&str>, repo: &str, description: &str) -> (String, String) {
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

    let script = server.client.get(server.url("/static/app.js")).send().await.unwrap();
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
    server
        .registry
        .create_user(&"alice".parse().unwrap(), PASSWORD, false, &wasmhub_index::Actor::cli())
        .await
        .unwrap();
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

/// Attaches an artifact to `repo`'s `v1` manifest (as `oras attach` does): an OCI 1.1 manifest
/// with the empty config, one layer of `layer_type`, and `subject` naming the tagged manifest.
async fn attach(server: &TestServer, repo: &str, artifact_type: &str, layer_type: &str, content: &[u8]) -> String {
    let subject = server.get(&format!("/v2/{repo}/manifests/v1")).await;
    let subject = common::body(subject).await;
    server.push_blob(repo, b"{}").await;
    server.push_blob(repo, content).await;
    let manifest = serde_json::to_vec(&json!({
        "schemaVersion": 2, "mediaType": OCI_MANIFEST, "artifactType": artifact_type,
        "config": descriptor(common::OCI_EMPTY, b"{}"),
        "layers": [descriptor(layer_type, content)],
        "subject": descriptor(OCI_MANIFEST, &subject),
        "annotations": {"org.opencontainers.image.created": "2026-01-01T00:00:00Z", "note": "<b>made by a test</b>"},
    }))
    .unwrap();
    let digest = sha256(&manifest);
    let response = server.put_manifest(repo, &digest, OCI_MANIFEST, &manifest).await;
    assert_eq!(response.status(), 201, "attaching {artifact_type}");
    digest
}

#[tokio::test]
async fn tag_pages_list_referrers_and_render_an_attached_readme_safely() {
    let server = TestServer::start().await;
    push_filter(&server, None, "team/documented", "from the annotation").await;
    let bare = page(&server, "/repositories/team/documented/tags/v1", None, 200).await;
    assert!(bare.contains("Referrers (0)") && !bare.contains("id=\"readme\""), "{bare}");

    let sbom = attach(
        &server,
        "team/documented",
        "application/spdx+json",
        "application/spdx+json",
        b"{\"spdxVersion\":\"SPDX-2.3\"}",
    )
    .await;
    let readme = "# Add header\n\nAdds `x-hello` to **every** request.\n\n<script>alert(1)</script>\n\n\
                  - [docs](https://example.com/docs)\n- [bad](javascript:alert(1))\n\n```yaml\nroot_id: add_header\n```\n";
    let readme_digest = attach(&server, "team/documented", "text/markdown", "text/markdown", readme.as_bytes()).await;

    let tag = page(&server, "/repositories/team/documented/tags/v1", None, 200).await;
    for expected in [
        "Referrers (2)",
        "<td>SBOM</td><td><code>application/spdx+json</code></td>",
        &format!("<code>{sbom}</code>"),
        &format!("<code>{readme_digest}</code>"),
        "<code>note</code>: &lt;b&gt;made by a test&lt;/b&gt;",
        "<h3>Add header</h3>",
        "Adds <code>x-hello</code> to <strong>every</strong> request.",
        "&lt;script&gt;alert(1)&lt;/script&gt;",
        "<a href=\"https://example.com/docs\" rel=\"nofollow noopener\">docs</a>",
        "<pre><code class=\"language-yaml\">root_id: add_header\n</code></pre>",
    ] {
        assert!(tag.contains(expected), "tag page lacks {expected:?}: {tag}");
    }
    assert!(!tag.contains("<script>alert") && !tag.contains("href=\"javascript:"), "{tag}");
    let repository = page(&server, "/repositories/team/documented", None, 200).await;
    assert!(repository.contains("<h3>Add header</h3>") && repository.contains("from the annotation"), "{repository}");
}

/// With more referrers than one page of the referrers API, the page says so and points at the
/// API, and a README beyond the first page is still found (asked for by its type).
#[tokio::test]
async fn a_readme_beyond_the_first_page_of_referrers_is_still_rendered() {
    let limits = wasmhub_registry::Limits { referrers_page_size: 1, ..Default::default() };
    let server = TestServer::start_with_limits(limits).await;
    push_filter(&server, None, "team/many", "many referrers").await;
    let readme = attach(
        &server,
        "team/many",
        "text/markdown",
        "text/markdown",
        b"# Far away
",
    )
    .await;
    // Pages are in digest order: attach SBOMs until one sorts before the README, so that the
    // first page (of one) does not hold it.
    for n in 0.. {
        let content = format!("{{\"sbom\":{n}}}");
        let sbom =
            attach(&server, "team/many", "application/spdx+json", "application/spdx+json", content.as_bytes()).await;
        if sbom < readme {
            break;
        }
    }
    let tag = page(&server, "/repositories/team/many/tags/v1", None, 200).await;
    assert!(!tag.contains(&format!("<code>{readme}</code>")), "the README's row is on the first page: {tag}");
    for expected in
        ["Referrers (1+)", "1 of 1+ shown", "<code>GET /v2/team/many/referrers/sha256:", "<h3>Far away</h3>"]
    {
        assert!(tag.contains(expected), "tag page lacks {expected:?}: {tag}");
    }
}

/// GETs `path` as a browser does (`Accept-Encoding: gzip, br`); returns the bytes on the wire
/// and the decompressed body.
async fn compressed(server: &TestServer, path: &str) -> (usize, String) {
    let response =
        server.client.get(server.url(path)).header("accept-encoding", "gzip, deflate, br").send().await.unwrap();
    assert_eq!(response.status(), 200, "GET {path}");
    assert_eq!(common::header(&response, "content-encoding"), "gzip", "GET {path}");
    let wire = response.bytes().await.unwrap();
    let mut text = String::new();
    std::io::Read::read_to_string(&mut flate2::read::GzDecoder::new(&wire[..]), &mut text).unwrap();
    (wire.len(), text)
}

#[tokio::test]
async fn every_main_page_with_its_script_fits_the_budget_compressed() {
    let server = TestServer::start().await;
    for n in 0..30 {
        push_filter(&server, None, &format!("team/filter-{n:02}"), &format!("filter number {n} adds a header")).await;
    }
    // A README near the 64 KiB limit: the tag page is larger than the budget until compressed.
    let readme: String =
        (0..1300).map(|n| format!("- step {n}: set `header-{n}` to value {}\n", n * 7919 % 1000)).collect();
    assert!((48 * 1024..64 * 1024).contains(&readme.len()), "{}", readme.len());
    attach(&server, "team/filter-00", "text/markdown", "text/markdown", readme.as_bytes()).await;

    let (script_wire, script) = compressed(&server, "/static/app.js").await;
    assert!(script.contains("navigator.clipboard"));
    for path in [
        "/",
        "/search?type=envoy_proxy&per_page=100",
        "/repositories/team/filter-00",
        "/repositories/team/filter-00/tags/v1",
        "/namespaces/team",
        "/login",
    ] {
        let (wire, html) = compressed(&server, path).await;
        assert!(html.starts_with("<!doctype html>") && html.ends_with("</html>\n"), "GET {path}");
        let total = wire + script_wire;
        eprintln!("{path}: {} bytes of HTML, {wire} on the wire; with the script {total}", html.len());
        assert!(total < PAGE_BUDGET, "GET {path}: {total} bytes compressed with its script");
    }
    let (_, tag) = compressed(&server, "/repositories/team/filter-00/tags/v1").await;
    assert!(tag.len() > PAGE_BUDGET, "the test page must need compression to fit: {} bytes", tag.len());
}
