//! A garbage-collection *run* as operators see it: one at a time across every replica and
//! `wasmhub gc` process (a lease in the database), recorded in `gc_runs`, reported in the
//! metrics, and, inside `serve`, repeated on a schedule.
//!
//! The lease has an expiry and is renewed while the run works, so a process that dies
//! mid-run blocks others for at most `LEASE_TTL`. If renewal fails for longer than that
//! (the database was unreachable) the run stops rather than risk overlapping a newer one.

use std::time::{Duration, Instant, SystemTime};

use wasmhub_index::{GcRun, LeaseHolder};

use crate::gc::{GcOptions, GcPhase, GcReport};
use crate::{Registry, RegistryError};

/// The lease's name in `maintenance_leases`.
pub const GC_LEASE: &str = "gc";
/// How long a lease lasts without renewal; renewed every third of that.
const LEASE_TTL: Duration = Duration::from_secs(60);

/// Who started a run (recorded with it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GcTrigger {
    Schedule,
    Cli,
}

impl GcTrigger {
    fn as_str(self) -> &'static str {
        match self {
            GcTrigger::Schedule => "schedule",
            GcTrigger::Cli => "cli",
        }
    }
}

/// How a run went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GcRunOutcome {
    Ran(GcReport),
    /// Another run held the lease; nothing was done.
    Skipped(LeaseHolder),
}

fn unix_millis(time: SystemTime) -> i64 {
    time.duration_since(SystemTime::UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or_default()
}

/// This process's name in the lease: host, process id and a random suffix (two registries in
/// one test process are distinct holders).
fn holder_id() -> String {
    let host = std::env::var("HOSTNAME").unwrap_or_else(|_| "localhost".into());
    let suffix = uuid::Uuid::new_v4().simple().to_string();
    format!("{host}:{}:{}", std::process::id(), &suffix[..8])
}

impl Registry {
    /// One run under the lease: retention, then collection (`collect_garbage`). A dry run
    /// changes nothing, so it neither takes the lease nor moves the metrics.
    pub async fn run_gc(
        &self,
        options: &GcOptions,
        trigger: GcTrigger,
        progress: impl FnMut(GcPhase, &GcReport),
    ) -> Result<GcRunOutcome, RegistryError> {
        let holder = holder_id();
        let started = SystemTime::now();
        if !options.dry_run {
            if let Err(current) = self.index.try_acquire_lease(GC_LEASE, &holder, LEASE_TTL).await? {
                tracing::info!(holder = %current.holder, expires_at = current.expires_at,
                    "another garbage collection is running; skipping this run");
                self.metrics.record_gc_skipped();
                let detail = format!("lease held by {} until {} (Unix ms)", current.holder, current.expires_at);
                self.record_run(started, trigger, &holder, "skipped", options.dry_run, None, Some(detail)).await;
                return Ok(GcRunOutcome::Skipped(current));
            }
        }
        let clock = Instant::now();
        let outcome = if options.dry_run {
            self.collect_garbage(options, progress).await
        } else {
            tokio::select! {
                outcome = self.collect_garbage(options, progress) => outcome,
                lost = self.keep_lease(&holder) => Err(lost),
            }
        };
        if !options.dry_run {
            if let Err(error) = self.index.release_lease(GC_LEASE, &holder).await {
                tracing::warn!(%error, "could not release the gc lease; it expires on its own");
            }
        }
        let elapsed = clock.elapsed();
        match &outcome {
            Ok(report) => {
                if !options.dry_run {
                    self.metrics.record_gc_run(report.reclaimed_bytes(), elapsed, true);
                    self.metrics.record_gc_deletions(
                        report.blobs + report.stray_blobs,
                        report.retention.manifests,
                        report.retention.tags,
                    );
                    self.metrics.record_gc_success_at(unix_millis(SystemTime::now()) / 1000);
                }
                self.record_run(started, trigger, &holder, "success", options.dry_run, Some(report), None).await;
            }
            Err(error) => {
                self.metrics.record_gc_run(0, elapsed, false);
                let detail = Some(error.to_string());
                self.record_run(started, trigger, &holder, "failure", options.dry_run, None, detail).await;
            }
        }
        outcome.map(GcRunOutcome::Ran)
    }

    /// Renews the lease until it cannot; returns why the run must stop.
    async fn keep_lease(&self, holder: &str) -> RegistryError {
        let mut last_renewed = Instant::now();
        loop {
            tokio::time::sleep(LEASE_TTL / 3).await;
            match self.index.renew_lease(GC_LEASE, holder, LEASE_TTL).await {
                Ok(true) => last_renewed = Instant::now(),
                Ok(false) => return RegistryError::Internal("the gc lease was taken over; stopping this run".into()),
                Err(error) if last_renewed.elapsed() >= LEASE_TTL => {
                    return RegistryError::Internal(format!("could not renew the gc lease: {error}; stopping"));
                }
                Err(error) => tracing::warn!(%error, "could not renew the gc lease; retrying"),
            }
        }
    }

    #[allow(clippy::too_many_arguments)]
    async fn record_run(
        &self,
        started: SystemTime,
        trigger: GcTrigger,
        holder: &str,
        outcome: &str,
        dry_run: bool,
        report: Option<&GcReport>,
        detail: Option<String>,
    ) {
        let report = report.cloned().unwrap_or_default();
        let run = GcRun {
            started_at: unix_millis(started),
            finished_at: unix_millis(SystemTime::now()),
            started_by: trigger.as_str().into(),
            holder: holder.into(),
            outcome: outcome.into(),
            dry_run,
            blobs_deleted: report.blobs + report.stray_blobs,
            bytes_reclaimed: report.reclaimed_bytes(),
            manifests_deleted: report.retention.manifests,
            tags_deleted: report.retention.tags,
            detail,
        };
        // The run itself is done; failing to write its record must not turn it into an error.
        if let Err(error) = self.index.record_gc_run(&run).await {
            tracing::warn!(%error, "could not record the garbage collection run");
        }
    }

    /// Runs `run_gc` every `interval` until `stop` resolves (checked between runs; a run in
    /// progress finishes first). The first run starts one interval after the call.
    pub async fn gc_on_schedule(
        &self,
        interval: Duration,
        options: GcOptions,
        stop: impl std::future::Future<Output = ()>,
    ) {
        if let Ok(Some(finished_at)) = self.index.last_gc_success().await {
            self.metrics.record_gc_success_at(finished_at / 1000);
        }
        tokio::pin!(stop);
        loop {
            tokio::select! {
                _ = &mut stop => return,
                _ = tokio::time::sleep(interval) => {}
            }
            match self.run_gc(&options, GcTrigger::Schedule, |_, _| {}).await {
                Ok(GcRunOutcome::Ran(report)) => tracing::info!(
                    reclaimed_bytes = report.reclaimed_bytes(),
                    blobs = report.blobs + report.stray_blobs,
                    manifests = report.retention.manifests,
                    tags = report.retention.tags,
                    "scheduled garbage collection finished"
                ),
                Ok(GcRunOutcome::Skipped(_)) => {}
                Err(error) => tracing::error!(%error, "scheduled garbage collection failed; retrying next interval"),
            }
        }
    }
}
