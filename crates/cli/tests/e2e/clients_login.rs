//! Real clients sign in: skopeo, buildah and the oras Python SDK log in to a wasmhub with
//! access control on (the default), push and pull with their stored credentials, and are
//! refused without them. Runs against the real `wasmhub` binary.

use crate::common;

use std::path::Path;
use std::process::{Command, Output};

use common::{sha256, WasmhubProcess};

const PASSWORD: &str = "login-test-password";

fn require(binary: &str) -> bool {
    let found = std::env::var_os("PATH")
        .map(|paths| std::env::split_paths(&paths).any(|dir| dir.join(binary).is_file()))
        .unwrap_or(false);
    if !found && std::env::var("WASMHUB_SKIP_CLIENT_TESTS").as_deref() == Ok("1") {
        eprintln!("skipped: {binary} is not installed (WASMHUB_SKIP_CLIENT_TESTS=1)");
        return false;
    }
    assert!(found, "`{binary}` is not on PATH; `.ci/run` installs it");
    true
}

fn run(command: &mut Command) -> Output {
    let output = command.output().expect("client runs");
    eprintln!("$ {command:?}\n{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
    output
}

/// A small valid Wasm module, different for every call.
fn module(tag: &str) -> Vec<u8> {
    let mut bytes = b"\0asm\x01\0\0\0".to_vec();
    let payload = format!("{tag}-{:?}", std::time::SystemTime::now());
    let name = b"test";
    bytes.push(0); // custom section
    bytes.push((1 + name.len() + payload.len()) as u8);
    bytes.push(name.len() as u8);
    bytes.extend_from_slice(name);
    bytes.extend_from_slice(payload.as_bytes());
    bytes
}

fn write_policy(dir: &Path) -> std::path::PathBuf {
    let policy = dir.join("policy.json");
    std::fs::write(&policy, r#"{"default":[{"type":"insecureAcceptAnything"}]}"#).unwrap();
    policy
}

#[test]
fn skopeo_logs_in_then_copies_in_and_out() {
    if !require("skopeo") {
        return;
    }
    let server = WasmhubProcess::start_with_admin(PASSWORD);
    let host = server.host();
    let dir = tempfile::tempdir().unwrap();
    let policy = write_policy(dir.path());
    let auth = dir.path().join("auth.json");
    let layout = dir.path().join("layout");
    // An OCI layout with one Wasm layer, written by hand.
    let wasm = module("skopeo");
    let config = b"{}".to_vec();
    std::fs::create_dir_all(layout.join("blobs/sha256")).unwrap();
    for blob in [&wasm, &config] {
        std::fs::write(layout.join("blobs/sha256").join(&sha256(blob)[7..]), blob).unwrap();
    }
    let manifest = common::oci_manifest_for(&config, &wasm);
    std::fs::write(layout.join("blobs/sha256").join(&sha256(&manifest)[7..]), &manifest).unwrap();
    std::fs::write(layout.join("oci-layout"), r#"{"imageLayoutVersion":"1.0.0"}"#).unwrap();
    let index = serde_json::json!({"schemaVersion": 2, "manifests": [{
        "mediaType": common::OCI_MANIFEST, "digest": sha256(&manifest), "size": manifest.len(),
        "annotations": {"org.opencontainers.image.ref.name": "v1"}}]});
    std::fs::write(layout.join("index.json"), serde_json::to_vec(&index).unwrap()).unwrap();

    let skopeo = |args: &[&str]| {
        let mut command = Command::new("skopeo");
        command.args(args).env("REGISTRY_AUTH_FILE", &auth).stdin(std::process::Stdio::null());
        run(&mut command)
    };
    let source = format!("oci:{}:v1", layout.display());
    let target = format!("docker://{host}/admin/login-test:v1");
    let policy = policy.to_str().unwrap();
    let anonymous = skopeo(&["copy", "--policy", policy, "--dest-tls-verify=false", &source, &target]);
    assert!(!anonymous.status.success(), "an anonymous push is refused");
    let wrong = skopeo(&["login", "--tls-verify=false", "-u", "admin", "-p", "wrong-password", &host]);
    assert!(!wrong.status.success(), "a wrong password is refused at login");
    let login = skopeo(&["login", "--tls-verify=false", "-u", "admin", "-p", PASSWORD, &host]);
    assert!(login.status.success(), "skopeo login succeeds");
    let push = skopeo(&["copy", "--policy", policy, "--dest-tls-verify=false", &source, &target]);
    assert!(push.status.success(), "skopeo pushes after login");
    let back = format!("oci:{}:v1", dir.path().join("back").display());
    let pull = skopeo(&["copy", "--policy", policy, "--src-tls-verify=false", &target, &back]);
    assert!(pull.status.success(), "skopeo pulls after login");
    let pulled = std::fs::read(dir.path().join("back/blobs/sha256").join(&sha256(&wasm)[7..])).unwrap();
    assert_eq!(sha256(&pulled), sha256(&wasm));
}

#[test]
fn buildah_logs_in_then_pushes_and_pulls() {
    if !require("buildah") {
        return;
    }
    let server = WasmhubProcess::start_with_admin(PASSWORD);
    let host = server.host();
    let dir = tempfile::tempdir().unwrap();
    let policy = write_policy(dir.path());
    let auth = dir.path().join("auth.json");
    std::fs::write(&auth, "{}").unwrap();
    let root = dir.path().join("root");
    let runroot = dir.path().join("runroot");
    let buildah = |args: &[&str]| {
        let mut command = Command::new("buildah");
        command
            .arg("--root")
            .arg(&root)
            .arg("--runroot")
            .arg(&runroot)
            .args(["--storage-driver", "vfs"])
            .args(args)
            .env("REGISTRY_AUTH_FILE", &auth)
            .stdin(std::process::Stdio::null());
        run(&mut command)
    };
    let wasm = module("buildah");
    std::fs::write(dir.path().join("plugin.wasm"), &wasm).unwrap();
    let container = String::from_utf8(buildah(&["from", "--quiet", "scratch"]).stdout).unwrap().trim().to_owned();
    assert!(buildah(&["copy", &container, dir.path().join("plugin.wasm").to_str().unwrap(), "/plugin.wasm"])
        .status
        .success());
    assert!(buildah(&["commit", "--quiet", &container, "localhost/login-test:v1"]).status.success());
    let target = format!("docker://{host}/admin/buildah-login:v1");
    let policy = policy.to_str().unwrap();
    let push = |buildah_args: &[&str]| {
        let mut args = vec!["push", "--quiet", "--tls-verify=false", "--retry", "0", "--signature-policy", policy];
        args.extend_from_slice(buildah_args);
        args.extend_from_slice(&["localhost/login-test:v1", target.as_str()]);
        buildah(&args)
    };
    assert!(!push(&[]).status.success(), "an anonymous push is refused");
    assert!(buildah(&["login", "--tls-verify=false", "-u", "admin", "-p", PASSWORD, &host]).status.success());
    assert!(push(&["--format", "v2s2"]).status.success(), "buildah pushes after login");
    let image = format!("{host}/admin/buildah-login:v1");
    assert!(buildah(&["rmi", "--all", "--force"]).status.success());
    let pull =
        buildah(&["pull", "--quiet", "--tls-verify=false", "--retry", "0", "--signature-policy", policy, &image]);
    assert!(pull.status.success(), "buildah pulls after login");
}

/// Whether Python's `oras` module (the ORAS Python SDK, which `.ci/run` installs) imports;
/// skipped like a missing client with `WASMHUB_SKIP_CLIENT_TESTS=1`.
fn require_python_oras() -> bool {
    if !require("python3") {
        return false;
    }
    let found = Command::new("python3").args(["-c", "import oras.client"]).output().is_ok_and(|o| o.status.success());
    if !found && std::env::var("WASMHUB_SKIP_CLIENT_TESTS").as_deref() == Ok("1") {
        eprintln!("skipped: the Python module oras is not installed (WASMHUB_SKIP_CLIENT_TESTS=1)");
        return false;
    }
    assert!(found, "the Python module `oras` does not import; `.ci/run` installs it");
    true
}

#[test]
fn oras_logs_in_then_pushes_and_pulls() {
    if !require_python_oras() {
        return;
    }
    let server = WasmhubProcess::start_with_admin(PASSWORD);
    let host = server.host();
    let dir = tempfile::tempdir().unwrap();
    let wasm = module("oras");
    std::fs::write(dir.path().join("plugin.wasm"), &wasm).unwrap();
    std::fs::write(dir.path().join("config.json"), br#"{"type":"envoy_proxy"}"#).unwrap();
    let script = r#"
import os, sys, oras.client
host, password, work = sys.argv[1], sys.argv[2], sys.argv[3]
os.chdir(work)
target = f"{host}/admin/oras-login:v1"
files = ["plugin.wasm:application/vnd.module.wasm.content.layer.v1+wasm"]
config = "config.json:application/vnd.module.wasm.config.v1+json"
anonymous = oras.client.OrasClient(hostname=host, insecure=True)
try:
    anonymous.push(target=target, files=files, manifest_config=config, disable_path_validation=True)
    sys.exit("anonymous push was accepted")
except Exception as error:
    print("anonymous push refused:", error)
client = oras.client.OrasClient(hostname=host, insecure=True)
client.login(username="admin", password=password, hostname=host)
client.push(target=target, files=files, manifest_config=config, disable_path_validation=True)
paths = client.pull(target=target, outdir=os.path.join(work, "out"))
print("PULLED", [p for p in paths if p.endswith("plugin.wasm")][0])
"#;
    let output = run(Command::new("python3").args(["-c", script, &host, PASSWORD, dir.path().to_str().unwrap()]));
    assert!(output.status.success(), "the oras script succeeds");
    let pulled = std::fs::read(dir.path().join("out/plugin.wasm")).unwrap();
    assert_eq!(sha256(&pulled), sha256(&wasm));
}
