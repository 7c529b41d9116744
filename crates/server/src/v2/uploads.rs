//! `/v2/<name>/blobs/uploads/[<id>]`: starting, appending to, inspecting, finishing and
//! cancelling uploads, and mounts.

use axum::body::{Body, HttpBody};
use axum::extract::Request;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::Response;
use futures::Stream;
use wasmhub_oci::{ContentRange, Digest, ErrorCode, RepoName, UploadId};
use wasmhub_registry::{Caller, MountOutcome, Registry, UploadStatus};

use super::{empty, range_header, Query};
use crate::error::ApiError;

fn session_response(status: StatusCode, name: &RepoName, upload: UploadStatus) -> Response {
    empty(
        status,
        vec![
            ("location", format!("/v2/{name}/blobs/uploads/{}", upload.id)),
            ("range", range_header(upload.size)),
            ("docker-upload-uuid", upload.id.to_string()),
        ],
    )
}

fn blob_created(name: &RepoName, digest: &Digest) -> Response {
    empty(
        StatusCode::CREATED,
        vec![("location", format!("/v2/{name}/blobs/{digest}")), ("docker-content-digest", digest.to_string())],
    )
}

fn digest_param(query: &Query, key: &str) -> Result<Option<Digest>, ApiError> {
    query.get(key).map(|text| text.parse().map_err(ApiError::digest_invalid)).transpose()
}

fn body_stream(body: Body) -> impl Stream<Item = Result<bytes::Bytes, axum::Error>> + Send {
    body.into_data_stream()
}

/// The chunk's `Content-Range`, checked against `Content-Length` when both are sent.
fn content_range(headers: &HeaderMap) -> Result<Option<ContentRange>, ApiError> {
    let Some(value) = headers.get(header::CONTENT_RANGE) else {
        return Ok(None);
    };
    let range = value
        .to_str()
        .ok()
        .and_then(|text| ContentRange::parse(text).ok())
        .ok_or_else(|| ApiError::new(ErrorCode::BlobUploadInvalid, "Content-Range must be <first>-<last>"))?;
    let length = headers.get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()).and_then(|v| v.parse::<u64>().ok());
    if let Some(length) = length.filter(|&length| length != range.len()) {
        return Err(ApiError::new(
            ErrorCode::SizeInvalid,
            format!("Content-Length {length} does not match Content-Range {}-{}", range.first, range.last),
        ));
    }
    Ok(Some(range))
}

pub async fn start(
    registry: &Registry,
    caller: &Caller,
    name: &RepoName,
    query: &Query,
    request: Request,
) -> Result<Response, ApiError> {
    // A mount that cannot be (a malformed digest or source) starts a plain upload, as the spec
    // asks of a mount the registry is unable to do, and as the reference registry does.
    if let Some(digest) = query.get("mount").and_then(|text| text.parse::<Digest>().ok()) {
        let from = query.get("from").and_then(|text| text.parse::<RepoName>().ok());
        return match registry.mount_or_start(caller, name, &digest, from.as_ref()).await? {
            MountOutcome::Mounted => Ok(blob_created(name, &digest)),
            MountOutcome::Started(upload) => Ok(session_response(StatusCode::ACCEPTED, name, upload)),
        };
    }
    if query.get("mount").is_some() {
        let upload = registry.start_upload(caller, name).await?;
        return Ok(session_response(StatusCode::ACCEPTED, name, upload));
    }
    if let Some(digest) = digest_param(query, "digest")? {
        let body = body_stream(request.into_body());
        registry.monolithic_upload(caller, name, &digest, body).await?;
        return Ok(blob_created(name, &digest));
    }
    let upload = registry.start_upload(caller, name).await?;
    Ok(session_response(StatusCode::ACCEPTED, name, upload))
}

pub async fn patch(
    registry: &Registry,
    caller: &Caller,
    name: &RepoName,
    id: UploadId,
    request: Request,
) -> Result<Response, ApiError> {
    let range = content_range(request.headers())?;
    let body = body_stream(request.into_body());
    let upload = registry.upload_chunk(caller, name, id, range, body).await?;
    Ok(session_response(StatusCode::ACCEPTED, name, upload))
}

pub async fn status(registry: &Registry, caller: &Caller, name: &RepoName, id: UploadId) -> Result<Response, ApiError> {
    let upload = registry.upload_status(caller, name, id).await?;
    Ok(session_response(StatusCode::NO_CONTENT, name, upload))
}

pub async fn finish(
    registry: &Registry,
    caller: &Caller,
    name: &RepoName,
    id: UploadId,
    query: &Query,
    request: Request,
) -> Result<Response, ApiError> {
    let digest = digest_param(query, "digest")?
        .ok_or_else(|| ApiError::new(ErrorCode::DigestInvalid, "the digest query parameter is required"))?;
    let range = content_range(request.headers())?;
    let body = request.into_body();
    let last_chunk = (body.size_hint().exact() != Some(0)).then(|| body_stream(body));
    registry.finish_upload(caller, name, id, &digest, range, last_chunk).await?;
    Ok(blob_created(name, &digest))
}

pub async fn cancel(registry: &Registry, caller: &Caller, name: &RepoName, id: UploadId) -> Result<Response, ApiError> {
    registry.cancel_upload(caller, name, id).await?;
    Ok(empty(StatusCode::NO_CONTENT, Vec::new()))
}
