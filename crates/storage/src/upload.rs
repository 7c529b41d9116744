//! Identifiers of upload sessions and of the parts written for them.

use object_store::path::Path;
use wasmhub_oci::UploadId;

use crate::StorageError;

/// The storage key of one written part: `uploads/<upload id>.<part uuid>`. Every write gets a
/// fresh part id, so two racing writes to the same session never touch the same object; the
/// index decides which of them counts.
///
/// Parts sit side by side in `uploads/`, not in a directory per upload: in a local directory
/// each upload's directory was created and removed again, and on ext4 without a journal every
/// new inode then scans past the recently deleted ones (`recently_deleted` in the kernel). A
/// profile of 16 connections pushing small artifacts spent a quarter of the server's time
/// there. Keys of the earlier form `uploads/<upload id>/<part uuid>` (parts recorded by an
/// older version) are still read, listed and deleted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartKey(String);

impl PartKey {
    pub(crate) fn new(upload: UploadId) -> PartKey {
        PartKey(format!("uploads/{upload}.{}", uuid::Uuid::new_v4().hyphenated()))
    }

    /// Re-validates a key read back from the index or found in storage.
    pub fn from_stored(key: &str) -> Result<PartKey, StorageError> {
        let invalid = || StorageError::InvalidKey(key.to_owned());
        let rest = key.strip_prefix("uploads/").ok_or_else(invalid)?;
        let (upload, part) = rest.split_once(['.', '/']).ok_or_else(invalid)?;
        if uuid::Uuid::try_parse(upload).is_err() || uuid::Uuid::try_parse(part).is_err() {
            return Err(invalid());
        }
        Ok(PartKey(key.to_owned()))
    }

    /// The upload session the part was written for.
    pub fn upload(&self) -> Option<UploadId> {
        let rest = self.0.strip_prefix("uploads/")?;
        rest.split_once(['.', '/'])?.0.parse().ok()
    }

    /// The directory of a key of the earlier form, `uploads/<upload id>`; `None` for a flat key.
    pub(crate) fn legacy_directory(&self) -> Option<&str> {
        self.0.rsplit_once('/').map(|(directory, _)| directory).filter(|directory| *directory != "uploads")
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub(crate) fn path(&self) -> Path {
        Path::from(self.0.as_str())
    }
}

/// What a body stream turned into: a part object and how many bytes it holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WrittenPart {
    pub key: PartKey,
    pub size: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn part_keys_round_trip_and_reject_traversal() {
        let upload = UploadId::random();
        let key = PartKey::new(upload);
        assert_eq!(PartKey::from_stored(key.as_str()).unwrap(), key);
        assert_eq!(key.upload(), Some(upload));
        assert_eq!(key.legacy_directory(), None);
        assert!(PartKey::from_stored("uploads/../blobs/x").is_err());
        assert!(PartKey::from_stored("blobs/sha256/aa/aa").is_err());
        assert!(PartKey::from_stored(&format!("uploads/{upload}.x")).is_err());
    }

    #[test]
    fn keys_of_the_earlier_directory_form_are_still_understood() {
        let upload = UploadId::random();
        let legacy = format!("uploads/{upload}/{}", uuid::Uuid::new_v4().hyphenated());
        let key = PartKey::from_stored(&legacy).unwrap();
        assert_eq!(key.upload(), Some(upload));
        assert_eq!(key.legacy_directory(), Some(format!("uploads/{upload}").as_str()));
    }
}
