//! Rows a batch returned, read by column name whichever connection ran the batch: sqlx's
//! (`AnyRow`), this process's SQLite writer (`sqlite_writer.rs`) or a PostgreSQL writer
//! connection (`pg_writer.rs`).

use sqlx::any::AnyRow;
use sqlx::Row;

use crate::IndexError;

/// A value a column can be read as: what all three drivers decode (integers, text, their
/// options).
pub(crate) trait ColumnValue:
    for<'r> sqlx::Decode<'r, sqlx::Any>
    + sqlx::Type<sqlx::Any>
    + rusqlite::types::FromSql
    + for<'r> tokio_postgres::types::FromSql<'r>
{
}

impl<T> ColumnValue for T where
    T: for<'r> sqlx::Decode<'r, sqlx::Any>
        + sqlx::Type<sqlx::Any>
        + rusqlite::types::FromSql
        + for<'r> tokio_postgres::types::FromSql<'r>
{
}

/// Reading a row's columns by name.
pub(crate) trait Columns {
    fn field<T: ColumnValue>(&self, name: &str) -> Result<T, IndexError>;
}

impl Columns for AnyRow {
    fn field<T: ColumnValue>(&self, name: &str) -> Result<T, IndexError> {
        Ok(self.try_get(name)?)
    }
}

/// A row of a batch's statement.
pub(crate) enum BatchRow {
    Any(AnyRow),
    Sqlite(SqliteRow),
    Postgres(tokio_postgres::Row),
}

impl Columns for BatchRow {
    fn field<T: ColumnValue>(&self, name: &str) -> Result<T, IndexError> {
        match self {
            BatchRow::Any(row) => row.field(name),
            BatchRow::Sqlite(row) => row.field(name),
            BatchRow::Postgres(row) => {
                row.try_get(name).map_err(|error| IndexError::Corrupt(format!("column {name:?}: {error}")))
            }
        }
    }
}

/// A row the SQLite writer read, copied out of its statement (which the next step reuses).
pub(crate) struct SqliteRow {
    pub(crate) names: std::sync::Arc<[String]>,
    pub(crate) values: Vec<rusqlite::types::Value>,
}

impl Columns for SqliteRow {
    fn field<T: ColumnValue>(&self, name: &str) -> Result<T, IndexError> {
        let at = self
            .names
            .iter()
            .position(|column| column == name)
            .ok_or_else(|| IndexError::Corrupt(format!("no column {name:?} in the row")))?;
        T::column_result(rusqlite::types::ValueRef::from(&self.values[at]))
            .map_err(|error| IndexError::Corrupt(format!("column {name:?}: {error}")))
    }
}
