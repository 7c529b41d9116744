//! The registry's workflows: push, pull, mount, delete and discovery, with no HTTP in them.
//!
//! Each public function of `Registry` is one protocol operation. It takes typed inputs (names,
//! digests, references are parsed before they get here) and the `Caller`, checks access, and
//! coordinates the index (metadata) and storage (bytes). The CLI and tests can call these
//! directly; the server only translates HTTP to and from them.

mod access;
mod blobs;
mod discovery;
mod error;
mod manifests;
mod uploads;

use wasmhub_index::Index;
use wasmhub_storage::BlobStore;

pub use access::{Action, Caller};
pub use blobs::BlobRead;
pub use discovery::{Page, Referrers};
pub use error::RegistryError;
pub use manifests::PushedManifest;
pub use uploads::{MountOutcome, UploadStatus};
pub use wasmhub_index as index;
pub use wasmhub_oci as oci;
pub use wasmhub_storage as storage;

/// Explicit bounds on what one request may make the registry do.
#[derive(Debug, Clone)]
pub struct Limits {
    /// Largest manifest accepted.
    pub max_manifest_bytes: usize,
    /// Largest blob accepted (across all chunks of an upload).
    pub max_blob_bytes: u64,
    /// Most entries one page of a listing returns, whatever `n` asks for.
    pub max_page_size: u32,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_manifest_bytes: wasmhub_oci::MAX_MANIFEST_BYTES,
            max_blob_bytes: 64 * 1024 * 1024 * 1024,
            max_page_size: 10_000,
        }
    }
}

/// The registry: an index and a blob store, shared by every request.
#[derive(Clone)]
pub struct Registry {
    index: Index,
    storage: BlobStore,
    limits: Limits,
}

impl Registry {
    pub fn new(index: Index, storage: BlobStore, limits: Limits) -> Registry {
        Registry { index, storage, limits }
    }

    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    pub fn index(&self) -> &Index {
        &self.index
    }
}
