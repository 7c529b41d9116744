//! The one harness for the index's integration tests: each behaviour runs against SQLite (a
//! temporary file) and PostgreSQL (a fresh schema in `WASMHUB_TEST_POSTGRES_URL`, default
//! `postgres://postgres@127.0.0.1:5432/postgres`).

#![allow(dead_code)]

use std::process::Command;

use wasmhub_index::Index;
use wasmhub_oci::UploadId;

pub struct Backend {
    pub index: Index,
    _dir: tempfile::TempDir,
    schema: Option<String>,
    url: String,
}

impl Backend {
    /// Another index on the same database, with connections of its own (as another replica
    /// has).
    pub async fn reconnect(&self) -> Index {
        Index::connect(&self.url).await.unwrap()
    }
}

fn admin_url() -> String {
    std::env::var("WASMHUB_TEST_POSTGRES_URL")
        .ok()
        .filter(|url| !url.is_empty())
        .unwrap_or_else(|| "postgres://postgres@127.0.0.1:5432/postgres".into())
}

fn psql(sql: &str) {
    let output = Command::new("psql").args([admin_url().as_str(), "-v", "ON_ERROR_STOP=1", "-qc", sql]).output();
    let output = output.expect("psql runs");
    assert!(output.status.success(), "psql {sql}: {}", String::from_utf8_lossy(&output.stderr));
}

pub async fn sqlite() -> Backend {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}/index.db", dir.path().display());
    let index = Index::connect(&url).await.unwrap();
    index.migrate().await.unwrap();
    Backend { index, _dir: dir, schema: None, url }
}

pub async fn postgres() -> Backend {
    let dir = tempfile::tempdir().unwrap();
    let schema = format!("wasmhub_index_{}", uuid_like());
    psql(&format!("CREATE SCHEMA {schema}"));
    let url = format!("{}?options[search_path]={schema}", admin_url());
    let index = Index::connect(&url).await.unwrap();
    index.migrate().await.unwrap();
    Backend { index, _dir: dir, schema: Some(schema), url }
}

impl Drop for Backend {
    fn drop(&mut self) {
        if let Some(schema) = &self.schema {
            let _ = Command::new("psql")
                .args([admin_url().as_str(), "-qc", &format!("DROP SCHEMA {schema} CASCADE")])
                .output();
        }
    }
}

fn uuid_like() -> String {
    UploadId::random().to_string().replace('-', "")
}

/// Each behaviour becomes `<name>::sqlite` and `<name>::postgres`.
#[macro_export]
macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {$(
        mod $name {
            #[tokio::test]
            pub async fn sqlite() {
                let backend = $crate::common::sqlite().await;
                super::$name(&backend.index).await;
                backend.index.close().await;
            }
            #[tokio::test]
            pub async fn postgres() {
                let backend = $crate::common::postgres().await;
                super::$name(&backend.index).await;
                backend.index.close().await;
            }
        }
    )*};
}
