//! The OCI distribution and image specs as Rust types.
//!
//! Everything a client sends (repository names, tags, digests, media types, manifests, `Range`
//! and `Content-Range` headers) is parsed here, once, into a type that cannot hold an invalid
//! value. Nothing in this crate performs I/O.

pub mod digest;
pub mod error;
pub mod hasher;
pub mod manifest;
pub mod media_type;
pub mod name;
pub mod range;
pub mod upload;

pub use digest::{Algorithm, Digest, DigestError};
pub use error::ErrorCode;
pub use hasher::DigestHasher;
pub use manifest::{Descriptor, Manifest, ManifestError, ManifestKind, MAX_MANIFEST_BYTES, MAX_MANIFEST_REFERENCES};
pub use media_type::{MediaType, MediaTypeError};
pub use name::{NameError, Namespace, Reference, RepoName, Tag};
pub use range::{ByteRange, ContentRange, RangeError};
pub use upload::{IssuedUploadId, UploadId};
