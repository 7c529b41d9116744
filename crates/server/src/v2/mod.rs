//! The distribution API under `/v2/`: one entry point that parses the path (see `route`),
//! then thin handlers that call one `Registry` function each and shape the response.

mod blobs;
mod discovery;
mod manifests;
mod uploads;

use axum::body::Body;
use axum::extract::{Request, State};

use axum::http::{header, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use wasmhub_oci::ErrorCode;
use wasmhub_registry::Caller;

use crate::error::ApiError;
use crate::route::{self, Route};
use crate::AppState;

/// Answers every `/v2/...` request. A 401 carries the token-auth challenge, naming the scope
/// the request needed so that clients fetch the right token.
pub async fn dispatch(State(state): State<AppState>, request: Request) -> Response {
    let path = request.uri().path().strip_prefix("/v2").unwrap_or_default();
    let path = path.strip_prefix('/').unwrap_or(path).to_owned();
    let route = route::parse(&path);
    let headers = request.headers().clone();
    let scope = route.as_ref().ok().and_then(|route| scope(route, request.method()));
    let outcome = match route {
        Ok(route) => handle(&state, route, request).await,
        Err(error) => Err(error),
    };
    let mut response = match outcome {
        Ok(response) => response,
        Err(error) => error.into_response(),
    };
    let status = response.status();
    if status == StatusCode::UNAUTHORIZED || (status == StatusCode::FORBIDDEN && state.registry.policy().enforce) {
        let mut challenge = state.auth.challenge(&headers, scope.as_deref());
        if status == StatusCode::FORBIDDEN {
            challenge.push_str(",error=\"insufficient_scope\"");
        }
        if let Ok(value) = challenge.parse() {
            response.headers_mut().insert(axum::http::header::WWW_AUTHENTICATE, value);
        }
    }
    response
}

/// The token-auth scope a request on `route` needs.
fn scope(route: &Route, method: &Method) -> Option<String> {
    let name = match route {
        Route::Base => return None,
        Route::Catalog => return Some("registry:catalog:*".into()),
        Route::Manifest(name, _)
        | Route::Blob(name, _)
        | Route::Uploads(name)
        | Route::Upload(name, _)
        | Route::Tags(name)
        | Route::Referrers(name, _) => name,
    };
    let actions = match *method {
        Method::GET | Method::HEAD => "pull",
        Method::DELETE if matches!(route, Route::Manifest(..) | Route::Blob(..)) => "delete",
        _ => "pull,push",
    };
    Some(format!("repository:{name}:{actions}"))
}

async fn handle(state: &AppState, route: Route, request: Request) -> Result<Response, ApiError> {
    let caller = state.auth.caller(&state.registry, request.headers()).await?;
    let method = request.method().clone();
    let query = Query::parse(request.uri().query());
    let registry = &state.registry;
    let allowed = route.allowed_methods();
    match (route, method) {
        // Docker clients start the token dance from this 401. A caller who comes back with the
        // anonymous token the realm gave is let in, as by the reference registry: clients that
        // ping again with it (oras-go, regclient) would otherwise never get past this.
        (Route::Base, Method::GET | Method::HEAD)
            if matches!(caller, Caller::Anonymous) && !request.headers().contains_key(header::AUTHORIZATION) =>
        {
            Err(ApiError::new(
                ErrorCode::Unauthorized,
                "sign in to use this registry; anonymous pulls of public repositories need a token from the realm",
            ))
        }
        (Route::Base, Method::GET | Method::HEAD) => Ok(Json::empty_object()),
        (Route::Catalog, Method::GET) => discovery::catalog(registry, &caller, &query).await,
        (Route::Tags(name), Method::GET) => discovery::tags(registry, &caller, &name, &query).await,
        (Route::Referrers(name, digest), Method::GET) => {
            discovery::referrers(registry, &caller, &name, &digest, &query).await
        }
        (Route::Manifest(name, reference), method @ (Method::GET | Method::HEAD)) => {
            manifests::get(registry, &caller, &name, &reference, method == Method::HEAD, request.headers()).await
        }
        (Route::Manifest(name, reference), Method::PUT) => {
            manifests::put(registry, &caller, &name, &reference, &query, request).await
        }
        (Route::Manifest(name, reference), Method::DELETE) => {
            manifests::delete(registry, &caller, &name, &reference).await
        }
        (Route::Blob(name, digest), method @ (Method::GET | Method::HEAD)) => {
            blobs::get(registry, &caller, &name, &digest, method == Method::HEAD, request.headers()).await
        }
        (Route::Blob(name, digest), Method::DELETE) => blobs::delete(registry, &caller, &name, &digest).await,
        (Route::Uploads(name), Method::POST) => uploads::start(registry, &caller, &name, &query, request).await,
        (Route::Upload(name, id), Method::PATCH) => uploads::patch(registry, &caller, &name, id, request).await,
        (Route::Upload(name, id), Method::GET) => uploads::status(registry, &caller, &name, id).await,
        (Route::Upload(name, id), Method::PUT) => uploads::finish(registry, &caller, &name, id, &query, request).await,
        (Route::Upload(name, id), Method::DELETE) => uploads::cancel(registry, &caller, &name, id).await,
        _ => Err(ApiError::method_not_allowed(allowed)),
    }
}

/// `Range: 0-<last byte>` as upload responses report progress (`0-0` for an empty session,
/// as the distribution registry does).
pub(crate) fn range_header(size: u64) -> String {
    format!("0-{}", size.saturating_sub(1))
}

/// The query string's parameters, in order, decoded. Repeated keys are kept (`?tag=a&tag=b`).
pub(crate) struct Query(Vec<(String, String)>);

impl Query {
    fn parse(query: Option<&str>) -> Query {
        Query(
            form_urlencoded::parse(query.unwrap_or_default().as_bytes())
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect(),
        )
    }

    pub(crate) fn get(&self, key: &str) -> Option<&str> {
        self.0.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
    }

    pub(crate) fn all<'a>(&'a self, key: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.0.iter().filter(move |(k, _)| k == key).map(|(_, v)| v.as_str())
    }
}

struct Json;

impl Json {
    fn empty_object() -> Response {
        (StatusCode::OK, [(axum::http::header::CONTENT_TYPE, "application/json")], "{}").into_response()
    }
}

/// A response with no body but the given status and headers.
pub(crate) fn empty(status: StatusCode, headers: Vec<(&'static str, String)>) -> Response {
    let mut builder = Response::builder().status(status);
    for (name, value) in headers {
        builder = builder.header(name, value);
    }
    builder
        .header("content-length", "0")
        .body(Body::empty())
        .expect("static header names and formatted values are valid")
}
