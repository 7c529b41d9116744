//! One big blob: streamed push (POST, one chunked PATCH, PUT ?digest=), monolithic push
//! (POST, PUT ?digest= with the whole body), and pull (GET).

use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use http_body_util::BodyExt;
use hyper::{Method, StatusCode};
use wasmhub_oci::{Algorithm, DigestHasher};

use crate::http::{self, Conn, EMPTY_BODY_HEADERS, OCTET_HEADERS};
use crate::payload::BigBlob;

async fn start_upload(conn: &mut Conn, repo: &str) -> anyhow::Result<String> {
    let path = format!("/v2/{repo}/blobs/uploads/");
    let (headers, _) =
        conn.expect(StatusCode::ACCEPTED, Method::POST, &path, EMPTY_BODY_HEADERS, http::empty()).await?;
    http::location(&headers)
}

/// POST, one PATCH with the whole blob in chunked transfer encoding, then an empty PUT.
pub async fn push_streamed(conn: &mut Conn, repo: &str, blob: &BigBlob, chunk: usize) -> anyhow::Result<Duration> {
    let started = Instant::now();
    let location = start_upload(conn, repo).await?;
    let body = http::chunked(blob.data.clone(), blob.times, chunk);
    let (headers, _) = conn.expect(StatusCode::ACCEPTED, Method::PATCH, &location, OCTET_HEADERS, body).await?;
    let location = http::location(&headers)?;
    let finish = http::with_query(&location, "digest", &blob.digest.to_string());
    conn.expect(StatusCode::CREATED, Method::PUT, &finish, EMPTY_BODY_HEADERS, http::empty()).await?;
    Ok(started.elapsed())
}

/// POST, then PUT ?digest= with the whole blob (`Content-Length` known).
pub async fn push_monolithic(conn: &mut Conn, repo: &str, blob: &BigBlob) -> anyhow::Result<Duration> {
    if blob.times != 1 {
        bail!("a monolithic push sends one buffer; use a size of at most 256 MiB");
    }
    let started = Instant::now();
    let location = start_upload(conn, repo).await?;
    let finish = http::with_query(&location, "digest", &blob.digest.to_string());
    let body = http::full(blob.data.clone());
    conn.expect(StatusCode::CREATED, Method::PUT, &finish, OCTET_HEADERS, body).await?;
    Ok(started.elapsed())
}

/// GETs the blob, counting bytes; with `verify`, also hashes them and compares the digest.
pub async fn pull(conn: &mut Conn, repo: &str, blob: &BigBlob, verify: bool) -> anyhow::Result<Duration> {
    let started = Instant::now();
    let path = format!("/v2/{repo}/blobs/{}", blob.digest);
    let response = conn.send(Method::GET, &path, &[], http::empty()).await?;
    if response.status() != StatusCode::OK {
        bail!("GET {path}: {}", response.status());
    }
    let mut body = response.into_body();
    let mut hasher = verify.then(|| DigestHasher::new(Algorithm::Sha256));
    let mut received = 0u64;
    while let Some(frame) = body.frame().await {
        let frame = frame.context("reading the blob")?;
        if let Some(data) = frame.data_ref() {
            received += data.len() as u64;
            if let Some(hasher) = hasher.as_mut() {
                hasher.update(data);
            }
        }
    }
    let elapsed = started.elapsed();
    if received != blob.size() {
        bail!("GET {path}: received {received} bytes, expected {}", blob.size());
    }
    if let Some(hasher) = hasher {
        let actual = hasher.finish();
        if actual != blob.digest {
            bail!("GET {path}: content hashes to {actual}, expected {}", blob.digest);
        }
    }
    Ok(elapsed)
}
