//! The one test harness: a real wasmhub on a real TCP port, either in this process (fast,
//! for protocol tests) or as the real `wasmhub` binary (for clients, crashes and memory).
//! Each server gets its own temporary data directory and database.
//!
//! `backends` says which database and storage they use (SQLite and a directory by default).

#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use sha2::Digest as _;
use tempfile::TempDir;

pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
pub const DOCKER_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
pub const DOCKER_CONFIG: &str = "application/vnd.docker.container.image.v1+json";
pub const DOCKER_LAYER: &str = "application/vnd.docker.image.rootfs.diff.tar.gzip";
pub const WASM_CONFIG: &str = "application/vnd.module.wasm.config.v1+json";
pub const WASM_LAYER: &str = "application/vnd.module.wasm.content.layer.v1+wasm";
/// The OCI 1.1 empty descriptor's media type; its content is `{}`.
pub const OCI_EMPTY: &str = "application/vnd.oci.empty.v1+json";
pub const EMPTY_JSON: &[u8] = b"{}";

pub fn sha256(bytes: &[u8]) -> String {
    format!("sha256:{:x}", sha2::Sha256::digest(bytes))
}

pub fn sha512(bytes: &[u8]) -> String {
    format!("sha512:{:x}", sha2::Sha512::digest(bytes))
}

/// The descriptor a manifest uses to name `bytes` (sha256).
pub fn descriptor(media_type: &str, bytes: &[u8]) -> serde_json::Value {
    serde_json::json!({ "mediaType": media_type, "digest": sha256(bytes), "size": bytes.len() })
}

/// An OCI image manifest naming `config` and `layers` (already-built descriptors).
pub fn oci_manifest(config: serde_json::Value, layers: &[serde_json::Value]) -> serde_json::Value {
    serde_json::json!({ "schemaVersion": 2, "mediaType": OCI_MANIFEST, "config": config, "layers": layers })
}

/// The bytes of an OCI image manifest with one config blob and one layer.
pub fn oci_manifest_for(config: &[u8], layer: &[u8]) -> Vec<u8> {
    let manifest = oci_manifest(
        descriptor("application/vnd.module.wasm.config.v1+json", config),
        &[descriptor("application/vnd.module.wasm.content.layer.v1+wasm", layer)],
    );
    serde_json::to_vec(&manifest).unwrap()
}

pub async fn body(response: reqwest::Response) -> Vec<u8> {
    response.bytes().await.expect("response body").to_vec()
}

pub mod backends;
pub mod wasm;

use backends::{database_url, storage_url};

/// A registry served from this test process.
pub struct TestServer {
    pub base: String,
    pub client: reqwest::Client,
    pub registry: wasmhub_registry::Registry,
    _dir: TempDir,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
}

impl TestServer {
    pub async fn start() -> TestServer {
        let dir = tempfile::tempdir().expect("temp dir");
        let (database, storage) = (database_url(dir.path()), storage_url(dir.path()));
        TestServer::start_with(dir, &database, &storage).await
    }

    /// Two servers sharing one PostgreSQL schema and one blob store (an S3 bucket when
    /// `WASMHUB_TEST_STORAGE=s3`, else a directory), as replicas behind a load balancer.
    pub async fn start_replicas() -> (TestServer, TestServer) {
        let shared = tempfile::tempdir().expect("temp dir");
        let database = backends::database_url_for(shared.path(), true);
        let storage = backends::storage_url_for(shared.path(), backends::uses_s3());
        let first = TestServer::start_with(tempfile::tempdir().unwrap(), &database, &storage).await;
        // The shared directory, and with it the schema, goes when the second server does.
        let second = TestServer::start_with(shared, &database, &storage).await;
        (first, second)
    }

    /// A server with access control on, as `wasmhub serve` runs by default; `registry` is
    /// there for the test to create users, organisations and tokens.
    pub async fn start_enforced() -> TestServer {
        let dir = tempfile::tempdir().expect("temp dir");
        let (database, storage) = (database_url(dir.path()), storage_url(dir.path()));
        TestServer::start_with_policy(dir, &database, &storage, wasmhub_registry::AccessPolicy::ENFORCED).await
    }

    /// An open server recording into `metrics` (e.g. with a small repository label cap).
    pub async fn start_with_metrics(metrics: wasmhub_registry::metrics::Metrics) -> TestServer {
        let dir = tempfile::tempdir().expect("temp dir");
        let (database, storage) = (database_url(dir.path()), storage_url(dir.path()));
        let registry = wasmhub::open_registry(&database, &storage, Default::default()).await.expect("registry opens");
        TestServer::serve(dir, registry.with_metrics(metrics)).await
    }

    /// An open server with other limits (e.g. small pages).
    pub async fn start_with_limits(limits: wasmhub_registry::Limits) -> TestServer {
        let dir = tempfile::tempdir().expect("temp dir");
        let (database, storage) = (database_url(dir.path()), storage_url(dir.path()));
        let registry = wasmhub::open_registry(&database, &storage, limits).await.expect("registry opens");
        TestServer::serve(dir, registry).await
    }

    async fn start_with(dir: TempDir, database: &str, storage: &str) -> TestServer {
        TestServer::start_with_policy(dir, database, storage, wasmhub_registry::AccessPolicy::OPEN).await
    }

    async fn start_with_policy(
        dir: TempDir,
        database: &str,
        storage: &str,
        policy: wasmhub_registry::AccessPolicy,
    ) -> TestServer {
        let registry = wasmhub::open_registry(database, storage, Default::default()).await.expect("registry opens");
        TestServer::serve(dir, registry.with_policy(policy)).await
    }

    async fn serve(dir: TempDir, registry: wasmhub_registry::Registry) -> TestServer {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let base = format!("http://{}", listener.local_addr().unwrap());
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let state_registry = registry.clone();
        let state = wasmhub_server::AppState::new(registry, Default::default()).await.expect("state loads");
        tokio::spawn(async move {
            let shutdown = async {
                let _ = rx.await;
            };
            wasmhub_server::serve(listener, state, shutdown, Duration::from_secs(5)).await.expect("server runs");
        });
        let client = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
        TestServer { base, client, registry: state_registry, _dir: dir, shutdown: Some(tx) }
    }

    /// The server's temporary data directory (its database and, for file storage, `blobs/`).
    pub fn data_dir(&self) -> &Path {
        self._dir.path()
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    /// Resolves a `Location` header (relative or absolute) to a full URL.
    pub fn location(&self, response: &reqwest::Response) -> String {
        let location = header(response, "location");
        if location.starts_with("http") {
            location
        } else {
            self.url(&location)
        }
    }

    /// Pushes a blob monolithically; returns its digest.
    pub async fn push_blob(&self, repo: &str, bytes: &[u8]) -> String {
        let digest = sha256(bytes);
        let response = self
            .client
            .post(self.url(&format!("/v2/{repo}/blobs/uploads/?digest={digest}")))
            .body(bytes.to_vec())
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 201, "pushing blob to {repo}");
        digest
    }

    pub async fn put_manifest(&self, repo: &str, reference: &str, media_type: &str, body: &[u8]) -> reqwest::Response {
        self.client
            .put(self.url(&format!("/v2/{repo}/manifests/{reference}")))
            .header("content-type", media_type)
            .body(body.to_vec())
            .send()
            .await
            .unwrap()
    }

    /// Pushes a config and one layer, then an OCI manifest naming them under `tag`.
    /// Returns the manifest's bytes and digest.
    pub async fn push_image(&self, repo: &str, tag: &str, layer: &[u8]) -> (Vec<u8>, String) {
        let config = br#"{"type":"envoy_proxy","abiVersions":["v0.2.1"]}"#;
        let config_digest = self.push_blob(repo, config).await;
        let layer_digest = self.push_blob(repo, layer).await;
        let manifest = serde_json::to_vec(&serde_json::json!({
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": {"mediaType": "application/vnd.module.wasm.config.v1+json", "digest": config_digest, "size": config.len()},
            "layers": [{"mediaType": "application/vnd.module.wasm.content.layer.v1+wasm", "digest": layer_digest, "size": layer.len()}]
        }))
        .unwrap();
        let response = self.put_manifest(repo, tag, OCI_MANIFEST, &manifest).await;
        assert_eq!(response.status(), 201, "pushing manifest {repo}:{tag}");
        let digest = sha256(&manifest);
        (manifest, digest)
    }

    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.client.get(self.url(path)).send().await.unwrap()
    }

    pub async fn head(&self, path: &str) -> reqwest::Response {
        self.client.head(self.url(path)).send().await.unwrap()
    }

    pub async fn delete(&self, path: &str) -> reqwest::Response {
        self.client.delete(self.url(path)).send().await.unwrap()
    }

    /// Serialises `manifest`, pushes it under `reference` and checks the 201; returns its
    /// bytes and digest.
    pub async fn push_manifest(
        &self,
        repo: &str,
        reference: &str,
        media_type: &str,
        manifest: &serde_json::Value,
    ) -> (Vec<u8>, String) {
        let bytes = serde_json::to_vec(manifest).unwrap();
        let response = self.put_manifest(repo, reference, media_type, &bytes).await;
        assert_eq!(response.status(), 201, "pushing manifest {repo}:{reference}: {:?}", response.text().await);
        let digest = sha256(&bytes);
        (bytes, digest)
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        backends::release(self._dir.path());
    }
}

pub fn header(response: &reqwest::Response, name: &str) -> String {
    response
        .headers()
        .get(name)
        .unwrap_or_else(|| panic!("response has no {name} header: {:?}", response.headers()))
        .to_str()
        .unwrap()
        .to_owned()
}

/// The `errors[0].code` of an OCI error body.
pub async fn error_code(response: reqwest::Response) -> String {
    let body: serde_json::Value = response.json().await.expect("error body is JSON");
    body["errors"][0]["code"].as_str().expect("errors[0].code").to_owned()
}

/// The real `wasmhub serve` binary, on a free port, killed when dropped.
pub struct WasmhubProcess {
    child: Child,
    host: String,
    dir: PathBuf,
    _owned_dir: Option<TempDir>,
}

impl WasmhubProcess {
    pub fn start() -> WasmhubProcess {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut process = WasmhubProcess::start_in(dir.path());
        process._owned_dir = Some(dir);
        process
    }

    /// Starts a server on the data in `dir` (which may hold an earlier server's data).
    pub fn start_in(dir: &Path) -> WasmhubProcess {
        WasmhubProcess::start_in_with(dir, &[("WASMHUB_AUTH", "none")])
    }

    /// A server with access control on (the default of `wasmhub serve`), whose first
    /// administrator `admin` has `password`.
    pub fn start_with_admin(password: &str) -> WasmhubProcess {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut process =
            WasmhubProcess::start_in_with(dir.path(), &[("WASMHUB_AUTH", "on"), ("WASMHUB_ADMIN_PASSWORD", password)]);
        process._owned_dir = Some(dir);
        process
    }

    /// An open server (`WASMHUB_AUTH=none`) with extra environment, e.g. a GC schedule.
    pub fn start_with_env(env: &[(&str, &str)]) -> WasmhubProcess {
        let dir = tempfile::tempdir().expect("temp dir");
        let env: Vec<(&str, &str)> = [("WASMHUB_AUTH", "none")].into_iter().chain(env.iter().copied()).collect();
        let mut process = WasmhubProcess::start_in_with(dir.path(), &env);
        process._owned_dir = Some(dir);
        process
    }

    /// Starts a server on the data in `dir` with extra environment variables.
    pub fn start_in_with(dir: &Path, env: &[(&str, &str)]) -> WasmhubProcess {
        let mut child = Command::new(env!("CARGO_BIN_EXE_wasmhub"))
            .args(["serve", "--listen", "127.0.0.1:0"])
            .arg("--database-url")
            .arg(database_url(dir))
            .arg("--storage-url")
            .arg(storage_url(dir))
            .envs(env.iter().copied())
            .env("RUST_LOG", "info,sqlx=warn")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("wasmhub binary starts");
        let stderr = child.stderr.take().unwrap();
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if let Some(rest) = line.split("address=").nth(1) {
                    let _ = tx.send(rest.split_whitespace().next().unwrap_or_default().to_owned());
                }
                eprintln!("[wasmhub] {line}");
            }
        });
        let host = rx.recv_timeout(Duration::from_secs(60)).expect("wasmhub logs its listening address");
        WasmhubProcess { child, host, dir: dir.to_owned(), _owned_dir: None }
    }

    /// `127.0.0.1:PORT`
    pub fn host(&self) -> String {
        self.host.clone()
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn data_dir(&self) -> &Path {
        &self.dir
    }

    /// SIGKILL: the process gets no chance to clean up.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// SIGTERM, then waits for the process to exit; returns its exit status.
    pub fn terminate(&mut self, within: Duration) -> std::process::ExitStatus {
        let _ = Command::new("kill").args(["-TERM", &self.child.id().to_string()]).status();
        let deadline = Instant::now() + within;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(Instant::now() < deadline, "wasmhub did not stop within {within:?} of SIGTERM");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Resident set size and its peak, in KiB, from /proc.
    pub fn memory_kib(&self) -> (u64, u64) {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).unwrap();
        let field = |name: &str| {
            status
                .lines()
                .find(|line| line.starts_with(name))
                .and_then(|line| line.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
                .unwrap_or(0)
        };
        (field("VmRSS:"), field("VmHWM:"))
    }
}

impl Drop for WasmhubProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if let Some(dir) = &self._owned_dir {
            backends::release(dir.path());
        }
    }
}
