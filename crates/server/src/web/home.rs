//! `/`: a search box, the runtime-type and ABI facets of everything visible (each a link to a
//! filtered search), the most recently pushed modules and the most pulled ones.

use axum::extract::State;
use axum::http::HeaderMap;

use super::html::{w, Esc};
use super::params::SearchParams;
use super::search::{facet_list, result_list};
use super::{caller, Account, Page, PageError};
use crate::AppState;

/// Modules listed as recently pushed.
const RECENT: u32 = 10;

pub async fn home(State(state): State<AppState>, headers: HeaderMap) -> Result<Page, PageError> {
    let caller = caller(&state, &headers).await?;
    // One query gives both: no filters, newest first; the facets count everything visible.
    let params = SearchParams::empty(RECENT);
    let mut query = params.query();
    query.sort = wasmhub_registry::index::SearchSort::Updated;
    let results = state.registry.search(&caller, query).await?;
    let mut popular = SearchParams::empty(RECENT).query();
    popular.sort = wasmhub_registry::index::SearchSort::Pulls;
    let popular = state.registry.search(&caller, popular).await?;

    let mut main = String::new();
    main.push_str(
        "<section class=\"hero\" aria-labelledby=\"hero-title\"><h1 id=\"hero-title\">Find a WebAssembly module</h1>\
         <p class=\"muted\">Envoy and Istio filters, WASI programs and components, pushed with the OCI tools you already use.</p>\
         <form role=\"search\" action=\"/search\" method=\"get\"><label for=\"home-q\" class=\"sr\">Search modules</label>\
         <input id=\"home-q\" type=\"search\" name=\"q\" placeholder=\"name, description, export…\">\
         <button type=\"submit\">Search</button></form></section>",
    );
    let all = SearchParams::empty(super::params::DEFAULT_PER_PAGE);
    main.push_str("<div class=\"grid2\"><section class=\"facets\" aria-labelledby=\"by-type\"><h2 id=\"by-type\">By runtime type</h2>");
    facet_list(&mut main, &all, "type", &results.facets.runtime_type);
    main.push_str("</section><section class=\"facets\" aria-labelledby=\"by-abi\"><h2 id=\"by-abi\">By ABI</h2>");
    facet_list(&mut main, &all, "abi", &results.facets.abi);
    main.push_str("</section></div>");
    w!(&mut main, "<section aria-labelledby=\"recent\"><h2 id=\"recent\">Recently pushed</h2>");
    result_list(&mut main, &results.items);
    w!(
        &mut main,
        "<p><a href=\"{}\">All {} modules</a></p></section>",
        Esc(&all.url_with(&[("sort", "updated")])),
        results.total
    );
    w!(&mut main, "<section aria-labelledby=\"popular\"><h2 id=\"popular\">Most pulled</h2>");
    result_list(&mut main, &popular.items);
    w!(&mut main, "<p><a href=\"{}\">More</a></p></section>", Esc(&all.url_with(&[("sort", "pulls")])));
    Ok(Page { title: "Home".into(), q: String::new(), main, account: Account::of(&state, &caller) })
}
