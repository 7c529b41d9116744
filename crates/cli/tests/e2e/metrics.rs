//! `/metrics` (issue 6, item 4): after pushes and pulls the exposition parses as Prometheus
//! text, and request counters, latency histograms, byte counters, the upload gauge, storage
//! and database timings and the per-repository counters (with their label cap) move by
//! exactly what the requests did.

use crate::common;

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

use common::{sha256, TestServer, OCI_MANIFEST};
use wasmhub_registry::metrics::Metrics;

/// The config blob `TestServer::push_image` pushes.
const CONFIG: &[u8] = br#"{"type":"envoy_proxy","abiVersions":["v0.2.1"]}"#;

/// A parsed exposition: samples keyed by name and (sorted) labels.
struct Exposition {
    samples: HashMap<(String, BTreeMap<String, String>), f64>,
    help: HashMap<String, String>,
}

impl Exposition {
    /// A tiny parser of the text format that fails the test on anything malformed: every
    /// sample is `name{label="value",...} value`, and its family has HELP and TYPE first.
    fn parse(text: &str) -> Exposition {
        let mut samples = HashMap::new();
        let mut help = HashMap::new();
        let mut types: HashMap<String, String> = HashMap::new();
        for line in text.lines() {
            if let Some(rest) = line.strip_prefix("# HELP ") {
                let (name, text) = rest.split_once(' ').expect("HELP has a name and text");
                assert!(help.insert(name.to_owned(), text.to_owned()).is_none(), "HELP twice for {name}");
                continue;
            }
            if let Some(rest) = line.strip_prefix("# TYPE ") {
                let (name, kind) = rest.split_once(' ').expect("TYPE has a name and type");
                assert!(["counter", "gauge", "histogram"].contains(&kind), "type {kind}");
                assert!(help.contains_key(name), "{name}: TYPE before HELP");
                types.insert(name.to_owned(), kind.to_owned());
                continue;
            }
            assert!(!line.is_empty() && !line.starts_with('#'), "unexpected line {line:?}");
            let name_end = line.find(['{', ' ']).expect("sample has a value");
            let name = &line[..name_end];
            assert!(name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':'), "name {name:?}");
            let (labels, value) = parse_labels(&line[name_end..]);
            let family = ["_bucket", "_sum", "_count"]
                .iter()
                .find_map(|suffix| {
                    name.strip_suffix(suffix).filter(|base| types.get(*base).map(String::as_str) == Some("histogram"))
                })
                .unwrap_or(name);
            assert!(types.contains_key(family), "{name}: sample without HELP and TYPE");
            let value: f64 = value.parse().unwrap_or_else(|_| panic!("value {value:?} in {line:?}"));
            assert!(samples.insert((name.to_owned(), labels), value).is_none(), "duplicate series {line:?}");
        }
        Exposition { samples, help }
    }

    fn get(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        let labels = labels.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        self.samples.get(&(name.to_owned(), labels)).copied().unwrap_or(0.0)
    }

    fn series(&self, name: &str) -> usize {
        self.samples.keys().filter(|(n, _)| n == name).count()
    }
}

/// `{a="x",b="y"} value` (or ` value`) into labels and the value text, undoing escapes.
fn parse_labels(rest: &str) -> (BTreeMap<String, String>, &str) {
    let mut labels = BTreeMap::new();
    let Some(mut rest) = rest.strip_prefix('{') else {
        return (labels, rest.trim_start());
    };
    loop {
        let (label, after) = rest.split_once("=\"").expect("label=\"value\"");
        let mut value = String::new();
        let mut chars = after.char_indices();
        let end = loop {
            match chars.next().expect("label value is closed") {
                (_, '\\') => match chars.next().expect("escape").1 {
                    'n' => value.push('\n'),
                    other => value.push(other),
                },
                (i, '"') => break i,
                (_, c) => value.push(c),
            }
        };
        labels.insert(label.to_owned(), value);
        rest = &after[end + 1..];
        if let Some(next) = rest.strip_prefix(',') {
            rest = next;
        } else {
            let value = rest.strip_prefix("} ").expect("labels end with '} '");
            return (labels, value);
        }
    }
}

async fn scrape(server: &TestServer) -> Exposition {
    let response = server.get("/metrics").await;
    assert_eq!(response.status(), 200);
    assert_eq!(common::header(&response, "content-type"), "text/plain; version=0.0.4; charset=utf-8");
    Exposition::parse(&response.text().await.unwrap())
}

/// Requests are recorded when their response body is dropped, which may be a moment after
/// the client has read it: scrape until `ready` holds (or 5 s pass; the asserts then say why).
async fn scrape_until(server: &TestServer, ready: impl Fn(&Exposition) -> bool) -> Exposition {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let metrics = scrape(server).await;
        if ready(&metrics) || Instant::now() > deadline {
            return metrics;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

const REQUESTS: &str = "wasmhub_http_requests_total";

fn requests<'a>(route: &'a str, method: &'a str, status: &'a str) -> [(&'a str, &'a str); 3] {
    [("route", route), ("method", method), ("status", status)]
}

#[tokio::test]
async fn pushes_and_pulls_move_request_counters_histograms_and_byte_counters() {
    let server = TestServer::start().await;
    let before = scrape(&server).await;
    let layer = vec![7u8; 100_000];
    let (manifest, digest) = server.push_image("team/filter", "v1", &layer).await;
    let pulled = server
        .client
        .get(server.url("/v2/team/filter/manifests/v1"))
        .header("accept", OCI_MANIFEST)
        .send()
        .await
        .unwrap();
    assert_eq!(pulled.headers()["docker-content-digest"], digest.as_str());
    assert_eq!(pulled.bytes().await.unwrap(), manifest);
    let blob = server.get(&format!("/v2/team/filter/blobs/{}", sha256(&layer))).await;
    assert_eq!(blob.bytes().await.unwrap().len(), layer.len());

    let delta =
        |after: &Exposition, name: &str, labels: &[(&str, &str)]| after.get(name, labels) - before.get(name, labels);
    let after = scrape_until(&server, |m| delta(m, REQUESTS, &requests("blob", "GET", "200")) >= 1.0).await;

    assert_eq!(delta(&after, REQUESTS, &requests("upload", "POST", "201")), 2.0, "config and layer uploads");
    assert_eq!(delta(&after, REQUESTS, &requests("manifest", "PUT", "201")), 1.0);
    assert_eq!(delta(&after, REQUESTS, &requests("manifest", "GET", "200")), 1.0);
    assert_eq!(delta(&after, REQUESTS, &requests("blob", "GET", "200")), 1.0);
    assert!(after.get(REQUESTS, &requests("metrics", "GET", "200")) >= 1.0, "scrapes count too");

    let upload_post = [("route", "upload"), ("method", "POST")];
    let count = "wasmhub_http_request_duration_seconds_count";
    assert_eq!(delta(&after, count, &upload_post), 2.0);
    let inf = [("route", "upload"), ("method", "POST"), ("le", "+Inf")];
    assert_eq!(after.get("wasmhub_http_request_duration_seconds_bucket", &inf), after.get(count, &upload_post));
    assert!(delta(&after, "wasmhub_http_request_duration_seconds_sum", &upload_post) > 0.0);

    let sent = (CONFIG.len() + layer.len()) as f64;
    assert_eq!(delta(&after, "wasmhub_http_request_bytes_total", &[("route", "upload")]), sent);
    assert_eq!(delta(&after, "wasmhub_http_request_bytes_total", &[("route", "manifest")]), manifest.len() as f64);
    assert_eq!(delta(&after, "wasmhub_http_response_bytes_total", &[("route", "manifest")]), manifest.len() as f64);
    assert_eq!(delta(&after, "wasmhub_http_response_bytes_total", &[("route", "blob")]), layer.len() as f64);

    assert_eq!(after.get("wasmhub_uploads_in_progress", &[]), 0.0);
    assert_eq!(after.get("wasmhub_pushes_total", &[("repository", "team/filter")]), 1.0);
    assert_eq!(after.get("wasmhub_pulls_total", &[("repository", "team/filter")]), 1.0);

    let storage = "wasmhub_storage_operation_duration_seconds_count";
    assert_eq!(delta(&after, storage, &[("op", "write_part")]), 2.0);
    assert!(delta(&after, storage, &[("op", "get")]) >= 1.0, "the blob pull opened the blob");
    let database = "wasmhub_database_operation_duration_seconds_count";
    assert_eq!(delta(&after, database, &[("op", "put_manifest")]), 1.0);
    assert!(delta(&after, database, &[("op", "manifest")]) >= 1.0);
    assert!(delta(&after, database, &[("op", "blob_size")]) >= 1.0);
    assert_eq!(after.get("wasmhub_storage_errors_total", &[("op", "get")]), 0.0);
}

#[tokio::test]
async fn uploads_in_progress_counts_a_streaming_patch_until_its_body_ends() {
    let server = TestServer::start().await;
    let started = server.client.post(server.url("/v2/team/stream/blobs/uploads/")).send().await.unwrap();
    assert_eq!(started.status(), 202);
    let location = server.location(&started);

    // A body that arrives in two pieces with a scrape in between, as `docker push` streams.
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<Vec<u8>, std::io::Error>>(1);
    let body = futures::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|item| (item, rx)) });
    let patch = server.client.patch(&location).body(reqwest::Body::wrap_stream(body)).send();
    let patch = tokio::spawn(patch);
    tx.send(Ok(vec![1u8; 1000])).await.unwrap();
    let during = scrape_until(&server, |m| m.get("wasmhub_uploads_in_progress", &[]) == 1.0).await;
    assert_eq!(during.get("wasmhub_uploads_in_progress", &[]), 1.0, "the PATCH is being written");
    tx.send(Ok(vec![2u8; 500])).await.unwrap();
    drop(tx);
    let patched = patch.await.unwrap().unwrap();
    assert_eq!(patched.status(), 202);

    let mut blob = vec![1u8; 1000];
    blob.extend_from_slice(&[2u8; 500]);
    let session = server.location(&patched);
    let separator = if session.contains('?') { '&' } else { '?' };
    let finish = format!("{session}{separator}digest={}", sha256(&blob));
    let finished = server.client.put(finish).send().await.unwrap();
    assert_eq!(finished.status(), 201);

    let after = scrape_until(&server, |m| m.get(REQUESTS, &requests("upload", "PUT", "201")) == 1.0).await;
    assert_eq!(after.get("wasmhub_uploads_in_progress", &[]), 0.0);
    assert_eq!(after.get("wasmhub_http_request_bytes_total", &[("route", "upload")]), blob.len() as f64);
    assert_eq!(after.get(REQUESTS, &requests("upload", "PATCH", "202")), 1.0);
}

#[tokio::test]
async fn per_repository_counters_keep_at_most_the_cap_of_named_repositories() {
    let server = TestServer::start_with_metrics(Metrics::new(2)).await;
    for repository in ["cap/a", "cap/b", "cap/c", "cap/d"] {
        server.push_image(repository, "v1", repository.as_bytes()).await;
    }
    for repository in ["cap/a", "cap/a", "cap/c"] {
        let pulled = server.get(&format!("/v2/{repository}/manifests/v1")).await;
        assert_eq!(pulled.status(), 200);
        pulled.bytes().await.unwrap();
    }
    let after = scrape_until(&server, |m| m.get("wasmhub_pulls_total", &[("repository", "other")]) == 1.0).await;
    let pushes = |repository| after.get("wasmhub_pushes_total", &[("repository", repository)]);
    assert_eq!((pushes("cap/a"), pushes("cap/b"), pushes("other")), (1.0, 1.0, 2.0));
    assert_eq!(after.series("wasmhub_pushes_total"), 3, "two named repositories and other");
    let pulls = |repository| after.get("wasmhub_pulls_total", &[("repository", repository)]);
    assert_eq!((pulls("cap/a"), pulls("other")), (2.0, 1.0));
    assert!(after.help["wasmhub_pushes_total"].contains("Only the first 2 repositories"), "the HELP states the cap");
}

#[tokio::test]
async fn a_separate_metrics_listener_serves_the_same_numbers() {
    let server = TestServer::start().await;
    server.push_image("team/sep", "v1", b"module").await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let metrics = server.registry.metrics().clone();
    let task = tokio::spawn(wasmhub_server::serve_metrics(listener, metrics, std::future::pending()));
    let text = server.client.get(format!("http://{address}/metrics")).send().await.unwrap().text().await.unwrap();
    let exposition = Exposition::parse(&text);
    assert_eq!(exposition.get("wasmhub_pushes_total", &[("repository", "team/sep")]), 1.0);
    let other = server.client.get(format!("http://{address}/v2/")).send().await.unwrap();
    assert_eq!(other.status(), 404, "the metrics listener serves nothing else");
    task.abort();
}

#[tokio::test]
async fn with_access_control_the_main_listener_shows_metrics_to_administrators_only() {
    use base64::Engine as _;
    let basic = |user: &str| {
        let credentials = format!("{user}:a long enough password");
        format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(credentials))
    };
    let server = TestServer::start_enforced().await;
    let actor = wasmhub_index::Actor::cli();
    for (user, admin) in [("root", true), ("dev", false)] {
        server.registry.create_user(&user.parse().unwrap(), "a long enough password", admin, &actor).await.unwrap();
    }
    let scrape = |authorization: Option<String>| {
        let mut request = server.client.get(server.url("/metrics"));
        if let Some(authorization) = authorization {
            request = request.header("authorization", authorization);
        }
        request.send()
    };
    // The series name private repositories: nobody without a role may learn them.
    let anonymous = scrape(None).await.unwrap();
    assert_eq!(anonymous.status(), 401);
    assert!(anonymous.headers().contains_key("www-authenticate"));
    assert!(!anonymous.text().await.unwrap().contains("wasmhub_"));
    let user = scrape(Some(basic("dev"))).await.unwrap();
    assert_eq!(user.status(), 403);
    let administrator = scrape(Some(basic("root"))).await.unwrap();
    assert_eq!(administrator.status(), 200);
    let exposition = Exposition::parse(&administrator.text().await.unwrap());
    assert!(exposition.series("wasmhub_http_requests_total") > 0);
}
