use std::error::Error as StdError;

#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    #[error("object not found in storage: {0}")]
    NotFound(String),
    #[error("reading the request body failed: {0}")]
    Body(Box<dyn StdError + Send + Sync>),
    #[error("request body is larger than the {limit}-byte limit")]
    TooLarge { limit: u64 },
    #[error("storage URL {0:?} is not supported (use file://<dir> or s3://<bucket>/<prefix>)")]
    UnsupportedUrl(String),
    #[error("invalid stored key {0:?}")]
    InvalidKey(String),
    #[error("object storage error: {0}")]
    Backend(#[from] object_store::Error),
    #[error("local storage I/O error: {0}")]
    Io(#[from] std::io::Error),
}

impl StorageError {
    pub(crate) fn from_backend(error: object_store::Error) -> StorageError {
        match error {
            object_store::Error::NotFound { path, .. } => StorageError::NotFound(path),
            other => StorageError::Backend(other),
        }
    }
}
