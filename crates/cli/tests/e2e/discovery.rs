//! Content discovery (OCI distribution-spec v1.1, end-8a/8b, end-12a/12b, and `_catalog`):
//! tag listing in lexical order with `n`/`last` pagination and `Link` headers, the catalog,
//! and the referrers API with its `artifactType` filter.

use crate::common;

use common::{
    descriptor, error_code, header, oci_manifest, sha256, TestServer, EMPTY_JSON, OCI_EMPTY, OCI_INDEX, OCI_MANIFEST,
};
use serde_json::{json, Value};

const SIGNATURE: &str = "application/vnd.example.signature.v1";
const SBOM_CONFIG: &str = "application/vnd.example.sbom.config.v1+json";

/// Pushes one manifest to `repo` and tags it with every tag in `tags` (`?tag=`).
async fn tagged(server: &TestServer, repo: &str, tags: &[&str]) {
    let (manifest, digest) = server.push_image(repo, tags[0], b"module").await;
    let query: Vec<(&str, &str)> = tags.iter().map(|tag| ("tag", *tag)).collect();
    let url = server.url(&format!("/v2/{repo}/manifests/{digest}"));
    let response = server.client.put(url).query(&query).header("content-type", OCI_MANIFEST).body(manifest);
    assert_eq!(response.send().await.unwrap().status(), 201);
}

/// `GET path`: status, the `Link` header if any, the JSON body.
async fn listing(server: &TestServer, path: &str) -> (u16, Option<String>, Value) {
    let response = server.get(path).await;
    let status = response.status().as_u16();
    let link = response.headers().get("link").map(|v| v.to_str().unwrap().to_owned());
    if status == 200 {
        assert_eq!(header(&response, "content-type"), "application/json");
    }
    (status, link, response.json().await.unwrap())
}

/// The path inside `<...>; rel="next"`.
fn next_path(link: &str) -> String {
    let (target, rel) = link.split_once(';').expect("Link has a parameter");
    assert_eq!(rel.trim(), "rel=\"next\"");
    target.trim().trim_start_matches('<').trim_end_matches('>').to_owned()
}

/// Follows `Link` headers from `path`; returns every page's `key` entries and how many pages.
async fn all_pages(server: &TestServer, path: &str, key: &str) -> (Vec<String>, usize) {
    let (mut items, mut pages, mut next) = (Vec::new(), 0, Some(path.to_owned()));
    while let Some(path) = next {
        let (status, link, json) = listing(server, &path).await;
        assert_eq!(status, 200, "{path}");
        items.extend(json[key].as_array().unwrap().iter().map(|t| t.as_str().unwrap().to_owned()));
        pages += 1;
        next = link.map(|link| next_path(&link));
    }
    (items, pages)
}

/// Pushes a referrer of `subject` to `repo`: an image manifest with `artifact_type` (and the
/// empty config) or, without one, a config of type `SBOM_CONFIG`. Returns bytes and digest.
async fn referrer(
    server: &TestServer,
    repo: &str,
    subject: &str,
    artifact_type: Option<&str>,
    annotations: Value,
) -> (Vec<u8>, String) {
    server.push_blob(repo, EMPTY_JSON).await;
    let layer = format!("payload for {annotations}");
    server.push_blob(repo, layer.as_bytes()).await;
    let config = match artifact_type {
        Some(_) => descriptor(OCI_EMPTY, EMPTY_JSON),
        None => {
            server.push_blob(repo, b"{\"sbom\":true}").await;
            descriptor(SBOM_CONFIG, b"{\"sbom\":true}")
        }
    };
    let mut manifest = oci_manifest(config, &[descriptor("application/octet-stream", layer.as_bytes())]);
    manifest["subject"] = json!({"mediaType": OCI_MANIFEST, "digest": subject, "size": 100});
    manifest["annotations"] = annotations;
    if let Some(artifact_type) = artifact_type {
        manifest["artifactType"] = json!(artifact_type);
    }
    let bytes = serde_json::to_vec(&manifest).unwrap();
    server.push_manifest(repo, &sha256(&bytes), OCI_MANIFEST, &manifest).await
}

/// `GET /referrers/<subject>[?artifactType=]`: checks the 200 and Content-Type; returns the
/// `OCI-Filters-Applied` header and the index's `manifests`, sorted by digest.
async fn referrers(
    server: &TestServer,
    repo: &str,
    subject: &str,
    filter: Option<&str>,
) -> (Option<String>, Vec<Value>) {
    let request = server.client.get(server.url(&format!("/v2/{repo}/referrers/{subject}")));
    let request = match filter {
        Some(filter) => request.query(&[("artifactType", filter)]),
        None => request,
    };
    let response = request.send().await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(header(&response, "content-type"), OCI_INDEX);
    let filters = response.headers().get("oci-filters-applied").map(|v| v.to_str().unwrap().to_owned());
    let index: Value = response.json().await.unwrap();
    assert_eq!(index["schemaVersion"], 2);
    assert_eq!(index["mediaType"], OCI_INDEX);
    let mut manifests = index["manifests"].as_array().expect("manifests is an array").clone();
    manifests.sort_by_key(|d| d["digest"].as_str().unwrap().to_owned());
    (filters, manifests)
}

#[tokio::test]
async fn tags_are_listed_in_lexical_order() {
    let server = TestServer::start().await;
    tagged(&server, "ns/app", &["v1", "V2", "alpha", "10", "9", "_x", "latest", "v1.10", "v1.9"]).await;
    let (status, link, json) = listing(&server, "/v2/ns/app/tags/list").await;
    assert_eq!(status, 200);
    assert_eq!(link, None);
    assert_eq!(
        json,
        json!({"name": "ns/app", "tags": ["10", "9", "V2", "_x", "alpha", "latest", "v1", "v1.10", "v1.9"]})
    );
}

#[tokio::test]
async fn n_limits_a_page_and_link_leads_to_the_next() {
    let server = TestServer::start().await;
    tagged(&server, "ns/app", &["e", "d", "c", "b", "a"]).await;
    let (status, link, json) = listing(&server, "/v2/ns/app/tags/list?n=2").await;
    assert_eq!(status, 200);
    assert_eq!(json["tags"], json!(["a", "b"]));
    assert_eq!(link.as_deref(), Some("</v2/ns/app/tags/list?n=2&last=b>; rel=\"next\""));
    let (all, pages) = all_pages(&server, "/v2/ns/app/tags/list?n=2", "tags").await;
    assert_eq!(all, ["a", "b", "c", "d", "e"]);
    assert_eq!(pages, 3);
    // A page that ends exactly at the last tag has no Link.
    let (_, link, json) = listing(&server, "/v2/ns/app/tags/list?n=5").await;
    assert_eq!((link, json["tags"].as_array().unwrap().len()), (None, 5));
    let (_, link, json) = listing(&server, "/v2/ns/app/tags/list?n=100").await;
    assert_eq!((link, json["tags"].as_array().unwrap().len()), (None, 5));
}

#[tokio::test]
async fn last_starts_the_list_after_the_given_tag() {
    let server = TestServer::start().await;
    tagged(&server, "ns/app", &["a", "b", "c", "d"]).await;
    let (_, link, json) = listing(&server, "/v2/ns/app/tags/list?last=b").await;
    assert_eq!((link, json["tags"].clone()), (None, json!(["c", "d"])));
    let (_, link, json) = listing(&server, "/v2/ns/app/tags/list?n=1&last=b").await;
    assert_eq!(json["tags"], json!(["c"]));
    assert_eq!(link.as_deref(), Some("</v2/ns/app/tags/list?n=1&last=c>; rel=\"next\""));
    // `last` need not be an existing tag: the list continues after where it would sort.
    let (_, _, json) = listing(&server, "/v2/ns/app/tags/list?last=bb").await;
    assert_eq!(json["tags"], json!(["c", "d"]));
    let (status, link, json) = listing(&server, "/v2/ns/app/tags/list?last=d").await;
    assert_eq!((status, link, json["tags"].clone()), (200, None, json!([])));
}

#[tokio::test]
async fn n_zero_returns_an_empty_list_without_link() {
    let server = TestServer::start().await;
    tagged(&server, "ns/app", &["a", "b"]).await;
    let (status, link, json) = listing(&server, "/v2/ns/app/tags/list?n=0").await;
    assert_eq!((status, link, json), (200, None, json!({"name": "ns/app", "tags": []})));
    let (status, _, _) = listing(&server, "/v2/ns/nothing/tags/list?n=0").await;
    assert_eq!(status, 404, "an empty page only of a repository that exists");
}

#[tokio::test]
async fn invalid_n_is_400() {
    let server = TestServer::start().await;
    tagged(&server, "ns/app", &["a"]).await;
    for n in ["abc", "-1", "1.5", ""] {
        for path in [format!("/v2/ns/app/tags/list?n={n}"), format!("/v2/_catalog?n={n}")] {
            let response = server.get(&path).await;
            assert_eq!(response.status(), 400, "{path}");
            assert_eq!(error_code(response).await, "PAGINATION_NUMBER_INVALID");
        }
    }
}

#[tokio::test]
async fn tags_of_an_unknown_repository_are_404_name_unknown() {
    let server = TestServer::start().await;
    tagged(&server, "ns/app", &["a"]).await;
    let response = server.get("/v2/ns/other/tags/list").await;
    assert_eq!(response.status(), 404);
    assert_eq!(error_code(response).await, "NAME_UNKNOWN");
    let response = server.get("/v2/NS/app/tags/list").await;
    assert_eq!(response.status(), 400);
    assert_eq!(error_code(response).await, "NAME_INVALID");
}

#[tokio::test]
async fn a_repository_without_tags_lists_an_empty_array() {
    let server = TestServer::start().await;
    server.push_blob("ns/app", b"just a blob").await;
    let (status, _, json) = listing(&server, "/v2/ns/app/tags/list").await;
    assert_eq!((status, json), (200, json!({"name": "ns/app", "tags": []})));
}

#[tokio::test]
async fn catalog_lists_repositories_in_order_with_pagination() {
    let server = TestServer::start().await;
    for repo in ["c", "b/x", "a/b", "a", "b/x/y"] {
        server.push_blob(repo, repo.as_bytes()).await;
    }
    let (status, link, json) = listing(&server, "/v2/_catalog").await;
    assert_eq!((status, link), (200, None));
    assert_eq!(json, json!({"repositories": ["a", "a/b", "b/x", "b/x/y", "c"]}));
    let (_, link, json) = listing(&server, "/v2/_catalog?n=3").await;
    assert_eq!(json["repositories"], json!(["a", "a/b", "b/x"]));
    assert_eq!(link.as_deref(), Some("</v2/_catalog?n=3&last=b%2Fx>; rel=\"next\""));
    let (all, pages) = all_pages(&server, "/v2/_catalog?n=2", "repositories").await;
    assert_eq!((all, pages), (vec!["a".into(), "a/b".into(), "b/x".into(), "b/x/y".into(), "c".into()], 3));
    let (_, link, json) = listing(&server, "/v2/_catalog?n=0").await;
    assert_eq!((link, json), (None, json!({"repositories": []})));
    let (_, _, json) = listing(&server, "/v2/_catalog?last=b/x").await;
    assert_eq!(json["repositories"], json!(["b/x/y", "c"]));
}

#[tokio::test]
async fn referrers_describe_every_manifest_whose_subject_is_the_digest() {
    let server = TestServer::start().await;
    let (subject_bytes, subject) = server.push_image("ns/app", "v1", b"signed module").await;
    let (sig, sig_digest) = referrer(&server, "ns/app", &subject, Some(SIGNATURE), json!({"sig": "one"})).await;
    let (sbom, sbom_digest) = referrer(&server, "ns/app", &subject, None, json!({"format": "spdx"})).await;
    let index = json!({"schemaVersion": 2, "mediaType": OCI_INDEX, "annotations": {"kind": "bundle"},
        "manifests": [{"mediaType": OCI_MANIFEST, "digest": sig_digest, "size": sig.len()}],
        "subject": {"mediaType": OCI_MANIFEST, "digest": subject, "size": subject_bytes.len()}});
    let index_bytes = serde_json::to_vec(&index).unwrap();
    let response = server.put_manifest("ns/app", "bundle", OCI_INDEX, &index_bytes).await;
    assert_eq!(response.status(), 201);
    assert_eq!(header(&response, "oci-subject"), subject, "an index with a subject answers OCI-Subject too");
    let index_digest = sha256(&index_bytes);
    // Neither an unrelated manifest nor a referrer of another subject is listed.
    server.push_image("ns/app", "v2", b"unrelated").await;
    referrer(&server, "ns/app", &sha256(b"other subject"), Some(SIGNATURE), json!({"sig": "other"})).await;

    let (filters, manifests) = referrers(&server, "ns/app", &subject, None).await;
    assert_eq!(filters, None);
    let mut expected = vec![
        json!({"mediaType": OCI_MANIFEST, "digest": sig_digest, "size": sig.len(),
               "artifactType": SIGNATURE, "annotations": {"sig": "one"}}),
        // No artifactType: the config's media type stands in for it.
        json!({"mediaType": OCI_MANIFEST, "digest": sbom_digest, "size": sbom.len(),
               "artifactType": SBOM_CONFIG, "annotations": {"format": "spdx"}}),
        // An index without artifactType has none.
        json!({"mediaType": OCI_INDEX, "digest": index_digest, "size": index_bytes.len(),
               "annotations": {"kind": "bundle"}}),
    ];
    expected.sort_by_key(|d| d["digest"].as_str().unwrap().to_owned());
    assert_eq!(manifests, expected);
}

#[tokio::test]
async fn artifact_type_filter_is_applied_and_reported() {
    let server = TestServer::start().await;
    let (_, subject) = server.push_image("ns/app", "v1", b"signed module").await;
    let (_, first) = referrer(&server, "ns/app", &subject, Some(SIGNATURE), json!({"n": "1"})).await;
    let (_, second) = referrer(&server, "ns/app", &subject, Some(SIGNATURE), json!({"n": "2"})).await;
    let (_, sbom) = referrer(&server, "ns/app", &subject, None, json!({"n": "3"})).await;

    let (filters, manifests) = referrers(&server, "ns/app", &subject, Some(SIGNATURE)).await;
    assert_eq!(filters.as_deref(), Some("artifactType"));
    let mut digests: Vec<&str> = manifests.iter().map(|d| d["digest"].as_str().unwrap()).collect();
    digests.sort();
    let mut expected = [first.as_str(), second.as_str()];
    expected.sort();
    assert_eq!(digests, expected);
    assert!(manifests.iter().all(|d| d["artifactType"] == SIGNATURE));

    let (filters, manifests) = referrers(&server, "ns/app", &subject, Some(SBOM_CONFIG)).await;
    assert_eq!(filters.as_deref(), Some("artifactType"));
    assert_eq!(manifests.len(), 1);
    assert_eq!(manifests[0]["digest"], sbom);

    let (filters, manifests) = referrers(&server, "ns/app", &subject, Some("application/vnd.none")).await;
    assert_eq!((filters.as_deref(), manifests.len()), (Some("artifactType"), 0));
}

#[tokio::test]
async fn an_unknown_subject_has_an_empty_referrers_index() {
    let server = TestServer::start().await;
    server.push_image("ns/app", "v1", b"module").await;
    let (filters, manifests) = referrers(&server, "ns/app", &sha256(b"no such manifest"), None).await;
    assert_eq!((filters, manifests), (None, vec![]));
}

#[tokio::test]
async fn a_referrer_pushed_before_its_subject_is_listed() {
    let server = TestServer::start().await;
    let future_subject = sha256(b"pushed later");
    let (_, digest) = referrer(&server, "ns/app", &future_subject, Some(SIGNATURE), json!({"early": "yes"})).await;
    let (_, manifests) = referrers(&server, "ns/app", &future_subject, None).await;
    assert_eq!(manifests.len(), 1);
    assert_eq!(manifests[0]["digest"], digest);
}

#[tokio::test]
async fn referrers_are_scoped_to_the_repository() {
    let server = TestServer::start().await;
    let (_, subject) = server.push_image("ns/one", "v1", b"module").await;
    server.push_image("ns/two", "v1", b"module").await;
    let (_, digest) = referrer(&server, "ns/two", &subject, Some(SIGNATURE), json!({"repo": "two"})).await;
    assert_eq!(referrers(&server, "ns/one", &subject, None).await.1, Vec::<Value>::new());
    let (_, manifests) = referrers(&server, "ns/two", &subject, None).await;
    assert_eq!(manifests.len(), 1);
    assert_eq!(manifests[0]["digest"], digest);
}

#[tokio::test]
async fn referrers_of_an_invalid_digest_are_400_digest_invalid() {
    let server = TestServer::start().await;
    server.push_image("ns/app", "v1", b"module").await;
    for digest in ["sha256:abc", "latest", "sha256:ZZZ"] {
        let response = server.get(&format!("/v2/ns/app/referrers/{digest}")).await;
        assert_eq!(response.status(), 400, "{digest}");
        assert_eq!(error_code(response).await, "DIGEST_INVALID");
    }
}

#[tokio::test]
async fn a_smaller_page_of_referrers_says_more_follow() {
    let server = TestServer::start().await;
    let (_, subject) = server.push_image("ns/app", "v1", b"signed module").await;
    for n in 0..3 {
        referrer(&server, "ns/app", &subject, Some(SIGNATURE), json!({"sig": n.to_string()})).await;
    }
    let (name, subject) = ("ns/app".parse().unwrap(), subject.parse().unwrap());
    let caller = wasmhub_registry::Caller::Open;
    let page = server.registry.referrers_page(&caller, &name, &subject, None, None, 2).await.unwrap();
    let index: Value = serde_json::from_slice(&page.index_json).unwrap();
    assert_eq!(index["manifests"].as_array().unwrap().len(), 2);
    assert!(page.more_after.is_some(), "the third follows");
    let whole = server.registry.referrers(&caller, &name, &subject, None, None).await.unwrap();
    let index: Value = serde_json::from_slice(&whole.index_json).unwrap();
    assert_eq!((index["manifests"].as_array().unwrap().len(), whole.more_after), (3, None));
}
