//! A repository's own description, written by its maintainers (the web settings page); pages
//! fall back to the latest Wasm tag's annotation when there is none.

use sqlx::Row;
use wasmhub_oci::RepoName;

use crate::{Index, IndexError};

impl Index {
    /// `Some(description)` for an existing repository (the inner `None` when none was set),
    /// `None` when the repository does not exist.
    pub async fn repository_description(&self, repository: &RepoName) -> Result<Option<Option<String>>, IndexError> {
        let row = sqlx::query("SELECT description FROM repositories WHERE name = $1")
            .bind(repository.as_str())
            .fetch_optional(&self.pool)
            .await?;
        row.map(|row| row.try_get::<Option<String>, _>("description").map_err(IndexError::from)).transpose()
    }

    /// Sets (or, with `None`, clears) the description; false when the repository is unknown.
    pub async fn set_repository_description(
        &self,
        repository: &RepoName,
        description: Option<&str>,
        audit: &crate::AuditEntry<'_>,
    ) -> Result<bool, IndexError> {
        let change = sqlx::query("UPDATE repositories SET description = $1 WHERE name = $2")
            .bind(description.map(str::to_owned))
            .bind(repository.as_str());
        Ok(self.execute_audited(change, audit).await? > 0)
    }
}
