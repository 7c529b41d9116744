//! `wasmhub`: serve the registry, or migrate its database.

use anyhow::Context;
use clap::Parser;
use tokio::net::TcpListener;
use tracing_subscriber::EnvFilter;
use wasmhub::config::{AuthMode, Cli, Command, LogFormat, ServeArgs};
use wasmhub_registry::AccessPolicy;
use wasmhub_server::{AppState, AuthSettings};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let logs = tracing_subscriber::fmt()
        .with_env_filter(EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn")))
        .with_writer(std::io::stderr);
    match cli.log_format {
        // Span fields (the request span's method and path) are flattened into each line.
        LogFormat::Json => logs.json().flatten_event(true).with_current_span(true).with_span_list(false).init(),
        LogFormat::Text => logs.with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr())).init(),
    }
    match cli.command {
        Command::Serve(args) => serve(args).await,
        Command::Migrate(args) => {
            let index = wasmhub::open_index(&args.database_url).await?;
            index.close().await;
            tracing::info!("database is up to date");
            Ok(())
        }
        Command::Reindex(args) => wasmhub::reindex::run(args).await,
        Command::Gc(args) => wasmhub::gc::gc(args).await,
        Command::Fsck(args) => wasmhub::gc::fsck(args).await,
        Command::Retention(command) => wasmhub::retention::retention(command).await,
        Command::Immutable(command) => wasmhub::retention::immutable(command).await,
        Command::Webhook(command) => wasmhub::webhook::webhook(command).await,
        Command::User(command) => wasmhub::admin::user(command).await,
        Command::Org(command) => wasmhub::admin::org(command).await,
        Command::Token(command) => wasmhub::admin::token(command).await,
        Command::Visibility { database, repository, visibility } => {
            wasmhub::admin::visibility(&database.database_url, &repository, &visibility).await
        }
    }
}

async fn serve(args: ServeArgs) -> anyhow::Result<()> {
    let registry = wasmhub::open_registry_with(
        &args.database.database_url,
        &args.database.index_options(),
        &args.storage_url,
        args.limits(),
    )
    .await?;
    let registry = if args.auth == AuthMode::None {
        tracing::warn!("WASMHUB_AUTH=none: the registry is fully open; anyone who can reach it can push and delete");
        registry.with_policy(AccessPolicy::OPEN)
    } else {
        if let Some(password) =
            registry.bootstrap_admin(&args.admin_user, args.admin_password.as_deref().filter(|p| !p.is_empty())).await?
        {
            tracing::warn!(user = %args.admin_user, %password, "created the first administrator; this password is shown only once");
        }
        registry.with_policy(AccessPolicy { enforce: true, anonymous_pull: args.anonymous_pull })
    };
    let registry = registry.with_metrics(wasmhub_metrics::Metrics::new(args.metrics_max_repositories));
    let metrics_server = match args.metrics_listen {
        Some(address) => {
            let listener =
                TcpListener::bind(address).await.with_context(|| format!("binding {address} for metrics"))?;
            tracing::info!(address = %listener.local_addr()?, "serving /metrics");
            let metrics = registry.metrics().clone();
            // Stopped (aborted) once the main server has drained: scrapes need no grace.
            Some(tokio::spawn(wasmhub_server::serve_metrics(listener, metrics, std::future::pending())))
        }
        None => None,
    };
    let listener = TcpListener::bind(args.listen).await.with_context(|| format!("binding {}", args.listen))?;
    let address = listener.local_addr()?;
    tracing::info!(%address, database = %wasmhub::redact(&args.database.database_url), storage = %args.storage_url, "listening");
    let index = registry.index().clone();
    let scheduled_gc = schedule_gc(&args, &registry);
    let (stop_pull_flush, pull_flush) = {
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let (registry, interval) =
            (registry.clone(), args.pull_flush_interval.max(std::time::Duration::from_millis(100)));
        let task = tokio::spawn(async move {
            let stopped = async {
                let _ = stopped.await;
            };
            registry.flush_pulls_on_schedule(interval, stopped).await
        });
        (stop, task)
    };
    let deliveries =
        wasmhub::webhook::DeliveryWorker::start(&registry, args.webhooks.options(args.public_url.as_deref()));
    let settings = AuthSettings { public_url: args.public_url.clone(), ..AuthSettings::default() };
    let state = AppState {
        metrics_on_main_listener: metrics_server.is_none(),
        trusted_proxies: std::sync::Arc::new(args.trusted_proxies.clone()),
        ..AppState::new(registry, settings).await?
    };
    wasmhub_server::serve(listener, state, shutdown_signal(), args.shutdown_grace()).await?;
    if let Some(metrics_server) = metrics_server {
        metrics_server.abort();
    }
    if let Some((stop, mut task)) = scheduled_gc {
        // A run in progress gets the shutdown grace to finish (its lease and fences are then
        // released cleanly); after that it is abandoned, and its lease expires on its own.
        let _ = stop.send(());
        if tokio::time::timeout(args.shutdown_grace(), &mut task).await.is_err() {
            tracing::warn!("stopping a garbage collection run that did not finish within the shutdown grace");
            task.abort();
        }
    }
    deliveries.stop(args.shutdown_grace()).await;
    // After the drain, so that the pulls of the last requests are written too.
    let _ = stop_pull_flush.send(());
    let _ = pull_flush.await;
    index.close().await;
    tracing::info!("stopped");
    Ok(())
}

/// Starts `--gc-interval` garbage collection, if configured: a stop signal and the task.
fn schedule_gc(
    args: &ServeArgs,
    registry: &wasmhub_registry::Registry,
) -> Option<(tokio::sync::oneshot::Sender<()>, tokio::task::JoinHandle<()>)> {
    let interval = args.gc_interval.filter(|interval| !interval.is_zero())?;
    let options = wasmhub_registry::GcOptions {
        grace: args.gc_grace,
        upload_max_age: args.gc_upload_max_age,
        audit_max_age: args.audit_max_age,
        ..wasmhub_registry::GcOptions::default()
    };
    tracing::info!(interval = %humantime::format_duration(interval), grace = %humantime::format_duration(args.gc_grace),
        "garbage collection scheduled");
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let registry = registry.clone();
    let task = tokio::spawn(async move {
        registry
            .gc_on_schedule(interval, options, async {
                let _ = stopped.await;
            })
            .await
    });
    Some((stop, task))
}

/// Resolves on SIGINT (Ctrl-C) or SIGTERM (what `docker stop`, systemd and Kubernetes send).
async fn shutdown_signal() {
    let interrupt = tokio::signal::ctrl_c();
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(error) => {
                tracing::error!(%error, "cannot listen for SIGTERM");
                std::future::pending::<()>().await
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = interrupt => {}
        _ = terminate => {}
    }
    tracing::info!("shutting down: finishing in-flight requests");
}
