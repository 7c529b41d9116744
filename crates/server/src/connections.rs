//! Serving connections: the router on hyper's connection builder, with the time limits a
//! listener open to the internet needs. axum's own `serve` sets none: a client that sends its
//! headers a byte at a time, stops sending a body, or stops reading a response held its
//! connection and task (and a body's buffers) for ever.
//!
//! Each limit waits only on the client: hyper's header timeout while a request's head (or the
//! next one, on a kept-alive connection) is awaited; `IdleBody` while a handler waits for the
//! next piece of a body; `SlowReader` while a response waits for the client to take it. A
//! handler that works long on its own (an S3 composition of a huge upload) is never cut off.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::extract::ConnectInfo;
use axum::Router;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto::Builder;
use hyper_util::server::graceful::GracefulShutdown;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::time::{Instant, Sleep};
use tower_service::Service as _;

/// How long the server waits on a client before it gives the connection up.
#[derive(Debug, Clone, Copy)]
pub struct ConnectionLimits {
    /// For a request's headers, from the connection's start or the previous response: also
    /// how long a kept-alive connection may stay idle.
    pub header_read: Duration,
    /// For the next piece of a request body, or for the client to take the next piece of a
    /// response.
    pub idle: Duration,
}

impl Default for ConnectionLimits {
    /// nginx's defaults are 60 s for headers, for each read of a body, and for each write;
    /// headers come in one packet from every real client.
    fn default() -> Self {
        ConnectionLimits { header_read: Duration::from_secs(30), idle: Duration::from_secs(120) }
    }
}

/// Serves `router` on `listener` until `shutdown` resolves, then lets the connections finish
/// their requests, for at most `grace`.
pub async fn serve_router(
    listener: TcpListener,
    router: Router,
    shutdown: impl Future<Output = ()>,
    grace: Duration,
    limits: ConnectionLimits,
) -> io::Result<()> {
    let mut builder = Builder::new(TokioExecutor::new());
    builder.http1().timer(TokioTimer::new()).header_read_timeout(limits.header_read);
    // A peer gone without a word (a dropped network, not a closed socket) is found by pings.
    builder.http2().timer(TokioTimer::new()).keep_alive_interval(Some(limits.idle));
    let graceful = GracefulShutdown::new();
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let (tcp, remote) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                // A connection reset before it was taken: nothing to wait for.
                Err(error) if matches!(
                    error.kind(),
                    io::ErrorKind::ConnectionAborted | io::ErrorKind::ConnectionReset | io::ErrorKind::ConnectionRefused
                ) => continue,
                // Out of file descriptors, mostly: wait for some to close rather than spin.
                Err(error) => {
                    tracing::warn!(%error, "cannot accept a connection");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        // Responses are written as headers then body: without TCP_NODELAY, Nagle's algorithm
        // holds the body back until the client's delayed ACK (about 40 ms per small blob GET).
        if let Err(error) = tcp.set_nodelay(true) {
            tracing::debug!(%error, "cannot set TCP_NODELAY");
        }
        let io = TokioIo::new(SlowReader::new(tcp, limits.idle));
        let router = router.clone();
        let service = hyper::service::service_fn(move |request: hyper::Request<Incoming>| {
            let (mut parts, body) = request.into_parts();
            parts.extensions.insert(ConnectInfo(remote));
            router.clone().call(hyper::Request::from_parts(parts, IdleBody::new(body, limits.idle)))
        });
        let connection = graceful.watch(builder.serve_connection(io, service).into_owned());
        tokio::spawn(async move {
            if let Err(error) = connection.await {
                tracing::debug!(%remote, %error, "connection ended with an error");
            }
        });
    }
    drop(listener);
    if tokio::time::timeout(grace, graceful.shutdown()).await.is_err() {
        tracing::warn!(?grace, "requests still running after the grace period; stopping anyway");
    }
    Ok(())
}

/// A request body whose next frame fails with `TimedOut` once the handler has waited `limit`
/// for it. Only a handler that is reading the body waits: one busy with other work is not
/// timed. The length it reports is the inner body's (uploads preallocate from it).
struct IdleBody {
    body: Incoming,
    waiting: Waiting,
}

impl IdleBody {
    fn new(body: Incoming, limit: Duration) -> IdleBody {
        IdleBody { body, waiting: Waiting::new(limit) }
    }
}

impl hyper::body::Body for IdleBody {
    type Data = bytes::Bytes;
    type Error = Box<dyn std::error::Error + Send + Sync>;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<hyper::body::Frame<Self::Data>, Self::Error>>> {
        let this = &mut *self;
        let polled = Pin::new(&mut this.body).poll_frame(cx);
        this.waiting.watch(cx, polled).map(|watched| match watched {
            Ok(frame) => frame.map(|frame| frame.map_err(Self::Error::from)),
            Err(timed_out) => Some(Err(Self::Error::from(timed_out))),
        })
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> hyper::body::SizeHint {
        self.body.size_hint()
    }
}

/// A TCP stream whose writes fail with `TimedOut` once one has waited `limit` for the client
/// to take bytes: a response nobody reads. Reads are not timed here (a handler may work long
/// while hyper keeps a read pending to notice a client that hangs up).
struct SlowReader {
    stream: TcpStream,
    write: Waiting,
}

impl SlowReader {
    fn new(stream: TcpStream, limit: Duration) -> SlowReader {
        SlowReader { stream, write: Waiting::new(limit) }
    }

    fn timed<T>(&mut self, cx: &mut Context<'_>, polled: Poll<io::Result<T>>) -> Poll<io::Result<T>> {
        self.write.watch(cx, polled).map(|watched| watched.and_then(|result| result))
    }
}

/// The deadline of a read or write while it waits, `limit` after it started waiting. The timer
/// is made once and only moved afterwards: a kept-alive connection waits for every request.
struct Waiting {
    limit: Duration,
    deadline: Option<Pin<Box<Sleep>>>,
    armed: bool,
}

impl Waiting {
    fn new(limit: Duration) -> Waiting {
        Waiting { limit, deadline: None, armed: false }
    }

    /// What the caller answers for `polled`: a ready value restarts the clock; a `Pending`
    /// starts it (unless it already runs) and becomes `TimedOut` once it has run out.
    fn watch<T>(&mut self, cx: &mut Context<'_>, polled: Poll<T>) -> Poll<Result<T, io::Error>> {
        match polled {
            Poll::Ready(value) => {
                self.armed = false;
                Poll::Ready(Ok(value))
            }
            Poll::Pending if self.expired(cx) => Poll::Ready(Err(timed_out())),
            Poll::Pending => Poll::Pending,
        }
    }

    fn expired(&mut self, cx: &mut Context<'_>) -> bool {
        let due = Instant::now() + self.limit;
        let deadline = self.deadline.get_or_insert_with(|| Box::pin(tokio::time::sleep_until(due)));
        if !self.armed {
            deadline.as_mut().reset(due);
            self.armed = true;
        }
        deadline.as_mut().poll(cx).is_ready()
    }
}

fn timed_out() -> io::Error {
    io::Error::new(io::ErrorKind::TimedOut, "the client made no progress within the idle limit")
}

impl AsyncRead for SlowReader {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_read(cx, buf)
    }
}

impl AsyncWrite for SlowReader {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        let polled = Pin::new(&mut self.stream).poll_write(cx, buf);
        self.timed(cx, polled)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let polled = Pin::new(&mut self.stream).poll_write_vectored(cx, bufs);
        self.timed(cx, polled)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let polled = Pin::new(&mut self.stream).poll_flush(cx);
        self.timed(cx, polled)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }
}
