//! Wasm indexing on push: recognise the manifest (free for anything that is not Wasm), fetch
//! the few blobs the recogniser asks for (each bounded by its limit), describe, and hand the
//! facts to the manifest's own index transaction.

use std::collections::HashMap;

use bytes::Bytes;
use wasmhub_index::WasmRecord;
use wasmhub_oci::{Digest, Manifest, RepoName};
use wasmhub_storage::StorageError;
use wasmhub_wasm::{describe, recognise, BlobRole, Certainty, Description, Recognition};

use crate::wasm_record::wasm_record;
use crate::{Registry, RegistryError};

impl Registry {
    /// The Wasm facts to index with `manifest` (None when it is not Wasm). Malformed Wasm is
    /// indexed as unrecognised, or refused with `WasmInvalid` under strict validation.
    pub(crate) async fn wasm_facts(
        &self,
        repository: &RepoName,
        manifest: &Manifest,
        strict: bool,
    ) -> Result<Option<WasmRecord>, RegistryError> {
        let description = self.describe_manifest(manifest).await?;
        if let (true, Description::Unrecognised { reason, .. }) = (strict, &description) {
            return Err(RegistryError::WasmInvalid(reason.clone()));
        }
        Ok(wasm_record(repository, &description))
    }

    /// Recognises and describes a manifest, reading what it needs from storage.
    pub(crate) async fn describe_manifest(&self, manifest: &Manifest) -> Result<Description, RegistryError> {
        let limits = &self.limits.wasm;
        let recognition = recognise(manifest, limits);
        let Recognition::Wasm(plan) = &recognition else {
            return Ok(Description::NotWasm);
        };
        // An ordinary container image is only a candidate: look inside only a small last layer,
        // so pushing ordinary images costs (almost) nothing.
        if plan.certainty == Certainty::Candidate
            && plan
                .needs()
                .iter()
                .any(|n| n.role == BlobRole::Layer && n.descriptor.size > self.limits.max_candidate_layer_bytes)
        {
            return Ok(Description::NotWasm);
        }
        // Configs are small; a module or layer takes one of the few inspection slots while it
        // is held in memory (a request's own bound is the limits, this is everyone's).
        let _slot = match plan.needs().iter().any(|n| matches!(n.role, BlobRole::Module | BlobRole::Layer)) {
            true => Some(self.inspection_slot().await?),
            false => None,
        };
        let mut blobs: HashMap<Digest, Bytes> = HashMap::new();
        for need in plan.needs() {
            let limit = match need.role {
                BlobRole::Config | BlobRole::ImageConfig | BlobRole::SpinApp => limits.max_config_bytes,
                BlobRole::Module => limits.max_module_bytes,
                BlobRole::Layer => limits.max_layer_bytes,
            };
            let digest = &need.descriptor.digest;
            if blobs.contains_key(digest) {
                continue;
            }
            match self.storage.read_blob_bytes(digest, limit).await {
                Ok(bytes) => {
                    blobs.insert(digest.clone(), bytes);
                }
                // Missing: the push fails on its references in the index transaction anyway.
                // Too large (the manifest understated the size): `describe` says so.
                Err(StorageError::NotFound(_) | StorageError::TooLarge { .. }) => {}
                Err(other) => return Err(other.into()),
            }
        }
        // Parsing a module is CPU work (up to the module limit): keep it off the I/O threads.
        let limits = *limits;
        tokio::task::spawn_blocking(move || describe(&recognition, &blobs, &limits))
            .await
            .map_err(|e| RegistryError::Internal(format!("describing a Wasm artifact panicked: {e}")))
    }

    /// One of the `INSPECTION_SLOTS`, held until dropped.
    pub(crate) async fn inspection_slot(&self) -> Result<tokio::sync::OwnedSemaphorePermit, RegistryError> {
        self.inspections
            .clone()
            .acquire_owned()
            .await
            .map_err(|_| RegistryError::Internal("the inspection slots are closed".into()))
    }
}
