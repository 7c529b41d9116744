//! Hashing a body while it is received: in the receiving task for small bodies, on a thread of
//! its own once a body grows past a threshold. sha256 is the largest part of a big push's CPU;
//! on the receiving task it runs in series with receiving and with handing chunks to the
//! writer, on its own thread beside them.

use bytes::Bytes;
use tokio::sync::mpsc;
use wasmhub_oci::DigestHasher;

use crate::StorageError;

/// Batches handed to the hashing thread but not yet hashed: few, so that chunks are freed
/// while warm (as for the writer's queue, `local.rs`).
const HASH_QUEUE: usize = 4;

pub(crate) struct BodyHasher {
    state: State,
    received: usize,
    threshold: usize,
}

enum State {
    Inline(DigestHasher),
    Thread { queue: mpsc::Sender<Vec<Bytes>>, thread: tokio::task::JoinHandle<DigestHasher> },
    Stopped,
}

fn stopped() -> StorageError {
    StorageError::Io(std::io::Error::other("the hashing thread stopped"))
}

impl BodyHasher {
    /// Hashes inline until `threshold` bytes have been received.
    pub(crate) fn new(hasher: DigestHasher, threshold: usize) -> BodyHasher {
        BodyHasher { state: State::Inline(hasher), received: 0, threshold }
    }

    /// Hashes the next batch of the body's chunks (`local_stream.rs` gathers them), or hands
    /// it to the hashing thread: one possible wake-up per batch, not per chunk.
    pub(crate) async fn update(&mut self, batch: &[Bytes]) -> Result<(), StorageError> {
        self.received += batch.iter().map(Bytes::len).sum::<usize>();
        match &mut self.state {
            State::Inline(hasher) => {
                for chunk in batch {
                    hasher.update(chunk);
                }
                if self.received >= self.threshold {
                    let State::Inline(hasher) = std::mem::replace(&mut self.state, State::Stopped) else {
                        unreachable!("matched above")
                    };
                    self.state = spawn(hasher);
                }
                Ok(())
            }
            // A cheap clone: the writer and the hashing thread share the chunks' buffers.
            State::Thread { queue, .. } => {
                if queue.send(batch.to_vec()).await.is_err() {
                    self.state = State::Stopped;
                    return Err(stopped());
                }
                Ok(())
            }
            State::Stopped => Err(stopped()),
        }
    }

    /// The hasher, having seen every chunk.
    pub(crate) async fn finish(self) -> Result<DigestHasher, StorageError> {
        match self.state {
            State::Inline(hasher) => Ok(hasher),
            State::Thread { queue, thread } => {
                drop(queue);
                thread.await.map_err(|error| StorageError::Io(std::io::Error::other(error)))
            }
            State::Stopped => Err(stopped()),
        }
    }
}

fn spawn(mut hasher: DigestHasher) -> State {
    let (queue, mut batches) = mpsc::channel::<Vec<Bytes>>(HASH_QUEUE);
    let thread = tokio::task::spawn_blocking(move || {
        while let Some(batch) = batches.blocking_recv() {
            for chunk in &batch {
                hasher.update(chunk);
            }
        }
        hasher
    });
    State::Thread { queue, thread }
}

#[cfg(test)]
mod tests {
    use super::*;
    use wasmhub_oci::Algorithm;

    #[tokio::test]
    async fn the_digest_is_the_same_inline_and_on_the_thread() {
        let chunks: Vec<Bytes> =
            (0..600u32).map(|n| Bytes::from(vec![(n % 251) as u8; 1000 + 7 * n as usize])).collect();
        let mut whole = DigestHasher::new(Algorithm::Sha256);
        for chunk in &chunks {
            whole.update(chunk);
        }
        let expected = whole.finish();
        for threshold in [0, 1, 5_000, 300_000, usize::MAX] {
            let mut hasher = BodyHasher::new(DigestHasher::new(Algorithm::Sha256), threshold);
            for batch in chunks.chunks(7) {
                hasher.update(batch).await.unwrap();
            }
            assert_eq!(hasher.finish().await.unwrap().finish(), expected, "threshold {threshold}");
        }
    }
}
