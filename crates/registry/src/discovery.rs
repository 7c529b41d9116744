//! Listing tags and repositories, and the referrers API.

use serde::Serialize;
use wasmhub_oci::media_type::OCI_INDEX;
use wasmhub_oci::{Digest, MediaType, RepoName, Tag};

use crate::{Action, Caller, Registry, RegistryError};

/// One page of a listing; `more` says whether a next page exists (its `last` is the last
/// item of this one).
#[derive(Debug, Clone)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub more: bool,
}

/// The referrers API's answer: an OCI image index, and whether an `artifactType` filter
/// was applied.
pub struct Referrers {
    pub index_json: Vec<u8>,
    pub filtered: bool,
    /// The last referrer listed, when more follow (the next page starts after it).
    pub more_after: Option<Digest>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ReferrerDescriptor {
    media_type: MediaType,
    digest: Digest,
    size: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    artifact_type: Option<MediaType>,
    #[serde(skip_serializing_if = "Option::is_none")]
    annotations: Option<Box<serde_json::value::RawValue>>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ReferrersIndex {
    schema_version: u32,
    media_type: &'static str,
    manifests: Vec<ReferrerDescriptor>,
}

impl Registry {
    fn page_size(&self, n: Option<u32>) -> u32 {
        n.unwrap_or(self.limits.max_page_size).min(self.limits.max_page_size)
    }

    /// Tags of a repository in lexical order (`GET /tags/list?n=&last=`).
    pub async fn list_tags(
        &self,
        caller: &Caller,
        repository: &RepoName,
        n: Option<u32>,
        last: Option<&Tag>,
    ) -> Result<Page<Tag>, RegistryError> {
        self.authorize(caller, repository, Action::Pull).await?;
        let size = self.page_size(n);
        if size == 0 {
            // An empty page, but of a repository that exists.
            return match self.index.repository_exists(repository).await? {
                true => Ok(Page { items: Vec::new(), more: false }),
                false => Err(RegistryError::NameUnknown(repository.clone())),
            };
        }
        let mut items = self
            .index
            .tags(repository, last.map(Tag::as_str), size + 1)
            .await?
            .ok_or_else(|| RegistryError::NameUnknown(repository.clone()))?;
        let more = items.len() > size as usize;
        items.truncate(size as usize);
        Ok(Page { items, more })
    }

    /// Repositories the caller may read, in lexical order (`GET /v2/_catalog`): filtered in
    /// SQL by the same visibility rule as search, so a page costs one query.
    pub async fn catalog(
        &self,
        caller: &Caller,
        n: Option<u32>,
        last: Option<&RepoName>,
    ) -> Result<Page<RepoName>, RegistryError> {
        let size = self.page_size(n);
        if size == 0 {
            return Ok(Page { items: Vec::new(), more: false });
        }
        let visibility = self.visibility(caller);
        let mut items = self.index.repositories(last.map(RepoName::as_str), size + 1, visibility).await?;
        let more = items.len() > size as usize;
        items.truncate(size as usize);
        Ok(Page { items, more })
    }

    /// Manifests whose `subject` is `subject`, as an OCI index (`GET /referrers/<digest>`).
    /// Per the spec this never answers "not found" (clients take a 404 to mean the API is not
    /// supported): an unknown subject has no referrers, and neither has a repository the
    /// caller cannot see, which therefore looks like one without referrers.
    pub async fn referrers(
        &self,
        caller: &Caller,
        repository: &RepoName,
        subject: &Digest,
        artifact_type: Option<&MediaType>,
        after: Option<&Digest>,
    ) -> Result<Referrers, RegistryError> {
        let page = self.limits.referrers_page_size;
        self.referrers_page(caller, repository, subject, artifact_type, after, page).await
    }

    /// `referrers` in pages of at most `page` descriptors (a web page shows a few of them, and
    /// each may carry annotations of any size).
    pub async fn referrers_page(
        &self,
        caller: &Caller,
        repository: &RepoName,
        subject: &Digest,
        artifact_type: Option<&MediaType>,
        after: Option<&Digest>,
        page: u32,
    ) -> Result<Referrers, RegistryError> {
        let page = page.min(self.limits.referrers_page_size);
        match self.authorize(caller, repository, Action::Pull).await {
            Err(RegistryError::NameUnknown(_)) => {
                let index = ReferrersIndex { schema_version: 2, media_type: OCI_INDEX, manifests: Vec::new() };
                let index_json = serde_json::to_vec(&index).expect("serialising plain data cannot fail");
                return Ok(Referrers { index_json, filtered: artifact_type.is_some(), more_after: None });
            }
            refused => refused?,
        }
        let mut rows = self.index.referrers(repository, subject, artifact_type, after, page.saturating_add(1)).await?;
        let more = rows.len() > page as usize;
        rows.truncate(page as usize);
        let more_after = more.then(|| rows.last().map(|row| row.digest.clone())).flatten();
        let manifests = rows
            .into_iter()
            .map(|row| ReferrerDescriptor {
                media_type: row.media_type,
                digest: row.digest,
                size: row.size,
                artifact_type: row.artifact_type,
                annotations: row.annotations_json.and_then(|json| serde_json::value::RawValue::from_string(json).ok()),
            })
            .collect();
        let index = ReferrersIndex { schema_version: 2, media_type: OCI_INDEX, manifests };
        Ok(Referrers {
            index_json: serde_json::to_vec(&index).expect("serialising plain data cannot fail"),
            filtered: artifact_type.is_some(),
            more_after,
        })
    }
}
