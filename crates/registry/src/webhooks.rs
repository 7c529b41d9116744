//! The webhook delivery worker that runs inside `wasmhub serve`.
//!
//! Each round claims the deliveries that are due (with a lease, see `Index::claim_deliveries`),
//! posts them concurrently, and records each outcome: a 2xx answer delivers; anything else
//! (another status, a refused connection, the timeout) schedules a retry after an
//! exponentially growing delay with jitter, until the last attempt marks the delivery dead.
//! Deliveries live in the database, so a restart (or another replica) resumes them.

use std::future::Future;
use std::time::Duration;

use wasmhub_index::{AttemptOutcome, Delivery};

use crate::events::{cloud_event, signature};
use crate::{Registry, WebhookNetworks};

/// How deliveries are sent and retried.
#[derive(Debug, Clone)]
pub struct DeliveryOptions {
    /// Time one attempt may take, connection included.
    pub timeout: Duration,
    /// Attempts before a delivery is marked dead.
    pub max_attempts: u32,
    /// Delay before the second attempt; each later one doubles it, up to `max_backoff`.
    pub backoff: Duration,
    pub max_backoff: Duration,
    /// How often the worker looks for due deliveries.
    pub poll: Duration,
    /// Most deliveries one round sends.
    pub batch: u32,
    /// The CloudEvents `source` attribute (the registry's public URL when configured).
    pub source: String,
    /// How long finished (delivered or dead) deliveries are kept for inspection.
    pub retention: Duration,
    /// The addresses deliveries may reach (see `webhook_networks.rs`).
    pub networks: WebhookNetworks,
}

impl Default for DeliveryOptions {
    fn default() -> Self {
        DeliveryOptions {
            timeout: Duration::from_secs(10),
            max_attempts: 10,
            backoff: Duration::from_secs(2),
            max_backoff: Duration::from_secs(3600),
            poll: Duration::from_secs(1),
            batch: 16,
            source: "/wasmhub".into(),
            retention: Duration::from_secs(7 * 24 * 3600),
            networks: WebhookNetworks::default(),
        }
    }
}

impl DeliveryOptions {
    /// How long a claim lasts: the attempt's timeout plus time to record its outcome. A
    /// worker that dies mid-attempt delays that delivery by at most this.
    pub fn lease(&self) -> Duration {
        self.timeout + Duration::from_secs(5)
    }

    /// The delay after failed attempt number `attempt` (from 1): `backoff * 2^(attempt-1)`
    /// capped at `max_backoff`, then scaled by `jitter` in [0, 1] into its upper half, so
    /// that receivers coming back up are not hit by every retry at once.
    pub fn retry_delay(&self, attempt: u32, jitter: f64) -> Duration {
        let doubling = 2u32.saturating_pow(attempt.saturating_sub(1).min(30));
        let full = self.backoff.saturating_mul(doubling).min(self.max_backoff);
        full.mul_f64(0.5 + 0.5 * jitter.clamp(0.0, 1.0))
    }
}

const PRUNE_EVERY: Duration = Duration::from_secs(3600);

/// A random number in [0, 1], from the operating system's generator (through uuid v4).
fn jitter() -> f64 {
    (uuid::Uuid::new_v4().as_u128() as u64 >> 11) as f64 / (1u64 << 53) as f64
}

fn now_millis() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or(0)
}

/// Keeps error text stored per delivery short.
fn clipped(text: String) -> String {
    const MAX: usize = 500;
    if text.len() <= MAX {
        return text;
    }
    let mut end = MAX;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}...", &text[..end])
}

impl Registry {
    /// Sends deliveries until `shutdown` resolves. An attempt cut short by shutdown is
    /// retried once its lease has passed (delivery is at least once).
    pub async fn run_deliveries(&self, options: DeliveryOptions, shutdown: impl Future<Output = ()>) {
        let client = match reqwest::Client::builder()
            .timeout(options.timeout)
            .redirect(reqwest::redirect::Policy::none())
            .dns_resolver(options.networks.resolver())
            .user_agent(concat!("wasmhub/", env!("CARGO_PKG_VERSION")))
            .build()
        {
            Ok(client) => client,
            Err(error) => {
                tracing::error!(%error, "cannot build the webhook HTTP client; webhooks are not delivered");
                return;
            }
        };
        tokio::pin!(shutdown);
        let mut pruned_at: Option<std::time::Instant> = None;
        loop {
            // Hourly is plenty: finished rows only cost disk, and every replica prunes alike.
            if pruned_at.is_none_or(|at| at.elapsed() >= PRUNE_EVERY) {
                pruned_at = Some(std::time::Instant::now());
                let before = now_millis() - options.retention.as_millis() as i64;
                match self.index.prune_deliveries(before).await {
                    Ok(0) => {}
                    Ok(pruned) => tracing::info!(pruned, "forgot finished webhook deliveries"),
                    Err(error) => tracing::warn!(%error, "could not prune finished webhook deliveries"),
                }
            }
            let sent = match self.deliver_due(&client, &options).await {
                Ok(sent) => sent,
                Err(error) => {
                    tracing::warn!(%error, "webhook deliveries could not be claimed; trying again");
                    0
                }
            };
            // A full batch suggests more are due: go again at once.
            let pause = if sent >= options.batch as usize { Duration::ZERO } else { options.poll };
            tokio::select! {
                _ = &mut shutdown => return,
                _ = tokio::time::sleep(pause) => {}
            }
        }
    }

    /// One round: claims due deliveries, sends them concurrently, records the outcomes.
    /// Returns how many were attempted.
    pub async fn deliver_due(
        &self,
        client: &reqwest::Client,
        options: &DeliveryOptions,
    ) -> Result<usize, wasmhub_index::IndexError> {
        let lease = options.lease().as_millis() as i64;
        let claimed = self.index.claim_deliveries(options.batch, lease).await?;
        let count = claimed.len();
        let attempts = claimed.into_iter().map(|delivery| async move {
            let outcome = attempt(client, options, &delivery).await;
            self.metrics.record_webhook_attempt(match outcome {
                AttemptOutcome::Delivered { .. } => "delivered",
                AttemptOutcome::Retry { .. } => "retry",
                AttemptOutcome::Dead { .. } => "dead",
            });
            if let Err(error) = self.index.finish_attempt(delivery.id, &outcome).await {
                // The lease runs out and the delivery is attempted again.
                tracing::warn!(%error, delivery = delivery.id, "could not record a webhook attempt");
            }
        });
        futures::future::join_all(attempts).await;
        Ok(count)
    }
}

/// Posts one delivery and decides what happens next.
async fn attempt(client: &reqwest::Client, options: &DeliveryOptions, delivery: &Delivery) -> AttemptOutcome {
    let body = cloud_event(&delivery.event, &options.source).to_string().into_bytes();
    // Names are checked as they resolve; an address literal is not resolved.
    let literal = url::Url::parse(&delivery.url).map_err(|error| error.to_string());
    if let Err(refused) = literal.and_then(|url| options.networks.check_literal(&url)) {
        return failed(options, delivery, None, refused);
    }
    let sent = client
        .post(&delivery.url)
        .header(reqwest::header::CONTENT_TYPE, "application/cloudevents+json")
        .header("X-Wasmhub-Signature", signature(&delivery.secret, &body))
        .header("X-Wasmhub-Delivery", delivery.id.to_string())
        .header("X-Wasmhub-Attempt", delivery.attempt.to_string())
        .body(body)
        .send()
        .await;
    let (status, error) = match sent {
        Ok(response) if response.status().is_success() => {
            tracing::info!(delivery = delivery.id, event = %delivery.event.id, kind = %delivery.event.kind,
                attempt = delivery.attempt, status = response.status().as_u16(), "webhook delivered");
            return AttemptOutcome::Delivered { status: response.status().as_u16() };
        }
        Ok(response) => (Some(response.status().as_u16()), format!("the receiver answered {}", response.status())),
        Err(error) => (None, clipped(error_chain(&error))),
    };
    failed(options, delivery, status, error)
}

/// `error` and its sources: reqwest's own text for a connection refused by the resolver
/// says only "error sending request".
fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// The outcome of a failed attempt: a retry, or dead after the last one.
fn failed(options: &DeliveryOptions, delivery: &Delivery, status: Option<u16>, error: String) -> AttemptOutcome {
    let attempt = u32::try_from(delivery.attempt).unwrap_or(u32::MAX);
    if attempt >= options.max_attempts {
        tracing::warn!(delivery = delivery.id, event = %delivery.event.id, url = %delivery.url, attempt, %error,
            "webhook delivery failed for the last time; marked dead");
        return AttemptOutcome::Dead { status, error };
    }
    let delay = options.retry_delay(attempt, jitter());
    tracing::info!(delivery = delivery.id, attempt, ?delay, %error, "webhook delivery failed; will retry");
    AttemptOutcome::Retry { status, error, retry_at: now_millis() + delay.as_millis() as i64 }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retries_back_off_exponentially_up_to_the_cap_with_jitter_in_the_upper_half() {
        let options = DeliveryOptions {
            backoff: Duration::from_secs(2),
            max_backoff: Duration::from_secs(60),
            ..DeliveryOptions::default()
        };
        assert_eq!(options.retry_delay(1, 1.0), Duration::from_secs(2));
        assert_eq!(options.retry_delay(2, 1.0), Duration::from_secs(4));
        assert_eq!(options.retry_delay(4, 1.0), Duration::from_secs(16));
        assert_eq!(options.retry_delay(10, 1.0), Duration::from_secs(60));
        assert_eq!(options.retry_delay(1000, 1.0), Duration::from_secs(60));
        assert_eq!(options.retry_delay(2, 0.0), Duration::from_secs(2));
        let sampled = options.retry_delay(3, jitter());
        assert!(sampled >= Duration::from_secs(4) && sampled <= Duration::from_secs(8), "{sampled:?}");
    }
}
