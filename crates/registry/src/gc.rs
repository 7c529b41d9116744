//! Online garbage collection: removes blob links no manifest uses, then blobs nothing links or
//! references, abandoned upload sessions, and objects in storage the index does not know,
//! while every replica keeps serving pushes and pulls.
//!
//! # Why a push never ends up with a manifest pointing at a missing blob
//!
//! The invariant is: *while the index records a blob (a `blobs` row), its object exists.* Only
//! three things delete objects: this collector, `fsck --repair` (through the same functions),
//! and nothing else. Each deletion goes through one protocol, per digest:
//!
//! 1. `Index::begin_collect` fences the digest in one transaction: it upserts the digest's
//!    `blob_locks` row with `collecting_since` set (only if no writer holds it), then, having
//!    that row locked, re-checks in a fresh statement that the blob is still collectable (no
//!    repository link, no manifest reference, older than the grace period; for a stray, still
//!    unknown to the index), and deletes the `blobs` row.
//! 2. The object is deleted.
//! 3. `Index::finish_collect` removes the fence.
//!
//! Writers follow the mirror protocol (`with_blob_hold`): before placing an object they take a
//! *hold* on the digest (`Index::hold_blob`, refused while it is fenced, so they wait), then
//! place the object (`commit_blob`, which keeps an existing object), then record the blob and
//! release the hold in the same transaction (`link_blob_in`). Hold and fence upsert the same
//! primary key, so they exclude each other on PostgreSQL (row lock) and on SQLite (one
//! writer). Hence:
//!
//! - a fence taken before the hold: the writer waits until step 3 is over, so its object is
//!   placed after the deletion (and `commit_blob` writes it, since it is absent);
//! - a hold taken before the fence: the collector cannot fence until the writer has recorded
//!   the blob, and then the re-check sees the new link and gives up. `commit_blob` skipping a
//!   write because the object exists is therefore safe: nobody can delete it under the hold.
//!
//! Links are the other half. A manifest push checks its blobs by *touching* their links
//! (`UPDATE ... SET created_at = now`, which locks them), and the collector removes a link by
//! first locking it with a no-op update restricted to old links, then deleting it only if no
//! manifest of the repository references it (a fresh statement, after the lock). Either the
//! collector removed the link first, and the push fails with `MANIFEST_BLOB_UNKNOWN`, or the
//! push committed first, and the collector sees the reference (or the refreshed timestamp).
//! A blob row is only collected when no link at all remains, and a mount (`mount_blob`) takes
//! the fence row's lock and links only a blob that still has its row and is not fenced.
//!
//! The grace period protects the window between a blob upload and the manifest that uses it:
//! links younger than the grace are never removed, and pushing a blob again refreshes its link.
//! With a grace of zero a push still never corrupts; it may just fail and need a retry.
//!
//! Limits of the argument: a writer hold older than a day is treated as abandoned (a crashed
//! process) and may be overridden; a fence older than `ABANDONED_FENCE` is finished by the next
//! run (a collector that died between steps 1 and 3), so two collectors whose runs overlap by
//! more than that could interfere. On SQLite, a collector in another process than `serve` can
//! make a concurrent request fail with "database is locked" (a retryable 500, never corruption).

use std::collections::HashSet;
use std::future::Future;
use std::time::{Duration, Instant, SystemTime};

use futures::TryStreamExt;
use wasmhub_index::{CollectTarget, UnreferencedLink};
use wasmhub_oci::{Digest, UploadId};
use wasmhub_storage::{PartKey, LIST_PAGE};

use crate::retention_apply::RetentionReport;
use crate::{Registry, RegistryError};

/// How long a push waits for the collector to finish deleting the digest it is pushing.
const HOLD_WAIT: Duration = Duration::from_secs(30);
const HOLD_POLL: Duration = Duration::from_millis(25);
/// A fence this old was left by a collector that stopped half-way; the next run finishes it.
const ABANDONED_FENCE: Duration = Duration::from_secs(60 * 60);
/// Digests fenced (or links removed) per index transaction: on SQLite each such transaction
/// holds the one write lock, so pushes wait for at most this much of the collector's work.
pub(crate) const FENCE_BATCH: usize = 64;

/// What one collection run does.
#[derive(Debug, Clone)]
pub struct GcOptions {
    /// Blobs, links and stray objects younger than this are never collected.
    pub grace: Duration,
    /// Upload sessions (and stray parts) not written to for this long are abandoned.
    pub upload_max_age: Duration,
    /// Audit log entries older than this are deleted; `None` keeps them all.
    pub audit_max_age: Option<Duration>,
    /// Count what would go, delete nothing.
    pub dry_run: bool,
    /// Rows or objects handled per index query.
    pub batch_size: u32,
}

impl Default for GcOptions {
    fn default() -> Self {
        GcOptions {
            grace: Duration::from_secs(60 * 60),
            upload_max_age: Duration::from_secs(24 * 60 * 60),
            audit_max_age: None,
            dry_run: false,
            batch_size: LIST_PAGE as u32,
        }
    }
}

/// Which part of the run is under way (for progress reports).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GcPhase {
    Retention,
    Uploads,
    Links,
    Blobs,
    StrayBlobs,
    StrayParts,
}

/// What a run removed (or, in a dry run, would remove).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GcReport {
    pub uploads: u64,
    pub upload_bytes: u64,
    pub links: u64,
    pub blobs: u64,
    pub blob_bytes: u64,
    pub stray_blobs: u64,
    pub stray_blob_bytes: u64,
    pub stray_parts: u64,
    pub stray_part_bytes: u64,
    /// Candidates that were in use again by the time they were re-checked.
    pub spared: u64,
    /// Objects that could not be deleted (the next run tries again).
    pub failures: u64,
    /// Tags and manifests the retention policies deleted first.
    pub retention: RetentionReport,
    /// Audit log entries older than `GcOptions::audit_max_age`, deleted (not counted in a dry
    /// run).
    pub audit_entries: u64,
}

impl GcReport {
    pub fn reclaimed_bytes(&self) -> u64 {
        self.upload_bytes + self.blob_bytes + self.stray_blob_bytes + self.stray_part_bytes
    }
}

fn before(now: SystemTime, age: Duration) -> SystemTime {
    now.checked_sub(age).unwrap_or(SystemTime::UNIX_EPOCH)
}

impl Registry {
    /// Runs `work` (place an object, then record it) under a hold on `digest`: see the module
    /// documentation. The hold is released by the recording transaction, or here on failure.
    pub(crate) async fn with_blob_hold<T, F, Fut>(&self, digest: &Digest, work: F) -> Result<T, RegistryError>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<T, RegistryError>>,
    {
        let deadline = Instant::now() + HOLD_WAIT;
        while !self.index.hold_blob(digest).await? {
            if Instant::now() >= deadline {
                return Err(RegistryError::Internal(format!("blob {digest} is being garbage-collected; retry")));
            }
            tokio::time::sleep(HOLD_POLL).await;
        }
        let outcome = work().await;
        if outcome.is_err() {
            if let Err(error) = self.index.release_hold(digest).await {
                tracing::warn!(%digest, %error, "could not release a blob hold; it expires on its own");
            }
        }
        outcome
    }

    /// One garbage-collection run; `progress` is called after every batch.
    pub async fn collect_garbage(
        &self,
        options: &GcOptions,
        mut progress: impl FnMut(GcPhase, &GcReport),
    ) -> Result<GcReport, RegistryError> {
        let now = SystemTime::now();
        let (blob_cutoff, upload_cutoff) = (before(now, options.grace), before(now, options.upload_max_age));
        // Retention first: the blobs of the manifests it deletes are collected below, in this
        // run (their links are older than the grace period unless pushed recently).
        let retention = self.apply_retention(options.dry_run).await?;
        let mut report = GcReport { retention, ..GcReport::default() };
        progress(GcPhase::Retention, &report);
        if !options.dry_run {
            self.finish_abandoned_collections(before(now, ABANDONED_FENCE), options, &mut report).await?;
        }
        self.collect_uploads(upload_cutoff, options, &mut report, &mut progress).await?;
        self.collect_links(blob_cutoff, options, &mut report, &mut progress).await?;
        self.collect_blobs(blob_cutoff, options, &mut report, &mut progress).await?;
        self.collect_stray_blobs(blob_cutoff, options, &mut report, &mut progress).await?;
        self.collect_stray_parts(upload_cutoff, options, &mut report, &mut progress).await?;
        if let (false, Some(max_age)) = (options.dry_run, options.audit_max_age) {
            report.audit_entries = self.index.prune_audit(before(now, max_age)).await?;
        }
        tracing::info!(?report, dry_run = options.dry_run, "garbage collection finished");
        if !options.dry_run {
            self.gc_completed(&report, &wasmhub_index::Actor::system()).await;
        }
        Ok(report)
    }

    async fn finish_abandoned_collections(
        &self,
        fenced_before: SystemTime,
        options: &GcOptions,
        report: &mut GcReport,
    ) -> Result<(), RegistryError> {
        let abandoned = self.index.abandoned_collections(fenced_before, options.batch_size).await?;
        report.failures += self.delete_objects_and_unfence(&abandoned).await?.len() as u64;
        Ok(())
    }

    async fn collect_uploads(
        &self,
        cutoff: SystemTime,
        options: &GcOptions,
        report: &mut GcReport,
        progress: &mut impl FnMut(GcPhase, &GcReport),
    ) -> Result<(), RegistryError> {
        if !options.dry_run {
            // Ended ids are remembered only while they could still be used.
            let expired = before(SystemTime::now(), crate::upload_ids::ISSUED_UPLOAD_LIFETIME);
            let pruned = self.index.prune_ended_uploads(expired).await?;
            tracing::debug!(pruned, "forgot expired ended upload ids");
        }
        let mut after: Option<UploadId> = None;
        loop {
            let batch = self.index.stale_uploads(cutoff, after, options.batch_size).await?;
            let Some(last) = batch.last() else { break };
            after = Some(last.id);
            for upload in &batch {
                if options.dry_run {
                    report.uploads += 1;
                    report.upload_bytes += upload.size;
                } else if let Some(keys) = self.index.expire_upload(upload.id, cutoff).await? {
                    let parts: Vec<PartKey> = keys.iter().filter_map(|key| PartKey::from_stored(key).ok()).collect();
                    self.storage.delete_parts(&parts).await;
                    report.uploads += 1;
                    report.upload_bytes += upload.size;
                } else {
                    report.spared += 1;
                }
            }
            progress(GcPhase::Uploads, report);
        }
        Ok(())
    }

    async fn collect_links(
        &self,
        cutoff: SystemTime,
        options: &GcOptions,
        report: &mut GcReport,
        progress: &mut impl FnMut(GcPhase, &GcReport),
    ) -> Result<(), RegistryError> {
        let mut after: Option<UnreferencedLink> = None;
        loop {
            let batch = self.index.unreferenced_links(cutoff, after.as_ref(), options.batch_size).await?;
            let Some(last) = batch.last() else { break };
            after = Some(last.clone());
            for links in batch.chunks(FENCE_BATCH) {
                let removed =
                    if options.dry_run { links.len() as u64 } else { self.index.expire_links(links, cutoff).await? };
                report.links += removed;
                report.spared += links.len() as u64 - removed;
            }
            progress(GcPhase::Links, report);
        }
        Ok(())
    }

    async fn collect_blobs(
        &self,
        cutoff: SystemTime,
        options: &GcOptions,
        report: &mut GcReport,
        progress: &mut impl FnMut(GcPhase, &GcReport),
    ) -> Result<(), RegistryError> {
        let mut after: Option<Digest> = None;
        loop {
            let batch = self.index.collectable_blobs(cutoff, after.as_ref(), options.batch_size).await?;
            let Some(last) = batch.last() else { break };
            after = Some(last.digest.clone());
            let blobs: Vec<(Digest, u64)> = batch.into_iter().map(|blob| (blob.digest, blob.size)).collect();
            self.delete_in_fenced_batches(
                &blobs,
                CollectTarget::Indexed,
                cutoff,
                options.dry_run,
                report,
                |report, size| {
                    report.blobs += 1;
                    report.blob_bytes += size;
                },
            )
            .await?;
            progress(GcPhase::Blobs, report);
        }
        Ok(())
    }

    /// Deletes `blobs` (digest and size) through the fence, `FENCE_BATCH` at a time, counting
    /// each deleted one with `deleted` and the spared and failed ones in `report`.
    async fn delete_in_fenced_batches(
        &self,
        blobs: &[(Digest, u64)],
        target: CollectTarget,
        cutoff: SystemTime,
        dry_run: bool,
        report: &mut GcReport,
        deleted: impl Fn(&mut GcReport, u64),
    ) -> Result<(), RegistryError> {
        for batch in blobs.chunks(FENCE_BATCH) {
            let digests: Vec<Digest> = batch.iter().map(|(digest, _)| digest.clone()).collect();
            let outcome = self.delete_fenced(&digests, target, cutoff, dry_run).await?;
            for (digest, size) in batch {
                match outcome.of(digest) {
                    Deletion::Deleted => deleted(report, *size),
                    Deletion::Spared => report.spared += 1,
                    Deletion::Failed => report.failures += 1,
                }
            }
        }
        Ok(())
    }

    /// Steps 1 to 3 of the module documentation for a batch of digests (at most
    /// `FENCE_BATCH`); a dry run only says which would go (all of them).
    pub(crate) async fn delete_fenced(
        &self,
        digests: &[Digest],
        target: CollectTarget,
        cutoff: SystemTime,
        dry_run: bool,
    ) -> Result<Deletions, RegistryError> {
        if dry_run {
            return Ok(Deletions { fenced: digests.iter().cloned().collect(), failed: HashSet::new() });
        }
        let fenced = self.index.begin_collect(digests, target, cutoff).await?;
        let failed = self.delete_objects_and_unfence(&fenced).await?;
        Ok(Deletions { fenced: fenced.into_iter().collect(), failed })
    }

    /// Deletes the objects of fenced digests, then lifts the fences of those deleted; returns
    /// the others. Their fences stay, so no push can record them until a later run succeeds.
    async fn delete_objects_and_unfence(&self, fenced: &[Digest]) -> Result<HashSet<Digest>, RegistryError> {
        let mut deleted = Vec::with_capacity(fenced.len());
        let mut failed = HashSet::new();
        for digest in fenced {
            match self.storage.delete_blob(digest).await {
                Ok(()) => deleted.push(digest.clone()),
                Err(error) => {
                    tracing::warn!(%digest, %error, "could not delete a collected blob; a later run retries");
                    failed.insert(digest.clone());
                }
            }
        }
        self.index.finish_collect(&deleted).await?;
        Ok(failed)
    }

    async fn collect_stray_blobs(
        &self,
        cutoff: SystemTime,
        options: &GcOptions,
        report: &mut GcReport,
        progress: &mut impl FnMut(GcPhase, &GcReport),
    ) -> Result<(), RegistryError> {
        let mut listing = self.storage.list_blobs().try_chunks(options.batch_size as usize);
        while let Some(batch) = listing.try_next().await.map_err(|error| RegistryError::Storage(error.1))? {
            let old: Vec<_> = batch.into_iter().filter(|blob| blob.last_modified < cutoff).collect();
            let digests: Vec<Digest> = old.iter().map(|blob| blob.digest.clone()).collect();
            let known = self.index.known_digests(&digests).await?;
            let strays: Vec<(Digest, u64)> = old
                .into_iter()
                .filter(|blob| !known.contains(&blob.digest))
                .map(|blob| (blob.digest, blob.size))
                .collect();
            self.delete_in_fenced_batches(
                &strays,
                CollectTarget::Stray,
                cutoff,
                options.dry_run,
                report,
                |report, size| {
                    report.stray_blobs += 1;
                    report.stray_blob_bytes += size;
                },
            )
            .await?;
            progress(GcPhase::StrayBlobs, report);
        }
        Ok(())
    }

    async fn collect_stray_parts(
        &self,
        cutoff: SystemTime,
        options: &GcOptions,
        report: &mut GcReport,
        progress: &mut impl FnMut(GcPhase, &GcReport),
    ) -> Result<(), RegistryError> {
        let mut listing = self.storage.list_upload_parts().try_chunks(options.batch_size as usize);
        while let Some(batch) = listing.try_next().await.map_err(|error| RegistryError::Storage(error.1))? {
            // Parts of a live session stay whatever their age (the session's own expiry
            // removes them); parts without one are leftovers once older than the cutoff.
            let old: Vec<_> = batch.into_iter().filter(|part| part.last_modified < cutoff).collect();
            let ids: Vec<UploadId> = old.iter().map(|part| part.upload).collect();
            let live = self.index.existing_uploads(&ids).await?;
            let strays: Vec<_> = old.into_iter().filter(|part| !live.contains(&part.upload)).collect();
            report.stray_parts += strays.len() as u64;
            report.stray_part_bytes += strays.iter().map(|part| part.size).sum::<u64>();
            if !options.dry_run {
                let keys: Vec<PartKey> = strays.into_iter().map(|part| part.key).collect();
                self.storage.delete_parts(&keys).await;
            }
            progress(GcPhase::StrayParts, report);
        }
        Ok(())
    }
}

/// How a batch of fenced deletions went.
pub(crate) struct Deletions {
    fenced: HashSet<Digest>,
    failed: HashSet<Digest>,
}

impl Deletions {
    pub(crate) fn of(&self, digest: &Digest) -> Deletion {
        match (self.fenced.contains(digest), self.failed.contains(digest)) {
            (false, _) => Deletion::Spared,
            (true, false) => Deletion::Deleted,
            (true, true) => Deletion::Failed,
        }
    }
}

/// How one fenced deletion went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Deletion {
    Deleted,
    /// In use (or held by a push) by the time it was re-checked: left alone.
    Spared,
    Failed,
}
