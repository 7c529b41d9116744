//! Pulling and deleting blobs.

use wasmhub_oci::{ByteRange, Digest, RepoName};
use wasmhub_storage::BlobStream;

use crate::{Action, Caller, Registry, RegistryError};

/// A blob being served: its full size, the inclusive range being sent (if any), the bytes.
pub struct BlobRead {
    pub size: u64,
    pub range: Option<(u64, u64)>,
    pub body: BlobStream,
}

impl Registry {
    /// The size of a blob linked in `repository` (`HEAD`).
    pub async fn blob_size(
        &self,
        caller: &Caller,
        repository: &RepoName,
        digest: &Digest,
    ) -> Result<u64, RegistryError> {
        self.authorize(caller, repository, Action::Pull).await?;
        self.index
            .repository_blob_size(repository, digest)
            .await?
            .ok_or_else(|| RegistryError::BlobUnknown(digest.clone()))
    }

    /// Streams a blob, or the part of it `range` asks for (`GET`).
    pub async fn read_blob(
        &self,
        caller: &Caller,
        repository: &RepoName,
        digest: &Digest,
        range: Option<ByteRange>,
    ) -> Result<BlobRead, RegistryError> {
        let size = self.blob_size(caller, repository, digest).await?;
        let range = range
            .map(|range| range.resolve(size).map_err(|_| RegistryError::RangeNotSatisfiable { size }))
            .transpose()?;
        let body = self.storage.read_blob(digest, range).await.map_err(|error| {
            tracing::error!(%repository, %digest, %error, "the index lists a blob that storage cannot read");
            match error {
                // Lost from storage (fsck reports it): to the client it is simply not there.
                wasmhub_storage::StorageError::NotFound(_) => RegistryError::BlobUnknown(digest.clone()),
                other => other.into(),
            }
        })?;
        Ok(BlobRead { size, range, body })
    }

    /// Removes the blob's link from `repository`. The bytes stay until garbage collection
    /// finds no repository and no manifest referencing them.
    pub async fn delete_blob(
        &self,
        caller: &Caller,
        repository: &RepoName,
        digest: &Digest,
    ) -> Result<(), RegistryError> {
        self.authorize(caller, repository, Action::Delete).await?;
        let (actor, target) = (crate::actor_of(caller), digest.to_string());
        let audit = crate::audit::entry(&actor, "blob.delete", Some(repository.as_str()), &target, None);
        if self.index.unlink_blob(repository, digest, &audit).await? {
            Ok(())
        } else {
            Err(RegistryError::BlobUnknown(digest.clone()))
        }
    }
}
