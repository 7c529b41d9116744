//! Phase 2: given the blobs phase 1 asked for, read the configs, find and inspect the modules,
//! and put together the facts the index stores.
//!
//! Nothing here returns an error: a push must not fail because its metadata is odd. What cannot
//! be read becomes the `reason` of a `Description::Unrecognised` (the first such problem) or a
//! warning (the rest), and everything that *could* be read is kept beside it.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::hash::BuildHasher;

use wasmhub_oci::{Algorithm, Digest};

use crate::abi::{mismatch_warning, parse_declared};
use crate::compat::{extract_compat_layer, CompatError, FoundBy, Search};
use crate::config::{cncf_config, parse_object, push_unique, split_commas, ImageConfig, SoloConfig};
use crate::facts::{Description, ModuleKind, WasmFacts, WasmFormat};
use crate::inspect::inspect_module;
use crate::limits::{human_bytes, Limits};
use crate::recognise::{BlobNeed, BlobRole, Certainty, Plan, Recognition};
use crate::spin::spin_app;

/// Where `describe` reads the blobs that phase 1 asked for (the caller fetched them).
pub trait BlobSource {
    fn blob(&self, digest: &Digest) -> Option<&[u8]>;
}

impl<T: AsRef<[u8]>, S: BuildHasher> BlobSource for HashMap<Digest, T, S> {
    fn blob(&self, digest: &Digest) -> Option<&[u8]> {
        self.get(digest).map(AsRef::as_ref)
    }
}

impl<T: AsRef<[u8]>> BlobSource for BTreeMap<Digest, T> {
    fn blob(&self, digest: &Digest) -> Option<&[u8]> {
        self.get(digest).map(AsRef::as_ref)
    }
}

impl<B: BlobSource + ?Sized> BlobSource for &B {
    fn blob(&self, digest: &Digest) -> Option<&[u8]> {
        (**self).blob(digest)
    }
}

/// Phase 2. Never fails and never panics; see the module documentation.
pub fn describe(recognition: &Recognition, blobs: &impl BlobSource, limits: &Limits) -> Description {
    let Recognition::Wasm(plan) = recognition else {
        return Description::NotWasm;
    };
    let mut run = Run::new(plan, blobs, limits);
    if let Some(fatal) = &plan.fatal {
        run.fail(fatal.clone());
    }
    match plan.format {
        WasmFormat::SoloOci => run.solo_config(),
        WasmFormat::CncfWasm => run.cncf_config(),
        WasmFormat::Spin => run.spin_app(),
        WasmFormat::WasmToOci => {}
        WasmFormat::SoloCompat | WasmFormat::CrunWasmEdge => {
            if !run.container() {
                return Description::NotWasm;
            }
        }
    }
    run.modules();
    run.finish()
}

struct Run<'a, B> {
    plan: &'a Plan,
    blobs: &'a B,
    limits: &'a Limits,
    facts: WasmFacts,
    reason: Option<String>,
}

impl<'a, B: BlobSource> Run<'a, B> {
    fn new(plan: &'a Plan, blobs: &'a B, limits: &'a Limits) -> Run<'a, B> {
        let mut facts = WasmFacts::new(plan.format);
        facts.annotations = plan.annotations.clone();
        facts.warnings = plan.warnings.clone();
        facts.runtime_type = plan.runtime_type.clone();
        if let Some(abi) = &plan.abi_annotation {
            push_unique(&mut facts.abi_versions, split_commas(abi));
        }
        Run { plan, blobs, limits, facts, reason: None }
    }

    /// Records a problem: the first makes the artifact unrecognised, the rest are warnings.
    fn fail(&mut self, problem: String) {
        match self.reason {
            None => self.reason = Some(problem),
            Some(_) => self.facts.warnings.push(problem),
        }
    }

    fn needs(&self, role: BlobRole) -> impl Iterator<Item = &'a BlobNeed> {
        self.plan.needs.iter().filter(move |need| need.role == role)
    }

    /// The bytes of a needed blob, checked against its limit.
    fn bytes(&self, need: &BlobNeed) -> Result<&'a [u8], String> {
        let digest = &need.descriptor.digest;
        let bytes = self.blobs.blob(digest).ok_or_else(|| format!("blob {digest} was not provided"))?;
        let limit = match need.role {
            BlobRole::Config | BlobRole::ImageConfig | BlobRole::SpinApp => self.limits.max_config_bytes,
            BlobRole::Module => self.limits.max_module_bytes,
            BlobRole::Layer => self.limits.max_layer_bytes,
        };
        if bytes.len() as u64 > limit {
            return Err(format!(
                "blob {digest} is {}, above the {} limit",
                human_bytes(bytes.len() as u64),
                human_bytes(limit)
            ));
        }
        Ok(bytes)
    }

    /// The JSON object in the blob with `role`, or None (after recording why).
    fn object(&mut self, role: BlobRole, what: &str) -> Option<serde_json::Map<String, serde_json::Value>> {
        let need = self.needs(role).next()?;
        match self.bytes(need).and_then(|bytes| parse_object(bytes, what, self.limits)) {
            Ok(map) => Some(map),
            Err(problem) => {
                self.fail(problem);
                None
            }
        }
    }

    fn apply_solo(&mut self, config: SoloConfig) {
        if config.runtime_type.is_some() {
            self.facts.runtime_type = config.runtime_type;
        }
        let mut abi_versions = config.abi_versions;
        push_unique(&mut abi_versions, std::mem::take(&mut self.facts.abi_versions));
        self.facts.abi_versions = abi_versions;
        push_unique(&mut self.facts.root_ids, config.root_ids);
    }

    fn solo_config(&mut self) {
        if let Some(map) = self.object(BlobRole::Config, "runtime config") {
            self.apply_solo(SoloConfig::from_object(&map));
        }
    }

    fn cncf_config(&mut self) {
        if let Some(map) = self.object(BlobRole::Config, "CNCF Wasm config") {
            self.facts.cncf = Some(cncf_config(&map));
        }
    }

    fn spin_app(&mut self) {
        let Some(map) = self.object(BlobRole::SpinApp, "Spin application") else { return };
        let app = spin_app(&map);
        let annotations = &mut self.facts.annotations;
        annotations.title = annotations.title.take().or_else(|| app.name.clone());
        annotations.version = annotations.version.take().or_else(|| app.version.clone());
        annotations.description = annotations.description.take().or_else(|| app.description.clone());
        if annotations.authors.is_none() && !app.authors.is_empty() {
            annotations.authors = Some(app.authors.join(", "));
        }
        self.facts.spin = Some(app);
    }

    /// Container images: find the module in the last layer. False when an image that was only
    /// a candidate turns out to hold no Wasm.
    fn container(&mut self) -> bool {
        let declared = self.plan.certainty == Certainty::Declared;
        let parsed = self
            .needs(BlobRole::ImageConfig)
            .next()
            .map(|need| self.bytes(need).and_then(|bytes| parse_object(bytes, "image config", self.limits)));
        let image = match &parsed {
            Some(Ok(map)) => ImageConfig::from_object(map),
            _ => ImageConfig::default(),
        };
        let wasm = declared || image.is_wasm_platform();
        if let (true, Some(Err(problem))) = (wasm, parsed) {
            self.facts.warnings.push(problem);
        }
        let search = Search { entrypoint: image.wasm_entrypoint(), any_wasm: wasm };
        let Some(need) = self.needs(BlobRole::Layer).next() else {
            return wasm;
        };
        let extracted = self
            .bytes(need)
            .map_err(CompatProblem::Blob)
            .and_then(|layer| extract_compat_layer(layer, search, self.limits).map_err(CompatProblem::Layer));
        self.facts.annotations.fill_from(&image.labels);
        let layer = match extracted {
            Ok(layer) => layer,
            Err(problem) => {
                // A candidate whose layer cannot be read is an ordinary image; one that holds a
                // plugin.wasm or entry point too large to inspect is still Wasm.
                let still_wasm = wasm || matches!(problem, CompatProblem::Layer(CompatError::ModuleTooLarge { .. }));
                if still_wasm {
                    self.fail(problem.to_string());
                }
                return still_wasm;
            }
        };
        self.facts.format = match layer.found_by {
            FoundBy::RootPluginWasm | FoundBy::NestedPluginWasm => WasmFormat::SoloCompat,
            FoundBy::Entrypoint | FoundBy::AnyWasm => WasmFormat::CrunWasmEdge,
        };
        self.facts.module_path = Some(layer.module_path);
        self.facts.warnings.extend(layer.warnings);
        if let Some(runtime_config) = layer.runtime_config {
            self.facts.has_runtime_config = true;
            match parse_object(&runtime_config, "runtime-config.json", self.limits) {
                Ok(map) => self.apply_solo(SoloConfig::from_object(&map)),
                Err(problem) => self.fail(problem),
            }
        }
        self.inspect(&layer.module, None, None);
        true
    }

    fn modules(&mut self) {
        let needs: Vec<&BlobNeed> = self.needs(BlobRole::Module).collect();
        let several = needs.len() > 1;
        for need in needs {
            let label = several.then(|| format!("Wasm layer {}", need.descriptor.digest));
            match self.bytes(need) {
                Ok(bytes) => self.inspect(bytes, Some(&need.descriptor.digest), label),
                Err(problem) => self.fail(problem),
            }
        }
    }

    /// Inspects one module; `layer` is the digest of the layer it came from, when it is a layer
    /// of its own (the caller's storage should have checked it, but a mix-up shows here).
    fn inspect(&mut self, bytes: &[u8], layer: Option<&Digest>, label: Option<String>) {
        match inspect_module(bytes, self.limits) {
            Ok(module) => {
                if let Some(digest) = layer.filter(|d| d.algorithm() == Algorithm::Sha256) {
                    if *digest != module.digest {
                        self.facts.warnings.push(format!("layer {digest} holds bytes with digest {}", module.digest));
                    }
                }
                self.facts.warnings.extend(module.warnings.iter().cloned());
                self.facts.modules.push(module);
            }
            Err(e) => match label {
                Some(label) => self.fail(format!("{label}: {e}")),
                None => self.fail(e.to_string()),
            },
        }
    }

    fn finish(mut self) -> Description {
        let facts = &mut self.facts;
        for module in &facts.modules {
            for abi in &module.proxy_abis {
                if !facts.detected_proxy_abis.contains(abi) {
                    facts.detected_proxy_abis.push(*abi);
                }
            }
        }
        facts.detected_proxy_abis.sort();
        for name in &facts.abi_versions {
            if let Some(declared) = parse_declared(name) {
                if !facts.declared_proxy_abis.contains(&declared.abi) {
                    facts.declared_proxy_abis.push(declared.abi);
                }
            }
        }
        if !facts.modules.is_empty() {
            if let Some(warning) = mismatch_warning(&facts.abi_versions, &facts.detected_proxy_abis) {
                facts.warnings.push(warning);
            }
        }
        self.check_cncf();
        match self.reason {
            Some(reason) => Description::Unrecognised { reason, facts: self.facts },
            None => Description::Wasm(self.facts),
        }
    }

    /// Compares a CNCF config with what the module is.
    fn check_cncf(&mut self) {
        let (Some(config), Some(module)) = (&self.facts.cncf, self.facts.modules.first()) else {
            return;
        };
        let mut warnings = Vec::new();
        match (config.os.as_deref(), module.kind) {
            (Some("wasip2"), ModuleKind::Module) => {
                warnings.push("the config says os wasip2 but the layer is a core module".into())
            }
            (Some("wasip1"), ModuleKind::Component) => {
                warnings.push("the config says os wasip1 but the layer is a component".into())
            }
            _ => {}
        }
        let own = module.digest.to_string();
        if !config.layer_digests.is_empty()
            && !config.layer_digests.contains(&own)
            && !self.plan.layer_digests.iter().any(|d| config.layer_digests.contains(d))
        {
            warnings.push("the config's layerDigests do not name the module layer".into());
        }
        let exports: HashSet<&str> = module.exports.iter().map(|e| e.name.as_str()).collect();
        let imports: HashSet<&str> = module.imports.iter().map(|i| i.name.as_str()).collect();
        let missing = |listed: &[String], present: &HashSet<&str>| -> Vec<String> {
            listed.iter().filter(|name| !present.contains(name.as_str())).cloned().collect()
        };
        if module.kind == ModuleKind::Component && module.export_count == module.exports.len() {
            let absent = missing(&config.component_exports, &exports);
            if !absent.is_empty() {
                warnings.push(format!("the config lists exports the component does not have: {}", absent.join(", ")));
            }
            let absent = missing(&config.component_imports, &imports);
            if !absent.is_empty() && module.import_count == module.imports.len() {
                warnings.push(format!("the config lists imports the component does not have: {}", absent.join(", ")));
            }
        }
        self.facts.warnings.extend(warnings);
    }
}

/// Why a compat layer gave no module: the blob itself, or its contents.
#[derive(Debug, thiserror::Error)]
enum CompatProblem {
    #[error("{0}")]
    Blob(String),
    #[error("{0}")]
    Layer(CompatError),
}

#[cfg(test)]
mod tests;
