//! Both phases together: the input is split into a manifest and blobs, and whatever the
//! manifest asks for is served from those blobs.
#![no_main]

use std::collections::HashMap;

use libfuzzer_sys::fuzz_target;
use wasmhub_oci::{Digest, Manifest};
use wasmhub_wasm::{describe, recognise, Limits};

fuzz_target!(|data: &[u8]| {
    let mut parts = data.split(|&b| b == 0xff);
    let Some(manifest) = parts.next() else { return };
    let Ok(manifest) = Manifest::parse(manifest, None) else { return };
    let limits = Limits::default();
    let recognition = recognise(&manifest, &limits);
    let blobs: Vec<&[u8]> = parts.collect();
    let store: HashMap<Digest, &[u8]> = recognition
        .needs()
        .iter()
        .zip(blobs.iter().cycle())
        .map(|(need, bytes)| (need.descriptor.digest.clone(), *bytes))
        .collect();
    let _ = describe(&recognition, &store, &limits);
});
