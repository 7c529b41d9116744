//! Which database and blob storage the servers of a test run use, chosen by environment:
//!
//! - `WASMHUB_TEST_BACKEND`: `sqlite` (default; a file in the server's data directory) or
//!   `postgres` (a fresh schema per server in `WASMHUB_TEST_POSTGRES_URL`, default
//!   `postgres://postgres@127.0.0.1:5432/postgres`);
//! - `WASMHUB_TEST_STORAGE`: `file` (default; the data directory) or `s3` (a fresh bucket per
//!   server on the S3-protocol server at `AWS_ENDPOINT_URL`, credentials from `AWS_*`).
//!
//! The choice of a data directory is remembered inside it, so a server restarted on the same
//! directory finds the same schema and bucket.

use std::path::Path;
use std::process::Command;

fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|value| !value.trim().is_empty())
}

fn postgres_admin_url() -> String {
    env("WASMHUB_TEST_POSTGRES_URL").unwrap_or_else(|| "postgres://postgres@127.0.0.1:5432/postgres".into())
}

pub fn uses_postgres() -> bool {
    env("WASMHUB_TEST_BACKEND").as_deref() == Some("postgres")
}

pub fn uses_s3() -> bool {
    env("WASMHUB_TEST_STORAGE").as_deref() == Some("s3")
}

fn unique_name(prefix: &str) -> String {
    use std::time::{SystemTime, UNIX_EPOCH};
    let nanos = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_nanos();
    static COUNTER: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    format!("{prefix}{:x}{:x}{n:x}", std::process::id(), nanos % (1 << 40))
}

/// Runs `psql` against the admin database; panics with its output on failure.
fn psql(sql: &str) {
    let output = Command::new("psql")
        .args([postgres_admin_url().as_str(), "-v", "ON_ERROR_STOP=1", "-qc", sql])
        .output()
        .expect("psql runs (the PostgreSQL client; `.ci/run` checks it is installed)");
    assert!(
        output.status.success(),
        "psql {sql:?} failed (is PostgreSQL up at {}?): {}",
        postgres_admin_url(),
        String::from_utf8_lossy(&output.stderr)
    );
}

/// A database URL for a server on `dir`, PostgreSQL when `postgres` is true.
pub fn database_url_for(dir: &Path, postgres: bool) -> String {
    if !postgres {
        return format!("sqlite://{}/wasmhub.db", dir.display());
    }
    let marker = dir.join("postgres-schema");
    let schema = match std::fs::read_to_string(&marker) {
        Ok(schema) => schema,
        Err(_) => {
            let schema = unique_name("wasmhub_t");
            psql(&format!("CREATE SCHEMA {schema}"));
            std::fs::write(&marker, &schema).unwrap();
            schema
        }
    };
    let admin = postgres_admin_url();
    let separator = if admin.contains('?') { '&' } else { '?' };
    format!("{admin}{separator}options[search_path]={schema}")
}

/// A storage URL for a server on `dir`, S3 when `s3` is true.
pub fn storage_url_for(dir: &Path, s3: bool) -> String {
    if !s3 {
        return format!("file://{}/blobs", dir.display());
    }
    let marker = dir.join("s3-bucket");
    let bucket = match std::fs::read_to_string(&marker) {
        Ok(bucket) => bucket,
        Err(_) => {
            let bucket = unique_name("wasmhub-t-");
            let endpoint = env("AWS_ENDPOINT_URL").expect("WASMHUB_TEST_STORAGE=s3 needs AWS_ENDPOINT_URL");
            let status = Command::new("curl")
                .args(["-sf", "-X", "PUT", &format!("{endpoint}/{bucket}")])
                .status()
                .expect("curl runs");
            assert!(status.success(), "creating bucket {bucket} at {endpoint} failed");
            std::fs::write(&marker, &bucket).unwrap();
            bucket
        }
    };
    format!("s3://{bucket}/blobs")
}

pub fn database_url(dir: &Path) -> String {
    database_url_for(dir, uses_postgres())
}

pub fn storage_url(dir: &Path) -> String {
    storage_url_for(dir, uses_s3())
}

/// Drops the schema a data directory was given, if any. Runs on its own thread and gives up
/// on a lock it cannot get: a test's runtime may still be returning the server's connections.
pub fn release(dir: &Path) {
    if let Ok(schema) = std::fs::read_to_string(dir.join("postgres-schema")) {
        std::thread::spawn(move || {
            let sql = format!("SET lock_timeout = '10s'; DROP SCHEMA IF EXISTS {schema} CASCADE");
            let _ = Command::new("psql").args([postgres_admin_url().as_str(), "-qc", &sql]).output();
        });
    }
}
