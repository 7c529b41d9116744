use wasmhub_oci::Digest;

#[derive(Debug, thiserror::Error)]
pub enum IndexError {
    #[error("database URL {0:?} is not supported (use sqlite://<file> or postgres://...)")]
    UnsupportedUrl(String),
    #[error("the name {0:?} is already taken by a user or organisation")]
    NameTaken(String),
    #[error("the namespace {0:?} holds repositories; only an administrator may create an organisation for it")]
    NamespaceHoldsRepositories(String),
    #[error("manifest references {0}, which is not in the repository")]
    MissingReference(Digest),
    #[error("tag {tag} of {repository} is immutable: it already names another manifest")]
    ImmutableTag { repository: String, tag: String },
    #[error("blob {0} is being garbage-collected; retry shortly")]
    BlobBeingCollected(Digest),
    #[error("the index holds a value it cannot read back: {0}")]
    Corrupt(String),
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    /// From the SQLite writer (`sqlite_writer.rs`).
    #[error("database error: {0}")]
    Sqlite(#[from] rusqlite::Error),
    /// From a PostgreSQL writer connection (`pg_writer.rs`).
    #[error("database error: {0}")]
    Postgres(#[from] tokio_postgres::Error),
    #[error("cannot prepare the database location: {0}")]
    Io(#[from] std::io::Error),
}
