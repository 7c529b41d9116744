//! Signing in to the web catalog and what a session can do, over real HTTP against a server
//! with access control on: the cookie's attributes, forged and cross-site posts refused,
//! failed sign-ins rate limited, private repositories shown only to their members, tokens made
//! and revoked on `/settings` (and working with `/v2` in between), repository visibility and
//! description edited by those who may push and by nobody else, and namespace pages.

use crate::common;
use crate::web::{basic, page, push_filter, PASSWORD};

use common::TestServer;

/// A browser's view of one server: its origin, and the session cookie once signed in.
struct Browser<'a> {
    server: &'a TestServer,
    cookie: Option<String>,
}

impl<'a> Browser<'a> {
    fn new(server: &'a TestServer) -> Browser<'a> {
        Browser { server, cookie: None }
    }

    async fn get(&self, path: &str) -> (u16, String) {
        let mut request = self.server.client.get(self.server.url(path));
        if let Some(cookie) = &self.cookie {
            request = request.header("cookie", cookie);
        }
        let response = request.send().await.unwrap();
        (response.status().as_u16(), response.text().await.unwrap())
    }

    /// POSTs a form as the catalog's own pages do (with this origin in `Origin`).
    async fn post(&self, path: &str, form: &[(&str, &str)]) -> reqwest::Response {
        let mut request = self.server.client.post(self.server.url(path)).header("origin", &self.server.base).form(form);
        if let Some(cookie) = &self.cookie {
            request = request.header("cookie", cookie);
        }
        request.send().await.unwrap()
    }

    /// Signs in and keeps the cookie; returns the `Set-Cookie` header as sent.
    async fn sign_in(&mut self, user: &str, password: &str) -> String {
        let response = self.post("/login", &[("username", user), ("password", password), ("next", "/settings")]).await;
        assert_eq!(response.status(), 303, "sign-in as {user}");
        assert_eq!(common::header(&response, "location"), "/settings");
        let set_cookie = common::header(&response, "set-cookie");
        self.cookie = Some(set_cookie.split(';').next().unwrap().to_owned());
        set_cookie
    }
}

async fn enforced_with_users(users: &[&str]) -> TestServer {
    let server = TestServer::start_enforced().await;
    for user in users {
        server
            .registry
            .create_user(&user.parse().unwrap(), PASSWORD, false, &wasmhub_index::Actor::cli())
            .await
            .unwrap();
    }
    server
}

#[tokio::test]
async fn a_session_shows_private_repositories_until_sign_out_and_is_never_a_bearer_token() {
    let server = enforced_with_users(&["alice"]).await;
    push_filter(&server, Some(&basic("alice")), "alice/secret-filter", "private one").await;
    let caller = wasmhub_registry::Caller::Open;
    server.registry.set_visibility(&caller, &"alice/secret-filter".parse().unwrap(), true).await.unwrap();

    let mut browser = Browser::new(&server);
    let (status, home) = browser.get("/").await;
    assert_eq!(status, 200);
    assert!(home.contains("href=\"/login\">Sign in</a>") && !home.contains("secret-filter"), "{home}");
    let login = page(&server, "/login?next=/settings", None, 200).await;
    assert!(login.contains("name=\"next\" value=\"/settings\"") && login.contains("autocomplete=\"current-password\""));

    let set_cookie = browser.sign_in("alice", PASSWORD).await;
    for attribute in ["wasmhub_session=", "HttpOnly", "SameSite=Strict", "Path=/", "Max-Age=43200"] {
        assert!(set_cookie.contains(attribute), "{attribute} missing: {set_cookie}");
    }
    assert!(!set_cookie.contains("Secure"), "plain HTTP gets no Secure flag: {set_cookie}");
    for path in ["/", "/search?q=secret", "/repositories/alice/secret-filter/tags/v1", "/namespaces/alice"] {
        let (status, body) = browser.get(path).await;
        assert_eq!(status, 200, "{path}: {body}");
        assert!(body.contains("secret-filter"), "{path} hides alice's own private repository: {body}");
        assert!(body.contains("Signed in as <a href=\"/namespaces/alice\">alice</a>"), "{path}: {body}");
    }

    // The session is for pages only: /v2 and the API refuse it as a bearer token.
    let token = browser.cookie.as_deref().unwrap().split_once('=').unwrap().1.to_owned();
    for path in ["/v2/alice/secret-filter/tags/list", "/api/v1/tokens"] {
        let response = server.client.get(server.url(path)).bearer_auth(&token).send().await.unwrap();
        assert_eq!(response.status(), 401, "{path} accepted a session as a bearer token");
    }
    // A forged or tampered cookie is anonymous.
    let forged = Browser { server: &server, cookie: Some(format!("wasmhub_session={token}x")) };
    assert!(!forged.get("/search?q=secret").await.1.contains("secret-filter"));

    // Another browser signed in as alice, and a copy of this browser's cookie.
    let mut other = Browser::new(&server);
    other.sign_in("alice", PASSWORD).await;
    let copied = Browser { server: &server, cookie: browser.cookie.clone() };
    assert!(copied.get("/search?q=secret").await.1.contains("secret-filter"));

    let response = browser.post("/logout", &[]).await;
    assert_eq!(response.status(), 303);
    let cleared = common::header(&response, "set-cookie");
    assert!(cleared.starts_with("wasmhub_session=;") && cleared.contains("Max-Age=0"), "{cleared}");
    browser.cookie = None;
    assert!(!browser.get("/search?q=secret").await.1.contains("secret-filter"));
    // Signing out ends alice's sessions everywhere: the copied cookie and the other browser's
    // are refused from now on, whatever their expiry says.
    for (who, session) in [("copied cookie", &copied), ("other browser", &other)] {
        let (status, body) = session.get("/search?q=secret").await;
        assert_eq!(status, 200);
        assert!(!body.contains("secret-filter") && body.contains("href=\"/login\">Sign in</a>"), "{who}: {body}");
    }
    // A new sign-in starts a session that works, at once.
    browser.sign_in("alice", PASSWORD).await;
    assert!(browser.get("/search?q=secret").await.1.contains("secret-filter"));
    assert!(!other.get("/search?q=secret").await.1.contains("secret-filter"));
    // Disabled, then enabled again: the sessions of before stay ended.
    let alice: wasmhub_oci::Namespace = "alice".parse().unwrap();
    for disabled in [true, false] {
        server.registry.set_user_disabled(&alice, disabled, &wasmhub_index::Actor::cli()).await.unwrap();
    }
    assert!(!browser.get("/search?q=secret").await.1.contains("secret-filter"));
}

#[tokio::test]
async fn sign_in_refuses_cross_site_posts_wrong_passwords_tokens_and_too_many_failures() {
    let server = enforced_with_users(&["alice"]).await;
    let form = "username=alice&password=correct+horse+battery";
    let post = |origin: Option<&str>| {
        let mut request = server
            .client
            .post(server.url("/login"))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(form);
        if let Some(origin) = origin {
            request = request.header("origin", origin);
        }
        request.send()
    };
    // Another site's form, or a post with no origin at all: 403, and no cookie.
    for origin in [Some("https://evil.example"), None] {
        let response = post(origin).await.unwrap();
        assert_eq!(response.status(), 403, "origin {origin:?}");
        assert!(response.headers().get("set-cookie").is_none());
    }

    let browser = Browser::new(&server);
    let (token, _) = server
        .registry
        .create_token(
            &server.registry.user(&"alice".parse().unwrap()).await.unwrap(),
            "t",
            &["pull".parse().unwrap()],
            None,
            &wasmhub_index::Actor::cli(),
        )
        .await
        .unwrap();
    let with_token = browser.post("/login", &[("username", "alice"), ("password", &token.to_string())]).await;
    assert_eq!(with_token.status(), 401);
    assert!(with_token.text().await.unwrap().contains("not a personal access token"));

    for _ in 0..5 {
        let response = browser.post("/login", &[("username", "alice"), ("password", "wrong password")]).await;
        assert_eq!(response.status(), 401);
        let body = response.text().await.unwrap();
        assert!(body.contains("role=\"alert\"") && body.contains("Invalid user name or password."), "{body}");
        assert!(body.contains("value=\"alice\""), "the user name is kept: {body}");
    }
    // The sixth failure in a minute, even with the right password, is held back.
    let limited = browser.post("/login", &[("username", "alice"), ("password", PASSWORD)]).await;
    assert_eq!(limited.status(), 429);
    assert!(common::header(&limited, "retry-after").parse::<u64>().unwrap() >= 1);
    assert!(limited.headers().get("set-cookie").is_none());
}

#[tokio::test]
async fn settings_make_a_token_shown_once_that_works_on_v2_until_revoked() {
    let server = enforced_with_users(&["alice"]).await;
    let mut browser = Browser::new(&server);
    let (status, _) = browser.get("/settings").await;
    assert_eq!(status, 303, "anonymous callers are sent to sign in");
    browser.sign_in("alice", PASSWORD).await;
    let (status, settings) = browser.get("/settings").await;
    assert_eq!(status, 200);
    assert!(settings.contains("No tokens yet.") && settings.contains("action=\"/settings/tokens\""), "{settings}");

    let created = browser
        .post(
            "/settings/tokens",
            &[("name", "ci <pipeline>"), ("scope_pull", "on"), ("scope_push", "on"), ("expires_in_days", "30")],
        )
        .await;
    assert_eq!(created.status(), 201);
    assert_eq!(common::header(&created, "cache-control"), "no-store");
    let body = created.text().await.unwrap();
    assert!(body.contains("New token “ci &lt;pipeline&gt;”"), "{body}");
    let secret = body.split("<code id=\"token-secret\">").nth(1).unwrap().split('<').next().unwrap().to_owned();
    assert!(secret.starts_with("whub_"), "{secret}");
    let (_, again) = browser.get("/settings").await;
    assert!(!again.contains(&secret), "the secret is shown once only");
    assert!(again.contains("ci &lt;pipeline&gt;") && again.contains("pull,push"), "{again}");

    // The token pushes to alice's namespace with Basic auth, as `oras login` would send it.
    let auth = format!("Basic {}", base64_of(&format!("alice:{secret}")));
    push_filter(&server, Some(&auth), "alice/from-token", "pushed with a token").await;

    let id = again.split("name=\"id\" value=\"").nth(1).unwrap().split('"').next().unwrap().to_owned();
    let revoked = browser.post("/settings/tokens/revoke", &[("id", &id)]).await;
    assert_eq!(revoked.status(), 303);
    assert_eq!(common::header(&revoked, "location"), "/settings?done=revoked");
    let (_, after) = browser.get("/settings?done=revoked").await;
    assert!(after.contains("Token revoked.") && after.contains(">revoked<"), "{after}");
    let refused =
        server.client.get(server.url("/v2/alice/from-token/tags/list")).header("authorization", &auth).send().await;
    assert_eq!(refused.unwrap().status(), 401, "a revoked token no longer signs in");

    // Without the session, or from another site, the forms do nothing.
    let anonymous = Browser::new(&server).post("/settings/tokens", &[("name", "x"), ("scope_pull", "on")]).await;
    assert_eq!(anonymous.status(), 303);
    let cross_site = server
        .client
        .post(server.url("/settings/tokens"))
        .header("cookie", browser.cookie.clone().unwrap())
        .header("origin", "https://evil.example")
        .body("name=x&scope_pull=on&expires_in_days=30")
        .send()
        .await
        .unwrap();
    assert_eq!(cross_site.status(), 403);
}

fn base64_of(text: &str) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(text)
}

#[tokio::test]
async fn maintainers_set_visibility_and_description_and_others_cannot() {
    let server = enforced_with_users(&["alice", "bob"]).await;
    push_filter(&server, Some(&basic("alice")), "alice/filter", "from the annotation").await;
    let mut alice = Browser::new(&server);
    alice.sign_in("alice", PASSWORD).await;
    let (_, settings) = alice.get("/settings").await;
    assert!(settings.contains("name=\"repository\" value=\"alice/filter\""), "{settings}");
    assert!(page(&server, "/repositories/alice/filter", None, 200).await.contains("from the annotation"));

    let description = "Adds <x-hello> to every request.";
    let saved = alice
        .post(
            "/settings/repositories",
            &[("repository", "alice/filter"), ("visibility", "private"), ("description", description)],
        )
        .await;
    assert_eq!(saved.status(), 303);
    page(&server, "/repositories/alice/filter", None, 404).await;
    let (_, own) = alice.get("/repositories/alice/filter").await;
    assert!(own.contains("Adds &lt;x-hello&gt; to every request.") && !own.contains("from the annotation"), "{own}");

    let mut bob = Browser::new(&server);
    bob.sign_in("bob", PASSWORD).await;
    let (_, bobs) = bob.get("/settings").await;
    assert!(!bobs.contains("alice/filter"), "bob administers nothing of alice's: {bobs}");
    server.registry.create_user(&"root".parse().unwrap(), PASSWORD, true, &wasmhub_index::Actor::cli()).await.unwrap();
    let mut root = Browser::new(&server);
    root.sign_in("root", PASSWORD).await;
    let (_, roots) = root.get("/settings").await;
    assert!(roots.contains("name=\"repository\" value=\"alice/filter\""), "administrators manage all: {roots}");
    let refused = bob
        .post(
            "/settings/repositories",
            &[("repository", "alice/filter"), ("visibility", "public"), ("description", "")],
        )
        .await;
    assert_eq!(refused.status(), 403, "a private repository of someone else: refused");
    let missing = bob
        .post(
            "/settings/repositories",
            &[("repository", "alice/nothing"), ("visibility", "public"), ("description", "")],
        )
        .await;
    assert_eq!(missing.status(), 403, "as one that does not exist is: no telling them apart");
    page(&server, "/repositories/alice/filter", None, 404).await;

    alice
        .post(
            "/settings/repositories",
            &[("repository", "alice/filter"), ("visibility", "public"), ("description", "")],
        )
        .await;
    let public = page(&server, "/repositories/alice/filter", None, 200).await;
    assert!(public.contains("from the annotation"), "clearing the description falls back: {public}");
    let refused = bob
        .post(
            "/settings/repositories",
            &[("repository", "alice/filter"), ("visibility", "private"), ("description", "")],
        )
        .await;
    assert_eq!(refused.status(), 403, "bob may see alice's public repository but not change it");
    let too_long = "x".repeat(1001);
    let bad = alice
        .post(
            "/settings/repositories",
            &[("repository", "alice/filter"), ("visibility", "public"), ("description", &too_long)],
        )
        .await;
    assert_eq!(bad.status(), 400);
}

#[tokio::test]
async fn namespace_pages_list_what_the_caller_may_see() {
    let server = enforced_with_users(&["alice"]).await;
    server
        .registry
        .create_org(
            &"team".parse().unwrap(),
            &"alice".parse().unwrap(),
            wasmhub_index::OccupiedNamespace::Take,
            &wasmhub_index::Actor::cli(),
        )
        .await
        .unwrap();
    for repo in ["team/one", "team/two", "alice/own"] {
        push_filter(&server, Some(&basic("alice")), repo, &format!("{repo} module")).await;
    }
    server.registry.set_visibility(&wasmhub_registry::Caller::Open, &"team/two".parse().unwrap(), true).await.unwrap();

    let team = page(&server, "/namespaces/team", None, 200).await;
    assert!(team.contains("Organisation") && team.contains("1 repository visible to you"), "{team}");
    assert!(team.contains("href=\"/repositories/team/one\"") && !team.contains("team/two"), "{team}");
    let as_member = page(&server, "/namespaces/team", Some(&basic("alice")), 200).await;
    assert!(as_member.contains("team/two") && as_member.contains("private"), "{as_member}");
    assert!(page(&server, "/namespaces/alice", None, 200).await.contains("<p class=\"muted\">User</p>"));
    page(&server, "/namespaces/nobody", None, 404).await;
    page(&server, "/namespaces/UPPER", None, 400).await;
    page(&server, "/namespaces/team?page=0", None, 400).await;
}

#[tokio::test]
async fn behind_an_https_proxy_the_cookie_is_secure_and_host_prefixed() {
    let server = enforced_with_users(&["alice"]).await;
    // What a TLS-terminating proxy forwards: the browser's https origin, and the scheme.
    let origin = server.base.replace("http://", "https://");
    let response = server
        .client
        .post(server.url("/login"))
        .header("origin", &origin)
        .header("x-forwarded-proto", "https")
        .form(&[("username", "alice"), ("password", PASSWORD)])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 303);
    let set_cookie = common::header(&response, "set-cookie");
    assert!(set_cookie.starts_with("__Host-wasmhub_session=") && set_cookie.contains("; Secure"), "{set_cookie}");
    let cookie = set_cookie.split(';').next().unwrap().to_owned();
    let home = server
        .client
        .get(server.url("/"))
        .header("cookie", cookie)
        .header("x-forwarded-proto", "https")
        .send()
        .await
        .unwrap();
    assert!(home.text().await.unwrap().contains("Signed in as <a href=\"/namespaces/alice\">alice</a>"));
    // The plain-HTTP origin is another origin to the https site.
    let plain = server
        .client
        .post(server.url("/logout"))
        .header("origin", &server.base)
        .header("x-forwarded-proto", "https")
        .send()
        .await
        .unwrap();
    assert_eq!(plain.status(), 403);
}
