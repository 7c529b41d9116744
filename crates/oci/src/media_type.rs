//! Media types (RFC 6838 `type/subtype`, optionally with parameters), and the ones the
//! registry gives meaning to.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
pub const OCI_EMPTY: &str = "application/vnd.oci.empty.v1+json";
pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
pub const DOCKER_MANIFEST_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
pub const DOCKER_SCHEMA1: &str = "application/vnd.docker.distribution.manifest.v1+json";
pub const DOCKER_SCHEMA1_SIGNED: &str = "application/vnd.docker.distribution.manifest.v1+prettyjws";
pub const DOCKER_FOREIGN_LAYER: &str = "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip";
pub const OCI_NONDISTRIBUTABLE_PREFIX: &str = "application/vnd.oci.image.layer.nondistributable.";

const MAX_LEN: usize = 255;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("media type {0:?} is not of the form type/subtype (RFC 6838)")]
pub struct MediaTypeError(pub String);

/// A syntactically valid media type such as `application/vnd.oci.image.manifest.v1+json`.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct MediaType(String);

impl MediaType {
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The `type/subtype` part, without parameters, for comparisons.
    pub fn essence(&self) -> &str {
        self.0.split(';').next().unwrap_or_default().trim()
    }

    pub fn is(&self, other: &str) -> bool {
        self.essence().eq_ignore_ascii_case(other)
    }

    /// Parses a media type the registry itself names (a constant of this module).
    pub fn from_static(s: &'static str) -> MediaType {
        s.parse().expect("static media types are valid")
    }
}

fn is_restricted_name(s: &str) -> bool {
    let bytes = s.as_bytes();
    !bytes.is_empty()
        && bytes.len() <= 127
        && bytes[0].is_ascii_alphanumeric()
        && bytes[1..].iter().all(|&b| b.is_ascii_alphanumeric() || b"!#$&^_.+-".contains(&b))
}

impl FromStr for MediaType {
    type Err = MediaTypeError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let essence = s.split(';').next().unwrap_or_default().trim();
        let valid = s.len() <= MAX_LEN
            && !s.bytes().any(|b| b.is_ascii_control())
            && essence
                .split_once('/')
                .is_some_and(|(kind, subtype)| is_restricted_name(kind) && is_restricted_name(subtype));
        if valid {
            Ok(MediaType(s.to_owned()))
        } else {
            Err(MediaTypeError(s.to_owned()))
        }
    }
}

impl fmt::Display for MediaType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for MediaType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", self.0)
    }
}

impl Serialize for MediaType {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for MediaType {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn parses_registry_media_types_and_parameters() {
        let with_params: MediaType = "application/vnd.oci.image.manifest.v1+json; charset=utf-8".parse().unwrap();
        assert!(with_params.is(OCI_MANIFEST));
        assert!("application/wasm".parse::<MediaType>().is_ok());
        assert!("application/vnd.module.wasm.content.layer.v1+wasm".parse::<MediaType>().is_ok());
    }

    #[test]
    fn rejects_malformed_media_types() {
        for bad in ["", "application", "/json", "application/", "a/b/c", "app lication/json", "a/\u{0}"] {
            assert!(bad.parse::<MediaType>().is_err(), "{bad:?} was accepted");
        }
    }

    proptest! {
        #[test]
        fn parser_never_panics(input in "\\PC{0,100}") {
            let _ = input.parse::<MediaType>();
        }
    }
}
