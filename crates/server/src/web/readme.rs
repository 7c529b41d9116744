//! What refers to a tagged manifest (signatures, SBOMs, attestations), from the referrers API,
//! and the README convention built on it:
//!
//! A README is a referrer of the tagged manifest whose `artifactType` is `text/markdown`, with
//! one layer of type `text/markdown` holding the Markdown (UTF-8, at most 64 KiB), e.g.
//! `oras attach --artifact-type text/markdown registry/ns/name:v1 README.md:text/markdown`.
//! The newest such referrer wins (by its `org.opencontainers.image.created` annotation, then
//! digest). The page renders it with `markdown::render`, which escapes everything.

use futures::StreamExt;
use serde::Deserialize;
use wasmhub_registry::oci::{Digest, Manifest, MediaType, Reference, RepoName};
use wasmhub_registry::{Caller, RegistryError};

use crate::AppState;

pub const README_TYPE: &str = "text/markdown";
/// Largest README read and rendered (the page budget is 50 KiB compressed).
const MAX_README_BYTES: u64 = 64 * 1024;
/// Most referrers listed on a page.
pub const MAX_REFERRERS: usize = 50;

/// One entry of the referrers index, as the page shows it.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ReferrerView {
    pub digest: String,
    pub media_type: String,
    pub size: u64,
    #[serde(default)]
    pub artifact_type: Option<String>,
    #[serde(default)]
    pub annotations: Option<serde_json::Map<String, serde_json::Value>>,
}

impl ReferrerView {
    pub fn is_readme(&self) -> bool {
        self.artifact_type.as_deref().is_some_and(|t| t == README_TYPE || t.starts_with("text/markdown;"))
    }

    fn created(&self) -> &str {
        self.annotations
            .as_ref()
            .and_then(|a| a.get("org.opencontainers.image.created"))
            .and_then(|v| v.as_str())
            .unwrap_or_default()
    }

    /// A human name for the artifact type.
    pub fn kind(&self) -> &'static str {
        let t = self.artifact_type.as_deref().unwrap_or(&self.media_type);
        if self.is_readme() {
            "README"
        } else if t.contains("cosign") || t.contains("signature") || t.contains("notary") {
            "Signature"
        } else if t.contains("spdx") || t.contains("cyclonedx") || t.contains("sbom") || t.contains("syft") {
            "SBOM"
        } else if t.contains("in-toto") || t.contains("attestation") || t.contains("provenance") {
            "Attestation"
        } else {
            "Artifact"
        }
    }
}

#[derive(Deserialize)]
struct ReferrersIndex {
    #[serde(default)]
    manifests: Vec<ReferrerView>,
}

/// What a page shows of a manifest's referrers: the first page of the referrers API, whether
/// more follow, and the README candidates among all of them.
#[derive(Debug, Default)]
pub struct ReferrerList {
    pub items: Vec<ReferrerView>,
    /// More referrers follow the first page (`Limits::referrers_page_size`).
    pub more: bool,
    readmes: Vec<ReferrerView>,
}

/// The referrers of `digest` in `repository` that `caller` may see. When more than one page
/// refer to it, the READMEs are also asked for by their type, so that one beyond the first
/// page is still found (the `artifactType` filter matches `text/markdown` exactly; a type
/// with parameters is found on the first page only).
pub async fn referrers(
    state: &AppState,
    caller: &Caller,
    repository: &RepoName,
    digest: &str,
) -> Result<ReferrerList, RegistryError> {
    let Ok(digest) = digest.parse::<Digest>() else { return Ok(ReferrerList::default()) };
    let (items, more) = first_page(state, caller, repository, &digest, None).await?;
    let mut readmes: Vec<ReferrerView> = items.iter().filter(|r| r.is_readme()).cloned().collect();
    if more {
        let readme_type = MediaType::from_static(README_TYPE);
        let (typed, _) = first_page(state, caller, repository, &digest, Some(&readme_type)).await?;
        readmes.extend(
            typed.into_iter().filter(|r| readmes.iter().all(|known| known.digest != r.digest)).collect::<Vec<_>>(),
        );
    }
    Ok(ReferrerList { items, more, readmes })
}

async fn first_page(
    state: &AppState,
    caller: &Caller,
    repository: &RepoName,
    digest: &Digest,
    artifact_type: Option<&MediaType>,
) -> Result<(Vec<ReferrerView>, bool), RegistryError> {
    // Only what the page lists: a referrer's annotations may be large, and the page is public.
    let page = MAX_REFERRERS as u32;
    let answer = state.registry.referrers_page(caller, repository, digest, artifact_type, None, page).await?;
    let index: ReferrersIndex = serde_json::from_slice(&answer.index_json)
        .map_err(|e| RegistryError::Internal(format!("the referrers index does not parse: {e}")))?;
    Ok((index.manifests, answer.more_after.is_some()))
}

/// The README among `referrers`, as text; None when there is none, or it cannot be read
/// within the limits (a broken README must not break the page, so failures are logged).
pub async fn readme(
    state: &AppState,
    caller: &Caller,
    repository: &RepoName,
    referrers: &ReferrerList,
) -> Option<String> {
    let newest = referrers.readmes.iter().max_by(|a, b| (a.created(), &a.digest).cmp(&(b.created(), &b.digest)))?;
    match read(state, caller, repository, &newest.digest).await {
        Ok(text) => text,
        Err(error) => {
            tracing::warn!(%repository, digest = %newest.digest, %error, "cannot read a README artifact");
            None
        }
    }
}

async fn read(
    state: &AppState,
    caller: &Caller,
    repository: &RepoName,
    digest: &str,
) -> Result<Option<String>, RegistryError> {
    let digest: Digest = digest.parse().map_err(|_| RegistryError::Internal(format!("bad digest {digest}")))?;
    let stored = state.registry.get_manifest(caller, repository, &Reference::Digest(digest)).await?;
    let Ok(manifest) = Manifest::parse(&stored.content, Some(&stored.media_type)) else { return Ok(None) };
    let Some(layer) = manifest.layers.iter().find(|l| l.media_type.as_str().starts_with(README_TYPE)) else {
        return Ok(None);
    };
    if layer.size > MAX_README_BYTES {
        return Ok(None);
    }
    let mut blob = state.registry.read_blob(caller, repository, &layer.digest, None).await?;
    let mut bytes = Vec::with_capacity(layer.size as usize);
    while let Some(chunk) = blob.body.next().await {
        bytes.extend_from_slice(&chunk?);
        if bytes.len() as u64 > MAX_README_BYTES {
            return Ok(None);
        }
    }
    Ok(Some(String::from_utf8_lossy(&bytes).into_owned()))
}
