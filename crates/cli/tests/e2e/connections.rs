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
async fn until_closed(stream: &mut TcpStream) -> String {
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
    String::from_utf8_lossy(&received).into_owned()
}

#[tokio::test]
async fn slow_headers_stalled_bodies_and_idle_connections_are_closed() {
    let (_dir, address) = server().await;
    // Headers that never end.
    let mut slow = TcpStream::connect(&address).await.unwrap();
    slow.write_all(b"GET /v2/ HTTP/1.1\r\nHost: x\r\n").await.unwrap();
    let answer = until_closed(&mut slow).await;
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
    let answer = until_closed(&mut idle).await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");

    // Meanwhile others are served, and the stalled upload left no blob behind.
    let client = reqwest::Client::new();
    let base = format!("http://{address}");
    assert_eq!(client.get(format!("{base}/v2/")).send().await.unwrap().status(), 200);
    let probe = client.head(format!("{base}/v2/slow/blob/blobs/{digest}")).send().await.unwrap();
    assert_eq!(probe.status(), 404);
}
