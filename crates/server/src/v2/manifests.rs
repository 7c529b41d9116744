//! `/v2/<name>/manifests/<reference>`

use axum::body::Body;
use axum::extract::Request;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::Response;
use wasmhub_oci::{ErrorCode, MediaType, Reference, RepoName, Tag};
use wasmhub_registry::{Caller, Registry};

use super::{empty, Query};
use crate::error::ApiError;

pub async fn get(
    registry: &Registry,
    caller: &Caller,
    name: &RepoName,
    reference: &Reference,
    head: bool,
    headers: &HeaderMap,
) -> Result<Response, ApiError> {
    let manifest = registry.get_manifest(caller, name, reference).await?;
    let etag = format!("\"{}\"", manifest.digest);
    let not_modified = none_match(headers, &etag);
    let builder = Response::builder()
        .header(header::CONTENT_TYPE, manifest.media_type.as_str())
        .header("docker-content-digest", manifest.digest.to_string())
        .header(header::ETAG, &etag);
    let response = if not_modified {
        builder.status(StatusCode::NOT_MODIFIED).body(Body::empty())
    } else {
        let builder = builder.status(StatusCode::OK).header(header::CONTENT_LENGTH, manifest.content.len());
        if !head {
            registry.count_pull(name, reference);
        }
        builder.body(if head { Body::empty() } else { Body::from(manifest.content) })
    };
    Ok(response.expect("valid headers"))
}

/// Whether `If-None-Match` names `etag` or is `*`. RFC 9110 §13.1.2: this header uses the weak
/// comparison, so `W/"<digest>"` matches too; the header may be repeated or hold a list.
pub(super) fn none_match(headers: &HeaderMap, etag: &str) -> bool {
    headers
        .get_all(header::IF_NONE_MATCH)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .map(str::trim)
        .any(|candidate| candidate == "*" || candidate.strip_prefix("W/").unwrap_or(candidate) == etag)
}

pub async fn put(
    registry: &Registry,
    caller: &Caller,
    name: &RepoName,
    reference: &Reference,
    query: &Query,
    request: Request,
) -> Result<Response, ApiError> {
    let content_type =
        match request.headers().get(header::CONTENT_TYPE) {
            None => None,
            Some(value) => {
                Some(value.to_str().ok().and_then(|text| text.parse::<MediaType>().ok()).ok_or_else(|| {
                    ApiError::new(ErrorCode::ManifestInvalid, "Content-Type is not a valid media type")
                })?)
            }
        };
    let extra_tags = query
        .all("tag")
        .map(|tag| tag.parse::<Tag>().map_err(|e| ApiError::new(ErrorCode::ManifestInvalid, e.to_string())))
        .collect::<Result<Vec<_>, _>>()?;
    let limit = registry.limits().max_manifest_bytes;
    let body = axum::body::to_bytes(request.into_body(), limit).await.map_err(|error| {
        let too_large =
            std::error::Error::source(&error).is_some_and(|source| source.is::<http_body_util::LengthLimitError>());
        match too_large {
            true => {
                ApiError::new(ErrorCode::TooLarge, format!("manifest is larger than the registry's {limit}-byte limit"))
            }
            // A client that went away, mostly; nobody reads this answer.
            false => ApiError::new(ErrorCode::ManifestInvalid, format!("the manifest body could not be read: {error}")),
        }
    })?;
    let pushed = registry.put_manifest(caller, name, reference, content_type.as_ref(), &body, &extra_tags).await?;
    let mut headers = vec![
        ("location", format!("/v2/{name}/manifests/{}", pushed.digest)),
        ("docker-content-digest", pushed.digest.to_string()),
    ];
    if let Some(subject) = pushed.subject {
        headers.push(("oci-subject", subject.to_string()));
    }
    Ok(empty(StatusCode::CREATED, headers))
}

pub async fn delete(
    registry: &Registry,
    caller: &Caller,
    name: &RepoName,
    reference: &Reference,
) -> Result<Response, ApiError> {
    registry.delete_manifest(caller, name, reference).await?;
    Ok(empty(StatusCode::ACCEPTED, Vec::new()))
}
