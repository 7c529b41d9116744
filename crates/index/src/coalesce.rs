//! Identical reads in flight at the same time, answered by one query.
//!
//! Fleets of clients pulling the same tag at once send the same `SELECT` thousands of times a
//! second; on PostgreSQL with 64 such clients the pool's queue made the 99th percentile of a
//! manifest GET 16 ms. Here a read joins a query that has *not started yet*, so its answer is
//! never older than the request (a tag moved before the request arrived is always seen, on
//! every replica: nothing is cached), and at most one query per key runs at a time: every
//! request that arrives meanwhile waits for the next one, which they then share. However many
//! identical requests are in flight, at most two queries per key are (one running, one
//! waiting to run).

use std::collections::HashMap;
use std::future::Future;
use std::hash::Hash;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use tokio::sync::{OnceCell, Semaphore};

pub(crate) struct Coalescer<K, V> {
    lanes: Mutex<HashMap<K, Lane<V>>>,
}

/// The queries of one key: the turn (one query at a time) and the batch new reads join.
struct Lane<V> {
    turn: Arc<Semaphore>,
    next: Arc<Batch<V>>,
}

struct Batch<V> {
    /// Set just before the query is sent: from then on, new reads start another batch.
    started: AtomicBool,
    /// `None` when the query failed: every member then asks on its own (errors are rare and
    /// not `Clone`).
    answer: OnceCell<Option<V>>,
}

impl<V> Batch<V> {
    fn new() -> Arc<Batch<V>> {
        Arc::new(Batch { started: AtomicBool::new(false), answer: OnceCell::new() })
    }
}

impl<K: Eq + Hash + Clone, V: Clone> Coalescer<K, V> {
    pub(crate) fn new() -> Self {
        Coalescer { lanes: Mutex::new(HashMap::new()) }
    }

    /// The answer of `query` for `key`, from a query sent after this call began.
    pub(crate) async fn read<F, Fut, E>(&self, key: K, query: F) -> Result<V, E>
    where
        F: Fn() -> Fut,
        Fut: Future<Output = Result<V, E>>,
    {
        let (turn, batch) = self.join(&key);
        let answer = batch
            .answer
            .get_or_init(|| async {
                // If the member running this is cancelled (its client left), the permit is
                // released and another member takes over, still after everyone joined.
                let _permit = turn.acquire().await.expect("the semaphore is never closed");
                batch.started.store(true, Ordering::SeqCst);
                query().await.ok()
            })
            .await
            .clone();
        self.leave(&key, &batch);
        match answer {
            Some(value) => Ok(value),
            None => query().await,
        }
    }

    fn join(&self, key: &K) -> (Arc<Semaphore>, Arc<Batch<V>>) {
        let mut lanes = self.lanes.lock().expect("lanes lock");
        let lane =
            lanes.entry(key.clone()).or_insert_with(|| Lane { turn: Arc::new(Semaphore::new(1)), next: Batch::new() });
        if lane.next.started.load(Ordering::SeqCst) {
            lane.next = Batch::new();
        }
        (lane.turn.clone(), lane.next.clone())
    }

    /// Forgets the key once its newest batch is answered: nothing of it is in flight then
    /// (batches of one key run one after the other), so the map only holds keys being read.
    fn leave(&self, key: &K, batch: &Arc<Batch<V>>) {
        let mut lanes = self.lanes.lock().expect("lanes lock");
        if lanes.get(key).is_some_and(|lane| Arc::ptr_eq(&lane.next, batch)) {
            lanes.remove(key);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::AtomicU64;
    use std::time::Duration;

    use super::*;

    #[tokio::test]
    async fn concurrent_reads_share_queries_and_none_sees_an_answer_older_than_itself() {
        let coalescer = Arc::new(Coalescer::<&str, u64>::new());
        // The "database": a version that moves on; each query reads it when it starts.
        let version = Arc::new(AtomicU64::new(0));
        let queries = Arc::new(AtomicU64::new(0));
        let mut tasks = Vec::new();
        for _ in 0..64 {
            let (coalescer, current, queries) = (coalescer.clone(), version.clone(), queries.clone());
            tasks.push(tokio::spawn(async move {
                let version = current;
                let seen_at_start = version.load(Ordering::SeqCst);
                let answer = coalescer
                    .read("tag", || async {
                        queries.fetch_add(1, Ordering::SeqCst);
                        let read = version.load(Ordering::SeqCst);
                        tokio::time::sleep(Duration::from_millis(20)).await;
                        Ok::<_, ()>(read)
                    })
                    .await
                    .unwrap();
                assert!(answer >= seen_at_start, "answer {answer} is older than the request ({seen_at_start})");
            }));
            version.fetch_add(1, Ordering::SeqCst);
        }
        for task in tasks {
            task.await.unwrap();
        }
        assert!(queries.load(Ordering::SeqCst) < 64, "{} queries for 64 reads", queries.load(Ordering::SeqCst));
        assert!(coalescer.lanes.lock().unwrap().is_empty());
    }

    #[tokio::test]
    async fn a_failed_query_is_asked_again_by_each_reader() {
        let coalescer = Coalescer::<&str, u64>::new();
        let calls = AtomicU64::new(0);
        let answer = coalescer
            .read("tag", || async {
                match calls.fetch_add(1, Ordering::SeqCst) {
                    0 => Err("database went away"),
                    _ => Ok(7),
                }
            })
            .await;
        assert_eq!(answer, Ok(7));
        assert_eq!(calls.load(Ordering::SeqCst), 2);
    }
}
