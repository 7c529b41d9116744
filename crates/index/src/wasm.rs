//! Writing Wasm facts: one `wasm_artifacts` row per Wasm manifest, with child rows for the
//! values searched by equality. Written inside the manifest's own transaction on push, and in
//! a transaction of its own by `reindex`.
//!
//! The index knows nothing of Wasm formats: the registry turns `wasmhub_wasm` facts into a
//! `WasmRecord` of plain strings, and this module stores it.

use sqlx::{AnyConnection, Row};
use wasmhub_oci::{Digest, RepoName};

use crate::{digest_of, now_millis, Index, IndexError};

/// Whether the artifact was understood.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WasmOutcome {
    Wasm,
    Unrecognised,
}

impl WasmOutcome {
    pub fn as_str(self) -> &'static str {
        match self {
            WasmOutcome::Wasm => "wasm",
            WasmOutcome::Unrecognised => "unrecognised",
        }
    }
}

/// One ABI version of an artifact: normalised (`0.2.1`) when it is a known proxy-wasm ABI.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AbiRow {
    pub abi: String,
    pub declared: bool,
    pub detected: bool,
}

/// An import of the primary module; `module` is empty for component imports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportRow {
    pub module: String,
    pub name: String,
    pub kind: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExportRow {
    pub name: String,
    pub kind: String,
}

/// The facts of one Wasm manifest, as the index stores them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WasmRecord {
    pub format: String,
    pub outcome: WasmOutcome,
    pub reason: Option<String>,
    pub runtime_type: Option<String>,
    pub kind: Option<String>,
    pub wasi: Option<String>,
    pub module_digest: Option<String>,
    pub module_size: Option<u64>,
    pub abis: Vec<AbiRow>,
    pub exports: Vec<ExportRow>,
    pub imports: Vec<ImportRow>,
    pub title: Option<String>,
    pub description: Option<String>,
    pub version: Option<String>,
    /// Words to match free text against (repository name, description, annotations).
    pub search_text: String,
    /// The full facts, JSON.
    pub facts_json: String,
}

/// Most words of one artifact's text that free text matches (the rest are not indexed).
const MAX_TEXT_WORDS: usize = 1_000;

/// Replaces the facts of one manifest within the caller's transaction (`None` removes them).
pub(crate) async fn write_wasm(
    conn: &mut AnyConnection,
    repository_id: i64,
    digest: &str,
    record: Option<&WasmRecord>,
) -> Result<(), IndexError> {
    // Child rows go with the artifact row (ON DELETE CASCADE), FTS rows by trigger.
    sqlx::query("DELETE FROM wasm_artifacts WHERE repository_id = $1 AND manifest_digest = $2")
        .bind(repository_id)
        .bind(digest)
        .execute(&mut *conn)
        .await?;
    let Some(record) = record else { return Ok(()) };
    let abi_list = record.abis.iter().map(|a| a.abi.as_str()).collect::<Vec<_>>().join(",");
    // Stored as the free-text words and nothing else, which the triggers of migration 0010
    // split on spaces; bounded, as annotations are as long as a manifest allows.
    let words = crate::text_words(&record.search_text);
    let search_text = words[..words.len().min(MAX_TEXT_WORDS)].join(" ");
    let row = sqlx::query(
        "INSERT INTO wasm_artifacts
            (repository_id, manifest_digest, format, outcome, reason, runtime_type, kind, wasi,
             module_digest, module_size, abi_list, title, description, version, search_text, facts, indexed_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17)
         RETURNING id",
    )
    .bind(repository_id)
    .bind(digest)
    .bind(record.format.as_str())
    .bind(record.outcome.as_str())
    .bind(record.reason.clone())
    .bind(record.runtime_type.clone())
    .bind(record.kind.clone())
    .bind(record.wasi.clone())
    .bind(record.module_digest.clone())
    .bind(record.module_size.map(|size| size as i64))
    .bind(abi_list)
    .bind(record.title.clone())
    .bind(record.description.clone())
    .bind(record.version.clone())
    .bind(search_text)
    .bind(record.facts_json.as_str())
    .bind(now_millis())
    .fetch_one(&mut *conn)
    .await?;
    let id: i64 = row.try_get("id")?;
    for abi in &record.abis {
        sqlx::query("INSERT INTO wasm_abis (artifact_id, abi, declared, detected) VALUES ($1, $2, $3, $4)")
            .bind(id)
            .bind(abi.abi.as_str())
            .bind(i64::from(abi.declared))
            .bind(i64::from(abi.detected))
            .execute(&mut *conn)
            .await?;
    }
    for export in &record.exports {
        sqlx::query("INSERT INTO wasm_exports (artifact_id, name, kind) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING")
            .bind(id)
            .bind(export.name.as_str())
            .bind(export.kind.as_str())
            .execute(&mut *conn)
            .await?;
    }
    for import in &record.imports {
        sqlx::query(
            "INSERT INTO wasm_imports (artifact_id, module, name, kind) VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING",
        )
        .bind(id)
        .bind(import.module.as_str())
        .bind(import.name.as_str())
        .bind(import.kind.as_str())
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}

/// A stored manifest to re-index, in a stable order for batching.
#[derive(Debug, Clone)]
pub struct ManifestRef {
    pub repository_id: i64,
    pub repository: RepoName,
    pub digest: Digest,
    pub media_type: String,
    pub content: Vec<u8>,
}

/// Where a reindex batch resumes: after this (repository id, digest).
pub type ManifestCursor = (i64, String);

impl Index {
    /// Replaces the Wasm facts of one manifest in a transaction of its own (reindex). Returns
    /// false when the manifest was deleted meanwhile (nothing is written then).
    pub async fn put_wasm_facts(
        &self,
        repository_id: i64,
        digest: &Digest,
        record: Option<&WasmRecord>,
    ) -> Result<bool, IndexError> {
        let _guard = self.write_guard().await;
        let mut tx = self.begin_write().await?;
        let digest = digest.to_string();
        let present = sqlx::query("SELECT 1 AS present FROM manifests WHERE repository_id = $1 AND digest = $2")
            .bind(repository_id)
            .bind(&digest)
            .fetch_optional(&mut *tx)
            .await?;
        if present.is_none() {
            tx.rollback().await?;
            return Ok(false);
        }
        write_wasm(&mut tx, repository_id, &digest, record).await?;
        tx.commit().await?;
        Ok(true)
    }

    /// How many manifests are stored (the reindex progress bar's length).
    pub async fn manifest_count(&self) -> Result<u64, IndexError> {
        let row = sqlx::query("SELECT COUNT(*) AS n FROM manifests").fetch_one(&self.pool).await?;
        Ok(row.try_get::<i64, _>("n")? as u64)
    }

    /// Up to `limit` manifests after `after`, ordered by (repository id, digest).
    pub async fn manifests_after(
        &self,
        after: Option<&ManifestCursor>,
        limit: u32,
    ) -> Result<Vec<ManifestRef>, IndexError> {
        let (repository_id, digest) = after.cloned().unwrap_or((-1, String::new()));
        let rows = sqlx::query(
            "SELECT m.repository_id, r.name, m.digest, m.media_type, m.content FROM manifests m
             JOIN repositories r ON r.id = m.repository_id
             WHERE m.repository_id > $1 OR (m.repository_id = $1 AND m.digest > $2)
             ORDER BY m.repository_id, m.digest LIMIT $3",
        )
        .bind(repository_id)
        .bind(digest)
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                let name: String = row.try_get("name")?;
                let digest: String = row.try_get("digest")?;
                Ok(ManifestRef {
                    repository_id: row.try_get("repository_id")?,
                    repository: name.parse().map_err(|_| IndexError::Corrupt(format!("repository name {name:?}")))?,
                    digest: digest_of(digest)?,
                    media_type: row.try_get("media_type")?,
                    content: row.try_get("content")?,
                })
            })
            .collect()
    }
}
