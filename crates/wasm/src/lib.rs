//! WebAssembly in OCI registries: recognising the packaging conventions and inspecting modules.
//!
//! Pushed manifests are described in two phases, because the registry must fetch blobs from
//! storage in between and must fetch nothing at all for the (many) artifacts that are not Wasm:
//!
//! 1. [`recognise`] looks at the manifest alone (media types, annotations, sizes) and returns a
//!    [`Recognition`]: not Wasm, or a [`Plan`] naming the format and the blobs to fetch, each
//!    already checked against [`Limits`].
//! 2. [`describe`] takes those blobs (any [`BlobSource`], e.g. a `HashMap<Digest, Vec<u8>>`),
//!    reads the configs, extracts the module from a compat layer if needed, inspects every
//!    module with [`inspect_module`] and returns a [`Description`]: [`WasmFacts`] to index,
//!    `Unrecognised` with a reason (never an error that fails a push), or `NotWasm`.
//!
//! ```
//! use std::collections::HashMap;
//! use wasmhub_oci::{Digest, Manifest};
//! use wasmhub_wasm::{describe, recognise, Description, Limits};
//!
//! let module = b"\0asm\x01\0\0\0".to_vec();
//! let config = br#"{"architecture":"wasm","os":"wasip1","layerDigests":[]}"#.to_vec();
//! let manifest = format!(
//!     r#"{{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json",
//!     "config":{{"mediaType":"application/vnd.wasm.config.v0+json","digest":"{}","size":{}}},
//!     "layers":[{{"mediaType":"application/wasm","digest":"{}","size":{}}}]}}"#,
//!     Digest::sha256_of(&config), config.len(), Digest::sha256_of(&module), module.len(),
//! );
//! let manifest = Manifest::parse(manifest.as_bytes(), None).unwrap();
//! let limits = Limits::default();
//!
//! let recognition = recognise(&manifest, &limits);
//! let mut blobs = HashMap::new();
//! for need in recognition.needs() {
//!     // The registry reads these from storage.
//!     let bytes = if need.descriptor.digest == Digest::sha256_of(&config) { &config } else { &module };
//!     blobs.insert(need.descriptor.digest.clone(), bytes.clone());
//! }
//! let Description::Wasm(facts) = describe(&recognition, &blobs, &limits) else { panic!() };
//! assert_eq!(facts.cncf.unwrap().os.as_deref(), Some("wasip1"));
//! assert_eq!(facts.modules[0].digest, Digest::sha256_of(&module));
//! ```
//!
//! Nothing in this crate performs I/O, and nothing panics on any input: configs, layers and
//! modules are all attacker-controlled bytes.

pub mod abi;
pub mod compat;
mod config;
pub mod describe;
pub mod facts;
pub mod inspect;
pub mod limits;
pub mod media;
pub mod recognise;
mod spin;

#[cfg(test)]
mod fixtures;

pub use abi::ProxyAbi;
pub use compat::{extract_compat_layer, CompatError, CompatLayer, FoundBy, Search};
pub use describe::{describe, BlobSource};
pub use facts::{
    CncfConfig, ComponentFacts, Description, Export, ExternKind, ImageAnnotations, Import, ModuleFacts, ModuleKind,
    Producer, Producers, SpinApp, SpinComponent, Wasi, WasmFacts, WasmFormat,
};
pub use inspect::{inspect_module, InspectError};
pub use limits::Limits;
pub use recognise::{recognise, BlobNeed, BlobRole, Certainty, Plan, Recognition};
