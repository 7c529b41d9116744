//! Wasm fixtures for the search tests: real modules built from WAT, compat layers, and pushes
//! in each packaging format over plain HTTP.

use std::io::Write;

use serde_json::{json, Value};

use super::{descriptor, sha256, TestServer, OCI_MANIFEST};

/// A proxy-wasm HTTP filter as the Rust and Go SDKs produce it (trimmed to its interface).
pub const PROXY_FILTER_WAT: &str = r#"
(module
  (import "env" "proxy_log" (func $log (param i32 i32 i32) (result i32)))
  (import "env" "proxy_get_header_map_value" (func (param i32 i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (func (export "proxy_abi_version_0_2_1"))
  (func (export "proxy_on_vm_start") (param i32 i32) (result i32) (i32.const 1))
  (func (export "proxy_on_context_create") (param i32 i32))
  (func (export "proxy_on_request_headers") (param i32 i32 i32) (result i32)
    (drop (call $log (i32.const 2) (i32.const 0) (i32.const 0)))
    (i32.const 0))
  (func (export "proxy_on_response_headers") (param i32 i32 i32) (result i32) (i32.const 0))
  (func (export "proxy_on_memory_allocate") (param i32) (result i32) (i32.const 0))
)
"#;

/// A WASI preview 1 command.
pub const WASI_COMMAND_WAT: &str = r#"
(module
  (import "wasi_snapshot_preview1" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "proc_exit" (func (param i32)))
  (memory (export "memory") 1)
  (func (export "_start")
    (drop (call $fd_write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8))))
)
"#;

/// A WASI 0.2 component with a WIT world: imports `wasi:cli/stdout`, exports `wasi:cli/run`.
pub const COMPONENT_WAT: &str = r#"
(component
  (type $stdout-ty (instance (export "get-stdout" (func (result u32)))))
  (import "wasi:cli/stdout@0.2.0" (instance $stdout (type $stdout-ty)))
  (core module $m
    (func (export "run") (result i32) (i32.const 0))
  )
  (core instance $i (instantiate $m))
  (type $run-ty (func (result (result))))
  (func $run (type $run-ty) (canon lift (core func $i "run")))
  (instance $run-instance (export "run" (func $run)))
  (export "wasi:cli/run@0.2.0" (instance $run-instance))
)
"#;

pub fn proxy_filter() -> Vec<u8> {
    wat::parse_str(PROXY_FILTER_WAT).expect("valid WAT")
}

pub fn wasi_command() -> Vec<u8> {
    wat::parse_str(WASI_COMMAND_WAT).expect("valid WAT")
}

pub fn component() -> Vec<u8> {
    wat::parse_str(COMPONENT_WAT).expect("valid WAT")
}

/// A gzip-compressed tar layer holding `files`, as `docker build` / `buildah` write them.
pub fn tar_gz(files: &[(&str, &[u8])]) -> Vec<u8> {
    let mut builder = tar::Builder::new(Vec::new());
    for (path, bytes) in files {
        let mut header = tar::Header::new_gnu();
        header.set_size(bytes.len() as u64);
        header.set_mode(0o644);
        header.set_cksum();
        builder.append_data(&mut header, path, *bytes).unwrap();
    }
    let tar = builder.into_inner().unwrap();
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(&tar).unwrap();
    gz.finish().unwrap()
}

/// The solo.io runtime config `wasme build` writes.
pub fn solo_config(abi: &str) -> Vec<u8> {
    serde_json::to_vec(&json!({"type": "envoy_proxy", "abiVersions": [abi], "config": {"rootIds": ["add_header"]}}))
        .unwrap()
}

impl TestServer {
    async fn push_artifact(
        &self,
        repo: &str,
        tag: &str,
        config: (&str, &[u8]),
        layers: &[(&str, &[u8])],
        annotations: Value,
    ) -> String {
        self.push_blob(repo, config.1).await;
        let mut descriptors = Vec::new();
        for (media_type, bytes) in layers {
            self.push_blob(repo, bytes).await;
            descriptors.push(descriptor(media_type, bytes));
        }
        let mut manifest = json!({
            "schemaVersion": 2, "mediaType": OCI_MANIFEST,
            "config": descriptor(config.0, config.1), "layers": descriptors,
        });
        if annotations.is_object() {
            manifest["annotations"] = annotations;
        }
        self.push_manifest(repo, tag, OCI_MANIFEST, &manifest).await.1
    }

    /// solo.io "oci" variant, as `wasme push` writes it (config also repeated as `layers[0]`).
    pub async fn push_solo(&self, repo: &str, tag: &str, module: &[u8], abi: &str) -> String {
        let config = solo_config(abi);
        let media = "application/vnd.module.wasm.config.v1+json";
        let layers = [(media, config.as_slice()), ("application/vnd.module.wasm.content.layer.v1+wasm", module)];
        let annotations = json!({"module.wasm.runtime/type": "envoy_proxy", "module.wasm.runtime/abi_version": abi,
            "org.opencontainers.image.description": "adds a header to every request"});
        self.push_artifact(repo, tag, (media, &config), &layers, annotations).await
    }

    /// CNCF TAG-Runtime Wasm artifact.
    pub async fn push_cncf(&self, repo: &str, tag: &str, module: &[u8], os: &str) -> String {
        let config = serde_json::to_vec(&json!({
            "created": "2024-05-01T12:00:00Z", "author": "tests", "architecture": "wasm", "os": os,
            "layerDigests": [sha256(module)], "component": null,
        }))
        .unwrap();
        let annotations = json!({"org.opencontainers.image.description": "a hello world command",
            "org.opencontainers.image.version": "1.0.0"});
        self.push_artifact(
            repo,
            tag,
            ("application/vnd.wasm.config.v0+json", &config),
            &[("application/wasm", module)],
            annotations,
        )
        .await
    }

    /// engineerd/wasm-to-oci.
    pub async fn push_wasm_to_oci(&self, repo: &str, tag: &str, module: &[u8]) -> String {
        let layers = [("application/vnd.wasm.content.layer.v1+wasm", module)];
        self.push_artifact(repo, tag, ("application/vnd.wasm.config.v1+json", b"{}"), &layers, Value::Null).await
    }

    /// Istio/solo.io "compat" image: an OCI image whose only layer holds `plugin.wasm`
    /// (no annotation, as `docker build` from a `FROM scratch` Dockerfile leaves it).
    pub async fn push_compat(&self, repo: &str, tag: &str, module: &[u8]) -> String {
        let layer = tar_gz(&[("plugin.wasm", module)]);
        let config = serde_json::to_vec(&json!({
            "architecture": "amd64", "os": "linux",
            "rootfs": {"type": "layers", "diff_ids": [sha256(b"unchecked")]}, "config": {},
        }))
        .unwrap();
        let layers = [("application/vnd.oci.image.layer.v1.tar+gzip", layer.as_slice())];
        self.push_artifact(repo, tag, ("application/vnd.oci.image.config.v1+json", &config), &layers, Value::Null).await
    }

    /// GET a JSON API path; asserts the status.
    pub async fn api(&self, path: &str, status: u16) -> Value {
        let response = self.get(path).await;
        let actual = response.status().as_u16();
        let text = response.text().await.unwrap();
        assert_eq!(actual, status, "GET {path}: {text}");
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("GET {path} is not JSON ({e}): {text}"))
    }
}
