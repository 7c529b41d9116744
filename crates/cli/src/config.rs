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

    /// Log line format on stderr: `text` (human-readable) or `json` (one object per line,
    /// for log collectors).
    #[arg(long, global = true, env = "WASMHUB_LOG_FORMAT", value_enum, default_value = "text")]
    pub log_format: LogFormat,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

// Parsed once per process; boxing the large `serve` arguments would buy nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the registry.
    Serve(ServeArgs),
    /// Apply pending database migrations, then exit.
    Migrate(DatabaseArgs),
    /// Rebuild the Wasm facts of every stored manifest (safe while the registry serves).
    Reindex(ReindexArgs),
    /// Delete unreferenced blobs, abandoned uploads and stray objects (safe while serving).
    Gc(crate::gc::GcArgs),
    /// Check that storage holds every recorded blob intact; exits non-zero on problems.
    Fsck(crate::gc::FsckArgs),
    /// Manage retention policies (applied by every gc run, scheduled or not).
    #[command(subcommand)]
    Retention(crate::retention::RetentionCommand),
    /// Make repositories' tags immutable, or mutable again.
    #[command(subcommand)]
    Immutable(crate::retention::ImmutableCommand),
    /// Manage webhooks (CloudEvents on push, tag move, delete and GC).
    #[command(subcommand)]
    Webhook(crate::webhook::WebhookCommand),
    /// Manage users.
    #[command(subcommand)]
    User(UserCommand),
    /// Manage organisations and their members.
    #[command(subcommand)]
    Org(OrgCommand),
    /// Manage personal access tokens.
    #[command(subcommand)]
    Token(TokenCommand),
    /// Make a repository public or private.
    Visibility {
        #[command(flatten)]
        database: DatabaseArgs,
        repository: String,
        #[arg(value_parser = ["public", "private"])]
        visibility: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Create a user (the password is read from stdin, or --password).
    Add {
        #[command(flatten)]
        database: DatabaseArgs,
        name: String,
        #[arg(long)]
        password: Option<String>,
        /// Make the user an administrator.
        #[arg(long)]
        admin: bool,
    },
    /// Set a user's password (read from stdin, or --password).
    Passwd {
        #[command(flatten)]
        database: DatabaseArgs,
        name: String,
        #[arg(long)]
        password: Option<String>,
    },
    /// Disable (or with --enable, re-enable) a user.
    Disable {
        #[command(flatten)]
        database: DatabaseArgs,
        name: String,
        #[arg(long)]
        enable: bool,
    },
    /// List users.
    List {
        #[command(flatten)]
        database: DatabaseArgs,
    },
}

#[derive(Debug, Subcommand)]
pub enum OrgCommand {
    /// Create an organisation owned by an existing user.
    Add {
        #[command(flatten)]
        database: DatabaseArgs,
        name: String,
        #[arg(long)]
        owner: String,
    },
    /// Set a member's role (owner, maintainer, reader), or remove them with --remove.
    Member {
        #[command(flatten)]
        database: DatabaseArgs,
        org: String,
        user: String,
        #[arg(long, value_parser = ["owner", "maintainer", "reader"], required_unless_present = "remove")]
        role: Option<String>,
        #[arg(long)]
        remove: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Create a personal access token for a user; printed once.
    Create {
        #[command(flatten)]
        database: DatabaseArgs,
        user: String,
        #[arg(long, default_value = "cli")]
        name: String,
        /// Comma-separated: pull, push, admin.
        #[arg(long, default_value = "pull,push")]
        scopes: String,
        /// Days until the token expires (never, if unset).
        #[arg(long)]
        expires_in_days: Option<u32>,
    },
    /// Revoke a token by its id.
    Revoke {
        #[command(flatten)]
        database: DatabaseArgs,
        id: String,
    },
}

#[derive(Debug, Clone, Args)]
pub struct DatabaseArgs {
    /// Index database: sqlite://<file> (embedded default) or postgres://user@host/db.
    #[arg(long, env = "WASMHUB_DATABASE_URL", default_value = "sqlite://./data/wasmhub.db")]
    pub database_url: String,
    /// On PostgreSQL: connections for the pipelined hot writes (pushes), per process, beside
    /// 24 pooled ones for reads and other writes.
    #[arg(long, env = "WASMHUB_DATABASE_WRITERS", default_value_t = DEFAULT_WRITERS,
          value_parser = clap::value_parser!(u16).range(1..=256))]
    pub database_writers: u16,
}

impl DatabaseArgs {
    pub fn index_options(&self) -> wasmhub_index::IndexOptions {
        wasmhub_index::IndexOptions { postgres_writers: usize::from(self.database_writers) }
    }
}

const DEFAULT_WRITERS: u16 = wasmhub_index::DEFAULT_WRITE_CONNECTIONS as u16;

#[derive(Debug, Clone, Args)]
pub struct ReindexArgs {
    #[command(flatten)]
    pub database: DatabaseArgs,

    /// Blob storage the manifests' configs and modules are read from.
    #[arg(long, env = "WASMHUB_STORAGE_URL", default_value = "file://./data/blobs")]
    pub storage_url: String,
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

    /// `on` (default): accounts and access control; `none`: fully open (a local sandbox).
    #[arg(long, env = "WASMHUB_AUTH", value_enum, default_value = "on")]
    pub auth: AuthMode,

    /// Whether callers without credentials may pull public repositories.
    #[arg(long, env = "WASMHUB_ANONYMOUS_PULL", default_value_t = true, action = clap::ArgAction::Set)]
    pub anonymous_pull: bool,

    /// Name of the administrator created on first start with an empty database.
    #[arg(long, env = "WASMHUB_ADMIN_USER", default_value = "admin")]
    pub admin_user: String,

    /// That administrator's password; generated and logged once when unset.
    #[arg(long, env = "WASMHUB_ADMIN_PASSWORD", hide_env_values = true)]
    pub admin_password: Option<String>,

    /// Largest manifest accepted, in bytes: at most 4 MiB (what the manifest parser reads, and
    /// the reference registry's limit), so the setting can only lower it.
    #[arg(long, env = "WASMHUB_MAX_MANIFEST_BYTES", default_value_t = wasmhub_registry::Limits::default().max_manifest_bytes,
          value_parser = manifest_limit)]
    pub max_manifest_bytes: usize,

    /// Largest blob accepted, in bytes.
    #[arg(long, env = "WASMHUB_MAX_BLOB_BYTES", default_value_t = wasmhub_registry::Limits::default().max_blob_bytes)]
    pub max_blob_bytes: u64,

    /// Refuse Wasm artifacts whose config or module cannot be read (MANIFEST_INVALID) instead
    /// of indexing them as unrecognised.
    #[arg(long, env = "WASMHUB_STRICT_WASM")]
    pub strict_wasm: bool,

    /// Serve `/metrics` on this address instead of on the main listener (so the main port
    /// can be public while metrics, which name repositories, stay internal).
    #[arg(long, env = "WASMHUB_METRICS_LISTEN")]
    pub metrics_listen: Option<SocketAddr>,

    /// Reverse proxies (addresses or networks, comma-separated, e.g. `10.0.0.0/8,::1`) whose
    /// `X-Forwarded-For` names the client, for sign-in rate limits and the audit log. Empty:
    /// the TCP peer is the client.
    #[arg(long, env = "WASMHUB_TRUSTED_PROXIES", default_value = "")]
    pub trusted_proxies: wasmhub_server::client_ip::TrustedProxies,

    /// How many repositories get their own label in the push and pull counters; the rest
    /// are counted as `other` (each label value is a time series Prometheus stores).
    #[arg(long, env = "WASMHUB_METRICS_MAX_REPOSITORIES", default_value_t = wasmhub_metrics::DEFAULT_REPOSITORY_CAP)]
    pub metrics_max_repositories: usize,

    /// Run garbage collection (retention policies first) this often inside `serve`, e.g. 6h;
    /// off when unset. Replicas and `wasmhub gc` share a lease, so runs never overlap.
    #[arg(long, env = "WASMHUB_GC_INTERVAL", value_parser = crate::gc::duration)]
    pub gc_interval: Option<Duration>,

    /// Scheduled runs: blobs and objects younger than this are never collected.
    #[arg(long, env = "WASMHUB_GC_GRACE", default_value = "1h", value_parser = crate::gc::duration)]
    pub gc_grace: Duration,

    /// Scheduled runs: upload sessions not written to for this long are abandoned.
    #[arg(long, env = "WASMHUB_GC_UPLOAD_MAX_AGE", default_value = "24h", value_parser = crate::gc::duration)]
    pub gc_upload_max_age: Duration,

    /// Scheduled runs: audit log entries older than this are deleted; unset keeps them all.
    #[arg(long, env = "WASMHUB_AUDIT_MAX_AGE", value_parser = crate::gc::duration)]
    pub audit_max_age: Option<Duration>,

    /// Seconds in-flight requests get to finish after SIGTERM/SIGINT.
    #[arg(long, env = "WASMHUB_SHUTDOWN_GRACE_SECONDS", default_value_t = 30)]
    pub shutdown_grace_seconds: u64,

    /// How often the manifest pulls counted in memory are added to the database (and once
    /// more at shutdown). A process killed with SIGKILL loses at most this much of them.
    #[arg(long, env = "WASMHUB_PULL_FLUSH_INTERVAL", default_value = "5s", value_parser = humantime::parse_duration)]
    pub pull_flush_interval: Duration,

    #[command(flatten)]
    pub webhooks: crate::webhook::DeliveryArgs,
}

impl ServeArgs {
    pub fn limits(&self) -> wasmhub_registry::Limits {
        wasmhub_registry::Limits {
            max_manifest_bytes: self.max_manifest_bytes,
            max_blob_bytes: self.max_blob_bytes,
            strict_wasm: self.strict_wasm,
            ..wasmhub_registry::Limits::default()
        }
    }

    pub fn shutdown_grace(&self) -> Duration {
        Duration::from_secs(self.shutdown_grace_seconds)
    }
}

/// A `--max-manifest-bytes` value: 1 byte to `MAX_MANIFEST_BYTES`.
fn manifest_limit(text: &str) -> Result<usize, String> {
    let most = wasmhub_oci::MAX_MANIFEST_BYTES;
    match text.parse::<usize>() {
        Ok(bytes) if (1..=most).contains(&bytes) => Ok(bytes),
        _ => Err(format!("a manifest limit is 1 to {most} bytes")),
    }
}
