//! Ready-to-copy commands and configs for one tagged module. Plain text: the page escapes it
//! when it writes it out. Each names the registry by `Origin` (the public URL when configured,
//! else the request's Host), and pins what its consumer can pin: Istio's `sha256` is the
//! manifest digest for `oci://` URLs; Envoy's remote `sha256` is the module's own digest.

use super::Origin;

/// What the snippets need to know about the module.
pub struct Module<'a> {
    pub repository: &'a str,
    pub tag: &'a str,
    /// `sha256:<hex>` of the manifest.
    pub manifest_digest: &'a str,
    /// `sha256:<hex>` of the module bytes, when there is a module.
    pub module_digest: Option<&'a str>,
    pub format: &'a str,
    pub root_id: Option<&'a str>,
}

pub struct Snippet {
    pub id: &'static str,
    pub title: &'static str,
    pub text: String,
}

fn hex(digest: &str) -> &str {
    digest.strip_prefix("sha256:").unwrap_or(digest)
}

pub fn snippets(origin: &Origin, module: &Module<'_>) -> Vec<Snippet> {
    let reference = format!("{}/{}:{}", origin.host, module.repository, module.tag);
    let mut list = vec![
        Snippet { id: "oras", title: "oras", text: format!("oras pull {reference}") },
        Snippet {
            id: "docker",
            title: "docker / buildah",
            text: format!("docker pull {reference}\nbuildah pull {reference}"),
        },
        Snippet { id: "wkg", title: "wkg", text: format!("wkg oci pull {reference} -o module.wasm") },
    ];
    if module.format == "soloOci" {
        list.push(Snippet { id: "wasme", title: "wasme", text: format!("wasme pull {reference}") });
    }
    list.push(Snippet { id: "istio", title: "Istio WasmPlugin", text: wasm_plugin(&reference, module) });
    if let Some(module_digest) = module.module_digest {
        let url = format!("{}/api/v1/repositories/{}/tags/{}/module.wasm", origin.base, module.repository, module.tag);
        list.push(Snippet { id: "envoy", title: "Envoy wasm filter", text: envoy(&url, hex(module_digest), module) });
        list.push(Snippet {
            id: "curl",
            title: "curl",
            text: format!("curl -fL -o module.wasm {url}\necho \"{}  module.wasm\" | sha256sum -c", hex(module_digest)),
        });
    }
    list
}

/// A Kubernetes-safe object name from the repository's last component.
fn object_name(repository: &str) -> String {
    let last = repository.rsplit('/').next().unwrap_or(repository);
    let name: String = last.chars().map(|c| if c.is_ascii_alphanumeric() { c } else { '-' }).collect();
    let name = name.trim_matches('-');
    if name.is_empty() {
        "wasm-plugin".to_owned()
    } else {
        name.chars().take(63).collect()
    }
}

fn wasm_plugin(reference: &str, module: &Module<'_>) -> String {
    let plugin_name = module.root_id.map(|id| format!("  pluginName: {id}\n")).unwrap_or_default();
    format!(
        "apiVersion: extensions.istio.io/v1alpha1\nkind: WasmPlugin\nmetadata:\n  name: {}\n  namespace: istio-system\n\
         spec:\n  selector:\n    matchLabels:\n      istio: ingressgateway\n  url: oci://{reference}\n  sha256: {}\n\
         {plugin_name}  phase: AUTHN\n",
        object_name(module.repository),
        hex(module.manifest_digest),
    )
}

fn envoy(url: &str, module_hex: &str, module: &Module<'_>) -> String {
    let root_id = module.root_id.map(|id| format!("      root_id: {id}\n")).unwrap_or_default();
    format!(
        "http_filters:\n- name: envoy.filters.http.wasm\n  typed_config:\n\
         \x20   \"@type\": type.googleapis.com/envoy.extensions.filters.http.wasm.v3.Wasm\n    config:\n\
         \x20     name: {}\n{root_id}      vm_config:\n        runtime: envoy.wasm.runtime.v8\n        code:\n\
         \x20         remote:\n            http_uri:\n              uri: {url}\n              cluster: wasmhub\n\
         \x20             timeout: 10s\n            sha256: {module_hex}\n",
        object_name(module.repository),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pins_the_manifest_for_istio_and_the_module_for_envoy() {
        let origin = Origin { base: "https://hub.example".into(), host: "hub.example".into() };
        let module = Module {
            repository: "team/add_header",
            tag: "v1",
            manifest_digest: "sha256:aaaa",
            module_digest: Some("sha256:bbbb"),
            format: "soloOci",
            root_id: Some("add_header"),
        };
        let all = snippets(&origin, &module);
        let text = |id: &str| all.iter().find(|s| s.id == id).unwrap().text.clone();
        assert!(text("istio").contains("url: oci://hub.example/team/add_header:v1\n  sha256: aaaa\n"));
        assert!(text("istio").contains("name: add-header\n"));
        assert!(
            text("envoy").contains("uri: https://hub.example/api/v1/repositories/team/add_header/tags/v1/module.wasm")
        );
        assert!(text("envoy").contains("sha256: bbbb\n"));
        assert_eq!(text("oras"), "oras pull hub.example/team/add_header:v1");
        assert!(text("wasme").starts_with("wasme pull"));
    }
}
