//! Webhook events and the audit log, end to end: a real HTTP receiver (a raw TCP server in
//! this test) that fails the first attempts, CloudEvents checked field by field and their
//! HMAC signature recomputed here, a delivery that survives SIGKILL of the real binary, and
//! the audit log as administrators (and only they) see it.

use std::collections::HashMap;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::Engine as _;
use serde_json::Value;
use sha2::{Digest as _, Sha256};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use wasmhub_index::AuditQuery;

use crate::common::{self, backends, sha256, TestServer, WasmhubProcess, OCI_MANIFEST};

const SECRET: &str = "a webhook secret of some length";
const PASSWORD: &str = "correct horse battery";
/// A guard against hanging forever, not a performance expectation.
const PATIENCE: Duration = Duration::from_secs(90);

#[derive(Debug, Clone)]
struct Received {
    path: String,
    headers: HashMap<String, String>,
    body: Vec<u8>,
    /// The status the receiver answered.
    status: u16,
}

impl Received {
    fn event(&self) -> Value {
        serde_json::from_slice(&self.body).expect("a delivery's body is JSON")
    }

    fn header(&self, name: &str) -> &str {
        self.headers.get(name).map(String::as_str).unwrap_or_default()
    }
}

/// An HTTP endpoint that answers 503 to its first `fail` requests, then 200, and keeps
/// every request it saw.
struct Receiver {
    url: String,
    received: Arc<Mutex<Vec<Received>>>,
    failures_left: Arc<AtomicUsize>,
    arrived: Arc<tokio::sync::Notify>,
}

impl Receiver {
    async fn start(fail: usize) -> Receiver {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let receiver = Receiver {
            url,
            received: Arc::default(),
            failures_left: Arc::new(AtomicUsize::new(fail)),
            arrived: Arc::default(),
        };
        let (received, failures_left, arrived) =
            (receiver.received.clone(), receiver.failures_left.clone(), receiver.arrived.clone());
        tokio::spawn(async move {
            while let Ok((mut socket, _)) = listener.accept().await {
                let (received, failures_left, arrived) = (received.clone(), failures_left.clone(), arrived.clone());
                tokio::spawn(async move {
                    let Some((path, headers, body)) = read_request(&mut socket).await else { return };
                    let failing = failures_left.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1));
                    let status = if failing.is_ok() { 503 } else { 200 };
                    let answer = format!("HTTP/1.1 {status} X\r\ncontent-length: 0\r\nconnection: close\r\n\r\n");
                    let _ = socket.write_all(answer.as_bytes()).await;
                    let _ = socket.shutdown().await;
                    received.lock().unwrap().push(Received { path, headers, body, status });
                    arrived.notify_waiters();
                });
            }
        });
        receiver
    }

    fn accept_from_now_on(&self) {
        self.failures_left.store(0, Ordering::SeqCst);
    }

    fn all(&self) -> Vec<Received> {
        self.received.lock().unwrap().clone()
    }

    /// Waits until `done` holds for what has arrived; returns it.
    async fn until(&self, what: &str, done: impl Fn(&[Received]) -> bool) -> Vec<Received> {
        let deadline = Instant::now() + PATIENCE;
        loop {
            let arrived = self.arrived.notified();
            let all = self.all();
            if done(&all) {
                return all;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            assert!(!left.is_zero(), "waited in vain for {what}; received: {all:#?}");
            let _ = tokio::time::timeout(left.min(Duration::from_secs(1)), arrived).await;
        }
    }
}

/// Reads one HTTP/1.1 request (headers, then `content-length` bytes of body).
async fn read_request(socket: &mut tokio::net::TcpStream) -> Option<(String, HashMap<String, String>, Vec<u8>)> {
    let mut buffer = Vec::new();
    let mut chunk = [0u8; 8192];
    let head_end = loop {
        if let Some(at) = buffer.windows(4).position(|w| w == b"\r\n\r\n") {
            break at;
        }
        let n = socket.read(&mut chunk).await.ok().filter(|n| *n > 0)?;
        buffer.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8_lossy(&buffer[..head_end]).into_owned();
    let mut lines = head.split("\r\n");
    let path = lines.next()?.split(' ').nth(1)?.to_owned();
    let headers: HashMap<String, String> = lines
        .filter_map(|line| line.split_once(':'))
        .map(|(name, value)| (name.trim().to_ascii_lowercase(), value.trim().to_owned()))
        .collect();
    let length: usize = headers.get("content-length").and_then(|n| n.parse().ok()).unwrap_or(0);
    let mut body = buffer[head_end + 4..].to_vec();
    while body.len() < length {
        let n = socket.read(&mut chunk).await.ok().filter(|n| *n > 0)?;
        body.extend_from_slice(&chunk[..n]);
    }
    Some((path, headers, body))
}

/// HMAC-SHA256 (RFC 2104) written out here, independently of the server's `hmac` crate.
fn hmac_sha256_hex(key: &[u8], message: &[u8]) -> String {
    let mut block = [0u8; 64];
    if key.len() > 64 {
        block[..32].copy_from_slice(&Sha256::digest(key));
    } else {
        block[..key.len()].copy_from_slice(key);
    }
    let inner = Sha256::new().chain_update(block.map(|b| b ^ 0x36)).chain_update(message).finalize();
    let outer = Sha256::new().chain_update(block.map(|b| b ^ 0x5c)).chain_update(inner).finalize();
    outer.iter().map(|b| format!("{b:02x}")).collect()
}

fn assert_signed(delivery: &Received) {
    let expected = format!("sha256={}", hmac_sha256_hex(SECRET.as_bytes(), &delivery.body));
    assert_eq!(delivery.header("x-wasmhub-signature"), expected, "signature of {}", delivery.path);
}

fn of_type<'a>(all: &'a [Received], kind: &str) -> Vec<&'a Received> {
    all.iter().filter(|r| r.status == 200 && r.event()["type"] == format!("dev.wasmhub.{kind}")).collect()
}

/// Runs the delivery worker of `wasmhub serve` beside an in-process server, with short
/// retry delays; it stops when the returned sender is dropped.
fn deliver(server: &TestServer) -> tokio::sync::oneshot::Sender<()> {
    // The receivers listen on this host.
    deliver_to(server, wasmhub_registry::WebhookNetworks::Any)
}

fn deliver_to(server: &TestServer, networks: wasmhub_registry::WebhookNetworks) -> tokio::sync::oneshot::Sender<()> {
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let registry = server.registry.clone();
    let options = wasmhub_registry::DeliveryOptions {
        backoff: Duration::from_millis(50),
        max_backoff: Duration::from_millis(200),
        poll: Duration::from_millis(50),
        source: "https://registry.test".into(),
        networks,
        ..Default::default()
    };
    tokio::spawn(async move {
        registry
            .run_deliveries(options, async {
                let _ = stopped.await;
            })
            .await
    });
    stop
}

async fn add_webhook(server: &TestServer, namespace: Option<&str>, url: &str, events: &[&str]) -> i64 {
    let scope = match namespace {
        Some(namespace) => wasmhub_registry::WebhookScope::Namespace(namespace.parse().unwrap()),
        None => wasmhub_registry::WebhookScope::Global,
    };
    let events: Vec<_> = events.iter().map(|kind| kind.parse().unwrap()).collect();
    server
        .registry
        .add_webhook(&scope, &url.parse().unwrap(), SECRET, &events, &wasmhub_index::Actor::cli())
        .await
        .unwrap()
        .id
}

#[tokio::test]
async fn events_arrive_signed_as_cloud_events_after_the_receiver_fails_twice() {
    let server = TestServer::start().await;
    let receiver = Receiver::start(2).await;
    add_webhook(&server, Some("alice"), &format!("{}/alice", receiver.url), &[]).await;
    let elsewhere = add_webhook(&server, Some("bob"), &format!("{}/bob", receiver.url), &[]).await;
    add_webhook(&server, None, &format!("{}/gc", receiver.url), &["gc.completed"]).await;
    let _worker = deliver(&server);

    let (manifest, digest) = server.push_image("alice/app", "v1", b"first module").await;
    let all = receiver.until("the push, after two refusals", |all| !of_type(all, "manifest.pushed").is_empty()).await;
    let attempts: Vec<&Received> = all.iter().filter(|r| r.path == "/alice").collect();
    assert_eq!(attempts.iter().map(|r| r.status).collect::<Vec<_>>(), [503, 503, 200]);
    assert_eq!(attempts.iter().map(|r| r.header("x-wasmhub-attempt")).collect::<Vec<_>>(), ["1", "2", "3"]);
    let ids: Vec<Value> = attempts.iter().map(|r| r.event()["id"].clone()).collect();
    assert!(ids.iter().all(|id| *id == ids[0]), "every attempt carries the same event id: {ids:?}");
    let delivered = attempts[2];
    assert_signed(delivered);
    assert_eq!(delivered.header("content-type"), "application/cloudevents+json");
    let event = delivered.event();
    assert_eq!(event["specversion"], "1.0");
    assert_eq!(event["source"], "https://registry.test");
    assert_eq!(event["subject"], "alice/app:v1");
    assert!(event["time"].as_str().is_some_and(|t| t.ends_with('Z') && t.len() >= 20), "{event}");
    assert!(event["id"].as_str().is_some_and(|id| !id.is_empty()));
    let data = &event["data"];
    assert_eq!(data["repository"], "alice/app");
    assert_eq!(data["tag"], "v1");
    assert_eq!(data["digest"], digest.as_str());
    assert_eq!(data["mediaType"], OCI_MANIFEST);
    assert_eq!(data["size"], manifest.len());
    assert_eq!(data["actor"], "anonymous");

    // Moving the tag, deleting it, deleting the manifest: one event each, all signed.
    let (_, moved_to) = server.push_image("alice/app", "v1", b"second module").await;
    assert_eq!(server.delete("/v2/alice/app/manifests/v1").await.status(), 202);
    assert_eq!(server.delete(&format!("/v2/alice/app/manifests/{digest}")).await.status(), 202);
    let all = receiver
        .until("tag.moved, tag.deleted and manifest.deleted", |all| {
            ["tag.moved", "tag.deleted", "manifest.deleted"].iter().all(|kind| !of_type(all, kind).is_empty())
        })
        .await;
    let moved = of_type(&all, "tag.moved")[0].event();
    assert_eq!(
        (moved["data"]["digest"].as_str(), moved["data"]["previousDigest"].as_str()),
        (Some(&*moved_to), Some(&*digest))
    );
    let untagged = of_type(&all, "tag.deleted")[0].event();
    assert_eq!(
        (untagged["subject"].as_str(), untagged["data"]["digest"].as_str()),
        (Some("alice/app:v1"), Some(&*moved_to))
    );
    let deleted = of_type(&all, "manifest.deleted")[0].event();
    assert_eq!(deleted["subject"], format!("alice/app@{digest}"));
    assert_eq!(deleted["data"]["size"], manifest.len());
    all.iter().filter(|r| r.status == 200).for_each(assert_signed);

    // Garbage collection reports to the global webhook that asked for it.
    let options = wasmhub_registry::GcOptions { grace: Duration::ZERO, ..Default::default() };
    let report = server.registry.collect_garbage(&options, |_, _| {}).await.unwrap();
    let all = receiver.until("gc.completed", |all| !of_type(all, "gc.completed").is_empty()).await;
    let gc = of_type(&all, "gc.completed")[0];
    assert_eq!(gc.path, "/gc");
    assert_eq!(gc.event()["data"]["bytesReclaimed"], report.reclaimed_bytes());
    assert!(gc.event().get("subject").is_none());
    // The namespace webhook for bob was never queued anything; the alice one never got GC.
    assert!(server.registry.deliveries(Some(elsewhere), 10).await.unwrap().is_empty());
    assert!(all.iter().all(|r| r.path != "/bob"));
    // Two pushes, the move, the tag delete and the manifest delete, each delivered once.
    assert_eq!(all.iter().filter(|r| r.path == "/alice" && r.status == 200).count(), 5);
    // The metrics count the attempts (the last, GC's, may still be on its way).
    let metrics = server.registry.metrics();
    assert_eq!(metrics.webhook_attempts("retry"), 2);
    assert!(metrics.webhook_attempts("delivered") >= 5, "{}", metrics.render());
    assert!(metrics.render().contains("wasmhub_webhook_attempts_total{outcome=\"retry\"} 2"));
}

fn cli(dir: &Path, args: &[&str]) -> String {
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_wasmhub"))
        .args(args)
        .arg("--database-url")
        .arg(backends::database_url(dir))
        .output()
        .expect("wasmhub runs");
    assert!(output.status.success(), "wasmhub {args:?}: {}", String::from_utf8_lossy(&output.stderr));
    String::from_utf8(output.stdout).unwrap()
}

#[tokio::test]
async fn a_pending_delivery_is_sent_after_wasmhub_is_killed_and_started_again() {
    let dir = tempfile::tempdir().unwrap();
    let receiver = Receiver::start(usize::MAX).await;
    let url = format!("{}/hook", receiver.url);
    let id = cli(dir.path(), &["webhook", "add", "--global", "--url", &url, "--secret", SECRET]);
    assert!(cli(dir.path(), &["webhook", "list"]).contains(&url));
    let env = [
        ("WASMHUB_AUTH", "none"),
        ("WASMHUB_WEBHOOK_TIMEOUT", "2s"),
        ("WASMHUB_WEBHOOK_BACKOFF", "100ms"),
        ("WASMHUB_WEBHOOK_MAX_BACKOFF", "300ms"),
        ("WASMHUB_WEBHOOK_POLL", "100ms"),
        ("WASMHUB_WEBHOOK_MAX_ATTEMPTS", "100"),
        // The receiver listens on this host.
        ("WASMHUB_WEBHOOK_NETWORKS", "any"),
    ];
    let mut first = WasmhubProcess::start_in_with(dir.path(), &env);
    let base = format!("http://{}", first.host());
    let client = reqwest::Client::new();
    let layer = b"a module that must be announced".to_vec();
    for blob in [&layer[..], b"{}"] {
        let response =
            client.post(format!("{base}/v2/ops/app/blobs/uploads/?digest={}", sha256(blob))).body(blob.to_vec());
        assert_eq!(response.send().await.unwrap().status(), 201);
    }
    let manifest = common::oci_manifest_for(b"{}", &layer);
    let response = client
        .put(format!("{base}/v2/ops/app/manifests/stable"))
        .header("content-type", OCI_MANIFEST)
        .body(manifest.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    receiver.until("two refused attempts", |all| all.len() >= 2).await;
    first.kill();
    let refused = receiver.all().len();

    receiver.accept_from_now_on();
    let _second = WasmhubProcess::start_in_with(dir.path(), &env);
    let all = receiver.until("the delivery after the restart", |all| all.iter().any(|r| r.status == 200)).await;
    let delivered: Vec<&Received> = all.iter().filter(|r| r.status == 200).collect();
    assert_eq!(delivered.len(), 1, "delivered once: {all:#?}");
    assert!(all[..refused].iter().all(|r| r.status == 503));
    let event = delivered[0].event();
    assert_signed(delivered[0]);
    assert_eq!(event["id"], all[0].event()["id"], "the event queued before the kill is the one delivered");
    assert_eq!(event["type"], "dev.wasmhub.manifest.pushed");
    assert_eq!(event["data"]["digest"], sha256(&manifest));
    assert_eq!(event["subject"], "ops/app:stable");
    let attempt: usize = delivered[0].header("x-wasmhub-attempt").parse().unwrap();
    assert!(attempt > refused, "attempt {attempt} counts the {refused} before the restart");
    let listing = cli(dir.path(), &["webhook", "deliveries", "--webhook", id.trim()]);
    assert!(listing.contains("delivered"), "{listing}");

    // The command line is audited as `cli`; an open registry's requests as `anonymous`.
    cli(dir.path(), &["user", "add", "carol", "--password", PASSWORD]);
    let index = wasmhub::open_index(&backends::database_url(dir.path())).await.unwrap();
    let by = |actor: &str| AuditQuery { actor: Some(actor.into()), limit: 10, ..Default::default() };
    let (entries, _) = index.audit(&by("cli")).await.unwrap();
    let actions: Vec<(&str, &str)> = entries.iter().map(|e| (e.action.as_str(), e.target.as_str())).collect();
    assert_eq!(actions, [("user.create", "carol"), ("webhook.add", id.trim())]);
    let (entries, _) = index.audit(&by("anonymous")).await.unwrap();
    assert_eq!(entries.len(), 1);
    assert_eq!((entries[0].action.as_str(), entries[0].client_ip.as_deref()), ("manifest.push", Some("127.0.0.1")));
    index.close().await;
}

fn basic(user: &str) -> String {
    format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(format!("{user}:{PASSWORD}")))
}

#[tokio::test]
async fn the_audit_log_records_pushes_deletes_and_access_changes_for_administrators_only() {
    let server = TestServer::start_enforced().await;
    for (user, admin) in [("alice", false), ("root", true)] {
        server
            .registry
            .create_user(&user.parse().unwrap(), PASSWORD, admin, &wasmhub_index::Actor::cli())
            .await
            .unwrap();
    }
    let send = |method: &str, path: &str, who: Option<&str>| {
        let mut request = server.client.request(method.parse().unwrap(), server.url(path));
        if let Some(who) = who {
            request = request.header("authorization", basic(who));
        }
        request
    };
    for blob in [&b"audited layer"[..], b"{}"] {
        let path = format!("/v2/alice/app/blobs/uploads/?digest={}", sha256(blob));
        assert_eq!(send("POST", &path, Some("alice")).body(blob.to_vec()).send().await.unwrap().status(), 201);
    }
    let manifest = common::oci_manifest_for(b"{}", b"audited layer");
    let digest = sha256(&manifest);
    let put = send("PUT", "/v2/alice/app/manifests/v1", Some("alice")).header("content-type", OCI_MANIFEST);
    assert_eq!(put.body(manifest).send().await.unwrap().status(), 201);
    // Visibility changes go through the registry workflow the account API and CLI share.
    let alice = server.registry.authenticate("alice", PASSWORD).await.unwrap().unwrap();
    let caller = wasmhub_registry::Caller::User(alice);
    server.registry.set_visibility(&caller, &"alice/app".parse().unwrap(), true).await.unwrap();
    assert_eq!(send("DELETE", "/v2/alice/app/manifests/v1", Some("alice")).send().await.unwrap().status(), 202);
    let path = format!("/v2/alice/app/manifests/{digest}");
    assert_eq!(send("DELETE", &path, Some("alice")).send().await.unwrap().status(), 202);

    // Strangers and non-administrators are refused, in the API's error shape.
    let anonymous = send("GET", "/api/v1/audit", None).send().await.unwrap();
    assert_eq!(anonymous.status(), 401);
    let body: Value = anonymous.json().await.unwrap();
    assert_eq!(body["errors"][0]["code"], "UNAUTHORIZED");
    let user = send("GET", "/api/v1/audit", Some("alice")).send().await.unwrap();
    assert_eq!(user.status(), 403);
    let body: Value = user.json().await.unwrap();
    assert_eq!(body["errors"][0]["code"], "DENIED");
    assert_eq!(send("GET", "/api/v1/webhooks", Some("alice")).send().await.unwrap().status(), 403);

    let page: Value =
        send("GET", "/api/v1/audit?actor=alice", Some("root")).send().await.unwrap().json().await.unwrap();
    let actions: Vec<&str> =
        page["entries"].as_array().unwrap().iter().map(|e| e["action"].as_str().unwrap()).collect();
    assert_eq!(actions, ["manifest.delete", "tag.delete", "repository.private", "manifest.push"], "newest first");
    assert_eq!(page["total"], 4);
    let push = &page["entries"][3];
    assert_eq!((push["repository"].as_str(), push["target"].as_str()), (Some("alice/app"), Some(digest.as_str())));
    assert_eq!(push["clientIp"], "127.0.0.1");
    assert_eq!(push["detail"]["tags"], serde_json::json!(["v1"]));
    assert_eq!(page["entries"][1]["target"], "v1");

    let filtered = "/api/v1/audit?repository=alice/app&action=manifest.push&page=1&per_page=1";
    let page: Value = send("GET", filtered, Some("root")).send().await.unwrap().json().await.unwrap();
    assert_eq!((page["total"].as_u64(), page["entries"].as_array().map(Vec::len)), (Some(1), Some(1)));
    let second: Value =
        send("GET", "/api/v1/audit?per_page=2&page=2", Some("root")).send().await.unwrap().json().await.unwrap();
    assert_eq!(second["entries"][0]["action"], "repository.private");
    let bad = send("GET", "/api/v1/audit?per_page=0", Some("root")).send().await.unwrap();
    assert_eq!(bad.status(), 400);

    // Adding a webhook over the API is itself audited, and its URL is checked.
    let hook = serde_json::json!({ "namespace": "alice", "url": "ftp://example.com/", "secret": SECRET });
    assert_eq!(send("POST", "/api/v1/webhooks", Some("root")).json(&hook).send().await.unwrap().status(), 400);
    let hook = serde_json::json!({ "url": "https://hooks.example.com/x", "secret": SECRET, "events": ["tag.moved"] });
    // A cross-site form can POST `text/plain` that parses as JSON: only application/json counts.
    let as_text =
        send("POST", "/api/v1/webhooks", Some("root")).header("content-type", "text/plain").body(hook.to_string());
    assert_eq!(as_text.send().await.unwrap().status(), 415);
    let created = send("POST", "/api/v1/webhooks", Some("root")).json(&hook).send().await.unwrap();
    assert_eq!(created.status(), 201);
    let created: Value = created.json().await.unwrap();
    assert_eq!(
        (created["namespace"].clone(), created["events"].clone()),
        (Value::Null, serde_json::json!(["tag.moved"]))
    );
    assert!(created.get("secret").is_none(), "the secret is never shown again");
    let page: Value = send("GET", "/api/v1/audit?actor=root", Some("root")).send().await.unwrap().json().await.unwrap();
    assert_eq!(page["entries"][0]["action"], "webhook.add");
    let path = format!("/api/v1/webhooks/{}", created["id"]);
    assert_eq!(send("DELETE", &path, Some("root")).send().await.unwrap().status(), 204);
    assert_eq!(send("DELETE", &path, Some("root")).send().await.unwrap().status(), 404);
}

/// Two replicas on one PostgreSQL (always, as in `replicas.rs`), each with its own delivery
/// worker: every event reaches the receiver, and no delivery is ever claimed twice (a second
/// claim would show as a second attempt; the lease outlives this test's quick answers).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn replicas_share_the_deliveries_and_never_claim_one_twice() {
    let (a, b) = TestServer::start_replicas().await;
    let receiver = Receiver::start(0).await;
    add_webhook(&a, None, &format!("{}/all", receiver.url), &["manifest.pushed"]).await;
    let (_stop_a, _stop_b) = (deliver(&a), deliver(&b));
    const PUSHES: usize = 24;
    let mut digests = Vec::new();
    for n in 0..PUSHES {
        let server = if n % 2 == 0 { &a } else { &b };
        let (_, digest) = server.push_image("shared/app", &format!("v{n}"), format!("module {n}").as_bytes()).await;
        digests.push(digest);
    }
    let all = receiver.until("every push", |all| all.len() >= PUSHES).await;
    let mut delivered: Vec<String> =
        all.iter().map(|r| r.event()["data"]["digest"].as_str().unwrap().to_owned()).collect();
    delivered.sort();
    digests.sort();
    assert_eq!(delivered, digests, "each push delivered once");
    // The receiver answers before the worker records the outcome: wait for the records.
    let deadline = Instant::now() + PATIENCE;
    let rows = loop {
        let rows = a.registry.deliveries(None, 100).await.unwrap();
        if rows.iter().all(|row| row.state != "pending") || Instant::now() > deadline {
            break rows;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(rows.len(), PUSHES);
    assert!(rows.iter().all(|row| row.state == "delivered" && row.attempts == 1), "{rows:#?}");
}

/// With the default networks (`private`), a webhook on this host (by address or by name) is
/// never called: each attempt fails with the reason, naming the setting.
#[tokio::test]
async fn webhooks_on_this_host_are_refused_by_default() {
    let server = TestServer::start().await;
    let receiver = Receiver::start(0).await;
    let port = receiver.url.rsplit(':').next().unwrap().to_owned();
    let by_address = add_webhook(&server, Some("alice"), &format!("{}/address", receiver.url), &[]).await;
    let by_name = add_webhook(&server, Some("alice"), &format!("http://localhost:{port}/name"), &[]).await;
    let _worker = deliver_to(&server, wasmhub_registry::WebhookNetworks::default());
    server.push_image("alice/app", "v1", b"a module").await;

    let deadline = Instant::now() + PATIENCE;
    for webhook in [by_address, by_name] {
        let row = loop {
            let rows = server.registry.deliveries(Some(webhook), 10).await.unwrap();
            // A worker counts the attempt when it claims the delivery, and records the error
            // once the attempt has failed: wait for both.
            match rows.into_iter().find(|row| row.attempts > 0 && row.last_error.is_some()) {
                Some(row) => break row,
                None if Instant::now() > deadline => panic!("webhook {webhook} was never attempted"),
                None => tokio::time::sleep(Duration::from_millis(50)).await,
            }
        };
        let error = row.last_error.unwrap_or_default();
        assert!(error.contains("WASMHUB_WEBHOOK_NETWORKS") && error.contains("this host"), "{error}");
        assert_eq!((row.state.as_str(), row.last_status), ("pending", None), "retried, in case the setting changes");
    }
    assert!(receiver.received.lock().unwrap().is_empty(), "nothing reached the receiver");
}
