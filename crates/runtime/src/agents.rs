//! Agent definitions: markdown files with YAML front matter, the format
//! Claude Code users already have (`.claude/agents/*.md`), plus Nocturne's
//! keys. The body is the system prompt.
//!
//! ```markdown
//! ---
//! name: reviewer
//! description: Reviews a change and reports problems.
//! model: inherit
//! tools: Read, mcp__fs__read_text_file, spawn_agent
//! max_turns: 12
//! retries: 1
//! output_schema: {"type": "object", "properties": {"ok": {"type": "boolean"}}, "required": ["ok"]}
//! ---
//! You review changes...
//! ```
//!
//! The front matter is YAML (read with `serde_norway`): any YAML mapping,
//! so block lists, block scalars and nested mappings (an `output_schema`
//! written as YAML) all work. Unknown keys (`color`, `permissionMode`, ...)
//! are kept and ignored. A file that is not valid is refused with its
//! path, the line and what is wrong.

use crate::RuntimeError;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// How an agent's model calls tools.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ToolCalling {
    /// Native tool calling, unless the model is known or seen not to do it.
    #[default]
    Auto,
    /// The provider's tool calling.
    Native,
    /// JSON-schema-constrained actions (`{"tool", "arguments"}` or `{"final"}`).
    Json,
}

/// One agent definition.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AgentDef {
    pub name: String,
    pub description: String,
    /// `inherit` (or absent): the run's model; `sonnet`, `opus`, `haiku`:
    /// the run's model too (Claude Code's aliases); a spec
    /// `PROVIDER:BASE_URL#MODEL`: that model.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    /// The tools it may use; `None` (no `tools` key): every tool.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tools: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_turns: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_tokens: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_seconds: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_cost: Option<f64>,
    /// Tries after the first when an attempt fails (model error, tool
    /// error, invalid output). Default 1.
    #[serde(default = "default_retries")]
    pub retries: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output_schema: Option<Value>,
    #[serde(default)]
    pub tool_calling: ToolCalling,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub temperature: Option<f32>,
    /// The markdown body.
    pub system_prompt: String,
    /// The file it was read from.
    pub source: String,
    /// Keys Nocturne does not read, kept as written.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub extra: BTreeMap<String, Value>,
}

fn default_retries() -> u32 {
    1
}

/// The keys Nocturne reads.
const KNOWN: &[&str] = &[
    "name",
    "description",
    "model",
    "tools",
    "max_turns",
    "max_tokens",
    "max_seconds",
    "max_cost",
    "retries",
    "output_schema",
    "tool_calling",
    "temperature",
];

fn bad(file: &str, line: usize, what: impl std::fmt::Display) -> RuntimeError {
    RuntimeError::Definition { file: file.to_string(), line, message: what.to_string() }
}

/// The 1-based file line of the front matter's top-level `key:`.
fn key_line(front: &str, first_line: usize, key: &str) -> usize {
    front
        .lines()
        .position(|l| {
            l.strip_prefix(key).is_some_and(|rest| rest.trim_start().starts_with(':'))
                || l.trim_start_matches(['"', '\'']).starts_with(key)
        })
        .map_or(first_line, |i| first_line + i)
}

fn to_json(v: &serde_norway::Value) -> Value {
    serde_json::to_value(v).unwrap_or(Value::Null)
}

impl AgentDef {
    /// Parses one definition file's text. `file` names it in errors.
    pub fn parse(file: &str, text: &str) -> Result<AgentDef, RuntimeError> {
        let text = text.strip_prefix('\u{feff}').unwrap_or(text);
        let mut lines = text.split_inclusive('\n');
        let first = lines.next().unwrap_or("");
        if first.trim_end() != "---" {
            return Err(bad(
                file,
                1,
                "no front matter: the file must start with a line `---`, then YAML keys, then `---`",
            ));
        }
        let mut front = String::new();
        let mut body_start = None;
        let mut consumed = first.len();
        for (i, l) in lines.enumerate() {
            consumed += l.len();
            if l.trim_end() == "---" {
                body_start = Some((consumed, i + 2));
                break;
            }
            front.push_str(l);
        }
        let Some((body_at, _close_line)) = body_start else {
            return Err(bad(file, 1, "the front matter is not closed: no line `---` after it"));
        };
        let body = text.get(body_at..).unwrap_or("").trim().to_string();
        // Front matter lines start at file line 2.
        let map: serde_norway::Mapping = match serde_norway::from_str::<serde_norway::Value>(&front) {
            Ok(serde_norway::Value::Mapping(m)) => m,
            Ok(serde_norway::Value::Null) => serde_norway::Mapping::new(),
            Ok(_) => return Err(bad(file, 2, "the front matter must be YAML keys (`name: ...`)")),
            Err(e) => {
                let line = e.location().map_or(2, |l| l.line() + 1);
                let msg = e.to_string();
                let msg = msg.split(" at line ").next().unwrap_or(&msg).to_string();
                return Err(bad(file, line, format!("invalid YAML: {msg}")));
            }
        };
        let mut fields: BTreeMap<String, serde_norway::Value> = BTreeMap::new();
        for (k, v) in map {
            let Some(k) = k.as_str().map(str::to_string) else {
                return Err(bad(file, 2, "every front matter key must be a string"));
            };
            fields.insert(k, v);
        }
        let line = |k: &str| key_line(&front, 2, k);
        let string = |k: &str| -> Result<Option<String>, RuntimeError> {
            match fields.get(k) {
                None | Some(serde_norway::Value::Null) => Ok(None),
                Some(serde_norway::Value::String(s)) => Ok(Some(s.clone())),
                Some(serde_norway::Value::Number(n)) => Ok(Some(n.to_string())),
                Some(serde_norway::Value::Bool(b)) => Ok(Some(b.to_string())),
                Some(_) => Err(bad(file, line(k), format!("`{k}` must be a string"))),
            }
        };
        let whole = |k: &str| -> Result<Option<u64>, RuntimeError> {
            match fields.get(k) {
                None | Some(serde_norway::Value::Null) => Ok(None),
                Some(serde_norway::Value::Number(n)) if n.as_u64().is_some() => Ok(n.as_u64()),
                Some(other) => {
                    Err(bad(file, line(k), format!("`{k}` must be a whole number ≥ 0, not {}", to_json(other))))
                }
            }
        };
        let real = |k: &str| -> Result<Option<f64>, RuntimeError> {
            match fields.get(k) {
                None | Some(serde_norway::Value::Null) => Ok(None),
                Some(serde_norway::Value::Number(n)) if n.as_f64().is_some_and(|x| x.is_finite() && x >= 0.0) => {
                    Ok(n.as_f64())
                }
                Some(other) => Err(bad(file, line(k), format!("`{k}` must be a number ≥ 0, not {}", to_json(other)))),
            }
        };
        let name = string("name")?.map(|s| s.trim().to_string()).filter(|s| !s.is_empty());
        let Some(name) = name else {
            return Err(bad(file, 2, "missing `name` (the agent's name, e.g. `name: reviewer`)"));
        };
        if !name.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')) {
            return Err(bad(
                file,
                line("name"),
                format!("name {name:?} may use only letters, digits, `-`, `_` and `.`"),
            ));
        }
        let tools = match fields.get("tools") {
            None | Some(serde_norway::Value::Null) => None,
            Some(serde_norway::Value::String(s)) => {
                Some(s.split(',').map(|t| t.trim().to_string()).filter(|t| !t.is_empty()).collect())
            }
            Some(serde_norway::Value::Sequence(items)) => {
                let mut out = Vec::new();
                for it in items {
                    match it.as_str() {
                        Some(t) if !t.trim().is_empty() => out.push(t.trim().to_string()),
                        _ => return Err(bad(file, line("tools"), "`tools` must be a list of tool names")),
                    }
                }
                Some(out)
            }
            Some(_) => {
                return Err(bad(file, line("tools"), "`tools` must be tool names: `Read, Grep` or a YAML list"));
            }
        };
        let retries = match whole("retries")? {
            None => default_retries(),
            Some(n) => u32::try_from(n).map_err(|_| bad(file, line("retries"), "`retries` is too large"))?,
        };
        let output_schema = match fields.get("output_schema") {
            None | Some(serde_norway::Value::Null) => None,
            Some(v @ serde_norway::Value::Mapping(_)) => Some(to_json(v)),
            Some(serde_norway::Value::String(s)) => {
                Some(serde_json::from_str(s).map_err(|e| {
                    bad(file, line("output_schema"), format!("`output_schema` is not a JSON schema: {e}"))
                })?)
            }
            Some(_) => return Err(bad(file, line("output_schema"), "`output_schema` must be a JSON schema object")),
        };
        if let Some(s) = &output_schema {
            if !s.is_object() {
                return Err(bad(file, line("output_schema"), "`output_schema` must be a JSON schema object"));
            }
        }
        let tool_calling = match string("tool_calling")?.as_deref() {
            None | Some("auto") => ToolCalling::Auto,
            Some("native") => ToolCalling::Native,
            Some("json") => ToolCalling::Json,
            Some(other) => {
                return Err(bad(
                    file,
                    line("tool_calling"),
                    format!("tool_calling {other:?}: use auto, native or json"),
                ));
            }
        };
        let temperature = real("temperature")?.map(|t| t as f32);
        let extra =
            fields.iter().filter(|(k, _)| !KNOWN.contains(&k.as_str())).map(|(k, v)| (k.clone(), to_json(v))).collect();
        let def = AgentDef {
            description: string("description")?.unwrap_or_default(),
            model: string("model")?,
            tools,
            max_turns: whole("max_turns")?,
            max_tokens: whole("max_tokens")?,
            max_seconds: real("max_seconds")?,
            max_cost: real("max_cost")?,
            retries,
            output_schema,
            tool_calling,
            temperature,
            system_prompt: body,
            source: file.to_string(),
            extra,
            name,
        };
        Ok(def)
    }

    /// Whether the agent's model is the run's (`inherit`, an alias, or none).
    pub fn inherits_model(&self) -> bool {
        match self.model.as_deref().map(str::trim) {
            None | Some("") | Some("inherit") | Some("sonnet") | Some("opus") | Some("haiku") => true,
            Some(m) => !m.contains('#'),
        }
    }
}

/// The agents a run may use, by name.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct AgentSet {
    pub agents: BTreeMap<String, AgentDef>,
    /// What loading noticed (a name defined in two folders, ...).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
}

impl AgentSet {
    pub fn get(&self, name: &str) -> Option<&AgentDef> {
        self.agents.get(name)
    }

    /// Reads every `*.md` file of `dirs` (recursively, hidden entries
    /// skipped). A name defined twice in one folder is refused; a name an
    /// earlier folder defined wins over a later one's (noted).
    pub fn load(dirs: &[PathBuf]) -> Result<AgentSet, RuntimeError> {
        let mut set = AgentSet::default();
        for dir in dirs {
            let mut files = Vec::new();
            collect_md(dir, &mut files)?;
            files.sort();
            let mut here: BTreeMap<String, String> = BTreeMap::new();
            for f in files {
                let text = std::fs::read_to_string(&f)
                    .map_err(|e| RuntimeError::Io { path: f.display().to_string(), message: e.to_string() })?;
                let def = AgentDef::parse(&f.display().to_string(), &text)?;
                if let Some(other) = here.get(&def.name) {
                    return Err(bad(&def.source, 2, format!("agent {:?} is also defined in {other}", def.name)));
                }
                here.insert(def.name.clone(), def.source.clone());
                match set.agents.get(&def.name) {
                    Some(first) => set.notes.push(format!(
                        "agent {:?} of {} is not used: {} defines it first",
                        def.name, def.source, first.source
                    )),
                    None => {
                        set.agents.insert(def.name.clone(), def);
                    }
                }
            }
        }
        Ok(set)
    }
}

fn collect_md(dir: &Path, out: &mut Vec<PathBuf>) -> Result<(), RuntimeError> {
    let rd = std::fs::read_dir(dir)
        .map_err(|e| RuntimeError::Io { path: dir.display().to_string(), message: e.to_string() })?;
    for entry in rd.flatten() {
        let p = entry.path();
        let name = entry.file_name().to_string_lossy().to_string();
        if name.starts_with('.') {
            continue;
        }
        let Ok(ft) = entry.file_type() else { continue };
        if ft.is_dir() {
            collect_md(&p, out)?;
        } else if ft.is_file() && name.ends_with(".md") {
            out.push(p);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_claude_code_agent_reads_with_its_keys_and_unknown_ones_kept() {
        let text = "---\nname: code-reviewer\ndescription: Reviews code. Use after changes.\ntools: Read, Grep, Glob\nmodel: sonnet\ncolor: blue\n---\n\nYou are a senior reviewer.\n";
        let d = AgentDef::parse("a.md", text).unwrap();
        assert_eq!(d.name, "code-reviewer");
        assert_eq!(d.tools.as_deref().unwrap(), ["Read", "Grep", "Glob"]);
        assert!(d.inherits_model());
        assert_eq!(d.system_prompt, "You are a senior reviewer.");
        assert_eq!(d.extra.get("color"), Some(&Value::String("blue".into())));
        assert_eq!(d.retries, 1);
    }

    #[test]
    fn nocturne_keys_read_as_yaml_lists_block_scalars_and_nested_schemas() {
        let text = "---\nname: summer\ndescription: |\n  Adds numbers.\n  Exactly.\ntools:\n  - spawn_agent\n  - mcp__fs\nmax_turns: 5\nmax_tokens: 2000\nmax_seconds: 30\nmax_cost: 0.5\nretries: 2\ntool_calling: json\noutput_schema:\n  type: object\n  properties:\n    sum: {type: integer}\n  required: [sum]\n---\nAdd.\n";
        let d = AgentDef::parse("s.md", text).unwrap();
        assert_eq!(d.description, "Adds numbers.\nExactly.\n");
        assert_eq!(d.tools.as_deref().unwrap(), ["spawn_agent", "mcp__fs"]);
        assert_eq!((d.max_turns, d.max_tokens, d.retries), (Some(5), Some(2000), 2));
        assert_eq!((d.max_seconds, d.max_cost), (Some(30.0), Some(0.5)));
        assert_eq!(d.tool_calling, ToolCalling::Json);
        assert_eq!(d.output_schema.unwrap()["required"][0], "sum");
        assert!(d.tools.is_some());
        let all = AgentDef::parse("x.md", "---\nname: x\n---\nhi").unwrap();
        assert!(all.tools.is_none(), "no tools key: every tool");
    }

    #[test]
    fn a_bad_file_is_refused_with_its_line() {
        let msg = |t: &str| AgentDef::parse("agents/w.md", t).unwrap_err().to_string();
        assert_eq!(
            msg("name: x\n"),
            "agents/w.md:1: no front matter: the file must start with a line `---`, then YAML keys, then `---`"
        );
        assert!(msg("---\nname: x\n").contains("not closed"));
        assert_eq!(
            msg("---\ndescription: d\n---\n"),
            "agents/w.md:2: missing `name` (the agent's name, e.g. `name: reviewer`)"
        );
        assert_eq!(
            msg("---\nname: w\ndescription: d\nmax_turns: ten\n---\n"),
            "agents/w.md:4: `max_turns` must be a whole number ≥ 0, not \"ten\""
        );
        let e = msg("---\nname: w\ntools: [a, b\n---\n");
        assert!(e.starts_with("agents/w.md:") && e.contains("invalid YAML"), "{e}");
        assert!(msg("---\nname: w\ntool_calling: maybe\n---\n").starts_with("agents/w.md:3: tool_calling \"maybe\""));
        assert!(msg("---\nname: w x\n---\n").contains("may use only letters"));
    }
}
