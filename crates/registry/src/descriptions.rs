//! A repository's own description: read by whoever may pull it, written by whoever may push to
//! it (the same rule as changing its visibility).

use wasmhub_oci::RepoName;

use crate::{Action, Caller, Registry, RegistryError};

/// Longest description accepted, in characters (a paragraph, not a README: those are pushed
/// as artifacts).
pub const MAX_DESCRIPTION_CHARS: usize = 1_000;

impl Registry {
    /// The description set for `repository`, if any.
    pub async fn repository_description(
        &self,
        caller: &Caller,
        repository: &RepoName,
    ) -> Result<Option<String>, RegistryError> {
        self.authorize(caller, repository, Action::Pull).await?;
        self.index
            .repository_description(repository)
            .await?
            .ok_or_else(|| RegistryError::NameUnknown(repository.clone()))
    }

    /// Sets the description (trimmed; empty clears it). Control characters other than line
    /// breaks are refused rather than stored.
    pub async fn set_repository_description(
        &self,
        caller: &Caller,
        repository: &RepoName,
        description: &str,
    ) -> Result<(), RegistryError> {
        self.authorize(caller, repository, Action::Push).await?;
        let description = description.trim();
        if description.chars().count() > MAX_DESCRIPTION_CHARS {
            return Err(RegistryError::InvalidInput(format!(
                "a description is at most {MAX_DESCRIPTION_CHARS} characters"
            )));
        }
        if description.chars().any(|c| c.is_control() && c != '\n' && c != '\r') {
            return Err(RegistryError::InvalidInput("a description cannot hold control characters".into()));
        }
        let value = (!description.is_empty()).then_some(description);
        let actor = crate::actor_of(caller);
        let audit =
            crate::audit::entry(&actor, "repository.description", Some(repository.as_str()), repository.as_str(), None);
        self.index
            .set_repository_description(repository, value, &audit)
            .await?
            .then_some(())
            .ok_or_else(|| RegistryError::NameUnknown(repository.clone()))
    }
}
