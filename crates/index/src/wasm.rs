//! Writing Wasm facts: one `wasm_artifacts` row per Wasm manifest, with child rows for the
//! values searched by equality. Written inside the manifest's own transaction on push, and in
//! a transaction of its own by `reindex`.
//!
//! The index knows nothing of Wasm formats: the registry turns `wasmhub_wasm` facts into a
//! `WasmRecord` of plain strings, and this module stores it.

use sqlx::Row;
use wasmhub_oci::{Digest, RepoName};

use crate::batch::{Batch, Value};
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

/// Child rows (exports, imports, ABIs) per statement: a module may export thousands of names,
/// and SQLite takes at most 32,766 parameters per statement.
const CHILD_ROWS_PER_STATEMENT: usize = 500;

/// Adds the replacement of one manifest's Wasm facts to `batch`: the old rows go (child rows
/// with the artifact row, ON DELETE CASCADE; FTS rows by trigger) and `record`'s are written.
pub(crate) fn write_wasm_into(batch: &mut Batch, repository_id: i64, digest: &str, record: Option<&WasmRecord>) {
    clear_wasm_into(batch, repository_id, digest);
    if let Some(record) = record {
        insert_wasm_into(batch, repository_id, digest, record);
    }
}

/// Adds the removal of the manifest's Wasm rows (if any) to `batch`.
pub(crate) fn clear_wasm_into(batch: &mut Batch, repository_id: i64, digest: &str) {
    batch
        .push("DELETE FROM wasm_artifacts WHERE repository_id = $1 AND manifest_digest = $2")
        .bind(repository_id)
        .bind(digest);
}

/// Adds the insert of the manifest's Wasm rows to `batch`, after `clear_wasm_into`.
pub(crate) fn insert_wasm_into(batch: &mut Batch, repository_id: i64, digest: &str, record: &WasmRecord) {
    let abi_list = record.abis.iter().map(|a| a.abi.as_str()).collect::<Vec<_>>().join(",");
    // Stored as the free-text words and nothing else, which the triggers of migration 0010
    // split on spaces; bounded, as annotations are as long as a manifest allows.
    let words = crate::text_words(&record.search_text);
    let search_text = words[..words.len().min(MAX_TEXT_WORDS)].join(" ");
    batch
        .push(
            "INSERT INTO wasm_artifacts
                (repository_id, manifest_digest, format, outcome, reason, runtime_type, kind, wasi,
                 module_digest, module_size, abi_list, title, description, version, search_text, facts, indexed_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17)",
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
        .bind(now_millis());
    let child = ChildRows { repository_id, digest };
    child.insert_into(
        batch,
        "INSERT INTO wasm_abis (artifact_id, abi, declared, detected)",
        record
            .abis
            .iter()
            .map(|abi| vec![abi.abi.as_str().into(), i64::from(abi.declared).into(), i64::from(abi.detected).into()]),
    );
    child.insert_into(
        batch,
        "INSERT INTO wasm_exports (artifact_id, name, kind)",
        record.exports.iter().map(|export| vec![export.name.as_str().into(), export.kind.as_str().into()]),
    );
    child.insert_into(
        batch,
        "INSERT INTO wasm_imports (artifact_id, module, name, kind)",
        record.imports.iter().map(|import| {
            vec![import.module.as_str().into(), import.name.as_str().into(), import.kind.as_str().into()]
        }),
    );
}

/// Rows of a table keyed by the artifact of (`repository_id`, `digest`), written in the same
/// batch as the artifact: they find its id by that key, as a batch returns no ids.
struct ChildRows<'a> {
    repository_id: i64,
    digest: &'a str,
}

impl ChildRows<'_> {
    /// Adds `rows` (the values after the artifact id, the same number in each) to `batch`
    /// under `insert` (`INSERT INTO table (artifact_id, ...)`); duplicates are skipped.
    fn insert_into(&self, batch: &mut Batch, insert: &str, rows: impl Iterator<Item = Vec<Value>>) {
        let rows: Vec<Vec<Value>> = rows.collect();
        for chunk in rows.chunks(CHILD_ROWS_PER_STATEMENT) {
            let width = chunk[0].len();
            let tuples: Vec<String> = (0..chunk.len())
                .map(|row| {
                    let first = 3 + row * width;
                    let parameters: Vec<String> = (first..first + width).map(|n| format!("${n}")).collect();
                    format!("({})", parameters.join(", "))
                })
                .collect();
            let columns: Vec<String> = (1..=width).map(|n| format!("v.column{n}")).collect();
            // VALUES names its columns column1, column2... on both databases; the WHERE also
            // tells SQLite that ON CONFLICT is not a join constraint.
            let statement = batch.push(format!(
                "{insert} SELECT a.id, {} FROM wasm_artifacts a, (VALUES {}) v
                 WHERE a.repository_id = $1 AND a.manifest_digest = $2 ON CONFLICT DO NOTHING",
                columns.join(", "),
                tuples.join(", "),
            ));
            statement.bind(self.repository_id).bind(self.digest);
            for value in chunk.iter().flatten() {
                statement.bind(value.clone());
            }
        }
    }
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
        let mut batch = Batch::default();
        write_wasm_into(&mut batch, repository_id, &digest, record);
        batch.run(&mut tx).await?;
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
