//! `/v2/<name>/blobs/<digest>`

use axum::body::Body;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::Response;
use wasmhub_oci::{ByteRange, Digest, ErrorCode, RepoName};
use wasmhub_registry::{Caller, Registry};

use super::empty;
use crate::error::ApiError;

pub async fn get(
    registry: &Registry,
    caller: &Caller,
    name: &RepoName,
    digest: &Digest,
    head: bool,
    headers: &HeaderMap,
) -> Result<Response, ApiError> {
    let builder = Response::builder()
        .header(header::CONTENT_TYPE, "application/octet-stream")
        .header("docker-content-digest", digest.to_string())
        .header(header::ETAG, format!("\"{digest}\""))
        .header(header::ACCEPT_RANGES, "bytes");
    if head {
        let size = registry.blob_size(caller, name, digest).await?;
        let response = builder.status(StatusCode::OK).header(header::CONTENT_LENGTH, size).body(Body::empty());
        return Ok(response.expect("valid headers"));
    }
    let range = match headers.get(header::RANGE).map(|v| v.to_str()) {
        None => None,
        Some(Ok(text)) => ByteRange::parse(text).map_err(|e| {
            ApiError::new(ErrorCode::RangeInvalid, e.to_string()).with_status(StatusCode::RANGE_NOT_SATISFIABLE)
        })?,
        Some(Err(_)) => return Err(ApiError::new(ErrorCode::RangeInvalid, "Range header is not ASCII")),
    };
    let read = registry.read_blob(caller, name, digest, range).await?;
    let response = match read.range {
        Some((first, last)) => builder
            .status(StatusCode::PARTIAL_CONTENT)
            .header(header::CONTENT_RANGE, format!("bytes {first}-{last}/{}", read.size))
            .header(header::CONTENT_LENGTH, last - first + 1),
        None => builder.status(StatusCode::OK).header(header::CONTENT_LENGTH, read.size),
    };
    Ok(response.body(Body::from_stream(read.body)).expect("valid headers"))
}

pub async fn delete(
    registry: &Registry,
    caller: &Caller,
    name: &RepoName,
    digest: &Digest,
) -> Result<Response, ApiError> {
    registry.delete_blob(caller, name, digest).await?;
    Ok(empty(StatusCode::ACCEPTED, Vec::new()))
}
