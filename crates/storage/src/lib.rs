//! Blob storage: content-addressed blobs and the parts of upload sessions, in any
//! `object_store` backend (a local directory by default).
//!
//! Layout inside the store:
//! - `blobs/<algorithm>/<first two hex>/<hex>`: a verified blob, immutable once written;
//! - `uploads/<upload id>.<part id>`: one chunk of an upload session, written while hashed
//!   (parts written by earlier versions: `uploads/<upload id>/<part id>`).
//!
//! A blob object only ever appears whole (written to a part, then renamed or composed into
//! place), so a crash leaves at most unreferenced parts, never a partial blob.

mod blobs;
mod error;
mod hashing;
mod listing;
mod local;
mod local_stream;
mod location;
mod mapped;
mod multipart;
mod upload;

pub use blobs::{BlobStore, BlobStream};
pub use error::StorageError;
pub use listing::{StoredBlob, StoredPart, LIST_PAGE};
pub use location::StorageLocation;
pub use upload::{PartKey, WrittenPart};
