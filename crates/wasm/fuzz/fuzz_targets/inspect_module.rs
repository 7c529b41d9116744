//! `inspect_module` must return (facts or an error) for any bytes, never panic or hang.
#![no_main]

use libfuzzer_sys::fuzz_target;
use wasmhub_wasm::{inspect_module, Limits};

fuzz_target!(|data: &[u8]| {
    let _ = inspect_module(data, &Limits::default());
});
