//! `loadgen`: the load generator of the side-by-side registry benchmark (`bench/run`).
//!
//! Every workload runs against each `--target name=http://host:port[@pid]` in turn (the
//! order alternates between repetitions), and prints one JSON line per workload and target
//! on stdout; a human summary goes to stderr. With a pid, the server's RSS is sampled during
//! each phase.

mod blob;
mod http;
mod load;
mod payload;
mod report;
mod rss;
mod small;
mod suite;

use std::time::{Duration, Instant};

use clap::{Args, Parser, Subcommand};
use serde_json::{json, Value};

#[derive(Debug, Parser)]
#[command(name = "loadgen", about = "Load generator for the wasmhub side-by-side registry benchmark")]
struct Cli {
    /// Tokio worker threads of the load generator.
    #[arg(long, global = true, default_value_t = 2)]
    threads: usize,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Every workload (big blob, small artifacts, manifest GET and blob HEAD load), against
    /// every target, interleaved.
    Suite(suite::SuiteArgs),
    /// One streamed push (POST, one chunked PATCH, PUT) of a blob of any size, e.g. 2GiB: the
    /// client holds at most 256 MiB and sends it repeatedly.
    StreamPush(StreamPushArgs),
    /// Fixed-time load on its own (pushes the artifacts it needs first): for profiling.
    Load(LoadArgs),
    /// Throughput of the sha256 code wasmhub hashes with (`wasmhub_oci::DigestHasher`),
    /// beside the `sha2` crate's own `Sha256`.
    Sha256Speed {
        #[arg(long, default_value = "256MiB", value_parser = parse_size)]
        size: u64,
        #[arg(long, default_value_t = 3)]
        repeat: usize,
    },
    /// Loopback TCP throughput, one connection, user-space buffer to user-space buffer: the
    /// most any pull over loopback can reach on this machine.
    TcpSpeed {
        #[arg(long, default_value = "1GiB", value_parser = parse_size)]
        size: u64,
        #[arg(long, default_value_t = 3)]
        repeat: usize,
    },
    /// Turns the JSON lines of a run into the Markdown table.
    Report(report::ReportArgs),
}

#[derive(Debug, Args)]
struct StreamPushArgs {
    #[arg(long = "target", required = true)]
    targets: Vec<String>,
    #[arg(long, default_value = "2GiB", value_parser = parse_size)]
    size: u64,
    #[arg(long, default_value = "65536", value_parser = parse_size)]
    chunk: u64,
    #[arg(long, default_value = "bench/huge")]
    repo: String,
    /// Workload name in the JSON line.
    #[arg(long, default_value = "blob_push_streamed_large")]
    workload: String,
    /// Then pull the blob this many times (for profiling the pull path), one line each.
    #[arg(long, default_value_t = 0)]
    pulls: usize,
}

#[derive(Debug, Args)]
struct LoadArgs {
    #[arg(long = "target", required = true)]
    targets: Vec<String>,
    /// `manifest-get` or `blob-head`.
    #[arg(long, default_value = "manifest-get")]
    what: String,
    #[arg(long, default_value_t = 64)]
    connections: usize,
    #[arg(long, default_value_t = 10.0)]
    seconds: f64,
    #[arg(long, value_enum, default_value = "hyper")]
    client: load::Client,
    #[arg(long, default_value_t = 100)]
    artifacts: usize,
    #[arg(long, default_value = "bench/load")]
    repo: String,
}

/// `4096`, `64KiB`, `256MiB`, `2GiB`.
pub fn parse_size(text: &str) -> Result<u64, String> {
    let text = text.trim();
    let digits = text.find(|c: char| !c.is_ascii_digit()).unwrap_or(text.len());
    let number: u64 = text[..digits].parse().map_err(|_| format!("{text:?} is not a size"))?;
    let unit = match &text[digits..] {
        "" | "B" => 1,
        "KiB" | "K" => 1 << 10,
        "MiB" | "M" => 1 << 20,
        "GiB" | "G" => 1 << 30,
        other => return Err(format!("unknown size unit {other:?} (B, KiB, MiB, GiB)")),
    };
    Ok(number * unit)
}

/// Prints one result line (stdout) and its gist (stderr).
pub fn emit(line: Value) {
    println!("{line}");
    let gist: Vec<String> = line
        .as_object()
        .into_iter()
        .flatten()
        .filter(|(key, _)| !matches!(key.as_str(), "runs_s" | "rss_samples"))
        .map(|(key, value)| match value.as_f64() {
            Some(number) if value.is_f64() => format!("{key}={number:.2}"),
            _ => format!("{key}={value}"),
        })
        .collect();
    eprintln!("  {}", gist.join(" "));
}

/// Merges the fields of `extra` (objects) into `line`.
pub fn merged(mut line: Value, extras: &[Value]) -> Value {
    for extra in extras {
        if let (Some(line), Some(extra)) = (line.as_object_mut(), extra.as_object()) {
            line.extend(extra.iter().map(|(k, v)| (k.clone(), v.clone())));
        }
    }
    line
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let runtime =
        tokio::runtime::Builder::new_multi_thread().worker_threads(cli.threads.max(1)).enable_all().build()?;
    runtime.block_on(async move {
        match cli.command {
            Command::Suite(args) => suite::run(args).await,
            Command::StreamPush(args) => stream_push(args).await,
            Command::Load(args) => {
                suite::standalone_load(
                    args.targets,
                    &args.what,
                    args.connections,
                    Duration::from_secs_f64(args.seconds),
                    args.client,
                    args.artifacts,
                    &args.repo,
                )
                .await
            }
            Command::Sha256Speed { size, repeat } => {
                sha256_speed(size, repeat);
                Ok(())
            }
            Command::TcpSpeed { size, repeat } => tcp_speed(size, repeat).await,
            Command::Report(args) => report::run(args),
        }
    })
}

async fn stream_push(args: StreamPushArgs) -> anyhow::Result<()> {
    let blob = payload::BigBlob::new(args.size, suite::run_seed());
    for spec in &args.targets {
        let target = http::Target::parse(spec).await?;
        let mut conn = target.connect();
        suite::settle_page_cache();
        let mut phase = rss::RssPhase::new(target.pid);
        phase.start();
        let elapsed = blob::push_streamed(&mut conn, &args.repo, &blob, args.chunk as usize).await?;
        phase.stop();
        emit(merged(
            json!({
                "registry": target.name,
                "workload": args.workload,
                "bytes": blob.size(),
                "seconds": elapsed.as_secs_f64(),
                "mb_per_s": blob.size() as f64 / elapsed.as_secs_f64() / 1e6,
            }),
            &[phase.json()],
        ));
        for _ in 0..args.pulls {
            let mut phase = rss::RssPhase::new(target.pid);
            phase.start();
            let elapsed = blob::pull(&mut conn, &args.repo, &blob, false).await?;
            phase.stop();
            emit(merged(
                json!({
                    "registry": target.name,
                    "workload": "blob_pull_large",
                    "bytes": blob.size(),
                    "seconds": elapsed.as_secs_f64(),
                    "mb_per_s": blob.size() as f64 / elapsed.as_secs_f64() / 1e6,
                }),
                &[phase.json()],
            ));
        }
    }
    Ok(())
}

/// Hashes a buffer in 1 MiB updates, with `DigestHasher` and with `sha2::Sha256`.
fn sha256_speed(size: u64, repeat: usize) {
    use sha2::Digest as _;
    let data = payload::random_bytes(size as usize, 42);
    let best = |hash: &dyn Fn()| {
        (0..repeat.max(1))
            .map(|_| {
                let started = Instant::now();
                hash();
                size as f64 / started.elapsed().as_secs_f64() / 1e6
            })
            .fold(0.0, f64::max)
    };
    let digest_hasher = best(&|| {
        std::hint::black_box(payload::digest_repeated(&data, 1));
    });
    let sha2_crate = best(&|| {
        let mut hasher = sha2::Sha256::new();
        for chunk in data.chunks(1 << 20) {
            hasher.update(chunk);
        }
        std::hint::black_box(hasher.finalize());
    });
    emit(json!({
        "registry": "machine",
        "workload": "limit_sha256",
        "bytes": size,
        "mb_per_s": digest_hasher,
        "sha2_crate_mb_per_s": sha2_crate,
        "hasher": "wasmhub_oci::DigestHasher, 1 MiB updates, best of runs",
    }));
}

/// Best of `repeat` transfers of `size` bytes over one loopback connection: a writer task
/// sends a 1 MiB buffer over and over, the reader reads into a 256 KiB buffer and drops it.
async fn tcp_speed(size: u64, repeat: usize) -> anyhow::Result<()> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let mut best = 0f64;
    for _ in 0..repeat.max(1) {
        let writer = tokio::spawn(async move {
            let (mut socket, _) = listener.accept().await?;
            let buffer = payload::random_bytes(1 << 20, 3);
            let mut sent = 0u64;
            while sent < size {
                let n = (size - sent).min(buffer.len() as u64) as usize;
                socket.write_all(&buffer[..n]).await?;
                sent += n as u64;
            }
            socket.shutdown().await?;
            Ok::<_, std::io::Error>(listener)
        });
        let mut socket = tokio::net::TcpStream::connect(addr).await?;
        let mut buffer = vec![0u8; 256 << 10];
        let started = Instant::now();
        let mut received = 0u64;
        loop {
            let n = socket.read(&mut buffer).await?;
            if n == 0 {
                break;
            }
            received += n as u64;
        }
        let elapsed = started.elapsed();
        anyhow::ensure!(received == size, "received {received} of {size} bytes");
        best = best.max(size as f64 / elapsed.as_secs_f64() / 1e6);
        listener = writer.await??;
    }
    emit(json!({
        "registry": "machine",
        "workload": "limit_loopback_tcp",
        "bytes": size,
        "mb_per_s": best,
        "how": "one loopback TCP connection, 1 MiB writes, 256 KiB reads, best of runs",
    }));
    Ok(())
}
