//! `fsck` against damage done behind the registry's back, on the local directory and on S3
//! (`WASMHUB_TEST_STORAGE=s3`): corrupted, deleted and stray objects are each found, `--repair`
//! removes only what nothing references and marks the manifests that lost a blob, pulls of a
//! lost blob answer `BLOB_UNKNOWN`, and `--not-checked-for` / `--sample` bound the re-hashing.

use crate::common;

use std::process::Command;
use std::time::Duration;

use common::{backends, error_code, sha256, TestServer};
use wasmhub_registry::{FsckOptions, FsckSample};

/// Reaches a blob's object directly: a file, or an S3 object (requests signed by curl).
struct Storage {
    s3: Option<(String, String)>,
    dir: std::path::PathBuf,
}

impl Storage {
    fn of(server: &TestServer) -> Storage {
        let s3 = backends::uses_s3().then(|| {
            let bucket = std::fs::read_to_string(server.data_dir().join("s3-bucket")).unwrap();
            (std::env::var("AWS_ENDPOINT_URL").unwrap(), bucket)
        });
        Storage { s3, dir: server.data_dir().join("blobs") }
    }

    /// The object's key under the storage root (`blobs/sha256/ab/abcd...`).
    fn key(digest: &str) -> String {
        let hex = digest.strip_prefix("sha256:").unwrap();
        format!("blobs/sha256/{}/{hex}", &hex[..2])
    }

    fn curl(&self, args: &[&str], digest: &str) -> String {
        let (endpoint, bucket) = self.s3.as_ref().unwrap();
        let url = format!("{endpoint}/{bucket}/blobs/{}", Storage::key(digest));
        let env = |name: &str, default: &str| std::env::var(name).unwrap_or_else(|_| default.to_owned());
        let (region, key, secret) =
            (env("AWS_REGION", "us-east-1"), env("AWS_ACCESS_KEY_ID", "test"), env("AWS_SECRET_ACCESS_KEY", "test"));
        let output = Command::new("curl")
            .args(["-s", "-o", "/dev/null", "-w", "%{http_code}"])
            .args(["--aws-sigv4", &format!("aws:amz:{region}:s3"), "--user", &format!("{key}:{secret}")])
            .args(args)
            .arg(url)
            .output()
            .expect("curl runs");
        String::from_utf8(output.stdout).unwrap()
    }

    fn write(&self, digest: &str, bytes: &[u8]) {
        if self.s3.is_some() {
            let file = tempfile::NamedTempFile::new().unwrap();
            std::fs::write(file.path(), bytes).unwrap();
            let path = file.path().display().to_string();
            assert_eq!(self.curl(&["--upload-file", &path], digest), "200");
        } else {
            let path = self.dir.join(Storage::key(digest));
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, bytes).unwrap();
        }
    }

    fn remove(&self, digest: &str) {
        if self.s3.is_some() {
            assert_eq!(self.curl(&["-X", "DELETE"], digest), "204");
        } else {
            std::fs::remove_file(self.dir.join(Storage::key(digest))).unwrap();
        }
    }

    fn exists(&self, digest: &str) -> bool {
        match &self.s3 {
            Some(_) => self.curl(&["-I"], digest) == "200",
            None => self.dir.join(Storage::key(digest)).exists(),
        }
    }
}

fn wasmhub(server: &TestServer, args: &[&str]) -> (bool, String) {
    let dir = server.data_dir();
    let output = Command::new(env!("CARGO_BIN_EXE_wasmhub"))
        .args(args)
        .args(["--database-url", &backends::database_url(dir), "--storage-url", &backends::storage_url(dir)])
        .env("RUST_LOG", "info,sqlx=warn")
        .output()
        .expect("wasmhub runs");
    (output.status.success(), String::from_utf8_lossy(&output.stderr).into_owned())
}

fn digests(findings: &[wasmhub_registry::FsckFinding]) -> Vec<String> {
    let mut digests: Vec<String> = findings.iter().map(|f| f.digest.to_string()).collect();
    digests.sort();
    digests
}

#[tokio::test]
async fn fsck_finds_each_kind_of_damage_and_repair_marks_what_it_cannot_remove() {
    let server = TestServer::start().await;
    let storage = Storage::of(&server);
    let (_, rotten_manifest) = server.push_image("fsck/a", "v1", b"layer that will rot").await;
    let (_, vanished_manifest) = server.push_image("fsck/b", "v1", b"layer that will vanish").await;
    let (_, fine_manifest) = server.push_image("fsck/c", "v1", b"layer that stays fine").await;
    let loose = server.push_blob("fsck/a", b"unreferenced, will rot").await;
    let (rotten, vanished) = (sha256(b"layer that will rot"), sha256(b"layer that will vanish"));
    // Same length: only re-hashing can tell.
    storage.write(&rotten, b"layer that will ROT");
    storage.write(&loose, b"unreferenced, did rot");
    storage.remove(&vanished);
    let stray = sha256(b"an object nobody pushed");
    storage.write(&stray, b"an object nobody pushed");
    tokio::time::sleep(Duration::from_millis(50)).await;

    let options = FsckOptions { grace: Duration::ZERO, ..FsckOptions::default() };
    let report = server.registry.fsck(&options, |_| {}).await.unwrap();
    let mut expected = vec![rotten.clone(), loose.clone()];
    expected.sort();
    assert_eq!(digests(&report.corrupt), expected);
    assert_eq!(digests(&report.missing), vec![vanished.clone()]);
    assert_eq!(digests(&report.strays), vec![stray.clone()]);

    let lost = server.get(&format!("/v2/fsck/b/blobs/{vanished}")).await;
    assert_eq!(lost.status(), 404, "a lost blob is not a server error");
    assert_eq!(error_code(lost).await, "BLOB_UNKNOWN");

    let (ok, log) = wasmhub(&server, &["fsck", "--repair", "--grace", "0s"]);
    assert!(!ok, "problems make fsck exit non-zero: {log}");
    assert!(!storage.exists(&stray), "the stray object is removed");
    assert!(!storage.exists(&loose), "the unreferenced corrupt blob is removed");
    assert!(storage.exists(&rotten), "a referenced blob is never deleted, even corrupt");
    let index = server.registry.index();
    let damage = |repo: &'static str, manifest: &str| {
        let digest = manifest.parse().unwrap();
        async move { index.manifest_damage(repo, &digest).await.unwrap() }
    };
    let reason = damage("fsck/a", &rotten_manifest).await.expect("the manifest using the rotten layer is marked");
    assert!(reason.contains(&rotten) && reason.contains("hashes to"), "{reason}");
    assert!(damage("fsck/b", &vanished_manifest).await.unwrap().contains("missing"));
    assert_eq!(damage("fsck/c", &fine_manifest).await, None, "untouched manifests are not marked");
    let api: serde_json::Value = server.get("/api/v1/repositories/fsck/a/tags/v1").await.json().await.unwrap();
    assert!(api["damaged"].as_str().unwrap_or_default().contains(&rotten), "the API shows it: {api}");
    let api: serde_json::Value = server.get("/api/v1/repositories/fsck/c/tags/v1").await.json().await.unwrap();
    assert!(api["damaged"].is_null(), "{api}");
    let page = server.get("/repositories/fsck/b/tags/v1").await.text().await.unwrap();
    assert!(page.contains("Damaged (found by fsck)"), "the tag page shows it");
    let report = server.registry.fsck(&options, |_| {}).await.unwrap();
    assert_eq!((report.corrupt.len(), report.missing.len(), report.strays.len()), (1, 1, 0));
}

#[tokio::test]
async fn not_checked_for_skips_recently_verified_blobs_and_sample_bounds_the_rehashing() {
    let server = TestServer::start().await;
    let storage = Storage::of(&server);
    for n in 0..4 {
        server.push_image("fsck/sample", &format!("v{n}"), format!("layer {n}").as_bytes()).await;
    }
    let options = FsckOptions { grace: Duration::ZERO, ..FsckOptions::default() };
    let first = server.registry.fsck(&options, |_| {}).await.unwrap();
    assert_eq!((first.blobs, first.rehashed, first.problems()), (5, 5, 0), "4 layers and the shared config");

    // Rot that keeps the size: a run that skips recently verified blobs cannot see it...
    let layer = sha256(b"layer 2");
    storage.write(&layer, b"LAYER 2");
    let recent = FsckOptions { not_checked_for: Some(Duration::from_secs(3600)), ..options.clone() };
    let skipping = server.registry.fsck(&recent, |_| {}).await.unwrap();
    assert_eq!((skipping.rehashed, skipping.recently_verified, skipping.problems()), (0, 5, 0));
    let (ok, log) = wasmhub(&server, &["fsck", "--not-checked-for", "1h", "--grace", "0s"]);
    assert!(ok, "{log}");
    // ...and one that re-hashes them does.
    let (ok, log) = wasmhub(&server, &["fsck", "--grace", "0s"]);
    assert!(!ok && log.contains(&layer), "{log}");

    let one = FsckOptions { sample: FsckSample::Count(1), ..options.clone() };
    let sampled = server.registry.fsck(&one, |_| {}).await.unwrap();
    assert!(sampled.rehashed <= 1 && sampled.blobs == 5, "{sampled:?}");
    assert_eq!("5%".parse::<FsckSample>(), Ok(FsckSample::Fraction(0.05)));
    assert_eq!("0.5".parse::<FsckSample>(), Ok(FsckSample::Fraction(0.5)));
    assert_eq!("200".parse::<FsckSample>(), Ok(FsckSample::Count(200)));
    assert!("0".parse::<FsckSample>().is_err() && "150%".parse::<FsckSample>().is_err());
}
