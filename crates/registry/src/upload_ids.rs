//! Issuing and checking upload ids (`UploadId::issue`): an id names the time it was issued
//! and carries a tag over that and the repository, under the registry's key (shared by
//! replicas through the index), so that a session needs no row before its first chunk; and
//! the registry's side of it: the key, the empty session an issued id stands for, and pruning
//! the ids of ended sessions.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use wasmhub_auth::SigningKey;
use wasmhub_index::UploadSession;
use wasmhub_oci::{DigestHasher, RepoName, UploadId};

use crate::uploads::SESSION_ALGORITHM;
use crate::{Registry, RegistryError};

/// How long an issued upload id is valid: the collector's default `upload_max_age`, after
/// which an abandoned session is removed too. Ended ids are remembered this long.
pub const ISSUED_UPLOAD_LIFETIME: Duration = Duration::from_secs(24 * 60 * 60);
/// How far in the future an issue time may lie (replicas' clocks differ a little).
const CLOCK_SKEW: Duration = Duration::from_secs(5 * 60);
/// What the tags of upload ids are made for (the key signs tokens too).
const PURPOSE: &str = "wasmhub upload id v1";
/// Every this many sessions ended by a replica, it also forgets the ended ids that have
/// expired, so that `ended_uploads` stays bounded without scheduled garbage collection too.
const PRUNE_ENDED_EVERY: u64 = 1_000;

/// Whether the session ended as number `ended` (counting from 0) should prune.
pub(crate) fn prune_due(ended: u64) -> bool {
    ended % PRUNE_ENDED_EVERY == PRUNE_ENDED_EVERY - 1
}

fn millis(time: SystemTime) -> u64 {
    time.duration_since(UNIX_EPOCH).map_or(0, |elapsed| elapsed.as_millis() as u64)
}

/// A new id for a session in `repository`.
pub(crate) fn issue(key: &SigningKey, repository: &RepoName, now: SystemTime) -> UploadId {
    UploadId::issue(millis(now), |signed| key.short_tag(PURPOSE, &[signed, repository.as_str().as_bytes()]))
}

/// When `id` was issued (milliseconds since the epoch), if it was issued for `repository`
/// under `key` and has not expired by `now`.
pub(crate) fn verify(key: &SigningKey, repository: &RepoName, id: UploadId, now: SystemTime) -> Option<i64> {
    let issued = id.issued()?;
    let now = millis(now);
    let fresh = issued.issued_at_millis <= now + CLOCK_SKEW.as_millis() as u64
        && now.saturating_sub(issued.issued_at_millis) <= ISSUED_UPLOAD_LIFETIME.as_millis() as u64;
    let genuine = key.verify_short_tag(PURPOSE, &[&issued.signed, repository.as_str().as_bytes()], &issued.tag);
    (fresh && genuine).then_some(issued.issued_at_millis as i64)
}

impl Registry {
    pub(crate) async fn upload_key(&self) -> Result<&SigningKey, RegistryError> {
        self.upload_key.get_or_try_init(|| self.signing_key()).await
    }

    /// The empty session of `id` if it was issued for `repository` and has not expired.
    pub(crate) async fn issued_session(
        &self,
        repository: &RepoName,
        id: UploadId,
    ) -> Result<Option<UploadSession>, RegistryError> {
        let key = self.upload_key().await?;
        let Some(issued_at) = verify(key, repository, id, SystemTime::now()) else {
            return Ok(None);
        };
        Ok(Some(UploadSession {
            repository: repository.clone(),
            size: 0,
            hash_state: DigestHasher::new(SESSION_ALGORITHM).to_state(),
            parts: Vec::new(),
            created_at: issued_at,
            recorded: false,
        }))
    }

    /// Counts a session ended here; now and then also forgets expired ended ids, in the
    /// background (`prune_due`).
    pub(crate) fn count_ended_upload(&self) {
        if !prune_due(self.ended_uploads.fetch_add(1, std::sync::atomic::Ordering::Relaxed)) {
            return;
        }
        let index = self.index.clone();
        let expired = SystemTime::now().checked_sub(ISSUED_UPLOAD_LIFETIME);
        tokio::spawn(async move {
            match index.prune_ended_uploads(expired.unwrap_or(std::time::UNIX_EPOCH)).await {
                Ok(pruned) => tracing::debug!(pruned, "forgot expired ended upload ids"),
                Err(error) => tracing::warn!(%error, "could not forget expired ended upload ids"),
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn repo(name: &str) -> RepoName {
        name.parse().unwrap()
    }

    #[test]
    fn an_id_is_valid_for_its_repository_under_its_key_until_it_expires() {
        let (key, now) = (SigningKey::generate(), SystemTime::now());
        let id = issue(&key, &repo("team/filter"), now);
        assert_eq!(verify(&key, &repo("team/filter"), id, now), Some(millis(now) as i64));
        let almost_expired = now + ISSUED_UPLOAD_LIFETIME;
        assert!(verify(&key, &repo("team/filter"), id, almost_expired).is_some());
        assert_eq!(verify(&key, &repo("team/filter"), id, almost_expired + Duration::from_millis(1)), None);
        assert_eq!(verify(&key, &repo("team/other"), id, now), None, "bound to its repository");
        assert_eq!(verify(&SigningKey::generate(), &repo("team/filter"), id, now), None, "bound to the key");
        assert_eq!(verify(&key, &repo("team/filter"), UploadId::random(), now), None, "not issued");
    }

    #[test]
    fn one_ended_session_in_a_thousand_prunes() {
        assert_eq!((0..10_000).filter(|&n| prune_due(n)).count(), 10);
        assert!(!prune_due(0), "not the first: a process that ends few sessions has few to prune");
    }

    #[test]
    fn an_id_from_the_future_is_refused_beyond_the_clock_skew() {
        let (key, now) = (SigningKey::generate(), SystemTime::now());
        let ahead = issue(&key, &repo("a/b"), now + CLOCK_SKEW);
        assert!(verify(&key, &repo("a/b"), ahead, now).is_some());
        let too_far = issue(&key, &repo("a/b"), now + CLOCK_SKEW + Duration::from_secs(1));
        assert_eq!(verify(&key, &repo("a/b"), too_far, now), None);
    }

    #[test]
    fn a_changed_bit_anywhere_makes_an_id_unknown() {
        let (key, now) = (SigningKey::generate(), SystemTime::now());
        let id = issue(&key, &repo("a/b"), now).to_string();
        let hex_positions: Vec<usize> = id.char_indices().filter(|(_, c)| *c != '-').map(|(at, _)| at).collect();
        for at in hex_positions {
            let mut changed = id.clone().into_bytes();
            changed[at] = if changed[at] == b'0' { b'1' } else { b'0' };
            let changed: UploadId = String::from_utf8(changed).unwrap().parse().unwrap();
            assert_eq!(verify(&key, &repo("a/b"), changed, now), None, "digit {at} of {id}");
        }
    }
}
