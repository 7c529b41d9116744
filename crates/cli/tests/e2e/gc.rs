//! Garbage collection and the integrity check: what goes, what never goes, and that neither
//! corrupts a push in flight. `WASMHUB_TEST_GC_SECONDS` sets how long the concurrent test runs
//! (default 15; the acceptance run uses 60 on each backend).

use crate::common;

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{backends, error_code, header, oci_manifest_for, sha256, TestServer, OCI_MANIFEST};
use wasmhub_registry::{FsckOptions, GcOptions, GcReport};

async fn gc(server: &TestServer, grace: Duration, upload_max_age: Duration, dry_run: bool) -> GcReport {
    let options = GcOptions { grace, upload_max_age, dry_run, ..GcOptions::default() };
    server.registry.collect_garbage(&options, |_, _| {}).await.expect("gc runs")
}

const HOUR: Duration = Duration::from_secs(3600);

/// Grace zero still spares what was written in the current millisecond.
async fn age() {
    tokio::time::sleep(Duration::from_millis(20)).await;
}

/// Where file storage keeps a blob (these tests touch storage directly only on file storage).
fn blob_file(server: &TestServer, digest: &str) -> PathBuf {
    let hex = digest.strip_prefix("sha256:").unwrap();
    server.data_dir().join("blobs/blobs/sha256").join(&hex[..2]).join(hex)
}

async fn status(server: &TestServer, path: &str) -> u16 {
    server.get(path).await.status().as_u16()
}

#[tokio::test]
async fn gc_collects_unreferenced_blobs_only_after_the_grace_period_and_never_referenced_ones() {
    let server = TestServer::start().await;
    let loose = server.push_blob("gc/a", b"uploaded, never referenced").await;
    let (_, manifest) = server.push_image("gc/a", "v1", b"referenced layer").await;
    age().await;

    let report = gc(&server, HOUR, HOUR, false).await;
    assert_eq!((report.blobs, report.links), (0, 0), "nothing is past a one-hour grace: {report:?}");
    assert_eq!(status(&server, &format!("/v2/gc/a/blobs/{loose}")).await, 200);

    let report = gc(&server, Duration::ZERO, HOUR, false).await;
    assert_eq!((report.blobs, report.links), (1, 1), "{report:?}");
    assert_eq!(report.blob_bytes, b"uploaded, never referenced".len() as u64);
    assert_eq!(status(&server, &format!("/v2/gc/a/blobs/{loose}")).await, 404);
    if !backends::uses_s3() {
        assert!(!blob_file(&server, &loose).exists(), "the object is deleted");
    }
    assert_eq!(status(&server, "/v2/gc/a/manifests/v1").await, 200);
    assert_eq!(status(&server, &format!("/v2/gc/a/blobs/{}", sha256(b"referenced layer"))).await, 200);

    // Once the manifest is deleted its blobs are garbage too.
    assert_eq!(server.delete(&format!("/v2/gc/a/manifests/{manifest}")).await.status(), 202);
    age().await;
    let report = gc(&server, Duration::ZERO, HOUR, false).await;
    assert_eq!(report.blobs, 2, "config and layer: {report:?}");
    assert_eq!(status(&server, &format!("/v2/gc/a/blobs/{}", sha256(b"referenced layer"))).await, 404);
}

#[tokio::test]
async fn a_blob_shared_with_another_repository_stays_while_either_references_it() {
    let server = TestServer::start().await;
    server.push_image("gc/one", "v1", b"shared layer").await;
    let (_, second) = server.push_image("gc/two", "v1", b"shared layer").await;
    assert_eq!(server.delete(&format!("/v2/gc/two/manifests/{second}")).await.status(), 202);
    age().await;
    let report = gc(&server, Duration::ZERO, HOUR, false).await;
    assert_eq!((report.links, report.blobs), (2, 0), "gc/two's links go, the blobs stay: {report:?}");
    assert_eq!(status(&server, &format!("/v2/gc/one/blobs/{}", sha256(b"shared layer"))).await, 200);
}

async fn start_upload(server: &TestServer, repo: &str, chunk: &[u8]) -> String {
    let response = server.client.post(server.url(&format!("/v2/{repo}/blobs/uploads/"))).send().await.unwrap();
    assert_eq!(response.status(), 202);
    let location = server.location(&response);
    let response = server
        .client
        .patch(&location)
        .header("content-type", "application/octet-stream")
        .body(chunk.to_vec())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 202);
    server.location(&response)
}

#[tokio::test]
async fn abandoned_uploads_and_their_parts_are_collected_after_their_max_age() {
    let server = TestServer::start().await;
    let location = start_upload(&server, "gc/up", b"half an upload").await;
    age().await;
    let report = gc(&server, HOUR, HOUR, false).await;
    assert_eq!(report.uploads, 0);
    assert_eq!(server.client.get(&location).send().await.unwrap().status(), 204, "the session is still open");

    let report = gc(&server, HOUR, Duration::ZERO, false).await;
    assert_eq!((report.uploads, report.upload_bytes), (1, b"half an upload".len() as u64), "{report:?}");
    let response = server.client.get(&location).send().await.unwrap();
    assert_eq!(response.status(), 404);
    assert_eq!(error_code(response).await, "BLOB_UPLOAD_UNKNOWN");
    if !backends::uses_s3() {
        let uploads = server.data_dir().join("blobs/uploads");
        let left = walk(&uploads);
        assert!(left.is_empty(), "parts are deleted: {left:?}");
    }
}

fn walk(dir: &std::path::Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else { return Vec::new() };
    entries
        .flatten()
        .flat_map(|entry| if entry.path().is_dir() { walk(&entry.path()) } else { vec![entry.path()] })
        .collect()
}

#[tokio::test]
async fn a_dry_run_reports_what_would_go_and_changes_nothing() {
    let server = TestServer::start().await;
    let loose = server.push_blob("gc/dry", b"loose blob").await;
    let location = start_upload(&server, "gc/dry", b"abandoned").await;
    age().await;
    let dry = gc(&server, Duration::ZERO, Duration::ZERO, true).await;
    assert_eq!((dry.blobs, dry.links, dry.uploads), (1, 1, 1), "{dry:?}");
    assert_eq!(dry.blob_bytes, b"loose blob".len() as u64);
    assert_eq!(status(&server, &format!("/v2/gc/dry/blobs/{loose}")).await, 200);
    assert_eq!(server.client.get(&location).send().await.unwrap().status(), 204);

    let real = gc(&server, Duration::ZERO, Duration::ZERO, false).await;
    assert_eq!(
        (real.blobs, real.blob_bytes, real.links, real.uploads),
        (dry.blobs, dry.blob_bytes, dry.links, dry.uploads)
    );
    assert_eq!(status(&server, &format!("/v2/gc/dry/blobs/{loose}")).await, 404);
}

#[tokio::test]
async fn stray_objects_are_collected_after_the_grace_period() {
    if backends::uses_s3() {
        return; // writes into the data directory
    }
    let server = TestServer::start().await;
    let stray = sha256(b"left by a crash");
    let file = blob_file(&server, &stray);
    std::fs::create_dir_all(file.parent().unwrap()).unwrap();
    std::fs::write(&file, b"left by a crash").unwrap();
    age().await;
    assert_eq!(gc(&server, HOUR, HOUR, false).await.stray_blobs, 0);
    assert!(file.exists());
    let report = gc(&server, Duration::ZERO, HOUR, false).await;
    assert_eq!((report.stray_blobs, report.stray_blob_bytes), (1, 15), "{report:?}");
    assert!(!file.exists());
}

/// One pushed image the test expects to stay pullable: its tag, manifest and blob contents.
struct Pushed {
    repo: String,
    tag: String,
    manifest: Vec<u8>,
    blobs: Vec<Vec<u8>>,
}

async fn upload(server: &TestServer, repo: &str, bytes: &[u8], via_session: bool, mount_from: &str) -> u16 {
    let digest = sha256(bytes);
    if !via_session {
        let url = server.url(&format!("/v2/{repo}/blobs/uploads/?digest={digest}"));
        return server.client.post(url).body(bytes.to_vec()).send().await.unwrap().status().as_u16();
    }
    let url = server.url(&format!("/v2/{repo}/blobs/uploads/?mount={digest}&from={mount_from}"));
    let response = server.client.post(url).send().await.unwrap();
    if response.status() == 201 {
        return 201; // mounted
    }
    assert_eq!(response.status(), 202, "starting an upload");
    let location = server.location(&response);
    let separator = if location.contains('?') { '&' } else { '?' };
    let response =
        server.client.put(format!("{location}{separator}digest={digest}")).body(bytes.to_vec()).send().await.unwrap();
    response.status().as_u16()
}

async fn verify_pull(server: &TestServer, pushed: &Pushed) -> Result<(), String> {
    let response = server
        .client
        .get(server.url(&format!("/v2/{}/manifests/{}", pushed.repo, pushed.tag)))
        .header("accept", OCI_MANIFEST)
        .send()
        .await
        .unwrap();
    if response.status() != 200 {
        return Err(format!("{}:{} manifest: {}", pushed.repo, pushed.tag, response.status()));
    }
    if response.bytes().await.unwrap() != pushed.manifest {
        return Err(format!("{}:{} manifest bytes differ", pushed.repo, pushed.tag));
    }
    for blob in &pushed.blobs {
        let digest = sha256(blob);
        let response = server.get(&format!("/v2/{}/blobs/{digest}", pushed.repo)).await;
        let code = response.status();
        let body = response.bytes().await.map(|b| b.to_vec()).unwrap_or_default();
        if code != 200 || sha256(&body) != digest {
            return Err(format!("{}:{} blob {digest}: {code}, {} bytes", pushed.repo, pushed.tag, body.len()));
        }
    }
    Ok(())
}

/// One client: pushes images (sharing some layers with the others, sometimes by mount),
/// pulls each back at once, deletes some older ones to make garbage. Returns what it kept.
/// When the clients stop: after the test's duration AND once the collector has run once per
/// second of it, so a slow machine (each run takes longer under load) stretches the test
/// instead of failing it; `cap` bounds the stretch.
#[derive(Clone)]
struct Deadline {
    until: Instant,
    cap: Instant,
    min_runs: u64,
    runs: Arc<AtomicU64>,
}

impl Deadline {
    fn passed(&self) -> bool {
        let now = Instant::now();
        now >= self.cap || (now >= self.until && self.runs.load(Ordering::Relaxed) >= self.min_runs)
    }
}

async fn client(
    server: Arc<TestServer>,
    task: usize,
    deadline: Deadline,
    clean_failures: Arc<AtomicU64>,
) -> Vec<Pushed> {
    let mut kept: Vec<Pushed> = Vec::new();
    let repo = format!("stress/t{task}");
    let mut n = 0usize;
    while !deadline.passed() {
        n += 1;
        let shared = format!("shared layer {}", n % 5).repeat(200).into_bytes();
        let own = format!("task {task} push {n}").repeat(50).into_bytes();
        let config = format!(r#"{{"task":{task},"n":{n}}}"#).into_bytes();
        let from = format!("stress/t{}", (task + 1) % 8);
        for (index, blob) in [&config, &shared, &own].into_iter().enumerate() {
            let code = upload(&server, &repo, blob, (n + index).is_multiple_of(2), &from).await;
            assert_eq!(code, 201, "task {task} push {n}: uploading blob {index}");
        }
        let manifest = oci_manifest_for(&config, &shared);
        let manifest = {
            let mut value: serde_json::Value = serde_json::from_slice(&manifest).unwrap();
            value["layers"].as_array_mut().unwrap().push(common::descriptor(common::WASM_LAYER, &own));
            serde_json::to_vec(&value).unwrap()
        };
        let tag = format!("v{n}");
        let response = server.put_manifest(&repo, &tag, OCI_MANIFEST, &manifest).await;
        match response.status().as_u16() {
            201 => {}
            400 => {
                // The collector removed a link between the upload and the manifest (grace is
                // zero here): a clean failure, as the push would be retried.
                assert_eq!(error_code(response).await, "MANIFEST_BLOB_UNKNOWN");
                clean_failures.fetch_add(1, Ordering::Relaxed);
                continue;
            }
            other => panic!("task {task} push {n}: manifest {other}: {:?}", response.text().await),
        }
        let pushed = Pushed { repo: repo.clone(), tag, manifest, blobs: vec![config, shared, own] };
        verify_pull(&server, &pushed).await.unwrap_or_else(|error| panic!("pull right after push: {error}"));
        kept.push(pushed);
        if kept.len() > 3 && n.is_multiple_of(3) {
            let old = kept.remove(0);
            let digest = sha256(&old.manifest);
            let response = server.delete(&format!("/v2/{repo}/manifests/{digest}")).await;
            assert_eq!(response.status(), 202, "deleting an old manifest");
        }
        let earlier = &kept[n % kept.len()];
        verify_pull(&server, earlier).await.unwrap_or_else(|error| panic!("pull of an earlier push: {error}"));
    }
    kept
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn gc_every_200ms_while_8_clients_push_and_pull_leaves_every_tag_pullable() {
    let seconds: u64 = std::env::var("WASMHUB_TEST_GC_SECONDS").ok().and_then(|s| s.parse().ok()).unwrap_or(15);
    let server = Arc::new(TestServer::start().await);
    let gc_runs = Arc::new(AtomicU64::new(0));
    let deadline = Deadline {
        until: Instant::now() + Duration::from_secs(seconds),
        cap: Instant::now() + Duration::from_secs(seconds * 4),
        min_runs: seconds,
        runs: gc_runs.clone(),
    };
    let stop = Arc::new(AtomicBool::new(false));
    let collector = {
        let (server, stop) = (server.clone(), stop.clone());
        tokio::spawn(async move {
            let mut totals = GcReport::default();
            let mut runs = 0u64;
            while !stop.load(Ordering::Relaxed) {
                // Grace zero: everything unreferenced is fair game at once, the harshest case.
                let report = gc(&server, Duration::ZERO, HOUR, false).await;
                assert_eq!(report.failures, 0);
                totals.blobs += report.blobs;
                totals.links += report.links;
                totals.spared += report.spared;
                runs += 1;
                gc_runs.fetch_add(1, Ordering::Relaxed);
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            (runs, totals)
        })
    };
    let clean_failures = Arc::new(AtomicU64::new(0));
    let clients: Vec<_> = (0..8)
        .map(|task| tokio::spawn(client(server.clone(), task, deadline.clone(), clean_failures.clone())))
        .collect();
    let mut kept = Vec::new();
    for handle in clients {
        kept.extend(handle.await.expect("client task"));
    }
    stop.store(true, Ordering::Relaxed);
    let (runs, totals) = collector.await.expect("collector task");
    // One more run with nothing in flight, then everything tagged must still be whole.
    gc(&server, Duration::ZERO, HOUR, false).await;
    for pushed in &kept {
        verify_pull(&server, pushed).await.unwrap_or_else(|error| panic!("after the run: {error}"));
    }
    let report = server.registry.fsck(&FsckOptions::default(), |_| {}).await.expect("fsck runs");
    let damaged: Vec<_> = report.findings().map(|f| (f.digest.to_string(), f.problem.clone())).collect();
    assert_eq!(report.problems(), 0, "fsck after the run: {damaged:?}");
    eprintln!(
        "{seconds} s: {} images kept, {} clean manifest failures, {runs} gc runs removed {} blobs and {} links ({} spared)",
        kept.len(),
        clean_failures.load(Ordering::Relaxed),
        totals.blobs,
        totals.links,
        totals.spared
    );
    assert!(kept.len() >= 8, "the clients got work done");
    assert!(runs >= seconds, "the collector ran throughout");
    assert!(totals.blobs > 0, "the collector collected something while the clients pushed");
}

fn wasmhub(server: &TestServer, args: &[&str]) -> (bool, String) {
    let dir = server.data_dir();
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_wasmhub"))
        .args(args)
        .args(["--database-url", &backends::database_url(dir), "--storage-url", &backends::storage_url(dir)])
        .env("RUST_LOG", "info")
        .output()
        .expect("wasmhub runs");
    (output.status.success(), String::from_utf8_lossy(&output.stderr).into_owned())
}

#[tokio::test]
async fn audit_entries_older_than_the_audit_max_age_are_deleted_by_a_run_and_kept_otherwise() {
    let server = TestServer::start().await;
    server.push_image("gc/audited", "v1", b"a module whose push is audited").await;
    let audited = |server: &TestServer| {
        let index = server.registry.index().clone();
        async move { index.audit(&wasmhub_index::AuditQuery { limit: 10, ..Default::default() }).await.unwrap().1 }
    };
    assert_eq!(audited(&server).await, 1);
    age().await;
    let keep = GcOptions { audit_max_age: None, ..GcOptions::default() };
    assert_eq!(server.registry.collect_garbage(&keep, |_, _| {}).await.unwrap().audit_entries, 0);
    let day = GcOptions { audit_max_age: Some(Duration::from_secs(86_400)), ..GcOptions::default() };
    assert_eq!(server.registry.collect_garbage(&day, |_, _| {}).await.unwrap().audit_entries, 0, "too young");
    let dry = GcOptions { audit_max_age: Some(Duration::ZERO), dry_run: true, ..GcOptions::default() };
    server.registry.collect_garbage(&dry, |_, _| {}).await.unwrap();
    assert_eq!(audited(&server).await, 1, "a dry run deletes nothing");
    let now = GcOptions { audit_max_age: Some(Duration::ZERO), ..GcOptions::default() };
    assert_eq!(server.registry.collect_garbage(&now, |_, _| {}).await.unwrap().audit_entries, 1);
    assert_eq!(audited(&server).await, 0);
}

#[tokio::test]
async fn the_cli_reports_a_dry_run_and_fsck_passes_a_clean_registry() {
    let server = TestServer::start().await;
    server.push_image("cli/clean", "v1", b"a layer").await;
    server.push_blob("cli/clean", b"loose").await;
    age().await;
    let (ok, log) = wasmhub(&server, &["gc", "--dry-run", "--grace", "0s"]);
    assert!(ok, "{log}");
    assert!(log.contains("would remove 5 B (1 blobs"), "{log}");
    assert_eq!(status(&server, &format!("/v2/cli/clean/blobs/{}", sha256(b"loose"))).await, 200);
    let (ok, log) = wasmhub(&server, &["fsck"]);
    assert!(ok, "fsck on a clean registry exits zero: {log}");
}

#[tokio::test]
async fn fsck_finds_corrupt_missing_and_stray_objects_and_repairs_only_the_safe_ones() {
    if backends::uses_s3() {
        return; // damages the data directory
    }
    let server = TestServer::start().await;
    server.push_image("fsck/a", "v1", b"layer that will rot").await;
    server.push_image("fsck/b", "v1", b"layer that will vanish").await;
    let loose = server.push_blob("fsck/a", b"unreferenced, will rot").await;
    let (rotten, vanished) = (sha256(b"layer that will rot"), sha256(b"layer that will vanish"));
    std::fs::write(blob_file(&server, &rotten), b"bit rot!").unwrap();
    std::fs::write(blob_file(&server, &loose), b"unreferenced, did rot").unwrap();
    std::fs::remove_file(blob_file(&server, &vanished)).unwrap();
    let stray = sha256(b"stray");
    let stray_file = blob_file(&server, &stray);
    std::fs::create_dir_all(stray_file.parent().unwrap()).unwrap();
    std::fs::write(&stray_file, b"stray").unwrap();
    age().await;

    let options = FsckOptions { grace: Duration::ZERO, ..FsckOptions::default() };
    let report = server.registry.fsck(&options, |_| {}).await.unwrap();
    let mut corrupt: Vec<String> = report.corrupt.iter().map(|f| f.digest.to_string()).collect();
    corrupt.sort();
    let mut expected = vec![rotten.clone(), loose.clone()];
    expected.sort();
    assert_eq!(corrupt, expected);
    assert_eq!(report.missing.iter().map(|f| f.digest.to_string()).collect::<Vec<_>>(), vec![vanished.clone()]);
    assert_eq!(report.strays.iter().map(|f| f.digest.to_string()).collect::<Vec<_>>(), vec![stray.clone()]);
    let rotten_use = report.corrupt.iter().find(|f| f.digest.to_string() == rotten).unwrap();
    assert_eq!(rotten_use.used_by.len(), 1, "the manifest using the rotten layer is reported");
    assert_eq!(rotten_use.used_by[0].repository, "fsck/a");

    let (ok, log) = wasmhub(&server, &["fsck", "--repair", "--grace", "0s"]);
    assert!(!ok, "problems make fsck fail, repaired or not: {log}");
    assert!(!stray_file.exists(), "the stray is removed");
    assert_eq!(status(&server, &format!("/v2/fsck/a/blobs/{loose}")).await, 404, "the unreferenced rot is removed");
    assert!(blob_file(&server, &rotten).exists(), "a referenced blob is never deleted, even corrupt");
    assert_eq!(header(&server.head(&format!("/v2/fsck/a/blobs/{rotten}")).await, "content-length"), "19");

    let report = server.registry.fsck(&options, |_| {}).await.unwrap();
    assert_eq!((report.corrupt.len(), report.missing.len(), report.strays.len()), (1, 1, 0));
    let (ok, _) = wasmhub(&server, &["fsck", "--sample", "0.5"]);
    assert!(!ok, "what cannot be repaired keeps failing the check");
}
