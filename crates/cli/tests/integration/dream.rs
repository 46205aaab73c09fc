use crate::*;
use predicates::str::contains;

/// A store with the five sample sessions, each attributed to its user.
fn with_samples() -> Env {
    let env = Env::new();
    for entry in std::fs::read_dir(samples()).unwrap() {
        let p = entry.unwrap().path();
        let name = p.file_name().unwrap().to_str().unwrap().to_string();
        let user = name.split('-').rev().nth(1).unwrap().to_string();
        env.json(&["ingest", s(&p), "--user", &user, "--team", "shop"]);
    }
    env
}

fn ops_of(p: &Value) -> &Vec<Value> {
    p["ops"].as_array().unwrap()
}

#[test]
fn a_dream_proposes_with_evidence_and_leaves_memory_and_sessions_untouched() {
    let env = with_samples();
    let hashes_before = env.json(&["sessions", "list"]);
    let p = env.json(&["dream"]);
    assert_eq!(p["status"], "pending");
    assert_eq!(p["base_revision"], 0);
    assert_eq!(p["sessions"].as_array().unwrap().len(), 5);
    let ops = ops_of(&p);
    assert!(!ops.is_empty(), "the samples hold a recurring mistake, a workflow and a shared preference");
    for op in ops {
        // The default support: 2 sessions for a mistake or a fact (a project convention), 3 for the rest.
        let least = if op["kind"] == "mistake" || op["kind"] == "fact" { 2 } else { 3 };
        assert!(op["support"].as_u64().unwrap() >= least, "{op}");
        let ev = op["evidence"].as_array().unwrap();
        assert!(!ev.is_empty(), "every op has evidence: {op}");
        for e in ev {
            assert!(!e["quote"].as_str().unwrap().is_empty(), "{e}");
            assert!(!e["events"].as_array().unwrap().is_empty(), "{e}");
        }
    }
    let kinds: Vec<&str> = ops.iter().map(|o| o["kind"].as_str().unwrap()).collect();
    assert!(kinds.contains(&"mistake"), "{kinds:?}");
    let mistake = ops.iter().find(|o| o["kind"] == "mistake").unwrap();
    let text = mistake["text"].as_str().unwrap();
    assert!(text.contains("npm test") && text.contains("npm run test:unit"), "{text}");
    // Review mode: nothing changed but the stored proposal.
    assert_eq!(env.json(&["memory", "list", "--all"]), serde_json::json!([]));
    assert_eq!(env.json(&["sessions", "list"]), hashes_before);
    assert_eq!(env.json(&["sessions", "verify"])["failures"], serde_json::json!([]));
    let list = env.json(&["dreams", "list"]);
    assert_eq!(list["proposals"][0]["id"], p["id"]);
    assert_eq!(list["proposals"][0]["status"], "pending");
}

#[test]
fn secrets_in_transcripts_never_reach_a_proposal_or_report() {
    let env = with_samples();
    let report = env.path("dream.md");
    let out = env.cmd(&["dream", "--json", "--report", s(&report)]).output().unwrap();
    assert!(out.status.success());
    let json = String::from_utf8(out.stdout).unwrap();
    let md = std::fs::read_to_string(&report).unwrap();
    for text in [&json, &md] {
        assert!(!text.contains("sk_live_51Hx9ZqK2mN8vL4pR7tY3wE6"), "secret leaked");
    }
}

#[test]
fn applying_makes_one_revision_by_the_dream_and_rollback_undoes_it() {
    let env = with_samples();
    let p = env.json(&["dream"]);
    let id = p["id"].as_str().unwrap();
    let rev = env.json(&["dreams", "apply", id]);
    assert_eq!(rev["rev"], 1);
    assert_eq!(rev["author"], format!("dream:{id}"));
    let mems = env.json(&["memory", "list"]);
    assert_eq!(mems.as_array().unwrap().len(), ops_of(&p).len());
    assert!(mems.as_array().unwrap().iter().all(|m| !m["evidence"].as_array().unwrap().is_empty()));
    assert_eq!(env.json(&["dreams", "show", id])["status"], "applied");
    assert_eq!(env.json(&["sessions", "verify"])["failures"], serde_json::json!([]));
    // Applying twice is refused.
    env.cmd(&["dreams", "apply", id]).assert().code(1).stderr(contains("already applied"));
    env.json(&["memory", "rollback", "--to", "0"]);
    assert_eq!(env.json(&["memory", "list", "--all"]), serde_json::json!([]));
}

#[test]
fn dream_apply_at_once_and_partial_apply_choose_ops() {
    let env = with_samples();
    let p = env.json(&["dream"]);
    let n = ops_of(&p).len();
    assert!(n >= 2, "need two ops for a partial apply, got {n}");
    let id = p["id"].as_str().unwrap();
    env.json(&["dreams", "apply", id, "--only", "1"]);
    assert_eq!(env.json(&["memory", "list"]).as_array().unwrap().len(), 1);
    env.json(&["memory", "rollback", "--to", "0"]);

    let env2 = with_samples();
    let p2 = env2.json(&["dream", "--apply"]);
    assert_eq!(p2["status"], "applied");
    assert_eq!(env2.json(&["memory", "list"]).as_array().unwrap().len(), ops_of(&p2).len());

    let env3 = with_samples();
    let p3 = env3.json(&["dream"]);
    let id3 = p3["id"].as_str().unwrap();
    env3.json(&["dreams", "apply", id3, "--skip", "1"]);
    assert_eq!(env3.json(&["memory", "list"]).as_array().unwrap().len(), n - 1);
    env3.cmd(&["dreams", "apply", id3, "--only", "99"]).assert().failure();
}

#[test]
fn duplicates_merge_and_a_changed_target_makes_apply_refuse_naming_it() {
    let env = with_samples();
    let a = env.json(&["memory", "add", "--kind", "preference", "--text", "Always run the linter before committing."]);
    let b = env.json(&["memory", "add", "--kind", "preference", "--text", "Run the linter before you commit, always."]);
    let (a, b) = (a["memory"]["id"].as_str().unwrap().to_string(), b["memory"]["id"].as_str().unwrap().to_string());
    let p = env.json(&["dream", "--focus", "merge"]);
    let merge = ops_of(&p).iter().find(|o| o["op"] == "merge").unwrap_or_else(|| panic!("no merge in {p}"));
    let targets: Vec<&str> = merge["targets"].as_array().unwrap().iter().map(|t| t.as_str().unwrap()).collect();
    assert!(targets.contains(&a.as_str()) && targets.contains(&b.as_str()));
    // Someone edits a target after the dream read the store.
    env.json(&["memory", "edit", &a, "--priority", "3"]);
    let id = p["id"].as_str().unwrap();
    let out = env.cmd(&["dreams", "apply", id]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains(&a) && err.contains("conflicts"), "{err}");
    // Nothing was applied.
    assert_eq!(env.json(&["memory", "list"]).as_array().unwrap().len(), 2);
}

#[test]
fn reject_leaves_memory_untouched() {
    let env = with_samples();
    let p = env.json(&["dream"]);
    let id = p["id"].as_str().unwrap();
    env.json(&["dreams", "reject", id]);
    assert_eq!(env.json(&["dreams", "show", id])["status"], "rejected");
    env.cmd(&["dreams", "apply", id]).assert().code(1).stderr(contains("already rejected"));
    assert_eq!(env.json(&["memory", "list", "--all"]), serde_json::json!([]));
}

#[test]
fn focus_ignore_and_instructions_narrow_the_findings() {
    let env = with_samples();
    let only_mistakes = env.json(&["dream", "--focus", "mistake"]);
    assert!(!ops_of(&only_mistakes).is_empty());
    assert!(ops_of(&only_mistakes).iter().all(|o| o["kind"] == "mistake"));
    let ignored = env.json(&["dream", "--ignore", "test:unit"]);
    assert!(ops_of(&ignored).iter().all(|o| !o.to_string().contains("test:unit")));
    let f = env.write("dream.toml", "focus = [\"preference\"]\nmin_support = 3\nnotes = \"shop team\"\n");
    let p = env.json(&["dream", "--instructions", s(&f)]);
    assert!(ops_of(&p).iter().all(|o| o["kind"] == "preference"), "{p}");
    assert_eq!(p["notes"], "shop team");
    let high = env.json(&["dream", "--min-support", "6"]);
    assert_eq!(ops_of(&high).len(), 0, "five sessions cannot support six");
    let bad = env.write("bad.toml", "focus = [\"astrology\"]\n");
    env.cmd(&["dream", "--instructions", s(&bad)]).assert().code(2).stderr(contains("astrology"));
}

#[test]
fn quickstart_runs_offline_and_prints_a_report() {
    let out = Command::cargo_bin("nocturne").unwrap().arg("quickstart").output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("Ingested 5 sample sessions"), "{text}");
    assert!(text.contains("npm run test:unit"), "{text}");
}

#[test]
fn scheduled_dreams_run_when_due_and_every_run_is_listed() {
    let env = with_samples();
    let cfg = env.write(
        "nocturne.toml",
        "[[dream.schedule]]\nname = \"after-five\"\nafter_sessions = 5\npolicy = \"auto-apply\"\n\n\
         [[dream.schedule]]\nname = \"broken\"\nafter_sessions = 5\ninstructions = \"/nonexistent/dream.toml\"\n",
    );
    let out = env.cmd(&["--config", s(&cfg), "dreams", "run-due", "--json"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1), "a failed run makes the exit code 1");
    let runs: Value = serde_json::from_slice(&out.stdout).unwrap();
    let runs = runs.as_array().unwrap();
    assert_eq!(runs.len(), 2, "{runs:?}");
    let ok = runs.iter().find(|r| r["schedule"] == "after-five").unwrap();
    assert_eq!(ok["state"], "done");
    assert_eq!(ok["trigger"], "5 new sessions");
    assert!(ok["applied_revision"].as_u64().is_some(), "auto-apply made a revision: {ok}");
    assert!(ok["summary"].as_str().unwrap().contains("applied"));
    let bad = runs.iter().find(|r| r["schedule"] == "broken").unwrap();
    assert_eq!(bad["state"], "failed");
    assert!(bad["error"].as_str().unwrap().contains("/nonexistent/dream.toml"));
    assert!(bad["next_retry_at"].is_string(), "a failed run is retried later");
    // Nothing is due again until new sessions arrive or the retry time comes.
    let again = env.json(&["--config", s(&cfg), "dreams", "run-due"]);
    assert_eq!(again, serde_json::json!([]));
    let list = env.json(&["--config", s(&cfg), "dreams", "list"]);
    assert_eq!(list["runs"].as_array().unwrap().len(), 2);
    assert_eq!(list["scheduled"].as_array().unwrap().len(), 2);
    assert!(!list["proposals"].as_array().unwrap().is_empty());
    let text = env.cmd(&["--config", s(&cfg), "dreams", "list"]).output().unwrap();
    let text = String::from_utf8(text.stdout).unwrap();
    assert!(text.contains("Scheduled:") && text.contains("failed") && text.contains("done"), "{text}");
    // A bad config is refused with its path.
    let bad_cfg = env.write("bad.toml", "[[dream.schedule]]\nname = \"x\"\ncron = \"every night\"\n");
    env.cmd(&["--config", s(&bad_cfg), "dreams", "list"]).assert().code(2).stderr(contains("bad.toml"));
}
