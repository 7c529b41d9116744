//! A search's conditions, built once and shared by the count, the page and the pull-ordered
//! page, so the visibility predicate (accounts and private repositories, issue 8) and every
//! filter come from one place.

use super::terms::{Field, Matcher, Resolved, TermTest, Wanted};
use super::{SearchQuery, Visibility};
use crate::Backend;

/// How the term tests that do not drive are applied to a `search_entries` row.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Probe {
    /// `artifact_id IN (list)`: the list is read once; for plans that visit most of it.
    List,
    /// `EXISTS (...)` per row: an index probe; for a page walked in order, which stops early,
    /// and for rows already narrowed by a driver.
    PerRow,
}

/// Conditions on `s` (a `search_entries` row) and term tests, with their arguments numbered in
/// order. Each condition on `s` tests one of the columns every `search_entries` index carries
/// (`private`, `facet_id`, `artifact_id`, `repository_id`), so totals, facets and pages are
/// read from an index without visiting the wide tables.
#[derive(Clone)]
pub(super) struct Filter {
    conditions: Vec<String>,
    /// Exports, imports and free-text words, each matched in `search_terms`.
    pub tests: Vec<TermTest>,
    /// Two words or more on SQLite: the artifacts that have them all, from FTS5 (a query
    /// yielding `id`), which intersects posting lists far faster than probing one word's
    /// rows for the others (1 ms against 20 ms for two words in a sixth of 100,000 modules).
    /// The words are then not among `tests`.
    pub text: Option<String>,
    /// The equality test with the fewest rows, which drives the search when there is one and
    /// there is no `text`.
    pub driver: Option<usize>,
    /// The fewest rows any one word has (counted up to a cap): how many artifacts have all
    /// the words, at most.
    pub fewest_word_rows: Option<u64>,
    pub args: Vec<String>,
    /// The facet filter, `IN (...)` of facet row ids, when there is one.
    pub facet: Option<String>,
    /// Whether only facet values, term tests and visibility apply: then `search_counts` (no
    /// tests) or the driver's own rows (each carries facet, privacy and tag count) answer
    /// totals without a join (for a signed-in user, the public ones; see `grouped_sql`).
    pub counted: bool,
    pub visibility: Visibility,
    /// A signed-in user's visible private repositories, as a list of ids for `IN (...)`, when
    /// they were few enough to list (`Index::own_private_repositories`).
    pub own_private: Option<String>,
}

impl Filter {
    /// The terms `query` asks `search_terms` for, in the order `new` expects them resolved.
    pub fn wanted(query: &SearchQuery) -> Vec<Wanted<'_>> {
        let words = query.words.iter().map(|word| Wanted { field: Field::Word, value: word, prefix: true });
        let whole = [(Field::Export, &query.export), (Field::Import, &query.import)]
            .into_iter()
            .filter_map(|(field, value)| value.as_deref().map(|value| Wanted { field, value, prefix: false }));
        words.chain(whole).collect()
    }

    /// The filter of `query`, given its wanted terms resolved; `None` when a term matches
    /// nothing stored, so nothing can match.
    pub fn new(
        backend: Backend,
        query: &SearchQuery,
        (visibility, own_private): (Visibility, Option<String>),
        resolved: Vec<Resolved>,
    ) -> Option<Filter> {
        let mut filter = Filter {
            conditions: Vec::new(),
            tests: Vec::new(),
            text: None,
            driver: None,
            fewest_word_rows: None,
            args: Vec::new(),
            facet: None,
            counted: false,
            visibility,
            own_private,
        };
        // On SQLite, two words or more go to FTS5 together, each as (word, is a prefix).
        // PostgreSQL joins the words' index-only scans instead (a hash or merge join), faster
        // than its GIN index, whose matches are rechecked against the wide artifact rows.
        let many_words = backend == Backend::Sqlite && query.words.len() > 1;
        let mut text_words = Vec::new();
        for (wanted, resolved) in Filter::wanted(query).into_iter().zip(resolved) {
            let rows = match &resolved {
                Resolved::Nothing => return None,
                Resolved::Exact { rows, .. } | Resolved::Prefix { rows } => *rows,
            };
            if wanted.field == Field::Word {
                filter.fewest_word_rows = Some(filter.fewest_word_rows.map_or(rows, |fewest| fewest.min(rows)));
            }
            if many_words && wanted.field == Field::Word {
                text_words.push(match resolved {
                    Resolved::Exact { term, .. } => (term, false),
                    _ => (wanted.value.to_owned(), true),
                });
                continue;
            }
            let matcher = match resolved {
                Resolved::Exact { term, .. } => {
                    filter.args.push(term);
                    Matcher::Equal(filter.args.len())
                }
                _ => {
                    filter.args.push(wanted.value.to_owned());
                    filter.args.push(super::terms::prefix_end(wanted.value));
                    Matcher::Range { low: filter.args.len() - 1, high: filter.args.len() }
                }
            };
            filter.tests.push(TermTest { field: wanted.field, matcher, rows });
        }
        if many_words {
            filter.text = Some(full_text_list(&text_words, &mut filter.args));
        }
        filter.driver = (0..filter.tests.len())
            .filter(|&i| matches!(filter.tests[i].matcher, Matcher::Equal(_)))
            .min_by_key(|&i| filter.tests[i].rows);
        // Runtime type, kind, format and ABI are properties of the facet row: one subquery for
        // all, so the few facet rows that pass drive the search.
        let mut facet = Vec::new();
        for (column, value) in [("runtime_type", &query.runtime_type), ("kind", &query.kind), ("format", &query.format)]
        {
            if let Some(value) = value {
                filter.args.push(value.clone());
                facet.push(format!("{column} = ${}", filter.args.len()));
            }
        }
        if let Some(abi) = &query.abi {
            filter.args.push(abi.clone());
            facet.push(format!("id IN (SELECT facet_id FROM search_facet_abis WHERE abi = ${})", filter.args.len()));
        }
        if !facet.is_empty() {
            let facet = format!("IN (SELECT id FROM search_facets WHERE {})", facet.join(" AND "));
            filter.facet = Some(facet);
        }
        filter.counted = filter.text.is_none()
            && (filter.tests.is_empty() || filter.driver.is_some())
            && query.repository.is_none()
            && query.namespace.is_none();
        if let Some(repository) = &query.repository {
            filter.args.push(repository.clone());
            let n = filter.args.len();
            filter.conditions.push(format!("s.repository_id IN (SELECT id FROM repositories WHERE name = ${n})"));
        }
        if let Some(namespace) = &query.namespace {
            filter.args.extend(crate::names_under(namespace.trim_end_matches('/')));
            let (low, high) = (filter.args.len() - 1, filter.args.len());
            filter.conditions.push(format!(
                "s.repository_id IN (SELECT id FROM repositories WHERE name >= ${low} AND name < ${high})"
            ));
        }
        Some(filter)
    }

    /// The driving test, when a term drives.
    pub fn driving(&self) -> Option<&TermTest> {
        self.driver.filter(|_| self.text.is_none()).map(|i| &self.tests[i])
    }

    /// Whether the search has a driver (a term or the full-text list).
    pub fn driven(&self) -> bool {
        self.text.is_some() || self.driver.is_some()
    }

    /// The term tests other than the driving one.
    pub fn probes(&self) -> impl Iterator<Item = &TermTest> {
        let driver = self.driving().map(|_| self.driver);
        self.tests.iter().enumerate().filter(move |(i, _)| driver != Some(Some(*i))).map(|(_, test)| test)
    }

    /// `FROM ... WHERE ...` over the matching `search_entries` rows `s`. With `driven`, the
    /// driver's `search_terms` rows (`d`) come first and each joins its entries (`CROSS JOIN`
    /// keeps that order on SQLite, whose planner has no statistics); otherwise the entries
    /// are read from `s_source` (`search_entries s`, perhaps with an index hint) and every
    /// test applies as `probe` says. `joins` go between the tables and the conditions, `extra`
    /// conditions after this filter's.
    pub fn matches_sql(&self, driven: bool, s_source: &str, joins: &str, probe: Probe, extra: &[&str]) -> String {
        let mut conditions = Vec::new();
        let from = match (self.text.as_deref(), self.driving()) {
            (Some(text), _) if driven => {
                conditions.push("s.artifact_id = d.id".into());
                conditions.extend(self.entry_facet_and_privacy());
                conditions.extend(self.probes().map(|test| test.probe("s.artifact_id")));
                format!("({text}) d CROSS JOIN search_entries s")
            }
            (_, Some(driver)) if driven => {
                conditions.push(driver.on("d"));
                // The driver's rows carry facet row, privacy and tag count: what cannot match
                // is skipped in the index, before any join.
                conditions.push("d.tag_count > 0".into());
                conditions.extend(self.facet.iter().map(|facet| format!("d.facet_id {facet}")));
                match self.visibility {
                    Visibility::Public => conditions.push("d.private = 0".into()),
                    _ => conditions.extend(self.entry_condition()),
                }
                conditions.push("s.artifact_id = d.artifact_id".into());
                // An entry's facet row and privacy are its artifact's: tested on `d` above.
                conditions.extend(self.probes().map(|test| test.probe("s.artifact_id")));
                "search_terms d CROSS JOIN search_entries s".to_owned()
            }
            _ => {
                conditions.extend(self.entry_facet_and_privacy());
                // A full-text list is read once, whatever the probe of the terms.
                conditions.extend(self.text.iter().map(|text| format!("s.artifact_id IN ({text})")));
                conditions.extend(self.tests.iter().map(|test| match probe {
                    Probe::List => test.list("s.artifact_id"),
                    Probe::PerRow => test.probe("s.artifact_id"),
                }));
                s_source.to_owned()
            }
        };
        conditions.extend(self.conditions.iter().cloned());
        conditions.extend(extra.iter().map(|condition| condition.to_string()));
        if conditions.is_empty() {
            format!("FROM {from} {joins}")
        } else {
            format!("FROM {from} {joins} WHERE {}", conditions.join(" AND "))
        }
    }

    /// The facet filter and the caller's visibility as conditions on the entry `s` (a term's
    /// rows carry facet and privacy, so a search a term drives tests those there instead).
    fn entry_facet_and_privacy(&self) -> Vec<String> {
        let facet = self.facet.iter().map(|facet| format!("s.facet_id {facet}"));
        facet.chain(self.entry_condition()).collect()
    }

    /// The same filter for another caller.
    pub fn seen_by(&self, visibility: Visibility) -> Filter {
        Filter { visibility, ..self.clone() }
    }

    /// The query `sql` with this filter's arguments, then `extra` ones, bound in order.
    pub fn bind<'q>(
        &'q self,
        sql: &'q str,
        extra: &'q [String],
    ) -> sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>> {
        self.args.iter().chain(extra).fold(sqlx::query(sql), |query, arg| query.bind(arg.as_str()))
    }
}

/// The artifacts with every one of `words` (each a word and whether it is a prefix), from
/// SQLite's FTS5 index, as a query yielding `id`; its argument is added to `args`. A word that
/// resolved to one stored word is matched whole, which reads one posting list instead of every
/// list under the prefix. Words are letters and digits, so quoting is enough.
fn full_text_list(words: &[(String, bool)], args: &mut Vec<String>) -> String {
    let text = words.iter().map(|(w, prefix)| format!("\"{w}\"{}", if *prefix { "*" } else { "" }));
    args.push(text.collect::<Vec<_>>().join(" "));
    format!("SELECT rowid AS id FROM wasm_fts WHERE wasm_fts MATCH ${}", args.len())
}

impl Filter {
    /// The caller's visibility as a condition on a `search_entries` row `s`, whose `private`
    /// mirrors its repository's (kept in step by a trigger): `None` when everything is visible.
    fn entry_condition(&self) -> Option<String> {
        match self.visibility {
            Visibility::All => None,
            Visibility::Public => Some("s.private = 0".into()),
            Visibility::Nothing => Some("1 = 0".into()),
            Visibility::PublicOr { .. } => Some(format!("(s.private = 0 OR {})", self.own_repositories())),
        }
    }

    /// For a signed-in user, `s` is an entry of a private repository the user may see.
    pub fn own_private_entry(&self) -> String {
        format!("s.private <> 0 AND {}", self.own_repositories())
    }

    /// `s.repository_id` is one of the user's private repositories: from the list read before
    /// planning, or found by `Visibility::predicate` when there were too many to list.
    fn own_repositories(&self) -> String {
        match &self.own_private {
            Some(ids) => format!("s.repository_id IN ({ids})"),
            None => format!(
                "s.repository_id IN (SELECT r.id FROM repositories r WHERE r.private <> 0 AND {})",
                self.visibility.predicate()
            ),
        }
    }
}
