//! A scripted fake model server for tests. It speaks the Anthropic Messages
//! API (`POST /v1/messages`) and the OpenAI Chat Completions API (`POST
//! .../chat/completions`), JSON or SSE as each request asks, and answers
//! from a [`Script`]: text, tool calls, JSON, refusals, malformed bodies,
//! HTTP errors with headers, delays, connections dropped mid-stream. It
//! records every request (method, path, headers with credentials redacted,
//! exact body bytes) in memory and, optionally, as JSON lines in a file.
//!
//! In-process: [`FakeServer::start`] listens on `127.0.0.1:0`; the server
//! stops when dropped. As a binary: `nocturne-fake-provider --script FILE
//! [--port N] [--log FILE]` prints `listening on http://127.0.0.1:PORT`.
//!
//! It also answers `GET /health` and `GET /v1/models` (unscripted, recorded).

mod http;
pub mod render;
pub mod script;

pub use render::Wire;
pub use script::{FakeToolCall, FakeUsage, Matcher, Reply, Rule, Script};

use render::{error_body, last_user_text, render, system_text, Body};
use serde::Serialize;
use serde_json::Value;
use std::collections::HashMap;
use std::fs::File;
use std::io::{self, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

/// What can go wrong starting the fake.
#[derive(Debug, thiserror::Error)]
pub enum FakeError {
    #[error("fake provider script: {0}")]
    Script(String),
    #[error("fake provider: {0}")]
    Io(#[from] io::Error),
}

/// Header values never recorded.
const SECRET_HEADERS: [&str; 5] = ["authorization", "x-api-key", "api-key", "proxy-authorization", "cookie"];

/// One request as received.
#[derive(Debug, Clone, Serialize)]
pub struct RecordedRequest {
    /// 1-based arrival order.
    pub seq: u64,
    pub method: String,
    pub path: String,
    /// Lower-case names in order; credential values replaced by `<redacted>`.
    pub headers: Vec<(String, String)>,
    /// The body as text (lossy if it was not UTF-8; `body_bytes` is exact).
    pub body: String,
    #[serde(skip)]
    pub body_bytes: Vec<u8>,
    /// Every byte received, credentials included, exactly (memory only:
    /// never written to the log file).
    #[serde(skip)]
    pub raw: Vec<u8>,
    /// `anthropic`, `openai` or `other`.
    pub wire: String,
    /// Which scripted reply answered: `rule KEY step N`, `queue N`, `fallback`, or why none did.
    pub reply: String,
}

impl RecordedRequest {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
    }

    /// The body parsed as JSON (`Null` if it is not JSON).
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body_bytes).unwrap_or(Value::Null)
    }
}

struct State {
    script: Script,
    queue_next: usize,
    steps: HashMap<String, usize>,
    requests: Vec<RecordedRequest>,
    log: Option<File>,
}

/// A running fake server.
pub struct FakeServer {
    addr: SocketAddr,
    state: Arc<Mutex<State>>,
    stop: Arc<AtomicBool>,
    accept: Option<JoinHandle<()>>,
}

impl FakeServer {
    /// Starts on `127.0.0.1` at a free port.
    pub fn start(script: Script) -> Result<Self, FakeError> {
        Self::start_on("127.0.0.1:0", script, None)
    }

    /// Starts on `addr`, appending a JSON line per request to `log` if given.
    pub fn start_on(addr: &str, script: Script, log: Option<&Path>) -> Result<Self, FakeError> {
        let listener = TcpListener::bind(addr)?;
        let addr = listener.local_addr()?;
        let log = match log {
            Some(p) => Some(File::options().create(true).append(true).open(p)?),
            None => None,
        };
        let state =
            Arc::new(Mutex::new(State { script, queue_next: 0, steps: HashMap::new(), requests: Vec::new(), log }));
        let stop = Arc::new(AtomicBool::new(false));
        let (st, sp) = (state.clone(), stop.clone());
        let accept = std::thread::spawn(move || {
            for conn in listener.incoming() {
                if sp.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(conn) = conn else { continue };
                let st = st.clone();
                std::thread::spawn(move || {
                    let _ = handle(conn, &st);
                });
            }
        });
        Ok(FakeServer { addr, state, stop, accept: Some(accept) })
    }

    /// `http://127.0.0.1:PORT`: the Anthropic base URL.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// `http://127.0.0.1:PORT/v1`: the OpenAI-compatible base URL.
    pub fn openai_url(&self) -> String {
        format!("http://{}/v1", self.addr)
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Every request so far, in arrival order.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.state.lock().map(|s| s.requests.clone()).unwrap_or_default()
    }

    /// How many requests arrived.
    pub fn request_count(&self) -> usize {
        self.state.lock().map(|s| s.requests.len()).unwrap_or(0)
    }

    /// Replaces the script (counters restart; the log is kept).
    pub fn set_script(&self, script: Script) {
        if let Ok(mut s) = self.state.lock() {
            s.script = script;
            s.queue_next = 0;
            s.steps.clear();
        }
    }
}

impl Drop for FakeServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wake the accept loop.
        let _ = TcpStream::connect_timeout(&self.addr, Duration::from_secs(1));
        if let Some(h) = self.accept.take() {
            let _ = h.join();
        }
    }
}

fn wire_of(path: &str) -> Option<Wire> {
    let path = path.split('?').next().unwrap_or(path);
    if path.ends_with("/v1/messages") {
        Some(Wire::Anthropic)
    } else if path.ends_with("/v1/chat/completions")
        || (path.contains("/deployments/") && path.ends_with("/chat/completions"))
    {
        Some(Wire::OpenAi)
    } else {
        None
    }
}

fn presented_key(req: &http::Request) -> Option<String> {
    if let Some(k) = req.header("x-api-key").or(req.header("api-key")) {
        return Some(k.to_string());
    }
    req.header("authorization").and_then(|a| a.strip_prefix("Bearer ")).map(str::to_string)
}

/// Picks the reply for a request; returns it and how it was chosen.
fn choose(state: &mut State, wire: Wire, body: &Value, raw: &[u8]) -> (Option<Reply>, String) {
    let system = system_text(wire, body);
    let last_user = last_user_text(body);
    let raw_text = String::from_utf8_lossy(raw);
    let mut chosen = None;
    for (i, rule) in state.script.rules.iter().enumerate() {
        let m = &rule.matcher;
        let holds = m.system_contains.as_ref().is_none_or(|s| system.contains(s.as_str()))
            && m.last_user_contains.as_ref().is_none_or(|s| last_user.contains(s.as_str()))
            && m.body_contains.as_ref().is_none_or(|s| raw_text.contains(s.as_str()))
            && m.wire.as_ref().is_none_or(|w| w == wire.name());
        if holds {
            chosen = Some((i, rule.key.clone().unwrap_or_else(|| format!("#{i}"))));
            break;
        }
    }
    if let Some((i, key)) = chosen {
        let step = state.steps.entry(key.clone()).or_insert(0);
        let n = *step;
        *step += 1;
        let Some(rule) = state.script.rules.get(i) else { return (None, format!("rule {key} missing")) };
        return match rule.replies.get(n).or(if rule.repeat_last { rule.replies.last() } else { None }) {
            Some(r) => (Some(r.clone()), format!("rule {key} step {n}")),
            None => {
                (None, format!("script exhausted: rule {key} has {} replies, this is step {n}", rule.replies.len()))
            }
        };
    }
    if let Some(r) = state.script.queue.get(state.queue_next).cloned() {
        let n = state.queue_next;
        state.queue_next += 1;
        return (Some(r), format!("queue {n}"));
    }
    match &state.script.fallback {
        Some(r) => (Some(r.clone()), "fallback".into()),
        None => (
            None,
            format!("script exhausted: the queue had {} replies and there is no fallback", state.script.queue.len()),
        ),
    }
}

fn handle(mut conn: TcpStream, state: &Mutex<State>) -> io::Result<()> {
    let req = match http::read_request(&conn) {
        Ok(r) => r,
        Err(_) => return Ok(()), // a wake-up connection or a client that gave up
    };
    let wire = wire_of(&req.path);
    let body: Value = serde_json::from_slice(&req.body).unwrap_or(Value::Null);
    let headers: Vec<(String, String)> = req
        .headers
        .iter()
        .map(|(n, v)| {
            let v = if SECRET_HEADERS.contains(&n.as_str()) { "<redacted>".to_string() } else { v.clone() };
            (n.clone(), v)
        })
        .collect();

    // Decide under the lock, answer outside it (delays must not block others).
    let (seq, reply, auth_error, model_error) = {
        let mut s = state.lock().map_err(|_| io::Error::other("state poisoned"))?;
        let seq = s.requests.len() as u64 + 1;
        let auth_error = match (&s.script.require_key, wire) {
            (Some(k), Some(_)) => presented_key(&req).as_deref() != Some(k.as_str()),
            _ => false,
        };
        let requested = body.get("model").and_then(Value::as_str).unwrap_or("").to_string();
        let model_error = match (&s.script.models, wire) {
            (Some(list), Some(_)) if !list.contains(&requested) => Some(requested),
            _ => None,
        };
        let (reply, how) = match wire {
            _ if auth_error => (None, "refused: wrong or missing key".to_string()),
            _ if model_error.is_some() => (None, "refused: unknown model".to_string()),
            Some(w) if req.method == "POST" => choose(&mut s, w, &body, &req.body),
            _ => (None, "unscripted endpoint".to_string()),
        };
        let rec = RecordedRequest {
            seq,
            method: req.method.clone(),
            path: req.path.clone(),
            headers,
            body: String::from_utf8_lossy(&req.body).into_owned(),
            body_bytes: req.body.clone(),
            raw: req.raw.clone(),
            wire: wire.map_or("other", Wire::name).to_string(),
            reply: how,
        };
        if let Some(f) = s.log.as_mut() {
            if let Ok(line) = serde_json::to_string(&rec) {
                let _ = writeln!(f, "{line}");
                let _ = f.flush();
            }
        }
        s.requests.push(rec);
        (seq, reply, auth_error, model_error)
    };

    let Some(wire) = wire else {
        let path = req.path.split('?').next().unwrap_or("");
        let (status, body) = match (req.method.as_str(), path) {
            ("GET", "/health") => (200, r#"{"status":"ok"}"#.to_string()),
            ("GET", p) if p.ends_with("/models") => {
                (200, r#"{"object":"list","data":[{"id":"fake-model","object":"model"}]}"#.to_string())
            }
            _ => (
                404,
                format!(
                    r#"{{"error":{{"message":"fake provider: no endpoint {} {}","type":"not_found"}}}}"#,
                    req.method, path
                ),
            ),
        };
        return http::write_full(&mut conn, status, "application/json", &[], body.as_bytes());
    };
    if auth_error {
        let msg = match wire {
            Wire::Anthropic => "invalid x-api-key",
            Wire::OpenAi => "Incorrect API key provided.",
        };
        return http::write_full(&mut conn, 401, "application/json", &[], &error_body(wire, 401, msg));
    }
    if let Some(m) = model_error {
        let msg = format!("model: {m} does not exist or you do not have access to it");
        return http::write_full(&mut conn, 404, "application/json", &[], &error_body(wire, 404, &msg));
    }
    let Some(reply) = reply else {
        let msg = state
            .lock()
            .ok()
            .and_then(|s| s.requests.last().map(|r| format!("fake provider: {}", r.reply)))
            .unwrap_or_default();
        // 400, not 5xx: a client must not retry a script mistake.
        return http::write_full(&mut conn, 400, "application/json", &[], &error_body(wire, 400, &msg));
    };
    if reply.delay_ms > 0 {
        std::thread::sleep(Duration::from_millis(reply.delay_ms));
    }
    let rendered = render(wire, &reply, &body, &req.body, seq);
    match rendered.body {
        Body::Json(bytes) => {
            if reply.drop_after_events.is_some() {
                // Promise the whole body, send half, hang up.
                let half = bytes.len() / 2;
                let head = format!(
                    "HTTP/1.1 {} OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
                    rendered.status,
                    bytes.len()
                );
                conn.write_all(head.as_bytes())?;
                conn.write_all(bytes.get(..half).unwrap_or_default())?;
                conn.flush()?;
                return conn.shutdown(Shutdown::Both);
            }
            http::write_full(&mut conn, rendered.status, "application/json", &rendered.headers, &bytes)
        }
        Body::Events(events) => {
            http::write_chunked_head(&mut conn, rendered.status, "text/event-stream", &rendered.headers)?;
            for (i, ev) in events.iter().enumerate() {
                if reply.drop_after_events == Some(i) {
                    return conn.shutdown(Shutdown::Both);
                }
                if reply.event_delay_ms > 0 && i > 0 {
                    std::thread::sleep(Duration::from_millis(reply.event_delay_ms));
                }
                http::write_chunk(&mut conn, ev.as_bytes())?;
            }
            http::write_last_chunk(&mut conn)
        }
    }
}
