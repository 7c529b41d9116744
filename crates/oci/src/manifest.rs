//! Manifests: OCI image manifest and index, Docker schema 2 manifest and manifest list.
//!
//! The registry stores the pushed bytes unchanged; this module only reads what it needs to
//! check them (which blobs and manifests they reference, their subject) and to describe them
//! (media type, artifact type, annotations). Unknown fields are ignored, as the spec requires.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::digest::Digest;
use crate::media_type::{self, MediaType};

/// Largest manifest accepted, as the distribution spec suggests (4 MiB).
pub const MAX_MANIFEST_BYTES: usize = 4 * 1024 * 1024;
/// Most descriptors (config, layers, child manifests) one manifest may reference. 4 MiB holds
/// about 40,000 short descriptors; the index checks and records a manifest's references in one
/// statement each, and SQLite takes at most 32,766 parameters per statement. Images stop near
/// 128 layers (overlayfs) and indexes at a few hundred platforms, so this only refuses
/// manifests made to be huge.
pub const MAX_MANIFEST_REFERENCES: usize = 10_000;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Descriptor {
    pub media_type: MediaType,
    pub digest: Digest,
    pub size: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub urls: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub annotations: Option<BTreeMap<String, String>>,
    #[serde(default, skip_serializing_if = "Option::is_none", deserialize_with = "empty_as_none")]
    pub artifact_type: Option<MediaType>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub platform: Option<serde_json::Value>,
}

/// An `artifactType` of `""` is read as absent: no media type is empty, and the spec's
/// referrers text allows for producers that send it so ("no artifactType or it is empty").
fn empty_as_none<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<Option<MediaType>, D::Error> {
    let text: Option<String> = Option::deserialize(deserializer)?;
    text.filter(|text| !text.is_empty()).map(|text| text.parse().map_err(serde::de::Error::custom)).transpose()
}

impl Descriptor {
    /// Foreign (Docker) and non-distributable (OCI) layers live elsewhere, named by `urls`;
    /// the registry does not hold them, so a manifest may reference them without a blob.
    pub fn is_foreign(&self) -> bool {
        self.media_type.is(media_type::DOCKER_FOREIGN_LAYER)
            || self.media_type.essence().starts_with(media_type::OCI_NONDISTRIBUTABLE_PREFIX)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ManifestKind {
    OciManifest,
    OciIndex,
    DockerManifest,
    DockerManifestList,
}

impl ManifestKind {
    pub fn media_type(self) -> &'static str {
        match self {
            ManifestKind::OciManifest => media_type::OCI_MANIFEST,
            ManifestKind::OciIndex => media_type::OCI_INDEX,
            ManifestKind::DockerManifest => media_type::DOCKER_MANIFEST,
            ManifestKind::DockerManifestList => media_type::DOCKER_MANIFEST_LIST,
        }
    }

    fn from_media_type(media_type: &MediaType) -> Option<ManifestKind> {
        [
            ManifestKind::OciManifest,
            ManifestKind::OciIndex,
            ManifestKind::DockerManifest,
            ManifestKind::DockerManifestList,
        ]
        .into_iter()
        .find(|kind| media_type.is(kind.media_type()))
    }

    pub fn is_index(self) -> bool {
        matches!(self, ManifestKind::OciIndex | ManifestKind::DockerManifestList)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ManifestError {
    #[error("manifest is larger than {MAX_MANIFEST_BYTES} bytes")]
    TooLarge,
    #[error("manifest references {0} descriptors; at most {MAX_MANIFEST_REFERENCES} are accepted")]
    TooManyReferences(usize),
    #[error("manifest is not valid JSON for its media type: {0}")]
    Json(String),
    #[error("schemaVersion must be 2, found {0:?}")]
    SchemaVersion(Option<i64>),
    #[error("Docker schema 1 manifests are not supported; push schema 2 or OCI")]
    Schema1,
    #[error("manifest media type {0:?} is not a supported manifest type")]
    UnsupportedMediaType(String),
    #[error("manifest mediaType {body:?} does not match the Content-Type {header:?}")]
    MediaTypeMismatch { body: String, header: String },
    #[error("cannot tell the manifest type: no mediaType field, no known Content-Type, and neither config nor manifests present")]
    UnknownKind,
    #[error("{0} manifest is missing its {1:?} field")]
    MissingField(&'static str, &'static str),
    #[error("{0} manifest must not have a {1:?} field")]
    UnexpectedField(&'static str, &'static str),
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawManifest {
    schema_version: Option<i64>,
    media_type: Option<String>,
    config: Option<Descriptor>,
    layers: Option<Vec<Descriptor>>,
    manifests: Option<Vec<Descriptor>>,
    subject: Option<Descriptor>,
    #[serde(default, deserialize_with = "empty_as_none")]
    artifact_type: Option<MediaType>,
    #[serde(default)]
    annotations: BTreeMap<String, String>,
}

/// A parsed manifest; see the module documentation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Manifest {
    pub kind: ManifestKind,
    /// The media type to serve the stored bytes with.
    pub media_type: MediaType,
    pub config: Option<Descriptor>,
    pub layers: Vec<Descriptor>,
    pub manifests: Vec<Descriptor>,
    pub subject: Option<Descriptor>,
    pub artifact_type: Option<MediaType>,
    pub annotations: BTreeMap<String, String>,
}

impl Manifest {
    /// Parses pushed manifest bytes. `content_type` is the request's `Content-Type`, if any.
    pub fn parse(bytes: &[u8], content_type: Option<&MediaType>) -> Result<Manifest, ManifestError> {
        if bytes.len() > MAX_MANIFEST_BYTES {
            return Err(ManifestError::TooLarge);
        }
        let raw: RawManifest = serde_json::from_slice(bytes).map_err(|e| ManifestError::Json(e.to_string()))?;
        if raw.schema_version == Some(1) {
            return Err(ManifestError::Schema1);
        }
        if raw.schema_version != Some(2) {
            return Err(ManifestError::SchemaVersion(raw.schema_version));
        }
        let body_type = match &raw.media_type {
            Some(text) => {
                Some(text.parse::<MediaType>().map_err(|_| ManifestError::UnsupportedMediaType(text.clone()))?)
            }
            None => None,
        };
        let kind = Self::kind(&raw, body_type.as_ref(), content_type)?;
        let name = match kind {
            ManifestKind::OciManifest => "OCI image",
            ManifestKind::OciIndex => "OCI index",
            ManifestKind::DockerManifest => "Docker schema 2",
            ManifestKind::DockerManifestList => "Docker manifest list",
        };
        if kind.is_index() {
            if raw.config.is_some() {
                return Err(ManifestError::UnexpectedField(name, "config"));
            }
            if raw.layers.is_some() {
                return Err(ManifestError::UnexpectedField(name, "layers"));
            }
            if raw.manifests.is_none() {
                return Err(ManifestError::MissingField(name, "manifests"));
            }
        } else {
            if raw.config.is_none() {
                return Err(ManifestError::MissingField(name, "config"));
            }
            if raw.manifests.is_some() {
                return Err(ManifestError::UnexpectedField(name, "manifests"));
            }
            if raw.layers.is_none() && kind == ManifestKind::DockerManifest {
                return Err(ManifestError::MissingField(name, "layers"));
            }
        }
        let references = usize::from(raw.config.is_some())
            + raw.layers.as_ref().map_or(0, Vec::len)
            + raw.manifests.as_ref().map_or(0, Vec::len);
        if references > MAX_MANIFEST_REFERENCES {
            return Err(ManifestError::TooManyReferences(references));
        }
        // Without a mediaType field the kind's own type is served: the Content-Type's
        // parameters (`; charset=utf-8`) are ignored, as the distribution spec asks.
        let media_type = body_type.unwrap_or_else(|| MediaType::from_static(kind.media_type()));
        Ok(Manifest {
            kind,
            media_type,
            config: raw.config,
            layers: raw.layers.unwrap_or_default(),
            manifests: raw.manifests.unwrap_or_default(),
            subject: raw.subject,
            artifact_type: raw.artifact_type,
            annotations: raw.annotations,
        })
    }

    fn kind(
        raw: &RawManifest,
        body_type: Option<&MediaType>,
        content_type: Option<&MediaType>,
    ) -> Result<ManifestKind, ManifestError> {
        let schema1 = |t: &MediaType| t.is(media_type::DOCKER_SCHEMA1) || t.is(media_type::DOCKER_SCHEMA1_SIGNED);
        if body_type.is_some_and(schema1) || content_type.is_some_and(schema1) {
            return Err(ManifestError::Schema1);
        }
        let header_kind = content_type.and_then(ManifestKind::from_media_type);
        match body_type {
            Some(body) => {
                let kind = ManifestKind::from_media_type(body)
                    .ok_or_else(|| ManifestError::UnsupportedMediaType(body.to_string()))?;
                // A manifest's own mediaType wins, but a client that names a *different*
                // manifest type in Content-Type has made a mistake worth reporting.
                match (content_type, header_kind) {
                    (Some(header), Some(header_kind)) if header_kind != kind => {
                        Err(ManifestError::MediaTypeMismatch { body: body.to_string(), header: header.to_string() })
                    }
                    _ => Ok(kind),
                }
            }
            None => match header_kind {
                Some(kind) => Ok(kind),
                // No mediaType anywhere (e.g. solo.io `wasme` manifests): infer from shape.
                None if raw.manifests.is_some() => Ok(ManifestKind::OciIndex),
                None if raw.config.is_some() => Ok(ManifestKind::OciManifest),
                None => Err(ManifestError::UnknownKind),
            },
        }
    }

    /// Blobs the registry must hold for this manifest to be complete.
    pub fn required_blobs(&self) -> impl Iterator<Item = &Descriptor> {
        self.config.iter().chain(self.layers.iter()).filter(|descriptor| !descriptor.is_foreign())
    }

    /// The artifact type reported by the referrers API: `artifactType`, else the config's
    /// media type (image manifests), per the distribution spec.
    pub fn referrer_artifact_type(&self) -> Option<&MediaType> {
        self.artifact_type.as_ref().or_else(|| {
            self.config.as_ref().map(|config| &config.media_type).filter(|_| self.kind == ManifestKind::OciManifest)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const D1: &str = "sha256:1111111111111111111111111111111111111111111111111111111111111111";
    const D2: &str = "sha256:2222222222222222222222222222222222222222222222222222222222222222";

    fn ct(s: &str) -> MediaType {
        s.parse().unwrap()
    }

    fn image(media_type: Option<&str>) -> String {
        let mt = media_type.map(|m| format!(r#""mediaType":"{m}","#)).unwrap_or_default();
        format!(
            r#"{{"schemaVersion":2,{mt}"config":{{"mediaType":"application/vnd.module.wasm.config.v1+json","digest":"{D1}","size":2}},
            "layers":[{{"mediaType":"application/vnd.module.wasm.content.layer.v1+wasm","digest":"{D2}","size":8}}],
            "annotations":{{"module.wasm.runtime/type":"envoy_proxy"}}}}"#
        )
    }

    #[test]
    fn a_manifest_may_reference_at_most_the_limit() {
        let manifest = |layers: usize| {
            let layer = format!(r#"{{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":"{D2}","size":1}}"#);
            format!(
                r#"{{"schemaVersion":2,"mediaType":"{}","config":{{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"{D1}","size":2}},"layers":[{}]}}"#,
                media_type::OCI_MANIFEST,
                vec![layer; layers].join(",")
            )
        };
        assert!(Manifest::parse(manifest(MAX_MANIFEST_REFERENCES - 1).as_bytes(), None).is_ok());
        let refused = Manifest::parse(manifest(MAX_MANIFEST_REFERENCES).as_bytes(), None);
        assert_eq!(refused.unwrap_err(), ManifestError::TooManyReferences(MAX_MANIFEST_REFERENCES + 1));
    }

    #[test]
    fn an_empty_artifact_type_is_absent_and_a_malformed_one_refused() {
        let with = |artifact_type: &str| {
            let layer = format!(
                r#""mediaType":"application/octet-stream","digest":"{D2}","size":1,"artifactType":{artifact_type}"#
            );
            format!(
                r#"{{"schemaVersion":2,"mediaType":"{}","artifactType":{artifact_type},"config":{{"mediaType":"application/vnd.oci.empty.v1+json","digest":"{D1}","size":2}},"layers":[{{{layer}}}]}}"#,
                media_type::OCI_MANIFEST
            )
        };
        let manifest = Manifest::parse(with(r#""""#).as_bytes(), None).unwrap();
        assert_eq!((manifest.artifact_type, manifest.layers[0].artifact_type.clone()), (None, None));
        let typed = Manifest::parse(with(r#""text/markdown""#).as_bytes(), None).unwrap();
        assert_eq!(typed.artifact_type.unwrap().as_str(), "text/markdown");
        assert!(Manifest::parse(with(r#""not a type""#).as_bytes(), None).is_err());
    }

    #[test]
    fn parses_an_oci_artifact_manifest() {
        let manifest = Manifest::parse(image(Some(media_type::OCI_MANIFEST)).as_bytes(), None).unwrap();
        assert_eq!(manifest.kind, ManifestKind::OciManifest);
        assert_eq!(manifest.required_blobs().count(), 2);
        assert_eq!(manifest.referrer_artifact_type().unwrap().as_str(), "application/vnd.module.wasm.config.v1+json");
        assert_eq!(manifest.annotations["module.wasm.runtime/type"], "envoy_proxy");
    }

    #[test]
    fn a_manifest_without_media_type_takes_it_from_the_header_or_its_shape() {
        let docker = Manifest::parse(image(None).as_bytes(), Some(&ct(media_type::DOCKER_MANIFEST))).unwrap();
        assert_eq!(docker.kind, ManifestKind::DockerManifest);
        let with_params = format!("{}; charset=utf-8", media_type::OCI_MANIFEST);
        let parsed = Manifest::parse(image(None).as_bytes(), Some(&ct(&with_params))).unwrap();
        assert_eq!(parsed.media_type.as_str(), media_type::OCI_MANIFEST);
        let inferred = Manifest::parse(image(None).as_bytes(), Some(&ct("application/json"))).unwrap();
        assert_eq!(inferred.kind, ManifestKind::OciManifest);
        assert_eq!(inferred.media_type.as_str(), media_type::OCI_MANIFEST);
    }

    #[test]
    fn conflicting_media_types_are_rejected() {
        let err = Manifest::parse(image(Some(media_type::OCI_MANIFEST)).as_bytes(), Some(&ct(media_type::OCI_INDEX)));
        assert!(matches!(err, Err(ManifestError::MediaTypeMismatch { .. })));
    }

    #[test]
    fn index_requires_manifests_and_rejects_layers() {
        let index = format!(
            r#"{{"schemaVersion":2,"mediaType":"{}","manifests":[{{"mediaType":"{}","digest":"{D1}","size":10}}]}}"#,
            media_type::OCI_INDEX,
            media_type::OCI_MANIFEST
        );
        let parsed = Manifest::parse(index.as_bytes(), None).unwrap();
        assert_eq!(parsed.manifests.len(), 1);
        let bad = format!(r#"{{"schemaVersion":2,"mediaType":"{}","layers":[]}}"#, media_type::OCI_INDEX);
        assert!(Manifest::parse(bad.as_bytes(), None).is_err());
    }

    #[test]
    fn schema1_and_bad_versions_are_rejected() {
        assert_eq!(Manifest::parse(br#"{"schemaVersion":1}"#, None), Err(ManifestError::Schema1));
        assert!(Manifest::parse(br#"{"schemaVersion":3,"config":{}}"#, None).is_err());
        assert!(Manifest::parse(b"not json", None).is_err());
        assert!(Manifest::parse(br#"{"schemaVersion":2}"#, None).is_err());
    }

    #[test]
    fn foreign_layers_are_not_required() {
        let manifest = format!(
            r#"{{"schemaVersion":2,"mediaType":"{}","config":{{"mediaType":"application/vnd.docker.container.image.v1+json","digest":"{D1}","size":1}},
            "layers":[{{"mediaType":"{}","digest":"{D2}","size":1,"urls":["https://example.com/x"]}}]}}"#,
            media_type::DOCKER_MANIFEST,
            media_type::DOCKER_FOREIGN_LAYER
        );
        assert_eq!(Manifest::parse(manifest.as_bytes(), None).unwrap().required_blobs().count(), 1);
    }

    proptest! {
        #[test]
        fn parser_never_panics_on_arbitrary_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
            let _ = Manifest::parse(&bytes, None);
        }

        #[test]
        fn parser_never_panics_on_json_like_input(text in r#"\{("[a-zA-Z]{1,12}":("[^"]{0,20}"|[0-9]{1,3}|\[\]|\{\}|null),?){0,6}\}"#) {
            let _ = Manifest::parse(text.as_bytes(), None);
        }
    }
}
