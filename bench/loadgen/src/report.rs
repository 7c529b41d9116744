//! The Markdown report of a run: absolute figures for both registries, the ratio (oriented so
//! that above 1 is better for wasmhub), the target and whether it is met, and for
//! pushes how close each registry gets to the machine's limit (min of sha256 and disk speed).

use std::collections::HashMap;
use std::fmt::Write as _;
use std::path::PathBuf;

use anyhow::Context;
use clap::Args;
use serde_json::Value;

#[derive(Debug, Args)]
pub struct ReportArgs {
    /// The JSON lines of the run (loadgen output and bench/run's own measurements).
    #[arg(long)]
    input: PathBuf,
    /// Where to write the Markdown (it is also printed).
    #[arg(long)]
    out: Option<PathBuf>,
    /// Registry names in the JSON lines.
    #[arg(long, default_value = "reference")]
    reference: String,
    #[arg(long, default_value = "wasmhub")]
    wasmhub: String,
    /// A line of context printed under the title (command, backend, date).
    #[arg(long, default_value = "")]
    context: String,
}

struct Results(HashMap<(String, String), Value>);

impl Results {
    fn get(&self, registry: &str, workload: &str) -> Option<&Value> {
        self.0.get(&(registry.to_owned(), workload.to_owned()))
    }

    fn number(&self, registry: &str, workload: &str, field: &str) -> Option<f64> {
        self.get(registry, workload)?.get(field)?.as_f64()
    }
}

#[derive(Clone, Copy, PartialEq)]
enum Better {
    Higher,
    Lower,
}

enum Target {
    None,
    Ratio(f64),
    /// Ratio, and a fraction of the machine's push limit.
    RatioAndLimit(f64, f64),
    /// Ratio; the share of the loopback TCP limit is shown beside it.
    RatioOfPullLimit(f64),
    /// An absolute upper bound on wasmhub's value.
    Below(f64),
}

struct Row {
    label: &'static str,
    workload: &'static str,
    field: &'static str,
    better: Better,
    target: Target,
}

const fn row(label: &'static str, workload: &'static str, field: &'static str, better: Better, target: Target) -> Row {
    Row { label, workload, field, better, target }
}

const ROWS: &[Row] = &[
    row(
        "big blob streamed push, MB/s",
        "blob_push_streamed",
        "mb_per_s",
        Better::Higher,
        Target::RatioAndLimit(4.0, 0.7),
    ),
    row(
        "big blob monolithic push, MB/s",
        "blob_push_monolithic",
        "mb_per_s",
        Better::Higher,
        Target::RatioAndLimit(4.0, 0.7),
    ),
    row("big blob pull, MB/s", "blob_pull", "mb_per_s", Better::Higher, Target::RatioOfPullLimit(2.0)),
    row(
        "small artifacts push, 1 conn, artifacts/s",
        "small_push_c1",
        "artifacts_per_s",
        Better::Higher,
        Target::Ratio(4.0),
    ),
    row(
        "small artifacts push, 16 conns, artifacts/s",
        "small_push_c16",
        "artifacts_per_s",
        Better::Higher,
        Target::Ratio(4.0),
    ),
    row(
        "small artifacts pull, 1 conn, artifacts/s",
        "small_pull_c1",
        "artifacts_per_s",
        Better::Higher,
        Target::Ratio(4.0),
    ),
    row(
        "small artifacts pull, 16 conns, artifacts/s",
        "small_pull_c16",
        "artifacts_per_s",
        Better::Higher,
        Target::Ratio(4.0),
    ),
    row("manifest GET, 64 conns, req/s", "manifest_get", "requests_per_s", Better::Higher, Target::Ratio(10.0)),
    row("manifest GET p50, ms", "manifest_get", "p50_ms", Better::Lower, Target::None),
    row("manifest GET p99, ms", "manifest_get", "p99_ms", Better::Lower, Target::Below(10.0)),
    row("blob HEAD, 64 conns, req/s", "blob_head", "requests_per_s", Better::Higher, Target::None),
    row("blob HEAD p50, ms", "blob_head", "p50_ms", Better::Lower, Target::None),
    row("blob HEAD p99, ms", "blob_head", "p99_ms", Better::Lower, Target::None),
];

const PHASES: &[(&str, &str)] = &[
    ("blob_push_streamed", "big blob streamed push"),
    ("blob_push_monolithic", "big blob monolithic push"),
    ("blob_pull", "big blob pull"),
    ("small_push_c1", "small push, 1 conn"),
    ("small_push_c16", "small push, 16 conns"),
    ("small_pull_c1", "small pull, 1 conn"),
    ("small_pull_c16", "small pull, 16 conns"),
    ("manifest_get", "manifest GET load"),
    ("blob_head", "blob HEAD load"),
    ("blob_push_streamed_large", "large streamed push (wasmhub only)"),
];

const RSS_LIMIT_MIB: f64 = 64.0;

fn fmt(value: Option<f64>) -> String {
    match value {
        None => "–".into(),
        Some(v) if v >= 100.0 => format!("{v:.0}"),
        Some(v) if v >= 10.0 => format!("{v:.1}"),
        Some(v) => format!("{v:.2}"),
    }
}

fn human_size(bytes: f64) -> String {
    if bytes >= 1073741824.0 {
        format!("{:.0} GiB", bytes / 1073741824.0)
    } else {
        format!("{:.0} MiB", bytes / 1048576.0)
    }
}

fn mib(kib: Option<f64>) -> String {
    kib.map_or("–".into(), |kib| format!("{:.1}", kib / 1024.0))
}

fn yes_no(met: Option<bool>) -> &'static str {
    match met {
        Some(true) => "yes",
        Some(false) => "**no**",
        None => "",
    }
}

pub fn run(args: ReportArgs) -> anyhow::Result<()> {
    let text = std::fs::read_to_string(&args.input).with_context(|| format!("reading {}", args.input.display()))?;
    let mut results = HashMap::new();
    for line in text.lines().filter(|line| line.trim_start().starts_with('{')) {
        let value: Value = serde_json::from_str(line).with_context(|| format!("parsing {line}"))?;
        let key = |field: &str| value.get(field).and_then(Value::as_str).unwrap_or_default().to_owned();
        results.insert((key("registry"), key("workload")), value);
    }
    let markdown = render(&Results(results), &args);
    print!("{markdown}");
    if let Some(out) = &args.out {
        std::fs::write(out, &markdown).with_context(|| format!("writing {}", out.display()))?;
    }
    Ok(())
}

fn render(results: &Results, args: &ReportArgs) -> String {
    let (reference, wasmhub) = (args.reference.as_str(), args.wasmhub.as_str());
    let sha256 = results.number("machine", "limit_sha256", "mb_per_s");
    let disk = results.number("machine", "limit_disk_write", "mb_per_s");
    let limit = match (sha256, disk) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    };
    let loopback = results.number("machine", "limit_loopback_tcp", "mb_per_s");
    let mut out = String::new();
    let meta = results.get("meta", "suite");
    let blob = human_size(meta.and_then(|m| m.get("blob_bytes")).and_then(Value::as_f64).unwrap_or(0.0));
    let small = meta.and_then(|m| m.get("small_count")).and_then(Value::as_u64).unwrap_or(0);
    let seconds = meta.and_then(|m| m.get("load_seconds")).and_then(Value::as_f64).unwrap_or(0.0);
    let _ = writeln!(out, "### wasmhub vs reference (docker-registry 2.8)\n");
    if !args.context.is_empty() {
        let _ = writeln!(out, "{}\n", args.context);
    }
    let _ = writeln!(
        out,
        "Big blob: {blob}, median of the repetitions. Small artifacts: {small}. Load phases: {seconds:.0} s each.\n"
    );
    let _ = writeln!(
        out,
        "| workload | reference | wasmhub | ratio (>1: wasmhub better) | target | met | wasmhub % of machine limit |"
    );
    let _ = writeln!(out, "|---|---:|---:|---:|---|---|---:|");
    let (mut met_count, mut total) = (0, 0);
    for row in ROWS {
        let r = results.number(reference, row.workload, row.field);
        let w = results.number(wasmhub, row.workload, row.field);
        let ratio = match (r, w, row.better) {
            (Some(r), Some(w), Better::Higher) if r > 0.0 => Some(w / r),
            (Some(r), Some(w), Better::Lower) if w > 0.0 => Some(r / w),
            _ => None,
        };
        let share = match row.target {
            Target::RatioAndLimit(..) => w.zip(limit).map(|(w, limit)| w / limit),
            Target::RatioOfPullLimit(..) => w.zip(loopback).map(|(w, limit)| w / limit),
            _ => None,
        };
        let (target, met) = match row.target {
            Target::None => (String::new(), None),
            Target::Ratio(x) | Target::RatioOfPullLimit(x) => (format!("≥{x}×"), ratio.map(|ratio| ratio >= x)),
            Target::RatioAndLimit(x, f) => (
                format!("≥{x}× and ≥{:.0}% of limit", f * 100.0),
                ratio.zip(share).map(|(ratio, share)| ratio >= x && share >= f),
            ),
            Target::Below(ms) => (format!("< {ms} ms"), w.map(|w| w < ms)),
        };
        if let Some(met) = met {
            total += 1;
            met_count += usize::from(met);
        }
        let ratio = ratio.map_or("–".into(), |ratio| format!("{ratio:.2}×"));
        let share = share.map_or(String::new(), |share| format!("{:.0}%", share * 100.0));
        let _ = writeln!(
            out,
            "| {} | {} | {} | {ratio} | {target} | {} | {share} |",
            row.label,
            fmt(r),
            fmt(w),
            yes_no(met)
        );
    }
    let errors: Vec<String> = ["manifest_get", "blob_head"]
        .iter()
        .flat_map(|workload| [reference, wasmhub].map(|registry| (registry, *workload)))
        .filter_map(|(registry, workload)| {
            let errors = results.number(registry, workload, "errors").unwrap_or(0.0);
            (errors > 0.0).then(|| format!("{registry} {workload}: {errors} non-2xx responses"))
        })
        .collect();
    if !errors.is_empty() {
        let _ = writeln!(out, "\nErrors: {}", errors.join("; "));
    }

    let _ = writeln!(out, "\nServer memory per phase (MiB; peak = VmHWM reset at phase start, steady = median VmRSS sampled every 20 ms):\n");
    let _ = writeln!(out, "| phase | reference peak | reference steady | wasmhub peak | wasmhub steady | wasmhub peak < {RSS_LIMIT_MIB} MiB |");
    let _ = writeln!(out, "|---|---:|---:|---:|---:|---|");
    for (workload, label) in PHASES {
        let value = |registry: &str, field: &str| results.number(registry, workload, field);
        let wasmhub_peak = value(wasmhub, "rss_peak_kib");
        if value(reference, "rss_peak_kib").is_none() && wasmhub_peak.is_none() {
            continue;
        }
        let met = wasmhub_peak.map(|kib| kib / 1024.0 < RSS_LIMIT_MIB);
        if let Some(met) = met {
            total += 1;
            met_count += usize::from(met);
        }
        let mut label = label.to_string();
        if *workload == "blob_push_streamed_large" {
            let size = human_size(results.number(wasmhub, workload, "bytes").unwrap_or(0.0));
            let speed = fmt(results.number(wasmhub, workload, "mb_per_s"));
            label = format!("{size} streamed push (wasmhub only: {speed} MB/s)");
        }
        let _ = writeln!(
            out,
            "| {label} | {} | {} | {} | {} | {} |",
            mib(value(reference, "rss_peak_kib")),
            mib(value(reference, "rss_steady_kib")),
            mib(wasmhub_peak),
            mib(value(wasmhub, "rss_steady_kib")),
            yes_no(met)
        );
    }

    let _ = writeln!(out, "\nMachine limits, measured in the same run:\n");
    let _ = writeln!(out, "| limit | MB/s |\n|---|---:|");
    let _ = writeln!(out, "| sha256, `wasmhub_oci::DigestHasher` (wasmhub's hashing code) | {} |", fmt(sha256));
    let sha2 = results.number("machine", "limit_sha256", "sha2_crate_mb_per_s");
    let _ = writeln!(out, "| sha256, `sha2::Sha256` (for comparison) | {} |", fmt(sha2));
    let _ = writeln!(out, "| data-dir disk write, buffered (`dd bs=8M`) | {} |", fmt(disk));
    let synced = results.number("machine", "limit_disk_write_fdatasync", "mb_per_s");
    let _ = writeln!(out, "| data-dir disk write, `conv=fdatasync` | {} |", fmt(synced));
    let _ = writeln!(
        out,
        "| **push limit** = min(sha256, buffered disk write): wasmhub does not fsync blob data (the reference fsyncs every file it writes) | {} |",
        fmt(limit)
    );
    let _ = writeln!(
        out,
        "| **pull limit**: loopback TCP, one connection, buffer to buffer (`loadgen tcp-speed`) | {} |",
        fmt(loopback)
    );
    if let Some(loopback) = loopback {
        let share = |registry: &str| {
            results
                .number(registry, "blob_pull", "mb_per_s")
                .map_or("–".into(), |v| format!("{:.0}%", v / loopback * 100.0))
        };
        let _ = writeln!(
            out,
            "\nShare of the pull limit: reference {} / wasmhub {}; a pull at 2× the reference would need {} MB/s.",
            share(reference),
            share(wasmhub),
            fmt(results.number(reference, "blob_pull", "mb_per_s").map(|v| v * 2.0))
        );
    }
    if let Some(limit) = limit {
        let share = |registry: &str, workload: &str| {
            results
                .number(registry, workload, "mb_per_s")
                .map_or("–".into(), |v| format!("{:.0}%", v / limit * 100.0))
        };
        let _ = writeln!(
            out,
            "\nShare of the push limit: streamed push reference {} / wasmhub {}; monolithic push reference {} / wasmhub {}.",
            share(reference, "blob_push_streamed"),
            share(wasmhub, "blob_push_streamed"),
            share(reference, "blob_push_monolithic"),
            share(wasmhub, "blob_push_monolithic")
        );
        let _ = writeln!(
            out,
            "A push at 4× the reference would need {} MB/s (streamed) and {} MB/s (monolithic).",
            fmt(results.number(reference, "blob_push_streamed", "mb_per_s").map(|v| v * 4.0)),
            fmt(results.number(reference, "blob_push_monolithic", "mb_per_s").map(|v| v * 4.0))
        );
    }
    let _ = writeln!(out, "\nTargets met: {met_count} of {total}.");
    out
}
