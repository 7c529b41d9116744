//! Crash safety, graceful shutdown and bounded memory, against the real `wasmhub` binary.

use crate::common;

use std::time::{Duration, Instant};

use bytes::Bytes;
use common::{sha256, WasmhubProcess, OCI_MANIFEST};
use futures::StreamExt;
use sha2::Digest as _;

fn client() -> reqwest::Client {
    reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap()
}

/// A deterministic pseudo-random buffer (xorshift), different for each seed.
fn noise(seed: u64, len: usize) -> Vec<u8> {
    let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state as u8
        })
        .collect()
}

/// Pushes one artifact (config + a layer sent in several chunks + manifest) to `repo:tag`.
async fn push_artifact(client: &reqwest::Client, base: &str, repo: &str, tag: &str, seed: u64) -> Result<(), String> {
    let layer = noise(seed, 256 * 1024 + (seed as usize % 4096));
    let config = format!(r#"{{"seed":{seed}}}"#).into_bytes();
    let config_digest = sha256(&config);
    let response = client
        .post(format!("{base}/v2/{repo}/blobs/uploads/?digest={config_digest}"))
        .body(config.clone())
        .send()
        .await
        .map_err(|e| e.to_string())?;
    if response.status() != 201 {
        return Err(format!("config push: {}", response.status()));
    }
    let start = client.post(format!("{base}/v2/{repo}/blobs/uploads/")).send().await.map_err(|e| e.to_string())?;
    let mut location = format!("{base}{}", common::header(&start, "location"));
    for (index, chunk) in layer.chunks(64 * 1024).enumerate() {
        let first = index * 64 * 1024;
        let response = client
            .patch(&location)
            .header("content-range", format!("{first}-{}", first + chunk.len() - 1))
            .body(chunk.to_vec())
            .send()
            .await
            .map_err(|e| e.to_string())?;
        if response.status() != 202 {
            return Err(format!("chunk: {}", response.status()));
        }
        location = format!("{base}{}", common::header(&response, "location"));
    }
    let layer_digest = sha256(&layer);
    let separator = if location.contains('?') { '&' } else { '?' };
    let response =
        client.put(format!("{location}{separator}digest={layer_digest}")).send().await.map_err(|e| e.to_string())?;
    if response.status() != 201 {
        return Err(format!("layer finish: {}", response.status()));
    }
    let manifest = serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2, "mediaType": OCI_MANIFEST,
        "config": {"mediaType": "application/vnd.module.wasm.config.v1+json", "digest": config_digest, "size": config.len()},
        "layers": [{"mediaType": "application/vnd.module.wasm.content.layer.v1+wasm", "digest": layer_digest, "size": layer.len()}]
    }))
    .unwrap();
    let response = client
        .put(format!("{base}/v2/{repo}/manifests/{tag}"))
        .header("content-type", OCI_MANIFEST)
        .body(manifest)
        .send()
        .await
        .map_err(|e| e.to_string())?;
    if response.status() != 201 {
        return Err(format!("manifest: {}", response.status()));
    }
    Ok(())
}

/// Every tag in the registry resolves to a manifest whose blobs are all present and whole.
async fn assert_everything_visible_is_complete(base: &str) -> usize {
    let client = client();
    let catalog: serde_json::Value =
        client.get(format!("{base}/v2/_catalog")).send().await.unwrap().json().await.unwrap();
    let mut checked = 0;
    for repo in catalog["repositories"].as_array().unwrap() {
        let repo = repo.as_str().unwrap();
        let tags: serde_json::Value =
            client.get(format!("{base}/v2/{repo}/tags/list")).send().await.unwrap().json().await.unwrap();
        for tag in tags["tags"].as_array().unwrap() {
            let tag = tag.as_str().unwrap();
            let response = client.get(format!("{base}/v2/{repo}/manifests/{tag}")).send().await.unwrap();
            assert_eq!(response.status(), 200, "{repo}:{tag} is listed but its manifest is not there");
            let manifest: serde_json::Value = response.json().await.unwrap();
            let descriptors = std::iter::once(&manifest["config"]).chain(manifest["layers"].as_array().unwrap());
            for descriptor in descriptors {
                let digest = descriptor["digest"].as_str().unwrap();
                let blob = client.get(format!("{base}/v2/{repo}/blobs/{digest}")).send().await.unwrap();
                assert_eq!(blob.status(), 200, "{repo}:{tag} references {digest}, which is missing");
                let bytes = blob.bytes().await.unwrap();
                assert_eq!(bytes.len() as u64, descriptor["size"].as_u64().unwrap(), "{digest} is truncated");
                assert_eq!(sha256(&bytes), digest, "{digest} is corrupt");
            }
            checked += 1;
        }
    }
    checked
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sigkill_during_concurrent_pushes_never_leaves_partial_content_visible() {
    let data = tempfile::tempdir().unwrap();
    let mut total_checked = 0;
    for round in 0..3u64 {
        let mut server = WasmhubProcess::start_in(data.path());
        let base = format!("http://{}", server.host());
        let acknowledged = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
        let mut pushers = Vec::new();
        for pusher in 0..8u64 {
            let (base, acknowledged) = (base.clone(), acknowledged.clone());
            pushers.push(tokio::spawn(async move {
                let client = client();
                for i in 0.. {
                    let seed = round * 1_000_000 + pusher * 1000 + i;
                    let repo = format!("crash/repo-{}", pusher % 3);
                    if push_artifact(&client, &base, &repo, &format!("r{round}-p{pusher}-{i}"), seed).await.is_err() {
                        return i;
                    }
                    acknowledged.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                }
                unreachable!()
            }));
        }
        // Let pushes get well under way, then kill the server mid-flight. Waiting for a number
        // of acknowledged pushes rather than a fixed time keeps the test meaningful on a
        // loaded machine, where a fixed 700 ms once saw no push complete.
        let wanted = 8 * (round + 1);
        let give_up = Instant::now() + Duration::from_secs(60);
        while acknowledged.load(std::sync::atomic::Ordering::Relaxed) < wanted && Instant::now() < give_up {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        tokio::time::sleep(Duration::from_millis(100 * round)).await;
        server.kill();
        let completed: u64 = futures::future::join_all(pushers).await.into_iter().map(|r| r.unwrap()).sum();
        assert!(completed > 0, "round {round}: no push completed before the kill; the test proves nothing");

        let restarted = WasmhubProcess::start_in(data.path());
        total_checked = assert_everything_visible_is_complete(&format!("http://{}", restarted.host())).await;
        assert!(total_checked as u64 >= completed, "acknowledged pushes are missing after restart");
    }
    eprintln!("checked {total_checked} tags after 3 kills");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sigterm_lets_an_in_flight_upload_finish_and_the_session_survives_restart() {
    let data = tempfile::tempdir().unwrap();
    let mut server = WasmhubProcess::start_in(data.path());
    let base = format!("http://{}", server.host());
    let client = client();
    let start = client.post(format!("{base}/v2/shutdown/test/blobs/uploads/")).send().await.unwrap();
    let location = common::header(&start, "location");
    let payload = noise(7, 4 * 1024 * 1024);
    let digest = sha256(&payload);
    // Send the chunk slowly, so that SIGTERM arrives while it is being received.
    let pieces: Vec<Bytes> = payload.chunks(256 * 1024).map(Bytes::copy_from_slice).collect();
    let slow = futures::stream::iter(pieces).then(|piece| async move {
        tokio::time::sleep(Duration::from_millis(60)).await;
        Ok::<_, std::io::Error>(piece)
    });
    let patch = client.patch(format!("{base}{location}")).body(reqwest::Body::wrap_stream(slow)).send();
    let patch = tokio::spawn(patch);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let pid = server.pid();
    let status = tokio::task::spawn_blocking(move || {
        server.terminate(Duration::from_secs(30));
        server
    });
    let response = patch.await.unwrap().expect("in-flight request completes");
    assert_eq!(response.status(), 202, "the chunk in flight at SIGTERM was accepted");
    assert_eq!(common::header(&response, "range"), format!("0-{}", payload.len() - 1));
    let mut server = status.await.unwrap();
    assert!(server.terminate(Duration::from_secs(1)).success(), "wasmhub {pid} exits cleanly on SIGTERM");

    let restarted = WasmhubProcess::start_in(data.path());
    let base = format!("http://{}", restarted.host());
    let status = client.get(format!("{base}{location}")).send().await.unwrap();
    assert_eq!(status.status(), 204);
    assert_eq!(common::header(&status, "range"), format!("0-{}", payload.len() - 1));
    let finish = client.put(format!("{base}{location}?digest={digest}")).send().await.unwrap();
    assert_eq!(finish.status(), 201, "the session is finished after the restart");
    let pulled = client.get(format!("{base}/v2/shutdown/test/blobs/{digest}")).send().await.unwrap();
    assert_eq!(sha256(&pulled.bytes().await.unwrap()), digest);
}

fn written_bytes(pid: u32) -> u64 {
    let io = std::fs::read_to_string(format!("/proc/{pid}/io")).unwrap();
    io.lines().find_map(|line| line.strip_prefix("wchar: ")).and_then(|v| v.trim().parse().ok()).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn streamed_push_of_two_gib_keeps_memory_bounded_and_writes_each_byte_once() {
    // The S3 test server (moto) keeps objects in its own memory: 512 MiB is plenty there to
    // show that the registry streams, and the write count only applies to local files.
    let on_s3 = common::backends::uses_s3();
    let size: u64 = if on_s3 { 512 * 1024 * 1024 } else { 2 * 1024 * 1024 * 1024 };
    const CHUNK: usize = 1024 * 1024;
    let server = WasmhubProcess::start();
    let base = format!("http://{}", server.host());
    let client = client();
    // Warm up: one small push, so start-up allocations are not counted as growth.
    let small = b"warm-up".to_vec();
    let response = client
        .post(format!("{base}/v2/big/blob/blobs/uploads/?digest={}", sha256(&small)))
        .body(small)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    let (rss_before, _) = server.memory_kib();
    let written_before = written_bytes(server.pid());

    let start = client.post(format!("{base}/v2/big/blob/blobs/uploads/")).send().await.unwrap();
    let location = common::header(&start, "location");
    let pattern = Bytes::from(noise(42, CHUNK));
    let hasher = std::sync::Arc::new(std::sync::Mutex::new(sha2::Sha256::new()));
    let body = {
        let hasher = hasher.clone();
        futures::stream::iter(0..size / CHUNK as u64).map(move |_| {
            hasher.lock().unwrap().update(&pattern);
            Ok::<_, std::io::Error>(pattern.clone())
        })
    };
    let started = Instant::now();
    let response =
        client.patch(format!("{base}{location}")).body(reqwest::Body::wrap_stream(body)).send().await.unwrap();
    assert_eq!(response.status(), 202);
    let digest = format!("sha256:{:x}", hasher.lock().unwrap().clone().finalize());
    let finish = client.put(format!("{base}{location}?digest={digest}")).send().await.unwrap();
    assert_eq!(finish.status(), 201);
    let elapsed = started.elapsed();
    let (_, hwm) = server.memory_kib();
    let written = written_bytes(server.pid()) - written_before;
    let growth_mib = (hwm.saturating_sub(rss_before)) as f64 / 1024.0;
    eprintln!(
        "{} MiB streamed push: {:.1} s ({:.0} MB/s), RSS before {} KiB, peak {} KiB (growth {:.1} MiB), wrote {} bytes",
        size >> 20,
        elapsed.as_secs_f64(),
        size as f64 / elapsed.as_secs_f64() / 1e6,
        rss_before,
        hwm,
        growth_mib,
        written
    );
    assert!(growth_mib < 64.0, "server RSS grew by {growth_mib:.1} MiB during a streamed push");
    if !on_s3 {
        assert!(written >= size, "the blob was written ({written} bytes)");
        assert!(
            written < size + size / 50,
            "bytes were written more than once: {written} bytes for a {size}-byte blob"
        );
    }

    let head = client.head(format!("{base}/v2/big/blob/blobs/{digest}")).send().await.unwrap();
    assert_eq!(head.status(), 200);
    assert_eq!(common::header(&head, "content-length"), size.to_string());
}
