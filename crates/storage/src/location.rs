//! Where blobs live, parsed from `WASMHUB_STORAGE_URL`.

use std::path::PathBuf;
use std::str::FromStr;

use crate::StorageError;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StorageLocation {
    /// `file:///abs/dir` or `file://./relative/dir`, or a bare path.
    LocalDirectory(PathBuf),
}

impl FromStr for StorageLocation {
    type Err = StorageError;

    fn from_str(url: &str) -> Result<Self, Self::Err> {
        if let Some(path) = url.strip_prefix("file://") {
            if path.is_empty() {
                return Err(StorageError::UnsupportedUrl(url.to_owned()));
            }
            return Ok(StorageLocation::LocalDirectory(PathBuf::from(path)));
        }
        if !url.contains("://") && !url.is_empty() {
            return Ok(StorageLocation::LocalDirectory(PathBuf::from(url)));
        }
        Err(StorageError::UnsupportedUrl(url.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_file_urls_and_paths() {
        assert_eq!(
            "file://./data/blobs".parse::<StorageLocation>().unwrap(),
            StorageLocation::LocalDirectory("./data/blobs".into())
        );
        assert_eq!(
            "file:///var/lib/wasmhub".parse::<StorageLocation>().unwrap(),
            StorageLocation::LocalDirectory("/var/lib/wasmhub".into())
        );
        assert!("ftp://x".parse::<StorageLocation>().is_err());
        assert!("file://".parse::<StorageLocation>().is_err());
    }
}
