//! Inspection of one Wasm binary: core module or component, imports, exports, WASI flavour,
//! proxy-wasm ABI markers, producers, component interfaces and world.
//!
//! Built on `wasmparser`, which reads without executing anything and has no panics on malformed
//! input (it is fuzzed upstream). The work is linear in the input, whose size is checked first.
//! The binary is parsed once for the facts and validated once (all proposals enabled), so a
//! module that a runtime would reject is reported as such rather than indexed as usable.

use wasmhub_oci::Digest;
use wasmparser::{
    BinaryReader, ComponentExternalKind, ComponentTypeRef, Encoding, ExternalKind, Parser, Payload, TypeRef, Validator,
    WasmFeatures,
};

use crate::abi::ProxyAbi;
use crate::facts::{ComponentFacts, Export, ExternKind, Import, ModuleFacts, ModuleKind, Producer, Producers, Wasi};
use crate::limits::{human_bytes, Limits};

const MAGIC: &[u8; 4] = b"\0asm";
/// Longest import, export or interface name kept, in bytes. Kept names become index entries
/// for search, and PostgreSQL refuses a B-tree entry over about 2.7 KB: a module with a longer
/// name failed its push. Real names are identifiers and interface ids, far shorter.
pub(crate) const MAX_NAME_BYTES: usize = 1024;
/// Producers kept per field (`language`, `processed-by`, `sdk`): toolchains name a few, and
/// each new one is compared with those kept, so the list stays short whatever a section says.
const MAX_PRODUCERS: usize = 32;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InspectError {
    #[error("not a WebAssembly binary (no \\0asm header)")]
    NotWasm,
    #[error("module is {}, above the {} limit", human_bytes(*.size), human_bytes(*.limit))]
    TooLarge { size: u64, limit: u64 },
    #[error("malformed WebAssembly: {0}")]
    Malformed(String),
    #[error("WebAssembly does not validate: {0}")]
    Invalid(String),
}

/// Inspects a module or component. Never panics; work is bounded by `limits.max_module_bytes`.
pub fn inspect_module(bytes: &[u8], limits: &Limits) -> Result<ModuleFacts, InspectError> {
    let size = bytes.len() as u64;
    if size > limits.max_module_bytes {
        return Err(InspectError::TooLarge { size, limit: limits.max_module_bytes });
    }
    if !bytes.starts_with(MAGIC) {
        return Err(InspectError::NotWasm);
    }
    let mut parser = Parser::new(0);
    parser.set_features(WasmFeatures::all());
    let mut scan = Scan::new(limits.max_names);
    for payload in parser.parse_all(bytes) {
        let payload = payload.map_err(|e| InspectError::Malformed(e.to_string()))?;
        scan.payload(payload).map_err(|e| InspectError::Malformed(e.to_string()))?;
    }
    let kind = scan.kind.ok_or_else(|| InspectError::Malformed("no version header".into()))?;
    Validator::new_with_features(WasmFeatures::all())
        .validate_all(bytes)
        .map_err(|e| InspectError::Invalid(e.to_string()))?;
    Ok(scan.finish(kind, Digest::sha256_of(bytes), size))
}

/// Accumulates facts while walking the payloads of the outermost binary and, for components,
/// the modules and components nested in it (`parse_all` flattens them; `depth` tells apart).
struct Scan {
    max_names: usize,
    depth: usize,
    kind: Option<ModuleKind>,
    imports: Vec<Import>,
    exports: Vec<Export>,
    import_count: usize,
    export_count: usize,
    component: ComponentFacts,
    producers: Producers,
    preview1: bool,
    proxy_abis: Vec<ProxyAbi>,
    warnings: Vec<String>,
}

impl Scan {
    fn new(max_names: usize) -> Scan {
        Scan {
            max_names,
            depth: 0,
            kind: None,
            imports: Vec::new(),
            exports: Vec::new(),
            import_count: 0,
            export_count: 0,
            component: ComponentFacts::default(),
            producers: Producers::default(),
            preview1: false,
            proxy_abis: Vec::new(),
            warnings: Vec::new(),
        }
    }

    fn payload(&mut self, payload: Payload<'_>) -> wasmparser::Result<()> {
        let top = self.depth == 1;
        match payload {
            Payload::Version { encoding, .. } => {
                if self.depth == 0 {
                    self.kind = Some(match encoding {
                        Encoding::Module => ModuleKind::Module,
                        Encoding::Component => ModuleKind::Component,
                    });
                }
                self.depth += 1;
            }
            Payload::End(_) => self.depth = self.depth.saturating_sub(1),
            Payload::ImportSection(reader) if top => {
                for import in reader.into_imports() {
                    let import = import?;
                    if matches!(import.module, "wasi_snapshot_preview1" | "wasi_unstable") {
                        self.preview1 = true;
                    }
                    self.push_import(Some(import.module), import.name, core_type_kind(import.ty));
                }
            }
            Payload::ExportSection(reader) if top => {
                for export in reader {
                    let export = export?;
                    if let Some(abi) = ProxyAbi::from_export(export.name) {
                        if !self.proxy_abis.contains(&abi) {
                            self.proxy_abis.push(abi);
                        }
                    }
                    self.push_export(export.name, core_kind(export.kind));
                }
            }
            Payload::ComponentImportSection(reader) if top => {
                for import in reader {
                    let import = import?;
                    let name = import.name.full_name();
                    let kind = component_type_kind(import.ty);
                    if kind == ExternKind::Instance {
                        push_bounded(&mut self.component.imported_interfaces, self.max_names, &name);
                    }
                    self.push_import(None, &name, kind);
                }
            }
            Payload::ComponentExportSection(reader) if top => {
                for export in reader {
                    let export = export?;
                    let name = export.name.full_name();
                    let kind = component_kind(export.kind);
                    if kind == ExternKind::Instance {
                        push_bounded(&mut self.component.exported_interfaces, self.max_names, &name);
                    }
                    self.push_export(&name, kind);
                }
            }
            Payload::CustomSection(reader) => {
                if reader.name() == "producers" {
                    if let Err(e) = self.producers(reader.data_reader()) {
                        self.warnings.push(format!("the producers section is malformed: {}", e.message()));
                    }
                } else if self.component.world.is_none() {
                    self.component.world = world_from_section_name(reader.name());
                }
            }
            _ => {}
        }
        Ok(())
    }

    fn push_import(&mut self, module: Option<&str>, name: &str, kind: ExternKind) {
        self.import_count += 1;
        let fits = name.len() <= MAX_NAME_BYTES && module.is_none_or(|module| module.len() <= MAX_NAME_BYTES);
        if self.imports.len() < self.max_names && fits {
            self.imports.push(Import { module: module.map(str::to_owned), name: name.to_owned(), kind });
        }
    }

    fn push_export(&mut self, name: &str, kind: ExternKind) {
        self.export_count += 1;
        if self.exports.len() < self.max_names && name.len() <= MAX_NAME_BYTES {
            self.exports.push(Export { name: name.to_owned(), kind });
        }
    }

    /// Reads a `producers` section by hand rather than with wasmparser's reader, which rejects
    /// field names outside the three the tool-conventions define; a custom section never
    /// affects how a module runs, so an odd one is not a reason to call the module malformed.
    fn producers(&mut self, mut reader: BinaryReader<'_>) -> wasmparser::Result<()> {
        let fields = reader.read_var_u32()?;
        for _ in 0..fields {
            let field = reader.read_string()?;
            let values = reader.read_var_u32()?;
            for _ in 0..values {
                let name = reader.read_string()?;
                let version = reader.read_string()?;
                let list = match field {
                    "language" => &mut self.producers.language,
                    "processed-by" => &mut self.producers.processed_by,
                    "sdk" => &mut self.producers.sdk,
                    _ => continue,
                };
                let entry = Producer { name: name.to_owned(), version: version.to_owned() };
                let fits = entry.name.len() <= MAX_NAME_BYTES && entry.version.len() <= MAX_NAME_BYTES;
                if fits && list.len() < self.max_names.min(MAX_PRODUCERS) && !list.contains(&entry) {
                    list.push(entry);
                }
            }
        }
        Ok(())
    }

    fn finish(self, kind: ModuleKind, digest: Digest, size: u64) -> ModuleFacts {
        let wasi = match kind {
            ModuleKind::Module => self.preview1.then_some(Wasi::Preview1),
            ModuleKind::Component => component_wasi(&self.imports, &self.exports),
        };
        let mut proxy_abis = self.proxy_abis;
        proxy_abis.sort();
        ModuleFacts {
            digest,
            size,
            kind,
            wasi,
            proxy_abis,
            imports: self.imports,
            exports: self.exports,
            import_count: self.import_count,
            export_count: self.export_count,
            producers: self.producers,
            component: (kind == ModuleKind::Component).then_some(self.component),
            warnings: self.warnings,
        }
    }
}

fn push_bounded(list: &mut Vec<String>, max: usize, name: &str) {
    if list.len() < max && name.len() <= MAX_NAME_BYTES {
        list.push(name.to_owned());
    }
}

/// The newest WASI the component's top-level `wasi:*` imports and exports name.
fn component_wasi(imports: &[Import], exports: &[Export]) -> Option<Wasi> {
    let names = imports.iter().map(|i| i.name.as_str()).chain(exports.iter().map(|e| e.name.as_str()));
    names
        .filter(|name| name.starts_with("wasi:"))
        .map(|name| match name.split_once('@').map(|(_, version)| version) {
            Some(version) if version.starts_with("0.3") => Wasi::Preview3,
            _ => Wasi::Preview2,
        })
        .max()
}

/// The world named by a `component-type:*` custom section, as wit-bindgen and wit-component
/// write them: `component-type:<world>` or
/// `component-type:wit-bindgen:<version>:<namespace>:<package>[@<version>]:<world>:encoded world`.
fn world_from_section_name(name: &str) -> Option<String> {
    let rest = name.strip_prefix("component-type:")?;
    let rest = rest.strip_suffix(":encoded world").unwrap_or(rest);
    let rest = match rest.strip_prefix("wit-bindgen:") {
        Some(tool) => tool.split_once(':').map(|(_, rest)| rest)?,
        None => rest,
    };
    let parts: Vec<&str> = rest.split(':').collect();
    let world = match parts.as_slice() {
        [world] => world.to_string(),
        [namespace, package, world] => match package.split_once('@') {
            Some((package, version)) => format!("{namespace}:{package}/{world}@{version}"),
            None => format!("{namespace}:{package}/{world}"),
        },
        _ => rest.to_owned(),
    };
    (!world.is_empty()).then_some(world)
}

fn core_kind(kind: ExternalKind) -> ExternKind {
    match kind {
        ExternalKind::Func | ExternalKind::FuncExact => ExternKind::Func,
        ExternalKind::Table => ExternKind::Table,
        ExternalKind::Memory => ExternKind::Memory,
        ExternalKind::Global => ExternKind::Global,
        ExternalKind::Tag => ExternKind::Tag,
    }
}

fn core_type_kind(ty: TypeRef) -> ExternKind {
    match ty {
        TypeRef::Func(_) | TypeRef::FuncExact(_) => ExternKind::Func,
        TypeRef::Table(_) => ExternKind::Table,
        TypeRef::Memory(_) => ExternKind::Memory,
        TypeRef::Global(_) => ExternKind::Global,
        TypeRef::Tag(_) => ExternKind::Tag,
    }
}

fn component_kind(kind: ComponentExternalKind) -> ExternKind {
    match kind {
        ComponentExternalKind::Module => ExternKind::Module,
        ComponentExternalKind::Func => ExternKind::Func,
        ComponentExternalKind::Value => ExternKind::Value,
        ComponentExternalKind::Type => ExternKind::Type,
        ComponentExternalKind::Instance => ExternKind::Instance,
        ComponentExternalKind::Component => ExternKind::Component,
    }
}

fn component_type_kind(ty: ComponentTypeRef) -> ExternKind {
    match ty {
        ComponentTypeRef::Module(_) => ExternKind::Module,
        ComponentTypeRef::Func(_) => ExternKind::Func,
        ComponentTypeRef::Value(_) => ExternKind::Value,
        ComponentTypeRef::Type(_) => ExternKind::Type,
        ComponentTypeRef::Instance(_) => ExternKind::Instance,
        ComponentTypeRef::Component(_) => ExternKind::Component,
    }
}

#[cfg(test)]
mod tests;
