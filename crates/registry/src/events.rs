//! Webhook configuration, and the CloudEvents 1.0 documents deliveries carry.
//!
//! A delivery is a `POST` of one event in structured mode (`Content-Type:
//! application/cloudevents+json`), signed with the webhook's secret:
//! `X-Wasmhub-Signature: sha256=<hex of HMAC-SHA256(secret, body)>`.

use std::time::{Duration, UNIX_EPOCH};

use hmac::{Hmac, Mac};
use serde_json::{json, Map, Value};
use sha2::Sha256;
use wasmhub_index::{Actor, DeliveryStatus, EventKind, NewEvent, StoredEvent, Webhook};
use wasmhub_oci::Namespace;

use crate::{GcReport, Registry, RegistryError};

/// The prefix of every event type: `dev.wasmhub.manifest.pushed`.
pub const EVENT_TYPE_PREFIX: &str = "dev.wasmhub.";
/// Longest webhook URL and secret accepted.
const MAX_URL_LEN: usize = 2048;
const MAX_SECRET_LEN: usize = 256;
const MIN_SECRET_LEN: usize = 16;

/// A webhook URL: absolute `http` or `https`, with a host, no credentials.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookUrl(url::Url);

impl std::str::FromStr for WebhookUrl {
    type Err = RegistryError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let invalid = |why: &str| RegistryError::InvalidInput(format!("webhook URL {text:?}: {why}"));
        if text.len() > MAX_URL_LEN {
            return Err(invalid("longer than 2048 characters"));
        }
        let url = url::Url::parse(text).map_err(|e| invalid(&e.to_string()))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(invalid("only http and https URLs are accepted"));
        }
        if url.host_str().is_none_or(str::is_empty) {
            return Err(invalid("it has no host"));
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(invalid("credentials do not belong in the URL; the secret signs each delivery"));
        }
        Ok(WebhookUrl(url))
    }
}

impl WebhookUrl {
    pub fn as_str(&self) -> &str {
        self.0.as_str()
    }
}

/// Where a webhook listens: one namespace's repositories, or everything.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WebhookScope {
    Global,
    Namespace(Namespace),
}

/// `X-Wasmhub-Signature` for `body`.
pub fn signature(secret: &str, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes keys of any length");
    mac.update(body);
    let bytes = mac.finalize().into_bytes();
    let hex: String = bytes.iter().map(|byte| format!("{byte:02x}")).collect();
    format!("sha256={hex}")
}

/// The CloudEvents 1.0 JSON document for `event`; `source` names this registry.
pub fn cloud_event(event: &StoredEvent, source: &str) -> Value {
    let mut data = Map::new();
    let mut put = |key: &str, value: Value| {
        data.insert(key.to_owned(), value);
    };
    put("repository", json!(event.repository));
    put("tag", json!(event.tag));
    put("digest", json!(event.digest));
    put("mediaType", json!(event.media_type));
    put("size", json!(event.size));
    put("actor", json!(event.actor));
    if let Some(Ok(Value::Object(detail))) = event.detail.as_deref().map(serde_json::from_str::<Value>) {
        data.extend(detail);
    }
    // The subject names what changed, as a client would write it.
    let subject = match (&event.repository, &event.tag, &event.digest) {
        (Some(repository), Some(tag), _) => Some(format!("{repository}:{tag}")),
        (Some(repository), None, Some(digest)) => Some(format!("{repository}@{digest}")),
        (Some(repository), None, None) => Some(repository.clone()),
        (None, ..) => None,
    };
    let time = UNIX_EPOCH + Duration::from_millis(event.created_at.max(0) as u64);
    let mut document = json!({
        "specversion": "1.0",
        "id": event.id,
        "source": source,
        "type": format!("{EVENT_TYPE_PREFIX}{}", event.kind),
        "time": humantime::format_rfc3339_millis(time).to_string(),
        "datacontenttype": "application/json",
        "data": data,
    });
    if let Some(subject) = subject {
        document["subject"] = json!(subject);
    }
    document
}

impl Registry {
    /// Adds a webhook; the URL is checked, the secret must be 16 to 256 characters, and an
    /// empty `events` means every kind.
    pub async fn add_webhook(
        &self,
        scope: &WebhookScope,
        url: &WebhookUrl,
        secret: &str,
        events: &[EventKind],
        actor: &Actor,
    ) -> Result<Webhook, RegistryError> {
        if !(MIN_SECRET_LEN..=MAX_SECRET_LEN).contains(&secret.len()) || secret.chars().any(char::is_control) {
            return Err(RegistryError::InvalidInput(format!(
                "a webhook secret is {MIN_SECRET_LEN} to {MAX_SECRET_LEN} printable characters"
            )));
        }
        let namespace = match scope {
            WebhookScope::Global => None,
            WebhookScope::Namespace(namespace) => Some(namespace.as_str()),
        };
        let detail = serde_json::json!({ "namespace": namespace, "url": url.as_str() }).to_string();
        let id = self.index.add_webhook(namespace, url.as_str(), secret, events, actor, Some(detail)).await?;
        self.webhook(id).await?.ok_or_else(|| RegistryError::Internal("a new webhook vanished".into()))
    }

    pub async fn webhooks(&self) -> Result<Vec<Webhook>, RegistryError> {
        Ok(self.index.webhooks().await?)
    }

    pub async fn webhook(&self, id: i64) -> Result<Option<Webhook>, RegistryError> {
        Ok(self.index.webhooks().await?.into_iter().find(|webhook| webhook.id == id))
    }

    /// The most recent deliveries (of one webhook, or of all), newest first.
    pub async fn deliveries(&self, webhook: Option<i64>, limit: u32) -> Result<Vec<DeliveryStatus>, RegistryError> {
        Ok(self.index.deliveries(webhook, limit).await?)
    }

    /// Removes a webhook with its pending deliveries; `false` if there was none.
    pub async fn remove_webhook(&self, id: i64, actor: &Actor) -> Result<bool, RegistryError> {
        let target = id.to_string();
        Ok(self.index.remove_webhook(id, &crate::audit::entry(actor, "webhook.remove", None, &target, None)).await?)
    }

    /// Queues `gc.completed` for global webhooks. Logged, not returned, on failure: the
    /// collection itself succeeded.
    pub async fn gc_completed(&self, report: &GcReport, actor: &Actor) {
        let detail = json!({
            "blobsDeleted": report.blobs,
            "blobBytesDeleted": report.blob_bytes,
            "uploadsDeleted": report.uploads,
            "linksDeleted": report.links,
            "strayObjectsDeleted": report.stray_blobs + report.stray_parts,
            "bytesReclaimed": report.reclaimed_bytes(),
            "failures": report.failures,
        });
        let event = NewEvent {
            actor: Some(actor.name.clone()),
            detail: Some(detail.to_string()),
            ..NewEvent::new(EventKind::GcCompleted)
        };
        if let Err(error) = self.index.record_event(&event).await {
            tracing::error!(%error, "could not queue the gc.completed event");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn webhook_urls_are_http_or_https_with_a_host_and_no_credentials() {
        assert!("https://hooks.example.com/wasmhub".parse::<WebhookUrl>().is_ok());
        assert!("http://127.0.0.1:8080/x?y=1".parse::<WebhookUrl>().is_ok());
        for bad in ["ftp://example.com/", "file:///etc/passwd", "https://user:pw@example.com/", "not a url", "http://"]
        {
            assert!(bad.parse::<WebhookUrl>().is_err(), "{bad} was accepted");
        }
    }

    #[test]
    fn the_signature_is_hmac_sha256_in_hex() {
        // RFC 4231, test case 2.
        let signed = signature("Jefe", b"what do ya want for nothing?");
        assert_eq!(signed, "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
    }

    #[test]
    fn a_cloud_event_carries_the_required_attributes_and_the_data() {
        let event = StoredEvent {
            id: "0b8e".into(),
            kind: "tag.moved".into(),
            repository: Some("team/filter".into()),
            tag: Some("v1".into()),
            digest: Some("sha256:ab".into()),
            media_type: Some("application/vnd.oci.image.manifest.v1+json".into()),
            size: Some(512),
            actor: Some("alice".into()),
            detail: Some(r#"{"previousDigest":"sha256:cd"}"#.into()),
            created_at: 1_700_000_000_123,
        };
        let document = cloud_event(&event, "https://registry.example.com");
        assert_eq!(document["specversion"], "1.0");
        assert_eq!(document["type"], "dev.wasmhub.tag.moved");
        assert_eq!(document["subject"], "team/filter:v1");
        assert_eq!(document["time"], "2023-11-14T22:13:20.123Z");
        assert_eq!(document["data"]["previousDigest"], "sha256:cd");
        assert_eq!(document["data"]["size"], 512);
    }
}
