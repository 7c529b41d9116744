//! The local directory backend's own file I/O, for the hot paths of push and pull. Going
//! through `object_store` costs a blocking-pool hand-off per operation (a small push paid for
//! a staging file, a rename, a `head` and another rename per blob) and, for big bodies, kept
//! two 8 MiB parts of request chunks alive, so hyper's receive buffers could not be reused:
//! the kernel zeroed fresh pages for every one (9% of a 1 GiB push's server CPU was page
//! faults under `recv`).

use std::io::{IoSlice, Write};
use std::path::{Path, PathBuf};

use bytes::Bytes;
use tokio::sync::mpsc;

use crate::StorageError;

/// Batches of request chunks handed to the writer thread but not yet written. Few, so that
/// chunks are freed while still warm and hyper's next receive buffer reuses their memory.
const WRITE_QUEUE: usize = 4;
/// How much the writer gathers into one `writev` when chunks are queued: large writes let the
/// page cache use large folios (one `write_begin` per folio, not per 4 KiB page).
const WRITE_BATCH: usize = 2 * 1024 * 1024;

/// File operations on at most this many bytes (and renames) run on the request's own thread
/// instead of tokio's blocking pool. On a local disk such an operation is a copy into or out
/// of the page cache, a few microseconds, while a hand-off to the pool and back wakes two
/// threads: on a small push (two blob writes, two renames, two reads of the config and the
/// module per artifact) the hand-offs cost more than the I/O. A/B over 3 pairs, PostgreSQL
/// index, data on tmpfs: one connection 261–272 → 287–295 artifacts/s, server CPU per run
/// 153 → 125–130 ticks, small pulls 1,106–1,273 → 1,368–1,481/s. The cost: a disk that
/// stalls (a hung network mount) stalls that thread's other requests too, which is why the
/// big ones stay on the pool, and why network filesystems are better served by S3.
pub(crate) const INLINE_FILE_BYTES: usize = 64 * 1024;

fn io_error(error: tokio::task::JoinError) -> StorageError {
    StorageError::Io(std::io::Error::other(error))
}

/// Runs the file operation `op` on `bytes` bytes: on this thread when it is small
/// (`INLINE_FILE_BYTES`), otherwise on tokio's blocking pool.
pub(crate) async fn run_file_op<T: Send + 'static>(
    bytes: usize,
    op: impl FnOnce() -> Result<T, StorageError> + Send + 'static,
) -> Result<T, StorageError> {
    if bytes <= INLINE_FILE_BYTES {
        return op();
    }
    tokio::task::spawn_blocking(op).await.map_err(io_error)?
}

/// Creates `path` for writing; it must not exist (part keys are unique). The `uploads/`
/// directory is created on first use.
fn create_new(path: &Path) -> std::io::Result<std::fs::File> {
    let open = || std::fs::OpenOptions::new().write(true).create_new(true).open(path);
    match open() {
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
            if let Some(parent) = path.parent() {
                std::fs::create_dir_all(parent)?;
            }
            open()
        }
        other => other,
    }
}

/// Writes all of `chunks` with as few `writev` calls as possible.
fn write_chunks(file: &mut std::fs::File, chunks: &[Bytes]) -> std::io::Result<()> {
    let mut first = 0;
    let mut offset = 0;
    while first < chunks.len() {
        let slices: Vec<IoSlice<'_>> = std::iter::once(&chunks[first][offset..])
            .chain(chunks[first + 1..].iter().map(|chunk| &chunk[..]))
            .take(1024)
            .map(IoSlice::new)
            .collect();
        let mut written = match file.write_vectored(&slices) {
            Ok(0) => return Err(std::io::ErrorKind::WriteZero.into()),
            Ok(written) => written,
            Err(error) if error.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(error) => return Err(error),
        };
        while first < chunks.len() && written >= chunks[first].len() - offset {
            written -= chunks[first].len() - offset;
            first += 1;
            offset = 0;
        }
        offset += written;
    }
    Ok(())
}

/// A part file being written: small bodies are written whole by one blocking call; a body
/// that grows past `threshold` gets a writer thread fed through a short queue, so receiving
/// and hashing (the caller's task) overlap with writing.
pub(crate) struct PartWriter {
    path: PathBuf,
    /// The body's length, when the request says (`Content-Length`).
    expected: Option<u64>,
    threshold: usize,
    /// The body's chunks until the writer starts (and their length).
    pending: Vec<Bytes>,
    pending_len: usize,
    writer: Option<(mpsc::Sender<Vec<Bytes>>, WriterThread)>,
}

type WriterThread = tokio::task::JoinHandle<std::io::Result<()>>;

impl PartWriter {
    pub(crate) fn new(path: PathBuf, expected: Option<u64>, threshold: usize) -> PartWriter {
        PartWriter { path, expected, threshold, pending: Vec::new(), pending_len: 0, writer: None }
    }

    /// Takes the next batch of the body's chunks (`local_stream.rs` gathers them): kept until
    /// the body passes the threshold, then handed to the writer thread batch by batch.
    pub(crate) async fn push(&mut self, batch: Vec<Bytes>) -> Result<(), StorageError> {
        if let Some((sender, _)) = &self.writer {
            return match sender.send(batch).await {
                Ok(()) => Ok(()),
                Err(_) => Err(self.stopped().await),
            };
        }
        self.pending_len += batch.iter().map(Bytes::len).sum::<usize>();
        self.pending.extend(batch);
        if self.pending_len >= self.threshold {
            let (sender, receiver) = mpsc::channel(WRITE_QUEUE);
            let (path, expected) = (self.path.clone(), self.expected);
            let first = std::mem::take(&mut self.pending);
            let thread = tokio::task::spawn_blocking(move || write_streamed(&path, expected, first, receiver));
            self.writer = Some((sender, thread));
        }
        Ok(())
    }

    /// The writer thread stopped taking batches: why, once what it wrote is removed.
    async fn stopped(&mut self) -> StorageError {
        let ended = match self.writer.take() {
            Some((_, thread)) => thread.await,
            None => Ok(Ok(())),
        };
        let error = match ended {
            Ok(Err(error)) => StorageError::Io(error),
            Ok(Ok(())) => StorageError::Io(std::io::Error::other("the part writer stopped early")),
            Err(error) => io_error(error),
        };
        remove_quietly(self.path.clone()).await;
        error
    }

    /// Writes what is left and closes the file. Nothing is written for an empty body.
    pub(crate) async fn finish(self) -> Result<(), StorageError> {
        let result = match self.writer {
            Some((sender, thread)) => {
                drop(sender);
                thread.await.map_err(io_error)?.map_err(StorageError::from)
            }
            None if self.pending_len == 0 => return Ok(()),
            None => {
                let (path, pending) = (self.path.clone(), self.pending);
                run_file_op(self.pending_len, move || Ok(write_chunks(&mut create_new(&path)?, &pending)?)).await
            }
        };
        if result.is_err() {
            remove_quietly(self.path).await;
        }
        result
    }

    /// Gives up: stops the writer and removes whatever was written.
    pub(crate) async fn abort(self) {
        if let Some((sender, thread)) = self.writer {
            drop(sender);
            let _ = thread.await;
            remove_quietly(self.path).await;
        }
    }
}

async fn remove_quietly(path: PathBuf) {
    let _ = tokio::task::spawn_blocking(move || std::fs::remove_file(path)).await;
}

/// The writer thread: `first`, then every queued chunk, gathering what is already queued
/// into one `writev` of up to `WRITE_BATCH` bytes. `expected` is the body's length if known.
fn write_streamed(
    path: &Path,
    expected: Option<u64>,
    first: Vec<Bytes>,
    mut queue: mpsc::Receiver<Vec<Bytes>>,
) -> std::io::Result<()> {
    let mut file = Preallocated::new(create_new(path)?, expected);
    file.write(&first)?;
    drop(first);
    while let Some(mut batch) = queue.blocking_recv() {
        let mut len: usize = batch.iter().map(Bytes::len).sum();
        while len < WRITE_BATCH {
            match queue.try_recv() {
                Ok(more) => {
                    len += more.iter().map(Bytes::len).sum::<usize>();
                    batch.extend(more);
                }
                Err(_) => break,
            }
        }
        file.write(&batch)?;
    }
    file.finish()
}

/// A file whose blocks are allocated ahead of the writes (`fallocate`): the whole expected
/// length at once, or in growing steps when the length is unknown (a streamed `PATCH`). On
/// ext4, writing into allocated blocks skips the per-block delayed-allocation bookkeeping
/// (`ext4_da_get_block_prep`, about a quarter of the kernel's cost of a buffered write, in
/// `dd` with and without `fallocate`). `finish` cuts the file back to what was written.
struct Preallocated {
    file: std::fs::File,
    allocated: u64,
    written: u64,
    /// Off after the first failure (a file system without `fallocate`): plain writes then.
    enabled: bool,
}

/// The first step for a body of unknown length; each later step doubles what is allocated,
/// up to `MAX_STEP`.
const FIRST_STEP: u64 = 16 * 1024 * 1024;
const MAX_STEP: u64 = 256 * 1024 * 1024;

impl Preallocated {
    fn new(file: std::fs::File, expected: Option<u64>) -> Preallocated {
        let mut file = Preallocated { file, allocated: 0, written: 0, enabled: true };
        // At most one step up front: a client announcing a huge body and then sending
        // slowly must not reserve disk space ahead of the bytes it actually sends.
        if let Some(expected) = expected {
            file.allocate(expected.min(MAX_STEP));
        }
        file
    }

    fn allocate(&mut self, upto: u64) {
        use std::os::fd::AsRawFd;
        if !self.enabled || upto <= self.allocated {
            return;
        }
        let (Ok(offset), Ok(len)) = (i64::try_from(self.allocated), i64::try_from(upto - self.allocated)) else {
            self.enabled = false;
            return;
        };
        // SAFETY: plain system call on a file descriptor this struct owns, no pointers.
        let result = unsafe { libc::fallocate(self.file.as_raw_fd(), 0, offset, len) };
        if result == 0 {
            self.allocated = upto;
        } else {
            self.enabled = false;
        }
    }

    fn write(&mut self, chunks: &[Bytes]) -> std::io::Result<()> {
        let len: u64 = chunks.iter().map(|chunk| chunk.len() as u64).sum();
        if self.written + len > self.allocated {
            let step = self.allocated.clamp(FIRST_STEP, MAX_STEP);
            self.allocate((self.written + len).max(self.allocated + step));
        }
        write_chunks(&mut self.file, chunks)?;
        self.written += len;
        Ok(())
    }

    fn finish(self) -> std::io::Result<()> {
        if self.allocated > self.written {
            self.file.set_len(self.written)?;
        }
        Ok(())
    }
}

/// Moves a verified part to its blob path, creating the fan-out directory on first use. An
/// existing blob is replaced by the same bytes (its digest was verified), which readers
/// holding the old file never notice; no `head` first.
pub(crate) async fn rename_into_place(from: PathBuf, to: PathBuf) -> Result<(), StorageError> {
    // A rename moves no bytes: always on this thread (`INLINE_FILE_BYTES`).
    let renamed = run_file_op(0, move || {
        Ok(match std::fs::rename(&from, &to) {
            Err(error) if error.kind() == std::io::ErrorKind::NotFound && from.exists() => {
                if let Some(parent) = to.parent() {
                    std::fs::create_dir_all(parent)?;
                }
                std::fs::rename(&from, &to)
            }
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
                Err(std::io::Error::new(std::io::ErrorKind::NotFound, from.display().to_string()))
            }
            other => other,
        })
    });
    match renamed.await? {
        Ok(()) => Ok(()),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => Err(StorageError::NotFound(error.to_string())),
        Err(error) => Err(error.into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chunks(total: usize, size: usize) -> Vec<Bytes> {
        let data: Vec<u8> = (0..total).map(|i| (i * 7 % 251) as u8).collect();
        data.chunks(size).map(Bytes::copy_from_slice).collect()
    }

    async fn write(dir: &Path, name: &str, expected: Option<u64>, body: &[Bytes]) -> Vec<u8> {
        let path = dir.join("uploads").join(name);
        let mut writer = PartWriter::new(path.clone(), expected, 1024 * 1024);
        // Batches of 5 chunks (320 KiB of 64 KiB chunks), as `local_stream.rs` gathers them.
        for batch in body.chunks(5) {
            writer.push(batch.to_vec()).await.unwrap();
        }
        writer.finish().await.unwrap();
        std::fs::read(path).unwrap()
    }

    #[tokio::test]
    async fn parts_hold_exactly_the_body_whatever_the_length_hint() {
        let dir = tempfile::tempdir().unwrap();
        let body = chunks(40 * 1024 * 1024 + 12_345, 65_536);
        let whole: Vec<u8> = body.iter().flat_map(|chunk| chunk.iter().copied()).collect();
        // Exact, too small, too large, absent (the growing steps): always the body, cut to size.
        for (name, hint) in [("a", Some(whole.len() as u64)), ("b", Some(3)), ("c", Some(1 << 30)), ("d", None)] {
            assert_eq!(write(dir.path(), name, hint, &body).await, whole, "hint {hint:?}");
        }
        let small = chunks(5000, 1000);
        assert_eq!(write(dir.path(), "e", None, &small).await, small.concat());
    }

    #[tokio::test]
    async fn an_empty_body_writes_no_file_and_an_aborted_one_leaves_none() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("uploads/empty");
        PartWriter::new(path.clone(), None, 1024).finish().await.unwrap();
        assert!(!path.exists());
        let path = dir.path().join("uploads/aborted");
        let mut writer = PartWriter::new(path.clone(), None, 1024);
        for chunk in chunks(10_000, 1000) {
            writer.push(vec![chunk]).await.unwrap();
        }
        writer.abort().await;
        assert!(!path.exists());
    }

    #[tokio::test]
    async fn a_part_renamed_into_place_replaces_an_existing_blob() {
        let dir = tempfile::tempdir().unwrap();
        let (part, blob) = (dir.path().join("part"), dir.path().join("blobs/sha256/ab/abcd"));
        std::fs::write(&part, b"bytes").unwrap();
        rename_into_place(part.clone(), blob.clone()).await.unwrap();
        std::fs::write(&part, b"bytes").unwrap();
        rename_into_place(part.clone(), blob.clone()).await.unwrap();
        assert_eq!(std::fs::read(&blob).unwrap(), b"bytes");
        assert!(!part.exists());
        assert!(matches!(rename_into_place(part, blob).await, Err(StorageError::NotFound(_))));
    }
}
