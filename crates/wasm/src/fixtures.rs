//! Test fixtures shared by the unit tests: real modules built from WAT, hand-built custom
//! sections, compat layers built with `tar` + `flate2`, and manifests as the tools write them.

pub mod artifacts;

use std::collections::HashMap;
use std::io::Write;

use serde_json::{json, Map, Value};
use wasmhub_oci::{Digest, Manifest};

/// A proxy-wasm HTTP filter as the Rust and Go SDKs produce it (trimmed to its interface).
pub const PROXY_FILTER_WAT: &str = r#"
(module
  (import "env" "proxy_log" (func $log (param i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_write" (func (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (func (export "proxy_abi_version_0_2_1"))
  (func (export "proxy_on_context_create") (param i32 i32))
  (func (export "proxy_on_request_headers") (param i32 i32 i32) (result i32)
    (drop (call $log (i32.const 2) (i32.const 0) (i32.const 0)))
    (i32.const 0))
  (func (export "malloc") (param i32) (result i32) (i32.const 0))
)
"#;

/// A WASI preview 1 command.
pub const WASI_COMMAND_WAT: &str = r#"
(module
  (import "wasi_snapshot_preview1" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (func (export "_start")
    (drop (call $fd_write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8))))
)
"#;

/// A WASI 0.2 component: imports `wasi:cli/stdout`, exports `wasi:cli/run`, with a core module
/// inside that carries a `component-type` section the way wit-bindgen leaves it.
pub const COMPONENT_WAT: &str = r#"
(component
  (type $stdout-ty (instance (export "get-stdout" (func (result u32)))))
  (import "wasi:cli/stdout@0.2.0" (instance $stdout (type $stdout-ty)))
  (core module $m
    (func (export "run") (result i32) (i32.const 0))
    (@custom "component-type:wit-bindgen:0.41.0:wasi:cli@0.2.0:command:encoded world" "")
  )
  (core instance $i (instantiate $m))
  (type $run-ty (func (result (result))))
  (func $run (type $run-ty) (canon lift (core func $i "run")))
  (instance $run-instance (export "run" (func $run)))
  (export "wasi:cli/run@0.2.0" (instance $run-instance))
)
"#;

pub fn wat(text: &str) -> Vec<u8> {
    wat::parse_str(text).expect("fixture WAT is valid")
}

pub fn proxy_filter() -> Vec<u8> {
    wat(PROXY_FILTER_WAT)
}

pub fn wasi_command() -> Vec<u8> {
    wat(WASI_COMMAND_WAT)
}

pub fn component() -> Vec<u8> {
    wat(COMPONENT_WAT)
}

fn leb128(mut value: usize, out: &mut Vec<u8>) {
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

fn name(text: &str, out: &mut Vec<u8>) {
    leb128(text.len(), out);
    out.extend_from_slice(text.as_bytes());
}

/// Appends a custom section (id 0) to a module, byte by byte.
pub fn with_custom_section(mut module: Vec<u8>, section: &str, payload: &[u8]) -> Vec<u8> {
    let mut body = Vec::new();
    name(section, &mut body);
    body.extend_from_slice(payload);
    module.push(0);
    leb128(body.len(), &mut module);
    module.extend_from_slice(&body);
    module
}

/// The payload of a `producers` section: `[(field, [(name, version)])]`.
pub fn producers_payload(fields: &[(&str, &[(&str, &str)])]) -> Vec<u8> {
    let mut out = Vec::new();
    leb128(fields.len(), &mut out);
    for (field, values) in fields {
        name(field, &mut out);
        leb128(values.len(), &mut out);
        for (value, version) in *values {
            name(value, &mut out);
            name(version, &mut out);
        }
    }
    out
}

/// A tar.gz layer as `docker build` / `buildah copy` produce, with the given regular files.
pub fn tar_gz(files: &[(&str, &[u8])]) -> Vec<u8> {
    gzip(&tar(files))
}

pub fn tar(files: &[(&str, &[u8])]) -> Vec<u8> {
    let mut builder = tar::Builder::new(Vec::new());
    for (path, data) in files {
        let mut header = tar::Header::new_gnu();
        header.set_size(data.len() as u64);
        header.set_mode(0o644);
        header.set_entry_type(tar::EntryType::Regular);
        if path.starts_with('/') {
            // `set_path` refuses absolute paths, but hand-made layers have them.
            header.as_old_mut().name[..path.len()].copy_from_slice(path.as_bytes());
            header.set_cksum();
            builder.append(&header, *data).expect("tar entry");
        } else {
            builder.append_data(&mut header, path, *data).expect("tar entry");
        }
    }
    builder.into_inner().expect("tar")
}

pub fn gzip(data: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    encoder.write_all(data).expect("gzip");
    encoder.finish().expect("gzip")
}

/// An OCI artifact under construction: config and layers as bytes, digests and sizes computed,
/// so a test states only what the pushing tool would have written.
#[derive(Clone)]
pub struct Artifact {
    media_type: Option<String>,
    config: (String, Vec<u8>),
    layers: Vec<(String, Vec<u8>, Option<Value>)>,
    annotations: Map<String, Value>,
}

impl Artifact {
    pub fn new(config_type: &str, config: &[u8]) -> Artifact {
        Artifact {
            media_type: Some(wasmhub_oci::media_type::OCI_MANIFEST.into()),
            config: (config_type.into(), config.to_vec()),
            layers: Vec::new(),
            annotations: Map::new(),
        }
    }

    /// Drops or replaces the manifest's own `mediaType` (`wasme` writes none).
    pub fn media_type(mut self, media_type: Option<&str>) -> Artifact {
        self.media_type = media_type.map(str::to_owned);
        self
    }

    pub fn layer(mut self, media_type: &str, bytes: &[u8]) -> Artifact {
        self.layers.push((media_type.into(), bytes.to_vec(), None));
        self
    }

    pub fn titled_layer(mut self, media_type: &str, bytes: &[u8], title: &str) -> Artifact {
        let annotations = json!({ "org.opencontainers.image.title": title });
        self.layers.push((media_type.into(), bytes.to_vec(), Some(annotations)));
        self
    }

    pub fn annotation(mut self, key: &str, value: &str) -> Artifact {
        self.annotations.insert(key.into(), value.into());
        self
    }

    fn descriptor(media_type: &str, bytes: &[u8], annotations: &Option<Value>) -> Value {
        let mut descriptor = json!({
            "mediaType": media_type,
            "digest": Digest::sha256_of(bytes).to_string(),
            "size": bytes.len(),
        });
        if let Some(annotations) = annotations {
            descriptor["annotations"] = annotations.clone();
        }
        descriptor
    }

    pub fn json(&self) -> String {
        let mut manifest = json!({
            "schemaVersion": 2,
            "config": Artifact::descriptor(&self.config.0, &self.config.1, &None),
            "layers": self.layers.iter().map(|(m, b, a)| Artifact::descriptor(m, b, a)).collect::<Vec<_>>(),
        });
        if let Some(media_type) = &self.media_type {
            manifest["mediaType"] = media_type.clone().into();
        }
        if !self.annotations.is_empty() {
            manifest["annotations"] = Value::Object(self.annotations.clone());
        }
        manifest.to_string()
    }

    pub fn manifest(&self) -> Manifest {
        Manifest::parse(self.json().as_bytes(), None).expect("fixture manifest is valid")
    }

    /// The registry's blob store for this artifact.
    pub fn blobs(&self) -> HashMap<Digest, Vec<u8>> {
        std::iter::once(&self.config.1)
            .chain(self.layers.iter().map(|(_, bytes, _)| bytes))
            .map(|bytes| (Digest::sha256_of(bytes), bytes.clone()))
            .collect()
    }
}
