//! Failures of the JSON API: `{"error": {"code", "message"}}` with a plain HTTP status. Bad
//! input is always a 4xx with a message that says what to change; only server-side failures
//! are 500 (and their cause goes to the log, not the client).

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use wasmhub_registry::RegistryError;

#[derive(Debug)]
pub struct JsonError {
    status: StatusCode,
    code: &'static str,
    message: String,
}

impl JsonError {
    pub fn bad_request(message: impl Into<String>) -> JsonError {
        JsonError { status: StatusCode::BAD_REQUEST, code: "BAD_REQUEST", message: message.into() }
    }

    pub fn not_found(message: impl Into<String>) -> JsonError {
        JsonError { status: StatusCode::NOT_FOUND, code: "NOT_FOUND", message: message.into() }
    }

    /// The message alone, for callers that answer in another format (the web pages).
    pub fn into_message(self) -> String {
        self.message
    }
}

impl From<RegistryError> for JsonError {
    fn from(error: RegistryError) -> JsonError {
        match &error {
            RegistryError::NameUnknown(_) | RegistryError::ManifestUnknown(_) | RegistryError::BlobUnknown(_) => {
                JsonError::not_found(error.to_string())
            }
            RegistryError::Denied(_) => {
                JsonError { status: StatusCode::FORBIDDEN, code: "DENIED", message: error.to_string() }
            }
            RegistryError::Unauthorized { .. } => {
                JsonError { status: StatusCode::UNAUTHORIZED, code: "UNAUTHORIZED", message: error.to_string() }
            }
            RegistryError::TooManyAttempts { .. } => {
                JsonError { status: StatusCode::TOO_MANY_REQUESTS, code: "TOOMANYREQUESTS", message: error.to_string() }
            }
            RegistryError::BadRequest(_) | RegistryError::PaginationInvalid(_) => {
                JsonError::bad_request(error.to_string())
            }
            _ if error.code().is_some() => JsonError::bad_request(error.to_string()),
            _ => {
                tracing::error!(%error, "API request failed on the server side");
                JsonError {
                    status: StatusCode::INTERNAL_SERVER_ERROR,
                    code: "INTERNAL",
                    message: "internal server error; see the registry's log".into(),
                }
            }
        }
    }
}

impl IntoResponse for JsonError {
    fn into_response(self) -> Response {
        let body = serde_json::json!({ "error": { "code": self.code, "message": self.message } });
        (self.status, Json(body)).into_response()
    }
}

impl JsonError {
    pub fn unauthorized() -> JsonError {
        JsonError {
            status: StatusCode::UNAUTHORIZED,
            code: "UNAUTHORIZED",
            message: "the credentials were not accepted".into(),
        }
    }
}
