//! Pushing blobs: monolithic, chunked, streamed and resumable uploads, and mounts.
//!
//! Each chunk is streamed into its own storage part while being hashed; the running hash and
//! the list of parts live in the index, so a session can be continued on any replica. The
//! final `PUT` compares the hash with the digest the client names; only a match makes the
//! blob visible, in one index transaction. A mismatch removes the session and its parts.
//!
//! A `POST` writes nothing: the id it hands out is *issued* (`UploadId::issue`), carrying the
//! time and a tag over it and the repository under the registry's key, shared by replicas
//! through the index. Until its first chunk such a session is empty and has no row; the
//! `PUT` that carries a whole small blob (what clients do after a `POST`) then costs one write
//! transaction instead of two. Ending a session records its id in `ended_uploads`, so that a
//! finished or cancelled id stays unknown until it expires (`upload_ids.rs`).

use std::error::Error as StdError;
use std::time::{Duration, Instant, SystemTime};

use bytes::Bytes;
use futures::{Stream, StreamExt};
use wasmhub_index::{IndexError, UploadEnd, UploadLookup, UploadSession, WrittenRecording};
use wasmhub_oci::{Algorithm, ContentRange, Digest, DigestHasher, RepoName, UploadId};
use wasmhub_storage::{PartKey, StorageError, WrittenPart};

use crate::{Action, Caller, Registry, RegistryError};

/// Where an upload session stands: its id and how many bytes it has received.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UploadStatus {
    pub id: UploadId,
    pub size: u64,
}

pub enum MountOutcome {
    /// The blob is now linked in the target repository; nothing needs uploading.
    Mounted,
    /// No readable source holds the blob: a regular upload session was started instead.
    Started(UploadStatus),
}

/// Every upload hashes with sha256 while the bytes arrive; a client finishing with a sha512
/// digest costs one extra read of the parts.
pub(crate) const SESSION_ALGORITHM: Algorithm = Algorithm::Sha256;
/// How many repositories to consider as the source of an automatic mount.
const MOUNT_CANDIDATES: u32 = 16;
/// How long a push waits for the collector to finish deleting the digest it is pushing, and
/// how often it looks (the same as `with_blob_hold`).
const FENCE_WAIT: Duration = Duration::from_secs(30);
const FENCE_POLL: Duration = Duration::from_millis(25);

fn end_of(id: UploadId, session: &UploadSession) -> UploadEnd {
    UploadEnd { id, recorded: session.recorded }
}

fn parts_of(session: &UploadSession) -> Result<Vec<PartKey>, RegistryError> {
    session.parts.iter().map(|key| PartKey::from_stored(key).map_err(RegistryError::from)).collect()
}

impl Registry {
    /// Opens an upload session (`POST /blobs/uploads/`).
    pub async fn start_upload(&self, caller: &Caller, repository: &RepoName) -> Result<UploadStatus, RegistryError> {
        self.authorize(caller, repository, Action::Push).await?;
        let id = crate::upload_ids::issue(self.upload_key().await?, repository, SystemTime::now());
        Ok(UploadStatus { id, size: 0 })
    }

    /// Links a blob the registry already holds into `repository` (`POST ?mount=&from=`):
    /// from `from` if it has the blob, otherwise from any repository the caller may read.
    /// Falls back to starting an upload session, as the spec requires.
    pub async fn mount_or_start(
        &self,
        caller: &Caller,
        repository: &RepoName,
        digest: &Digest,
        from: Option<&RepoName>,
    ) -> Result<MountOutcome, RegistryError> {
        self.authorize(caller, repository, Action::Push).await?;
        let mut candidates = Vec::new();
        if let Some(from) = from {
            candidates.push(from.clone());
        }
        candidates.extend(self.index.repositories_with_blob(digest, MOUNT_CANDIDATES).await?);
        for source in candidates {
            if !self.may_pull(caller, &source).await {
                continue;
            }
            // `mount_blob` re-checks, under the collector's fence, that the blob still exists.
            if self.index.repository_blob_size(&source, digest).await?.is_some()
                && self.index.mount_blob(repository, digest).await?
            {
                tracing::debug!(%repository, %digest, %source, "mounted blob");
                return Ok(MountOutcome::Mounted);
            }
        }
        self.start_upload(caller, repository).await.map(MountOutcome::Started)
    }

    /// A whole blob in one request (`POST ?digest=` with the body).
    pub async fn monolithic_upload<S, E>(
        &self,
        caller: &Caller,
        repository: &RepoName,
        digest: &Digest,
        body: S,
    ) -> Result<(), RegistryError>
    where
        S: Stream<Item = Result<Bytes, E>> + Send,
        E: Into<Box<dyn StdError + Send + Sync>>,
    {
        self.authorize(caller, repository, Action::Push).await?;
        let hasher = DigestHasher::new(digest.algorithm());
        let (part, hasher) =
            self.storage.write_part(UploadId::random(), hasher, body, Some(self.limits.max_blob_bytes)).await?;
        let actual = hasher.finish();
        if &actual != digest {
            self.storage.delete_parts(std::slice::from_ref(&part.key)).await;
            return Err(RegistryError::DigestMismatch { expected: digest.clone(), actual });
        }
        let parts: &[PartKey] = if part.size == 0 { &[] } else { std::slice::from_ref(&part.key) };
        self.place_and_record(repository, digest, parts, part.size, None).await
    }

    async fn session(&self, repository: &RepoName, id: UploadId) -> Result<UploadSession, RegistryError> {
        match self.index.upload(id, repository).await? {
            UploadLookup::Open(session) => Ok(session),
            UploadLookup::Ended => Err(RegistryError::UploadUnknown),
            UploadLookup::NoRow => self.issued_session(repository, id).await?.ok_or(RegistryError::UploadUnknown),
        }
    }

    /// `session` with a row, which chunks are recorded in: an issued session gets it now.
    async fn recorded(&self, id: UploadId, session: &UploadSession) -> Result<UploadSession, RegistryError> {
        if session.recorded {
            return Ok(session.clone());
        }
        let repository = &session.repository;
        if self.index.create_upload(id, repository, &session.hash_state, session.created_at).await? {
            return Ok(UploadSession { recorded: true, ..session.clone() });
        }
        // Another chunk created it meanwhile, or the session has just ended.
        match self.index.upload(id, repository).await? {
            UploadLookup::Open(current) => Ok(current),
            UploadLookup::Ended | UploadLookup::NoRow => Err(RegistryError::UploadUnknown),
        }
    }

    /// Where a session stands (`GET /blobs/uploads/<id>`).
    pub async fn upload_status(
        &self,
        caller: &Caller,
        repository: &RepoName,
        id: UploadId,
    ) -> Result<UploadStatus, RegistryError> {
        self.authorize(caller, repository, Action::Push).await?;
        let session = self.session(repository, id).await?;
        Ok(UploadStatus { id, size: session.size })
    }

    /// Appends one chunk (`PATCH`); `range` is the chunk's `Content-Range`, if sent. A
    /// streamed upload is a single `PATCH` without a range.
    pub async fn upload_chunk<S, E>(
        &self,
        caller: &Caller,
        repository: &RepoName,
        id: UploadId,
        range: Option<ContentRange>,
        body: S,
    ) -> Result<UploadStatus, RegistryError>
    where
        S: Stream<Item = Result<Bytes, E>> + Send,
        E: Into<Box<dyn StdError + Send + Sync>>,
    {
        self.authorize(caller, repository, Action::Push).await?;
        let session = self.session(repository, id).await?;
        let size = self.append_chunk(id, &session, range, body).await?;
        Ok(UploadStatus { id, size })
    }

    async fn append_chunk<S, E>(
        &self,
        id: UploadId,
        session: &UploadSession,
        range: Option<ContentRange>,
        body: S,
    ) -> Result<u64, RegistryError>
    where
        S: Stream<Item = Result<Bytes, E>> + Send,
        E: Into<Box<dyn StdError + Send + Sync>>,
    {
        let session = &self.recorded(id, session).await?;
        let (part, hasher) = self.write_chunk(id, session, range, body).await?;
        if part.size == 0 {
            return Ok(session.size);
        }
        let appended =
            self.index.append_upload_part(id, session.size, part.key.as_str(), part.size, &hasher.to_state()).await?;
        if !appended {
            // Another request advanced or ended the session while this chunk was written.
            self.storage.delete_parts(std::slice::from_ref(&part.key)).await;
            let current = self.session(&session.repository, id).await?;
            return Err(RegistryError::ChunkOutOfOrder { expected: current.size, got: session.size });
        }
        Ok(session.size + part.size)
    }

    /// Writes one chunk into a new part, continuing the session's hash; checks it against its
    /// `Content-Range`. The part is not yet recorded in the session.
    async fn write_chunk<S, E>(
        &self,
        id: UploadId,
        session: &UploadSession,
        range: Option<ContentRange>,
        body: S,
    ) -> Result<(WrittenPart, DigestHasher), RegistryError>
    where
        S: Stream<Item = Result<Bytes, E>> + Send,
        E: Into<Box<dyn StdError + Send + Sync>>,
    {
        if let Some(range) = range {
            if range.first != session.size {
                return Err(RegistryError::ChunkOutOfOrder { expected: session.size, got: range.first });
            }
        }
        let max_parts = self.limits.max_upload_parts;
        if session.parts.len() >= max_parts {
            return Err(RegistryError::UploadInvalid(format!(
                "an upload takes at most {max_parts} chunks; send larger ones"
            )));
        }
        let hasher = DigestHasher::from_state(&session.hash_state).map_err(|_| {
            RegistryError::Index(wasmhub_index::IndexError::Corrupt(format!("hash state of upload {id}")))
        })?;
        let remaining = self.limits.max_blob_bytes.saturating_sub(session.size);
        let limit = range.map_or(remaining, |range| range.len().min(remaining));
        let (part, hasher) = match self.storage.write_part(id, hasher, body, Some(limit)).await {
            Ok(written) => written,
            Err(StorageError::TooLarge { .. }) if limit < remaining => {
                return Err(RegistryError::UploadInvalid("chunk is longer than its Content-Range".into()))
            }
            Err(other) => return Err(other.into()),
        };
        if let Some(range) = range {
            if part.size != range.len() {
                self.storage.delete_parts(std::slice::from_ref(&part.key)).await;
                return Err(RegistryError::UploadInvalid(format!(
                    "chunk has {} bytes but its Content-Range covers {}",
                    part.size,
                    range.len()
                )));
            }
        }
        Ok((part, hasher))
    }

    /// Completes a session (`PUT ?digest=`, optionally with a last chunk): verifies the
    /// digest, moves the bytes into place, and makes the blob visible in the repository.
    pub async fn finish_upload<S, E>(
        &self,
        caller: &Caller,
        repository: &RepoName,
        id: UploadId,
        digest: &Digest,
        range: Option<ContentRange>,
        last_chunk: Option<S>,
    ) -> Result<(), RegistryError>
    where
        S: Stream<Item = Result<Bytes, E>> + Send,
        E: Into<Box<dyn StdError + Send + Sync>>,
    {
        self.authorize(caller, repository, Action::Push).await?;
        // The usual small push: a `POST`, then this `PUT` with the whole blob, on an id issued
        // here. It is taken for a whole blob without reading the session first (one index
        // round trip less); the recording checks that no chunk gave the session bytes, and
        // `finish_unexpected` takes over when one did.
        if let Some(body) = last_chunk {
            if digest.algorithm() == SESSION_ALGORITHM && range.is_none_or(|range| range.first == 0) {
                if let Some(issued) = self.issued_session(repository, id).await? {
                    return self.finish_in_one_put(repository, id, &issued, digest, range, body).await;
                }
            }
            return self.finish_session(repository, id, digest, range, Some(body)).await;
        }
        self.finish_session(repository, id, digest, range, None::<S>).await
    }

    /// `finish_upload` after reading the session.
    async fn finish_session<S, E>(
        &self,
        repository: &RepoName,
        id: UploadId,
        digest: &Digest,
        range: Option<ContentRange>,
        last_chunk: Option<S>,
    ) -> Result<(), RegistryError>
    where
        S: Stream<Item = Result<Bytes, E>> + Send,
        E: Into<Box<dyn StdError + Send + Sync>>,
    {
        let mut session = self.session(repository, id).await?;
        if let Some(body) = last_chunk {
            if session.size == 0 && digest.algorithm() == SESSION_ALGORITHM {
                return self.finish_in_one_put(repository, id, &session, digest, range, body).await;
            }
            let before = session.size;
            // Re-read when the chunk moved the session, or gave an issued one its row.
            if self.append_chunk(id, &session, range, body).await? != before || !session.recorded {
                session = self.session(repository, id).await?;
            }
        }
        let parts = parts_of(&session)?;
        let actual = if digest.algorithm() == SESSION_ALGORITHM {
            DigestHasher::from_state(&session.hash_state)
                .map_err(|_| {
                    RegistryError::Index(wasmhub_index::IndexError::Corrupt(format!("hash state of upload {id}")))
                })?
                .finish()
        } else {
            self.rehash(&parts, digest.algorithm()).await?
        };
        if &actual != digest {
            self.discard(end_of(id, &session)).await?;
            return Err(RegistryError::DigestMismatch { expected: digest.clone(), actual });
        }
        self.place_and_record(repository, digest, &parts, session.size, Some(end_of(id, &session))).await
    }

    /// The whole blob in the final `PUT` of an empty session (`POST`, then `PUT ?digest=` with
    /// the body: what most clients do for small blobs), verified and made visible directly,
    /// without first recording the part in the session. `session` may be an issued one that
    /// was not read: it may have ended meanwhile, or chunks may have given it a row with
    /// bytes. A body that matches the digest and places quickly is recorded as usual (the
    /// recording refuses in both cases); otherwise, or when it refused, `finish_unexpected`
    /// reads the session and decides.
    async fn finish_in_one_put<S, E>(
        &self,
        repository: &RepoName,
        id: UploadId,
        session: &UploadSession,
        digest: &Digest,
        range: Option<ContentRange>,
        body: S,
    ) -> Result<(), RegistryError>
    where
        S: Stream<Item = Result<Bytes, E>> + Send,
        E: Into<Box<dyn StdError + Send + Sync>>,
    {
        let (part, hasher) = self.write_chunk(id, session, range, body).await?;
        let actual = hasher.finish();
        let parts: &[PartKey] = if part.size == 0 { &[] } else { std::slice::from_ref(&part.key) };
        // A slow placement happens before its recording, so it waits for the session's read.
        if &actual == digest && self.storage.places_quickly(parts, part.size) {
            match self.place_and_record(repository, digest, parts, part.size, Some(end_of(id, session))).await {
                Err(RegistryError::UploadUnknown) => {}
                done => return done,
            }
        }
        self.finish_unexpected(repository, id, digest, range, part, actual).await
    }

    /// The session of `finish_in_one_put`, read after all. `part` (the body, hashing
    /// to `actual`) becomes the last chunk of a session with bytes; a session without any
    /// gets the body as its blob, or the digest mismatch it would have got; an ended one is
    /// unknown.
    async fn finish_unexpected(
        &self,
        repository: &RepoName,
        id: UploadId,
        digest: &Digest,
        range: Option<ContentRange>,
        part: WrittenPart,
        actual: Digest,
    ) -> Result<(), RegistryError> {
        let parts: &[PartKey] = if part.size == 0 { &[] } else { std::slice::from_ref(&part.key) };
        let (result, placed) = match self.index.upload(id, repository).await? {
            UploadLookup::Ended => (Err(RegistryError::UploadUnknown), false),
            UploadLookup::Open(session) if session.size > 0 => {
                let body = match parts.first() {
                    None => Ok(None),
                    Some(key) => self.storage.read_part(key).await.map(Some),
                };
                let result = match body {
                    // Boxed: `finish_session` may come back here (through `finish_in_one_put`), though
                    // not for a session with bytes.
                    Ok(body) => Box::pin(self.finish_session(repository, id, digest, range, body)).await,
                    Err(error) => Err(error.into()),
                };
                (result, false)
            }
            session => {
                let end = UploadEnd { id, recorded: matches!(session, UploadLookup::Open(_)) };
                if &actual == digest {
                    (self.place_and_record(repository, digest, parts, part.size, Some(end)).await, true)
                } else {
                    let discarded = self.discard(end).await;
                    (discarded.and(Err(RegistryError::DigestMismatch { expected: digest.clone(), actual })), false)
                }
            }
        };
        if !placed {
            self.storage.delete_parts(parts).await;
        }
        result
    }

    /// Makes the verified `parts` the blob `digest` in storage and records it in `repository`,
    /// ending the session `upload` if given, safely against a concurrent garbage collection
    /// (`gc.rs`). A quick placement (a rename) happens inside the recording transaction, after
    /// its rows are written and before they become visible; its lock on the digest's fence row
    /// keeps the collector out: one write transaction. A slow one (composing parts) takes a
    /// hold first, so that no transaction stays open meanwhile.
    async fn place_and_record(
        &self,
        repository: &RepoName,
        digest: &Digest,
        parts: &[PartKey],
        size: u64,
        upload: Option<UploadEnd>,
    ) -> Result<(), RegistryError> {
        let recorded = if self.storage.places_quickly(parts, size) {
            match self.write_recording(repository, digest, size, upload).await? {
                Some(recording) => {
                    if let Err(error) = self.storage.commit_blob(parts, digest).await {
                        recording.abandon().await?;
                        return Err(error.into());
                    }
                    recording.commit().await?;
                    true
                }
                None => false,
            }
        } else {
            self.with_blob_hold(digest, || async {
                self.storage.commit_blob(parts, digest).await?;
                Ok(match upload {
                    Some(end) => self.index.complete_upload(end, repository, digest, size).await?,
                    None => self.index.link_blob(repository, digest, size).await.map(|()| true)?,
                })
            })
            .await?
        };
        if !recorded {
            return Err(RegistryError::UploadUnknown);
        }
        if upload.is_some() {
            self.count_ended_upload();
        }
        Ok(())
    }

    /// Begins a recording and writes its rows (`BlobRecording::write`), waiting (as
    /// `with_blob_hold` does) while the collector is deleting the digest. `None` when the
    /// session had ended.
    async fn write_recording(
        &self,
        repository: &RepoName,
        digest: &Digest,
        size: u64,
        upload: Option<UploadEnd>,
    ) -> Result<Option<WrittenRecording<'_>>, RegistryError> {
        let deadline = Instant::now() + FENCE_WAIT;
        loop {
            let recording = self.index.begin_recording(digest).await?;
            match recording.write(repository, size, upload).await {
                Err(IndexError::BlobBeingCollected(_)) if Instant::now() < deadline => {
                    tokio::time::sleep(FENCE_POLL).await
                }
                Err(IndexError::BlobBeingCollected(_)) => {
                    return Err(RegistryError::Internal(format!("blob {digest} is being garbage-collected; retry")))
                }
                other => return Ok(other?),
            }
        }
    }

    async fn rehash(&self, parts: &[PartKey], algorithm: Algorithm) -> Result<Digest, RegistryError> {
        let mut hasher = DigestHasher::new(algorithm);
        for part in parts {
            let mut stream = self.storage.read_part(part).await?;
            while let Some(chunk) = stream.next().await {
                hasher.update(&chunk?);
            }
        }
        Ok(hasher.finish())
    }

    async fn discard(&self, end: UploadEnd) -> Result<(), RegistryError> {
        if let Some(parts) = self.index.delete_upload(end).await? {
            let parts: Vec<PartKey> = parts.iter().filter_map(|key| PartKey::from_stored(key).ok()).collect();
            self.storage.delete_parts(&parts).await;
        }
        Ok(())
    }

    /// Abandons a session and its parts (`DELETE /blobs/uploads/<id>`).
    pub async fn cancel_upload(
        &self,
        caller: &Caller,
        repository: &RepoName,
        id: UploadId,
    ) -> Result<(), RegistryError> {
        self.authorize(caller, repository, Action::Push).await?;
        let session = self.session(repository, id).await?;
        self.discard(end_of(id, &session)).await
    }
}
