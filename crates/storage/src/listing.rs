//! Listing what storage holds, for garbage collection and the integrity check: every blob
//! object and every upload part, with its size and last-modified time (objects younger than
//! the collector's grace period are left alone, whatever the index says).

use std::time::{Duration, SystemTime};

use futures::stream::{BoxStream, StreamExt};
use object_store::path::Path;
use object_store::ObjectMeta;
use wasmhub_oci::{Digest, UploadId};

use crate::blobs::blob_path;
use crate::{BlobStore, PartKey, StorageError};

/// How many listed objects callers are expected to handle per batch (one index query per
/// batch): the unit of work between progress reports.
pub const LIST_PAGE: usize = 500;

/// A blob object found in storage.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredBlob {
    pub digest: Digest,
    pub size: u64,
    pub last_modified: SystemTime,
}

/// An upload part found in storage.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredPart {
    pub upload: UploadId,
    pub key: PartKey,
    pub size: u64,
    pub last_modified: SystemTime,
}

fn modified(meta: &ObjectMeta) -> SystemTime {
    let millis = meta.last_modified.timestamp_millis().max(0) as u64;
    SystemTime::UNIX_EPOCH + Duration::from_millis(millis)
}

/// `blobs/<algorithm>/<2 hex>/<hex>` back to a digest; `None` for anything else (which the
/// collector then never touches: it only deletes what it can name).
fn digest_of(path: &Path) -> Option<Digest> {
    let mut segments = path.as_ref().split('/');
    let (Some("blobs"), Some(algorithm), Some(_), Some(hex), None) =
        (segments.next(), segments.next(), segments.next(), segments.next(), segments.next())
    else {
        return None;
    };
    let digest: Digest = format!("{algorithm}:{hex}").parse().ok()?;
    // Only the canonical location counts (a copy under the wrong fan-out directory is not
    // the blob, and deleting the digest's object would delete the real one).
    (blob_path(&digest) == *path).then_some(digest)
}

impl BlobStore {
    /// Every blob object, in no particular order. Objects under `blobs/` that are not at a
    /// digest's canonical path are skipped with a warning.
    pub fn list_blobs(&self) -> BoxStream<'_, Result<StoredBlob, StorageError>> {
        self.store
            .list(Some(&Path::from("blobs")))
            .filter_map(|item| async move {
                match item {
                    Ok(meta) => match digest_of(&meta.location) {
                        Some(digest) => {
                            Some(Ok(StoredBlob { digest, size: meta.size, last_modified: modified(&meta) }))
                        }
                        None => {
                            tracing::warn!(object = %meta.location, "unexpected object under blobs/; leaving it alone");
                            None
                        }
                    },
                    Err(error) => Some(Err(StorageError::from_backend(error))),
                }
            })
            .boxed()
    }

    /// Every upload part, in no particular order; unexpected keys are skipped with a warning.
    pub fn list_upload_parts(&self) -> BoxStream<'_, Result<StoredPart, StorageError>> {
        self.store
            .list(Some(&Path::from("uploads")))
            .filter_map(|item| async move {
                match item {
                    Ok(meta) => {
                        let key = PartKey::from_stored(meta.location.as_ref()).ok();
                        let upload = key.as_ref().and_then(PartKey::upload);
                        match (key, upload) {
                            (Some(key), Some(upload)) => Some(Ok(StoredPart {
                                upload,
                                key,
                                size: meta.size,
                                last_modified: modified(&meta),
                            })),
                            _ => {
                                tracing::warn!(object = %meta.location, "unexpected object under uploads/; leaving it alone");
                                None
                            }
                        }
                    }
                    Err(error) => Some(Err(StorageError::from_backend(error))),
                }
            })
            .boxed()
    }

    /// The size and last-modified time of a blob object, or `None` when there is none.
    pub async fn blob_meta(&self, digest: &Digest) -> Result<Option<StoredBlob>, StorageError> {
        match self.store.head(&blob_path(digest)).await {
            Ok(meta) => {
                Ok(Some(StoredBlob { digest: digest.clone(), size: meta.size, last_modified: modified(&meta) }))
            }
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(other) => Err(StorageError::Backend(other)),
        }
    }

    /// Deletes a blob object. Only the garbage collector and `fsck --repair` call this, after
    /// fencing the digest in the index (see `wasmhub_registry::gc`); a missing object is fine.
    pub async fn delete_blob(&self, digest: &Digest) -> Result<(), StorageError> {
        match self.store.delete(&blob_path(digest)).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(other) => Err(StorageError::Backend(other)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_canonical_blob_paths_name_a_digest() {
        let digest = Digest::sha256_of(b"x");
        assert_eq!(digest_of(&blob_path(&digest)), Some(digest.clone()));
        let hex = digest.hex();
        assert_eq!(digest_of(&Path::from(format!("blobs/sha256/zz/{hex}"))), None);
        assert_eq!(digest_of(&Path::from(format!("blobs/sha256/{hex}"))), None);
        assert_eq!(digest_of(&Path::from("blobs/md5/aa/aabb")), None);
    }
}
