//! Search over the denormalised search tables (migration 0005): every write path keeps them in
//! step (push, tag move, tag and manifest delete, re-indexing, visibility changes), and totals,
//! facets, filters and orders answer as the joined tables would. Run on both backends.

use wasmhub_index::{
    query_words, AbiRow, Actor, ExportRow, ImportRow, Index, NewManifest, SearchQuery, SearchResults, SearchSort,
    Visibility, WasmOutcome, WasmRecord,
};
use wasmhub_oci::{Digest, MediaType, Namespace, RepoName, Tag};

mod common;

on_both_backends!(
    totals_and_facets_count_each_tagged_module,
    filters_combine_and_match_exports_imports_abis_and_text,
    a_moved_tag_is_found_by_what_it_now_names,
    deleted_tags_and_manifests_leave_search,
    reindexed_facts_replace_the_old_ones,
    private_repositories_follow_visibility_changes,
    pages_follow_the_requested_order,
    free_text_matches_words_as_prefixes_once_per_tag,
    a_user_with_more_private_repositories_than_are_listed_sees_them_all,
    a_module_with_thousands_of_exports_is_indexed_in_full,
);

/// The audit entry the account changes here are recorded with.
fn audited() -> wasmhub_index::AuditEntry<'static> {
    static CLI: std::sync::OnceLock<Actor> = std::sync::OnceLock::new();
    let actor = CLI.get_or_init(Actor::cli);
    wasmhub_index::AuditEntry { actor, action: "test.change", repository: None, target: "test", detail: None }
}

fn name(s: &str) -> RepoName {
    s.parse().unwrap()
}

fn tag(s: &str) -> Tag {
    s.parse().unwrap()
}

/// A module's facts: `runtime` (envoy_proxy, wasi or component), ABIs, exports, imports as
/// `module.name`, and a description for free text.
fn record(runtime: &str, abis: &[&str], exports: &[&str], imports: &[&str], description: &str) -> WasmRecord {
    WasmRecord {
        format: if runtime == "envoy_proxy" { "soloOci" } else { "cncfWasm" }.into(),
        outcome: WasmOutcome::Wasm,
        reason: None,
        runtime_type: Some(runtime.into()),
        kind: Some(if runtime == "component" { "component" } else { "module" }.into()),
        wasi: None,
        module_digest: None,
        module_size: Some(100),
        abis: abis.iter().map(|abi| AbiRow { abi: (*abi).into(), declared: true, detected: false }).collect(),
        exports: exports.iter().map(|e| ExportRow { name: (*e).into(), kind: "func".into() }).collect(),
        imports: imports
            .iter()
            .map(|i| {
                let (module, name) = i.split_once('.').unwrap();
                ImportRow { module: module.into(), name: name.into(), kind: "func".into() }
            })
            .collect(),
        title: None,
        description: Some(description.into()),
        version: None,
        search_text: description.into(),
        facts_json: "{}".into(),
    }
}

fn envoy(abi: &str, export: &str, description: &str) -> WasmRecord {
    record("envoy_proxy", &[abi], &["proxy_on_vm_start", export], &["env.proxy_log"], description)
}

fn wasi(description: &str) -> WasmRecord {
    record("wasi", &[], &["_start"], &["wasi_snapshot_preview1.fd_write"], description)
}

/// Pushes `content` (a distinct manifest) with `wasm` facts under `tags`.
async fn push(index: &Index, repository: &str, content: &str, wasm: Option<WasmRecord>, tags: &[&str]) -> Digest {
    let repository = name(repository);
    let digest = Digest::sha256_of(content.as_bytes());
    let media_type = MediaType::from_static("application/vnd.oci.image.manifest.v1+json");
    let tags: Vec<Tag> = tags.iter().map(|t| tag(t)).collect();
    index
        .put_manifest(&NewManifest {
            repository: &repository,
            digest: &digest,
            media_type: &media_type,
            artifact_type: None,
            subject: None,
            annotations_json: None,
            content: content.as_bytes(),
            blobs: Vec::new(),
            children: Vec::new(),
            tags: tags.iter().collect(),
            wasm,
        })
        .await
        .unwrap();
    digest
}

fn all() -> SearchQuery {
    SearchQuery { limit: 100, ..SearchQuery::default() }
}

async fn search(index: &Index, query: SearchQuery) -> SearchResults {
    index.search(&query, Visibility::All).await.unwrap()
}

/// `repository:tag` of each item, in order.
fn found(results: &SearchResults) -> Vec<String> {
    results.items.iter().map(|hit| format!("{}:{}", hit.repository, hit.tag)).collect()
}

fn sorted(mut items: Vec<String>) -> Vec<String> {
    items.sort();
    items
}

fn facet(values: &[(&str, u64)]) -> Vec<(String, u64)> {
    values.iter().map(|(value, n)| ((*value).into(), *n)).collect()
}

async fn totals_and_facets_count_each_tagged_module(index: &Index) {
    push(index, "a/rate", "m1", Some(envoy("0.2.1", "proxy_on_tick", "rate limit")), &["v1", "latest"]).await;
    push(index, "a/jwt", "m2", Some(envoy("0.2.0", "proxy_on_request_headers", "jwt auth")), &["v1"]).await;
    push(index, "b/cli", "m3", Some(wasi("command line")), &["v1"]).await;
    push(index, "b/comp", "m4", Some(record("component", &[], &["run"], &[], "component")), &["v1"]).await;
    // Untagged, and not Wasm: neither is a search result.
    push(index, "b/untagged", "m5", Some(wasi("hidden")), &[]).await;
    push(index, "b/image", "m6", None, &["v1"]).await;

    let results = search(index, all()).await;
    assert_eq!(results.total, 5, "one result per tag naming a Wasm manifest");
    assert_eq!(
        sorted(found(&results)),
        ["a/jwt:v1", "a/rate:latest", "a/rate:v1", "b/cli:v1", "b/comp:v1"].map(String::from)
    );
    assert_eq!(results.facets.runtime_type, facet(&[("envoy_proxy", 3), ("component", 1), ("wasi", 1)]));
    assert_eq!(results.facets.kind, facet(&[("module", 4), ("component", 1)]));
    assert_eq!(results.facets.abi, facet(&[("0.2.1", 2), ("0.2.0", 1)]));
    let hit = results.items.iter().find(|hit| hit.repository == "a/jwt").unwrap();
    assert_eq!((hit.runtime_type.as_deref(), hit.abis.clone()), (Some("envoy_proxy"), vec!["0.2.0".to_string()]));
}

async fn filters_combine_and_match_exports_imports_abis_and_text(index: &Index) {
    push(index, "a/rate", "m1", Some(envoy("0.2.1", "proxy_on_tick", "rate limit")), &["v1"]).await;
    push(index, "a/jwt", "m2", Some(envoy("0.2.0", "proxy_on_request_headers", "jwt auth")), &["v1"]).await;
    push(index, "b/cli", "m3", Some(wasi("rate command")), &["v1"]).await;
    push(
        index,
        "c/multi",
        "m4",
        Some(record("envoy_proxy", &["0.2.1", "0.1.0"], &["proxy_on_tick"], &[], "old")),
        &["v1"],
    )
    .await;

    let query = |f: fn(&mut SearchQuery)| {
        let mut query = all();
        f(&mut query);
        query
    };
    let cases: Vec<(SearchQuery, Vec<&str>)> = vec![
        (query(|q| q.runtime_type = Some("envoy_proxy".into())), vec!["a/jwt:v1", "a/rate:v1", "c/multi:v1"]),
        (query(|q| q.abi = Some("0.2.1".into())), vec!["a/rate:v1", "c/multi:v1"]),
        (query(|q| q.abi = Some("0.1.0".into())), vec!["c/multi:v1"]),
        (query(|q| q.export = Some("proxy_on_tick".into())), vec!["a/rate:v1", "c/multi:v1"]),
        (query(|q| q.import = Some("fd_write".into())), vec!["b/cli:v1"]),
        (query(|q| q.import = Some("wasi_snapshot_preview1".into())), vec!["b/cli:v1"]),
        (query(|q| q.words = query_words("rate")), vec!["a/rate:v1", "b/cli:v1"]),
        (query(|q| q.words = query_words("ra")), vec!["a/rate:v1", "b/cli:v1"]),
        (query(|q| q.kind = Some("module".into())), vec!["a/jwt:v1", "a/rate:v1", "b/cli:v1", "c/multi:v1"]),
        (query(|q| q.format = Some("cncfWasm".into())), vec!["b/cli:v1"]),
        (query(|q| q.namespace = Some("a".into())), vec!["a/jwt:v1", "a/rate:v1"]),
        (query(|q| q.repository = Some("c/multi".into())), vec!["c/multi:v1"]),
        (
            query(|q| {
                q.runtime_type = Some("envoy_proxy".into());
                q.abi = Some("0.2.1".into());
                q.export = Some("proxy_on_tick".into());
                q.words = query_words("rate");
            }),
            vec!["a/rate:v1"],
        ),
        (
            query(|q| {
                q.abi = Some("0.2.0".into());
                q.export = Some("proxy_on_tick".into());
            }),
            vec![],
        ),
    ];
    for (query, expected) in cases {
        let results = search(index, query.clone()).await;
        assert_eq!(sorted(found(&results)), expected, "{query:?}");
        assert_eq!(results.total, expected.len() as u64, "{query:?}");
    }
    // An ABI facet counts a module once per ABI it has.
    let results = search(index, query(|q| q.export = Some("proxy_on_tick".into()))).await;
    assert_eq!(results.facets.abi, facet(&[("0.2.1", 2), ("0.1.0", 1)]));
    assert_eq!(results.facets.runtime_type, facet(&[("envoy_proxy", 2)]));
}

async fn a_moved_tag_is_found_by_what_it_now_names(index: &Index) {
    push(index, "a/filter", "m1", Some(envoy("0.2.1", "proxy_on_tick", "first")), &["latest", "v1"]).await;
    push(index, "a/filter", "m2", Some(wasi("second")), &["latest"]).await;
    let envoy_query = SearchQuery { runtime_type: Some("envoy_proxy".into()), ..all() };
    assert_eq!(found(&search(index, envoy_query).await), ["a/filter:v1"]);
    let wasi_query = SearchQuery { runtime_type: Some("wasi".into()), ..all() };
    assert_eq!(found(&search(index, wasi_query).await), ["a/filter:latest"]);
    let text = search(index, SearchQuery { words: query_words("second"), ..all() }).await;
    assert_eq!(found(&text), ["a/filter:latest"]);
    assert_eq!(search(index, all()).await.total, 2);
    // Counted from the export's own rows, which follow the artifact's tag count.
    let export = search(index, SearchQuery { export: Some("proxy_on_tick".into()), ..all() }).await;
    assert_eq!((export.total, found(&export)), (1, vec!["a/filter:v1".to_string()]));
}

async fn deleted_tags_and_manifests_leave_search(index: &Index) {
    let first = push(index, "a/filter", "m1", Some(envoy("0.2.1", "proxy_on_tick", "first")), &["v1", "v2"]).await;
    push(index, "a/other", "m2", Some(wasi("second")), &["v1"]).await;
    let tick = SearchQuery { export: Some("proxy_on_tick".into()), ..all() };
    assert_eq!(search(index, tick.clone()).await.total, 2);
    assert!(index.delete_tag(&name("a/filter"), &tag("v2")).await.unwrap());
    assert_eq!(sorted(found(&search(index, all()).await)), ["a/filter:v1", "a/other:v1"]);
    assert_eq!(search(index, tick.clone()).await.total, 1);
    assert!(index.delete_manifest(&name("a/filter"), &first).await.unwrap());
    let results = search(index, all()).await;
    assert_eq!(found(&results), ["a/other:v1"]);
    assert_eq!(results.facets.runtime_type, facet(&[("wasi", 1)]));
    assert!(results.facets.abi.is_empty(), "no ABI is left: {:?}", results.facets.abi);
    assert_eq!(search(index, tick).await.total, 0);
}

/// Counts written by other connections add up: on PostgreSQL each backend process adds to a
/// row of its own (migration 0013), and a tag deleted through another replica's connections
/// takes one from a row that may not exist yet.
async fn counts_written_by_several_replicas_add_up(backend: &common::Backend) {
    let (first, second) = (&backend.index, &backend.reconnect().await);
    let gone = push(first, "a/filter", "m1", Some(envoy("0.2.1", "proxy_on_tick", "first")), &["v1", "v2"]).await;
    push(first, "a/other", "m2", Some(wasi("second")), &["v1"]).await;
    push(second, "a/third", "m3", Some(wasi("third")), &["v1"]).await;
    assert!(second.delete_tag(&name("a/filter"), &tag("v2")).await.unwrap());
    assert!(second.delete_manifest(&name("a/filter"), &gone).await.unwrap());
    for index in [first, second] {
        let results = search(index, all()).await;
        assert_eq!((results.total, sorted(found(&results))), (2, vec!["a/other:v1".into(), "a/third:v1".into()]));
        assert_eq!(results.facets.runtime_type, facet(&[("wasi", 2)]));
    }
    second.close().await;
}

#[tokio::test]
async fn counts_written_by_several_replicas_add_up_on_sqlite() {
    let backend = common::sqlite().await;
    counts_written_by_several_replicas_add_up(&backend).await;
    backend.index.close().await;
}

#[tokio::test]
async fn counts_written_by_several_replicas_add_up_on_postgres() {
    let backend = common::postgres().await;
    counts_written_by_several_replicas_add_up(&backend).await;
    backend.index.close().await;
}

/// Exports and imports go in statements of a few hundred rows each (SQLite's parameter limit):
/// the first, a middle and the last of each are found, also after a second push replaced them.
async fn a_module_with_thousands_of_exports_is_indexed_in_full(index: &Index) {
    let exports: Vec<String> = (0..1_201).map(|i| format!("export_{i}")).collect();
    let imports: Vec<String> = (0..1_001).map(|i| format!("env.import_{i}")).collect();
    let facts = || {
        let exports: Vec<&str> = exports.iter().map(String::as_str).collect();
        let imports: Vec<&str> = imports.iter().map(String::as_str).collect();
        record("wasi", &["preview1"], &exports, &imports, "big")
    };
    push(index, "big/module", "m-big", Some(facts()), &["v1"]).await;
    push(index, "big/module", "m-big", Some(facts()), &["v1", "v2"]).await;
    for (export, import) in [("export_0", "import_0"), ("export_1200", "import_1000"), ("export_500", "import_499")] {
        let mut query = all();
        query.export = Some(export.into());
        assert_eq!(sorted(found(&search(index, query).await)), vec!["big/module:v1", "big/module:v2"], "{export}");
        let mut query = all();
        query.import = Some(import.into());
        assert_eq!(sorted(found(&search(index, query).await)), vec!["big/module:v1", "big/module:v2"], "{import}");
    }
}

async fn reindexed_facts_replace_the_old_ones(index: &Index) {
    let digest = push(index, "a/filter", "m1", Some(wasi("before")), &["v1"]).await;
    // As `wasmhub reindex` does: the stored manifests, then their facts one by one.
    let repository_id = index.manifests_after(None, 10).await.unwrap()[0].repository_id;
    let written =
        index.put_wasm_facts(repository_id, &digest, Some(&envoy("0.2.1", "proxy_on_tick", "after"))).await.unwrap();
    assert!(written);
    let results = search(index, SearchQuery { abi: Some("0.2.1".into()), ..all() }).await;
    assert_eq!(found(&results), ["a/filter:v1"]);
    assert_eq!(results.facets.runtime_type, facet(&[("envoy_proxy", 1)]));
    assert_eq!(search(index, SearchQuery { words: query_words("before"), ..all() }).await.total, 0);
    // Facts removed (the manifest is no longer Wasm): the tag is no longer a search result.
    assert!(index.put_wasm_facts(repository_id, &digest, None).await.unwrap());
    assert_eq!(search(index, all()).await.total, 0);
}

async fn private_repositories_follow_visibility_changes(index: &Index) {
    let alice: Namespace = "alice".parse().unwrap();
    let alice_id = index.create_user(&alice, "hash", false, &audited()).await.unwrap();
    let bob_id = index.create_user(&"bob".parse().unwrap(), "hash", false, &audited()).await.unwrap();
    push(index, "alice/secret", "m1", Some(wasi("secret")), &["v1"]).await;
    push(index, "bob/open", "m2", Some(wasi("open")), &["v1"]).await;
    let visible = |visibility| async move { found(&index.search(&all(), visibility).await.unwrap()) };

    assert!(index.set_repository_private(&name("alice/secret"), true, &audited()).await.unwrap());
    assert_eq!(visible(Visibility::Public).await, ["bob/open:v1"]);
    assert_eq!(visible(Visibility::PublicOr { user_id: bob_id }).await, ["bob/open:v1"]);
    assert_eq!(sorted(visible(Visibility::PublicOr { user_id: alice_id }).await), ["alice/secret:v1", "bob/open:v1"]);
    assert_eq!(visible(Visibility::Nothing).await, Vec::<String>::new());
    let public = index.search(&all(), Visibility::Public).await.unwrap();
    assert_eq!((public.total, public.facets.runtime_type), (1, facet(&[("wasi", 1)])));

    // A tag pushed while private is private too; making the repository public shows both.
    push(index, "alice/secret", "m3", Some(wasi("more")), &["v2"]).await;
    assert_eq!(visible(Visibility::Public).await, ["bob/open:v1"]);
    assert!(index.set_repository_private(&name("alice/secret"), false, &audited()).await.unwrap());
    assert_eq!(sorted(visible(Visibility::Public).await), ["alice/secret:v1", "alice/secret:v2", "bob/open:v1"]);
    // Counted from the import's own rows, which follow the repository's privacy.
    let import = SearchQuery { import: Some("fd_write".into()), ..all() };
    assert_eq!(index.search(&import, Visibility::Public).await.unwrap().total, 3);
    assert!(index.set_repository_private(&name("alice/secret"), true, &audited()).await.unwrap());
    assert_eq!(index.search(&import, Visibility::Public).await.unwrap().total, 1);
    assert_eq!(index.search(&import, Visibility::All).await.unwrap().total, 3);
    // A signed-in user's totals and facets: the public ones plus their own private entries.
    let owner = index.search(&import, Visibility::PublicOr { user_id: alice_id }).await.unwrap();
    assert_eq!((owner.total, owner.facets.runtime_type.clone()), (3, facet(&[("wasi", 3)])));
    assert_eq!(sorted(found(&owner)), ["alice/secret:v1", "alice/secret:v2", "bob/open:v1"]);
    let other = index.search(&import, Visibility::PublicOr { user_id: bob_id }).await.unwrap();
    assert_eq!((other.total, found(&other)), (1, vec!["bob/open:v1".to_string()]));
    let everything = index.search(&all(), Visibility::PublicOr { user_id: alice_id }).await.unwrap();
    assert_eq!((everything.total, everything.facets.kind), (3, facet(&[("module", 3)])));
}

async fn pages_follow_the_requested_order(index: &Index) {
    for (n, repository) in ["c/one", "a/two", "b/three"].iter().enumerate() {
        push(index, repository, &format!("m{n}"), Some(wasi(&format!("module {repository}"))), &["v1", "v2"]).await;
        next_millisecond().await;
    }
    let by_name = |offset, limit| SearchQuery { sort: SearchSort::Name, offset, limit, ..SearchQuery::default() };
    let first = search(index, by_name(0, 4)).await;
    assert_eq!(found(&first), ["a/two:v1", "a/two:v2", "b/three:v1", "b/three:v2"]);
    assert_eq!(first.total, 6, "the total counts every match, not the page");
    assert_eq!(found(&search(index, by_name(4, 4)).await), ["c/one:v1", "c/one:v2"]);
    assert_eq!(found(&search(index, by_name(6, 4)).await), Vec::<String>::new());
    // Newest first: the last push's tags lead (ties broken by repository and tag).
    let updated = search(index, SearchQuery { sort: SearchSort::Updated, limit: 2, ..SearchQuery::default() }).await;
    assert_eq!(found(&updated), ["b/three:v1", "b/three:v2"]);
    // Pushing a tag again makes it the newest.
    next_millisecond().await;
    push(index, "c/one", "m0", Some(wasi("module c/one")), &["v1"]).await;
    let updated = search(index, SearchQuery { sort: SearchSort::Updated, limit: 1, ..SearchQuery::default() }).await;
    assert_eq!(found(&updated), ["c/one:v1"]);
}

async fn free_text_matches_words_as_prefixes_once_per_tag(index: &Index) {
    // One module holds three words starting with "rat": it is still one match per tag.
    push(index, "a/rate", "m1", Some(envoy("0.2.1", "proxy_on_tick", "rate ratelimit ratio jwt")), &["v1", "v2"]).await;
    push(index, "a/jwt", "m2", Some(envoy("0.2.0", "proxy_on_tick", "jwt jwt jwt tokens")), &["v1"]).await;
    push(index, "b/cli", "m3", Some(wasi("Command-line JWT, rate")), &["v1"]).await;
    push(index, "b/untagged", "m4", Some(wasi("rate jwt")), &[]).await;
    push(index, "c/cafe", "m6", Some(wasi("Café filter")), &["v1"]).await;
    push(index, "c/cafeteria", "m7", Some(wasi("cafeteria cafes")), &["v1"]).await;
    let words = |text: &str| SearchQuery { words: query_words(text), ..all() };
    // One word or several, a word is matched as written (accents included) on both backends:
    // "cafe" is a prefix of stored words here, but not of "café".
    for (text, expected) in [("café", 1), ("café filter", 1), ("cafe", 1), ("cafe filter", 0)] {
        assert_eq!(search(index, words(text)).await.total, expected, "{text}");
    }

    for (text, expected) in [
        ("rat", vec!["a/rate:v1", "a/rate:v2", "b/cli:v1"]),
        ("ratel", vec!["a/rate:v1", "a/rate:v2"]),
        ("RATE jwt", vec!["a/rate:v1", "a/rate:v2", "b/cli:v1"]),
        ("jwt tok", vec!["a/jwt:v1"]),
        ("command line", vec!["b/cli:v1"]),
        ("rat zebra", vec![]),
        ("zebra", vec![]),
    ] {
        let results = search(index, words(text)).await;
        assert_eq!(sorted(found(&results)), expected, "{text}");
        assert_eq!(results.total, expected.len() as u64, "{text}");
    }
    let results = search(index, words("jwt")).await;
    assert_eq!(results.facets.runtime_type, facet(&[("envoy_proxy", 3), ("wasi", 1)]));
    assert_eq!(results.facets.abi, facet(&[("0.2.1", 2), ("0.2.0", 1)]));
    // Relevance puts the module that is most about the word first.
    assert_eq!(found(&results)[0], "a/jwt:v1");
    // Combined with the other filters, whichever drives.
    let combined = SearchQuery { export: Some("proxy_on_tick".into()), abi: Some("0.2.1".into()), ..words("rat") };
    assert_eq!(sorted(found(&search(index, combined).await)), ["a/rate:v1", "a/rate:v2"]);
    let wasi_only = SearchQuery { runtime_type: Some("wasi".into()), ..words("jwt") };
    assert_eq!(found(&search(index, wasi_only).await), ["b/cli:v1"]);

    // Words follow privacy, for anonymous callers and for a signed-in owner.
    let alice = index.create_user(&"a".parse().unwrap(), "hash", false, &audited()).await.unwrap();
    assert!(index.set_repository_private(&name("a/rate"), true, &audited()).await.unwrap());
    let public = index.search(&words("rat"), Visibility::Public).await.unwrap();
    assert_eq!((found(&public), public.total), (vec!["b/cli:v1".to_string()], 1));
    let owner = index.search(&words("rat"), Visibility::PublicOr { user_id: alice }).await.unwrap();
    assert_eq!(owner.total, 3);
    // Two words, intersected: the public matches, and for the owner their private ones too
    // (on PostgreSQL, the page is read while the total is counted).
    let public = index.search(&words("jwt rat"), Visibility::Public).await.unwrap();
    assert_eq!((found(&public), public.total), (vec!["b/cli:v1".to_string()], 1));
    let owner = index.search(&words("jwt rat"), Visibility::PublicOr { user_id: alice }).await.unwrap();
    assert_eq!(sorted(found(&owner)), ["a/rate:v1", "a/rate:v2", "b/cli:v1"]);
    assert_eq!(owner.total, 3);
    // A moved tag takes its words with it.
    push(index, "b/cli", "m5", Some(wasi("renamed")), &["v1"]).await;
    assert_eq!(search(index, words("command")).await.total, 0);
    assert_eq!(found(&search(index, words("renamed")).await), ["b/cli:v1"]);
}

/// A signed-in user's private repositories are listed by id in a search's SQL when there are
/// at most 1,000 of them; beyond, the visibility predicate finds them instead, with the same
/// results.
async fn a_user_with_more_private_repositories_than_are_listed_sees_them_all(index: &Index) {
    let alice = index.create_user(&"alice".parse().unwrap(), "hash", false, &audited()).await.unwrap();
    // 1,001 private repositories; three hold tagged modules.
    for n in 0..1001 {
        let repository = format!("alice/r{n}");
        let wasm = (n % 500 == 0).then(|| wasi(&format!("secret {n}")));
        push(index, &repository, &format!("m{n}"), wasm, &["v1"]).await;
        assert!(index.set_repository_private(&name(&repository), true, &audited()).await.unwrap());
    }
    push(index, "bob/open", "open", Some(wasi("open secret")), &["v1"]).await;
    let secret = SearchQuery { words: query_words("secret"), ..all() };
    let owner = index.search(&secret, Visibility::PublicOr { user_id: alice }).await.unwrap();
    assert_eq!(sorted(found(&owner)), ["alice/r0:v1", "alice/r1000:v1", "alice/r500:v1", "bob/open:v1"]);
    assert_eq!((owner.total, owner.facets.runtime_type), (4, facet(&[("wasi", 4)])));
    let everything = index.search(&all(), Visibility::PublicOr { user_id: alice }).await.unwrap();
    assert_eq!(everything.total, 4);
    let public = index.search(&secret, Visibility::Public).await.unwrap();
    assert_eq!((found(&public), public.total), (vec!["bob/open:v1".to_string()], 1));
}

/// Tags record their update time in milliseconds: waiting past one keeps two pushes apart in
/// the newest-first order (ties would be ordered by name instead).
async fn next_millisecond() {
    tokio::time::sleep(std::time::Duration::from_millis(2)).await;
}
