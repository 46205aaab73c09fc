//! Model dreams against the fake provider the tests start themselves, in
//! both wire formats, JSON and SSE: what the model says is kept only when
//! its quotes are in the log, provider failures keep the deterministic ops
//! and say so with their own codes, figures match what the fake reported,
//! and no planted secret is ever sent.
#![cfg(feature = "model")]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use nocturne_core::{EventKind, NewEvent, NewSession, Proposal, Role};
use nocturne_fake_provider::{FakeServer, Reply, Script};
use nocturne_provider::{ApiKey, ManualClock, Model, ModelConfig, Provider};
use nocturne_service::{Access, AccessLevel, DreamSpec, ModelDream, Scoped, Service};
use nocturne_store::SessionRecord;
use nocturne_store_sqlite::SqliteStore;
use serde_json::{json, Value};
use std::sync::Arc;

const KEY: &str = "sk-test-9b8c7d6e5f4a";
/// Secrets planted in the sessions; none may reach the provider.
const SECRETS: [&str; 5] = [
    "ghp_0123456789abcdefghijklmnopqrstuvwxyz",
    "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
    "hunter2hunter2",
    "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U",
    "s3cr3tpassw0rd",
];

fn ev(role: Role, kind: EventKind, text: &str, tool: Option<(&str, &str)>, is_error: bool) -> NewEvent {
    NewEvent {
        role,
        kind,
        tool_name: tool.map(|(n, _)| n.to_string()),
        tool_input: tool.map(|(_, i)| i.to_string()),
        tool_use_id: None,
        text: Some(text.into()),
        is_error,
        timestamp: None,
        sidechain: false,
        source_line: None,
        raw: "{}".into(),
    }
}

/// Four sessions of one project: the goal (event 0) mentions the Django
/// test settings, a `python` call fails and `python3` works; secrets sit
/// in the user's message, a command and an error.
fn session(i: usize) -> SessionRecord {
    let bash = |cmd: &str| {
        ev(Role::Assistant, EventKind::ToolCall, "", Some(("Bash", &json!({"command": cmd}).to_string())), false)
    };
    let out = |text: &str, err: bool| ev(Role::Tool, EventKind::ToolResult, text, Some(("Bash", "")), err);
    let [gh, aws, pw, jwt, db] = SECRETS;
    SessionRecord {
        session: NewSession {
            id: format!("shop-{i}"),
            format: "nocturne".into(),
            user: Some(["ana", "bob", "carol", "dave"][i % 4].into()),
            agent: Some("coder".into()),
            team: Some("shop".into()),
            events: vec![
                ev(
                    Role::User,
                    EventKind::UserMessage,
                    &format!(
                        "Fix checkout test {i}; the tests use settings_test.py with the sqlite database. \
                         Push with GITHUB_TOKEN={gh} and the session cookie {jwt}."
                    ),
                    None,
                    false,
                ),
                bash(&format!("DB_PASSWORD={pw} python manage.py test checkout")),
                out(&format!("bash: python: command not found (AWS_SECRET_ACCESS_KEY={aws})"), true),
                bash("python3 manage.py test checkout --settings=shop.settings_test"),
                out(&format!("Ran 12 tests OK; connected to postgres://shop:{db}@db.internal/shop"), false),
            ],
            ..NewSession::default()
        },
        ingested_at: "2026-11-01T00:00:00Z".into(),
    }
}

struct Fixture {
    server: FakeServer,
    svc: Service,
    clock: ManualClock,
    config: ModelConfig,
}

fn fixture(provider: Provider, stream: bool, script: Script, tweak: impl FnOnce(&mut ModelConfig)) -> Fixture {
    let server = FakeServer::start(script).unwrap();
    let base = if provider == Provider::Anthropic { server.url() } else { server.openai_url() };
    let mut config = ModelConfig::new(provider, base, "test-model");
    config.timeout_secs = 5.0;
    config.price_input_per_mtok = Some(3.0);
    config.price_output_per_mtok = Some(15.0);
    config.concurrency = 1;
    config.stream = stream;
    tweak(&mut config);
    let clock = ManualClock::new();
    let model =
        Model::new(config.clone(), Some(ApiKey::new(KEY).unwrap())).unwrap().with_clock(Arc::new(clock.clone()));
    let meter = model.meter().clone();
    let svc = Service::with_store(
        Arc::new(SqliteStore::open_in_memory().unwrap()),
        Arc::new(|| "2026-11-02T00:00:00Z".to_string()),
    )
    .with_model(ModelDream::new(Arc::new(model), config.clone()).with_meter(meter));
    svc.store().append_sessions(&(0..4).map(session).collect::<Vec<_>>()).unwrap();
    Fixture { server, svc, clock, config }
}

fn each_wire_and_mode() -> Vec<(Provider, bool)> {
    vec![(Provider::Anthropic, false), (Provider::Anthropic, true), (Provider::OpenAi, false), (Provider::OpenAi, true)]
}

fn evidence(session: &str, event: u32, quote: &str) -> Value {
    json!({"session": session, "event": event, "quote": quote})
}

/// One op whose quotes are all in the log, one with a fabricated quote,
/// one citing an event that does not exist.
fn answer() -> Value {
    let quoted = |s: &str| evidence(s, 0, "the tests use settings_test.py with the sqlite database");
    json!({"ops": [
        {"op": "create", "kind": "fact", "text": "Tests run with shop.settings_test (sqlite), not the default settings.",
         "targets": [], "rationale": "every session's goal says so",
         "evidence": [quoted("S1"), quoted("S2"), quoted("S3"), quoted("S4")]},
        {"op": "create", "kind": "preference", "text": "The team wants tabs in Python files.",
         "targets": [], "rationale": "",
         "evidence": [evidence("S1", 0, "please always indent with tabs"), quoted("S2"), quoted("S3")]},
        {"op": "create", "kind": "fact", "text": "CI deploys on Fridays.", "targets": [], "rationale": "",
         "evidence": [evidence("S1", 42, "the tests use settings_test.py"), quoted("S2"), quoted("S3")]}
    ]})
}

/// The test as the local user (org-wide admin), like the command line.
fn local(f: &Fixture) -> Scoped<'_> {
    f.svc.scoped(Access::local_as("user:test"))
}

fn dream(f: &Fixture) -> Proposal {
    local(f).dream_with_model(&DreamSpec::default(), false).unwrap().0
}

fn deterministic_ops(p: &Proposal) -> usize {
    p.ops.iter().filter(|o| o.pass != "model").count()
}

fn assert_nothing_secret_sent(f: &Fixture) {
    let reqs = f.server.requests();
    assert!(!reqs.is_empty());
    for r in reqs {
        for s in SECRETS {
            assert!(!r.body.contains(s), "a planted secret was sent: {s}");
        }
        assert!(r.body.contains("[REDACTED]"), "the redactor ran over what was sent");
    }
}

#[test]
fn verified_ops_are_kept_unverified_dropped_and_figures_match_the_fake() {
    for (provider, stream) in each_wire_and_mode() {
        let f = fixture(provider, stream, Script::queue([Reply::json(answer()).with_usage(1234, 321)]), |_| {});
        let p = dream(&f);
        let model: Vec<_> = p.ops.iter().filter(|o| o.pass == "model").collect();
        assert_eq!(model.len(), 1, "{provider} stream={stream}: {:#?}", p.ops);
        assert_eq!(model[0].kind.as_str(), "fact");
        assert_eq!(model[0].support, 4, "support counted in sessions");
        assert!(model[0].evidence.iter().all(|e| e.session.starts_with("shop-") && e.events == vec![0]));
        assert_eq!(p.stats["model.dropped_unverified"], json!(2), "fabricated quote and missing event");
        assert!(deterministic_ops(&p) >= 1, "python3 instead of python is still found: {:#?}", p.ops);
        assert_eq!(p.stats["model.requests"], json!(1));
        assert_eq!(p.stats["model.failed_requests"], json!(0));
        assert_eq!(p.stats["model.input_tokens"], json!(1234));
        assert_eq!(p.stats["model.output_tokens"], json!(321));
        let cost = p.stats["model.cost_usd"].as_f64().unwrap();
        assert!((cost - (1234.0 * 3.0 + 321.0 * 15.0) / 1e6).abs() < 1e-9, "{cost}");
        assert_eq!(p.notes, None, "no failure, no note");
        assert_nothing_secret_sent(&f);
        let sent = &f.server.requests()[0];
        assert_eq!(sent.json()["stream"].as_bool().unwrap_or(false), stream, "{provider}: SSE as configured");
    }
}

#[test]
fn a_429_with_retry_after_is_waited_out_and_counted() {
    for (provider, stream) in each_wire_and_mode() {
        let script = Script::queue([
            Reply::status(429).with_header("retry-after", "2").with_error_message("slow down"),
            Reply::json(answer()).with_usage(100, 10),
        ]);
        let f = fixture(provider, stream, script, |_| {});
        let p = dream(&f);
        assert_eq!(f.server.request_count(), 2, "{provider}: retried once");
        assert_eq!(p.stats["model.retries"], json!(1));
        assert!(
            f.clock.sleeps().contains(&std::time::Duration::from_secs(2)),
            "waited retry-after: {:?}",
            f.clock.sleeps()
        );
        assert_eq!(p.ops.iter().filter(|o| o.pass == "model").count(), 1);
    }
}

fn assert_failed_with(p: &Proposal, code: &str) {
    assert_eq!(p.stats["model.failed_requests"], json!(1), "{:#?}", p.stats);
    assert_eq!(p.stats["model.errors"], json!([code]));
    let note = p.notes.as_deref().unwrap_or("");
    assert!(note.contains("holds the deterministic ops") && note.contains(code), "{note}");
    assert!(deterministic_ops(p) >= 1, "the deterministic ops are delivered: {:#?}", p.ops);
    assert!(p.ops.iter().all(|o| o.pass != "model"));
}

#[test]
fn a_500_past_the_retries_keeps_the_deterministic_ops() {
    for (provider, stream) in each_wire_and_mode() {
        let f = fixture(provider, stream, Script::queue([Reply::status(500), Reply::status(500)]), |c| c.retries = 1);
        let p = dream(&f);
        assert_eq!(f.server.request_count(), 2, "retried once, then given up");
        assert_failed_with(&p, "model_server_error");
    }
}

#[test]
fn a_timeout_has_its_own_code() {
    let f = fixture(Provider::OpenAi, false, Script::queue([Reply::json(answer()).with_delay_ms(1500)]), |c| {
        c.timeout_secs = 0.3;
        c.retries = 0;
    });
    assert_failed_with(&dream(&f), "model_timeout");
}

#[test]
fn malformed_json_is_repaired_once_then_reported() {
    for (provider, stream) in each_wire_and_mode() {
        let bad = || Reply::text("Here are the lessons: {\"ops\": [{\"op\": \"create\",").with_usage(50, 7);
        let f = fixture(provider, stream, Script::queue([bad(), bad()]), |c| {
            c.json_schema = nocturne_provider::JsonSchemaMode::Off;
        });
        let p = dream(&f);
        assert_eq!(f.server.request_count(), 2, "{provider}: one repair request");
        assert_failed_with(&p, "model_malformed");
        assert_eq!(p.stats["model.input_tokens"], json!(100), "unusable answers are billed, and counted");
        assert_eq!(p.stats["model.output_tokens"], json!(14));
        // A repaired answer is used.
        let f = fixture(provider, stream, Script::queue([bad(), Reply::json(answer())]), |c| {
            c.json_schema = nocturne_provider::JsonSchemaMode::Off;
        });
        let p = dream(&f);
        assert_eq!(p.stats["model.repaired"], json!(1));
        assert_eq!(p.ops.iter().filter(|o| o.pass == "model").count(), 1);
    }
}

#[test]
fn a_dry_run_is_the_bytes_a_dream_sends_and_sends_nothing() {
    for (provider, stream) in each_wire_and_mode() {
        let f = fixture(provider, stream, Script::queue([Reply::json(answer())]), |_| {});
        let dry = local(&f).dream_dry_run(&DreamSpec::default(), &f.config).unwrap();
        assert_eq!(f.server.request_count(), 0, "a dry run sends nothing");
        assert_eq!(dry.requests.len(), 1);
        assert_eq!(dry.sessions, 4);
        assert!(local(&f).dreams().unwrap().is_empty(), "and stores nothing");
        dream(&f);
        let sent = f.server.requests();
        assert_eq!(dry.requests[0].body, sent[0].body_bytes, "{provider} stream={stream}");
        for s in SECRETS {
            assert!(!String::from_utf8_lossy(&dry.requests[0].body).contains(s));
        }
    }
}

#[test]
fn the_same_answers_give_the_same_proposal() {
    let a = dream(&fixture(Provider::OpenAi, false, Script::queue([Reply::json(answer())]), |_| {}));
    let b = dream(&fixture(Provider::Anthropic, true, Script::queue([Reply::json(answer())]), |_| {}));
    assert_eq!(a.ops, b.ops);
}

#[test]
fn a_model_dream_and_its_dry_run_need_write_access_and_a_team_stays_in_its_team() {
    let f = fixture(Provider::OpenAi, false, Script::queue([Reply::json(answer())]), |_| {});
    let reader = f.svc.scoped(Access { level: AccessLevel::Read, team: None, token: None, actor: None });
    let err = reader.dream_with_model(&DreamSpec::default(), false).unwrap_err().to_string();
    assert!(err.contains("needs a write token"), "{err}");
    let err = reader.dream_dry_run(&DreamSpec::default(), &f.config).unwrap_err().to_string();
    assert!(err.contains("needs a write token"), "{err}");
    let team = f.svc.scoped(Access { level: AccessLevel::Write, team: Some("other".into()), token: None, actor: None });
    let err = team.dream_with_model(&DreamSpec::default(), true).unwrap_err().to_string();
    assert!(err.contains("apply them op by op"), "{err}");
    // The fixture's sessions are team shop's: another team's dry run reads none of them.
    let dry = team.dream_dry_run(&DreamSpec::default(), &f.config).unwrap();
    assert_eq!(dry.sessions, 0, "another team's sessions are not sent");
    let shop = f.svc.scoped(Access { level: AccessLevel::Write, team: Some("shop".into()), token: None, actor: None });
    assert_eq!(shop.dream_dry_run(&DreamSpec::default(), &f.config).unwrap().sessions, 4);
    assert_eq!(f.server.request_count(), 0, "nothing was sent");
}
