//! This process's SQLite writer: one connection of its own (rusqlite), behind the lock that
//! serialises the process's writes, on which the hot write transactions (a pushed blob's
//! recording, a manifest push) run.
//!
//! Why not sqlx: sqlx runs each SQLite statement on its connection's worker thread, and
//! `BEGIN`, every batch and `COMMIT` are each a hand-off to that thread and back. On the
//! 2-vCPU machines the registry is measured on, those thread switches were half the server's
//! CPU during a small-artifact push. Here the statements run on the calling task's thread:
//! SQLite's work for them (WAL mode, `synchronous = NORMAL`, no fsync at commit) takes
//! microseconds, less than one hand-off. The other transactions keep sqlx; they take the same
//! lock, so the two connections never write at once.
//!
//! Two waits must not block the thread:
//! - `BEGIN IMMEDIATE` while *another process* (`wasmhub gc`) holds the write lock. The
//!   connection has no busy timeout; `begin` retries with async sleeps.
//! - Checkpoints, which fsync the WAL and the database. The writer does not checkpoint on its
//!   own (`wal_autocheckpoint = 0`): every `CHECKPOINT_EVERY` commits a task takes the write
//!   lock, as SQLite's own checkpoint would, and has a pooled sqlx connection run it, on a
//!   worker thread that may wait for the disk. Holding the lock lets it copy every frame, so
//!   that the next write starts the WAL over; a checkpoint racing the writer never catches up.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::future::BoxFuture;
use rusqlite::types::{ToSqlOutput, Value as SqlValue};
use sqlx::AnyPool;
use tokio::sync::{Mutex, MutexGuard};

use crate::batch::{Outcome, Runner, Statement, Value};
use crate::rows::{BatchRow, SqliteRow};
use crate::IndexError;

/// How long `begin` waits for another process's write lock: sqlx's connections use the same
/// `busy_timeout`.
const BUSY_WAIT: Duration = Duration::from_secs(10);

/// Prepared statements kept: the hot transactions use a few dozen texts (multi-row inserts
/// have one text per row count).
const STATEMENT_CACHE: usize = 256;

/// Commits between two checkpoints. SQLite's own default is every 1,000 pages of WAL; a
/// blob's recording writes about 8, so this is about twice that.
const CHECKPOINT_EVERY: u64 = 256;

/// The writer's connection, and what it needs to have its checkpoints run elsewhere.
pub(crate) struct SqliteWriter {
    conn: rusqlite::Connection,
    commits: u64,
    pool: AnyPool,
}

impl SqliteWriter {
    /// Opens the writer on the database file at `path`, which `pool` has created.
    pub(crate) fn open(path: &Path, pool: AnyPool) -> Result<SqliteWriter, IndexError> {
        let conn = rusqlite::Connection::open(path)?;
        conn.execute_batch(
            "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON;
             PRAGMA busy_timeout = 0; PRAGMA wal_autocheckpoint = 0;",
        )?;
        conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
        Ok(SqliteWriter { conn, commits: 0, pool })
    }

    /// Counts a commit; true when a checkpoint is due.
    fn committed(&mut self) -> bool {
        self.commits += 1;
        self.commits.is_multiple_of(CHECKPOINT_EVERY)
    }
}

/// Checkpoints the WAL under the write lock. PASSIVE: it does not wait for readers (it copies
/// the frames none of them may still need).
async fn checkpoint(lock: Arc<Mutex<SqliteWriter>>) {
    let writer = lock.lock().await;
    match sqlx::query("PRAGMA wal_checkpoint(PASSIVE)").execute(&writer.pool).await {
        Ok(_) | Err(sqlx::Error::PoolClosed) => {}
        Err(error) => tracing::warn!(%error, "checkpointing the SQLite WAL failed"),
    }
}

/// A write transaction on the writer: rolled back when dropped before `commit`.
pub(crate) struct SqliteTx<'a> {
    writer: MutexGuard<'a, SqliteWriter>,
    lock: &'a Arc<Mutex<SqliteWriter>>,
    open: bool,
}

impl<'a> SqliteTx<'a> {
    /// Takes the write lock, then `BEGIN IMMEDIATE` (see `Index::begin_write` for why
    /// immediate), waiting for another process's write lock without blocking the thread.
    pub(crate) async fn begin(lock: &'a Arc<Mutex<SqliteWriter>>) -> Result<SqliteTx<'a>, IndexError> {
        let writer = lock.lock().await;
        let deadline = Instant::now() + BUSY_WAIT;
        let mut pause = Duration::from_millis(1);
        loop {
            match writer.conn.execute_batch("BEGIN IMMEDIATE") {
                Ok(()) => return Ok(SqliteTx { writer, lock, open: true }),
                Err(error) if is_busy(&error) && Instant::now() < deadline => {
                    tokio::time::sleep(pause).await;
                    pause = (pause * 2).min(Duration::from_millis(50));
                }
                Err(error) => return Err(error.into()),
            }
        }
    }

    pub(crate) fn commit(mut self) -> Result<(), IndexError> {
        self.writer.conn.execute_batch("COMMIT")?;
        self.open = false;
        if self.writer.committed() {
            tokio::spawn(checkpoint(self.lock.clone()));
        }
        Ok(())
    }

    pub(crate) fn rollback(mut self) -> Result<(), IndexError> {
        self.open = false;
        Ok(self.writer.conn.execute_batch("ROLLBACK")?)
    }
}

impl Drop for SqliteTx<'_> {
    fn drop(&mut self) {
        // Before the lock is released (the guard is a field, dropped after this runs).
        if self.open {
            if let Err(error) = self.writer.conn.execute_batch("ROLLBACK") {
                tracing::warn!(%error, "rolling back an abandoned SQLite write failed");
            }
        }
    }
}

impl Runner for SqliteTx<'_> {
    fn run_statements(&mut self, statements: Vec<Statement>) -> BoxFuture<'_, Result<Vec<Outcome>, IndexError>> {
        let outcomes = statements.into_iter().map(|statement| run_one(&self.writer.conn, statement)).collect();
        Box::pin(std::future::ready(outcomes))
    }
}

fn is_busy(error: &rusqlite::Error) -> bool {
    matches!(error.sqlite_error_code(), Some(rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked))
}

/// Runs one statement: what it wrote, and the rows it returned. Its `$n` parameters are bound
/// by number, as sqlx binds them (SQLite takes `$n` as a name).
fn run_one(conn: &rusqlite::Connection, statement: Statement) -> Result<Outcome, IndexError> {
    let mut prepared = conn.prepare_cached(&statement.sql)?;
    for at in 1..=prepared.parameter_count() {
        let number = prepared
            .parameter_name(at)
            .and_then(|name| name.strip_prefix('$'))
            .and_then(|number| number.parse::<usize>().ok())
            .filter(|number| (1..=statement.values.len()).contains(number))
            .ok_or_else(|| IndexError::Corrupt(format!("parameter {at} of {:?} has no value", statement.sql)))?;
        prepared.raw_bind_parameter(at, sql_value(&statement.values[number - 1]))?;
    }
    let writes = !prepared.readonly();
    let names: Arc<[String]> = prepared.column_names().into_iter().map(str::to_owned).collect();
    let mut rows = Vec::new();
    let mut results = prepared.raw_query();
    while let Some(row) = results.next()? {
        let values = (0..names.len()).map(|at| row.get::<_, SqlValue>(at)).collect::<Result<_, _>>()?;
        rows.push(BatchRow::Sqlite(SqliteRow { names: names.clone(), values }));
    }
    let affected = if writes { conn.changes() } else { 0 };
    Ok(Outcome { affected, rows })
}

fn sql_value(value: &Value) -> ToSqlOutput<'_> {
    use rusqlite::types::ValueRef;
    ToSqlOutput::Borrowed(match value {
        Value::Int(Some(int)) => ValueRef::Integer(*int),
        Value::Text(Some(text)) => ValueRef::Text(text.as_bytes()),
        Value::Bytes(bytes) => ValueRef::Blob(bytes),
        Value::Int(None) | Value::Text(None) => ValueRef::Null,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn each_statement_reports_its_own_rows_on_the_writer() {
        sqlx::any::install_default_drivers();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("writer.db");
        let pool =
            sqlx::any::AnyPoolOptions::new().connect_lazy(&format!("sqlite://{}?mode=rwc", path.display())).unwrap();
        let lock = Arc::new(Mutex::new(SqliteWriter::open(&path, pool).unwrap()));
        let mut tx = SqliteTx::begin(&lock).await.unwrap();
        crate::batch::tests::reports_each_statements_own_rows(&mut tx).await;
    }
}
