use proptest::prelude::*;
use serde_json::json;

use super::*;
use crate::abi::ProxyAbi;
use crate::facts::{CncfConfig, Wasi};
use crate::fixtures::artifacts::{self, WASME_RUNTIME_CONFIG};
use crate::fixtures::{self, tar_gz, Artifact};
use crate::media;
use crate::recognise::recognise;

fn run_with(artifact: &Artifact, limits: &Limits) -> Description {
    let recognition = recognise(&artifact.manifest(), limits);
    describe(&recognition, &artifact.blobs(), limits)
}

fn run(artifact: &Artifact) -> Description {
    run_with(artifact, &Limits::default())
}

fn wasm(artifact: &Artifact) -> WasmFacts {
    match run(artifact) {
        Description::Wasm(facts) => facts,
        other => panic!("expected Wasm, got {other:?}"),
    }
}

fn unrecognised(description: Description) -> (String, WasmFacts) {
    match description {
        Description::Unrecognised { reason, facts } => (reason, facts),
        other => panic!("expected Unrecognised, got {other:?}"),
    }
}

#[test]
fn wasme_push_of_a_proxy_wasm_filter() {
    let module = fixtures::proxy_filter();
    let facts = wasm(&artifacts::wasme(&module));
    assert_eq!(facts.format, WasmFormat::SoloOci);
    assert_eq!(facts.runtime_type.as_deref(), Some("envoy_proxy"));
    assert_eq!(facts.abi_versions.len(), 4, "config and annotation merged: {:?}", facts.abi_versions);
    assert_eq!(facts.declared_proxy_abis, vec![ProxyAbi::V0_1_0, ProxyAbi::V0_2_0, ProxyAbi::V0_2_1]);
    assert_eq!(facts.detected_proxy_abis, vec![ProxyAbi::V0_2_1]);
    assert_eq!(facts.root_ids, vec!["add_header"]);
    assert_eq!(facts.modules.len(), 1);
    assert_eq!(facts.primary_module().unwrap().digest, Digest::sha256_of(&module));
    assert!(facts.warnings.is_empty(), "{:?}", facts.warnings);
}

#[test]
fn a_declared_abi_the_module_does_not_export_is_a_warning() {
    let config = r#"{"type":"envoy_proxy","abi_version":"v0-097b7f2e4cc1fb490cc1943d0d633655ac3c522f","config":{"root_ids":["r"]}}"#;
    let artifact =
        Artifact::new(media::SOLO_CONFIG, config.as_bytes()).layer(media::SOLO_CONTENT, &fixtures::proxy_filter());
    let facts = wasm(&artifact);
    assert_eq!(facts.root_ids, vec!["r"]);
    assert_eq!(
        facts.warnings,
        vec!["declares ABI v0-097b7f2e4cc1fb490cc1943d0d633655ac3c522f but the module exports only proxy_abi_version_0_2_1"]
    );
}

#[test]
fn istio_compat_image_built_by_docker_with_runtime_config() {
    let module = fixtures::proxy_filter();
    let artifact = artifacts::istio_docker(&module, Some(WASME_RUNTIME_CONFIG));
    let facts = wasm(&artifact);
    assert_eq!(facts.format, WasmFormat::SoloCompat);
    assert_eq!(facts.module_path.as_deref(), Some("plugin.wasm"));
    assert!(facts.has_runtime_config);
    assert_eq!(facts.runtime_type.as_deref(), Some("envoy_proxy"));
    assert_eq!(facts.root_ids, vec!["add_header"]);
    let layer_digest = &artifact.manifest().layers[0].digest;
    assert_ne!(&facts.modules[0].digest, layer_digest, "the module digest is the module's own");
    assert_eq!(facts.modules[0].digest, Digest::sha256_of(&module));
}

#[test]
fn istio_compat_image_built_by_buildah_takes_descriptions_from_labels() {
    let facts = wasm(&artifacts::istio_buildah(&fixtures::proxy_filter()));
    assert_eq!(facts.format, WasmFormat::SoloCompat);
    assert!(!facts.has_runtime_config);
    assert_eq!(facts.annotations.description.as_deref(), Some("from a label"));
}

#[test]
fn crun_images_are_found_by_entry_point_or_platform() {
    let module = fixtures::wasi_command();
    for artifact in [artifacts::crun_compat_smart(&module), artifacts::podman_wasi_platform(&module)] {
        let facts = wasm(&artifact);
        assert_eq!(facts.format, WasmFormat::CrunWasmEdge);
        assert_eq!(facts.modules[0].wasi, Some(Wasi::Preview1));
        assert!(facts.module_path.as_deref().unwrap().ends_with(".wasm"));
    }
}

#[test]
fn an_ordinary_container_image_is_not_wasm_after_all() {
    assert_eq!(run(&artifacts::alpine()), Description::NotWasm);
}

#[test]
fn a_declared_compat_image_without_plugin_wasm_is_unrecognised() {
    let artifact = Artifact::new(media::OCI_IMAGE_CONFIG, b"{}")
        .layer(media::OCI_LAYER_TAR_GZIP, &tar_gz(&[("README", b"hi")]))
        .annotation(media::ANN_VARIANT, "compat");
    let (reason, facts) = unrecognised(run(&artifact));
    assert_eq!(reason, "the layer holds no plugin.wasm and no .wasm entry point");
    assert!(facts.modules.is_empty());
}

#[test]
fn a_malformed_runtime_config_in_a_compat_layer_keeps_the_module() {
    let artifact = artifacts::istio_docker(&fixtures::proxy_filter(), Some("{\"type\": envoy_proxy"));
    let (reason, facts) = unrecognised(run(&artifact));
    assert!(reason.starts_with("the runtime-config.json is not valid JSON"), "{reason}");
    assert_eq!(facts.format, WasmFormat::SoloCompat);
    assert!(facts.has_runtime_config);
    assert_eq!(facts.modules[0].proxy_abis, vec![ProxyAbi::V0_2_1]);
}

#[test]
fn wkg_push_of_a_component() {
    let component = fixtures::component();
    let facts = wasm(&artifacts::wkg(&component));
    assert_eq!(facts.format, WasmFormat::CncfWasm);
    let cncf = facts.cncf.as_ref().unwrap();
    assert_eq!(cncf.os.as_deref(), Some("wasip2"));
    assert_eq!(cncf.author, None);
    assert_eq!(cncf.component_target, None);
    let annotations = &facts.annotations;
    assert_eq!(annotations.version.as_deref(), Some("0.1.0"));
    assert_eq!(annotations.licenses.as_deref(), Some("Apache-2.0 WITH LLVM-exception"));
    assert_eq!(annotations.source.as_deref(), Some("https://github.com/example/hello"));
    assert_eq!(annotations.url.as_deref(), Some("https://example.com/hello"));
    assert_eq!(annotations.authors.as_deref(), Some("Jane Doe <jane@example.com>"));
    assert_eq!(annotations.description.as_deref(), Some("Hello, world"));
    let module = facts.primary_module().unwrap();
    assert_eq!(module.kind, ModuleKind::Component);
    assert_eq!(module.wasi, Some(Wasi::Preview2));
    assert_eq!(module.component.as_ref().unwrap().exported_interfaces, vec!["wasi:cli/run@0.2.0"]);
    assert!(facts.warnings.is_empty(), "{:?}", facts.warnings);
}

#[test]
fn a_cncf_config_that_contradicts_the_module_is_reported() {
    let config = json!({"os": "wasip2", "layerDigests": ["sha256:0000"], "component": {"exports": ["wasi:http/incoming-handler@0.2.0"]}});
    let artifact = Artifact::new(media::CNCF_CONFIG, config.to_string().as_bytes())
        .layer(media::CNCF_LAYER, &fixtures::wasi_command());
    let facts = wasm(&artifact);
    assert_eq!(
        facts.warnings,
        vec![
            "the config says os wasip2 but the layer is a core module",
            "the config's layerDigests do not name the module layer"
        ]
    );
    let artifact = Artifact::new(media::CNCF_CONFIG, config.to_string().as_bytes())
        .layer(media::CNCF_LAYER, &fixtures::component());
    assert!(wasm(&artifact).warnings.iter().any(|w| w.contains("exports the component does not have: wasi:http")));
}

#[test]
fn a_cncf_config_of_nulls_is_fine() {
    let config =
        br#"{"created":null,"author":null,"architecture":null,"os":null,"layerDigests":null,"component":null}"#;
    let artifact = Artifact::new(media::CNCF_CONFIG, config).layer(media::CNCF_LAYER, &fixtures::wasi_command());
    let facts = wasm(&artifact);
    assert_eq!(facts.cncf, Some(CncfConfig::default()));
    assert!(facts.warnings.is_empty());
}

#[test]
fn wasm_to_oci_push() {
    let facts = wasm(&artifacts::wasm_to_oci(&fixtures::wasi_command()));
    assert_eq!(facts.format, WasmFormat::WasmToOci);
    assert_eq!(facts.modules[0].exports.len(), 2);
}

#[test]
fn spin_registry_push_with_two_components() {
    let (a, b) = (fixtures::wasi_command(), fixtures::component());
    let facts = wasm(&artifacts::spin2(&[("hello", &a), ("api", &b)]));
    assert_eq!(facts.format, WasmFormat::Spin);
    assert_eq!(facts.modules.len(), 2);
    let spin = facts.spin.as_ref().unwrap();
    assert_eq!(spin.name.as_deref(), Some("hello-spin"));
    assert_eq!(spin.trigger_types, vec!["http"]);
    assert_eq!(spin.components[1].route.as_deref(), Some("/api/..."));
    assert_eq!(spin.components[1].source_digest, Some(facts.modules[1].digest.to_string()));
    assert_eq!(facts.annotations.title.as_deref(), Some("hello-spin"), "filled from the locked app");
    assert_eq!(facts.annotations.authors.as_deref(), Some("Jane <jane@example.com>"));
    assert_eq!(facts.annotations.created.as_deref(), Some("2024-03-01T09:00:00+00:00"));
    let old = wasm(&artifacts::spin1(&a));
    assert_eq!(old.spin.unwrap().components[0].id, "hello");
}

#[test]
fn a_config_that_is_not_json_keeps_the_module_facts() {
    let artifact =
        Artifact::new(media::SOLO_CONFIG, b"type: envoy_proxy").layer(media::SOLO_CONTENT, &fixtures::proxy_filter());
    let (reason, facts) = unrecognised(run(&artifact));
    assert!(reason.starts_with("the runtime config is not valid JSON"), "{reason}");
    assert_eq!(facts.modules.len(), 1);
    assert_eq!(facts.detected_proxy_abis, vec![ProxyAbi::V0_2_1]);
}

#[test]
fn a_truncated_module_is_unrecognised_with_the_parser_error() {
    let module = fixtures::proxy_filter();
    let (reason, facts) = unrecognised(run(&artifacts::wasm_to_oci(&module[..module.len() - 3])));
    assert!(reason.starts_with("malformed WebAssembly"), "{reason}");
    assert_eq!(facts.format, WasmFormat::WasmToOci);
    let (reason, _) = unrecognised(run(&artifacts::wasm_to_oci(b"#!/bin/sh\necho not wasm")));
    assert_eq!(reason, "not a WebAssembly binary (no \\0asm header)");
}

#[test]
fn a_gzip_bomb_in_a_compat_layer_is_bounded() {
    let zeros = vec![0u8; 8 * 1024 * 1024];
    let artifact = Artifact::new(media::OCI_IMAGE_CONFIG, b"{}")
        .layer(media::OCI_LAYER_TAR_GZIP, &tar_gz(&[("zeros", &zeros), ("plugin.wasm", b"\0asm\x01\0\0\0")]))
        .annotation(media::ANN_VARIANT, "compat");
    let limits = Limits { max_unpacked_bytes: 1024 * 1024, ..Limits::default() };
    let (reason, _) = unrecognised(run_with(&artifact, &limits));
    assert_eq!(reason, "the layer unpacks to more than 1 MiB before any module was found");
}

#[test]
fn an_oversized_module_is_unrecognised_without_being_fetched() {
    let limits = Limits { max_module_bytes: 16, ..Limits::default() };
    let artifact = artifacts::wasme(&fixtures::proxy_filter());
    let recognition = recognise(&artifact.manifest(), &limits);
    let config_only: HashMap<Digest, &[u8]> =
        [(Digest::sha256_of(WASME_RUNTIME_CONFIG.as_bytes()), WASME_RUNTIME_CONFIG.as_bytes())].into();
    let (reason, facts) = unrecognised(describe(&recognition, &config_only, &limits));
    assert!(reason.starts_with("the module layer is"), "{reason}");
    assert_eq!(facts.root_ids, vec!["add_header"], "the config was still read");
}

#[test]
fn a_missing_blob_is_a_reason_not_a_panic() {
    let artifact = artifacts::wkg(&fixtures::component());
    let recognition = recognise(&artifact.manifest(), &Limits::default());
    let empty: BTreeMap<Digest, Vec<u8>> = BTreeMap::new();
    let (reason, _) = unrecognised(describe(&recognition, &empty, &Limits::default()));
    assert!(reason.starts_with("blob sha256:") && reason.ends_with("was not provided"), "{reason}");
    assert_eq!(describe(&Recognition::NotWasm, &empty, &Limits::default()), Description::NotWasm);
}

#[test]
fn descriptions_serialise_as_camel_case_json_and_back() {
    let description = run(&artifacts::wasme(&fixtures::proxy_filter()));
    let json = serde_json::to_value(&description).unwrap();
    assert_eq!(json["outcome"], "wasm");
    assert_eq!(json["format"], "soloOci");
    assert_eq!(json["detectedProxyAbis"], json!(["0.2.1"]));
    assert_eq!(json["modules"][0]["kind"], "module");
    assert!(json["modules"][0]["digest"].as_str().unwrap().starts_with("sha256:"));
    assert_eq!(serde_json::from_value::<Description>(json).unwrap(), description);
    let unrecognised = run(&artifacts::wasm_to_oci(b"nope"));
    let json = serde_json::to_value(&unrecognised).unwrap();
    assert_eq!(json["outcome"], "unrecognised");
    assert!(json["reason"].is_string() && json["facts"]["format"] == "wasmToOci");
}

fn blob_bytes() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        proptest::collection::vec(any::<u8>(), 0..256),
        Just(b"{}".to_vec()),
        Just(b"null".to_vec()),
        Just(WASME_RUNTIME_CONFIG.as_bytes().to_vec()),
        Just(br#"{"config":{"Cmd":["/a.wasm"]},"os":"wasi","component":{"exports":[1,null]}}"#.to_vec()),
        Just(fixtures::wasi_command()),
        Just(tar_gz(&[("plugin.wasm", b"\0asm\x01\0\0\0")])),
        Just(tar_gz(&[("a.wasm", b"\0asm\x0d\0\x01\0")])),
    ]
}

proptest! {
    #[test]
    fn never_panics_on_any_blobs_behind_any_manifest(
        config_type in prop::sample::select(vec![media::SOLO_CONFIG, media::CNCF_CONFIG, media::SPIN_APP,
            media::OCI_IMAGE_CONFIG, media::DOCKER_IMAGE_CONFIG, media::WASM_TO_OCI_CONFIG]),
        config in blob_bytes(),
        layers in proptest::collection::vec((prop::sample::select(vec![media::SOLO_CONTENT, media::CNCF_LAYER,
            media::WASM_CONTENT, media::SPIN_APP, media::OCI_LAYER_TAR_GZIP, media::DOCKER_LAYER_TAR_GZIP]), blob_bytes()), 0..4),
        variant in proptest::option::of(prop::sample::select(vec!["compat", "compat-smart"])),
    ) {
        let mut artifact = Artifact::new(config_type, &config);
        for (media_type, bytes) in &layers {
            artifact = artifact.layer(media_type, bytes);
        }
        if let Some(variant) = variant {
            artifact = artifact.annotation(media::ANN_VARIANT, variant);
        }
        let description = run(&artifact);
        // Whatever came out serialises (the index stores it as JSON).
        prop_assert!(serde_json::to_string(&description).is_ok());
    }
}
