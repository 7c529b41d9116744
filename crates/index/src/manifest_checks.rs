//! What a manifest push reads before it writes, as one batch (one round trip on SQLite, see
//! `batch.rs`): the repository's id, the check of the blobs and child manifests it references,
//! where its tags point now, and the webhooks its events may go to. Every statement names the
//! repository by name, so none waits for the id.

use wasmhub_oci::{Digest, Tag};

use crate::batch::{Batch, Runner};
use crate::events::{webhooks_from, webhooks_into};
use crate::manifest_events::{moved_from, tag_targets_into};
use crate::rows::Columns;
use crate::{now_millis, Backend, IndexError, NewManifest, Webhook};

/// The repository's id in a subquery, by its name in parameter `$n`.
fn repository_id(n: usize) -> String {
    format!("(SELECT id FROM repositories WHERE name = ${n})")
}

/// What the push then writes with.
pub(crate) struct PushReads<'m> {
    /// `None` when the repository has no row yet (its first push).
    pub(crate) repository_id: Option<i64>,
    /// The tags that pointed at another manifest, and that manifest's digest.
    pub(crate) moved: Vec<(&'m Tag, String)>,
    pub(crate) webhooks: Vec<Webhook>,
}

/// The reads, within the caller's transaction. Fails with `MissingReference` when the
/// repository lacks one of `blobs` (the manifest's, without repeats) or of its children: the
/// caller rolls back.
pub(crate) async fn read_before_push<'m>(
    conn: &mut impl Runner,
    backend: Backend,
    manifest: &NewManifest<'m>,
    blobs: &[&Digest],
) -> Result<PushReads<'m>, IndexError> {
    let repository = manifest.repository.as_str();
    let mut reads = Batch::default();
    let id = reads.push("SELECT id FROM repositories WHERE name = $1").bind(repository).index();
    let blob_check = require_blobs_into(&mut reads, backend, repository, blobs);
    let child_checks: Vec<usize> =
        manifest.children.iter().map(|child| require_manifest_into(&mut reads, backend, repository, child)).collect();
    let tags = tag_targets_into(&mut reads, repository, &manifest.tags);
    let webhooks = webhooks_into(&mut reads, Some(repository));
    let outcomes = reads.run_returning(conn).await?;

    if let Some(check) = blob_check {
        if outcomes[check].affected != blobs.len() as u64 {
            return Err(first_missing(conn, repository, blobs).await?);
        }
    }
    for (child, check) in manifest.children.iter().zip(child_checks) {
        if outcomes[check].rows.is_empty() {
            return Err(IndexError::MissingReference((*child).clone()));
        }
    }
    let digest = manifest.digest.to_string();
    Ok(PushReads {
        repository_id: outcomes[id].rows.first().map(|row| row.field("id")).transpose()?,
        moved: match tags {
            Some(read) => moved_from(&outcomes[read].rows, &manifest.tags, &digest)?,
            None => Vec::new(),
        },
        webhooks: webhooks_from(&outcomes[webhooks].rows)?,
    })
}

/// Adds the check that the repository links every one of `blobs` to `reads`, by touching the
/// links: the update locks them until this transaction ends, so the garbage collector (which
/// locks a link before removing it, see `gc.rs`) either removed one before (and this push
/// fails cleanly) or waits and then sees the manifest that references it. One statement for
/// all of them; on PostgreSQL the links are locked in digest order first, so that two pushes
/// sharing blobs lock them in the same order (SQLite has one writer at a time). `blobs` has no
/// repeats: the rows touched are counted against it.
fn require_blobs_into(reads: &mut Batch, backend: Backend, repository: &str, blobs: &[&Digest]) -> Option<usize> {
    if blobs.is_empty() {
        return None;
    }
    let list = (3..3 + blobs.len()).map(|n| format!("${n}")).collect::<Vec<_>>().join(", ");
    let id = repository_id(2);
    let statement = reads.push(match backend {
        Backend::Sqlite => {
            format!("UPDATE repository_blobs SET created_at = $1 WHERE repository_id = {id} AND digest IN ({list})")
        }
        Backend::Postgres => format!(
            "UPDATE repository_blobs SET created_at = $1 WHERE repository_id = {id} AND digest IN (
                 SELECT digest FROM repository_blobs WHERE repository_id = {id} AND digest IN ({list})
                 ORDER BY digest FOR UPDATE)"
        ),
    });
    statement.bind(now_millis()).bind(repository);
    for digest in blobs {
        statement.bind(digest.to_string());
    }
    Some(statement.index())
}

/// The first of `blobs` the repository does not link (the push fails; these queries are only
/// on that path).
async fn first_missing(conn: &mut impl Runner, repository: &str, blobs: &[&Digest]) -> Result<IndexError, IndexError> {
    let sql =
        format!("SELECT 1 AS present FROM repository_blobs WHERE repository_id = {} AND digest = $2", repository_id(1));
    let mut reads = Batch::default();
    for digest in blobs {
        reads.push(sql.as_str()).bind(repository).bind(digest.to_string());
    }
    let outcomes = reads.run_returning(conn).await?;
    match blobs.iter().zip(outcomes).find(|(_, outcome)| outcome.rows.is_empty()) {
        Some((digest, _)) => Ok(IndexError::MissingReference((*digest).clone())),
        None => Err(IndexError::Corrupt("a manifest's blobs were neither all linked nor any missing".into())),
    }
}

/// Adds the check that a child manifest exists to `reads` (a row when it does); on PostgreSQL
/// its row stays share-locked until commit, so that a deletion cannot slip in between the
/// check and the parent's commit (on SQLite the write lock already excludes it).
fn require_manifest_into(reads: &mut Batch, backend: Backend, repository: &str, digest: &Digest) -> usize {
    let lock = match backend {
        Backend::Sqlite => "",
        Backend::Postgres => " FOR SHARE",
    };
    let sql =
        format!("SELECT 1 AS present FROM manifests WHERE repository_id = {} AND digest = $2{lock}", repository_id(1));
    reads.push(sql).bind(repository).bind(digest.to_string()).index()
}
