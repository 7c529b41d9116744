//! Many small artifacts, as CI systems push them: for each, the layer and the config as
//! POST + PUT ?digest=, then the manifest PUT by tag; pulled back as manifest GET by tag and
//! both blob GETs, every body checked against its digest (4 KiB hashes cost nothing).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::bail;
use hyper::header::{ACCEPT, CONTENT_TYPE};
use hyper::{Method, StatusCode};
use wasmhub_oci::Digest;

use crate::http::{self, Conn, Target, EMPTY_BODY_HEADERS, OCTET_HEADERS};
use crate::payload::{Artifact, Blob, MANIFEST_ACCEPT, OCI_MANIFEST};

async fn push_blob(conn: &mut Conn, repo: &str, blob: &Blob) -> anyhow::Result<()> {
    let path = format!("/v2/{repo}/blobs/uploads/");
    let (headers, _) =
        conn.expect(StatusCode::ACCEPTED, Method::POST, &path, EMPTY_BODY_HEADERS, http::empty()).await?;
    let finish = http::with_query(&http::location(&headers)?, "digest", &blob.digest);
    conn.expect(StatusCode::CREATED, Method::PUT, &finish, OCTET_HEADERS, http::full(blob.bytes.clone())).await?;
    Ok(())
}

async fn push_one(conn: &mut Conn, repo: &str, artifact: &Artifact) -> anyhow::Result<()> {
    push_blob(conn, repo, &artifact.layer).await?;
    push_blob(conn, repo, &artifact.config).await?;
    let path = format!("/v2/{repo}/manifests/{}", artifact.tag);
    let body = http::full(artifact.manifest.bytes.clone());
    conn.expect(StatusCode::CREATED, Method::PUT, &path, &[(CONTENT_TYPE, OCI_MANIFEST)], body).await?;
    Ok(())
}

fn check(what: &str, body: &[u8], blob: &Blob) -> anyhow::Result<()> {
    if Digest::sha256_of(body).to_string() != blob.digest {
        bail!("{what}: content does not match {}", blob.digest);
    }
    Ok(())
}

async fn pull_one(conn: &mut Conn, repo: &str, artifact: &Artifact) -> anyhow::Result<()> {
    let path = format!("/v2/{repo}/manifests/{}", artifact.tag);
    let (_, body) =
        conn.expect(StatusCode::OK, Method::GET, &path, &[(ACCEPT, MANIFEST_ACCEPT)], http::empty()).await?;
    check(&path, &body, &artifact.manifest)?;
    for blob in [&artifact.config, &artifact.layer] {
        let path = format!("/v2/{repo}/blobs/{}", blob.digest);
        let (_, body) = conn.expect(StatusCode::OK, Method::GET, &path, &[], http::empty()).await?;
        check(&path, &body, blob)?;
    }
    Ok(())
}

#[derive(Clone, Copy)]
pub enum Direction {
    Push,
    Pull,
}

/// Pushes or pulls every artifact over `connections` connections, each taking the next
/// artifact as soon as it is done with one. Returns the wall time.
pub async fn run(
    target: &Target,
    repo: &str,
    artifacts: Arc<Vec<Artifact>>,
    connections: usize,
    direction: Direction,
) -> anyhow::Result<Duration> {
    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let workers: Vec<_> = (0..connections)
        .map(|_| {
            let (mut conn, repo, artifacts, next) =
                (target.connect(), repo.to_owned(), artifacts.clone(), next.clone());
            tokio::spawn(async move {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(artifact) = artifacts.get(i) else { return Ok::<_, anyhow::Error>(()) };
                    match direction {
                        Direction::Push => push_one(&mut conn, &repo, artifact).await?,
                        Direction::Pull => pull_one(&mut conn, &repo, artifact).await?,
                    }
                }
            })
        })
        .collect();
    for worker in workers {
        worker.await??;
    }
    Ok(started.elapsed())
}
