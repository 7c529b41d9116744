//! The SQLite writer (`sqlite_writer.rs`): its transactions wait for another process's write
//! lock without blocking the runtime's thread, and an abandoned one rolls back.

use std::str::FromStr;
use std::time::{Duration, Instant};

use sqlx::{Connection, Executor};
use wasmhub_index::Index;
use wasmhub_oci::{Digest, RepoName};

async fn index_in(dir: &tempfile::TempDir) -> (Index, String) {
    let url = format!("sqlite://{}/index.db", dir.path().display());
    let index = Index::connect(&url).await.unwrap();
    index.migrate().await.unwrap();
    (index, url)
}

// The default runtime of `tokio::test` has one thread: had the writer slept in SQLite's busy
// handler (as sqlx's connections do, for up to 10 s), the task that releases the other lock
// could not have run before the writer gave up, and the recording would fail.
#[tokio::test]
async fn a_write_waits_for_another_connections_lock_without_blocking_the_thread() {
    let dir = tempfile::tempdir().unwrap();
    let (index, url) = index_in(&dir).await;
    sqlx::any::install_default_drivers();
    let mut other = sqlx::AnyConnection::connect(&url).await.unwrap();
    other.execute("BEGIN IMMEDIATE").await.unwrap();
    let released = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(300)).await;
        other.execute("COMMIT").await.unwrap();
        Instant::now()
    });
    let repository = RepoName::from_str("team/waits").unwrap();
    let digest = Digest::sha256_of(b"waits");
    let recording = index.begin_recording(&digest).await.unwrap();
    let began = Instant::now();
    assert!(began >= released.await.unwrap(), "began before the other lock was released");
    recording.write(&repository, 5, None).await.unwrap().expect("no session to end").commit().await.unwrap();
    assert_eq!(index.repository_blob_size(&repository, &digest).await.unwrap(), Some(5));
}

#[tokio::test]
async fn a_recording_dropped_unfinished_rolls_back_and_frees_the_writer() {
    let dir = tempfile::tempdir().unwrap();
    let (index, _) = index_in(&dir).await;
    let repository = RepoName::from_str("team/dropped").unwrap();
    let (dropped, kept) = (Digest::sha256_of(b"dropped"), Digest::sha256_of(b"kept"));

    // Rows written, object never placed: dropped before its commit.
    let recording = index.begin_recording(&dropped).await.unwrap();
    drop(recording.write(&repository, 7, None).await.unwrap().expect("no session to end"));
    let recording = index.begin_recording(&kept).await.unwrap();
    recording.write(&repository, 4, None).await.unwrap().expect("no session to end").commit().await.unwrap();

    assert_eq!(index.repository_blob_size(&repository, &dropped).await.unwrap(), None);
    assert_eq!(index.repository_blob_size(&repository, &kept).await.unwrap(), Some(4));
}

#[tokio::test]
async fn an_in_memory_database_is_refused() {
    for url in ["sqlite::memory:", "sqlite://:memory:", "sqlite://x.db?mode=memory"] {
        assert!(Index::connect(url).await.is_err(), "{url}");
    }
}

/// The writer leaves checkpoints to a pooled connection (`wal_autocheckpoint = 0` on its own):
/// they still happen, so the WAL stops growing. Its file never shrinks, but SQLite writes it
/// again from the start after a checkpoint, so its size shows how far it ever grew.
// (Two worker threads, as in the server: the writer's statements never yield, and the
// checkpoint runs as a task of its own.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_wal_is_checkpointed_while_the_writer_commits() {
    let dir = tempfile::tempdir().unwrap();
    let (index, _) = index_in(&dir).await;
    let wal = dir.path().join("index.db-wal");
    let repository = RepoName::from_str("team/many").unwrap();
    let record = |n: usize| {
        let (index, repository) = (&index, &repository);
        async move {
            let digest = Digest::sha256_of(n.to_string().as_bytes());
            let recording = index.begin_recording(&digest).await.unwrap();
            recording
                .write(repository, n as u64, None)
                .await
                .unwrap()
                .expect("no session to end")
                .commit()
                .await
                .unwrap();
        }
    };
    for n in 0..20 {
        record(n).await;
    }
    let after_twenty = std::fs::metadata(&wal).unwrap().len();
    for n in 20..2_000 {
        record(n).await;
    }
    let after_all = std::fs::metadata(&wal).unwrap().len();
    // Without checkpoints, 2,000 commits would have made it 100 times the size of 20.
    assert!(after_all < after_twenty * 40, "WAL of {after_all} bytes after 2,000 commits, {after_twenty} after 20");
}
