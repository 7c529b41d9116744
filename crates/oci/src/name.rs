//! Repository names, tags and manifest references, per the distribution spec's grammar:
//!
//! ```text
//! name      = component ("/" component)*
//! component = [a-z0-9]+ ((\.|_|__|-+) [a-z0-9]+)*
//! tag       = [a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}
//! ```
//!
//! A `RepoName` is safe to use as a storage prefix and an SQL value: no `..`, no empty
//! components, no upper case, bounded length.

use std::fmt;
use std::str::FromStr;

use serde::{Serialize, Serializer};

use crate::digest::{Digest, DigestError};

/// Longest repository name accepted (the distribution registry uses the same limit).
pub const MAX_NAME_LEN: usize = 255;
const MAX_TAG_LEN: usize = 128;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NameError {
    #[error(
        "repository name {0:?} does not match [a-z0-9]+((.|_|__|-+)[a-z0-9]+)*(/[a-z0-9]+((.|_|__|-+)[a-z0-9]+)*)*"
    )]
    InvalidName(String),
    #[error("repository name is longer than {MAX_NAME_LEN} characters")]
    NameTooLong,
    #[error("{0:?} is not a valid user or organisation name (lower-case letters, digits, and . _ - between them; at most 64)")]
    InvalidNamespace(String),
    #[error("tag {0:?} does not match [a-zA-Z0-9_][a-zA-Z0-9._-]{{0,127}}")]
    InvalidTag(String),
    #[error("reference {0:?} is neither a tag nor a digest: {1}")]
    InvalidReference(String, DigestError),
}

/// A validated repository name such as `team/filters/auth`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RepoName(String);

impl RepoName {
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The first path component: the namespace that owns the repository.
    pub fn namespace(&self) -> &str {
        self.0.split('/').next().expect("a name has at least one component")
    }
}

fn is_valid_component(component: &str) -> bool {
    let bytes = component.as_bytes();
    let alnum = |b: u8| b.is_ascii_lowercase() || b.is_ascii_digit();
    if bytes.is_empty() || !alnum(bytes[0]) || !alnum(bytes[bytes.len() - 1]) {
        return false;
    }
    // Between alphanumeric runs: exactly one '.', one or two '_', or any number of '-'.
    let mut i = 0;
    while i < bytes.len() {
        if alnum(bytes[i]) {
            i += 1;
            continue;
        }
        let start = i;
        while i < bytes.len() && !alnum(bytes[i]) {
            i += 1;
        }
        let separator = &component[start..i];
        let allowed = separator == "." || separator == "_" || separator == "__" || separator.bytes().all(|b| b == b'-');
        if !allowed {
            return false;
        }
    }
    true
}

impl FromStr for RepoName {
    type Err = NameError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s.len() > MAX_NAME_LEN {
            return Err(NameError::NameTooLong);
        }
        if s.split('/').all(is_valid_component) {
            Ok(RepoName(s.to_owned()))
        } else {
            Err(NameError::InvalidName(s.to_owned()))
        }
    }
}

impl fmt::Display for RepoName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl Serialize for RepoName {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.0)
    }
}

/// A namespace: a user or organisation name, which is the first component of the names of the
/// repositories it owns. One repository-name component, at most 64 characters.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Namespace(String);

impl Namespace {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for Namespace {
    type Err = NameError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s.len() <= 64 && is_valid_component(s) {
            Ok(Namespace(s.to_owned()))
        } else {
            Err(NameError::InvalidNamespace(s.to_owned()))
        }
    }
}

impl fmt::Display for Namespace {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl Serialize for Namespace {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.0)
    }
}

/// A validated tag such as `v1.2.0`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Tag(String);

impl Tag {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for Tag {
    type Err = NameError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bytes = s.as_bytes();
        let word = |b: u8| b.is_ascii_alphanumeric() || b == b'_';
        let valid = !bytes.is_empty()
            && bytes.len() <= MAX_TAG_LEN
            && word(bytes[0])
            && bytes[1..].iter().all(|&b| word(b) || b == b'.' || b == b'-');
        if valid {
            Ok(Tag(s.to_owned()))
        } else {
            Err(NameError::InvalidTag(s.to_owned()))
        }
    }
}

impl fmt::Display for Tag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl Serialize for Tag {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.0)
    }
}

/// What follows `/manifests/`: a tag or a digest. A string with a ':' is a digest (tags
/// cannot contain one).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Reference {
    Tag(Tag),
    Digest(Digest),
}

impl FromStr for Reference {
    type Err = NameError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s.contains(':') {
            s.parse().map(Reference::Digest).map_err(|e| NameError::InvalidReference(s.to_owned(), e))
        } else {
            s.parse().map(Reference::Tag)
        }
    }
}

impl fmt::Display for Reference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Reference::Tag(tag) => tag.fmt(f),
            Reference::Digest(digest) => digest.fmt(f),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn accepts_spec_examples() {
        for good in ["a", "library/ubuntu", "a/b/c/d/e", "my-org/my__filter", "a.b_c--d/x9", "0"] {
            assert!(good.parse::<RepoName>().is_ok(), "{good:?} was rejected");
        }
    }

    #[test]
    fn rejects_bad_names() {
        for bad in ["", "A", "a/", "/a", "a//b", "a/../b", "..", "a.", "_a", "a___b", "a..b", "a b", "a/B", "a:b"] {
            assert!(bad.parse::<RepoName>().is_err(), "{bad:?} was accepted");
        }
        assert_eq!("a".repeat(256).parse::<RepoName>(), Err(NameError::NameTooLong));
    }

    #[test]
    fn namespace_is_the_first_component() {
        assert_eq!("team/filters/x".parse::<RepoName>().unwrap().namespace(), "team");
    }

    #[test]
    fn tags_follow_the_grammar() {
        for good in ["latest", "v1.0.0", "_x", "A-b.c_d", &"x".repeat(128)] {
            assert!(good.parse::<Tag>().is_ok(), "{good:?} was rejected");
        }
        for bad in ["", ".x", "-x", "a/b", "a:b", "a b", &"x".repeat(129)] {
            assert!(bad.parse::<Tag>().is_err(), "{bad:?} was accepted");
        }
    }

    #[test]
    fn references_are_tags_or_digests() {
        assert!(matches!("v1".parse::<Reference>(), Ok(Reference::Tag(_))));
        let digest = format!("sha256:{}", "a".repeat(64));
        assert!(matches!(digest.parse::<Reference>(), Ok(Reference::Digest(_))));
        assert!("sha256:zz".parse::<Reference>().is_err());
    }

    proptest! {
        #[test]
        fn name_parser_never_panics_and_accepted_names_are_path_safe(input in "[a-z0-9._/-]{0,40}") {
            if let Ok(name) = input.parse::<RepoName>() {
                prop_assert_eq!(name.as_str(), input.as_str());
                prop_assert!(!name.as_str().split('/').any(|c| c.is_empty() || c == "." || c == ".."));
                prop_assert!(!name.as_str().starts_with('/'));
            }
        }

        #[test]
        fn generated_names_from_the_grammar_are_accepted(
            components in proptest::collection::vec("[a-z0-9]{1,4}((\\.|_|__|-{1,3})[a-z0-9]{1,4}){0,2}", 1..5)
        ) {
            let name = components.join("/");
            prop_assert!(name.parse::<RepoName>().is_ok(), "{} rejected", name);
        }

        #[test]
        fn reference_parser_never_panics(input in "\\PC{0,80}") {
            let _ = input.parse::<Reference>();
        }
    }
}
