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
//! One wait must not block the thread: `BEGIN IMMEDIATE` while *another process* (`wasmhub gc`)
//! holds the write lock. The connection has no busy timeout; `begin` retries with async sleeps.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::future::BoxFuture;
use rusqlite::types::{ToSqlOutput, Value as SqlValue};
use tokio::sync::MutexGuard;

use crate::batch::{Outcome, Runner, Statement, Value};
use crate::rows::{BatchRow, SqliteRow};
use crate::IndexError;

/// How long `begin` waits for another process's write lock: sqlx's connections use the same
/// `busy_timeout`.
const BUSY_WAIT: Duration = Duration::from_secs(10);

/// Prepared statements kept: the hot transactions use a few dozen texts (multi-row inserts
/// have one text per row count).
const STATEMENT_CACHE: usize = 256;

/// Opens the writer on the database file at `path` (which the pool has created and migrated).
pub(crate) fn open(path: &Path) -> Result<rusqlite::Connection, IndexError> {
    let conn = rusqlite::Connection::open(path)?;
    conn.execute_batch(
        "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON; PRAGMA busy_timeout = 0;",
    )?;
    conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
    Ok(conn)
}

/// A write transaction on the writer: rolled back when dropped before `commit`.
pub(crate) struct SqliteTx<'a> {
    conn: MutexGuard<'a, rusqlite::Connection>,
    open: bool,
}

impl<'a> SqliteTx<'a> {
    /// `BEGIN IMMEDIATE` (see `Index::begin_write` for why immediate), waiting for another
    /// process's write lock without blocking the thread.
    pub(crate) async fn begin(conn: MutexGuard<'a, rusqlite::Connection>) -> Result<SqliteTx<'a>, IndexError> {
        let deadline = Instant::now() + BUSY_WAIT;
        let mut pause = Duration::from_millis(1);
        loop {
            match conn.execute_batch("BEGIN IMMEDIATE") {
                Ok(()) => return Ok(SqliteTx { conn, open: true }),
                Err(error) if is_busy(&error) && Instant::now() < deadline => {
                    tokio::time::sleep(pause).await;
                    pause = (pause * 2).min(Duration::from_millis(50));
                }
                Err(error) => return Err(error.into()),
            }
        }
    }

    pub(crate) fn commit(mut self) -> Result<(), IndexError> {
        self.conn.execute_batch("COMMIT")?;
        self.open = false;
        Ok(())
    }

    pub(crate) fn rollback(mut self) -> Result<(), IndexError> {
        self.open = false;
        Ok(self.conn.execute_batch("ROLLBACK")?)
    }
}

impl Drop for SqliteTx<'_> {
    fn drop(&mut self) {
        // Before the lock is released (the guard is a field, dropped after this runs).
        if self.open {
            if let Err(error) = self.conn.execute_batch("ROLLBACK") {
                tracing::warn!(%error, "rolling back an abandoned SQLite write failed");
            }
        }
    }
}

impl Runner for SqliteTx<'_> {
    fn run_statements(&mut self, statements: Vec<Statement>) -> BoxFuture<'_, Result<Vec<Outcome>, IndexError>> {
        let outcomes = statements.into_iter().map(|statement| run_one(&self.conn, statement)).collect();
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
