//! Administration under `/api/v1`: the audit log and webhooks. Administrators only; errors
//! in the account API's shape (`{"errors":[{"code","message"}]}`), and the caller is checked
//! before anything in the request is looked at, so strangers learn nothing but 401/403.

use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use wasmhub_index::{AuditQuery, AuditRecord, DeliveryStatus, EventKind, Webhook};
use wasmhub_registry::{actor_of, Caller, WebhookScope, WebhookUrl, MAX_AUDIT_PAGE};

use crate::accounts_api::administrator;
use crate::error::ApiError;
use crate::time::rfc3339;
use crate::AppState;

const DEFAULT_PER_PAGE: u32 = 50;
/// Longest filter value accepted (names and actions are far shorter).
const MAX_FILTER_LEN: usize = 256;
const MAX_PAGE: u64 = 1_000_000;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v1/audit", get(audit))
        .route("/api/v1/webhooks", get(list_webhooks).post(add_webhook))
        .route("/api/v1/webhooks/{id}", axum::routing::delete(remove_webhook))
        .route("/api/v1/webhooks/{id}/deliveries", get(deliveries))
}

fn invalid(message: impl Into<String>) -> ApiError {
    ApiError::api(StatusCode::BAD_REQUEST, "INVALID_INPUT", message)
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct AuditView {
    id: i64,
    time: String,
    actor: String,
    action: String,
    repository: Option<String>,
    target: String,
    client_ip: Option<String>,
    detail: Option<serde_json::Value>,
}

impl From<AuditRecord> for AuditView {
    fn from(record: AuditRecord) -> Self {
        AuditView {
            id: record.id,
            time: rfc3339(record.at),
            actor: record.actor,
            action: record.action,
            repository: record.repository,
            target: record.target,
            client_ip: record.client_ip,
            detail: record.detail.and_then(|detail| serde_json::from_str(&detail).ok()),
        }
    }
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct AuditPage {
    entries: Vec<AuditView>,
    page: u64,
    per_page: u32,
    total: u64,
}

/// The audit log's query string: exact-match filters and a page (from 1).
fn audit_query(raw: Option<&str>) -> Result<(AuditQuery, u64), ApiError> {
    let mut query = AuditQuery { limit: DEFAULT_PER_PAGE, ..AuditQuery::default() };
    let mut page = 1;
    for (key, value) in form_urlencoded::parse(raw.unwrap_or_default().as_bytes()) {
        let filter = || {
            if value.is_empty() || value.len() > MAX_FILTER_LEN {
                return Err(invalid(format!("{key} is 1 to {MAX_FILTER_LEN} characters")));
            }
            Ok(Some(value.to_string()))
        };
        match key.as_ref() {
            "actor" => query.actor = filter()?,
            "repository" => query.repository = filter()?,
            "action" => query.action = filter()?,
            "page" => {
                page = value
                    .parse()
                    .ok()
                    .filter(|page| (1..=MAX_PAGE).contains(page))
                    .ok_or_else(|| invalid(format!("page is a whole number from 1 to {MAX_PAGE}, not {value:?}")))?
            }
            "per_page" => {
                query.limit = value.parse().ok().filter(|n| (1..=MAX_AUDIT_PAGE).contains(n)).ok_or_else(|| {
                    invalid(format!("per_page is a whole number from 1 to {MAX_AUDIT_PAGE}, not {value:?}"))
                })?
            }
            _ => {}
        }
    }
    query.offset = (page - 1) * u64::from(query.limit);
    Ok((query, page))
}

async fn audit(
    State(state): State<AppState>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    administrator(&state, &headers).await?;
    let (query, page) = audit_query(raw.as_deref())?;
    let (records, total) = state.registry.audit_log(&query).await?;
    let entries = records.into_iter().map(AuditView::from).collect();
    Ok(Json(AuditPage { entries, page, per_page: query.limit, total }).into_response())
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct WebhookView {
    id: i64,
    namespace: Option<String>,
    url: String,
    events: Vec<&'static str>,
    created_at: String,
}

impl From<&Webhook> for WebhookView {
    fn from(webhook: &Webhook) -> Self {
        WebhookView {
            id: webhook.id,
            namespace: webhook.namespace.clone(),
            url: webhook.url.clone(),
            events: webhook.events.iter().map(|kind| kind.as_str()).collect(),
            created_at: rfc3339(webhook.created_at),
        }
    }
}

async fn list_webhooks(State(state): State<AppState>, headers: HeaderMap) -> Result<Response, ApiError> {
    administrator(&state, &headers).await?;
    let webhooks: Vec<WebhookView> = state.registry.webhooks().await?.iter().map(WebhookView::from).collect();
    Ok(Json(webhooks).into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewWebhook {
    /// Absent or null: a global webhook.
    namespace: Option<String>,
    url: String,
    secret: String,
    #[serde(default)]
    events: Vec<String>,
}

/// The body is read as bytes and parsed after the caller is checked.
async fn add_webhook(State(state): State<AppState>, headers: HeaderMap, body: Bytes) -> Result<Response, ApiError> {
    let admin = administrator(&state, &headers).await?;
    // A web page elsewhere can POST `text/plain` that parses as JSON, with whatever credentials
    // the browser holds for this origin; `application/json` makes the browser ask first (CORS).
    if !is_json(&headers) {
        return Err(ApiError::api(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "UNSUPPORTED_MEDIA_TYPE",
            "the body must be sent as application/json",
        ));
    }
    let body: NewWebhook = serde_json::from_slice(&body).map_err(|e| invalid(format!("the body: {e}")))?;
    let scope = match &body.namespace {
        None => WebhookScope::Global,
        Some(namespace) => WebhookScope::Namespace(
            namespace.parse().map_err(|e: wasmhub_oci::NameError| invalid(format!("namespace: {e}")))?,
        ),
    };
    let url: WebhookUrl = body.url.parse()?;
    let events = body.events.iter().map(|kind| kind.parse::<EventKind>()).collect::<Result<Vec<_>, _>>();
    let events = events.map_err(invalid)?;
    let webhook =
        state.registry.add_webhook(&scope, &url, &body.secret, &events, &actor_of(&Caller::User(admin))).await?;
    Ok((StatusCode::CREATED, Json(WebhookView::from(&webhook))).into_response())
}

fn is_json(headers: &HeaderMap) -> bool {
    let content_type = headers.get(axum::http::header::CONTENT_TYPE).and_then(|value| value.to_str().ok());
    content_type.is_some_and(|value| {
        value.split(';').next().is_some_and(|essence| essence.trim().eq_ignore_ascii_case("application/json"))
    })
}

fn webhook_id(text: &str) -> Result<i64, ApiError> {
    text.parse().map_err(|_| ApiError::api(StatusCode::NOT_FOUND, "NOT_FOUND", format!("no webhook {text:?}")))
}

async fn remove_webhook(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let admin = administrator(&state, &headers).await?;
    let id = webhook_id(&id)?;
    if !state.registry.remove_webhook(id, &actor_of(&Caller::User(admin))).await? {
        return Err(ApiError::api(StatusCode::NOT_FOUND, "NOT_FOUND", format!("no webhook {id}")));
    }
    Ok(StatusCode::NO_CONTENT.into_response())
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct DeliveryView {
    id: i64,
    event_id: String,
    event_type: String,
    state: String,
    attempts: i64,
    next_attempt_at: String,
    last_status: Option<i64>,
    last_error: Option<String>,
}

impl From<DeliveryStatus> for DeliveryView {
    fn from(delivery: DeliveryStatus) -> Self {
        DeliveryView {
            id: delivery.id,
            event_id: delivery.event_id,
            event_type: format!("{}{}", wasmhub_registry::EVENT_TYPE_PREFIX, delivery.event_kind),
            state: delivery.state,
            attempts: delivery.attempts,
            next_attempt_at: rfc3339(delivery.next_attempt_at),
            last_status: delivery.last_status,
            last_error: delivery.last_error,
        }
    }
}

/// The webhook's 100 most recent deliveries, newest first.
async fn deliveries(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    administrator(&state, &headers).await?;
    let id = webhook_id(&id)?;
    if state.registry.webhook(id).await?.is_none() {
        return Err(ApiError::api(StatusCode::NOT_FOUND, "NOT_FOUND", format!("no webhook {id}")));
    }
    let deliveries = state.registry.deliveries(Some(id), 100).await?;
    Ok(Json(deliveries.into_iter().map(DeliveryView::from).collect::<Vec<_>>()).into_response())
}
