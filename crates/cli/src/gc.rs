//! `wasmhub gc` and `wasmhub fsck`: the operator's maintenance commands. Both are safe while
//! `wasmhub serve` runs on the same data (see `wasmhub_registry::gc`), show a progress bar
//! when stderr is a terminal, and end with a summary.

use std::io::IsTerminal;
use std::time::{Duration, Instant};

use anyhow::Context;
use clap::Args;
use indicatif::{HumanBytes, ProgressBar, ProgressStyle};
use wasmhub_registry::{FsckOptions, FsckSample, GcOptions, GcPhase, GcRunOutcome, GcTrigger};

use crate::config::DatabaseArgs;

/// Parses `90s`, `15m`, `1h`, `2d`, `1h 30m`, or `0s`.
pub(crate) fn duration(text: &str) -> Result<Duration, String> {
    humantime::parse_duration(text).map_err(|error| format!("{error} (e.g. 30s, 15m, 1h, 7d)"))
}

#[derive(Debug, Clone, Args)]
pub struct GcArgs {
    #[command(flatten)]
    pub database: DatabaseArgs,

    /// Blob storage: file://<directory> or s3://<bucket>/<prefix>.
    #[arg(long, env = "WASMHUB_STORAGE_URL", default_value = "file://./data/blobs")]
    pub storage_url: String,

    /// Report what would be removed and how many bytes, and remove nothing.
    #[arg(long)]
    pub dry_run: bool,

    /// Blobs and objects younger than this are never collected (a push in progress).
    #[arg(long, env = "WASMHUB_GC_GRACE", default_value = "1h", value_parser = duration)]
    pub grace: Duration,

    /// Upload sessions not written to for this long are abandoned.
    #[arg(long, env = "WASMHUB_GC_UPLOAD_MAX_AGE", default_value = "24h", value_parser = duration)]
    pub upload_max_age: Duration,

    /// Audit log entries older than this are deleted (e.g. `365d`); unset keeps them all.
    #[arg(long, env = "WASMHUB_AUDIT_MAX_AGE", value_parser = duration)]
    pub audit_max_age: Option<Duration>,

    /// Rows or objects handled per database query.
    #[arg(long, default_value_t = 500, value_parser = clap::value_parser!(u32).range(1..=10_000))]
    pub batch_size: u32,
}

#[derive(Debug, Clone, Args)]
pub struct FsckArgs {
    #[command(flatten)]
    pub database: DatabaseArgs,

    /// Blob storage: file://<directory> or s3://<bucket>/<prefix>.
    #[arg(long, env = "WASMHUB_STORAGE_URL", default_value = "file://./data/blobs")]
    pub storage_url: String,

    /// Which blobs to re-hash, chosen at random: `all`, a percentage (`5%`), a fraction
    /// (`0.05`) or a number of blobs (`200`). Every blob's size is checked regardless.
    #[arg(long, default_value = "all")]
    pub sample: FsckSample,

    /// Re-hash only blobs not verified for this long (e.g. 30d), so that a daily run with a
    /// sample covers everything over time. Verification times are stored per blob.
    #[arg(long, value_parser = duration)]
    pub not_checked_for: Option<Duration>,

    /// Remove what nothing depends on: stray objects, and corrupt or missing blobs that no
    /// manifest references. Referenced blobs are only reported.
    #[arg(long)]
    pub repair: bool,

    /// Objects younger than this are not reported as strays (a push in progress).
    #[arg(long, env = "WASMHUB_GC_GRACE", default_value = "1h", value_parser = duration)]
    pub grace: Duration,
}

fn progress_bar(template: &str) -> ProgressBar {
    if !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new_spinner();
    bar.set_style(ProgressStyle::with_template(template).unwrap_or_else(|_| ProgressStyle::default_spinner()));
    bar.enable_steady_tick(Duration::from_millis(120));
    bar
}

pub async fn gc(args: GcArgs) -> anyhow::Result<()> {
    let registry = crate::open_registry(&args.database.database_url, &args.storage_url, Default::default()).await?;
    let options = GcOptions {
        grace: args.grace,
        upload_max_age: args.upload_max_age,
        audit_max_age: args.audit_max_age,
        dry_run: args.dry_run,
        batch_size: args.batch_size,
    };
    let bar = progress_bar("{spinner} {elapsed} {msg}");
    let started = Instant::now();
    let outcome = registry
        .run_gc(&options, GcTrigger::Cli, |phase, so_far| {
            let phase = match phase {
                GcPhase::Retention => "retention policies",
                GcPhase::Uploads => "abandoned uploads",
                GcPhase::Links => "unreferenced links",
                GcPhase::Blobs => "unreferenced blobs",
                GcPhase::StrayBlobs => "stray objects",
                GcPhase::StrayParts => "stray upload parts",
            };
            bar.set_message(format!("{phase}: {} reclaimed so far", HumanBytes(so_far.reclaimed_bytes())));
        })
        .await
        .context("garbage collection")?;
    bar.finish_and_clear();
    let report = match outcome {
        GcRunOutcome::Ran(report) => report,
        GcRunOutcome::Skipped(current) => {
            // Not an error: the other run does the work (a cron job should not page anyone).
            tracing::warn!(holder = %current.holder, "another garbage collection is running; skipped");
            registry.index().close().await;
            return Ok(());
        }
    };
    let verb = if args.dry_run { "would remove" } else { "removed" };
    tracing::info!(
        dry_run = args.dry_run,
        uploads = report.uploads,
        links = report.links,
        blobs = report.blobs,
        stray_blobs = report.stray_blobs,
        stray_parts = report.stray_parts,
        spared = report.spared,
        failures = report.failures,
        seconds = started.elapsed().as_secs_f64(),
        "gc {verb} {} ({} blobs, {} stray objects, {} abandoned uploads, {} stray parts, {} unreferenced links; \
         retention: {} tags, {} untagged manifests; {} audit log entries)",
        HumanBytes(report.reclaimed_bytes()),
        report.blobs,
        report.stray_blobs,
        report.uploads,
        report.stray_parts,
        report.links,
        report.retention.tags,
        report.retention.manifests,
        report.audit_entries,
    );
    registry.index().close().await;
    if report.failures > 0 {
        anyhow::bail!("{} objects could not be deleted (see the log); the next run retries", report.failures);
    }
    Ok(())
}

pub async fn fsck(args: FsckArgs) -> anyhow::Result<()> {
    let registry = crate::open_registry(&args.database.database_url, &args.storage_url, Default::default()).await?;
    let options = FsckOptions {
        sample: args.sample,
        not_checked_for: args.not_checked_for,
        repair: args.repair,
        grace: args.grace,
        ..FsckOptions::default()
    };
    let bar = progress_bar("{spinner} {elapsed} {pos} blobs checked");
    let report = registry.fsck(&options, |checked| bar.set_position(checked)).await.context("integrity check")?;
    bar.finish_and_clear();
    for finding in report.findings() {
        let used_by: Vec<String> =
            finding.used_by.iter().map(|used| format!("{}@{}", used.repository, used.manifest)).collect();
        tracing::warn!(
            digest = %finding.digest,
            problem = %finding.problem,
            repaired = finding.repaired,
            manifests = %used_by.join(", "),
            "fsck finding"
        );
    }
    let repaired = report.findings().filter(|finding| finding.repaired).count();
    tracing::info!(
        blobs = report.blobs,
        rehashed = report.rehashed,
        rehashed_bytes = report.rehashed_bytes,
        recently_verified = report.recently_verified,
        manifests_marked_damaged = report.manifests_marked,
        corrupt = report.corrupt.len(),
        missing = report.missing.len(),
        strays = report.strays.len(),
        repaired,
        "fsck finished"
    );
    registry.index().close().await;
    if report.problems() > 0 {
        anyhow::bail!(
            "fsck found {} problems ({} corrupt, {} missing, {} stray; {repaired} repaired)",
            report.problems(),
            report.corrupt.len(),
            report.missing.len(),
            report.strays.len()
        );
    }
    Ok(())
}
