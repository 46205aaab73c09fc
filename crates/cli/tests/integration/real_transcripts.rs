//! Real transcripts nobody here wrote (`../shared/data/real-transcripts`,
//! see its README): ingest keeps every line, in any order, and grows a
//! session whose file grew. Skipped with a notice when the folder is absent.
//! Expected figures are computed from the files with the importer itself.

use crate::*;
use nocturne_ingest::{parse_file, Format, Parsed};
use std::collections::{BTreeMap, BTreeSet};

/// The real transcripts (see `nocturne_testdata`), or `None` with a notice.
fn real() -> Option<PathBuf> {
    nocturne_testdata::real_transcripts_or_skip(
        Path::new(env!("CARGO_MANIFEST_DIR")),
        "the real-transcript ingest tests",
    )
}

/// Every transcript file under `dir` (as ingest walks it), sorted.
fn transcripts(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            let name = p.file_name().unwrap().to_string_lossy().into_owned();
            if p.is_dir() {
                if !name.starts_with('.') {
                    stack.push(p);
                }
            } else if nocturne_service::classify_path(&name) == nocturne_service::PathKind::Transcript {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

/// The importer's reading of a file, with the hints ingest gives it.
fn parse(p: &Path) -> Option<Parsed> {
    let bytes = std::fs::read(p).unwrap();
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return None;
    }
    parse_file(s(p), &bytes, Format::Auto, &nocturne_service::file_hints(p)).ok()
}

/// `(id, head hash, parent, events)` of every stored session.
fn sessions(env: &Env) -> Vec<(String, String, Value, u64)> {
    let mut v: Vec<_> = env
        .json(&["sessions", "list"])
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["id"].as_str().unwrap().to_string(),
                s["head_hash"].as_str().unwrap().to_string(),
                s["parent"].clone(),
                s["event_count"].as_u64().unwrap(),
            )
        })
        .collect();
    v.sort_by(|a, b| a.0.cmp(&b.0));
    v
}

fn ingest(env: &Env, paths: &[&Path]) -> (Option<i32>, Value) {
    let mut args = vec!["ingest".to_string()];
    args.extend(paths.iter().map(|p| s(p).to_string()));
    args.push("--json".into());
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = env.cmd(&args).timeout(std::time::Duration::from_secs(300)).output().unwrap();
    (out.status.code(), serde_json::from_slice(&out.stdout).unwrap())
}

/// A small deterministic shuffle.
fn shuffle<T>(v: &mut [T], seed: u64) {
    let mut x = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    for i in (1..v.len()).rev() {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        v.swap(i, (x % (i as u64 + 1)) as usize);
    }
}

/// Copies `files` (with their sidecars) below `to`, keeping paths relative
/// to `from`, in the given order (so that folder listings differ).
fn copy_tree(from: &Path, files: &[PathBuf], to: &Path) {
    for f in files {
        let rel = f.strip_prefix(from).unwrap();
        let dest = to.join(rel);
        std::fs::create_dir_all(dest.parent().unwrap()).unwrap();
        std::fs::copy(f, &dest).unwrap();
        let name = f.file_name().unwrap().to_string_lossy().into_owned();
        if let Some(stem) = name.strip_suffix(".jsonl") {
            let meta = f.with_file_name(format!("{stem}.meta.json"));
            if meta.exists() {
                std::fs::copy(&meta, dest.with_file_name(format!("{stem}.meta.json"))).unwrap();
            }
        }
    }
}

#[test]
fn every_line_of_the_claude_code_log_is_kept_and_every_sub_agent_linked() {
    let Some(real) = real() else { return };
    let dir = real.join("claude-code-log");
    let env = Env::new();
    let (code, rep) = ingest(&env, &[&dir]);
    assert_eq!(code, Some(0), "{}", rep["refused"]);
    assert_eq!(rep["refused"], serde_json::json!([]));
    let files = transcripts(&dir);
    let mut expected: BTreeMap<String, u64> = BTreeMap::new();
    let (mut empty, mut children) = (0, 0);
    for f in &files {
        let text = std::fs::read_to_string(f).unwrap();
        let Some(parsed) = parse(f) else {
            empty += 1;
            continue;
        };
        // Every non-blank line is an event of a session or a counted skip.
        let lines = text.lines().filter(|l| !l.trim().is_empty()).count() as u64;
        let represented: BTreeSet<u32> =
            parsed.sessions.iter().flat_map(|s| &s.events).filter_map(|e| e.source_line).collect();
        let skipped: u64 = parsed.report.skipped.values().sum();
        assert_eq!(represented.len() as u64 + skipped, lines, "{}: lines kept + skipped", f.display());
        let entry = rep["files"].as_array().unwrap().iter().find(|e| e["file"] == s(f)).unwrap();
        assert_eq!(entry["records"], lines, "{}", f.display());
        for (kind, n) in &parsed.report.skipped {
            assert_eq!(entry["skipped"][kind], *n, "{}: skipped {kind}", f.display());
        }
        for sess in &parsed.sessions {
            // A session in two files is stored once, as its longest copy.
            let n = expected.entry(sess.id.clone()).or_default();
            *n = (*n).max(sess.events.len() as u64);
            if sess.parent.is_some() {
                children += 1;
            }
        }
    }
    let stored = sessions(&env);
    let got: BTreeMap<String, u64> = stored.iter().map(|(id, _, _, n)| (id.clone(), *n)).collect();
    assert_eq!(got, expected, "each session, parent and sub-agent, has exactly its file's events");
    assert_eq!(rep["totals"]["files_empty"], empty);
    assert_eq!(rep["totals"]["children_linked"], children);
    assert!(children >= 40, "the sub-agents of both layouts are children: {children}");
    // Sub-agent sessions are named under their parent.
    for (id, _, parent, _) in &stored {
        if let Some(p) = parent.as_str() {
            assert!(id.starts_with(&format!("{p}/agent-")), "{id} under {p}");
        }
    }
    let with_kids = env.json(&["sessions", "show", "ef958aa1-0e93-49f0-bb71-150f63befcd1"]);
    let kids = with_kids["children"].as_array().unwrap();
    assert_eq!(kids.len(), 6, "the new-layout sub-agents");
    assert!(kids.iter().all(|k| k["spawned_by"]["matched_by"] == "agent_id"), "each matched to its Agent/Task call");
    assert!(kids.iter().all(|k| k["session"]["subagent"]["agent_type"] == "general-purpose"), "from .meta.json");
    assert_eq!(env.json(&["sessions", "verify"])["failures"], serde_json::json!([]));

    // Re-ingest adds nothing.
    let (code, again) = ingest(&env, &[&dir]);
    assert_eq!(code, Some(0));
    assert_eq!(again["totals"]["events_added"], 0);
    assert_eq!(again["totals"]["sessions_added"], 0);
    assert_eq!(again["totals"]["sessions_unchanged"], stored.len());
    assert_eq!(sessions(&env), stored);
}

#[test]
fn the_claude_code_log_read_in_any_order_gives_the_same_sessions() {
    let Some(real) = real() else { return };
    let dir = real.join("claude-code-log");
    let base = Env::new();
    assert_eq!(ingest(&base, &[&dir]).0, Some(0));
    let want = sessions(&base);
    let files = transcripts(&dir);
    for seed in [1u64, 2, 3] {
        let mut order = files.clone();
        shuffle(&mut order, seed);
        let env = Env::new();
        // Copied in shuffled order (folder listings differ), then given folder-wise...
        let copy = env.path("copy");
        copy_tree(&dir, &order, &copy);
        assert_eq!(ingest(&env, &[&copy]).0, Some(0), "seed {seed}");
        assert_eq!(sessions(&env), want, "seed {seed}: same ids, chains, parents and counts");
        // ...and the original files given one by one in shuffled order.
        let env = Env::new();
        let paths: Vec<&Path> = order.iter().map(PathBuf::as_path).collect();
        assert_eq!(ingest(&env, &paths).0, Some(0), "seed {seed}");
        assert_eq!(sessions(&env), want, "seed {seed}, files shuffled on the command line");
    }
}

/// The biggest main transcript (not a sub-agent) and its one session id.
fn big_main(dir: &Path) -> (PathBuf, String) {
    let mut best: Option<(usize, PathBuf, String)> = None;
    for f in transcripts(dir) {
        let name = f.file_name().unwrap().to_string_lossy().into_owned();
        if name.starts_with("agent-") {
            continue;
        }
        let Some(p) = parse(&f) else { continue };
        if p.sessions.len() != 1 {
            continue;
        }
        let n = p.sessions[0].events.len();
        if best.as_ref().is_none_or(|(m, ..)| n > *m) {
            best = Some((n, f.clone(), p.sessions[0].id.clone()));
        }
    }
    let (_, f, id) = best.unwrap();
    (f, id)
}

/// `line` with every id-like value (`uuid`, `parentUuid`, message, tool and
/// request ids) made new, so the copy is a valid record of its own.
fn with_new_ids(line: &str, n: usize) -> String {
    fn walk(v: &mut Value, n: usize) {
        match v {
            Value::Object(o) => {
                for (k, x) in o.iter_mut() {
                    let idlike = matches!(
                        k.as_str(),
                        "uuid"
                            | "parentUuid"
                            | "id"
                            | "tool_use_id"
                            | "requestId"
                            | "leafUuid"
                            | "messageId"
                            | "promptId"
                    );
                    match x {
                        Value::String(s) if idlike => *s = format!("{s}-copy{n}"),
                        _ => walk(x, n),
                    }
                }
            }
            Value::Array(a) => a.iter_mut().for_each(|x| walk(x, n)),
            _ => {}
        }
    }
    let mut v: Value = serde_json::from_str(line).unwrap();
    walk(&mut v, n);
    v.to_string()
}

#[test]
fn a_real_session_that_grows_by_50_lines_is_extended_by_exactly_their_events() {
    let Some(real) = real() else { return };
    let dir = real.join("claude-code-log");
    let (orig, id) = big_main(&dir);
    let env = Env::new();
    let f = env.path("live").join(orig.file_name().unwrap());
    std::fs::create_dir_all(f.parent().unwrap()).unwrap();
    std::fs::copy(&orig, &f).unwrap();
    assert_eq!(ingest(&env, &[&f]).0, Some(0));
    let text = std::fs::read_to_string(&f).unwrap();
    // 50 message lines of the same session, as new records.
    let extra: Vec<String> = text
        .lines()
        .filter(|l| {
            let v: Value = serde_json::from_str(l).unwrap_or(Value::Null);
            v["sessionId"] == id.as_str() && matches!(v["type"].as_str(), Some("user" | "assistant"))
        })
        .take(50)
        .enumerate()
        .map(|(i, l)| with_new_ids(l, i))
        .collect();
    assert_eq!(extra.len(), 50);
    let mut grown = text.clone();
    if !grown.ends_with('\n') {
        grown.push('\n');
    }
    grown.push_str(&extra.join("\n"));
    grown.push('\n');
    std::fs::write(&f, &grown).unwrap();
    let hints = nocturne_service::file_hints(&f);
    let before = parse_file(s(&f), text.as_bytes(), Format::Auto, &hints).unwrap().sessions[0].events.len();
    let after = parse(&f).unwrap().sessions[0].events.len();
    let (code, rep) = ingest(&env, &[&f]);
    assert_eq!(code, Some(0), "{}", rep["refused"]);
    assert_eq!(rep["totals"]["sessions_extended"], 1);
    assert_eq!(rep["totals"]["events_added"], (after - before) as u64, "exactly the events of the 50 new lines");
    let stored = env.json(&["sessions", "show", &id]);
    assert_eq!(stored["session"]["event_count"], after as u64);
    env.cmd(&["sessions", "verify"]).assert().success().stdout(predicates::str::contains("every hash chain matches"));

    // One early line changed: refused, naming that line's first event.
    let mut lines: Vec<String> = grown.lines().map(str::to_string).collect();
    let k = lines
        .iter()
        .enumerate()
        .skip(1)
        .find(|(_, l)| serde_json::from_str::<Value>(l).is_ok_and(|v| v["type"] == "user" || v["type"] == "assistant"))
        .map(|(k, _)| k)
        .unwrap();
    let mut v: Value = serde_json::from_str(&lines[k]).unwrap();
    v["timestamp"] = Value::String("2000-01-01T00:00:00.000Z".into());
    lines[k] = v.to_string();
    std::fs::write(&f, lines.join("\n") + "\n").unwrap();
    let line = k as u64 + 1;
    let seq = stored["events"].as_array().unwrap().iter().find(|e| e["source_line"] == line).unwrap()["seq"].clone();
    let (code, rep) = ingest(&env, &[&f]);
    assert_eq!(code, Some(1));
    let r = &rep["refused"][0];
    assert_eq!((&r["session"], &r["event"], &r["line"]), (&Value::from(id.as_str()), &seq, &Value::from(line)), "{r}");
    assert_eq!(env.json(&["sessions", "show", &id])["session"]["event_count"], after as u64, "nothing rewritten");
}

#[test]
fn every_real_transcript_is_ingested_or_refused_with_a_precise_reason() {
    let Some(real) = real() else { return };
    let env = Env::new();
    let (_, rep) = ingest(&env, &[&real]);
    let files = transcripts(&real);
    assert_eq!(rep["files"].as_array().unwrap().len(), files.len(), "every transcript is in the report");
    for r in rep["refused"].as_array().unwrap() {
        let file = r["file"].as_str().unwrap();
        assert!(r["session"].is_null(), "no session refused: {r}");
        assert!(r["reason"].as_str().is_some_and(|x| x.len() > 10), "{r}");
        // Refused exactly when the importer itself refuses the file.
        let bytes = std::fs::read(file).unwrap();
        let p = Path::new(file);
        assert!(parse_file(file, &bytes, Format::Auto, &nocturne_service::file_hints(p)).is_err(), "{file} parses");
    }
    assert!(rep["totals"]["sessions_added"].as_u64().unwrap() > 100, "{}", rep["totals"]);
}

#[test]
fn tau2_rewards_become_outcomes_on_the_primary_dimension_once() {
    let Some(real) = real() else { return };
    let dir = real.join("tau2-bench-retail");
    let file = transcripts(&dir).into_iter().next().unwrap();
    let doc: Value = serde_json::from_slice(&std::fs::read(&file).unwrap()).unwrap();
    let sims = doc["simulations"].as_array().unwrap();
    let want = |r: f64| sims.iter().filter(|s| s["reward_info"]["reward"].as_f64() == Some(r)).count();
    let env = Env::new();
    let (code, rep) = ingest(&env, &[&dir]);
    assert_eq!(code, Some(0), "{}", rep["refused"]);
    assert_eq!(rep["totals"]["outcomes_logged"], sims.len());
    let outcomes = env.json(&["outcomes", "list"]);
    let outcomes = outcomes.as_array().unwrap();
    assert_eq!(outcomes.len(), sims.len());
    let count = |label: &str| outcomes.iter().filter(|o| o["value"] == label).count();
    assert_eq!((count("success"), count("failure")), (want(1.0), want(0.0)), "reward 1 → success, 0 → failure");
    for o in outcomes {
        assert_eq!((&o["dimension"], &o["source"]), (&Value::from("result"), &Value::from("code")), "{o}");
        assert!(o["by"].as_str().is_some_and(|b| b.starts_with("tau")), "{o}");
        assert!(o["comment"].as_str().is_some_and(|c| c.contains("user_stop")), "the termination reason is kept: {o}");
    }
    let (_, again) = ingest(&env, &[&dir]);
    assert_eq!(again["totals"]["outcomes_logged"], 0);
    assert_eq!(env.json(&["outcomes", "list"]).as_array().unwrap().len(), sims.len(), "not logged again");
}
