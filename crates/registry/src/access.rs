//! Who is asking, and what they may do. Every workflow takes the caller, so that access
//! control (accounts, private repositories) slots in here without touching the workflows.

use wasmhub_oci::RepoName;

use crate::{Registry, RegistryError};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Caller {
    Anonymous,
    User(String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Pull,
    Push,
    Delete,
}

impl Registry {
    /// Decides whether `caller` may do `action` on `repository`. Until accounts exist every
    /// caller may do everything (the registry runs open, as `WASMHUB_AUTH=none` will).
    pub(crate) async fn authorize(
        &self,
        caller: &Caller,
        repository: &RepoName,
        action: Action,
    ) -> Result<(), RegistryError> {
        tracing::trace!(?caller, %repository, ?action, "authorized");
        Ok(())
    }

    /// Whether `caller` may read `repository`, for filtering candidates (mount sources).
    pub(crate) async fn may_pull(&self, caller: &Caller, repository: &RepoName) -> bool {
        self.authorize(caller, repository, Action::Pull).await.is_ok()
    }
}
