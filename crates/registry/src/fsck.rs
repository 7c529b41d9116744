//! The integrity check: does storage hold what the index records, byte for byte?
//!
//! For every recorded blob the object's size is checked (one `HEAD`), and for all of them or a
//! random sample the content is re-hashed. Objects the index does not know (older than the
//! grace period, so a push in flight is not mistaken for one) are strays. `repair` removes
//! only what nothing depends on: strays, and corrupt or missing blobs that no manifest
//! references (their repository links go too: a link to bad bytes is worse than none).
//! Referenced blobs are never touched; the manifests that use them are reported instead, and
//! with `repair` marked damaged (`manifests.damaged`). Each blob found intact by a re-hash is
//! stamped (`blobs.verified_at`), so `not_checked_for` can spread re-hashing over many runs.
//! Every removal goes through the collector's fence (`gc.rs`), so this may run while the
//! registry serves, and beside the collector.

use std::time::{Duration, SystemTime};

use futures::{StreamExt, TryStreamExt};
use wasmhub_index::{CollectTarget, ManifestUse};
use wasmhub_oci::{Digest, DigestHasher};
use wasmhub_storage::{StorageError, LIST_PAGE};

use crate::gc::{Deletion, FENCE_BATCH};
use crate::{Registry, RegistryError};

/// Most manifests listed per damaged blob in a report.
const MAX_REPORTED_USES: u32 = 100;
/// `expire_link` removes links older than this instant: any link, for a repair.
const FAR_FUTURE: Duration = Duration::from_secs(100 * 365 * 24 * 60 * 60);

/// Which blobs' content is re-hashed (every blob's size is checked regardless).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum FsckSample {
    All,
    /// A fraction in `(0, 1]`, chosen at random.
    Fraction(f64),
    /// About this many, chosen at random, and never more.
    Count(u64),
}

impl std::str::FromStr for FsckSample {
    type Err = String;

    /// `all`, `5%`, `0.05` (a fraction) or `200` (a number of blobs).
    fn from_str(text: &str) -> Result<Self, String> {
        let fraction = |value: f64| {
            (value > 0.0 && value <= 1.0).then_some(FsckSample::Fraction(value)).ok_or_else(|| {
                "expected all, a percentage (5%), a fraction greater than 0 and at most 1 (0.05), or a count (200)"
                    .to_owned()
            })
        };
        match text {
            "all" => Ok(FsckSample::All),
            _ if text.ends_with('%') => {
                fraction(text[..text.len() - 1].parse::<f64>().map_err(|e| e.to_string())? / 100.0)
            }
            _ if text.contains('.') => fraction(text.parse::<f64>().map_err(|e| e.to_string())?),
            _ => match text.parse::<u64>() {
                Ok(count) if count > 0 => Ok(FsckSample::Count(count)),
                _ => fraction(f64::NAN),
            },
        }
    }
}

#[derive(Debug, Clone)]
pub struct FsckOptions {
    /// Which blobs' content is re-hashed.
    pub sample: FsckSample,
    /// Re-hash only blobs not verified for this long (never verified ones included).
    pub not_checked_for: Option<Duration>,
    /// Remove what can safely be removed.
    pub repair: bool,
    /// Objects younger than this are not reported as strays (they may be a push in flight).
    pub grace: Duration,
    /// Blobs per index query.
    pub batch_size: u32,
}

impl Default for FsckOptions {
    fn default() -> Self {
        FsckOptions {
            sample: FsckSample::All,
            not_checked_for: None,
            repair: false,
            grace: Duration::from_secs(60 * 60),
            batch_size: LIST_PAGE as u32,
        }
    }
}

/// One damaged or unknown blob.
#[derive(Debug, Clone)]
pub struct FsckFinding {
    pub digest: Digest,
    /// What is wrong, for the report.
    pub problem: String,
    /// Manifests that reference the blob (at most `MAX_REPORTED_USES`).
    pub used_by: Vec<ManifestUse>,
    pub repaired: bool,
}

#[derive(Debug, Clone, Default)]
pub struct FsckReport {
    pub blobs: u64,
    pub rehashed: u64,
    /// Not re-hashed because verified within `not_checked_for`.
    pub recently_verified: u64,
    /// Manifests marked damaged by `repair` (they reference a corrupt or missing blob).
    pub manifests_marked: u64,
    pub rehashed_bytes: u64,
    /// Content does not match the digest (or the recorded size).
    pub corrupt: Vec<FsckFinding>,
    /// Recorded, but storage has no object.
    pub missing: Vec<FsckFinding>,
    /// In storage, unknown to the index.
    pub strays: Vec<FsckFinding>,
}

impl FsckReport {
    pub fn problems(&self) -> usize {
        self.corrupt.len() + self.missing.len() + self.strays.len()
    }

    pub fn findings(&self) -> impl Iterator<Item = &FsckFinding> {
        self.corrupt.iter().chain(&self.missing).chain(&self.strays)
    }
}

enum Health {
    Good,
    Missing,
    Corrupt(String),
}

/// A uniformly random number in `[0, 1)`, from the UUID generator the crate already has.
fn random_fraction() -> f64 {
    (uuid::Uuid::new_v4().as_u128() >> 75) as f64 / (1u64 << 53) as f64
}

impl Registry {
    /// Checks every recorded blob and every stored object; `progress` gets the blobs checked.
    pub async fn fsck(
        &self,
        options: &FsckOptions,
        mut progress: impl FnMut(u64),
    ) -> Result<FsckReport, RegistryError> {
        let started = SystemTime::now();
        let started_ms = unix_millis(started);
        let since = options.not_checked_for.map(|age| unix_millis(before(started, age)));
        let (probability, most) = match options.sample {
            FsckSample::All => (1.0, u64::MAX),
            FsckSample::Fraction(fraction) => (fraction, u64::MAX),
            FsckSample::Count(count) => {
                let eligible = self.index.blobs_unverified_since(since).await?.max(1);
                (count as f64 / eligible as f64, count)
            }
        };
        let mut report = FsckReport::default();
        let mut after: Option<Digest> = None;
        loop {
            let batch = self.index.recorded_blobs(after.as_ref(), options.batch_size).await?;
            let Some(last) = batch.last() else { break };
            after = Some(last.digest.clone());
            let mut verified = Vec::new();
            for blob in batch {
                report.blobs += 1;
                let due = match (since, blob.verified_at) {
                    (Some(since), Some(verified_at)) => verified_at < since,
                    _ => true,
                };
                report.recently_verified += u64::from(!due);
                let rehash = due && report.rehashed < most && random_fraction() < probability;
                let rehashed_before = report.rehashed;
                let health = self.blob_health(&blob.digest, blob.size, rehash, &mut report).await?;
                if matches!(health, Health::Good) && report.rehashed > rehashed_before {
                    verified.push(blob.digest.clone());
                }
                // Re-read the row: the collector may have removed the blob since the page was
                // read, and a blob that is gone is not damaged.
                if matches!(health, Health::Good) || self.index.recorded_blob(&blob.digest).await?.is_none() {
                    continue;
                }
                let (problem, missing) = match health {
                    Health::Missing => ("recorded in the index but missing from storage".to_owned(), true),
                    Health::Corrupt(problem) => (problem, false),
                    Health::Good => unreachable!("handled above"),
                };
                let finding = self.damaged(blob.digest, problem, options.repair, &mut report).await?;
                if missing {
                    report.missing.push(finding)
                } else {
                    report.corrupt.push(finding)
                }
            }
            self.index.mark_verified(&verified, started_ms).await?;
            progress(report.blobs);
        }
        self.find_strays(before(started, options.grace), options, &mut report).await?;
        Ok(report)
    }

    async fn blob_health(
        &self,
        digest: &Digest,
        size: u64,
        rehash: bool,
        report: &mut FsckReport,
    ) -> Result<Health, RegistryError> {
        let Some(meta) = self.storage.blob_meta(digest).await? else { return Ok(Health::Missing) };
        if meta.size != size {
            return Ok(Health::Corrupt(format!("stored object has {} bytes; the index records {size}", meta.size)));
        }
        if !rehash {
            return Ok(Health::Good);
        }
        let mut stream = match self.storage.read_blob(digest, None).await {
            Ok(stream) => stream,
            Err(StorageError::NotFound(_)) => return Ok(Health::Missing),
            Err(other) => return Err(other.into()),
        };
        let mut hasher = DigestHasher::new(digest.algorithm());
        while let Some(chunk) = stream.next().await {
            let chunk = chunk?;
            report.rehashed_bytes += chunk.len() as u64;
            hasher.update(&chunk);
        }
        report.rehashed += 1;
        let actual = hasher.finish();
        Ok(if &actual == digest { Health::Good } else { Health::Corrupt(format!("content hashes to {actual}")) })
    }

    /// Reports a corrupt or missing blob, and with `repair` removes it if no manifest uses it.
    async fn damaged(
        &self,
        digest: Digest,
        problem: String,
        repair: bool,
        report: &mut FsckReport,
    ) -> Result<FsckFinding, RegistryError> {
        let used_by = self.index.manifests_using(&digest, MAX_REPORTED_USES).await?;
        let mut repaired = false;
        if repair && !used_by.is_empty() {
            report.manifests_marked += self.index.mark_damaged(&digest, &format!("blob {digest} {problem}")).await?;
        }
        if repair && used_by.is_empty() {
            let far_future = SystemTime::now() + FAR_FUTURE;
            let links = self.index.links_to(&digest).await?;
            for links in links.chunks(FENCE_BATCH) {
                self.index.expire_links(links, far_future).await?;
            }
            let outcome = self.delete_fenced(std::slice::from_ref(&digest), CollectTarget::Indexed, far_future, false);
            repaired = outcome.await?.of(&digest) == Deletion::Deleted;
        }
        tracing::warn!(%digest, %problem, manifests = used_by.len(), repaired, "damaged blob");
        Ok(FsckFinding { digest, problem, used_by, repaired })
    }

    async fn find_strays(
        &self,
        cutoff: SystemTime,
        options: &FsckOptions,
        report: &mut FsckReport,
    ) -> Result<(), RegistryError> {
        let mut listing = self.storage.list_blobs().try_chunks(options.batch_size as usize);
        while let Some(batch) = listing.try_next().await.map_err(|error| RegistryError::Storage(error.1))? {
            let old: Vec<_> = batch.into_iter().filter(|blob| blob.last_modified < cutoff).collect();
            let digests: Vec<Digest> = old.iter().map(|blob| blob.digest.clone()).collect();
            let known = self.index.known_digests(&digests).await?;
            for digest in digests.into_iter().filter(|digest| !known.contains(digest)) {
                let repaired = options.repair && {
                    let outcome =
                        self.delete_fenced(std::slice::from_ref(&digest), CollectTarget::Stray, cutoff, false);
                    outcome.await?.of(&digest) == Deletion::Deleted
                };
                tracing::warn!(%digest, repaired, "object in storage unknown to the index");
                let problem = "in storage but unknown to the index".to_owned();
                report.strays.push(FsckFinding { digest, problem, used_by: Vec::new(), repaired });
            }
        }
        Ok(())
    }
}

fn unix_millis(time: SystemTime) -> i64 {
    time.duration_since(SystemTime::UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or_default()
}

fn before(now: SystemTime, age: Duration) -> SystemTime {
    now.checked_sub(age).unwrap_or(SystemTime::UNIX_EPOCH)
}
