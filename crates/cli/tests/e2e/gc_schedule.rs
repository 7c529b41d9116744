//! Garbage collection as operators run it: on a schedule inside `serve`, one run at a time
//! (the lease), each run recorded and reported at /metrics, and a `wasmhub gc` process beside
//! a serving instance without a request failing ("database is locked" on SQLite).

use crate::common;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{backends, oci_manifest_for, sha256, TestServer, WasmhubProcess, OCI_MANIFEST};
use wasmhub_registry::index::Index;
use wasmhub_registry::{GcOptions, GcRunOutcome, GcTrigger, GC_LEASE};

/// Runs the `wasmhub` binary on the data in `dir`; returns success and stderr.
fn wasmhub(dir: &std::path::Path, args: &[&str]) -> (bool, String) {
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_wasmhub"))
        .args(args)
        .args(["--database-url", &backends::database_url(dir), "--storage-url", &backends::storage_url(dir)])
        .env("RUST_LOG", "info,sqlx=warn")
        .output()
        .expect("wasmhub runs");
    (output.status.success(), String::from_utf8_lossy(&output.stderr).into_owned())
}

/// Pushes a blob monolithically to the server at `base`; returns the status.
async fn push_blob(client: &reqwest::Client, base: &str, repo: &str, bytes: &[u8]) -> u16 {
    let url = format!("{base}/v2/{repo}/blobs/uploads/?digest={}", sha256(bytes));
    client.post(url).body(bytes.to_vec()).send().await.unwrap().status().as_u16()
}

/// Config, layer, manifest under `tag`; returns the manifest's status (and body on failure).
async fn push_image(client: &reqwest::Client, base: &str, repo: &str, tag: &str, layer: &[u8]) -> (u16, String) {
    let config = format!(r#"{{"tag":"{tag}"}}"#).into_bytes();
    for blob in [&config[..], layer] {
        let status = push_blob(client, base, repo, blob).await;
        if status != 201 {
            return (status, format!("blob upload answered {status}"));
        }
    }
    let manifest = oci_manifest_for(&config, layer);
    let response = client
        .put(format!("{base}/v2/{repo}/manifests/{tag}"))
        .header("content-type", OCI_MANIFEST)
        .body(manifest)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.text().await.unwrap_or_default())
}

/// The value of one sample line of a Prometheus exposition (`name{labels}` as written).
fn sample(metrics: &str, series: &str) -> Option<f64> {
    metrics.lines().find_map(|line| line.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
}

#[tokio::test]
async fn scheduled_gc_collects_records_each_run_and_reports_metrics() {
    let server = WasmhubProcess::start_with_env(&[("WASMHUB_GC_INTERVAL", "1s"), ("WASMHUB_GC_GRACE", "0s")]);
    let (client, base) = (reqwest::Client::new(), format!("http://{}", server.host()));
    assert_eq!(push_blob(&client, &base, "sched/a", b"loose, collected by the schedule").await, 201);
    let loose = sha256(b"loose, collected by the schedule");
    // Polls a condition the schedule makes true (the blob is gone and the run that took it
    // has finished); the deadline only bounds a broken build.
    let deadline = Instant::now() + Duration::from_secs(120);
    let metrics = loop {
        let response = client.get(format!("{base}/v2/sched/a/blobs/{loose}")).send().await.unwrap();
        let metrics = client.get(format!("{base}/metrics")).send().await.unwrap().text().await.unwrap();
        let deleted = sample(&metrics, "wasmhub_gc_blobs_deleted_total").unwrap_or(0.0);
        if response.status() == 404 && deleted >= 1.0 {
            break metrics;
        }
        assert!(Instant::now() < deadline, "no scheduled run collected the loose blob: {metrics}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert!(sample(&metrics, "wasmhub_gc_runs_total{outcome=\"success\"}").unwrap() >= 1.0, "{metrics}");
    assert!(sample(&metrics, "wasmhub_gc_reclaimed_bytes_total").unwrap() >= 32.0, "{metrics}");
    let last_success = sample(&metrics, "wasmhub_gc_last_success_timestamp_seconds").unwrap();
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs_f64();
    assert!(last_success > now - 600.0 && last_success <= now + 1.0, "last success {last_success}, now {now}");
    assert!(sample(&metrics, "wasmhub_gc_duration_seconds_count").unwrap() >= 1.0);

    let index = Index::connect(&backends::database_url(server.data_dir())).await.unwrap();
    let runs = index.gc_runs(100).await.unwrap();
    let collected: u64 = runs.iter().map(|run| run.blobs_deleted).sum();
    assert!(runs.iter().all(|run| run.started_by == "schedule" && run.outcome == "success"), "{runs:?}");
    assert!(collected >= 1, "the run that deleted the blob is recorded: {runs:?}");
    index.close().await;
}

#[tokio::test]
async fn a_run_skips_while_another_holds_the_lease_says_so_and_is_recorded() {
    let server = TestServer::start().await;
    let loose = server.push_blob("lease/a", b"loose, waits for the lease").await;
    tokio::time::sleep(Duration::from_millis(20)).await;
    let index = server.registry.index();
    let held = index.try_acquire_lease(GC_LEASE, "replica-b", Duration::from_secs(600)).await.unwrap();
    assert!(held.is_ok(), "the lease is free at first");

    let (ok, log) = wasmhub(server.data_dir(), &["gc", "--grace", "0s"]);
    assert!(ok, "a skipped run is not an error (cron must not page anyone): {log}");
    assert!(log.contains("another garbage collection is running"), "{log}");
    let options = GcOptions { grace: Duration::ZERO, ..GcOptions::default() };
    let outcome = server.registry.run_gc(&options, GcTrigger::Schedule, |_, _| {}).await.unwrap();
    assert!(matches!(&outcome, GcRunOutcome::Skipped(current) if current.holder == "replica-b"), "{outcome:?}");
    assert_eq!(server.get(&format!("/v2/lease/a/blobs/{loose}")).await.status(), 200, "nothing ran");
    assert_eq!(server.registry.metrics().gc_runs("skipped"), 1);

    let runs = index.gc_runs(10).await.unwrap();
    assert_eq!(runs.len(), 2, "{runs:?}");
    assert!(runs.iter().all(|run| run.outcome == "skipped"), "{runs:?}");
    assert!(runs.iter().any(|run| run.started_by == "cli") && runs.iter().any(|run| run.started_by == "schedule"));
    assert!(runs[0].detail.as_deref().unwrap_or_default().contains("replica-b"), "{runs:?}");

    // A holder that died leaves a lease that expires; the next run takes it over.
    index.release_lease(GC_LEASE, "replica-b").await.unwrap();
    let crashed = index.try_acquire_lease(GC_LEASE, "crashed-replica", Duration::ZERO).await.unwrap();
    assert!(crashed.is_ok());
    tokio::time::sleep(Duration::from_millis(5)).await;
    let outcome = server.registry.run_gc(&options, GcTrigger::Cli, |_, _| {}).await.unwrap();
    assert!(matches!(&outcome, GcRunOutcome::Ran(report) if report.blobs == 1), "{outcome:?}");
    assert_eq!(server.get(&format!("/v2/lease/a/blobs/{loose}")).await.status(), 404);
    let again = index.try_acquire_lease(GC_LEASE, "replica-c", Duration::from_secs(60)).await.unwrap();
    assert!(again.is_ok(), "a finished run gives the lease back");
    assert_eq!(index.gc_runs(1).await.unwrap()[0].outcome, "success");
}

/// SQLite: `wasmhub gc` in its own process while `serve` takes pushes used to make requests
/// fail with "database is locked" (a deferred transaction that read first could not become a
/// writer once the other process had committed). Every request must now succeed or fail
/// cleanly, never with a 500. Runs on PostgreSQL too, where it must trivially hold.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_gc_process_beside_serve_never_makes_a_request_fail() {
    let seconds: u64 = std::env::var("WASMHUB_TEST_GC_SECONDS").ok().and_then(|s| s.parse().ok()).unwrap_or(10);
    let server = WasmhubProcess::start();
    let base = format!("http://{}", server.host());
    let dir = server.data_dir().to_owned();
    let stop = Arc::new(AtomicBool::new(false));
    let collector = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            let mut runs = 0u32;
            while !stop.load(Ordering::Relaxed) {
                let (ok, log) = wasmhub(&dir, &["gc", "--grace", "0s"]);
                assert!(ok, "gc beside serve: {log}");
                runs += 1;
            }
            runs
        })
    };
    let (errors, pushes) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
    let until = Instant::now() + Duration::from_secs(seconds);
    let clients: Vec<_> = (0..4)
        .map(|task| {
            let (base, errors, pushes) = (base.clone(), errors.clone(), pushes.clone());
            tokio::spawn(async move {
                let client = reqwest::Client::new();
                let mut n = 0;
                while Instant::now() < until {
                    n += 1;
                    let repo = format!("beside/t{task}");
                    let layer = format!("task {task} push {n}").repeat(40).into_bytes();
                    let (status, body) = push_image(&client, &base, &repo, &format!("v{n}"), &layer).await;
                    match status {
                        201 => pushes.fetch_add(1, Ordering::Relaxed),
                        // Grace zero: the collector may take a link between upload and manifest.
                        400 if body.contains("MANIFEST_BLOB_UNKNOWN") => 0,
                        _ => {
                            eprintln!("task {task} push {n}: {status} {body}");
                            errors.fetch_add(1, Ordering::Relaxed)
                        }
                    };
                    // Make garbage for the collector: delete every other manifest.
                    if n % 2 == 0 {
                        let url = format!("{base}/v2/{repo}/manifests/v{}", n - 1);
                        let digest = client.head(url).send().await.unwrap();
                        if let Some(digest) = digest.headers().get("docker-content-digest") {
                            let url = format!("{base}/v2/{repo}/manifests/{}", digest.to_str().unwrap());
                            let status = client.delete(url).send().await.unwrap().status().as_u16();
                            if status >= 500 {
                                errors.fetch_add(1, Ordering::Relaxed);
                            }
                        }
                    }
                }
            })
        })
        .collect();
    for client in clients {
        client.await.unwrap();
    }
    stop.store(true, Ordering::Relaxed);
    let runs = collector.join().expect("collector thread");
    let (errors, pushes) = (errors.load(Ordering::Relaxed), pushes.load(Ordering::Relaxed));
    eprintln!("{seconds} s: {pushes} pushes, {runs} gc processes, {errors} failed requests");
    assert_eq!(errors, 0, "no request failed beside the gc process");
    assert!(pushes >= 10 && runs >= 2, "both sides got work done: {pushes} pushes, {runs} runs");
}
