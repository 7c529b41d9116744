//! proxy-wasm ABI versions: the markers a module exports, the names configs declare, and
//! whether the two agree.
//!
//! A proxy-wasm module announces its ABI by exporting an empty function named
//! `proxy_abi_version_0_1_0`, `_0_2_0`, `_0_2_1` or `_0_3_0`; Envoy and the other hosts pick the
//! ABI from that export. solo.io configs instead *declare* versions, and the names grew
//! historically: first envoy-wasm commit hashes (`v0-<sha>`, see solo-io/wasm's `abi` registry),
//! later the spec's own versions (`v0.2.1`). This module maps each declared name to the markers
//! a module built against it can carry, so a mismatch can be reported as a warning.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ProxyAbi {
    V0_1_0,
    V0_2_0,
    V0_2_1,
    V0_3_0,
}

impl ProxyAbi {
    pub const ALL: [ProxyAbi; 4] = [ProxyAbi::V0_1_0, ProxyAbi::V0_2_0, ProxyAbi::V0_2_1, ProxyAbi::V0_3_0];

    /// The version as the spec writes it: `0.2.1`.
    pub fn as_str(self) -> &'static str {
        match self {
            ProxyAbi::V0_1_0 => "0.1.0",
            ProxyAbi::V0_2_0 => "0.2.0",
            ProxyAbi::V0_2_1 => "0.2.1",
            ProxyAbi::V0_3_0 => "0.3.0",
        }
    }

    /// The export that marks a module as built for this ABI.
    pub fn export_name(self) -> &'static str {
        match self {
            ProxyAbi::V0_1_0 => "proxy_abi_version_0_1_0",
            ProxyAbi::V0_2_0 => "proxy_abi_version_0_2_0",
            ProxyAbi::V0_2_1 => "proxy_abi_version_0_2_1",
            ProxyAbi::V0_3_0 => "proxy_abi_version_0_3_0",
        }
    }

    pub fn from_export(name: &str) -> Option<ProxyAbi> {
        ProxyAbi::ALL.into_iter().find(|abi| abi.export_name() == name)
    }

    fn from_version(text: &str) -> Option<ProxyAbi> {
        let dotted = text.replace('_', ".");
        ProxyAbi::ALL.into_iter().find(|abi| abi.as_str() == dotted)
    }
}

impl fmt::Display for ProxyAbi {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for ProxyAbi {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for ProxyAbi {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        ProxyAbi::from_version(&text)
            .ok_or_else(|| serde::de::Error::custom(format!("unknown proxy-wasm ABI {text:?}")))
    }
}

/// What a declared ABI name means.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DeclaredAbi {
    /// The proxy-wasm version the name corresponds to.
    pub abi: ProxyAbi,
    /// Markers a module built against it may export. Empty means "none required": modules of
    /// the envoy-wasm era before December 2019 exported no marker at all.
    accepted: &'static [ProxyAbi],
    marker_optional: bool,
}

/// envoy-wasm commits that solo.io's `wasme` named as ABI versions, oldest first, with the
/// platforms that shipped them (from solo-io/wasm `tools/wasme/pkg/abi`).
const LEGACY_HASHES: [(&str, ProxyAbi, &[ProxyAbi], bool); 5] = [
    // Istio 1.4.
    ("6d525c67f39b36cdff9d688697f266c1b55e9cb7", ProxyAbi::V0_1_0, &[ProxyAbi::V0_1_0], true),
    // Gloo 1.3 (yuval-k/envoy-wasm).
    ("541b2c1155fffb15ccde92b8324f3e38f7339ba6", ProxyAbi::V0_1_0, &[ProxyAbi::V0_1_0], true),
    // Istio 1.5 and 1.6, December 2019.
    ("097b7f2e4cc1fb490cc1943d0d633655ac3c522f", ProxyAbi::V0_1_0, &[ProxyAbi::V0_1_0], true),
    // Gloo 1.5, July 2020.
    ("edc016b1fa5adca3ebd3d7020eaed0ad7b8814ca", ProxyAbi::V0_1_0, &[ProxyAbi::V0_1_0], false),
    // Istio 1.7 to 1.9, August 2020: the precursor of 0.2.0; those Envoys loaded both.
    ("4689a30309abf31aee9ae36e73d34b1bb182685f", ProxyAbi::V0_2_0, &[ProxyAbi::V0_1_0, ProxyAbi::V0_2_0], false),
];

/// Interprets one declared ABI name: `v0-<envoy-wasm sha>` (full or abbreviated to 8+ hex
/// digits), `v0.2.1`, `0.2.1`, `v0_2_1`, `proxy_abi_version_0_2_1`, any case.
pub fn parse_declared(name: &str) -> Option<DeclaredAbi> {
    let lower = name.trim().to_ascii_lowercase();
    if let Some(hash) = lower.strip_prefix("v0-") {
        return LEGACY_HASHES
            .iter()
            .find(|(full, ..)| hash.len() >= 7 && full.starts_with(hash))
            .map(|&(_, abi, accepted, marker_optional)| DeclaredAbi { abi, accepted, marker_optional });
    }
    let version = lower
        .strip_prefix("proxy_abi_version_")
        .or_else(|| lower.strip_prefix("proxy-wasm-"))
        .or_else(|| lower.strip_prefix('v'))
        .unwrap_or(&lower);
    let abi = ProxyAbi::from_version(version)?;
    let accepted: &'static [ProxyAbi] = match abi {
        ProxyAbi::V0_1_0 => &[ProxyAbi::V0_1_0],
        ProxyAbi::V0_2_0 => &[ProxyAbi::V0_2_0],
        ProxyAbi::V0_2_1 => &[ProxyAbi::V0_2_1],
        ProxyAbi::V0_3_0 => &[ProxyAbi::V0_3_0],
    };
    Some(DeclaredAbi { abi, accepted, marker_optional: false })
}

/// Compares what a config declares with what the module exports and explains any mismatch.
/// Unknown declared names are ignored (there is nothing to compare them with).
pub fn mismatch_warning(declared: &[String], detected: &[ProxyAbi]) -> Option<String> {
    let known: Vec<(&String, DeclaredAbi)> =
        declared.iter().filter_map(|name| parse_declared(name).map(|abi| (name, abi))).collect();
    if known.is_empty() {
        return None;
    }
    let names = known.iter().map(|(name, _)| name.as_str()).collect::<Vec<_>>().join(", ");
    let label = if known.len() == 1 { "ABI" } else { "ABIs" };
    if detected.is_empty() {
        if known.iter().any(|(_, abi)| abi.marker_optional) {
            return None;
        }
        return Some(format!("declares {label} {names} but the module exports no proxy_abi_version_* marker"));
    }
    let compatible = known.iter().any(|(_, abi)| abi.accepted.iter().any(|accepted| detected.contains(accepted)));
    if compatible {
        return None;
    }
    let exports = detected.iter().map(|abi| abi.export_name()).collect::<Vec<_>>().join(", ");
    Some(format!("declares {label} {names} but the module exports only {exports}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(items: &[&str]) -> Vec<String> {
        items.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn every_spelling_of_a_spec_version_maps_to_the_same_abi() {
        for name in ["v0.2.1", "0.2.1", "V0.2.1", "v0_2_1", "0_2_1", "proxy_abi_version_0_2_1", " 0.2.1 "] {
            assert_eq!(parse_declared(name).map(|d| d.abi), Some(ProxyAbi::V0_2_1), "{name}");
        }
        assert_eq!(parse_declared("v0.1.0").map(|d| d.abi), Some(ProxyAbi::V0_1_0));
        assert_eq!(parse_declared("0.3.0").map(|d| d.abi), Some(ProxyAbi::V0_3_0));
        assert_eq!(parse_declared("0.4.0"), None);
        assert_eq!(parse_declared(""), None);
    }

    #[test]
    fn envoy_wasm_hashes_map_to_their_era_even_abbreviated() {
        let full = parse_declared("v0-097b7f2e4cc1fb490cc1943d0d633655ac3c522f").unwrap();
        assert_eq!(full.abi, ProxyAbi::V0_1_0);
        assert_eq!(parse_declared("v0-097b7f2e").unwrap(), full);
        assert_eq!(parse_declared("v0-4689a30309abf31aee9ae36e73d34b1bb182685f").unwrap().abi, ProxyAbi::V0_2_0);
        assert_eq!(parse_declared("v0-541b2c1155fffb15ccde92b8324f3e38f7339ba6").unwrap().abi, ProxyAbi::V0_1_0);
        assert_eq!(parse_declared("v0-deadbeefdeadbeef"), None);
        assert_eq!(parse_declared("v0-09"), None, "too short to identify a commit");
    }

    #[test]
    fn a_legacy_declaration_against_a_0_2_1_module_is_reported() {
        let warning = mismatch_warning(&strings(&["v0-097b7f2e"]), &[ProxyAbi::V0_2_1]).unwrap();
        assert_eq!(warning, "declares ABI v0-097b7f2e but the module exports only proxy_abi_version_0_2_1");
    }

    #[test]
    fn one_matching_declaration_among_several_is_enough() {
        let declared = strings(&[
            "v0-541b2c1155fffb15ccde92b8324f3e38f7339ba6",
            "v0-097b7f2e4cc1fb490cc1943d0d633655ac3c522f",
            "v0-4689a30309abf31aee9ae36e73d34b1bb182685f",
            "v0.2.1",
        ]);
        assert_eq!(mismatch_warning(&declared, &[ProxyAbi::V0_2_1]), None);
        assert_eq!(mismatch_warning(&declared, &[ProxyAbi::V0_2_0]), None);
        assert_eq!(mismatch_warning(&declared, &[]), None, "the 2019 ABIs had no marker");
    }

    #[test]
    fn a_modern_declaration_without_a_marker_is_reported() {
        let warning = mismatch_warning(&strings(&["v0.2.1"]), &[]).unwrap();
        assert!(warning.contains("exports no proxy_abi_version_* marker"), "{warning}");
    }

    #[test]
    fn unknown_declarations_are_not_compared() {
        assert_eq!(mismatch_warning(&strings(&["banana"]), &[ProxyAbi::V0_2_1]), None);
        assert_eq!(mismatch_warning(&[], &[ProxyAbi::V0_2_1]), None);
    }

    #[test]
    fn serialises_as_the_dotted_version() {
        assert_eq!(serde_json::to_string(&ProxyAbi::V0_2_1).unwrap(), r#""0.2.1""#);
        assert_eq!(serde_json::from_str::<ProxyAbi>(r#""0.1.0""#).unwrap(), ProxyAbi::V0_1_0);
        assert_eq!(ProxyAbi::from_export("proxy_abi_version_0_3_0"), Some(ProxyAbi::V0_3_0));
        assert_eq!(ProxyAbi::from_export("proxy_abi_version_vnext"), None);
    }
}
