//! Reading and writing blobs and upload parts; see the crate documentation for the layout.

use std::error::Error as StdError;
use std::path::PathBuf;
use std::sync::Arc;

use bytes::Bytes;
use futures::stream::{BoxStream, StreamExt, TryStreamExt};
use futures::Stream;
use object_store::aws::AmazonS3Builder;
use object_store::local::LocalFileSystem;
use object_store::path::Path;
use object_store::prefix::PrefixStore;
use object_store::{GetOptions, GetRange, ObjectStore, PutPayload, PutPayloadMut, WriteMultipart};
use wasmhub_metrics::OpMetrics;
use wasmhub_oci::{Digest, DigestHasher, UploadId};

use crate::multipart::Multipart;
use crate::{local, local_stream, PartKey, StorageError, StorageLocation, WrittenPart};

/// Bodies are written in parts of this size (S3's minimum part is 5 MiB): the most a single
/// write holds in memory, times `MAX_PARTS_IN_FLIGHT`.
const PART_SIZE: usize = 8 * 1024 * 1024;
const MAX_PARTS_IN_FLIGHT: usize = 2;

pub type BlobStream = BoxStream<'static, Result<Bytes, StorageError>>;

/// Blobs and upload parts in object storage.
#[derive(Clone)]
pub struct BlobStore {
    pub(crate) store: Arc<dyn ObjectStore>,
    /// Set for the local directory backend, which is read with plain file I/O (larger reads
    /// than `object_store`'s 8 KiB chunks).
    local_root: Option<PathBuf>,
    /// Where operation latencies and failures go (`with_metrics`).
    metrics: OpMetrics,
}

pub(crate) fn blob_path(digest: &Digest) -> Path {
    let hex = digest.hex();
    Path::from(format!("blobs/{}/{}/{}", digest.algorithm().as_str(), &hex[..2], hex))
}

impl BlobStore {
    pub async fn open(location: &StorageLocation) -> Result<BlobStore, StorageError> {
        match location {
            StorageLocation::LocalDirectory(dir) => {
                tokio::fs::create_dir_all(dir).await?;
                let root = tokio::fs::canonicalize(dir).await?;
                let store = LocalFileSystem::new_with_prefix(&root)?;
                Ok(BlobStore { store: Arc::new(store), local_root: Some(root), metrics: OpMetrics::detached() })
            }
            StorageLocation::S3 { bucket, prefix } => {
                let mut builder = AmazonS3Builder::from_env().with_bucket_name(bucket);
                let endpoint = std::env::var("AWS_ENDPOINT_URL").or_else(|_| std::env::var("AWS_ENDPOINT"));
                if endpoint.is_ok_and(|endpoint| endpoint.starts_with("http://")) {
                    // A plain-HTTP endpoint is a deliberate choice (MinIO on a private network).
                    builder = builder.with_allow_http(true);
                }
                let s3: Arc<dyn ObjectStore> = Arc::new(builder.build()?);
                let store = if prefix.is_empty() { s3 } else { Arc::new(PrefixStore::new(s3, prefix.as_str())) };
                Ok(BlobStore { store, local_root: None, metrics: OpMetrics::detached() })
            }
        }
    }

    /// Sends operation latencies and failures to `metrics` (the registry's shared set).
    pub fn with_metrics(mut self, metrics: OpMetrics) -> BlobStore {
        self.metrics = metrics;
        self
    }

    pub async fn blob_exists(&self, digest: &Digest) -> Result<bool, StorageError> {
        self.metrics
            .time("head", is_failure, async {
                match self.store.head(&blob_path(digest)).await {
                    Ok(_) => Ok(true),
                    Err(object_store::Error::NotFound { .. }) => Ok(false),
                    Err(other) => Err(StorageError::Backend(other)),
                }
            })
            .await
    }

    /// Streams a blob, or the inclusive byte range `(first, last)` of it. The recorded
    /// latency is the time to open it (to the first byte), not to stream it.
    pub async fn read_blob(&self, digest: &Digest, range: Option<(u64, u64)>) -> Result<BlobStream, StorageError> {
        self.metrics.time("get", is_failure, self.open_blob(digest, range)).await
    }

    async fn open_blob(&self, digest: &Digest, range: Option<(u64, u64)>) -> Result<BlobStream, StorageError> {
        let path = blob_path(digest);
        if let Some(root) = &self.local_root {
            return local_stream::read_local(root.join(path.as_ref()), range).await;
        }
        let options = GetOptions {
            range: range.map(|(first, last)| GetRange::Bounded(first..last + 1)),
            ..GetOptions::default()
        };
        let result = self.store.get_opts(&path, options).await.map_err(StorageError::from_backend)?;
        Ok(result.into_stream().map_err(StorageError::from_backend).boxed())
    }

    /// Reads a whole blob into memory, refusing (with `TooLarge`) one over `limit` bytes. For
    /// the small blobs the registry itself inspects (configs, Wasm modules, compat layers):
    /// the limit is checked as bytes arrive, so an oversized blob is never held whole.
    pub async fn read_blob_bytes(&self, digest: &Digest, limit: u64) -> Result<Bytes, StorageError> {
        let mut stream = self.read_blob(digest, None).await?;
        let mut buffer = Vec::new();
        while let Some(chunk) = stream.next().await {
            let chunk = chunk?;
            if buffer.len() as u64 + chunk.len() as u64 > limit {
                return Err(StorageError::TooLarge { limit });
            }
            buffer.extend_from_slice(&chunk);
        }
        Ok(Bytes::from(buffer))
    }

    /// Writes a request body into a new part of `upload`, feeding every byte to `hasher` on
    /// the way: each byte is hashed once and written once. Fails with `TooLarge` past `limit`
    /// bytes. On any failure the part is abandoned and the hasher must be discarded.
    pub async fn write_part<S, E>(
        &self,
        upload: UploadId,
        hasher: DigestHasher,
        body: S,
        limit: Option<u64>,
    ) -> Result<(WrittenPart, DigestHasher), StorageError>
    where
        S: Stream<Item = Result<Bytes, E>> + Send,
        E: Into<Box<dyn StdError + Send + Sync>>,
    {
        self.metrics.time("write_part", is_failure, self.write_part_untimed(upload, hasher, body, limit)).await
    }

    async fn write_part_untimed<S, E>(
        &self,
        upload: UploadId,
        mut hasher: DigestHasher,
        body: S,
        limit: Option<u64>,
    ) -> Result<(WrittenPart, DigestHasher), StorageError>
    where
        S: Stream<Item = Result<Bytes, E>> + Send,
        E: Into<Box<dyn StdError + Send + Sync>>,
    {
        let key = PartKey::new(upload);
        if let Some(root) = &self.local_root {
            return local_stream::write_part_local(root.join(key.as_str()), key, hasher, body, limit).await;
        }
        let mut body = std::pin::pin!(body);
        let mut size = 0u64;
        // Small bodies (the common case for configs and small layers) become one plain PUT;
        // a multipart upload starts only once a whole part has been buffered.
        let mut first_part = PutPayloadMut::new();
        let mut multipart: Option<Multipart> = None;
        let outcome: Result<(), StorageError> = async {
            while let Some(chunk) = body.next().await {
                let chunk = accept_chunk(chunk, &mut size, limit)?;
                hasher.update(&chunk);
                match multipart.as_mut() {
                    Some(writer) => {
                        writer.writer().wait_for_capacity(MAX_PARTS_IN_FLIGHT).await?;
                        writer.writer().put(chunk);
                    }
                    None => {
                        first_part.push(chunk);
                        if first_part.content_length() >= PART_SIZE {
                            let upload = self.store.put_multipart(&key.path()).await?;
                            let mut writer = WriteMultipart::new_with_chunk_size(upload, PART_SIZE);
                            for piece in PutPayload::from(std::mem::take(&mut first_part)).iter() {
                                writer.put(piece.clone());
                            }
                            multipart = Some(Multipart::new(writer));
                        }
                    }
                }
            }
            Ok(())
        }
        .await;
        match (outcome, multipart) {
            (Ok(()), Some(writer)) => writer.finish().await?,
            (Ok(()), None) if size == 0 => {
                // Nothing to keep: an empty chunk (e.g. the final `PUT` of a streamed upload)
                // writes no object, and deleting its key later is a harmless no-op.
            }
            (Ok(()), None) => {
                self.store.put(&key.path(), first_part.into()).await?;
            }
            (Err(error), writer) => {
                if let Some(writer) = writer {
                    writer.abort().await;
                }
                return Err(error);
            }
        }
        Ok((WrittenPart { key, size }, hasher))
    }

    /// Whether `commit_blob` of these parts is quick: a rename of a local file (or nothing),
    /// or a server-side copy of a small object. Callers may then place the blob while
    /// holding a database transaction open.
    pub fn places_quickly(&self, parts: &[PartKey], size: u64) -> bool {
        const SMALL_OBJECT: u64 = 8 * 1024 * 1024;
        parts.is_empty() || (parts.len() == 1 && (self.local_root.is_some() || size <= SMALL_OBJECT))
    }

    /// Makes the verified content of `parts` (in order) the blob `digest`, then removes the
    /// parts. One part is renamed into place (no byte is written again); several are
    /// concatenated. If the blob already exists the parts are simply dropped.
    pub async fn commit_blob(&self, parts: &[PartKey], digest: &Digest) -> Result<(), StorageError> {
        self.metrics.time("commit", is_failure, self.commit_blob_untimed(parts, digest)).await
    }

    async fn commit_blob_untimed(&self, parts: &[PartKey], digest: &Digest) -> Result<(), StorageError> {
        let target = blob_path(digest);
        if let (Some(root), [single]) = (&self.local_root, parts) {
            let committed = match local::rename_into_place(root.join(single.as_str()), root.join(target.as_ref())).await
            {
                // Renamed already, by a request that stopped before the index recorded it (a
                // crash, a client gone): the blob is in place, verified when it was placed.
                Err(StorageError::NotFound(_)) if self.blob_exists(digest).await? => Ok(()),
                other => other,
            };
            self.prune_upload_directories(parts).await;
            return committed;
        }
        if self.blob_exists(digest).await? {
            self.delete_parts(parts).await;
            return Ok(());
        }
        let committed = self.place_blob(parts, &target).await;
        self.prune_upload_directories(parts).await;
        committed
    }

    /// Puts the parts' content at `target`: one part renamed, several composed.
    async fn place_blob(&self, parts: &[PartKey], target: &Path) -> Result<(), StorageError> {
        match parts {
            [] => {
                self.store.put(target, PutPayload::default()).await?;
            }
            [single] => match self.store.rename(&single.path(), target).await {
                Ok(()) => {}
                Err(object_store::Error::NotFound { path, .. }) => return Err(StorageError::NotFound(path)),
                // S3 copies an object over 5 GiB only in parts: compose it instead.
                Err(error) => {
                    tracing::debug!(%error, "server-side rename failed; copying through the registry");
                    self.compose(parts, target).await?;
                }
            },
            several => self.compose(several, target).await?,
        }
        Ok(())
    }

    /// Concatenates `parts` into `target`, streaming, in `PART_SIZE` pieces (so S3's 5 MiB
    /// minimum part size holds however small the client's chunks were), then drops them.
    async fn compose(&self, parts: &[PartKey], target: &Path) -> Result<(), StorageError> {
        let upload = self.store.put_multipart(target).await?;
        // Dropped on any error below, which aborts the upload.
        let mut writer = Multipart::new(WriteMultipart::new_with_chunk_size(upload, PART_SIZE));
        for part in parts {
            let mut stream = self.store.get(&part.path()).await.map_err(StorageError::from_backend)?.into_stream();
            while let Some(chunk) = stream.next().await {
                writer.writer().wait_for_capacity(MAX_PARTS_IN_FLIGHT).await?;
                writer.writer().put(chunk?);
            }
        }
        writer.finish().await?;
        self.delete_part_objects(parts).await;
        Ok(())
    }

    /// Streams a written part back (to re-hash an upload with another algorithm).
    pub async fn read_part(&self, part: &PartKey) -> Result<BlobStream, StorageError> {
        let open = async { self.store.get(&part.path()).await.map_err(StorageError::from_backend) };
        let result = self.metrics.time("read_part", is_failure, open).await?;
        Ok(result.into_stream().map_err(StorageError::from_backend).boxed())
    }

    /// Best-effort removal of parts: a leftover part is garbage, never visible, and the
    /// collector removes it later.
    pub async fn delete_parts(&self, parts: &[PartKey]) {
        self.delete_part_objects(parts).await;
        self.prune_upload_directories(parts).await;
    }

    /// Parts recorded by an older version sit in an `uploads/<id>/` directory, which a local
    /// directory keeps once emptied (object stores have no directories): remove it once its
    /// parts are gone. `remove_dir` only removes an empty directory, so a part still being
    /// written keeps it. Parts written now have flat keys and no directory (see `PartKey`).
    async fn prune_upload_directories(&self, parts: &[PartKey]) {
        let Some(root) = &self.local_root else {
            return;
        };
        let mut directories: Vec<_> = parts.iter().filter_map(PartKey::legacy_directory).collect();
        directories.dedup();
        for directory in directories {
            let _ = tokio::fs::remove_dir(root.join(directory)).await;
        }
    }

    async fn delete_part_objects(&self, parts: &[PartKey]) {
        for part in parts {
            let delete = async { self.store.delete(&part.path()).await };
            let failed = |error: &object_store::Error| !matches!(error, object_store::Error::NotFound { .. });
            if let Err(error) = self.metrics.time("delete", failed, delete).await {
                if !matches!(error, object_store::Error::NotFound { .. }) {
                    tracing::warn!(part = part.as_str(), %error, "could not delete an upload part");
                }
            }
        }
    }
}

/// Whether an error is storage failing, as opposed to an answer (a missing object) or the
/// client's doing (a broken or oversized body).
fn is_failure(error: &StorageError) -> bool {
    !matches!(error, StorageError::NotFound(_) | StorageError::Body(_) | StorageError::TooLarge { .. })
}

/// One chunk of a part's body, received: counted against `limit`, on every backend.
pub(crate) fn accept_chunk<E>(
    chunk: Result<Bytes, E>,
    size: &mut u64,
    limit: Option<u64>,
) -> Result<Bytes, StorageError>
where
    E: Into<Box<dyn StdError + Send + Sync>>,
{
    let chunk = chunk.map_err(|e| StorageError::Body(e.into()))?;
    *size += chunk.len() as u64;
    if let Some(limit) = limit.filter(|&limit| *size > limit) {
        return Err(StorageError::TooLarge { limit });
    }
    Ok(chunk)
}
