//! Synthetic but realistic Wasm facts: the mix of runtime types, ABIs, exports, imports and
//! descriptions a public registry holds. Deterministic (a fixed-seed xorshift), so every run
//! and both backends index the same modules.

use wasmhub_index::{AbiRow, ExportRow, ImportRow, WasmOutcome, WasmRecord};

/// A small deterministic generator (no dependency, same sequence everywhere).
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed.max(1))
    }

    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    pub fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    pub fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len())]
    }
}

pub const PROXY_EXPORTS: &[&str] = &[
    "proxy_on_request_headers",
    "proxy_on_response_headers",
    "proxy_on_request_body",
    "proxy_on_response_body",
    "proxy_on_vm_start",
    "proxy_on_configure",
    "proxy_on_tick",
    "proxy_on_context_create",
    "proxy_on_log",
    "proxy_on_done",
    "proxy_on_delete",
    "proxy_on_http_call_response",
    "proxy_on_queue_ready",
    "proxy_on_new_connection",
    "proxy_on_downstream_data",
    "proxy_on_upstream_data",
    "proxy_on_memory_allocate",
    "proxy_on_request_trailers",
    "proxy_on_response_trailers",
    "proxy_on_foreign_function",
];
pub const COMMON_EXPORTS: &[&str] = &[
    "memory",
    "_start",
    "_initialize",
    "malloc",
    "free",
    "main",
    "__heap_base",
    "__data_end",
    "run",
    "init",
    "handle",
    "validate",
    "transform",
    "render",
    "parse",
    "encode",
    "decode",
    "hash",
    "sign",
    "verify",
    "compress",
    "decompress",
    "resize",
    "filter",
    "authorize",
    "evaluate",
    "entrypoints",
    "eval",
    "builtins",
    "opa_eval",
    "opa_malloc",
    "opa_free",
    "opa_json_parse",
    "opa_json_dump",
    "opa_heap_ptr_get",
    "wasi:http/incoming-handler@0.2.0",
    "wasi:cli/run@0.2.0",
    "component:demo/greet",
    "example:math/ops",
];
pub const PROXY_IMPORTS: &[&str] = &[
    "proxy_log",
    "proxy_get_header_map_value",
    "proxy_add_header_map_value",
    "proxy_replace_header_map_value",
    "proxy_get_property",
    "proxy_set_tick_period_milliseconds",
    "proxy_http_call",
    "proxy_send_local_response",
    "proxy_get_buffer_bytes",
    "proxy_define_metric",
    "proxy_increment_metric",
];
pub const WASI_IMPORTS: &[&str] = &[
    "fd_write",
    "fd_read",
    "fd_close",
    "fd_seek",
    "environ_get",
    "environ_sizes_get",
    "args_get",
    "args_sizes_get",
    "proc_exit",
    "clock_time_get",
    "random_get",
    "path_open",
    "fd_prestat_get",
];
pub const COMPONENT_IMPORTS: &[&str] = &[
    "wasi:cli/environment@0.2.0",
    "wasi:cli/stdout@0.2.0",
    "wasi:io/streams@0.2.0",
    "wasi:clocks/wall-clock@0.2.0",
    "wasi:filesystem/types@0.2.0",
    "wasi:random/random@0.2.0",
    "wasi:http/outgoing-handler@0.2.0",
    "wasi:keyvalue/store@0.2.0-draft",
];
pub const OPA_IMPORTS: &[&str] = &["opa_abort", "opa_println", "opa_builtin0", "opa_builtin1", "opa_builtin2"];
pub const WORDS: &[&str] = &[
    "header",
    "auth",
    "jwt",
    "rate",
    "limit",
    "cache",
    "metrics",
    "logging",
    "cors",
    "rewrite",
    "router",
    "policy",
    "rego",
    "gateway",
    "envoy",
    "istio",
    "proxy",
    "filter",
    "hello",
    "world",
    "image",
    "resize",
    "json",
    "yaml",
    "markdown",
    "compress",
    "gzip",
    "crypto",
    "hash",
    "signature",
    "oauth",
    "token",
    "validation",
    "schema",
    "graphql",
    "grpc",
    "websocket",
    "tracing",
    "opentelemetry",
    "redis",
    "kafka",
    "sql",
    "sqlite",
    "python",
    "rust",
    "go",
    "tinygo",
    "assemblyscript",
    "component",
    "wasi",
    "http",
    "server",
    "client",
    "cli",
    "tool",
    "fast",
    "small",
    "secure",
    "example",
    "demo",
    "plugin",
    "extension",
];

/// The runtime types of the mix, and how often each appears (of 10).
const TYPES: &[(&str, usize)] = &[("envoy_proxy", 4), ("wasi", 3), ("component", 2), ("opa", 1)];

/// One synthetic module's facts, for `repository`.
pub fn record(rng: &mut Rng, repository: &str) -> WasmRecord {
    let mut roll = rng.below(10);
    let runtime = TYPES
        .iter()
        .find(|(_, weight)| {
            if roll < *weight {
                true
            } else {
                roll -= weight;
                false
            }
        })
        .unwrap()
        .0;
    let (format, kind, wasi, abis, import_module, imports) = match runtime {
        "envoy_proxy" => {
            let abi = rng.pick(&["0.1.0", "0.2.0", "0.2.1", "0.2.1", "0.2.1"]);
            let abis = vec![AbiRow { abi: abi.into(), declared: true, detected: true }];
            (rng.pick(&["soloOci", "soloCompat"]), "module", None, abis, "env", PROXY_IMPORTS)
        }
        "wasi" => ("cncfWasm", "module", Some("preview1"), vec![], "wasi_snapshot_preview1", WASI_IMPORTS),
        "component" => ("cncfWasm", "component", Some("preview2"), vec![], "", COMPONENT_IMPORTS),
        _ => ("wasmToOci", "module", None, vec![], "env", OPA_IMPORTS),
    };
    let mut exports: Vec<ExportRow> = Vec::new();
    for _ in 0..5 + rng.below(26) {
        let pool = if runtime == "envoy_proxy" && rng.below(3) > 0 { PROXY_EXPORTS } else { COMMON_EXPORTS };
        let name = rng.pick(pool);
        if !exports.iter().any(|e| e.name == name) {
            exports.push(ExportRow { name: name.into(), kind: "func".into() });
        }
    }
    let mut import_rows: Vec<ImportRow> = Vec::new();
    for _ in 0..2 + rng.below(8) {
        let name = rng.pick(imports);
        if !import_rows.iter().any(|i| i.name == name) {
            import_rows.push(ImportRow { module: import_module.into(), name: name.into(), kind: "func".into() });
        }
    }
    let description = (0..6 + rng.below(10)).map(|_| rng.pick(WORDS)).collect::<Vec<_>>().join(" ");
    let search_text = format!("{} {description}", repository.replace(['/', '-', '_'], " "));
    WasmRecord {
        format: format.into(),
        outcome: WasmOutcome::Wasm,
        reason: None,
        runtime_type: Some(runtime.into()),
        kind: Some(kind.into()),
        wasi: wasi.map(str::to_owned),
        module_digest: Some(format!("sha256:{:064x}", rng.next())),
        module_size: Some(10_000 + rng.below(2_000_000) as u64),
        abis,
        exports,
        imports: import_rows,
        title: None,
        description: Some(description),
        version: Some(format!("{}.{}.{}", rng.below(3), rng.below(10), rng.below(20))),
        search_text,
        facts_json: "{}".into(),
    }
}
