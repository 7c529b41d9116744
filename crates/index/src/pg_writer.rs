//! PostgreSQL's hot write transactions (a pushed blob's recording, a chunk, a mount, a manifest
//! push), pipelined: a batch's statements go to the server together, and `BEGIN` goes with the
//! first batch, so a transaction costs one round trip per batch plus its `COMMIT`.
//!
//! Why not sqlx: it sends one statement and waits for its answer before sending the next.
//! Each round trip wakes the server's backend process and this process, and on the 2-vCPU
//! machines the registry is measured on those wake-ups, not the SQL, were most of a small
//! push's cost: in a `pgbench` of a blob's recording (six statements), pipelining them took
//! the transaction from 1.7 to 1.0 ms on one connection, and from 2,000 to 3,500 per second on
//! sixteen. `tokio-postgres` pipelines the requests that are in flight together.
//!
//! The connections are this module's own small pool (`IndexOptions::postgres_writers`),
//! beside sqlx's.
//! Statements are prepared once per connection, with the parameter types the values have
//! (`int8`, `text`, `bytea`, as sqlx declares them), so the server plans them as it did.

use std::collections::HashMap;
use std::str::FromStr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::future::{join_all, BoxFuture};
use futures::{pin_mut, TryStreamExt};
use sqlx::postgres::PgConnectOptions;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio_postgres::types::{ToSql, Type};
use tokio_postgres::{Client, NoTls};

use crate::batch::{Outcome, Runner, Statement, Value};
use crate::rows::BatchRow;
use crate::IndexError;

/// Connections for the hot write transactions, per process, beside sqlx's pools, unless
/// `IndexOptions::postgres_writers` says otherwise. On a 16-connection small push with local
/// storage, 16 writers were no faster than 8 and cost PostgreSQL more CPU; a blob placed by a
/// server-side copy on S3 (up to 8 MiB) holds its writer meanwhile, so many concurrent S3
/// pushes of mid-sized blobs may want more.
pub const DEFAULT_WRITE_CONNECTIONS: usize = 8;

/// The longest a transaction waits for a writer connection, and for a new one to connect
/// (sqlx's pools wait as long).
const WAIT_FOR_CONNECTION: Duration = Duration::from_secs(10);

/// Prepared statements kept per connection before the cache starts over: the hot transactions
/// use a few dozen texts (multi-row inserts have one text per row count).
const STATEMENT_CACHE: usize = 256;

/// The pool of writer connections.
pub(crate) struct PgWriters {
    config: tokio_postgres::Config,
    idle: Mutex<Vec<PgConnection>>,
    slots: Arc<Semaphore>,
}

struct PgConnection {
    client: Client,
    statements: HashMap<(String, Vec<Type>), tokio_postgres::Statement>,
}

impl PgWriters {
    /// The pool for `url`, read by sqlx's own parser (host or socket, port, user, database,
    /// options, application name, and the password from the URL, `PGPASSWORD` or the
    /// passfile). Connects lazily.
    pub(crate) fn new(url: &str, connections: usize) -> Result<PgWriters, IndexError> {
        let options = PgConnectOptions::from_str(url)?;
        let mut config = tokio_postgres::Config::new();
        match options.get_socket() {
            Some(directory) => config.host_path(directory),
            None => config.host(options.get_host()),
        };
        config.port(options.get_port()).user(options.get_username());
        if let Some(database) = options.get_database() {
            config.dbname(database);
        }
        if let Some(server_options) = options.get_options() {
            config.options(server_options);
        }
        if let Some(name) = options.get_application_name() {
            config.application_name(name);
        }
        // The password sqlx settled on (the URL's, `PGPASSWORD`, or the passfile's), which
        // its options give back only inside a URL.
        let settled = sqlx::ConnectOptions::to_url_lossy(&options);
        if let Some(password) = settled.password() {
            config.password(percent_encoding::percent_decode_str(password).decode_utf8_lossy().into_owned());
        }
        // sqlx is built without TLS here, so its own connections are plain too.
        config.ssl_mode(tokio_postgres::config::SslMode::Disable).connect_timeout(WAIT_FOR_CONNECTION);
        Ok(PgWriters { config, idle: Mutex::default(), slots: Arc::new(Semaphore::new(connections)) })
    }

    /// A transaction on a writer connection: `begin_sql` is sent with its first batch.
    pub(crate) async fn begin(self: &Arc<Self>, begin_sql: &'static str) -> Result<PgTx, IndexError> {
        // As sqlx's pool does: a bounded wait, and its errors.
        let slot = match tokio::time::timeout(WAIT_FOR_CONNECTION, self.slots.clone().acquire_owned()).await {
            Ok(Ok(slot)) => slot,
            Ok(Err(_closed)) => return Err(sqlx::Error::PoolClosed.into()),
            Err(_elapsed) => return Err(sqlx::Error::PoolTimedOut.into()),
        };
        let idle = self.idle.lock().expect("writer pool lock").pop();
        let conn = match idle {
            Some(conn) if !conn.client.is_closed() => conn,
            _ => self.connect().await?,
        };
        Ok(PgTx { conn: Some(conn), begin: Some(begin_sql), writers: self.clone(), slot: Some(slot) })
    }

    async fn connect(&self) -> Result<PgConnection, IndexError> {
        let (client, connection) = self.config.connect(NoTls).await?;
        tokio::spawn(async move {
            if let Err(error) = connection.await {
                tracing::warn!(%error, "a PostgreSQL writer connection ended");
            }
        });
        Ok(PgConnection { client, statements: HashMap::new() })
    }

    /// Closes the idle connections (those lent out close when given back).
    pub(crate) fn close(&self) {
        self.slots.close();
        self.idle.lock().expect("writer pool lock").clear();
    }

    fn give_back(&self, conn: PgConnection) {
        if !conn.client.is_closed() && !self.slots.is_closed() {
            self.idle.lock().expect("writer pool lock").push(conn);
        }
    }
}

/// A write transaction on a writer connection. Dropped before `commit` or `rollback`, it
/// rolls back on a task of its own before the connection is lent again.
pub(crate) struct PgTx {
    conn: Option<PgConnection>,
    /// `BEGIN`, until it has been sent.
    begin: Option<&'static str>,
    writers: Arc<PgWriters>,
    slot: Option<OwnedSemaphorePermit>,
}

impl PgTx {
    pub(crate) async fn commit(mut self) -> Result<(), IndexError> {
        self.finish("COMMIT").await
    }

    pub(crate) async fn rollback(mut self) -> Result<(), IndexError> {
        self.finish("ROLLBACK").await
    }

    /// Ends the transaction with `sql` (nothing to end if no batch ran) and lends the
    /// connection again; a connection whose `COMMIT` failed is closed.
    async fn finish(&mut self, sql: &str) -> Result<(), IndexError> {
        let conn = self.conn.take().expect("a transaction ends once");
        if self.begin.is_none() {
            conn.client.batch_execute(sql).await?;
        }
        self.writers.give_back(conn);
        Ok(())
    }

    async fn run(&mut self, statements: Vec<Statement>) -> Result<Vec<Outcome>, IndexError> {
        let conn = self.conn.as_mut().expect("a finished transaction runs nothing");
        let prepared = conn.prepare_all(&statements).await?;
        let client = &conn.client;
        let begin = self.begin.take();
        let began = async {
            match begin {
                Some(sql) => client.batch_execute(sql).await,
                None => Ok(()),
            }
        };
        // Polled together, in order: every request is sent before the first answer is read.
        let runs = statements.iter().zip(&prepared).map(|(statement, prepared)| run_one(client, prepared, statement));
        let (began, outcomes) = tokio::join!(began, join_all(runs));
        began?;
        outcomes.into_iter().collect()
    }
}

impl Drop for PgTx {
    fn drop(&mut self) {
        let Some(conn) = self.conn.take() else { return };
        let (writers, slot) = (self.writers.clone(), self.slot.take());
        if self.begin.is_some() {
            writers.give_back(conn);
            return;
        }
        // Without a runtime the connection closes, and the server rolls back.
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(async move {
                if conn.client.batch_execute("ROLLBACK").await.is_ok() {
                    writers.give_back(conn);
                }
                drop(slot);
            });
        }
    }
}

impl Runner for PgTx {
    fn run_statements(&mut self, statements: Vec<Statement>) -> BoxFuture<'_, Result<Vec<Outcome>, IndexError>> {
        Box::pin(self.run(statements))
    }
}

impl PgConnection {
    /// Each statement's prepared form, preparing the new ones together.
    async fn prepare_all(&mut self, statements: &[Statement]) -> Result<Vec<tokio_postgres::Statement>, IndexError> {
        let keys: Vec<(String, Vec<Type>)> =
            statements.iter().map(|s| (s.sql.clone(), s.values.iter().map(sql_type).collect())).collect();
        if self.statements.len() + keys.len() > STATEMENT_CACHE {
            self.statements.clear();
        }
        let mut missing: Vec<&(String, Vec<Type>)> = Vec::new();
        for key in &keys {
            if !self.statements.contains_key(key) && !missing.contains(&key) {
                missing.push(key);
            }
        }
        let client = &self.client;
        let prepared = join_all(missing.iter().map(|(sql, types)| client.prepare_typed(sql, types))).await;
        for (key, statement) in missing.into_iter().zip(prepared) {
            self.statements.insert(key.clone(), statement?);
        }
        Ok(keys.iter().map(|key| self.statements[key].clone()).collect())
    }
}

/// The type a value's parameter is declared with: sqlx's for the same Rust types.
fn sql_type(value: &Value) -> Type {
    match value {
        Value::Int(_) => Type::INT8,
        Value::Text(_) => Type::TEXT,
        Value::Bytes(_) => Type::BYTEA,
    }
}

fn as_param(value: &Value) -> &(dyn ToSql + Sync) {
    match value {
        Value::Int(int) => int,
        Value::Text(text) => text,
        Value::Bytes(bytes) => bytes,
    }
}

/// One statement: its rows and the rows it wrote (`rows_affected`, as the server reports it).
async fn run_one(
    client: &Client,
    prepared: &tokio_postgres::Statement,
    statement: &Statement,
) -> Result<Outcome, IndexError> {
    let stream = client.query_raw(prepared, statement.values.iter().map(as_param)).await?;
    pin_mut!(stream);
    let mut rows = Vec::new();
    while let Some(row) = stream.try_next().await? {
        rows.push(BatchRow::Postgres(row));
    }
    let affected = stream.rows_affected().unwrap_or(rows.len() as u64);
    Ok(Outcome { affected, rows })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::batch::Batch;
    use crate::connection::tests::postgres_url;
    use crate::rows::Columns;

    /// The writer connects where sqlx does, with the password sqlx would use: the URL's
    /// (percent-decoded), or the passfile's when the URL has none.
    #[test]
    fn connection_settings_and_password_are_read_as_sqlx_reads_them() {
        let writers =
            PgWriters::new("postgres://alice:p%40ss@db.example:5433/registry?application_name=hub", 8).unwrap();
        let config = &writers.config;
        assert_eq!(config.get_hosts(), [tokio_postgres::config::Host::Tcp("db.example".into())]);
        assert_eq!((config.get_ports(), config.get_user()), (&[5433][..], Some("alice")));
        assert_eq!((config.get_dbname(), config.get_application_name()), (Some("registry"), Some("hub")));
        assert_eq!(config.get_password(), Some(&b"p@ss"[..]));

        // A host no other test connects to: PGPASSFILE is read by every connection made while
        // it is set.
        let dir = tempfile::tempdir().unwrap();
        let passfile = dir.path().join("pgpass");
        std::fs::write(&passfile, "other.example:*:*:*:wrong\npgpass.example:5433:registry:alice:from-the-file\n")
            .unwrap();
        // Like libpq, sqlx ignores a passfile others may read.
        std::fs::set_permissions(&passfile, std::os::unix::fs::PermissionsExt::from_mode(0o600)).unwrap();
        std::env::set_var("PGPASSFILE", &passfile);
        let writers = PgWriters::new("postgres://alice@pgpass.example:5433/registry", 8).unwrap();
        std::env::remove_var("PGPASSFILE");
        assert_eq!(writers.config.get_password(), Some(&b"from-the-file"[..]));
    }

    /// The batch test every runner passes, pipelined, in a transaction rolled back after (its
    /// table goes with it).
    #[tokio::test]
    async fn each_statement_reports_its_own_rows_when_pipelined() {
        let writers = Arc::new(PgWriters::new(&postgres_url(), DEFAULT_WRITE_CONNECTIONS).unwrap());
        let mut tx = writers.begin("BEGIN").await.unwrap();
        crate::batch::tests::reports_each_statements_own_rows(&mut tx).await;
        tx.rollback().await.unwrap();
    }

    /// A transaction dropped half-way is rolled back before its connection is lent again:
    /// the server sees the connection (named by the URL's `application_name`) idle, not idle
    /// in the transaction, and the next transaction on it does not see what it wrote.
    #[tokio::test]
    async fn a_dropped_transaction_rolls_back_and_its_connection_is_reused() {
        let name = format!("wasmhub_writer_{}", std::process::id());
        let url = format!(
            "{}{}application_name={name}",
            postgres_url(),
            if postgres_url().contains('?') { "&" } else { "?" }
        );
        let writers = Arc::new(PgWriters::new(&url, DEFAULT_WRITE_CONNECTIONS).unwrap());
        let read = |sql: &str| {
            let mut batch = Batch::default();
            batch.push(sql.to_owned());
            batch
        };
        let mut tx = writers.begin("BEGIN").await.unwrap();
        let mut write = read(
            "SELECT pg_backend_pid()::BIGINT AS pid, application_name FROM pg_stat_activity
                              WHERE pid = pg_backend_pid()",
        );
        write.push("CREATE TEMPORARY TABLE dropped (x BIGINT)");
        let outcomes = write.run_returning(&mut tx).await.unwrap();
        let pid: i64 = outcomes[0].rows[0].field("pid").unwrap();
        assert_eq!(outcomes[0].rows[0].field::<String>("application_name").unwrap(), name);
        drop(tx);

        let state = |pid: i64| {
            let mut batch = Batch::default();
            batch.push("SELECT state FROM pg_stat_activity WHERE pid = $1::INT").bind(pid);
            batch
        };
        let mut others = Vec::new();
        let reused = loop {
            let mut tx = writers.begin("BEGIN").await.unwrap();
            let mine: i64 = read("SELECT pg_backend_pid()::BIGINT AS pid").run_returning(&mut tx).await.unwrap()[0]
                .rows[0]
                .field("pid")
                .unwrap();
            if mine == pid {
                break tx;
            }
            let seen = state(pid).run_returning(&mut tx).await.unwrap()[0].rows[0].field::<String>("state").unwrap();
            assert_ne!(seen, "idle in transaction (aborted)");
            // Held, so that the next `begin` takes another connection.
            others.push(tx);
            assert!(others.len() <= DEFAULT_WRITE_CONNECTIONS, "the dropped transaction's connection never came back");
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        };
        let mut reused = reused;
        let found = read("SELECT to_regclass('pg_temp.dropped')::TEXT AS found").run_returning(&mut reused).await;
        assert_eq!(found.unwrap()[0].rows[0].field::<Option<String>>("found").unwrap(), None);
        reused.commit().await.unwrap();
        for tx in others {
            tx.rollback().await.unwrap();
        }
    }
}
