//! An incremental digest whose state can be saved and restored.
//!
//! Chunked uploads may be continued on another replica, long after the first chunk arrived, so
//! the running hash cannot live only in one process's memory. `DigestHasher` exposes its state as
//! bytes (`to_state`/`from_state`), which the index stores beside the upload session. Built on
//! the raw compression functions of the `sha2` crate, so it runs at the same (SHA-NI/AVX)
//! speed as `sha2::Sha256`, and each byte is hashed exactly once.

use sha2::digest::generic_array::typenum::{U128, U64};
use sha2::digest::generic_array::{ArrayLength, GenericArray};

use crate::digest::{Algorithm, Digest};

const SHA256_INIT: [u32; 8] =
    [0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19];
const SHA512_INIT: [u64; 8] = [
    0x6a09e667f3bcc908,
    0xbb67ae8584caa73b,
    0x3c6ef372fe94f82b,
    0xa54ff53a5f1d36f1,
    0x510e527fade682d1,
    0x9b05688c2b3e6c1f,
    0x1f83d9abfb41bd6b,
    0x5be0cd19137e2179,
];

#[derive(Clone)]
enum State {
    Sha256([u32; 8]),
    Sha512([u64; 8]),
}

/// Running hash of a byte stream; see the module documentation.
#[derive(Clone)]
pub struct DigestHasher {
    state: State,
    /// Bytes not yet compressed (always less than one block).
    pending: Vec<u8>,
    /// Total bytes fed so far.
    length: u64,
}

#[derive(Debug, thiserror::Error)]
#[error("saved hash state is corrupt")]
pub struct CorruptHashState;

impl DigestHasher {
    pub fn new(algorithm: Algorithm) -> DigestHasher {
        let state = match algorithm {
            Algorithm::Sha256 => State::Sha256(SHA256_INIT),
            Algorithm::Sha512 => State::Sha512(SHA512_INIT),
        };
        DigestHasher { state, pending: Vec::with_capacity(128), length: 0 }
    }

    pub fn algorithm(&self) -> Algorithm {
        match self.state {
            State::Sha256(_) => Algorithm::Sha256,
            State::Sha512(_) => Algorithm::Sha512,
        }
    }

    fn block_len(&self) -> usize {
        match self.state {
            State::Sha256(_) => 64,
            State::Sha512(_) => 128,
        }
    }

    /// Bytes hashed so far.
    pub fn len(&self) -> u64 {
        self.length
    }

    pub fn is_empty(&self) -> bool {
        self.length == 0
    }

    pub fn update(&mut self, mut data: &[u8]) {
        self.length += data.len() as u64;
        let block = self.block_len();
        if !self.pending.is_empty() {
            let take = (block - self.pending.len()).min(data.len());
            self.pending.extend_from_slice(&data[..take]);
            data = &data[take..];
            if self.pending.len() < block {
                return;
            }
            let full = std::mem::take(&mut self.pending);
            self.compress(&full);
            self.pending = full;
            self.pending.clear();
        }
        let whole = data.len() - data.len() % block;
        self.compress(&data[..whole]);
        self.pending.extend_from_slice(&data[whole..]);
    }

    fn compress(&mut self, blocks: &[u8]) {
        if blocks.is_empty() {
            return;
        }
        match &mut self.state {
            State::Sha256(state) => sha2::compress256(state, as_blocks::<U64>(blocks)),
            State::Sha512(state) => sha2::compress512(state, as_blocks::<U128>(blocks)),
        }
    }

    /// Applies the spec's padding and returns the digest.
    pub fn finish(mut self) -> Digest {
        let block = self.block_len();
        let length_field = if block == 64 { 8 } else { 16 };
        let bit_length = (self.length as u128) * 8;
        let mut tail = std::mem::take(&mut self.pending);
        tail.push(0x80);
        while tail.len() % block != block - length_field {
            tail.push(0);
        }
        tail.extend_from_slice(&bit_length.to_be_bytes()[16 - length_field..]);
        self.compress(&tail);
        let output: Vec<u8> = match self.state {
            State::Sha256(state) => state.iter().flat_map(|w| w.to_be_bytes()).collect(),
            State::Sha512(state) => state.iter().flat_map(|w| w.to_be_bytes()).collect(),
        };
        Digest::from_raw(self.algorithm(), &output)
    }

    /// Serialises the running state: algorithm tag, chaining words, length, pending bytes.
    pub fn to_state(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(1 + 64 + 8 + self.pending.len());
        match &self.state {
            State::Sha256(state) => {
                out.push(1);
                state.iter().for_each(|w| out.extend_from_slice(&w.to_be_bytes()));
            }
            State::Sha512(state) => {
                out.push(2);
                state.iter().for_each(|w| out.extend_from_slice(&w.to_be_bytes()));
            }
        }
        out.extend_from_slice(&self.length.to_be_bytes());
        out.extend_from_slice(&self.pending);
        out
    }

    pub fn from_state(bytes: &[u8]) -> Result<DigestHasher, CorruptHashState> {
        let (&tag, rest) = bytes.split_first().ok_or(CorruptHashState)?;
        let (state, rest) = match tag {
            1 if rest.len() >= 32 + 8 => {
                let mut words = [0u32; 8];
                for (word, chunk) in words.iter_mut().zip(rest[..32].chunks_exact(4)) {
                    *word = u32::from_be_bytes(chunk.try_into().expect("4 bytes"));
                }
                (State::Sha256(words), &rest[32..])
            }
            2 if rest.len() >= 64 + 8 => {
                let mut words = [0u64; 8];
                for (word, chunk) in words.iter_mut().zip(rest[..64].chunks_exact(8)) {
                    *word = u64::from_be_bytes(chunk.try_into().expect("8 bytes"));
                }
                (State::Sha512(words), &rest[64..])
            }
            _ => return Err(CorruptHashState),
        };
        let length = u64::from_be_bytes(rest[..8].try_into().expect("8 bytes"));
        let pending = rest[8..].to_vec();
        let hasher = DigestHasher { state, pending, length };
        let consistent = hasher.pending.len() < hasher.block_len()
            && hasher.pending.len() as u64 == length % hasher.block_len() as u64;
        consistent.then_some(hasher).ok_or(CorruptHashState)
    }
}

/// Views whole blocks of `bytes` as the block arrays `compress256/512` take, without copying
/// (hashing is on the hot path of every upload).
fn as_blocks<N: ArrayLength<u8>>(bytes: &[u8]) -> &[GenericArray<u8, N>] {
    let block = N::USIZE;
    assert_eq!(bytes.len() % block, 0, "caller passes whole blocks");
    // SAFETY: `GenericArray<u8, N>` is a `#[repr(transparent)]` wrapper over `[u8; N]`:
    // size N, alignment 1, no invalid bit patterns; the length is a whole number of blocks and
    // the lifetime is carried over from `bytes`.
    unsafe { std::slice::from_raw_parts(bytes.as_ptr().cast(), bytes.len() / block) }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use sha2::Digest as _;

    fn reference(algorithm: Algorithm, data: &[u8]) -> String {
        match algorithm {
            Algorithm::Sha256 => format!("sha256:{:x}", sha2::Sha256::digest(data)),
            Algorithm::Sha512 => format!("sha512:{:x}", sha2::Sha512::digest(data)),
        }
    }

    proptest! {
        #[test]
        fn matches_sha2_when_fed_in_arbitrary_chunks_with_state_round_trips(
            data in proptest::collection::vec(any::<u8>(), 0..1000),
            cuts in proptest::collection::vec(0usize..1000, 0..6),
            sha512 in any::<bool>(),
        ) {
            let algorithm = if sha512 { Algorithm::Sha512 } else { Algorithm::Sha256 };
            let mut cuts: Vec<usize> = cuts.into_iter().map(|c| c % (data.len() + 1)).collect();
            cuts.sort();
            let mut hasher = DigestHasher::new(algorithm);
            let mut start = 0;
            for cut in cuts.into_iter().chain([data.len()]) {
                hasher.update(&data[start..cut]);
                hasher = DigestHasher::from_state(&hasher.to_state()).unwrap();
                start = cut;
            }
            prop_assert_eq!(hasher.len(), data.len() as u64);
            prop_assert_eq!(hasher.finish().to_string(), reference(algorithm, &data));
        }

        #[test]
        fn from_state_never_panics_on_garbage(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
            let _ = DigestHasher::from_state(&bytes);
        }
    }
}
