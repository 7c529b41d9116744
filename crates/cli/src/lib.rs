//! Wiring shared by the `wasmhub` binary and the integration tests: configuration in, a
//! ready `Registry` out.

use anyhow::Context;
use wasmhub_index::{Index, IndexOptions};
use wasmhub_registry::{Limits, Registry};
use wasmhub_storage::{BlobStore, StorageLocation};

pub mod admin;
pub mod config;
pub mod gc;
pub mod reindex;
pub mod retention;
pub mod webhook;

/// Opens the index (applying pending migrations) and the blob store.
pub async fn open_registry(database_url: &str, storage_url: &str, limits: Limits) -> anyhow::Result<Registry> {
    open_registry_with(database_url, &IndexOptions::default(), storage_url, limits).await
}

/// `open_registry`, with the index's `options`.
pub async fn open_registry_with(
    database_url: &str,
    options: &IndexOptions,
    storage_url: &str,
    limits: Limits,
) -> anyhow::Result<Registry> {
    let index = open_index_with(database_url, options).await?;
    let location: StorageLocation = storage_url.parse().context("WASMHUB_STORAGE_URL")?;
    let storage = BlobStore::open(&location).await.with_context(|| format!("opening blob storage at {storage_url}"))?;
    Ok(Registry::new(index, storage, limits))
}

/// Connects to the index and brings its schema up to date.
pub async fn open_index(database_url: &str) -> anyhow::Result<Index> {
    open_index_with(database_url, &IndexOptions::default()).await
}

/// `open_index`, with `options`.
pub async fn open_index_with(database_url: &str, options: &IndexOptions) -> anyhow::Result<Index> {
    let index = Index::connect_with(database_url, options)
        .await
        .with_context(|| format!("connecting to the index database {}", redact(database_url)))?;
    let applied = index.migrate().await.context("applying database migrations")?;
    if applied > 0 {
        tracing::info!(applied, "database schema migrated");
    }
    Ok(index)
}

/// A database URL without its password, for logs and errors.
pub fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let credentials = &url[scheme + 3..at];
            match credentials.split_once(':') {
                Some((user, _)) => format!("{}{user}:***{}", &url[..scheme + 3], &url[at..]),
                None => url.to_owned(),
            }
        }
        _ => url.to_owned(),
    }
}
