//! `wasmhub user|org|token|visibility`: administration from the command line, straight on the
//! index (the same workflows the JSON API uses).

use std::io::Read;

use anyhow::{bail, Context};
use wasmhub_index::{Actor, OccupiedNamespace, Role};
use wasmhub_oci::{Namespace, RepoName};
use wasmhub_registry::{Caller, Registry};

use crate::config::{OrgCommand, TokenCommand, UserCommand};

pub(crate) async fn registry(database_url: &str) -> anyhow::Result<Registry> {
    let index = crate::open_index(database_url).await?;
    // Administration needs no blob storage; a throwaway directory satisfies the type.
    let scratch = std::env::temp_dir().join("wasmhub-admin-unused");
    let storage = wasmhub_storage::BlobStore::open(&wasmhub_storage::StorageLocation::LocalDirectory(scratch)).await?;
    Ok(Registry::new(index, storage, Default::default()))
}

fn name(text: &str) -> anyhow::Result<Namespace> {
    text.parse().with_context(|| format!("{text:?}"))
}

fn password(given: Option<String>) -> anyhow::Result<String> {
    if let Some(password) = given {
        return Ok(password);
    }
    let mut input = String::new();
    std::io::stdin().read_to_string(&mut input).context("reading the password from stdin")?;
    Ok(input.trim_end_matches(['\r', '\n']).to_owned())
}

pub async fn user(command: UserCommand) -> anyhow::Result<()> {
    match command {
        UserCommand::Add { database, name: user, password: given, admin } => {
            let registry = registry(&database.database_url).await?;
            registry.create_user(&name(&user)?, &password(given)?, admin, &Actor::cli()).await?;
            println!("created user {user}{}", if admin { " (administrator)" } else { "" });
        }
        UserCommand::Passwd { database, name: user, password: given } => {
            let registry = registry(&database.database_url).await?;
            registry.set_password(&name(&user)?, &password(given)?, &Actor::cli()).await?;
            println!("password of {user} changed");
        }
        UserCommand::Disable { database, name: user, enable } => {
            let registry = registry(&database.database_url).await?;
            registry.set_user_disabled(&name(&user)?, !enable, &Actor::cli()).await?;
            println!("{user} {}", if enable { "enabled" } else { "disabled" });
        }
        UserCommand::List { database } => {
            for user in registry(&database.database_url).await?.users().await? {
                let flags = [(user.is_admin, "admin"), (user.disabled, "disabled")];
                let flags: Vec<&str> = flags.iter().filter(|(on, _)| *on).map(|(_, f)| *f).collect();
                println!("{}\t{}", user.name, flags.join(","));
            }
        }
    }
    Ok(())
}

pub async fn org(command: OrgCommand) -> anyhow::Result<()> {
    match command {
        OrgCommand::Add { database, name: org, owner } => {
            let registry = registry(&database.database_url).await?;
            // The operator may hand a namespace's existing repositories to a new organisation.
            registry.create_org(&name(&org)?, &name(&owner)?, OccupiedNamespace::Take, &Actor::cli()).await?;
            println!("created organisation {org}, owned by {owner}");
        }
        OrgCommand::Member { database, org, user, role, remove } => {
            let role = match (remove, role.as_deref()) {
                (true, _) => None,
                (false, Some("owner")) => Some(Role::Owner),
                (false, Some("maintainer")) => Some(Role::Maintainer),
                (false, Some("reader")) => Some(Role::Reader),
                _ => bail!("give --role owner|maintainer|reader, or --remove"),
            };
            let registry = registry(&database.database_url).await?;
            registry.set_org_member(&name(&org)?, &name(&user)?, role, &Actor::cli()).await?;
            match role {
                Some(role) => println!("{user} is now {role} of {org}"),
                None => println!("{user} removed from {org}"),
            }
        }
    }
    Ok(())
}

pub async fn token(command: TokenCommand) -> anyhow::Result<()> {
    match command {
        TokenCommand::Create { database, user, name: label, scopes, expires_in_days } => {
            let registry = registry(&database.database_url).await?;
            let owner = registry.user(&name(&user)?).await?;
            let scopes = scopes.split(',').map(str::parse).collect::<Result<Vec<_>, _>>()?;
            let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH)?.as_millis() as i64;
            let expires = expires_in_days.map(|days| now + i64::from(days) * 86_400_000);
            let (token, stored) = registry.create_token(&owner, &label, &scopes, expires, &Actor::cli()).await?;
            eprintln!("token {} for {user} (scopes {}); shown only now:", stored.id, stored.scopes);
            println!("{token}");
        }
        TokenCommand::Revoke { database, id } => {
            let registry = registry(&database.database_url).await?;
            registry.revoke_token(&id, None, &Actor::cli()).await?;
            println!("revoked {id}");
        }
    }
    Ok(())
}

pub async fn visibility(database_url: &str, repository: &str, visibility: &str) -> anyhow::Result<()> {
    let repository: RepoName = repository.parse()?;
    registry(database_url).await?.set_visibility(&Caller::Open, &repository, visibility == "private").await?;
    println!("{repository} is now {visibility}");
    Ok(())
}
