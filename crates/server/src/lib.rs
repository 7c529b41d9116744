//! The HTTP edge of wasmhub: the OCI distribution API (`/v2/`), health endpoints, and
//! (in later issues) `/token`, `/api/v1` and the web catalog. Handlers are thin: they parse
//! typed inputs, call one `Registry` workflow, and shape the response; failures become the
//! spec's error body in one place (`error`).

mod accounts_api;
mod api;
mod auth;
pub mod client_ip;
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
use axum::serve::ListenerExt;
use axum::Router;
use tokio::net::TcpListener;
use tower_http::set_header::SetResponseHeaderLayer;
use tower_http::trace::TraceLayer;
use wasmhub_registry::Registry;

pub use auth::AuthSettings;
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
    axum::serve(listener, app).with_graceful_shutdown(shutdown).await
}

/// Serves `state` on `listener` until `shutdown` resolves, then lets in-flight requests
/// finish (bounded by `grace`).
pub async fn serve(
    listener: TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
    grace: Duration,
) -> std::io::Result<()> {
    let (drained_tx, drained_rx) = tokio::sync::oneshot::channel::<()>();
    let signal = async move {
        shutdown.await;
        let _ = drained_tx.send(());
    };
    // Responses are written as headers then body: without TCP_NODELAY, Nagle's algorithm
    // holds the body back until the client's delayed ACK (about 40 ms per small blob GET).
    let listener = listener.tap_io(|tcp| {
        if let Err(error) = tcp.set_nodelay(true) {
            tracing::debug!(%error, "cannot set TCP_NODELAY");
        }
    });
    let service = app(state).into_make_service_with_connect_info::<std::net::SocketAddr>();
    let server = axum::serve(listener, service).with_graceful_shutdown(signal);
    let mut server = tokio::spawn(async move { server.await });
    tokio::select! {
        finished = &mut server => return finished.map_err(std::io::Error::other)?,
        _ = drained_rx => {}
    }
    match tokio::time::timeout(grace, server).await {
        Ok(joined) => joined.map_err(std::io::Error::other)?,
        Err(_) => {
            tracing::warn!(?grace, "requests still running after the grace period; stopping anyway");
            Ok(())
        }
    }
}
