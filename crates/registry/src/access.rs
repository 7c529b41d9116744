//! Who is asking, and what they may do.
//!
//! A user owns the namespace of its name; organisation members act on the organisation's
//! namespace by role (owner and maintainer push, reader pulls); administrators do anything.
//! Public repositories can be pulled by anyone (anonymously when the operator allows it);
//! private ones only by those with a role, and to everyone else they do not exist. What a
//! credential may do is further limited by its scopes (personal access tokens) or by the
//! grants of the bearer token it came with.

use wasmhub_auth::{Access, TokenScope};
use wasmhub_index::{Role, User};
use wasmhub_oci::RepoName;

use crate::{Registry, RegistryError};

#[derive(Debug, Clone)]
pub enum Caller {
    /// The registry runs without access control (`WASMHUB_AUTH=none`).
    Open,
    Anonymous,
    User(Principal),
}

/// An authenticated user, and what the credential it used is limited to.
#[derive(Debug, Clone)]
pub struct Principal {
    pub user: User,
    pub limit: Limit,
}

#[derive(Debug, Clone)]
pub enum Limit {
    /// A password: everything the user may do.
    Unlimited,
    /// A personal access token's scopes.
    Scopes(Vec<TokenScope>),
    /// A bearer token's `access` grants.
    Grants(Vec<Access>),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Pull,
    Push,
    Delete,
}

impl Action {
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Pull => "pull",
            Action::Push => "push",
            Action::Delete => "delete",
        }
    }
}

/// The operator's choices about access.
#[derive(Debug, Clone, Copy)]
pub struct AccessPolicy {
    /// False runs the registry open (a local sandbox).
    pub enforce: bool,
    /// Whether callers without credentials may pull public repositories.
    pub anonymous_pull: bool,
}

impl AccessPolicy {
    pub const OPEN: AccessPolicy = AccessPolicy { enforce: false, anonymous_pull: true };
    pub const ENFORCED: AccessPolicy = AccessPolicy { enforce: true, anonymous_pull: true };
}

impl Limit {
    fn allows(&self, repository: &RepoName, action: Action) -> bool {
        match self {
            Limit::Unlimited => true,
            Limit::Scopes(scopes) => match action {
                Action::Pull => !scopes.is_empty(),
                Action::Push | Action::Delete => {
                    scopes.iter().any(|s| matches!(s, TokenScope::Push | TokenScope::Admin))
                }
            },
            Limit::Grants(grants) => grants.iter().any(|grant| {
                grant.kind == "repository"
                    && grant.name == repository.as_str()
                    && grant.actions.iter().any(|granted| granted == action.as_str() || granted == "*")
            }),
        }
    }

    /// Whether this credential may use the administration API.
    pub fn allows_admin(&self) -> bool {
        match self {
            Limit::Unlimited => true,
            Limit::Scopes(scopes) => scopes.contains(&TokenScope::Admin),
            Limit::Grants(_) => false,
        }
    }
}

impl Registry {
    /// The role `caller` holds on `repository`'s namespace (administrators own everything).
    pub(crate) async fn role(&self, user: &User, repository: &RepoName) -> Result<Option<Role>, RegistryError> {
        if user.is_admin {
            return Ok(Some(Role::Owner));
        }
        Ok(self.index.namespace_role(user, repository.namespace()).await?)
    }

    /// Decides whether `caller` may do `action` on `repository`; see the module documentation.
    pub(crate) async fn authorize(
        &self,
        caller: &Caller,
        repository: &RepoName,
        action: Action,
    ) -> Result<(), RegistryError> {
        let principal = match caller {
            _ if !self.policy.enforce => return Ok(()),
            Caller::Open => return Ok(()),
            Caller::Anonymous => None,
            Caller::User(principal) => Some(principal),
        };
        let private = self.index.repository_private(repository).await?;
        let role = match principal {
            Some(principal) => self.role(&principal.user, repository).await?,
            None => None,
        };
        let permitted = match action {
            Action::Pull => {
                role.is_some() || (private == Some(false) && (principal.is_some() || self.policy.anonymous_pull))
            }
            Action::Push | Action::Delete => role.is_some_and(|role| role >= Role::Maintainer),
        };
        let limit = principal.map(|p| &p.limit);
        if permitted && limit.is_none_or(|limit| limit.allows(repository, action)) {
            return Ok(());
        }
        let unauthorized = || RegistryError::Unauthorized { repository: Some(repository.clone()), action };
        match (principal, action) {
            (None, _) => Err(unauthorized()),
            // A bearer token without this grant, for a caller who could have it: 403 with a
            // challenge, so that clients fetch a token for this scope (the oras SDKs refresh
            // their token on 403 only; Docker clients ask for the scopes they need up front).
            (Some(Principal { limit: Limit::Grants(_), .. }), _) if permitted => Err(RegistryError::Denied(format!(
                "insufficient scope: the bearer token does not grant {} on {repository}",
                action.as_str()
            ))),
            // Private repositories do not exist for those who may not see them.
            (Some(_), Action::Pull) => Err(RegistryError::NameUnknown(repository.clone())),
            // The same answer for a private repository as for one that does not exist (or a
            // public one): a different one would tell that it exists.
            (Some(principal), _) if !permitted => {
                let namespaces = self.index.pushable_namespaces(&principal.user).await?;
                Err(RegistryError::Denied(format!(
                    "{} may not {} to {repository}; it may push to the namespaces: {}",
                    principal.user.name,
                    action.as_str(),
                    namespaces.join(", ")
                )))
            }
            (Some(_), _) => Err(RegistryError::Denied(format!(
                "the credential used does not grant {} on {repository}",
                action.as_str()
            ))),
        }
    }

    /// Whether `caller` may read `repository`, for filtering listings and mount sources.
    pub(crate) async fn may_pull(&self, caller: &Caller, repository: &RepoName) -> bool {
        self.authorize(caller, repository, Action::Pull).await.is_ok()
    }

    /// The subset of `wanted` actions `caller` may do on `repository`: how `/token` reduces
    /// the scopes a client asks for to those it is granted.
    pub async fn granted_actions(&self, caller: &Caller, repository: &RepoName, wanted: &[String]) -> Vec<String> {
        let mut granted = Vec::new();
        for action in wanted {
            let checked = match action.as_str() {
                "pull" => Some(Action::Pull),
                "push" => Some(Action::Push),
                "delete" | "*" => Some(Action::Delete),
                _ => None,
            };
            if let Some(checked) = checked {
                if self.authorize(caller, repository, checked).await.is_ok() {
                    granted.push(action.clone());
                }
            }
        }
        granted
    }
}
