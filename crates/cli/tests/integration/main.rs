//! Integration tests: the real `nocturne` binary in a temporary folder.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::new_without_default)] // test helpers

mod dream;
mod export;
mod ingest;
mod memory;
mod model;
mod model_http;
mod outcomes;
mod projects;
mod real_transcripts;
mod runs;
mod scale;
mod search;
mod server;
mod sessions;

use assert_cmd::Command;
use serde_json::Value;
use std::path::{Path, PathBuf};

/// A temporary folder with its own store.
pub struct Env {
    pub dir: tempfile::TempDir,
}

impl Env {
    pub fn new() -> Self {
        Env { dir: tempfile::tempdir().unwrap() }
    }

    pub fn store(&self) -> PathBuf {
        self.dir.path().join("store.db")
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// `nocturne --store STORE ARGS...`, with a fixed author.
    pub fn cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::cargo_bin("nocturne").unwrap();
        c.arg("--store").arg(self.store()).args(args).env("NOCTURNE_AUTHOR", "tester").env_remove("NOCTURNE_STORE");
        c
    }

    /// Runs with `--json`, asserts success, parses stdout.
    pub fn json(&self, args: &[&str]) -> Value {
        let out = self.cmd(args).arg("--json").output().unwrap();
        assert!(
            out.status.success(),
            "nocturne {args:?} failed: {}\n{}",
            String::from_utf8_lossy(&out.stderr),
            String::from_utf8_lossy(&out.stdout)
        );
        serde_json::from_slice(&out.stdout).unwrap()
    }

    pub fn write(&self, name: &str, text: &str) -> PathBuf {
        let p = self.path(name);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(&p, text).unwrap();
        p
    }
}

pub fn samples() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("samples")
}

pub fn ingest_fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../ingest/tests/fixtures")
}

pub fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// Short Claude Code transcripts written for the tests (the shapes of real
/// `~/.claude/projects` records, CLI 2.x): a main session, sub-agents in
/// both layouts, and what spawns them.
pub mod cc {
    use serde_json::{json, Value};

    fn base(session: &str, uuid: &str, kind: &str, message: Value, side: Option<&str>) -> Value {
        let mut v = json!({
            "parentUuid": null,
            "isSidechain": side.is_some(),
            "userType": "external",
            "cwd": "/work/shop",
            "sessionId": session,
            "version": "2.1.14",
            "gitBranch": "main",
            "type": kind,
            "message": message,
            "uuid": uuid,
            "timestamp": format!("2026-03-01T10:{:02}:00.000Z", uuid.len() % 60),
        });
        if let Some(agent) = side {
            v["agentId"] = json!(agent);
        }
        v
    }

    pub fn user(session: &str, uuid: &str, text: &str, side: Option<&str>) -> String {
        base(session, uuid, "user", json!({"role": "user", "content": text}), side).to_string()
    }

    pub fn assistant(session: &str, uuid: &str, text: &str, side: Option<&str>) -> String {
        let m = json!({"id": format!("msg_{uuid}"), "type": "message", "role": "assistant", "model": "claude-sonnet-4-5",
            "content": [{"type": "text", "text": text}]});
        base(session, uuid, "assistant", m, side).to_string()
    }

    /// The parent's `Task` call that spawns a sub-agent.
    pub fn task_call(session: &str, uuid: &str, tool_use_id: &str, description: &str, prompt: &str) -> String {
        let m = json!({"id": format!("msg_{uuid}"), "type": "message", "role": "assistant", "model": "claude-sonnet-4-5",
            "content": [{"type": "tool_use", "id": tool_use_id, "name": "Task",
                "input": {"description": description, "prompt": prompt, "subagent_type": "Explore"}}]});
        base(session, uuid, "assistant", m, None).to_string()
    }

    /// The call's result, naming the sub-agent's id as Claude Code does.
    pub fn task_result(session: &str, uuid: &str, tool_use_id: &str, agent_id: &str, text: &str) -> String {
        let m = json!({"role": "user", "content": [{"type": "tool_result", "tool_use_id": tool_use_id,
            "content": [{"type": "text", "text": text}]}]});
        let mut v = base(session, uuid, "user", m, None);
        v["toolUseResult"] = json!({"status": "completed", "prompt": "", "agentId": agent_id,
            "content": [{"type": "text", "text": text}], "totalDurationMs": 1200, "totalTokens": 900, "totalToolUseCount": 2});
        v.to_string()
    }

    pub fn progress(session: &str, uuid: &str) -> String {
        json!({"type": "progress", "sessionId": session, "uuid": uuid, "data": {"type": "hook_progress"},
            "timestamp": "2026-03-01T10:00:30.000Z"})
        .to_string()
    }

    pub fn lines(ls: &[String]) -> String {
        let mut s = ls.join("\n");
        s.push('\n');
        s
    }

    /// A project folder: `s-main` with an old-layout sub-agent `agent-a1`,
    /// `s-new` with a new-layout sub-agent (+ `.meta.json`), a sub-agent of
    /// `s-gone` whose main transcript is missing, and an empty file.
    pub fn project(env: &crate::Env, dir: &str) -> std::path::PathBuf {
        env.write(
            &format!("{dir}/s-main.jsonl"),
            &lines(&[
                user("s-main", "u1", "Find where the cart tests live.", None),
                progress("s-main", "p1"),
                task_call("s-main", "u2", "toolu_01", "Find the cart tests", "Find the tests of the cart module."),
                task_result("s-main", "u3", "toolu_01", "a1", "They are in tests/cart/."),
                assistant("s-main", "u4", "The cart tests are in tests/cart/.", None),
            ]),
        );
        env.write(
            &format!("{dir}/agent-a1.jsonl"),
            &lines(&[
                user("s-main", "a1u1", "Find the tests of the cart module.", Some("a1")),
                assistant("s-main", "a1u2", "They are in tests/cart/.", Some("a1")),
            ]),
        );
        env.write(
            &format!("{dir}/s-new.jsonl"),
            &lines(&[
                user("s-new", "n1", "Plan the refactor.", None),
                task_call("s-new", "n2", "toolu_02", "Plan the work", "Plan the refactor of the cart."),
                task_result("s-new", "n3", "toolu_02", "b2c3d4e5f6a7b8c9d", "Three steps."),
                assistant("s-new", "n4", "Here is the plan.", None),
            ]),
        );
        env.write(
            &format!("{dir}/s-new/subagents/agent-b2c3d4e5f6a7b8c9d.jsonl"),
            &lines(&[
                user("s-new", "b1", "Plan the refactor of the cart.", Some("b2c3d4e5f6a7b8c9d")),
                assistant("s-new", "b2", "Three steps.", Some("b2c3d4e5f6a7b8c9d")),
            ]),
        );
        env.write(
            &format!("{dir}/s-new/subagents/agent-b2c3d4e5f6a7b8c9d.meta.json"),
            r#"{"agentType":"Plan","description":"Plan the work"}"#,
        );
        env.write(
            &format!("{dir}/agent-z9.jsonl"),
            &lines(&[
                user("s-gone", "z1", "Look for dead code.", Some("z9")),
                assistant("s-gone", "z2", "None found.", Some("z9")),
            ]),
        );
        env.write(&format!("{dir}/empty.jsonl"), "");
        env.path(dir)
    }
}
