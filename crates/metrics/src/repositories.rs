//! Bounding the `repository` label. Repository names are unbounded (anyone with push rights
//! can create more), and every label value is a time series Prometheus keeps: past a cap,
//! further repositories are counted together under `repository="other"`.

use std::collections::HashSet;
use std::sync::RwLock;

/// The label value repositories beyond the cap share.
pub const OTHER: &str = "other";

/// The first `cap` distinct repositories seen by this process keep their own label value;
/// a repository never moves between its own series and `other` (that would make rates
/// jump), so "first seen" rather than "currently most active" decides.
pub struct RepositoryLabels {
    cap: usize,
    tracked: RwLock<HashSet<String>>,
}

impl RepositoryLabels {
    pub fn new(cap: usize) -> RepositoryLabels {
        RepositoryLabels { cap, tracked: RwLock::new(HashSet::new()) }
    }

    pub fn cap(&self) -> usize {
        self.cap
    }

    /// The label value to record `repository` under.
    pub fn label<'a>(&self, repository: &'a str) -> &'a str {
        // "other" itself is a valid repository name: keep it apart from the overflow.
        if repository == OTHER {
            return OTHER;
        }
        if self.tracked.read().unwrap_or_else(|e| e.into_inner()).contains(repository) {
            return repository;
        }
        let mut tracked = self.tracked.write().unwrap_or_else(|e| e.into_inner());
        if tracked.contains(repository) {
            return repository;
        }
        if tracked.len() < self.cap {
            tracked.insert(repository.to_owned());
            repository
        } else {
            OTHER
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn caps_distinct_repositories_and_keeps_early_ones_stable() {
        let labels = RepositoryLabels::new(2);
        assert_eq!(labels.label("a/one"), "a/one");
        assert_eq!(labels.label("a/two"), "a/two");
        assert_eq!(labels.label("a/three"), OTHER);
        assert_eq!(labels.label("a/one"), "a/one", "a tracked repository stays tracked");
        assert_eq!(labels.label("a/four"), OTHER);
    }

    #[test]
    fn a_zero_cap_puts_everything_in_other() {
        assert_eq!(RepositoryLabels::new(0).label("x"), OTHER);
    }
}
