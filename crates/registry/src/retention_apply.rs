//! Managing retention policies and immutable repositories, and applying the policies: the
//! first phase of every garbage-collection run, so that the blobs of what it deletes are
//! collected in the same run.

use std::time::{Duration, SystemTime};

use wasmhub_oci::{Reference, RepoName};

use crate::retention::{governing, plan, RetentionPolicy};
use crate::{Registry, RegistryError};

/// Repositories read per index query while applying policies.
const REPOSITORY_PAGE: u32 = 500;

/// What retention deleted (or, in a dry run, would delete).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RetentionReport {
    pub repositories: u64,
    pub tags: u64,
    pub manifests: u64,
    /// Rows that changed between the decision and the delete (a push won): left alone.
    pub spared: u64,
}

fn unix_millis(time: SystemTime) -> i64 {
    time.duration_since(SystemTime::UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or_default()
}

impl Registry {
    pub async fn set_retention_policy(&self, policy: &RetentionPolicy) -> Result<(), RegistryError> {
        Ok(self.index.set_retention_policy(&policy.to_stored()).await?)
    }

    /// Every stored policy, parsed (a row that no longer parses is an error, not skipped:
    /// silently ignoring a policy would keep or delete the wrong things).
    pub async fn retention_policies(&self) -> Result<Vec<RetentionPolicy>, RegistryError> {
        let stored = self.index.retention_policies().await?;
        stored
            .iter()
            .map(|row| RetentionPolicy::from_stored(row).map_err(|e| RegistryError::Internal(format!("policy: {e}"))))
            .collect()
    }

    pub async fn remove_retention_policy(&self, pattern: &str) -> Result<bool, RegistryError> {
        Ok(self.index.remove_retention_policy(pattern).await?)
    }

    pub async fn set_immutable(&self, repository: &RepoName, immutable: bool) -> Result<(), RegistryError> {
        Ok(self.index.set_immutable(repository, immutable).await?)
    }

    pub async fn immutable_repositories(&self) -> Result<Vec<String>, RegistryError> {
        Ok(self.index.immutable_repositories().await?)
    }

    /// Deleting a tag of an immutable repository, or a manifest a tag names there (which
    /// would delete the tag with it), is `DENIED`.
    pub(crate) async fn refuse_immutable_delete(
        &self,
        repository: &RepoName,
        reference: &Reference,
    ) -> Result<(), RegistryError> {
        if !self.index.is_immutable(repository).await? {
            return Ok(());
        }
        match reference {
            Reference::Tag(tag) => {
                Err(RegistryError::Denied(format!("tag {tag} of {repository} is immutable and cannot be deleted")))
            }
            Reference::Digest(digest) if self.index.is_tagged(repository, digest).await? => Err(RegistryError::Denied(
                format!("manifest {digest} is tagged in {repository}, whose tags are immutable; it cannot be deleted"),
            )),
            Reference::Digest(_) => Ok(()),
        }
    }

    /// Applies every policy to the repositories it governs.
    pub async fn apply_retention(&self, dry_run: bool) -> Result<RetentionReport, RegistryError> {
        let policies = self.retention_policies().await?;
        let mut report = RetentionReport::default();
        if policies.is_empty() {
            return Ok(report);
        }
        let now = SystemTime::now();
        let mut after = String::new();
        loop {
            let page = self.index.repositories_after(&after, REPOSITORY_PAGE).await?;
            let Some((_, last)) = page.last() else { break };
            after = last.clone();
            for (id, name) in &page {
                if let Some(policy) = governing(&policies, name) {
                    report.repositories += 1;
                    self.retain(*id, name, policy, now, dry_run, &mut report).await?;
                }
            }
        }
        tracing::info!(?report, dry_run, "retention policies applied");
        Ok(report)
    }

    async fn retain(
        &self,
        repository_id: i64,
        name: &str,
        policy: &RetentionPolicy,
        now: SystemTime,
        dry_run: bool,
        report: &mut RetentionReport,
    ) -> Result<(), RegistryError> {
        let repository: RepoName =
            name.parse().map_err(|_| RegistryError::Internal(format!("stored repository name {name:?}")))?;
        let immutable = self.index.is_immutable(&repository).await?;
        let tags = self.index.retention_tags(repository_id).await?;
        let manifests = self.index.retention_manifests(repository_id).await?;
        let decided = plan(policy, immutable, &tags, &manifests, unix_millis(now));
        let verb = if dry_run { "would delete" } else { "deleting" };
        for tag in &decided.tags {
            tracing::info!(repository = name, tag = %tag.name, digest = %tag.digest, "retention {verb} tag");
            if dry_run || self.index.delete_tag_if_unchanged(repository_id, tag).await? {
                report.tags += 1;
            } else {
                report.spared += 1;
            }
        }
        if dry_run {
            for digest in &decided.manifests {
                tracing::info!(repository = name, %digest, "retention would delete untagged manifest");
            }
            report.manifests += decided.manifests.len() as u64;
            return Ok(());
        }
        let cutoff = now.checked_sub(policy.untagged_older_than.unwrap_or(Duration::ZERO)).unwrap_or(now);
        // An index must go before the manifests it lists, and a subject before its referrers:
        // each pass deletes what nothing needs any more, until a pass deletes nothing.
        let mut remaining = decided.manifests;
        loop {
            let before = remaining.len();
            let mut next = Vec::new();
            for digest in remaining {
                if self.index.delete_manifest_if_unused(repository_id, &digest, cutoff).await? {
                    tracing::info!(repository = name, %digest, "retention deleted untagged manifest");
                    report.manifests += 1;
                } else {
                    next.push(digest);
                }
            }
            remaining = next;
            if remaining.is_empty() || remaining.len() == before {
                break;
            }
        }
        report.spared += remaining.len() as u64;
        Ok(())
    }
}
