use crate::*;

#[test]
fn memory_search_returns_hits_with_the_parts_of_their_score() {
    let env = Env::new();
    env.json(&["memory", "add", "--kind", "mistake", "--text", "npm test has no script; run npm run test:unit"]);
    env.json(&["memory", "add", "--kind", "fact", "--text", "The shop API runs on Node 20"]);
    let hits = env.json(&["memory", "search", "test:unit", "--k", "5"]);
    let h = &hits[0];
    assert!(h["text"].as_str().unwrap().contains("test:unit"));
    for key in ["id", "score", "kind", "scope"] {
        assert!(!h[key].is_null(), "{key} missing in {h}");
    }
    for part in ["bm25", "bm25_rank", "vector", "vector_rank", "rrf", "priority_boost", "recency_boost"] {
        assert!(h["parts"].get(part).is_some(), "{part} missing in {h}");
    }
    let facts = env.json(&["memory", "search", "test", "--kind", "fact"]);
    assert!(facts.as_array().unwrap().iter().all(|h| h["kind"] == "fact"));
}

#[test]
fn sessions_search_finds_the_event_with_its_session_and_source_text() {
    let env = Env::new();
    env.json(&["ingest", s(&samples())]);
    let hits = env.json(&["sessions", "search", "Missing script", "--k", "3"]);
    let h = &hits[0];
    assert!(h["text"].as_str().unwrap().contains("Missing script"), "{h}");
    assert!(h["session"].is_string() && h["event"].is_u64());
    assert!(h["raw"].as_str().unwrap().contains("Missing script"), "the source JSON comes with it");
    let one = env.json(&["sessions", "search", "timezone", "--session", "sess-invoice-dates"]);
    assert!(one.as_array().unwrap().iter().all(|h| h["session"] == "sess-invoice-dates"));
}

#[test]
fn context_prints_a_ready_to_paste_block_within_its_budget() {
    let env = Env::new();
    env.json(&[
        "memory",
        "add",
        "--kind",
        "preference",
        "--text",
        "Always run the linter before committing",
        "--scope",
        "team:shop",
    ]);
    env.json(&["memory", "add", "--kind", "fact", "--text", "Cart totals are computed in cents"]);
    let out =
        env.cmd(&["context", "fix the cart total rounding", "--team", "shop", "--budget", "200"]).output().unwrap();
    assert!(out.status.success());
    let md = String::from_utf8(out.stdout).unwrap();
    assert!(md.contains("Always run the linter before committing"), "{md}");
    let j = env.json(&["context", "fix the cart total rounding", "--team", "shop", "--budget", "200"]);
    assert!(j["bundle"]["used_tokens"].as_u64().unwrap() <= 200);
    assert!(j["usage_id"].as_u64().unwrap() >= 1);
    env.cmd(&["context", "x", "--budget", "0"]).assert().code(2);
}

#[test]
fn context_reads_every_scope_by_default_and_says_why_a_bundle_is_empty() {
    let env = Env::new();
    env.json(&[
        "memory",
        "add",
        "--kind",
        "fact",
        "--text",
        "Cart totals are computed in cents",
        "--scope",
        "team:shop",
    ]);
    // No --user/--team: the team's memory is there.
    let out = env.cmd(&["context", "fix the cart total rounding"]).output().unwrap();
    assert!(out.status.success());
    assert!(String::from_utf8(out.stdout).unwrap().contains("Cart totals are computed in cents"));
    // Another team: empty, and it says so (still exit 0).
    let out = env.cmd(&["context", "fix the cart total rounding", "--team", "web"]).output().unwrap();
    assert!(out.status.success());
    let md = String::from_utf8(out.stdout).unwrap();
    assert!(md.contains("No memory in the scopes asked for (org, team:web)"), "{md}");
    // An unrelated task: nothing relevant, and it says so.
    let j = env.json(&["context", "rename the invoice PDF field"]);
    assert!(j["bundle"]["items"].as_array().unwrap().is_empty());
    assert!(j["message"].as_str().unwrap().contains("No memory matches this task"), "{j}");
}

#[test]
fn reindex_reports_the_embedder_and_an_unknown_embedder_is_refused() {
    let env = Env::new();
    env.json(&["memory", "add", "--kind", "fact", "--text", "Releases are cut on Tuesdays"]);
    let r = env.json(&["reindex"]);
    assert_eq!(r["embedder"], "hashing-v1-256");
    assert_eq!(r["memories"], 1);
    env.cmd(&["--embedder", "word2vec", "memory", "list"]).assert().code(2);
}
