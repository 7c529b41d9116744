//! Identifiers of upload sessions and of the parts written for them.

use object_store::path::Path;
use wasmhub_oci::UploadId;

use crate::StorageError;

/// The storage key of one written part: `uploads/<upload id>/<part uuid>`. Every write gets a
/// fresh part id, so two racing writes to the same session never touch the same object; the
/// index decides which of them counts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartKey(String);

impl PartKey {
    pub(crate) fn new(upload: UploadId) -> PartKey {
        PartKey(format!("uploads/{upload}/{}", uuid::Uuid::new_v4().hyphenated()))
    }

    /// Re-validates a key read back from the index.
    pub fn from_stored(key: &str) -> Result<PartKey, StorageError> {
        let invalid = || StorageError::InvalidKey(key.to_owned());
        let rest = key.strip_prefix("uploads/").ok_or_else(invalid)?;
        let (upload, part) = rest.split_once('/').ok_or_else(invalid)?;
        if uuid::Uuid::try_parse(upload).is_err() || uuid::Uuid::try_parse(part).is_err() {
            return Err(invalid());
        }
        Ok(PartKey(key.to_owned()))
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
        let key = PartKey::new(UploadId::random());
        assert_eq!(PartKey::from_stored(key.as_str()).unwrap(), key);
        assert!(PartKey::from_stored("uploads/../blobs/x").is_err());
        assert!(PartKey::from_stored("blobs/sha256/aa/aa").is_err());
    }
}
