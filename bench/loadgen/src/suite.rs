//! The whole benchmark, workload by workload, each against every target before the next
//! workload starts (so both registries see the same machine conditions), alternating which
//! target goes first on each repetition.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::Context;
use clap::Args;
use hyper::Method;
use serde_json::{json, Value};

use crate::http::Target;
use crate::load::{self, LoadSpec};
use crate::payload::{self, BigBlob, MANIFEST_ACCEPT};
use crate::rss::RssPhase;
use crate::small::{self, Direction};
use crate::{blob, emit, merged, parse_size};

#[derive(Debug, Args)]
pub struct SuiteArgs {
    /// `name=http://host:port[@pid]`, once per registry.
    #[arg(long = "target", required = true)]
    targets: Vec<String>,
    #[arg(long, default_value = "256MiB", value_parser = parse_size)]
    blob_size: u64,
    /// Repetitions of each big-blob push and pull (the median is reported).
    #[arg(long, default_value_t = 3)]
    repeat: usize,
    /// Chunk size of the streamed PATCH body.
    #[arg(long, default_value = "64KiB", value_parser = parse_size)]
    chunk: u64,
    #[arg(long, default_value_t = 1000)]
    small_count: usize,
    #[arg(long, default_value = "4KiB", value_parser = parse_size)]
    layer_size: u64,
    /// Connection counts for the small-artifact push and pull.
    #[arg(long, value_delimiter = ',', default_value = "1,16")]
    small_connections: Vec<usize>,
    #[arg(long, default_value_t = 64)]
    load_connections: usize,
    /// Seconds of manifest GET and of blob HEAD load.
    #[arg(long, default_value_t = 10.0)]
    load_seconds: f64,
    #[arg(long, value_enum, default_value = "hyper")]
    client: load::Client,
    /// Only these workload groups: blob, small, load.
    #[arg(long, value_delimiter = ',', default_value = "blob,small,load")]
    only: Vec<String>,
}

/// A seed that differs between runs, so repeated runs against the same servers push new
/// content rather than blobs the registry already has.
pub fn run_seed() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(1, |t| t.as_nanos() as u64)
}

/// Gives every push the same start: flushes dirty pages (so no push pays for the previous
/// one's writeback), then drops the clean page cache (root only; skipped otherwise). On this
/// kind of VM, page-cache writes into guest memory the host has not backed (or has taken
/// back) run at about 380 MB/s, against 4 GB/s into recently freed pages: without the drop,
/// a push's speed depends on which pages it happens to get.
pub fn settle_page_cache() {
    let _ = std::process::Command::new("sync").status();
    let _ = std::fs::write("/proc/sys/vm/drop_caches", "1");
}

fn median(values: &[f64]) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    sorted.get(sorted.len() / 2).copied().unwrap_or(0.0)
}

async fn targets(specs: &[String]) -> anyhow::Result<Vec<Target>> {
    let mut targets = Vec::new();
    for spec in specs {
        targets.push(Target::parse(spec).await?);
    }
    Ok(targets)
}

/// Indexes of targets in the order to run repetition `rep`.
fn order(count: usize, rep: usize) -> Vec<usize> {
    let mut order: Vec<usize> = (0..count).collect();
    if rep % 2 == 1 {
        order.reverse();
    }
    order
}

pub async fn run(args: SuiteArgs) -> anyhow::Result<()> {
    let targets = targets(&args.targets).await?;
    let seed = run_seed();
    let run = format!("{:x}", seed & 0xffff_ffff);
    emit(json!({
        "registry": "meta", "workload": "suite", "run": run, "blob_bytes": args.blob_size,
        "repeat": args.repeat, "chunk": args.chunk, "small_count": args.small_count,
        "layer_bytes": args.layer_size, "load_connections": args.load_connections,
        "load_seconds": args.load_seconds, "client": format!("{:?}", args.client),
    }));
    if args.only.iter().any(|group| group == "blob") {
        big_blob(&args, &targets, seed, &format!("bench/blob-{run}")).await.context("big blob")?;
    }
    let mut load_repo = None;
    if args.only.iter().any(|group| group == "small") || args.only.iter().any(|group| group == "load") {
        let connections =
            if args.only.iter().any(|group| group == "small") { args.small_connections.clone() } else { vec![16] };
        for (i, &conns) in connections.iter().enumerate() {
            let artifacts =
                Arc::new(payload::artifacts(args.small_count, args.layer_size as usize, seed ^ conns as u64));
            let repo = format!("bench/small-{run}-c{conns}");
            small_artifacts(&targets, &repo, &artifacts, conns, i, args.only.iter().any(|g| g == "small")).await?;
            if load_repo.is_none() {
                load_repo = Some((repo, artifacts));
            }
        }
    }
    if args.only.iter().any(|group| group == "load") {
        let (repo, artifacts) = load_repo.expect("artifacts pushed above");
        let duration = Duration::from_secs_f64(args.load_seconds);
        load_phases(&targets, &repo, &artifacts, args.load_connections, duration, args.client).await?;
    }
    Ok(())
}

async fn big_blob(args: &SuiteArgs, targets: &[Target], seed: u64, repo: &str) -> anyhow::Result<()> {
    let mut conns: Vec<_> = targets.iter().map(Target::connect).collect();
    let chunk = args.chunk as usize;
    // One untimed push each first: the first writes into fresh page-cache pages of a VM are
    // much slower than later ones, and that should not count against whoever goes first.
    let warm_up = BigBlob::new(args.blob_size, seed.wrapping_sub(1));
    for (t, target) in targets.iter().enumerate() {
        blob::push_streamed(&mut conns[t], repo, &warm_up, chunk)
            .await
            .with_context(|| format!("warm-up push to {}", target.name))?;
    }
    drop(warm_up);
    let mut last = None;
    for streamed in [true, false] {
        let mut phases: Vec<RssPhase> = targets.iter().map(|t| RssPhase::new(t.pid)).collect();
        let mut runs = vec![Vec::new(); targets.len()];
        for rep in 0..args.repeat {
            let blob = BigBlob::new(args.blob_size, seed.wrapping_add(rep as u64 * 2 + u64::from(streamed)));
            for t in order(targets.len(), rep) {
                settle_page_cache();
                phases[t].start();
                let elapsed = if streamed {
                    blob::push_streamed(&mut conns[t], repo, &blob, chunk).await
                } else {
                    blob::push_monolithic(&mut conns[t], repo, &blob).await
                };
                phases[t].stop();
                runs[t].push(elapsed.with_context(|| format!("{} push to {}", kind(streamed), targets[t].name))?);
            }
            last = Some(blob);
        }
        let workload = if streamed { "blob_push_streamed" } else { "blob_push_monolithic" };
        for (t, target) in targets.iter().enumerate() {
            emit(throughput_line(target, workload, args.blob_size, &runs[t], &phases[t]));
        }
    }
    let blob = last.expect("at least one repetition");
    let mut phases: Vec<RssPhase> = targets.iter().map(|t| RssPhase::new(t.pid)).collect();
    let mut runs = vec![Vec::new(); targets.len()];
    for (t, target) in targets.iter().enumerate() {
        blob::pull(&mut conns[t], repo, &blob, true)
            .await
            .with_context(|| format!("verified pull from {}", target.name))?;
    }
    for rep in 0..args.repeat {
        for t in order(targets.len(), rep) {
            phases[t].start();
            let elapsed = blob::pull(&mut conns[t], repo, &blob, false).await;
            phases[t].stop();
            runs[t].push(elapsed.with_context(|| format!("pull from {}", targets[t].name))?);
        }
    }
    for (t, target) in targets.iter().enumerate() {
        let line = throughput_line(target, "blob_pull", args.blob_size, &runs[t], &phases[t]);
        emit(merged(
            line,
            &[json!({ "verified": "sha256 checked on one separate untimed pull; timed pulls count bytes" })],
        ));
    }
    Ok(())
}

fn kind(streamed: bool) -> &'static str {
    if streamed {
        "streamed"
    } else {
        "monolithic"
    }
}

fn throughput_line(target: &Target, workload: &str, bytes: u64, runs: &[Duration], phase: &RssPhase) -> Value {
    let seconds: Vec<f64> = runs.iter().map(Duration::as_secs_f64).collect();
    let median = median(&seconds);
    merged(
        json!({
            "registry": target.name, "workload": workload, "bytes": bytes, "runs_s": seconds,
            "seconds": median, "mb_per_s": bytes as f64 / median / 1e6,
        }),
        &[phase.json()],
    )
}

async fn small_artifacts(
    targets: &[Target],
    repo: &str,
    artifacts: &Arc<Vec<payload::Artifact>>,
    connections: usize,
    rep: usize,
    measured: bool,
) -> anyhow::Result<()> {
    for (direction, name) in [(Direction::Push, "small_push"), (Direction::Pull, "small_pull")] {
        if !measured && matches!(direction, Direction::Pull) {
            continue;
        }
        for t in order(targets.len(), rep) {
            let target = &targets[t];
            let mut phase = RssPhase::new(target.pid);
            phase.start();
            let elapsed = small::run(target, repo, artifacts.clone(), connections, direction).await;
            phase.stop();
            let elapsed = elapsed.with_context(|| format!("{name} x{connections} on {}", target.name))?;
            let seconds = elapsed.as_secs_f64();
            emit(merged(
                json!({
                    "registry": target.name, "workload": format!("{name}_c{connections}"),
                    "artifacts": artifacts.len(), "connections": connections, "seconds": seconds,
                    "artifacts_per_s": artifacts.len() as f64 / seconds,
                }),
                &[phase.json()],
            ));
        }
    }
    Ok(())
}

async fn load_phases(
    targets: &[Target],
    repo: &str,
    artifacts: &[payload::Artifact],
    connections: usize,
    duration: Duration,
    client: load::Client,
) -> anyhow::Result<()> {
    let manifest = Arc::new(vec![format!("/v2/{repo}/manifests/{}", artifacts[0].tag)]);
    let heads = Arc::new(artifacts.iter().map(|a| format!("/v2/{repo}/blobs/{}", a.layer.digest)).collect::<Vec<_>>());
    let specs = [
        (
            "manifest_get",
            LoadSpec {
                method: Method::GET,
                paths: manifest,
                accept: Some(MANIFEST_ACCEPT),
                connections,
                duration,
                client,
            },
        ),
        ("blob_head", LoadSpec { method: Method::HEAD, paths: heads, accept: None, connections, duration, client }),
    ];
    for (workload, spec) in &specs {
        for target in targets {
            let mut phase = RssPhase::new(target.pid);
            phase.start();
            let result = load::run(target, spec).await;
            phase.stop();
            let result = result.with_context(|| format!("{workload} on {}", target.name))?;
            emit(merged(
                json!({ "registry": target.name, "workload": workload, "connections": connections }),
                &[result.json(), phase.json()],
            ));
        }
    }
    Ok(())
}

/// `loadgen load`: pushes `artifacts` artifacts (16 connections), then one load phase.
pub async fn standalone_load(
    specs: Vec<String>,
    what: &str,
    connections: usize,
    duration: Duration,
    client: load::Client,
    count: usize,
    repo: &str,
) -> anyhow::Result<()> {
    let targets = targets(&specs).await?;
    let artifacts = Arc::new(payload::artifacts(count.max(1), 4096, run_seed()));
    for target in &targets {
        small::run(target, repo, artifacts.clone(), 16, Direction::Push).await?;
    }
    let paths = match what {
        "manifest-get" => vec![format!("/v2/{repo}/manifests/{}", artifacts[0].tag)],
        "blob-head" => artifacts.iter().map(|a| format!("/v2/{repo}/blobs/{}", a.layer.digest)).collect(),
        other => anyhow::bail!("--what {other:?}: use manifest-get or blob-head"),
    };
    let (method, accept) =
        if what == "blob-head" { (Method::HEAD, None) } else { (Method::GET, Some(MANIFEST_ACCEPT)) };
    let spec = LoadSpec { method, paths: Arc::new(paths), accept, connections, duration, client };
    for target in &targets {
        let mut phase = RssPhase::new(target.pid);
        phase.start();
        let result = load::run(target, &spec).await?;
        phase.stop();
        emit(merged(
            json!({ "registry": target.name, "workload": what.replace('-', "_"), "connections": connections,
                    "client": format!("{client:?}") }),
            &[result.json(), phase.json()],
        ));
    }
    Ok(())
}
