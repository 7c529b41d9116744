//! Command-line flags and `WASMHUB_*` environment variables, with defaults that make
//! `wasmhub serve` work on a fresh machine with no configuration at all.

use std::net::SocketAddr;
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};

#[derive(Debug, Parser)]
#[command(name = "wasmhub", version, about = "A self-hosted registry for WebAssembly modules (OCI distribution API)")]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the registry.
    Serve(ServeArgs),
    /// Apply pending database migrations, then exit.
    Migrate(DatabaseArgs),
}

#[derive(Debug, Clone, Args)]
pub struct DatabaseArgs {
    /// Index database: sqlite://<file> (embedded default) or postgres://user@host/db.
    #[arg(long, env = "WASMHUB_DATABASE_URL", default_value = "sqlite://./data/wasmhub.db")]
    pub database_url: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum AuthMode {
    On,
    None,
}

#[derive(Debug, Clone, Args)]
pub struct ServeArgs {
    /// Address the HTTP server binds.
    #[arg(long, env = "WASMHUB_LISTEN", default_value = "0.0.0.0:5000")]
    pub listen: SocketAddr,

    #[command(flatten)]
    pub database: DatabaseArgs,

    /// Blob storage: file://<directory> (default) for a local directory.
    #[arg(long, env = "WASMHUB_STORAGE_URL", default_value = "file://./data/blobs")]
    pub storage_url: String,

    /// The URL clients use to reach the registry (token realm, links); derived from the
    /// request when unset.
    #[arg(long, env = "WASMHUB_PUBLIC_URL")]
    pub public_url: Option<String>,

    /// `on` (default) or `none`. Accounts are not implemented yet: both run open.
    #[arg(long, env = "WASMHUB_AUTH", value_enum, default_value = "on")]
    pub auth: AuthMode,

    /// Largest manifest accepted, in bytes.
    #[arg(long, env = "WASMHUB_MAX_MANIFEST_BYTES", default_value_t = wasmhub_registry::Limits::default().max_manifest_bytes)]
    pub max_manifest_bytes: usize,

    /// Largest blob accepted, in bytes.
    #[arg(long, env = "WASMHUB_MAX_BLOB_BYTES", default_value_t = wasmhub_registry::Limits::default().max_blob_bytes)]
    pub max_blob_bytes: u64,

    /// Seconds in-flight requests get to finish after SIGTERM/SIGINT.
    #[arg(long, env = "WASMHUB_SHUTDOWN_GRACE_SECONDS", default_value_t = 30)]
    pub shutdown_grace_seconds: u64,
}

impl ServeArgs {
    pub fn limits(&self) -> wasmhub_registry::Limits {
        wasmhub_registry::Limits {
            max_manifest_bytes: self.max_manifest_bytes,
            max_blob_bytes: self.max_blob_bytes,
            ..wasmhub_registry::Limits::default()
        }
    }

    pub fn shutdown_grace(&self) -> Duration {
        Duration::from_secs(self.shutdown_grace_seconds)
    }
}
