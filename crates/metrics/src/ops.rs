//! Latency and errors of one backend's operations (object storage, the index database),
//! recorded from inside `wasmhub-storage` and `wasmhub-index` through a handle those crates
//! hold: no global registry, so each test server has its own numbers.

use std::future::Future;
use std::time::{Duration, Instant};

use crate::family::{CounterVec, HistogramVec};

/// Backend calls take from well under a millisecond (a local file, an indexed SQLite row)
/// to seconds (a large S3 multipart upload).
const BOUNDS: &[f64] = &[0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0];

/// `<prefix>_operation_duration_seconds{op}` and `<prefix>_errors_total{op}`.
#[derive(Clone)]
pub struct OpMetrics {
    pub(crate) duration: HistogramVec,
    pub(crate) errors: CounterVec,
}

impl OpMetrics {
    pub(crate) fn storage() -> OpMetrics {
        OpMetrics {
            duration: HistogramVec::new(
                "wasmhub_storage_operation_duration_seconds",
                "Time blob storage operations took, by operation (a write_part includes receiving the body).",
                &["op"],
                BOUNDS,
            ),
            errors: CounterVec::new(
                "wasmhub_storage_errors_total",
                "Blob storage operations that failed (a missing object is not a failure), by operation.",
                &["op"],
            ),
        }
    }

    pub(crate) fn database() -> OpMetrics {
        OpMetrics {
            duration: HistogramVec::new(
                "wasmhub_database_operation_duration_seconds",
                "Time index database operations took, by operation.",
                &["op"],
                BOUNDS,
            ),
            errors: CounterVec::new(
                "wasmhub_database_errors_total",
                "Index database operations that failed, by operation.",
                &["op"],
            ),
        }
    }

    /// A recorder nobody reads: what a `BlobStore` or `Index` holds until the registry hands
    /// it the shared one (so those crates work, and test, without a metrics set-up).
    pub fn detached() -> OpMetrics {
        OpMetrics::storage()
    }

    pub fn record(&self, op: &'static str, elapsed: Duration, failed: bool) {
        self.duration.observe(&[op], elapsed.as_secs_f64());
        if failed {
            self.errors.inc(&[op]);
        }
    }

    /// Runs `operation`, recording its duration and whether `is_failure` says its result
    /// is a failure.
    pub async fn time<T, E>(
        &self,
        op: &'static str,
        is_failure: impl FnOnce(&E) -> bool,
        operation: impl Future<Output = Result<T, E>>,
    ) -> Result<T, E> {
        let started = Instant::now();
        let result = operation.await;
        self.record(op, started.elapsed(), result.as_ref().err().is_some_and(is_failure));
        result
    }

    pub fn count(&self, op: &str) -> u64 {
        self.duration.count(&[op])
    }

    pub fn errors(&self, op: &str) -> u64 {
        self.errors.get(&[op])
    }

    pub(crate) fn encode(&self, out: &mut String) {
        self.duration.encode(out);
        self.errors.encode(out);
    }
}
