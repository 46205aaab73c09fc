//! The one mapping from service errors to what MCP clients see.
//!
//! A tool that ran and failed (bad argument, unknown session, forbidden,
//! conflict...) answers with a *tool error* (`isError: true`) whose text is
//! `CODE: message`, so the model reads the service's own explanation and can
//! correct itself. HTTP-level refusals (no or bad bearer token) use the same
//! code and status from [`ErrorCode::table`].

use nocturne_service::{ErrorCode, ServiceError};
use rmcp::model::{CallToolResult, ContentBlock};

/// An error as every adapter reports it: stable code, message, HTTP status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mapped {
    pub code: &'static str,
    pub message: String,
    pub http_status: u16,
    /// For `invalid_input` about one argument: its name.
    pub field: Option<&'static str>,
}

/// The single mapping, through the service's table.
pub fn map_error(e: &ServiceError) -> Mapped {
    let (code, _exit, http_status) = e.code().table();
    Mapped { code, message: e.to_string(), http_status, field: e.field() }
}

/// A failure that is not the service's: a worker thread that died.
pub fn internal(message: impl Into<String>) -> Mapped {
    let (code, _exit, http_status) = ErrorCode::Internal.table();
    Mapped { code, message: message.into(), http_status, field: None }
}

impl Mapped {
    /// The tool error a model reads.
    pub fn tool_result(&self) -> CallToolResult {
        let text = match self.field {
            Some(f) => format!("{} ({f}): {}", self.code, self.message),
            None => format!("{}: {}", self.code, self.message),
        };
        CallToolResult::error(vec![ContentBlock::text(text)])
    }

    /// The JSON body of an HTTP refusal.
    pub fn json_body(&self) -> serde_json::Value {
        match self.field {
            Some(f) => serde_json::json!({"error": {"code": self.code, "message": self.message, "field": f}}),
            None => serde_json::json!({"error": {"code": self.code, "message": self.message}}),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn service_errors_keep_their_code_status_and_message() {
        let m = map_error(&ServiceError::NotFound { what: "session", id: "s9".into() });
        assert_eq!(
            m,
            Mapped { code: "not_found", message: "session s9 not found".into(), http_status: 404, field: None }
        );
        let m = map_error(&ServiceError::Forbidden("needs write".into()));
        assert_eq!((m.code, m.http_status), ("forbidden", 403));
        let m = map_error(&ServiceError::Unauthorized("unknown token".into()));
        assert_eq!((m.code, m.http_status), ("unauthorized", 401));
        let m = map_error(&ServiceError::Invalid("bad kind".into()));
        assert_eq!((m.code, m.http_status), ("invalid_input", 400));
    }

    #[test]
    fn tool_errors_are_flagged_and_readable() {
        let r = map_error(&ServiceError::Conflict("store moved".into())).tool_result();
        assert_eq!(r.is_error, Some(true));
        let v = serde_json::to_value(&r).unwrap();
        assert_eq!(v["content"][0]["text"], "conflict: store moved");
        assert_eq!(internal("worker died").json_body()["error"]["code"], "internal");
    }
}
