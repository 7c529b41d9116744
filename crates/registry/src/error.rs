//! The registry's one error type; each variant knows its distribution-spec error code.

use wasmhub_index::IndexError;
use wasmhub_oci::{Digest, ErrorCode, RepoName};
use wasmhub_storage::StorageError;

#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    #[error("blob {0} is not in the repository")]
    BlobUnknown(Digest),
    #[error("upload session is unknown (never started, finished or cancelled)")]
    UploadUnknown,
    #[error("uploaded content has digest {actual}, not {expected}")]
    DigestMismatch { expected: Digest, actual: Digest },
    #[error("chunk starts at byte {got}, but the upload has {expected} bytes")]
    ChunkOutOfOrder { expected: u64, got: u64 },
    #[error("{0}")]
    UploadInvalid(String),
    #[error("{0}")]
    SizeInvalid(String),
    #[error("range not satisfiable for a blob of {size} bytes")]
    RangeNotSatisfiable { size: u64 },
    #[error("manifest references {0}, which is not in the repository")]
    ManifestBlobUnknown(Digest),
    #[error("{0}")]
    ManifestInvalid(String),
    /// Strict validation: the manifest says Wasm, but its config or module cannot be read.
    #[error("the manifest is a Wasm artifact that cannot be read: {0}")]
    WasmInvalid(String),
    #[error("manifest {0} is not in the repository")]
    ManifestUnknown(String),
    #[error("repository {0} is not known to the registry")]
    NameUnknown(RepoName),
    #[error("{0}")]
    TooLarge(String),
    #[error("{0}")]
    PaginationInvalid(String),
    #[error("authentication required to {} {}", action.as_str(), repository.as_ref().map(|r| r.as_str()).unwrap_or("the registry"))]
    Unauthorized { repository: Option<RepoName>, action: crate::Action },
    #[error("{0}")]
    Denied(String),
    #[error("{0}")]
    Unsupported(String),
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    InvalidInput(String),
    #[error("too many failed sign-ins; try again in {retry_after_seconds} s")]
    TooManyAttempts { retry_after_seconds: u64 },
    #[error("the client's request body failed: {0}")]
    Body(String),
    #[error("{0}")]
    BadRequest(String),
    #[error("{0}")]
    Internal(String),
    #[error(transparent)]
    Storage(StorageError),
    #[error(transparent)]
    Index(IndexError),
}

impl RegistryError {
    /// The spec's error code; `None` for server-side failures (answered with 500).
    pub fn code(&self) -> Option<ErrorCode> {
        Some(match self {
            RegistryError::BlobUnknown(_) => ErrorCode::BlobUnknown,
            RegistryError::UploadUnknown => ErrorCode::BlobUploadUnknown,
            RegistryError::DigestMismatch { .. } => ErrorCode::DigestInvalid,
            RegistryError::ChunkOutOfOrder { .. } | RegistryError::RangeNotSatisfiable { .. } => {
                ErrorCode::RangeInvalid
            }
            RegistryError::UploadInvalid(_) | RegistryError::Body(_) => ErrorCode::BlobUploadInvalid,
            RegistryError::SizeInvalid(_) => ErrorCode::SizeInvalid,
            RegistryError::ManifestBlobUnknown(_) => ErrorCode::ManifestBlobUnknown,
            RegistryError::ManifestInvalid(_) | RegistryError::WasmInvalid(_) => ErrorCode::ManifestInvalid,
            RegistryError::ManifestUnknown(_) => ErrorCode::ManifestUnknown,
            RegistryError::NameUnknown(_) => ErrorCode::NameUnknown,
            RegistryError::TooLarge(_) => ErrorCode::TooLarge,
            RegistryError::PaginationInvalid(_) => ErrorCode::PaginationNumberInvalid,
            RegistryError::Unauthorized { .. } => ErrorCode::Unauthorized,
            RegistryError::Denied(_) => ErrorCode::Denied,
            RegistryError::Unsupported(_) => ErrorCode::Unsupported,
            RegistryError::Conflict(_) | RegistryError::InvalidInput(_) => ErrorCode::Denied,
            RegistryError::TooManyAttempts { .. } => ErrorCode::TooManyRequests,
            RegistryError::BadRequest(_) => ErrorCode::Unsupported,
            RegistryError::Storage(_) | RegistryError::Index(_) | RegistryError::Internal(_) => return None,
        })
    }
}

impl From<StorageError> for RegistryError {
    fn from(error: StorageError) -> Self {
        match error {
            StorageError::Body(source) => RegistryError::Body(source.to_string()),
            StorageError::TooLarge { limit } => {
                RegistryError::TooLarge(format!("blob is larger than the registry's {limit}-byte limit"))
            }
            other => RegistryError::Storage(other),
        }
    }
}

impl From<IndexError> for RegistryError {
    fn from(error: IndexError) -> Self {
        match error {
            IndexError::MissingReference(digest) => RegistryError::ManifestBlobUnknown(digest),
            IndexError::ImmutableTag { repository, tag } => RegistryError::Denied(format!(
                "tag {tag} of {repository} is immutable and already names another manifest; push under a new tag"
            )),
            IndexError::NameTaken(name) => RegistryError::Conflict(format!("the name {name:?} is already taken")),
            IndexError::NamespaceHoldsRepositories(_) => RegistryError::Conflict(error.to_string()),
            other => RegistryError::Index(other),
        }
    }
}
