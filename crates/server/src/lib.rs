//! The HTTP edge of wasmhub: the OCI distribution API (`/v2/`), health endpoints, and
//! (in later issues) `/token`, `/api/v1` and the web catalog. Handlers are thin: they parse
//! typed inputs, call one `Registry` workflow, and shape the response; failures become the
//! spec's error body in one place (`error`).

mod accounts_api;
mod api;
mod auth;
pub mod client_ip;
mod connections;
mod error;
mod observe;
mod route;
mod time;
mod token;
mod v2;
mod web;

use std::future::Future;
use std::time::Duration;

use axum::http::{HeaderValue, Request};
use axum::routing::{any, get};
use axum::Router;
use tokio::net::TcpListener;
use tower_http::set_header::SetResponseHeaderLayer;
use tower_http::trace::TraceLayer;
use wasmhub_registry::Registry;

pub use auth::AuthSettings;
use connections::serve_router;
pub use connections::ConnectionLimits;
pub use error::ApiError;

/// What every handler can reach.
#[derive(Clone)]
pub struct AppState {
    pub registry: Registry,
    pub auth: std::sync::Arc<auth::AuthContext>,
    /// Whether the main listener serves `/metrics`, to administrators only when access control
    /// is on (off when a separate metrics listener is configured).
    pub metrics_on_main_listener: bool,
    /// Reverse proxies whose `X-Forwarded-For` names the client (`client_ip.rs`).
    pub trusted_proxies: std::sync::Arc<client_ip::TrustedProxies>,
}

impl AppState {
    /// Loads what requests need besides the registry (the token signing key, shared by all
    /// replicas through the index).
    pub async fn new(registry: Registry, settings: AuthSettings) -> Result<AppState, wasmhub_registry::RegistryError> {
        let auth = auth::AuthContext::load(&registry, settings).await?;
        Ok(AppState {
            registry,
            auth: std::sync::Arc::new(auth),
            metrics_on_main_listener: true,
            trusted_proxies: Default::default(),
        })
    }
}

/// The whole HTTP application.
pub fn app(state: AppState) -> Router {
    let metrics = state.registry.metrics().clone();
    let exposition = if state.metrics_on_main_listener {
        Router::new().route("/metrics", get(observe::exposition_for_administrators))
    } else {
        Router::new()
    };
    let v2 = Router::new()
        .route("/v2", any(v2::dispatch))
        .route("/v2/", any(v2::dispatch))
        .route("/v2/{*path}", any(v2::dispatch))
        .layer(SetResponseHeaderLayer::overriding(
            axum::http::HeaderName::from_static("docker-distribution-api-version"),
            HeaderValue::from_static("registry/2.0"),
        ));
    Router::new()
        .merge(v2)
        .merge(api::router())
        .route("/token", get(token::issue))
        .merge(accounts_api::router())
        .merge(web::router())
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(ready))
        .merge(exposition)
        .layer(axum::middleware::from_fn_with_state(state.trusted_proxies.clone(), client_ip::resolve))
        .layer(axum::middleware::from_fn_with_state(metrics, observe::track))
        .layer(
            TraceLayer::new_for_http().make_span_with(|request: &Request<_>| {
                tracing::info_span!("request", method = %request.method(), path = %request.uri().path())
            }),
        )
        .with_state(state)
}

async fn ready(axum::extract::State(state): axum::extract::State<AppState>) -> axum::http::StatusCode {
    match state.registry.index().repository_exists(&"readiness-probe".parse().expect("valid name")).await {
        Ok(_) => axum::http::StatusCode::OK,
        Err(_) => axum::http::StatusCode::SERVICE_UNAVAILABLE,
    }
}

/// Serves only `/metrics` (the `--metrics-listen` listener) until `shutdown` resolves.
pub async fn serve_metrics(
    listener: TcpListener,
    metrics: wasmhub_registry::metrics::Metrics,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let app = Router::new().route("/metrics", get(observe::exposition)).with_state(metrics);
    serve_router(listener, app, shutdown, Duration::from_secs(5), ConnectionLimits::default()).await
}

/// Serves `state` on `listener` until `shutdown` resolves, then lets in-flight requests
/// finish (bounded by `grace`), with the default `ConnectionLimits`.
pub async fn serve(
    listener: TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
    grace: Duration,
) -> std::io::Result<()> {
    serve_with_limits(listener, state, shutdown, grace, ConnectionLimits::default()).await
}

/// `serve` with other time limits on connections.
pub async fn serve_with_limits(
    listener: TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
    grace: Duration,
    limits: ConnectionLimits,
) -> std::io::Result<()> {
    serve_router(listener, app(state), shutdown, grace, limits).await
}
