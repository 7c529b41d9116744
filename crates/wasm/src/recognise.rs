//! Phase 1: from the manifest alone, decide whether an artifact is Wasm, in which format, and
//! which blobs phase 2 needs.
//!
//! This runs on every manifest push, Wasm or not, so it only looks at media types, sizes and a
//! few annotations, and allocates only for the (small) list of blobs it asks for. Every blob it
//! asks for is checked against its limit here, before the caller fetches anything; a module
//! that is too large is not fetched at all, and phase 2 reports why.

use wasmhub_oci::{Descriptor, Manifest};

use crate::facts::{ImageAnnotations, WasmFormat};
use crate::limits::{human_bytes, Limits};
use crate::media;

/// How sure phase 1 is that the artifact is Wasm.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Certainty {
    /// The media types or annotations say so.
    Declared,
    /// A plain container image with a small tar layer last: it may hold `plugin.wasm` or a Wasm
    /// entry point, and only its contents can tell. A caller that wants to spend nothing on
    /// ordinary images may skip these.
    Candidate,
}

/// What a needed blob is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BlobRole {
    /// The solo.io runtime config or the CNCF config.
    Config,
    /// A container image config (entry point, platform, labels).
    ImageConfig,
    /// Spin's locked application.
    SpinApp,
    /// An uncompressed Wasm module or component.
    Module,
    /// A tar(+gzip) layer that holds the module.
    Layer,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlobNeed {
    pub role: BlobRole,
    pub descriptor: Descriptor,
}

/// The outcome of phase 1.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Recognition {
    /// Not Wasm: nothing to fetch, nothing to index.
    NotWasm,
    Wasm(Box<Plan>),
}

impl Plan {
    /// The blobs to fetch before `describe`.
    pub fn needs(&self) -> &[BlobNeed] {
        &self.needs
    }
}

impl Recognition {
    /// The blobs to fetch before `describe` (none when not Wasm).
    pub fn needs(&self) -> &[BlobNeed] {
        match self {
            Recognition::NotWasm => &[],
            Recognition::Wasm(plan) => &plan.needs,
        }
    }

    pub fn format(&self) -> Option<WasmFormat> {
        match self {
            Recognition::NotWasm => None,
            Recognition::Wasm(plan) => Some(plan.format),
        }
    }
}

/// What phase 2 needs to know from the manifest, copied out of it so the caller may drop the
/// manifest while it fetches blobs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    /// The format. For container images this is a first guess: phase 2 settles SoloCompat
    /// (`plugin.wasm`) against CrunWasmEdge (a `*.wasm` entry point).
    pub format: WasmFormat,
    pub certainty: Certainty,
    pub(crate) needs: Vec<BlobNeed>,
    /// Problems already visible in the manifest; they become warnings.
    pub(crate) warnings: Vec<String>,
    /// A problem that leaves nothing to inspect (the module is over the limit, or missing).
    pub(crate) fatal: Option<String>,
    pub(crate) annotations: ImageAnnotations,
    pub(crate) runtime_type: Option<String>,
    pub(crate) abi_annotation: Option<String>,
    /// Digests of the manifest's layers, for checking the CNCF `layerDigests`.
    pub(crate) layer_digests: Vec<String>,
}

/// Phase 1. Cheap: media types, sizes and annotations only.
pub fn recognise(manifest: &Manifest, limits: &Limits) -> Recognition {
    if manifest.kind.is_index() {
        return Recognition::NotWasm;
    }
    let config = manifest.config.as_ref();
    let config_is = |media_type: &str| config.is_some_and(|c| c.media_type.is(media_type));
    let layer_with = |media_type: &str| manifest.layers.iter().find(|l| l.media_type.is(media_type));
    let annotation = |key: &str| manifest.annotations.get(key).map(|v| v.trim().to_ascii_lowercase());

    let mut plan = if config_is(media::SPIN_APP) || layer_with(media::SPIN_APP).is_some() {
        Planner::new(WasmFormat::Spin, manifest, limits).spin(config_is(media::SPIN_APP))
    } else if config_is(media::SOLO_CONFIG) || layer_with(media::SOLO_CONTENT).is_some() {
        let mut planner = Planner::new(WasmFormat::SoloOci, manifest, limits);
        let config = config.filter(|c| c.media_type.is(media::SOLO_CONFIG)).or(layer_with(media::SOLO_CONFIG));
        planner.config(config, BlobRole::Config, "runtime config");
        planner.module(&[media::SOLO_CONTENT])
    } else if config_is(media::CNCF_CONFIG) || layer_with(media::CNCF_LAYER).is_some() {
        let mut planner = Planner::new(WasmFormat::CncfWasm, manifest, limits);
        // `oras push x.wasm:application/wasm` writes the empty config: nothing to read, nothing wrong.
        if config_is(media::CNCF_CONFIG) {
            planner.config(config, BlobRole::Config, "config");
        } else if let Some(other) = config.filter(|c| !c.media_type.is(wasmhub_oci::media_type::OCI_EMPTY)) {
            planner.plan.warnings.push(format!(
                "the config is {}, not {}; not read",
                other.media_type,
                media::CNCF_CONFIG
            ));
        }
        planner.module(&[media::CNCF_LAYER, media::WASM_CONTENT])
    } else if config_is(media::WASM_TO_OCI_CONFIG) || layer_with(media::WASM_CONTENT).is_some() {
        Planner::new(WasmFormat::WasmToOci, manifest, limits).module(&[media::WASM_CONTENT])
    } else {
        let variant = annotation(media::ANN_VARIANT);
        let handler = annotation(media::ANN_CRUN_HANDLER);
        let (format, certainty) = match (variant.as_deref(), handler.as_deref()) {
            (Some("compat"), _) => (WasmFormat::SoloCompat, Certainty::Declared),
            (Some("compat-smart"), _) | (_, Some(_)) => (WasmFormat::CrunWasmEdge, Certainty::Declared),
            _ => (WasmFormat::SoloCompat, Certainty::Candidate),
        };
        let Some(plan) = Planner::new(format, manifest, limits).container(certainty) else {
            return Recognition::NotWasm;
        };
        plan
    };
    plan.layer_digests = manifest.layers.iter().map(|l| l.digest.to_string()).collect();
    Recognition::Wasm(Box::new(plan))
}

struct Planner<'m> {
    manifest: &'m Manifest,
    limits: &'m Limits,
    plan: Plan,
}

impl<'m> Planner<'m> {
    fn new(format: WasmFormat, manifest: &'m Manifest, limits: &'m Limits) -> Planner<'m> {
        let mut annotations = ImageAnnotations::default();
        annotations.fill_from(&manifest.annotations);
        let get = |key: &str| manifest.annotations.get(key).cloned();
        Planner {
            manifest,
            limits,
            plan: Plan {
                format,
                certainty: Certainty::Declared,
                needs: Vec::new(),
                warnings: Vec::new(),
                fatal: None,
                annotations,
                runtime_type: get(media::ANN_RUNTIME_TYPE),
                abi_annotation: get(media::ANN_ABI_VERSION),
                layer_digests: Vec::new(),
            },
        }
    }

    fn need(&mut self, role: BlobRole, descriptor: &Descriptor) {
        self.plan.needs.push(BlobNeed { role, descriptor: descriptor.clone() });
    }

    /// Asks for a config blob if it is within the config limit; a missing or oversized config
    /// is a warning, since the module can still be inspected.
    fn config(&mut self, descriptor: Option<&Descriptor>, role: BlobRole, what: &str) {
        match descriptor {
            Some(d) if d.size > self.limits.max_config_bytes => self.plan.warnings.push(format!(
                "the {what} is {}, above the {} limit; not read",
                human_bytes(d.size),
                human_bytes(self.limits.max_config_bytes)
            )),
            Some(d) => self.need(role, d),
            None => self.plan.warnings.push(format!("the manifest has no {what}")),
        }
    }

    /// Asks for the first layer of one of `media_types` as the module.
    fn module(mut self, media_types: &[&str]) -> Plan {
        let mut modules = self.manifest.layers.iter().filter(|l| media_types.iter().any(|m| l.media_type.is(m)));
        match modules.next() {
            None => self.plan.fatal = Some(format!("the manifest has no {} layer", media_types[0])),
            Some(layer) if layer.size > self.limits.max_module_bytes => {
                self.plan.fatal = Some(too_large("the module layer", layer.size, self.limits.max_module_bytes))
            }
            Some(layer) => self.need(BlobRole::Module, layer),
        }
        let others = modules.count();
        if others > 0 {
            self.plan
                .warnings
                .push(format!("the manifest has {} module layers; only the first was inspected", others + 1));
        }
        self.plan
    }

    /// Spin: the locked app (config or layer) and each component's Wasm layer.
    fn spin(mut self, app_is_config: bool) -> Plan {
        let app = if app_is_config {
            self.manifest.config.as_ref()
        } else {
            self.manifest.layers.iter().find(|l| l.media_type.is(media::SPIN_APP))
        };
        self.config(app, BlobRole::SpinApp, "Spin application");
        let layers: Vec<&Descriptor> =
            self.manifest.layers.iter().filter(|l| l.media_type.is(media::WASM_CONTENT)).collect();
        for layer in &layers {
            if self.plan.needs.iter().filter(|n| n.role == BlobRole::Module).count() >= self.limits.max_modules {
                self.plan.warnings.push(format!(
                    "the application has {} Wasm layers; only the first {} were inspected",
                    layers.len(),
                    self.limits.max_modules
                ));
                break;
            }
            if layer.size > self.limits.max_module_bytes {
                let what = format!("the Wasm layer {}", layer.digest);
                self.plan.warnings.push(too_large(&what, layer.size, self.limits.max_module_bytes));
            } else {
                self.need(BlobRole::Module, layer);
            }
        }
        if layers.is_empty() {
            self.plan.fatal = Some("the Spin application has no Wasm layer".into());
        }
        self.plan
    }

    /// A container image: its config and last layer. None when it cannot hold Wasm.
    fn container(mut self, certainty: Certainty) -> Option<Plan> {
        let config = self.manifest.config.as_ref();
        let image_config =
            config.filter(|c| c.media_type.is(media::OCI_IMAGE_CONFIG) || c.media_type.is(media::DOCKER_IMAGE_CONFIG));
        let last = self.manifest.layers.last();
        let tar_layer = last.filter(|l| {
            [media::OCI_LAYER_TAR_GZIP, media::DOCKER_LAYER_TAR_GZIP, media::OCI_LAYER_TAR]
                .iter()
                .any(|m| l.media_type.is(m))
        });
        self.plan.certainty = certainty;
        if certainty == Certainty::Candidate {
            let layer = tar_layer.filter(|l| l.size <= self.limits.max_layer_bytes)?;
            image_config?;
            self.config(image_config, BlobRole::ImageConfig, "image config");
            self.need(BlobRole::Layer, layer);
            return Some(self.plan);
        }
        if image_config.is_some() {
            self.config(image_config, BlobRole::ImageConfig, "image config");
        }
        match (last, tar_layer) {
            (None, _) => self.plan.fatal = Some("the image has no layers".into()),
            (Some(last), None) => {
                self.plan.fatal = Some(format!("the last layer is {}, not a tar or tar+gzip layer", last.media_type))
            }
            (_, Some(layer)) if layer.size > self.limits.max_layer_bytes => {
                self.plan.fatal = Some(too_large("the last layer", layer.size, self.limits.max_layer_bytes))
            }
            (_, Some(layer)) => self.need(BlobRole::Layer, layer),
        }
        Some(self.plan)
    }
}

fn too_large(what: &str, size: u64, limit: u64) -> String {
    format!("{what} is {}, above the {} limit", human_bytes(size), human_bytes(limit))
}

#[cfg(test)]
mod tests;
