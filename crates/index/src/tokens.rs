//! Personal access tokens: the index keeps the id, a hash of the secret, scopes and expiry.

use sqlx::Row;

use crate::audit::{audit_in, AuditEntry};
use crate::{now_millis, Index, IndexError};

#[derive(Debug, Clone)]
pub struct StoredToken {
    pub id: String,
    pub user_id: i64,
    pub name: String,
    pub secret_hash: String,
    /// Comma-separated `pull`, `push`, `admin`.
    pub scopes: String,
    pub expires_at: Option<i64>,
    pub revoked_at: Option<i64>,
    pub last_used_at: Option<i64>,
    pub created_at: i64,
}

fn token_from(row: &sqlx::any::AnyRow) -> Result<StoredToken, IndexError> {
    Ok(StoredToken {
        id: row.try_get("id")?,
        user_id: row.try_get("user_id")?,
        name: row.try_get("name")?,
        secret_hash: row.try_get("secret_hash")?,
        scopes: row.try_get("scopes")?,
        expires_at: row.try_get("expires_at")?,
        revoked_at: row.try_get("revoked_at")?,
        last_used_at: row.try_get("last_used_at")?,
        created_at: row.try_get("created_at")?,
    })
}

const COLUMNS: &str = "id, user_id, name, secret_hash, scopes, expires_at, revoked_at, last_used_at, created_at";

/// A personal access token to store: its secret only as a hash.
#[derive(Debug, Clone, Copy)]
pub struct NewToken<'a> {
    pub id: &'a str,
    pub user_id: i64,
    pub name: &'a str,
    pub secret_hash: &'a str,
    /// Comma-separated.
    pub scopes: &'a str,
    /// Milliseconds since the epoch.
    pub expires_at: Option<i64>,
}

impl Index {
    pub async fn create_token(&self, token: &NewToken<'_>, audit: &AuditEntry<'_>) -> Result<(), IndexError> {
        let _guard = self.write_guard().await;
        let mut tx = self.begin_write().await?;
        sqlx::query(
            "INSERT INTO access_tokens (id, user_id, name, secret_hash, scopes, expires_at, created_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(token.id)
        .bind(token.user_id)
        .bind(token.name)
        .bind(token.secret_hash)
        .bind(token.scopes)
        .bind(token.expires_at)
        .bind(now_millis())
        .execute(&mut *tx)
        .await?;
        audit_in(&mut tx, audit).await?;
        tx.commit().await?;
        Ok(())
    }

    pub async fn token(&self, id: &str) -> Result<Option<StoredToken>, IndexError> {
        let row = sqlx::query(&format!("SELECT {COLUMNS} FROM access_tokens WHERE id = $1"))
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(token_from).transpose()
    }

    pub async fn tokens_of(&self, user_id: i64) -> Result<Vec<StoredToken>, IndexError> {
        let rows = sqlx::query(&format!("SELECT {COLUMNS} FROM access_tokens WHERE user_id = $1 ORDER BY created_at"))
            .bind(user_id)
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(token_from).collect()
    }

    /// Revokes a token (of `user_id`, when given). Returns whether a live token was revoked.
    pub async fn revoke_token(
        &self,
        id: &str,
        user_id: Option<i64>,
        audit: &AuditEntry<'_>,
    ) -> Result<bool, IndexError> {
        let change = sqlx::query(
            "UPDATE access_tokens SET revoked_at = $1
             WHERE id = $2 AND revoked_at IS NULL AND ($3 = -1 OR user_id = $3)",
        )
        .bind(now_millis())
        .bind(id)
        .bind(user_id.unwrap_or(-1));
        Ok(self.execute_audited(change, audit).await? > 0)
    }

    /// Records use, at most once a minute per token (a write per request would be wasteful).
    pub async fn touch_token(&self, id: &str) -> Result<(), IndexError> {
        let now = now_millis();
        let _guard = self.write_guard().await;
        sqlx::query(
            "UPDATE access_tokens SET last_used_at = $1 WHERE id = $2 AND (last_used_at IS NULL OR last_used_at < $3)",
        )
        .bind(now)
        .bind(id)
        .bind(now - 60_000)
        .execute(&self.pool)
        .await?;
        Ok(())
    }
}
