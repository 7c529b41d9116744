//! `searchbench`: how fast is a filtered search with 100,000 tagged modules indexed?
//!
//! Seeds the index directly through `wasmhub_index` (`Index::put_manifest`, the push path's
//! own transaction, without blobs), on SQLite (a temporary file) and, with `--postgres-url`,
//! on PostgreSQL (a fresh schema, dropped afterwards), then times representative queries
//! through `Index::search`, what `/api/v1/search` and the web catalog's pages call through
//! `Registry::search` (items, total and the three facets), for the caller `--visibility`
//! names. Prints p50/p99 per query as a Markdown table.

mod seed;

use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use clap::Parser;
use futures::{stream, StreamExt, TryStreamExt};
use wasmhub_index::{query_words, Index, NewManifest, SearchQuery, SearchSort, Visibility};
use wasmhub_oci::{Algorithm, Digest, MediaType, RepoName, Tag};

#[derive(Parser)]
struct Args {
    /// Tagged modules to index.
    #[arg(long, default_value_t = 100_000)]
    modules: usize,
    /// Tags per repository.
    #[arg(long, default_value_t = 5)]
    tags_per_repository: usize,
    /// Timed runs of each query (after 5 warm-up runs).
    #[arg(long, default_value_t = 200)]
    runs: usize,
    /// Also run on PostgreSQL (a fresh schema is created and dropped).
    #[arg(long)]
    postgres_url: Option<String>,
    /// Skip SQLite.
    #[arg(long)]
    no_sqlite: bool,
    /// Keep the SQLite database in this file (instead of a temporary one) and, when it already
    /// holds modules, time queries on them without seeding again: for iterating on queries.
    #[arg(long)]
    sqlite_file: Option<std::path::PathBuf>,
    /// Use this PostgreSQL schema (created when missing, kept afterwards), and when it already
    /// holds modules, time queries without seeding again.
    #[arg(long)]
    postgres_schema: Option<String>,
    /// Whose search to time: `all` (an administrator, or a registry without access control),
    /// `public` (an anonymous caller) or `user:NAME` (a signed-in user, who also sees the
    /// private repositories of their namespaces; the user must exist in the kept database).
    #[arg(long, default_value = "all")]
    visibility: String,
}

/// The representative queries: (label, query string as the API would get it).
const QUERIES: &[&str] = &[
    "type=envoy_proxy",
    "type=envoy_proxy&abi=0.2.1",
    "export=proxy_on_request_headers",
    "import=fd_write",
    "q=jwt",
    "q=auth token",
    "kind=component",
    "type=envoy_proxy&abi=0.2.0&export=proxy_on_tick&q=rate",
    "type=wasi&import=wasi_snapshot_preview1&sort=name",
    "sort=updated",
    "q=filter&sort=relevance",
];

fn parse_query(text: &str) -> SearchQuery {
    let mut query = SearchQuery { limit: 20, ..SearchQuery::default() };
    for pair in text.split('&') {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        let value = Some(value.to_owned());
        match key {
            "q" => query.words = query_words(value.as_deref().unwrap_or_default()),
            "type" => query.runtime_type = value,
            "abi" => query.abi = value,
            "export" => query.export = value,
            "import" => query.import = value,
            "kind" => query.kind = value,
            "sort" if value.as_deref() == Some("updated") => query.sort = SearchSort::Updated,
            "sort" if value.as_deref() == Some("name") => query.sort = SearchSort::Name,
            _ => {}
        }
    }
    query
}

async fn seed(index: &Index, args: &Args) -> Result<Duration> {
    let started = Instant::now();
    let media_type: MediaType = "application/vnd.oci.image.manifest.v1+json".parse()?;
    let repositories = args.modules.div_ceil(args.tags_per_repository);
    let mut rng = seed::Rng::new(0x5eed);
    // Build every record up front (deterministic), then write with a few transactions in flight.
    let mut work = Vec::with_capacity(args.modules);
    for n in 0..args.modules {
        let r = n % repositories;
        let repository = format!("ns{}/{}-{}", r % 500, seed::WORDS[r % seed::WORDS.len()], r);
        let record = seed::record(&mut rng, &repository);
        let content = format!("{{\"schemaVersion\":2,\"n\":{n}}}").into_bytes();
        work.push((repository, format!("v{}", n / repositories), content, record));
    }
    let progress = std::sync::atomic::AtomicUsize::new(0);
    stream::iter(work)
        .map(|(repository, tag, content, record)| {
            let media_type = &media_type;
            let progress = &progress;
            async move {
                let repository: RepoName = repository.parse()?;
                let tag: Tag = tag.parse()?;
                let digest = Digest::of(Algorithm::Sha256, &content);
                index
                    .put_manifest(&NewManifest {
                        repository: &repository,
                        digest: &digest,
                        media_type,
                        artifact_type: None,
                        subject: None,
                        annotations_json: None,
                        content: &content,
                        blobs: Vec::new(),
                        children: Vec::new(),
                        tags: vec![&tag],
                        wasm: Some(record),
                    })
                    .await?;
                let done = progress.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1;
                if done.is_multiple_of(10_000) {
                    eprintln!("  seeded {done}");
                }
                Ok::<_, anyhow::Error>(())
            }
        })
        .buffer_unordered(8)
        .try_collect::<()>()
        .await?;
    Ok(started.elapsed())
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len()) - 1]
}

async fn measure(label: &str, index: Index, args: &Args, postgres_admin: Option<&sqlx::PgPool>) -> Result<()> {
    let started = Instant::now();
    index.migrate().await?;
    eprintln!("{label}: migrations took {:.1} s", started.elapsed().as_secs_f64());
    let present = index.search(&SearchQuery { limit: 1, ..SearchQuery::default() }, Default::default()).await?.total;
    if present == 0 {
        let seeded = seed(&index, args).await?;
        eprintln!("{label}: seeded {} modules in {:.1} s", args.modules, seeded.as_secs_f64());
    } else {
        eprintln!("{label}: {present} modules already indexed, not seeding");
    }
    if let Some(admin) = postgres_admin {
        // What autovacuum does soon after a bulk load or a migration's backfill in production:
        // statistics for the planner, and the visibility map that index-only scans rely on.
        sqlx::raw_sql("VACUUM ANALYZE").execute(admin).await?;
    }
    let visibility = match args.visibility.as_str() {
        "all" => Visibility::All,
        "public" => Visibility::Public,
        other => {
            let name = other.strip_prefix("user:").context("--visibility is all, public or user:NAME")?;
            let user = index.user(name).await?.with_context(|| format!("no user {name}"))?;
            Visibility::PublicOr { user_id: user.id }
        }
    };
    println!("\n{label}: {} tagged modules, {} runs per query, as {}\n", args.modules, args.runs, args.visibility);
    println!("| query | total | p50 ms | p99 ms |");
    println!("|---|---:|---:|---:|");
    let mut worst = Duration::ZERO;
    for text in QUERIES {
        let query = parse_query(text);
        let mut total = 0;
        for _ in 0..5 {
            total = index.search(&query, visibility).await?.total;
        }
        let mut times = Vec::with_capacity(args.runs);
        for _ in 0..args.runs {
            let started = Instant::now();
            index.search(&query, visibility).await?;
            times.push(started.elapsed());
        }
        times.sort();
        let (p50, p99) = (percentile(&times, 0.50), percentile(&times, 0.99));
        worst = worst.max(p99);
        println!("| `{text}` | {total} | {:.2} | {:.2} |", p50.as_secs_f64() * 1e3, p99.as_secs_f64() * 1e3);
    }
    println!("\nworst p99 on {label}: {:.2} ms", worst.as_secs_f64() * 1e3);
    index.close().await;
    Ok(())
}

#[tokio::main]
async fn main() -> Result<()> {
    let args = Args::parse();
    if !args.no_sqlite {
        let dir = tempfile::tempdir()?;
        let file = args.sqlite_file.clone().unwrap_or_else(|| dir.path().join("bench.db"));
        let index = Index::connect(&format!("sqlite://{}", file.display())).await?;
        measure("SQLite", index, &args, None).await?;
    }
    if let Some(url) = &args.postgres_url {
        let keep = args.postgres_schema.is_some();
        let schema = args.postgres_schema.clone().unwrap_or_else(|| format!("searchbench_{}", std::process::id()));
        anyhow::ensure!(schema.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'), "schema names are [A-Za-z0-9_]");
        let admin = sqlx_admin(url).await?;
        sqlx::query(&format!("CREATE SCHEMA IF NOT EXISTS {schema}"))
            .execute(&admin)
            .await
            .context("creating the schema")?;
        let separator = if url.contains('?') { '&' } else { '?' };
        let index = Index::connect(&format!("{url}{separator}options[search_path]={schema}")).await?;
        let outcome = measure("PostgreSQL", index, &args, Some(&admin)).await;
        if !keep {
            sqlx::query(&format!("DROP SCHEMA {schema} CASCADE")).execute(&admin).await?;
        }
        outcome?;
    }
    Ok(())
}

async fn sqlx_admin(url: &str) -> Result<sqlx::PgPool> {
    Ok(sqlx::postgres::PgPoolOptions::new().max_connections(1).connect(url).await?)
}
