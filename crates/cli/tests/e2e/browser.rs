//! The web catalog in a real browser. The real `wasmhub serve` binary (access control on) is
//! filled by a real client (the oras Python SDK, logged in as the administrator); then
//! `web/tests/catalog.mjs` drives Debian's chromium through playwright-core: two clicks from
//! the home page to the filter for an ABI, the module page, filtering its exports, copying a
//! snippet, search as you type, keyboard access, sign-in, and a token created on `/settings`.
//! Last, oras pushes with that token, and the registry shows what it pushed.
//!
//! Needs `node`, `/usr/bin/chromium`, `web/tests/node_modules` (`npm ci` there) and the oras
//! package; `.ci/run` installs all four. As with the other client tests, a missing one fails the
//! test unless `WASMHUB_SKIP_CLIENT_TESTS=1`, so CI can never pass without having run it.
//!
//! `browser::screenshots` (ignored; run it with `--ignored`) fills a server the same way and
//! writes `docs/screenshots/*.png` with `web/tests/screenshots.mjs`.

use crate::common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use common::wasm::{proxy_filter, solo_config, wasi_command};
use common::WasmhubProcess;

const PASSWORD: &str = "browser-test-password";

fn web_tests() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../web/tests")
}

/// Whether everything the browser tests need is here; panics when not, unless skipping is asked for.
fn available(test: &str) -> bool {
    let node = Command::new("node").arg("--version").stdout(Stdio::null()).stderr(Stdio::null()).status();
    let oras = Command::new("python3").args(["-c", "import oras.client"]).stderr(Stdio::null()).status();
    let missing: Vec<&str> = [
        ("node", node.is_ok_and(|s| s.success())),
        ("/usr/bin/chromium (apt-get install chromium)", Path::new("/usr/bin/chromium").exists()),
        (
            "web/tests/node_modules/playwright-core (npm ci in web/tests)",
            web_tests().join("node_modules/playwright-core").is_dir(),
        ),
        ("the oras Python package", oras.is_ok_and(|s| s.success())),
    ]
    .into_iter()
    .filter(|(_, present)| !present)
    .map(|(name, _)| name)
    .collect();
    if missing.is_empty() {
        return true;
    }
    if std::env::var("WASMHUB_SKIP_CLIENT_TESTS").as_deref() == Ok("1") {
        eprintln!("skipped: {test} (WASMHUB_SKIP_CLIENT_TESTS=1): missing {}", missing.join(", "));
        return false;
    }
    panic!("{test} needs {} (run the install steps of `.ci/run`)", missing.join(", "));
}

fn run(cmd: &mut Command) -> Output {
    let output = cmd.stdin(Stdio::null()).output().unwrap_or_else(|e| panic!("cannot start {cmd:?}: {e}"));
    eprintln!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
    output
}

/// Pushes with the oras Python SDK, logged in as `user` with `secret` (a password or a token):
/// `team/add-header:v1` (a solo.io proxy-wasm filter) and `apps/hello:1.0.0` (a CNCF WASI
/// command), or, with `only`, one filter to that repository.
fn oras_push(host: &str, user: &str, secret: &str, only: Option<&str>) -> Output {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("filter.wasm"), proxy_filter()).unwrap();
    std::fs::write(dir.path().join("solo.json"), solo_config("v0.2.1")).unwrap();
    std::fs::write(dir.path().join("hello.wasm"), wasi_command()).unwrap();
    let hello_digest = common::sha256(&wasi_command());
    let cncf = serde_json::json!({"architecture": "wasm", "os": "wasip1", "layerDigests": [hello_digest]});
    std::fs::write(dir.path().join("cncf.json"), serde_json::to_vec(&cncf).unwrap()).unwrap();
    let script = r#"
import os, sys, oras.client
host, user, secret, work, only = sys.argv[1:6]
os.chdir(work)
client = oras.client.OrasClient(hostname=host, insecure=True)
# Credentials go to a file of this run, not ~/.docker/config.json, which other tests write too.
client.login(username=user, password=secret, hostname=host, config_path=os.path.join(work, "docker-config.json"))
def push(target, module, layer_type, config, config_type, annotations):
    response = client.push(target=f"{host}/{target}", files=[f"{module}:{layer_type}"],
                           manifest_config=f"{config}:{config_type}", manifest_annotations=annotations,
                           disable_path_validation=True)
    assert response.status_code == 201, response.text
    print("pushed", target)
solo = ("application/vnd.module.wasm.content.layer.v1+wasm", "solo.json", "application/vnd.module.wasm.config.v1+json")
filter_annotations = {"module.wasm.runtime/type": "envoy_proxy", "module.wasm.runtime/abi_version": "v0.2.1",
                      "org.opencontainers.image.description": "Adds a header to every request",
                      "org.opencontainers.image.licenses": "Apache-2.0"}
if only != "-":
    push(only, "filter.wasm", *solo, filter_annotations)
    sys.exit(0)
push("team/add-header:v1", "filter.wasm", *solo, filter_annotations)
push("apps/hello:1.0.0", "hello.wasm", "application/wasm", "cncf.json", "application/vnd.wasm.config.v0+json",
     {"org.opencontainers.image.description": "A WASI command that says hello",
      "org.opencontainers.image.version": "1.0.0"})
"#;
    run(Command::new("python3").args(["-c", script, host, user, secret]).arg(dir.path()).arg(only.unwrap_or("-")))
}

#[tokio::test(flavor = "multi_thread")]
async fn a_visitor_finds_copies_signs_in_and_pushes_with_a_new_token_in_chromium() {
    if !available("browser test") {
        return;
    }
    let server = WasmhubProcess::start_with_admin(PASSWORD);
    let host = server.host();
    assert!(oras_push(&host, "admin", PASSWORD, None).status.success(), "oras pushes the modules");

    let token_file = tempfile::NamedTempFile::new().unwrap();
    let catalog = run(Command::new("node")
        .arg(web_tests().join("catalog.mjs"))
        .arg(format!("http://{host}"))
        .args(["admin", PASSWORD])
        .arg(token_file.path())
        .current_dir(web_tests()));
    assert!(catalog.status.success(), "catalog.mjs failed (its output is above)");
    let token = std::fs::read_to_string(token_file.path()).unwrap();
    assert!(token.starts_with("whub_"), "{token}");

    // The token from the browser works with oras; one character more and it is refused.
    assert!(oras_push(&host, "admin", token.trim(), Some("admin/pushed-with-token:v1")).status.success());
    let forged = format!("{}x", token.trim());
    let refused = reqwest::Client::new()
        .get(format!("http://{host}/v2/admin/pushed-with-token/tags/list"))
        .basic_auth("admin", Some(forged))
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 401);
    let search: serde_json::Value =
        reqwest::get(format!("http://{host}/api/v1/search?namespace=admin")).await.unwrap().json().await.unwrap();
    let names: Vec<&str> =
        search["items"].as_array().unwrap().iter().map(|i| i["repository"].as_str().unwrap()).collect();
    assert_eq!(names, ["admin/pushed-with-token"], "{search}");
}

/// Regenerates `docs/screenshots/` from a server filled as above (not part of the suite:
/// `cargo test -p wasmhub --test e2e browser::screenshots -- --ignored`).
#[tokio::test(flavor = "multi_thread")]
#[ignore = "writes docs/screenshots; run by hand when the pages change"]
async fn screenshots() {
    assert!(available("screenshots"));
    let server = WasmhubProcess::start_with_admin(PASSWORD);
    let host = server.host();
    assert!(oras_push(&host, "admin", PASSWORD, None).status.success());
    attach_readme(&host, "team/add-header", SCREENSHOT_README).await;
    let out = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/screenshots");
    let shots = run(Command::new("node")
        .arg(web_tests().join("screenshots.mjs"))
        .arg(format!("http://{host}"))
        .args(["admin", PASSWORD])
        .arg(&out)
        .current_dir(web_tests()));
    assert!(shots.status.success(), "screenshots.mjs failed (its output is above)");
}

const SCREENSHOT_README: &str = "# add-header\n\nAdds `x-hello: world` to every request and response.\n\n\
## Configuration\n\n- `header`: the name to set (default `x-hello`)\n- `value`: its value\n\n\
```json\n{\"header\": \"x-hello\", \"value\": \"world\"}\n```\n";

/// Attaches `text` to `repo:v1` as a README (an OCI 1.1 referrer of type `text/markdown`), as
/// `oras attach --artifact-type text/markdown` does.
async fn attach_readme(host: &str, repo: &str, text: &str) {
    let client = reqwest::Client::new();
    let url = |path: String| format!("http://{host}/v2/{repo}/{path}");
    let subject = client
        .get(url("manifests/v1".into()))
        .basic_auth("admin", Some(PASSWORD))
        .header("accept", common::OCI_MANIFEST)
        .send()
        .await
        .unwrap();
    let subject = subject.bytes().await.unwrap();
    for blob in [b"{}".as_slice(), text.as_bytes()] {
        let response = client
            .post(url(format!("blobs/uploads/?digest={}", common::sha256(blob))))
            .basic_auth("admin", Some(PASSWORD))
            .body(blob.to_vec())
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 201);
    }
    let manifest = serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2, "mediaType": common::OCI_MANIFEST, "artifactType": "text/markdown",
        "config": common::descriptor(common::OCI_EMPTY, b"{}"),
        "layers": [common::descriptor("text/markdown", text.as_bytes())],
        "subject": common::descriptor(common::OCI_MANIFEST, &subject),
    }))
    .unwrap();
    let response = client
        .put(url(format!("manifests/{}", common::sha256(&manifest))))
        .basic_auth("admin", Some(PASSWORD))
        .header("content-type", common::OCI_MANIFEST)
        .body(manifest)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
}
