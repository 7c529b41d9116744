//! `/repositories/<name>/tags/<tag>`: everything the index knows about one tagged module,
//! then snippets to pull or deploy it, its README and what refers to it (signatures, SBOMs).

use wasmhub_registry::index::TagDetails;
use wasmhub_registry::oci::RepoName;
use wasmhub_registry::wasm::abi::mismatch_warning;
use wasmhub_registry::wasm::{Description, ImageAnnotations, ModuleFacts, Producer, WasmFacts};

use super::html::{size, time_element, w, Esc};
use super::readme::{ReferrerList, MAX_REFERRERS};
use super::snippets::{snippets, Module};
use super::{Account, Origin, Page};

/// Most exports or imports listed; a module may have thousands, and the page must stay small.
const MAX_NAMES: usize = 300;

/// What the page shows besides the index's facts.
pub struct Extras {
    pub referrers: ReferrerList,
    /// The README's Markdown, when one was attached (see `readme`).
    pub readme: Option<String>,
    pub account: Account,
}

pub fn page(origin: &Origin, name: &RepoName, details: TagDetails, extras: Extras) -> Page {
    let summary = &details.summary;
    let description: Option<Description> = details.facts_json.as_deref().and_then(|j| serde_json::from_str(j).ok());
    let facts = description.as_ref().and_then(Description::facts);
    let module = facts.and_then(WasmFacts::primary_module);
    let hit = summary.wasm.as_ref();

    let mut main = String::new();
    w!(
        &mut main,
        "<p><a href=\"{}\">{}</a></p><h1>{}:{}</h1>",
        Esc(&format!("/repositories/{name}")),
        Esc(name.as_str()),
        Esc(name.as_str()),
        Esc(&summary.tag)
    );
    if let Some(text) = hit.and_then(|h| h.description.as_deref()) {
        w!(&mut main, "<p>{}</p>", Esc(text));
    }
    if let Some(damage) = &details.damaged {
        w!(&mut main, "<p class=\"warn\" role=\"alert\">Damaged (found by fsck): {}</p>", Esc(damage));
    }
    if let Some(hit) = hit.filter(|h| h.outcome != "wasm") {
        let reason = hit.reason.as_deref().unwrap_or("no reason recorded");
        w!(&mut main, "<p class=\"warn\" role=\"note\">Not fully recognised: {}</p>", Esc(reason));
    }

    main.push_str("<section aria-labelledby=\"facts\"><h2 id=\"facts\">Facts</h2><dl class=\"facts\">");
    let mut row = |label: &str, value: &str| w!(&mut main, "<dt>{label}</dt><dd>{}</dd>", Esc(value));
    match hit {
        None => row("Wasm", "not a Wasm artifact"),
        Some(hit) => {
            row("Format", &hit.format);
            row("Runtime type", hit.runtime_type.as_deref().unwrap_or("—"));
            row("Kind", hit.kind.as_deref().unwrap_or("—"));
            row("WASI", hit.wasi.as_deref().unwrap_or("none"));
            if let Some(bytes) = hit.module_size {
                row("Module size", &size(bytes));
            }
        }
    }
    if let Some(facts) = facts {
        row("ABI versions declared", &joined(&facts.abi_versions));
        let detected: Vec<String> = facts.detected_proxy_abis.iter().map(ToString::to_string).collect();
        row("ABI versions detected", &joined(&detected));
        row("Root ids", &joined(&facts.root_ids));
    }
    main.push_str("<dt>Pushed</dt><dd>");
    time_element(&mut main, summary.updated_at);
    w!(&mut main, "</dd><dt>Manifest digest</dt><dd><code>{}</code></dd>", Esc(&summary.digest));
    if let Some(digest) = hit.and_then(|h| h.module_digest.as_deref()) {
        w!(&mut main, "<dt>Module sha256</dt><dd><code>{}</code></dd>", Esc(digest));
    }
    w!(&mut main, "<dt>Media type</dt><dd><code>{}</code></dd></dl>", Esc(&details.media_type));
    if let Some(facts) = facts {
        warnings(&mut main, facts, module);
    }
    main.push_str("</section>");

    let root_id = facts.and_then(|f| f.root_ids.first()).map(String::as_str);
    if let Some(hit) = hit {
        let module = Module {
            repository: name.as_str(),
            tag: &summary.tag,
            manifest_digest: &summary.digest,
            module_digest: hit.module_digest.as_deref(),
            format: &hit.format,
            root_id,
        };
        main.push_str("<section aria-labelledby=\"use\"><h2 id=\"use\">Use it</h2>");
        for snippet in snippets(origin, &module) {
            w!(
                &mut main,
                "<div class=\"snippet\"><div class=\"bar\"><h3 id=\"t-{id}\">{title}</h3><button type=\"button\" \
                 data-copy=\"s-{id}\" aria-label=\"Copy the {title} snippet\" hidden>Copy</button></div>\
                 <pre aria-labelledby=\"t-{id}\"><code id=\"s-{id}\">{}</code></pre></div>",
                Esc(&snippet.text),
                id = snippet.id,
                title = Esc(snippet.title),
            );
        }
        main.push_str("</section>");
    }
    if let Some(readme) = &extras.readme {
        main.push_str("<section aria-labelledby=\"readme\"><h2 id=\"readme\">README</h2><div class=\"readme\">");
        main.push_str(&super::markdown::render(readme));
        main.push_str("</div></section>");
    }
    if let Some(module) = module {
        producers(&mut main, module);
        names(
            &mut main,
            "exports",
            "Exports",
            "export",
            module.export_count,
            module.exports.iter().map(|e| (None, &e.name[..], e.kind)),
        );
        let imports = module.imports.iter().map(|i| (i.module.as_deref(), &i.name[..], i.kind));
        names(&mut main, "imports", "Imports", "import", module.import_count, imports);
    }
    if let Some(facts) = facts {
        annotations(&mut main, &facts.annotations);
    }
    referrers(&mut main, name, &summary.digest, &extras.referrers);
    Page { title: format!("{name}:{}", summary.tag), q: String::new(), main, account: extras.account }
}

/// Signatures, SBOMs and other artifacts whose `subject` is this manifest (`digest`).
fn referrers(out: &mut String, name: &RepoName, digest: &str, list: &ReferrerList) {
    let referrers = &list.items;
    let count = if list.more { format!("{}+", referrers.len()) } else { referrers.len().to_string() };
    w!(out, "<section aria-labelledby=\"referrers\"><h2 id=\"referrers\">Referrers ({count})</h2>");
    if referrers.is_empty() {
        out.push_str(
            "<p class=\"muted\">No signatures, SBOMs or other artifacts refer to this manifest.</p></section>",
        );
        return;
    }
    out.push_str(
        "<div class=\"scroll\"><table><thead><tr><th scope=\"col\">Kind</th><th scope=\"col\">Artifact type</th>\
         <th scope=\"col\">Digest</th><th scope=\"col\">Size</th><th scope=\"col\">Annotations</th></tr></thead><tbody>",
    );
    for referrer in referrers.iter().take(MAX_REFERRERS) {
        w!(
            out,
            "<tr><td>{}</td><td><code>{}</code></td><td><code>{}</code></td><td>{}</td><td>",
            referrer.kind(),
            Esc(referrer.artifact_type.as_deref().unwrap_or(&referrer.media_type)),
            Esc(&referrer.digest),
            Esc(&size(referrer.size))
        );
        let annotations = referrer.annotations.iter().flatten();
        for (key, value) in annotations.take(10) {
            let value = value.as_str().map_or_else(|| value.to_string(), str::to_owned);
            w!(out, "<div><code>{}</code>: {}</div>", Esc(key), Esc(&value));
        }
        out.push_str("</td></tr>");
    }
    out.push_str("</tbody></table></div>");
    if referrers.len() > MAX_REFERRERS || list.more {
        w!(
            out,
            "<p class=\"muted\">{} of {count} shown. The referrers API lists them all, in pages: \
             <code>GET /v2/{}/referrers/{}</code> (or <code>oras discover</code>).</p>",
            referrers.len().min(MAX_REFERRERS),
            Esc(name.as_str()),
            Esc(digest)
        );
    }
    out.push_str("</section>");
}

fn joined(values: &[String]) -> String {
    if values.is_empty() {
        "—".to_owned()
    } else {
        values.join(", ")
    }
}

/// The ABI disagreement first (it decides whether a filter loads in Envoy), then the rest.
fn warnings(out: &mut String, facts: &WasmFacts, module: Option<&ModuleFacts>) {
    let abi = mismatch_warning(&facts.abi_versions, &facts.detected_proxy_abis);
    let mut all: Vec<&str> = abi.iter().map(String::as_str).collect();
    all.extend(facts.warnings.iter().map(String::as_str).filter(|w| Some(*w) != abi.as_deref()));
    all.extend(module.into_iter().flat_map(|m| m.warnings.iter().map(String::as_str)));
    for warning in all {
        w!(out, "<p class=\"warn\" role=\"note\">Warning: {}</p>", Esc(warning));
    }
}

fn producers(out: &mut String, module: &ModuleFacts) {
    let producers = &module.producers;
    let world = module.component.as_ref().and_then(|c| c.world.as_deref());
    if producers.is_empty() && world.is_none() {
        return;
    }
    out.push_str("<section aria-labelledby=\"producers\"><h2 id=\"producers\">Built with</h2><dl class=\"facts\">");
    let list = |list: &[Producer]| list.iter().map(|p| format!("{} {}", p.name, p.version)).collect::<Vec<_>>();
    for (label, entries) in
        [("Language", &producers.language), ("SDK", &producers.sdk), ("Processed by", &producers.processed_by)]
    {
        if !entries.is_empty() {
            w!(out, "<dt>{label}</dt><dd>{}</dd>", Esc(&list(entries).join(", ")));
        }
    }
    if let Some(world) = world {
        w!(out, "<dt>WIT world</dt><dd><code>{}</code></dd>", Esc(world));
    }
    out.push_str("</dl></section>");
}

/// Exports or imports, each linking to a search for other modules with the same name.
fn names<'a, K: std::fmt::Debug>(
    out: &mut String,
    id: &str,
    title: &str,
    key: &str,
    count: usize,
    entries: impl Iterator<Item = (Option<&'a str>, &'a str, K)>,
) {
    w!(out, "<section aria-labelledby=\"{id}\"><h2 id=\"{id}\">{title} ({count})</h2>");
    // Revealed by the script, which filters the list as one types (each name is a link anyway).
    w!(
        out,
        "<p class=\"filter\" hidden><label for=\"filter-{id}\">Filter {lower}</label> \
         <input id=\"filter-{id}\" type=\"search\" data-filter=\"list-{id}\" autocomplete=\"off\"> \
         <span class=\"muted\" aria-live=\"polite\" data-filter-count=\"list-{id}\"></span></p>",
        lower = title.to_lowercase()
    );
    let mut shown = 0;
    w!(out, "<ul class=\"names\" id=\"list-{id}\">");
    for (module, name, kind) in entries.take(MAX_NAMES) {
        let url = format!("/search?{}", super::html::query_string([(key, name)]));
        let full = module.map_or_else(|| name.to_owned(), |m| format!("{m}.{name}"));
        let kind = format!("{kind:?}").to_lowercase();
        w!(
            out,
            "<li><a href=\"{}\"><code>{}</code></a> <span class=\"muted\">{kind}</span></li>",
            Esc(&url),
            Esc(&full)
        );
        shown += 1;
    }
    out.push_str("</ul>");
    if count > shown {
        w!(out, "<p class=\"muted\">{} more not shown.</p>", count - shown);
    }
    out.push_str("</section>");
}

fn annotations(out: &mut String, annotations: &ImageAnnotations) {
    let a = annotations;
    let fields = [
        ("Title", &a.title),
        ("Description", &a.description),
        ("Version", &a.version),
        ("Licenses", &a.licenses),
        ("Authors", &a.authors),
        ("Vendor", &a.vendor),
        ("Source", &a.source),
        ("URL", &a.url),
        ("Documentation", &a.documentation),
        ("Created", &a.created),
        ("Revision", &a.revision),
    ];
    if fields.iter().all(|(_, v)| v.is_none()) {
        return;
    }
    out.push_str(
        "<section aria-labelledby=\"annotations\"><h2 id=\"annotations\">Annotations</h2><dl class=\"facts\">",
    );
    for (label, value) in fields {
        let Some(value) = value else { continue };
        // Only web links become links: a pushed `javascript:` URL stays text.
        if value.starts_with("https://") || value.starts_with("http://") {
            w!(out, "<dt>{label}</dt><dd><a href=\"{}\" rel=\"nofollow noopener\">{}</a></dd>", Esc(value), Esc(value));
        } else {
            w!(out, "<dt>{label}</dt><dd>{}</dd>", Esc(value));
        }
    }
    out.push_str("</dl></section>");
}
