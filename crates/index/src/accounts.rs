//! Users, organisations and their members, repository visibility, and the bearer-token
//! signing key.

use std::fmt;
use std::str::FromStr;

use sqlx::Row;
use wasmhub_oci::{Namespace, RepoName};

use crate::audit::{audit_in, AuditEntry};
use crate::{now_millis, Index, IndexError};

/// A member's role in an organisation. Ordered: each role can do what the ones before it can.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Role {
    Reader,
    Maintainer,
    Owner,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Reader => "reader",
            Role::Maintainer => "maintainer",
            Role::Owner => "owner",
        }
    }
}

impl FromStr for Role {
    type Err = IndexError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "reader" => Ok(Role::Reader),
            "maintainer" => Ok(Role::Maintainer),
            "owner" => Ok(Role::Owner),
            other => Err(IndexError::Corrupt(format!("role {other:?}"))),
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone)]
pub struct User {
    pub id: i64,
    pub name: Namespace,
    pub password_hash: String,
    pub is_admin: bool,
    pub disabled: bool,
    /// The generation of web sessions accepted for this user: signing out or a new password
    /// starts the next one, which ends every session issued before.
    pub session_generation: i64,
}

const USER_COLUMNS: &str = "id, name, password_hash, is_admin, disabled, session_generation";

fn user_from(row: &sqlx::any::AnyRow) -> Result<User, IndexError> {
    let name: String = row.try_get("name")?;
    Ok(User {
        id: row.try_get("id")?,
        name: name.parse().map_err(|_| IndexError::Corrupt(format!("user name {name:?}")))?,
        password_hash: row.try_get("password_hash")?,
        is_admin: row.try_get::<i64, _>("is_admin")? != 0,
        disabled: row.try_get::<i64, _>("disabled")? != 0,
        session_generation: row.try_get("session_generation")?,
    })
}

/// Whether a new organisation may take a namespace that already holds repositories (pushed by
/// an administrator, or while access control was off): its owner would own them all, so only
/// administrators and the command line may take one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OccupiedNamespace {
    Take,
    Refuse,
}

impl Index {
    async fn namespace_taken(&self, name: &Namespace) -> Result<bool, IndexError> {
        let row = sqlx::query(
            "SELECT 1 AS taken FROM users WHERE name = $1 UNION ALL SELECT 1 AS taken FROM organisations WHERE name = $1",
        )
        .bind(name.as_str())
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.is_some())
    }

    /// Creates a user; fails with `NameTaken` if a user or organisation already has the name
    /// (both own the namespace of their name).
    pub async fn create_user(
        &self,
        name: &Namespace,
        password_hash: &str,
        is_admin: bool,
        audit: &AuditEntry<'_>,
    ) -> Result<i64, IndexError> {
        let _guard = self.write_guard().await;
        if self.namespace_taken(name).await? {
            return Err(IndexError::NameTaken(name.to_string()));
        }
        let mut tx = self.begin_write().await?;
        let row = sqlx::query(
            "INSERT INTO users (name, password_hash, is_admin, created_at) VALUES ($1, $2, $3, $4) RETURNING id",
        )
        .bind(name.as_str())
        .bind(password_hash)
        .bind(i64::from(is_admin))
        .bind(now_millis())
        .fetch_one(&mut *tx)
        .await?;
        audit_in(&mut tx, audit).await?;
        tx.commit().await?;
        Ok(row.try_get("id")?)
    }

    pub async fn user(&self, name: &str) -> Result<Option<User>, IndexError> {
        let row = sqlx::query(&format!("SELECT {USER_COLUMNS} FROM users WHERE name = $1"))
            .bind(name)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(user_from).transpose()
    }

    pub async fn user_by_id(&self, id: i64) -> Result<Option<User>, IndexError> {
        let row = sqlx::query(&format!("SELECT {USER_COLUMNS} FROM users WHERE id = $1"))
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(user_from).transpose()
    }

    pub async fn users(&self) -> Result<Vec<User>, IndexError> {
        let rows =
            sqlx::query(&format!("SELECT {USER_COLUMNS} FROM users ORDER BY name")).fetch_all(&self.pool).await?;
        rows.iter().map(user_from).collect()
    }

    pub async fn count_users(&self) -> Result<i64, IndexError> {
        Ok(sqlx::query("SELECT COUNT(*) AS n FROM users").fetch_one(&self.pool).await?.try_get("n")?)
    }

    /// Ends every web session of user `id`, wherever it is (sign-out): later sessions belong
    /// to the next generation.
    pub async fn end_sessions(&self, id: i64) -> Result<(), IndexError> {
        let _guard = self.write_guard().await;
        sqlx::query("UPDATE users SET session_generation = session_generation + 1 WHERE id = $1")
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Sets a user's password, and ends their web sessions (signed in with the old one).
    pub async fn set_password(
        &self,
        name: &Namespace,
        password_hash: &str,
        audit: &AuditEntry<'_>,
    ) -> Result<bool, IndexError> {
        let change = sqlx::query(
            "UPDATE users SET password_hash = $1, session_generation = session_generation + 1 WHERE name = $2",
        )
        .bind(password_hash)
        .bind(name.as_str());
        Ok(self.execute_audited(change, audit).await? > 0)
    }

    pub async fn set_disabled(
        &self,
        name: &Namespace,
        disabled: bool,
        audit: &AuditEntry<'_>,
    ) -> Result<bool, IndexError> {
        // A user disabled and enabled again does not get back the sessions of before.
        let change =
            sqlx::query("UPDATE users SET disabled = $1, session_generation = session_generation + 1 WHERE name = $2")
                .bind(i64::from(disabled))
                .bind(name.as_str());
        Ok(self.execute_audited(change, audit).await? > 0)
    }

    /// Whether any repository lies in namespace `name` (`name` itself, or `name/...`).
    async fn namespace_holds_repositories(&self, name: &Namespace) -> Result<bool, IndexError> {
        let [low, high] = crate::names_under(name.as_str());
        let row =
            sqlx::query("SELECT 1 AS held FROM repositories WHERE name = $1 OR (name >= $2 AND name < $3) LIMIT 1")
                .bind(name.as_str())
                .bind(low)
                .bind(high)
                .fetch_optional(&self.pool)
                .await?;
        Ok(row.is_some())
    }

    /// Creates an organisation with `owner` as its first owner.
    pub async fn create_org(
        &self,
        name: &Namespace,
        owner: i64,
        occupied: OccupiedNamespace,
        audit: &AuditEntry<'_>,
    ) -> Result<(), IndexError> {
        let _guard = self.write_guard().await;
        if self.namespace_taken(name).await? {
            return Err(IndexError::NameTaken(name.to_string()));
        }
        if occupied == OccupiedNamespace::Refuse && self.namespace_holds_repositories(name).await? {
            return Err(IndexError::NamespaceHoldsRepositories(name.to_string()));
        }
        let mut tx = self.begin_write().await?;
        let org: i64 = sqlx::query("INSERT INTO organisations (name, created_at) VALUES ($1, $2) RETURNING id")
            .bind(name.as_str())
            .bind(now_millis())
            .fetch_one(&mut *tx)
            .await?
            .try_get("id")?;
        sqlx::query("INSERT INTO org_members (org_id, user_id, role) VALUES ($1, $2, 'owner')")
            .bind(org)
            .bind(owner)
            .execute(&mut *tx)
            .await?;
        audit_in(&mut tx, audit).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Sets (or with `None` removes) a member's role. Returns false if the organisation does
    /// not exist.
    pub async fn set_member(
        &self,
        org: &Namespace,
        user: i64,
        role: Option<Role>,
        audit: &AuditEntry<'_>,
    ) -> Result<bool, IndexError> {
        let _guard = self.write_guard().await;
        let Some(row) = sqlx::query("SELECT id FROM organisations WHERE name = $1")
            .bind(org.as_str())
            .fetch_optional(&self.pool)
            .await?
        else {
            return Ok(false);
        };
        let org_id: i64 = row.try_get("id")?;
        let mut tx = self.begin_write().await?;
        match role {
            Some(role) => {
                sqlx::query(
                    "INSERT INTO org_members (org_id, user_id, role) VALUES ($1, $2, $3)
                     ON CONFLICT (org_id, user_id) DO UPDATE SET role = excluded.role",
                )
                .bind(org_id)
                .bind(user)
                .bind(role.as_str())
                .execute(&mut *tx)
                .await?;
            }
            None => {
                sqlx::query("DELETE FROM org_members WHERE org_id = $1 AND user_id = $2")
                    .bind(org_id)
                    .bind(user)
                    .execute(&mut *tx)
                    .await?;
            }
        }
        audit_in(&mut tx, audit).await?;
        tx.commit().await?;
        Ok(true)
    }

    pub async fn org_exists(&self, org: &Namespace) -> Result<bool, IndexError> {
        let row = sqlx::query("SELECT id FROM organisations WHERE name = $1")
            .bind(org.as_str())
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.is_some())
    }

    /// The role `user` has on `namespace`: owner of its own name, else its organisation role.
    pub async fn namespace_role(&self, user: &User, namespace: &str) -> Result<Option<Role>, IndexError> {
        if user.name.as_str() == namespace {
            return Ok(Some(Role::Owner));
        }
        let row = sqlx::query(
            "SELECT m.role FROM org_members m JOIN organisations o ON o.id = m.org_id
             WHERE o.name = $1 AND m.user_id = $2",
        )
        .bind(namespace)
        .bind(user.id)
        .fetch_optional(&self.pool)
        .await?;
        row.map(|row| row.try_get::<String, _>("role")?.parse()).transpose()
    }

    /// Namespaces `user` may push to: its own and those of organisations where it maintains.
    pub async fn pushable_namespaces(&self, user: &User) -> Result<Vec<String>, IndexError> {
        let rows = sqlx::query(
            "SELECT o.name FROM org_members m JOIN organisations o ON o.id = m.org_id
             WHERE m.user_id = $1 AND m.role IN ('owner', 'maintainer') ORDER BY o.name",
        )
        .bind(user.id)
        .fetch_all(&self.pool)
        .await?;
        let mut names = vec![user.name.to_string()];
        for row in rows {
            names.push(row.try_get("name")?);
        }
        Ok(names)
    }

    /// `Some(private)` for an existing repository, `None` if it does not exist.
    pub async fn repository_private(&self, repository: &RepoName) -> Result<Option<bool>, IndexError> {
        let row = sqlx::query("SELECT private FROM repositories WHERE name = $1")
            .bind(repository.as_str())
            .fetch_optional(&self.pool)
            .await?;
        row.map(|row| Ok(row.try_get::<i64, _>("private")? != 0)).transpose()
    }

    pub async fn set_repository_private(
        &self,
        repository: &RepoName,
        private: bool,
        audit: &AuditEntry<'_>,
    ) -> Result<bool, IndexError> {
        let change = sqlx::query("UPDATE repositories SET private = $1 WHERE name = $2")
            .bind(i64::from(private))
            .bind(repository.as_str());
        Ok(self.execute_audited(change, audit).await? > 0)
    }

    /// The key bearer tokens are signed with, created by whichever replica asks first.
    pub async fn signing_key(&self, generate: impl FnOnce() -> Vec<u8>) -> Result<Vec<u8>, IndexError> {
        let select = || sqlx::query("SELECT secret FROM signing_keys WHERE id = 1");
        if let Some(row) = select().fetch_optional(&self.pool).await? {
            return Ok(row.try_get("secret")?);
        }
        {
            let _guard = self.write_guard().await;
            sqlx::query(
                "INSERT INTO signing_keys (id, secret, created_at) VALUES (1, $1, $2) ON CONFLICT (id) DO NOTHING",
            )
            .bind(generate())
            .bind(now_millis())
            .execute(&self.pool)
            .await?;
        }
        Ok(select().fetch_one(&self.pool).await?.try_get("secret")?)
    }
}
