//! Reading the real transcripts themselves: where the folder is, its
//! files, the strings of a JSON record, a Claude Code prompt line, and
//! which conversation a Claude Code file belongs to.

use crate::{QualityError, Result};
use serde_json::Value;
use std::path::{Path, PathBuf};

/// Environment variable naming the real-transcripts folder.
pub const DATA_ENV: &str = nocturne_testdata::REAL_TRANSCRIPTS_ENV;

/// The real-transcripts folder (see [`nocturne_testdata::real_transcripts`]),
/// searched from `start` (the repository root or a crate folder).
pub fn find_data_dir(start: &Path) -> Option<PathBuf> {
    nocturne_testdata::real_transcripts(start)
}

/// The repository's expectation folder, `tests/real-data/expect`, found
/// walking up from `start`.
pub fn find_expect_dir(start: &Path) -> Option<PathBuf> {
    start.ancestors().map(|a| a.join("tests").join("real-data").join("expect")).find(|p| p.is_dir())
}

/// Every regular file under `dir`, recursively, sorted; hidden entries skipped.
pub fn files_under(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    walk(dir, &mut out)?;
    out.sort();
    Ok(out)
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) -> Result<()> {
    let rd = std::fs::read_dir(dir).map_err(|e| QualityError::io(dir, e))?;
    for entry in rd {
        let entry = entry.map_err(|e| QualityError::io(dir, e))?;
        if entry.file_name().to_string_lossy().starts_with('.') {
            continue;
        }
        let path = entry.path();
        let ft = entry.file_type().map_err(|e| QualityError::io(&path, e))?;
        if ft.is_dir() {
            walk(&path, out)?;
        } else if ft.is_file() {
            out.push(path);
        }
    }
    Ok(())
}

/// Every string inside a JSON value; strings that are themselves JSON
/// (Codex `arguments`, τ² assistant content) are walked too.
pub fn json_strings(value: &Value, out: &mut Vec<String>) {
    match value {
        Value::String(s) => {
            out.push(s.clone());
            let t = s.trim();
            if t.len() > 1 && (t.starts_with('{') || t.starts_with('[')) {
                if let Ok(inner) = serde_json::from_str::<Value>(t) {
                    json_strings(&inner, out);
                }
            }
        }
        Value::Array(a) => a.iter().for_each(|v| json_strings(v, out)),
        Value::Object(o) => o.values().for_each(|v| json_strings(v, out)),
        _ => {}
    }
}

/// `s` with every run of whitespace turned into one space, trimmed.
pub fn normalize_ws(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// The 1-based `line` of a text file.
pub fn read_line(path: &Path, line: u32) -> Result<String> {
    let text = std::fs::read_to_string(path).map_err(|e| QualityError::io(path, e))?;
    let idx = usize::try_from(line).unwrap_or(usize::MAX).saturating_sub(1);
    text.split('\n').nth(idx).map(str::to_string).ok_or_else(|| QualityError::Data {
        path: path.to_path_buf(),
        message: format!("line {line} is past the end of the file"),
    })
}

/// What the operator typed in a Claude Code `user` record: `message.content`
/// when it is a string, else its text blocks joined by newlines.
pub fn claude_prompt(path: &Path, line: u32) -> Result<String> {
    let raw = read_line(path, line)?;
    let bad = |message: String| QualityError::Data { path: path.to_path_buf(), message };
    let v: Value = serde_json::from_str(&raw).map_err(|e| bad(format!("line {line}: {e}")))?;
    let content = v.get("message").and_then(|m| m.get("content"));
    let text = match content {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Array(blocks)) => blocks
            .iter()
            .filter(|b| b.get("type").and_then(Value::as_str) == Some("text"))
            .filter_map(|b| b.get("text").and_then(Value::as_str))
            .collect::<Vec<_>>()
            .join("\n"),
        _ => String::new(),
    };
    if text.trim().is_empty() {
        return Err(bad(format!("line {line} holds no prompt text")));
    }
    Ok(text)
}

/// The main session a Claude Code file belongs to: `<id>` for `<id>.jsonl`,
/// the folder's `<id>` for `<id>/subagents/agent-*.jsonl`, and for an old
/// layout `agent-*.jsonl` beside the sessions the `sessionId` its lines
/// carry (the parent's). Falls back to the file stem.
pub fn claude_conversation(path: &Path) -> String {
    let stem = path.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
    let parent = path.parent();
    if parent.and_then(Path::file_name).is_some_and(|n| n == "subagents") {
        if let Some(id) = parent.and_then(Path::parent).and_then(Path::file_name) {
            return id.to_string_lossy().into_owned();
        }
    }
    if stem.starts_with("agent-") {
        if let Ok(text) = std::fs::read_to_string(path) {
            let id = text.lines().find_map(|l| {
                serde_json::from_str::<Value>(l)
                    .ok()
                    .and_then(|v| v.get("sessionId").and_then(Value::as_str).map(str::to_string))
            });
            if let Some(id) = id {
                return id;
            }
        }
    }
    stem
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_strings_walk_nested_json_text() {
        let v: Value = serde_json::json!({"a": ["x", {"b": "{\"c\": \"deep\"}"}], "n": 1});
        let mut out = Vec::new();
        json_strings(&v, &mut out);
        assert!(out.contains(&"x".to_string()) && out.contains(&"deep".to_string()), "{out:?}");
    }

    #[test]
    fn conversations_of_both_sub_agent_layouts() {
        let dir = tempfile::tempdir().unwrap();
        let sub = dir.path().join("s1/subagents");
        std::fs::create_dir_all(&sub).unwrap();
        let new = sub.join("agent-abc.jsonl");
        std::fs::write(&new, "{}\n").unwrap();
        let old = dir.path().join("agent-1234.jsonl");
        std::fs::write(&old, "{\"type\":\"user\",\"sessionId\":\"parent-9\"}\n").unwrap();
        let main = dir.path().join("s1.jsonl");
        assert_eq!(claude_conversation(&new), "s1");
        assert_eq!(claude_conversation(&old), "parent-9");
        assert_eq!(claude_conversation(&main), "s1");
    }

    #[test]
    fn a_prompt_is_the_string_content_or_the_text_blocks() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("s.jsonl");
        std::fs::write(
            &f,
            "{\"type\":\"user\",\"message\":{\"content\":\"fix the tests\"}}\n\
             {\"type\":\"user\",\"message\":{\"content\":[{\"type\":\"text\",\"text\":\"a\"},{\"type\":\"image\"},{\"type\":\"text\",\"text\":\"b\"}]}}\n\
             {\"type\":\"user\",\"message\":{\"content\":[]}}\n",
        )
        .unwrap();
        assert_eq!(claude_prompt(&f, 1).unwrap(), "fix the tests");
        assert_eq!(claude_prompt(&f, 2).unwrap(), "a\nb");
        assert!(claude_prompt(&f, 3).unwrap_err().to_string().contains("line 3 holds no prompt"));
        assert!(claude_prompt(&f, 9).unwrap_err().to_string().contains("line 9 is past the end"));
    }
}
