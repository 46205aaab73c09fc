//! Snapshots of the normalized sessions of every valid fixture, with the
//! file's report. `raw` is left out (it is the source record, checked by the
//! format tests).

use nocturne_ingest::{Format, Hints};
use serde_json::{json, Value};

use crate::common::{fixture, parsed};

fn view(name: &str, format: Format) -> Value {
    let meta = std::fs::read(crate::common::fixture_path(name).with_extension("meta.json")).ok();
    let p = parsed(name, format, &Hints { meta, parent: None });
    let _ = fixture(name);
    let mut sessions = serde_json::to_value(&p.sessions).unwrap();
    for s in sessions.as_array_mut().unwrap() {
        for e in s["events"].as_array_mut().unwrap() {
            e.as_object_mut().unwrap().remove("raw");
        }
    }
    let spawns: Vec<Value> = p
        .spawns
        .iter()
        .map(|s| json!({"session": s.session, "tool_use_id": s.tool_use_id, "child": s.child}))
        .collect();
    json!({
        "sessions": sessions,
        "records": p.report.records,
        "skipped": p.report.skipped,
        "notes": p.report.notes,
        "spawns": spawns,
    })
}

macro_rules! snapshot {
    ($test:ident, $file:expr, $format:expr) => {
        #[test]
        fn $test() {
            insta::assert_json_snapshot!(view($file, $format));
        }
    };
}

snapshot!(claude_code, "claude-code.jsonl", Format::ClaudeCode);
snapshot!(claude_code_two_sessions, "claude-code-two-sessions.jsonl", Format::ClaudeCode);
snapshot!(claude_code_injected, "claude-code-injected.jsonl", Format::ClaudeCode);
snapshot!(
    claude_code_main_with_spawn,
    "claude-code-project/5d1e0f2a-7b3c-4e8d-9a6f-0c1b2d3e4f50.jsonl",
    Format::ClaudeCode
);
snapshot!(
    claude_code_subagent_with_meta,
    "claude-code-project/5d1e0f2a-7b3c-4e8d-9a6f-0c1b2d3e4f50/subagents/agent-a1b2c3d4e5f601234.jsonl",
    Format::ClaudeCode
);
snapshot!(
    claude_code_compaction_agent,
    "claude-code-project/5d1e0f2a-7b3c-4e8d-9a6f-0c1b2d3e4f50/subagents/agent-acompact-7f8e9d.jsonl",
    Format::ClaudeCode
);
snapshot!(claude_code_old_layout_agent, "claude-code-project/agent-9c2b663e.jsonl", Format::ClaudeCode);
snapshot!(codex_rollout, "codex-rollout.jsonl", Format::Codex);
snapshot!(codex_legacy, "codex-legacy.jsonl", Format::Codex);
snapshot!(gemini, "gemini-session.json", Format::Gemini);
snapshot!(tau2, "tau2-results.json", Format::TauBench);
snapshot!(tau_bench_v1, "tau-bench-v1-results.json", Format::TauBench);
snapshot!(tau_display, "tau-display.jsonl", Format::TauDisplay);
snapshot!(swe_agent_old, "swe-agent/gpt4__demo-run/repo-i1.traj", Format::SweAgent);
snapshot!(swe_agent_tools, "swe-agent/gpt4__demo-run/sweagenttestrepo-1c2844.traj", Format::SweAgent);
snapshot!(mini_swe_agent, "swe-agent/mini-swe-agent.traj.json", Format::SweAgent);
snapshot!(aider, "aider.chat.history.md", Format::Aider);
snapshot!(anthropic, "anthropic.json", Format::Anthropic);
snapshot!(openai, "openai.json", Format::OpenAi);
snapshot!(nocturne, "nocturne.jsonl", Format::Nocturne);
snapshot!(nocturne_empty, "nocturne-empty.jsonl", Format::Nocturne);
snapshot!(nocturne_subagent, "nocturne-subagent.jsonl", Format::Nocturne);
