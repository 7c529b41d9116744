//! Turning `wasmhub_wasm`'s description of an artifact into the rows the index stores.

use std::collections::BTreeMap;

use wasmhub_index::{text_words, AbiRow, ExportRow, ImportRow, WasmOutcome, WasmRecord};
use wasmhub_oci::RepoName;
use wasmhub_wasm::abi::parse_declared;
use wasmhub_wasm::{Description, ModuleKind, Wasi, WasmFacts};

/// Longest runtime type or ABI value indexed, in bytes, and most ABI values per artifact. They
/// are B-tree keys (an artifact's facet row is unique on all its ABIs and its runtime type),
/// and PostgreSQL refuses an entry over about 2.7 KB: an artifact declaring longer ones failed
/// its push. Real ones are short identifiers (`envoy_proxy`, `v0.2.1`); longer ones are
/// left out of the index (the artifact's facts still show what it declared).
const MAX_KEY_BYTES: usize = 64;
const MAX_ABIS: usize = 16;

/// The record to index for `description`; None when it is not Wasm.
pub(crate) fn wasm_record(repository: &RepoName, description: &Description) -> Option<WasmRecord> {
    let (outcome, reason, facts) = match description {
        Description::Wasm(facts) => (WasmOutcome::Wasm, None, facts),
        Description::Unrecognised { reason, facts } => (WasmOutcome::Unrecognised, Some(reason.clone()), facts),
        Description::NotWasm => return None,
    };
    let primary = facts.primary_module();
    let mut exports = Vec::new();
    let mut imports = Vec::new();
    for module in &facts.modules {
        exports.extend(module.exports.iter().map(|e| ExportRow { name: e.name.clone(), kind: kind_name(&e.kind) }));
        imports.extend(module.imports.iter().map(|i| ImportRow {
            module: i.module.clone().unwrap_or_default(),
            name: i.name.clone(),
            kind: kind_name(&i.kind),
        }));
        // A component's interfaces are what people search for (`wasi:http/incoming-handler`).
        if let Some(component) = &module.component {
            let instance = || "instance".to_owned();
            exports
                .extend(component.exported_interfaces.iter().map(|n| ExportRow { name: n.clone(), kind: instance() }));
            imports.extend(component.imported_interfaces.iter().map(|n| ImportRow {
                module: String::new(),
                name: n.clone(),
                kind: instance(),
            }));
        }
    }
    let annotations = &facts.annotations;
    Some(WasmRecord {
        format: facts.format.as_str().to_owned(),
        outcome,
        reason,
        runtime_type: runtime_type(facts),
        kind: primary.map(|m| match m.kind {
            ModuleKind::Module => "module".to_owned(),
            ModuleKind::Component => "component".to_owned(),
        }),
        wasi: primary.and_then(|m| m.wasi).map(|wasi| {
            match wasi {
                Wasi::Preview1 => "preview1",
                Wasi::Preview2 => "preview2",
                Wasi::Preview3 => "preview3",
            }
            .to_owned()
        }),
        module_digest: primary.map(|m| m.digest.to_string()),
        module_size: primary.map(|m| m.size),
        abis: abi_rows(facts),
        exports,
        imports,
        title: annotations.title.clone(),
        description: annotations.description.clone(),
        version: annotations.version.clone(),
        search_text: search_text(repository, facts),
        facts_json: serde_json::to_string(description).unwrap_or_else(|_| "{}".into()),
    })
}

/// The declared runtime type; else `envoy_proxy` for a module that exports a proxy-wasm ABI
/// marker, since that is what such a module runs in (Istio compat images rarely carry a
/// `runtime-config.json`, and they should be found beside the same filter pushed by `wasme`).
fn runtime_type(facts: &WasmFacts) -> Option<String> {
    match &facts.runtime_type {
        Some(declared) if declared.len() <= MAX_KEY_BYTES => Some(declared.clone()),
        Some(_) => None,
        None if !facts.detected_proxy_abis.is_empty() => Some("envoy_proxy".to_owned()),
        None => None,
    }
}

/// Declared and detected ABI versions, one row each, known proxy-wasm versions normalised.
fn abi_rows(facts: &WasmFacts) -> Vec<AbiRow> {
    let mut rows: BTreeMap<String, AbiRow> = BTreeMap::new();
    let mut add = |abi: String, declared: bool, detected: bool| {
        let row = rows.entry(abi.clone()).or_insert(AbiRow { abi, declared: false, detected: false });
        row.declared |= declared;
        row.detected |= detected;
    };
    for name in &facts.abi_versions {
        match parse_declared(name) {
            Some(known) => add(known.abi.as_str().to_owned(), true, false),
            None => add(name.trim().to_owned(), true, false),
        }
    }
    for abi in &facts.detected_proxy_abis {
        add(abi.as_str().to_owned(), false, true);
    }
    rows.into_values().filter(|row| !row.abi.is_empty() && row.abi.len() <= MAX_KEY_BYTES).take(MAX_ABIS).collect()
}

/// The normalised form of an `abi=` search value: `v0.2.1`, `0_2_1` and the solo.io commit
/// names all find what declares or exports proxy-wasm 0.2.1.
pub(crate) fn normalise_abi(value: &str) -> String {
    match parse_declared(value) {
        Some(known) => known.abi.as_str().to_owned(),
        None => value.trim().to_owned(),
    }
}

fn kind_name(kind: &impl serde::Serialize) -> String {
    serde_json::to_value(kind).ok().and_then(|v| v.as_str().map(str::to_owned)).unwrap_or_default()
}

/// Words free text is matched against: the repository name, the annotations people write,
/// the runtime type, the Spin application name and the module's path.
fn search_text(repository: &RepoName, facts: &WasmFacts) -> String {
    let a = &facts.annotations;
    let mut parts: Vec<&str> = vec![repository.as_str()];
    let optional = [
        &a.title,
        &a.description,
        &a.version,
        &a.authors,
        &a.vendor,
        &a.source,
        &a.url,
        &a.licenses,
        &facts.runtime_type,
        &facts.module_path,
    ];
    parts.extend(optional.into_iter().flatten().map(String::as_str));
    if let Some(spin) = &facts.spin {
        parts.extend(spin.name.as_deref());
        parts.extend(spin.description.as_deref());
    }
    text_words(&parts.join(" ")).join(" ")
}
