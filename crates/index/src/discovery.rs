//! Listings: tags of a repository, the catalog of repositories, referrers of a manifest.

use sqlx::Row;
use wasmhub_oci::{Digest, MediaType, RepoName, Tag};

use crate::{Index, IndexError};

/// A manifest whose `subject` is the one asked about.
#[derive(Debug, Clone)]
pub struct Referrer {
    pub digest: Digest,
    pub media_type: MediaType,
    pub size: u64,
    pub artifact_type: Option<MediaType>,
    pub annotations_json: Option<String>,
}

fn corrupt(what: &str, value: &str) -> IndexError {
    IndexError::Corrupt(format!("{what} {value:?}"))
}

impl Index {
    pub async fn repository_exists(&self, repository: &RepoName) -> Result<bool, IndexError> {
        let row = sqlx::query("SELECT id FROM repositories WHERE name = $1")
            .bind(repository.as_str())
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.is_some())
    }

    /// Up to `limit` tags after `last`, in lexical (bytewise) order; `None` if the repository
    /// does not exist.
    pub async fn tags(
        &self,
        repository: &RepoName,
        last: Option<&str>,
        limit: u32,
    ) -> Result<Option<Vec<Tag>>, IndexError> {
        let Some(row) = sqlx::query("SELECT id FROM repositories WHERE name = $1")
            .bind(repository.as_str())
            .fetch_optional(&self.pool)
            .await?
        else {
            return Ok(None);
        };
        let repository_id: i64 = row.try_get("id")?;
        let rows = sqlx::query("SELECT name FROM tags WHERE repository_id = $1 AND name > $2 ORDER BY name LIMIT $3")
            .bind(repository_id)
            .bind(last.unwrap_or_default())
            .bind(i64::from(limit))
            .fetch_all(&self.pool)
            .await?;
        let tags = rows
            .iter()
            .map(|row| {
                let name: String = row.try_get("name")?;
                name.parse().map_err(|_| corrupt("tag", &name))
            })
            .collect::<Result<_, IndexError>>()?;
        Ok(Some(tags))
    }

    /// Up to `limit` repository names after `last` that `visibility` lets the caller see, in
    /// lexical order.
    pub async fn repositories(
        &self,
        last: Option<&str>,
        limit: u32,
        visibility: crate::Visibility,
    ) -> Result<Vec<RepoName>, IndexError> {
        let sql = format!(
            "SELECT r.name FROM repositories r WHERE r.name > $1 AND {} ORDER BY r.name LIMIT $2",
            visibility.predicate()
        );
        let rows =
            sqlx::query(&sql).bind(last.unwrap_or_default()).bind(i64::from(limit)).fetch_all(&self.pool).await?;
        rows.iter()
            .map(|row| {
                let name: String = row.try_get("name")?;
                name.parse().map_err(|_| corrupt("repository name", &name))
            })
            .collect()
    }

    /// Manifests in `repository` whose subject is `subject`, optionally only those of one
    /// artifact type, ordered by digest.
    pub async fn referrers(
        &self,
        repository: &RepoName,
        subject: &Digest,
        artifact_type: Option<&MediaType>,
        after: Option<&Digest>,
        limit: u32,
    ) -> Result<Vec<Referrer>, IndexError> {
        let rows = sqlx::query(
            "SELECT m.digest, m.media_type, m.size, m.artifact_type, m.annotations FROM manifests m
             JOIN repositories r ON r.id = m.repository_id
             WHERE r.name = $1 AND m.subject = $2 AND ($3 IS NULL OR m.artifact_type = $3) AND m.digest > $4
             ORDER BY m.digest LIMIT $5",
        )
        .bind(repository.as_str())
        .bind(subject.to_string())
        .bind(artifact_type.map(|t| t.as_str().to_owned()))
        .bind(after.map(Digest::to_string).unwrap_or_default())
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                let digest: String = row.try_get("digest")?;
                let media_type: String = row.try_get("media_type")?;
                let artifact_type: Option<String> = row.try_get("artifact_type")?;
                Ok(Referrer {
                    digest: digest.parse().map_err(|_| corrupt("digest", &digest))?,
                    media_type: media_type.parse().map_err(|_| corrupt("media type", &media_type))?,
                    size: row.try_get::<i64, _>("size")? as u64,
                    artifact_type: artifact_type
                        .map(|t| t.parse().map_err(|_| corrupt("artifact type", &t)))
                        .transpose()?,
                    annotations_json: row.try_get("annotations")?,
                })
            })
            .collect()
    }
}
