//! Metric families: one named metric with a fixed set of label names, holding one series per
//! distinct combination of label values. Values are atomics, so recording never takes more
//! than a read lock once a series exists.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

use crate::encode;

/// The label values of one series, in the order of the family's label names.
type Key = Vec<String>;

struct Family<T> {
    name: &'static str,
    help: &'static str,
    labels: &'static [&'static str],
    // A BTreeMap keeps the exposition sorted, so two scrapes of the same state are identical.
    series: RwLock<BTreeMap<Key, Arc<T>>>,
}

impl<T> Family<T> {
    fn new(name: &'static str, help: &'static str, labels: &'static [&'static str]) -> Family<T> {
        Family { name, help, labels, series: RwLock::new(BTreeMap::new()) }
    }

    fn get_or_create(&self, values: &[&str], make: impl FnOnce() -> T) -> Arc<T> {
        debug_assert_eq!(values.len(), self.labels.len(), "{}: wrong number of label values", self.name);
        let key: Key = values.iter().map(|v| (*v).to_owned()).collect();
        if let Some(found) = self.series.read().unwrap_or_else(|e| e.into_inner()).get(&key) {
            return found.clone();
        }
        let mut series = self.series.write().unwrap_or_else(|e| e.into_inner());
        series.entry(key).or_insert_with(|| Arc::new(make())).clone()
    }

    fn snapshot(&self) -> Vec<(Key, Arc<T>)> {
        let series = self.series.read().unwrap_or_else(|e| e.into_inner());
        series.iter().map(|(k, v)| (k.clone(), v.clone())).collect()
    }

    fn pairs<'a>(&'a self, key: &'a Key) -> impl Iterator<Item = (&'a str, &'a str)> + 'a {
        self.labels.iter().copied().zip(key.iter().map(String::as_str))
    }
}

/// A monotonically increasing count (`_total`).
#[derive(Clone)]
pub struct CounterVec(Arc<Family<AtomicU64>>);

/// One counter series, to keep when it is bumped often (per body frame).
#[derive(Clone)]
pub struct Counter(Arc<AtomicU64>);

impl Counter {
    pub fn add(&self, n: u64) {
        self.0.fetch_add(n, Ordering::Relaxed);
    }

    pub fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

impl CounterVec {
    pub fn new(name: &'static str, help: &'static str, labels: &'static [&'static str]) -> CounterVec {
        let family = Family::new(name, help, labels);
        if labels.is_empty() {
            // A metric without labels exists from the start (0), as Prometheus clients do.
            family.get_or_create(&[], AtomicU64::default);
        }
        CounterVec(Arc::new(family))
    }

    pub fn with(&self, values: &[&str]) -> Counter {
        Counter(self.0.get_or_create(values, AtomicU64::default))
    }

    pub fn inc(&self, values: &[&str]) {
        self.with(values).add(1);
    }

    pub fn get(&self, values: &[&str]) -> u64 {
        self.with(values).get()
    }

    pub fn encode(&self, out: &mut String) {
        let family = &self.0;
        encode::header(out, family.name, family.help, "counter");
        for (key, value) in family.snapshot() {
            encode::sample(out, family.name, family.pairs(&key), None, &value.load(Ordering::Relaxed).to_string());
        }
    }
}

/// A value that goes up and down.
#[derive(Clone)]
pub struct Gauge(Arc<Family<AtomicI64>>);

impl Gauge {
    pub fn new(name: &'static str, help: &'static str) -> Gauge {
        let family = Family::new(name, help, &[]);
        family.get_or_create(&[], AtomicI64::default);
        Gauge(Arc::new(family))
    }

    pub fn add(&self, delta: i64) {
        self.0.get_or_create(&[], AtomicI64::default).fetch_add(delta, Ordering::Relaxed);
    }

    pub fn get(&self) -> i64 {
        self.0.get_or_create(&[], AtomicI64::default).load(Ordering::Relaxed)
    }

    pub fn encode(&self, out: &mut String) {
        let family = &self.0;
        encode::header(out, family.name, family.help, "gauge");
        for (key, value) in family.snapshot() {
            encode::sample(out, family.name, family.pairs(&key), None, &value.load(Ordering::Relaxed).to_string());
        }
    }
}

/// Observations counted into cumulative buckets, with their sum and count.
pub struct Buckets {
    /// Non-cumulative counts per bound, plus one for `+Inf`; made cumulative when encoded.
    counts: Vec<AtomicU64>,
    sum_bits: AtomicU64,
}

impl Buckets {
    fn new(bounds: usize) -> Buckets {
        Buckets { counts: (0..=bounds).map(|_| AtomicU64::default()).collect(), sum_bits: AtomicU64::new(0) }
    }
}

#[derive(Clone)]
pub struct HistogramVec {
    family: Arc<Family<Buckets>>,
    bounds: &'static [f64],
}

impl HistogramVec {
    /// `bounds` must be sorted ascending; `+Inf` is implied.
    pub fn new(
        name: &'static str,
        help: &'static str,
        labels: &'static [&'static str],
        bounds: &'static [f64],
    ) -> HistogramVec {
        debug_assert!(bounds.windows(2).all(|w| w[0] < w[1]), "{name}: bounds must ascend");
        HistogramVec { family: Arc::new(Family::new(name, help, labels)), bounds }
    }

    pub fn observe(&self, values: &[&str], value: f64) {
        let buckets = self.family.get_or_create(values, || Buckets::new(self.bounds.len()));
        let slot = self.bounds.iter().position(|&bound| value <= bound).unwrap_or(self.bounds.len());
        buckets.counts[slot].fetch_add(1, Ordering::Relaxed);
        // No atomic f64 add: compare-and-swap on the bits (uncontended in practice).
        let _ = buckets
            .sum_bits
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |bits| Some((f64::from_bits(bits) + value).to_bits()));
    }

    /// The number of observations of one series (for tests and the GC's summary).
    pub fn count(&self, values: &[&str]) -> u64 {
        let buckets = self.family.get_or_create(values, || Buckets::new(self.bounds.len()));
        buckets.counts.iter().map(|c| c.load(Ordering::Relaxed)).sum()
    }

    pub fn encode(&self, out: &mut String) {
        let family = &self.family;
        encode::header(out, family.name, family.help, "histogram");
        let bucket_name = format!("{}_bucket", family.name);
        for (key, buckets) in family.snapshot() {
            let mut cumulative = 0u64;
            for (slot, count) in buckets.counts.iter().enumerate() {
                cumulative += count.load(Ordering::Relaxed);
                let le = self.bounds.get(slot).map_or_else(|| "+Inf".to_owned(), |&b| encode::float(b));
                encode::sample(out, &bucket_name, family.pairs(&key), Some(("le", &le)), &cumulative.to_string());
            }
            let sum = encode::float(f64::from_bits(buckets.sum_bits.load(Ordering::Relaxed)));
            encode::sample(out, &format!("{}_sum", family.name), family.pairs(&key), None, &sum);
            encode::sample(out, &format!("{}_count", family.name), family.pairs(&key), None, &cumulative.to_string());
        }
    }
}
