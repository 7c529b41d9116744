//! `/search`: the filters of `/api/v1/search` as a form, facet counts as links that add a
//! filter, the results, and pagination. Every state is a plain GET URL, so it can be shared.

use axum::extract::{RawQuery, State};
use axum::http::HeaderMap;
use wasmhub_registry::index::SearchHit;

use super::html::{size, time_element, w, Esc};
use super::params::{SearchParams, FORMATS, KINDS, SORTS};
use super::{caller, Account, Page, PageError};
use crate::AppState;

pub async fn search(
    State(state): State<AppState>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Result<Page, PageError> {
    let params = SearchParams::parse(query.as_deref()).map_err(PageError::BadRequest)?;
    let caller = caller(&state, &headers).await?;
    let results = state.registry.search(&caller, params.query()).await?;

    let mut main = String::new();
    let heading = match params.get("q") {
        Some(q) => format!("Modules matching “{q}”"),
        None if params.is_filtered() => "Filtered modules".to_owned(),
        None => "All modules".to_owned(),
    };
    w!(
        &mut main,
        "<h1 id=\"heading\">{}</h1><p class=\"muted\" id=\"found\">{} found</p>",
        Esc(&heading),
        results.total
    );
    main.push_str("<div class=\"layout\"><aside aria-label=\"Filters\">");
    filter_form(&mut main, &params);
    for (title, key, counts) in [
        ("Runtime type", "type", &results.facets.runtime_type),
        ("ABI", "abi", &results.facets.abi),
        ("Kind", "kind", &results.facets.kind),
    ] {
        w!(&mut main, "<section class=\"facets\" aria-label=\"{title}\"><h2>{title}</h2>");
        facet_list(&mut main, &params, key, counts);
        main.push_str("</section>");
    }
    main.push_str("</aside><section id=\"results\" aria-label=\"Results\" aria-live=\"polite\">");
    result_list(&mut main, &results.items);
    pager(&mut main, &params, results.total);
    main.push_str("</section></div>");
    let q = params.get("q").unwrap_or_default().to_owned();
    Ok(Page { title: heading, q, main, account: Account::of(&state, &caller) })
}

/// The filters as one GET form; labels for every field.
fn filter_form(out: &mut String, params: &SearchParams) {
    out.push_str("<form class=\"filters\" action=\"/search\" method=\"get\">");
    for (key, label, hint) in [
        ("q", "Text", "name, description"),
        ("type", "Runtime type", "envoy_proxy"),
        ("abi", "ABI version", "0.2.1"),
        ("export", "Exports", "proxy_on_request_headers"),
        ("import", "Imports", "wasi_snapshot_preview1"),
        ("namespace", "Namespace", "team"),
    ] {
        w!(
            out,
            "<label for=\"f-{key}\">{label}</label><input id=\"f-{key}\" name=\"{key}\" value=\"{}\" placeholder=\"{hint}\">",
            Esc(params.get(key).unwrap_or_default())
        );
    }
    for (key, label, options) in [("kind", "Kind", KINDS), ("format", "Format", FORMATS), ("sort", "Sort", SORTS)] {
        w!(out, "<label for=\"f-{key}\">{label}</label><select id=\"f-{key}\" name=\"{key}\">");
        let any = if key == "sort" { "" } else { "<option value=\"\">any</option>" };
        out.push_str(any);
        for option in options {
            let selected = if params.get(key) == Some(option) { " selected" } else { "" };
            w!(out, "<option{selected}>{option}</option>");
        }
        out.push_str("</select>");
    }
    if params.per_page != super::params::DEFAULT_PER_PAGE {
        w!(out, "<input type=\"hidden\" name=\"per_page\" value=\"{}\">", params.per_page);
    }
    out.push_str("<button type=\"submit\">Apply filters</button></form>");
}

/// One facet's values with counts; each links to the search with that value set (or, for the
/// value already chosen, to the search without it).
pub fn facet_list(out: &mut String, params: &SearchParams, key: &str, counts: &[(String, u64)]) {
    if counts.is_empty() {
        out.push_str("<p class=\"muted\">None yet.</p>");
        return;
    }
    out.push_str("<ul>");
    for (value, count) in counts {
        let chosen = params.get(key) == Some(value.as_str());
        let url = params.url_with(&[(key, if chosen { "" } else { value })]);
        let current = if chosen { " aria-current=\"true\"" } else { "" };
        let mark = if chosen { " ✓" } else { "" };
        w!(
            out,
            "<li><a href=\"{}\"{current}>{}{mark}</a><span class=\"count\">{count}</span></li>",
            Esc(&url),
            Esc(value)
        );
    }
    out.push_str("</ul>");
}

/// Search hits as a list of cards, each linking to its tag page.
pub fn result_list(out: &mut String, items: &[SearchHit]) {
    if items.is_empty() {
        out.push_str("<p>No modules match.</p>");
        return;
    }
    out.push_str("<ul class=\"results\">");
    for hit in items {
        let link = format!("/repositories/{}/tags/{}", hit.repository, hit.tag);
        w!(out, "<li><h3><a href=\"{}\">{}:{}</a></h3>", Esc(&link), Esc(&hit.repository), Esc(&hit.tag));
        if let Some(description) = hit.description.as_deref().or(hit.title.as_deref()) {
            w!(out, "<p>{}</p>", Esc(description));
        }
        badges(out, hit);
        out.push_str("<p class=\"muted\">Pushed ");
        time_element(out, hit.updated_at);
        out.push_str("</p></li>");
    }
    out.push_str("</ul>");
}

/// The facts worth seeing at a glance, as a list of small labels.
pub fn badges(out: &mut String, hit: &SearchHit) {
    out.push_str("<ul class=\"badges\" aria-label=\"Facts\">");
    let mut badge = |text: &str| w!(out, "<li>{}</li>", Esc(text));
    if let Some(runtime) = &hit.runtime_type {
        badge(runtime);
    }
    for abi in &hit.abis {
        badge(&format!("ABI {abi}"));
    }
    if let Some(kind) = &hit.kind {
        badge(kind);
    }
    if let Some(wasi) = &hit.wasi {
        badge(&format!("WASI {wasi}"));
    }
    badge(&hit.format);
    if let Some(bytes) = hit.module_size {
        badge(&size(bytes));
    }
    if hit.outcome != "wasm" {
        badge(&hit.outcome);
    }
    out.push_str("</ul>");
}

fn pager(out: &mut String, params: &SearchParams, total: u64) {
    // Never link past the deepest page the parameters allow (that would be a 400).
    let deepest = u64::from(super::params::max_page(params.per_page));
    let pages = total.div_ceil(u64::from(params.per_page)).clamp(1, deepest);
    if pages <= 1 {
        return;
    }
    out.push_str("<nav class=\"pager\" aria-label=\"Pages\">");
    if params.page > 1 {
        let previous = (params.page - 1).to_string();
        w!(out, "<a rel=\"prev\" href=\"{}\">← Previous</a>", Esc(&params.url_with(&[("page", &previous)])));
    }
    w!(out, "<span>Page {} of {pages}</span>", params.page);
    if u64::from(params.page) < pages {
        let next = (params.page + 1).to_string();
        w!(out, "<a rel=\"next\" href=\"{}\">Next →</a>", Esc(&params.url_with(&[("page", &next)])));
    }
    out.push_str("</nav>");
}
