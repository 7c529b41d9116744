//! The registry's workflows: push, pull, mount, delete and discovery, with no HTTP in them.
//!
//! Each public function of `Registry` is one protocol operation. It takes typed inputs (names,
//! digests, references are parsed before they get here) and the `Caller`, checks access, and
//! coordinates the index (metadata) and storage (bytes). The CLI and tests can call these
//! directly; the server only translates HTTP to and from them.

mod access;
mod accounts;
mod audit;
mod blobs;
mod descriptions;
mod discovery;
mod error;
mod events;
mod fsck;
mod gc;
mod gc_run;
mod hub;
mod manifests;
mod pulls;
mod reindex;
mod retention;
mod retention_apply;
mod search;
mod upload_ids;
mod uploads;
mod wasm_index;
mod wasm_record;
mod webhook_networks;
mod webhooks;

use wasmhub_index::Index;
use wasmhub_storage::BlobStore;

pub use access::{AccessPolicy, Action, Caller, Limit, Principal};
pub use audit::{actor_of, request_client_ip, with_client_ip, MAX_AUDIT_PAGE};
pub use blobs::BlobRead;
pub use descriptions::MAX_DESCRIPTION_CHARS;
pub use discovery::{Page, Referrers};
pub use error::RegistryError;
pub use events::{cloud_event, signature, WebhookScope, WebhookUrl, EVENT_TYPE_PREFIX};
pub use fsck::{FsckFinding, FsckOptions, FsckReport, FsckSample};
pub use gc::{GcOptions, GcPhase, GcReport};
pub use gc_run::{GcRunOutcome, GcTrigger, GC_LEASE};
pub use hub::{namespace_of, project_id, HubSearch, MAX_SEARCH_REPOSITORIES};
pub use manifests::PushedManifest;
pub use reindex::ReindexSummary;
pub use retention::{RepoPattern, RetentionPolicy, TagGlob};
pub use retention_apply::RetentionReport;
pub use search::ModuleContent;
pub use uploads::{MountOutcome, UploadStatus};
pub use wasmhub_index as index;
pub use wasmhub_metrics as metrics;
pub use wasmhub_oci as oci;
pub use wasmhub_storage as storage;
pub use wasmhub_wasm as wasm;
pub use webhook_networks::WebhookNetworks;
pub use webhooks::DeliveryOptions;

/// Explicit bounds on what one request may make the registry do.
#[derive(Debug, Clone)]
pub struct Limits {
    /// Largest manifest accepted.
    pub max_manifest_bytes: usize,
    /// Largest blob accepted (across all chunks of an upload).
    pub max_blob_bytes: u64,
    /// Most chunks one upload may have: each is a stored part (S3 composes at most 10,000),
    /// and every later chunk reads the list of those before it. Clients send one chunk, or a
    /// few of several MiB.
    pub max_upload_parts: usize,
    /// Most entries one page of a listing returns, whatever `n` asks for.
    pub max_page_size: u32,
    /// Descriptors in one page of a referrers list (the spec lets the registry choose; a
    /// descriptor with annotations can be a few KiB, so fewer than other listings).
    pub referrers_page_size: u32,
    /// Bounds on the blobs read to index a Wasm artifact.
    pub wasm: wasmhub_wasm::Limits,
    /// Refuse (`MANIFEST_INVALID`) Wasm artifacts whose config or module cannot be read,
    /// instead of indexing them as unrecognised (`--strict-wasm`).
    pub strict_wasm: bool,
    /// An ordinary container image might be an Istio compat image without its annotation;
    /// its last layer is opened only when it is at most this large.
    pub max_candidate_layer_bytes: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_manifest_bytes: wasmhub_oci::MAX_MANIFEST_BYTES,
            max_blob_bytes: 64 * 1024 * 1024 * 1024,
            max_upload_parts: 10_000,
            max_page_size: 10_000,
            referrers_page_size: 1_000,
            wasm: wasmhub_wasm::Limits::default(),
            strict_wasm: false,
            max_candidate_layer_bytes: 16 * 1024 * 1024,
        }
    }
}

/// The registry: an index and a blob store, shared by every request.
#[derive(Clone)]
pub struct Registry {
    index: Index,
    storage: BlobStore,
    limits: Limits,
    policy: AccessPolicy,
    metrics: wasmhub_metrics::Metrics,
    /// Manifest pulls counted since the last flush to the index (`pulls.rs`).
    pulls: std::sync::Arc<pulls::PullCounter>,
    /// The key upload ids are signed with (`uploads.rs`), read from the index once.
    upload_key: std::sync::Arc<tokio::sync::OnceCell<wasmhub_auth::SigningKey>>,
    /// Upload sessions this process has ended (`uploads.rs`: now and then it prunes).
    ended_uploads: std::sync::Arc<std::sync::atomic::AtomicU64>,
    /// Passwords verified in the last minutes (`accounts.rs`): Argon2 once, not per request.
    verified_passwords: std::sync::Arc<wasmhub_auth::verified::VerifiedPasswords>,
    /// Slots for reading Wasm modules and layers into memory to inspect or extract them
    /// (`wasm_index.rs`, `search.rs`): each may hold up to the module and layer limits.
    inspections: std::sync::Arc<tokio::sync::Semaphore>,
}

/// How many Wasm modules or layers are read into memory at once, across all requests: with the
/// default limits, at most a few hundred MiB whatever the number of pushes and downloads.
const INSPECTION_SLOTS: usize = 4;

impl Registry {
    pub fn new(index: Index, storage: BlobStore, limits: Limits) -> Registry {
        let metrics = wasmhub_metrics::Metrics::default();
        let (index, storage) = (index.with_metrics(metrics.database()), storage.with_metrics(metrics.storage()));
        Registry {
            index,
            storage,
            limits,
            policy: AccessPolicy::OPEN,
            metrics,
            pulls: Default::default(),
            upload_key: Default::default(),
            ended_uploads: Default::default(),
            verified_passwords: std::sync::Arc::new(accounts::verified_passwords()),
            inspections: std::sync::Arc::new(tokio::sync::Semaphore::new(INSPECTION_SLOTS)),
        }
    }

    /// Replaces the registry's metrics (e.g. with another repository label cap), wiring the
    /// storage and index recorders to the same set.
    pub fn with_metrics(mut self, metrics: wasmhub_metrics::Metrics) -> Registry {
        self.storage = self.storage.with_metrics(metrics.storage());
        self.index = self.index.with_metrics(metrics.database());
        self.metrics = metrics;
        self
    }

    /// The metrics this registry and its backends record into (served at `/metrics`; the
    /// garbage collector reports through `record_gc_run`).
    pub fn metrics(&self) -> &wasmhub_metrics::Metrics {
        &self.metrics
    }

    /// Sets who may do what (the registry starts open, as tests and `WASMHUB_AUTH=none` want).
    pub fn with_policy(mut self, policy: AccessPolicy) -> Registry {
        self.policy = policy;
        self
    }

    pub fn policy(&self) -> AccessPolicy {
        self.policy
    }

    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    pub fn index(&self) -> &Index {
        &self.index
    }
}
