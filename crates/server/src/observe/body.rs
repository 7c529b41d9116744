//! A body wrapper that counts bytes as frames pass through it (nothing is buffered), and
//! runs a completion callback when the body is dropped: after the last frame was sent, or
//! when the client went away mid-stream.

use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};

use axum::body::{Body, Bytes};
use http_body::{Body as _, Frame, SizeHint};
use wasmhub_metrics::Counter;

/// Called once with the bytes counted and whether the body reached its end.
pub(crate) type OnDrop = Box<dyn FnOnce(u64, bool) + Send>;

pub(crate) struct Counting {
    inner: Body,
    counter: Counter,
    /// This body's own total, shared with whoever reports on the whole request.
    tally: Arc<AtomicU64>,
    ended: bool,
    on_drop: Option<OnDrop>,
}

impl Counting {
    pub(crate) fn wrap(inner: Body, counter: Counter, tally: Arc<AtomicU64>, on_drop: Option<OnDrop>) -> Body {
        Body::new(Counting { inner, counter, tally, ended: false, on_drop })
    }
}

impl http_body::Body for Counting {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        let this = &mut *self;
        let polled = Pin::new(&mut this.inner).poll_frame(cx);
        match &polled {
            Poll::Ready(Some(Ok(frame))) => {
                if let Some(data) = frame.data_ref() {
                    this.counter.add(data.len() as u64);
                    this.tally.fetch_add(data.len() as u64, Ordering::Relaxed);
                }
            }
            Poll::Ready(None) => this.ended = true,
            _ => {}
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    // Forwarded so that hyper still sees an exact length (and sends Content-Length).
    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

impl Drop for Counting {
    fn drop(&mut self) {
        if let Some(on_drop) = self.on_drop.take() {
            let ended = self.ended || self.inner.is_end_stream();
            on_drop(self.tally.load(Ordering::Relaxed), ended);
        }
    }
}
