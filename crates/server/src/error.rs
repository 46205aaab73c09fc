//! Errors as responses: one shape, `{"error":{"code","message"}}`, for
//! every error the server answers: service errors (with the status of
//! [`ErrorCode::table`]), and the transport's own (405, 413, 414, 415,
//! 431...), each with one code.

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
    /// The request cannot be served as sent (wrong method, media type, too
    /// large...): the status says which, [`code_for`] names it.
    Http {
        status: StatusCode,
        message: String,
    },
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

    pub(crate) fn forbidden(msg: impl Into<String>) -> Self {
        ApiError::Service(ServiceError::Forbidden(msg.into()))
    }

    pub(crate) fn http(status: StatusCode, msg: impl Into<String>) -> Self {
        ApiError::Http { status, message: msg.into() }
    }

    pub(crate) fn conflict(msg: impl Into<String>) -> Self {
        ApiError::Service(ServiceError::Conflict(msg.into()))
    }

    /// The request field the error is about, when it is one field.
    pub fn field(&self) -> Option<&'static str> {
        match self {
            ApiError::Service(e) => e.field(),
            _ => None,
        }
    }

    /// `(code, HTTP status, message)`.
    pub fn parts(&self) -> (&'static str, StatusCode, String) {
        let (code, msg) = match self {
            ApiError::Service(e) => (e.code(), e.to_string()),
            ApiError::Internal(m) => (ErrorCode::Internal, m.clone()),
            ApiError::Http { status, message } => return (code_for(*status), *status, message.clone()),
        };
        let (name, _, status) = code.table();
        (name, StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR), msg)
    }

    /// The JSON body.
    pub fn body(&self) -> serde_json::Value {
        serde_json::to_value(self.wire()).unwrap_or(serde_json::Value::Null)
    }

    /// The body as its wire type.
    pub fn wire(&self) -> ErrorBody {
        let (code, _, message) = self.parts();
        ErrorBody { error: ErrorDetail { code: code.to_string(), message, field: self.field().map(str::to_string) } }
    }
}

/// Every error response: `{"error":{"code","message"}}`.
#[derive(Debug, Clone, serde::Serialize, schemars::JsonSchema)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

/// What went wrong.
#[derive(Debug, Clone, serde::Serialize, schemars::JsonSchema)]
pub struct ErrorDetail {
    #[schemars(schema_with = "code_schema")]
    pub code: String,
    /// What is wrong and where, for a person.
    pub message: String,
    /// For `invalid_input` about one field of the request: its name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (_, status, _) = self.parts();
        (status, axum::Json(self.wire())).into_response()
    }
}

/// The error code of an HTTP status: the service's codes for the statuses
/// of its table, and one code per transport status. Documented in the
/// OpenAPI document (`Error`).
pub fn code_for(status: StatusCode) -> &'static str {
    match status.as_u16() {
        400 => "invalid_input",
        401 => "unauthorized",
        403 => "forbidden",
        404 => "not_found",
        405 => "method_not_allowed",
        406 => "not_acceptable",
        408 => "request_timeout",
        409 => "conflict",
        411 => "length_required",
        413 => ErrorCode::TooLarge.table().0,
        414 => "uri_too_long",
        415 => "unsupported_media_type",
        422 => "unprocessable",
        429 => ErrorCode::RateLimited.table().0,
        431 => "headers_too_large",
        503 => ErrorCode::Unavailable.table().0,
        s if s >= 500 => "internal",
        _ => "invalid_input",
    }
}

/// The codes of the transport's own errors ([`code_for`]), beside the
/// service's table.
pub const HTTP_CODES: &[&str] = &[
    "invalid_input",
    "unauthorized",
    "forbidden",
    "not_found",
    "conflict",
    "internal",
    "method_not_allowed",
    "not_acceptable",
    "request_timeout",
    "length_required",
    "uri_too_long",
    "unsupported_media_type",
    "unprocessable",
    "headers_too_large",
];

/// Every code an error response may carry: the service's table, then the
/// transport's own.
pub fn codes() -> Vec<&'static str> {
    let mut v: Vec<&'static str> = ErrorCode::ALL.iter().map(|c| c.table().0).collect();
    for c in HTTP_CODES {
        if !v.contains(c) {
            v.push(c);
        }
    }
    v
}

/// `code (status)` for every code, for the document's description.
pub(crate) fn code_table() -> Vec<String> {
    let mut v: Vec<String> = ErrorCode::ALL.iter().map(|c| format!("{} ({})", c.table().0, c.table().2)).collect();
    for status in [405u16, 406, 408, 411, 414, 415, 422, 431] {
        if let Ok(s) = StatusCode::from_u16(status) {
            v.push(format!("{} ({status})", code_for(s)));
        }
    }
    v
}

fn code_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
    schemars::json_schema!({"type": "string", "enum": codes(),
        "description": "One of a fixed set of codes (see the document's description)."})
}

/// The fallback: an unknown path is a `not_found` error like any other.
pub(crate) async fn no_route(method: Method, uri: Uri) -> ApiError {
    ApiError::Service(ServiceError::NotFound { what: "route", id: format!("{method} {}", uri.path()) })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_code_an_error_can_carry_is_documented() {
        let documented = codes();
        for c in ErrorCode::ALL {
            assert!(documented.contains(&c.table().0), "{c:?}");
        }
        for status in 400..=599u16 {
            let s = StatusCode::from_u16(status).unwrap();
            assert!(documented.contains(&code_for(s)), "{status}");
        }
        let table = code_table().join(", ");
        assert!(table.contains("model_timeout (504)") && table.contains("uri_too_long (414)"), "{table}");
        // The transport's statuses that the table has are named by it.
        for c in [ErrorCode::TooLarge, ErrorCode::RateLimited, ErrorCode::Unavailable] {
            let (name, _, status) = c.table();
            assert_eq!(code_for(StatusCode::from_u16(status).unwrap()), name);
        }
    }
}
