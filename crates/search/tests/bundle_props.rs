#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
use nocturne_core::memory::{MemoryKind, Scope};
use nocturne_search::{estimate_tokens, pack_bundle, render_bundle_markdown, Bundle, Candidate};
use proptest::prelude::*;

fn cand(id: &str, kind: MemoryKind, text: &str, relevance: f32) -> Candidate {
    Candidate { id: id.into(), kind, text: text.into(), scope: Scope::org(), priority: 0, relevance, project: None }
}

#[test]
fn kinds_ordered_and_relevant_first() {
    let cs = vec![
        cand("f1", MemoryKind::fact(), "The API lives at api.internal.", 0.9),
        cand("p1", MemoryKind::preference(), "Prefer small PRs.", 0.2),
        cand("m1", MemoryKind::mistake(), "Forgot to run migrations once.", 0.5),
        cand("p2", MemoryKind::preference(), "Use British spelling.", 0.8),
        cand("x1", MemoryKind::new("runbook").unwrap(), "Page the on-call.", 1.0),
        cand("pr1", MemoryKind::procedure(), "Release: tag, build, deploy.", 0.1),
    ];
    let b = pack_bundle(&cs, 10_000);
    let order: Vec<&str> = b.items.iter().map(|i| i.id.as_str()).collect();
    assert_eq!(order, vec!["p2", "p1", "m1", "pr1", "f1", "x1"]);
    assert!(b.dropped.is_empty());
    let md = render_bundle_markdown(&b);
    assert!(md.starts_with("# Relevant memories\n"));
    let pref = md.find("## Preferences").unwrap();
    let mis = md.find("## Mistakes to avoid").unwrap();
    let fact = md.find("## Facts").unwrap();
    assert!(pref < mis && mis < fact);
    assert!(md.contains("- Use British spelling. _(org; p2)_"));
    // The sum of the pieces' estimates bounds the whole's.
    assert!(estimate_tokens(&md) <= b.used_tokens);
    assert!(estimate_tokens(&md) + 10 >= b.used_tokens);
    // JSON round trip.
    let json = serde_json::to_string(&b).unwrap();
    let back: Bundle = serde_json::from_str(&json).unwrap();
    assert_eq!(back, b);
}

#[test]
fn tight_budget_drops_and_reports() {
    let cs = vec![
        cand("long", MemoryKind::preference(), &"word ".repeat(200), 1.0),
        cand("short", MemoryKind::fact(), "Short fact.", 0.1),
    ];
    let b = pack_bundle(&cs, 30);
    assert_eq!(b.items.len(), 1);
    assert_eq!(b.items[0].id, "short");
    assert_eq!(b.dropped, vec!["long".to_string()]);
    assert!(b.used_tokens <= 30);
    let empty = pack_bundle(&cs, 0);
    assert!(empty.items.is_empty());
    assert_eq!(render_bundle_markdown(&empty), "");
    assert_eq!(empty.used_tokens, 0);
}

fn kind_strategy() -> impl Strategy<Value = MemoryKind> {
    prop_oneof![
        Just(MemoryKind::fact()),
        Just(MemoryKind::preference()),
        Just(MemoryKind::procedure()),
        Just(MemoryKind::mistake()),
        Just(MemoryKind::new("custom-kind").unwrap()),
    ]
}

fn candidate_strategy() -> impl Strategy<Value = Candidate> {
    (kind_strategy(), "[a-zA-Z0-9 ,.:\\n'é日-]{0,300}", -10i32..10, 0.0f32..1.0, "[a-z0-9]{1,12}", any::<bool>())
        .prop_map(|(kind, text, priority, relevance, id, team)| Candidate {
            id,
            kind,
            text,
            scope: if team { Scope::parse("team:payments").unwrap() } else { Scope::org() },
            priority,
            relevance,
            project: team.then(|| "shop#0123456789ab".to_string()),
        })
}

proptest! {
    #[test]
    fn never_exceeds_budget(cs in proptest::collection::vec(candidate_strategy(), 0..40), budget in 0usize..600) {
        let b = pack_bundle(&cs, budget);
        prop_assert!(b.used_tokens <= budget);
        let md = render_bundle_markdown(&b);
        prop_assert!(estimate_tokens(&md) <= b.used_tokens);
        prop_assert_eq!(b.items.len() + b.dropped.len(), cs.len());
        // Presentation order: kind rank never decreases.
        let ranks: Vec<u8> = b.items.iter().map(|i| i.kind.rank()).collect();
        prop_assert!(ranks.windows(2).all(|w| w[0] <= w[1]));
    }
}
