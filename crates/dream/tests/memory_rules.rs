//! The rules about who states preferences, where memories belong, how many
//! workflows a dream reports, paraphrased and outdated memories, and
//! idempotent dreams — each on small hand-written snapshots.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;
use nocturne_core::{
    Counterpart, EventKind, Memory, MemoryKind, NewEvent, NewSession, Op, OpKind, Proposal, Role, Scope, ScopeLevel,
    Subagent,
};
use nocturne_dream::{dream, DreamConfig, DreamSpec, Snapshot};
use serde_json::json;
use support::apply;

const NOW: &str = "2026-03-01T00:00:00Z";

fn ev(role: Role, kind: EventKind) -> NewEvent {
    NewEvent {
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
    }
}

/// A session builder: shell calls through `Bash` with a `command` key.
struct S {
    s: NewSession,
    calls: u32,
    day: u32,
}

impl S {
    fn new(id: &str) -> S {
        let s = NewSession {
            id: id.into(),
            format: "nocturne".into(),
            user: Some(format!("u-{id}")),
            agent: Some("helper".into()),
            team: Some("shop".into()),
            ..NewSession::default()
        };
        S { s, calls: 0, day: 10 }
    }
    fn who(mut self, user: Option<&str>, team: Option<&str>, agent: Option<&str>) -> S {
        self.s.user = user.map(str::to_string);
        self.s.team = team.map(str::to_string);
        self.s.agent = agent.map(str::to_string);
        self
    }
    fn counterpart(mut self, c: Counterpart) -> S {
        self.s.counterpart = Some(c);
        self
    }
    fn day(mut self, d: u32) -> S {
        self.day = d;
        self
    }
    fn say(mut self, role: Role, kind: EventKind, text: &str) -> S {
        let mut e = ev(role, kind);
        e.text = Some(text.into());
        self.s.events.push(e);
        self
    }
    fn user(self, text: &str) -> S {
        self.say(Role::User, EventKind::UserMessage, text)
    }
    fn call(mut self, tool: &str, input: serde_json::Value, out: &str, is_error: bool) -> S {
        self.calls += 1;
        let id = format!("c{}", self.calls);
        let mut c = ev(Role::Assistant, EventKind::ToolCall);
        c.tool_name = Some(tool.into());
        c.tool_input = Some(input.to_string());
        c.tool_use_id = Some(id.clone());
        let mut r = ev(Role::Tool, EventKind::ToolResult);
        r.tool_use_id = Some(id);
        r.text = Some(out.into());
        r.is_error = is_error;
        self.s.events.push(c);
        self.s.events.push(r);
        self
    }
    fn sh(self, cmd: &str, out: &str, is_error: bool) -> S {
        self.call("Bash", json!({ "command": cmd }), out, is_error)
    }
    fn ok(self, cmd: &str) -> S {
        self.sh(cmd, "done", false)
    }
    fn build(mut self) -> NewSession {
        for (i, e) in self.s.events.iter_mut().enumerate() {
            e.timestamp = Some(format!("2026-02-{:02}T09:{:02}:{:02}Z", self.day, i / 60 % 60, i % 60));
        }
        self.s
    }
}

fn cfg() -> DreamConfig {
    DreamConfig { now: NOW.into(), ..DreamConfig::default() }
}

fn run(sessions: &[NewSession], memories: Vec<Memory>) -> Proposal {
    dream(&Snapshot::from_new_sessions(1, sessions, memories, NOW), &cfg(), "d").unwrap()
}

fn creates<'a>(p: &'a Proposal, kind: &str) -> Vec<&'a Op> {
    p.ops.iter().filter(|o| o.op == OpKind::Create && o.kind.as_str() == kind).collect()
}

/// A rule said in other words in each session.
const PNPM: [&str; 4] = [
    "Always use pnpm instead of npm in this repo.",
    "Please use pnpm, never npm.",
    "We use pnpm here; don't run npm install.",
    "Make sure you install with pnpm, not npm.",
];

// ------------------------------------------------------------ preferences

#[test]
fn customers_parent_agents_and_harness_text_state_no_preferences() {
    let operator: Vec<NewSession> = (0..4).map(|i| S::new(&format!("o{i}")).user(PNPM[i]).build()).collect();
    assert_eq!(creates(&run(&operator, vec![]), "preference").len(), 1, "operators state preferences");

    let customer: Vec<NewSession> =
        (0..4).map(|i| S::new(&format!("c{i}")).counterpart(Counterpart::Customer).user(PNPM[i]).build()).collect();
    let p = run(&customer, vec![]);
    assert!(creates(&p, "preference").is_empty(), "a customer's words are never a preference: {:#?}", p.ops);

    let agent: Vec<NewSession> =
        (0..4).map(|i| S::new(&format!("a{i}")).counterpart(Counterpart::Agent).user(PNPM[i]).build()).collect();
    assert!(creates(&run(&agent, vec![]), "preference").is_empty(), "a parent agent's prompt is a task");

    // A sub-agent marked only by its parent link or its sub-agent record.
    let sub: Vec<NewSession> = (0..4)
        .map(|i| {
            let mut s = S::new(&format!("p{i}")).user(PNPM[i]).build();
            if i % 2 == 0 {
                s.parent = Some(format!("main-{i}"));
            } else {
                s.subagent = Some(Subagent { agent_id: format!("x{i}"), ..Subagent::default() });
            }
            s
        })
        .collect();
    assert!(creates(&run(&sub, vec![]), "preference").is_empty(), "sub-agent prompts are the parent's");

    // Harness text the ingest marked as system.
    let harness: Vec<NewSession> =
        (0..4).map(|i| S::new(&format!("h{i}")).say(Role::System, EventKind::System, PNPM[i]).build()).collect();
    assert!(creates(&run(&harness, vec![]), "preference").is_empty(), "injected text is nobody's preference");
}

#[test]
fn a_customer_statement_is_not_a_rule_even_unmarked() {
    // Statements about the speaker never read as rules, whoever says them.
    let said = [
        "I don't have the order ID handy right now.",
        "I don't have the order id with me, sorry.",
        "Sorry, I don't have the order ID at hand.",
        "I don't remember the order ID.",
    ];
    let ss: Vec<NewSession> = (0..4).map(|i| S::new(&format!("s{i}")).user(said[i]).build()).collect();
    let p = run(&ss, vec![]);
    assert!(creates(&p, "preference").is_empty(), "{:#?}", p.ops);
}

#[test]
fn a_rejection_reason_in_a_tool_result_is_the_operators_word() {
    let reason = |r: &str| {
        format!(
            "The user doesn't want to proceed with this tool use. The tool use was rejected (eg. if it was a file \
             edit, the new_string was NOT written to the file). The user provided the following reason for the \
             rejection:  {r}"
        )
    };
    let said = ["use pnpm", "use pnpm, not npm", "use pnpm"];
    let ss: Vec<NewSession> = (0..3)
        .map(|i| {
            S::new(&format!("r{i}")).who(Some("ana"), None, None).sh("npm install", &reason(said[i]), true).build()
        })
        .collect();
    let p = run(&ss, vec![]);
    let prefs = creates(&p, "preference");
    assert_eq!(prefs.len(), 1, "{:#?}", p.ops);
    assert!(prefs[0].text.starts_with("Use pnpm"), "{}", prefs[0].text);
    assert_eq!(prefs[0].scope, Scope { level: ScopeLevel::User, name: Some("ana".into()) }, "one operator: personal");
    // The evidence quotes the operator's words in the result they are in.
    assert!(prefs[0].evidence.iter().all(|e| e.quote.to_lowercase().starts_with("use pnpm")), "{:#?}", prefs[0]);
    // The harness's notice around it is not a rule.
    assert!(!prefs.iter().any(|o| o.text.contains("STOP")), "{:#?}", p.ops);
}

#[test]
fn preferences_read_as_rules_not_copied_bullets() {
    let said = [
        "- **Never** push to `main` directly; open a PR.**",
        "* never push to main directly, open a pull request",
        "1. Never push directly to main — always open a PR.",
    ];
    let ss: Vec<NewSession> = (0..3).map(|i| S::new(&format!("b{i}")).user(said[i]).build()).collect();
    let p = run(&ss, vec![]);
    let prefs = creates(&p, "preference");
    assert_eq!(prefs.len(), 1, "{:#?}", p.ops);
    let t = &prefs[0].text;
    assert!(!t.starts_with(['-', '*', '1']) && !t.contains("**"), "{t}");
    assert!(t.chars().next().unwrap().is_uppercase() && t.ends_with('.') && t.len() <= 200, "{t}");
}

// ----------------------------------------------------------------- scopes

fn mistake_session(id: &str) -> S {
    S::new(id).sh("docker-compose up -d", "bash: docker-compose: command not found", true).sh(
        "docker compose up -d",
        "Container api  Started",
        false,
    )
}

#[test]
fn one_operators_lessons_are_the_teams_and_their_taste_is_theirs() {
    let ss: Vec<NewSession> = (0..3)
        .map(|i| {
            S::new(&format!("s{i}"))
                .user(&format!("Bring up the stack for ticket {i}; I prefer tabs over spaces in every YAML file."))
                .sh("docker-compose up -d", "bash: docker-compose: command not found", true)
                .sh("docker compose up -d", "Container api  Started", false)
                .who(Some("ana"), Some("shop"), Some("helper"))
                .build()
        })
        .collect();
    let p = run(&ss, vec![]);
    let m = creates(&p, "mistake");
    assert_eq!(m.len(), 1, "{:#?}", p.ops);
    assert_eq!(m[0].scope, Scope { level: ScopeLevel::Team, name: Some("shop".into()) }, "a lesson for the team");
    let pr = creates(&p, "preference");
    assert_eq!(pr.len(), 1, "{:#?}", p.ops);
    assert_eq!(pr[0].scope, Scope { level: ScopeLevel::User, name: Some("ana".into()) }, "taste stays personal");
}

#[test]
fn sessions_without_a_user_never_get_an_invented_scope() {
    for (team, agent, want) in [
        (Some("shop"), Some("helper"), Scope { level: ScopeLevel::Team, name: Some("shop".into()) }),
        (None, Some("helper"), Scope { level: ScopeLevel::Agent, name: Some("helper".into()) }),
        (None, None, Scope::org()),
    ] {
        let ss: Vec<NewSession> =
            (0..3).map(|i| mistake_session(&format!("s{i}")).who(None, team, agent).user(PNPM[i]).build()).collect();
        let p = run(&ss, vec![]);
        assert_eq!(creates(&p, "mistake")[0].scope, want, "{:#?}", p.ops);
        assert!(p.ops.iter().all(|o| o.scope.level != ScopeLevel::User), "no user:… scope: {:#?}", p.ops);
        // Nobody known stated the preference: an agent may keep it, no shared scope can.
        let prefs = creates(&p, "preference");
        match agent {
            Some(a) => assert_eq!(prefs[0].scope, Scope { level: ScopeLevel::Agent, name: Some(a.into()) }),
            None => assert!(prefs.is_empty(), "{prefs:#?}"),
        }
        if team.is_some() {
            assert!(prefs.iter().all(|o| o.scope.level != ScopeLevel::Team), "a team preference needs two operators");
        }
    }
}

#[test]
fn a_shared_preference_needs_two_operators() {
    let ss: Vec<NewSession> = (0..4)
        .map(|i| S::new(&format!("s{i}")).who(Some(["ana", "bob"][i % 2]), Some("shop"), None).user(PNPM[i]).build())
        .collect();
    let p = run(&ss, vec![]);
    assert_eq!(creates(&p, "preference")[0].scope, Scope { level: ScopeLevel::Team, name: Some("shop".into()) });
}

// -------------------------------------------------------------- workflows

/// A session running `steps` in order, each step once.
fn steps(id: &str, steps: &[&str]) -> NewSession {
    steps.iter().fold(S::new(id), |s, c| s.ok(c)).build()
}

fn is_sub(a: &[String], b: &[String]) -> bool {
    let mut it = b.iter();
    a.iter().all(|x| it.any(|y| y == x))
}

fn shown_steps(o: &Op) -> Vec<String> {
    o.text.split('`').skip(1).step_by(2).map(str::to_string).collect()
}

#[test]
fn scripts_each_session_writes_are_one_step_and_their_names_stay_out() {
    // Three runs, each with its own script and interpreter: reproduce, fix, re-run, submit.
    let ss = vec![
        steps(
            "a",
            &["create reproduce_bug.py", "edit 1:1", "python reproduce_bug.py", "rm reproduce_bug.py", "submit"],
        ),
        steps("b", &["edit 4:4", "python tests/missing_colon.py", "submit"]),
        steps("c", &["edit 2:2", "python3 /repo/tests/check_div.py", "submit"]),
    ];
    let p = dream(&Snapshot::from_new_sessions(1, &ss, vec![], NOW), &cfg(), "d").unwrap();
    let procs = creates(&p, "procedure");
    assert_eq!(procs.len(), 1, "{:#?}", p.ops);
    assert_eq!(procs[0].text, "Workflow that works here, in this order: `edit` → run the script → `submit`.");
    // `python -m pytest` and `python -c` run no script of the session.
    let ss: Vec<NewSession> =
        ["a", "b", "c"].iter().map(|id| steps(id, &["edit 1:1", "python -m pytest", "python -c 'print(1)'"])).collect();
    let p = dream(&Snapshot::from_new_sessions(1, &ss, vec![], NOW), &cfg(), "d").unwrap();
    assert!(creates(&p, "procedure").iter().all(|o| !o.text.contains("run the script")), "{:#?}", p.ops);
}

#[test]
fn workflows_are_maximal_at_any_support_and_capped() {
    // One long shared workflow in eight sessions, a shorter habit in more.
    let long = ["make deps", "make gen", "make build", "make vet", "make test", "make pkg"];
    let mut ss: Vec<NewSession> = (0..8).map(|i| steps(&format!("w{i}"), &long)).collect();
    ss.extend((0..4).map(|i| steps(&format!("x{i}"), &["make deps", "make gen", "make build"])));
    let other = ["curl -s localhost", "psql -c 'select 1'", "docker ps", "redis-cli ping", "jq . a.json"];
    ss.extend((0..18).map(|i| steps(&format!("o{i}"), &[other[i % 5], other[(i + 2) % 5]])));
    for ms in [2u32, 3, 5] {
        let c = DreamConfig { min_support: Some(ms), ..cfg() };
        let p = dream(&Snapshot::from_new_sessions(1, &ss, vec![], NOW), &c, "d").unwrap();
        let procs = creates(&p, "procedure");
        assert!(!procs.is_empty(), "min_support {ms}: {:#?}", p.ops);
        let shown: Vec<Vec<String>> = procs.iter().map(|o| shown_steps(o)).collect();
        for (i, a) in shown.iter().enumerate() {
            for (j, b) in shown.iter().enumerate() {
                assert!(i == j || !is_sub(a, b), "min_support {ms}: {a:?} is part of {b:?}");
            }
        }
    }
    // Fifteen unrelated workflows: ten reported (the default cap), the rest counted.
    let tools = [
        "cargo",
        "npm",
        "go",
        "mvn",
        "gradle",
        "bazel",
        "helm",
        "terraform",
        "ansible",
        "poetry",
        "mix",
        "dotnet",
        "sbt",
        "cmake",
        "rake",
    ];
    let mut many = Vec::new();
    for (k, t) in tools.iter().enumerate() {
        let st = [format!("{t} fetch"), format!("{t} compile"), format!("{t} verify")];
        let st: Vec<&str> = st.iter().map(String::as_str).collect();
        many.extend((0..3 + k % 3).map(|i| steps(&format!("{t}-{i}"), &st)));
    }
    let p = run(&many, vec![]);
    assert_eq!(creates(&p, "procedure").len(), 10, "{:#?}", p.ops);
    assert_eq!(p.stats.get("workflows.capped"), Some(&json!(5)));
    // The best supported are kept.
    let kept_support: Vec<u32> = creates(&p, "procedure").iter().map(|o| o.support).collect();
    assert!(kept_support.iter().all(|s| *s >= 4), "{kept_support:?}");
    let few = DreamSpec { max_workflows: Some(3), ..DreamSpec::default() }.config(NOW);
    let p = dream(&Snapshot::from_new_sessions(1, &many, vec![], NOW), &few, "d").unwrap();
    assert_eq!(creates(&p, "procedure").len(), 3);
}

#[test]
fn looking_around_is_no_workflow_step() {
    let ss: Vec<NewSession> = (0..4)
        .map(|i| {
            S::new(&format!("s{i}"))
                .call("Grep", json!({"pattern": "TODO"}), "a.rs:1", false)
                .call("TodoWrite", json!({"todos": []}), "ok", false)
                .call("Read", json!({"file_path": "/w/src/a.rs"}), "fn a() {}", false)
                .call("Glob", json!({"pattern": "**/*.rs"}), "a.rs", false)
                .call("WebSearch", json!({"query": "rust"}), "results", false)
                .ok("cargo fmt")
                .build()
        })
        .collect();
    let p = run(&ss, vec![]);
    assert!(creates(&p, "procedure").is_empty(), "{:#?}", p.ops);
}

// ------------------------------------------------ duplicates and outdated

fn mem(kind: MemoryKind, text: &str, at: &str) -> Memory {
    let mut m = Memory::new(kind, text, Scope::org(), at, text).unwrap();
    m.updated_at = at.into();
    m
}

#[test]
fn paraphrases_merge_by_meaning_and_look_alikes_stay() {
    let ms = vec![
        mem(MemoryKind::procedure(), "Run the linter with `make lint` before committing.", "2025-12-01T00:00:00Z"),
        mem(MemoryKind::procedure(), "Before you commit, run make lint.", "2026-01-01T00:00:00Z"),
        mem(
            MemoryKind::procedure(),
            "Always run `make lint` prior to commits so CI stays green.",
            "2026-02-01T00:00:00Z",
        ),
        mem(MemoryKind::procedure(), "Run `make lint` after pulling main.", "2026-02-01T00:00:00Z"),
        mem(MemoryKind::fact(), "Service ab12 rate-limits the billing endpoint.", "2026-02-01T00:00:00Z"),
        mem(MemoryKind::fact(), "Service cd34 rate-limits the billing endpoint.", "2026-02-01T00:00:00Z"),
    ];
    let p = run(&[], ms.clone());
    let merges: Vec<&Op> = p.ops.iter().filter(|o| o.op == OpKind::Merge).collect();
    assert_eq!(merges.len(), 1, "{:#?}", p.ops);
    let mut t = merges[0].targets.clone();
    t.sort();
    let mut want: Vec<String> = ms[..3].iter().map(|m| m.id.clone()).collect();
    want.sort();
    assert_eq!(t, want);
    assert_eq!(merges[0].targets[0], ms[0].id, "the oldest of equals is kept");
}

#[test]
fn advice_named_by_tool_is_retired_when_the_tool_now_fails() {
    let old = mem(MemoryKind::procedure(), "Use yarn to install dependencies.", "2025-10-01T00:00:00Z");
    let fail = "error This project's package.json defines \"packageManager\": \"pnpm@8.15.4\". However the current \
                global version of Yarn is 1.22.19.";
    let ss: Vec<NewSession> =
        (0..3).map(|i| S::new(&format!("s{i}")).sh("yarn install", fail, true).ok("pnpm install").build()).collect();
    let p = run(&ss, vec![old.clone()]);
    let r: Vec<&Op> = p.ops.iter().filter(|o| o.op == OpKind::Retire).collect();
    assert_eq!(r.len(), 1, "{:#?}", p.ops);
    assert_eq!(r[0].targets, vec![old.id.clone()]);
    assert!(r[0].rationale.contains("pnpm install") && r[0].support == 3, "{}", r[0].rationale);
    assert!(creates(&p, "mistake").iter().any(|o| o.text.contains("pnpm install")), "the new practice: {:#?}", p.ops);
}

// ------------------------------------------------------------ idempotency

#[test]
fn dreaming_twice_over_the_same_sessions_proposes_nothing_new() {
    let known = mem(MemoryKind::procedure(), "Start the stack with `docker compose up -d`.", "2025-11-01T00:00:00Z");
    let stale = mem(MemoryKind::fact(), "The Solaris farm needs gmake.", "2025-06-01T00:00:00Z");
    let ss: Vec<NewSession> = (0..6)
        .map(|i| {
            mistake_session(&format!("s{i}"))
                .who(Some(["ana", "bob"][i % 2]), Some("shop"), None)
                .user(PNPM[i % 4])
                .build()
        })
        .collect();
    let ingested = "2026-02-28T00:00:00Z";
    let snap = |ms: Vec<Memory>| Snapshot::from_new_sessions(1, &ss, ms, ingested);
    let first = dream(&snap(vec![known.clone(), stale.clone()]), &cfg(), "d1").unwrap();
    assert!(first.ops.iter().any(|o| o.op == OpKind::Create), "{:#?}", first.ops);
    assert!(first.ops.iter().any(|o| o.op == OpKind::Promote), "the known memory is confirmed: {:#?}", first.ops);
    assert!(first.ops.iter().any(|o| o.op == OpKind::Demote), "{:#?}", first.ops);
    let after = apply(&first, &[known.clone(), stale.clone()], NOW);
    let second = dream(&snap(after.clone()), &cfg(), "d2").unwrap();
    assert!(second.ops.is_empty(), "the same sessions again: {:#?}", second.ops);
    // A third time, a day later: still nothing; priorities do not creep.
    let later = DreamConfig { now: "2026-03-02T00:00:00Z".into(), ..cfg() };
    let third = dream(&snap(after.clone()), &later, "d3").unwrap();
    assert!(third.ops.is_empty(), "{:#?}", third.ops);

    // New sessions showing the same thing confirm again, once.
    let new: Vec<NewSession> = (0..3)
        .map(|i| mistake_session(&format!("n{i}")).who(Some("cid"), Some("shop"), None).day(28).build())
        .collect();
    let snap2 = Snapshot::from_new_sessions(1, &new, after.clone(), "2026-03-05T00:00:00Z");
    let c = DreamConfig { now: "2026-03-05T00:00:00Z".into(), ..cfg() };
    let fourth = dream(&snap2, &c, "d4").unwrap();
    let promotes: Vec<&Op> = fourth.ops.iter().filter(|o| o.op == OpKind::Promote).collect();
    assert_eq!(promotes.len(), 1, "{:#?}", fourth.ops);
    assert!(promotes[0].evidence.iter().all(|e| e.session.starts_with('n')), "only the new sessions: {promotes:#?}");
    assert!(fourth.ops.iter().all(|o| o.op != OpKind::Create), "{:#?}", fourth.ops);
}

#[test]
fn a_retired_memory_is_not_recreated_from_the_same_sessions() {
    let ss: Vec<NewSession> = (0..3).map(|i| mistake_session(&format!("s{i}")).build()).collect();
    let first = run(&ss, vec![]);
    let created = creates(&first, "mistake");
    assert_eq!(created.len(), 1);
    let mut ms = apply(&first, &[], "2026-03-01T00:00:00Z");
    for m in &mut ms {
        m.status = nocturne_core::memory::Status::Retired;
        m.updated_at = "2026-03-01T01:00:00Z".into();
    }
    let p = dream(&Snapshot::from_new_sessions(1, &ss, ms, "2026-02-28T00:00:00Z"), &cfg(), "d2").unwrap();
    assert!(p.ops.is_empty(), "{:#?}", p.ops);
    assert_eq!(p.stats.get("guardrail.dropped_matches_retired"), Some(&json!(1)));
}
