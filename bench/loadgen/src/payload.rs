//! Pre-generated content: every byte a workload sends exists, with its digest, before the
//! clock starts, so the client spends its time on the network and nothing else.

use bytes::Bytes;
use wasmhub_oci::{Algorithm, Digest, DigestHasher};

pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
pub const WASM_CONFIG: &str = "application/vnd.wasm.config.v0+json";
pub const WASM_LAYER: &str = "application/wasm";
/// What a pull sends in `Accept`, as container tools do.
pub const MANIFEST_ACCEPT: &str =
    "application/vnd.oci.image.manifest.v1+json, application/vnd.oci.image.index.v1+json, \
     application/vnd.docker.distribution.manifest.v2+json, application/vnd.docker.distribution.manifest.list.v2+json";

/// xorshift64*: fast, incompressible-looking bytes (nothing here compresses anyway).
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    pub fn fill(&mut self, buffer: &mut [u8]) {
        let mut words = buffer.chunks_exact_mut(8);
        for word in &mut words {
            word.copy_from_slice(&self.next_u64().to_le_bytes());
        }
        for byte in words.into_remainder() {
            *byte = self.next_u64() as u8;
        }
    }
}

pub fn random_bytes(len: usize, seed: u64) -> Vec<u8> {
    let mut buffer = vec![0u8; len];
    Rng::new(seed).fill(&mut buffer);
    buffer
}

/// sha256 of `data` repeated `times` times, with the hasher wasmhub itself uses.
pub fn digest_repeated(data: &[u8], times: usize) -> Digest {
    let mut hasher = DigestHasher::new(Algorithm::Sha256);
    for _ in 0..times {
        for chunk in data.chunks(1 << 20) {
            hasher.update(chunk);
        }
    }
    hasher.finish()
}

/// A big blob: `data` sent `times` times over (so a 2 GiB push needs only 256 MiB of memory).
pub struct BigBlob {
    pub data: Bytes,
    pub times: usize,
    pub digest: Digest,
}

impl BigBlob {
    pub fn new(size: u64, seed: u64) -> BigBlob {
        const MAX_BUFFER: u64 = 256 << 20;
        let (buffer, times) =
            if size <= MAX_BUFFER { (size, 1) } else { (MAX_BUFFER, size.div_ceil(MAX_BUFFER) as usize) };
        let data = random_bytes(buffer as usize, seed);
        let digest = digest_repeated(&data, times);
        BigBlob { data: Bytes::from(data), times, digest }
    }

    pub fn size(&self) -> u64 {
        self.data.len() as u64 * self.times as u64
    }
}

/// A valid Wasm core module of exactly `len` bytes (at least 16): the header, then one custom
/// section named "b" holding random bytes, so every module is distinct.
pub fn wasm_module(len: usize, rng: &mut Rng) -> Vec<u8> {
    let mut module = b"\0asm\x01\0\0\0".to_vec();
    module.push(0); // custom section
    let header = module.len() + 5; // section size as a padded 5-byte LEB128
    let section = (len - header) as u32;
    for shift in 0..5 {
        let byte = ((section >> (7 * shift)) & 0x7f) as u8;
        module.push(if shift < 4 { byte | 0x80 } else { byte });
    }
    module.extend_from_slice(&[1, b'b']);
    let mut payload = vec![0u8; len - module.len()];
    rng.fill(&mut payload);
    module.extend_from_slice(&payload);
    module
}

pub struct Blob {
    pub bytes: Bytes,
    pub digest: String,
}

impl Blob {
    fn new(bytes: Vec<u8>) -> Blob {
        let digest = Digest::sha256_of(&bytes).to_string();
        Blob { bytes: Bytes::from(bytes), digest }
    }
}

/// One small artifact in the CNCF Wasm layout: a module layer, its config, the manifest.
pub struct Artifact {
    pub tag: String,
    pub layer: Blob,
    pub config: Blob,
    pub manifest: Blob,
}

pub fn artifacts(count: usize, layer_size: usize, seed: u64) -> Vec<Artifact> {
    let mut rng = Rng::new(seed);
    (0..count)
        .map(|i| {
            let layer = Blob::new(wasm_module(layer_size, &mut rng));
            let config = serde_json::json!({
                "created": "2025-01-01T00:00:00Z",
                "author": format!("bench {seed}/{i}"),
                "architecture": "wasm",
                "os": "wasip2",
                "layerDigests": [layer.digest],
                "component": null,
            });
            let config = Blob::new(serde_json::to_vec(&config).expect("json"));
            let manifest = serde_json::json!({
                "schemaVersion": 2,
                "mediaType": OCI_MANIFEST,
                "config": { "mediaType": WASM_CONFIG, "digest": config.digest, "size": config.bytes.len() },
                "layers": [{ "mediaType": WASM_LAYER, "digest": layer.digest, "size": layer.bytes.len() }],
                "annotations": { "org.opencontainers.image.version": format!("1.0.{i}") },
            });
            let manifest = Blob::new(serde_json::to_vec(&manifest).expect("json"));
            Artifact { tag: format!("v{i}"), layer, config, manifest }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modules_have_the_requested_length_and_a_valid_section_size() {
        let mut rng = Rng::new(1);
        let module = wasm_module(4096, &mut rng);
        assert_eq!(module.len(), 4096);
        assert_eq!(&module[..8], b"\0asm\x01\0\0\0");
        let mut size = 0usize;
        for (shift, byte) in module[9..14].iter().enumerate() {
            size |= ((byte & 0x7f) as usize) << (7 * shift);
        }
        assert_eq!(14 + size, 4096);
    }

    #[test]
    fn repeated_digest_matches_the_digest_of_the_whole() {
        let data = random_bytes(1000, 7);
        let whole = [data.as_slice(), data.as_slice(), data.as_slice()].concat();
        assert_eq!(digest_repeated(&data, 3), Digest::sha256_of(&whole));
    }
}
