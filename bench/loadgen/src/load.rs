//! Closed-loop load for a fixed time: N connections, each sending its next request as soon
//! as the previous response is read. Requests per second and the latency distribution.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use http_body_util::BodyExt;
use hyper::header::{HeaderName, ACCEPT};
use hyper::Method;
use serde_json::{json, Value};

use crate::http::{self, Target};

/// Which client library drives the load (hyper is the default; reqwest is kept so the
/// difference can be measured again: `loadgen load --client reqwest`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Client {
    Hyper,
    Reqwest,
}

pub struct LoadSpec {
    pub method: Method,
    /// Paths cycled through; worker `i` starts at `i`.
    pub paths: Arc<Vec<String>>,
    pub accept: Option<&'static str>,
    pub connections: usize,
    pub duration: Duration,
    pub client: Client,
}

pub struct LoadResult {
    pub requests: u64,
    pub errors: u64,
    pub elapsed: Duration,
    /// Latencies in microseconds, sorted.
    pub latencies: Vec<u32>,
}

impl LoadResult {
    fn percentile_ms(&self, p: f64) -> f64 {
        if self.latencies.is_empty() {
            return 0.0;
        }
        let rank = ((p / 100.0) * self.latencies.len() as f64).ceil() as usize;
        self.latencies[rank.clamp(1, self.latencies.len()) - 1] as f64 / 1000.0
    }

    pub fn json(&self) -> Value {
        json!({
            "requests": self.requests,
            "errors": self.errors,
            "seconds": self.elapsed.as_secs_f64(),
            "requests_per_s": self.requests as f64 / self.elapsed.as_secs_f64(),
            "p50_ms": self.percentile_ms(50.0),
            "p90_ms": self.percentile_ms(90.0),
            "p99_ms": self.percentile_ms(99.0),
            "max_ms": self.latencies.last().map_or(0.0, |&us| us as f64 / 1000.0),
        })
    }
}

struct WorkerResult {
    requests: u64,
    errors: u64,
    latencies: Vec<u32>,
}

pub async fn run(target: &Target, spec: &LoadSpec) -> anyhow::Result<LoadResult> {
    let deadline = Instant::now() + spec.duration;
    let reqwest_client = reqwest::Client::builder()
        .pool_max_idle_per_host(spec.connections)
        .tcp_nodelay(true)
        .build()
        .context("reqwest client")?;
    let started = Instant::now();
    let workers: Vec<_> = (0..spec.connections)
        .map(|worker| {
            let (target, method, paths, accept) =
                (target.clone(), spec.method.clone(), spec.paths.clone(), spec.accept);
            let reqwest_client = reqwest_client.clone();
            match spec.client {
                Client::Hyper => tokio::spawn(hyper_worker(target, method, paths, accept, worker, deadline)),
                Client::Reqwest => {
                    tokio::spawn(reqwest_worker(reqwest_client, target, method, paths, accept, worker, deadline))
                }
            }
        })
        .collect();
    let mut result = LoadResult { requests: 0, errors: 0, elapsed: Duration::ZERO, latencies: Vec::new() };
    for worker in workers {
        let done = worker.await??;
        result.requests += done.requests;
        result.errors += done.errors;
        result.latencies.extend(done.latencies);
    }
    result.elapsed = started.elapsed();
    result.latencies.sort_unstable();
    Ok(result)
}

async fn hyper_worker(
    target: Target,
    method: Method,
    paths: Arc<Vec<String>>,
    accept: Option<&'static str>,
    worker: usize,
    deadline: Instant,
) -> anyhow::Result<WorkerResult> {
    let mut conn = target.connect();
    let headers: Vec<(HeaderName, &str)> = accept.map(|accept| (ACCEPT, accept)).into_iter().collect();
    let mut done = WorkerResult { requests: 0, errors: 0, latencies: Vec::with_capacity(1 << 16) };
    let mut i = worker;
    loop {
        let sent = Instant::now();
        if sent >= deadline {
            return Ok(done);
        }
        let path = &paths[i % paths.len()];
        i += 1;
        let response = conn.send(method.clone(), path, &headers, http::empty()).await?;
        let ok = response.status().is_success();
        response.into_body().collect().await?;
        done.latencies.push(sent.elapsed().as_micros().min(u32::MAX as u128) as u32);
        done.requests += 1;
        done.errors += u64::from(!ok);
    }
}

async fn reqwest_worker(
    client: reqwest::Client,
    target: Target,
    method: Method,
    paths: Arc<Vec<String>>,
    accept: Option<&'static str>,
    worker: usize,
    deadline: Instant,
) -> anyhow::Result<WorkerResult> {
    let mut done = WorkerResult { requests: 0, errors: 0, latencies: Vec::with_capacity(1 << 16) };
    let method = reqwest::Method::from_bytes(method.as_str().as_bytes())?;
    let urls: Vec<String> = paths.iter().map(|path| format!("{}{path}", target.base_url)).collect();
    let mut i = worker;
    loop {
        let sent = Instant::now();
        if sent >= deadline {
            return Ok(done);
        }
        let mut request = client.request(method.clone(), &urls[i % urls.len()]);
        i += 1;
        if let Some(accept) = accept {
            request = request.header(reqwest::header::ACCEPT, accept);
        }
        let response = request.send().await?;
        let ok = response.status().is_success();
        response.bytes().await?;
        done.latencies.push(sent.elapsed().as_micros().min(u32::MAX as u128) as u32);
        done.requests += 1;
        done.errors += u64::from(!ok);
    }
}
