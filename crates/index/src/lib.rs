//! The metadata index: repositories, blob links, manifests (byte-exact), tags, referrers and
//! upload sessions, in SQL.
//!
//! One implementation serves SQLite (the embedded default) and PostgreSQL (production): the
//! queries are written once in the SQL both accept and run through `sqlx`'s `Any` driver;
//! only the migrations differ (`migrations/sqlite`, `migrations/postgres`). Every write that
//! must be all-or-nothing (a manifest with its references and tags; finishing an upload) is one
//! transaction, so a crash never leaves half of it visible.

mod accounts;
mod audit;
mod batch;
mod blobs;
mod catalog;
mod coalesce;
mod connection;
mod deliveries;
mod descriptions;
mod discovery;
mod error;
mod events;
mod gc;
mod gc_uploads;
mod integrity;
mod maintenance;
mod manifest_checks;
mod manifest_events;
mod manifests;
mod migrate;
mod pg_writer;
mod projects;
mod pulls;
mod retention;
mod rows;
mod search;
mod sqlite_writer;
mod tokens;
mod uploads;
mod wasm;

pub use accounts::{OccupiedNamespace, Role, User};
pub use audit::{AuditEntry, AuditQuery, AuditRecord};
pub use blobs::{BlobRecording, WrittenRecording};
pub use catalog::{RepositorySummary, TagDetails, TagSummary};
pub use connection::{Backend, Index, IndexOptions};
pub use deliveries::{AttemptOutcome, Delivery, DeliveryStatus};
pub use discovery::Referrer;
pub use error::IndexError;
pub use events::{Actor, EventKind, NewEvent, StoredEvent, Webhook};
pub use gc::{CollectTarget, CollectableBlob, UnreferencedLink};
pub use gc_uploads::StaleUpload;
pub use integrity::{ManifestUse, RecordedBlob};
pub use maintenance::{GcRun, LeaseHolder, KEPT_GC_RUNS};
pub use manifests::{NewManifest, StoredManifest};
pub use pg_writer::DEFAULT_WRITE_CONNECTIONS;
pub use projects::{NamespaceSummary, RepositoryFilter, RepositoryListing};
pub use pulls::PullCounts;
pub use retention::{ManifestRow, StoredPolicy, TagRow};
pub use search::{query_words, text_words, Facets, SearchHit, SearchQuery, SearchResults, SearchSort, Visibility};
pub use tokens::{NewToken, StoredToken};
pub use uploads::{UploadEnd, UploadLookup, UploadSession};
pub use wasm::{AbiRow, ExportRow, ImportRow, ManifestCursor, ManifestRef, WasmOutcome, WasmRecord};

/// A digest read back from the index; one that does not parse means the database is corrupt.
pub(crate) fn digest_of(text: String) -> Result<wasmhub_oci::Digest, IndexError> {
    text.parse().map_err(|_| IndexError::Corrupt(format!("digest {text:?}")))
}

/// The bounds of the repository names under `namespace/`: they sort between `ns/` and `ns0`
/// ('0' follows '/'), bytewise on both backends (`COLLATE "C"` on PostgreSQL), so the names
/// of a namespace are one index range, with no LIKE wildcards to escape.
pub(crate) fn names_under(namespace: &str) -> [String; 2] {
    [format!("{namespace}/"), format!("{namespace}0")]
}

pub(crate) fn now_millis() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|elapsed| elapsed.as_millis() as i64)
        .unwrap_or_default()
}
