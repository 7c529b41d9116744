use proptest::prelude::*;

use super::*;
use crate::fixtures::{self, gzip, tar, tar_gz};

const RUNTIME_CONFIG: &[u8] = br#"{"type":"envoy_proxy","abiVersions":["v0.2.1"],"config":{"rootIds":["root"]}}"#;

fn extract(layer: &[u8], search: Search<'_>) -> Result<CompatLayer, CompatError> {
    extract_compat_layer(layer, search, &Limits::default())
}

#[test]
fn finds_plugin_wasm_and_runtime_config_as_docker_build_writes_them() {
    let module = fixtures::proxy_filter();
    let layer = tar_gz(&[("runtime-config.json", RUNTIME_CONFIG), ("plugin.wasm", &module)]);
    let found = extract(&layer, Search::default()).unwrap();
    assert_eq!(found.module, module);
    assert_eq!(found.module_path, "plugin.wasm");
    assert_eq!(found.found_by, FoundBy::RootPluginWasm);
    assert_eq!(found.runtime_config.as_deref(), Some(RUNTIME_CONFIG));
    assert_eq!(found.wasm_files, vec!["plugin.wasm"]);
    assert!(found.warnings.is_empty());
}

#[test]
fn leading_dot_slash_and_slash_are_the_root() {
    for path in ["./plugin.wasm", "/plugin.wasm"] {
        let layer = tar_gz(&[(path, b"\0asm\x01\0\0\0")]);
        assert_eq!(extract(&layer, Search::default()).unwrap().found_by, FoundBy::RootPluginWasm, "{path}");
    }
}

#[test]
fn a_root_plugin_wasm_beats_one_in_a_directory_whatever_the_order() {
    let layer = tar_gz(&[("opt/plugin.wasm", b"nested"), ("plugin.wasm", b"root")]);
    let found = extract(&layer, Search::default()).unwrap();
    assert_eq!(found.module, b"root");
    assert_eq!(found.wasm_files.len(), 2);
}

#[test]
fn a_nested_plugin_wasm_is_accepted_with_a_warning() {
    let layer = tar_gz(&[("etc/istio/plugin.wasm", b"nested")]);
    let found = extract(&layer, Search::default()).unwrap();
    assert_eq!(found.found_by, FoundBy::NestedPluginWasm);
    assert_eq!(found.warnings, vec!["plugin.wasm is at etc/istio/plugin.wasm, not at the root of the layer"]);
}

#[test]
fn the_image_entry_point_is_found_in_a_crun_image() {
    let layer = tar_gz(&[("lib/helper.wasm", b"helper"), ("wasi_example_main.wasm", b"main")]);
    let search = Search { entrypoint: Some("/wasi_example_main.wasm"), any_wasm: false };
    let found = extract(&layer, search).unwrap();
    assert_eq!(found.found_by, FoundBy::Entrypoint);
    assert_eq!(found.module, b"main");
}

#[test]
fn other_wasm_files_count_only_when_the_image_is_declared_wasm() {
    let layer = tar_gz(&[("usr/lib/node_modules/x/a.wasm", b"a"), ("b.wasm", b"b")]);
    assert_eq!(extract(&layer, Search::default()), Err(CompatError::NoWasm));
    let found = extract(&layer, Search { entrypoint: None, any_wasm: true }).unwrap();
    assert_eq!(found.found_by, FoundBy::AnyWasm);
    assert_eq!(found.module, b"a", "the first one");
    assert!(found.warnings[0].contains("holds 2 .wasm files"), "{:?}", found.warnings);
}

#[test]
fn uncompressed_tar_layers_are_read_too() {
    let layer = tar(&[("plugin.wasm", b"plain")]);
    assert_eq!(extract(&layer, Search::default()).unwrap().module, b"plain");
}

#[test]
fn symlinks_and_directories_are_not_modules() {
    let mut builder = tar::Builder::new(Vec::new());
    let mut header = tar::Header::new_gnu();
    header.set_entry_type(tar::EntryType::Symlink);
    header.set_size(0);
    builder.append_link(&mut header, "plugin.wasm", "/etc/passwd").unwrap();
    let mut dir = tar::Header::new_gnu();
    dir.set_entry_type(tar::EntryType::Directory);
    dir.set_size(0);
    builder.append_data(&mut dir, "x.wasm/", std::io::empty()).unwrap();
    let layer = gzip(&builder.into_inner().unwrap());
    assert_eq!(extract(&layer, Search { entrypoint: None, any_wasm: true }), Err(CompatError::NoWasm));
}

#[test]
fn a_gzip_bomb_is_cut_off_at_the_unpacked_limit() {
    let zeros = vec![0u8; 8 * 1024 * 1024];
    let bomb = tar_gz(&[("zeros", &zeros), ("plugin.wasm", b"late")]);
    assert!(bomb.len() < 64 * 1024, "compresses well: {}", bomb.len());
    let limits = Limits { max_unpacked_bytes: 1024 * 1024, ..Limits::default() };
    let result = extract_compat_layer(&bomb, Search::default(), &limits);
    assert_eq!(result, Err(CompatError::UnpackedTooLarge(1024 * 1024)));
    assert_eq!(result.unwrap_err().to_string(), "the layer unpacks to more than 1 MiB before any module was found");
}

#[test]
fn a_module_found_before_the_limit_is_kept() {
    let zeros = vec![0u8; 4 * 1024 * 1024];
    let layer = tar_gz(&[("plugin.wasm", b"early"), ("zeros", &zeros)]);
    let limits = Limits { max_unpacked_bytes: 1024 * 1024, ..Limits::default() };
    let found = extract_compat_layer(&layer, Search::default(), &limits).unwrap();
    assert_eq!(found.module, b"early");
    assert_eq!(found.warnings, vec!["stopped reading the layer after 1 MiB unpacked"]);
}

#[test]
fn an_oversized_module_is_refused_without_reading_it() {
    let big = vec![7u8; 2 * 1024 * 1024];
    let layer = tar_gz(&[("plugin.wasm", &big)]);
    let limits = Limits { max_module_bytes: 1024 * 1024, ..Limits::default() };
    let err = extract_compat_layer(&layer, Search::default(), &limits).unwrap_err();
    assert_eq!(err.to_string(), "plugin.wasm is 2 MiB, above the 1 MiB limit");
}

#[test]
fn zstd_garbage_and_truncation_are_errors_not_panics() {
    assert_eq!(
        extract(&[0x28, 0xb5, 0x2f, 0xfd, 0, 0], Search::default()),
        Err(CompatError::UnsupportedCompression("zstd"))
    );
    assert!(matches!(extract(&[0x1f, 0x8b, 1, 2, 3], Search::default()), Err(CompatError::Corrupt(_))));
    assert!(matches!(extract(&[b'x'; 700], Search::default()), Err(CompatError::Corrupt(_))));
    assert_eq!(extract(b"", Search::default()), Err(CompatError::NoWasm));
    let layer = tar_gz(&[("plugin.wasm", &fixtures::proxy_filter())]);
    for cut in [1, 10, layer.len() / 2, layer.len() - 4] {
        let _ = extract(&layer[..cut], Search::default());
    }
}

proptest! {
    #[test]
    fn never_panics_on_arbitrary_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..2048)) {
        let _ = extract(&bytes, Search { entrypoint: Some("/a.wasm"), any_wasm: true });
    }

    #[test]
    fn never_panics_on_mutated_layers(
        gzipped in any::<bool>(),
        flips in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..8),
    ) {
        let files: &[(&str, &[u8])] = &[("runtime-config.json", RUNTIME_CONFIG), ("plugin.wasm", b"\0asm\x01\0\0\0")];
        let mut layer = if gzipped { tar_gz(files) } else { tar(files) };
        for (index, value) in flips {
            let i = index.index(layer.len());
            layer[i] = value;
        }
        let _ = extract(&layer, Search { entrypoint: None, any_wasm: true });
    }
}
