//! A thin HTTP/1.1 client over hyper's connection API: one `Conn` is exactly one TCP
//! connection, kept alive and reused for every request a worker sends, so "N connections"
//! means N sockets and nothing else (no pool, no per-request allocation beyond the request).

use std::convert::Infallible;
use std::net::SocketAddr;

use anyhow::{anyhow, bail, Context};
use bytes::Bytes;
use futures::StreamExt;
use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::{BodyExt, Empty, Full, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper::client::conn::http1::{self, SendRequest};
use hyper::header::{HeaderName, HeaderValue, CONTENT_LENGTH, CONTENT_TYPE, HOST, LOCATION};
use hyper::{HeaderMap, Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

pub type Body = UnsyncBoxBody<Bytes, Infallible>;

pub const OCTET_STREAM: &str = "application/octet-stream";

/// A registry under test: a name for the report, where it listens, and its process (for RSS).
#[derive(Debug, Clone)]
pub struct Target {
    pub name: String,
    pub addr: SocketAddr,
    pub authority: HeaderValue,
    pub base_url: String,
    pub pid: Option<u32>,
}

impl Target {
    /// Parses `name=http://host:port[@pid]`.
    pub async fn parse(spec: &str) -> anyhow::Result<Target> {
        let (name, rest) = spec.split_once('=').ok_or_else(|| anyhow!("target {spec:?} is not name=url[@pid]"))?;
        let (url, pid) = match rest.rsplit_once('@') {
            Some((url, pid)) => (url, Some(pid.parse().with_context(|| format!("pid in {spec:?}"))?)),
            None => (rest, None),
        };
        let authority = url
            .strip_prefix("http://")
            .ok_or_else(|| anyhow!("only http:// registries are supported: {url:?}"))?
            .trim_end_matches('/');
        let addr = tokio::net::lookup_host(authority)
            .await
            .with_context(|| format!("resolving {authority}"))?
            .next()
            .ok_or_else(|| anyhow!("{authority} resolves to nothing"))?;
        Ok(Target {
            name: name.to_owned(),
            addr,
            authority: HeaderValue::from_str(authority)?,
            base_url: format!("http://{authority}"),
            pid,
        })
    }

    pub fn connect(&self) -> Conn {
        Conn { addr: self.addr, authority: self.authority.clone(), sender: None }
    }
}

/// One keep-alive connection; reconnects if the server closed it.
pub struct Conn {
    addr: SocketAddr,
    authority: HeaderValue,
    sender: Option<SendRequest<Body>>,
}

impl Conn {
    async fn sender(&mut self) -> anyhow::Result<&mut SendRequest<Body>> {
        let usable = match self.sender.as_mut() {
            Some(sender) => sender.ready().await.is_ok(),
            None => false,
        };
        if !usable {
            let stream = TcpStream::connect(self.addr).await.with_context(|| format!("connecting to {}", self.addr))?;
            stream.set_nodelay(true)?;
            let (sender, connection) = http1::handshake(TokioIo::new(stream)).await?;
            tokio::spawn(async move {
                let _ = connection.await;
            });
            self.sender = Some(sender);
        }
        Ok(self.sender.as_mut().expect("just set"))
    }

    /// Sends a request; the caller must consume the response body before the next request.
    pub async fn send(
        &mut self,
        method: Method,
        path: &str,
        headers: &[(HeaderName, &str)],
        body: Body,
    ) -> anyhow::Result<Response<Incoming>> {
        let mut request = Request::builder().method(method).uri(path).header(HOST, self.authority.clone());
        for (name, value) in headers {
            request = request.header(name, *value);
        }
        let request = request.body(body)?;
        let sender = self.sender().await?;
        sender.send_request(request).await.with_context(|| format!("request to {path}"))
    }

    /// Sends a request and reads the whole response.
    pub async fn call(
        &mut self,
        method: Method,
        path: &str,
        headers: &[(HeaderName, &str)],
        body: Body,
    ) -> anyhow::Result<(StatusCode, HeaderMap, Bytes)> {
        let response = self.send(method, path, headers, body).await?;
        let (parts, body) = response.into_parts();
        let body = body.collect().await?.to_bytes();
        Ok((parts.status, parts.headers, body))
    }

    /// Like `call`, but fails unless the status is `expected`.
    pub async fn expect(
        &mut self,
        expected: StatusCode,
        method: Method,
        path: &str,
        headers: &[(HeaderName, &str)],
        body: Body,
    ) -> anyhow::Result<(HeaderMap, Bytes)> {
        let (status, headers, body) = self.call(method.clone(), path, headers, body).await?;
        if status != expected {
            bail!("{method} {path}: expected {expected}, got {status}: {}", String::from_utf8_lossy(&body));
        }
        Ok((headers, body))
    }
}

pub fn empty() -> Body {
    Empty::new().boxed_unsync()
}

/// A body with a `Content-Length` (monolithic uploads, manifests).
pub fn full(bytes: Bytes) -> Body {
    Full::new(bytes).boxed_unsync()
}

/// A body of unknown length, sent with chunked transfer encoding: `data` repeated `times`
/// times, in chunks of `chunk` bytes (zero-copy slices of `data`).
pub fn chunked(data: Bytes, times: usize, chunk: usize) -> Body {
    let chunks = (0..times).flat_map(move |_| {
        let data = data.clone();
        (0..data.len()).step_by(chunk).map(move |at| data.slice(at..(at + chunk).min(data.len())))
    });
    let frames = futures::stream::iter(chunks).map(|bytes| Ok::<_, Infallible>(Frame::data(bytes)));
    StreamBody::new(frames).boxed_unsync()
}

/// The path (and query) of an upload `Location`, which may be absolute or relative.
pub fn location(headers: &HeaderMap) -> anyhow::Result<String> {
    let value = headers.get(LOCATION).ok_or_else(|| anyhow!("response has no Location"))?.to_str()?;
    let path = match value.strip_prefix("http://").or_else(|| value.strip_prefix("https://")) {
        Some(rest) => &rest[rest.find('/').unwrap_or(rest.len())..],
        None => value,
    };
    Ok(path.to_owned())
}

/// `location` with `key=value` appended to its query.
pub fn with_query(location: &str, key: &str, value: &str) -> String {
    let separator = if location.contains('?') { '&' } else { '?' };
    format!("{location}{separator}{key}={value}")
}

pub const EMPTY_BODY_HEADERS: &[(HeaderName, &str)] = &[(CONTENT_LENGTH, "0")];
pub const OCTET_HEADERS: &[(HeaderName, &str)] = &[(CONTENT_TYPE, OCTET_STREAM)];
