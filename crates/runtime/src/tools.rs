//! The tools an agent is offered: the built-ins (`spawn_agent`,
//! `memory_search`, `report_outcome`) and the MCP servers' tools, chosen by
//! the agent's `tools` key (none: every tool).

use crate::agents::{AgentDef, AgentSet};
use crate::mcp::McpHub;
use nocturne_provider::ToolSpec;
use serde_json::json;

pub const SPAWN: &str = "spawn_agent";
pub const MEMORY_SEARCH: &str = "memory_search";
pub const REPORT_OUTCOME: &str = "report_outcome";

/// Claude Code's names for delegating, read as `spawn_agent`.
const SPAWN_ALIASES: &[&str] = &["Task", "Agent"];

fn spawn_spec(agents: &AgentSet) -> ToolSpec {
    let names: Vec<&String> = agents.agents.keys().collect();
    let mut description = String::from(
        "Delegate a task to a sub-agent; it works on its own and returns a typed result: \
         {\"status\": \"completed\", \"output\"}, {\"status\": \"partial\", \"output\", \"reason\"} or \
         {\"status\": \"failed\", \"kind\", \"message\"}. Several calls in one answer run in parallel. Agents:",
    );
    for (n, d) in &agents.agents {
        let first = d.description.lines().next().unwrap_or("").trim();
        description.push_str(&format!("\n- {n}: {first}"));
    }
    ToolSpec {
        name: SPAWN.into(),
        description,
        input_schema: json!({
            "type": "object",
            "properties": {
                "agent": {"type": "string", "enum": names, "description": "Which agent."},
                "task": {"type": "string", "description": "What it should do.", "maxLength": 4000},
                "context": {"type": "object", "description": "Facts it needs (a JSON object)."}
            },
            "required": ["agent", "task"],
            "additionalProperties": false
        }),
    }
}

fn memory_spec() -> ToolSpec {
    ToolSpec {
        name: MEMORY_SEARCH.into(),
        description: "Search the team's memory (lessons from past sessions, preferences, procedures).".into(),
        input_schema: json!({
            "type": "object",
            "properties": {
                "query": {"type": "string", "maxLength": 500},
                "k": {"type": "integer", "minimum": 1, "maximum": 20}
            },
            "required": ["query"],
            "additionalProperties": false
        }),
    }
}

fn outcome_spec() -> ToolSpec {
    ToolSpec {
        name: REPORT_OUTCOME.into(),
        description: "Record how a task went, on the outcome taxonomy (e.g. set [\"result=success\"]). \
                      By default on your own session; `session` may name another session of this run."
            .into(),
        input_schema: json!({
            "type": "object",
            "properties": {
                "set": {"type": "array", "items": {"type": "string", "maxLength": 200}, "minItems": 1},
                "comment": {"type": "string", "maxLength": 2000},
                "session": {"type": "string"}
            },
            "required": ["set"],
            "additionalProperties": false
        }),
    }
}

/// The tools `def` is offered, and notes on names that match no tool.
/// `can_spawn` is false at the depth limit. Fails when the definition names
/// a tool server that could not be started.
pub fn offered(
    def: &AgentDef,
    agents: &AgentSet,
    mcp: &McpHub,
    can_spawn: bool,
) -> Result<(Vec<ToolSpec>, Vec<String>), String> {
    let all_builtin = || {
        let mut v = Vec::new();
        if can_spawn {
            v.push(spawn_spec(agents));
        }
        v.push(memory_spec());
        v.push(outcome_spec());
        v
    };
    let Some(wanted) = &def.tools else {
        let mut v = all_builtin();
        v.extend(mcp.tools().iter().map(|t| t.spec.clone()));
        return Ok((v, Vec::new()));
    };
    let failed = mcp.failures();
    let mut out: Vec<ToolSpec> = Vec::new();
    let mut notes = Vec::new();
    let push = |s: ToolSpec, out: &mut Vec<ToolSpec>| {
        if !out.iter().any(|o| o.name == s.name) {
            out.push(s);
        }
    };
    for w in wanted {
        let w = w.trim();
        if w == SPAWN || SPAWN_ALIASES.contains(&w) {
            if can_spawn {
                push(spawn_spec(agents), &mut out);
            }
        } else if w == MEMORY_SEARCH {
            push(memory_spec(), &mut out);
        } else if w == REPORT_OUTCOME {
            push(outcome_spec(), &mut out);
        } else if let Some(rest) = w.strip_prefix("mcp__") {
            let (server, tool) = match rest.split_once("__") {
                Some((s, t)) => (s, Some(t).filter(|t| *t != "*")),
                None => (rest, None),
            };
            if let Some((_, why)) = failed.iter().find(|(s, _)| s == server) {
                return Err(format!("agent {} needs MCP server {server}, which is not available: {why}", def.name));
            }
            let matching: Vec<&crate::mcp::McpTool> =
                mcp.tools().iter().filter(|t| t.server == server && tool.is_none_or(|n| t.tool == n)).collect();
            if matching.is_empty() {
                notes.push(format!("agent {}: no tool {w}", def.name));
            }
            for t in matching {
                push(t.spec.clone(), &mut out);
            }
        } else {
            notes.push(format!("agent {}: tool {w} is not one Nocturne has (ignored)", def.name));
        }
    }
    Ok((out, notes))
}

/// Whether `text` is a tool call the model wrote as text instead of
/// calling it (`{"name": ..., "arguments": ...}`, possibly in a code fence
/// or `<tool_call>` tags), naming one of `tools`.
pub fn looks_like_text_tool_call(text: &str, tools: &[ToolSpec]) -> bool {
    let t = text.trim();
    let t = t.strip_prefix("<tool_call>").and_then(|x| x.strip_suffix("</tool_call>")).unwrap_or(t);
    let Ok(v) = nocturne_provider::extract_json(t) else { return false };
    let name = v.get("name").or_else(|| v.get("tool")).and_then(|n| n.as_str());
    let has_args = v.get("arguments").or_else(|| v.get("parameters")).or_else(|| v.get("input")).is_some();
    has_args && name.is_some_and(|n| tools.iter().any(|s| s.name == n))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn def(tools: Option<Vec<&str>>) -> AgentDef {
        let mut d = AgentDef::parse("a.md", "---\nname: a\ndescription: Does a.\n---\nx").unwrap();
        d.tools = tools.map(|v| v.into_iter().map(str::to_string).collect());
        d
    }

    #[test]
    fn every_tool_without_a_tools_key_and_only_the_named_ones_with_it() {
        let mut agents = AgentSet::default();
        agents.agents.insert("a".into(), def(None));
        let hub = McpHub::empty();
        let (all, _) = offered(&def(None), &agents, &hub, true).unwrap();
        let names: Vec<&str> = all.iter().map(|t| t.name.as_str()).collect();
        assert_eq!(names, [SPAWN, MEMORY_SEARCH, REPORT_OUTCOME]);
        let (some, notes) = offered(&def(Some(vec!["Task", "Read", "memory_search"])), &agents, &hub, true).unwrap();
        let names: Vec<&str> = some.iter().map(|t| t.name.as_str()).collect();
        assert_eq!(names, [SPAWN, MEMORY_SEARCH], "Task is Claude Code's name for delegating");
        assert_eq!(notes, ["agent a: tool Read is not one Nocturne has (ignored)"]);
        let (deep, _) = offered(&def(None), &agents, &hub, false).unwrap();
        assert!(deep.iter().all(|t| t.name != SPAWN), "no spawning at the depth limit");
    }

    #[test]
    fn a_tool_call_written_as_text_is_recognized() {
        let tools = vec![memory_spec()];
        assert!(looks_like_text_tool_call(
            "<tool_call>\n{\"name\": \"memory_search\", \"arguments\": {\"query\": \"x\"}}\n</tool_call>",
            &tools
        ));
        assert!(looks_like_text_tool_call("```json\n{\"name\": \"memory_search\", \"arguments\": {}}\n```", &tools));
        assert!(!looks_like_text_tool_call("{\"name\": \"other\", \"arguments\": {}}", &tools));
        assert!(!looks_like_text_tool_call("The answer is 4.", &tools));
    }
}
