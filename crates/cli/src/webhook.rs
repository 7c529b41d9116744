//! `wasmhub webhook add|list|remove|deliveries`, straight on the index, and the delivery
//! settings of `wasmhub serve`.

use std::time::Duration;

use anyhow::{bail, Context};
use clap::{Args, Subcommand};
use wasmhub_index::{Actor, EventKind};
use wasmhub_registry::{DeliveryOptions, Registry, WebhookNetworks, WebhookScope, WebhookUrl};

use crate::config::DatabaseArgs;

fn duration(text: &str) -> Result<Duration, String> {
    humantime::parse_duration(text).map_err(|error| format!("{error} (e.g. 500ms, 2s, 1h)"))
}

/// How `wasmhub serve` delivers webhooks.
#[derive(Debug, Clone, Args)]
pub struct DeliveryArgs {
    /// Time one delivery attempt may take.
    #[arg(long, env = "WASMHUB_WEBHOOK_TIMEOUT", default_value = "10s", value_parser = duration)]
    pub webhook_timeout: Duration,

    /// Attempts before a delivery is marked dead.
    #[arg(long, env = "WASMHUB_WEBHOOK_MAX_ATTEMPTS", default_value_t = 10,
          value_parser = clap::value_parser!(u32).range(1..=100))]
    pub webhook_max_attempts: u32,

    /// Delay before the first retry; it doubles with each further attempt (with jitter).
    #[arg(long, env = "WASMHUB_WEBHOOK_BACKOFF", default_value = "2s", value_parser = duration)]
    pub webhook_backoff: Duration,

    /// Longest delay between two attempts.
    #[arg(long, env = "WASMHUB_WEBHOOK_MAX_BACKOFF", default_value = "1h", value_parser = duration)]
    pub webhook_max_backoff: Duration,

    /// How often the worker looks for due deliveries.
    #[arg(long, env = "WASMHUB_WEBHOOK_POLL", default_value = "1s", value_parser = duration)]
    pub webhook_poll: Duration,

    /// How long delivered and dead deliveries are kept (for `wasmhub webhook deliveries`).
    #[arg(long, env = "WASMHUB_WEBHOOK_RETENTION", default_value = "7d", value_parser = duration)]
    pub webhook_retention: Duration,

    /// The addresses deliveries may reach: `public` (publicly routable only), `private` (also
    /// private networks such as 10.0.0.0/8, where CI systems usually listen) or `any` (this
    /// host and link-local addresses too, e.g. for development). Never this host's loopback
    /// or a cloud metadata address unless `any`.
    #[arg(long, env = "WASMHUB_WEBHOOK_NETWORKS", default_value = "private")]
    pub webhook_networks: WebhookNetworks,
}

impl DeliveryArgs {
    /// The options, with `source` (the CloudEvents `source`) from the public URL if known.
    pub fn options(&self, public_url: Option<&str>) -> DeliveryOptions {
        DeliveryOptions {
            timeout: self.webhook_timeout,
            max_attempts: self.webhook_max_attempts,
            backoff: self.webhook_backoff,
            max_backoff: self.webhook_max_backoff,
            poll: self.webhook_poll,
            retention: self.webhook_retention,
            networks: self.webhook_networks,
            source: public_url.map(str::to_owned).unwrap_or_else(|| DeliveryOptions::default().source),
            ..DeliveryOptions::default()
        }
    }
}

#[derive(Debug, Subcommand)]
pub enum WebhookCommand {
    /// Add a webhook for one namespace's repositories (--namespace) or for everything
    /// (--global, which also receives gc.completed).
    Add {
        #[command(flatten)]
        database: DatabaseArgs,
        #[arg(long, conflicts_with = "global", required_unless_present = "global")]
        namespace: Option<String>,
        #[arg(long)]
        global: bool,
        /// Where events are POSTed (http or https).
        #[arg(long)]
        url: String,
        /// Signs each delivery (X-Wasmhub-Signature: sha256=HMAC-SHA256(secret, body)).
        #[arg(long, env = "WASMHUB_WEBHOOK_SECRET", hide_env_values = true)]
        secret: String,
        /// Comma-separated event kinds (manifest.pushed, tag.moved, manifest.deleted,
        /// tag.deleted, gc.completed); all when unset.
        #[arg(long, value_delimiter = ',')]
        events: Vec<String>,
    },
    /// List webhooks.
    List {
        #[command(flatten)]
        database: DatabaseArgs,
    },
    /// Remove a webhook (and its pending deliveries).
    Remove {
        #[command(flatten)]
        database: DatabaseArgs,
        id: i64,
    },
    /// Show the most recent deliveries and their state.
    Deliveries {
        #[command(flatten)]
        database: DatabaseArgs,
        /// Only this webhook's.
        #[arg(long)]
        webhook: Option<i64>,
        #[arg(long, default_value_t = 20)]
        limit: u32,
    },
}

async fn registry(database: &DatabaseArgs) -> anyhow::Result<Registry> {
    crate::admin::registry(&database.database_url).await
}

pub async fn webhook(command: WebhookCommand) -> anyhow::Result<()> {
    match command {
        WebhookCommand::Add { database, namespace, global, url, secret, events } => {
            let scope = match (namespace, global) {
                (Some(namespace), false) => {
                    WebhookScope::Namespace(namespace.parse().with_context(|| format!("namespace {namespace:?}"))?)
                }
                (None, true) => WebhookScope::Global,
                _ => bail!("give either --namespace <ns> or --global"),
            };
            let url: WebhookUrl = url.parse()?;
            let events = events.iter().map(|kind| kind.parse::<EventKind>()).collect::<Result<Vec<_>, _>>();
            let events = events.map_err(anyhow::Error::msg)?;
            let registry = registry(&database).await?;
            let webhook = registry.add_webhook(&scope, &url, &secret, &events, &Actor::cli()).await?;
            println!("{}", webhook.id);
        }
        WebhookCommand::List { database } => {
            for webhook in registry(&database).await?.webhooks().await? {
                let kinds: Vec<&str> = webhook.events.iter().map(|kind| kind.as_str()).collect();
                let kinds = if kinds.is_empty() { "all".to_owned() } else { kinds.join(",") };
                let scope = webhook.namespace.as_deref().unwrap_or("(global)");
                println!("{}\t{scope}\t{}\t{kinds}", webhook.id, webhook.url);
            }
        }
        WebhookCommand::Remove { database, id } => {
            let registry = registry(&database).await?;
            if !registry.remove_webhook(id, &Actor::cli()).await? {
                bail!("no webhook with id {id}");
            }
            println!("removed webhook {id}");
        }
        WebhookCommand::Deliveries { database, webhook, limit } => {
            for delivery in registry(&database).await?.deliveries(webhook, limit).await? {
                let status = delivery.last_status.map(|s| s.to_string()).unwrap_or_else(|| "-".into());
                let error = delivery.last_error.unwrap_or_default();
                println!(
                    "{}\twebhook {}\t{}\t{}\tattempts {}\tstatus {status}\t{error}",
                    delivery.id, delivery.webhook_id, delivery.event_kind, delivery.state, delivery.attempts
                );
            }
        }
    }
    Ok(())
}

/// The delivery worker of `wasmhub serve`, running until `stop`.
pub struct DeliveryWorker {
    stop: tokio::sync::oneshot::Sender<()>,
    task: tokio::task::JoinHandle<()>,
}

impl DeliveryWorker {
    pub fn start(registry: &Registry, options: DeliveryOptions) -> DeliveryWorker {
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let registry = registry.clone();
        let task = tokio::spawn(async move {
            registry
                .run_deliveries(options, async {
                    let _ = stopped.await;
                })
                .await
        });
        DeliveryWorker { stop, task }
    }

    /// Lets a round in progress finish within `grace`; an attempt cut short is sent again
    /// after its lease (delivery is at least once).
    pub async fn stop(self, grace: Duration) {
        let _ = self.stop.send(());
        let mut task = self.task;
        if tokio::time::timeout(grace, &mut task).await.is_err() {
            task.abort();
        }
    }
}
