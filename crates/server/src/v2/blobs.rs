//! `/v2/<name>/blobs/<digest>`

use axum::body::Body;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::Response;
use wasmhub_oci::{ByteRange, Digest, RepoName};
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
    let etag = format!("\"{digest}\"");
    let builder = Response::builder()
        .header(header::CONTENT_TYPE, "application/octet-stream")
        .header("docker-content-digest", digest.to_string())
        .header(header::ETAG, &etag)
        .header(header::ACCEPT_RANGES, "bytes");
    // A blob never changes under its digest: a client that holds it gets 304 once it is known
    // to be here and readable by the caller.
    if !head && super::manifests::none_match(headers, &etag) {
        registry.blob_size(caller, name, digest).await?;
        return Ok(builder.status(StatusCode::NOT_MODIFIED).body(Body::empty()).expect("valid headers"));
    }
    if head {
        let size = registry.blob_size(caller, name, digest).await?;
        let response = builder.status(StatusCode::OK).header(header::CONTENT_LENGTH, size).body(Body::empty());
        return Ok(response.expect("valid headers"));
    }
    // A Range that does not parse is ignored, as RFC 9110 §14.2 lets a server do: the whole
    // blob, after the same lookups and checks as any GET. (One that parses but lies beyond
    // the blob is a 416 with the blob's size.)
    let range = headers
        .get(header::RANGE)
        .and_then(|value| value.to_str().ok())
        .and_then(|text| ByteRange::parse(text).ok().flatten());
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
