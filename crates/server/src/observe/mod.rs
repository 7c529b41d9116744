//! Request metrics and the access log: one middleware around every route that labels the
//! request with a bounded route kind (never the raw path: repository names are unbounded),
//! counts body bytes as they stream, and when the response body is done records the request
//! and logs one structured line.

mod body;

use std::sync::atomic::AtomicU64;
use std::sync::Arc;
use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::http::header::WWW_AUTHENTICATE;
use axum::http::{HeaderMap, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use wasmhub_metrics::Metrics;

use crate::error::ApiError;
use crate::route::{self, Route};
use crate::AppState;

/// What the request addressed, for labels (`kind`) and the log (the rest).
#[derive(Debug, Default, PartialEq, Eq)]
struct Target {
    kind: &'static str,
    repository: Option<String>,
    reference: Option<String>,
}

impl Target {
    fn kind(kind: &'static str) -> Target {
        Target { kind, ..Target::default() }
    }
}

/// The route kind of `path`. `/v2` paths are parsed as the dispatcher parses them; `matched`
/// says whether the router knew the path (a 404 for an unknown path is `other`).
fn classify(path: &str, matched: bool) -> Target {
    let v2 = match path.strip_prefix("/v2") {
        Some("") => Some(""),
        Some(rest) => rest.strip_prefix('/'),
        None => None,
    };
    if let Some(rest) = v2 {
        let with = |kind, name: &wasmhub_oci::RepoName, reference: Option<String>| Target {
            kind,
            repository: Some(name.to_string()),
            reference,
        };
        return match route::parse(rest) {
            Ok(Route::Base) => Target::kind("base"),
            Ok(Route::Catalog) => Target::kind("catalog"),
            Ok(Route::Manifest(name, reference)) => with("manifest", &name, Some(reference.to_string())),
            Ok(Route::Blob(name, digest)) => with("blob", &name, Some(digest.to_string())),
            Ok(Route::Uploads(name)) => with("upload", &name, None),
            Ok(Route::Upload(name, id)) => with("upload", &name, Some(id.to_string())),
            Ok(Route::Tags(name)) => with("tags", &name, None),
            Ok(Route::Referrers(name, digest)) => with("referrers", &name, Some(digest.to_string())),
            Err(_) => Target::kind("other"),
        };
    }
    let kind = match path {
        "/metrics" => "metrics",
        "/healthz" | "/readyz" => "health",
        "/token" => "token",
        _ if path.starts_with("/api/") || path.starts_with("/.well-known/") => "api",
        _ if matched => "web",
        _ => "other",
    };
    Target::kind(kind)
}

/// Methods as label values; anything unusual is `other` so the label stays bounded.
fn method_label(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::HEAD => "HEAD",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::PATCH => "PATCH",
        Method::DELETE => "DELETE",
        Method::OPTIONS => "OPTIONS",
        _ => "other",
    }
}

/// The middleware (`axum::middleware::from_fn_with_state` with the registry's metrics).
pub(crate) async fn track(State(metrics): State<Metrics>, request: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = method_label(request.method());
    let target = classify(request.uri().path(), request.extensions().get::<MatchedPath>().is_some());
    // Upload bodies are written to storage inside the handler, so the gauge covers exactly
    // the time `next.run` takes.
    let upload =
        (target.kind == "upload" && matches!(method, "POST" | "PATCH" | "PUT")).then(|| metrics.upload_started());
    let received = Arc::new(AtomicU64::new(0));
    let counter = metrics.request_bytes(target.kind);
    let request = request.map(|inner| body::Counting::wrap(inner, counter, received.clone(), None));
    let response = next.run(request).await;
    drop(upload);

    let status = response.status();
    if let (Some(repository), "manifest") = (&target.repository, target.kind) {
        match (method, status) {
            ("PUT", StatusCode::CREATED) => metrics.record_push(repository),
            ("GET", StatusCode::OK) => metrics.record_pull(repository),
            _ => {}
        }
    }
    // A manifest fetched by tag is logged with the digest it resolved to.
    let digest =
        response.headers().get("docker-content-digest").and_then(|value| value.to_str().ok()).map(str::to_owned);
    let counter = metrics.response_bytes(target.kind);
    let finish: body::OnDrop = Box::new(move |sent, complete| {
        let elapsed = started.elapsed();
        metrics.record_request(target.kind, method, status.as_u16(), elapsed);
        let received = received.load(std::sync::atomic::Ordering::Relaxed);
        log(&target, method, status, received, sent, elapsed, digest.as_deref(), complete);
    });
    let (parts, inner) = response.into_parts();
    Response::from_parts(parts, body::Counting::wrap(inner, counter, Arc::default(), Some(finish))).into_response()
}

#[allow(clippy::too_many_arguments)]
fn log(
    target: &Target,
    method: &str,
    status: StatusCode,
    bytes_in: u64,
    bytes_out: u64,
    elapsed: std::time::Duration,
    digest: Option<&str>,
    complete: bool,
) {
    let duration_ms = elapsed.as_secs_f64() * 1000.0;
    let (repository, reference) = (target.repository.as_deref(), target.reference.as_deref());
    let status = status.as_u16();
    // Probes and scrapes arrive every few seconds; they would drown the requests that matter.
    if matches!(target.kind, "health" | "metrics") {
        tracing::debug!(target: "wasmhub::access", method, route = target.kind, status, bytes_in, bytes_out, duration_ms, "request");
        return;
    }
    tracing::info!(
        target: "wasmhub::access",
        method,
        route = target.kind,
        repository,
        reference,
        digest,
        status,
        bytes_in,
        bytes_out,
        duration_ms,
        complete,
        "request"
    );
}

/// `GET /metrics`: the registry's metrics in the Prometheus text format (the separate metrics
/// listener, which only the operator's network reaches).
pub(crate) async fn exposition(State(metrics): State<Metrics>) -> Response {
    ([(axum::http::header::CONTENT_TYPE, wasmhub_metrics::CONTENT_TYPE)], metrics.render()).into_response()
}

/// `GET /metrics` on the main listener. The per-repository series name private repositories,
/// which must not exist for anyone without a role on them; so with access control on, only an
/// administrator (a password, or a token with the `admin` scope) reads them here. Scrapers
/// without such a credential use `--metrics-listen`.
pub(crate) async fn exposition_for_administrators(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    if state.registry.policy().enforce {
        crate::accounts_api::administrator(&state, &headers).await.map_err(|error| {
            match error.status() {
                // Prometheus sends its credentials unasked. Not a Basic challenge: a browser
                // would prompt for a password and then send it with cross-site requests too.
                StatusCode::UNAUTHORIZED => error.with_header(WWW_AUTHENTICATE, "Bearer realm=\"wasmhub metrics\""),
                _ => error,
            }
        })?;
    }
    Ok(exposition(State(state.registry.metrics().clone())).await)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn route_kinds_are_bounded_and_carry_the_names_for_the_log() {
        let d = "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
        let manifest = classify("/v2/team/filter/manifests/v1", true);
        assert_eq!(
            (manifest.kind, manifest.repository.as_deref(), manifest.reference.as_deref()),
            ("manifest", Some("team/filter"), Some("v1"))
        );
        assert_eq!(classify(&format!("/v2/a/blobs/{d}"), true).reference.as_deref(), Some(d));
        assert_eq!(classify("/v2/a/blobs/uploads/", true).kind, "upload");
        assert_eq!(classify("/v2/a/tags/list", true).kind, "tags");
        assert_eq!(classify(&format!("/v2/a/referrers/{d}"), true).kind, "referrers");
        assert_eq!(classify("/v2/_catalog", true).kind, "catalog");
        assert_eq!(classify("/v2/", true).kind, "base");
        assert_eq!(classify("/v2", true).kind, "base");
        assert_eq!(classify("/v2/nope", true).kind, "other");
        assert_eq!(classify("/v2x", false).kind, "other");
        assert_eq!(classify("/api/v1/search", true).kind, "api");
        assert_eq!(classify("/token", true).kind, "token");
        assert_eq!(classify("/metrics", true).kind, "metrics");
        assert_eq!(classify("/readyz", true).kind, "health");
        assert_eq!(classify("/search", true).kind, "web");
        assert_eq!(classify("/no/such/page", false).kind, "other");
    }
}
