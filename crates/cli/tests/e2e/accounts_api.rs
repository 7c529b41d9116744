//! The account administration API and command line: users, organisations, tokens, and the
//! WebAssembly Hub's `GET /api/users/current`, over real HTTP with access control on.

use crate::common;

use base64::Engine as _;
use common::TestServer;
use serde_json::json;

const PASSWORD: &str = "a long enough password";

fn basic(user: &str, secret: &str) -> String {
    format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(format!("{user}:{secret}")))
}

async fn server_with_admin() -> TestServer {
    let server = TestServer::start_enforced().await;
    server.registry.create_user(&"root".parse().unwrap(), PASSWORD, true, &wasmhub_index::Actor::cli()).await.unwrap();
    server
}

async fn call(
    server: &TestServer,
    auth: &str,
    method: &str,
    path: &str,
    body: Option<serde_json::Value>,
) -> (u16, serde_json::Value) {
    let mut request = server.client.request(method.parse().unwrap(), server.url(path)).header("authorization", auth);
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or_default())
}

#[tokio::test]
async fn administrators_create_users_who_then_sign_in_and_others_may_not() {
    let server = server_with_admin().await;
    let root = basic("root", PASSWORD);
    let (status, user) =
        call(&server, &root, "POST", "/api/v1/users", Some(json!({"name": "alice", "password": PASSWORD}))).await;
    assert_eq!(status, 201);
    assert_eq!(user, json!({"name": "alice", "admin": false, "disabled": false}));
    let alice = basic("alice", PASSWORD);
    let (status, _) =
        call(&server, &alice, "POST", "/api/v1/users", Some(json!({"name": "mallory", "password": PASSWORD}))).await;
    assert_eq!(status, 403, "only administrators create users");
    let (status, _) =
        call(&server, &root, "POST", "/api/v1/users", Some(json!({"name": "alice", "password": PASSWORD}))).await;
    assert_eq!(status, 409, "names are unique");
    let (status, _) =
        call(&server, &root, "POST", "/api/v1/users", Some(json!({"name": "Bad Name", "password": PASSWORD}))).await;
    assert_eq!(status, 400);
    let (status, _) =
        call(&server, &root, "POST", "/api/v1/users", Some(json!({"name": "short", "password": "x"}))).await;
    assert_eq!(status, 400, "passwords have a minimum length");
    let (status, users) = call(&server, &root, "GET", "/api/v1/users", None).await;
    assert_eq!(status, 200);
    assert_eq!(users.as_array().unwrap().len(), 2);
    let (status, me) = call(&server, &alice, "GET", "/api/users/current", None).await;
    assert_eq!((status, me["username"].as_str()), (200, Some("alice")));
    let (status, _) = call(&server, "Basic bm9ib2R5Og==", "GET", "/api/users/current", None).await;
    assert_eq!(status, 401);

    // Disabling a user ends its sign-ins; a new password replaces the old one.
    let (status, _) =
        call(&server, &root, "PUT", "/api/v1/users/alice/disabled", Some(json!({"disabled": true}))).await;
    assert_eq!(status, 204);
    assert_eq!(call(&server, &alice, "GET", "/api/users/current", None).await.0, 401);
    call(&server, &root, "PUT", "/api/v1/users/alice/disabled", Some(json!({"disabled": false}))).await;
    let new_password = "another long password";
    let (status, _) =
        call(&server, &alice, "PUT", "/api/v1/users/alice/password", Some(json!({"password": new_password}))).await;
    assert_eq!(status, 204);
    assert_eq!(call(&server, &alice, "GET", "/api/users/current", None).await.0, 401, "the old password is gone");
    assert_eq!(call(&server, &basic("alice", new_password), "GET", "/api/users/current", None).await.0, 200);
}

#[tokio::test]
async fn organisation_owners_manage_members_whose_roles_take_effect_at_once() {
    let server = server_with_admin().await;
    for user in ["alice", "bob"] {
        server
            .registry
            .create_user(&user.parse().unwrap(), PASSWORD, false, &wasmhub_index::Actor::cli())
            .await
            .unwrap();
    }
    let (alice, bob) = (basic("alice", PASSWORD), basic("bob", PASSWORD));
    let (status, _) = call(&server, &alice, "POST", "/api/v1/orgs", Some(json!({"name": "team"}))).await;
    assert_eq!(status, 201);
    let (status, _) = call(&server, &bob, "POST", "/api/v1/orgs", Some(json!({"name": "alice"}))).await;
    assert_eq!(status, 409, "an organisation cannot take a user's namespace");
    let (status, _) = call(&server, &bob, "PUT", "/api/v1/orgs/team/members/bob", Some(json!({"role": "owner"}))).await;
    assert_eq!(status, 403, "only owners change members");
    let push = |auth: String| {
        let server = &server;
        async move {
            server
                .client
                .post(server.url("/v2/team/filter/blobs/uploads/"))
                .header("authorization", auth)
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }
    };
    assert_eq!(push(bob.clone()).await, 403);
    let (status, _) =
        call(&server, &alice, "PUT", "/api/v1/orgs/team/members/bob", Some(json!({"role": "maintainer"}))).await;
    assert_eq!(status, 204);
    assert_eq!(push(bob.clone()).await, 202, "a maintainer pushes");
    let (status, _) =
        call(&server, &alice, "PUT", "/api/v1/orgs/team/members/bob", Some(json!({"role": "boss"}))).await;
    assert_eq!(status, 400);
    let (status, _) = call(&server, &alice, "DELETE", "/api/v1/orgs/team/members/bob", None).await;
    assert_eq!(status, 204);
    assert_eq!(push(bob).await, 403, "a removed member no longer pushes");
}

#[tokio::test]
async fn a_namespace_holding_repositories_becomes_an_organisation_only_by_an_administrator() {
    let server = server_with_admin().await;
    server.registry.create_user(&"bob".parse().unwrap(), PASSWORD, false, &wasmhub_index::Actor::cli()).await.unwrap();
    let (root, bob) = (basic("root", PASSWORD), basic("bob", PASSWORD));
    let upload = |auth: &str, repository: &str| {
        let layer = b"an administrator's layer";
        let path = format!("/v2/{repository}/blobs/uploads/?digest={}", common::sha256(layer));
        server.client.post(server.url(&path)).header("authorization", auth).body(layer.to_vec()).send()
    };
    // An administrator pushes into a namespace that no user or organisation owns.
    assert_eq!(upload(&root, "internal/tool").await.unwrap().status(), 201);
    // Creating its organisation would make bob the owner of that repository.
    let (status, error) = call(&server, &bob, "POST", "/api/v1/orgs", Some(json!({"name": "internal"}))).await;
    assert_eq!(status, 409, "{error}");
    assert_eq!(upload(&bob, "internal/tool").await.unwrap().status(), 403, "bob gained nothing");
    let (status, _) = call(&server, &bob, "POST", "/api/v1/orgs", Some(json!({"name": "bobs-team"}))).await;
    assert_eq!(status, 201, "an empty namespace is anyone's to take");
    let (status, _) = call(&server, &root, "POST", "/api/v1/orgs", Some(json!({"name": "internal"}))).await;
    assert_eq!(status, 201, "an administrator may hand the repositories to an organisation");
}

#[tokio::test]
async fn tokens_are_shown_once_listed_without_secrets_and_revocable() {
    let server = server_with_admin().await;
    server
        .registry
        .create_user(&"alice".parse().unwrap(), PASSWORD, false, &wasmhub_index::Actor::cli())
        .await
        .unwrap();
    let alice = basic("alice", PASSWORD);
    let (status, created) = call(
        &server,
        &alice,
        "POST",
        "/api/v1/tokens",
        Some(json!({"name": "ci", "scopes": ["pull", "push"], "expiresInDays": 30})),
    )
    .await;
    assert_eq!(status, 201);
    let secret = created["token"].as_str().unwrap().to_owned();
    assert!(secret.starts_with("whub_"));
    let (_, listed) = call(&server, &alice, "GET", "/api/v1/tokens", None).await;
    assert_eq!(listed.as_array().unwrap().len(), 1);
    assert!(listed[0].get("token").is_none(), "listings never show the secret");
    assert_eq!(listed[0]["scopes"], json!(["pull", "push"]));
    // The token works as a bearer credential on the API and as a password for clients.
    let bearer = format!("Bearer {secret}");
    assert_eq!(call(&server, &bearer, "GET", "/api/users/current", None).await.0, 200);
    let pushed = server
        .client
        .post(server.url("/v2/alice/app/blobs/uploads/"))
        .header("authorization", basic("alice", &secret))
        .send()
        .await
        .unwrap();
    assert_eq!(pushed.status(), 202);
    let (status, _) =
        call(&server, &bearer, "POST", "/api/v1/tokens", Some(json!({"name": "x", "scopes": ["admin"]}))).await;
    assert_eq!(status, 403, "a push token cannot mint tokens");
    let (status, _) =
        call(&server, &alice, "POST", "/api/v1/tokens", Some(json!({"name": "x", "scopes": ["root"]}))).await;
    assert_eq!(status, 400);
    let id = created["id"].as_str().unwrap();
    let (status, _) = call(&server, &bearer, "DELETE", &format!("/api/v1/tokens/{id}"), None).await;
    assert_eq!(status, 403, "a push token cannot revoke tokens");
    let (status, _) = call(&server, &alice, "DELETE", &format!("/api/v1/tokens/{id}"), None).await;
    assert_eq!(status, 204);
    assert_eq!(call(&server, &bearer, "GET", "/api/users/current", None).await.0, 401, "revoked at once");
}

#[test]
fn the_command_line_manages_users_orgs_and_tokens() {
    let dir = tempfile::tempdir().unwrap();
    let database = format!("sqlite://{}/wasmhub.db", dir.path().display());
    let wasmhub = |args: &[&str]| {
        let output = std::process::Command::new(env!("CARGO_BIN_EXE_wasmhub"))
            .args(args)
            .args(["--database-url", &database])
            .output()
            .unwrap();
        assert!(output.status.success(), "wasmhub {args:?}: {}", String::from_utf8_lossy(&output.stderr));
        String::from_utf8(output.stdout).unwrap()
    };
    wasmhub(&["user", "add", "alice", "--password", PASSWORD]);
    wasmhub(&["user", "add", "bob", "--password", PASSWORD, "--admin"]);
    wasmhub(&["org", "add", "team", "--owner", "alice"]);
    wasmhub(&["org", "member", "team", "bob", "--role", "reader"]);
    wasmhub(&["user", "passwd", "alice", "--password", "a different password"]);
    wasmhub(&["user", "disable", "bob"]);
    let users = wasmhub(&["user", "list"]);
    assert!(users.contains("alice\t") && users.contains("bob\tadmin,disabled"), "{users}");
    let token = wasmhub(&["token", "create", "alice", "--scopes", "pull"]);
    assert!(token.trim().starts_with("whub_"), "{token}");
    let id = &token.trim()[5..17];
    wasmhub(&["token", "revoke", id]);
    let failed = std::process::Command::new(env!("CARGO_BIN_EXE_wasmhub"))
        .args(["org", "add", "alice", "--owner", "alice", "--database-url", &database])
        .output()
        .unwrap();
    assert!(!failed.status.success(), "an organisation cannot take a user's name");
}
