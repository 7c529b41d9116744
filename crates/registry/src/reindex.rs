//! `wasmhub reindex`: rebuild every manifest's Wasm facts from the stored manifests and blobs
//! (after an upgrade that learns new facts). Manifests are read in batches, in a stable order,
//! and each is re-indexed in a transaction of its own, so pushes, deletes and pulls carry on
//! meanwhile: a manifest deleted mid-run is skipped, one pushed mid-run is indexed by its push.

use wasmhub_index::ManifestCursor;
use wasmhub_oci::{Manifest, MediaType};
use wasmhub_wasm::Description;

use crate::wasm_record::wasm_record;
use crate::{Registry, RegistryError};

/// Manifests read per batch.
const BATCH: u32 = 200;

/// Counts per outcome.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReindexSummary {
    pub manifests: u64,
    pub wasm: u64,
    pub unrecognised: u64,
    pub not_wasm: u64,
    /// Deleted while the run was under way.
    pub vanished: u64,
    /// Could not be read (a stored manifest that no longer parses, a missing blob).
    pub failed: u64,
}

impl Registry {
    /// How many manifests a reindex will visit.
    pub async fn manifest_count(&self) -> Result<u64, RegistryError> {
        Ok(self.index.manifest_count().await?)
    }

    /// Re-indexes every manifest; `progress` is called after each one.
    pub async fn reindex(&self, mut progress: impl FnMut(&ReindexSummary)) -> Result<ReindexSummary, RegistryError> {
        let mut summary = ReindexSummary::default();
        let mut cursor: Option<ManifestCursor> = None;
        loop {
            let batch = self.index.manifests_after(cursor.as_ref(), BATCH).await?;
            let Some(last) = batch.last() else { break };
            cursor = Some((last.repository_id, last.digest.to_string()));
            for stored in &batch {
                summary.manifests += 1;
                let media_type: Option<MediaType> = stored.media_type.parse().ok();
                let description = match Manifest::parse(&stored.content, media_type.as_ref()) {
                    Ok(manifest) => self.describe_manifest(&manifest).await,
                    Err(e) => Err(RegistryError::ManifestInvalid(e.to_string())),
                };
                let description = match description {
                    Ok(description) => description,
                    Err(error) => {
                        tracing::warn!(repository = %stored.repository, digest = %stored.digest, %error, "cannot re-index");
                        summary.failed += 1;
                        progress(&summary);
                        continue;
                    }
                };
                let record = wasm_record(&stored.repository, &description);
                let written = self.index.put_wasm_facts(stored.repository_id, &stored.digest, record.as_ref()).await?;
                match (written, &description) {
                    (false, _) => summary.vanished += 1,
                    (true, Description::Wasm(_)) => summary.wasm += 1,
                    (true, Description::Unrecognised { .. }) => summary.unrecognised += 1,
                    (true, Description::NotWasm) => summary.not_wasm += 1,
                }
                progress(&summary);
            }
        }
        Ok(summary)
    }
}
