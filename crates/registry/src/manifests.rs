//! Pushing, pulling and deleting manifests.

use wasmhub_index::{NewManifest, StoredManifest};
use wasmhub_oci::{Digest, Manifest, MediaType, Reference, RepoName, Tag};

use crate::{Action, Caller, Registry, RegistryError};

/// What a successful manifest push reports back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PushedManifest {
    pub digest: Digest,
    /// The `subject` the manifest refers to, answered in the `OCI-Subject` header.
    pub subject: Option<Digest>,
}

impl Registry {
    /// Stores a manifest exactly as sent (`PUT /manifests/<reference>`), after checking that
    /// it parses, that its digest matches a digest reference, and that everything it
    /// references is in the repository. `extra_tags` are the `?tag=` parameters.
    pub async fn put_manifest(
        &self,
        caller: &Caller,
        repository: &RepoName,
        reference: &Reference,
        content_type: Option<&MediaType>,
        body: &[u8],
        extra_tags: &[Tag],
    ) -> Result<PushedManifest, RegistryError> {
        self.authorize(caller, repository, Action::Push).await?;
        if body.len() > self.limits.max_manifest_bytes {
            return Err(RegistryError::TooLarge(format!(
                "manifest is larger than the registry's {}-byte limit",
                self.limits.max_manifest_bytes
            )));
        }
        let manifest =
            Manifest::parse(body, content_type).map_err(|e| RegistryError::ManifestInvalid(e.to_string()))?;
        let (digest, mut tags) = match reference {
            Reference::Digest(expected) => {
                let actual = Digest::of(expected.algorithm(), body);
                if &actual != expected {
                    return Err(RegistryError::DigestMismatch { expected: expected.clone(), actual });
                }
                (actual, Vec::new())
            }
            Reference::Tag(tag) => (Digest::sha256_of(body), vec![tag]),
        };
        tags.extend(extra_tags);
        let annotations_json = (!manifest.annotations.is_empty())
            .then(|| serde_json::to_string(&manifest.annotations))
            .transpose()
            .map_err(|e| RegistryError::ManifestInvalid(e.to_string()))?;
        let subject = manifest.subject.as_ref().map(|subject| subject.digest.clone());
        let wasm = self.wasm_facts(repository, &manifest, self.limits.strict_wasm).await?;
        let wasm_outcome = wasm.as_ref().map(|w| w.outcome.as_str());
        self.index
            .put_manifest_as(
                &NewManifest {
                    repository,
                    digest: &digest,
                    media_type: &manifest.media_type,
                    artifact_type: manifest.referrer_artifact_type(),
                    subject: subject.as_ref(),
                    annotations_json,
                    content: body,
                    blobs: manifest.required_blobs().map(|d| &d.digest).collect(),
                    children: manifest.manifests.iter().map(|d| &d.digest).collect(),
                    tags,
                    wasm,
                },
                &crate::actor_of(caller),
            )
            .await?;
        tracing::info!(%repository, %digest, media_type = %manifest.media_type, wasm = wasm_outcome, "manifest pushed");
        Ok(PushedManifest { digest, subject })
    }

    /// The manifest a tag or digest names (`GET`/`HEAD /manifests/<reference>`).
    pub async fn get_manifest(
        &self,
        caller: &Caller,
        repository: &RepoName,
        reference: &Reference,
    ) -> Result<StoredManifest, RegistryError> {
        self.authorize(caller, repository, Action::Pull).await?;
        match self.index.manifest(repository, reference).await? {
            Some(manifest) => Ok(manifest),
            None if !self.index.repository_exists(repository).await? => {
                Err(RegistryError::NameUnknown(repository.clone()))
            }
            None => Err(RegistryError::ManifestUnknown(reference.to_string())),
        }
    }

    /// Deletes a manifest with all its tags (by digest), or just a tag (by tag).
    pub async fn delete_manifest(
        &self,
        caller: &Caller,
        repository: &RepoName,
        reference: &Reference,
    ) -> Result<(), RegistryError> {
        self.authorize(caller, repository, Action::Delete).await?;
        self.refuse_immutable_delete(repository, reference).await?;
        let deleted = match reference {
            Reference::Digest(digest) => {
                self.index.delete_manifest_as(repository, digest, &crate::actor_of(caller)).await?
            }
            Reference::Tag(tag) => self.index.delete_tag_as(repository, tag, &crate::actor_of(caller)).await?,
        };
        if deleted {
            tracing::info!(%repository, %reference, "manifest deleted");
            Ok(())
        } else if !self.index.repository_exists(repository).await? {
            Err(RegistryError::NameUnknown(repository.clone()))
        } else {
            Err(RegistryError::ManifestUnknown(reference.to_string()))
        }
    }
}
