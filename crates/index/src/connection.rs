//! Connecting to the database chosen by URL, and the write discipline each backend needs.

use std::str::FromStr;
use std::time::Duration;

use futures::future::BoxFuture;
use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::{AnyPool, Executor};
use tokio::sync::{Mutex, MutexGuard};

use crate::batch::{Outcome, Runner, Statement};
use crate::pg_writer::{PgTx, PgWriters};
use crate::sqlite_writer::{SqliteTx, SqliteWriter};
use crate::IndexError;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// Most PostgreSQL connections searches use at once, beside the registry's own 16.
const SEARCH_CONNECTIONS: u32 = 8;

/// A pooled PostgreSQL connection idle for longer than this is pinged before it is lent; one
/// used more recently is lent as it is (HikariCP's rule, with its 500 ms). sqlx pings every
/// connection before lending it by default: a round trip before each read, which on a small
/// push or pull costs about as much as the read. A connection the server dropped in the last
/// half second fails the one statement sent on it, and the pool replaces it.
const PING_IF_IDLE_FOR: Duration = Duration::from_millis(500);

/// The index; cheap to clone (a pool handle).
#[derive(Clone)]
pub struct Index {
    pub(crate) pool: AnyPool,
    /// Where a search's count and page run: on PostgreSQL, connections that plan every
    /// statement for its own arguments (`plan_cache_mode = force_custom_plan`); on SQLite,
    /// `pool`. A prepared statement otherwise switches to a generic plan after five runs,
    /// planned for no term in particular: for two words in 17,000 modules each, that plan
    /// joined both words' rows to find a page that walking the newest entries finds in a
    /// few hundred (17 ms instead of 4.5). The registry's own statements keep their cached
    /// plans, which no argument changes much.
    pub(crate) search_pool: AnyPool,
    backend: Backend,
    /// SQLite allows one writer at a time and fails (rather than waits) when a read
    /// transaction tries to become a write transaction under contention; serialising this
    /// process's writes avoids that. The lock owns the connection the hot write transactions
    /// run on (`sqlite_writer.rs`). PostgreSQL needs no such lock.
    sqlite_writer: Option<std::sync::Arc<Mutex<SqliteWriter>>>,
    /// On PostgreSQL, the connections the hot write transactions run on, pipelined
    /// (`pg_writer.rs`).
    pg_writers: Option<std::sync::Arc<PgWriters>>,
    /// Where the latencies and failures of the hot operations go (`with_metrics`).
    metrics: wasmhub_metrics::OpMetrics,
    /// Identical manifest reads in flight share one query (`coalesce.rs`).
    pub(crate) manifest_reads: std::sync::Arc<crate::manifests::ManifestReads>,
}

/// Held for the duration of a write transaction (a no-op on PostgreSQL).
pub(crate) struct WriteGuard<'a>(#[allow(dead_code)] Option<MutexGuard<'a, SqliteWriter>>);

/// Whether a write transaction's commit waits until it is on disk. On PostgreSQL a commit
/// waits for the WAL's fsync (1–3 ms on the machines measured): the longest step of a small
/// push. A `Deferred` commit returns at once and reaches the disk within
/// `3 × wal_writer_delay` (600 ms by default), or sooner with the next `Durable` commit, which
/// flushes the WAL up to itself. A crash of the database server in between loses it, and
/// nothing after it: the database stays consistent. SQLite (WAL, `synchronous = NORMAL`)
/// treats both alike: its commits are never fsynced, its checkpoints are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Commit {
    Durable,
    Deferred,
}

/// A write transaction of the hot paths: on SQLite, on this process's writer connection
/// (holding the write lock); on PostgreSQL, on a writer connection that pipelines each batch.
/// Dropped before `commit`, it rolls back.
pub(crate) enum WriteTx<'a> {
    Sqlite(SqliteTx<'a>),
    /// Boxed: it holds its connection and that connection's prepared statements.
    Postgres(Box<PgTx>),
}

impl WriteTx<'_> {
    pub(crate) async fn commit(self) -> Result<(), IndexError> {
        match self {
            WriteTx::Sqlite(tx) => tx.commit(),
            WriteTx::Postgres(tx) => tx.commit().await,
        }
    }

    pub(crate) async fn rollback(self) -> Result<(), IndexError> {
        match self {
            WriteTx::Sqlite(tx) => tx.rollback(),
            WriteTx::Postgres(tx) => tx.rollback().await,
        }
    }
}

impl Runner for WriteTx<'_> {
    fn run_statements(&mut self, statements: Vec<Statement>) -> BoxFuture<'_, Result<Vec<Outcome>, IndexError>> {
        match self {
            WriteTx::Sqlite(tx) => tx.run_statements(statements),
            WriteTx::Postgres(tx) => tx.run_statements(statements),
        }
    }
}

/// sqlx's pool on PostgreSQL: a bounded wait for a connection, and a ping only for
/// connections idle for a while (`PING_IF_IDLE_FOR`).
fn postgres_pool_options() -> AnyPoolOptions {
    AnyPoolOptions::new().acquire_timeout(Duration::from_secs(10)).test_before_acquire(false).before_acquire(
        |conn, meta| {
            Box::pin(async move {
                if meta.idle_for > PING_IF_IDLE_FOR {
                    sqlx::Connection::ping(conn).await?;
                }
                Ok(true)
            })
        },
    )
}

/// How the index connects, beyond its URL.
#[derive(Debug, Clone, Copy)]
pub struct IndexOptions {
    /// On PostgreSQL, the connections of the pipelined writer pool (`pg_writer.rs`), beside
    /// sqlx's 16 and the searches' 8.
    pub postgres_writers: usize,
}

impl Default for IndexOptions {
    fn default() -> Self {
        IndexOptions { postgres_writers: crate::pg_writer::DEFAULT_WRITE_CONNECTIONS }
    }
}

impl Index {
    /// Connects to `sqlite://path` (creating the file and its directory) or `postgres://...`.
    pub async fn connect(url: &str) -> Result<Index, IndexError> {
        Index::connect_with(url, &IndexOptions::default()).await
    }

    /// `connect`, with `options`.
    pub async fn connect_with(url: &str, options: &IndexOptions) -> Result<Index, IndexError> {
        sqlx::any::install_default_drivers();
        let backend = if url.starts_with("sqlite:") {
            Backend::Sqlite
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Backend::Postgres
        } else {
            return Err(IndexError::UnsupportedUrl(url.to_owned()));
        };
        let mut sqlite_file = None;
        let pool = match backend {
            Backend::Sqlite => {
                let (url, file) = prepare_sqlite_url(url).await?;
                sqlite_file = Some(file);
                AnyPoolOptions::new()
                    .max_connections(8)
                    // sqlx pings a pooled connection before lending it, to find one whose
                    // server went away. A SQLite connection has no server, and its ping is a
                    // round trip to the connection's worker thread: one per transaction and
                    // per read, which on these machines costs as much as the statement.
                    .test_before_acquire(false)
                    .after_connect(|conn, _meta| {
                        Box::pin(async move {
                            // WAL: readers never block the writer; NORMAL sync is crash-safe
                            // for process crashes (the WAL is fsynced at checkpoints).
                            conn.execute("PRAGMA journal_mode = WAL").await?;
                            conn.execute("PRAGMA synchronous = NORMAL").await?;
                            conn.execute("PRAGMA foreign_keys = ON").await?;
                            conn.execute("PRAGMA busy_timeout = 10000").await?;
                            Ok(())
                        })
                    })
                    .connect_with(AnyConnectOptions::from_str(&url)?)
                    .await?
            }
            Backend::Postgres => postgres_pool_options().max_connections(16).connect(url).await?,
        };
        let search_pool = match backend {
            Backend::Sqlite => pool.clone(),
            Backend::Postgres => postgres_pool_options()
                .max_connections(SEARCH_CONNECTIONS)
                .after_connect(|conn, _meta| {
                    Box::pin(async move {
                        conn.execute("SET plan_cache_mode = force_custom_plan").await?;
                        Ok(())
                    })
                })
                .connect_lazy_with(AnyConnectOptions::from_str(url)?),
        };
        let pg_writers = match backend {
            Backend::Postgres => Some(std::sync::Arc::new(PgWriters::new(url, options.postgres_writers.max(1))?)),
            Backend::Sqlite => None,
        };
        let sqlite_writer = match sqlite_file {
            Some(file) => Some(std::sync::Arc::new(Mutex::new(SqliteWriter::open(&file, pool.clone())?))),
            None => None,
        };
        Ok(Index {
            pool,
            search_pool,
            backend,
            sqlite_writer,
            pg_writers,
            metrics: wasmhub_metrics::OpMetrics::detached(),
            manifest_reads: Default::default(),
        })
    }

    /// Sends operation latencies and failures to `metrics` (the registry's shared set).
    pub fn with_metrics(mut self, metrics: wasmhub_metrics::OpMetrics) -> Index {
        self.metrics = metrics;
        self
    }

    /// Runs one index operation, recording its latency and whether the database failed
    /// (an answer such as a missing reference is not a failure).
    pub(crate) async fn timed<T>(
        &self,
        op: &'static str,
        operation: impl std::future::Future<Output = Result<T, IndexError>>,
    ) -> Result<T, IndexError> {
        let failed = |error: &IndexError| {
            matches!(
                error,
                IndexError::Database(_)
                    | IndexError::Sqlite(_)
                    | IndexError::Postgres(_)
                    | IndexError::Io(_)
                    | IndexError::Corrupt(_)
            )
        };
        self.metrics.time(op, failed, operation).await
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    pub(crate) async fn write_guard(&self) -> WriteGuard<'_> {
        match &self.sqlite_writer {
            Some(lock) => WriteGuard(Some(lock.lock().await)),
            None => WriteGuard(None),
        }
    }

    /// Starts a write transaction of the hot paths (`WriteTx`): on SQLite it holds the write
    /// lock, on PostgreSQL a writer connection.
    pub(crate) async fn begin_write_tx(&self, commit: Commit) -> Result<WriteTx<'_>, IndexError> {
        if let Some(lock) = &self.sqlite_writer {
            return Ok(WriteTx::Sqlite(SqliteTx::begin(lock).await?));
        }
        let writers = self.pg_writers.as_ref().expect("an index is on SQLite or on PostgreSQL");
        Ok(WriteTx::Postgres(match commit {
            Commit::Durable => Box::new(writers.begin("BEGIN").await?),
            Commit::Deferred => Box::new(writers.begin("BEGIN; SET LOCAL synchronous_commit = off").await?),
        }))
    }

    /// Starts a transaction that will write. On SQLite it is `BEGIN IMMEDIATE`: a deferred
    /// `BEGIN` starts as a reader, and when it later writes while *another process* (a
    /// `wasmhub gc` beside `serve`) has committed since its first read, SQLite cannot upgrade
    /// it and fails at once with "database is locked" (SQLITE_BUSY_SNAPSHOT), without waiting
    /// for `busy_timeout`. Taking the write lock up front makes it wait instead. The in-process
    /// `write_guard` only serialises this process's writers.
    pub(crate) async fn begin_write(&self) -> Result<sqlx::Transaction<'static, sqlx::Any>, IndexError> {
        Ok(match self.backend {
            Backend::Sqlite => self.pool.begin_with("BEGIN IMMEDIATE").await?,
            Backend::Postgres => self.pool.begin().await?,
        })
    }

    /// Closes the pool, waiting for connections to be returned (clean shutdown).
    pub async fn close(&self) {
        if let Some(writers) = &self.pg_writers {
            writers.close();
        }
        self.search_pool.close().await;
        self.pool.close().await;
    }
}

/// Makes sure the directory of a SQLite file exists and asks SQLite to create the file: the
/// URL for sqlx, and the file's path. An in-memory database is refused: each connection would
/// have its own.
async fn prepare_sqlite_url(url: &str) -> Result<(String, std::path::PathBuf), IndexError> {
    let rest = url.trim_start_matches("sqlite://").trim_start_matches("sqlite:");
    let (path, query) = rest.split_once('?').unwrap_or((rest, ""));
    if path.is_empty() || path == ":memory:" || query.contains("mode=memory") {
        return Err(IndexError::UnsupportedUrl(url.to_owned()));
    }
    if let Some(parent) = std::path::Path::new(path).parent().filter(|p| !p.as_os_str().is_empty()) {
        tokio::fs::create_dir_all(parent).await?;
    }
    let query = if query.contains("mode=") {
        query.to_owned()
    } else if query.is_empty() {
        "mode=rwc".to_owned()
    } else {
        format!("{query}&mode=rwc")
    };
    Ok((format!("sqlite://{path}?{query}"), path.into()))
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::batch::Batch;
    use crate::rows::Columns;
    use sqlx::Connection;

    /// The PostgreSQL the unit tests use: `WASMHUB_TEST_POSTGRES_URL`, as for the integration
    /// tests.
    pub(crate) fn postgres_url() -> String {
        std::env::var("WASMHUB_TEST_POSTGRES_URL")
            .ok()
            .filter(|url| !url.is_empty())
            .unwrap_or_else(|| "postgres://postgres@127.0.0.1:5432/postgres".into())
    }

    async fn synchronous_commit(tx: &mut WriteTx<'_>) -> String {
        let mut show = Batch::default();
        show.push("SHOW synchronous_commit");
        show.run_returning(tx).await.unwrap()[0].rows[0].field("synchronous_commit").unwrap()
    }

    /// A deferred commit is set for its own transaction only (`SET LOCAL`): the connection
    /// goes back to the pool as durable as it came.
    #[tokio::test]
    async fn only_a_deferred_transaction_skips_the_wait_for_the_wal_on_postgresql() {
        let index = Index::connect(&postgres_url()).await.unwrap();
        for (commit, expected) in [(Commit::Deferred, "off"), (Commit::Durable, "on"), (Commit::Deferred, "off")] {
            let mut tx = index.begin_write_tx(commit).await.unwrap();
            assert_eq!(synchronous_commit(&mut tx).await, expected, "{commit:?}");
            tx.commit().await.unwrap();
        }
    }

    /// A pooled connection the server dropped while it sat idle is found by the ping it gets
    /// before being lent again (`PING_IF_IDLE_FOR`), and replaced: the read succeeds.
    #[tokio::test]
    async fn a_connection_dropped_while_idle_is_replaced_before_it_is_lent() {
        let name = format!("wasmhub_idle_{}", std::process::id());
        let separator = if postgres_url().contains('?') { "&" } else { "?" };
        let index = Index::connect(&format!("{}{separator}application_name={name}", postgres_url())).await.unwrap();
        let read = || sqlx::query_scalar::<_, i64>("SELECT pg_backend_pid()::BIGINT").fetch_one(&index.pool);
        let before = read().await.unwrap();
        let mut admin = sqlx::AnyConnection::connect(&postgres_url()).await.unwrap();
        let dropped: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM (SELECT pg_terminate_backend(pid) FROM pg_stat_activity
                                   WHERE application_name = $1) dropped",
        )
        .bind(&name)
        .fetch_one(&mut admin)
        .await
        .unwrap();
        assert!(dropped >= 1, "no connection of the pool was found to drop");
        tokio::time::sleep(PING_IF_IDLE_FOR + Duration::from_millis(200)).await;
        let after = read().await.expect("the dropped connection was lent without a ping");
        assert_ne!(before, after);
    }

    /// `IndexOptions::postgres_writers` bounds the hot write transactions in flight: with two,
    /// a third waits until one of the two ends.
    #[tokio::test]
    async fn the_writer_pool_has_the_size_the_options_give() {
        let index = Index::connect_with(&postgres_url(), &IndexOptions { postgres_writers: 2 }).await.unwrap();
        let first = index.begin_write_tx(Commit::Durable).await.unwrap();
        let _second = index.begin_write_tx(Commit::Durable).await.unwrap();
        let third = tokio::time::timeout(Duration::from_millis(300), index.begin_write_tx(Commit::Durable)).await;
        assert!(third.is_err(), "a third writer began beside two");
        first.rollback().await.unwrap();
        let third = tokio::time::timeout(Duration::from_secs(5), index.begin_write_tx(Commit::Durable)).await;
        assert!(matches!(third, Ok(Ok(_))), "the third writer never began");
    }
}
