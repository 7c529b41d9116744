//! Repositories grouped the way the original WebAssembly Hub (a Harbor v1 fork) grouped them:
//! a "project" is the first component of a repository name. There is no projects table; the
//! grouping is computed from `repositories`, through the caller's `Visibility` like every
//! other listing.

use sqlx::Row;

use crate::{Backend, Index, IndexError, Visibility};

/// A namespace (first name component) and what is in it that the caller may see.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NamespaceSummary {
    pub name: String,
    pub repository_count: u64,
    pub created_at: i64,
    pub updated_at: i64,
    /// Every visible repository in it is public.
    pub public: bool,
}

/// A repository as the Hub's listings show it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RepositoryListing {
    pub id: i64,
    pub name: String,
    pub tag_count: u64,
    pub created_at: i64,
    /// Latest tag update, or the creation time when it has no tags.
    pub updated_at: i64,
    pub description: Option<String>,
    pub public: bool,
}

/// Which repositories `Index::repository_listing` returns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RepositoryFilter {
    /// The repository named exactly this, and every one under `<namespace>/`.
    Namespace(String),
    /// Names containing this text, ignoring ASCII case.
    NameContains(String),
    /// Exactly these names.
    Names(Vec<String>),
}

/// The SQL for a name's first component (the whole name when it has no `/`).
fn first_component(backend: Backend) -> &'static str {
    match backend {
        Backend::Sqlite => {
            "CASE WHEN instr(r.name, '/') > 0 THEN substr(r.name, 1, instr(r.name, '/') - 1) ELSE r.name END"
        }
        Backend::Postgres => "split_part(r.name, '/', 1)",
    }
}

/// `text` as a LIKE pattern matching it anywhere, with `\` escaping LIKE's wildcards.
fn contains_pattern(text: &str) -> String {
    let mut pattern = String::from("%");
    for c in text.to_ascii_lowercase().chars() {
        if matches!(c, '%' | '_' | '\\') {
            pattern.push('\\');
        }
        pattern.push(c);
    }
    pattern.push('%');
    pattern
}

impl Index {
    /// Namespaces by name, one page, and how many there are.
    pub async fn namespace_page(
        &self,
        visibility: Visibility,
        offset: u64,
        limit: u32,
    ) -> Result<(u64, Vec<NamespaceSummary>), IndexError> {
        let grouped = format!(
            "SELECT namespace, COUNT(*) AS repository_count, MIN(created_at) AS created_at,
                    MAX(updated_at) AS updated_at, MAX(private) AS any_private
             FROM (SELECT {} AS namespace, r.created_at, r.private,
                          COALESCE((SELECT MAX(t.updated_at) FROM tags t WHERE t.repository_id = r.id),
                                   r.created_at) AS updated_at
                   FROM repositories r WHERE {}) x
             GROUP BY namespace",
            first_component(self.backend()),
            visibility.predicate()
        );
        let total = sqlx::query(&format!("SELECT COUNT(*) AS n FROM ({grouped}) g"))
            .fetch_one(&self.pool)
            .await?
            .try_get::<i64, _>("n")? as u64;
        let rows = sqlx::query(&format!("{grouped} ORDER BY namespace LIMIT {limit} OFFSET {offset}"))
            .fetch_all(&self.pool)
            .await?;
        let items = rows
            .iter()
            .map(|row| {
                Ok(NamespaceSummary {
                    name: row.try_get("namespace")?,
                    repository_count: row.try_get::<i64, _>("repository_count")? as u64,
                    created_at: row.try_get("created_at")?,
                    updated_at: row.try_get("updated_at")?,
                    public: row.try_get::<i64, _>("any_private")? == 0,
                })
            })
            .collect::<Result<_, IndexError>>()?;
        Ok((total, items))
    }

    /// Repositories matching `filter`, by name, one page, and how many match.
    pub async fn repository_listing(
        &self,
        filter: &RepositoryFilter,
        visibility: Visibility,
        offset: u64,
        limit: u32,
    ) -> Result<(u64, Vec<RepositoryListing>), IndexError> {
        let (condition, args): (String, Vec<String>) = match filter {
            RepositoryFilter::Namespace(ns) => {
                let [low, high] = crate::names_under(ns);
                ("(r.name = $1 OR (r.name >= $2 AND r.name < $3))".into(), vec![ns.clone(), low, high])
            }
            RepositoryFilter::NameContains(text) => {
                ("lower(r.name) LIKE $1 ESCAPE '\\'".into(), vec![contains_pattern(text)])
            }
            RepositoryFilter::Names(names) if names.is_empty() => return Ok((0, Vec::new())),
            RepositoryFilter::Names(names) => {
                let list = (1..=names.len()).map(|n| format!("${n}")).collect::<Vec<_>>().join(", ");
                (format!("r.name IN ({list})"), names.clone())
            }
        };
        let from = format!("FROM repositories r WHERE {condition} AND {}", visibility.predicate());
        let total_sql = format!("SELECT COUNT(*) AS n {from}");
        let total = bind(&total_sql, &args).fetch_one(&self.pool).await?.try_get::<i64, _>("n")? as u64;
        let rows_sql = format!(
            "SELECT r.id, r.name, r.created_at, r.private,
                (SELECT COUNT(*) FROM tags t WHERE t.repository_id = r.id) AS tag_count,
                (SELECT MAX(t.updated_at) FROM tags t WHERE t.repository_id = r.id) AS updated_at,
                (SELECT a.description FROM tags t JOIN wasm_artifacts a
                    ON a.repository_id = t.repository_id AND a.manifest_digest = t.manifest_digest
                 WHERE t.repository_id = r.id ORDER BY t.updated_at DESC, t.name LIMIT 1) AS description
             {from} ORDER BY r.name LIMIT {limit} OFFSET {offset}"
        );
        let rows = bind(&rows_sql, &args).fetch_all(&self.pool).await?;
        let items = rows
            .iter()
            .map(|row| {
                let created: i64 = row.try_get("created_at")?;
                Ok(RepositoryListing {
                    id: row.try_get("id")?,
                    name: row.try_get("name")?,
                    tag_count: row.try_get::<i64, _>("tag_count")? as u64,
                    created_at: created,
                    updated_at: row.try_get::<Option<i64>, _>("updated_at")?.unwrap_or(created),
                    description: row.try_get("description")?,
                    public: row.try_get::<i64, _>("private")? == 0,
                })
            })
            .collect::<Result<_, IndexError>>()?;
        Ok((total, items))
    }
}

fn bind<'q>(sql: &'q str, args: &'q [String]) -> sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>> {
    args.iter().fold(sqlx::query(sql), |query, arg| query.bind(arg.as_str()))
}

#[cfg(test)]
mod tests {
    #[test]
    fn like_wildcards_are_escaped() {
        assert_eq!(super::contains_pattern("A_b%c\\"), "%a\\_b\\%c\\\\%");
    }
}
