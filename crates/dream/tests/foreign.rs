//! A batch in a style the corpus generator never produces: Claude-Code-like
//! tool calls (`Bash` with `command` + `description`, `Grep`, `Glob`,
//! `Read`), no user/team information, other tools and languages, other
//! wordings. Guards against tuning the engine to one generator.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use nocturne_core::{EventKind, NewEvent, NewSession, OpKind, Role, Scope, ScopeLevel};
use nocturne_dream::{dream, DreamConfig, Snapshot};
use serde_json::json;

struct B {
    events: Vec<NewEvent>,
    n: u32,
}

impl B {
    fn new() -> B {
        B { events: Vec::new(), n: 0 }
    }
    fn push(&mut self, role: Role, kind: EventKind, f: impl FnOnce(&mut NewEvent)) {
        let mut e = NewEvent {
            role,
            kind,
            tool_name: None,
            tool_input: None,
            tool_use_id: None,
            text: None,
            is_error: false,
            timestamp: None,
            sidechain: false,
            source_line: None,
            raw: "{}".into(),
        };
        f(&mut e);
        self.events.push(e);
    }
    fn user(&mut self, t: &str) {
        self.push(Role::User, EventKind::UserMessage, |e| e.text = Some(t.into()));
    }
    fn tool(&mut self, name: &str, input: serde_json::Value, out: &str, err: bool) {
        self.n += 1;
        let id = format!("toolu_{:04}", self.n);
        let (n2, id2) = (name.to_string(), id.clone());
        self.push(Role::Assistant, EventKind::ToolCall, |e| {
            e.tool_name = Some(n2);
            e.tool_input = Some(input.to_string());
            e.tool_use_id = Some(id2);
        });
        self.push(Role::User, EventKind::ToolResult, |e| {
            e.tool_use_id = Some(id);
            e.text = Some(out.into());
            e.is_error = err;
        });
    }
    fn bash(&mut self, cmd: &str, out: &str, err: bool) {
        self.tool("Bash", json!({"command": cmd, "description": "run it"}), out, err);
    }
    fn noise(&mut self, k: usize) {
        match k % 4 {
            0 => self.tool("Grep", json!({"pattern": "TODO", "path": "src"}), "src/a.ts:3: TODO", false),
            1 => self.tool("Glob", json!({"pattern": "**/*.tf"}), "main.tf\nvars.tf", false),
            2 => self.tool("Read", json!({"file_path": format!("/repo/src/mod{k}.ts")}), "export {}", false),
            _ => self.bash(&format!("wc -l src/mod{k}.ts"), "42 src/mod.ts", false),
        }
    }
}

fn batch() -> Vec<NewSession> {
    let mut out = Vec::new();
    for i in 0..24usize {
        let mut b = B::new();
        b.user(["Bump the API client.", "Why does CI take 20 minutes?", "Add retries to the uploader."][i % 3]);
        b.noise(i);
        if i % 4 == 0 {
            // Mistake A in 6 sessions.
            b.bash("gradle test --info", "bash: gradle: command not found", true);
            b.noise(i + 1);
            b.bash("./gradlew test --info", "BUILD SUCCESSFUL in 41s", false);
        }
        if i % 5 == 1 {
            // Mistake B in 5 sessions: same command, the fix adds a flag.
            b.bash("tsc", "error TS5057: Cannot find a tsconfig.json file at the specified directory: './'.", true);
            b.bash("tsc -p packages/api/tsconfig.json", "", false);
        }
        if i % 4 == 2 || i == 7 {
            // A workflow in 7 sessions, interleaved with noise.
            b.bash("terraform fmt -recursive", "", false);
            b.noise(i + 2);
            b.bash("terraform validate", "Success! The configuration is valid.", false);
            b.noise(i + 3);
            b.bash(
                &format!("terraform plan -out plan-{i}.tfplan"),
                "Plan: 2 to add, 0 to change, 0 to destroy.",
                false,
            );
            b.bash(&format!("terraform apply plan-{i}.tfplan"), "Apply complete! Resources: 2 added.", false);
        }
        if i % 6 == 3 || i == 10 {
            let said = [
                "Keep every function under 50 lines.",
                "Functions should stay below 50 lines; split them otherwise.",
                "Please make sure no function grows past 50 lines.",
                "We don't allow functions longer than 50 lines here.",
                "Always keep functions short, 50 lines max.",
            ];
            b.user(said[(i / 3) % said.len()]);
        }
        if i == 5 {
            b.user("Always rename the S3 bucket before a demo.");
        }
        b.noise(i + 5);
        b.bash("git status --short", " M src/a.ts", false);
        out.push(NewSession {
            id: format!("cc-{i:03}"),
            format: "claude-code".into(),
            source: None,
            user: None,
            agent: None,
            team: None,
            title: None,
            parent: None,
            subagent: None,
            counterpart: None,
            outcome: None,
            events: b.events,
        });
    }
    out
}

#[test]
fn a_foreign_batch_yields_exactly_the_planted_memories() {
    let snap = Snapshot::from_new_sessions(1, &batch(), vec![], "2026-02-01T00:00:00Z");
    let cfg = DreamConfig { now: "2026-03-01T00:00:00Z".into(), ..DreamConfig::default() };
    let p = dream(&snap, &cfg, "f").unwrap();
    let creates: Vec<_> = p.ops.iter().filter(|o| o.op == OpKind::Create).collect();
    for o in &creates {
        println!("{} {} {}", o.kind, o.scope, o.text);
    }
    let has = |kind: &str, terms: &[&str]| {
        creates.iter().filter(|o| o.kind.as_str() == kind && terms.iter().all(|t| o.text.contains(t))).count()
    };
    assert_eq!(has("mistake", &["gradle test", "./gradlew test"]), 1);
    assert_eq!(has("mistake", &["tsc", "tsc -p"]), 1);
    assert_eq!(has("procedure", &["terraform fmt", "terraform validate", "terraform plan", "terraform apply"]), 1);
    // No user information: the spread over operators cannot be checked, so
    // the preference gets no shared scope and, with no agent either, none
    // at all; the lessons about the work go to the org. No `user:unknown`.
    assert_eq!(has("preference", &["50 lines"]), 0);
    assert_eq!(creates.len(), 3, "no junk");
    assert!(creates.iter().all(|o| o.scope == Scope::org()), "{creates:#?}");
    assert_eq!(p.stats.get("guardrail.dropped_no_scope"), Some(&serde_json::json!(1)));
}

#[test]
fn a_foreign_batch_of_one_agent_keeps_its_preference_at_the_agent() {
    let mut sessions = batch();
    for s in &mut sessions {
        s.agent = Some("claude-code".into());
    }
    let snap = Snapshot::from_new_sessions(1, &sessions, vec![], "2026-02-01T00:00:00Z");
    let cfg = DreamConfig { now: "2026-03-01T00:00:00Z".into(), ..DreamConfig::default() };
    let p = dream(&snap, &cfg, "f").unwrap();
    let agent = Scope { level: ScopeLevel::Agent, name: Some("claude-code".into()) };
    let creates: Vec<_> = p.ops.iter().filter(|o| o.op == OpKind::Create).collect();
    assert_eq!(creates.len(), 4, "{creates:#?}");
    assert!(creates.iter().all(|o| o.scope == agent), "{creates:#?}");
    assert!(creates.iter().any(|o| o.kind.as_str() == "preference" && o.text.contains("50 lines")));
}
