//! The contract of [`Store`], as executable checks. A backend's test suite
//! calls [`run_all`] with a factory that makes a fresh, empty store; each
//! check returns an error message instead of panicking, so a failure names
//! the rule that was broken.

use crate::{
    Appended, AppliedProposal, Claim, Commit, ImportBatch, JobEnd, JobFilter, JobState, MemoryImport, NewJob,
    SessionFilter, SessionGrowth, SessionRecord, Store, StoreError, StreamTarget,
};
use nocturne_core::{
    chain, Change, Counterpart, EventKind, Memory, MemoryKind, NewEvent, NewSession, Proposal, ProposalStatus, Role,
    Scope, Status, Subagent,
};
use std::collections::BTreeMap;

type Check<S> = (&'static str, fn(&S) -> Result<(), String>);

/// Runs every check on a fresh store from `make`. Returns the failures as
/// `name: message` lines (empty when the backend conforms).
pub fn run_all<S: Store>(make: &dyn Fn() -> S) -> Vec<String> {
    let checks: Vec<Check<S>> = vec![
        ("append_then_read_back", append_then_read_back),
        ("append_is_idempotent", append_is_idempotent),
        ("every_event_kind_round_trips", every_event_kind_round_trips),
        ("chain_hashes_match_core", chain_hashes_match_core),
        ("sessions_filter_and_order", sessions_filter_and_order),
        ("empty_session_is_stored", empty_session_is_stored),
        ("commit_creates_numbered_revisions", commit_creates_numbered_revisions),
        ("expect_rev_mismatch_refused", expect_rev_mismatch_refused),
        ("stale_before_is_a_conflict", stale_before_is_a_conflict),
        ("failed_commit_changes_nothing", failed_commit_changes_nothing),
        ("history_lists_every_change", history_lists_every_change),
        ("restore_needs_empty_store", restore_needs_empty_store),
        ("proposals_round_trip", proposals_round_trip),
        ("commit_marks_proposal_applied", commit_marks_proposal_applied),
        ("outcomes_are_appended_with_ids", outcomes_are_appended_with_ids),
        ("taxonomy_versions_follow_each_other", taxonomy_versions_follow_each_other),
        ("vectors_are_cached_and_replaced", vectors_are_cached_and_replaced),
        ("usage_events_are_appended", usage_events_are_appended),
        ("usage_events_are_restored_verbatim", usage_events_are_restored_verbatim),
        ("tokens_are_found_by_hash_and_revoked", tokens_are_found_by_hash_and_revoked),
        ("open_sessions_grow_at_their_end", open_sessions_grow_at_their_end),
        ("compare_and_append_refuses_a_stale_length", compare_and_append_refuses_a_stale_length),
        ("parent_links_round_trip", parent_links_round_trip),
        ("children_are_listed_by_parent", children_are_listed_by_parent),
        ("restore_session_keeps_the_header_verbatim", restore_session_keeps_the_header_verbatim),
        ("a_lock_has_one_holder_until_its_lease_ends", a_lock_has_one_holder_until_its_lease_ends),
        ("runs_are_recorded_and_updated", runs_are_recorded_and_updated),
        ("inserts_never_replace", inserts_never_replace),
        ("applying_needs_a_pending_proposal", applying_needs_a_pending_proposal),
        ("a_proposal_keeps_its_team_and_applied_ops", a_proposal_keeps_its_team_and_applied_ops),
        ("a_lock_is_taken_over_from_a_holder_that_is_gone", a_lock_is_taken_over_from_a_holder_that_is_gone),
        ("times_compare_as_instants", times_compare_as_instants),
        ("jobs_are_claimed_once_and_leased", jobs_are_claimed_once_and_leased),
        ("job_keys_enqueue_once", job_keys_enqueue_once),
        ("a_lost_claim_cannot_finish", a_lost_claim_cannot_finish),
        ("batched_reads_match_single_reads", batched_reads_match_single_reads),
        ("concurrent_commits_with_one_expected_revision", concurrent_commits_with_one_expected_revision),
        ("concurrent_appends_from_many_threads", concurrent_appends_from_many_threads),
        ("concurrent_lock_has_one_winner", concurrent_lock_has_one_winner),
        ("concurrent_claims_take_each_job_once", concurrent_claims_take_each_job_once),
        ("a_closed_session_takes_no_more_events", a_closed_session_takes_no_more_events),
        ("agent_runs_round_trip_and_a_cancellation_sticks", agent_runs_round_trip_and_a_cancellation_sticks),
        ("the_journal_is_append_only_and_retries_are_safe", the_journal_is_append_only_and_retries_are_safe),
        ("an_import_writes_every_part", an_import_writes_every_part),
        ("a_refused_import_writes_nothing", a_refused_import_writes_nothing),
        ("a_streamed_write_is_one_write", a_streamed_write_is_one_write),
        ("a_failed_streamed_write_stores_nothing", a_failed_streamed_write_stores_nothing),
        ("a_streamed_write_detects_another_writer", a_streamed_write_detects_another_writer),
    ];
    let mut failures = Vec::new();
    for (name, check) in checks {
        let store = make();
        if let Err(e) = check(&store) {
            failures.push(format!("{name}: {e}"));
        }
    }
    failures
}

fn err<E: std::fmt::Display>(e: E) -> String {
    e.to_string()
}

fn ensure(cond: bool, msg: &str) -> Result<(), String> {
    if cond {
        Ok(())
    } else {
        Err(msg.to_string())
    }
}

/// A small session for the checks.
pub fn sample_session(id: &str, user: &str, start: &str, n: usize) -> SessionRecord {
    let events = (0..n)
        .map(|i| NewEvent {
            role: if i % 2 == 0 { Role::User } else { Role::Assistant },
            kind: if i % 2 == 0 { EventKind::UserMessage } else { EventKind::AssistantMessage },
            tool_name: None,
            tool_input: None,
            tool_use_id: None,
            text: Some(format!("message {i} of {id}")),
            is_error: false,
            timestamp: Some(start.to_string()),
            sidechain: false,
            source_line: Some(i as u32 + 1),
            raw: format!("{{\"n\":{i}}}"),
        })
        .collect();
    SessionRecord {
        session: NewSession {
            id: id.into(),
            format: "nocturne".into(),
            source: Some(format!("{id}.jsonl")),
            user: Some(user.into()),
            agent: Some("coder".into()),
            team: Some("core".into()),
            title: None,
            parent: None,
            subagent: None,
            counterpart: None,
            outcome: None,
            events,
        },
        ingested_at: "2026-01-01T00:00:00Z".into(),
    }
}

fn mem(text: &str) -> Memory {
    Memory {
        id: nocturne_core::memory::memory_id("fact", text, "conformance"),
        kind: MemoryKind::fact(),
        text: text.into(),
        tags: vec!["t".into()],
        scope: Scope::org(),
        priority: 0,
        status: Status::Active,
        evidence: vec![],
        created_at: "2026-01-01T00:00:00Z".into(),
        updated_at: "2026-01-01T00:00:00Z".into(),
        retired_reason: None,
    }
}

fn commit_of(changes: Vec<Change>) -> Commit {
    Commit {
        expect_rev: None,
        author: "user:test".into(),
        reason: "test".into(),
        created_at: "2026-01-02T00:00:00Z".into(),
        changes,
        applies_proposal: None,
    }
}

fn create(m: &Memory) -> Change {
    Change { memory_id: m.id.clone(), before: None, after: Some(m.clone()) }
}

fn append_then_read_back<S: Store>(s: &S) -> Result<(), String> {
    let rec = sample_session("s1", "ana", "2026-01-01T10:00:00Z", 5);
    let r = s.append_sessions(std::slice::from_ref(&rec)).map_err(err)?;
    ensure(r == vec![Appended::Added { events: 5 }], "append reports the events added")?;
    let sess = s.session("s1").map_err(err)?.ok_or("session not found after append")?;
    ensure(sess.event_count == 5, "event_count")?;
    ensure(sess.user.as_deref() == Some("ana"), "user kept")?;
    let evs = s.events("s1").map_err(err)?;
    ensure(evs.len() == 5, "all events read back")?;
    for (i, (e, orig)) in evs.iter().zip(&rec.session.events).enumerate() {
        ensure(e.seq as usize == i, "events in order")?;
        ensure(&e.body == orig, "event body read back exactly")?;
    }
    ensure(s.session("nope").map_err(err)?.is_none(), "unknown session is None")
}

/// Every kind of event (an evaluator's check included) is stored and read
/// back as it was, first written and appended later.
fn every_event_kind_round_trips<S: Store>(s: &S) -> Result<(), String> {
    let mut rec = sample_session("kinds", "ana", "2026-01-01T10:00:00Z", 0);
    let event = |i: usize, kind: EventKind| NewEvent {
        role: Role::System,
        kind,
        tool_name: Some("tool".into()),
        tool_input: Some("{\"id\":\"x\"}".into()),
        tool_use_id: None,
        text: Some(format!("{} {i}", kind.as_str())),
        is_error: i % 2 == 1,
        timestamp: Some("2026-01-01T10:00:00Z".into()),
        sidechain: false,
        source_line: None,
        raw: format!("{{\"k\":{i}}}"),
    };
    rec.session.events = EventKind::ALL.iter().enumerate().map(|(i, k)| event(i, *k)).collect();
    s.append_sessions(std::slice::from_ref(&rec)).map_err(err)?;
    let n = rec.session.events.len();
    let later: Vec<NewEvent> = EventKind::ALL.iter().enumerate().map(|(i, k)| event(n + i, *k)).collect();
    s.append_events("kinds", n as u32, &later).map_err(err)?;
    let back: Vec<NewEvent> = s.events("kinds").map_err(err)?.into_iter().map(|e| e.body).collect();
    let want: Vec<NewEvent> = rec.session.events.iter().chain(&later).cloned().collect();
    ensure(back == want, "every event kind read back exactly")
}

fn append_is_idempotent<S: Store>(s: &S) -> Result<(), String> {
    let rec = sample_session("s1", "ana", "2026-01-01T10:00:00Z", 3);
    s.append_sessions(std::slice::from_ref(&rec)).map_err(err)?;
    let before = s.session("s1").map_err(err)?;
    let mut again = rec.clone();
    again.session.events.push(again.session.events[0].clone());
    let r = s.append_sessions(&[again]).map_err(err)?;
    ensure(r == vec![Appended::Skipped], "second append of same id is skipped")?;
    ensure(s.session("s1").map_err(err)? == before, "stored session unchanged")?;
    ensure(s.events("s1").map_err(err)?.len() == 3, "no events added")?;
    ensure(s.session_count().map_err(err)? == 1, "one session")
}

fn chain_hashes_match_core<S: Store>(s: &S) -> Result<(), String> {
    let rec = sample_session("s1", "ana", "2026-01-01T10:00:00Z", 4);
    s.append_sessions(std::slice::from_ref(&rec)).map_err(err)?;
    let sess = s.session("s1").map_err(err)?.ok_or("missing")?;
    let expected = chain::head_hex("s1", &rec.session.events);
    ensure(sess.head_hash == expected, "head hash is the core chain head")?;
    let evs = s.events("s1").map_err(err)?;
    let hs = chain::hashes("s1", &rec.session.events);
    for (e, h) in evs.iter().zip(hs) {
        ensure(e.hash == hex_of(&h), "each event stores its chain hash")?;
    }
    Ok(())
}

fn hex_of(h: &[u8; 32]) -> String {
    h.iter().map(|b| format!("{b:02x}")).collect()
}

fn sessions_filter_and_order<S: Store>(s: &S) -> Result<(), String> {
    s.append_sessions(&[
        sample_session("a", "ana", "2026-01-01T10:00:00Z", 1),
        sample_session("b", "bob", "2026-01-03T10:00:00Z", 1),
        sample_session("c", "ana", "2026-01-02T10:00:00Z", 1),
    ])
    .map_err(err)?;
    let all: Vec<String> = s.sessions(&SessionFilter::default()).map_err(err)?.into_iter().map(|x| x.id).collect();
    ensure(all == ["b", "c", "a"], "newest first")?;
    let ana: Vec<String> = s
        .sessions(&SessionFilter { user: Some("ana".into()), ..Default::default() })
        .map_err(err)?
        .into_iter()
        .map(|x| x.id)
        .collect();
    ensure(ana == ["c", "a"], "filter by user")?;
    let lim = s.sessions(&SessionFilter { limit: Some(1), ..Default::default() }).map_err(err)?;
    ensure(lim.len() == 1 && lim[0].id == "b", "limit keeps the newest")?;
    let huge = s.sessions(&SessionFilter { limit: Some(usize::MAX), ..Default::default() }).map_err(err)?;
    ensure(huge.len() == 3, "a limit beyond the SQL integer range is no limit")?;
    let since = s
        .sessions(&SessionFilter {
            since: Some("2026-01-02".into()),
            until: Some("2026-01-03".into()),
            ..Default::default()
        })
        .map_err(err)?;
    ensure(since.len() == 1 && since[0].id == "c", "since inclusive, until exclusive")
}

fn empty_session_is_stored<S: Store>(s: &S) -> Result<(), String> {
    let rec = sample_session("empty", "ana", "2026-01-01T10:00:00Z", 0);
    let r = s.append_sessions(&[rec]).map_err(err)?;
    ensure(r == vec![Appended::Added { events: 0 }], "empty session added")?;
    let sess = s.session("empty").map_err(err)?.ok_or("missing")?;
    ensure(sess.head_hash == hex_of(&chain::genesis("empty")), "empty chain hash is the genesis")
}

fn commit_creates_numbered_revisions<S: Store>(s: &S) -> Result<(), String> {
    ensure(s.head().map_err(err)? == 0, "a new store is at revision 0")?;
    let a = mem("alpha");
    let r1 = s.commit(commit_of(vec![create(&a)])).map_err(err)?;
    ensure(r1.rev == 1, "first revision is 1")?;
    let mut a2 = a.clone();
    a2.text = "alpha two".into();
    let r2 = s
        .commit(Commit {
            expect_rev: Some(1),
            ..commit_of(vec![Change { memory_id: a.id.clone(), before: Some(a.clone()), after: Some(a2.clone()) }])
        })
        .map_err(err)?;
    ensure(r2.rev == 2, "second revision is 2")?;
    ensure(s.head().map_err(err)? == 2, "head follows")?;
    ensure(s.memory(&a.id).map_err(err)? == Some(a2.clone()), "memory at head")?;
    let revs = s.revisions(1, 2).map_err(err)?;
    ensure(revs.len() == 2 && revs[0] == r1 && revs[1] == r2, "revisions read back exactly")?;
    let replayed = nocturne_core::revision::replay(&revs);
    let listed: BTreeMap<String, Memory> = s.memories().map_err(err)?.into_iter().map(|m| (m.id.clone(), m)).collect();
    ensure(replayed == listed, "replaying revisions gives the memory list")
}

fn expect_rev_mismatch_refused<S: Store>(s: &S) -> Result<(), String> {
    s.commit(commit_of(vec![create(&mem("a"))])).map_err(err)?;
    let r = s.commit(Commit { expect_rev: Some(0), ..commit_of(vec![create(&mem("b"))]) });
    match r {
        Err(StoreError::RevisionMismatch { expected: 0, actual: 1 }) => {}
        other => return Err(format!("expected RevisionMismatch, got {other:?}")),
    }
    ensure(s.head().map_err(err)? == 1, "nothing committed")
}

fn stale_before_is_a_conflict<S: Store>(s: &S) -> Result<(), String> {
    let a = mem("a");
    s.commit(commit_of(vec![create(&a)])).map_err(err)?;
    let mut stale = a.clone();
    stale.text = "not what is stored".into();
    let r = s.commit(commit_of(vec![Change { memory_id: a.id.clone(), before: Some(stale), after: Some(a.clone()) }]));
    ensure(
        matches!(r, Err(StoreError::Conflict(ref v)) if v.iter().any(|c| c.contains(&a.id))),
        "conflict names the memory",
    )?;
    let r = s.commit(commit_of(vec![create(&a)]));
    ensure(matches!(r, Err(StoreError::Conflict(_))), "creating an existing id is a conflict")
}

fn failed_commit_changes_nothing<S: Store>(s: &S) -> Result<(), String> {
    let a = mem("a");
    s.commit(commit_of(vec![create(&a)])).map_err(err)?;
    let b = mem("b");
    let mut stale = a.clone();
    stale.text = "x".into();
    let r = s.commit(commit_of(vec![
        create(&b),
        Change { memory_id: a.id.clone(), before: Some(stale), after: Some(a.clone()) },
    ]));
    ensure(r.is_err(), "commit with one bad change fails")?;
    ensure(s.memory(&b.id).map_err(err)?.is_none(), "the good change was not applied either")?;
    ensure(s.head().map_err(err)? == 1, "head unchanged")
}

fn history_lists_every_change<S: Store>(s: &S) -> Result<(), String> {
    let a = mem("a");
    s.commit(commit_of(vec![create(&a)])).map_err(err)?;
    s.commit(commit_of(vec![create(&mem("other"))])).map_err(err)?;
    let mut r = a.clone();
    r.status = Status::Retired;
    s.commit(commit_of(vec![Change { memory_id: a.id.clone(), before: Some(a.clone()), after: Some(r) }]))
        .map_err(err)?;
    let h = s.history(&a.id).map_err(err)?;
    ensure(h.len() == 2, "two entries")?;
    ensure(h[0].rev == 1 && h[1].rev == 3, "entries carry their revision numbers")?;
    ensure(s.memory(&a.id).map_err(err)?.is_some_and(|m| m.status == Status::Retired), "retired is kept")
}

fn restore_needs_empty_store<S: Store>(s: &S) -> Result<(), String> {
    let other = crate::conformance::revisions_fixture();
    s.restore(&other).map_err(err)?;
    ensure(s.head().map_err(err)? == other.len() as u64, "head after restore")?;
    ensure(s.revisions(1, u64::MAX).map_err(err)? == other, "revisions restored verbatim")?;
    ensure(s.restore(&other).is_err(), "restore into a non-empty store is refused")
}

/// Two revisions for restore checks.
pub fn revisions_fixture() -> Vec<nocturne_core::Revision> {
    let a = mem("a");
    let mut a2 = a.clone();
    a2.priority = 3;
    vec![
        nocturne_core::Revision {
            rev: 1,
            author: nocturne_core::Author("user:x".into()),
            reason: "add".into(),
            created_at: "2026-01-01T00:00:00Z".into(),
            changes: vec![create(&a)],
        },
        nocturne_core::Revision {
            rev: 2,
            author: nocturne_core::Author("dream:d1".into()),
            reason: "promote".into(),
            created_at: "2026-01-02T00:00:00Z".into(),
            changes: vec![Change { memory_id: a.id.clone(), before: Some(a), after: Some(a2) }],
        },
    ]
}

fn proposal(id: &str, at: &str) -> Proposal {
    Proposal {
        id: id.into(),
        base_revision: 0,
        created_at: at.into(),
        status: ProposalStatus::Pending,
        sessions: vec!["s1".into()],
        ops: vec![],
        stats: BTreeMap::new(),
        applied_revision: None,
        applied_ops: Vec::new(),
        notes: None,
        team: None,
    }
}

fn proposals_round_trip<S: Store>(s: &S) -> Result<(), String> {
    let p1 = proposal("d1", "2026-01-01T00:00:00Z");
    let p2 = proposal("d2", "2026-01-02T00:00:00Z");
    s.insert_proposal(&p1).map_err(err)?;
    s.insert_proposal(&p2).map_err(err)?;
    ensure(s.proposal("d1").map_err(err)? == Some(p1.clone()), "read back")?;
    let ids: Vec<String> = s.proposals().map_err(err)?.into_iter().map(|p| p.id).collect();
    ensure(ids == ["d2", "d1"], "newest first")?;
    s.set_proposal_status("d1", ProposalStatus::Rejected).map_err(err)?;
    ensure(s.proposal("d1").map_err(err)?.is_some_and(|p| p.status == ProposalStatus::Rejected), "status set")?;
    ensure(
        matches!(s.set_proposal_status("zz", ProposalStatus::Rejected), Err(StoreError::NotFound { .. })),
        "unknown proposal is NotFound",
    )?;
    ensure(
        matches!(s.set_proposal_status("d1", ProposalStatus::Rejected), Err(StoreError::Conflict(_))),
        "a proposal that is no longer pending keeps its status",
    )
}

fn applies(id: &str, ops: &[u32]) -> Option<AppliedProposal> {
    Some(AppliedProposal { id: id.into(), ops: ops.to_vec() })
}

fn commit_marks_proposal_applied<S: Store>(s: &S) -> Result<(), String> {
    s.insert_proposal(&proposal("d1", "2026-01-01T00:00:00Z")).map_err(err)?;
    let rev = s
        .commit(Commit { applies_proposal: applies("d1", &[1]), ..commit_of(vec![create(&mem("a"))]) })
        .map_err(err)?;
    let p = s.proposal("d1").map_err(err)?.ok_or("missing")?;
    ensure(p.status == ProposalStatus::Applied, "applied")?;
    ensure(p.applied_revision == Some(rev.rev), "applied revision recorded")?;
    ensure(p.applied_ops == [1], "applied ops recorded in the same commit")
}

fn inserts_never_replace<S: Store>(s: &S) -> Result<(), String> {
    let mut p = proposal("d1", "2026-01-01T00:00:00Z");
    p.team = Some("web".into());
    s.insert_proposal(&p).map_err(err)?;
    s.commit(Commit { applies_proposal: applies("d1", &[]), ..commit_of(vec![create(&mem("a"))]) }).map_err(err)?;
    let applied = s.proposal("d1").map_err(err)?;
    let other =
        Proposal { team: Some("ops".into()), sessions: vec!["s9".into()], ..proposal("d1", "2026-01-02T00:00:00Z") };
    ensure(
        matches!(s.insert_proposal(&other), Err(StoreError::Exists { .. })),
        "a proposal id that is stored is refused, not replaced",
    )?;
    ensure(s.proposal("d1").map_err(err)? == applied, "the applied proposal is left as it was")?;
    ensure(s.proposals().map_err(err)?.len() == 1, "one proposal")?;
    let r = run_record("r1");
    s.insert_run(&r).map_err(err)?;
    ensure(matches!(s.insert_run(&run_record("r1")), Err(StoreError::Exists { .. })), "a run id is refused twice")?;
    ensure(
        matches!(s.update_run(&run_record("r2")), Err(StoreError::NotFound { .. })),
        "updating a run that does not exist is NotFound",
    )?;
    let t = token("t1", "abc");
    s.put_token(&t).map_err(err)?;
    ensure(matches!(s.put_token(&token("t1", "def")), Err(StoreError::Exists { .. })), "a token id is refused twice")?;
    ensure(
        matches!(s.put_token(&token("t2", "abc")), Err(StoreError::Exists { .. })),
        "a token hash is refused twice",
    )?;
    ensure(s.tokens().map_err(err)? == vec![t], "the first token is kept")?;
    let j = job("j1", "dream", None, "2026-01-01T00:00:00Z");
    s.enqueue_job(&j).map_err(err)?;
    ensure(
        matches!(s.enqueue_job(&job("j1", "other", None, "2026-01-01T00:00:00Z")), Err(StoreError::Exists { .. })),
        "a job id is refused twice",
    )?;
    ensure(s.job("j1").map_err(err)?.is_some_and(|x| x.job == j), "the first job is kept")
}

fn applying_needs_a_pending_proposal<S: Store>(s: &S) -> Result<(), String> {
    s.insert_proposal(&proposal("d1", "2026-01-01T00:00:00Z")).map_err(err)?;
    s.commit(Commit { applies_proposal: applies("d1", &[1]), ..commit_of(vec![create(&mem("a"))]) }).map_err(err)?;
    let twice = s.commit(Commit { applies_proposal: applies("d1", &[2]), ..commit_of(vec![create(&mem("b"))]) });
    ensure(matches!(twice, Err(StoreError::Conflict(_))), "an applied proposal cannot be applied again")?;
    ensure(s.head().map_err(err)? == 1 && s.memory(&mem("b").id).map_err(err)?.is_none(), "nothing committed")?;
    s.insert_proposal(&proposal("d2", "2026-01-01T00:00:00Z")).map_err(err)?;
    s.set_proposal_status("d2", ProposalStatus::Rejected).map_err(err)?;
    let rejected = s.commit(Commit { applies_proposal: applies("d2", &[1]), ..commit_of(vec![create(&mem("c"))]) });
    ensure(matches!(rejected, Err(StoreError::Conflict(_))), "a rejected proposal cannot be applied")?;
    let missing = s.commit(Commit { applies_proposal: applies("zz", &[1]), ..commit_of(vec![create(&mem("c"))]) });
    ensure(matches!(missing, Err(StoreError::NotFound { .. })), "an unknown proposal is NotFound")?;
    ensure(s.head().map_err(err)? == 1, "still one revision")
}

fn a_proposal_keeps_its_team_and_applied_ops<S: Store>(s: &S) -> Result<(), String> {
    let mut p = proposal("d1", "2026-01-01T00:00:00Z");
    p.team = Some("web".into());
    p.stats.insert("sessions".into(), serde_json::json!(3));
    s.insert_proposal(&p).map_err(err)?;
    ensure(s.proposal("d1").map_err(err)? == Some(p.clone()), "team kept")?;
    let rev = s
        .commit(Commit { applies_proposal: applies("d1", &[2, 5]), ..commit_of(vec![create(&mem("a"))]) })
        .map_err(err)?;
    let got = s.proposal("d1").map_err(err)?.ok_or("missing")?;
    let want =
        Proposal { status: ProposalStatus::Applied, applied_revision: Some(rev.rev), applied_ops: vec![2, 5], ..p };
    ensure(got == want, "status, revision and ops applied are read back, the rest unchanged")?;
    ensure(s.proposals().map_err(err)? == vec![want], "listed the same")
}

fn a_lock_is_taken_over_from_a_holder_that_is_gone<S: Store>(s: &S) -> Result<(), String> {
    let (t0, t1) = ("2026-01-01T00:00:00Z", "2026-01-01T00:05:00Z");
    ensure(s.lock_holder("dream").map_err(err)?.is_none(), "nobody holds a lock at first")?;
    ensure(s.try_lock("dream", "dead", t0, t1).map_err(err)?, "taken")?;
    let h = s.lock_holder("dream").map_err(err)?.ok_or("the holder is known")?;
    ensure(h.holder == "dead" && h.lease_until == t1, "the holder and its lease are read back")?;
    ensure(!s.take_over_lock("dream", "someone-else", "me", t1).map_err(err)?, "only from the holder named")?;
    ensure(s.take_over_lock("dream", "dead", "me", t1).map_err(err)?, "taken over from a holder that is gone")?;
    ensure(!s.take_over_lock("dream", "dead", "third", t1).map_err(err)?, "a second take-over finds the new holder")?;
    ensure(!s.try_lock("dream", "dead", t0, t1).map_err(err)?, "the old holder cannot renew")?;
    ensure(s.try_lock("dream", "me", t0, t1).map_err(err)?, "the new holder renews")?;
    ensure(!s.take_over_lock("free", "x", "me", t1).map_err(err)?, "a free lock is not taken over (try_lock takes it)")
}

fn times_compare_as_instants<S: Store>(s: &S) -> Result<(), String> {
    // 10:30+02:00 is 08:30Z: earlier than 09:00Z though it sorts later as text.
    s.append_sessions(&[
        sample_session("east", "ana", "2026-01-01T10:30:00+02:00", 1),
        sample_session("utc", "ana", "2026-01-01T09:00:00Z", 1),
        sample_session("west", "ana", "2026-01-01T05:00:00-05:00", 1),
    ])
    .map_err(err)?;
    let ids = |f: SessionFilter| -> Result<Vec<String>, String> {
        Ok(s.sessions(&f).map_err(err)?.into_iter().map(|x| x.id).collect())
    };
    ensure(ids(SessionFilter::default())? == ["west", "utc", "east"], "newest first, by instant")?;
    ensure(
        ids(SessionFilter { since: Some("2026-01-01T08:45:00Z".into()), ..Default::default() })? == ["west", "utc"],
        "since compares instants",
    )?;
    ensure(
        ids(SessionFilter { until: Some("2026-01-01T11:00:00+02:00".into()), ..Default::default() })? == ["east"],
        "until compares instants",
    )?;
    let east = s.session("east").map_err(err)?.ok_or("missing")?;
    ensure(east.started_at == "2026-01-01T10:30:00+02:00", "a session's start time is kept as written")?;
    // A lease until 01:00+02:00 (23:00Z the day before) has ended at 00:00Z.
    ensure(s.try_lock("l", "a", "2026-01-01T00:00:00Z", "2026-01-01T01:00:00+02:00").map_err(err)?, "taken")?;
    ensure(s.try_lock("l", "b", "2026-01-01T00:00:00Z", "2026-01-01T00:10:00Z").map_err(err)?, "the lease had ended")?;
    ensure(
        !s.try_lock("l", "c", "2026-01-01T01:05:00+02:00", "2026-01-01T01:10:00Z").map_err(err)?,
        "23:05Z the day before is within the lease",
    )?;
    let late =
        NewJob { run_after: "2026-01-01T12:00:00+02:00".into(), ..job("j1", "dream", None, "2026-01-01T00:00:00Z") };
    s.enqueue_job(&late).map_err(err)?;
    ensure(
        s.claim_job(&[], "w", "2026-01-01T09:59:00Z", "2026-01-01T10:10:00Z").map_err(err)?.is_none(),
        "not claimed before run_after (10:00Z)",
    )?;
    ensure(
        s.claim_job(&[], "w", "2026-01-01T10:01:00Z", "2026-01-01T10:10:00Z").map_err(err)?.is_some(),
        "claimed after run_after",
    )
}

/// A job to enqueue, for the checks.
pub fn job(id: &str, kind: &str, key: Option<&str>, at: &str) -> NewJob {
    NewJob {
        id: id.into(),
        kind: kind.into(),
        key: key.map(str::to_string),
        payload: serde_json::json!({"spec": {"sessions": 10}}),
        team: None,
        submitted_by: "user:test".into(),
        created_at: at.into(),
        run_after: at.into(),
        max_attempts: 3,
    }
}

fn jobs_are_claimed_once_and_leased<S: Store>(s: &S) -> Result<(), String> {
    let t0 = "2026-01-01T00:00:00Z";
    s.enqueue_job(&job("j1", "dream", None, t0)).map_err(err)?;
    s.enqueue_job(&job("j2", "schedule", None, "2026-01-01T00:00:01Z")).map_err(err)?;
    let queued = s.jobs(&JobFilter::default()).map_err(err)?;
    ensure(queued.len() == 2 && queued.iter().all(|j| j.state == JobState::Queued && j.attempts == 0), "queued")?;
    ensure(queued[0].job.id == "j2", "newest first")?;
    ensure(
        s.claim_job(&["other"], "w1", t0, "2026-01-01T00:01:00Z").map_err(err)?.is_none(),
        "only the kinds asked for",
    )?;
    let a = s.claim_job(&[], "w1", t0, "2026-01-01T00:01:00Z").map_err(err)?.ok_or("a job is claimed")?;
    ensure(a.job.id == "j1" && a.state == JobState::Running, "the oldest first, now running")?;
    ensure(a.attempts == 1 && a.worker.as_deref() == Some("w1"), "claimed by w1, first attempt")?;
    ensure(a.started_at.as_deref() == Some(t0), "start time recorded")?;
    let b = s
        .claim_job(&["schedule"], "w2", "2026-01-01T00:00:05Z", "2026-01-01T01:00:00Z")
        .map_err(err)?
        .ok_or("the second job")?;
    ensure(b.job.id == "j2", "another worker gets the other job")?;
    ensure(
        s.claim_job(&[], "w3", "2026-01-01T00:00:05Z", "2026-01-01T00:01:00Z").map_err(err)?.is_none(),
        "nothing left",
    )?;
    let c1 = Claim { worker: "w1".into(), attempt: 1 };
    ensure(s.renew_job("j1", &c1, "2026-01-01T00:02:00Z").map_err(err)?, "the holder renews")?;
    ensure(
        s.claim_job(&[], "w3", "2026-01-01T00:01:30Z", "2026-01-01T00:03:00Z").map_err(err)?.is_none(),
        "a renewed lease holds",
    )?;
    let taken =
        s.claim_job(&[], "w3", "2026-01-01T00:02:30Z", "2026-01-01T00:04:00Z").map_err(err)?.ok_or("taken over")?;
    ensure(taken.job.id == "j1" && taken.attempts == 2 && taken.worker.as_deref() == Some("w3"), "taken over")?;
    ensure(!s.renew_job("j1", &c1, "2026-01-01T00:05:00Z").map_err(err)?, "the old worker's claim is lost")?;
    let c3 = Claim { worker: "w3".into(), attempt: 2 };
    ensure(
        s.finish_job("j1", &c3, &JobEnd::Done(serde_json::json!({"proposal": "d-1"})), "2026-01-01T00:03:00Z")
            .map_err(err)?,
        "finished",
    )?;
    let done = s.job("j1").map_err(err)?.ok_or("missing")?;
    ensure(done.state == JobState::Done && done.result == Some(serde_json::json!({"proposal": "d-1"})), "done")?;
    ensure(done.finished_at.as_deref() == Some("2026-01-01T00:03:00Z"), "finish time")?;
    ensure(
        s.claim_job(&[], "w4", "2026-01-02T00:00:00Z", "2026-01-02T00:01:00Z")
            .map_err(err)?
            .is_some_and(|j| j.job.id == "j2"),
        "only the unfinished job is taken over later",
    )?;
    let c4 = Claim { worker: "w4".into(), attempt: 2 };
    let back = JobEnd::Retry { run_after: "2026-01-03T00:00:00Z".into(), why: "lock held".into() };
    ensure(s.finish_job("j2", &c4, &back, "2026-01-02T00:00:10Z").map_err(err)?, "put back")?;
    let j2 = s.job("j2").map_err(err)?.ok_or("missing")?;
    ensure(j2.state == JobState::Queued && j2.error.as_deref() == Some("lock held"), "queued again, with why")?;
    ensure(s.claim_job(&[], "w4", "2026-01-02T12:00:00Z", "2026-01-02T12:01:00Z").map_err(err)?.is_none(), "waits")?;
    let again = s.claim_job(&[], "w5", "2026-01-03T00:00:00Z", "2026-01-03T00:01:00Z").map_err(err)?.ok_or("again")?;
    ensure(again.attempts == 3, "attempts count every claim")?;
    let c5 = Claim { worker: "w5".into(), attempt: 3 };
    ensure(s.release_job("j2", &c5, "2026-01-03T00:00:05Z").map_err(err)?, "released at once")?;
    let released = s.job("j2").map_err(err)?.ok_or("missing")?;
    ensure(released.state == JobState::Queued, "a released job is queued")?;
    ensure(
        s.jobs(&JobFilter { state: Some(JobState::Done), ..Default::default() }).map_err(err)?.len() == 1,
        "filter by state",
    )
}

fn job_keys_enqueue_once<S: Store>(s: &S) -> Result<(), String> {
    let t0 = "2026-01-01T00:00:00Z";
    let (a, new_a) = s.enqueue_job(&job("j1", "schedule", Some("schedule:n:1"), t0)).map_err(err)?;
    let (b, new_b) = s.enqueue_job(&job("j2", "schedule", Some("schedule:n:1"), t0)).map_err(err)?;
    ensure(new_a && !new_b, "the second enqueue of a key is not new")?;
    ensure(a == b && b.job.id == "j1", "and returns the job already enqueued")?;
    ensure(s.jobs(&JobFilter::default()).map_err(err)?.len() == 1, "one job")?;
    ensure(
        s.jobs(&JobFilter { limit: Some(usize::MAX), ..Default::default() }).map_err(err)?.len() == 1,
        "a limit beyond the SQL integer range is no limit",
    )
}

fn a_lost_claim_cannot_finish<S: Store>(s: &S) -> Result<(), String> {
    let t0 = "2026-01-01T00:00:00Z";
    s.enqueue_job(&NewJob { max_attempts: 2, ..job("j1", "dream", None, t0) }).map_err(err)?;
    s.claim_job(&[], "w1", t0, "2026-01-01T00:01:00Z").map_err(err)?.ok_or("claimed")?;
    s.claim_job(&[], "w2", "2026-01-01T00:02:00Z", "2026-01-01T00:03:00Z").map_err(err)?.ok_or("taken over")?;
    let old = Claim { worker: "w1".into(), attempt: 1 };
    ensure(
        !s.finish_job("j1", &old, &JobEnd::Done(serde_json::json!(1)), "2026-01-01T00:02:10Z").map_err(err)?,
        "a worker whose lease was taken over cannot finish the job",
    )?;
    ensure(!s.release_job("j1", &old, "2026-01-01T00:02:10Z").map_err(err)?, "nor release it")?;
    let j = s.job("j1").map_err(err)?.ok_or("missing")?;
    ensure(j.state == JobState::Running && j.worker.as_deref() == Some("w2"), "the new worker still has it")?;
    // w2 dies too: the job has had its two attempts and is failed, not claimed.
    let third = s.claim_job(&[], "w3", "2026-01-01T00:04:00Z", "2026-01-01T00:05:00Z").map_err(err)?;
    ensure(third.is_none(), "a job out of attempts is not claimed again")?;
    let j = s.job("j1").map_err(err)?.ok_or("missing")?;
    ensure(
        j.state == JobState::Failed && j.error.as_deref().is_some_and(|e| e.contains("2 attempts")),
        "it is failed, saying why",
    )
}

fn batched_reads_match_single_reads<S: Store>(s: &S) -> Result<(), String> {
    s.append_sessions(&[
        sample_session("a", "ana", "2026-01-01T10:00:00Z", 3),
        sample_session("b", "bob", "2026-01-01T11:00:00Z", 2),
    ])
    .map_err(err)?;
    s.append_outcomes(&[outcome("a", "result", "failure"), outcome("b", "result", "success"), outcome("c", "r", "x")])
        .map_err(err)?;
    let u = crate::Usage {
        id: 0,
        at: "2026-01-01T00:00:00Z".into(),
        session: Some("b".into()),
        task: None,
        agent: None,
        user: None,
        team: None,
        query: "q".into(),
        memories: vec!["m-1".into()],
    };
    s.append_usage(&u).map_err(err)?;
    let ids: Vec<String> = ["b", "zz", "a"].iter().map(|x| x.to_string()).collect();
    let batched = s.events_of(&ids).map_err(err)?;
    let single: Vec<_> = ids.iter().map(|i| s.events(i)).collect::<Result<_, _>>().map_err(err)?;
    ensure(batched == single, "events_of gives each session's events in the order asked")?;
    let outs = s.outcomes_of(&ids).map_err(err)?;
    ensure(outs.len() == 2 && outs[0].session == "a" && outs[1].session == "b", "outcomes of the sessions, by id")?;
    ensure(s.usages_of(&ids).map_err(err)?.len() == 1, "usages of the sessions")
}

fn concurrent_commits_with_one_expected_revision<S: Store>(s: &S) -> Result<(), String> {
    s.commit(commit_of(vec![create(&mem("base"))])).map_err(err)?;
    for round in 0..5u64 {
        let head = s.head().map_err(err)?;
        let results: Vec<_> = std::thread::scope(|sc| {
            let hs: Vec<_> = (0..4)
                .map(|i| {
                    sc.spawn(move || {
                        s.commit(Commit {
                            expect_rev: Some(head),
                            ..commit_of(vec![create(&mem(&format!("r{round}-t{i}")))])
                        })
                    })
                })
                .collect();
            hs.into_iter().map(|h| h.join().map_err(|_| "a committing thread panicked".to_string())).collect()
        });
        let mut won = 0;
        for r in results {
            match r? {
                Ok(rev) => {
                    ensure(rev.rev == head + 1, "the winner's revision follows the head")?;
                    won += 1;
                }
                Err(StoreError::RevisionMismatch { expected, actual }) => {
                    ensure(expected == head && actual == head + 1, "the loser is told the head moved")?;
                }
                Err(e) => return Err(format!("a losing commit must be RevisionMismatch, got {e:?}")),
            }
        }
        ensure(won == 1, "exactly one of the concurrent commits wins")?;
    }
    // Without expect_rev, all commit, each under its own number.
    std::thread::scope(|sc| {
        for i in 0..8 {
            sc.spawn(move || s.commit(commit_of(vec![create(&mem(&format!("free{i}")))])));
        }
    });
    let revs = s.revisions(1, u64::MAX).map_err(err)?;
    let nums: Vec<u64> = revs.iter().map(|r| r.rev).collect();
    ensure(nums == (1..=14).collect::<Vec<_>>(), "revision numbers have no gap and no duplicate")?;
    let replayed = nocturne_core::revision::replay(&revs);
    ensure(replayed.len() == s.memories().map_err(err)?.len(), "memories match the revisions")
}

fn concurrent_appends_from_many_threads<S: Store>(s: &S) -> Result<(), String> {
    let whole = sample_session("grow", "ana", "2026-01-01T10:00:00Z", 24);
    let mut first = whole.clone();
    first.session.events.truncate(0);
    s.append_sessions(&[first]).map_err(err)?;
    let events = &whole.session.events;
    // Eight writers each append the next event they see missing, by compare-and-append.
    std::thread::scope(|sc| -> Result<(), String> {
        let hs: Vec<_> = (0..8)
            .map(|_| {
                sc.spawn(move || -> Result<(), String> {
                    loop {
                        let n = s.session("grow").map_err(err)?.ok_or("missing")?.event_count;
                        let Some(e) = events.get(n as usize) else { return Ok(()) };
                        match s.append_events("grow", n, std::slice::from_ref(e)) {
                            Ok(_) | Err(StoreError::LengthMismatch { .. }) => {}
                            Err(e) => return Err(format!("a concurrent append failed: {e}")),
                        }
                    }
                })
            })
            .collect();
        for h in hs {
            h.join().map_err(|_| "an appending thread panicked".to_string())??;
        }
        Ok(())
    })?;
    let sess = s.session("grow").map_err(err)?.ok_or("missing")?;
    ensure(sess.event_count == 24, "every event appended once")?;
    ensure(sess.head_hash == chain::head_hex("grow", events), "the chain is the same as one writer's")?;
    // Sessions, outcomes and usage events from many threads: all stored, ids unique.
    std::thread::scope(|sc| {
        for t in 0..6 {
            sc.spawn(move || {
                for i in 0..5 {
                    let id = format!("t{t}-{i}");
                    let _ = s.append_sessions(&[sample_session(&id, "ana", "2026-01-01T10:00:00Z", 2)]);
                    let _ = s.append_sessions(&[sample_session("shared", "ana", "2026-01-01T10:00:00Z", 2)]);
                    let _ = s.append_outcomes(&[outcome(&id, "result", "success")]);
                }
            });
        }
    });
    ensure(s.session_count().map_err(err)? == 32, "30 sessions, the shared one once, and the grown one")?;
    let outs = s.outcomes(None).map_err(err)?;
    let ids: std::collections::BTreeSet<u64> = outs.iter().map(|o| o.id).collect();
    ensure(outs.len() == 30 && ids.len() == 30, "30 outcomes with 30 distinct ids")
}

fn concurrent_lock_has_one_winner<S: Store>(s: &S) -> Result<(), String> {
    for round in 0..5 {
        let name = format!("dream{round}");
        let won: Vec<bool> = std::thread::scope(|sc| {
            let hs: Vec<_> = (0..6)
                .map(|i| {
                    let name = name.clone();
                    sc.spawn(move || {
                        s.try_lock(&name, &format!("h{i}"), "2026-01-01T00:00:00Z", "2026-01-01T00:05:00Z")
                            .unwrap_or(false)
                    })
                })
                .collect();
            hs.into_iter().map(|h| h.join().unwrap_or(false)).collect()
        });
        ensure(won.iter().filter(|w| **w).count() == 1, "exactly one of the contending holders gets the lock")?;
    }
    Ok(())
}

fn concurrent_claims_take_each_job_once<S: Store>(s: &S) -> Result<(), String> {
    for i in 0..20 {
        s.enqueue_job(&job(&format!("j{i:02}"), "dream", None, "2026-01-01T00:00:00Z")).map_err(err)?;
    }
    let claimed: Vec<Vec<String>> = std::thread::scope(|sc| {
        let hs: Vec<_> = (0..5)
            .map(|w| {
                sc.spawn(move || {
                    let mut mine = Vec::new();
                    while let Ok(Some(j)) =
                        s.claim_job(&[], &format!("w{w}"), "2026-01-01T00:00:00Z", "2026-01-01T00:05:00Z")
                    {
                        mine.push(j.job.id);
                    }
                    mine
                })
            })
            .collect();
        hs.into_iter().map(|h| h.join().unwrap_or_default()).collect()
    });
    let mut all: Vec<String> = claimed.into_iter().flatten().collect();
    all.sort();
    let want: Vec<String> = (0..20).map(|i| format!("j{i:02}")).collect();
    ensure(all == want, "every job claimed by exactly one worker")
}

fn outcome(session: &str, dim: &str, label: &str) -> nocturne_core::outcome::Outcome {
    nocturne_core::outcome::Outcome {
        id: 0,
        session: session.into(),
        task: None,
        dimension: dim.into(),
        value: nocturne_core::outcome::OutcomeValue::Label(label.into()),
        taxonomy_version: 1,
        source: nocturne_core::outcome::OutcomeSource::Human,
        by: Some("ana".into()),
        comment: None,
        recorded_at: "2026-01-01T00:00:00Z".into(),
    }
}

fn outcomes_are_appended_with_ids<S: Store>(s: &S) -> Result<(), String> {
    let a =
        s.append_outcomes(&[outcome("s1", "result", "failure"), outcome("s2", "result", "success")]).map_err(err)?;
    let b = s.append_outcomes(&[outcome("s1", "result", "success")]).map_err(err)?;
    ensure(a[0].id < a[1].id && a[1].id < b[0].id, "ids increase in append order")?;
    let all = s.outcomes(None).map_err(err)?;
    ensure(all.len() == 3 && all[0] == a[0] && all[2] == b[0], "all read back in order")?;
    let s1 = s.outcomes(Some("s1")).map_err(err)?;
    ensure(s1.len() == 2 && s1.iter().all(|o| o.session == "s1"), "filter by session keeps history")
}

fn taxonomy_versions_follow_each_other<S: Store>(s: &S) -> Result<(), String> {
    ensure(s.taxonomy().map_err(err)?.is_none(), "no taxonomy at first")?;
    s.put_taxonomy(1, "a", "t1").map_err(err)?;
    ensure(s.put_taxonomy(3, "c", "t3").is_err(), "a version cannot be skipped")?;
    ensure(s.put_taxonomy(1, "again", "t").is_err(), "a version cannot be rewritten")?;
    s.put_taxonomy(2, "b", "t2").map_err(err)?;
    ensure(s.taxonomy().map_err(err)? == Some((2, "b".into())), "the latest is current")?;
    ensure(s.taxonomies().map_err(err)?.len() == 2, "history kept")?;
    let other_outcomes = s.outcomes(None).map_err(err)?;
    ensure(other_outcomes.is_empty(), "no outcomes")?;
    ensure(s.restore_outcomes(&[], &[]).is_err(), "restore needs an empty outcome store")
}

fn vectors_are_cached_and_replaced<S: Store>(s: &S) -> Result<(), String> {
    let v = |id: &str, x: f32| crate::StoredVector {
        id: id.into(),
        embedder: "hashing-v1-3".into(),
        dim: 3,
        digest: format!("d{x}"),
        vector: vec![x, -x, 0.5],
    };
    s.put_vectors("memory", &[v("a", 1.0), v("b", 2.0)]).map_err(err)?;
    s.put_vectors("memory", &[v("a", 3.0)]).map_err(err)?;
    let got = s.vectors("memory").map_err(err)?;
    ensure(got == vec![v("a", 3.0), v("b", 2.0)], "vectors read back exactly, replaced by id")?;
    ensure(s.vectors("event").map_err(err)?.is_empty(), "kinds are separate")?;
    s.clear_vectors("memory").map_err(err)?;
    ensure(s.vectors("memory").map_err(err)?.is_empty(), "cleared")
}

fn usage_events_are_appended<S: Store>(s: &S) -> Result<(), String> {
    let u = |session: Option<&str>| crate::Usage {
        id: 0,
        at: "2026-01-01T00:00:00Z".into(),
        session: session.map(str::to_string),
        task: None,
        agent: Some("coder".into()),
        user: None,
        team: None,
        query: "fix the tests".into(),
        memories: vec!["m-1".into(), "m-2".into()],
    };
    let a = s.append_usage(&u(Some("s1"))).map_err(err)?;
    let b = s.append_usage(&u(None)).map_err(err)?;
    ensure(a < b, "ids increase")?;
    let all = s.usages(None).map_err(err)?;
    ensure(all.len() == 2 && all[0].memories == ["m-1", "m-2"] && all[0].id == a, "read back")?;
    ensure(s.usages(Some("s1")).map_err(err)?.len() == 1, "filter by session")?;
    ensure(matches!(s.restore_usages(&all), Err(StoreError::NotEmpty(_))), "restore needs a store with no usage")
}

fn usage_events_are_restored_verbatim<S: Store>(s: &S) -> Result<(), String> {
    let u = |id: u64, session: &str| crate::Usage {
        id,
        at: "2026-01-01T00:00:00Z".into(),
        session: Some(session.into()),
        task: Some("t".into()),
        agent: None,
        user: Some("ana".into()),
        team: Some("web".into()),
        query: format!("query {id}"),
        memories: vec![format!("m-{id}")],
    };
    let old = vec![u(3, "a"), u(7, "b")];
    s.restore_usages(&old).map_err(err)?;
    ensure(s.usages(None).map_err(err)? == old, "ids and bodies kept")?;
    let next = s.append_usage(&u(0, "c")).map_err(err)?;
    ensure(next > 7, "new usage events are numbered after the restored ones")
}

fn tokens_are_found_by_hash_and_revoked<S: Store>(s: &S) -> Result<(), String> {
    let t = token("t1", "abc");
    s.put_token(&t).map_err(err)?;
    ensure(s.token_by_hash("abc").map_err(err)? == Some(t.clone()), "found by hash")?;
    ensure(s.token_by_hash("zzz").map_err(err)?.is_none(), "unknown hash")?;
    s.revoke_token("t1", "2026-01-02T00:00:00Z").map_err(err)?;
    let r = s.token_by_hash("abc").map_err(err)?.ok_or("revoked tokens are kept")?;
    ensure(r.revoked_at.as_deref() == Some("2026-01-02T00:00:00Z"), "revocation time kept")?;
    ensure(s.revoke_token("t1", "2026-01-03T00:00:00Z").is_err(), "revoking twice is refused")?;
    ensure(s.tokens().map_err(err)?.len() == 1, "listed")
}

fn open_sessions_grow_at_their_end<S: Store>(s: &S) -> Result<(), String> {
    let whole = sample_session("s1", "ana", "2026-01-01T10:00:00Z", 5);
    let mut first = whole.clone();
    first.session.events.truncate(2);
    s.append_sessions(&[first]).map_err(err)?;
    let before = s.events("s1").map_err(err)?;
    let n = s.append_events("s1", 2, &whole.session.events[2..]).map_err(err)?;
    ensure(n == 5, "new count returned")?;
    let sess = s.session("s1").map_err(err)?.ok_or("missing")?;
    ensure(sess.event_count == 5, "count advanced")?;
    ensure(
        sess.head_hash == chain::head_hex("s1", &whole.session.events),
        "the chain is the same as if ingested whole",
    )?;
    let after = s.events("s1").map_err(err)?;
    ensure(after[..2] == before[..], "earlier events unchanged")?;
    ensure(
        matches!(s.append_events("nope", 0, &whole.session.events[..1]), Err(StoreError::NotFound { .. })),
        "unknown session",
    )?;
    let ended = s.session("s1").map_err(err)?.ok_or("missing")?.ended_at;
    ensure(ended == Some("2026-01-01T10:00:00Z".into()), "the end time follows the last event")
}

fn compare_and_append_refuses_a_stale_length<S: Store>(s: &S) -> Result<(), String> {
    let whole = sample_session("s1", "ana", "2026-01-01T10:00:00Z", 6);
    let mut first = whole.clone();
    first.session.events.truncate(3);
    s.append_sessions(&[first]).map_err(err)?;
    let before = (s.session("s1").map_err(err)?, s.events("s1").map_err(err)?);
    for stale in [0u32, 2, 4] {
        match s.append_events("s1", stale, &whole.session.events[3..]) {
            Err(StoreError::LengthMismatch { session, expected, actual }) => {
                ensure(session == "s1" && expected == stale && actual == 3, "the mismatch names both counts")?;
            }
            other => return Err(format!("expected LengthMismatch for expected_len {stale}, got {other:?}")),
        }
        ensure(
            (s.session("s1").map_err(err)?, s.events("s1").map_err(err)?) == before,
            "a refused append changes nothing",
        )?;
    }
    ensure(s.append_events("s1", 3, &[]).map_err(err)? == 3, "appending nothing at the right length is a no-op")?;
    ensure(
        matches!(s.append_events("s1", 1, &[]), Err(StoreError::LengthMismatch { .. })),
        "even an empty append checks the length",
    )?;
    ensure(s.append_events("s1", 3, &whole.session.events[3..5]).map_err(err)? == 5, "first writer wins")?;
    ensure(
        matches!(
            s.append_events("s1", 3, &whole.session.events[5..]),
            Err(StoreError::LengthMismatch { actual: 5, .. })
        ),
        "a second writer that saw the old length is refused",
    )?;
    ensure(s.append_events("s1", 5, &whole.session.events[5..]).map_err(err)? == 6, "and succeeds after re-reading")?;
    let sess = s.session("s1").map_err(err)?.ok_or("missing")?;
    ensure(sess.head_hash == chain::head_hex("s1", &whole.session.events), "the chain is the whole session's")
}

/// A sub-agent session of `parent` for the checks.
pub fn sample_child(id: &str, parent: &str, start: &str, n: usize) -> SessionRecord {
    let mut rec = sample_session(id, "ana", start, n);
    rec.session.parent = Some(parent.into());
    rec.session.subagent = Some(Subagent {
        agent_id: id.rsplit('/').next().unwrap_or(id).into(),
        agent_type: Some("Explore".into()),
        description: Some("look around".into()),
        compaction: false,
    });
    rec.session.counterpart = Some(Counterpart::Agent);
    rec
}

fn parent_links_round_trip<S: Store>(s: &S) -> Result<(), String> {
    let mut main = sample_session("p", "ana", "2026-01-01T10:00:00Z", 2);
    main.session.counterpart = Some(Counterpart::Customer);
    let child = sample_child("p/agent-a1", "p", "2026-01-01T10:01:00Z", 3);
    s.append_sessions(&[child.clone(), main]).map_err(err)?;
    let c = s.session("p/agent-a1").map_err(err)?.ok_or("child not found")?;
    ensure(c.parent.as_deref() == Some("p"), "parent kept")?;
    ensure(c.subagent == child.session.subagent, "sub-agent kept exactly")?;
    ensure(c.counterpart == Some(Counterpart::Agent), "counterpart kept")?;
    let p = s.session("p").map_err(err)?.ok_or("parent not found")?;
    ensure(p.parent.is_none() && p.subagent.is_none(), "a main session has no parent")?;
    ensure(p.counterpart == Some(Counterpart::Customer), "counterpart of the main session kept")?;
    let listed = s.sessions(&SessionFilter::default()).map_err(err)?;
    ensure(listed.iter().any(|x| x == &c), "listing returns the same header")?;
    let mut compaction = sample_child("p/agent-acompact-1", "p", "2026-01-01T10:02:00Z", 1);
    if let Some(sa) = compaction.session.subagent.as_mut() {
        sa.compaction = true;
        sa.agent_type = None;
        sa.description = None;
    }
    s.append_sessions(std::slice::from_ref(&compaction)).map_err(err)?;
    let got = s.session("p/agent-acompact-1").map_err(err)?.ok_or("missing")?;
    ensure(got.subagent == compaction.session.subagent, "compaction flag and absent fields kept")
}

fn children_are_listed_by_parent<S: Store>(s: &S) -> Result<(), String> {
    s.append_sessions(&[
        sample_child("p/agent-b", "p", "2026-01-01T10:05:00Z", 1),
        sample_session("p", "ana", "2026-01-01T10:00:00Z", 1),
        sample_child("p/agent-a", "p", "2026-01-01T10:01:00Z", 1),
        sample_child("q/agent-c", "q", "2026-01-01T10:02:00Z", 1),
        sample_child("p/agent-a/agent-d", "p/agent-a", "2026-01-01T10:03:00Z", 1),
    ])
    .map_err(err)?;
    let ids = |v: Vec<nocturne_core::Session>| v.into_iter().map(|x| x.id).collect::<Vec<_>>();
    ensure(
        ids(s.children("p").map_err(err)?) == ["p/agent-a", "p/agent-b"],
        "children oldest first, only direct ones",
    )?;
    ensure(ids(s.children("q").map_err(err)?) == ["q/agent-c"], "children of a parent that is not stored")?;
    ensure(ids(s.children("p/agent-a").map_err(err)?) == ["p/agent-a/agent-d"], "grandchildren under their parent")?;
    ensure(s.children("p/agent-b").map_err(err)?.is_empty(), "a leaf has no children")?;
    let f = SessionFilter { parent: Some("p".into()), user: Some("bob".into()), ..Default::default() };
    ensure(s.sessions(&f).map_err(err)?.is_empty(), "the parent filter combines with the others")
}

fn restore_session_keeps_the_header_verbatim<S: Store>(s: &S) -> Result<(), String> {
    let rec = sample_child("p/agent-a", "p", "2026-01-01T10:00:00Z", 3);
    let header = nocturne_core::Session {
        id: rec.session.id.clone(),
        format: rec.session.format.clone(),
        source: rec.session.source.clone(),
        user: rec.session.user.clone(),
        agent: None,
        team: Some("core".into()),
        title: Some("restored".into()),
        parent: rec.session.parent.clone(),
        subagent: rec.session.subagent.clone(),
        counterpart: rec.session.counterpart,
        event_count: 3,
        head_hash: chain::head_hex("p/agent-a", &rec.session.events),
        started_at: "2025-12-31T23:00:00Z".into(),
        ended_at: Some("2026-01-02T00:00:00Z".into()),
        ingested_at: "2026-01-03T00:00:00Z".into(),
        closed_at: None,
    };
    let mut forged = header.clone();
    forged.head_hash = chain::head_hex("p/agent-a", &rec.session.events[..2]);
    ensure(s.restore_session(&forged, &rec.session.events).is_err(), "a head hash that does not match is refused")?;
    let mut short = header.clone();
    short.event_count = 2;
    ensure(s.restore_session(&short, &rec.session.events).is_err(), "a wrong event count is refused")?;
    ensure(s.session("p/agent-a").map_err(err)?.is_none(), "nothing stored by a refused restore")?;
    ensure(s.restore_session(&header, &rec.session.events).map_err(err)? == Appended::Added { events: 3 }, "restored")?;
    ensure(s.session("p/agent-a").map_err(err)?.as_ref() == Some(&header), "the header is kept verbatim")?;
    let bodies: Vec<NewEvent> = s.events("p/agent-a").map_err(err)?.into_iter().map(|e| e.body).collect();
    ensure(bodies == rec.session.events, "events restored exactly")?;
    ensure(s.restore_session(&header, &rec.session.events).map_err(err)? == Appended::Skipped, "a stored id is skipped")
}

fn a_lock_has_one_holder_until_its_lease_ends<S: Store>(s: &S) -> Result<(), String> {
    let t0 = "2026-01-01T00:00:00Z";
    let t1 = "2026-01-01T00:05:00Z";
    let t2 = "2026-01-01T00:10:00Z";
    ensure(s.try_lock("dream", "p1", t0, t1).map_err(err)?, "a free lock is taken")?;
    ensure(!s.try_lock("dream", "p2", t0, t1).map_err(err)?, "a held lock is refused to another holder")?;
    ensure(s.try_lock("dream", "p1", t0, t2).map_err(err)?, "the holder renews its lease")?;
    ensure(
        s.try_lock("dream", "p2", "2026-01-01T00:11:00Z", "2026-01-01T00:20:00Z").map_err(err)?,
        "an expired lease (crashed holder) is taken over",
    )?;
    s.unlock("dream", "p1").map_err(err)?;
    ensure(!s.try_lock("dream", "p3", t2, t2).map_err(err)?, "unlock by a non-holder changes nothing")?;
    s.unlock("dream", "p2").map_err(err)?;
    ensure(s.try_lock("dream", "p3", t2, t2).map_err(err)?, "released")
}

fn run_record(id: &str) -> crate::DreamRun {
    crate::DreamRun {
        id: id.into(),
        schedule: "nightly".into(),
        state: "running".into(),
        attempt: 1,
        started_at: "2026-01-01T03:00:00Z".into(),
        finished_at: None,
        trigger: "cron".into(),
        sessions_seen: 10,
        proposal: None,
        applied_revision: None,
        summary: None,
        error: None,
        next_retry_at: None,
    }
}

fn token(id: &str, hash: &str) -> crate::TokenRecord {
    crate::TokenRecord {
        id: id.into(),
        hash: hash.into(),
        scope: "read".into(),
        team: Some("web".into()),
        created_at: "2026-01-01T00:00:00Z".into(),
        revoked_at: None,
    }
}

fn runs_are_recorded_and_updated<S: Store>(s: &S) -> Result<(), String> {
    let mut r = crate::DreamRun {
        id: "r1".into(),
        schedule: "nightly".into(),
        state: "running".into(),
        attempt: 1,
        started_at: "2026-01-01T03:00:00Z".into(),
        finished_at: None,
        trigger: "cron".into(),
        sessions_seen: 10,
        proposal: None,
        applied_revision: None,
        summary: None,
        error: None,
        next_retry_at: None,
    };
    s.insert_run(&r).map_err(err)?;
    r.state = "done".into();
    r.proposal = Some("d-1".into());
    r.finished_at = Some("2026-01-01T03:01:00Z".into());
    s.update_run(&r).map_err(err)?;
    let mut r2 = run_record("r2");
    r2.started_at = "2026-01-01T04:00:00Z".into();
    s.insert_run(&r2).map_err(err)?;
    let runs = s.runs().map_err(err)?;
    ensure(runs == vec![r2, r], "runs newest first, updated in place")
}

fn a_closed_session_takes_no_more_events<S: Store>(s: &S) -> Result<(), String> {
    let whole = sample_session("s1", "ana", "2026-01-01T10:00:00Z", 4);
    let mut first = whole.clone();
    first.session.events.truncate(2);
    s.append_sessions(&[first]).map_err(err)?;
    ensure(s.session("s1").map_err(err)?.ok_or("missing")?.closed_at.is_none(), "a new session is open")?;
    s.append_events("s1", 2, &whole.session.events[2..3]).map_err(err)?;
    s.close_session("s1", "2026-01-01T11:00:00Z").map_err(err)?;
    let closed = s.session("s1").map_err(err)?.ok_or("missing")?;
    ensure(closed.closed_at.as_deref() == Some("2026-01-01T11:00:00Z"), "the close time is kept")?;
    ensure(closed.event_count == 3, "closing keeps the events")?;
    let events = s.events("s1").map_err(err)?;
    ensure(
        matches!(s.append_events("s1", 3, &whole.session.events[3..]), Err(StoreError::Closed { .. })),
        "a closed session refuses an append",
    )?;
    ensure(s.events("s1").map_err(err)? == events, "nothing was appended")?;
    s.close_session("s1", "2026-01-02T00:00:00Z").map_err(err)?;
    ensure(
        s.session("s1").map_err(err)?.ok_or("missing")?.closed_at.as_deref() == Some("2026-01-01T11:00:00Z"),
        "closing again changes nothing",
    )?;
    ensure(
        matches!(s.close_session("nope", "2026-01-01T00:00:00Z"), Err(StoreError::NotFound { .. })),
        "an unknown session cannot be closed",
    )?;
    // A closed session restored from an export stays closed.
    let evs: Vec<NewEvent> = events.iter().map(|e| e.body.clone()).collect();
    let mut header = closed.clone();
    header.id = "s2".into();
    header.head_hash = chain::head_hex("s2", &evs);
    s.restore_session(&header, &evs).map_err(err)?;
    let restored = s.session("s2").map_err(err)?.ok_or("missing")?;
    ensure(restored.closed_at == closed.closed_at, "restore keeps the closed state")?;
    ensure(matches!(s.append_events("s2", 3, &evs[..1]), Err(StoreError::Closed { .. })), "and it stays final")
}

fn sample_run(id: &str, team: Option<&str>, at: &str) -> crate::AgentRun {
    crate::AgentRun {
        id: id.into(),
        agent: "lead".into(),
        task: "sum the numbers".into(),
        team: team.map(str::to_string),
        user: Some("ana".into()),
        state: "running".into(),
        created_at: at.into(),
        updated_at: at.into(),
        cancel_requested_at: None,
        result: None,
        runner: Some("host:1:ab".into()),
        setup: serde_json::json!({"agents": [{"name": "lead"}]}),
    }
}

fn agent_runs_round_trip_and_a_cancellation_sticks<S: Store>(s: &S) -> Result<(), String> {
    let a = sample_run("r1", Some("web"), "2026-01-01T10:00:00Z");
    let b = sample_run("r2", Some("shop"), "2026-01-02T10:00:00Z");
    s.put_agent_run(&a).map_err(err)?;
    s.put_agent_run(&b).map_err(err)?;
    ensure(s.agent_run("r1").map_err(err)? == Some(a.clone()), "a run reads back as written")?;
    ensure(s.agent_run("nope").map_err(err)?.is_none(), "an unknown run")?;
    let ids = |f: &crate::RunFilter| -> Result<Vec<String>, String> {
        Ok(s.agent_runs(f).map_err(err)?.into_iter().map(|r| r.id).collect())
    };
    ensure(ids(&crate::RunFilter::default())? == ["r2", "r1"], "newest first")?;
    ensure(ids(&crate::RunFilter { team: Some("web".into()), ..Default::default() })? == ["r1"], "by team")?;
    ensure(ids(&crate::RunFilter { limit: Some(1), ..Default::default() })? == ["r2"], "limited")?;
    ensure(ids(&crate::RunFilter { limit: Some(usize::MAX), ..Default::default() })?.len() == 2, "a huge limit")?;
    let mut cancel = a.clone();
    cancel.cancel_requested_at = Some("2026-01-01T10:05:00Z".into());
    s.put_agent_run(&cancel).map_err(err)?;
    // The runner, unaware, writes its progress with the record it read before.
    let mut progress = a.clone();
    progress.updated_at = "2026-01-01T10:06:00Z".into();
    progress.state = "completed".into();
    progress.result = Some(serde_json::json!({"status": "completed"}));
    s.put_agent_run(&progress).map_err(err)?;
    let stored = s.agent_run("r1").map_err(err)?.ok_or("missing")?;
    ensure(stored.cancel_requested_at.as_deref() == Some("2026-01-01T10:05:00Z"), "a cancellation is never undone")?;
    ensure(stored.state == "completed" && stored.result == progress.result, "the rest of the record is replaced")?;
    ensure(ids(&crate::RunFilter { state: Some("completed".into()), ..Default::default() })? == ["r1"], "by state")
}

fn journal_entry(run: &str, agent: &str, step: u32, phase: &str, body: serde_json::Value) -> crate::JournalEntry {
    crate::JournalEntry {
        seq: 0,
        run: run.into(),
        agent: agent.into(),
        step,
        phase: phase.into(),
        kind: "model".into(),
        digest: format!("d-{agent}-{step}"),
        at: "2026-01-01T10:00:00Z".into(),
        body,
    }
}

fn the_journal_is_append_only_and_retries_are_safe<S: Store>(s: &S) -> Result<(), String> {
    let e1 = journal_entry("r1", "root", 1, "finished", serde_json::json!({"text": "a"}));
    let e2 = journal_entry("r1", "root/1", 1, "started", serde_json::json!({"tool": "x"}));
    let other = journal_entry("r2", "root", 1, "finished", serde_json::json!({"text": "b"}));
    let seqs = s.append_journal(&[e1.clone(), e2.clone()]).map_err(err)?;
    ensure(seqs.len() == 2 && seqs[0] < seqs[1], "seqs follow the append order")?;
    s.append_journal(&[other]).map_err(err)?;
    let all = s.journal("r1", 0).map_err(err)?;
    ensure(all.len() == 2, "one run's entries only")?;
    ensure(all[0].seq == seqs[0] && all[0].body == e1.body && all[0].agent == "root", "entries read back")?;
    ensure(all[1].step == 1 && all[1].phase == "started" && all[1].digest == e2.digest, "with their key and digest")?;
    ensure(s.journal("r1", seqs[0]).map_err(err)?.len() == 1, "entries after a seq")?;
    // A retried write of the same entries is no change and gives the same seqs.
    ensure(s.append_journal(&[e1.clone(), e2]).map_err(err)? == seqs, "a retried write is safe")?;
    ensure(s.journal("r1", 0).map_err(err)?.len() == 2, "and stores nothing twice")?;
    // Another content for a stored key is refused, and nothing of the batch is stored.
    let new = journal_entry("r1", "root", 2, "finished", serde_json::json!({"text": "c"}));
    let mut changed = e1;
    changed.body = serde_json::json!({"text": "changed"});
    ensure(
        matches!(s.append_journal(&[new, changed]), Err(StoreError::JournalConflict { step: 1, .. })),
        "a conflicting entry is refused",
    )?;
    ensure(s.journal("r1", 0).map_err(err)?.len() == 2, "the batch is all or nothing")
}

/// A session header as an export carries it, for the events of `rec`.
fn restored_header(rec: &SessionRecord) -> nocturne_core::Session {
    let (first, last) = rec.session.time_span();
    nocturne_core::Session {
        id: rec.session.id.clone(),
        format: rec.session.format.clone(),
        source: rec.session.source.clone(),
        user: rec.session.user.clone(),
        agent: rec.session.agent.clone(),
        team: rec.session.team.clone(),
        title: rec.session.title.clone(),
        parent: rec.session.parent.clone(),
        subagent: rec.session.subagent.clone(),
        counterpart: rec.session.counterpart,
        event_count: rec.session.events.len() as u32,
        head_hash: chain::head_hex(&rec.session.id, &rec.session.events),
        started_at: first.unwrap_or_else(|| rec.ingested_at.clone()),
        ended_at: last,
        ingested_at: rec.ingested_at.clone(),
        closed_at: None,
    }
}

fn usage_event(id: u64, session: &str) -> crate::Usage {
    crate::Usage {
        id,
        at: "2026-01-01T00:00:00Z".into(),
        session: Some(session.into()),
        task: None,
        agent: None,
        user: Some("ana".into()),
        team: None,
        query: format!("query {id}"),
        memories: vec![],
    }
}

fn an_import_writes_every_part<S: Store>(s: &S) -> Result<(), String> {
    let whole = sample_session("grown", "ana", "2026-01-01T10:00:00Z", 4);
    let mut first = whole.clone();
    first.session.events.truncate(2);
    s.append_sessions(&[first]).map_err(err)?;
    let new = sample_session("new", "bob", "2026-01-02T10:00:00Z", 3);
    let mut o = outcome("new", "result", "success");
    o.id = 5;
    let batch = ImportBatch {
        restore_sessions: vec![(restored_header(&new), new.session.events.clone())],
        grow_sessions: vec![SessionGrowth {
            session: "grown".into(),
            expected_len: 2,
            events: whole.session.events[2..].to_vec(),
        }],
        close_sessions: vec![("grown".into(), "2026-01-03T00:00:00Z".into())],
        memory: MemoryImport::Restore(revisions_fixture()),
        outcomes: Some((vec![(1, "t".into(), "2026-01-01T00:00:00Z".into())], vec![o.clone()])),
        usages: Some(vec![usage_event(4, "new")]),
    };
    s.import(&batch).map_err(err)?;
    ensure(s.session("new").map_err(err)?.is_some_and(|h| h.event_count == 3), "a restored session")?;
    let grown = s.session("grown").map_err(err)?.ok_or("the grown session")?;
    ensure(grown.event_count == 4 && grown.closed_at.is_some(), "a session grown and closed")?;
    ensure(grown.head_hash == chain::head_hex("grown", &whole.session.events), "the grown chain")?;
    ensure(s.revisions(1, u64::MAX).map_err(err)? == revisions_fixture(), "revisions restored")?;
    ensure(s.outcomes(None).map_err(err)? == vec![o], "outcomes restored with their ids")?;
    ensure(s.taxonomies().map_err(err)?.len() == 1, "taxonomy restored")?;
    ensure(s.usages(None).map_err(err)? == vec![usage_event(4, "new")], "usage restored")?;
    // Into a store with memory, an import commits one revision.
    let m = mem("imported");
    let c = Commit { changes: vec![create(&m)], ..commit_of(vec![]) };
    s.import(&ImportBatch { memory: MemoryImport::Commit(c), ..Default::default() }).map_err(err)?;
    ensure(s.head().map_err(err)? == 3 && s.memory(&m.id).map_err(err)? == Some(m), "a committed revision")
}

fn a_refused_import_writes_nothing<S: Store>(s: &S) -> Result<(), String> {
    let a = mem("already");
    s.commit(commit_of(vec![create(&a)])).map_err(err)?;
    let base = sample_session("base", "ana", "2026-01-01T10:00:00Z", 2);
    s.append_sessions(std::slice::from_ref(&base)).map_err(err)?;
    let new = sample_session("new", "bob", "2026-01-02T10:00:00Z", 3);
    let more = sample_session("base", "ana", "2026-01-01T10:00:00Z", 4);
    let full = ImportBatch {
        restore_sessions: vec![(restored_header(&new), new.session.events.clone())],
        grow_sessions: vec![SessionGrowth {
            session: "base".into(),
            expected_len: 2,
            events: more.session.events[2..].to_vec(),
        }],
        close_sessions: vec![("base".into(), "2026-01-03T00:00:00Z".into())],
        memory: MemoryImport::Nothing,
        outcomes: Some((
            vec![(1, "t".into(), "2026-01-01T00:00:00Z".into())],
            vec![outcome("new", "result", "failure")],
        )),
        usages: Some(vec![usage_event(1, "new")]),
    };
    let unchanged = |s: &S, why: &str| -> Result<(), String> {
        ensure(s.session("new").map_err(err)?.is_none(), &format!("{why}: no session restored"))?;
        let b = s.session("base").map_err(err)?.ok_or("base")?;
        ensure(b.event_count == 2 && b.closed_at.is_none(), &format!("{why}: no session grown or closed"))?;
        ensure(s.outcomes(None).map_err(err)?.is_empty(), &format!("{why}: no outcome"))?;
        ensure(s.taxonomies().map_err(err)?.is_empty(), &format!("{why}: no taxonomy"))?;
        ensure(s.usages(None).map_err(err)?.is_empty(), &format!("{why}: no usage event"))?;
        ensure(s.head().map_err(err)? == 1, &format!("{why}: no revision"))
    };
    // The memory part is refused last: a store with revisions takes no restore.
    let refused = ImportBatch { memory: MemoryImport::Restore(revisions_fixture()), ..full.clone() };
    ensure(matches!(s.import(&refused), Err(StoreError::NotEmpty(_))), "a restore into a store with memory")?;
    unchanged(s, "restore refused")?;
    // A stale compare-and-append length refuses the whole batch.
    let mut stale = full.clone();
    stale.grow_sessions[0].expected_len = 1;
    ensure(matches!(s.import(&stale), Err(StoreError::LengthMismatch { .. })), "a stale length")?;
    unchanged(s, "stale length")?;
    // A session that is already stored refuses the whole batch.
    let mut dup = full.clone();
    dup.restore_sessions.push((restored_header(&base), base.session.events.clone()));
    ensure(matches!(s.import(&dup), Err(StoreError::Exists { .. })), "a session already stored")?;
    unchanged(s, "session already stored")?;
    // A usage restore into a store with usage refuses outcomes and sessions too.
    s.append_usage(&usage_event(0, "base")).map_err(err)?;
    ensure(matches!(s.import(&full), Err(StoreError::NotEmpty(_))), "usage into a store with usage")?;
    ensure(s.session("new").map_err(err)?.is_none() && s.outcomes(None).map_err(err)?.is_empty(), "nothing")?;
    Ok(())
}

/// A session whose events have distinct times, the first without one.
fn timed_session(id: &str, n: usize) -> SessionRecord {
    let mut rec = sample_session(id, "ana", "2026-01-01T10:00:00Z", n);
    for (i, e) in rec.session.events.iter_mut().enumerate() {
        e.timestamp = (i > 0).then(|| format!("2026-01-01T10:{i:02}:00Z"));
    }
    rec
}

/// A new-session target: the header of `rec` without its events.
fn new_target(rec: &SessionRecord) -> StreamTarget {
    let started_at = rec.session.time_span().0;
    let mut header = rec.clone();
    header.session.events.clear();
    StreamTarget::New { record: Box::new(header), started_at }
}

fn a_streamed_write_is_one_write<S: Store>(s: &S) -> Result<(), String> {
    // A new session in batches of 3 and a stored one grown in batches of 2, interleaved.
    let new = timed_session("new", 10);
    let grown = timed_session("grown", 9);
    let mut first = grown.clone();
    first.session.events.truncate(4);
    s.append_sessions(&[first]).map_err(err)?;
    let targets = [new_target(&new), StreamTarget::Extend { session: "grown".into(), expected_len: 4 }];
    let mut a = new.session.events.chunks(3);
    let mut b = grown.session.events[4..].chunks(2);
    let counts = s
        .write_streamed(&targets, &mut |put| loop {
            let (x, y) = (a.next(), b.next());
            if x.is_none() && y.is_none() {
                return Ok(());
            }
            if let Some(x) = x {
                put(0, x)?;
            }
            if let Some(y) = y {
                put(1, y)?;
            }
        })
        .map_err(err)?;
    ensure(counts == vec![10, 9], "each target's event count after the write is returned")?;
    // As one append would have stored them.
    let whole = sample_session("whole", "ana", "x", 0);
    let mut rec = new.clone();
    rec.session.id = "whole".into();
    s.append_sessions(&[SessionRecord { session: rec.session, ingested_at: whole.ingested_at }]).map_err(err)?;
    let (streamed, one) =
        (s.session("new").map_err(err)?.ok_or("missing")?, s.session("whole").map_err(err)?.ok_or("missing")?);
    ensure(streamed.head_hash == chain::head_hex("new", &new.session.events), "the chain is the core chain")?;
    ensure(streamed.event_count == 10, "every event counted")?;
    ensure(
        (&streamed.started_at, &streamed.ended_at, &streamed.user, &streamed.source)
            == (&one.started_at, &one.ended_at, &one.user, &one.source),
        "the header is the one a single append stores",
    )?;
    let bodies: Vec<NewEvent> = s.events("new").map_err(err)?.into_iter().map(|e| e.body).collect();
    ensure(bodies == new.session.events, "the events read back exactly, in order")?;
    let g = s.session("grown").map_err(err)?.ok_or("missing")?;
    ensure(g.event_count == 9, "the grown session has every event")?;
    ensure(g.head_hash == chain::head_hex("grown", &grown.session.events), "the grown chain is one writer's")?;
    ensure(g.ended_at.as_deref() == Some("2026-01-01T10:08:00Z"), "the end time moves to the last event")?;
    // The events of a new target's record are written first; no events at all is an empty session.
    let mut with_first = new_target(&timed_session("pre", 5));
    if let StreamTarget::New { record, .. } = &mut with_first {
        record.session.events = timed_session("pre", 5).session.events[..2].to_vec();
    }
    let rest = timed_session("pre", 5).session.events[2..].to_vec();
    let empty = new_target(&sample_session("empty", "ana", "x", 0));
    let counts = s.write_streamed(&[with_first, empty], &mut |put| put(0, &rest)).map_err(err)?;
    ensure(counts == vec![5, 0], "the record's events, then the batches")?;
    let pre = s.session("pre").map_err(err)?.ok_or("missing")?;
    ensure(pre.head_hash == chain::head_hex("pre", &timed_session("pre", 5).session.events), "one chain")?;
    let e = s.session("empty").map_err(err)?.ok_or("an empty streamed session is stored")?;
    ensure(e.event_count == 0 && e.started_at == "2026-01-01T00:00:00Z", "an empty session starts when ingested")
}

fn a_failed_streamed_write_stores_nothing<S: Store>(s: &S) -> Result<(), String> {
    let new = timed_session("new", 8);
    let grown = timed_session("grown", 8);
    let mut first = grown.clone();
    first.session.events.truncate(3);
    s.append_sessions(&[first]).map_err(err)?;
    let before = s.session("grown").map_err(err)?;
    let before_events = s.events("grown").map_err(err)?;
    let targets = [new_target(&new), StreamTarget::Extend { session: "grown".into(), expected_len: 3 }];
    let unchanged = |what: &str| -> Result<(), String> {
        ensure(s.session("new").map_err(err)?.is_none(), &format!("{what}: the new session is not stored"))?;
        ensure(s.session_count().map_err(err)? == 1, &format!("{what}: no session added"))?;
        ensure(s.session("grown").map_err(err)? == before, &format!("{what}: the grown session is unchanged"))?;
        ensure(s.events("grown").map_err(err)? == before_events, &format!("{what}: no event appended"))
    };
    // The source fails after two batches of each.
    let r = s.write_streamed(&targets, &mut |put| {
        put(0, &new.session.events[..3])?;
        put(1, &grown.session.events[3..5])?;
        put(0, &new.session.events[3..6])?;
        Err(StoreError::Stopped("the file could not be read again".into()))
    });
    ensure(matches!(r, Err(StoreError::Stopped(_))), &format!("the source's error is returned, got {r:?}"))?;
    unchanged("a source that fails midway")?;
    // A batch for no target, passed over by a source that carries on.
    let r = s.write_streamed(&targets, &mut |put| {
        put(0, &new.session.events[..3])?;
        let _ = put(7, &new.session.events[3..]);
        put(1, &grown.session.events[3..])
    });
    ensure(r.is_err(), "a refused batch fails the write even when the source carries on")?;
    unchanged("a refused batch")?;
    // Events that do not start at the declared time.
    let mut wrong = new_target(&new);
    if let StreamTarget::New { started_at, .. } = &mut wrong {
        *started_at = Some("2025-01-01T00:00:00Z".into());
    }
    let r = s.write_streamed(&[wrong], &mut |put| put(0, &new.session.events));
    ensure(matches!(r, Err(StoreError::Corrupt(_))), &format!("a wrong start is refused, got {r:?}"))?;
    unchanged("a wrong start")?;
    // One session given twice.
    let twice = [StreamTarget::Extend { session: "grown".into(), expected_len: 3 }, targets[1].clone()];
    ensure(s.write_streamed(&twice, &mut |_| Ok(())).is_err(), "a session given twice is refused")?;
    unchanged("a session given twice")
}

fn a_streamed_write_detects_another_writer<S: Store>(s: &S) -> Result<(), String> {
    let grown = timed_session("grown", 8);
    let mut first = grown.clone();
    first.session.events.truncate(3);
    s.append_sessions(&[first]).map_err(err)?;
    let called = std::cell::Cell::new(false);
    let mut feed = |_: &mut crate::PutBatch<'_>| -> crate::Result<()> {
        called.set(true);
        Ok(())
    };
    // Stored already, a stale length, a closed session, an unknown one: refused before any batch is asked for.
    let r = s.write_streamed(&[new_target(&grown)], &mut feed);
    ensure(matches!(r, Err(StoreError::Exists { .. })), &format!("a stored id is not new, got {r:?}"))?;
    let r = s.write_streamed(&[StreamTarget::Extend { session: "grown".into(), expected_len: 2 }], &mut feed);
    ensure(matches!(r, Err(StoreError::LengthMismatch { actual: 3, .. })), &format!("a stale length, got {r:?}"))?;
    let r = s.write_streamed(&[StreamTarget::Extend { session: "nope".into(), expected_len: 0 }], &mut feed);
    ensure(matches!(r, Err(StoreError::NotFound { .. })), &format!("an unknown session, got {r:?}"))?;
    ensure(!called.get(), "no batch is asked for when a target is refused")?;
    ensure(s.events("grown").map_err(err)?.len() == 3, "nothing appended")?;
    // Another writer during the write: it waits, then finds the session moved (one of them wins, never both).
    let new = timed_session("new", 6);
    let rival = timed_session("new", 2);
    std::thread::scope(|sc| -> Result<(), String> {
        let mut rivals = Vec::new();
        let counts = s
            .write_streamed(
                &[StreamTarget::Extend { session: "grown".into(), expected_len: 3 }, new_target(&new)],
                &mut |put| {
                    put(0, &grown.session.events[3..5])?;
                    put(1, &new.session.events[..3])?;
                    let extra = &grown.session.events[3..4];
                    rivals.push(sc.spawn(move || s.append_events("grown", 3, extra).map(|_| ())));
                    let r = rival.clone();
                    rivals.push(sc.spawn(move || match s.append_sessions(&[r]) {
                        Ok(v) if v == vec![Appended::Skipped] => {
                            Err(StoreError::Exists { what: "session", id: "new".into() })
                        }
                        other => other.map(|_| ()),
                    }));
                    put(0, &grown.session.events[5..])?;
                    put(1, &new.session.events[3..])
                },
            )
            .map_err(err)?;
        ensure(counts == vec![8, 6], "the streamed write lands whole")?;
        for h in rivals {
            let r = h.join().map_err(|_| "a rival writer panicked".to_string())?;
            ensure(r.is_err(), &format!("a rival writer during the streamed write is refused, got {r:?}"))?;
        }
        Ok(())
    })?;
    ensure(
        s.session("grown").map_err(err)?.ok_or("missing")?.head_hash == chain::head_hex("grown", &grown.session.events),
        "the grown chain is the streamed one",
    )?;
    ensure(
        s.session("new").map_err(err)?.ok_or("missing")?.head_hash == chain::head_hex("new", &new.session.events),
        "the new session is the streamed one",
    )?;
    s.close_session("grown", "2026-01-02T00:00:00Z").map_err(err)?;
    let r = s.write_streamed(&[StreamTarget::Extend { session: "grown".into(), expected_len: 8 }], &mut |_| Ok(()));
    ensure(matches!(r, Err(StoreError::Closed { .. })), &format!("a closed session, got {r:?}"))
}
