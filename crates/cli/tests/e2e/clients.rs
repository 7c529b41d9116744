//! Round trips through real OCI clients: docker, skopeo, buildah and the oras Python SDK push a
//! Wasm module to a running registry and pull it back, and the sha256 of what came back must be
//! the sha256 of what went in.
//!
//! The registry under test is `wasmhub serve`, started per test by the shared harness, or any
//! registry named by `WASMHUB_TEST_EXTERNAL_REGISTRY=host:port` (plain HTTP, anonymous push and
//! pull; e.g. the reference `docker-registry`, to check these tests themselves).
//!
//! The clients are installed by `.ci/run`. A missing client fails its test, unless
//! `WASMHUB_SKIP_CLIENT_TESTS=1`, in which case the test says "skipped" and passes.
//! Each test uses its own repository (`ns/<client>-<random>`), so they run in parallel.

use crate::common;

use std::collections::HashMap;
use std::ffi::OsStr;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use sha2::{Digest, Sha256};
use tempfile::TempDir;

/// Longest any one client command may run before the test fails.
const COMMAND_TIMEOUT: Duration = Duration::from_secs(300);

const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
const ACCEPT_MANIFESTS: &str = "application/vnd.oci.image.manifest.v1+json, \
     application/vnd.docker.distribution.manifest.v2+json, \
     application/vnd.oci.image.index.v1+json, \
     application/vnd.docker.distribution.manifest.list.v2+json";

// ---------------------------------------------------------------------------------------------
// The tests
// ---------------------------------------------------------------------------------------------

/// `docker build` (legacy builder) a `FROM scratch` image holding `plugin.wasm` (the Istio
/// "compat" layout), `docker push`, drop it locally, `docker pull`, copy the file out.
#[test]
fn docker_push_pull_round_trip_keeps_plugin_wasm() {
    if !clients_available("docker", &[Client::Bin("docker"), Client::Bin("dockerd")]) {
        return;
    }
    let registry = registry();
    let module = test_module("docker", 48 * 1024);
    let repo = unique_repo("docker-plugin");
    let image = format!("{}/{repo}:v1", registry.host);

    let daemon = DockerDaemon::start();
    let ctx = daemon.dir.path().join("ctx");
    std::fs::create_dir(&ctx).unwrap();
    std::fs::write(ctx.join("plugin.wasm"), &module).unwrap();
    std::fs::write(ctx.join("Dockerfile"), "FROM scratch\nCOPY plugin.wasm /plugin.wasm\n").unwrap();

    run(daemon.docker().env("DOCKER_BUILDKIT", "0").args(["build", "--quiet", "--tag", &image]).arg(&ctx));
    let pushed = run(daemon.docker().args(["push", &image]));
    let pushed_digest = pushed
        .split_whitespace()
        .find(|w| w.starts_with("sha256:"))
        .unwrap_or_else(|| panic!("no digest in `docker push` output:\n{pushed}"))
        .to_string();

    let manifest = get_manifest(&registry.host, &repo, "v1");
    assert_eq!(manifest.media_type, DOCKER_MANIFEST);
    assert_eq!(manifest.digest, pushed_digest, "registry digest != docker's");

    run(daemon.docker().args(["image", "rm", &image]));
    let left = run(daemon.docker().args(["image", "ls", "--all", "--quiet"]));
    assert!(left.trim().is_empty(), "images left after rm: {left}");

    let pulled = run(daemon.docker().args(["pull", &image]));
    assert!(pulled.contains(&pushed_digest), "pull output: {pulled}");
    // A scratch image has no command, and `docker create` wants one; it is never run.
    let container = run(daemon.docker().args(["create", &image, "/plugin.wasm"]));
    let container = container.trim();
    let out = daemon.dir.path().join("out");
    std::fs::create_dir(&out).unwrap();
    run(daemon.docker().args(["cp", &format!("{container}:/plugin.wasm")]).arg(&out));
    run(daemon.docker().args(["rm", container]));

    assert_same_bytes(&module, &out.join("plugin.wasm"), "docker pull");
}

/// A CNCF Wasm artifact written by hand as an OCI image layout, `skopeo copy`'d to the registry
/// and back into a second layout: same manifest digest and bytes, same layer.
#[test]
fn skopeo_copy_round_trip_keeps_manifest_digest() {
    if !clients_available("skopeo", &[Client::Bin("skopeo")]) {
        return;
    }
    let registry = registry();
    let module = test_module("skopeo", 32 * 1024);
    let repo = unique_repo("skopeo-wasm");
    let dir = TempDir::new().unwrap();
    let policy = write_policy(dir.path());
    let src = dir.path().join("src");
    let dst = dir.path().join("dst");
    let layout = write_wasm_oci_layout(&src, "v1", &module);
    let remote = format!("docker://{}/{repo}:v1", registry.host);

    let registries_conf = dir.path().join("registries.conf");
    std::fs::write(&registries_conf, "").unwrap();
    let skopeo = || {
        let mut cmd = Command::new("skopeo");
        // No system-wide registries.conf (mirrors, blocks): only the registry under test.
        cmd.env("CONTAINERS_REGISTRIES_CONF", &registries_conf);
        cmd.arg("copy").arg("--policy").arg(&policy);
        cmd.args(["--quiet", "--preserve-digests"]);
        cmd
    };
    run(skopeo().arg("--dest-tls-verify=false").arg(format!("oci:{}:v1", src.display())).arg(&remote));

    let manifest = get_manifest(&registry.host, &repo, "v1");
    assert_eq!(manifest.digest, layout.manifest_digest);
    assert_eq!(manifest.media_type, OCI_MANIFEST);
    assert!(manifest.body == layout.manifest, "registry changed the manifest bytes");

    run(skopeo().arg("--src-tls-verify=false").arg(&remote).arg(format!("oci:{}:v1", dst.display())));

    let index: serde_json::Value = read_json(&dst.join("index.json"));
    let entry = index["manifests"]
        .as_array()
        .and_then(|m| m.iter().find(|m| m["annotations"]["org.opencontainers.image.ref.name"] == "v1"))
        .unwrap_or_else(|| panic!("no v1 in pulled index.json: {index}"));
    assert_eq!(entry["digest"], layout.manifest_digest.as_str());
    let pulled_manifest = std::fs::read(blob_path(&dst, &layout.manifest_digest)).unwrap();
    assert!(pulled_manifest == layout.manifest, "pulled manifest bytes differ");
    let pulled: serde_json::Value = serde_json::from_slice(&pulled_manifest).unwrap();
    assert_eq!(pulled["config"]["mediaType"], "application/vnd.wasm.config.v0+json");
    assert_eq!(pulled["layers"][0]["mediaType"], "application/wasm");
    let layer = pulled["layers"][0]["digest"].as_str().unwrap();
    assert_same_bytes(&module, &blob_path(&dst, layer), "skopeo copy back");
}

/// `buildah from scratch` + `copy` + `commit`, pushed as Docker schema2 (`--format v2s2`) and as
/// OCI (`--format oci`) to two tags, each pulled into fresh storage and read from the mount.
#[test]
fn buildah_push_docker_and_oci_formats_round_trip() {
    if !clients_available("buildah", &[Client::Bin("buildah")]) {
        return;
    }
    let registry = registry();
    let module = test_module("buildah", 40 * 1024);
    let repo = unique_repo("buildah-plugin");
    let dir = TempDir::new().unwrap();
    let policy = write_policy(dir.path());
    let plugin = dir.path().join("plugin.wasm");
    std::fs::write(&plugin, &module).unwrap();

    let build = Buildah::new(dir.path().join("build"), &policy);
    let container = run(build.cmd("from").args(["--quiet", "scratch"]));
    let container = container.trim();
    run(build.cmd("copy").arg(container).arg(&plugin).arg("/plugin.wasm"));
    let local = format!("localhost/{repo}:v1");
    run(build.cmd("commit").args(["--quiet", container, &local]));

    for (tag, format, media_type) in [("v1-docker", "v2s2", DOCKER_MANIFEST), ("v1-oci", "oci", OCI_MANIFEST)] {
        let remote = format!("{}/{repo}:{tag}", registry.host);
        let digest_file = dir.path().join(format!("{tag}.digest"));
        run(build
            .cmd("push")
            .args(["--quiet", "--tls-verify=false", "--retry", "0"])
            .args(["--format", format])
            .arg("--digestfile")
            .arg(&digest_file)
            .arg(&local)
            .arg(format!("docker://{remote}")));
        let pushed_digest = std::fs::read_to_string(&digest_file).unwrap();

        let manifest = get_manifest(&registry.host, &repo, tag);
        assert_eq!(manifest.media_type, media_type, "{tag}");
        assert_eq!(manifest.digest, pushed_digest.trim(), "{tag}");

        // Fresh storage, so the layer really comes from the registry.
        let pull = Buildah::new(dir.path().join(format!("pull-{tag}")), &policy);
        run(pull.cmd("pull").args(["--quiet", "--tls-verify=false", "--retry", "0"]).arg(format!("docker://{remote}")));
        let container = run(pull.cmd("from").args(["--quiet", "--pull=never", &remote]));
        let container = container.trim();
        let mount = run(pull.cmd("mount").arg(container));
        let plugin_out = Path::new(mount.trim()).join("plugin.wasm");
        assert_same_bytes(&module, &plugin_out, &format!("buildah pull {tag}"));
        run(pull.cmd("umount").arg(container));
        run(pull.cmd("rm").arg(container));
    }
}

/// The oras Python SDK pushes a solo.io Wasm artifact monolithically and in PATCH chunks, lists
/// the tags and pulls both back (the client side lives in `tests/scripts/oras_roundtrip.py`).
#[test]
fn oras_python_sdk_push_chunked_and_pull_round_trip() {
    if !clients_available("oras", &[Client::Bin("python3"), Client::PythonModule("oras")]) {
        return;
    }
    let registry = registry();
    // Several 64 KiB chunks, the last one short.
    let module = test_module("oras", 200 * 1024);
    let repo = unique_repo("oras-filter");
    let dir = TempDir::new().unwrap();
    let module_path = dir.path().join("plugin.wasm");
    std::fs::write(&module_path, &module).unwrap();
    let config = serde_json::json!({
        "type": "envoy_proxy",
        "abiVersions": ["v0-4689a30309abf31aee9ae36e73d34b1bb182685f", "v0.2.1"],
        "config": {"rootIds": ["wasmhub_test_root"]},
    });
    let config_path = dir.path().join("config.json");
    std::fs::write(&config_path, serde_json::to_vec(&config).unwrap()).unwrap();
    let result_path = dir.path().join("result.json");
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/scripts/oras_roundtrip.py");

    run(Command::new("python3")
        .arg(&script)
        .args(["--host", &registry.host, "--repo", &repo])
        .arg("--module")
        .arg(&module_path)
        .arg("--config")
        .arg(&config_path)
        .arg("--outdir")
        .arg(dir.path().join("pulled"))
        .arg("--result")
        .arg(&result_path)
        .args(["--chunk-size", &(64 * 1024).to_string()]));

    let result: serde_json::Value = read_json(&result_path);
    assert_eq!(result["tags"], serde_json::json!(["v1", "v1-chunked"]), "{result}");
    for tag in ["v1", "v1-chunked"] {
        assert_eq!(result["pushed"][tag]["status"], 201, "{result}");
        let manifest = &result["manifests"][tag];
        assert_eq!(manifest["config"]["mediaType"], "application/vnd.module.wasm.config.v1+json");
        assert_eq!(manifest["layers"][0]["mediaType"], "application/vnd.module.wasm.content.layer.v1+wasm");
        assert_eq!(manifest["layers"][0]["digest"], sha256_digest(&module).as_str());
        let files = result["pulled"][tag].as_array().expect("pulled files");
        assert_eq!(files.len(), 1, "{result}");
        let pulled = Path::new(files[0].as_str().unwrap());
        assert_eq!(pulled.file_name(), Some(OsStr::new("plugin.wasm")));
        assert_same_bytes(&module, pulled, &format!("oras pull {tag}"));

        let stored = get_manifest(&registry.host, &repo, tag);
        assert_eq!(stored.media_type, OCI_MANIFEST);
        assert_eq!(Some(stored.digest.as_str()), result["pushed"][tag]["digest"].as_str());
    }
}

// ---------------------------------------------------------------------------------------------
// The registry under test
// ---------------------------------------------------------------------------------------------

struct Registry {
    /// `127.0.0.1:PORT`, as the clients are given it.
    host: String,
    /// Kept only to stop the server when the test ends.
    _server: Option<common::WasmhubProcess>,
}

fn registry() -> Registry {
    match std::env::var("WASMHUB_TEST_EXTERNAL_REGISTRY") {
        Ok(host) if !host.trim().is_empty() => Registry { host: host.trim().to_string(), _server: None },
        _ => {
            let server = common::WasmhubProcess::start();
            Registry { host: server.host(), _server: Some(server) }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Clients: presence, running, a private dockerd, buildah storage
// ---------------------------------------------------------------------------------------------

enum Client {
    Bin(&'static str),
    PythonModule(&'static str),
}

/// Whether the test can run: every client is there. A missing one panics, naming the `.ci/run`
/// step that installs it, unless `WASMHUB_SKIP_CLIENT_TESTS=1`.
fn clients_available(test: &str, clients: &[Client]) -> bool {
    let missing: Vec<String> = clients
        .iter()
        .filter_map(|client| match client {
            Client::Bin(bin) => find_on_path(bin).is_none().then(|| {
                let package = match *bin {
                    "docker" | "dockerd" => "docker.io",
                    "python3" => "python3",
                    other => other,
                };
                format!("`{bin}` is not on PATH (`.ci/run` installs the Debian package `{package}`)")
            }),
            Client::PythonModule(module) => {
                let found = find_on_path("python3").is_some()
                    && Command::new("python3")
                        .args(["-c", &format!("import {module}")])
                        .stdin(Stdio::null())
                        .stdout(Stdio::null())
                        .stderr(Stdio::null())
                        .status()
                        .is_ok_and(|s| s.success());
                (!found).then(|| format!("Python module `{module}` is missing (`.ci/run` runs `pip install {module}`)"))
            }
        })
        .collect();
    if missing.is_empty() {
        return true;
    }
    if std::env::var("WASMHUB_SKIP_CLIENT_TESTS").as_deref() == Ok("1") {
        // Straight to stderr, past the test harness's output capture, so it is always seen.
        let _ = writeln!(
            std::io::stderr(),
            "skipped: {test} round trip (WASMHUB_SKIP_CLIENT_TESTS=1): {}",
            missing.join("; ")
        );
        return false;
    }
    panic!(
        "{test} round trip needs clients that are not installed: {}. \
         Run the install step of `.ci/run`, or set WASMHUB_SKIP_CLIENT_TESTS=1 to skip.",
        missing.join("; ")
    );
}

fn find_on_path(bin: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path).map(|dir| dir.join(bin)).find(|candidate| {
        std::fs::metadata(candidate).is_ok_and(|m| {
            use std::os::unix::fs::PermissionsExt;
            m.is_file() && m.permissions().mode() & 0o111 != 0
        })
    })
}

/// Runs a command to completion (no stdin, at most [`COMMAND_TIMEOUT`]) and returns its stdout;
/// panics with the command line, status, stdout and stderr if it fails.
fn run(cmd: &mut Command) -> String {
    let line = command_line(cmd);
    let started = Instant::now();
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start `{line}`: {e}"));
    let stdout = drain(child.stdout.take().unwrap());
    let stderr = drain(child.stderr.take().unwrap());
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break Some(status);
        }
        if started.elapsed() > COMMAND_TIMEOUT {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let stdout = stdout.join().unwrap();
    let stderr = stderr.join().unwrap();
    match status {
        Some(status) if status.success() => stdout,
        _ => panic!(
            "`{line}` {} after {:.1?}\n--- stdout ---\n{stdout}\n--- stderr ---\n{stderr}",
            match status {
                Some(status) => format!("failed ({status})"),
                None => "timed out".to_string(),
            },
            started.elapsed(),
        ),
    }
}

fn drain(mut pipe: impl Read + Send + 'static) -> std::thread::JoinHandle<String> {
    std::thread::spawn(move || {
        let mut bytes = Vec::new();
        let _ = pipe.read_to_end(&mut bytes);
        String::from_utf8_lossy(&bytes).into_owned()
    })
}

fn command_line(cmd: &Command) -> String {
    std::iter::once(cmd.get_program())
        .chain(cmd.get_args())
        .map(|a| a.to_string_lossy().into_owned())
        .collect::<Vec<_>>()
        .join(" ")
}

/// A private Docker engine (its own socket, data root and exec root in a temporary directory),
/// stopped by pid when dropped, also when the test panics.
struct DockerDaemon {
    child: Child,
    socket: PathBuf,
    // Dropped after `child` is stopped (see `Drop`), so the data root is unused by then.
    dir: TempDir,
}

impl DockerDaemon {
    fn start() -> DockerDaemon {
        // Short path: containerd's sockets live under the exec root (108-byte limit).
        let dir = tempfile::Builder::new().prefix("wh-dockerd").tempdir_in("/tmp").unwrap();
        let socket = dir.path().join("docker.sock");
        let log = std::fs::File::create(dir.path().join("dockerd.log")).unwrap();
        // Not /etc/docker/daemon.json: no mirrors or other settings from the machine.
        let config = dir.path().join("daemon.json");
        std::fs::write(&config, "{}").unwrap();
        let mut cmd = Command::new("dockerd");
        cmd.arg("--config-file")
            .arg(&config)
            .arg("--host")
            .arg(format!("unix://{}", socket.display()))
            .arg("--data-root")
            .arg(dir.path().join("root"))
            .arg("--exec-root")
            .arg(dir.path().join("exec"))
            .arg("--pidfile")
            .arg(dir.path().join("dockerd.pid"))
            .args(["--iptables=false", "--bridge=none"])
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log);
        let child = cmd.spawn().unwrap_or_else(|e| panic!("cannot start `{}`: {e}", command_line(&cmd)));
        let mut daemon = DockerDaemon { child, socket, dir };

        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Some(status) = daemon.child.try_wait().unwrap() {
                panic!("dockerd exited ({status}) while starting:\n{}", daemon.log());
            }
            if daemon.socket.exists() {
                let ok = daemon
                    .docker()
                    .args(["version", "--format", "{{.Server.Version}}"])
                    .stdin(Stdio::null())
                    .stdout(Stdio::null())
                    .stderr(Stdio::null())
                    .status()
                    .is_ok_and(|s| s.success());
                if ok {
                    return daemon;
                }
            }
            if Instant::now() > deadline {
                panic!("dockerd did not answer within 60 s:\n{}", daemon.log());
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// A `docker` command talking to this daemon only, with its own (empty) client config.
    fn docker(&self) -> Command {
        let mut cmd = Command::new("docker");
        cmd.env("DOCKER_HOST", format!("unix://{}", self.socket.display()))
            .env("DOCKER_CONFIG", self.dir.path().join("client-config"))
            .env_remove("DOCKER_CONTEXT")
            .env_remove("DOCKER_TLS_VERIFY");
        cmd
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("dockerd.log")).unwrap_or_default()
    }
}

impl Drop for DockerDaemon {
    fn drop(&mut self) {
        // The containerd that dockerd started for itself, to make sure it goes too.
        let containerd_pid = std::fs::read_to_string(self.dir.path().join("exec/containerd/containerd.pid"))
            .ok()
            .and_then(|pid| pid.trim().parse::<u32>().ok());

        // SIGTERM lets dockerd stop its containerd and unmount; SIGKILL if it hangs.
        let pid = self.child.id().to_string();
        let _ = Command::new("kill").args(["-TERM", &pid]).status();
        let deadline = Instant::now() + Duration::from_secs(30);
        while self.child.try_wait().ok().flatten().is_none() {
            if Instant::now() > deadline {
                let _ = self.child.kill();
                let _ = self.child.wait();
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        if let Some(pid) = containerd_pid {
            let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
            if String::from_utf8_lossy(&cmdline).contains(&*self.dir.path().to_string_lossy()) {
                let _ = Command::new("kill").args(["-KILL", &pid.to_string()]).status();
            }
        }
    }
}

/// buildah with storage of its own (vfs: works as root anywhere, no overlay mounts), no
/// system-wide registries configuration, and the given signature policy.
struct Buildah {
    root: PathBuf,
    policy: PathBuf,
}

impl Buildah {
    fn new(root: PathBuf, policy: &Path) -> Buildah {
        std::fs::create_dir_all(&root).unwrap();
        std::fs::write(root.join("registries.conf"), "").unwrap();
        Buildah { root, policy: policy.to_path_buf() }
    }

    /// `buildah <global storage flags> <subcommand> [--signature-policy <file>]`.
    fn cmd(&self, subcommand: &str) -> Command {
        let mut cmd = Command::new("buildah");
        cmd.arg("--root")
            .arg(self.root.join("root"))
            .arg("--runroot")
            .arg(self.root.join("runroot"))
            .args(["--storage-driver", "vfs"])
            .env("CONTAINERS_REGISTRIES_CONF", self.root.join("registries.conf"))
            .arg(subcommand);
        if matches!(subcommand, "from" | "pull" | "push") {
            cmd.arg("--signature-policy").arg(&self.policy);
        }
        cmd
    }
}

/// A signature policy accepting anything (skopeo and buildah refuse to run without one, and
/// `/etc/containers/policy.json` may be missing).
fn write_policy(dir: &Path) -> PathBuf {
    let path = dir.join("policy.json");
    std::fs::write(&path, r#"{"default":[{"type":"insecureAcceptAnything"}]}"#).unwrap();
    path
}

// ---------------------------------------------------------------------------------------------
// Test content: Wasm modules, OCI image layouts
// ---------------------------------------------------------------------------------------------

/// A small valid core module exporting `_start`, with a custom section of `size` pseudo-random
/// bytes so that no two tests (or runs) push the same content.
fn test_module(label: &str, size: usize) -> Vec<u8> {
    let mut payload = Vec::with_capacity(size + 32);
    let mut block = unique_seed(label);
    while payload.len() < size {
        payload.extend_from_slice(&block);
        block = Sha256::digest(block).into();
    }
    payload.truncate(size);

    let mut module = b"\0asm\x01\0\0\0".to_vec();
    module.extend_from_slice(&[0x01, 0x04, 0x01, 0x60, 0x00, 0x00]); // type: () -> ()
    module.extend_from_slice(&[0x03, 0x02, 0x01, 0x00]); // func 0: type 0
    module.extend_from_slice(&[0x07, 0x0a, 0x01, 0x06]); // export section, 1 export, len 6
    module.extend_from_slice(b"_start");
    module.extend_from_slice(&[0x00, 0x00]); // func 0
    module.extend_from_slice(&[0x0a, 0x04, 0x01, 0x02, 0x00, 0x0b]); // code: empty body
    let name = b"wasmhub-test";
    let mut section = Vec::new();
    leb128(&mut section, name.len());
    section.extend_from_slice(name);
    section.extend_from_slice(&payload);
    module.push(0x00); // custom section
    leb128(&mut module, section.len());
    module.extend_from_slice(&section);
    module
}

fn leb128(out: &mut Vec<u8>, mut value: usize) {
    loop {
        let byte = (value & 0x7f) as u8;
        value >>= 7;
        if value == 0 {
            out.push(byte);
            return;
        }
        out.push(byte | 0x80);
    }
}

struct Layout {
    manifest: Vec<u8>,
    manifest_digest: String,
}

/// Writes an OCI image layout holding one CNCF Wasm artifact (config
/// `application/vnd.wasm.config.v0+json`, one `application/wasm` layer) tagged `tag`.
fn write_wasm_oci_layout(dir: &Path, tag: &str, module: &[u8]) -> Layout {
    std::fs::create_dir_all(dir.join("blobs/sha256")).unwrap();
    std::fs::write(dir.join("oci-layout"), r#"{"imageLayoutVersion":"1.0.0"}"#).unwrap();
    let put_blob = |bytes: &[u8]| -> String {
        let digest = sha256_digest(bytes);
        std::fs::write(blob_path(dir, &digest), bytes).unwrap();
        digest
    };

    let layer_digest = put_blob(module);
    let config = serde_json::to_vec(&serde_json::json!({
        "created": "2024-01-01T00:00:00Z",
        "author": "wasmhub tests",
        "architecture": "wasm",
        "os": "wasip1",
        "layerDigests": [layer_digest],
        "component": null,
    }))
    .unwrap();
    let config_digest = put_blob(&config);
    let manifest = serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "artifactType": "application/vnd.wasm.config.v0+json",
        "config": {
            "mediaType": "application/vnd.wasm.config.v0+json",
            "digest": config_digest,
            "size": config.len(),
        },
        "layers": [{
            "mediaType": "application/wasm",
            "digest": layer_digest,
            "size": module.len(),
            "annotations": {"org.opencontainers.image.title": "plugin.wasm"},
        }],
        "annotations": {
            "org.opencontainers.image.version": "1.0.0",
            "org.opencontainers.image.description": "wasmhub skopeo round trip",
        },
    }))
    .unwrap();
    let manifest_digest = put_blob(&manifest);
    let index = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": [{
            "mediaType": OCI_MANIFEST,
            "digest": manifest_digest,
            "size": manifest.len(),
            "annotations": {"org.opencontainers.image.ref.name": tag},
        }],
    });
    std::fs::write(dir.join("index.json"), serde_json::to_vec(&index).unwrap()).unwrap();
    Layout { manifest, manifest_digest }
}

fn blob_path(layout: &Path, digest: &str) -> PathBuf {
    let (algorithm, hex) = digest.split_once(':').unwrap_or_else(|| panic!("not a digest: {digest}"));
    layout.join("blobs").join(algorithm).join(hex)
}

// ---------------------------------------------------------------------------------------------
// Small helpers: digests, files, names, a bare HTTP GET
// ---------------------------------------------------------------------------------------------

fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes).iter().map(|b| format!("{b:02x}")).collect()
}

fn sha256_digest(bytes: &[u8]) -> String {
    format!("sha256:{}", sha256_hex(bytes))
}

fn assert_same_bytes(expected: &[u8], path: &Path, what: &str) {
    let got = std::fs::read(path).unwrap_or_else(|e| panic!("{what}: cannot read {path:?}: {e}"));
    assert_eq!(
        sha256_hex(&got),
        sha256_hex(expected),
        "{what}: sha256 of {path:?} ({} bytes) differs from what was pushed ({} bytes)",
        got.len(),
        expected.len()
    );
}

fn read_json(path: &Path) -> serde_json::Value {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("cannot read {path:?}: {e}"));
    serde_json::from_slice(&bytes).unwrap_or_else(|e| panic!("{path:?} is not JSON: {e}"))
}

/// `ns/<prefix>-<random hex>`: one repository per test and per run.
fn unique_repo(prefix: &str) -> String {
    let hex = sha256_hex(&unique_seed(prefix));
    format!("ns/{prefix}-{}", &hex[..10])
}

/// 32 bytes that differ between calls, tests, processes and runs (no `rand` needed).
fn unique_seed(label: &str) -> [u8; 32] {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let seed = format!(
        "{label}/{}/{}/{}",
        std::process::id(),
        SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_nanos(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    );
    Sha256::digest(seed.as_bytes()).into()
}

struct StoredManifest {
    media_type: String,
    digest: String,
    body: Vec<u8>,
}

/// What the registry serves for `GET /v2/<repo>/manifests/<reference>`, read with a bare
/// HTTP/1.1 request, so the check does not depend on any client's idea of the manifest.
fn get_manifest(host: &str, repo: &str, reference: &str) -> StoredManifest {
    let path = format!("/v2/{repo}/manifests/{reference}");
    let (status, headers, body) = http_get(host, &path, ACCEPT_MANIFESTS);
    assert_eq!(status, 200, "GET {path}: {}", String::from_utf8_lossy(&body));
    let digest =
        headers.get("docker-content-digest").cloned().unwrap_or_else(|| panic!("GET {path}: no Docker-Content-Digest"));
    assert_eq!(digest, sha256_digest(&body), "GET {path}: digest header != body");
    let media_type = headers.get("content-type").cloned().unwrap_or_else(|| panic!("GET {path}: no Content-Type"));
    StoredManifest { media_type, digest, body }
}

fn http_get(host: &str, path: &str, accept: &str) -> (u16, HashMap<String, String>, Vec<u8>) {
    let mut stream = TcpStream::connect(host).unwrap_or_else(|e| panic!("connect {host}: {e}"));
    stream.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    write!(stream, "GET {path} HTTP/1.1\r\nHost: {host}\r\nAccept: {accept}\r\nConnection: close\r\n\r\n").unwrap();
    let mut response = Vec::new();
    stream.read_to_end(&mut response).unwrap();
    let split =
        response.windows(4).position(|w| w == b"\r\n\r\n").unwrap_or_else(|| panic!("GET {path}: no end of headers"));
    let head = String::from_utf8_lossy(&response[..split]).into_owned();
    let mut body = response[split + 4..].to_vec();
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("GET {path}: bad status line in {head:?}"));
    let headers: HashMap<String, String> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    if headers.get("transfer-encoding").is_some_and(|te| te.eq_ignore_ascii_case("chunked")) {
        body = dechunk(&body);
    }
    (status, headers, body)
}

fn dechunk(mut data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let line_end = data.windows(2).position(|w| w == b"\r\n").expect("chunk size line");
        let size_field = String::from_utf8_lossy(&data[..line_end]);
        let size_hex = size_field.split(';').next().unwrap().trim();
        let size = usize::from_str_radix(size_hex, 16).expect("chunk size");
        data = &data[line_end + 2..];
        if size == 0 {
            return out;
        }
        out.extend_from_slice(&data[..size]);
        data = &data[size + 2..];
    }
}
