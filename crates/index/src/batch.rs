//! Statements sent to the database together.
//!
//! sqlx runs each SQLite statement on a worker thread of its own connection: every statement
//! is a hand-off to that thread and back. On the 2-vCPU machines the registry is measured on,
//! a hand-off costs 15–70 µs (waking a sleeping vCPU), against a few µs for the SQL of an
//! insert, so a small push spent most of its time on them. A `Batch` is one multi-statement
//! query on SQLite: one hand-off for all its statements, each statement's parameters
//! renumbered to follow the previous ones (sqlx binds `$N` by number across the whole query).
//! Through sqlx, PostgreSQL, whose driver takes one statement per query, runs them one after
//! another. The hot write transactions skip sqlx altogether: on SQLite this process's writer
//! connection runs their batches on the caller's thread (`sqlite_writer.rs`); on PostgreSQL a
//! writer connection sends each batch's statements together (`pg_writer.rs`).
//!
//! A batch may read too (`run_returning`): the reads that decide what a transaction writes go
//! as one batch, the writes as another.

use futures::future::BoxFuture;
use futures::TryStreamExt;
use sqlx::any::{AnyQueryResult, AnyRow};
use sqlx::{AnyConnection, Either, Executor};

use crate::rows::BatchRow;
use crate::IndexError;

/// Most parameters one SQLite round trip carries; SQLite refuses a parameter numbered above
/// 32,766. A statement is never split: callers keep each statement well below this.
const MAX_SQLITE_PARAMETERS: usize = 30_000;

/// A value bound to a parameter.
#[derive(Debug, Clone)]
pub(crate) enum Value {
    Int(Option<i64>),
    Text(Option<String>),
    Bytes(Vec<u8>),
}

impl From<i64> for Value {
    fn from(value: i64) -> Value {
        Value::Int(Some(value))
    }
}

impl From<Option<i64>> for Value {
    fn from(value: Option<i64>) -> Value {
        Value::Int(value)
    }
}

impl From<String> for Value {
    fn from(value: String) -> Value {
        Value::Text(Some(value))
    }
}

impl From<&str> for Value {
    fn from(value: &str) -> Value {
        Value::Text(Some(value.to_owned()))
    }
}

impl From<Option<String>> for Value {
    fn from(value: Option<String>) -> Value {
        Value::Text(value)
    }
}

impl From<Vec<u8>> for Value {
    fn from(value: Vec<u8>) -> Value {
        Value::Bytes(value)
    }
}

/// One statement of a batch: SQL whose parameters are `$1`..`$n`, and its `n` values.
#[derive(Debug)]
pub(crate) struct Statement {
    pub(crate) sql: String,
    pub(crate) values: Vec<Value>,
    index: usize,
}

impl Statement {
    pub(crate) fn bind(&mut self, value: impl Into<Value>) -> &mut Statement {
        self.values.push(value.into());
        self
    }

    /// Where this statement's row count is in `Batch::run`'s answer.
    pub(crate) fn index(&self) -> usize {
        self.index
    }
}

#[derive(Debug, Default)]
pub(crate) struct Batch {
    statements: Vec<Statement>,
}

impl Batch {
    /// Adds a statement; bind its values in the order of its parameters.
    pub(crate) fn push(&mut self, sql: impl Into<String>) -> &mut Statement {
        let index = self.statements.len();
        self.statements.push(Statement { sql: sql.into(), values: Vec::new(), index });
        &mut self.statements[index]
    }

    /// Runs every statement in order, within the caller's transaction; the rows each wrote.
    /// A failing statement fails the batch, and the caller rolls back.
    pub(crate) async fn run(self, conn: &mut impl Runner) -> Result<Vec<u64>, IndexError> {
        Ok(self.run_returning(conn).await?.into_iter().map(|outcome| outcome.affected).collect())
    }

    /// `run`, keeping the rows each statement returned (for reads, or `RETURNING`).
    pub(crate) async fn run_returning(self, conn: &mut impl Runner) -> Result<Vec<Outcome>, IndexError> {
        conn.run_statements(self.statements).await
    }
}

/// What runs a batch: a sqlx connection or transaction (either backend), this process's
/// SQLite writer (`sqlite_writer.rs`), or a PostgreSQL writer connection (`pg_writer.rs`).
/// (A boxed future: with `impl Future` the compiler cannot prove the request handlers that
/// reach it `Send`, a known limit of its higher-ranked lifetime checks.)
pub(crate) trait Runner: Send {
    fn run_statements(&mut self, statements: Vec<Statement>) -> BoxFuture<'_, Result<Vec<Outcome>, IndexError>>;
}

impl Runner for AnyConnection {
    fn run_statements(&mut self, statements: Vec<Statement>) -> BoxFuture<'_, Result<Vec<Outcome>, IndexError>> {
        Box::pin(run_on_sqlx(self, statements))
    }
}

impl Runner for sqlx::Transaction<'_, sqlx::Any> {
    fn run_statements(&mut self, statements: Vec<Statement>) -> BoxFuture<'_, Result<Vec<Outcome>, IndexError>> {
        Box::pin(run_on_sqlx(self, statements))
    }
}

/// On SQLite, one multi-statement query per group of statements; on PostgreSQL one query
/// per statement.
async fn run_on_sqlx(conn: &mut AnyConnection, statements: Vec<Statement>) -> Result<Vec<Outcome>, IndexError> {
    let mut outcomes = Vec::with_capacity(statements.len());
    if conn.backend_name() == <sqlx::Sqlite as sqlx::Database>::NAME {
        for group in sqlite_groups(statements) {
            outcomes.extend(run_joined(conn, group).await?);
        }
    } else {
        for statement in statements {
            let query = bind_all(sqlx::query(&statement.sql), statement.values);
            outcomes.extend(collect_outcomes(conn.fetch_many(query)).await?);
        }
    }
    Ok(outcomes)
}

/// What one statement of a batch did: the rows it wrote, and those it returned.
#[derive(Default)]
pub(crate) struct Outcome {
    pub(crate) affected: u64,
    pub(crate) rows: Vec<BatchRow>,
}

/// Splits a query's results into one `Outcome` per statement: each statement's rows come
/// before its own result.
async fn collect_outcomes(
    mut results: futures::stream::BoxStream<'_, Result<Either<AnyQueryResult, AnyRow>, sqlx::Error>>,
) -> Result<Vec<Outcome>, IndexError> {
    let mut outcomes = Vec::new();
    let mut rows = Vec::new();
    while let Some(item) = results.try_next().await? {
        match item {
            Either::Right(row) => rows.push(BatchRow::Any(row)),
            Either::Left(done) => {
                outcomes.push(Outcome { affected: done.rows_affected(), rows: std::mem::take(&mut rows) })
            }
        }
    }
    Ok(outcomes)
}

type AnyQuery<'q> = sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>>;

fn bind_all(mut query: AnyQuery<'_>, values: Vec<Value>) -> AnyQuery<'_> {
    for value in values {
        query = match value {
            Value::Int(int) => query.bind(int),
            Value::Text(text) => query.bind(text),
            Value::Bytes(bytes) => query.bind(bytes),
        };
    }
    query
}

/// Consecutive statements whose parameters fit one SQLite round trip.
fn sqlite_groups(statements: Vec<Statement>) -> Vec<Vec<Statement>> {
    let mut groups: Vec<Vec<Statement>> = Vec::new();
    let mut parameters = 0;
    for statement in statements {
        let size = statement.values.len();
        match groups.last_mut() {
            Some(group) if parameters + size <= MAX_SQLITE_PARAMETERS => group.push(statement),
            _ => {
                parameters = 0;
                groups.push(vec![statement]);
            }
        }
        parameters += size;
    }
    groups
}

/// One multi-statement query on SQLite: what each statement did, in order.
async fn run_joined(conn: &mut AnyConnection, statements: Vec<Statement>) -> Result<Vec<Outcome>, IndexError> {
    let count = statements.len();
    let mut sql = String::new();
    let mut values = Vec::new();
    for statement in statements {
        if !sql.is_empty() {
            sql.push_str(";\n");
        }
        sql.push_str(&renumbered(&statement.sql, values.len(), statement.values.len())?);
        values.extend(statement.values);
    }
    let outcomes = collect_outcomes(conn.fetch_many(bind_all(sqlx::query(&sql), values))).await?;
    if outcomes.len() != count {
        return Err(IndexError::Corrupt(format!("a batch of {count} statements reported {} results", outcomes.len())));
    }
    Ok(outcomes)
}

/// `sql` with each parameter `$k` written `$(k + offset)`; fails when it names a parameter
/// beyond its own `count` values (it would read the next statement's). The statements are the
/// index's own text and hold no `$` in literals.
fn renumbered(sql: &str, offset: usize, count: usize) -> Result<String, IndexError> {
    let mut out = String::with_capacity(sql.len() + 8);
    let mut rest = sql;
    while let Some(at) = rest.find('$') {
        out.push_str(&rest[..at]);
        let after = &rest[at + 1..];
        let digits = after.bytes().take_while(u8::is_ascii_digit).count();
        let number: usize = after[..digits]
            .parse()
            .map_err(|_| IndexError::Corrupt(format!("statement parameter without a number in {sql:?}")))?;
        if number == 0 || number > count {
            return Err(IndexError::Corrupt(format!("parameter ${number} of {count} in {sql:?}")));
        }
        out.push_str(&format!("${}", number + offset));
        rest = &after[digits..];
    }
    out.push_str(rest);
    Ok(out)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::rows::Columns;

    #[test]
    fn parameters_follow_those_of_the_statements_before() {
        let sql = "INSERT INTO t (a, b) VALUES ($1, $2) ON CONFLICT DO UPDATE SET b = $2 WHERE $10 = 1";
        assert_eq!(
            renumbered(sql, 5, 10).unwrap(),
            "INSERT INTO t (a, b) VALUES ($6, $7) ON CONFLICT DO UPDATE SET b = $7 WHERE $15 = 1"
        );
        assert_eq!(renumbered("SELECT 1", 3, 0).unwrap(), "SELECT 1");
    }

    #[test]
    fn a_parameter_beyond_the_statement_values_is_refused() {
        assert!(renumbered("SELECT $3", 0, 2).is_err());
        assert!(renumbered("SELECT $0", 0, 2).is_err());
        assert!(renumbered("SELECT $a", 0, 2).is_err());
    }

    #[test]
    fn groups_keep_order_and_stay_under_the_parameter_limit() {
        let mut batch = Batch::default();
        for size in [10_000, 15_000, 10_000, 1, 29_999, 40_000, 2] {
            let statement = batch.push("SELECT 1");
            for _ in 0..size {
                statement.bind(1i64);
            }
        }
        let sizes: Vec<Vec<usize>> = sqlite_groups(batch.statements)
            .iter()
            .map(|group| group.iter().map(|s| s.values.len()).collect())
            .collect();
        assert_eq!(sizes, vec![vec![10_000, 15_000], vec![10_000, 1], vec![29_999], vec![40_000], vec![2]]);
    }

    /// What every runner must do (sqlx on SQLite, the SQLite writer, a PostgreSQL writer):
    /// each statement's own row count and rows, in order, with `$n` read by number (reused,
    /// out of order); a failing statement fails the batch.
    pub(crate) async fn reports_each_statements_own_rows(conn: &mut impl Runner) {
        let mut create = Batch::default();
        create.push("CREATE TABLE t (k TEXT PRIMARY KEY, v BIGINT)");
        create.run(conn).await.unwrap();
        let mut batch = Batch::default();
        batch.push("INSERT INTO t (k, v) VALUES ($1, $2), ($3, $2)").bind("a").bind(1i64).bind("b");
        batch.push("INSERT INTO t (v, k) VALUES ($2, $1) ON CONFLICT DO NOTHING").bind("a").bind(Some(9i64));
        let update = batch.push("UPDATE t SET v = $1 WHERE v = $2").bind(5i64).bind(1i64).index();
        let affected = batch.run(conn).await.unwrap();
        assert_eq!(affected, vec![2, 0, 2]);
        assert_eq!(update, 2);
        let mut reads = Batch::default();
        reads.push("SELECT k FROM t WHERE v = $1 ORDER BY k").bind(5i64);
        reads.push("SELECT k FROM t WHERE k = $1").bind("none");
        reads.push("UPDATE t SET v = $1 WHERE k = $2 RETURNING v").bind(6i64).bind("a");
        let outcomes = reads.run_returning(conn).await.unwrap();
        let keys = |i: usize| -> Vec<String> { outcomes[i].rows.iter().map(|row| row.field("k").unwrap()).collect() };
        assert_eq!((keys(0), keys(1), outcomes[2].affected), (vec!["a".to_owned(), "b".to_owned()], vec![], 1));
        assert_eq!(outcomes[2].rows[0].field::<i64>("v").unwrap(), 6);
        let mut failing = Batch::default();
        failing.push("INSERT INTO t (k) VALUES ($1)").bind("c");
        failing.push("INSERT INTO t (k) VALUES ($1)").bind("a");
        assert!(failing.run(conn).await.is_err());
    }

    #[tokio::test]
    async fn each_statement_reports_its_own_rows_on_sqlite_through_sqlx() {
        sqlx::any::install_default_drivers();
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}?mode=rwc", dir.path().join("batch.db").display());
        let mut conn = <AnyConnection as sqlx::Connection>::connect(&url).await.unwrap();
        reports_each_statements_own_rows(&mut conn).await;
    }
}
