//! Outcomes steer dreaming: workflows weighted by session outcome (failing
//! shapes become cautions), usefulness measured against comparable
//! sessions, and the `[weights]` table of the instructions file.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use nocturne_core::{EventKind, Memory, MemoryKind, NewEvent, NewSession, Op, OpKind, Proposal, Role, Scope};
use nocturne_dream::{
    dream, DreamConfig, DreamError, DreamSpec, OutcomeWeights, SessionOutcome, Snapshot, WeightsFile,
};
use serde_json::json;
use std::collections::BTreeMap;

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

/// A session running `cmds` in order through a `shell` tool; every result
/// is fine, so the tool-result heuristic calls it successful.
fn session(id: &str, user: &str, cmds: &[&str]) -> NewSession {
    let mut events = Vec::new();
    let mut u = ev(Role::User, EventKind::UserMessage);
    u.text = Some("ship the change".into());
    events.push(u);
    for (i, c) in cmds.iter().enumerate() {
        let mut call = ev(Role::Assistant, EventKind::ToolCall);
        call.tool_name = Some("shell".into());
        call.tool_input = Some(json!({ "command": c }).to_string());
        call.tool_use_id = Some(format!("c{i}"));
        let mut res = ev(Role::Tool, EventKind::ToolResult);
        res.tool_use_id = Some(format!("c{i}"));
        res.text = Some(format!("$ {c}\ndone"));
        events.push(call);
        events.push(res);
    }
    for (i, e) in events.iter_mut().enumerate() {
        e.timestamp = Some(format!("2026-02-10T10:{:02}:{:02}Z", i / 60, i % 60));
    }
    NewSession {
        id: id.into(),
        format: "nocturne".into(),
        source: None,
        user: Some(user.into()),
        agent: Some("coder".into()),
        team: Some("web".into()),
        title: None,
        parent: None,
        subagent: None,
        counterpart: None,
        outcome: None,
        events,
    }
}

fn outcome(score: f64, label: &str) -> SessionOutcome {
    SessionOutcome { score, label: label.into() }
}

fn cfg() -> DreamConfig {
    DreamConfig { now: NOW.into(), ..DreamConfig::default() }
}

fn run(snap: &Snapshot) -> Proposal {
    dream(snap, &cfg(), "d").unwrap()
}

fn creates<'a>(p: &'a Proposal, kind: &str) -> Vec<&'a Op> {
    p.ops.iter().filter(|o| o.op == OpKind::Create && o.kind.as_str() == kind).collect()
}

// ---------------------------------------------------------------- workflows

const GOOD: &[&str] = &["terraform validate", "terraform plan -out=tf.plan", "terraform apply tf.plan"];
const BAD: &[&str] =
    &["helm dependency update", "helm upgrade api ./chart --force", "kubectl rollout restart deploy/api"];

/// Four sessions running GOOD, four running BAD, one more running GOOD;
/// all of them look fine to the tool-result heuristic.
fn workflow_sessions() -> Vec<NewSession> {
    let mut out = Vec::new();
    for i in 0..4 {
        out.push(session(&format!("g{i}"), &format!("u{i}"), GOOD));
        out.push(session(&format!("b{i}"), &format!("u{i}"), BAD));
    }
    out.push(session("g4", "u4", GOOD));
    out
}

fn has_steps(text: &str, steps: &[&str]) -> bool {
    steps.iter().all(|s| text.contains(s.split(' ').take(2).collect::<Vec<_>>().join(" ").as_str()))
}

#[test]
fn failing_shapes_become_cautions_and_only_succeeding_ones_procedures() {
    let sessions = workflow_sessions();
    let mut snap = Snapshot::from_new_sessions(1, &sessions, vec![], NOW);
    for i in 0..4 {
        snap.outcomes.insert(format!("g{i}"), outcome(1.0, "success"));
        snap.outcomes.insert(format!("b{i}"), outcome(0.0, "failure"));
    }
    // g4 failed: one failure does not outweigh four successes.
    snap.outcomes.insert("g4".into(), outcome(0.1, "failure"));

    let p = run(&snap);
    let procs = creates(&p, "procedure");
    assert_eq!(procs.len(), 1, "{:#?}", p.ops);
    assert!(has_steps(&procs[0].text, GOOD), "{}", procs[0].text);
    assert!(!procs[0].text.contains("helm"), "{}", procs[0].text);
    assert_eq!(procs[0].support, 4);
    assert!(
        procs[0].rationale.contains("outcome-weighted: success 4.00 over 4 sessions vs failure 0.90 over 1 failed"),
        "{}",
        procs[0].rationale
    );

    let cautions = creates(&p, "mistake");
    assert_eq!(cautions.len(), 1, "{:#?}", p.ops);
    let c = cautions[0];
    assert!(c.text.starts_with("Caution"), "{}", c.text);
    assert!(has_steps(&c.text, BAD), "{}", c.text);
    assert!(c.text.contains("failure ×4"), "{}", c.text);
    assert!(c.rationale.contains("4 failed sessions (outcomes: failure ×4)"), "{}", c.rationale);
    assert_eq!(c.support, 4);
    // One evidence per step call (3 steps × 4 failed sessions), each citing
    // the one event its quote is from.
    assert_eq!(c.evidence.len(), 12, "{:#?}", c.evidence);
    for e in &c.evidence {
        assert!(e.session.starts_with('b'), "{e:?}");
        assert_eq!(e.events.len(), 1, "one event per evidence: {e:?}");
    }
    for b in ["b0", "b1", "b2", "b3"] {
        assert!(
            c.evidence.iter().any(|e| e.session == b && e.quote.contains("helm upgrade")),
            "{b}: {:#?}",
            c.evidence
        );
    }
    assert_eq!(p.stats["sessions_with_outcome"], json!(9));
    assert_eq!(p.stats["failed_sessions"], json!(5));

    // The same sessions without outcomes: the heuristic sees nine
    // successful sessions, so both shapes are procedures and nothing warns.
    let plain = Snapshot::from_new_sessions(1, &sessions, vec![], NOW);
    let p = run(&plain);
    let procs = creates(&p, "procedure");
    assert_eq!(procs.len(), 2, "{:#?}", p.ops);
    assert!(procs.iter().any(|o| has_steps(&o.text, BAD)));
    assert!(procs.iter().any(|o| has_steps(&o.text, GOOD)));
    assert!(creates(&p, "mistake").is_empty(), "{:#?}", p.ops);
    assert!(!p.stats.contains_key("sessions_with_outcome"));

    // Flipped outcomes: the roles swap.
    let mut flipped = Snapshot::from_new_sessions(1, &sessions, vec![], NOW);
    for i in 0..5 {
        flipped.outcomes.insert(format!("g{i}"), outcome(0.0, "false"));
    }
    for i in 0..4 {
        flipped.outcomes.insert(format!("b{i}"), outcome(1.0, "true"));
    }
    let p = run(&flipped);
    let procs = creates(&p, "procedure");
    assert_eq!(procs.len(), 1, "{:#?}", p.ops);
    assert!(has_steps(&procs[0].text, BAD), "{}", procs[0].text);
    let cautions = creates(&p, "mistake");
    assert_eq!(cautions.len(), 1, "{:#?}", p.ops);
    assert!(has_steps(&cautions[0].text, GOOD) && cautions[0].text.contains("false ×5"), "{}", cautions[0].text);
    assert_eq!(cautions[0].support, 5);
}

#[test]
fn a_shape_failing_as_often_as_it_succeeds_is_neither() {
    // GOOD in 4 successful and 4 failed sessions (outcome-weighted 4 vs 4).
    let mut sessions = Vec::new();
    let mut outcomes = BTreeMap::new();
    for i in 0..8 {
        sessions.push(session(&format!("s{i}"), &format!("u{i}"), GOOD));
        outcomes.insert(format!("s{i}"), if i % 2 == 0 { outcome(1.0, "pass") } else { outcome(0.0, "fail") });
    }
    let snap = Snapshot { outcomes, ..Snapshot::from_new_sessions(1, &sessions, vec![], NOW) };
    let p = run(&snap);
    assert!(creates(&p, "procedure").is_empty(), "{:#?}", p.ops);
    assert!(creates(&p, "mistake").is_empty(), "{:#?}", p.ops);

    // Middle scores are neither success nor failure: 3 successes and 5
    // middling sessions still make a procedure, and no caution.
    let outcomes: BTreeMap<String, SessionOutcome> =
        (0..8).map(|i| (format!("s{i}"), if i < 3 { outcome(0.9, "4") } else { outcome(0.5, "3") })).collect();
    let snap = Snapshot { outcomes, ..Snapshot::from_new_sessions(1, &sessions, vec![], NOW) };
    let p = run(&snap);
    assert_eq!(creates(&p, "procedure").len(), 1, "{:#?}", p.ops);
    assert_eq!(creates(&p, "procedure")[0].support, 3);
    assert!(creates(&p, "mistake").is_empty(), "{:#?}", p.ops);
}

#[test]
fn a_caution_is_not_taken_for_an_existing_procedure() {
    // An existing procedure teaching the failing shape must not be
    // "promoted" by the caution.
    let sessions = workflow_sessions();
    let known = {
        let mut m = Memory::new(
            MemoryKind::procedure(),
            "Deploy with `helm dependency update`, then `helm upgrade`, then `kubectl rollout restart`.",
            Scope::org(),
            "2026-02-20T00:00:00Z",
            "t",
        )
        .unwrap();
        m.updated_at = m.created_at.clone();
        m
    };
    let mut snap = Snapshot::from_new_sessions(1, &sessions, vec![known.clone()], NOW);
    for i in 0..4 {
        snap.outcomes.insert(format!("b{i}"), outcome(0.0, "failure"));
    }
    let p = run(&snap);
    assert_eq!(creates(&p, "mistake").len(), 1, "{:#?}", p.ops);
    assert!(!p.ops.iter().any(|o| o.op == OpKind::Promote && o.targets.contains(&known.id)), "{:#?}", p.ops);
    // It was followed in four failed sessions against five heuristic
    // successes without outcome (left out): too few to compare, and not
    // confirmed by successful sessions either.
}

// -------------------------------------------------------------- usefulness

fn mem(text: &str) -> Memory {
    let mut m = Memory::new(MemoryKind::procedure(), text, Scope::org(), "2026-02-20T00:00:00Z", "t").unwrap();
    m.updated_at = m.created_at.clone();
    m
}

struct Usefulness {
    snap: Snapshot,
    good_ctx: Memory,
    good_cmd: Memory,
    bad_ctx: Memory,
    bad_cmd: Memory,
    neutral: Memory,
}

/// s0–s7 succeed (0.9 / 0.8), s8–s11 fail (0.1 / 0.2), s12–s13 have no
/// outcome. `good_ctx` is handed to s0–s3 (and s12–s13), `good_cmd` is
/// followed (`make seed` works) in s4–s7, `bad_ctx` is handed to s8–s11,
/// `bad_cmd` is followed (`make reset-db`) in s1 and s8–s11, `neutral` is
/// handed to s0, s1, s8, s9.
fn usefulness_batch(with_outcomes: bool) -> Usefulness {
    let good_ctx = mem("The payments sandbox resets every night at two, so seed data is fresh each morning.");
    let good_cmd = mem("Load the fixtures with `make seed` before the API tests.");
    let bad_ctx = mem("The staging cluster can be used for load tests at any time.");
    let bad_cmd = mem("Wipe local state with `make reset-db` before the API tests.");
    let neutral = mem("The design system lives in the ui-kit package.");
    let mut sessions = Vec::new();
    let mut snap_outcomes = BTreeMap::new();
    let mut usages: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for i in 0..14usize {
        let id = format!("s{i:02}");
        let mut cmds = vec!["npm run test:api"];
        if (4..8).contains(&i) {
            cmds.insert(0, "make seed");
        }
        if i == 1 || (8..12).contains(&i) {
            cmds.insert(0, "make reset-db");
        }
        sessions.push(session(&id, &format!("u{}", i % 3), &cmds));
        let score = match i {
            0..=7 if i % 2 == 0 => Some((0.9, "5")),
            0..=7 => Some((0.8, "4")),
            8..=11 if i % 2 == 0 => Some((0.1, "1")),
            8..=11 => Some((0.2, "2")),
            _ => None,
        };
        if let Some((s, l)) = score {
            snap_outcomes.insert(id.clone(), outcome(s, l));
        }
        let mut handed = Vec::new();
        if !(4..12).contains(&i) {
            handed.push(good_ctx.id.clone());
        }
        if (8..12).contains(&i) {
            handed.push(bad_ctx.id.clone());
        }
        if [0, 1, 8, 9].contains(&i) {
            handed.push(neutral.id.clone());
        }
        if !handed.is_empty() {
            usages.insert(id, handed);
        }
    }
    let memories = vec![good_ctx.clone(), good_cmd.clone(), bad_ctx.clone(), bad_cmd.clone(), neutral.clone()];
    let mut snap = Snapshot::from_new_sessions(2, &sessions, memories, NOW);
    if with_outcomes {
        snap.outcomes = snap_outcomes;
    }
    snap.usages = usages;
    Usefulness { snap, good_ctx, good_cmd, bad_ctx, bad_cmd, neutral }
}

fn op_for<'a>(p: &'a Proposal, m: &Memory) -> Vec<&'a Op> {
    p.ops.iter().filter(|o| o.targets.contains(&m.id)).collect()
}

#[test]
fn memories_present_in_better_sessions_are_promoted_and_in_worse_ones_demoted() {
    let u = usefulness_batch(true);
    let p = run(&u.snap);

    // Handed in a context bundle to successful sessions.
    let ops = op_for(&p, &u.good_ctx);
    assert_eq!(ops.len(), 1, "{:#?}", p.ops);
    assert_eq!(ops[0].op, OpKind::Promote);
    let r = &ops[0].rationale;
    assert!(
        r.contains("present in 4 sessions (4 handed in a context bundle; 2 more without an outcome left out)"),
        "{r}"
    );
    assert!(
        r.contains("mean outcome 0.85; 8 comparable sessions without it (same agent and team), mean 0.50 (+0.35)"),
        "{r}"
    );
    assert_eq!(ops[0].support, 4);
    // Only handed in a bundle: each session is cited as a whole (no event
    // shows it; the rationale carries the figures).
    assert!(ops[0].evidence.iter().all(|e| e.events.is_empty() && e.quote.is_empty()), "{:?}", ops[0].evidence);

    // Advice followed in successful sessions.
    let ops = op_for(&p, &u.good_cmd);
    assert_eq!(ops.len(), 1, "{:#?}", p.ops);
    assert_eq!(ops[0].op, OpKind::Promote);
    let r = &ops[0].rationale;
    assert!(r.contains("present in 4 sessions (4 followed its advice), mean outcome 0.85"), "{r}");
    assert!(r.contains("8 comparable sessions without it (same agent and team), mean 0.50 (+0.35)"), "{r}");
    let e = ops[0].evidence.iter().find(|e| e.session == "s04").unwrap();
    assert_eq!(e.quote, "make seed", "the command, verbatim");
    assert_eq!(e.events, vec![1], "the call of `make seed`");

    // Handed to failing sessions.
    let ops = op_for(&p, &u.bad_ctx);
    assert_eq!(ops.len(), 1, "{:#?}", p.ops);
    assert_eq!(ops[0].op, OpKind::Demote);
    let r = &ops[0].rationale;
    assert!(r.starts_with("worse outcomes with it: present in 4 sessions"), "{r}");
    assert!(
        r.contains("mean outcome 0.15; 8 comparable sessions without it (same agent and team), mean 0.85 (-0.70)"),
        "{r}"
    );
    assert_eq!(ops[0].support, 4);

    // Followed mostly in failing sessions.
    let ops = op_for(&p, &u.bad_cmd);
    assert_eq!(ops.len(), 1, "{:#?}", p.ops);
    assert_eq!(ops[0].op, OpKind::Demote);
    let r = &ops[0].rationale;
    assert!(r.contains("present in 5 sessions (5 followed its advice), mean outcome 0.28"), "{r}");
    assert!(r.contains("7 comparable sessions without it (same agent and team), mean 0.86 (-0.58)"), "{r}");

    // Present in as many good as bad sessions: no clear difference, no op.
    assert!(op_for(&p, &u.neutral).is_empty(), "{:#?}", p.ops);

    // The figures are in the stats too.
    let s = &p.stats[&format!("usefulness.{}", u.bad_ctx.id)];
    assert_eq!(s["present"], json!(4));
    assert_eq!(s["present_mean"], json!(0.15));
    assert_eq!(s["absent"], json!(8));
    assert_eq!(s["absent_mean"], json!(0.85));
    assert_eq!(s["difference"], json!(-0.7));
    assert_eq!(s["cohort"], json!("same agent and team"));
    assert!(p.stats.contains_key(&format!("usefulness.{}", u.neutral.id)));
}

#[test]
fn without_outcomes_the_old_usefulness_rules_apply() {
    let u = usefulness_batch(false);
    let p = run(&u.snap);
    // `make reset-db` worked in five (heuristically successful) sessions:
    // confirmed, so promoted — the very memory outcomes demote.
    let ops = op_for(&p, &u.bad_cmd);
    assert_eq!(ops.len(), 1, "{:#?}", p.ops);
    assert_eq!(ops[0].op, OpKind::Promote);
    assert!(ops[0].rationale.starts_with("confirmed: 5 successful sessions followed it"), "{}", ops[0].rationale);
    // Four confirmations are not enough; recent memories are not stale.
    for m in [&u.good_ctx, &u.good_cmd, &u.bad_ctx, &u.neutral] {
        assert!(op_for(&p, m).is_empty(), "{:#?}", p.ops);
    }
    assert!(!p.stats.keys().any(|k| k.starts_with("usefulness.")));
}

#[test]
fn usefulness_thresholds_come_from_the_weights() {
    let u = usefulness_batch(true);
    // A larger margin than the +0.35 / −0.58 / −0.70 differences found.
    let c = DreamConfig { weights: OutcomeWeights { usefulness_margin: 0.6, ..OutcomeWeights::default() }, ..cfg() };
    let p = dream(&u.snap, &c, "d").unwrap();
    assert!(op_for(&p, &u.good_ctx).is_empty() && op_for(&p, &u.good_cmd).is_empty(), "{:#?}", p.ops);
    assert_eq!(op_for(&p, &u.bad_ctx)[0].op, OpKind::Demote);
    // `bad_cmd` is measured but −0.58 is under the margin: the old rules
    // decide, and it is not confirmed (only s01 of its five sessions is
    // successful by outcome).
    assert!(op_for(&p, &u.bad_cmd).is_empty(), "{:#?}", p.ops);

    // Requiring six sessions on each side: nothing is measured any more
    // (four or five present), so the old rules apply: `bad_cmd` was
    // followed in five sessions but only one is successful by its outcome,
    // so it is not confirmed either.
    let c =
        DreamConfig { weights: OutcomeWeights { min_usefulness_sessions: 6, ..OutcomeWeights::default() }, ..cfg() };
    let p = dream(&u.snap, &c, "d").unwrap();
    assert!(p.ops.iter().all(|o| !matches!(o.op, OpKind::Promote | OpKind::Demote)), "{:#?}", p.ops);

    // Invalid weights are refused.
    let c = DreamConfig { weights: OutcomeWeights { neutral: 1.5, ..OutcomeWeights::default() }, ..cfg() };
    assert!(matches!(dream(&u.snap, &c, "d"), Err(DreamError::Weights(m)) if m.contains("neutral")));
}

#[test]
fn non_finite_scores_count_as_no_outcome_and_input_order_does_not_matter() {
    let u = usefulness_batch(true);
    let mut snap = u.snap.clone();
    snap.outcomes.insert("s12".into(), outcome(f64::NAN, "?"));
    let a = run(&snap);
    assert_eq!(a.ops, run(&u.snap).ops);
    let mut rev = snap.clone();
    rev.sessions.reverse();
    rev.memories.reverse();
    assert_eq!(run(&rev).ops, a.ops);
}

// ------------------------------------------------------------ instructions

#[test]
fn weights_parse_validate_and_merge() {
    let i = DreamSpec::from_toml(
        "focus = [\"usefulness\"]\n[weights]\nneutral = 0.4\nsuccess_at = 0.8\nfailure_below = 0.25\n\
         min_usefulness_sessions = 5\nusefulness_margin = 1\n",
    )
    .unwrap();
    assert_eq!(i.weights.neutral, Some(0.4));
    assert_eq!(i.weights.usefulness_margin, Some(1.0), "integers are accepted as numbers");
    let c = i.config(NOW);
    assert_eq!(
        c.weights,
        OutcomeWeights {
            neutral: 0.4,
            success_at: 0.8,
            failure_below: 0.25,
            min_usefulness_sessions: 5,
            usefulness_margin: 1.0
        }
    );
    // Values the flags set win, key by key.
    let flags =
        DreamSpec { weights: WeightsFile { success_at: Some(0.9), ..WeightsFile::default() }, ..DreamSpec::default() };
    let file = DreamSpec::from_toml("[weights]\nsuccess_at = 0.6\nneutral = 0.3\n").unwrap();
    let c = flags.over(&file).config(NOW);
    assert_eq!(c.weights.success_at, 0.9);
    assert_eq!(c.weights.neutral, 0.3);
    // Partial tables keep the other defaults.
    let i = DreamSpec::from_toml("[weights]\nfailure_below = 0.1\n").unwrap();
    assert_eq!(i.weights.over(OutcomeWeights::default()).success_at, 0.7);

    let bad = |t: &str, needle: &str| match DreamSpec::from_toml(t) {
        // A value of the wrong type fails TOML parsing; a number out of range is about `weights`.
        Err(DreamError::Instructions(m) | DreamError::Field { field: "weights", message: m }) => {
            assert!(m.contains(needle), "{t}: {m}")
        }
        other => panic!("{t}: {other:?}"),
    };
    bad("[weights]\nneutral = 1.5\n", "weights.neutral must be between 0 and 1, got 1.5");
    bad("[weights]\nsuccess_at = -0.1\n", "weights.success_at must be between 0 and 1");
    bad("[weights]\nsuccess_at = 0\n", "weights.success_at must be above 0");
    bad("[weights]\nfailure_below = 0.8\n", "weights.failure_below (0.8) must not be above weights.success_at (0.7)");
    bad("[weights]\nsuccess_at = 0.2\n", "must not be above weights.success_at (0.2)");
    bad("[weights]\nusefulness_margin = 0\n", "weights.usefulness_margin must be above 0");
    bad("[weights]\nmin_usefulness_sessions = 0\n", "weights.min_usefulness_sessions must be at least 1");
    bad("[weights]\nneutral = nan\n", "weights.neutral must be between 0 and 1");
    bad("[weights]\nneutral = \"high\"\n", "expected a number");
    bad("[weights]\nmin_usefulness_sessions = -2\n", "min_usefulness_sessions");
    bad("[weights]\nsucces_at = 0.5\n", "unknown field `succes_at`");
    bad("weights = 3\n", "weights");
    // Other keys keep their validation.
    assert!(matches!(DreamSpec::from_toml("min_support = 0"), Err(DreamError::Field { field: "min_support", .. })));
    assert_eq!(DreamSpec::from_toml("").unwrap().weights.over(OutcomeWeights::default()), OutcomeWeights::default());
}
