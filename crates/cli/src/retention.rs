//! `wasmhub retention set|list|remove` and `wasmhub immutable set|unset|list`: policies and
//! immutable repositories live in the database, so every replica and every `wasmhub gc` run
//! sees the same ones without a restart.

use std::time::Duration;

use anyhow::Context;
use clap::Subcommand;
use wasmhub_registry::oci::RepoName;
use wasmhub_registry::{RepoPattern, RetentionPolicy, TagGlob};

use crate::config::DatabaseArgs;

fn duration(text: &str) -> Result<Duration, String> {
    humantime::parse_duration(text).map_err(|error| format!("{error} (e.g. 30s, 15m, 1h, 7d)"))
}

#[derive(Debug, Subcommand)]
pub enum RetentionCommand {
    /// Create or replace the policy for a repository (`org/app`), every repository under a
    /// prefix (`org/*`), or all (`*`); the most specific pattern governs a repository.
    Set {
        #[command(flatten)]
        database: DatabaseArgs,
        /// `name`, `prefix/*` or `*`.
        pattern: RepoPattern,
        /// Keep the N most recently pushed tags that are not protected; delete older ones.
        #[arg(long, value_parser = clap::value_parser!(u32).range(0..=1_000_000))]
        keep_last: Option<u32>,
        /// Delete manifests no tag names once they are older than this (e.g. 30d).
        #[arg(long, value_parser = duration)]
        untagged_older_than: Option<Duration>,
        /// Never delete tags matching this glob (`*`, `?`), e.g. 'v*.*.*'; repeatable.
        #[arg(long = "protect")]
        protect: Vec<TagGlob>,
    },
    /// Show every policy.
    List {
        #[command(flatten)]
        database: DatabaseArgs,
    },
    /// Remove the policy stored under exactly this pattern.
    Remove {
        #[command(flatten)]
        database: DatabaseArgs,
        pattern: RepoPattern,
    },
}

#[derive(Debug, Subcommand)]
pub enum ImmutableCommand {
    /// Make a repository's tags immutable: an existing tag cannot be pushed to another
    /// digest or deleted (DENIED). Works before the repository's first push.
    Set {
        #[command(flatten)]
        database: DatabaseArgs,
        repository: RepoName,
    },
    /// Make a repository's tags mutable again.
    Unset {
        #[command(flatten)]
        database: DatabaseArgs,
        repository: RepoName,
    },
    /// List repositories with immutable tags.
    List {
        #[command(flatten)]
        database: DatabaseArgs,
    },
}

pub async fn retention(command: RetentionCommand) -> anyhow::Result<()> {
    match command {
        RetentionCommand::Set { database, pattern, keep_last, untagged_older_than, protect } => {
            if keep_last.is_none() && untagged_older_than.is_none() {
                anyhow::bail!("a policy needs --keep-last, --untagged-older-than, or both");
            }
            let index = crate::open_index(&database.database_url).await?;
            let policy = RetentionPolicy { pattern, keep_last, untagged_older_than, protect };
            index.set_retention_policy(&policy.to_stored()).await.context("storing the policy")?;
            index.close().await;
            println!("{}", describe(&policy));
        }
        RetentionCommand::List { database } => {
            let index = crate::open_index(&database.database_url).await?;
            let stored = index.retention_policies().await?;
            index.close().await;
            for row in &stored {
                let policy = RetentionPolicy::from_stored(row).map_err(anyhow::Error::msg)?;
                println!("{}", describe(&policy));
            }
        }
        RetentionCommand::Remove { database, pattern } => {
            let index = crate::open_index(&database.database_url).await?;
            let removed = index.remove_retention_policy(&pattern.to_string()).await?;
            index.close().await;
            if !removed {
                anyhow::bail!("no policy is stored under {pattern}");
            }
            println!("removed the policy for {pattern}");
        }
    }
    Ok(())
}

pub async fn immutable(command: ImmutableCommand) -> anyhow::Result<()> {
    match command {
        ImmutableCommand::Set { database, repository } => {
            let index = crate::open_index(&database.database_url).await?;
            index.set_immutable(&repository, true).await?;
            index.close().await;
            println!("tags of {repository} are immutable");
        }
        ImmutableCommand::Unset { database, repository } => {
            let index = crate::open_index(&database.database_url).await?;
            index.set_immutable(&repository, false).await?;
            index.close().await;
            println!("tags of {repository} are mutable");
        }
        ImmutableCommand::List { database } => {
            let index = crate::open_index(&database.database_url).await?;
            for name in index.immutable_repositories().await? {
                println!("{name}");
            }
            index.close().await;
        }
    }
    Ok(())
}

/// One line per policy, in the shape `set` takes.
fn describe(policy: &RetentionPolicy) -> String {
    let mut line = format!("{}", policy.pattern);
    if let Some(n) = policy.keep_last {
        line.push_str(&format!(" --keep-last {n}"));
    }
    if let Some(age) = policy.untagged_older_than {
        line.push_str(&format!(" --untagged-older-than {}", humantime::format_duration(age)));
    }
    for glob in &policy.protect {
        line.push_str(&format!(" --protect '{glob}'"));
    }
    line
}
