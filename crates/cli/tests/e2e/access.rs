//! Access control over real HTTP: who may do what to public and private repositories, the
//! Docker token flow with scope reduction, and credentials that must not work (expired,
//! revoked, tampered), with nothing private leaking through any `/v2/` endpoint.

use crate::common;

use base64::Engine as _;
use common::{sha256, TestServer, OCI_MANIFEST};
use wasmhub_auth::TokenScope;
use wasmhub_index::Role;
use wasmhub_registry::Caller;

const PASSWORD: &str = "correct horse battery";

/// alice owns `alice/*`; org `team` has carol (reader) and dave (maintainer); bob is nobody in
/// particular; root is an administrator. alice/public is public, alice/private and
/// team/private are private.
struct World {
    server: TestServer,
    public_manifest: String,
    private_blob: String,
}

async fn world() -> World {
    let server = TestServer::start_enforced().await;
    let registry = &server.registry;
    for (user, admin) in [("alice", false), ("bob", false), ("carol", false), ("dave", false), ("root", true)] {
        registry.create_user(&user.parse().unwrap(), PASSWORD, admin, &wasmhub_index::Actor::cli()).await.unwrap();
    }
    registry
        .create_org(
            &"team".parse().unwrap(),
            &"alice".parse().unwrap(),
            wasmhub_index::OccupiedNamespace::Take,
            &wasmhub_index::Actor::cli(),
        )
        .await
        .unwrap();
    registry
        .set_org_member(
            &"team".parse().unwrap(),
            &"carol".parse().unwrap(),
            Some(Role::Reader),
            &wasmhub_index::Actor::cli(),
        )
        .await
        .unwrap();
    registry
        .set_org_member(
            &"team".parse().unwrap(),
            &"dave".parse().unwrap(),
            Some(Role::Maintainer),
            &wasmhub_index::Actor::cli(),
        )
        .await
        .unwrap();
    let public_manifest = push_as(&server, "alice", "alice/public", b"public layer").await;
    push_as(&server, "alice", "alice/private", b"private layer").await;
    push_as(&server, "alice", "team/private", b"team layer").await;
    for repo in ["alice/private", "team/private"] {
        registry.set_visibility(&Caller::Open, &repo.parse().unwrap(), true).await.unwrap();
    }
    World { server, public_manifest, private_blob: sha256(b"private layer") }
}

fn basic(user: &str, secret: &str) -> String {
    format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(format!("{user}:{secret}")))
}

async fn push_as(server: &TestServer, user: &str, repo: &str, layer: &[u8]) -> String {
    let auth = basic(user, PASSWORD);
    let config = b"{}".to_vec();
    for blob in [layer, &config[..]] {
        let response = server
            .client
            .post(server.url(&format!("/v2/{repo}/blobs/uploads/?digest={}", sha256(blob))))
            .header("authorization", &auth)
            .body(blob.to_vec())
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 201, "{user} pushes a blob to {repo}");
    }
    let manifest = common::oci_manifest_for(&config, layer);
    let response = server
        .client
        .put(server.url(&format!("/v2/{repo}/manifests/v1")))
        .header("authorization", &auth)
        .header("content-type", OCI_MANIFEST)
        .body(manifest.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201, "{user} pushes a manifest to {repo}");
    sha256(&manifest)
}

/// Status of one request as `who` (None: anonymous).
async fn status(server: &TestServer, who: Option<&str>, method: &str, path: &str, body: Option<Vec<u8>>) -> u16 {
    let mut request = server.client.request(method.parse().unwrap(), server.url(path));
    if let Some(who) = who {
        request = request.header("authorization", basic(who, PASSWORD));
    }
    if let Some(body) = body {
        request = request.header("content-type", OCI_MANIFEST).body(body);
    }
    request.send().await.unwrap().status().as_u16()
}

#[tokio::test]
async fn the_access_table_holds_for_every_caller_visibility_and_action() {
    let world = world().await;
    let server = &world.server;
    let blob = sha256(b"public layer");
    let private_blob = &world.private_blob;
    let manifest_for_push = common::oci_manifest_for(b"{}", b"public layer");
    // (caller, method, path, expected status)
    let table: Vec<(Option<&str>, &str, String, u16)> = vec![
        // Pulls of the public repository: anyone.
        (None, "GET", "/v2/alice/public/manifests/v1".into(), 200),
        (None, "HEAD", format!("/v2/alice/public/blobs/{blob}"), 200),
        (None, "GET", "/v2/alice/public/tags/list".into(), 200),
        (Some("bob"), "GET", "/v2/alice/public/manifests/v1".into(), 200),
        // Private: anonymous is asked to sign in; others see nothing at all.
        (None, "GET", "/v2/alice/private/manifests/v1".into(), 401),
        (None, "GET", "/v2/alice/private/tags/list".into(), 401),
        (None, "GET", format!("/v2/alice/private/blobs/{private_blob}"), 401),
        (Some("bob"), "GET", "/v2/alice/private/manifests/v1".into(), 404),
        (Some("bob"), "GET", "/v2/alice/private/tags/list".into(), 404),
        (Some("bob"), "HEAD", format!("/v2/alice/private/blobs/{private_blob}"), 404),
        // The referrers API never answers 404 (clients would take it as unsupported): an
        // unseen repository has no referrers, like one that does not exist.
        (Some("bob"), "GET", format!("/v2/alice/private/referrers/{}", world.public_manifest), 200),
        (Some("bob"), "GET", format!("/v2/alice/nothing/referrers/{}", world.public_manifest), 200),
        (Some("alice"), "GET", "/v2/alice/private/manifests/v1".into(), 200),
        (Some("root"), "GET", "/v2/alice/private/manifests/v1".into(), 200),
        // Organisation roles.
        (Some("carol"), "GET", "/v2/team/private/manifests/v1".into(), 200),
        (Some("dave"), "GET", "/v2/team/private/manifests/v1".into(), 200),
        (Some("bob"), "GET", "/v2/team/private/manifests/v1".into(), 404),
        (Some("carol"), "POST", "/v2/team/private/blobs/uploads/".into(), 403),
        (Some("dave"), "POST", "/v2/team/new/blobs/uploads/".into(), 202),
        // Pushes: only into one's own namespaces.
        (None, "POST", "/v2/alice/public/blobs/uploads/".into(), 401),
        (Some("bob"), "POST", "/v2/alice/public/blobs/uploads/".into(), 403),
        (Some("bob"), "PUT", "/v2/alice/public/manifests/v2".into(), 403),
        (Some("bob"), "POST", "/v2/bob/own/blobs/uploads/".into(), 202),
        // A private repository answers a push or delete as one that does not exist would.
        (Some("bob"), "POST", "/v2/alice/private/blobs/uploads/".into(), 403),
        (Some("bob"), "POST", "/v2/alice/nothing/blobs/uploads/".into(), 403),
        (Some("bob"), "DELETE", "/v2/alice/private/manifests/v1".into(), 403),
        (Some("bob"), "DELETE", "/v2/alice/nothing/manifests/v1".into(), 403),
        (Some("alice"), "PUT", "/v2/alice/public/manifests/v2".into(), 201),
        (Some("root"), "POST", "/v2/bob/own/blobs/uploads/".into(), 202),
        // Deletes need push rights too.
        (None, "DELETE", "/v2/alice/public/manifests/v2".into(), 401),
        (Some("bob"), "DELETE", "/v2/alice/public/manifests/v2".into(), 403),
        (Some("alice"), "DELETE", "/v2/alice/public/manifests/v2".into(), 202),
        (None, "HEAD", "/v2/alice/private/manifests/v1".into(), 401),
        (None, "GET", format!("/v2/alice/private/referrers/{}", world.public_manifest), 401),
        (Some("bob"), "DELETE", format!("/v2/alice/public/blobs/{blob}"), 403),
        (Some("bob"), "DELETE", "/v2/alice/public/manifests/v1".into(), 403),
        (None, "GET", "/api/v1/repositories/alice/private/tags/v1/module.wasm".into(), 401),
        (Some("bob"), "GET", "/api/v1/repositories/alice/private/tags/v1/module.wasm".into(), 404),
        (Some("bob"), "GET", "/api/v1/repositories/team/private".into(), 404),
        (Some("carol"), "GET", "/api/v1/repositories/team/private".into(), 200),
        // The base endpoint starts the token dance for anonymous callers.
        (None, "GET", "/v2/".into(), 401),
        (Some("bob"), "GET", "/v2/".into(), 200),
    ];
    for (who, method, path, expected) in table {
        let body = (method == "PUT").then(|| manifest_for_push.clone());
        let got = status(server, who, method, &path, body).await;
        assert_eq!(got, expected, "{} {method} {path}", who.unwrap_or("anonymous"));
    }
    let referrers = format!("/v2/alice/private/referrers/{}", world.public_manifest);
    let unseen = server.client.get(server.url(&referrers)).header("authorization", basic("bob", PASSWORD));
    let index: serde_json::Value = unseen.send().await.unwrap().json().await.unwrap();
    assert_eq!(index["manifests"], serde_json::json!([]), "nothing of a private repository: {index}");
}

#[tokio::test]
async fn a_denied_push_says_which_namespaces_the_caller_may_use() {
    let world = world().await;
    let response = world
        .server
        .client
        .post(world.server.url("/v2/alice/public/blobs/uploads/"))
        .header("authorization", basic("dave", PASSWORD))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 403);
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["errors"][0]["code"], "DENIED");
    let message = body["errors"][0]["message"].as_str().unwrap();
    assert!(message.contains("dave") && message.contains("team"), "{message}");
}

#[tokio::test]
async fn the_catalog_lists_only_what_the_caller_may_see() {
    let world = world().await;
    let server = &world.server;
    let list = |who: Option<&'static str>| async move {
        let mut request = server.client.get(server.url("/v2/_catalog"));
        if let Some(who) = who {
            request = request.header("authorization", basic(who, PASSWORD));
        }
        let body: serde_json::Value = request.send().await.unwrap().json().await.unwrap();
        body["repositories"].as_array().unwrap().iter().map(|r| r.as_str().unwrap().to_owned()).collect::<Vec<_>>()
    };
    assert_eq!(list(None).await, ["alice/public"]);
    assert_eq!(list(Some("bob")).await, ["alice/public"]);
    assert_eq!(list(Some("carol")).await, ["alice/public", "team/private"]);
    assert_eq!(list(Some("alice")).await, ["alice/private", "alice/public", "team/private"]);
}

#[tokio::test]
async fn a_private_blob_cannot_be_read_or_mounted_through_a_public_repository() {
    let world = world().await;
    let server = &world.server;
    let private = &world.private_blob;
    // Probe by digest through the public repository.
    let probe = server.client.get(server.url(&format!("/v2/alice/public/blobs/{private}"))).send().await.unwrap();
    assert_eq!(probe.status(), 404);
    // bob tries to mount it into his own repository, naming the source and not.
    for query in [format!("mount={private}&from=alice/private"), format!("mount={private}")] {
        let response = server
            .client
            .post(server.url(&format!("/v2/bob/steal/blobs/uploads/?{query}")))
            .header("authorization", basic("bob", PASSWORD))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 202, "no mount, only an upload session ({query})");
    }
    let stolen = server
        .client
        .head(server.url(&format!("/v2/bob/steal/blobs/{private}")))
        .header("authorization", basic("bob", PASSWORD))
        .send()
        .await
        .unwrap();
    assert_eq!(stolen.status(), 404);
}

async fn token(server: &TestServer, who: Option<&str>, scope: &str) -> (u16, serde_json::Value) {
    let mut request = server.client.get(server.url("/token")).query(&[("service", "wasmhub"), ("scope", scope)]);
    if let Some(who) = who {
        request = request.header("authorization", basic(who, PASSWORD));
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or_default())
}

fn granted(token: &serde_json::Value) -> serde_json::Value {
    let jwt = token["token"].as_str().unwrap();
    let payload = jwt.split('.').nth(1).unwrap();
    let claims: serde_json::Value =
        serde_json::from_slice(&base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap();
    claims["access"].clone()
}

#[tokio::test]
async fn the_token_endpoint_reduces_scopes_to_what_is_granted() {
    let world = world().await;
    let server = &world.server;
    let (status, anonymous) = token(server, None, "repository:alice/public:pull,push").await;
    assert_eq!(status, 200);
    assert_eq!(granted(&anonymous)[0]["actions"], serde_json::json!(["pull"]));
    let bearer = format!("Bearer {}", anonymous["token"].as_str().unwrap());
    let ping = server.client.get(server.url("/v2/")).header("authorization", bearer).send().await.unwrap();
    assert_eq!(ping.status(), 200, "the anonymous token the realm gave gets past the ping");
    let (_, bob) = token(server, Some("bob"), "repository:alice/private:pull,push").await;
    assert_eq!(granted(&bob)[0]["actions"], serde_json::json!([]));
    let (_, alice) = token(server, Some("alice"), "repository:alice/public:pull,push").await;
    assert_eq!(granted(&alice)[0]["actions"], serde_json::json!(["pull", "push"]));
    assert_eq!(alice["expires_in"], 300);
    let (status, _) = token(server, Some("nobody"), "repository:alice/public:pull").await;
    assert_eq!(status, 401, "wrong credentials get no token at all");
    let (_, repeated) = token(server, Some("alice"), "repository:alice/public:push,pull,pull,push,pull").await;
    assert_eq!(granted(&repeated)[0]["actions"], serde_json::json!(["pull", "push"]), "each action once");
    let many = vec!["repository:alice/public:pull"; 33].join(" ");
    assert_eq!(token(server, Some("alice"), &many).await.0, 400, "a bounded number of scopes");
}

#[tokio::test]
async fn bearer_tokens_grant_exactly_their_scopes_and_401s_name_the_scope_needed() {
    let world = world().await;
    let server = &world.server;
    let (_, pull_only) = token(server, Some("alice"), "repository:alice/private:pull").await;
    let bearer = format!("Bearer {}", pull_only["token"].as_str().unwrap());
    let pulled = server
        .client
        .get(server.url("/v2/alice/private/manifests/v1"))
        .header("authorization", &bearer)
        .send()
        .await
        .unwrap();
    assert_eq!(pulled.status(), 200);
    let push = server
        .client
        .post(server.url("/v2/alice/private/blobs/uploads/"))
        .header("authorization", &bearer)
        .send()
        .await
        .unwrap();
    assert_eq!(push.status(), 403, "the token did not grant push");
    let challenge = common::header(&push, "www-authenticate");
    assert!(challenge.ends_with(",error=\"insufficient_scope\""), "{challenge}");
    assert!(challenge.starts_with("Bearer realm=\"http://127.0.0.1:"), "{challenge}");
    assert!(
        challenge.contains("/token\",service=\"wasmhub\",scope=\"repository:alice/private:pull,push\""),
        "{challenge}"
    );
}

#[tokio::test]
async fn expired_tampered_and_revoked_credentials_are_refused() {
    let world = world().await;
    let server = &world.server;
    let key = server.registry.signing_key().await.unwrap();
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64;
    let claims = |exp: i64| wasmhub_auth::Claims {
        iss: "wasmhub".into(),
        sub: "alice".into(),
        aud: "wasmhub".into(),
        exp,
        nbf: now - 600,
        iat: now - 600,
        jti: "t".into(),
        access: wasmhub_auth::scope::parse("repository:alice/private:pull").unwrap(),
    };
    let get = |authorization: String| {
        server.client.get(server.url("/v2/alice/private/manifests/v1")).header("authorization", authorization).send()
    };
    let valid = wasmhub_auth::jwt::sign(&claims(now + 300), &key);
    assert_eq!(get(format!("Bearer {valid}")).await.unwrap().status(), 200);
    let expired = wasmhub_auth::jwt::sign(&claims(now - 120), &key);
    assert_eq!(get(format!("Bearer {expired}")).await.unwrap().status(), 401);
    let forged = wasmhub_auth::jwt::sign(&claims(now + 300), &wasmhub_auth::SigningKey::generate());
    assert_eq!(get(format!("Bearer {forged}")).await.unwrap().status(), 401);
    let mut parts: Vec<String> = valid.split('.').map(str::to_owned).collect();
    parts[1] = wasmhub_auth::jwt::sign(&wasmhub_auth::Claims { sub: "root".into(), ..claims(now + 300) }, &key)
        .split('.')
        .nth(1)
        .unwrap()
        .to_owned();
    assert_eq!(get(format!("Bearer {}", parts.join("."))).await.unwrap().status(), 401, "payload swapped");

    let alice = server.registry.user(&"alice".parse().unwrap()).await.unwrap();
    let scopes = [wasmhub_auth::TokenScope::Pull];
    let (pat, stored) =
        server.registry.create_token(&alice, "ci", &scopes, None, &wasmhub_index::Actor::cli()).await.unwrap();
    assert_eq!(get(basic("alice", &pat.to_string())).await.unwrap().status(), 200, "a pull token pulls");
    let push = server
        .client
        .post(server.url("/v2/alice/private/blobs/uploads/"))
        .header("authorization", basic("alice", &pat.to_string()))
        .send()
        .await
        .unwrap();
    assert_eq!(push.status(), 403, "a pull-scoped token cannot push");
    server.registry.revoke_token(&stored.id, None, &wasmhub_index::Actor::cli()).await.unwrap();
    assert_eq!(get(basic("alice", &pat.to_string())).await.unwrap().status(), 401, "revoked");
    let past = (now - 10) * 1000;
    let (expired_pat, _) =
        server.registry.create_token(&alice, "old", &scopes, Some(past), &wasmhub_index::Actor::cli()).await.unwrap();
    assert_eq!(get(basic("alice", &expired_pat.to_string())).await.unwrap().status(), 401, "expired");
}

#[tokio::test]
async fn repeated_failed_sign_ins_are_rate_limited() {
    let world = world().await;
    let server = &world.server;
    let mut statuses = Vec::new();
    for _ in 0..7 {
        let response = server
            .client
            .get(server.url("/v2/"))
            .header("authorization", basic("bob", "wrong password"))
            .send()
            .await
            .unwrap();
        statuses.push(response.status().as_u16());
        if response.status() == 429 {
            assert!(common::header(&response, "retry-after").parse::<u64>().unwrap() > 0);
        }
    }
    assert_eq!(&statuses[..5], &[401; 5]);
    assert_eq!(statuses[5], 429, "{statuses:?}");
    let right = status(server, Some("bob"), "GET", "/v2/", None).await;
    assert_eq!(right, 429, "the user is locked out for the window even with the right password");
}

#[tokio::test]
async fn failed_token_sign_ins_do_not_lock_out_other_tokens_or_users() {
    let world = world().await;
    let server = &world.server;
    let alice = server.registry.user(&"alice".parse().unwrap()).await.unwrap();
    let actor = wasmhub_index::Actor::cli();
    let (token, _) = server.registry.create_token(&alice, "ci", &[TokenScope::Pull], None, &actor).await.unwrap();
    let pull = |authorization: String| {
        server.client.get(server.url("/v2/alice/private/tags/list")).header("authorization", authorization).send()
    };
    // A token sent alone names no user: its failures count for the client's address only, not
    // for one counter every token shares.
    for n in 0..6 {
        assert_eq!(pull(format!("Bearer whub_{n}_made-up")).await.unwrap().status(), 401);
    }
    assert_eq!(pull(format!("Bearer {token}")).await.unwrap().status(), 200, "another token still signs in");
    // A made-up user name of any length is no counter of its own either.
    let long = "x".repeat(100_000);
    assert_eq!(pull(basic(&long, "wrong")).await.unwrap().status(), 401);
}

#[tokio::test]
async fn failures_under_many_user_names_are_limited_per_address_on_the_json_api_too() {
    let world = world().await;
    let server = &world.server;
    let search = |user: String| {
        server.client.get(server.url("/api/v1/search")).header("authorization", basic(&user, "wrong")).send()
    };
    let mut statuses = Vec::new();
    for n in 0..21 {
        statuses.push(search(format!("guess{n}")).await.unwrap().status().as_u16());
    }
    // The address's 20 failures are counted, whichever names they tried (on /api too, which
    // used to count them under one address shared by every client).
    assert!(statuses[..20].iter().all(|status| *status == 401), "{statuses:?}");
    assert_eq!(statuses[20], 401, "the JSON API answers a locked-out caller 401: {statuses:?}");
    let v2 = server.client.get(server.url("/v2/")).header("authorization", basic("alice", PASSWORD)).send();
    assert_eq!(v2.await.unwrap().status(), 429, "this address is locked out for the window");
}

/// Repository names in a JSON API listing, as `who` sees it.
async fn api_names(server: &TestServer, who: Option<&str>, path: &str, field: &str) -> (u16, Vec<String>) {
    let mut request = server.client.get(server.url(path));
    if let Some(who) = who {
        request = request.header("authorization", basic(who, PASSWORD));
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let body: serde_json::Value = response.json().await.unwrap_or_default();
    let mut names: Vec<String> = body["items"]
        .as_array()
        .map(|items| items.iter().map(|item| item[field].as_str().unwrap_or_default().to_owned()).collect())
        .unwrap_or_default();
    names.sort();
    names.dedup();
    (status, names)
}

#[tokio::test]
async fn private_repositories_never_appear_in_the_json_api_for_others() {
    let world = world().await;
    let server = &world.server;
    let everything = ["alice/private", "alice/public", "team/private"];
    for (who, expected) in [
        (None, vec!["alice/public"]),
        (Some("bob"), vec!["alice/public"]),
        (Some("carol"), vec!["alice/public", "team/private"]),
        (Some("alice"), everything.to_vec()),
        (Some("root"), everything.to_vec()),
    ] {
        let (status, repositories) = api_names(server, who, "/api/v1/repositories", "name").await;
        assert_eq!((status, repositories), (200, expected.iter().map(|s| s.to_string()).collect()), "{who:?} lists");
        let (status, found) = api_names(server, who, "/api/v1/search", "repository").await;
        assert_eq!(status, 200);
        assert!(found.iter().all(|name| expected.contains(&name.as_str())), "{who:?} searches and finds {found:?}");
        assert!(found.contains(&"alice/public".to_owned()), "search finds the indexed artifacts at all: {found:?}");
        if who == Some("alice") {
            assert!(found.contains(&"alice/private".to_owned()), "alice finds her private module");
        }
    }
    for path in ["/api/v1/repositories/alice/private", "/api/v1/repositories/alice/private/tags/v1"] {
        let (status, _) = api_names(server, Some("bob"), path, "name").await;
        assert_eq!(status, 404, "bob asks for {path}");
        let (status, _) = api_names(server, Some("alice"), path, "name").await;
        assert_eq!(status, 200, "alice asks for {path}");
    }
}
