use proptest::prelude::*;

use super::*;
use crate::fixtures::{self, producers_payload, with_custom_section};

fn inspect(bytes: &[u8]) -> ModuleFacts {
    inspect_module(bytes, &Limits::default()).expect("fixture inspects")
}

fn export_names(facts: &ModuleFacts) -> Vec<&str> {
    facts.exports.iter().map(|e| e.name.as_str()).collect()
}

#[test]
fn a_proxy_wasm_filter_shows_its_abi_exports_and_host_imports() {
    let bytes = fixtures::proxy_filter();
    let facts = inspect(&bytes);
    assert_eq!(facts.kind, ModuleKind::Module);
    assert_eq!(facts.proxy_abis, vec![ProxyAbi::V0_2_1]);
    assert_eq!(facts.wasi, Some(Wasi::Preview1), "the SDKs import fd_write for logging");
    assert!(export_names(&facts).contains(&"proxy_on_request_headers"));
    assert!(export_names(&facts).contains(&"proxy_on_context_create"));
    assert!(facts.exports.contains(&Export { name: "memory".into(), kind: ExternKind::Memory }));
    assert_eq!(
        facts.imports[0],
        Import { module: Some("env".into()), name: "proxy_log".into(), kind: ExternKind::Func }
    );
    assert_eq!(facts.digest, Digest::sha256_of(&bytes));
    assert_eq!(facts.size, bytes.len() as u64);
    assert_eq!(facts.component, None);
}

#[test]
fn a_wasi_command_is_preview1_without_proxy_abi() {
    let facts = inspect(&fixtures::wasi_command());
    assert_eq!(facts.wasi, Some(Wasi::Preview1));
    assert!(facts.proxy_abis.is_empty());
    assert_eq!(export_names(&facts), vec!["memory", "_start"]);
    assert_eq!(facts.imports[0].module.as_deref(), Some("wasi_snapshot_preview1"));
    assert_eq!(facts.import_count, 1);
}

#[test]
fn wasi_unstable_counts_as_preview1_and_no_wasi_is_none() {
    let old = fixtures::wat(r#"(module (import "wasi_unstable" "proc_exit" (func (param i32))))"#);
    assert_eq!(inspect(&old).wasi, Some(Wasi::Preview1));
    let plain =
        fixtures::wat(r#"(module (func (export "add") (param i32 i32) (result i32) local.get 0 local.get 1 i32.add))"#);
    assert_eq!(inspect(&plain).wasi, None);
}

#[test]
fn a_component_shows_its_interfaces_world_and_preview2() {
    let facts = inspect(&fixtures::component());
    assert_eq!(facts.kind, ModuleKind::Component);
    assert_eq!(facts.wasi, Some(Wasi::Preview2));
    let component = facts.component.clone().expect("component facts");
    assert_eq!(component.imported_interfaces, vec!["wasi:cli/stdout@0.2.0"]);
    assert_eq!(component.exported_interfaces, vec!["wasi:cli/run@0.2.0"]);
    assert_eq!(component.world.as_deref(), Some("wasi:cli/command@0.2.0"));
    assert_eq!(facts.imports[0].module, None);
    assert_eq!(facts.imports[0].kind, ExternKind::Instance);
    // The nested core module's own export ("run") is not a component export.
    assert_eq!(export_names(&facts), vec!["wasi:cli/run@0.2.0"]);
    assert!(facts.proxy_abis.is_empty());
}

#[test]
fn wasi_0_3_interfaces_are_preview3() {
    let component = fixtures::wat(
        r#"(component
             (import "wasi:cli/stdout@0.2.0" (instance))
             (import "wasi:http/handler@0.3.0-rc-2025-09-16" (instance)))"#,
    );
    assert_eq!(inspect(&component).wasi, Some(Wasi::Preview3));
}

#[test]
fn producers_are_read_from_a_hand_built_section() {
    let payload = producers_payload(&[
        ("language", &[("Rust", ""), ("C11", "")]),
        ("processed-by", &[("rustc", "1.80.0 (051478957 2024-07-21)"), ("wasm-opt", "116")]),
        ("sdk", &[("proxy-wasm-rust-sdk", "0.2.2")]),
        ("unknown-field", &[("x", "y")]),
    ]);
    let module = with_custom_section(fixtures::proxy_filter(), "producers", &payload);
    let producers = inspect(&module).producers;
    assert_eq!(producers.language.iter().map(|p| p.name.as_str()).collect::<Vec<_>>(), ["Rust", "C11"]);
    assert_eq!(producers.processed_by[0].version, "1.80.0 (051478957 2024-07-21)");
    assert_eq!(producers.sdk, vec![Producer { name: "proxy-wasm-rust-sdk".into(), version: "0.2.2".into() }]);
    assert!(inspect(&module).warnings.is_empty());
}

#[test]
fn a_malformed_producers_section_is_a_warning_not_a_failure() {
    let module = with_custom_section(fixtures::wasi_command(), "producers", &[5, 200, 1]);
    let facts = inspect(&module);
    assert!(facts.producers.is_empty());
    assert_eq!(facts.warnings.len(), 1);
    assert!(facts.warnings[0].starts_with("the producers section is malformed"), "{:?}", facts.warnings);
}

#[test]
fn world_names_are_read_from_component_type_sections() {
    assert_eq!(world_from_section_name("component-type:proxy").as_deref(), Some("proxy"));
    assert_eq!(
        world_from_section_name("component-type:wit-bindgen:0.24.0:wasi:http@0.2.0:proxy:encoded world").as_deref(),
        Some("wasi:http/proxy@0.2.0")
    );
    assert_eq!(
        world_from_section_name("component-type:wit-bindgen:0.24.0:my:app:root:encoded world").as_deref(),
        Some("my:app/root")
    );
    assert_eq!(world_from_section_name("component-type:"), None);
    assert_eq!(world_from_section_name("producers"), None);
}

#[test]
fn truncated_modules_are_malformed() {
    let bytes = fixtures::proxy_filter();
    for cut in [5, 7, 9, bytes.len() / 2, bytes.len() - 1] {
        let result = inspect_module(&bytes[..cut], &Limits::default());
        assert!(matches!(result, Err(InspectError::Malformed(_))), "cut at {cut}: {result:?}");
    }
}

#[test]
fn non_wasm_and_oversized_input_are_refused_before_parsing() {
    assert_eq!(inspect_module(b"{}", &Limits::default()), Err(InspectError::NotWasm));
    assert_eq!(inspect_module(b"", &Limits::default()), Err(InspectError::NotWasm));
    let limits = Limits { max_module_bytes: 10, ..Limits::default() };
    let err = inspect_module(&fixtures::wasi_command(), &limits).unwrap_err();
    assert!(matches!(err, InspectError::TooLarge { limit: 10, .. }));
    assert!(err.to_string().contains("above the 10 bytes limit"), "{err}");
}

#[test]
fn a_module_that_parses_but_does_not_validate_is_invalid() {
    // Type section says the function returns i32, the body leaves nothing on the stack.
    let bad = b"\0asm\x01\0\0\0\x01\x05\x01\x60\0\x01\x7f\x03\x02\x01\0\x0a\x04\x01\x02\0\x0b";
    assert!(matches!(inspect_module(bad, &Limits::default()), Err(InspectError::Invalid(_))));
}

#[test]
fn name_lists_are_capped_but_counted() {
    let funcs: String = (0..50).map(|i| format!(r#"(func (export "f{i}"))"#)).collect();
    let module = fixtures::wat(&format!("(module {funcs})"));
    let limits = Limits { max_names: 10, ..Limits::default() };
    let facts = inspect_module(&module, &limits).unwrap();
    assert_eq!(facts.exports.len(), 10);
    assert_eq!(facts.export_count, 50);
}

proptest! {
    #[test]
    fn never_panics_on_arbitrary_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..2048)) {
        let _ = inspect_module(&bytes, &Limits::default());
    }

    #[test]
    fn never_panics_on_bytes_behind_a_valid_header(
        header in prop_oneof![Just(b"\0asm\x01\0\0\0".to_vec()), Just(b"\0asm\x0d\0\x01\0".to_vec())],
        tail in proptest::collection::vec(any::<u8>(), 0..1024),
    ) {
        let mut bytes = header;
        bytes.extend(tail);
        let _ = inspect_module(&bytes, &Limits::default());
    }

    #[test]
    fn never_panics_on_mutated_fixtures(
        which in 0usize..3,
        flips in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..8),
    ) {
        let mut bytes = [fixtures::proxy_filter(), fixtures::wasi_command(), fixtures::component()][which].clone();
        for (index, value) in flips {
            let i = index.index(bytes.len());
            bytes[i] = value;
        }
        let _ = inspect_module(&bytes, &Limits::default());
    }
}
