//! Importers: agent transcript files to Nocturne sessions.
//!
//! [`parse_file`] turns the bytes of one transcript file, plus what the file
//! system tells about it ([`Hints`]), into normalized [`NewSession`]s and a
//! [`FileReport`] of what was read and what was deliberately skipped;
//! [`parse`] is the same without hints or report. [`detect`] guesses a
//! file's [`Format`] from its content, and [`classify_path`] tells a caller
//! that walks folders which file names are transcripts and which are
//! sidecars. Parsing does no IO. The formats (see `docs/formats.md`):
//!
//! - **Claude Code** transcripts (`~/.claude/projects/**/*.jsonl`), sub-agent
//!   files (`agent-<id>.jsonl`, `<session>/subagents/agent-<id>.jsonl`)
//!   included: each sub-agent is a child session `<parent>/agent-<id>`;
//! - **Codex CLI** rollouts (`~/.codex/sessions/**/rollout-*.jsonl`);
//! - **Gemini CLI** session JSON (`~/.gemini/tmp/*/chats/session-*.json`);
//! - **τ-bench / τ²-bench** results JSON (one session per simulation), and
//!   τ-bench's flattened few-shot display JSONL (`tau-display`);
//! - **SWE-agent** trajectories (`*.traj`);
//! - **Aider** chat history Markdown (`.aider.chat.history.md`);
//! - **Anthropic** Messages API JSON (`{"messages": [...], "system": ...}`),
//!   **OpenAI** Chat Completions JSON (`{"messages": [...]}`);
//! - **Nocturne** JSONL, our own interchange format (`docs/jsonl-format.md`).
//!
//! A malformed file is refused as a whole with an [`IngestError`] naming the
//! file, the line when known, and a human reason; a file that is not a
//! transcript is refused with what was found instead. An empty file has no
//! sessions (and the note [`EMPTY`]). No input panics.
//!
//! Normalization rules common to every format (see `docs/jsonl-format.md`):
//!
//! - one source record (JSONL line, or message of a JSON document) yields one
//!   event per content block; a record with no content yields one message
//!   event with no text, so no record is lost; records a format documents as
//!   carrying no conversation (Claude Code `progress`, ...) are not stored
//!   and are counted in [`FileReport::skipped`];
//! - `raw` is the compact JSON of that whole record (every event from a
//!   multi-block message carries the same `raw`);
//! - `source_line` is the 1-based line for line-based formats and the
//!   1-based record index for JSON documents;
//! - text the harness injected into the user's turn (Claude Code `isMeta`
//!   lines, `<command-name>`, `<system-reminder>`, Codex
//!   `<environment_context>`, aider's lint prompts, ...) has role `system`,
//!   so no later step takes it for something a person said;
//! - tool results have role `tool` and kind `tool_result`, and carry the
//!   name of the call they answer when the call appeared earlier in the file;
//! - `is_error` of a tool result: an explicit flag or exit code in the
//!   source wins; otherwise it is
//!   [`looks_like_failure`](nocturne_core::failure::looks_like_failure) of the
//!   result text;
//! - the actions an evaluator states it expected (τ²-bench
//!   `reward_info.action_checks`) are
//!   [`EvaluatorCheck`](nocturne_core::EventKind::EvaluatorCheck) events
//!   after the session's own, so a session stored before they were read
//!   grows by them.

mod aider;
mod anthropic;
mod blocks;
mod claude_code;
mod codex;
mod detect;
mod gemini;
mod inject;
mod json;
mod nocturne;
mod openai;
mod swe_agent;
mod tau;
mod tau_display;

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use nocturne_core::{NewEvent, NewSession, Role};

pub use detect::detect;

/// A transcript format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Format {
    /// Decide from the content ([`detect`]).
    Auto,
    ClaudeCode,
    Codex,
    Gemini,
    /// τ-bench and τ²-bench results JSON.
    TauBench,
    /// τ-bench's flattened few-shot display JSONL.
    TauDisplay,
    SweAgent,
    Aider,
    Anthropic,
    OpenAi,
    Nocturne,
}

impl Format {
    /// Every format, `Auto` first.
    pub const ALL: [Format; 11] = [
        Format::Auto,
        Format::ClaudeCode,
        Format::Codex,
        Format::Gemini,
        Format::TauBench,
        Format::TauDisplay,
        Format::SweAgent,
        Format::Aider,
        Format::Anthropic,
        Format::OpenAi,
        Format::Nocturne,
    ];

    /// The format's name: `auto`, `claude-code`, `codex`, `gemini`,
    /// `tau-bench`, `tau-display`, `swe-agent`, `aider`, `anthropic`,
    /// `openai`, `nocturne`. Also the `format` of the sessions it produces.
    pub fn as_str(self) -> &'static str {
        match self {
            Format::Auto => "auto",
            Format::ClaudeCode => "claude-code",
            Format::Codex => "codex",
            Format::Gemini => "gemini",
            Format::TauBench => "tau-bench",
            Format::TauDisplay => "tau-display",
            Format::SweAgent => "swe-agent",
            Format::Aider => "aider",
            Format::Anthropic => "anthropic",
            Format::OpenAi => "openai",
            Format::Nocturne => "nocturne",
        }
    }
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Format {
    type Err = IngestError;

    /// Accepts the names of [`Format::as_str`], case-insensitively, and
    /// aliases: `claude`, `claudecode`, `claude_code`; `codex-cli`;
    /// `gemini-cli`; `tau`, `tau2`, `tau2-bench`, `tau-bench-display`;
    /// `swe`, `sweagent`, `swe_agent`; `aider-chat`; `open-ai`.
    fn from_str(s: &str) -> Result<Format, IngestError> {
        Ok(match s.trim().to_ascii_lowercase().as_str() {
            "auto" => Format::Auto,
            "claude-code" | "claude_code" | "claudecode" | "claude" => Format::ClaudeCode,
            "codex" | "codex-cli" => Format::Codex,
            "gemini" | "gemini-cli" => Format::Gemini,
            "tau-bench" | "tau" | "tau2" | "tau2-bench" | "tau_bench" => Format::TauBench,
            "tau-display" | "tau-bench-display" => Format::TauDisplay,
            "swe-agent" | "swe_agent" | "sweagent" | "swe" => Format::SweAgent,
            "aider" | "aider-chat" => Format::Aider,
            "anthropic" => Format::Anthropic,
            "openai" | "open-ai" => Format::OpenAi,
            "nocturne" => Format::Nocturne,
            _ => return Err(IngestError::UnknownFormat(s.to_string())),
        })
    }
}

/// What can go wrong in this crate: a file that could not be imported, or a
/// format name that is not known.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum IngestError {
    /// A file refused as a whole. Displays as `FILE:LINE: REASON`, or
    /// `FILE: REASON` when no line applies. The caller reports it and goes
    /// on with the other files.
    #[error("{}", located(file, *line, reason))]
    Refused {
        /// The display path given to [`parse`].
        file: String,
        /// 1-based line, when the problem has one (JSONL lines, JSON syntax
        /// errors). Problems inside a JSON document's structure name the
        /// record in `reason` instead ("message 2: ...").
        line: Option<u32>,
        reason: String,
    },
    /// A format name that is none of [`Format::as_str`] or its aliases.
    #[error(
        "unknown format \"{0}\" (expected auto, claude-code, codex, gemini, tau-bench, tau-display, swe-agent, \
         aider, anthropic, openai or nocturne)"
    )]
    UnknownFormat(String),
}

fn located(file: &str, line: Option<u32>, reason: &str) -> String {
    match line {
        Some(line) => format!("{file}:{line}: {reason}"),
        None => format!("{file}: {reason}"),
    }
}

/// How the reason of a file that is no transcript starts.
pub const NOT_A_TRANSCRIPT: &str = "not a transcript: ";

impl IngestError {
    /// The file refused (empty for an unknown format name).
    pub fn file(&self) -> &str {
        match self {
            IngestError::Refused { file, .. } => file,
            IngestError::UnknownFormat(_) => "",
        }
    }

    /// The 1-based line of the problem, when it has one.
    pub fn line(&self) -> Option<u32> {
        match self {
            IngestError::Refused { line, .. } => *line,
            IngestError::UnknownFormat(_) => None,
        }
    }

    /// Why, without the file and line.
    pub fn reason(&self) -> String {
        match self {
            IngestError::Refused { reason, .. } => reason.clone(),
            other @ IngestError::UnknownFormat(_) => other.to_string(),
        }
    }

    /// True when the file was refused because it is no transcript at all (a
    /// sidecar, a predictions file, a prompt history, an unrelated JSON),
    /// rather than a transcript that is malformed. A folder walker may list
    /// such files apart.
    pub fn is_not_transcript(&self) -> bool {
        matches!(self, IngestError::Refused { reason, .. } if reason.starts_with(NOT_A_TRANSCRIPT))
    }
}

/// An error before the file name is attached.
#[derive(Debug)]
pub(crate) struct Fail {
    pub line: Option<u32>,
    pub reason: String,
}

impl Fail {
    pub(crate) fn at(line: u32, reason: impl Into<String>) -> Fail {
        Fail { line: Some(line), reason: reason.into() }
    }

    /// Places a document-level error on the document's line, if it has one.
    pub(crate) fn on_line(self, line: Option<u32>) -> Fail {
        Fail { line: self.line.or(line), reason: self.reason }
    }

    pub(crate) fn doc(reason: impl Into<String>) -> Fail {
        Fail { line: None, reason: reason.into() }
    }
}

/// What the file system tells about a file beyond its bytes. The caller
/// (which walks folders) fills it; parsing stays free of IO.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Hints {
    /// The bytes of a Claude Code sub-agent's `agent-<id>.meta.json`
    /// sidecar (`{"agentType": ..., "description": ...}`), when it exists.
    /// Malformed bytes are ignored (with a note in [`FileReport::notes`]),
    /// never a reason to refuse the transcript.
    pub meta: Option<Vec<u8>>,
    /// The parent session id the file system implies for a sub-agent file
    /// (the session id of the main transcript beside its folder), when known.
    /// The lines' own `sessionId` wins over it.
    pub parent: Option<String>,
}

/// What one file held, so that nothing is dropped in silence.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FileReport {
    /// Source records read (non-blank JSONL lines, messages/records of a
    /// JSON document, blocks of a Markdown history).
    pub records: u64,
    /// Records deliberately not stored, by their type (`progress`,
    /// `file-history-snapshot`, ...), with counts. Every record is either
    /// represented by at least one event or counted here.
    pub skipped: BTreeMap<String, u64>,
    /// Things worth telling about the file that did not stop its import
    /// (e.g. a malformed sub-agent meta sidecar that was ignored).
    pub notes: Vec<String>,
}

impl FileReport {
    pub(crate) fn skip(&mut self, kind: &str) {
        let n = self.skipped.entry(kind.to_string()).or_insert(0);
        *n = n.saturating_add(1);
    }

    pub(crate) fn read(&mut self, n: usize) {
        self.records = self.records.saturating_add(u64::try_from(n).unwrap_or(u64::MAX));
    }
}

/// A parent's tool call that spawned a sub-agent, as the parent's transcript
/// names it (Claude Code `Task`/`Agent` results whose `toolUseResult` carries
/// the `agentId`). Lets a caller link the parent's call to the child session
/// without reading the child's file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Spawn {
    /// The parent session.
    pub session: String,
    /// The `tool_use_id` of the call (and of its result) in the parent.
    pub tool_use_id: String,
    /// The sub-agent's id in the source (`agentId`).
    pub agent_id: String,
    /// The child session id this importer gives that sub-agent's file
    /// (`<session>/agent-<agent_id>`).
    pub child: String,
}

/// The sessions of one file and the account of what was read.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Parsed {
    pub sessions: Vec<NewSession>,
    pub report: FileReport,
    /// Sub-agent spawns named by the parent transcripts of this file.
    pub spawns: Vec<Spawn>,
}

/// What a file name is, for a caller that walks folders.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PathKind {
    /// A candidate transcript: pass its bytes to [`parse_file`].
    Transcript,
    /// A Claude Code sub-agent sidecar (`agent-<id>.meta.json`): pass its
    /// bytes as [`Hints::meta`] of `agent-<id>.jsonl` beside it; not a
    /// transcript of its own.
    SubagentMeta,
    /// Anything else (skip it).
    Other,
}

/// Classifies a file by its name (the last path component is used; a
/// directory part is ignored). Transcripts: `*.jsonl`, `*.json`, `*.traj`,
/// aider's `*.chat.history.md` / `chat-history.md`. Sidecars:
/// `agent-*.meta.json`. Hidden files (`.x`) other than aider's
/// `.aider.chat.history.md` are `Other`. Pure: looks at no file.
pub fn classify_path(name: &str) -> PathKind {
    let base = name.rsplit(['/', '\\']).next().unwrap_or(name);
    let lower = base.to_ascii_lowercase();
    if lower.starts_with("agent-") && lower.ends_with(".meta.json") {
        return PathKind::SubagentMeta;
    }
    if lower.ends_with(".chat.history.md") || lower == "chat-history.md" {
        return PathKind::Transcript;
    }
    if lower.starts_with('.') {
        return PathKind::Other;
    }
    if lower.ends_with(".meta.json") {
        return PathKind::Other;
    }
    if [".jsonl", ".json", ".traj"].iter().any(|ext| lower.ends_with(ext) && lower.len() > ext.len()) {
        return PathKind::Transcript;
    }
    PathKind::Other
}

/// The note of an empty (or blank) file, which has no sessions.
pub const EMPTY: &str = "empty file: no sessions";

/// What an importer gets besides the text.
pub(crate) struct Ctx<'a> {
    /// The display path.
    pub file: &'a str,
    /// The file stem: the fallback session id.
    pub stem: String,
    pub hints: &'a Hints,
}

/// Parses one transcript file with what the file system tells about it:
/// its sessions, the account of what was read and skipped, and the
/// sub-agent spawns it names.
///
/// `file` is the display path used in errors and as `NewSession.source`; its
/// file stem is the session id when the content carries none. `user`,
/// `agent` and `team` are left `None` unless the source carries them
/// (Nocturne JSONL headers may); no user name is guessed from a path.
pub fn parse_file(file: &str, bytes: &[u8], format: Format, hints: &Hints) -> Result<Parsed, IngestError> {
    parse_inner(file, bytes, format, hints).map_err(|f| IngestError::Refused {
        file: file.to_string(),
        line: f.line,
        reason: f.reason,
    })
}

/// True when [`stream_file`] streams files of `format` (reads them as they
/// come, holding one record at a time); other formats are parsed whole.
pub fn streams(format: Format) -> bool {
    matches!(format, Format::ClaudeCode | Format::Nocturne | Format::Codex | Format::TauDisplay)
}

/// Parses a file of a format that [`streams`] without holding it: `open`
/// opens it (it is read twice, from the start each time) and `sink` gets
/// each event with the index and id of its session, in order, as it is made. The
/// sessions returned are those [`parse_file`] gives, without their events
/// (the sink had them). A format that does not stream is read whole and
/// parsed, then handed to the sink the same way.
///
/// The same errors as [`parse_file`], with one difference: invalid UTF-8 is
/// found as its line is read, so a syntax error on an earlier line is
/// reported first (the whole file is no longer decoded before parsing).
/// An error of the sink stops the reading and is returned as it is (a
/// caller whose own error is of another kind keeps it aside and returns an
/// [`IngestError`] that says the file was not taken).
pub fn stream_file(
    file: &str,
    open: &mut dyn FnMut() -> std::io::Result<Box<dyn std::io::BufRead>>,
    format: Format,
    hints: &Hints,
    sink: &mut dyn FnMut(usize, &str, NewEvent) -> Result<(), IngestError>,
) -> Result<Parsed, IngestError> {
    let refused = |f: Fail| IngestError::Refused { file: file.to_string(), line: f.line, reason: f.reason };
    if !streams(format) {
        let mut bytes = Vec::new();
        let mut r = open().map_err(|e| refused(Fail::doc(format!("could not be read: {e}"))))?;
        std::io::Read::read_to_end(&mut r, &mut bytes)
            .map_err(|e| refused(Fail::doc(format!("could not be read: {e}"))))?;
        let mut parsed = parse_inner(file, &bytes, format, hints).map_err(refused)?;
        drop(bytes);
        for (at, s) in parsed.sessions.iter_mut().enumerate() {
            for e in std::mem::take(&mut s.events) {
                sink(at, &s.id, e)?;
            }
        }
        return Ok(parsed);
    }
    let ctx = Ctx { file, stem: file_stem(file), hints };
    let mut failed: Option<IngestError> = None;
    let mut src = ReaderLines { open };
    let mut give = |at: usize, id: &str, e: NewEvent| match sink(at, id, e) {
        Ok(()) => Ok(()),
        Err(e) => {
            failed = Some(e);
            Err(Fail::doc("stopped by the caller"))
        }
    };
    let res = match format {
        Format::Nocturne => nocturne::stream(&mut src, &ctx.stem, &mut give).map(|(sessions, records)| {
            let mut report = FileReport::default();
            report.read(records);
            Parsed { sessions, report, spawns: Vec::new() }
        }),
        Format::Codex => codex::stream(&mut src, &ctx, &mut give),
        Format::TauDisplay => tau_display::stream(&mut src, &ctx, &mut give),
        _ => claude_code::stream(&mut src, &ctx, &mut give),
    };
    if let Some(e) = failed {
        return Err(e);
    }
    let mut parsed = res.map_err(refused)?;
    if parsed.sessions.is_empty() && parsed.report.records == 0 {
        parsed.report.notes.push(EMPTY.to_string());
    }
    for s in &mut parsed.sessions {
        s.source = Some(file.to_string());
    }
    Ok(parsed)
}

/// Parses one transcript file into its sessions (usually one): [`parse_file`]
/// with no hints, keeping only the sessions.
pub fn parse(file: &str, bytes: &[u8], format: Format) -> Result<Vec<NewSession>, IngestError> {
    parse_file(file, bytes, format, &Hints::default()).map(|p| p.sessions)
}

fn parse_inner(file: &str, bytes: &[u8], format: Format, hints: &Hints) -> Result<Parsed, Fail> {
    let text = decode(bytes)?;
    if text.trim().is_empty() {
        // Claude Code leaves empty session files behind: nothing to import
        // is not an error.
        let report = FileReport { notes: vec![EMPTY.to_string()], ..FileReport::default() };
        return Ok(Parsed { sessions: Vec::new(), report, spawns: Vec::new() });
    }
    let format = match format {
        Format::Auto => detect::detect_text(text).map_err(|why| why.into_fail())?,
        f => f,
    };
    let ctx = Ctx { file, stem: file_stem(file), hints };
    let mut parsed = match format {
        Format::ClaudeCode => claude_code::parse(text, &ctx)?,
        Format::Codex => codex::parse(text, &ctx)?,
        Format::Gemini => gemini::parse(text, &ctx)?,
        Format::TauBench => tau::parse(text, &ctx)?,
        Format::TauDisplay => tau_display::parse(text, &ctx)?,
        Format::SweAgent => swe_agent::parse(text, &ctx)?,
        Format::Aider => aider::parse(text, &ctx)?,
        Format::Anthropic => counted(anthropic::parse(text, &ctx.stem)?),
        Format::OpenAi => counted(openai::parse(text, &ctx.stem)?),
        Format::Nocturne | Format::Auto => {
            let sessions = nocturne::parse(text, &ctx.stem)?;
            let mut report = FileReport::default();
            report.read(text.split('\n').filter(|l| !l.trim().is_empty()).count());
            Parsed { sessions, report, spawns: Vec::new() }
        }
    };
    for s in &mut parsed.sessions {
        s.source = Some(file.to_string());
    }
    Ok(parsed)
}

/// A report for importers that store every record: the records are the
/// distinct (session, source line) pairs of the events (the Anthropic
/// top-level `system` prompt counts as one).
fn counted(sessions: Vec<NewSession>) -> Parsed {
    let mut report = FileReport::default();
    for s in &sessions {
        let lines: std::collections::BTreeSet<Option<u32>> = s.events.iter().map(|e| e.source_line).collect();
        report.read(lines.len());
    }
    Parsed { sessions, report, spawns: Vec::new() }
}

/// UTF-8 text without a leading byte-order mark.
fn decode(bytes: &[u8]) -> Result<&str, Fail> {
    match std::str::from_utf8(bytes) {
        Ok(text) => Ok(text.strip_prefix('\u{feff}').unwrap_or(text)),
        Err(e) => {
            let at = e.valid_up_to();
            let before = bytes.get(..at).unwrap_or_default();
            let line = before.iter().filter(|b| **b == b'\n').count();
            Err(Fail::at(json::nth(line), format!("not valid UTF-8 (invalid byte at offset {at})")))
        }
    }
}

/// The file name without directories and without its last extension; the
/// fallback session id. `"session"` when nothing is left.
pub(crate) fn file_stem(file: &str) -> String {
    let name = file.rsplit(['/', '\\']).next().unwrap_or(file);
    let stem = match name.rsplit_once('.') {
        Some((stem, _)) if !stem.is_empty() => stem,
        _ => name,
    };
    if stem.is_empty() {
        "session".to_string()
    } else {
        stem.to_string()
    }
}

/// The non-blank lines of a JSONL text as 1-based line numbers and JSON
/// objects. Stops at the first bad line.
pub(crate) fn jsonl_objects(text: &str) -> Result<Vec<(u32, json::Obj)>, Fail> {
    jsonl_lines(text).map(|(n, line)| object_line(n, line).map(|o| (n, o))).collect()
}

/// The non-blank lines of a JSONL text with their 1-based numbers, not
/// parsed: an importer that parses one record at a time holds one record's
/// JSON at a time, not the whole file's.
pub(crate) fn jsonl_lines(text: &str) -> impl Iterator<Item = (u32, &str)> {
    text.split('\n').enumerate().filter(|(_, l)| !l.trim().is_empty()).map(|(i, l)| (json::nth(i), l))
}

/// JSONL lines that can be read more than once (a streaming importer reads
/// its file twice): each non-blank line with its 1-based number, in order.
/// The first error `f` returns stops the reading and is returned.
pub(crate) trait LineSource {
    fn each(&mut self, f: &mut dyn FnMut(u32, &str) -> Result<(), Fail>) -> Result<(), Fail>;
}

/// The events a streaming parser hands over, put back into their sessions
/// (by index) when a file is parsed whole.
#[derive(Default)]
pub(crate) struct Collected(Vec<Vec<NewEvent>>);

impl Collected {
    pub(crate) fn push(&mut self, at: usize, event: NewEvent) {
        if self.0.len() <= at {
            self.0.resize_with(at + 1, Vec::new);
        }
        if let Some(v) = self.0.get_mut(at) {
            v.push(event);
        }
    }

    pub(crate) fn fill(self, sessions: &mut [NewSession]) {
        for (s, events) in sessions.iter_mut().zip(self.0) {
            s.events = events;
        }
    }
}

/// The lines of a text in memory.
pub(crate) struct TextLines<'t>(pub &'t str);

impl LineSource for TextLines<'_> {
    fn each(&mut self, f: &mut dyn FnMut(u32, &str) -> Result<(), Fail>) -> Result<(), Fail> {
        for (n, line) in jsonl_lines(self.0) {
            f(n, line)?;
        }
        Ok(())
    }
}

/// The lines of a file read as it comes (one line in memory at a time),
/// opened again for each reading. Lines as [`jsonl_lines`] gives them for
/// the whole text: a leading byte-order mark is dropped, `\r` is kept, and
/// invalid UTF-8 is the error [`decode`] gives (its offset in the file).
pub(crate) struct ReaderLines<'o> {
    pub open: &'o mut dyn FnMut() -> std::io::Result<Box<dyn std::io::BufRead>>,
}

impl LineSource for ReaderLines<'_> {
    fn each(&mut self, f: &mut dyn FnMut(u32, &str) -> Result<(), Fail>) -> Result<(), Fail> {
        let io = |e: std::io::Error| Fail::doc(format!("could not be read: {e}"));
        let mut r = (self.open)().map_err(io)?;
        let mut buf: Vec<u8> = Vec::new();
        let mut offset: usize = 0;
        let mut i: usize = 0;
        loop {
            buf.clear();
            let n = r.read_until(b'\n', &mut buf).map_err(io)?;
            if n == 0 {
                return Ok(());
            }
            let body = buf.strip_suffix(b"\n").unwrap_or(&buf);
            let body = if i == 0 { body.strip_prefix(b"\xef\xbb\xbf").unwrap_or(body) } else { body };
            let skipped = n - body.len() - usize::from(buf.ends_with(b"\n"));
            let line = match std::str::from_utf8(body) {
                Ok(l) => l,
                Err(e) => {
                    let at = offset + skipped + e.valid_up_to();
                    return Err(Fail::at(json::nth(i), format!("not valid UTF-8 (invalid byte at offset {at})")));
                }
            };
            if !line.trim().is_empty() {
                f(json::nth(i), line)?;
            }
            offset += n;
            i += 1;
        }
    }
}

/// One JSONL line (number `n`) as a JSON object.
pub(crate) fn object_line(n: u32, line: &str) -> Result<json::Obj, Fail> {
    match serde_json::from_str(line).map_err(|e| Fail::at(n, json::syntax_reason(&e)))? {
        serde_json::Value::Object(o) => Ok(o),
        other => Err(Fail::at(n, format!("expected a JSON object, found {}", json::describe(&other)))),
    }
}

/// The whole text as one JSON value, with syntax errors on their line.
pub(crate) fn json_value(text: &str) -> Result<serde_json::Value, Fail> {
    serde_json::from_str(text).map_err(|e| Fail::at(json::nth(e.line().saturating_sub(1)), json::syntax_reason(&e)))
}

/// The JSON documents of an Anthropic or OpenAI file: the whole text as one
/// object (usually pretty-printed), or — when the first non-blank line is a
/// complete JSON object and more lines follow — one object per line (JSONL
/// of conversations). Each comes with its line for JSONL, `None` otherwise.
pub(crate) fn json_documents(text: &str, what: &str) -> Result<Vec<(Option<u32>, json::Obj)>, Fail> {
    let mut lines = text.split('\n').filter(|l| !l.trim().is_empty());
    let first_is_object =
        lines.next().is_some_and(|l| matches!(serde_json::from_str(l), Ok(serde_json::Value::Object(_))));
    if first_is_object && lines.next().is_some() {
        return Ok(jsonl_objects(text)?.into_iter().map(|(line, o)| (Some(line), o)).collect());
    }
    match json_value(text)? {
        serde_json::Value::Object(o) => Ok(vec![(None, o)]),
        other => Err(Fail::doc(format!(
            "expected a JSON object with \"messages\" ({what}), found {}",
            json::describe(&other)
        ))),
    }
}

/// The text of one document of [`json_documents`]: its line of a JSON
/// Lines file (1-based), or the whole file.
pub(crate) fn document_text(text: &str, line: Option<u32>) -> Option<&str> {
    match line {
        Some(l) => text.split('\n').nth((l as usize).checked_sub(1)?),
        None => Some(text),
    }
}

/// The fallback id of the `n`-th (0-based) session of a file: the stem,
/// then `stem-2`, `stem-3`, ...
pub(crate) fn nth_id(stem: &str, n: usize) -> String {
    if n == 0 {
        stem.to_string()
    } else {
        format!("{stem}-{}", n.saturating_add(1))
    }
}

/// A new session of `format` with no events.
pub(crate) fn new_session(id: String, format: Format) -> NewSession {
    NewSession { id, format: format.as_str().to_string(), ..NewSession::default() }
}

/// Makes ids unique within a file: a repeated id gets `-2`, `-3`, ...
pub(crate) fn unique_id(seen: &mut std::collections::HashSet<String>, id: String) -> String {
    if seen.insert(id.clone()) {
        return id;
    }
    let mut n: u32 = 2;
    loop {
        let candidate = format!("{id}-{n}");
        if seen.insert(candidate.clone()) {
            return candidate;
        }
        n = n.saturating_add(1);
    }
}

/// Longest title, in characters.
const TITLE_CHARS: usize = 80;

/// A one-line title from a text: its first non-blank line, whitespace
/// collapsed, cut at [`TITLE_CHARS`] characters (with "…"). `None` when the
/// text is blank.
pub(crate) fn title_of(text: &str) -> Option<String> {
    let line = text.lines().map(str::trim).find(|l| !l.is_empty())?;
    let words: Vec<&str> = line.split_whitespace().collect();
    let one = words.join(" ");
    if one.chars().count() <= TITLE_CHARS {
        return Some(one);
    }
    let mut cut: String = one.chars().take(TITLE_CHARS.saturating_sub(1)).collect();
    cut = cut.trim_end().to_string();
    cut.push('…');
    Some(cut)
}

/// The title from the first user message with text (injected text has role
/// `system` and is never chosen).
pub(crate) fn first_prompt_title(events: &[NewEvent]) -> Option<String> {
    events
        .iter()
        .filter(|e| e.role == Role::User && e.kind == nocturne_core::EventKind::UserMessage)
        .find_map(|e| e.text.as_deref().and_then(title_of))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn format_names_round_trip() {
        for f in Format::ALL {
            assert_eq!(f.to_string().parse::<Format>(), Ok(f));
        }
        assert_eq!("Claude".parse::<Format>(), Ok(Format::ClaudeCode));
        assert_eq!("tau2".parse::<Format>(), Ok(Format::TauBench));
        assert_eq!("SWE-agent".parse::<Format>(), Ok(Format::SweAgent));
        assert!("bard".parse::<Format>().is_err());
    }

    #[test]
    fn error_display_names_file_and_line() {
        let e = IngestError::Refused { file: "a.jsonl".into(), line: Some(3), reason: "bad".into() };
        assert_eq!(e.to_string(), "a.jsonl:3: bad");
        let e = IngestError::Refused { file: "a.jsonl".into(), line: None, reason: "bad".into() };
        assert_eq!(e.to_string(), "a.jsonl: bad");
        assert!(!e.is_not_transcript());
        let e = parse("x.json", br#"{"agentType":"Explore"}"#, Format::Auto).unwrap_err();
        assert!(e.is_not_transcript(), "{e}");
    }

    #[test]
    fn file_stems() {
        assert_eq!(file_stem("/x/y/abc.jsonl"), "abc");
        assert_eq!(file_stem("C:\\x\\abc.def.json"), "abc.def");
        assert_eq!(file_stem(".hidden"), ".hidden");
        assert_eq!(file_stem("noext"), "noext");
        assert_eq!(file_stem(""), "session");
        assert_eq!(file_stem("dir/"), "session");
    }

    #[test]
    fn empty_files_have_no_sessions_and_non_utf8_files_are_refused() {
        assert_eq!(parse("e.jsonl", b"", Format::Auto).unwrap(), Vec::new());
        let p = parse_file("e.jsonl", b" \n\r\n ", Format::ClaudeCode, &Hints::default()).unwrap();
        assert_eq!((p.sessions.len(), p.report.records), (0, 0));
        assert_eq!(p.report.notes, [EMPTY]);
        let e = parse("b.jsonl", b"{}\n\xff", Format::Auto).unwrap_err();
        assert_eq!(e.line(), Some(2));
        assert!(e.reason().contains("UTF-8"), "{}", e.reason());
    }

    #[test]
    fn paths_are_classified_by_name() {
        let cases = [
            ("p/7acd37a8.jsonl", PathKind::Transcript),
            ("p/s/subagents/agent-a36efb2a1231c41e2.jsonl", PathKind::Transcript),
            ("p/s/subagents/agent-a36efb2a1231c41e2.meta.json", PathKind::SubagentMeta),
            ("rollout-2026-05-11T11-26-55-019e.jsonl", PathKind::Transcript),
            ("chats/session-2025-12-01T21-45-5b959dae.json", PathKind::Transcript),
            ("run/pydicom__pydicom-1458.traj", PathKind::Transcript),
            ("repo/.aider.chat.history.md", PathKind::Transcript),
            ("fixtures/chat-history.md", PathKind::Transcript),
            ("README.md", PathKind::Other),
            ("patches/x.patch", PathKind::Other),
            (".hidden.jsonl", PathKind::Other),
            ("x.meta.json", PathKind::Other),
            (".jsonl", PathKind::Other),
            ("C:\\u\\agent-1.meta.json", PathKind::SubagentMeta),
        ];
        for (name, kind) in cases {
            assert_eq!(classify_path(name), kind, "{name}");
        }
    }

    #[test]
    fn titles_are_one_short_line() {
        assert_eq!(title_of("  \n  Fix the   build\nmore").as_deref(), Some("Fix the build"));
        assert_eq!(title_of(" \n "), None);
        let long = "word ".repeat(40);
        let t = title_of(&long).unwrap();
        assert_eq!(t.chars().count(), 80);
        assert!(t.ends_with('…'));
        let wide = "é".repeat(200);
        assert_eq!(title_of(&wide).unwrap().chars().count(), 80);
    }

    #[test]
    fn ids_are_made_unique() {
        let mut seen = std::collections::HashSet::new();
        assert_eq!(unique_id(&mut seen, "a".into()), "a");
        assert_eq!(unique_id(&mut seen, "a".into()), "a-2");
        assert_eq!(unique_id(&mut seen, "a".into()), "a-3");
    }
}
