//! The issue's "done means", with real clients against the real `wasmhub serve` binary: the
//! same proxy-wasm filter pushed by oras (solo.io format) and by buildah (an Istio compat image
//! with `plugin.wasm`) is found by runtime type, ABI and export the moment each push returns;
//! a CNCF Wasm artifact copied by skopeo from an OCI layout is found as a WASI command.
//!
//! A missing client fails its test unless `WASMHUB_SKIP_CLIENT_TESTS=1` (as in `clients.rs`).

use crate::common;

use std::path::Path;
use std::process::{Command, Stdio};

use common::wasm::{proxy_filter, solo_config, wasi_command};
use common::{sha256, WasmhubProcess};
use serde_json::{json, Value};

fn available(test: &str, check: &mut Command) -> bool {
    let ok = check.stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::null()).status().is_ok_and(|s| s.success());
    if ok {
        return true;
    }
    if std::env::var("WASMHUB_SKIP_CLIENT_TESTS").as_deref() == Ok("1") {
        eprintln!("skipped: {test} (WASMHUB_SKIP_CLIENT_TESTS=1): client not installed");
        return false;
    }
    panic!("{test} needs a client that is not installed (run the install step of `.ci/run`): {check:?}");
}

fn run(cmd: &mut Command) -> String {
    let output = cmd.stdin(Stdio::null()).output().unwrap_or_else(|e| panic!("cannot start {cmd:?}: {e}"));
    assert!(
        output.status.success(),
        "{cmd:?} failed ({}):\n{}\n{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

async fn search(host: &str, query: &str) -> Value {
    let response = reqwest::get(format!("http://{host}/api/v1/search?{query}")).await.unwrap();
    assert_eq!(response.status(), 200, "search {query}");
    response.json().await.unwrap()
}

/// `(repository, format)` of every item.
fn found(result: &Value) -> Vec<(String, String)> {
    let mut items: Vec<(String, String)> = result["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| (i["repository"].as_str().unwrap().to_owned(), i["format"].as_str().unwrap().to_owned()))
        .collect();
    items.sort();
    items
}

fn write_policy(dir: &Path) -> std::path::PathBuf {
    let path = dir.join("policy.json");
    std::fs::write(&path, r#"{"default":[{"type":"insecureAcceptAnything"}]}"#).unwrap();
    std::fs::write(dir.join("registries.conf"), "").unwrap();
    path
}

fn buildah(dir: &Path, subcommand: &str) -> Command {
    let mut cmd = Command::new("buildah");
    cmd.arg("--root").arg(dir.join("root")).arg("--runroot").arg(dir.join("runroot"));
    cmd.args(["--storage-driver", "vfs"]).env("CONTAINERS_REGISTRIES_CONF", dir.join("registries.conf"));
    cmd.arg(subcommand);
    if matches!(subcommand, "from" | "push") {
        cmd.arg("--signature-policy").arg(dir.join("policy.json"));
    }
    cmd
}

const ORAS_PUSH: &str = r#"
import sys, oras.client
host, repo, module, config = sys.argv[1:5]
client = oras.client.OrasClient(hostname=host, insecure=True)
response = client.push(
    target=f"{host}/{repo}:v1",
    files=[f"{module}:application/vnd.module.wasm.content.layer.v1+wasm"],
    manifest_config=f"{config}:application/vnd.module.wasm.config.v1+json",
    manifest_annotations={"module.wasm.runtime/type": "envoy_proxy", "module.wasm.runtime/abi_version": "v0.2.1"},
    disable_path_validation=True,
)
assert response.status_code == 201, response.text
"#;

#[tokio::test(flavor = "multi_thread")]
async fn a_filter_pushed_by_oras_and_by_buildah_is_found_by_type_abi_and_export() {
    if !available("oras + buildah", Command::new("python3").args(["-c", "import oras.client"]))
        || !available("oras + buildah", Command::new("buildah").arg("--version"))
    {
        return;
    }
    let server = WasmhubProcess::start();
    let host = server.host();
    let dir = tempfile::tempdir().unwrap();
    let module = proxy_filter();
    let module_path = dir.path().join("plugin.wasm");
    std::fs::write(&module_path, &module).unwrap();
    let config_path = dir.path().join("config.json");
    std::fs::write(&config_path, solo_config("v0.2.1")).unwrap();

    run(Command::new("python3").args(["-c", ORAS_PUSH, &host, "oras/filter"]).arg(&module_path).arg(&config_path));
    let solo = vec![("oras/filter".to_owned(), "soloOci".to_owned())];
    assert_eq!(found(&search(&host, "type=envoy_proxy&abi=v0.2.1").await), solo);

    write_policy(dir.path());
    let container = run(buildah(dir.path(), "from").args(["--quiet", "scratch"]));
    let container = container.trim();
    run(buildah(dir.path(), "copy").arg(container).arg(&module_path).arg("/plugin.wasm"));
    run(buildah(dir.path(), "config").args(["--annotation", "module.wasm.image/variant=compat", container]));
    run(buildah(dir.path(), "commit").args(["--quiet", container, "localhost/compat-filter:v1"]));
    run(buildah(dir.path(), "push")
        .args(["--quiet", "--tls-verify=false", "--retry", "0", "--format", "oci", "localhost/compat-filter:v1"])
        .arg(format!("docker://{host}/istio/filter:v1")));

    // The compat image declares nothing: its ABI (and so its runtime) is read from the module.
    let both = vec![("istio/filter".to_owned(), "soloCompat".to_owned()), solo[0].clone()];
    for query in ["type=envoy_proxy&abi=0.2.1", "type=envoy_proxy&abi=v0.2.1", "export=proxy_on_request_headers"] {
        let result = search(&host, query).await;
        assert_eq!(found(&result), both, "{query}: {result}");
        assert_eq!(result["facets"]["runtimeType"]["envoy_proxy"], 2, "{query}: {result}");
    }
    for item in search(&host, "export=proxy_on_request_headers").await["items"].as_array().unwrap() {
        assert_eq!(item["moduleDigest"], sha256(&module).as_str(), "{item}");
        assert_eq!(item["abiVersions"], json!(["0.2.1"]), "{item}");
        assert_eq!(item["kind"], "module");
    }
    let downloaded =
        reqwest::get(format!("http://{host}/api/v1/repositories/istio/filter/tags/v1/module.wasm")).await.unwrap();
    assert_eq!(downloaded.bytes().await.unwrap().to_vec(), module);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_cncf_artifact_copied_by_skopeo_is_found_as_a_wasi_command() {
    if !available("skopeo", Command::new("skopeo").arg("--version")) {
        return;
    }
    let server = WasmhubProcess::start();
    let host = server.host();
    let dir = tempfile::tempdir().unwrap();
    let policy = write_policy(dir.path());
    let layout = dir.path().join("layout");
    std::fs::create_dir_all(layout.join("blobs/sha256")).unwrap();
    std::fs::write(layout.join("oci-layout"), r#"{"imageLayoutVersion":"1.0.0"}"#).unwrap();
    let put = |bytes: &[u8]| {
        let digest = sha256(bytes);
        std::fs::write(layout.join("blobs/sha256").join(&digest[7..]), bytes).unwrap();
        json!({"digest": digest, "size": bytes.len()})
    };
    let module = wasi_command();
    let layer = put(&module);
    let config =
        serde_json::to_vec(&json!({"architecture": "wasm", "os": "wasip1", "layerDigests": [layer["digest"]]}))
            .unwrap();
    let config = put(&config);
    let manifest = serde_json::to_vec(&json!({
        "schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.wasm.config.v0+json", "digest": config["digest"], "size": config["size"]},
        "layers": [{"mediaType": "application/wasm", "digest": layer["digest"], "size": layer["size"]}],
        "annotations": {"org.opencontainers.image.description": "says hello from skopeo"},
    }))
    .unwrap();
    let entry = put(&manifest);
    let index = json!({"schemaVersion": 2, "manifests": [{"mediaType": "application/vnd.oci.image.manifest.v1+json",
        "digest": entry["digest"], "size": entry["size"], "annotations": {"org.opencontainers.image.ref.name": "v1"}}]});
    std::fs::write(layout.join("index.json"), serde_json::to_vec(&index).unwrap()).unwrap();

    run(Command::new("skopeo")
        .env("CONTAINERS_REGISTRIES_CONF", dir.path().join("registries.conf"))
        .arg("copy")
        .arg("--policy")
        .arg(&policy)
        .args(["--quiet", "--preserve-digests", "--dest-tls-verify=false"])
        .arg(format!("oci:{}:v1", layout.display()))
        .arg(format!("docker://{host}/apps/hello:v1")));

    let result = search(&host, "import=wasi_snapshot_preview1&q=skopeo").await;
    assert_eq!(found(&result), vec![("apps/hello".to_owned(), "cncfWasm".to_owned())], "{result}");
    assert_eq!(result["items"][0]["wasi"], "preview1");
    assert_eq!(result["items"][0]["digest"], entry["digest"]);
}
