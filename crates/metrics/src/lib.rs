//! wasmhub's Prometheus metrics: a small registry of atomics and the text exposition
//! encoder, with no dependencies (the `prometheus-client` crate would add 17 crates, a
//! proc-macro among them, for the same four primitives).
//!
//! One `Metrics` value is made per registry and cloned (an `Arc`) into the HTTP layer, the
//! blob store and the index; nothing is global, so tests running several servers in one
//! process each see their own numbers. Every replica exposes its own counters; Prometheus
//! sums them across replicas (`sum by (route) (rate(...))`).

mod encode;
mod family;
mod ops;
mod repositories;

use std::sync::Arc;
use std::time::Duration;

pub use encode::CONTENT_TYPE;
pub use family::{Counter, CounterVec, Gauge, HistogramVec};
pub use ops::OpMetrics;
pub use repositories::{RepositoryLabels, OTHER};

/// How many repositories get their own `repository` label value by default.
pub const DEFAULT_REPOSITORY_CAP: usize = 1000;

/// Request latencies: from a cached manifest (about a millisecond) to a multi-gigabyte blob.
const HTTP_BOUNDS: &[f64] = &[0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0];
const GC_BOUNDS: &[f64] = &[0.1, 1.0, 10.0, 60.0, 300.0, 1800.0, 3600.0];

/// Every metric wasmhub exposes; cheap to clone.
#[derive(Clone)]
pub struct Metrics(Arc<Inner>);

struct Inner {
    requests: CounterVec,
    request_duration: HistogramVec,
    request_bytes: CounterVec,
    response_bytes: CounterVec,
    uploads_in_progress: Gauge,
    pushes: CounterVec,
    pulls: CounterVec,
    repositories: RepositoryLabels,
    gc_runs: CounterVec,
    gc_bytes: CounterVec,
    gc_duration: HistogramVec,
    gc_blobs: CounterVec,
    gc_manifests: CounterVec,
    gc_last_success: Gauge,
    webhook_attempts: CounterVec,
    storage: OpMetrics,
    database: OpMetrics,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new(DEFAULT_REPOSITORY_CAP)
    }
}

impl Metrics {
    /// `repository_cap`: how many distinct repositories get their own label value in the
    /// push and pull counters (the rest are `other`).
    pub fn new(repository_cap: usize) -> Metrics {
        // The HELP text of the per-repository counters states the cap, so a dashboard reader
        // knows why `other` exists; it needs a 'static str, made once per registry.
        let capped = |what: &str| -> &'static str {
            Box::leak(
                format!(
                    "{what}, by repository. Only the first {repository_cap} repositories seen by this process \
                     get their own label; the rest are counted under repository=\"other\"."
                )
                .into_boxed_str(),
            )
        };
        Metrics(Arc::new(Inner {
            requests: CounterVec::new(
                "wasmhub_http_requests_total",
                "HTTP requests answered, by route kind, method and status.",
                &["route", "method", "status"],
            ),
            request_duration: HistogramVec::new(
                "wasmhub_http_request_duration_seconds",
                "Time from receiving a request to sending the last byte of its response, by route kind and method.",
                &["route", "method"],
                HTTP_BOUNDS,
            ),
            request_bytes: CounterVec::new(
                "wasmhub_http_request_bytes_total",
                "Request body bytes received, by route kind.",
                &["route"],
            ),
            response_bytes: CounterVec::new(
                "wasmhub_http_response_bytes_total",
                "Response body bytes sent, by route kind.",
                &["route"],
            ),
            uploads_in_progress: Gauge::new(
                "wasmhub_uploads_in_progress",
                "Upload requests (POST with a body, PATCH, PUT under /blobs/uploads/) whose bodies are being written.",
            ),
            pushes: CounterVec::new(
                "wasmhub_pushes_total",
                capped("Manifests pushed (PUT /v2/<name>/manifests/<ref> answered 201)"),
                &["repository"],
            ),
            pulls: CounterVec::new(
                "wasmhub_pulls_total",
                capped("Manifests pulled (GET /v2/<name>/manifests/<ref> answered 200)"),
                &["repository"],
            ),
            repositories: RepositoryLabels::new(repository_cap),
            gc_runs: CounterVec::new("wasmhub_gc_runs_total", "Garbage collection runs, by outcome.", &["outcome"]),
            webhook_attempts: CounterVec::new(
                "wasmhub_webhook_attempts_total",
                "Webhook delivery attempts, by outcome: delivered, retry (failed, to be tried again) or dead (failed for the last time).",
                &["outcome"],
            ),
            gc_bytes: CounterVec::new(
                "wasmhub_gc_reclaimed_bytes_total",
                "Bytes of storage garbage collection reclaimed.",
                &[],
            ),
            gc_duration: HistogramVec::new(
                "wasmhub_gc_duration_seconds",
                "Time garbage collection runs took.",
                &[],
                GC_BOUNDS,
            ),
            gc_blobs: CounterVec::new(
                "wasmhub_gc_blobs_deleted_total",
                "Blobs (recorded and stray) garbage collection deleted from storage.",
                &[],
            ),
            gc_manifests: CounterVec::new(
                "wasmhub_gc_manifests_deleted_total",
                "Manifests and tags retention policies deleted, by kind.",
                &["kind"],
            ),
            gc_last_success: Gauge::new(
                "wasmhub_gc_last_success_timestamp_seconds",
                "Unix time the last successful garbage collection run (on any replica) finished; 0 if never.",
            ),
            storage: OpMetrics::storage(),
            database: OpMetrics::database(),
        }))
    }

    /// One answered request. `route` is a bounded route kind, never a raw path.
    pub fn record_request(&self, route: &str, method: &str, status: u16, elapsed: Duration) {
        let inner = &self.0;
        inner.requests.inc(&[route, method, status_label(status)]);
        inner.request_duration.observe(&[route, method], elapsed.as_secs_f64());
    }

    /// The counter a request body's bytes go to (kept for the request's life).
    pub fn request_bytes(&self, route: &str) -> Counter {
        self.0.request_bytes.with(&[route])
    }

    pub fn response_bytes(&self, route: &str) -> Counter {
        self.0.response_bytes.with(&[route])
    }

    /// Counts an upload as in progress until the guard is dropped.
    pub fn upload_started(&self) -> UploadGuard {
        self.0.uploads_in_progress.add(1);
        UploadGuard(self.0.uploads_in_progress.clone())
    }

    pub fn record_push(&self, repository: &str) {
        self.0.pushes.inc(&[self.0.repositories.label(repository)]);
    }

    pub fn record_pull(&self, repository: &str) {
        self.0.pulls.inc(&[self.0.repositories.label(repository)]);
    }

    /// For the garbage collector: one finished run, the bytes it reclaimed and its outcome.
    pub fn record_gc_run(&self, reclaimed_bytes: u64, elapsed: Duration, succeeded: bool) {
        self.0.gc_runs.inc(&[if succeeded { "success" } else { "failure" }]);
        self.0.gc_bytes.with(&[]).add(reclaimed_bytes);
        self.0.gc_duration.observe(&[], elapsed.as_secs_f64());
    }

    /// For the garbage collector: what a successful run deleted, and when it finished.
    pub fn record_gc_deletions(&self, blobs: u64, manifests: u64, tags: u64) {
        self.0.gc_blobs.with(&[]).add(blobs);
        self.0.gc_manifests.with(&["manifest"]).add(manifests);
        self.0.gc_manifests.with(&["tag"]).add(tags);
    }

    /// A run skipped because another held the lease.
    pub fn record_gc_skipped(&self) {
        self.0.gc_runs.inc(&["skipped"]);
    }

    /// Moves the last-success time forward (never back: replicas report theirs too).
    pub fn record_gc_success_at(&self, unix_seconds: i64) {
        let current = self.0.gc_last_success.get();
        if unix_seconds > current {
            self.0.gc_last_success.add(unix_seconds - current);
        }
    }

    pub fn gc_runs(&self, outcome: &str) -> u64 {
        self.0.gc_runs.get(&[outcome])
    }

    /// For the webhook worker: one attempt ended (`delivered`, `retry` or `dead`).
    pub fn record_webhook_attempt(&self, outcome: &'static str) {
        self.0.webhook_attempts.inc(&[outcome]);
    }

    pub fn webhook_attempts(&self, outcome: &str) -> u64 {
        self.0.webhook_attempts.get(&[outcome])
    }

    /// The recorder `wasmhub-storage` reports its operations to.
    pub fn storage(&self) -> OpMetrics {
        self.0.storage.clone()
    }

    /// The recorder `wasmhub-index` reports its operations to.
    pub fn database(&self) -> OpMetrics {
        self.0.database.clone()
    }

    pub fn uploads_in_progress(&self) -> i64 {
        self.0.uploads_in_progress.get()
    }

    pub fn pushes(&self, repository: &str) -> u64 {
        self.0.pushes.get(&[repository])
    }

    pub fn pulls(&self, repository: &str) -> u64 {
        self.0.pulls.get(&[repository])
    }

    /// The whole exposition, in the text format (`CONTENT_TYPE`).
    pub fn render(&self) -> String {
        let inner = &self.0;
        let mut out = String::with_capacity(16 * 1024);
        inner.requests.encode(&mut out);
        inner.request_duration.encode(&mut out);
        inner.request_bytes.encode(&mut out);
        inner.response_bytes.encode(&mut out);
        inner.uploads_in_progress.encode(&mut out);
        inner.pushes.encode(&mut out);
        inner.pulls.encode(&mut out);
        inner.gc_runs.encode(&mut out);
        inner.gc_bytes.encode(&mut out);
        inner.gc_duration.encode(&mut out);
        inner.gc_blobs.encode(&mut out);
        inner.gc_manifests.encode(&mut out);
        inner.gc_last_success.encode(&mut out);
        inner.webhook_attempts.encode(&mut out);
        inner.storage.encode(&mut out);
        inner.database.encode(&mut out);
        out
    }
}

/// Decrements `wasmhub_uploads_in_progress` when dropped, however the upload ended.
pub struct UploadGuard(Gauge);

impl Drop for UploadGuard {
    fn drop(&mut self) {
        self.0.add(-1);
    }
}

/// Status codes as label values without allocating for each request.
fn status_label(status: u16) -> &'static str {
    const KNOWN: &[(u16, &str)] = &[
        (200, "200"),
        (201, "201"),
        (202, "202"),
        (204, "204"),
        (206, "206"),
        (302, "302"),
        (304, "304"),
        (307, "307"),
        (400, "400"),
        (401, "401"),
        (403, "403"),
        (404, "404"),
        (405, "405"),
        (409, "409"),
        (413, "413"),
        (416, "416"),
        (429, "429"),
        (500, "500"),
        (502, "502"),
        (503, "503"),
    ];
    match KNOWN.iter().find(|(code, _)| *code == status) {
        Some((_, label)) => label,
        // Still bounded: a status is three digits; only the class is kept for rare ones.
        None => match status / 100 {
            1 => "1xx",
            2 => "2xx",
            3 => "3xx",
            4 => "4xx",
            _ => "5xx",
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_histograms_cumulatively_with_sum_and_count() {
        let metrics = Metrics::new(10);
        metrics.record_request("blob", "GET", 200, Duration::from_millis(3));
        metrics.record_request("blob", "GET", 200, Duration::from_secs(2));
        let text = metrics.render();
        assert!(text.contains("wasmhub_http_requests_total{route=\"blob\",method=\"GET\",status=\"200\"} 2\n"));
        assert!(text
            .contains("wasmhub_http_request_duration_seconds_bucket{route=\"blob\",method=\"GET\",le=\"0.001\"} 0\n"));
        assert!(text
            .contains("wasmhub_http_request_duration_seconds_bucket{route=\"blob\",method=\"GET\",le=\"0.005\"} 1\n"));
        assert!(
            text.contains("wasmhub_http_request_duration_seconds_bucket{route=\"blob\",method=\"GET\",le=\"2.5\"} 2\n")
        );
        assert!(text
            .contains("wasmhub_http_request_duration_seconds_bucket{route=\"blob\",method=\"GET\",le=\"+Inf\"} 2\n"));
        assert!(text.contains("wasmhub_http_request_duration_seconds_sum{route=\"blob\",method=\"GET\"} 2.003\n"));
        assert!(text.contains("wasmhub_http_request_duration_seconds_count{route=\"blob\",method=\"GET\"} 2\n"));
    }

    #[test]
    fn the_upload_gauge_returns_to_zero_when_guards_drop() {
        let metrics = Metrics::default();
        let (a, b) = (metrics.upload_started(), metrics.upload_started());
        assert_eq!(metrics.uploads_in_progress(), 2);
        drop((a, b));
        assert_eq!(metrics.uploads_in_progress(), 0);
        assert!(metrics.render().contains("wasmhub_uploads_in_progress 0\n"));
    }

    #[test]
    fn push_counts_past_the_cap_go_to_other() {
        let metrics = Metrics::new(2);
        for repository in ["a", "b", "c", "d", "a"] {
            metrics.record_push(repository);
        }
        assert_eq!((metrics.pushes("a"), metrics.pushes("b"), metrics.pushes(OTHER)), (2, 1, 2));
        assert!(metrics.render().contains("Only the first 2 repositories"));
    }

    #[test]
    fn rare_statuses_are_kept_by_class() {
        assert_eq!(status_label(418), "4xx");
        assert_eq!(status_label(201), "201");
    }
}
