use crate::*;
use predicates::prelude::*;
use predicates::str::contains;

/// The five sample sessions, by user.
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

const BOB: &str = "sess-invoice-dates";
const CAROL: &str = "chat-usercard-rename";
const ANA: &str = "cart-total-rounding";
const DAVE: &str = "1d4e7f20-8a3b-4c5d-9e6f-0a1b2c3d4e02";

#[test]
fn a_logged_outcome_records_the_taxonomy_version_and_who_judged() {
    let env = with_samples();
    let v = env.json(&[
        "outcome",
        "log",
        BOB,
        "--set",
        "result=success",
        "--set",
        "user_rating=4",
        "--by",
        "bob",
        "--comment",
        "fixed",
    ]);
    let v = v.as_array().unwrap();
    assert_eq!(v.len(), 2);
    assert_eq!(v[0]["dimension"], "result");
    assert_eq!(v[0]["value"], "success");
    assert_eq!(v[0]["taxonomy_version"], 1);
    assert_eq!(v[0]["source"], "human");
    assert_eq!(v[1]["value"], 4.0);
}

#[test]
fn bad_values_are_refused_listing_what_is_valid_and_nothing_is_stored() {
    let env = with_samples();
    env.cmd(&["outcome", "log", BOB, "--set", "mood=happy"])
        .assert()
        .code(2)
        .stderr(contains("unknown outcome dimension `mood`").and(contains("result")));
    env.cmd(&["outcome", "log", BOB, "--set", "result=great"])
        .assert()
        .code(2)
        .stderr(contains("success, partial, failure, abandoned"));
    env.cmd(&["outcome", "log", BOB, "--set", "result=success", "--set", "user_rating=9"])
        .assert()
        .code(2)
        .stderr(contains("from 1 to 5"));
    env.cmd(&["outcome", "log", "no-such-session", "--set", "result=success"])
        .assert()
        .code(1)
        .stderr(contains("not found"));
    assert_eq!(env.json(&["outcomes", "list"]), serde_json::json!([]));
}

#[test]
fn a_later_outcome_supersedes_the_earlier_and_both_stay_in_history() {
    let env = with_samples();
    env.json(&["outcome", "log", BOB, "--set", "result=failure"]);
    env.json(&["outcome", "log", BOB, "--set", "result=success"]);
    assert_eq!(env.json(&["outcomes", "list", "--session", BOB]).as_array().unwrap().len(), 2);
    let st = env.json(&["outcomes", "stats"]);
    let result = st[0]["dimensions"].as_array().unwrap().iter().find(|d| d["dimension"] == "result").unwrap().clone();
    assert_eq!(result["count"], 1);
    assert_eq!(st[0]["primary_score"], 1.0);
}

#[test]
fn stats_match_a_hand_computed_fixture() {
    let env = with_samples();
    let f = env.write(
        "outcomes.csv",
        &format!(
            "session,result,user_rating,by\n{BOB},success,5,bob\n{CAROL},success,4,carol\n{ANA},failure,2,ana\n{DAVE},partial,3,dave\n"
        ),
    );
    assert_eq!(env.json(&["outcome", "import", s(&f)])["outcomes_added"], 8);
    let st = env.json(&["outcomes", "stats"]);
    let g = &st[0];
    assert_eq!(g["sessions"], 4);
    // (1 + 1 + 0 + 0.5) / 4
    assert_eq!(g["primary_score"], 0.625);
    let dims = g["dimensions"].as_array().unwrap();
    let result = dims.iter().find(|d| d["dimension"] == "result").unwrap();
    let labels = result["detail"]["labels"].as_array().unwrap();
    let rate = |l: &str| labels.iter().find(|x| x["label"] == l).unwrap()["rate"].as_f64().unwrap();
    assert_eq!((rate("success"), rate("partial"), rate("failure"), rate("abandoned")), (0.5, 0.25, 0.25, 0.0));
    let rating = dims.iter().find(|d| d["dimension"] == "user_rating").unwrap();
    assert_eq!(rating["detail"]["mean"], 3.5);
    let by_user = env.json(&["outcomes", "stats", "--by", "user"]);
    let ana = by_user.as_array().unwrap().iter().find(|g| g["group"] == "ana").unwrap();
    assert_eq!(ana["primary_score"], 0.0);
}

#[test]
fn bulk_import_is_all_or_nothing_with_line_numbers() {
    let env = with_samples();
    let f = env.write(
        "bad.jsonl",
        &format!(
            "{{\"session\":\"{BOB}\",\"set\":{{\"result\":\"success\"}}}}\n{{\"session\":\"{CAROL}\",\"set\":{{\"result\":\"meh\"}}}}\nnot json\n"
        ),
    );
    env.cmd(&["outcome", "import", s(&f)]).assert().code(2).stderr(contains("line 2").and(contains("line 3")));
    assert_eq!(env.json(&["outcomes", "list"]), serde_json::json!([]));
}

#[test]
fn a_taxonomy_change_that_orphans_outcomes_is_refused_unless_forced() {
    let env = with_samples();
    env.json(&["outcome", "log", ANA, "--set", "result=abandoned"]);
    let shown = env.cmd(&["outcomes", "taxonomy", "show"]).output().unwrap();
    let toml = String::from_utf8(shown.stdout).unwrap();
    assert!(toml.contains("abandoned"));
    // Remove the label `abandoned`, which is in use.
    let new = toml.replace("[[dimension.label]]\nname = \"abandoned\"", "[[dimension.label]]\nname = \"gave_up\"");
    assert_ne!(new, toml, "the default taxonomy text changed shape:\n{toml}");
    let f = env.write("tax.toml", &new);
    env.cmd(&["outcomes", "taxonomy", "set", s(&f)]).assert().code(1).stderr(contains("abandoned"));
    let v = env.json(&["outcomes", "taxonomy", "set", s(&f), "--force"]);
    assert_eq!(v["version"], 2);
    let logged = env.json(&["outcome", "log", BOB, "--set", "result=gave_up"]);
    assert_eq!(logged[0]["taxonomy_version"], 2);
}

#[test]
fn outcomes_travel_in_the_export_and_map_to_opentelemetry() {
    let env = with_samples();
    env.json(&["outcome", "log", BOB, "--set", "result=success", "--comment", "clean fix"]);
    let file = env.path("export.json");
    env.cmd(&["export", "--out", s(&file)]).assert().success();
    let other = with_samples();
    let r = other.json(&["import", s(&file)]);
    assert_eq!(r["outcomes_added"], 1);
    assert_eq!(other.json(&["outcomes", "list"]), env.json(&["outcomes", "list"]));
    let out = env.cmd(&["outcomes", "list", "--otel"]).output().unwrap();
    let ev: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(ev[0]["name"], "gen_ai.evaluation.result");
    assert_eq!(ev[0]["attributes"]["gen_ai.evaluation.name"], "result");
    assert_eq!(ev[0]["attributes"]["gen_ai.evaluation.score.label"], "success");
    assert_eq!(ev[0]["attributes"]["gen_ai.evaluation.explanation"], "clean fix");
}

/// A Nocturne JSONL session that runs `steps` (all of which succeed), with
/// unrelated steps around them.
fn steps_session(id: &str, user: &str, steps: &[&str], noise: &str) -> String {
    let mut lines = vec![format!(
        "{{\"nocturne\":\"session\",\"version\":1,\"id\":\"{id}\",\"user\":\"{user}\",\"agent\":\"coder\",\"team\":\"infra\"}}"
    )];
    lines.push(format!("{{\"role\":\"user\",\"kind\":\"user_message\",\"text\":\"please handle ticket {id}\",\"timestamp\":\"2026-11-20T10:00:00Z\"}}"));
    let mut all: Vec<&str> = vec![noise];
    all.extend_from_slice(steps);
    for (i, cmd) in all.iter().enumerate() {
        lines.push(format!(
            "{{\"role\":\"assistant\",\"kind\":\"tool_call\",\"tool_name\":\"Bash\",\"tool_input\":{{\"command\":\"{cmd}\"}},\"tool_use_id\":\"t{i}\"}}"
        ));
        lines.push(format!(
            "{{\"role\":\"tool\",\"kind\":\"tool_result\",\"tool_name\":\"Bash\",\"tool_use_id\":\"t{i}\",\"text\":\"ok\",\"is_error\":false}}"
        ));
    }
    lines.join("\n") + "\n"
}

#[test]
fn outcomes_decide_which_workflow_is_learned_and_which_becomes_a_caution() {
    let good = ["cargo fmt --check", "cargo clippy --all-targets", "cargo test --workspace", "git push origin main"];
    let bad = ["helm upgrade shop ./chart", "kubectl rollout restart deploy/shop", "kubectl delete pod -l app=shop"];
    let noise = ["ls -la", "cat README.md", "pwd", "echo hi", "date", "whoami", "uname -a", "df -h"];
    let with = Env::new();
    let without = Env::new();
    for env in [&with, &without] {
        for i in 0..4 {
            let u = ["ana", "bob", "carol", "dave"][i];
            env.write(&format!("in/good{i}.jsonl"), &steps_session(&format!("good{i}"), u, &good, noise[i]));
            env.write(&format!("in/bad{i}.jsonl"), &steps_session(&format!("bad{i}"), u, &bad, noise[i + 4]));
        }
        env.json(&["ingest", s(&env.path("in"))]);
    }
    for i in 0..4 {
        with.json(&["outcome", "log", &format!("good{i}"), "--set", "result=success"]);
        with.json(&[
            "outcome",
            "log",
            &format!("bad{i}"),
            "--set",
            "result=failure",
            "--set",
            "failure_reason=environment",
        ]);
    }
    let p = with.json(&["dream"]);
    let ops = p["ops"].as_array().unwrap();
    let procedures: Vec<&Value> = ops.iter().filter(|o| o["kind"] == "procedure").collect();
    let cautions: Vec<&Value> = ops.iter().filter(|o| o["kind"] == "mistake").collect();
    assert!(procedures.iter().any(|o| o["text"].as_str().unwrap().contains("cargo clippy")), "{p}");
    assert!(
        procedures.iter().all(|o| !o["text"].as_str().unwrap().contains("helm")),
        "a failing workflow is never a procedure"
    );
    let caution =
        cautions.iter().find(|o| o["text"].as_str().unwrap().contains("helm")).expect("the failing shape is a caution");
    assert!(caution["evidence"].as_array().unwrap().iter().all(|e| e["session"].as_str().unwrap().starts_with("bad")));
    assert!(caution.to_string().contains("failure"), "the caution says what went wrong: {caution}");

    // Without outcomes, both shapes look like working routines.
    let q = without.json(&["dream"]);
    let texts: Vec<String> = q["ops"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|o| o["kind"] == "procedure")
        .map(|o| o["text"].to_string())
        .collect();
    assert!(texts.iter().any(|t| t.contains("helm")), "{texts:?}");
    assert!(q["ops"]
        .as_array()
        .unwrap()
        .iter()
        .all(|o| !(o["kind"] == "mistake" && o["text"].to_string().contains("helm"))));
}

#[test]
fn memories_handed_to_successful_sessions_are_promoted_and_to_failed_ones_demoted_with_the_figures() {
    let env = Env::new();
    let helpful = env.json(&[
        "memory",
        "add",
        "--kind",
        "procedure",
        "--text",
        "Run cargo clippy before pushing",
        "--scope",
        "team:green",
    ]);
    let harmful = env.json(&[
        "memory",
        "add",
        "--kind",
        "fact",
        "--text",
        "Restart pods by deleting them",
        "--scope",
        "team:red",
    ]);
    let (helpful, harmful) =
        (helpful["memory"]["id"].as_str().unwrap().to_string(), harmful["memory"]["id"].as_str().unwrap().to_string());
    let steps = ["make build", "make check", "make release"];
    for i in 0..8 {
        let id = format!("s{i}");
        env.write(&format!("in/{id}.jsonl"), &steps_session(&id, ["ana", "bob"][i % 2], &steps, "ls"));
    }
    env.json(&["ingest", s(&env.path("in"))]);
    for i in 0..8 {
        let id = format!("s{i}");
        // Sessions 0-3 got the helpful memory and went well; 4-7 got the other and failed.
        let team = if i < 4 { "green" } else { "red" };
        // Each task names what its memory is about: a bundle leaves out
        // memories unrelated to the task.
        let task = if i < 4 { "ship the release after cargo clippy" } else { "restart the pods after the release" };
        let b = env.json(&["context", task, "--team", team, "--session", &id]);
        let ids: Vec<&str> =
            b["bundle"]["items"].as_array().unwrap().iter().map(|x| x["id"].as_str().unwrap()).collect();
        assert_eq!(ids, [if i < 4 { helpful.as_str() } else { harmful.as_str() }]);
        env.json(&["outcome", "log", &id, "--set", if i < 4 { "result=success" } else { "result=failure" }]);
    }
    let p = env.json(&["dream", "--focus", "usefulness"]);
    let ops = p["ops"].as_array().unwrap();
    let promote = ops.iter().find(|o| o["op"] == "promote").unwrap_or_else(|| panic!("no promote in {p}"));
    assert_eq!(promote["targets"][0], helpful.as_str());
    let r = promote["rationale"].as_str().unwrap();
    assert!(r.contains("present in 4 sessions") && r.contains("mean outcome 1.00") && r.contains("+1.00"), "{r}");
    let demote = ops.iter().find(|o| o["op"] == "demote").unwrap_or_else(|| panic!("no demote in {p}"));
    assert_eq!(demote["targets"][0], harmful.as_str());
    assert!(demote["rationale"].as_str().unwrap().contains("-1.00"), "{}", demote["rationale"]);
}
