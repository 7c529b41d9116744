//! `/namespaces/<namespace>`: a user's or organisation's page, listing the repositories under
//! it that the caller may see (private ones only to members), a page at a time.

use axum::extract::{Path, RawQuery, State};
use axum::http::HeaderMap;
use wasmhub_index::RepositoryFilter;
use wasmhub_registry::oci::Namespace;
use wasmhub_registry::RegistryError;

use super::html::{query_string, time_element, w, Esc};
use super::{caller, Account, Page, PageError};
use crate::AppState;

const PER_PAGE: u32 = 50;
/// Deepest page served (deep OFFSETs are slow, as on `/search`).
const MAX_PAGE: u32 = 200;

pub async fn page(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(text): Path<String>,
    RawQuery(query): RawQuery,
) -> Result<Page, PageError> {
    let namespace: Namespace =
        text.parse().map_err(|e| PageError::BadRequest(format!("invalid namespace {text:?}: {e}")))?;
    let page_number = match form_urlencoded::parse(query.unwrap_or_default().as_bytes()).find(|(k, _)| k == "page") {
        None => 1,
        Some((_, value)) => match value.parse::<u32>() {
            Ok(n) if (1..=MAX_PAGE).contains(&n) => n,
            _ => return Err(PageError::BadRequest(format!("`page` must be an integer from 1 to {MAX_PAGE}"))),
        },
    };
    let caller = caller(&state, &headers).await?;
    let filter = RepositoryFilter::Namespace(namespace.to_string());
    let offset = u64::from(page_number - 1) * u64::from(PER_PAGE);
    let (total, repositories) = state.registry.repository_listing(&caller, &filter, offset, PER_PAGE).await?;

    let index = state.registry.index();
    let kind = if index.user(namespace.as_str()).await.map_err(RegistryError::from)?.is_some() {
        Some("User")
    } else if index.org_exists(&namespace).await.map_err(RegistryError::from)? {
        Some("Organisation")
    } else {
        None
    };
    // A namespace nobody owns and with nothing visible is indistinguishable from a typo.
    if kind.is_none() && total == 0 {
        return Err(PageError::NotFound);
    }

    let mut main = String::new();
    w!(
        &mut main,
        "<p class=\"muted\">{}</p><h1>{}</h1><p>{total} {} visible to you. \
         <a href=\"/search?{}\">Search its modules</a></p>",
        kind.unwrap_or("Namespace"),
        Esc(namespace.as_str()),
        if total == 1 { "repository" } else { "repositories" },
        Esc(&query_string([("namespace", namespace.as_str())]))
    );
    if repositories.is_empty() {
        main.push_str("<p class=\"muted\">No repositories to show.</p>");
    } else {
        main.push_str("<ul class=\"results\">");
        for repository in &repositories {
            w!(
                &mut main,
                "<li><h2 class=\"h3\"><a href=\"/repositories/{n}\">{n}</a>{}</h2>",
                if repository.public { "" } else { " <span class=\"tag-private\">private</span>" },
                n = Esc(&repository.name)
            );
            if let Some(description) = &repository.description {
                w!(&mut main, "<p>{}</p>", Esc(description));
            }
            let tags = if repository.tag_count == 1 { "tag" } else { "tags" };
            w!(&mut main, "<p class=\"muted\">{} {tags} · updated ", repository.tag_count);
            time_element(&mut main, repository.updated_at);
            main.push_str("</p></li>");
        }
        main.push_str("</ul>");
    }
    let pages = total.div_ceil(u64::from(PER_PAGE)).clamp(1, u64::from(MAX_PAGE));
    if pages > 1 {
        main.push_str("<nav class=\"pager\" aria-label=\"Pages\">");
        let link = |n: u32| format!("/namespaces/{namespace}?page={n}");
        if page_number > 1 {
            w!(&mut main, "<a rel=\"prev\" href=\"{}\">← Previous</a>", Esc(&link(page_number - 1)));
        }
        w!(&mut main, "<span>Page {page_number} of {pages}</span>");
        if u64::from(page_number) < pages {
            w!(&mut main, "<a rel=\"next\" href=\"{}\">Next →</a>", Esc(&link(page_number + 1)));
        }
        main.push_str("</nav>");
    }
    let account = Account::of(&state, &caller);
    Ok(Page { title: namespace.to_string(), q: String::new(), main, account })
}
