//! The JSON configs that travel with Wasm artifacts, read tolerantly.
//!
//! These files are written by hand (`runtime-config.json`) or by tools that disagree on spelling
//! (`abiVersions`, `abi_versions`, `abi_version`; `rootIds`, `root_ids`), and any field may be
//! missing or `null`. So each is read as a `serde_json::Value` and picked apart field by field:
//! a field of the wrong type is skipped (with a warning), never a reason to reject the artifact.
//! Only a config that is not JSON at all, or not an object, is malformed.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use crate::facts::CncfConfig;
use crate::limits::{human_bytes, Limits};

/// Parses a config blob into a JSON object, or explains why it is not one.
pub(crate) fn parse_object(bytes: &[u8], what: &str, limits: &Limits) -> Result<Map<String, Value>, String> {
    if bytes.len() as u64 > limits.max_config_bytes {
        return Err(format!(
            "the {what} is {}, above the {} limit",
            human_bytes(bytes.len() as u64),
            human_bytes(limits.max_config_bytes)
        ));
    }
    match serde_json::from_slice::<Value>(bytes) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(other) => Err(format!("the {what} is JSON but not an object ({})", json_type(&other))),
        Err(e) => Err(format!("the {what} is not valid JSON: {e}")),
    }
}

fn json_type(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// A string field; `null`, missing, empty and non-strings all read as None.
pub(crate) fn string(map: &Map<String, Value>, key: &str) -> Option<String> {
    map.get(key).and_then(Value::as_str).map(str::trim).filter(|s| !s.is_empty()).map(str::to_owned)
}

/// A list of strings, accepting an array (non-strings skipped), a single string, or a
/// comma-joined string (as the `module.wasm.runtime/abi_version` annotation is written).
pub(crate) fn strings(value: Option<&Value>) -> Vec<String> {
    let mut out = Vec::new();
    match value {
        Some(Value::String(text)) => out.extend(split_commas(text)),
        Some(Value::Array(items)) => {
            for item in items {
                if let Value::String(text) = item {
                    out.extend(split_commas(text));
                }
            }
        }
        _ => {}
    }
    out
}

pub(crate) fn split_commas(text: &str) -> impl Iterator<Item = String> + '_ {
    text.split(',').map(str::trim).filter(|s| !s.is_empty()).map(str::to_owned)
}

/// Most values kept in one of the short lists a config or an annotation declares (ABI
/// versions, root ids, trigger types): real ones hold a few, while a 1 MiB config or a 4 MiB
/// manifest could name hundreds of thousands, each compared with the others and each an
/// index row.
pub(crate) const MAX_LISTED: usize = 64;
/// Longest value kept in such a list, in characters.
pub(crate) const MAX_LISTED_CHARS: usize = 256;

/// Appends the `items` not yet in `list`, up to `MAX_LISTED` values of `MAX_LISTED_CHARS`.
pub(crate) fn push_unique(list: &mut Vec<String>, items: impl IntoIterator<Item = String>) {
    for item in items {
        if list.len() >= MAX_LISTED {
            break;
        }
        if item.chars().count() <= MAX_LISTED_CHARS && !list.contains(&item) {
            list.push(item);
        }
    }
}

/// The solo.io runtime config (`application/vnd.module.wasm.config.v1+json`, and
/// `runtime-config.json` in compat images).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct SoloConfig {
    pub runtime_type: Option<String>,
    pub abi_versions: Vec<String>,
    pub root_ids: Vec<String>,
}

impl SoloConfig {
    /// Reads every spelling seen in the wild: `abiVersions` (wasme), `abi_versions` (the proto's
    /// field name), `abi_version` (the spec's example, a string), `abiVersion`; `rootIds` and
    /// `root_ids`, inside `config` (as specified) or at the top level (as sometimes written).
    pub fn from_object(map: &Map<String, Value>) -> SoloConfig {
        let mut config = SoloConfig { runtime_type: string(map, "type"), ..SoloConfig::default() };
        for key in ["abiVersions", "abi_versions", "abiVersion", "abi_version"] {
            push_unique(&mut config.abi_versions, strings(map.get(key)));
        }
        let nested = map.get("config").and_then(Value::as_object);
        for object in nested.into_iter().chain([map]) {
            for key in ["rootIds", "root_ids", "rootId", "root_id"] {
                push_unique(&mut config.root_ids, strings(object.get(key)));
            }
        }
        config
    }
}

/// Reads the CNCF `application/vnd.wasm.config.v0+json` config; every field may be null.
pub(crate) fn cncf_config(map: &Map<String, Value>) -> CncfConfig {
    let component = map.get("component").and_then(Value::as_object);
    let list = |key: &str| component.map(|c| strings(c.get(key))).unwrap_or_default();
    CncfConfig {
        created: string(map, "created"),
        author: string(map, "author"),
        architecture: string(map, "architecture"),
        os: string(map, "os"),
        layer_digests: strings(map.get("layerDigests")),
        component_exports: list("exports"),
        component_imports: list("imports"),
        component_target: component.and_then(|c| string(c, "target")),
    }
}

/// The parts of an OCI / Docker image config that say whether a container image runs Wasm.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct ImageConfig {
    pub os: Option<String>,
    pub architecture: Option<String>,
    /// The program the image runs: `Entrypoint[0]`, else `Cmd[0]`.
    pub entrypoint: Option<String>,
    pub labels: BTreeMap<String, String>,
}

impl ImageConfig {
    pub fn from_object(map: &Map<String, Value>) -> ImageConfig {
        let runtime = map.get("config").and_then(Value::as_object);
        let first = |key: &str| runtime.and_then(|r| strings(r.get(key)).into_iter().next());
        let labels = runtime
            .and_then(|r| r.get("Labels"))
            .and_then(Value::as_object)
            .map(|labels| labels.iter().filter_map(|(k, v)| v.as_str().map(|v| (k.clone(), v.to_owned()))).collect())
            .unwrap_or_default();
        ImageConfig {
            os: string(map, "os"),
            architecture: string(map, "architecture"),
            entrypoint: first("Entrypoint").or_else(|| first("Cmd")),
            labels,
        }
    }

    /// `--platform wasi/wasm` (podman, Docker+Wasm) and `wasip1`/`wasip2` (Spin, oci-wasm).
    pub fn is_wasm_platform(&self) -> bool {
        let arch = self.architecture.as_deref().unwrap_or_default();
        let os = self.os.as_deref().unwrap_or_default();
        arch.starts_with("wasm") || os.starts_with("wasi")
    }

    /// The entry point, if it names a Wasm file.
    pub fn wasm_entrypoint(&self) -> Option<&str> {
        self.entrypoint.as_deref().filter(|path| path.to_ascii_lowercase().ends_with(".wasm"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn declared_lists_keep_a_bounded_number_of_short_values() {
        let mut list = vec!["v0.2.1".to_owned()];
        let many = (0..200_000).map(|n| format!("v{n}")).chain(["x".repeat(MAX_LISTED_CHARS + 1)]);
        push_unique(&mut list, many);
        assert_eq!(list.len(), MAX_LISTED);
        assert_eq!((list[0].as_str(), list[1].as_str()), ("v0.2.1", "v0"));
        let mut short = Vec::new();
        push_unique(&mut short, ["a".to_owned(), "x".repeat(MAX_LISTED_CHARS + 1), "a".to_owned(), "b".to_owned()]);
        assert_eq!(short, ["a", "b"], "duplicates and overlong values are left out");
    }

    fn object(json: &str) -> Map<String, Value> {
        parse_object(json.as_bytes(), "config", &Limits::default()).unwrap()
    }

    #[test]
    fn wasme_config_as_pushed() {
        let config = SoloConfig::from_object(&object(
            r#"{"type":"envoy_proxy","abiVersions":["v0-541b2c1155fffb15ccde92b8324f3e38f7339ba6","v0.2.1"],"config":{"rootIds":["add_header"]}}"#,
        ));
        assert_eq!(config.runtime_type.as_deref(), Some("envoy_proxy"));
        assert_eq!(config.abi_versions, vec!["v0-541b2c1155fffb15ccde92b8324f3e38f7339ba6", "v0.2.1"]);
        assert_eq!(config.root_ids, vec!["add_header"]);
    }

    #[test]
    fn every_spelling_is_read_and_merged() {
        let spec_example = SoloConfig::from_object(&object(
            r#"{"type":"envoy_proxy","abi_version":"v0-541b2c1155fffb15ccde92b8324f3e38f7339ba6","config":{"root_ids":["add_header_root_id"]}}"#,
        ));
        assert_eq!(spec_example.abi_versions.len(), 1);
        assert_eq!(spec_example.root_ids, vec!["add_header_root_id"]);
        let mixed = SoloConfig::from_object(&object(
            r#"{"abi_versions":["v0.2.1"],"abiVersions":"v0.2.1, v0.2.0","rootIds":["a"],"root_ids":"b","config":null}"#,
        ));
        assert_eq!(mixed.abi_versions, vec!["v0.2.1", "v0.2.0"]);
        assert_eq!(mixed.root_ids, vec!["a", "b"]);
        assert_eq!(mixed.runtime_type, None);
    }

    #[test]
    fn wrong_types_and_nulls_are_skipped() {
        let config = SoloConfig::from_object(&object(
            r#"{"type":42,"abiVersions":[null,1,"v0.2.1",{}],"config":{"rootIds":null}}"#,
        ));
        assert_eq!(config, SoloConfig { runtime_type: None, abi_versions: vec!["v0.2.1".into()], root_ids: vec![] });
    }

    #[test]
    fn non_objects_and_non_json_are_malformed() {
        let limits = Limits::default();
        assert!(parse_object(b"not json", "config", &limits).unwrap_err().contains("not valid JSON"));
        assert!(parse_object(b"null", "config", &limits).unwrap_err().contains("not an object (null)"));
        assert!(parse_object(b"[]", "config", &limits).unwrap_err().contains("an array"));
        let small = Limits { max_config_bytes: 2, ..limits };
        assert!(parse_object(b"{ }", "config", &small).unwrap_err().contains("above the 2 bytes limit"));
    }

    #[test]
    fn cncf_config_as_oci_wasm_writes_it_and_with_nulls() {
        let full = cncf_config(&object(
            r#"{"created":"2024-05-01T10:00:00Z","author":"Jane","architecture":"wasm","os":"wasip2",
                "layerDigests":["sha256:aa"],"component":{"exports":["wasi:http/incoming-handler@0.2.0"],
                "imports":["wasi:io/streams@0.2.0"],"target":"wasi:http/proxy@0.2.0"}}"#,
        ));
        assert_eq!(full.os.as_deref(), Some("wasip2"));
        assert_eq!(full.component_exports, vec!["wasi:http/incoming-handler@0.2.0"]);
        assert_eq!(full.component_target.as_deref(), Some("wasi:http/proxy@0.2.0"));
        let nulls = cncf_config(&object(
            r#"{"created":null,"author":null,"architecture":null,"os":null,"layerDigests":null,
                "component":{"exports":null,"imports":null,"target":null}}"#,
        ));
        assert_eq!(nulls, CncfConfig::default());
        assert_eq!(cncf_config(&object(r#"{"component":null}"#)), CncfConfig::default());
    }

    #[test]
    fn image_config_entrypoint_platform_and_labels() {
        let config = ImageConfig::from_object(&object(
            r#"{"architecture":"wasm","os":"wasi","config":{"Entrypoint":null,"Cmd":["/hello.wasm"],
                "Labels":{"org.opencontainers.image.description":"hello","n":1}}}"#,
        ));
        assert!(config.is_wasm_platform());
        assert_eq!(config.wasm_entrypoint(), Some("/hello.wasm"));
        assert_eq!(config.labels.len(), 1);
        let linux = ImageConfig::from_object(&object(
            r#"{"architecture":"amd64","os":"linux","config":{"Entrypoint":["/bin/sh"]}}"#,
        ));
        assert!(!linux.is_wasm_platform());
        assert_eq!(linux.wasm_entrypoint(), None);
    }
}
