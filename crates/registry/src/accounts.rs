//! Signing in and administering accounts: users, organisations, personal access tokens, and
//! repository visibility. Password checks (Argon2id, deliberately slow) run on the blocking
//! pool so they never stall request handling.

use std::sync::Arc;

use serde_json::json;
use wasmhub_auth::verified::VerifiedPasswords;
use wasmhub_auth::{password, PersonalAccessToken, TokenScope};
use wasmhub_index::{Actor, NewToken, OccupiedNamespace, Role, StoredToken, User};
use wasmhub_oci::{Namespace, RepoName};

use crate::access::{Limit, Principal};
use crate::audit::entry;
use crate::{Caller, Registry, RegistryError};

fn now_millis() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or(0)
}

/// How long a verified password is taken as verified again without Argon2
/// (`wasmhub_auth::verified`), and how many such verifications are remembered.
const VERIFIED_PASSWORD_TTL: std::time::Duration = std::time::Duration::from_secs(300);
const VERIFIED_PASSWORDS: usize = 10_000;

pub(crate) fn verified_passwords() -> VerifiedPasswords {
    VerifiedPasswords::new(VERIFIED_PASSWORD_TTL, VERIFIED_PASSWORDS)
}

async fn verify_password(verified: &Arc<VerifiedPasswords>, secret: &str, hash: Option<String>) -> bool {
    let now = std::time::Instant::now();
    if hash.as_deref().is_some_and(|hash| verified.contains(secret, hash, now)) {
        return true;
    }
    let (secret, verified) = (secret.to_owned(), verified.clone());
    tokio::task::spawn_blocking(move || match hash {
        Some(hash) => {
            let valid = password::verify(&secret, &hash);
            if valid {
                verified.insert(&secret, &hash, now);
            }
            valid
        }
        None => {
            password::verify_against_nothing(&secret);
            false
        }
    })
    .await
    .unwrap_or(false)
}

fn parse_scopes(text: &str) -> Vec<TokenScope> {
    text.split(',').filter_map(|scope| scope.parse().ok()).collect()
}

fn namespace(name: &str) -> Result<Namespace, RegistryError> {
    name.parse().map_err(|e: wasmhub_oci::NameError| RegistryError::InvalidInput(e.to_string()))
}

impl Registry {
    /// Checks a user name with a password or a personal access token (which clients send as
    /// the password). `None` for any failure, with no hint of which part was wrong, and in
    /// the same time whether or not the user exists.
    pub async fn authenticate(&self, name: &str, secret: &str) -> Result<Option<Principal>, RegistryError> {
        if let Ok(token) = secret.parse::<PersonalAccessToken>() {
            return self.authenticate_token(name, &token).await;
        }
        let user = self.index.user(name).await?;
        let hash = user.as_ref().map(|u| u.password_hash.clone());
        let valid = verify_password(&self.verified_passwords, secret, hash).await;
        Ok(user.filter(|user| valid && !user.disabled).map(|user| Principal { user, limit: Limit::Unlimited }))
    }

    async fn authenticate_token(
        &self,
        name: &str,
        token: &PersonalAccessToken,
    ) -> Result<Option<Principal>, RegistryError> {
        let Some(stored) = self.index.token(token.id()).await? else {
            return Ok(None);
        };
        let live = token.matches(&stored.secret_hash)
            && stored.revoked_at.is_none()
            && stored.expires_at.is_none_or(|expiry| expiry > now_millis());
        if !live {
            return Ok(None);
        }
        let Some(user) = self.index.user_by_id(stored.user_id).await? else {
            return Ok(None);
        };
        // Clients must send some user name with a token; its owner's name, or none at all.
        if user.disabled || !(name.is_empty() || name == user.name.as_str()) {
            return Ok(None);
        }
        self.index.touch_token(token.id()).await?;
        Ok(Some(Principal { user, limit: Limit::Scopes(parse_scopes(&stored.scopes)) }))
    }

    /// The user a bearer token was issued to, limited to the token's grants.
    pub async fn principal_for_bearer(
        &self,
        subject: &str,
        grants: Vec<wasmhub_auth::Access>,
    ) -> Result<Option<Principal>, RegistryError> {
        let Some(user) = self.index.user(subject).await? else {
            return Ok(None);
        };
        Ok((!user.disabled).then_some(Principal { user, limit: Limit::Grants(grants) }))
    }

    /// On an empty database, creates the first administrator. Returns the password when it
    /// was generated (to be shown once), `None` when nothing was done or it was given.
    pub async fn bootstrap_admin(&self, name: &str, password: Option<&str>) -> Result<Option<String>, RegistryError> {
        if self.index.count_users().await? > 0 {
            return Ok(None);
        }
        let generated = password.is_none().then(|| PersonalAccessToken::generate().to_string()[18..].to_owned());
        let chosen = password.map(str::to_owned).or(generated.clone()).expect("one of them is set");
        // Audited as the registry's own act: nobody has signed in yet.
        self.create_user(&namespace(name)?, &chosen, true, &Actor::system()).await?;
        Ok(generated)
    }

    /// The account changes below are audited as `actor`'s, in their own transactions.
    pub async fn create_user(
        &self,
        name: &Namespace,
        password: &str,
        admin: bool,
        actor: &Actor,
    ) -> Result<(), RegistryError> {
        if password.len() < 8 {
            return Err(RegistryError::InvalidInput("passwords must be at least 8 characters".into()));
        }
        let password = password.to_owned();
        let hash =
            tokio::task::spawn_blocking(move || password::hash(&password)).await.expect("hashing does not panic");
        let audit = entry(actor, "user.create", None, name.as_str(), Some(json!({ "admin": admin })));
        self.index.create_user(name, &hash, admin, &audit).await?;
        Ok(())
    }

    pub async fn set_password(&self, name: &Namespace, password: &str, actor: &Actor) -> Result<(), RegistryError> {
        if password.len() < 8 {
            return Err(RegistryError::InvalidInput("passwords must be at least 8 characters".into()));
        }
        let password = password.to_owned();
        let hash =
            tokio::task::spawn_blocking(move || password::hash(&password)).await.expect("hashing does not panic");
        let audit = entry(actor, "user.password", None, name.as_str(), None);
        self.index.set_password(name, &hash, &audit).await?.then_some(()).ok_or_else(|| self.no_such_user(name))
    }

    pub async fn set_user_disabled(
        &self,
        name: &Namespace,
        disabled: bool,
        actor: &Actor,
    ) -> Result<(), RegistryError> {
        let action = if disabled { "user.disable" } else { "user.enable" };
        let audit = entry(actor, action, None, name.as_str(), None);
        self.index.set_disabled(name, disabled, &audit).await?.then_some(()).ok_or_else(|| self.no_such_user(name))
    }

    fn no_such_user(&self, name: &Namespace) -> RegistryError {
        RegistryError::InvalidInput(format!("no user named {name}"))
    }

    pub async fn user(&self, name: &Namespace) -> Result<User, RegistryError> {
        self.index.user(name.as_str()).await?.ok_or_else(|| self.no_such_user(name))
    }

    pub async fn users(&self) -> Result<Vec<User>, RegistryError> {
        Ok(self.index.users().await?)
    }

    /// Creates organisation `name` owned by `owner`; `occupied` says whether it may take a
    /// namespace that already holds repositories (the caller's decision: administrators may).
    pub async fn create_org(
        &self,
        name: &Namespace,
        owner: &Namespace,
        occupied: OccupiedNamespace,
        actor: &Actor,
    ) -> Result<(), RegistryError> {
        let audit = entry(actor, "org.create", None, name.as_str(), Some(json!({ "owner": owner.as_str() })));
        let owner = self.user(owner).await?;
        Ok(self.index.create_org(name, owner.id, occupied, &audit).await?)
    }

    /// Sets a member's role (`None` removes the member).
    pub async fn set_org_member(
        &self,
        org: &Namespace,
        user: &Namespace,
        role: Option<Role>,
        actor: &Actor,
    ) -> Result<(), RegistryError> {
        let target = format!("{org}/{user}");
        let audit = entry(actor, "org.member", None, &target, Some(json!({ "role": role.map(Role::as_str) })));
        let user = self.user(user).await?;
        self.index
            .set_member(org, user.id, role, &audit)
            .await?
            .then_some(())
            .ok_or_else(|| RegistryError::InvalidInput(format!("no organisation named {org}")))
    }

    /// May `caller` administer organisation `org` (its owners, and administrators)?
    pub async fn may_admin_org(&self, caller: &Caller, org: &Namespace) -> Result<bool, RegistryError> {
        match caller {
            Caller::Open => Ok(true),
            Caller::Anonymous => Ok(false),
            Caller::User(principal) if !principal.limit.allows_admin() => Ok(false),
            Caller::User(principal) if principal.user.is_admin => Ok(true),
            Caller::User(principal) => {
                Ok(self.index.namespace_role(&principal.user, org.as_str()).await? == Some(Role::Owner))
            }
        }
    }

    /// Creates a personal access token; the returned string is shown once and never again.
    pub async fn create_token(
        &self,
        user: &User,
        name: &str,
        scopes: &[TokenScope],
        expires_at_millis: Option<i64>,
        actor: &Actor,
    ) -> Result<(PersonalAccessToken, StoredToken), RegistryError> {
        if name.is_empty() || name.len() > 100 || name.chars().any(char::is_control) {
            return Err(RegistryError::InvalidInput("a token name is 1 to 100 printable characters".into()));
        }
        if scopes.is_empty() {
            return Err(RegistryError::InvalidInput("a token needs at least one scope: pull, push or admin".into()));
        }
        let token = PersonalAccessToken::generate();
        let scopes = scopes.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(",");
        let detail = json!({ "user": user.name.as_str(), "name": name, "scopes": scopes });
        let audit = entry(actor, "token.create", None, token.id(), Some(detail));
        let secret_hash = token.secret_hash();
        let new = NewToken {
            id: token.id(),
            user_id: user.id,
            name,
            secret_hash: &secret_hash,
            scopes: &scopes,
            expires_at: expires_at_millis,
        };
        self.index.create_token(&new, &audit).await?;
        let stored = self.index.token(token.id()).await?.expect("just created");
        Ok((token, stored))
    }

    pub async fn tokens_of(&self, user: &User) -> Result<Vec<StoredToken>, RegistryError> {
        Ok(self.index.tokens_of(user.id).await?)
    }

    /// Revokes a token; `owner` restricts it to that user's tokens.
    pub async fn revoke_token(&self, id: &str, owner: Option<&User>, actor: &Actor) -> Result<(), RegistryError> {
        let audit = entry(actor, "token.revoke", None, id, None);
        self.index
            .revoke_token(id, owner.map(|u| u.id), &audit)
            .await?
            .then_some(())
            .ok_or_else(|| RegistryError::InvalidInput(format!("no live token with id {id}")))
    }

    /// Makes a repository public or private; only those who may push to it may.
    pub async fn set_visibility(
        &self,
        caller: &Caller,
        repository: &RepoName,
        private: bool,
    ) -> Result<(), RegistryError> {
        self.authorize(caller, repository, crate::Action::Push).await?;
        let action = if private { "repository.private" } else { "repository.public" };
        let actor = crate::actor_of(caller);
        let audit = entry(&actor, action, Some(repository.as_str()), repository.as_str(), None);
        if !self.index.set_repository_private(repository, private, &audit).await? {
            return Err(RegistryError::NameUnknown(repository.clone()));
        }
        Ok(())
    }

    /// The key bearer tokens are signed with, shared by replicas through the index.
    pub async fn signing_key(&self) -> Result<wasmhub_auth::SigningKey, RegistryError> {
        let bytes = self.index.signing_key(|| wasmhub_auth::SigningKey::generate().as_bytes().to_vec()).await?;
        Ok(wasmhub_auth::SigningKey::from_bytes(bytes))
    }
}
