//! OpenTelemetry GenAI spans (`invoke_agent`, `chat`, `execute_tool`),
//! written as JSON lines to a file and/or sent over OTLP/HTTP (JSON
//! encoding) to a collector — only when configured: nothing leaves the
//! machine by default. Ids are derived from the run and step keys, so a
//! resumed run's spans join the same trace with the same parent links.

use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use std::io::Write;
use std::sync::Mutex;
use std::time::{SystemTime, UNIX_EPOCH};

/// Spans buffered before an OTLP export is sent.
const BATCH: usize = 64;

pub(crate) struct Tracer {
    run: String,
    file: Option<Mutex<std::fs::File>>,
    otlp: Option<String>,
    buffer: Mutex<Vec<Value>>,
    /// Why exporting failed (reported once, at the end).
    pub(crate) errors: Mutex<Vec<String>>,
}

/// A span's identity: hex ids from the step key.
pub(crate) fn span_id(run: &str, key: &str) -> String {
    let d = Sha256::digest(format!("{run}\n{key}").as_bytes());
    hex::encode(d.get(..8).unwrap_or_default())
}

fn trace_id(run: &str) -> String {
    let d = Sha256::digest(format!("trace\n{run}").as_bytes());
    hex::encode(d.get(..16).unwrap_or_default())
}

pub(crate) fn unix_nanos(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH).map(|d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)).unwrap_or(0)
}

/// One finished span.
pub(crate) struct Span<'a> {
    pub name: String,
    pub id: String,
    pub parent: Option<String>,
    pub start: SystemTime,
    pub end: SystemTime,
    pub attrs: Vec<(&'a str, Value)>,
    pub error: Option<String>,
}

fn attr(key: &str, v: &Value) -> Value {
    let value = match v {
        Value::String(s) => json!({"stringValue": s}),
        Value::Bool(b) => json!({"boolValue": b}),
        Value::Number(n) if n.is_i64() || n.is_u64() => json!({"intValue": n.to_string()}),
        Value::Number(n) => json!({"doubleValue": n.as_f64().unwrap_or(0.0)}),
        Value::Array(items) => {
            json!({"arrayValue": {"values": items.iter().map(|i| attr("", i)["value"].clone()).collect::<Vec<_>>()}})
        }
        other => json!({"stringValue": other.to_string()}),
    };
    json!({"key": key, "value": value})
}

impl Tracer {
    pub(crate) fn new(run: &str, file: Option<&str>, otlp: Option<&str>) -> Result<Self, String> {
        let file = match file {
            Some(p) => Some(Mutex::new(
                std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(p)
                    .map_err(|e| format!("trace file {p}: {e}"))?,
            )),
            None => None,
        };
        Ok(Tracer {
            run: run.to_string(),
            file,
            otlp: otlp.map(|u| format!("{}/v1/traces", u.trim_end_matches('/'))),
            buffer: Mutex::new(Vec::new()),
            errors: Mutex::new(Vec::new()),
        })
    }

    fn enabled(&self) -> bool {
        self.file.is_some() || self.otlp.is_some()
    }

    pub(crate) fn record(&self, s: Span<'_>) {
        if !self.enabled() {
            return;
        }
        let mut attributes: Vec<Value> = s.attrs.iter().map(|(k, v)| attr(k, v)).collect();
        if let Some(e) = &s.error {
            attributes.push(attr("error.type", &Value::String(e.clone())));
        }
        let span = json!({
            "traceId": trace_id(&self.run),
            "spanId": s.id,
            "parentSpanId": s.parent.unwrap_or_default(),
            "name": s.name,
            "kind": if s.name.starts_with("chat") { 3 } else { 1 },
            "startTimeUnixNano": unix_nanos(s.start).to_string(),
            "endTimeUnixNano": unix_nanos(s.end).to_string(),
            "attributes": attributes,
            "status": match &s.error { Some(e) => json!({"code": 2, "message": e}), None => json!({"code": 0}) },
        });
        if let Some(f) = &self.file {
            if let Ok(mut f) = f.lock() {
                let _ = writeln!(f, "{span}");
            }
        }
        if self.otlp.is_some() {
            let full = {
                let Ok(mut b) = self.buffer.lock() else { return };
                b.push(span);
                b.len() >= BATCH
            };
            if full {
                self.flush();
            }
        }
    }

    /// Sends the buffered spans (OTLP/HTTP, JSON).
    pub(crate) fn flush(&self) {
        let Some(url) = &self.otlp else { return };
        let spans: Vec<Value> = match self.buffer.lock() {
            Ok(mut b) => std::mem::take(&mut *b),
            Err(_) => return,
        };
        if spans.is_empty() {
            return;
        }
        let body = json!({"resourceSpans": [{
            "resource": {"attributes": [attr("service.name", &json!("nocturne"))]},
            "scopeSpans": [{"scope": {"name": "nocturne-runtime", "version": env!("CARGO_PKG_VERSION")}, "spans": spans}]
        }]});
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(std::time::Duration::from_secs(10)))
            .build()
            .into();
        let res = agent.post(url).header("content-type", "application/json").send(body.to_string().as_bytes());
        let problem = match res {
            Ok(r) if r.status().is_success() => None,
            Ok(r) => Some(format!("OTLP export to {url}: HTTP {}", r.status().as_u16())),
            Err(e) => Some(format!("OTLP export to {url}: {e}")),
        };
        if let (Some(p), Ok(mut errs)) = (problem, self.errors.lock()) {
            if errs.len() < 3 {
                errs.push(p);
            }
        }
    }
}
