//! The audit log's side of the workflows: who the actor of a change is, and reading the log.
//!
//! The client's address reaches the workflows through a task-local set by the HTTP server
//! around each request (`with_client_ip`), rather than as one more parameter of every
//! workflow: most workflows never record anything, and the ones that do run on the request's
//! task. Outside a request (the command line, the tests) the address is simply unknown.

use std::future::Future;
use std::net::IpAddr;

use wasmhub_index::{Actor, AuditEntry, AuditQuery, AuditRecord};

use crate::{Caller, Registry, RegistryError};

tokio::task_local! {
    static CLIENT_IP: Option<IpAddr>;
}

/// Runs `work` (one request) with `ip` as the client address its audit entries record.
pub async fn with_client_ip<F: Future>(ip: Option<IpAddr>, work: F) -> F::Output {
    CLIENT_IP.scope(ip, work).await
}

/// The client address of the request being served (`with_client_ip`), if any: what the
/// audit log records, and what sign-in rate limits count per address.
pub fn request_client_ip() -> Option<IpAddr> {
    CLIENT_IP.try_with(|ip| *ip).ok().flatten()
}

fn client_ip() -> Option<String> {
    CLIENT_IP.try_with(|ip| ip.map(|ip| ip.to_string())).ok().flatten()
}

/// The actor the audit log names for `caller`: the user; `anonymous` for a request without
/// credentials or to a registry running open; `cli` for the operator calling a workflow
/// outside any request (the command line, which acts as `Caller::Open`).
pub fn actor_of(caller: &Caller) -> Actor {
    let in_request = CLIENT_IP.try_with(|_| ()).is_ok();
    match caller {
        Caller::User(principal) => Actor { name: principal.user.name.to_string(), client_ip: client_ip() },
        Caller::Open if !in_request => Actor::cli(),
        Caller::Open | Caller::Anonymous => Actor::anonymous(client_ip()),
    }
}

/// Most entries one page of `GET /api/v1/audit` returns.
pub const MAX_AUDIT_PAGE: u32 = 100;

impl Registry {
    /// One page of the audit log, newest first, and how many entries match. Administrators
    /// only: the HTTP layer checks the caller before asking.
    pub async fn audit_log(&self, query: &AuditQuery) -> Result<(Vec<AuditRecord>, u64), RegistryError> {
        if query.limit == 0 || query.limit > MAX_AUDIT_PAGE {
            return Err(RegistryError::InvalidInput(format!("per_page is 1 to {MAX_AUDIT_PAGE}")));
        }
        Ok(self.index.audit(query).await?)
    }
}

/// The audit entry of a change, for the index to write in the change's transaction.
pub(crate) fn entry<'a>(
    actor: &'a Actor,
    action: &'a str,
    repository: Option<&'a str>,
    target: &'a str,
    detail: Option<serde_json::Value>,
) -> AuditEntry<'a> {
    AuditEntry { actor, action, repository, target, detail: detail.map(|detail| detail.to_string()) }
}
