//! `/repositories/<name>` and `/repositories/<name>/tags/<tag>`. A repository name contains
//! `/`, so the path is read from its right-hand end, as the API and `/v2` do.
//!
//! A repository's description is the one its maintainers set on `/settings`, else the latest
//! Wasm tag's `org.opencontainers.image.description` annotation; its README is the latest
//! tag's README artifact (see `readme`).

use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use wasmhub_registry::oci::{RepoName, Tag};

use super::html::{size, time_element, w, Esc};
use super::readme::{readme, referrers};
use super::search::badges;
use super::{caller, Account, Origin, Page, PageError};
use crate::AppState;

/// What a path under `/repositories/` names.
#[derive(Debug, PartialEq, Eq)]
enum Target {
    Repository(RepoName),
    Tag(RepoName, Tag),
}

fn parse_target(path: &str) -> Result<Target, PageError> {
    let name = |segments: &[&str]| {
        let text = segments.join("/");
        text.parse::<RepoName>().map_err(|e| PageError::BadRequest(format!("invalid repository name {text:?}: {e}")))
    };
    let segments: Vec<&str> = path.trim_end_matches('/').split('/').collect();
    match segments.as_slice() {
        [rest @ .., "tags", tag] if !rest.is_empty() => {
            let tag = tag.parse::<Tag>().map_err(|e| PageError::BadRequest(format!("invalid tag {tag:?}: {e}")))?;
            Ok(Target::Tag(name(rest)?, tag))
        }
        all => Ok(Target::Repository(name(all)?)),
    }
}

pub async fn under(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(path): Path<String>,
) -> Result<Response, PageError> {
    let target = parse_target(&path)?;
    let caller = caller(&state, &headers).await?;
    match target {
        Target::Repository(name) => Ok(repository(&state, &caller, &name).await?.into_response()),
        Target::Tag(name, tag) => {
            let details = state.registry.tag_details(&caller, &name, &tag).await?;
            let origin = Origin::of(&state, &headers);
            let referrers = referrers(&state, &caller, &name, &details.summary.digest).await?;
            let readme = readme(&state, &caller, &name, &referrers).await;
            let account = Account::of(&state, &caller);
            let extras = super::tag::Extras { referrers, readme, account };
            Ok(super::tag::page(&origin, &name, details, extras).into_response())
        }
    }
}

async fn repository(state: &AppState, caller: &wasmhub_registry::Caller, name: &RepoName) -> Result<Page, PageError> {
    let tags = state.registry.repository_tags(caller, name).await?;
    let latest = tags.iter().find_map(|t| t.wasm.as_ref());
    let own = state.registry.repository_description(caller, name).await?;
    let mut main = String::new();
    let namespace = wasmhub_registry::namespace_of(name.as_str());
    w!(&mut main, "<p><a href=\"/namespaces/{n}\">{n}</a></p><h1>{}</h1>", Esc(name.as_str()), n = Esc(namespace));
    match own.as_deref().or(latest.and_then(|l| l.description.as_deref())) {
        Some(description) => w!(&mut main, "<p class=\"description\">{}</p>", Esc(description)),
        None => main.push_str("<p class=\"muted\">No description.</p>"),
    }
    if let Some(latest) = latest {
        w!(
            &mut main,
            "<section aria-labelledby=\"latest\"><h2 id=\"latest\">Latest: <a href=\"{}\">{}</a></h2>",
            Esc(&format!("/repositories/{name}/tags/{}", latest.tag)),
            Esc(&latest.tag)
        );
        badges(&mut main, latest);
        main.push_str("</section>");
    }
    // The README of the newest tag that has Wasm facts (one referrers query, one blob read).
    let newest = tags.iter().find(|t| t.wasm.is_some()).or(tags.first());
    if let Some(newest) = newest {
        let referrers = referrers(state, caller, name, &newest.digest).await?;
        if let Some(text) = readme(state, caller, name, &referrers).await {
            main.push_str("<section aria-labelledby=\"readme\"><h2 id=\"readme\">README</h2><div class=\"readme\">");
            main.push_str(&super::markdown::render(&text));
            main.push_str("</div></section>");
        }
    }
    w!(&mut main, "<section aria-labelledby=\"tags\"><h2 id=\"tags\">Tags ({})</h2>", tags.len());
    if tags.is_empty() {
        main.push_str("<p class=\"muted\">No tags.</p>");
    } else {
        main.push_str(
            "<div class=\"scroll\"><table><thead><tr><th scope=\"col\">Tag</th><th scope=\"col\">Digest</th>\
             <th scope=\"col\">Size</th><th scope=\"col\">Pushed</th><th scope=\"col\">Format</th></tr></thead><tbody>",
        );
        for tag in &tags {
            let link = format!("/repositories/{name}/tags/{}", tag.tag);
            w!(
                &mut main,
                "<tr><th scope=\"row\"><a href=\"{}\">{}</a></th><td><code>{}</code></td><td>{}</td><td>",
                Esc(&link),
                Esc(&tag.tag),
                Esc(&tag.digest),
                Esc(&tag.wasm.as_ref().and_then(|w| w.module_size).map(size).unwrap_or_else(|| "—".into()))
            );
            time_element(&mut main, tag.updated_at);
            let format = tag.wasm.as_ref().map_or("not Wasm", |w| w.format.as_str());
            w!(&mut main, "</td><td>{}</td></tr>", Esc(format));
        }
        main.push_str("</tbody></table></div>");
    }
    main.push_str("</section>");
    Ok(Page { title: name.to_string(), q: String::new(), main, account: Account::of(state, caller) })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_names_from_the_right() {
        assert_eq!(parse_target("a/b/c").unwrap(), Target::Repository("a/b/c".parse().unwrap()));
        assert_eq!(
            parse_target("a/tags/b/tags/v1").unwrap(),
            Target::Tag("a/tags/b".parse().unwrap(), "v1".parse().unwrap())
        );
        assert!(matches!(parse_target("UPPER/case"), Err(PageError::BadRequest(_))));
    }
}
