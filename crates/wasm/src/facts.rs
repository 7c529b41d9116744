//! What the registry indexes about a Wasm artifact: the outcome of `describe`.
//!
//! Everything here is plain data (serde, camelCase) so the index can store it as JSON and the API
//! can return it unchanged. Every field that a pushed config may omit is optional or empty rather
//! than an error: a push never fails because metadata is missing.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use wasmhub_oci::Digest;

use crate::abi::ProxyAbi;

/// The Wasm packaging conventions this crate recognises (DESIGN.md section 3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum WasmFormat {
    /// solo.io "oci" variant: `wasme push`, custom config and layer media types.
    SoloOci,
    /// solo.io / Istio "compat" variant: a container image whose last layer holds `plugin.wasm`.
    SoloCompat,
    /// CNCF TAG-Runtime Wasm artifact: `application/vnd.wasm.config.v0+json` + `application/wasm`.
    CncfWasm,
    /// engineerd/wasm-to-oci: `application/vnd.wasm.config.v1+json` + one content layer.
    WasmToOci,
    /// Fermyon Spin application: locked app + one Wasm layer per component.
    Spin,
    /// A container image run by crun/WasmEdge/containerd shims: a `*.wasm` entry point.
    CrunWasmEdge,
}

impl WasmFormat {
    pub fn as_str(self) -> &'static str {
        match self {
            WasmFormat::SoloOci => "soloOci",
            WasmFormat::SoloCompat => "soloCompat",
            WasmFormat::CncfWasm => "cncfWasm",
            WasmFormat::WasmToOci => "wasmToOci",
            WasmFormat::Spin => "spin",
            WasmFormat::CrunWasmEdge => "crunWasmEdge",
        }
    }
}

/// The result of phase 2.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "outcome", rename_all = "camelCase")]
pub enum Description {
    /// Wasm, understood. `warnings` may still say that something looks wrong.
    Wasm(WasmFacts),
    /// The manifest says Wasm, but a config or module could not be read. Index it with the
    /// reason; `facts` holds whatever could be read. Never a reason to fail a push unless the
    /// operator asked for strict validation.
    Unrecognised { reason: String, facts: WasmFacts },
    /// A container image that was only a candidate (no Wasm annotation) and holds no Wasm.
    NotWasm,
}

impl Description {
    pub fn facts(&self) -> Option<&WasmFacts> {
        match self {
            Description::Wasm(facts) | Description::Unrecognised { facts, .. } => Some(facts),
            Description::NotWasm => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WasmFacts {
    pub format: WasmFormat,
    /// Runtime the artifact targets: solo.io `type` (e.g. `envoy_proxy`), else None.
    pub runtime_type: Option<String>,
    /// ABI versions as declared (config `abiVersions` and the manifest annotation), verbatim.
    pub abi_versions: Vec<String>,
    /// The declared versions that name a known proxy-wasm ABI, normalised.
    pub declared_proxy_abis: Vec<ProxyAbi>,
    /// proxy-wasm ABIs the modules actually export markers for (`proxy_abi_version_*`).
    pub detected_proxy_abis: Vec<ProxyAbi>,
    /// Envoy root context ids (solo.io `config.rootIds`).
    pub root_ids: Vec<String>,
    /// One entry per module inspected, in manifest order; single-module formats have one.
    pub modules: Vec<ModuleFacts>,
    /// `org.opencontainers.image.*` annotations (falling back to image config labels).
    pub annotations: ImageAnnotations,
    /// The CNCF config, when the artifact has one.
    pub cncf: Option<CncfConfig>,
    /// Spin application metadata, for Spin artifacts.
    pub spin: Option<SpinApp>,
    /// Path of the module inside a compat layer (`plugin.wasm`, `app/server.wasm`, ...).
    pub module_path: Option<String>,
    /// Whether a compat layer carried a `runtime-config.json`.
    pub has_runtime_config: bool,
    pub warnings: Vec<String>,
}

impl WasmFacts {
    pub(crate) fn new(format: WasmFormat) -> WasmFacts {
        WasmFacts {
            format,
            runtime_type: None,
            abi_versions: Vec::new(),
            declared_proxy_abis: Vec::new(),
            detected_proxy_abis: Vec::new(),
            root_ids: Vec::new(),
            modules: Vec::new(),
            annotations: ImageAnnotations::default(),
            cncf: None,
            spin: None,
            module_path: None,
            has_runtime_config: false,
            warnings: Vec::new(),
        }
    }

    /// The module to show first (the only one, except for Spin applications).
    pub fn primary_module(&self) -> Option<&ModuleFacts> {
        self.modules.first()
    }
}

/// The `org.opencontainers.image.*` annotations people search and read.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ImageAnnotations {
    pub title: Option<String>,
    pub description: Option<String>,
    pub version: Option<String>,
    pub licenses: Option<String>,
    pub source: Option<String>,
    pub url: Option<String>,
    pub documentation: Option<String>,
    pub authors: Option<String>,
    pub vendor: Option<String>,
    pub created: Option<String>,
    pub revision: Option<String>,
}

impl ImageAnnotations {
    /// Reads the well-known keys from `map`, keeping values already set (so call it with the
    /// most authoritative source first: manifest annotations, then config labels).
    pub(crate) fn fill_from(&mut self, map: &BTreeMap<String, String>) {
        let fields: [(&str, &mut Option<String>); 11] = [
            ("title", &mut self.title),
            ("description", &mut self.description),
            ("version", &mut self.version),
            ("licenses", &mut self.licenses),
            ("source", &mut self.source),
            ("url", &mut self.url),
            ("documentation", &mut self.documentation),
            ("authors", &mut self.authors),
            ("vendor", &mut self.vendor),
            ("created", &mut self.created),
            ("revision", &mut self.revision),
        ];
        for (key, slot) in fields {
            if slot.is_none() {
                let value = map.get(&format!("org.opencontainers.image.{key}"));
                *slot = value.map(|v| v.trim()).filter(|v| !v.is_empty()).map(str::to_owned);
            }
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum ModuleKind {
    /// A core WebAssembly module (`\0asm`, version 1, layer 0).
    Module,
    /// A component (`\0asm`, layer 1).
    Component,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Wasi {
    /// Imports from `wasi_snapshot_preview1` (or the older `wasi_unstable`).
    Preview1,
    /// Imports or exports `wasi:*@0.2.*` interfaces.
    Preview2,
    /// Imports or exports `wasi:*@0.3.*` interfaces.
    Preview3,
}

/// The kind of an import or export, core and component kinds together.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum ExternKind {
    Func,
    Table,
    Memory,
    Global,
    Tag,
    Module,
    Value,
    Type,
    Instance,
    Component,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Import {
    /// The core module name (`env`, `wasi_snapshot_preview1`); None for component imports.
    pub module: Option<String>,
    pub name: String,
    pub kind: ExternKind,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Export {
    pub name: String,
    pub kind: ExternKind,
}

/// One `name version` entry of a producers field.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Producer {
    pub name: String,
    pub version: String,
}

/// The `producers` custom section (WebAssembly tool-conventions), from the module and, for
/// components, from the core modules inside it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Producers {
    pub language: Vec<Producer>,
    pub processed_by: Vec<Producer>,
    pub sdk: Vec<Producer>,
}

impl Producers {
    pub fn is_empty(&self) -> bool {
        self.language.is_empty() && self.processed_by.is_empty() && self.sdk.is_empty()
    }
}

/// What a component says about itself at its top level.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ComponentFacts {
    /// Imported instance names, e.g. `wasi:io/streams@0.2.0`.
    pub imported_interfaces: Vec<String>,
    /// Exported instance names, e.g. `wasi:http/incoming-handler@0.2.0`.
    pub exported_interfaces: Vec<String>,
    /// The target world, when a `component-type:*` custom section names it.
    pub world: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ModuleFacts {
    /// sha256 of the module bytes (for compat images this differs from every layer digest).
    pub digest: Digest,
    pub size: u64,
    pub kind: ModuleKind,
    pub wasi: Option<Wasi>,
    pub proxy_abis: Vec<ProxyAbi>,
    pub imports: Vec<Import>,
    pub exports: Vec<Export>,
    /// Counts before truncation to `Limits::max_names`.
    pub import_count: usize,
    pub export_count: usize,
    pub producers: Producers,
    pub component: Option<ComponentFacts>,
    /// Oddities that do not stop the module from running (a malformed producers section).
    pub warnings: Vec<String>,
}

/// The CNCF `application/vnd.wasm.config.v0+json` config, every field optional.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CncfConfig {
    pub created: Option<String>,
    pub author: Option<String>,
    pub architecture: Option<String>,
    pub os: Option<String>,
    pub layer_digests: Vec<String>,
    pub component_exports: Vec<String>,
    pub component_imports: Vec<String>,
    pub component_target: Option<String>,
}

/// A Spin locked application, as much of it as a catalog page shows.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SpinApp {
    pub name: Option<String>,
    pub version: Option<String>,
    pub description: Option<String>,
    pub authors: Vec<String>,
    /// Trigger types (`http`, `redis`, ...), deduplicated.
    pub trigger_types: Vec<String>,
    pub components: Vec<SpinComponent>,
    pub variables: Vec<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SpinComponent {
    pub id: String,
    /// Digest of the component's Wasm layer (matches a `ModuleFacts::digest` when inspected).
    pub source_digest: Option<String>,
    /// HTTP route, for components behind an HTTP trigger.
    pub route: Option<String>,
}
