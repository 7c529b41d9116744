//! Counting manifest pulls without slowing them down: a pull adds one to a counter in memory
//! (a short lock, no I/O), and the counts are written to the index in one transaction every
//! few seconds and once more at shutdown (`flush_pulls_on_schedule`). The index adds them to
//! the stored counts, so replicas never overwrite each other. A process killed without a
//! shutdown loses at most the last interval's pulls: counts are a popularity signal, not an
//! audit trail.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use wasmhub_index::PullCounts;
use wasmhub_oci::{Reference, RepoName, Tag};

use crate::{Registry, RegistryError};

/// Pulls counted since the last flush, by repository.
#[derive(Default)]
pub(crate) struct PullCounter {
    pending: Mutex<HashMap<RepoName, Pending>>,
}

#[derive(Default)]
struct Pending {
    total: u64,
    tags: HashMap<Tag, u64>,
}

impl PullCounter {
    fn count(&self, repository: &RepoName, tag: Option<&Tag>) {
        let mut pending = self.pending.lock().expect("pull counter lock");
        // Look up before inserting, so the common case (a repository already counted) clones
        // nothing.
        let entry = match pending.get_mut(repository) {
            Some(entry) => entry,
            None => pending.entry(repository.clone()).or_default(),
        };
        entry.total += 1;
        if let Some(tag) = tag {
            match entry.tags.get_mut(tag) {
                Some(count) => *count += 1,
                None => {
                    entry.tags.insert(tag.clone(), 1);
                }
            }
        }
    }

    fn take(&self) -> Vec<PullCounts> {
        let pending = std::mem::take(&mut *self.pending.lock().expect("pull counter lock"));
        let mut batch: Vec<PullCounts> = pending
            .into_iter()
            .map(|(repository, pending)| {
                let mut tags: Vec<(Tag, u64)> = pending.tags.into_iter().collect();
                tags.sort();
                PullCounts { repository, total: pending.total, tags }
            })
            .collect();
        // A fixed order, so that two replicas flushing at once lock rows in the same order.
        batch.sort_by(|a, b| a.repository.cmp(&b.repository));
        batch
    }

    /// Puts back a batch that could not be written, to be tried again with the next one.
    fn restore(&self, batch: Vec<PullCounts>) {
        let mut pending = self.pending.lock().expect("pull counter lock");
        for counts in batch {
            let entry = pending.entry(counts.repository).or_default();
            entry.total += counts.total;
            for (tag, pulls) in counts.tags {
                *entry.tags.entry(tag).or_default() += pulls;
            }
        }
    }
}

impl Registry {
    /// Counts one pull: a `GET` of a manifest that returned its content (not a `HEAD`, not a
    /// `304 Not Modified`). Pulls by tag are also counted for the tag.
    pub fn count_pull(&self, repository: &RepoName, reference: &Reference) {
        let tag = match reference {
            Reference::Tag(tag) => Some(tag),
            Reference::Digest(_) => None,
        };
        self.pulls.count(repository, tag);
    }

    /// Writes the pulls counted so far to the index; on failure they stay counted for the
    /// next flush.
    pub async fn flush_pulls(&self) -> Result<(), RegistryError> {
        let batch = self.pulls.take();
        if let Err(error) = self.index.add_pulls(&batch).await {
            self.pulls.restore(batch);
            return Err(error.into());
        }
        Ok(())
    }

    /// Flushes every `interval` until `stop` resolves, then once more (at shutdown, after
    /// the server has drained, so that the last pulls are written too).
    pub async fn flush_pulls_on_schedule(&self, interval: Duration, stop: impl std::future::Future<Output = ()>) {
        tokio::pin!(stop);
        loop {
            tokio::select! {
                _ = &mut stop => break,
                _ = tokio::time::sleep(interval) => {}
            }
            if let Err(error) = self.flush_pulls().await {
                tracing::warn!(%error, "could not write pull counts; keeping them for the next flush");
            }
        }
        if let Err(error) = self.flush_pulls().await {
            tracing::error!(%error, "could not write the last pull counts at shutdown");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_are_taken_once_and_restored_after_a_failed_flush() {
        let counter = PullCounter::default();
        let (repository, tag): (RepoName, Tag) = ("acme/filter".parse().unwrap(), "v1".parse().unwrap());
        counter.count(&repository, Some(&tag));
        counter.count(&repository, Some(&tag));
        counter.count(&repository, None);
        let batch = counter.take();
        assert_eq!(batch, vec![PullCounts { repository: repository.clone(), total: 3, tags: vec![(tag.clone(), 2)] }]);
        assert!(counter.take().is_empty());
        counter.count(&repository, None);
        counter.restore(batch);
        assert_eq!(counter.take(), vec![PullCounts { repository, total: 4, tags: vec![(tag, 2)] }]);
    }
}
