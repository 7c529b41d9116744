//! Push, blobs (OCI distribution-spec v1.1, end-4a/4b, end-5, end-6, end-11, end-13, end-14):
//! monolithic, single-POST, chunked, streamed and resumed uploads, digest checks, cancelling,
//! and cross-repository mounts. Manifest pushes are in `push_manifests.rs`.

use crate::common;

use common::{body, error_code, header, sha256, sha512, TestServer};

const BLOB: &[u8] = b"0123456789abcdefghijklmnopqrstuvwxyz";

/// `POST /blobs/uploads/` (with `Content-Length: 0`, as chunked clients send); checks the
/// 202 and returns the absolute session URL.
async fn start(server: &TestServer, repo: &str) -> String {
    let response =
        server.client.post(server.url(&format!("/v2/{repo}/blobs/uploads/"))).body(Vec::new()).send().await.unwrap();
    assert_eq!(response.status(), 202, "starting an upload in {repo}");
    server.location(&response)
}

/// `PATCH` one chunk, with a `Content-Range` when given.
async fn patch(server: &TestServer, url: &str, range: Option<&str>, chunk: &[u8]) -> reqwest::Response {
    let request = server.client.patch(url).header("content-type", "application/octet-stream");
    let request = match range {
        Some(range) => request.header("content-range", range),
        None => request,
    };
    request.body(chunk.to_vec()).send().await.unwrap()
}

/// The closing `PUT ?digest=`, with `last` as its body (possibly empty).
async fn finish(server: &TestServer, url: &str, digest: &str, last: &[u8]) -> reqwest::Response {
    server.client.put(url).query(&[("digest", digest)]).body(last.to_vec()).send().await.unwrap()
}

async fn status(server: &TestServer, url: &str) -> reqwest::Response {
    server.client.get(url).send().await.unwrap()
}

/// The bytes a repository serves for `digest`, or `None` on 404.
async fn pulled(server: &TestServer, repo: &str, digest: &str) -> Option<Vec<u8>> {
    let response = server.get(&format!("/v2/{repo}/blobs/{digest}")).await;
    match response.status().as_u16() {
        200 => Some(body(response).await),
        404 => None,
        other => panic!("GET blob answered {other}"),
    }
}

/// A streamed body: chunked transfer encoding, no `Content-Length`.
fn streamed(pieces: &[&[u8]]) -> reqwest::Body {
    let pieces: Vec<Result<Vec<u8>, std::io::Error>> = pieces.iter().map(|piece| Ok(piece.to_vec())).collect();
    reqwest::Body::wrap_stream(futures::stream::iter(pieces))
}

#[tokio::test]
async fn post_then_put_uploads_a_blob_monolithically() {
    let server = TestServer::start().await;
    let response = server.client.post(server.url("/v2/ns/app/blobs/uploads/")).send().await.unwrap();
    assert_eq!(response.status(), 202);
    let location = header(&response, "location");
    let id = location.rsplit('/').next().unwrap();
    assert!(location.starts_with("/v2/ns/app/blobs/uploads/"), "{location}");
    assert_eq!(id.len(), 36, "the session id is a UUID: {location}");
    assert_eq!(header(&response, "docker-upload-uuid"), id);

    let digest = sha256(BLOB);
    let response = server
        .client
        .put(server.location(&response))
        .query(&[("digest", &digest)])
        .header("content-type", "application/octet-stream")
        .body(BLOB)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    assert_eq!(header(&response, "location"), format!("/v2/ns/app/blobs/{digest}"));
    assert_eq!(header(&response, "docker-content-digest"), digest);
    assert_eq!(pulled(&server, "ns/app", &digest).await.as_deref(), Some(BLOB));
}

#[tokio::test]
async fn single_post_with_digest_uploads_a_blob() {
    let server = TestServer::start().await;
    let digest = sha256(BLOB);
    let url = server.url(&format!("/v2/ns/app/blobs/uploads/?digest={digest}"));
    let response = server.client.post(url).header("content-type", "application/octet-stream").body(BLOB);
    let response = response.send().await.unwrap();
    assert_eq!(response.status(), 201);
    assert_eq!(header(&response, "location"), format!("/v2/ns/app/blobs/{digest}"));
    assert_eq!(pulled(&server, "ns/app", &digest).await.as_deref(), Some(BLOB));
}

#[tokio::test]
async fn single_post_with_the_wrong_digest_is_rejected_and_stores_nothing() {
    let server = TestServer::start().await;
    let claimed = sha256(b"something else");
    let url = server.url(&format!("/v2/ns/app/blobs/uploads/?digest={claimed}"));
    let response = server.client.post(url).body(BLOB).send().await.unwrap();
    assert_eq!(response.status(), 400);
    assert_eq!(error_code(response).await, "DIGEST_INVALID");
    server.push_blob("ns/app", b"unrelated").await;
    assert_eq!(pulled(&server, "ns/app", &claimed).await, None);
    assert_eq!(pulled(&server, "ns/app", &sha256(BLOB)).await, None);
}

#[tokio::test]
async fn chunked_upload_reports_progress_and_assembles_the_chunks() {
    let server = TestServer::start().await;
    let mut url = start(&server, "ns/app").await;
    for (first, last) in [(0usize, 9usize), (10, 19), (20, BLOB.len() - 1)] {
        let response = patch(&server, &url, Some(&format!("{first}-{last}")), &BLOB[first..=last]).await;
        assert_eq!(response.status(), 202, "chunk {first}-{last}");
        assert_eq!(header(&response, "range"), format!("0-{last}"));
        url = server.location(&response);
        let response = status(&server, &url).await;
        assert_eq!(response.status(), 204);
        assert_eq!(header(&response, "range"), format!("0-{last}"));
        assert!(header(&response, "location").contains("/v2/ns/app/blobs/uploads/"));
    }
    let response = finish(&server, &url, &sha256(BLOB), b"").await;
    assert_eq!(response.status(), 201);
    assert_eq!(header(&response, "location"), format!("/v2/ns/app/blobs/{}", sha256(BLOB)));
    assert_eq!(pulled(&server, "ns/app", &sha256(BLOB)).await.as_deref(), Some(BLOB));
}

#[tokio::test]
async fn the_closing_put_may_carry_the_last_chunk() {
    let server = TestServer::start().await;
    let url = start(&server, "ns/app").await;
    let response = patch(&server, &url, Some("0-15"), &BLOB[..16]).await;
    assert_eq!(response.status(), 202);
    let response = server
        .client
        .put(server.location(&response))
        .query(&[("digest", sha256(BLOB))])
        .header("content-range", format!("16-{}", BLOB.len() - 1))
        .body(&BLOB[16..])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    assert_eq!(pulled(&server, "ns/app", &sha256(BLOB)).await.as_deref(), Some(BLOB));
}

/// A closing `PUT` with a body and no `Content-Range` is first taken for a whole blob (the
/// session is not read, `finish_upload`); after chunks, its body is their last chunk after all,
/// and an empty streamed body (chunked encoding, no length) adds nothing.
#[tokio::test]
async fn a_closing_put_without_a_range_after_chunks_appends_its_body() {
    let server = TestServer::start().await;
    let url = start(&server, "ns/app").await;
    assert_eq!(patch(&server, &url, None, &BLOB[..10]).await.status(), 202);
    let response = finish(&server, &url, &sha256(BLOB), &BLOB[10..]).await;
    assert_eq!(response.status(), 201);
    assert_eq!(pulled(&server, "ns/app", &sha256(BLOB)).await.as_deref(), Some(BLOB));

    let other = b"streamed, then closed by an empty streamed PUT";
    let url = start(&server, "ns/app").await;
    assert_eq!(patch(&server, &url, None, other).await.status(), 202);
    let response =
        server.client.put(&url).query(&[("digest", sha256(other))]).body(streamed(&[])).send().await.unwrap();
    assert_eq!(response.status(), 201);
    assert_eq!(pulled(&server, "ns/app", &sha256(other)).await.as_deref(), Some(&other[..]));
}

#[tokio::test]
async fn out_of_order_chunks_are_416_and_the_session_survives() {
    let server = TestServer::start().await;
    let url = start(&server, "ns/app").await;
    // The first chunk must start at 0.
    let response = patch(&server, &url, Some("10-19"), &BLOB[10..20]).await;
    assert_eq!(response.status(), 416);
    assert_eq!(error_code(response).await, "BLOB_UPLOAD_INVALID");
    assert_eq!(patch(&server, &url, Some("0-9"), &BLOB[..10]).await.status(), 202);
    // A gap, and a chunk that repeats bytes already received, are both out of order.
    for (range, chunk) in [("20-29", &BLOB[20..30]), ("5-14", &BLOB[5..15])] {
        assert_eq!(patch(&server, &url, Some(range), chunk).await.status(), 416, "{range}");
    }
    assert_eq!(header(&status(&server, &url).await, "range"), "0-9");
    assert_eq!(patch(&server, &url, Some(&format!("10-{}", BLOB.len() - 1)), &BLOB[10..]).await.status(), 202);
    assert_eq!(finish(&server, &url, &sha256(BLOB), b"").await.status(), 201);
    assert_eq!(pulled(&server, "ns/app", &sha256(BLOB)).await.as_deref(), Some(BLOB));
}

#[tokio::test]
async fn a_chunk_whose_length_disagrees_with_its_content_range_is_rejected() {
    let server = TestServer::start().await;
    let url = start(&server, "ns/app").await;
    assert_eq!(patch(&server, &url, Some("0-9"), &BLOB[..10]).await.status(), 202);
    // Content-Length (set from the body: 10) against a range of 5 bytes.
    let response = patch(&server, &url, Some("10-14"), &BLOB[10..20]).await;
    assert_eq!(response.status(), 400);
    assert_eq!(error_code(response).await, "SIZE_INVALID");
    // A streamed chunk (no Content-Length) longer, or shorter, than its range.
    for (range, chunk) in [("10-14", &BLOB[10..20]), ("10-29", &BLOB[10..20])] {
        let response = server.client.patch(&url).header("content-range", range).body(streamed(&[chunk]));
        let response = response.send().await.unwrap();
        assert_eq!(response.status(), 400, "{range}");
        assert_eq!(error_code(response).await, "BLOB_UPLOAD_INVALID");
    }
    let response = patch(&server, &url, Some("ten-twenty"), &BLOB[10..20]).await;
    assert_eq!(response.status(), 400);
    assert_eq!(error_code(response).await, "BLOB_UPLOAD_INVALID");
    // None of the rejected chunks moved the session.
    assert_eq!(header(&status(&server, &url).await, "range"), "0-9");
    assert_eq!(finish(&server, &url, &sha256(&BLOB[..10]), b"").await.status(), 201);
}

#[tokio::test]
async fn streamed_upload_is_one_chunked_patch_then_an_empty_put() {
    let server = TestServer::start().await;
    let url = start(&server, "ns/app").await;
    let pieces: [&[u8]; 3] = [&BLOB[..7], &BLOB[7..20], &BLOB[20..]];
    let response = server.client.patch(&url).body(streamed(&pieces)).send().await.unwrap();
    assert_eq!(response.status(), 202);
    assert_eq!(header(&response, "range"), format!("0-{}", BLOB.len() - 1));
    let response = finish(&server, &server.location(&response), &sha256(BLOB), b"").await;
    assert_eq!(response.status(), 201);
    assert_eq!(pulled(&server, "ns/app", &sha256(BLOB)).await.as_deref(), Some(BLOB));
}

#[tokio::test]
async fn an_upload_resumes_from_the_offset_its_status_reports() {
    let server = TestServer::start().await;
    let url = start(&server, "ns/app").await;
    assert_eq!(patch(&server, &url, None, &BLOB[..13]).await.status(), 202);
    // The client lost track: it asks where the session stands and continues from there.
    let response = status(&server, &url).await;
    assert_eq!(response.status(), 204);
    let range = header(&response, "range");
    let next: usize = range.strip_prefix("0-").unwrap().parse::<usize>().unwrap() + 1;
    assert_eq!(next, 13);
    let resume = server.location(&response);
    let response = patch(&server, &resume, Some(&format!("{next}-{}", BLOB.len() - 1)), &BLOB[next..]).await;
    assert_eq!(response.status(), 202);
    assert_eq!(finish(&server, &server.location(&response), &sha256(BLOB), b"").await.status(), 201);
    assert_eq!(pulled(&server, "ns/app", &sha256(BLOB)).await.as_deref(), Some(BLOB));
}

#[tokio::test]
async fn digest_mismatch_on_close_rejects_the_blob_and_ends_the_session() {
    let server = TestServer::start().await;
    let url = start(&server, "ns/app").await;
    assert_eq!(patch(&server, &url, Some("0-9"), &BLOB[..10]).await.status(), 202);
    let claimed = sha256(b"not what was sent");
    let response = finish(&server, &url, &claimed, &BLOB[10..]).await;
    assert_eq!(response.status(), 400);
    assert_eq!(error_code(response).await, "DIGEST_INVALID");
    assert_eq!(pulled(&server, "ns/app", &claimed).await, None);
    assert_eq!(pulled(&server, "ns/app", &sha256(BLOB)).await, None);
    let response = status(&server, &url).await;
    assert_eq!(response.status(), 404, "status after a digest mismatch");
    assert_eq!(error_code(response).await, "BLOB_UPLOAD_UNKNOWN");
}

#[tokio::test]
async fn sha512_digests_are_accepted() {
    let server = TestServer::start().await;
    let digest = sha512(BLOB);
    let url = server.url(&format!("/v2/ns/app/blobs/uploads/?digest={digest}"));
    assert_eq!(server.client.post(url).body(BLOB).send().await.unwrap().status(), 201);
    let response = server.get(&format!("/v2/ns/app/blobs/{digest}")).await;
    assert_eq!(response.status(), 200);
    assert_eq!(header(&response, "docker-content-digest"), digest);
    assert_eq!(body(response).await, BLOB);

    let other = b"a chunked upload closed with a sha512 digest";
    let url = start(&server, "ns/app").await;
    assert_eq!(patch(&server, &url, Some("0-9"), &other[..10]).await.status(), 202);
    assert_eq!(finish(&server, &url, &sha512(other), &other[10..]).await.status(), 201);
    assert_eq!(pulled(&server, "ns/app", &sha512(other)).await.as_deref(), Some(&other[..]));

    let url = start(&server, "ns/app").await;
    let response = finish(&server, &url, &sha512(b"other bytes"), other).await;
    assert_eq!(response.status(), 400);
    assert_eq!(error_code(response).await, "DIGEST_INVALID");
}

#[tokio::test]
async fn an_empty_blob_can_be_pushed_and_pulled() {
    let server = TestServer::start().await;
    let digest = server.push_blob("ns/one", b"").await;
    let url = start(&server, "ns/two").await;
    assert_eq!(finish(&server, &url, &digest, b"").await.status(), 201);
    for repo in ["ns/one", "ns/two"] {
        let response = server.get(&format!("/v2/{repo}/blobs/{digest}")).await;
        assert_eq!(response.status(), 200, "{repo}");
        assert_eq!(header(&response, "content-length"), "0");
        assert!(body(response).await.is_empty());
    }
}

#[tokio::test]
async fn pushing_a_blob_the_repository_already_has_succeeds() {
    let server = TestServer::start().await;
    let digest = server.push_blob("ns/app", BLOB).await;
    assert_eq!(server.push_blob("ns/app", BLOB).await, digest);
    let url = start(&server, "ns/app").await;
    assert_eq!(finish(&server, &url, &digest, BLOB).await.status(), 201);
    assert_eq!(pulled(&server, "ns/app", &digest).await.as_deref(), Some(BLOB));
}

#[tokio::test]
async fn a_cancelled_upload_is_gone() {
    let server = TestServer::start().await;
    let url = start(&server, "ns/app").await;
    assert_eq!(patch(&server, &url, Some("0-9"), &BLOB[..10]).await.status(), 202);
    let response = server.client.delete(&url).send().await.unwrap();
    assert_eq!(response.status(), 204);
    for response in [
        status(&server, &url).await,
        patch(&server, &url, Some("10-19"), &BLOB[10..20]).await,
        finish(&server, &url, &sha256(&BLOB[..10]), b"").await,
        server.client.delete(&url).send().await.unwrap(),
    ] {
        assert_eq!(response.status(), 404, "after cancel");
        assert_eq!(error_code(response).await, "BLOB_UPLOAD_UNKNOWN");
    }
    assert_eq!(pulled(&server, "ns/app", &sha256(&BLOB[..10])).await, None);
}

#[tokio::test]
async fn an_untouched_session_can_be_cancelled_and_is_gone_after() {
    let server = TestServer::start().await;
    let url = start(&server, "ns/app").await;
    assert_eq!(status(&server, &url).await.status(), 204, "a POST's session is open before any chunk");
    assert_eq!(server.client.delete(&url).send().await.unwrap().status(), 204);
    for response in [status(&server, &url).await, finish(&server, &url, &sha256(BLOB), BLOB).await] {
        assert_eq!(response.status(), 404, "after cancel");
        assert_eq!(error_code(response).await, "BLOB_UPLOAD_UNKNOWN");
    }
}

#[tokio::test]
async fn unknown_upload_ids_are_404_blob_upload_unknown() {
    let server = TestServer::start().await;
    // An id the registry issued (the POST writes nothing; the id is signed), one digit changed.
    let issued = start(&server, "ns/app").await;
    let id = issued.rsplit('/').next().unwrap().split('?').next().unwrap().to_owned();
    let last = if id.ends_with('0') { '1' } else { '0' };
    let forged = format!("{}{last}", &id[..id.len() - 1]);
    for id in ["6f1c7c5e-8a43-4f0b-9d49-1b2c3d4e5f60", "not-a-uuid", forged.as_str()] {
        let url = server.url(&format!("/v2/ns/app/blobs/uploads/{id}"));
        for response in [
            status(&server, &url).await,
            patch(&server, &url, None, BLOB).await,
            finish(&server, &url, &sha256(BLOB), BLOB).await,
            server.client.delete(&url).send().await.unwrap(),
        ] {
            assert_eq!(response.status(), 404, "{id}");
            assert_eq!(error_code(response).await, "BLOB_UPLOAD_UNKNOWN");
        }
    }
}

#[tokio::test]
async fn an_upload_session_belongs_to_its_repository() {
    let server = TestServer::start().await;
    let url = start(&server, "ns/one").await;
    let elsewhere = url.replace("/v2/ns/one/", "/v2/ns/two/");
    let response = patch(&server, &elsewhere, None, BLOB).await;
    assert_eq!(response.status(), 404, "PATCH through another repository");
    assert_eq!(error_code(response).await, "BLOB_UPLOAD_UNKNOWN");
    assert_eq!(finish(&server, &elsewhere, &sha256(BLOB), BLOB).await.status(), 404, "PUT elsewhere");
    assert_eq!(finish(&server, &url, &sha256(BLOB), BLOB).await.status(), 201);
    assert_eq!(pulled(&server, "ns/two", &sha256(BLOB)).await, None);
}

#[tokio::test]
async fn a_finished_upload_session_cannot_be_reused() {
    let server = TestServer::start().await;
    let url = start(&server, "ns/app").await;
    assert_eq!(finish(&server, &url, &sha256(BLOB), BLOB).await.status(), 201);
    for response in [
        status(&server, &url).await,
        patch(&server, &url, None, b"more").await,
        finish(&server, &url, &sha256(BLOB), BLOB).await,
    ] {
        assert_eq!(response.status(), 404, "after the closing PUT");
        assert_eq!(error_code(response).await, "BLOB_UPLOAD_UNKNOWN");
    }
}

#[tokio::test]
async fn closing_put_without_a_valid_digest_is_400_and_keeps_the_session() {
    let server = TestServer::start().await;
    let url = start(&server, "ns/app").await;
    assert_eq!(patch(&server, &url, None, BLOB).await.status(), 202);
    let response = server.client.put(&url).body(Vec::new()).send().await.unwrap();
    assert_eq!(response.status(), 400);
    assert_eq!(error_code(response).await, "DIGEST_INVALID");
    let response = finish(&server, &url, "sha256:abc", b"").await;
    assert_eq!(response.status(), 400);
    assert_eq!(error_code(response).await, "DIGEST_INVALID");
    assert_eq!(header(&status(&server, &url).await, "range"), format!("0-{}", BLOB.len() - 1));
    assert_eq!(finish(&server, &url, &sha256(BLOB), b"").await.status(), 201);
}

#[tokio::test]
async fn mount_from_another_repository_links_the_blob() {
    let server = TestServer::start().await;
    let digest = server.push_blob("ns/source", BLOB).await;
    let url = server.url(&format!("/v2/ns/target/blobs/uploads/?mount={digest}&from=ns/source"));
    let response = server.client.post(url).send().await.unwrap();
    assert_eq!(response.status(), 201);
    assert_eq!(header(&response, "location"), format!("/v2/ns/target/blobs/{digest}"));
    assert_eq!(header(&response, "docker-content-digest"), digest);
    assert_eq!(pulled(&server, "ns/target", &digest).await.as_deref(), Some(BLOB));
    assert_eq!(pulled(&server, "ns/source", &digest).await.as_deref(), Some(BLOB));
}

#[tokio::test]
async fn mount_of_a_blob_the_source_lacks_starts_an_upload_instead() {
    let server = TestServer::start().await;
    server.push_blob("ns/source", b"not the blob").await;
    let digest = sha256(BLOB);
    let url = server.url(&format!("/v2/ns/target/blobs/uploads/?mount={digest}&from=ns/source"));
    let response = server.client.post(url).send().await.unwrap();
    assert_eq!(response.status(), 202);
    let location = header(&response, "location");
    assert!(location.starts_with("/v2/ns/target/blobs/uploads/"), "{location}");
    assert_eq!(pulled(&server, "ns/target", &digest).await, None);
    assert_eq!(finish(&server, &server.location(&response), &digest, BLOB).await.status(), 201);
    assert_eq!(pulled(&server, "ns/target", &digest).await.as_deref(), Some(BLOB));
}

#[tokio::test]
async fn mount_without_from_finds_the_blob_in_another_repository() {
    let server = TestServer::start().await;
    let digest = server.push_blob("ns/somewhere", BLOB).await;
    let url = server.url(&format!("/v2/ns/target/blobs/uploads/?mount={digest}"));
    let response = server.client.post(url).send().await.unwrap();
    assert_eq!(response.status(), 201);
    assert_eq!(header(&response, "location"), format!("/v2/ns/target/blobs/{digest}"));
    assert_eq!(pulled(&server, "ns/target", &digest).await.as_deref(), Some(BLOB));
}

#[tokio::test]
async fn a_mount_with_malformed_parameters_falls_back_to_an_upload() {
    let server = TestServer::start().await;
    let digest = server.push_blob("ns/source", BLOB).await;
    // The spec: a registry unable to mount SHOULD answer 202 and start an upload; and with a
    // `from` it cannot read, a well-formed digest is still looked for where the caller may pull.
    let cases = [("mount=sha256:12&from=ns/source".to_owned(), 202), (format!("mount={digest}&from=Bad//Name"), 201)];
    for (query, expected) in cases {
        let response = server.client.post(server.url(&format!("/v2/ns/target/blobs/uploads/?{query}"))).send().await;
        let response = response.unwrap();
        assert_eq!(response.status(), expected, "{query}");
        assert!(!header(&response, "location").is_empty(), "{query}");
    }
}

#[tokio::test]
async fn a_large_chunked_upload_spanning_storage_parts_round_trips() {
    let server = TestServer::start().await;
    let blob: Vec<u8> = (0..20 * 1024 * 1024u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8).collect();
    let url = start(&server, "ns/big").await;
    let chunk = 7 * 1024 * 1024;
    for first in (0..blob.len()).step_by(chunk) {
        let last = (first + chunk).min(blob.len()) - 1;
        let response = patch(&server, &url, Some(&format!("{first}-{last}")), &blob[first..=last]).await;
        assert_eq!(response.status(), 202, "chunk at {first}");
    }
    assert_eq!(finish(&server, &url, &sha256(&blob), b"").await.status(), 201);
    let path = format!("/v2/ns/big/blobs/{}", sha256(&blob));
    assert_eq!(sha256(&body(server.get(&path).await).await), sha256(&blob));
    let (first, last) = (8 * 1024 * 1024 - 10, 8 * 1024 * 1024 + 9);
    let response = server.client.get(server.url(&path)).header("range", format!("bytes={first}-{last}")).send().await;
    let response = response.unwrap();
    assert_eq!(response.status(), 206);
    assert_eq!(body(response).await, &blob[first..=last]);
}

#[tokio::test]
async fn of_two_concurrent_chunks_at_one_offset_exactly_one_is_accepted() {
    let server = TestServer::start().await;
    let url = start(&server, "ns/app").await;
    let (a, b) =
        tokio::join!(patch(&server, &url, Some("0-9"), &BLOB[..10]), patch(&server, &url, Some("0-9"), b"ABCDEFGHIJ"),);
    let mut statuses = [a.status().as_u16(), b.status().as_u16()];
    statuses.sort();
    assert_eq!(statuses, [202, 416]);
    assert_eq!(header(&status(&server, &url).await, "range"), "0-9");
    let winner: &[u8] = if a.status() == 202 { &BLOB[..10] } else { b"ABCDEFGHIJ" };
    assert_eq!(finish(&server, &url, &sha256(winner), b"").await.status(), 201);
}

#[tokio::test]
async fn finished_and_cancelled_uploads_leave_no_directories_behind() {
    let server = TestServer::start().await;
    if common::backends::uses_s3() {
        return; // object stores have no directories
    }
    server.push_blob("tidy/repo", b"monolithic").await;
    let start = server.client.post(server.url("/v2/tidy/repo/blobs/uploads/")).send().await.unwrap();
    let location = server.location(&start);
    let patch = server.client.patch(&location).body(b"chunked".to_vec()).send().await.unwrap();
    assert_eq!(patch.status(), 202);
    let finish = server.client.put(format!("{location}?digest={}", common::sha256(b"chunked"))).send().await.unwrap();
    assert_eq!(finish.status(), 201);
    let start = server.client.post(server.url("/v2/tidy/repo/blobs/uploads/")).send().await.unwrap();
    let location = server.location(&start);
    server.client.patch(&location).body(b"abandoned".to_vec()).send().await.unwrap();
    assert_eq!(server.client.delete(&location).send().await.unwrap().status(), 204);
    let uploads = server.data_dir().join("blobs/uploads");
    let left: Vec<_> =
        std::fs::read_dir(&uploads).map(|dir| dir.flatten().map(|e| e.path()).collect()).unwrap_or_default();
    assert!(left.is_empty(), "upload directories left behind: {left:?}");
}

#[tokio::test]
async fn an_upload_takes_a_bounded_number_of_chunks() {
    let limits = wasmhub_registry::Limits { max_upload_parts: 2, ..Default::default() };
    let server = TestServer::start_with_limits(limits).await;
    let mut url = start(&server, "ns/chunks").await;
    for (n, range) in [(0, "0-11"), (1, "12-23")] {
        let response = patch(&server, &url, Some(range), &BLOB[n * 12..n * 12 + 12]).await;
        assert_eq!(response.status(), 202);
        url = server.location(&response);
    }
    let third = patch(&server, &url, Some("24-35"), &BLOB[24..]).await;
    assert_eq!(third.status(), 400);
    assert_eq!(error_code(third).await, "BLOB_UPLOAD_INVALID");
    // The session keeps what it had: the rest comes as the closing PUT's body.
    let finished = finish(&server, &url, &sha256(BLOB), &BLOB[24..]).await;
    assert_eq!(finished.status(), 400, "the closing body would be a third chunk too");
    let finished = finish(&server, &url, &sha256(&BLOB[..24]), b"").await;
    assert_eq!(finished.status(), 201);
    assert_eq!(pulled(&server, "ns/chunks", &sha256(&BLOB[..24])).await.as_deref(), Some(&BLOB[..24]));
}

#[tokio::test]
async fn a_chunked_upload_placed_but_not_recorded_before_a_crash_can_still_be_finished() {
    if common::backends::uses_s3() {
        return; // The crash window is the local directory's rename (S3 places by copy, then checks).
    }
    let server = TestServer::start().await;
    let url = start(&server, "ns/placed").await;
    let response = patch(&server, &url, Some("0-35"), BLOB).await;
    assert_eq!(response.status(), 202);
    let url = server.location(&response);
    // What a crash between placing the blob and committing its record leaves: the part renamed
    // to the blob's path, while the session still names the part.
    let root = server.data_dir().join("blobs");
    let part = std::fs::read_dir(root.join("uploads")).unwrap().next().unwrap().unwrap().path();
    let hex = sha256(BLOB).trim_start_matches("sha256:").to_owned();
    let blob = root.join("blobs/sha256").join(&hex[..2]).join(&hex);
    std::fs::create_dir_all(blob.parent().unwrap()).unwrap();
    std::fs::rename(part, blob).unwrap();
    let finished = finish(&server, &url, &sha256(BLOB), b"").await;
    assert_eq!(finished.status(), 201, "the retried PUT records the blob already in place");
    assert_eq!(pulled(&server, "ns/placed", &sha256(BLOB)).await.as_deref(), Some(BLOB));
}
