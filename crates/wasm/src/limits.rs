//! Size and count limits that bound the work done for one manifest.
//!
//! Every byte this crate looks at was pushed by someone else, so each blob it asks for has a hard
//! ceiling, checked against the manifest's declared size *before* the caller fetches anything,
//! and again against the actual bytes. Decompression (compat layers) is capped separately,
//! because a small gzip stream can expand a thousandfold.

use serde::{Deserialize, Serialize};

const MIB: u64 = 1024 * 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Limits {
    /// Largest Wasm module (or component) that is inspected.
    pub max_module_bytes: u64,
    /// Largest JSON config (solo.io runtime config, CNCF config, image config, Spin locked app).
    pub max_config_bytes: u64,
    /// Largest compressed tar layer fetched to look for `plugin.wasm` or a `*.wasm` entry point.
    pub max_layer_bytes: u64,
    /// Most bytes read out of a compat layer after decompression, across all its entries.
    pub max_unpacked_bytes: u64,
    /// Most Wasm modules inspected for one manifest (Spin applications have one per component).
    pub max_modules: usize,
    /// Most imports, exports or interface names kept per module; the rest are counted, not kept.
    pub max_names: usize,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            max_module_bytes: 64 * MIB,
            max_config_bytes: MIB,
            max_layer_bytes: 64 * MIB,
            max_unpacked_bytes: 256 * MIB,
            max_modules: 16,
            max_names: 10_000,
        }
    }
}

/// Formats a byte count for messages people read ("65 MiB", "812 bytes").
pub(crate) fn human_bytes(bytes: u64) -> String {
    let whole = bytes / MIB;
    if whole > 0 && whole * MIB == bytes {
        format!("{whole} MiB")
    } else if whole > 0 {
        format!("{:.1} MiB", bytes as f64 / MIB as f64)
    } else {
        format!("{bytes} bytes")
    }
}
