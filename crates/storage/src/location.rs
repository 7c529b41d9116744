//! Where blobs live, parsed from `WASMHUB_STORAGE_URL`.

use std::path::PathBuf;
use std::str::FromStr;

use crate::StorageError;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StorageLocation {
    /// `file:///abs/dir` or `file://./relative/dir`, or a bare path.
    LocalDirectory(PathBuf),
    /// `s3://bucket/optional/prefix`: credentials, region and endpoint come from the usual
    /// `AWS_*` variables (`AWS_ENDPOINT_URL` for MinIO and other S3-compatible services).
    S3 { bucket: String, prefix: String },
}

/// S3 bucket names: 3-63 characters of lower-case letters, digits, '.' and '-'.
fn is_bucket_name(name: &str) -> bool {
    (3..=63).contains(&name.len())
        && name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'.' || b == b'-')
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
        if let Some(rest) = url.strip_prefix("s3://") {
            let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
            let prefix = prefix.trim_matches('/');
            let prefix_ok = prefix.split('/').all(|part| !matches!(part, "." | ".."))
                && !prefix.contains("//")
                && !prefix.bytes().any(|b| b.is_ascii_control());
            if !is_bucket_name(bucket) || !prefix_ok {
                return Err(StorageError::UnsupportedUrl(url.to_owned()));
            }
            return Ok(StorageLocation::S3 { bucket: bucket.to_owned(), prefix: prefix.to_owned() });
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
        assert_eq!(
            "s3://wasm-blobs/prod/eu".parse::<StorageLocation>().unwrap(),
            StorageLocation::S3 { bucket: "wasm-blobs".into(), prefix: "prod/eu".into() }
        );
        assert_eq!(
            "s3://wasm-blobs".parse::<StorageLocation>().unwrap(),
            StorageLocation::S3 { bucket: "wasm-blobs".into(), prefix: String::new() }
        );
        assert!("s3://Bad_Bucket/x".parse::<StorageLocation>().is_err());
        assert!("s3://bucket/../x".parse::<StorageLocation>().is_err());
        assert!("file://".parse::<StorageLocation>().is_err());
    }
}
