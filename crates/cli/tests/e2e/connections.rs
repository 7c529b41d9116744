//! Time limits on connections: a client that sends its headers too slowly, stops sending a
//! body, or leaves a kept-alive connection idle is disconnected, while the server goes on
//! serving others. Short limits here; the defaults are `ConnectionLimits::default()`.

use crate::common;

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const LIMITS: wasmhub_server::ConnectionLimits =
    wasmhub_server::ConnectionLimits { header_read: Duration::from_secs(1), idle: Duration::from_secs(1) };

async fn server() -> (tempfile::TempDir, String) {
    let dir = tempfile::tempdir().unwrap();
    let (database, storage) = (common::backends::database_url(dir.path()), common::backends::storage_url(dir.path()));
    let registry = wasmhub::open_registry(&database, &storage, Default::default()).await.unwrap();
    let state = wasmhub_server::AppState::new(registry, Default::default()).await.unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap().to_string();
    let shutdown = std::future::pending();
    tokio::spawn(wasmhub_server::serve_with_limits(listener, state, shutdown, Duration::from_secs(1), LIMITS));
    (dir, address)
}

/// Reads until the server closes the connection (or resets it); what it sent before that.
/// The deadline only bounds a broken build: the limits above are one second.
async fn until_closed(stream: &mut TcpStream) -> Vec<u8> {
    let mut received = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(30), async {
        let mut buffer = [0u8; 4096];
        loop {
            match stream.read(&mut buffer).await {
                Ok(0) | Err(_) => return,
                Ok(n) => received.extend_from_slice(&buffer[..n]),
            }
        }
    });
    read.await.expect("the server closes the connection");
    received
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[tokio::test]
async fn slow_headers_stalled_bodies_and_idle_connections_are_closed() {
    let (_dir, address) = server().await;
    // Headers that never end.
    let mut slow = TcpStream::connect(&address).await.unwrap();
    slow.write_all(b"GET /v2/ HTTP/1.1\r\nHost: x\r\n").await.unwrap();
    let answer = text(&until_closed(&mut slow).await);
    assert!(answer.is_empty() || answer.starts_with("HTTP/1.1 408"), "{answer}");

    // A monolithic upload whose body stops after 10 of 100 bytes.
    let mut stalled = TcpStream::connect(&address).await.unwrap();
    let digest = common::sha256(&[7u8; 100]);
    let head =
        format!("POST /v2/slow/blob/blobs/uploads/?digest={digest} HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n");
    stalled.write_all(head.as_bytes()).await.unwrap();
    stalled.write_all(&[7u8; 10]).await.unwrap();
    until_closed(&mut stalled).await;

    // A kept-alive connection is closed once idle, after answering its request.
    let mut idle = TcpStream::connect(&address).await.unwrap();
    idle.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n").await.unwrap();
    let answer = text(&until_closed(&mut idle).await);
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");

    // Meanwhile others are served.
    let client = reqwest::Client::new();
    assert_eq!(client.get(format!("http://{address}/v2/")).send().await.unwrap().status(), 200);
}

/// Sends a GET for `path` and returns the connection, the response not yet read.
async fn request(address: &str, path: &str) -> TcpStream {
    let mut stream = TcpStream::connect(address).await.unwrap();
    stream.write_all(format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").as_bytes()).await.unwrap();
    stream
}

#[tokio::test]
async fn a_response_read_in_pauses_shorter_than_the_limit_arrives_whole_and_an_unread_one_is_dropped() {
    let (_dir, address) = server().await;
    // Larger than what loopback socket buffers hold, so the server waits on the reader.
    let blob: Vec<u8> = (0..24 * 1024 * 1024u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 11) as u8).collect();
    let digest = common::sha256(&blob);
    let client = reqwest::Client::new();
    let url = format!("http://{address}/v2/big/blob/blobs/uploads/?digest={digest}");
    assert_eq!(client.post(url).body(blob.clone()).send().await.unwrap().status(), 201);
    let path = format!("/v2/big/blob/blobs/{digest}");

    // Reading 4 MiB, then pausing half the limit, over several seconds: never idle for long.
    let mut patient = request(&address, &path).await;
    let mut received = 0usize;
    let mut buffer = vec![0u8; 64 * 1024];
    let mut since_pause = 0usize;
    loop {
        match patient.read(&mut buffer).await.unwrap() {
            0 => break,
            n => {
                received += n;
                since_pause += n;
            }
        }
        if since_pause >= 4 * 1024 * 1024 {
            tokio::time::sleep(Duration::from_millis(500)).await;
            since_pause = 0;
        }
    }
    assert!(received > blob.len(), "headers and the whole blob arrived: {received}");

    // Not reading at all for three times the limit: the server gives the response up.
    let mut absent = request(&address, &path).await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    let delivered = until_closed(&mut absent).await.len();
    assert!(delivered < blob.len(), "only what the buffers held arrived: {delivered}");
}
