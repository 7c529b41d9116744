//! Finding and browsing Wasm modules: search, repository listings, tag details, and the raw
//! module bytes of a tag.

use bytes::Bytes;
use wasmhub_index::{RepositorySummary, SearchQuery, SearchResults, TagDetails, TagSummary, Visibility};
use wasmhub_oci::{Manifest, Reference, RepoName, Tag};
use wasmhub_storage::BlobStream;
use wasmhub_wasm::{extract_compat_layer, recognise, BlobRole, Description, Recognition, Search};

use crate::wasm_record::normalise_abi;
use crate::{Action, Caller, Registry, RegistryError};

/// Most tags a repository page lists.
const MAX_REPOSITORY_TAGS: u32 = 1_000;

/// The bytes of a tag's module.
pub enum ModuleContent {
    /// Streamed from storage: the module is a layer of its own.
    Stream { stream: BlobStream, size: u64 },
    /// Extracted from a compat image's tar layer (bounded by the module limit).
    Bytes(Bytes),
}

impl Registry {
    /// What `caller` may see in listings: the one place search and browsing learn about
    /// access (the same rules as `authorize` for pulls).
    pub fn visibility(&self, caller: &Caller) -> Visibility {
        match caller {
            _ if !self.policy.enforce => Visibility::All,
            Caller::Open => Visibility::All,
            Caller::User(principal) if principal.user.is_admin => Visibility::All,
            Caller::User(principal) => Visibility::PublicOr { user_id: principal.user.id },
            Caller::Anonymous if self.policy.anonymous_pull => Visibility::Public,
            // No anonymous pulls: nothing is listed to anonymous callers either.
            Caller::Anonymous => Visibility::Nothing,
        }
    }

    pub async fn search(&self, caller: &Caller, mut query: SearchQuery) -> Result<SearchResults, RegistryError> {
        query.abi = query.abi.as_deref().map(normalise_abi);
        Ok(self.index.search(&query, self.visibility(caller)).await?)
    }

    /// One page of repositories and the total.
    pub async fn repository_page(
        &self,
        caller: &Caller,
        offset: u64,
        limit: u32,
    ) -> Result<(u64, Vec<RepositorySummary>), RegistryError> {
        Ok(self.index.repository_page(self.visibility(caller), offset, limit).await?)
    }

    /// The tags of a repository, newest first.
    pub async fn repository_tags(
        &self,
        caller: &Caller,
        repository: &RepoName,
    ) -> Result<Vec<TagSummary>, RegistryError> {
        self.index
            .repository_tags(repository.as_str(), self.visibility(caller), MAX_REPOSITORY_TAGS)
            .await?
            .ok_or_else(|| RegistryError::NameUnknown(repository.clone()))
    }

    pub async fn tag_details(
        &self,
        caller: &Caller,
        repository: &RepoName,
        tag: &Tag,
    ) -> Result<TagDetails, RegistryError> {
        self.index
            .tag_details(repository.as_str(), tag.as_str(), self.visibility(caller))
            .await?
            .ok_or_else(|| RegistryError::ManifestUnknown(tag.to_string()))
    }

    /// The module a tag holds: its layer streamed, or extracted from a compat image's layer.
    pub async fn module_content(
        &self,
        caller: &Caller,
        repository: &RepoName,
        tag: &Tag,
    ) -> Result<ModuleContent, RegistryError> {
        self.authorize(caller, repository, Action::Pull).await?;
        let details = self.tag_details(caller, repository, tag).await?;
        let no_module = || RegistryError::ManifestUnknown(format!("{tag} holds no Wasm module"));
        let hit = details.summary.wasm.as_ref().ok_or_else(no_module)?;
        hit.module_digest.as_ref().ok_or_else(no_module)?;
        let stored = self
            .index
            .manifest(repository, &Reference::Digest(details.summary.digest.parse().map_err(|_| no_module())?))
            .await?
            .ok_or_else(no_module)?;
        let manifest = Manifest::parse(&stored.content, Some(&stored.media_type))
            .map_err(|e| RegistryError::Internal(format!("stored manifest does not parse: {e}")))?;
        let limits = &self.limits.wasm;
        let recognition = recognise(&manifest, limits);
        let Recognition::Wasm(plan) = &recognition else { return Err(no_module()) };
        if let Some(need) = plan.needs().iter().find(|n| n.role == BlobRole::Module) {
            let digest = &need.descriptor.digest;
            // The stored size, not the one the manifest declares (nothing makes them agree):
            // it becomes the response's Content-Length.
            let size = self.index.repository_blob_size(repository, digest).await?.ok_or_else(no_module)?;
            let stream = self.storage.read_blob(digest, None).await?;
            return Ok(ModuleContent::Stream { stream, size });
        }
        let need = plan.needs().iter().find(|n| n.role == BlobRole::Layer).ok_or_else(no_module)?;
        // Unpacking a layer holds it and the module in memory: one of the few slots for that.
        let _slot = self.inspection_slot().await?;
        let layer = self.storage.read_blob_bytes(&need.descriptor.digest, limits.max_layer_bytes).await?;
        // Look where indexing found it (the facts record the path inside the layer).
        let facts: Option<Description> = details.facts_json.as_deref().and_then(|j| serde_json::from_str(j).ok());
        let path = facts.as_ref().and_then(|d| d.facts()).and_then(|f| f.module_path.clone());
        let limits = *limits;
        let extracted = tokio::task::spawn_blocking(move || {
            extract_compat_layer(&layer, Search { entrypoint: path.as_deref(), any_wasm: true }, &limits)
        })
        .await
        .map_err(|e| RegistryError::Internal(format!("extracting a module panicked: {e}")))?;
        match extracted {
            Ok(found) => Ok(ModuleContent::Bytes(Bytes::from(found.module))),
            Err(e) => Err(RegistryError::ManifestUnknown(format!("{tag}: {e}"))),
        }
    }
}
