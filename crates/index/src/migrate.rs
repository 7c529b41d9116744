//! Numbered schema migrations, embedded in the binary and applied in order at start-up and by
//! `wasmhub migrate`. Each runs in its own transaction; on PostgreSQL a session advisory lock
//! keeps replicas that start together from applying the same migration twice.

use sqlx::Row;

use crate::{now_millis, Backend, Index, IndexError};

struct Migration {
    version: i64,
    name: &'static str,
    sqlite: &'static str,
    postgres: &'static str,
}

const MIGRATIONS: &[Migration] = &[
    Migration {
        version: 1,
        name: "registry",
        sqlite: include_str!("../../../migrations/sqlite/0001_registry.sql"),
        postgres: include_str!("../../../migrations/postgres/0001_registry.sql"),
    },
    Migration {
        version: 2,
        name: "wasm",
        sqlite: include_str!("../../../migrations/sqlite/0002_wasm.sql"),
        postgres: include_str!("../../../migrations/postgres/0002_wasm.sql"),
    },
    Migration {
        version: 3,
        name: "accounts",
        sqlite: include_str!("../../../migrations/sqlite/0003_accounts.sql"),
        postgres: include_str!("../../../migrations/postgres/0003_accounts.sql"),
    },
    Migration {
        version: 4,
        name: "gc",
        sqlite: include_str!("../../../migrations/sqlite/0004_gc.sql"),
        postgres: include_str!("../../../migrations/postgres/0004_gc.sql"),
    },
    Migration {
        version: 5,
        name: "search",
        sqlite: include_str!("../../../migrations/sqlite/0005_search.sql"),
        postgres: include_str!("../../../migrations/postgres/0005_search.sql"),
    },
    Migration {
        version: 6,
        name: "events",
        sqlite: include_str!("../../../migrations/sqlite/0006_events.sql"),
        postgres: include_str!("../../../migrations/postgres/0006_events.sql"),
    },
    Migration {
        version: 7,
        name: "retention",
        sqlite: include_str!("../../../migrations/sqlite/0007_retention.sql"),
        postgres: include_str!("../../../migrations/postgres/0007_retention.sql"),
    },
    Migration {
        version: 8,
        name: "repository_descriptions",
        sqlite: include_str!("../../../migrations/sqlite/0008_repository_descriptions.sql"),
        postgres: include_str!("../../../migrations/postgres/0008_repository_descriptions.sql"),
    },
    Migration {
        version: 9,
        name: "pulls",
        sqlite: include_str!("../../../migrations/sqlite/0009_pulls.sql"),
        postgres: include_str!("../../../migrations/postgres/0009_pulls.sql"),
    },
    Migration {
        version: 10,
        name: "search_words",
        sqlite: include_str!("../../../migrations/sqlite/0010_search_words.sql"),
        postgres: include_str!("../../../migrations/postgres/0010_search_words.sql"),
    },
    Migration {
        version: 11,
        name: "session_revocation",
        sqlite: include_str!("../../../migrations/sqlite/0011_session_revocation.sql"),
        postgres: include_str!("../../../migrations/postgres/0011_session_revocation.sql"),
    },
    Migration {
        version: 12,
        name: "ended_uploads",
        sqlite: include_str!("../../../migrations/sqlite/0012_ended_uploads.sql"),
        postgres: include_str!("../../../migrations/postgres/0012_ended_uploads.sql"),
    },
    Migration {
        version: 13,
        name: "search_write_costs",
        sqlite: include_str!("../../../migrations/sqlite/0013_search_write_costs.sql"),
        postgres: include_str!("../../../migrations/postgres/0013_search_write_costs.sql"),
    },
    Migration {
        version: 14,
        name: "search_term_statements",
        sqlite: include_str!("../../../migrations/sqlite/0014_search_term_statements.sql"),
        postgres: include_str!("../../../migrations/postgres/0014_search_term_statements.sql"),
    },
];

/// Arbitrary constant naming wasmhub's migration lock among PostgreSQL advisory locks.
const MIGRATION_LOCK: i64 = 0x0077_6173_6d68_7562; // "wasmhub" in ASCII

impl Index {
    /// Applies the migrations this database has not seen; returns how many were applied.
    pub async fn migrate(&self) -> Result<usize, IndexError> {
        let _guard = self.write_guard().await;
        let mut conn = self.pool.acquire().await?;
        if self.backend() == Backend::Postgres {
            // Held for the whole run, creation of the bookkeeping table included: replicas
            // starting together on an empty database would otherwise race on it.
            sqlx::query("SELECT pg_advisory_lock($1)").bind(MIGRATION_LOCK).execute(&mut *conn).await?;
        }
        let outcome = self.apply_pending(&mut conn).await;
        if self.backend() == Backend::Postgres {
            sqlx::query("SELECT pg_advisory_unlock($1)").bind(MIGRATION_LOCK).execute(&mut *conn).await?;
        }
        outcome
    }

    async fn apply_pending(&self, conn: &mut sqlx::AnyConnection) -> Result<usize, IndexError> {
        sqlx::query(
            "CREATE TABLE IF NOT EXISTS wasmhub_migrations (
                version BIGINT PRIMARY KEY, name TEXT NOT NULL, applied_at BIGINT NOT NULL)",
        )
        .execute(&mut *conn)
        .await?;
        let mut applied = 0;
        for migration in MIGRATIONS {
            let done: i64 = sqlx::query("SELECT COUNT(*) AS n FROM wasmhub_migrations WHERE version = $1")
                .bind(migration.version)
                .fetch_one(&mut *conn)
                .await?
                .try_get("n")?;
            if done > 0 {
                continue;
            }
            let sql = match self.backend() {
                Backend::Sqlite => migration.sqlite,
                Backend::Postgres => migration.postgres,
            };
            let mut tx = sqlx::Connection::begin(&mut *conn).await?;
            sqlx::raw_sql(sql).execute(&mut *tx).await?;
            sqlx::query("INSERT INTO wasmhub_migrations (version, name, applied_at) VALUES ($1, $2, $3)")
                .bind(migration.version)
                .bind(migration.name)
                .bind(now_millis())
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
            tracing::info!(version = migration.version, name = migration.name, "applied migration");
            applied += 1;
        }
        Ok(applied)
    }
}
