//! Errors as responses: one mapping, from [`ErrorCode::table`].

use axum::http::{Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use nocturne_service::{ErrorCode, ServiceError};

/// An error answered as `{"error":{"code","message"}}` with the status from
/// the service's error table.
#[derive(Debug)]
pub enum ApiError {
    Service(ServiceError),
    /// The server itself failed (a worker thread died).
    Internal(String),
}

impl From<ServiceError> for ApiError {
    fn from(e: ServiceError) -> Self {
        ApiError::Service(e)
    }
}

impl ApiError {
    pub(crate) fn invalid(msg: impl Into<String>) -> Self {
        ApiError::Service(ServiceError::Invalid(msg.into()))
    }

    /// `(code, HTTP status, message)`.
    pub fn parts(&self) -> (&'static str, StatusCode, String) {
        let (code, msg) = match self {
            ApiError::Service(e) => (e.code(), e.to_string()),
            ApiError::Internal(m) => (ErrorCode::Internal, m.clone()),
        };
        let (name, _, status) = code.table();
        (name, StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR), msg)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (code, status, message) = self.parts();
        (status, axum::Json(serde_json::json!({"error": {"code": code, "message": message}}))).into_response()
    }
}

/// The fallback: an unknown path is a `not_found` error like any other.
pub(crate) async fn no_route(method: Method, uri: Uri) -> ApiError {
    ApiError::Service(ServiceError::NotFound { what: "route", id: format!("{method} {}", uri.path()) })
}
