//! Serving connections: the router on hyper's connection builder, with the time limits a
//! listener open to the internet needs. axum's own `serve` sets none: a client that sends its
//! headers a byte at a time, stops sending a body, or stops reading a response held its
//! connection and task (and a body's buffers) for ever.

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

/// How long a connection may take over one thing before it is closed.
#[derive(Debug, Clone, Copy)]
pub struct ConnectionLimits {
    /// To send a request's headers, from its first byte (or the connection's start).
    pub header_read: Duration,
    /// Without any progress either way while the server waits on the client: an idle
    /// kept-alive connection, a body that stops arriving, a response nobody reads.
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
    let graceful = GracefulShutdown::new();
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let (tcp, remote) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
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
        let io = TokioIo::new(IdleLimited::new(tcp, limits.idle));
        let router = router.clone();
        let service = hyper::service::service_fn(move |mut request: hyper::Request<Incoming>| {
            request.extensions_mut().insert(ConnectInfo(remote));
            router.clone().call(request)
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

/// A TCP stream whose reads and writes fail with `TimedOut` once they have waited `limit`
/// without any progress: every byte moved restarts the clock.
struct IdleLimited {
    stream: TcpStream,
    limit: Duration,
    read: Waiting,
    write: Waiting,
}

/// The deadline of a read or write while it waits. The timer is made once per direction and
/// only moved afterwards: a kept-alive connection waits for every request it serves.
#[derive(Default)]
struct Waiting {
    deadline: Option<Pin<Box<Sleep>>>,
    armed: bool,
}

impl Waiting {
    /// After the stream answered `Pending`: starts the clock (unless it already runs), and
    /// tells whether it ran out.
    fn expired(&mut self, limit: Duration, cx: &mut Context<'_>) -> bool {
        let due = Instant::now() + limit;
        let deadline = self.deadline.get_or_insert_with(|| Box::pin(tokio::time::sleep_until(due)));
        if !self.armed {
            deadline.as_mut().reset(due);
            self.armed = true;
        }
        deadline.as_mut().poll(cx).is_ready()
    }

    fn progressed(&mut self) {
        self.armed = false;
    }
}

impl IdleLimited {
    fn new(stream: TcpStream, limit: Duration) -> IdleLimited {
        IdleLimited { stream, limit, read: Waiting::default(), write: Waiting::default() }
    }
}

fn timed_out() -> io::Error {
    io::Error::new(io::ErrorKind::TimedOut, "the client made no progress within the idle limit")
}

impl AsyncRead for IdleLimited {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let this = &mut *self;
        match Pin::new(&mut this.stream).poll_read(cx, buf) {
            Poll::Ready(result) => {
                this.read.progressed();
                Poll::Ready(result)
            }
            Poll::Pending if this.read.expired(this.limit, cx) => Poll::Ready(Err(timed_out())),
            Poll::Pending => Poll::Pending,
        }
    }
}

impl AsyncWrite for IdleLimited {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        let this = &mut *self;
        match Pin::new(&mut this.stream).poll_write(cx, buf) {
            Poll::Ready(result) => {
                this.write.progressed();
                Poll::Ready(result)
            }
            Poll::Pending if this.write.expired(this.limit, cx) => Poll::Ready(Err(timed_out())),
            Poll::Pending => Poll::Pending,
        }
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = &mut *self;
        match Pin::new(&mut this.stream).poll_write_vectored(cx, bufs) {
            Poll::Ready(result) => {
                this.write.progressed();
                Poll::Ready(result)
            }
            Poll::Pending if this.write.expired(this.limit, cx) => Poll::Ready(Err(timed_out())),
            Poll::Pending => Poll::Pending,
        }
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }
}
