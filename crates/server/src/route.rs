//! Parsing `/v2/...` paths into typed routes.
//!
//! A repository name contains `/` and may end in anything a keyword could also be
//! (`a/blobs/b`), so the path is read from its right-hand end: the last segments decide the
//! endpoint, and everything before them is the name.

use wasmhub_oci::{Digest, Reference, RepoName, UploadId};

use crate::error::ApiError;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    /// `/v2/`
    Base,
    /// `/v2/_catalog`
    Catalog,
    /// `/v2/<name>/manifests/<reference>`
    Manifest(RepoName, Reference),
    /// `/v2/<name>/blobs/<digest>`
    Blob(RepoName, Digest),
    /// `/v2/<name>/blobs/uploads/`
    Uploads(RepoName),
    /// `/v2/<name>/blobs/uploads/<id>`
    Upload(RepoName, UploadId),
    /// `/v2/<name>/tags/list`
    Tags(RepoName),
    /// `/v2/<name>/referrers/<digest>`
    Referrers(RepoName, Digest),
}

impl Route {
    /// The methods this endpoint answers: the `Allow` header of its 405.
    pub fn allowed_methods(&self) -> &'static str {
        match self {
            Route::Base => "GET, HEAD",
            Route::Catalog | Route::Tags(_) | Route::Referrers(..) => "GET",
            Route::Manifest(..) => "GET, HEAD, PUT, DELETE",
            Route::Blob(..) => "GET, HEAD, DELETE",
            Route::Uploads(_) => "POST",
            Route::Upload(..) => "GET, PATCH, PUT, DELETE",
        }
    }
}

fn name(segments: &[&str]) -> Result<RepoName, ApiError> {
    segments.join("/").parse().map_err(ApiError::name_invalid)
}

fn digest(text: &str) -> Result<Digest, ApiError> {
    text.parse().map_err(ApiError::digest_invalid)
}

/// Parses the part of the path after `/v2/`.
pub fn parse(path: &str) -> Result<Route, ApiError> {
    if path.is_empty() {
        return Ok(Route::Base);
    }
    if path == "_catalog" {
        return Ok(Route::Catalog);
    }
    let segments: Vec<&str> = path.split('/').collect();
    match segments.as_slice() {
        // Clients send the trailing slash; without it, "uploads" could only be a malformed
        // digest, so it names the same endpoint.
        [rest @ .., "blobs", "uploads", ""] | [rest @ .., "blobs", "uploads"] if !rest.is_empty() => {
            Ok(Route::Uploads(name(rest)?))
        }
        [rest @ .., "blobs", "uploads", id] if !rest.is_empty() => {
            let id = id.parse().map_err(|_| ApiError::upload_unknown())?;
            Ok(Route::Upload(name(rest)?, id))
        }
        [rest @ .., "blobs", reference] if !rest.is_empty() => Ok(Route::Blob(name(rest)?, digest(reference)?)),
        [rest @ .., "manifests", reference] if !rest.is_empty() => {
            let reference = reference.parse().map_err(ApiError::reference_invalid)?;
            Ok(Route::Manifest(name(rest)?, reference))
        }
        [rest @ .., "tags", "list"] if !rest.is_empty() => Ok(Route::Tags(name(rest)?)),
        [rest @ .., "referrers", reference] if !rest.is_empty() => {
            Ok(Route::Referrers(name(rest)?, digest(reference)?))
        }
        _ => Err(ApiError::not_found()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const D: &str = "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

    #[test]
    fn parses_every_endpoint_with_nested_names() {
        let n = |s: &str| s.parse::<RepoName>().unwrap();
        assert_eq!(parse(""), Ok(Route::Base));
        assert_eq!(parse("_catalog"), Ok(Route::Catalog));
        assert_eq!(parse("a/b/c/manifests/v1"), Ok(Route::Manifest(n("a/b/c"), "v1".parse().unwrap())));
        assert_eq!(parse(&format!("x/blobs/{D}")), Ok(Route::Blob(n("x"), D.parse().unwrap())));
        assert_eq!(parse("ns/blobs/uploads/"), Ok(Route::Uploads(n("ns"))));
        assert_eq!(parse("ns/blobs/uploads"), Ok(Route::Uploads(n("ns"))), "without the trailing slash");
        assert!(matches!(parse("ns/x/blobs/uploads/6f1c7c5e-8a43-4f0b-9d49-1b2c3d4e5f60"), Ok(Route::Upload(..))));
        assert_eq!(parse("a/tags/list"), Ok(Route::Tags(n("a"))));
        assert_eq!(parse(&format!("a/referrers/{D}")), Ok(Route::Referrers(n("a"), D.parse().unwrap())));
        // A repository may itself be called "blobs" or "manifests".
        assert_eq!(parse("blobs/manifests/latest"), Ok(Route::Manifest(n("blobs"), "latest".parse().unwrap())));
    }

    #[test]
    fn reports_the_spec_error_for_each_bad_part() {
        let code = |path: &str| parse(path).unwrap_err().code_str();
        assert_eq!(code("UPPER/manifests/v1"), "NAME_INVALID");
        assert_eq!(code("a/blobs/sha256:xyz"), "DIGEST_INVALID");
        assert_eq!(code("a/manifests/bad:ref:x"), "DIGEST_INVALID");
        assert_eq!(code("a/manifests/-bad"), "MANIFEST_INVALID");
        assert_eq!(code("a/blobs/uploads/not-a-uuid"), "BLOB_UPLOAD_UNKNOWN");
        assert_eq!(code("a/b"), "NAME_UNKNOWN");
        assert_eq!(code("a/../../etc/manifests/x"), "NAME_INVALID");
    }

    proptest! {
        #[test]
        fn never_panics(path in "[a-z0-9:/._-]{0,80}") {
            let _ = parse(&path);
        }
    }
}
