//! Compat layer extraction must stay within its limits for any bytes (gzip bombs included).
#![no_main]

use libfuzzer_sys::fuzz_target;
use wasmhub_wasm::{extract_compat_layer, Limits, Search};

fuzz_target!(|data: &[u8]| {
    // Small limits, so the fuzzer finds the edges of the caps quickly.
    let limits = Limits {
        max_module_bytes: 64 * 1024,
        max_config_bytes: 4 * 1024,
        max_unpacked_bytes: 1024 * 1024,
        ..Limits::default()
    };
    let search = Search { entrypoint: Some("/app.wasm"), any_wasm: data.first().is_some_and(|b| b & 1 == 1) };
    if let Ok(layer) = extract_compat_layer(data, search, &limits) {
        assert!(layer.module.len() as u64 <= limits.max_module_bytes);
        assert!(layer.runtime_config.map_or(0, |c| c.len()) as u64 <= limits.max_config_bytes);
    }
});
