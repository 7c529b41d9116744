use proptest::prelude::*;

use super::*;
use crate::fixtures::artifacts::{self, WASME_RUNTIME_CONFIG};
use crate::fixtures::{self, Artifact};
use wasmhub_oci::Digest;

fn plan(artifact: &Artifact) -> Plan {
    match recognise(&artifact.manifest(), &Limits::default()) {
        Recognition::Wasm(plan) => *plan,
        Recognition::NotWasm => panic!("not recognised: {}", artifact.json()),
    }
}

fn roles(plan: &Plan) -> Vec<BlobRole> {
    plan.needs.iter().map(|n| n.role).collect()
}

#[test]
fn wasme_push_needs_the_runtime_config_and_the_module() {
    let module = fixtures::proxy_filter();
    let plan = plan(&artifacts::wasme(&module));
    assert_eq!(plan.format, WasmFormat::SoloOci);
    assert_eq!(plan.certainty, Certainty::Declared);
    assert_eq!(roles(&plan), vec![BlobRole::Config, BlobRole::Module]);
    assert_eq!(plan.needs[0].descriptor.size, WASME_RUNTIME_CONFIG.len() as u64);
    assert_eq!(plan.needs[1].descriptor.digest, Digest::sha256_of(&module));
    assert_eq!(plan.runtime_type.as_deref(), Some("envoy_proxy"));
    assert!(plan.abi_annotation.as_deref().unwrap().ends_with(",v0.2.1"));
    assert!(plan.warnings.is_empty() && plan.fatal.is_none());
}

#[test]
fn a_solo_module_layer_alone_is_enough_and_the_config_may_be_a_layer() {
    let module = fixtures::proxy_filter();
    let artifact = Artifact::new(wasmhub_oci::media_type::OCI_EMPTY, b"{}")
        .layer(media::SOLO_CONFIG, WASME_RUNTIME_CONFIG.as_bytes())
        .layer(media::SOLO_CONTENT, &module);
    let plan = plan(&artifact);
    assert_eq!(plan.format, WasmFormat::SoloOci);
    assert_eq!(plan.needs[0].descriptor.media_type.as_str(), media::SOLO_CONFIG);
}

#[test]
fn each_format_is_told_apart_by_its_media_types() {
    let module = fixtures::wasi_command();
    let cases = [
        (artifacts::wkg(&fixtures::component()), WasmFormat::CncfWasm, vec![BlobRole::Config, BlobRole::Module]),
        (artifacts::wasm_to_oci(&module), WasmFormat::WasmToOci, vec![BlobRole::Module]),
        (artifacts::spin1(&module), WasmFormat::Spin, vec![BlobRole::SpinApp, BlobRole::Module]),
        (
            artifacts::spin2(&[("a", &module), ("b", &fixtures::component())]),
            WasmFormat::Spin,
            vec![BlobRole::SpinApp, BlobRole::Module, BlobRole::Module],
        ),
        (artifacts::istio_buildah(&module), WasmFormat::SoloCompat, vec![BlobRole::ImageConfig, BlobRole::Layer]),
        (artifacts::crun_compat_smart(&module), WasmFormat::CrunWasmEdge, vec![BlobRole::ImageConfig, BlobRole::Layer]),
    ];
    for (artifact, format, needs) in cases {
        let plan = plan(&artifact);
        assert_eq!((plan.format, roles(&plan)), (format, needs), "{}", artifact.json());
        assert_eq!(plan.certainty, Certainty::Declared);
    }
}

#[test]
fn oras_pushed_wasm_with_the_empty_config_is_cncf_without_a_config_to_read() {
    let module = fixtures::wasi_command();
    let oras = Artifact::new(wasmhub_oci::media_type::OCI_EMPTY, b"{}").layer(media::CNCF_LAYER, &module);
    let oras = plan(&oras);
    assert_eq!((oras.format, roles(&oras)), (WasmFormat::CncfWasm, vec![BlobRole::Module]));
    assert!(oras.warnings.is_empty());
    let odd = Artifact::new("application/vnd.example+json", b"{}").layer(media::CNCF_LAYER, &module);
    assert_eq!(
        plan(&odd).warnings,
        vec!["the config is application/vnd.example+json, not application/vnd.wasm.config.v0+json; not read"]
    );
}

#[test]
fn the_crun_handler_annotation_declares_wasm() {
    let artifact = artifacts::alpine().annotation(media::ANN_CRUN_HANDLER, "wasm");
    assert_eq!(plan(&artifact).format, WasmFormat::CrunWasmEdge);
    assert_eq!(plan(&artifact).certainty, Certainty::Declared);
}

#[test]
fn unannotated_container_images_are_candidates_needing_config_and_last_layer() {
    for artifact in [artifacts::istio_docker(&fixtures::proxy_filter(), None), artifacts::alpine()] {
        let plan = plan(&artifact);
        assert_eq!(plan.certainty, Certainty::Candidate);
        assert_eq!(roles(&plan), vec![BlobRole::ImageConfig, BlobRole::Layer]);
    }
}

#[test]
fn nothing_is_fetched_for_what_cannot_be_wasm() {
    let limits = Limits { max_layer_bytes: 100, ..Limits::default() };
    let big_image = artifacts::alpine().layer(media::DOCKER_LAYER_TAR_GZIP, &[0u8; 101]);
    assert_eq!(recognise(&big_image.manifest(), &limits), Recognition::NotWasm);
    let helm = Artifact::new("application/vnd.cncf.helm.config.v1+json", b"{}")
        .layer("application/vnd.cncf.helm.chart.content.v1.tar+gzip", b"chart");
    assert_eq!(recognise(&helm.manifest(), &limits), Recognition::NotWasm);
    let zstd = artifacts::alpine().layer("application/vnd.oci.image.layer.v1.tar+zstd", b"z");
    assert_eq!(recognise(&zstd.manifest(), &limits).needs(), &[]);
    let index = format!(r#"{{"schemaVersion":2,"mediaType":"{}","manifests":[]}}"#, wasmhub_oci::media_type::OCI_INDEX);
    let index = Manifest::parse(index.as_bytes(), None).unwrap();
    assert_eq!(recognise(&index, &limits), Recognition::NotWasm);
}

#[test]
fn an_oversized_module_is_not_fetched_and_says_why() {
    let limits = Limits { max_module_bytes: 4, ..Limits::default() };
    let Recognition::Wasm(plan) = recognise(&artifacts::wasme(&fixtures::proxy_filter()).manifest(), &limits) else {
        panic!()
    };
    assert_eq!(roles(&plan), vec![BlobRole::Config]);
    assert!(plan.fatal.as_deref().unwrap().starts_with("the module layer is"), "{:?}", plan.fatal);
}

#[test]
fn an_oversized_config_is_skipped_with_a_warning() {
    let limits = Limits { max_config_bytes: 10, ..Limits::default() };
    let Recognition::Wasm(plan) = recognise(&artifacts::wkg(&fixtures::component()).manifest(), &limits) else {
        panic!()
    };
    assert_eq!(roles(&plan), vec![BlobRole::Module]);
    assert!(plan.warnings[0].starts_with("the config is"), "{:?}", plan.warnings);
}

#[test]
fn a_declared_compat_image_with_a_non_tar_last_layer_is_fatal() {
    let artifact = artifacts::istio_buildah(b"x").layer("application/vnd.oci.image.layer.v1.tar+zstd", b"z");
    let plan = plan(&artifact);
    assert!(plan.fatal.as_deref().unwrap().contains("not a tar or tar+gzip layer"));
}

#[test]
fn spin_module_count_is_capped() {
    let module = fixtures::wasi_command();
    let components: Vec<(String, Vec<u8>)> =
        (0..5).map(|i| (format!("c{i}"), fixtures::with_custom_section(module.clone(), "n", &[i]))).collect();
    let refs: Vec<(&str, &[u8])> = components.iter().map(|(id, m)| (id.as_str(), m.as_slice())).collect();
    let limits = Limits { max_modules: 3, ..Limits::default() };
    let Recognition::Wasm(plan) = recognise(&artifacts::spin2(&refs).manifest(), &limits) else { panic!() };
    assert_eq!(plan.needs.iter().filter(|n| n.role == BlobRole::Module).count(), 3);
    assert_eq!(plan.warnings, vec!["the application has 5 Wasm layers; only the first 3 were inspected"]);
}

fn media_type() -> impl Strategy<Value = &'static str> {
    prop::sample::select(vec![
        media::SOLO_CONFIG,
        media::SOLO_CONTENT,
        media::CNCF_CONFIG,
        media::CNCF_LAYER,
        media::WASM_TO_OCI_CONFIG,
        media::WASM_CONTENT,
        media::SPIN_APP,
        media::OCI_IMAGE_CONFIG,
        media::DOCKER_IMAGE_CONFIG,
        media::OCI_LAYER_TAR_GZIP,
        media::DOCKER_LAYER_TAR_GZIP,
        media::OCI_LAYER_TAR,
        "application/octet-stream",
    ])
}

proptest! {
    #[test]
    fn never_panics_and_needs_only_blobs_within_limits(
        config in media_type(),
        layers in proptest::collection::vec((media_type(), proptest::collection::vec(any::<u8>(), 0..64)), 0..5),
        annotated in proptest::option::of(prop::sample::select(vec!["compat", "compat-smart", "other"])),
        max in 1u64..80,
    ) {
        let mut artifact = Artifact::new(config, b"{}");
        for (media_type, bytes) in &layers {
            artifact = artifact.layer(media_type, bytes);
        }
        if let Some(variant) = annotated {
            artifact = artifact.annotation(media::ANN_VARIANT, variant);
        }
        let limits = Limits { max_module_bytes: max, max_config_bytes: max, max_layer_bytes: max, ..Limits::default() };
        let recognition = recognise(&artifact.manifest(), &limits);
        for need in recognition.needs() {
            prop_assert!(need.descriptor.size <= max);
        }
    }
}
