//! `/v2/<name>/tags/list`, `/v2/_catalog`, `/v2/<name>/referrers/<digest>`

use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use wasmhub_oci::media_type::OCI_INDEX;
use wasmhub_oci::{Digest, ErrorCode, MediaType, RepoName, Tag};
use wasmhub_registry::{Caller, Page, Registry};

use super::Query;
use crate::error::ApiError;

fn page_size(query: &Query) -> Result<Option<u32>, ApiError> {
    query
        .get("n")
        .map(|n| {
            n.parse::<u32>().map_err(|_| {
                ApiError::new(ErrorCode::PaginationNumberInvalid, format!("n={n:?} is not a non-negative integer"))
            })
        })
        .transpose()
}

fn last_param<T: std::str::FromStr>(query: &Query) -> Result<Option<T>, ApiError> {
    query
        .get("last")
        .filter(|last| !last.is_empty())
        .map(|last| {
            last.parse().map_err(|_| {
                ApiError::new(ErrorCode::PaginationNumberInvalid, format!("last={last:?} is not a valid entry"))
            })
        })
        .transpose()
}

/// A JSON listing, with a `Link` to the next page when there is one.
fn listing<T: Serialize, I: std::fmt::Display>(body: &T, page: &Page<I>, path: &str, n: Option<u32>) -> Response {
    let json = serde_json::to_vec(body).expect("serialising plain data cannot fail");
    let mut response = (StatusCode::OK, [(header::CONTENT_TYPE, "application/json")], json).into_response();
    if let (true, Some(last)) = (page.more, page.items.last()) {
        let n = n.map_or(String::new(), |n| format!("n={n}&"));
        let last: String = form_urlencoded::byte_serialize(last.to_string().as_bytes()).collect();
        let link = format!("<{path}?{n}last={last}>; rel=\"next\"");
        response.headers_mut().insert(header::LINK, link.parse().expect("encoded link is a valid header"));
    }
    response
}

pub async fn tags(registry: &Registry, caller: &Caller, name: &RepoName, query: &Query) -> Result<Response, ApiError> {
    #[derive(Serialize)]
    struct TagList<'a> {
        name: &'a RepoName,
        tags: &'a [Tag],
    }
    let n = page_size(query)?;
    let last: Option<Tag> = last_param(query)?;
    let page = registry.list_tags(caller, name, n, last.as_ref()).await?;
    let body = TagList { name, tags: &page.items };
    Ok(listing(&body, &page, &format!("/v2/{name}/tags/list"), n))
}

pub async fn catalog(registry: &Registry, caller: &Caller, query: &Query) -> Result<Response, ApiError> {
    #[derive(Serialize)]
    struct Catalog<'a> {
        repositories: &'a [RepoName],
    }
    let n = page_size(query)?;
    let last: Option<RepoName> = last_param(query)?;
    let page = registry.catalog(caller, n, last.as_ref()).await?;
    let body = Catalog { repositories: &page.items };
    Ok(listing(&body, &page, "/v2/_catalog", n))
}

pub async fn referrers(
    registry: &Registry,
    caller: &Caller,
    name: &RepoName,
    subject: &Digest,
    query: &Query,
) -> Result<Response, ApiError> {
    let artifact_type = query
        .get("artifactType")
        .map(|text| {
            text.parse::<MediaType>().map_err(|e| {
                ApiError::new(ErrorCode::ManifestInvalid, e.to_string()).with_status(StatusCode::BAD_REQUEST)
            })
        })
        .transpose()?;
    let last: Option<Digest> = last_param(query)?;
    let referrers = registry.referrers(caller, name, subject, artifact_type.as_ref(), last.as_ref()).await?;
    let mut response = (StatusCode::OK, [(header::CONTENT_TYPE, OCI_INDEX)], referrers.index_json).into_response();
    if referrers.filtered {
        response.headers_mut().insert("oci-filters-applied", "artifactType".parse().expect("static header"));
    }
    if let Some(last) = referrers.more_after {
        // The spec's pagination: a `Link` to the next page, which keeps the filter.
        let filter = artifact_type.map_or(String::new(), |artifact_type| {
            let encoded: String = form_urlencoded::byte_serialize(artifact_type.as_str().as_bytes()).collect();
            format!("artifactType={encoded}&")
        });
        let link = format!("</v2/{name}/referrers/{subject}?{filter}last={last}>; rel=\"next\"");
        response.headers_mut().insert(header::LINK, link.parse().expect("encoded link is a valid header"));
    }
    Ok(response)
}
