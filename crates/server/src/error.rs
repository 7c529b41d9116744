//! The one place where failures become HTTP: the distribution spec's error body
//! `{"errors":[{"code","message","detail"}]}` with the code's status.

use axum::http::{header, HeaderMap, HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use wasmhub_oci::{DigestError, ErrorCode, NameError};
use wasmhub_registry::RegistryError;

/// A failed request, boxed: it travels through every handler's `Result`.
#[derive(Debug)]
pub struct ApiError(Box<Inner>);

#[derive(Debug)]
struct Inner {
    status: StatusCode,
    code: &'static str,
    message: String,
    detail: Option<serde_json::Value>,
    headers: HeaderMap,
}

impl PartialEq for ApiError {
    fn eq(&self, other: &Self) -> bool {
        (self.0.status, self.0.code, &self.0.message) == (other.0.status, other.0.code, &other.0.message)
    }
}

impl Eq for ApiError {}

#[derive(Serialize)]
struct ErrorBody<'a> {
    errors: [ErrorEntry<'a>; 1],
}

#[derive(Serialize)]
struct ErrorEntry<'a> {
    code: &'a str,
    message: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    detail: Option<&'a serde_json::Value>,
}

impl ApiError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> ApiError {
        ApiError(Box::new(Inner {
            status: StatusCode::from_u16(code.status()).expect("spec statuses are valid"),
            code: code.as_str(),
            message: message.into(),
            detail: None,
            headers: HeaderMap::new(),
        }))
    }

    /// An error of the JSON API that has no distribution-spec code.
    pub fn api(status: StatusCode, code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError(Box::new(Inner { status, code, message: message.into(), detail: None, headers: HeaderMap::new() }))
    }

    pub fn with_detail(mut self, detail: serde_json::Value) -> ApiError {
        self.0.detail = Some(detail);
        self
    }

    pub fn with_status(mut self, status: StatusCode) -> ApiError {
        self.0.status = status;
        self
    }

    pub fn with_header(mut self, name: HeaderName, value: &str) -> ApiError {
        if let Ok(value) = HeaderValue::from_str(value) {
            self.0.headers.insert(name, value);
        }
        self
    }

    pub fn status(&self) -> StatusCode {
        self.0.status
    }

    #[cfg(test)]
    pub fn code_str(&self) -> &'static str {
        self.0.code
    }

    pub fn name_invalid(error: NameError) -> ApiError {
        ApiError::new(ErrorCode::NameInvalid, error.to_string())
    }

    pub fn digest_invalid(error: DigestError) -> ApiError {
        ApiError::new(ErrorCode::DigestInvalid, error.to_string())
    }

    pub fn reference_invalid(error: NameError) -> ApiError {
        match error {
            NameError::InvalidReference(..) => ApiError::new(ErrorCode::DigestInvalid, error.to_string()),
            other => ApiError::new(ErrorCode::ManifestInvalid, other.to_string()),
        }
    }

    pub fn upload_unknown() -> ApiError {
        ApiError::new(ErrorCode::BlobUploadUnknown, ErrorCode::BlobUploadUnknown.message())
    }

    pub fn not_found() -> ApiError {
        ApiError::new(ErrorCode::NameUnknown, "no such endpoint in the distribution API")
    }

    /// 405, with the `Allow` header RFC 9110 requires.
    pub fn method_not_allowed(allowed: &str) -> ApiError {
        ApiError::new(ErrorCode::Unsupported, "method not allowed on this endpoint").with_header(header::ALLOW, allowed)
    }
}

impl From<RegistryError> for ApiError {
    fn from(error: RegistryError) -> ApiError {
        match &error {
            RegistryError::Conflict(message) => {
                return ApiError::api(StatusCode::CONFLICT, "CONFLICT", message.clone())
            }
            RegistryError::InvalidInput(message) => {
                return ApiError::api(StatusCode::BAD_REQUEST, "INVALID_INPUT", message.clone())
            }
            _ => {}
        }
        let Some(code) = error.code() else {
            tracing::error!(%error, "request failed on the server side");
            return ApiError(Box::new(Inner {
                status: StatusCode::INTERNAL_SERVER_ERROR,
                code: "UNKNOWN",
                message: "internal server error; see the registry's log".into(),
                detail: None,
                headers: HeaderMap::new(),
            }));
        };
        let api = ApiError::new(code, error.to_string());
        match &error {
            RegistryError::BlobUnknown(digest) | RegistryError::ManifestBlobUnknown(digest) => {
                api.with_detail(serde_json::json!({ "digest": digest }))
            }
            RegistryError::DigestMismatch { expected, actual } => {
                api.with_detail(serde_json::json!({ "expected": expected, "actual": actual }))
            }
            RegistryError::NameUnknown(name) => api.with_detail(serde_json::json!({ "name": name })),
            RegistryError::RangeNotSatisfiable { size } => {
                api.with_header(axum::http::header::CONTENT_RANGE, &format!("bytes */{size}"))
            }
            RegistryError::ChunkOutOfOrder { expected, .. } => api
                .with_header(HeaderName::from_static("range"), &crate::v2::range_header(*expected))
                .with_detail(serde_json::json!({ "expectedOffset": expected })),
            _ => api,
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let error = *self.0;
        let body = ErrorBody {
            errors: [ErrorEntry { code: error.code, message: &error.message, detail: error.detail.as_ref() }],
        };
        let json = serde_json::to_vec(&body).expect("serialising plain data cannot fail");
        let mut response =
            (error.status, [(axum::http::header::CONTENT_TYPE, "application/json")], json).into_response();
        response.headers_mut().extend(error.headers);
        response
    }
}
