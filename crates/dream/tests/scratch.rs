#![allow(clippy::unwrap_used)]
use nocturne_corpus::{generate, CorpusSpec};
use nocturne_dream::{Context, DreamConfig, Snapshot};
#[test]
fn scratch() {
    let corpus = generate(&CorpusSpec { seed: 1, sessions: 120, ..CorpusSpec::default() });
    let snap = Snapshot::from_new_sessions(7, &corpus.sessions, corpus.memories.clone(), &corpus.now);
    let cfg = DreamConfig { now: corpus.now.clone(), ..DreamConfig::default() };
    let ctx = Context::build(&snap, &cfg);
    for s in &ctx.sessions {
        for (i, a) in s.actions.iter().enumerate() {
            if a.cmd.as_ref().is_some_and(|c| c.verb == "make") {
                let f = ctx.failures.iter().find(|f| f.action == i && ctx.sessions[f.session].id() == s.id());
                println!("{} {:?} {:?} {:?} {:?} rec={:?}", s.id(), a.op, a.outcome, a.errors.first().map(|e| &e.sig.key), a.test_failure, f.map(|f| f.recovery.as_ref().map(|r| &r.key)));
            }
        }
    }
}
