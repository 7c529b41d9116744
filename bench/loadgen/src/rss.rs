//! A server's resident memory during a phase, from `/proc/<pid>/status`.
//!
//! Peak: the kernel's high-water mark `VmHWM`, reset at the start of the phase by writing `5`
//! to `/proc/<pid>/clear_refs` (allowed for our own children as root or the same user), and
//! also the highest `VmRSS` sampled every 20 ms, in case the reset is not permitted.
//! Steady: the median of the `VmRSS` samples taken during the phase.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{json, Value};
use tokio::task::JoinHandle;

const SAMPLE_EVERY: Duration = Duration::from_millis(20);

fn status_kib(pid: u32, field: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|line| line.starts_with(field))?;
    line[field.len()..].trim().trim_end_matches("kB").trim().parse().ok()
}

pub fn rss_kib(pid: u32) -> Option<u64> {
    status_kib(pid, "VmRSS:")
}

/// Samples one server's memory from `start` until `finish`. Phases may be resumed: the
/// samples of all the runs of one workload against one server add up.
#[derive(Default)]
pub struct RssPhase {
    pid: Option<u32>,
    samples: Arc<Mutex<Vec<u64>>>,
    peak: u64,
    hwm_reset: bool,
    sampler: Option<JoinHandle<()>>,
}

impl RssPhase {
    pub fn new(pid: Option<u32>) -> RssPhase {
        RssPhase { pid, ..RssPhase::default() }
    }

    pub fn start(&mut self) {
        let Some(pid) = self.pid else { return };
        self.hwm_reset = std::fs::write(format!("/proc/{pid}/clear_refs"), "5").is_ok();
        let samples = self.samples.clone();
        self.sampler = Some(tokio::spawn(async move {
            let mut ticker = tokio::time::interval(SAMPLE_EVERY);
            loop {
                ticker.tick().await;
                match rss_kib(pid) {
                    Some(kib) => samples.lock().expect("not poisoned").push(kib),
                    None => return,
                }
            }
        }));
    }

    pub fn stop(&mut self) {
        let Some(pid) = self.pid else { return };
        if let Some(sampler) = self.sampler.take() {
            sampler.abort();
        }
        let sampled = self.samples.lock().expect("not poisoned").iter().copied().max().unwrap_or(0);
        let hwm = if self.hwm_reset { status_kib(pid, "VmHWM:").unwrap_or(0) } else { 0 };
        let now = rss_kib(pid).unwrap_or(0);
        self.peak = self.peak.max(sampled).max(hwm).max(now);
    }

    /// `{"rss_peak_kib", "rss_steady_kib"}`, or nothing when no pid was given.
    pub fn json(&self) -> Value {
        if self.pid.is_none() {
            return json!({});
        }
        let mut samples = self.samples.lock().expect("not poisoned").clone();
        samples.sort_unstable();
        let steady = samples.get(samples.len() / 2).copied().unwrap_or(self.peak);
        json!({ "rss_peak_kib": self.peak, "rss_steady_kib": steady, "rss_samples": samples.len() })
    }
}
