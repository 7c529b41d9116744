//! The original WebAssembly Hub's listing API (Harbor v1 shapes), as `wasme list --published`
//! walks it: projects, then each project's repositories, then each repository's tags with the
//! `module.wasm.runtime/*` annotations; and `/api/search?q=` for `wasme list --search`.

use crate::common;

use base64::Engine as _;
use common::wasm::{proxy_filter, wasi_command};
use common::{sha256, TestServer, OCI_MANIFEST};
use serde_json::Value;
use wasmhub_registry::Caller;

fn names<'a>(items: &'a Value, key: &str) -> Vec<&'a str> {
    items.as_array().expect("an array").iter().map(|i| i[key].as_str().expect("a string")).collect()
}

/// Pushes the modules every test lists: two tags of a solo.io filter, a CNCF command, and an
/// ordinary image that is not Wasm at all.
async fn seeded() -> (TestServer, String) {
    let server = TestServer::start().await;
    let filter = proxy_filter();
    let v1 = server.push_solo("team/filter", "v1", &filter, "v0.2.1").await;
    server.push_solo("team/filter", "v2", &filter, "v0.2.1").await;
    server.push_cncf("apps/hello", "1.0.0", &wasi_command(), "wasip1").await;
    let (config, layer) = (b"{}", b"not wasm");
    server.push_blob("team/plain", config).await;
    server.push_blob("team/plain", layer).await;
    let plain =
        server.put_manifest("team/plain", "latest", OCI_MANIFEST, &common::oci_manifest_for(config, layer)).await;
    assert_eq!(plain.status(), 201);
    (server, v1)
}

#[tokio::test]
async fn wasme_list_published_walks_projects_repositories_and_tags() {
    let (server, v1) = seeded().await;
    let projects = server.api("/api/projects", 200).await;
    assert_eq!(names(&projects, "name"), ["apps", "team"], "{projects}");
    let team = &projects[1];
    assert_eq!(team["repo_count"], 2);
    assert_eq!(team["metadata"]["public"], "true");
    assert!(team["project_id"].as_u64().unwrap() > 0);
    assert_ne!(team["project_id"], projects[0]["project_id"]);
    for key in ["creation_time", "update_time"] {
        assert!(team[key].as_str().unwrap().ends_with('Z'), "{key}: {team}");
    }

    let repos = server.api(&format!("/api/repositories?project_id={}", team["project_id"]), 200).await;
    assert_eq!(names(&repos, "name"), ["team/filter", "team/plain"], "{repos}");
    assert_eq!(repos[0]["project_id"], team["project_id"]);
    assert_eq!(repos[0]["tags_count"], 2);
    assert_eq!(repos[0]["description"], "adds a header to every request");

    let tags = server.api("/api/repositories/team/filter/tags?detail=true", 200).await;
    let mut tag_names = names(&tags, "name");
    tag_names.sort();
    assert_eq!(tag_names, ["v1", "v2"], "{tags}");
    let tag = tags.as_array().unwrap().iter().find(|t| t["name"] == "v1").unwrap();
    assert_eq!(tag["digest"], v1.as_str());
    assert_eq!(tag["size"], proxy_filter().len());
    assert_eq!(tag["annotations"]["module.wasm.runtime/type"], "envoy_proxy");
    assert_eq!(tag["annotations"]["module.wasm.runtime/abi_version"], "0.2.1");
    assert_eq!(tag["pull_time"], "0001-01-01T00:00:00Z");
    assert!(tag["push_time"].as_str().unwrap().ends_with('Z'));

    // Tags that are not Wasm are listed too, without the Wasm annotations.
    let plain = server.api("/api/repositories/team/plain/tags", 200).await;
    assert_eq!(names(&plain, "name"), ["latest"]);
    assert_eq!(plain[0]["annotations"], serde_json::json!({}));
}

#[tokio::test]
async fn hub_search_finds_repositories_by_name_and_by_module_text() {
    let (server, _) = seeded().await;
    let by_name = server.api("/api/search?q=FILT", 200).await;
    assert_eq!(names(&by_name["repository"], "repository_name"), ["team/filter"], "{by_name}");
    let hit = &by_name["repository"][0];
    assert_eq!(hit["project_name"], "team");
    assert_eq!(hit["tags_count"], 2);
    assert_eq!(hit["project_public"], true);
    assert_eq!(by_name["chart"], serde_json::json!([]));

    // "header" is only in the filter's description annotation.
    let by_text = server.api("/api/search?q=header", 200).await;
    assert_eq!(names(&by_text["repository"], "repository_name"), ["team/filter"], "{by_text}");

    let by_project = server.api("/api/search?q=app", 200).await;
    assert_eq!(names(&by_project["project"], "name"), ["apps"], "{by_project}");
    assert_eq!(names(&by_project["repository"], "repository_name"), ["apps/hello"]);

    // LIKE wildcards in the query are literal characters.
    let none = server.api("/api/search?q=%25_", 200).await;
    assert_eq!(none, serde_json::json!({"project": [], "repository": [], "chart": []}));
}

#[tokio::test]
async fn hub_api_rejects_bad_input_with_4xx() {
    let (server, _) = seeded().await;
    server.api("/api/repositories", 400).await;
    server.api("/api/repositories?project_id=abc", 400).await;
    server.api("/api/repositories?project_id=1", 404).await;
    server.api("/api/projects?page_size=0", 400).await;
    server.api("/api/repositories/team/missing/tags", 404).await;
    server.api("/api/repositories/team/filter", 404).await;
    server.api("/api/repositories/BAD NAME/tags", 400).await;
}

#[tokio::test]
async fn hub_listings_hide_private_repositories_from_anonymous_callers() {
    let server = TestServer::start_enforced().await;
    let registry = &server.registry;
    registry
        .create_user(&"alice".parse().unwrap(), "correct horse battery", false, &wasmhub_index::Actor::cli())
        .await
        .unwrap();
    for repo in ["alice/public", "alice/private"] {
        push_as_alice(&server, repo).await;
    }
    registry.set_visibility(&Caller::Open, &"alice/private".parse().unwrap(), true).await.unwrap();

    let projects = server.api("/api/projects", 200).await;
    assert_eq!(projects[0]["repo_count"], 1, "{projects}");
    let repos = server.api(&format!("/api/repositories?project_id={}", projects[0]["project_id"]), 200).await;
    assert_eq!(names(&repos, "name"), ["alice/public"]);
    let found = server.api("/api/search?q=alice", 200).await;
    assert_eq!(names(&found["repository"], "repository_name"), ["alice/public"]);
    server.api("/api/repositories/alice/private/tags", 404).await;
}

async fn push_as_alice(server: &TestServer, repo: &str) {
    let auth = format!("Basic {}", base64::engine::general_purpose::STANDARD.encode("alice:correct horse battery"));
    let (config, layer) = (b"{}".to_vec(), repo.as_bytes().to_vec());
    for blob in [&layer, &config] {
        let url = server.url(&format!("/v2/{repo}/blobs/uploads/?digest={}", sha256(blob)));
        let response = server.client.post(url).header("authorization", &auth).body(blob.clone()).send().await.unwrap();
        assert_eq!(response.status(), 201);
    }
    let response = server
        .client
        .put(server.url(&format!("/v2/{repo}/manifests/v1")))
        .header("authorization", &auth)
        .header("content-type", OCI_MANIFEST)
        .body(common::oci_manifest_for(&config, &layer))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
}
