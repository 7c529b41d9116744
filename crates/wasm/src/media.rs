//! The media types and annotation keys that mark Wasm in OCI manifests, as the tools that push
//! them write them (see DESIGN.md section 3 for the table of formats).

/// solo.io "oci" variant (`wasme push`): runtime config, also often repeated as `layers[0]`.
pub const SOLO_CONFIG: &str = "application/vnd.module.wasm.config.v1+json";
/// solo.io "oci" variant: the module itself, uncompressed.
pub const SOLO_CONTENT: &str = "application/vnd.module.wasm.content.layer.v1+wasm";

/// CNCF TAG-Runtime Wasm artifact (wkg, cargo-component, wasmCloud, `oci-wasm`).
pub const CNCF_CONFIG: &str = "application/vnd.wasm.config.v0+json";
/// CNCF layer: the module or component, uncompressed.
pub const CNCF_LAYER: &str = "application/wasm";

/// wasm-to-oci config (`{}`), and the layer it shares with Spin.
pub const WASM_TO_OCI_CONFIG: &str = "application/vnd.wasm.config.v1+json";
pub const WASM_CONTENT: &str = "application/vnd.wasm.content.layer.v1+wasm";

/// Spin's locked application: the config (older Spin) or a layer (Spin 2+).
pub const SPIN_APP: &str = "application/vnd.fermyon.spin.application.v1+config";

/// Container image configs and layers (compat variant, crun/WasmEdge images).
pub const OCI_IMAGE_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
pub const DOCKER_IMAGE_CONFIG: &str = "application/vnd.docker.container.image.v1+json";
pub const OCI_LAYER_TAR_GZIP: &str = "application/vnd.oci.image.layer.v1.tar+gzip";
pub const OCI_LAYER_TAR: &str = "application/vnd.oci.image.layer.v1.tar";
pub const DOCKER_LAYER_TAR_GZIP: &str = "application/vnd.docker.image.rootfs.diff.tar.gzip";

/// solo.io manifest annotations (`wasme push` writes both).
pub const ANN_RUNTIME_TYPE: &str = "module.wasm.runtime/type";
pub const ANN_ABI_VERSION: &str = "module.wasm.runtime/abi_version";
/// `compat` (Istio compat variant, or crun) and `compat-smart` (crun).
pub const ANN_VARIANT: &str = "module.wasm.image/variant";
/// crun's handler annotation (`wasm`, also `wasmedge`, `wasmtime`, `wasmer`).
pub const ANN_CRUN_HANDLER: &str = "run.oci.handler";
