//! Pull counts (issue 6, item 4; issue 7 "most pulled"): every manifest GET that returns the
//! manifest is counted in memory, per repository and per tag, and added to the database in
//! batches (every few seconds, and at shutdown); replicas add to the same counts.

use crate::common;

use std::time::Duration;

use common::wasm::wasi_command;
use common::{backends, sha256, TestServer, WasmhubProcess, OCI_MANIFEST};
use wasmhub_registry::index::Index;

fn repo(name: &str) -> wasmhub_registry::oci::RepoName {
    name.parse().unwrap()
}

fn tag(name: &str) -> wasmhub_registry::oci::Tag {
    name.parse().unwrap()
}

#[tokio::test]
async fn manifest_gets_are_counted_per_repository_and_tag_and_flushed_once() {
    let server = TestServer::start().await;
    let (_, digest) = server.push_image("pulls/popular", "v1", b"popular layer").await;
    server.push_image("pulls/quiet", "v1", b"quiet layer").await;
    for _ in 0..3 {
        assert_eq!(server.get("/v2/pulls/popular/manifests/v1").await.status(), 200);
    }
    assert_eq!(server.get(&format!("/v2/pulls/popular/manifests/{digest}")).await.status(), 200);
    assert_eq!(server.get("/v2/pulls/quiet/manifests/v1").await.status(), 200);
    // Not pulls: a HEAD, a 304 revalidation, a miss.
    assert_eq!(server.head("/v2/pulls/popular/manifests/v1").await.status(), 200);
    let revalidated = server
        .client
        .get(server.url("/v2/pulls/popular/manifests/v1"))
        .header("if-none-match", format!("\"{digest}\""))
        .send()
        .await
        .unwrap();
    assert_eq!(revalidated.status(), 304);
    assert_eq!(server.get("/v2/pulls/popular/manifests/v2").await.status(), 404);

    let index = server.registry.index();
    assert_eq!(index.repository_pulls(&repo("pulls/popular")).await.unwrap(), 0, "nothing is written before a flush");
    server.registry.flush_pulls().await.unwrap();
    assert_eq!(index.repository_pulls(&repo("pulls/popular")).await.unwrap(), 4);
    assert_eq!(index.tag_pulls(&repo("pulls/popular"), &tag("v1")).await.unwrap(), 3);
    assert_eq!(index.repository_pulls(&repo("pulls/quiet")).await.unwrap(), 1);

    // A second flush adds nothing; later pulls add to the stored count.
    server.registry.flush_pulls().await.unwrap();
    assert_eq!(index.repository_pulls(&repo("pulls/popular")).await.unwrap(), 4);
    assert_eq!(server.get("/v2/pulls/popular/manifests/v1").await.status(), 200);
    server.registry.flush_pulls().await.unwrap();
    assert_eq!(index.repository_pulls(&repo("pulls/popular")).await.unwrap(), 5);
    assert_eq!(index.tag_pulls(&repo("pulls/popular"), &tag("v1")).await.unwrap(), 4);
}

#[tokio::test]
async fn replicas_add_their_counts_to_the_same_rows() {
    let (first, second) = TestServer::start_replicas().await;
    first.push_image("pulls/shared", "latest", b"shared layer").await;
    for _ in 0..2 {
        assert_eq!(first.get("/v2/pulls/shared/manifests/latest").await.status(), 200);
    }
    for _ in 0..3 {
        assert_eq!(second.get("/v2/pulls/shared/manifests/latest").await.status(), 200);
    }
    // Both flush at the same time, as replicas on the same interval would.
    let (a, b) = tokio::join!(first.registry.flush_pulls(), second.registry.flush_pulls());
    a.unwrap();
    b.unwrap();
    let index = first.registry.index();
    assert_eq!(index.repository_pulls(&repo("pulls/shared")).await.unwrap(), 5);
    assert_eq!(index.tag_pulls(&repo("pulls/shared"), &tag("latest")).await.unwrap(), 5);
}

#[tokio::test]
async fn search_orders_by_pulls_and_the_home_page_lists_the_most_pulled() {
    let server = TestServer::start().await;
    let module = wasi_command();
    // Pushed in this order, so that neither name order nor push time gives the pull order.
    for (repository, tag) in
        [("rank/a-rare", "v1"), ("rank/b-popular", "v1"), ("rank/b-popular", "v2"), ("rank/c-never", "v1")]
    {
        server.push_cncf(repository, tag, &module, "wasip1").await;
    }
    let pulls = [("rank/b-popular", "v2", 3), ("rank/b-popular", "v1", 2), ("rank/a-rare", "v1", 1)];
    for (repository, tag, times) in pulls {
        for _ in 0..times {
            assert_eq!(server.get(&format!("/v2/{repository}/manifests/{tag}")).await.status(), 200);
        }
    }
    server.registry.flush_pulls().await.unwrap();

    let found = server.api("/api/v1/search?q=&sort=pulls", 200).await;
    let order: Vec<String> = found["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|item| format!("{}:{}", item["repository"].as_str().unwrap(), item["tag"].as_str().unwrap()))
        .collect();
    // Repositories by their total (5, 1, 0), tags within one by their own count (3, 2).
    assert_eq!(order, ["rank/b-popular:v2", "rank/b-popular:v1", "rank/a-rare:v1", "rank/c-never:v1"]);
    // Pages are read from the pulled run and the unpulled run separately; every page size,
    // including pages that straddle the two runs, gives the same order, each entry once.
    for per_page in 1..=3 {
        let mut paged = Vec::new();
        for page in 1..=4 {
            let found = server.api(&format!("/api/v1/search?sort=pulls&per_page={per_page}&page={page}"), 200).await;
            assert_eq!(found["total"], 4);
            paged.extend(
                found["items"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|item| format!("{}:{}", item["repository"].as_str().unwrap(), item["tag"].as_str().unwrap())),
            );
        }
        assert_eq!(paged, order, "per_page={per_page}");
    }
    // Filters apply to both runs.
    let found = server.api("/api/v1/search?sort=pulls&namespace=rank&per_page=2&page=2", 200).await;
    let tags: Vec<&str> =
        found["items"].as_array().unwrap().iter().map(|i| i["repository"].as_str().unwrap()).collect();
    assert_eq!(tags, ["rank/a-rare", "rank/c-never"]);
    // An unknown order is refused, not silently replaced.
    server.api("/api/v1/search?sort=pulled", 400).await;

    let home = server.get("/").await.text().await.unwrap();
    let section = home.split("Most pulled").nth(1).expect("the home page has a Most pulled list");
    let first = section.find("rank/b-popular").expect("the most pulled repository is listed");
    let rare = section.find("rank/a-rare").expect("a pulled repository is listed");
    assert!(first < rare, "most pulled first: {section}");
}

/// Pushes a one-layer image to the real binary over HTTP.
async fn push_image(client: &reqwest::Client, base: &str, repository: &str, reference: &str) {
    let config = b"{}".to_vec();
    let layer = b"a layer pulled by the binary".to_vec();
    for blob in [&config, &layer] {
        let url = format!("{base}/v2/{repository}/blobs/uploads/?digest={}", sha256(blob));
        let response = client.post(url).body(blob.clone()).send().await.unwrap();
        assert_eq!(response.status(), 201);
    }
    let manifest = common::oci_manifest_for(&config, &layer);
    let response = client
        .put(format!("{base}/v2/{repository}/manifests/{reference}"))
        .header("content-type", OCI_MANIFEST)
        .body(manifest)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
}

#[tokio::test]
async fn the_binary_writes_the_last_counts_when_it_stops() {
    // An interval far longer than the test: only the flush at shutdown can write the counts.
    let mut server = WasmhubProcess::start_with_env(&[("WASMHUB_PULL_FLUSH_INTERVAL", "1h")]);
    let base = format!("http://{}", server.host());
    let client = reqwest::Client::new();
    push_image(&client, &base, "pulls/binary", "1.0.0").await;
    for _ in 0..3 {
        let response = client.get(format!("{base}/v2/pulls/binary/manifests/1.0.0")).send().await.unwrap();
        assert_eq!(response.status(), 200);
    }
    let index = Index::connect(&backends::database_url(server.data_dir())).await.unwrap();
    assert_eq!(index.repository_pulls(&repo("pulls/binary")).await.unwrap(), 0);
    assert!(server.terminate(Duration::from_secs(60)).success());
    assert_eq!(index.repository_pulls(&repo("pulls/binary")).await.unwrap(), 3);
    assert_eq!(index.tag_pulls(&repo("pulls/binary"), &tag("1.0.0")).await.unwrap(), 3);
    index.close().await;
}
