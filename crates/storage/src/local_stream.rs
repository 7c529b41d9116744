//! The local directory backend's streaming paths, beside `object_store`: a part written while
//! it is received (`local.rs` does the file I/O, `hashing.rs` the hashing), and a blob read
//! from mapped windows of its file (`mapped.rs`).

use std::error::Error as StdError;
use std::path::PathBuf;

use bytes::Bytes;
use futures::stream::StreamExt;
use futures::Stream;
use wasmhub_oci::DigestHasher;

use crate::blobs::{accept_chunk, BlobStream};
use crate::hashing::BodyHasher;
use crate::{local, mapped, PartKey, StorageError, WrittenPart};

/// Window of a local file mapped per chunk of a pull (and the size up to which a blob is read
/// whole instead): large enough that a pull is not dominated by system calls.
const LOCAL_READ_CHUNK: usize = 2 * 1024 * 1024;
/// Chunks read ahead of a slow client (the memory one pull holds at most).
const LOCAL_READ_AHEAD: usize = 2;
/// A local part body larger than this is written by a thread of its own while it arrives;
/// a smaller one is written whole once it has arrived.
const LOCAL_WRITE_THRESHOLD: usize = 1024 * 1024;
/// A local part body hashes on a thread of its own (`hashing.rs`) once this much has arrived.
const LOCAL_HASH_THRESHOLD: usize = 4 * 1024 * 1024;
/// Bytes of request chunks gathered before they go to the hasher and the writer. A chunked body
/// arrives in many small chunks (a streamed 256 MiB push: 4,745 of 56 KiB on average, against
/// 657 of 408 KiB with a `Content-Length`), and once those run on threads of their own every
/// hand-off may wake one.
const LOCAL_BATCH: usize = 256 * 1024;

/// `write_part` for the local directory backend: the request's chunks, gathered into batches
/// of `LOCAL_BATCH`, are hashed (on the request's task, then on a thread of its own past
/// `LOCAL_HASH_THRESHOLD`) and written by `local::PartWriter` (one blocking call for a small
/// body, a writer thread for a big one).
pub(crate) async fn write_part_local<S, E>(
    path: PathBuf,
    key: PartKey,
    hasher: DigestHasher,
    body: S,
    limit: Option<u64>,
) -> Result<(WrittenPart, DigestHasher), StorageError>
where
    S: Stream<Item = Result<Bytes, E>> + Send,
    E: Into<Box<dyn StdError + Send + Sync>>,
{
    // axum's body stream reports its length in bytes here (`BodyDataStream::size_hint`): exact
    // with a `Content-Length`. Only ever a hint for preallocating the file; any other stream's
    // figure just makes the preallocation wrong, and the file is cut to size anyway.
    let expected = body.size_hint().1.map(|bytes| bytes as u64);
    let mut body = std::pin::pin!(body);
    let mut writer = local::PartWriter::new(path, expected, LOCAL_WRITE_THRESHOLD);
    let mut hasher = BodyHasher::new(hasher, LOCAL_HASH_THRESHOLD);
    let mut size = 0u64;
    let received: Result<(), StorageError> = async {
        let mut batch = Vec::new();
        let mut batch_len = 0;
        loop {
            let chunk = body.next().await.map(|chunk| accept_chunk(chunk, &mut size, limit)).transpose()?;
            let ended = chunk.is_none();
            if let Some(chunk) = chunk {
                batch_len += chunk.len();
                batch.push(chunk);
            }
            if batch_len >= LOCAL_BATCH || (ended && !batch.is_empty()) {
                hasher.update(&batch).await?;
                writer.push(std::mem::take(&mut batch)).await?;
                batch_len = 0;
            }
            if ended {
                return Ok(());
            }
        }
    }
    .await;
    let hashed = hasher.finish().await;
    match received.and(hashed) {
        Ok(hasher) => {
            writer.finish().await?;
            Ok((WrittenPart { key, size }, hasher))
        }
        Err(error) => {
            writer.abort().await;
            Err(error)
        }
    }
}

/// Streams a local file from one blocking task, in `LOCAL_READ_CHUNK` windows mapped from the
/// page cache (`mapped.rs`: hyper copies from there into the socket, with no copy into a
/// buffer of ours first), at most `LOCAL_READ_AHEAD` windows ahead of the client. A blob of
/// one chunk or less is read whole when opened.
pub(crate) async fn read_local(file: PathBuf, range: Option<(u64, u64)>) -> Result<BlobStream, StorageError> {
    use std::io::{Read, Seek};
    // Opening is a lookup, not I/O of the blob's bytes: on this thread (`INLINE_FILE_BYTES`).
    let (mut handle, offset, len) = local::run_file_op(0, move || {
        let handle = match std::fs::File::open(&file) {
            Ok(handle) => handle,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
                return Err(StorageError::NotFound(file.display().to_string()))
            }
            Err(error) => return Err(error.into()),
        };
        let size = handle.metadata()?.len();
        Ok(match range {
            Some((first, last)) => (handle, first, (last + 1).min(size).saturating_sub(first)),
            None => (handle, 0, size),
        })
    })
    .await?;
    // Most blobs of Wasm artifacts are small: read whole, no second task and no channel.
    if len <= LOCAL_READ_CHUNK as u64 {
        let whole = local::run_file_op(len as usize, move || {
            let mut whole = Vec::with_capacity(len as usize);
            handle.seek(std::io::SeekFrom::Start(offset))?;
            handle.take(len).read_to_end(&mut whole)?;
            Ok(Bytes::from(whole))
        })
        .await?;
        return Ok(futures::stream::once(async move { Ok(whole) }).boxed());
    }
    let (file, mut offset, mut remaining) = (handle, offset, len);
    let (sender, receiver) = tokio::sync::mpsc::channel::<Result<Bytes, StorageError>>(LOCAL_READ_AHEAD);
    tokio::task::spawn_blocking(move || {
        while remaining > 0 {
            let len = LOCAL_READ_CHUNK.min(remaining.try_into().unwrap_or(usize::MAX));
            let window = mapped::map_window(&file, offset, len).map_err(StorageError::from);
            let failed = window.is_err();
            // A closed channel means the client went away: stop reading.
            if sender.blocking_send(window).is_err() || failed {
                return;
            }
            offset += len as u64;
            remaining -= len as u64;
        }
    });
    let stream =
        futures::stream::unfold(
            receiver,
            |mut receiver| async move { receiver.recv().await.map(|item| (item, receiver)) },
        );
    Ok(stream.boxed())
}
