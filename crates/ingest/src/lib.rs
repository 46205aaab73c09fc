//! Importers: agent transcript files to Nocturne sessions.
//!
//! [`parse`] turns the bytes of one transcript file into normalized
//! [`NewSession`]s; [`detect`] guesses a file's [`Format`] from its content.
//! Four formats are read:
//!
//! - **Claude Code** transcripts (`~/.claude/projects/**/*.jsonl`),
//! - **Anthropic** Messages API JSON (`{"messages": [...], "system": ...}`),
//! - **OpenAI** Chat Completions JSON (`{"messages": [...]}`),
//! - **Nocturne** JSONL, our own interchange format (`docs/jsonl-format.md`).
//!
//! A malformed file is refused as a whole with an [`IngestError`] naming the
//! file, the line when known, and a human reason. No input panics.
//!
//! Normalization rules common to every format (see `docs/jsonl-format.md`):
//!
//! - one source record (JSONL line, or message of a JSON document) yields one
//!   event per content block; a record with no content yields one message
//!   event with no text, so no record is lost;
//! - `raw` is the compact JSON of that whole record (every event from a
//!   multi-block message carries the same `raw`);
//! - `source_line` is the 1-based line for JSONL formats and the 1-based
//!   message index for JSON documents (`None` for the Anthropic top-level
//!   `system` prompt);
//! - tool results have role `tool` and kind `tool_result`, and carry the
//!   name of the call they answer when the call appeared earlier in the file;
//! - `is_error` of a tool result: an explicit boolean `is_error` in the
//!   source wins; otherwise (OpenAI always, Claude Code / Anthropic / Nocturne
//!   when the flag is absent) it is
//!   [`looks_like_failure`](nocturne_core::failure::looks_like_failure) of the
//!   result text.

mod anthropic;
mod blocks;
mod claude_code;
mod detect;
mod json;
mod nocturne;
mod openai;

use std::fmt;
use std::str::FromStr;

use nocturne_core::NewSession;

pub use detect::detect;

/// A transcript format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Format {
    /// Decide from the content ([`detect`]).
    Auto,
    ClaudeCode,
    Anthropic,
    OpenAi,
    Nocturne,
}

impl Format {
    /// Every format, `Auto` first.
    pub const ALL: [Format; 5] =
        [Format::Auto, Format::ClaudeCode, Format::Anthropic, Format::OpenAi, Format::Nocturne];

    /// The format's name: `auto`, `claude-code`, `anthropic`, `openai`,
    /// `nocturne`. Also the `format` of the sessions it produces.
    pub fn as_str(self) -> &'static str {
        match self {
            Format::Auto => "auto",
            Format::ClaudeCode => "claude-code",
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

/// An unknown format name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown format \"{0}\" (expected auto, claude-code, anthropic, openai or nocturne)")]
pub struct UnknownFormat(pub String);

impl FromStr for Format {
    type Err = UnknownFormat;

    /// Accepts the names of [`Format::as_str`], case-insensitively, plus
    /// `claude`, `claudecode`, `claude_code` and `open-ai` as aliases.
    fn from_str(s: &str) -> Result<Format, UnknownFormat> {
        Ok(match s.trim().to_ascii_lowercase().as_str() {
            "auto" => Format::Auto,
            "claude-code" | "claude_code" | "claudecode" | "claude" => Format::ClaudeCode,
            "anthropic" => Format::Anthropic,
            "openai" | "open-ai" => Format::OpenAi,
            "nocturne" => Format::Nocturne,
            _ => return Err(UnknownFormat(s.to_string())),
        })
    }
}

/// Why a file could not be imported. Displays as `FILE:LINE: REASON`, or
/// `FILE: REASON` when no line applies.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct IngestError {
    /// The display path given to [`parse`].
    pub file: String,
    /// 1-based line, when the problem has one (JSONL lines, JSON syntax
    /// errors). Problems inside a JSON document's structure name the message
    /// in `reason` instead ("message 2: ...").
    pub line: Option<u32>,
    pub reason: String,
}

impl fmt::Display for IngestError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.line {
            Some(line) => write!(f, "{}:{}: {}", self.file, line, self.reason),
            None => write!(f, "{}: {}", self.file, self.reason),
        }
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
    pub meta: Option<Vec<u8>>,
    /// The parent session id the file system implies for a sub-agent file
    /// (the session id of the main transcript beside its folder), when known.
    pub parent: Option<String>,
}

/// What one file held, so that nothing is dropped in silence.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FileReport {
    /// Source records read (non-blank JSONL lines, or messages/records of a
    /// JSON document).
    pub records: u64,
    /// Records deliberately not stored, by their type (`progress`,
    /// `file-history-snapshot`, ...), with counts.
    pub skipped: std::collections::BTreeMap<String, u64>,
}

/// The sessions of one file and the account of what was read.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Parsed {
    pub sessions: Vec<NewSession>,
    pub report: FileReport,
}

/// Parses one transcript file with what the file system tells about it.
/// See [`parse`]; this also reports what was read and skipped.
pub fn parse_file(file: &str, bytes: &[u8], format: Format, hints: &Hints) -> Result<Parsed, IngestError> {
    let _ = hints;
    let sessions = parse(file, bytes, format)?;
    let records = sessions
        .iter()
        .flat_map(|s| &s.events)
        .filter_map(|e| e.source_line)
        .collect::<std::collections::BTreeSet<_>>();
    Ok(Parsed { report: FileReport { records: records.len() as u64, skipped: Default::default() }, sessions })
}

/// Parses one transcript file into its sessions (usually one).
///
/// `file` is the display path used in errors and as `NewSession.source`; its
/// file stem is the session id when the content carries none. `user`, `agent`
/// and `team` are left `None` unless the source carries them (Nocturne JSONL
/// headers may).
pub fn parse(file: &str, bytes: &[u8], format: Format) -> Result<Vec<NewSession>, IngestError> {
    parse_inner(file, bytes, format).map_err(|f| IngestError { file: file.to_string(), line: f.line, reason: f.reason })
}

fn parse_inner(file: &str, bytes: &[u8], format: Format) -> Result<Vec<NewSession>, Fail> {
    let text = decode(bytes)?;
    if text.trim().is_empty() {
        return Err(Fail::doc("empty file"));
    }
    let format = match format {
        Format::Auto => detect::detect_text(text).map_err(|why| why.into_fail())?,
        f => f,
    };
    let stem = file_stem(file);
    let mut sessions = match format {
        Format::ClaudeCode => claude_code::parse(text, &stem)?,
        Format::Anthropic => anthropic::parse(text, &stem)?,
        Format::OpenAi => openai::parse(text, &stem)?,
        Format::Nocturne | Format::Auto => nocturne::parse(text, &stem)?,
    };
    for s in &mut sessions {
        s.source = Some(file.to_string());
    }
    Ok(sessions)
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
    let mut out = Vec::new();
    for (i, line) in text.split('\n').enumerate() {
        let n = json::nth(i);
        if line.trim().is_empty() {
            continue;
        }
        let value: serde_json::Value = serde_json::from_str(line).map_err(|e| Fail::at(n, json::syntax_reason(&e)))?;
        match value {
            serde_json::Value::Object(o) => out.push((n, o)),
            other => return Err(Fail::at(n, format!("expected a JSON object, found {}", json::describe(&other)))),
        }
    }
    Ok(out)
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
    let value: serde_json::Value = serde_json::from_str(text)
        .map_err(|e| Fail::at(json::nth(e.line().saturating_sub(1)), json::syntax_reason(&e)))?;
    match value {
        serde_json::Value::Object(o) => Ok(vec![(None, o)]),
        other => Err(Fail::doc(format!(
            "expected a JSON object with \"messages\" ({what}), found {}",
            json::describe(&other)
        ))),
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn format_names_round_trip() {
        for f in Format::ALL {
            assert_eq!(f.to_string().parse::<Format>(), Ok(f));
        }
        assert_eq!("Claude".parse::<Format>(), Ok(Format::ClaudeCode));
        assert!("gemini".parse::<Format>().is_err());
    }

    #[test]
    fn error_display_names_file_and_line() {
        let e = IngestError { file: "a.jsonl".into(), line: Some(3), reason: "bad".into() };
        assert_eq!(e.to_string(), "a.jsonl:3: bad");
        let e = IngestError { line: None, ..e };
        assert_eq!(e.to_string(), "a.jsonl: bad");
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
    fn empty_and_non_utf8_files_are_refused() {
        let e = parse("e.jsonl", b"", Format::Auto).unwrap_err();
        assert_eq!(e.reason, "empty file");
        let e = parse("e.jsonl", b" \n\r\n ", Format::ClaudeCode).unwrap_err();
        assert_eq!(e.reason, "empty file");
        let e = parse("b.jsonl", b"{}\n\xff", Format::Auto).unwrap_err();
        assert_eq!(e.line, Some(2));
        assert!(e.reason.contains("UTF-8"), "{}", e.reason);
    }
}
