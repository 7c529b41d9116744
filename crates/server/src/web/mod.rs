//! The web catalog: server-rendered HTML that works without JavaScript. Templates and assets
//! come from `web/` at the repository root and are built into the binary. Handlers are thin,
//! as in the API: typed parameters in, one `Registry` call, a page out; every failure becomes
//! an HTML error page in one place (`PageError`).
//!
//! A browser signs in on `/login` and is then known by a session cookie (`session`); pages
//! that change something are POST forms checked for their origin. Responses are compressed
//! (gzip) so that every page stays within its 50 KiB budget on the wire.

mod home;
mod html;
mod login;
mod markdown;
mod namespace;
mod params;
mod readme;
mod repository;
mod search;
mod session;
mod settings;
mod snippets;
mod tag;

use axum::http::{header, HeaderMap, HeaderName, HeaderValue, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use tower_http::compression::CompressionLayer;
use tower_http::set_header::SetResponseHeaderLayer;
use wasmhub_registry::{Caller, RegistryError};

use crate::AppState;
use html::{w, Esc};

/// Scripts only from this origin (an injected `<script>` would not run even if escaping were
/// ever missed); the one stylesheet is inline so a page renders from one round trip. The
/// script may fetch this origin's own pages (search as you type).
const CSP: &str = "default-src 'none'; style-src 'unsafe-inline'; script-src 'self'; img-src 'self' data:; \
                   connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/", get(home::home))
        .route("/search", get(search::search))
        .route("/repositories/{*path}", get(repository::under))
        .route("/namespaces/{namespace}", get(namespace::page))
        .route("/login", get(login::form).post(login::submit))
        .route("/logout", post(login::sign_out))
        .route("/settings", get(settings::page))
        .route("/settings/tokens", post(settings::create_token))
        .route("/settings/tokens/revoke", post(settings::revoke_token))
        .route("/settings/repositories", post(settings::update_repository))
        .route("/static/app.js", get(app_js))
        // Forms are a few fields; nothing a browser sends here needs more.
        .layer(axum::extract::DefaultBodyLimit::max(64 * 1024))
        .layer(CompressionLayer::new())
        .layer(SetResponseHeaderLayer::if_not_present(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(CSP)))
        .layer(SetResponseHeaderLayer::if_not_present(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ))
        .layer(SetResponseHeaderLayer::if_not_present(
            HeaderName::from_static("referrer-policy"),
            HeaderValue::from_static("same-origin"),
        ))
}

async fn app_js() -> Response {
    (
        [(header::CONTENT_TYPE, "text/javascript; charset=utf-8"), (header::CACHE_CONTROL, "public, max-age=3600")],
        html::APP_JS,
    )
        .into_response()
}

/// Who the header says is signed in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Account {
    /// Nothing to show: the registry runs open (no accounts), or the page is an error page.
    Hidden,
    /// Offer to sign in.
    Anonymous,
    /// Signed in as this user.
    User(String),
}

impl Account {
    pub fn of(state: &AppState, caller: &Caller) -> Account {
        match caller {
            Caller::User(principal) => Account::User(principal.user.name.to_string()),
            _ if !state.registry.policy().enforce => Account::Hidden,
            _ => Account::Anonymous,
        }
    }
}

/// A rendered page: `main` is already-escaped HTML.
pub struct Page {
    pub title: String,
    /// The text to leave in the header's search box.
    pub q: String,
    pub main: String,
    pub account: Account,
}

impl IntoResponse for Page {
    fn into_response(self) -> Response {
        let mut response = Html(html::layout(&self.title, &self.q, &self.main, &self.account)).into_response();
        // Pages differ per user; shared caches must not keep them.
        if self.account != Account::Hidden {
            response.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("private, no-cache"));
        }
        response
    }
}

/// Every way a page can fail, each with its own status and an HTML body.
#[derive(Debug)]
pub enum PageError {
    BadRequest(String),
    Unauthorized,
    Forbidden(String),
    /// Unknown and private look the same, so a page never reveals that a private name exists.
    NotFound,
    Internal,
}

impl From<RegistryError> for PageError {
    fn from(error: RegistryError) -> PageError {
        match &error {
            RegistryError::NameUnknown(_)
            | RegistryError::ManifestUnknown(_)
            | RegistryError::BlobUnknown(_)
            | RegistryError::Denied(_) => PageError::NotFound,
            RegistryError::BadRequest(_) | RegistryError::PaginationInvalid(_) => {
                PageError::BadRequest(error.to_string())
            }
            _ if error.code().is_some() => PageError::BadRequest(error.to_string()),
            _ => {
                tracing::error!(%error, "web page failed on the server side");
                PageError::Internal
            }
        }
    }
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        let (status, title, message) = match self {
            PageError::BadRequest(message) => (StatusCode::BAD_REQUEST, "Bad request", message),
            PageError::Unauthorized => {
                (StatusCode::UNAUTHORIZED, "Not signed in", "The credentials sent were not accepted.".into())
            }
            PageError::Forbidden(message) => (StatusCode::FORBIDDEN, "Not allowed", message),
            PageError::NotFound => (
                StatusCode::NOT_FOUND,
                "Not found",
                "There is no such repository or tag, or you may not see it.".into(),
            ),
            PageError::Internal => {
                (StatusCode::INTERNAL_SERVER_ERROR, "Server error", "Something failed; see the registry's log.".into())
            }
        };
        let mut main = String::new();
        w!(
            &mut main,
            "<h1>{}</h1><p>{}</p><p><a href=\"/\">Home</a> · <a href=\"/search\">Search</a></p>",
            Esc(title),
            Esc(&message)
        );
        (status, Page { title: title.into(), q: String::new(), main, account: Account::Hidden }).into_response()
    }
}

/// Who is asking: Basic or Bearer credentials when sent, else the session cookie.
async fn caller(state: &AppState, headers: &HeaderMap) -> Result<Caller, PageError> {
    session::caller(state, headers).await
}

/// Where clients reach this registry: `WASMHUB_PUBLIC_URL` when configured, else the request's
/// `Host` (sanitised by `public_url`). `base` has the scheme; `host` is what OCI references use.
pub struct Origin {
    pub base: String,
    pub host: String,
}

impl Origin {
    fn of(state: &AppState, headers: &HeaderMap) -> Origin {
        let base = state.auth.public_url(headers);
        let without_scheme = base.split_once("://").map_or(base.as_str(), |(_, rest)| rest);
        let host = without_scheme.split('/').next().unwrap_or_default().to_owned();
        Origin { base, host }
    }
}
