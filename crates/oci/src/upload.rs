//! Upload session identifiers, as they appear in `/v2/<name>/blobs/uploads/<id>`.

use std::fmt;
use std::str::FromStr;

/// An upload session's id: a UUID, safe as a path component and in URLs.
///
/// Ids the registry hands out on `POST` are *issued* ids (UUID version 8): the time of issue
/// in milliseconds (48 bits), 42 random bits, and a 32-bit tag over those and the repository
/// under the registry's key, so that a session needs no row until its first chunk (see
/// `wasmhub_registry::uploads`). Ids of sessions opened by earlier versions are random
/// (version 4) and live only as rows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct UploadId(uuid::Uuid);

/// The bytes of an issued id the tag covers (time and randomness, with the UUID's version and
/// variant bits), and the tag.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IssuedUploadId {
    pub issued_at_millis: u64,
    pub signed: [u8; 12],
    pub tag: [u8; 4],
}

impl UploadId {
    pub fn random() -> UploadId {
        UploadId(uuid::Uuid::new_v4())
    }

    /// A new issued id: `tag` computes the MAC of the 12 bytes it is given.
    pub fn issue(issued_at_millis: u64, tag: impl FnOnce(&[u8; 12]) -> [u8; 4]) -> UploadId {
        let mut bytes = [0u8; 16];
        bytes[..6].copy_from_slice(&(issued_at_millis & 0xffff_ffff_ffff).to_be_bytes()[2..]);
        // The first six bytes of a random UUID are all random (its fixed bits come later).
        bytes[6..12].copy_from_slice(&uuid::Uuid::new_v4().as_bytes()[..6]);
        // Version 8 in the high nibble of byte 6, variant 0b10 in the top bits of byte 8.
        let mut bytes = *uuid::Builder::from_custom_bytes(bytes).as_uuid().as_bytes();
        let signed: [u8; 12] = bytes[..12].try_into().expect("12 bytes");
        bytes[12..].copy_from_slice(&tag(&signed));
        UploadId(uuid::Uuid::from_bytes(bytes))
    }

    /// The parts of an issued id; `None` for a random (earlier) one.
    pub fn issued(&self) -> Option<IssuedUploadId> {
        if self.0.get_version_num() != 8 {
            return None;
        }
        let bytes = self.0.as_bytes();
        let mut millis = [0u8; 8];
        millis[2..].copy_from_slice(&bytes[..6]);
        Some(IssuedUploadId {
            issued_at_millis: u64::from_be_bytes(millis),
            signed: bytes[..12].try_into().expect("12 bytes"),
            tag: bytes[12..].try_into().expect("4 bytes"),
        })
    }
}

impl FromStr for UploadId {
    type Err = uuid::Error;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        uuid::Uuid::try_parse(s).map(UploadId)
    }
}

impl fmt::Display for UploadId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.hyphenated().fmt(f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_issued_id_gives_back_its_time_and_tag_and_stays_a_valid_uuid() {
        let id = UploadId::issue(1_764_000_000_123, |signed| [signed[0], signed[5], 0xab, 0xcd]);
        let parsed: UploadId = id.to_string().parse().unwrap();
        assert_eq!(parsed, id);
        let issued = parsed.issued().unwrap();
        assert_eq!(issued.issued_at_millis, 1_764_000_000_123);
        assert_eq!(issued.tag, [issued.signed[0], issued.signed[5], 0xab, 0xcd]);
        assert_eq!(id.0.get_version_num(), 8);
        assert_eq!(id.0.get_variant(), uuid::Variant::RFC4122);
    }

    #[test]
    fn ids_issued_in_the_same_millisecond_differ() {
        let ids: std::collections::HashSet<_> = (0..1000).map(|_| UploadId::issue(7, |_| [0; 4])).collect();
        assert_eq!(ids.len(), 1000);
    }

    #[test]
    fn a_random_id_is_not_an_issued_one() {
        assert_eq!(UploadId::random().issued(), None);
    }
}
