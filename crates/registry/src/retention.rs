//! Retention policies: which repositories a policy covers, which tags it protects, and the
//! pure decision of what a policy deletes in one repository. Applying the decision (with a
//! re-check per row) is in `retention_apply.rs`.
//!
//! A policy has three optional rules:
//! - `keep_last N`: of the tags not protected, keep the N most recently pushed; delete the rest
//!   (the manifests stay, untagged, until the next rule removes them);
//! - `untagged_older_than AGE`: delete manifests no tag names that were pushed longer than AGE
//!   ago, except those a kept manifest needs (an image index or manifest list lists it) and
//!   referrers (signatures, SBOMs) whose subject is kept;
//! - `protect GLOB...`: tags matching any glob are never deleted and do not count towards N.
//!
//! Tags of an immutable repository are never deleted by retention.

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use wasmhub_index::{ManifestRow, StoredPolicy, TagRow};
use wasmhub_oci::{Digest, RepoName};

/// Which repositories a policy covers: one by name, all under a prefix, or all.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RepoPattern {
    Exact(RepoName),
    /// `prefix/*`: every repository whose name starts with `prefix/`, at any depth.
    Under(RepoName),
    All,
}

impl RepoPattern {
    pub fn matches(&self, repository: &str) -> bool {
        match self {
            RepoPattern::Exact(name) => name.as_str() == repository,
            RepoPattern::Under(prefix) => {
                repository.strip_prefix(prefix.as_str()).is_some_and(|rest| rest.starts_with('/'))
            }
            RepoPattern::All => true,
        }
    }

    /// Higher is more specific: an exact name beats a longer prefix beats a shorter one
    /// beats `*`.
    fn specificity(&self) -> (u8, usize) {
        match self {
            RepoPattern::Exact(name) => (2, name.as_str().len()),
            RepoPattern::Under(prefix) => (1, prefix.as_str().len()),
            RepoPattern::All => (0, 0),
        }
    }
}

impl FromStr for RepoPattern {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        let name = |text: &str| text.parse::<RepoName>().map_err(|error| format!("{text:?}: {error}"));
        Ok(match text {
            "*" => RepoPattern::All,
            _ => match text.strip_suffix("/*") {
                Some(prefix) => RepoPattern::Under(name(prefix)?),
                None => RepoPattern::Exact(name(text)?),
            },
        })
    }
}

impl fmt::Display for RepoPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RepoPattern::Exact(name) => write!(f, "{name}"),
            RepoPattern::Under(prefix) => write!(f, "{prefix}/*"),
            RepoPattern::All => f.write_str("*"),
        }
    }
}

/// A tag glob: the tag grammar's characters, `*` (any run, possibly empty) and `?` (one).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TagGlob(String);

/// Longest glob accepted (a tag is at most 128 characters).
const MAX_GLOB_LEN: usize = 128;

impl TagGlob {
    pub fn matches(&self, tag: &str) -> bool {
        glob_match(self.0.as_bytes(), tag.as_bytes())
    }
}

/// Iterative wildcard matching with one backtrack point: linear in practice, never exponential.
fn glob_match(pattern: &[u8], text: &[u8]) -> bool {
    let (mut p, mut t) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while t < text.len() {
        if p < pattern.len() && (pattern[p] == b'?' || pattern[p] == text[t]) {
            p += 1;
            t += 1;
        } else if p < pattern.len() && pattern[p] == b'*' {
            star = Some((p, t));
            p += 1;
        } else if let Some((star_p, star_t)) = star {
            p = star_p + 1;
            t = star_t + 1;
            star = Some((star_p, star_t + 1));
        } else {
            return false;
        }
    }
    pattern[p..].iter().all(|&c| c == b'*')
}

impl FromStr for TagGlob {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        let allowed = |c: char| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-' | '*' | '?');
        if text.is_empty() || text.len() > MAX_GLOB_LEN || !text.chars().all(allowed) {
            return Err(format!(
                "tag pattern {text:?}: use 1 to {MAX_GLOB_LEN} of A-Z a-z 0-9 _ . - and the wildcards * and ?"
            ));
        }
        Ok(TagGlob(text.to_owned()))
    }
}

impl fmt::Display for TagGlob {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A parsed retention policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetentionPolicy {
    pub pattern: RepoPattern,
    pub keep_last: Option<u32>,
    pub untagged_older_than: Option<Duration>,
    pub protect: Vec<TagGlob>,
}

impl RetentionPolicy {
    pub fn to_stored(&self) -> StoredPolicy {
        StoredPolicy {
            pattern: self.pattern.to_string(),
            keep_last: self.keep_last,
            untagged_older_than: self.untagged_older_than,
            protect: self.protect.iter().map(ToString::to_string).collect(),
            updated_at: 0,
        }
    }

    pub fn from_stored(stored: &StoredPolicy) -> Result<RetentionPolicy, String> {
        Ok(RetentionPolicy {
            pattern: stored.pattern.parse()?,
            keep_last: stored.keep_last,
            untagged_older_than: stored.untagged_older_than,
            protect: stored.protect.iter().map(|glob| glob.parse()).collect::<Result<_, _>>()?,
        })
    }

    fn protects(&self, tag: &str) -> bool {
        self.protect.iter().any(|glob| glob.matches(tag))
    }
}

/// The policy that governs `repository`: the most specific match.
pub fn governing<'a>(policies: &'a [RetentionPolicy], repository: &str) -> Option<&'a RetentionPolicy> {
    policies
        .iter()
        .filter(|policy| policy.pattern.matches(repository))
        .max_by_key(|policy| policy.pattern.specificity())
}

/// What a policy deletes in one repository.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RetentionPlan {
    pub tags: Vec<TagRow>,
    pub manifests: Vec<Digest>,
}

/// Decides what `policy` deletes. `tags` newest push first; `now_ms` in Unix milliseconds.
pub fn plan(
    policy: &RetentionPolicy,
    immutable: bool,
    tags: &[TagRow],
    manifests: &[ManifestRow],
    now_ms: i64,
) -> RetentionPlan {
    let mut doomed_tags = Vec::new();
    if let (Some(keep), false) = (policy.keep_last, immutable) {
        let unprotected = tags.iter().filter(|tag| !policy.protects(&tag.name));
        doomed_tags.extend(unprotected.skip(keep as usize).cloned());
    }
    let Some(age) = policy.untagged_older_than else {
        return RetentionPlan { tags: doomed_tags, manifests: Vec::new() };
    };
    let cutoff = now_ms.saturating_sub(age.as_millis() as i64);
    let doomed: HashSet<&str> = doomed_tags.iter().map(|tag| tag.name.as_str()).collect();
    let mut kept: HashSet<&Digest> =
        tags.iter().filter(|tag| !doomed.contains(tag.name.as_str())).map(|tag| &tag.digest).collect();
    kept.extend(manifests.iter().filter(|m| m.created_at >= cutoff).map(|m| &m.digest));
    // Kept manifests keep what they list, and their referrers; repeat until nothing changes
    // (indexes of indexes, referrers of referrers).
    let by_digest: HashMap<&Digest, &ManifestRow> = manifests.iter().map(|m| (&m.digest, m)).collect();
    let mut referrers: HashMap<&Digest, Vec<&Digest>> = HashMap::new();
    for manifest in manifests {
        if let Some(subject) = &manifest.subject {
            referrers.entry(subject).or_default().push(&manifest.digest);
        }
    }
    let mut queue: Vec<&Digest> = kept.iter().copied().collect();
    while let Some(digest) = queue.pop() {
        let children = by_digest.get(digest).map(|m| m.children.iter()).into_iter().flatten();
        let dependants = referrers.get(digest).into_iter().flatten().copied();
        for next in children.chain(dependants) {
            if kept.insert(next) {
                queue.push(next);
            }
        }
    }
    let doomed_manifests = manifests.iter().filter(|m| !kept.contains(&m.digest)).map(|m| m.digest.clone()).collect();
    RetentionPlan { tags: doomed_tags, manifests: doomed_manifests }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn digest(name: &str) -> Digest {
        Digest::sha256_of(name.as_bytes())
    }

    fn tag(name: &str, manifest: &str, at: i64) -> TagRow {
        TagRow { name: name.into(), digest: digest(manifest), updated_at: at }
    }

    fn manifest(name: &str, at: i64, subject: Option<&str>, children: &[&str]) -> ManifestRow {
        ManifestRow {
            digest: digest(name),
            created_at: at,
            subject: subject.map(digest),
            children: children.iter().map(|c| digest(c)).collect(),
        }
    }

    fn policy(text: &str, keep: Option<u32>, age_ms: Option<u64>, protect: &[&str]) -> RetentionPolicy {
        RetentionPolicy {
            pattern: text.parse().unwrap(),
            keep_last: keep,
            untagged_older_than: age_ms.map(Duration::from_millis),
            protect: protect.iter().map(|p| p.parse().unwrap()).collect(),
        }
    }

    #[test]
    fn globs_match_semver_release_tags_only() {
        let glob: TagGlob = "v*.*.*".parse().unwrap();
        assert!(glob.matches("v1.2.3") && glob.matches("v10.0.0-rc.1"));
        assert!(!glob.matches("latest") && !glob.matches("v1.2") && !glob.matches("1.2.3"));
        assert!("v?".parse::<TagGlob>().unwrap().matches("v1"));
        assert!("a/b".parse::<TagGlob>().is_err() && "".parse::<TagGlob>().is_err());
        assert!("[0-9]".parse::<TagGlob>().is_err(), "only * and ? are wildcards");
    }

    #[test]
    fn the_most_specific_pattern_governs() {
        let policies = vec![
            policy("*", Some(1), None, &[]),
            policy("team/*", Some(2), None, &[]),
            policy("team/app", Some(3), None, &[]),
        ];
        assert_eq!(governing(&policies, "team/app").unwrap().keep_last, Some(3));
        assert_eq!(governing(&policies, "team/sub/other").unwrap().keep_last, Some(2));
        assert_eq!(governing(&policies, "teamx/other").unwrap().keep_last, Some(1));
        assert!("team/*/x".parse::<RepoPattern>().is_err());
        assert!(!"team/*".parse::<RepoPattern>().unwrap().matches("team"));
    }

    #[test]
    fn keep_last_skips_protected_tags_and_immutable_repositories() {
        let tags = [tag("dev-3", "c", 30), tag("v1.0.0", "a", 25), tag("dev-2", "b", 20), tag("dev-1", "a", 10)];
        let rule = policy("r", Some(1), None, &["v*.*.*"]);
        let names: Vec<String> = plan(&rule, false, &tags, &[], 100).tags.into_iter().map(|t| t.name).collect();
        assert_eq!(names, ["dev-2", "dev-1"]);
        assert!(plan(&rule, true, &tags, &[], 100).tags.is_empty());
    }

    #[test]
    fn untagged_manifests_go_unless_a_kept_index_lists_them_or_they_refer_to_a_kept_subject() {
        let manifests = [
            manifest("tagged", 0, None, &[]),
            manifest("signature-of-tagged", 0, Some("tagged"), &[]),
            manifest("index", 0, None, &["child"]),
            manifest("child", 0, None, &[]),
            manifest("orphan", 0, None, &[]),
            manifest("signature-of-orphan", 0, Some("orphan"), &[]),
            manifest("young", 95, None, &[]),
            manifest("dropped-tag", 0, None, &[]),
        ];
        let tags = [tag("latest", "tagged", 50), tag("multi", "index", 40), tag("old", "dropped-tag", 1)];
        let rule = policy("r", Some(2), Some(10), &[]);
        let decided = plan(&rule, false, &tags, &manifests, 100);
        assert_eq!(decided.tags.iter().map(|t| t.name.as_str()).collect::<Vec<_>>(), ["old"]);
        let mut gone = decided.manifests;
        gone.sort_by_key(|d| d.to_string());
        let mut expected = vec![digest("orphan"), digest("signature-of-orphan"), digest("dropped-tag")];
        expected.sort_by_key(|d| d.to_string());
        assert_eq!(gone, expected);
    }
}
