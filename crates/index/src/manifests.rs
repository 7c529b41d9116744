//! Manifests, with the references they make and the tags that point at them.

use sqlx::Row;
use wasmhub_oci::{Digest, MediaType, Reference, RepoName, Tag};

use crate::batch::Batch;
use crate::blobs::ensure_repository;
use crate::coalesce::Coalescer;
use crate::connection::Commit;
use crate::manifest_checks::read_before_push;
use crate::manifest_events::{manifest_deleted_in, pushed_into, tag_deleted_in};
use crate::wasm::{clear_wasm_into, insert_wasm_into};
use crate::{digest_of, now_millis, Actor, Index, IndexError, WasmRecord};

/// A checked manifest, ready to be recorded.
#[derive(Debug, Clone)]
pub struct NewManifest<'a> {
    pub repository: &'a RepoName,
    pub digest: &'a Digest,
    pub media_type: &'a MediaType,
    pub artifact_type: Option<&'a MediaType>,
    pub subject: Option<&'a Digest>,
    /// The manifest's annotations as a JSON object, for the referrers API.
    pub annotations_json: Option<String>,
    pub content: &'a [u8],
    /// Blobs that must be linked in the repository (config and layers).
    pub blobs: Vec<&'a Digest>,
    /// Manifests that must exist in the repository (an index's entries).
    pub children: Vec<&'a Digest>,
    /// Tags to point at this manifest.
    pub tags: Vec<&'a Tag>,
    /// The manifest's Wasm facts (None when it is not Wasm), written in the same transaction
    /// so that search is consistent the moment the push returns.
    pub wasm: Option<WasmRecord>,
}

#[derive(Debug, Clone)]
pub struct StoredManifest {
    pub digest: Digest,
    pub media_type: MediaType,
    pub content: Vec<u8>,
}

/// Manifest reads in flight, by repository and reference (a tag, or a digest in its text form).
pub(crate) struct ManifestReads(Coalescer<(RepoName, String), Option<StoredManifest>>);

impl Default for ManifestReads {
    fn default() -> Self {
        ManifestReads(Coalescer::new())
    }
}

impl std::ops::Deref for ManifestReads {
    type Target = Coalescer<(RepoName, String), Option<StoredManifest>>;

    fn deref(&self) -> &Self::Target {
        &self.0
    }
}

/// Adds the multi-row insert of the manifest's `manifest_blobs` rows (`blobs` without repeats)
/// to `batch`.
fn manifest_blobs_into(batch: &mut Batch, repository_id: i64, digest: &str, blobs: &[&Digest]) {
    if blobs.is_empty() {
        return;
    }
    let rows = (0..blobs.len()).map(|i| format!("($1, $2, ${})", i + 3)).collect::<Vec<_>>().join(", ");
    let statement = batch.push(format!(
        "INSERT INTO manifest_blobs (repository_id, manifest_digest, blob_digest) VALUES {rows} ON CONFLICT DO NOTHING"
    ));
    statement.bind(repository_id).bind(digest);
    for blob in blobs {
        statement.bind(blob.to_string());
    }
}

impl Index {
    /// Records a manifest, its references and its tags in one transaction. Fails with
    /// `MissingReference` (and changes nothing) if a blob or child manifest is absent.
    pub async fn put_manifest(&self, manifest: &NewManifest<'_>) -> Result<(), IndexError> {
        self.put_manifest_as(manifest, &Actor::system()).await
    }

    /// `put_manifest`, recording `actor` in the audit log and the events it queues.
    pub async fn put_manifest_as(&self, manifest: &NewManifest<'_>, actor: &Actor) -> Result<(), IndexError> {
        self.timed("put_manifest", self.put_manifest_untimed(manifest, actor)).await
    }

    async fn put_manifest_untimed(&self, manifest: &NewManifest<'_>, actor: &Actor) -> Result<(), IndexError> {
        let mut tx = self.begin_write_tx(Commit::Durable).await?;
        // A manifest may name one blob twice (the same layer at two places): each is checked
        // and linked once.
        let mut blobs = manifest.blobs.clone();
        blobs.sort();
        blobs.dedup();
        // What decides the writes is read first, as one batch; the writes then go as another
        // (one round trip each on SQLite, see `batch.rs`).
        let reads = match read_before_push(&mut tx, self.backend(), manifest, &blobs).await {
            Ok(reads) => reads,
            Err(error @ IndexError::MissingReference(_)) => {
                // Roll back now rather than when the connection is next used: the transaction
                // holds the locks the checks took.
                tx.rollback().await?;
                return Err(error);
            }
            Err(error) => return Err(error),
        };
        let repository_id = match reads.repository_id {
            Some(id) => id,
            None => ensure_repository(&mut tx, manifest.repository).await?,
        };
        let digest = manifest.digest.to_string();
        let now = now_millis();
        let mut batch = Batch::default();
        // A manifest pushed again is updated, not skipped: on PostgreSQL that locks its row
        // until commit. With `DO NOTHING`, a deletion (retention, a client's DELETE) could
        // commit between this statement and the tag's insert, which then failed its foreign
        // key; now the deletion waits, or, if it committed first, the row is inserted anew.
        batch
            .push(
                "INSERT INTO manifests
                    (repository_id, digest, media_type, artifact_type, subject, annotations, content, size, created_at)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
                 ON CONFLICT (repository_id, digest) DO UPDATE SET size = manifests.size",
            )
            .bind(repository_id)
            .bind(digest.as_str())
            .bind(manifest.media_type.as_str())
            .bind(manifest.artifact_type.map(|t| t.as_str().to_owned()))
            .bind(manifest.subject.map(|d| d.to_string()))
            .bind(manifest.annotations_json.clone())
            .bind(manifest.content.to_vec())
            .bind(manifest.content.len() as i64)
            .bind(now);
        manifest_blobs_into(&mut batch, repository_id, &digest, &blobs);
        // A manifest pushed again replaces its Wasm rows: the old ones go before the tags are
        // written, so that no search entry is made for them.
        if manifest.wasm.is_some() {
            clear_wasm_into(&mut batch, repository_id, &digest);
        }
        for child in &manifest.children {
            batch
                .push(
                    "INSERT INTO manifest_children (repository_id, manifest_digest, child_digest) VALUES ($1, $2, $3)
                     ON CONFLICT DO NOTHING",
                )
                .bind(repository_id)
                .bind(digest.as_str())
                .bind(child.to_string());
        }
        // In an immutable repository an existing tag only accepts its own digest again: the
        // upsert's condition makes the check and the write one statement, so two pushes racing
        // for a new tag cannot both win.
        let tag_writes: Vec<(&Tag, usize)> = manifest
            .tags
            .iter()
            .map(|tag| {
                let statement = batch
                    .push(
                        "INSERT INTO tags (repository_id, name, manifest_digest, updated_at) VALUES ($1, $2, $3, $4)
                         ON CONFLICT (repository_id, name)
                         DO UPDATE SET manifest_digest = excluded.manifest_digest, updated_at = excluded.updated_at
                         WHERE tags.manifest_digest = excluded.manifest_digest
                            OR NOT EXISTS (SELECT 1 FROM immutable_repositories WHERE name = $5)",
                    )
                    .bind(repository_id)
                    .bind(tag.as_str())
                    .bind(digest.as_str())
                    .bind(now)
                    .bind(manifest.repository.as_str());
                (*tag, statement.index())
            })
            .collect();
        // The Wasm rows after the tags: the artifact's search entries are then written by its
        // own insert trigger, which finds the tags, before its search terms exist. In the
        // other order the tag's trigger wrote the entry and then updated every term row of
        // the artifact (its tag count): as many row versions again as the artifact has terms.
        if let Some(wasm) = &manifest.wasm {
            insert_wasm_into(&mut batch, repository_id, &digest, wasm);
        }
        pushed_into(&mut batch, manifest, actor, &reads.moved, &reads.webhooks);
        let written = batch.run(&mut tx).await?;
        if let Some((tag, _)) = tag_writes.iter().find(|(_, statement)| written[*statement] == 0) {
            tx.rollback().await?;
            return Err(IndexError::ImmutableTag { repository: manifest.repository.to_string(), tag: tag.to_string() });
        }
        tx.commit().await?;
        Ok(())
    }

    /// The manifest a tag or digest names in `repository`, read after this call began;
    /// identical reads in flight at the same time share the query (`coalesce.rs`).
    pub async fn manifest(
        &self,
        repository: &RepoName,
        reference: &Reference,
    ) -> Result<Option<StoredManifest>, IndexError> {
        let key = (repository.clone(), reference.to_string());
        let read = || self.timed("manifest", self.manifest_untimed(repository, reference));
        self.manifest_reads.read(key, read).await
    }

    async fn manifest_untimed(
        &self,
        repository: &RepoName,
        reference: &Reference,
    ) -> Result<Option<StoredManifest>, IndexError> {
        let query = match reference {
            Reference::Digest(digest) => sqlx::query(
                "SELECT m.digest, m.media_type, m.content FROM manifests m
                 JOIN repositories r ON r.id = m.repository_id
                 WHERE r.name = $1 AND m.digest = $2",
            )
            .bind(repository.as_str())
            .bind(digest.to_string()),
            // The repository's id as a subquery, so that the tag is found by its primary key
            // whatever the statistics say. As a join, PostgreSQL's generic plan for a young
            // database (tables still small in its statistics) went from the repository to all
            // its manifests and filtered their tags: 490 µs a lookup at 1,000 manifests.
            Reference::Tag(tag) => sqlx::query(
                "SELECT m.digest, m.media_type, m.content FROM tags t
                 JOIN manifests m ON m.repository_id = t.repository_id AND m.digest = t.manifest_digest
                 WHERE t.repository_id = (SELECT id FROM repositories WHERE name = $1) AND t.name = $2",
            )
            .bind(repository.as_str())
            .bind(tag.as_str()),
        };
        let Some(row) = query.fetch_optional(&self.pool).await? else {
            return Ok(None);
        };
        let digest: String = row.try_get("digest")?;
        let media_type: String = row.try_get("media_type")?;
        Ok(Some(StoredManifest {
            digest: digest_of(digest)?,
            media_type: media_type.parse().map_err(|_| IndexError::Corrupt(format!("media type {media_type:?}")))?,
            content: row.try_get("content")?,
        }))
    }

    /// Deletes a manifest and every tag pointing at it. Returns whether it existed.
    pub async fn delete_manifest(&self, repository: &RepoName, digest: &Digest) -> Result<bool, IndexError> {
        self.delete_manifest_as(repository, digest, &Actor::system()).await
    }

    /// `delete_manifest`, with its event and audit entry in the same transaction.
    pub async fn delete_manifest_as(
        &self,
        repository: &RepoName,
        digest: &Digest,
        actor: &Actor,
    ) -> Result<bool, IndexError> {
        let _guard = self.write_guard().await;
        let mut tx = self.begin_write().await?;
        let deleted = sqlx::query(
            "DELETE FROM manifests WHERE repository_id = (SELECT id FROM repositories WHERE name = $1) AND digest = $2
             RETURNING media_type, size",
        )
        .bind(repository.as_str())
        .bind(digest.to_string())
        .fetch_optional(&mut *tx)
        .await?;
        let Some(row) = deleted else {
            // Explicitly: a dropped transaction left the PostgreSQL connection idle in
            // transaction, and the index tests' schema drop hung behind it.
            tx.rollback().await?;
            return Ok(false);
        };
        let (media_type, size) = (row.try_get("media_type")?, row.try_get("size")?);
        manifest_deleted_in(&mut tx, repository.as_str(), &digest.to_string(), media_type, size, actor).await?;
        tx.commit().await?;
        Ok(true)
    }

    /// Deletes a tag, leaving its manifest. Returns whether it existed.
    pub async fn delete_tag(&self, repository: &RepoName, tag: &Tag) -> Result<bool, IndexError> {
        self.delete_tag_as(repository, tag, &Actor::system()).await
    }

    /// `delete_tag`, with its event and audit entry in the same transaction.
    pub async fn delete_tag_as(&self, repository: &RepoName, tag: &Tag, actor: &Actor) -> Result<bool, IndexError> {
        let _guard = self.write_guard().await;
        let mut tx = self.begin_write().await?;
        let deleted = sqlx::query(
            "DELETE FROM tags WHERE repository_id = (SELECT id FROM repositories WHERE name = $1) AND name = $2
             RETURNING manifest_digest",
        )
        .bind(repository.as_str())
        .bind(tag.as_str())
        .fetch_optional(&mut *tx)
        .await?;
        let Some(row) = deleted else {
            // Explicitly: a dropped transaction left the PostgreSQL connection idle in
            // transaction, and the index tests' schema drop hung behind it.
            tx.rollback().await?;
            return Ok(false);
        };
        tag_deleted_in(&mut tx, repository.as_str(), tag, row.try_get("manifest_digest")?, actor).await?;
        tx.commit().await?;
        Ok(true)
    }
}
