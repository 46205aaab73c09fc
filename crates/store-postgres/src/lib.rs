//! PostgreSQL: one store that many Nocturne servers and workers share.
//!
//! Synchronous, like the [`Store`] trait: the `postgres` client over a
//! small pool of connections (see `pool.rs`). Every guarantee of the SQLite
//! store holds here, checked by the same conformance suite, and the ones
//! that many writers make necessary: commits are serialized by a table lock
//! on `revisions` (two commits expecting the same head: one wins, the other
//! is told the store moved); a session grows under a row lock; locks and
//! job claims are single statements (`FOR UPDATE SKIP LOCKED`); times that
//! are compared are `timestamptz`.
//!
//! **Invariant:** the database itself refuses UPDATE, DELETE and TRUNCATE
//! of sessions (except a session's growth at its end), events, outcomes,
//! usage events, taxonomy versions and revisions (triggers, see `schema.rs`).

mod pool;
mod schema;

use nocturne_core::outcome::Outcome;
use nocturne_core::{
    chain, Change, Counterpart, Event, EventKind, Memory, NewEvent, Proposal, ProposalStatus, Revision, Role, Session,
};
use nocturne_store::{
    AgentRun, Appended, AppliedProposal, Claim, Commit, DreamRun, HistoryEntry, ImportBatch, Job, JobEnd, JobFilter,
    JobState, JournalEntry, Lease, MemoryImport, NewJob, PutBatch, Result, RunFilter, SessionFilter, SessionRecord,
    Store, StoreError, StoredVector, StreamTarget, StreamedChain, TokenRecord, Usage,
};
use postgres::error::SqlState;
use postgres::{Client, Row, Transaction};
use std::str::FromStr;
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

pub use schema::SCHEMA_VERSION;

pub mod testing;

/// Connections a store opens at most (per process).
const POOL_SIZE: usize = 8;

/// A PostgreSQL-backed [`Store`].
pub struct PgStore {
    pool: pool::Pool,
    /// Where it is, without the password (for messages).
    place: String,
}

/// What a statement inside a transaction failed with.
enum Fail {
    Pg(postgres::Error),
    Store(StoreError),
}

impl From<postgres::Error> for Fail {
    fn from(e: postgres::Error) -> Self {
        Fail::Pg(e)
    }
}

impl From<StoreError> for Fail {
    fn from(e: StoreError) -> Self {
        Fail::Store(e)
    }
}

type Tx<T> = std::result::Result<T, Fail>;

/// The server's message for an error (not the client's wrapping of it).
pub(crate) fn message(e: &postgres::Error) -> String {
    match e.as_db_error() {
        Some(d) => d.message().to_string(),
        None => e.to_string(),
    }
}

fn db(e: postgres::Error) -> StoreError {
    StoreError::Backend(format!("PostgreSQL: {}", message(&e)))
}

fn fail(f: Fail) -> StoreError {
    match f {
        Fail::Pg(e) => db(e),
        Fail::Store(e) => e,
    }
}

fn is_unique(e: &postgres::Error) -> bool {
    e.code() == Some(&SqlState::UNIQUE_VIOLATION)
}

/// An insert that hit a unique constraint is `Exists`.
fn exists<'a>(what: &'static str, id: &'a str) -> impl Fn(postgres::Error) -> Fail + 'a {
    move |e| if is_unique(&e) { Fail::Store(StoreError::Exists { what, id: id.to_string() }) } else { Fail::Pg(e) }
}

fn corrupt(e: serde_json::Error) -> Fail {
    Fail::Store(StoreError::Corrupt(e.to_string()))
}

fn to_json<T: serde::Serialize>(v: &T) -> Tx<String> {
    serde_json::to_string(v).map_err(|e| Fail::Store(StoreError::Backend(e.to_string())))
}

fn opt_json<T: serde::Serialize>(v: &Option<T>) -> Tx<Option<String>> {
    v.as_ref().map(to_json).transpose()
}

fn from_json<T: serde::de::DeserializeOwned>(s: &str) -> Tx<T> {
    serde_json::from_str(s).map_err(corrupt)
}

fn from_opt_json<T: serde::de::DeserializeOwned>(s: Option<String>) -> Tx<Option<T>> {
    s.map(|s| from_json(&s)).transpose()
}

/// An RFC 3339 time, or a date (midnight UTC), as an instant.
fn instant(s: &str) -> Option<OffsetDateTime> {
    if let Ok(t) = OffsetDateTime::parse(s, &Rfc3339) {
        return Some(t);
    }
    let fmt = time::macros::format_description!("[year]-[month]-[day]");
    time::Date::parse(s, &fmt).ok().map(|d| d.midnight().assume_utc())
}

/// An instant the caller must give as a time.
fn need_instant(s: &str, what: &str) -> Tx<OffsetDateTime> {
    instant(s).ok_or_else(|| Fail::Store(StoreError::Backend(format!("{what} {s:?} is not an RFC 3339 time"))))
}

/// An instant as RFC 3339 UTC (`2026-01-01T00:00:00Z`, fractions only when there are some).
fn text_of(t: OffsetDateTime) -> String {
    let utc = t.to_offset(time::UtcOffset::UTC);
    utc.format(&Rfc3339).unwrap_or_else(|_| utc.to_string())
}

fn opt_text(t: Option<OffsetDateTime>) -> Option<String> {
    t.map(text_of)
}

fn role_code(r: Role) -> i16 {
    match r {
        Role::User => 0,
        Role::Assistant => 1,
        Role::System => 2,
        Role::Tool => 3,
    }
}

fn role_of(c: i16) -> Tx<Role> {
    Ok(match c {
        0 => Role::User,
        1 => Role::Assistant,
        2 => Role::System,
        3 => Role::Tool,
        _ => return Err(Fail::Store(StoreError::Corrupt(format!("unknown role code {c}")))),
    })
}

fn kind_code(k: EventKind) -> i16 {
    match k {
        EventKind::UserMessage => 0,
        EventKind::AssistantMessage => 1,
        EventKind::ToolCall => 2,
        EventKind::ToolResult => 3,
        EventKind::System => 4,
        EventKind::Other => 5,
        EventKind::EvaluatorCheck => 6,
    }
}

fn kind_of(c: i16) -> Tx<EventKind> {
    Ok(match c {
        0 => EventKind::UserMessage,
        1 => EventKind::AssistantMessage,
        2 => EventKind::ToolCall,
        3 => EventKind::ToolResult,
        4 => EventKind::System,
        5 => EventKind::Other,
        6 => EventKind::EvaluatorCheck,
        _ => return Err(Fail::Store(StoreError::Corrupt(format!("unknown event kind code {c}")))),
    })
}

const SESSION_COLS: &str = "id, format, source, \"user\", agent, team, title, event_count, head_hash, started_at, \
     ended_at, ingested_at, parent, subagent, counterpart, closed_at";

fn session_row(r: &Row) -> Tx<Session> {
    let head: Vec<u8> = r.try_get(8)?;
    let subagent: Option<String> = r.try_get(13)?;
    let counterpart: Option<String> = r.try_get(14)?;
    let counterpart = counterpart
        .map(|c| {
            Counterpart::parse(&c).ok_or_else(|| Fail::Store(StoreError::Corrupt(format!("unknown counterpart {c:?}"))))
        })
        .transpose()?;
    let count: i32 = r.try_get(7)?;
    Ok(Session {
        id: r.try_get(0)?,
        format: r.try_get(1)?,
        source: r.try_get(2)?,
        user: r.try_get(3)?,
        agent: r.try_get(4)?,
        team: r.try_get(5)?,
        title: r.try_get(6)?,
        parent: r.try_get(12)?,
        subagent: from_opt_json(subagent)?,
        counterpart,
        event_count: count as u32,
        head_hash: hex::encode(head),
        started_at: r.try_get(9)?,
        ended_at: r.try_get(10)?,
        ingested_at: r.try_get(11)?,
        closed_at: r.try_get(15)?,
    })
}

const EVENT_COLS: &str =
    "seq, role, kind, tool_name, tool_input, tool_use_id, text, is_error, sidechain, \"timestamp\", source_line, raw, hash";

fn event_row(session: &str, r: &Row, at: usize) -> Tx<Event> {
    let seq: i32 = r.try_get(at)?;
    let line: Option<i32> = r.try_get(at + 10)?;
    let hash: Vec<u8> = r.try_get(at + 12)?;
    Ok(Event {
        session: session.to_string(),
        seq: seq as u32,
        body: NewEvent {
            role: role_of(r.try_get(at + 1)?)?,
            kind: kind_of(r.try_get(at + 2)?)?,
            tool_name: r.try_get(at + 3)?,
            tool_input: r.try_get(at + 4)?,
            tool_use_id: r.try_get(at + 5)?,
            text: r.try_get(at + 6)?,
            is_error: r.try_get(at + 7)?,
            sidechain: r.try_get(at + 8)?,
            timestamp: r.try_get(at + 9)?,
            source_line: line.map(|l| l as u32),
            raw: r.try_get(at + 11)?,
        },
        hash: hex::encode(hash),
    })
}

/// Inserts events `first..` of a session in one statement.
fn insert_events(tx: &mut Transaction<'_>, sid: i64, first: u32, events: &[NewEvent], hashes: &[[u8; 32]]) -> Tx<()> {
    if events.is_empty() {
        return Ok(());
    }
    let n = events.len();
    let sids = vec![sid; n];
    let seqs: Vec<i32> = (0..n).map(|i| (first as usize + i) as i32).collect();
    let roles: Vec<i16> = events.iter().map(|e| role_code(e.role)).collect();
    let kinds: Vec<i16> = events.iter().map(|e| kind_code(e.kind)).collect();
    let tool_names: Vec<Option<&str>> = events.iter().map(|e| e.tool_name.as_deref()).collect();
    let tool_inputs: Vec<Option<&str>> = events.iter().map(|e| e.tool_input.as_deref()).collect();
    let tool_ids: Vec<Option<&str>> = events.iter().map(|e| e.tool_use_id.as_deref()).collect();
    let texts: Vec<Option<&str>> = events.iter().map(|e| e.text.as_deref()).collect();
    let errors: Vec<bool> = events.iter().map(|e| e.is_error).collect();
    let sides: Vec<bool> = events.iter().map(|e| e.sidechain).collect();
    let stamps: Vec<Option<&str>> = events.iter().map(|e| e.timestamp.as_deref()).collect();
    let lines: Vec<Option<i32>> = events.iter().map(|e| e.source_line.map(|l| l as i32)).collect();
    let raws: Vec<&str> = events.iter().map(|e| e.raw.as_str()).collect();
    let hs: Vec<&[u8]> = hashes.iter().map(|h| &h[..]).collect();
    tx.execute(
        "INSERT INTO events (session, seq, role, kind, tool_name, tool_input, tool_use_id, text, is_error, sidechain, \
         \"timestamp\", source_line, raw, hash) \
         SELECT * FROM UNNEST($1::bigint[], $2::int[], $3::smallint[], $4::smallint[], $5::text[], $6::text[], \
         $7::text[], $8::text[], $9::bool[], $10::bool[], $11::text[], $12::int[], $13::text[], $14::bytea[])",
        &[
            &sids,
            &seqs,
            &roles,
            &kinds,
            &tool_names,
            &tool_inputs,
            &tool_ids,
            &texts,
            &errors,
            &sides,
            &stamps,
            &lines,
            &raws,
            &hs,
        ],
    )?;
    Ok(())
}

const INSERT_SESSION: &str =
    "INSERT INTO sessions (id, format, source, \"user\", agent, team, title, parent, subagent, \
     counterpart, event_count, head_hash, started, started_at, ended_at, ingested_at, closed_at) \
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17) \
     ON CONFLICT (id) DO NOTHING RETURNING rowid";

#[allow(clippy::too_many_arguments)]
fn insert_session(
    tx: &mut Transaction<'_>,
    h: &nocturne_core::NewSession,
    count: usize,
    head: &[u8; 32],
    started: &str,
    ended: Option<&str>,
    ingested: &str,
    title: Option<&str>,
    closed: Option<&str>,
) -> Tx<Option<i64>> {
    let subagent = opt_json(&h.subagent)?;
    let counterpart = h.counterpart.map(Counterpart::as_str);
    let row = tx.query_opt(
        INSERT_SESSION,
        &[
            &h.id,
            &h.format,
            &h.source,
            &h.user,
            &h.agent,
            &h.team,
            &title,
            &h.parent,
            &subagent,
            &counterpart,
            &(count as i32),
            &&head[..],
            &instant(started),
            &started,
            &ended,
            &ingested,
            &closed,
        ],
    )?;
    Ok(row.map(|r| r.get(0)))
}

fn check_size(session: &str, n: usize) -> Tx<()> {
    if n > i32::MAX as usize {
        return Err(Fail::Store(StoreError::Backend(format!("session {session} would have {n} events; too many"))));
    }
    Ok(())
}

fn head_of(tx: &mut Transaction<'_>) -> Tx<u64> {
    let h: i64 = tx.query_one("SELECT COALESCE(MAX(rev), 0) FROM revisions", &[])?.get(0);
    Ok(h as u64)
}

fn memory_in(c: &mut impl postgres::GenericClient, id: &str) -> Tx<Option<Memory>> {
    let row = c.query_opt("SELECT body FROM memories WHERE id = $1", &[&id])?;
    from_opt_json(row.map(|r| r.get(0)))
}

fn insert_revision(tx: &mut Transaction<'_>, rev: &Revision) -> Tx<()> {
    let at = need_instant(&rev.created_at, "revision time")?;
    tx.execute(
        "INSERT INTO revisions (rev, author, reason, created_at) VALUES ($1, $2, $3, $4)",
        &[&(rev.rev as i64), &rev.author.0, &rev.reason, &at],
    )
    .map_err(exists("revision", &rev.rev.to_string()))?;
    for (n, c) in rev.changes.iter().enumerate() {
        tx.execute(
            "INSERT INTO changes (rev, n, memory_id, before, after) VALUES ($1, $2, $3, $4, $5)",
            &[&(rev.rev as i64), &(n as i32), &c.memory_id, &opt_json(&c.before)?, &opt_json(&c.after)?],
        )?;
        match &c.after {
            Some(m) => tx.execute(
                "INSERT INTO memories (id, body, rev) VALUES ($1, $2, $3) \
                 ON CONFLICT (id) DO UPDATE SET body = excluded.body, rev = excluded.rev",
                &[&c.memory_id, &to_json(m)?, &(rev.rev as i64)],
            )?,
            None => tx.execute("DELETE FROM memories WHERE id = $1", &[&c.memory_id])?,
        };
    }
    Ok(())
}

fn append_events_tx(tx: &mut Transaction<'_>, session: &str, expected_len: u32, events: &[NewEvent]) -> Tx<u32> {
    let row = tx.query_opt(
        "SELECT rowid, event_count, head_hash, closed_at FROM sessions WHERE id = $1 FOR UPDATE",
        &[&session],
    )?;
    let Some(row) = row else {
        return Err(Fail::Store(StoreError::NotFound { what: "session", id: session.to_string() }));
    };
    let (sid, count, head): (i64, i32, Vec<u8>) = (row.get(0), row.get(1), row.get(2));
    let closed: Option<String> = row.get(3);
    if closed.is_some() {
        return Err(Fail::Store(StoreError::Closed { session: session.to_string() }));
    }
    let count = count as u32;
    if count != expected_len {
        return Err(Fail::Store(StoreError::LengthMismatch {
            session: session.to_string(),
            expected: expected_len,
            actual: count,
        }));
    }
    if events.is_empty() {
        return Ok(count);
    }
    let total = count as usize + events.len();
    check_size(session, total)?;
    let mut prev: [u8; 32] =
        head.as_slice().try_into().map_err(|_| Fail::Store(StoreError::Corrupt(format!("head hash of {session}"))))?;
    let mut hashes = Vec::with_capacity(events.len());
    for (i, e) in events.iter().enumerate() {
        prev = chain::link(&prev, count + i as u32, e);
        hashes.push(prev);
    }
    insert_events(tx, sid, count, events, &hashes)?;
    let last_ts = events.iter().rev().find_map(|e| e.timestamp.clone());
    tx.execute(
        "UPDATE sessions SET event_count = $2, head_hash = $3, ended_at = COALESCE($4, ended_at) WHERE rowid = $1",
        &[&sid, &(total as i32), &&prev[..], &last_ts],
    )?;
    Ok(total as u32)
}

/// [`Store::write_streamed`] in one transaction: the headers first (a new
/// session with no events yet; a grown one locked), the batches as they
/// come, the headers' counts, heads and end times last.
fn write_streamed_tx(
    tx: &mut Transaction<'_>,
    targets: &[StreamTarget],
    feed: &mut dyn FnMut(&mut PutBatch<'_>) -> Result<()>,
) -> Tx<Vec<u32>> {
    nocturne_store::stream_target_ids(targets)?;
    let mut chains: Vec<(i64, StreamedChain)> = Vec::with_capacity(targets.len());
    let mut firsts: Vec<&[NewEvent]> = Vec::with_capacity(targets.len());
    for t in targets {
        match t {
            StreamTarget::New { record, started_at } => {
                let s = &record.session;
                let genesis = chain::genesis(&s.id);
                let started = started_at.clone().unwrap_or_else(|| record.ingested_at.clone());
                let Some(sid) =
                    insert_session(tx, s, 0, &genesis, &started, None, &record.ingested_at, s.title.as_deref(), None)?
                else {
                    return Err(Fail::Store(StoreError::Exists { what: "session", id: s.id.clone() }));
                };
                chains.push((sid, StreamedChain::new(&s.id, 0, genesis, Some(started_at.clone()))));
                firsts.push(&s.events);
            }
            StreamTarget::Extend { session, expected_len } => {
                let (sid, head) = open_session_at(tx, session, *expected_len)?;
                chains.push((sid, StreamedChain::new(session, *expected_len, head, None)));
                firsts.push(&[]);
            }
        }
    }
    let n = targets.len();
    let mut put = |at: usize, events: &[NewEvent]| -> Result<()> {
        let Some((sid, c)) = chains.get_mut(at) else {
            return Err(StoreError::Backend(format!("a batch for target {at} of a streamed write of {n}")));
        };
        let first = c.count;
        let linked = c.link(events, i32::MAX as usize)?;
        let hashes: Vec<[u8; 32]> = linked.into_iter().map(|(_, h)| h).collect();
        insert_events(tx, *sid, first, events, &hashes).map_err(fail)
    };
    for (at, first) in firsts.iter().enumerate() {
        if !first.is_empty() {
            put(at, first)?;
        }
    }
    nocturne_store::feed_batches(feed, &mut put)?;
    let mut counts = Vec::with_capacity(chains.len());
    for ((sid, c), t) in chains.iter().zip(targets) {
        c.check_start()?;
        let before = match t {
            StreamTarget::New { .. } => 0,
            StreamTarget::Extend { expected_len, .. } => *expected_len,
        };
        if c.count > before {
            tx.execute(
                "UPDATE sessions SET event_count = $2, head_hash = $3, ended_at = COALESCE($4, ended_at) WHERE rowid = $1",
                &[sid, &(c.count as i32), &&c.head[..], &c.last_ts],
            )?;
        }
        counts.push(c.count);
    }
    Ok(counts)
}

/// The rowid and head of an open session holding exactly `expected_len`
/// events, locked until the transaction ends (the checks of compare-and-append).
fn open_session_at(tx: &mut Transaction<'_>, session: &str, expected_len: u32) -> Tx<(i64, [u8; 32])> {
    let row = tx.query_opt(
        "SELECT rowid, event_count, head_hash, closed_at FROM sessions WHERE id = $1 FOR UPDATE",
        &[&session],
    )?;
    let Some(row) = row else {
        return Err(Fail::Store(StoreError::NotFound { what: "session", id: session.to_string() }));
    };
    let (sid, count, head): (i64, i32, Vec<u8>) = (row.try_get(0)?, row.try_get(1)?, row.try_get(2)?);
    let closed: Option<String> = row.try_get(3)?;
    if closed.is_some() {
        return Err(Fail::Store(StoreError::Closed { session: session.to_string() }));
    }
    if count as u32 != expected_len {
        return Err(Fail::Store(StoreError::LengthMismatch {
            session: session.to_string(),
            expected: expected_len,
            actual: count as u32,
        }));
    }
    let head: [u8; 32] =
        head.as_slice().try_into().map_err(|_| Fail::Store(StoreError::Corrupt(format!("head hash of {session}"))))?;
    Ok((sid, head))
}

fn close_session_tx(tx: &mut Transaction<'_>, id: &str, at: &str) -> Tx<()> {
    let row = tx.query_opt("SELECT closed_at FROM sessions WHERE id = $1 FOR UPDATE", &[&id])?;
    let Some(row) = row else {
        return Err(Fail::Store(StoreError::NotFound { what: "session", id: id.to_string() }));
    };
    let closed: Option<String> = row.get(0);
    if closed.is_none() {
        tx.execute("UPDATE sessions SET closed_at = $2 WHERE id = $1", &[&id, &at])?;
    }
    Ok(())
}

fn commit_tx(tx: &mut Transaction<'_>, c: &Commit) -> Tx<Revision> {
    // Commits take turns: the head read here stays the head until this one ends.
    tx.batch_execute("LOCK TABLE revisions IN EXCLUSIVE MODE")?;
    let head = head_of(tx)?;
    if let Some(expected) = c.expect_rev {
        if expected != head {
            return Err(Fail::Store(StoreError::RevisionMismatch { expected, actual: head }));
        }
    }
    let mut conflicts = Vec::new();
    for ch in &c.changes {
        let stored = memory_in(tx, &ch.memory_id)?;
        if stored != ch.before {
            conflicts.push(match (&stored, &ch.before) {
                (Some(_), None) => format!("memory {} already exists", ch.memory_id),
                (None, Some(_)) => format!("memory {} no longer exists", ch.memory_id),
                _ => format!("memory {} changed since it was read", ch.memory_id),
            });
        }
    }
    if !conflicts.is_empty() {
        return Err(Fail::Store(StoreError::Conflict(conflicts)));
    }
    let rev = Revision {
        rev: head + 1,
        author: nocturne_core::Author(c.author.clone()),
        reason: c.reason.clone(),
        created_at: c.created_at.clone(),
        changes: c.changes.clone(),
    };
    insert_revision(tx, &rev)?;
    if let Some(a) = &c.applies_proposal {
        set_status(tx, &a.id, ProposalStatus::Applied, Some((rev.rev, a)))?;
    }
    Ok(rev)
}

fn restore_tx(tx: &mut Transaction<'_>, revisions: &[Revision]) -> Tx<()> {
    tx.batch_execute("LOCK TABLE revisions IN EXCLUSIVE MODE")?;
    if head_of(tx)? != 0 {
        return Err(Fail::Store(StoreError::NotEmpty(
            "the store already has memory revisions; import needs a store with none".into(),
        )));
    }
    for (i, r) in revisions.iter().enumerate() {
        if r.rev != i as u64 + 1 {
            return Err(Fail::Store(StoreError::Corrupt(format!(
                "revision {} found where {} was expected",
                r.rev,
                i + 1
            ))));
        }
        insert_revision(tx, r)?;
    }
    Ok(())
}

fn restore_outcomes_tx(tx: &mut Transaction<'_>, taxonomies: &[(u32, String, String)], outcomes: &[Outcome]) -> Tx<()> {
    tx.batch_execute("LOCK TABLE taxonomies, outcomes IN EXCLUSIVE MODE")?;
    let n: i64 =
        tx.query_one("SELECT (SELECT COUNT(*) FROM outcomes) + (SELECT COUNT(*) FROM taxonomies)", &[])?.get(0);
    if n != 0 {
        return Err(Fail::Store(StoreError::NotEmpty("the store already has outcomes or a taxonomy".into())));
    }
    for (v, toml, at) in taxonomies {
        tx.execute("INSERT INTO taxonomies (version, toml, set_at) VALUES ($1, $2, $3)", &[&(*v as i32), toml, at])?;
    }
    for o in outcomes {
        tx.execute(
            "INSERT INTO outcomes (id, session, task, dimension, recorded_at, body) VALUES ($1, $2, $3, $4, $5, $6)",
            &[&(o.id as i64), &o.session, &o.task, &o.dimension, &instant(&o.recorded_at), &to_json(o)?],
        )
        .map_err(exists("outcome", &o.id.to_string()))?;
    }
    // New outcomes are numbered after the restored ones.
    tx.execute(
        "SELECT setval(pg_get_serial_sequence('outcomes', 'id'), GREATEST((SELECT MAX(id) FROM outcomes), 1), \
         (SELECT COUNT(*) > 0 FROM outcomes))",
        &[],
    )?;
    Ok(())
}

fn restore_usages_tx(tx: &mut Transaction<'_>, usages: &[Usage]) -> Tx<()> {
    tx.batch_execute("LOCK TABLE usage IN EXCLUSIVE MODE")?;
    let n: i64 = tx.query_one("SELECT COUNT(*) FROM usage", &[])?.get(0);
    if n != 0 {
        return Err(Fail::Store(StoreError::NotEmpty("the store already has usage events".into())));
    }
    for u in usages {
        tx.execute(
            "INSERT INTO usage (id, session, at, body) VALUES ($1, $2, $3, $4)",
            &[&(u.id as i64), &u.session, &instant(&u.at), &to_json(u)?],
        )
        .map_err(exists("usage event", &u.id.to_string()))?;
    }
    tx.execute(
        "SELECT setval(pg_get_serial_sequence('usage', 'id'), GREATEST((SELECT MAX(id) FROM usage), 1), \
         (SELECT COUNT(*) > 0 FROM usage))",
        &[],
    )?;
    Ok(())
}

fn restore_session_tx(tx: &mut Transaction<'_>, h: &Session, events: &[NewEvent]) -> Tx<Appended> {
    let (hashes, head) = nocturne_store::restored_chain(h, events).map_err(Fail::Store)?;
    let new = h.to_new(Vec::new());
    check_size(&h.id, events.len())?;
    let Some(sid) = insert_session(
        tx,
        &new,
        events.len(),
        &head,
        &h.started_at,
        h.ended_at.as_deref(),
        &h.ingested_at,
        h.title.as_deref(),
        h.closed_at.as_deref(),
    )?
    else {
        return Ok(Appended::Skipped);
    };
    insert_events(tx, sid, 0, events, &hashes)?;
    Ok(Appended::Added { events: events.len() as u32 })
}

fn token_row(r: &Row) -> Tx<TokenRecord> {
    Ok(TokenRecord {
        id: r.try_get(0)?,
        hash: r.try_get(1)?,
        scope: r.try_get(2)?,
        team: r.try_get(3)?,
        created_at: text_of(r.try_get(4)?),
        revoked_at: opt_text(r.try_get(5)?),
    })
}

const PROPOSAL_COLS: &str = "body, status, team, applied_revision, applied_ops";

fn proposal_row(r: &Row) -> Tx<Proposal> {
    let body: String = r.try_get(0)?;
    let mut p: Proposal = from_json(&body)?;
    let status: String = r.try_get(1)?;
    p.status = ProposalStatus::parse(&status)
        .ok_or_else(|| Fail::Store(StoreError::Corrupt(format!("proposal {}: status {status:?}", p.id))))?;
    p.team = r.try_get(2)?;
    let applied: Option<i64> = r.try_get(3)?;
    p.applied_revision = applied.map(|v| v as u64);
    let ops: Vec<i32> = r.try_get(4)?;
    p.applied_ops = ops.into_iter().map(|n| n as u32).collect();
    Ok(p)
}

/// Moves a pending proposal to `status`; one that is not pending is a conflict.
fn set_status(
    tx: &mut Transaction<'_>,
    id: &str,
    status: ProposalStatus,
    applied: Option<(u64, &AppliedProposal)>,
) -> Tx<()> {
    let cur = tx.query_opt("SELECT status FROM proposals WHERE id = $1 FOR UPDATE", &[&id])?;
    let Some(cur) = cur else {
        return Err(Fail::Store(StoreError::NotFound { what: "dream", id: id.to_string() }));
    };
    let cur: String = cur.get(0);
    if cur != "pending" {
        return Err(Fail::Store(StoreError::Conflict(vec![format!("dream {id} is already {cur}")])));
    }
    let (rev, ops): (Option<i64>, Vec<i32>) = match applied {
        Some((r, a)) => (Some(r as i64), a.ops.iter().map(|n| *n as i32).collect()),
        None => (None, Vec::new()),
    };
    tx.execute(
        "UPDATE proposals SET status = $2, applied_revision = $3, applied_ops = $4 WHERE id = $1",
        &[&id, &status.as_str(), &rev, &ops],
    )?;
    Ok(())
}

const JOB_COLS: &str = "id, kind, key, payload, team, submitted_by, created_at, run_after, max_attempts, state, \
     attempts, worker, lease_until, started_at, finished_at, result, error";

fn job_row(r: &Row) -> Tx<Job> {
    let id: String = r.try_get(0)?;
    let payload: String = r.try_get(3)?;
    let state: String = r.try_get(9)?;
    let result: Option<String> = r.try_get(15)?;
    let max: i32 = r.try_get(8)?;
    let attempts: i32 = r.try_get(10)?;
    Ok(Job {
        job: NewJob {
            id: id.clone(),
            kind: r.try_get(1)?,
            key: r.try_get(2)?,
            payload: from_json(&payload)?,
            team: r.try_get(4)?,
            submitted_by: r.try_get(5)?,
            created_at: text_of(r.try_get(6)?),
            run_after: text_of(r.try_get(7)?),
            max_attempts: max as u32,
        },
        state: JobState::parse(&state)
            .ok_or_else(|| Fail::Store(StoreError::Corrupt(format!("job {id}: unknown state {state:?}"))))?,
        attempts: attempts as u32,
        worker: r.try_get(11)?,
        lease_until: opt_text(r.try_get(12)?),
        started_at: opt_text(r.try_get(13)?),
        finished_at: opt_text(r.try_get(14)?),
        result: from_opt_json(result)?,
        error: r.try_get(16)?,
    })
}

/// A run's record: its body, with the stored cancellation (which no write undoes).
fn agent_run_row(r: &Row) -> Tx<AgentRun> {
    let body: String = r.try_get(0)?;
    let mut run: AgentRun = from_json(&body)?;
    run.cancel_requested_at = r.try_get(1)?;
    Ok(run)
}

fn job_in(c: &mut impl postgres::GenericClient, id: &str) -> Tx<Option<Job>> {
    c.query_opt(&format!("SELECT {JOB_COLS} FROM jobs WHERE id = $1"), &[&id])?.map(|r| job_row(&r)).transpose()
}

/// Reads an append-only log table (`id`, `session`, `body`) in id order,
/// for all sessions (`None`) or these, giving each record its id.
fn read_log<T: serde::de::DeserializeOwned>(
    c: &mut Client,
    table: &'static str,
    sessions: Option<&[String]>,
    set_id: impl Fn(&mut T, u64),
) -> Tx<Vec<T>> {
    let rows = match sessions {
        None => c.query(&format!("SELECT id, body FROM {table} ORDER BY id"), &[])?,
        Some(s) => c.query(&format!("SELECT id, body FROM {table} WHERE session = ANY($1) ORDER BY id"), &[&s])?,
    };
    rows.iter()
        .map(|r| {
            let id: i64 = r.try_get(0)?;
            let body: String = r.try_get(1)?;
            let mut v: T = from_json(&body)?;
            set_id(&mut v, id as u64);
            Ok(v)
        })
        .collect()
}

impl PgStore {
    /// Opens the store at a `postgres://` URL (or a libpq key=value string)
    /// and brings its schema up to date. The connection options of the URL
    /// apply (`options=-csearch_path%3Dteam_a` keeps a store in a schema).
    pub fn open(url: &str) -> Result<Self> {
        let config = postgres::Config::from_str(url)
            .map_err(|e| StoreError::Backend(format!("invalid PostgreSQL address: {e}")))?;
        let place = describe(&config);
        let store = PgStore { pool: pool::Pool::new(config, POOL_SIZE), place };
        store.migrate()?;
        Ok(store)
    }

    /// Where the store is (`user@host:port/db`), without the password.
    pub fn place(&self) -> &str {
        &self.place
    }

    fn read<T>(&self, f: impl FnOnce(&mut Client) -> Tx<T>) -> Result<T> {
        self.pool.with(|c| f(c).map_err(fail))
    }

    /// Runs `f` in a transaction; a deadlock or serialization failure is
    /// retried (a few times) with the transaction rolled back.
    fn write<T>(&self, mut f: impl FnMut(&mut Transaction<'_>) -> Tx<T>) -> Result<T> {
        self.pool.with(|c| {
            let mut tries = 0;
            loop {
                tries += 1;
                let attempt = (|| -> Tx<T> {
                    let mut tx = c.transaction()?;
                    let out = f(&mut tx)?;
                    tx.commit()?;
                    Ok(out)
                })();
                match attempt {
                    Err(Fail::Pg(e))
                        if tries < 5
                            && matches!(
                                e.code(),
                                Some(&SqlState::T_R_DEADLOCK_DETECTED) | Some(&SqlState::T_R_SERIALIZATION_FAILURE)
                            ) =>
                    {
                        continue
                    }
                    other => return other.map_err(fail),
                }
            }
        })
    }

    fn migrate(&self) -> Result<()> {
        let place = self.place.clone();
        self.write(|tx| {
            // One migrating process per schema at a time.
            tx.execute("SELECT pg_advisory_xact_lock(hashtext(current_schema() || '/nocturne-migrate'))", &[])?;
            tx.batch_execute("CREATE TABLE IF NOT EXISTS nocturne_schema (version INTEGER NOT NULL)")?;
            let cur: Option<i32> = tx.query_opt("SELECT version FROM nocturne_schema", &[])?.map(|r| r.get(0));
            let current = i64::from(cur.unwrap_or(0));
            if current > SCHEMA_VERSION {
                return Err(Fail::Store(StoreError::SchemaTooNew { found: current, supported: SCHEMA_VERSION }));
            }
            for (i, sql) in schema::MIGRATIONS.iter().enumerate() {
                let v = i as i64 + 1;
                if v <= current {
                    continue;
                }
                tx.batch_execute(sql).map_err(|e| {
                    Fail::Store(StoreError::Backend(format!("{place}: migration to version {v}: {}", message(&e))))
                })?;
            }
            if cur.is_none() {
                tx.execute("INSERT INTO nocturne_schema (version) VALUES ($1)", &[&(SCHEMA_VERSION as i32)])?;
            } else if current < SCHEMA_VERSION {
                tx.execute("UPDATE nocturne_schema SET version = $1", &[&(SCHEMA_VERSION as i32)])?;
            }
            Ok(())
        })
    }

    /// Test support: runs one SQL statement (to prove what the schema refuses).
    #[doc(hidden)]
    pub fn execute_raw(&self, sql: &str) -> Result<u64> {
        self.read(|c| Ok(c.execute(sql, &[])?))
    }
}

fn describe(c: &postgres::Config) -> String {
    let host = c
        .get_hosts()
        .first()
        .map(|h| match h {
            postgres::config::Host::Tcp(h) => h.clone(),
            #[cfg(unix)]
            postgres::config::Host::Unix(p) => p.display().to_string(),
        })
        .unwrap_or_else(|| "localhost".into());
    let port = c.get_ports().first().map(|p| format!(":{p}")).unwrap_or_default();
    let user = c.get_user().map(|u| format!("{u}@")).unwrap_or_default();
    let db = c.get_dbname().map(|d| format!("/{d}")).unwrap_or_default();
    format!("postgres://{user}{host}{port}{db}")
}

impl Store for PgStore {
    fn append_sessions(&self, batch: &[SessionRecord]) -> Result<Vec<Appended>> {
        self.write(|tx| {
            let mut out = Vec::with_capacity(batch.len());
            for rec in batch {
                let s = &rec.session;
                check_size(&s.id, s.events.len())?;
                let hashes = chain::hashes(&s.id, &s.events);
                let head = hashes.last().copied().unwrap_or_else(|| chain::genesis(&s.id));
                let (first, last) = s.time_span();
                let started = first.unwrap_or_else(|| rec.ingested_at.clone());
                let Some(sid) = insert_session(
                    tx,
                    s,
                    s.events.len(),
                    &head,
                    &started,
                    last.as_deref(),
                    &rec.ingested_at,
                    s.title.as_deref(),
                    None,
                )?
                else {
                    out.push(Appended::Skipped);
                    continue;
                };
                insert_events(tx, sid, 0, &s.events, &hashes)?;
                out.push(Appended::Added { events: s.events.len() as u32 });
            }
            Ok(out)
        })
    }

    fn append_events(&self, session: &str, expected_len: u32, events: &[NewEvent]) -> Result<u32> {
        self.write(|tx| append_events_tx(tx, session, expected_len, events))
    }

    fn write_streamed(
        &self,
        targets: &[StreamTarget],
        feed: &mut dyn FnMut(&mut PutBatch<'_>) -> Result<()>,
    ) -> Result<Vec<u32>> {
        // Not retried: the batches are gone once handed over.
        self.pool.with(|c| {
            let mut run = || -> Tx<Vec<u32>> {
                let mut tx = c.transaction()?;
                let out = write_streamed_tx(&mut tx, targets, feed)?;
                tx.commit()?;
                Ok(out)
            };
            run().map_err(fail)
        })
    }

    fn restore_session(&self, h: &Session, events: &[NewEvent]) -> Result<Appended> {
        self.write(|tx| restore_session_tx(tx, h, events))
    }

    fn session(&self, id: &str) -> Result<Option<Session>> {
        self.read(|c| {
            c.query_opt(&format!("SELECT {SESSION_COLS} FROM sessions WHERE id = $1"), &[&id])?
                .map(|r| session_row(&r))
                .transpose()
        })
    }

    fn sessions(&self, f: &SessionFilter) -> Result<Vec<Session>> {
        self.read(|c| {
            let mut sql = format!("SELECT {SESSION_COLS} FROM sessions WHERE TRUE");
            let mut args: Vec<Box<dyn postgres::types::ToSql + Sync>> = Vec::new();
            for (col, v) in [("\"user\"", &f.user), ("agent", &f.agent), ("team", &f.team), ("parent", &f.parent)] {
                if let Some(v) = v {
                    args.push(Box::new(v.clone()));
                    sql.push_str(&format!(" AND {col} = ${}", args.len()));
                }
            }
            for (op, v) in [(">=", &f.since), ("<", &f.until)] {
                if let Some(v) = v {
                    args.push(Box::new(need_instant(v, "date")?));
                    sql.push_str(&format!(" AND started {op} ${}", args.len()));
                }
            }
            sql.push_str(" ORDER BY started DESC NULLS LAST, id DESC");
            if let Some(l) = f.limit {
                // Beyond the SQL integer range is no limit at all.
                let l = i64::try_from(l).unwrap_or(i64::MAX);
                sql.push_str(&format!(" LIMIT {l}"));
            }
            let refs: Vec<&(dyn postgres::types::ToSql + Sync)> = args.iter().map(|a| a.as_ref()).collect();
            c.query(&sql, &refs)?.iter().map(session_row).collect()
        })
    }

    fn children(&self, parent: &str) -> Result<Vec<Session>> {
        self.read(|c| {
            c.query(
                &format!("SELECT {SESSION_COLS} FROM sessions WHERE parent = $1 ORDER BY started NULLS LAST, id"),
                &[&parent],
            )?
            .iter()
            .map(session_row)
            .collect()
        })
    }

    fn close_session(&self, id: &str, at: &str) -> Result<()> {
        self.write(|tx| close_session_tx(tx, id, at))
    }

    fn events(&self, session: &str) -> Result<Vec<Event>> {
        self.read(|c| {
            c.query(
                &format!(
                    "SELECT {EVENT_COLS} FROM events WHERE session = (SELECT rowid FROM sessions WHERE id = $1) \
                     ORDER BY seq"
                ),
                &[&session],
            )?
            .iter()
            .map(|r| event_row(session, r, 0))
            .collect()
        })
    }

    fn events_of(&self, sessions: &[String]) -> Result<Vec<Vec<Event>>> {
        self.read(|c| {
            let rows = c.query(
                &format!(
                    "SELECT s.id, {} FROM events e JOIN sessions s ON s.rowid = e.session \
                     WHERE s.id = ANY($1) ORDER BY e.session, e.seq",
                    EVENT_COLS.split(", ").map(|col| format!("e.{col}")).collect::<Vec<_>>().join(", ")
                ),
                &[&sessions],
            )?;
            let mut by: std::collections::HashMap<String, Vec<Event>> = std::collections::HashMap::new();
            for r in &rows {
                let id: String = r.try_get(0)?;
                let e = event_row(&id, r, 1)?;
                by.entry(id).or_default().push(e);
            }
            Ok(sessions.iter().map(|s| by.get(s).cloned().unwrap_or_default()).collect())
        })
    }

    fn session_count(&self) -> Result<u64> {
        self.read(|c| {
            let n: i64 = c.query_one("SELECT COUNT(*) FROM sessions", &[])?.get(0);
            Ok(n as u64)
        })
    }

    fn head(&self) -> Result<u64> {
        self.read(|c| {
            let h: i64 = c.query_one("SELECT COALESCE(MAX(rev), 0) FROM revisions", &[])?.get(0);
            Ok(h as u64)
        })
    }

    fn memories(&self) -> Result<Vec<Memory>> {
        self.read(|c| {
            c.query("SELECT body FROM memories ORDER BY id", &[])?
                .iter()
                .map(|r| from_json(&r.get::<_, String>(0)))
                .collect()
        })
    }

    fn memory(&self, id: &str) -> Result<Option<Memory>> {
        self.read(|c| memory_in(c, id))
    }

    fn commit(&self, c: Commit) -> Result<Revision> {
        self.write(|tx| commit_tx(tx, &c))
    }

    fn revisions(&self, from: u64, to: u64) -> Result<Vec<Revision>> {
        let to = to.min(i64::MAX as u64) as i64;
        let from = from.min(i64::MAX as u64) as i64;
        self.read(|c| {
            let heads = c.query(
                "SELECT rev, author, reason, created_at FROM revisions WHERE rev BETWEEN $1 AND $2 ORDER BY rev",
                &[&from, &to],
            )?;
            let changes = c.query(
                "SELECT rev, memory_id, before, after FROM changes WHERE rev BETWEEN $1 AND $2 ORDER BY rev, n",
                &[&from, &to],
            )?;
            let mut by: std::collections::BTreeMap<i64, Vec<Change>> = std::collections::BTreeMap::new();
            for r in &changes {
                let rev: i64 = r.try_get(0)?;
                by.entry(rev).or_default().push(Change {
                    memory_id: r.try_get(1)?,
                    before: from_opt_json(r.try_get(2)?)?,
                    after: from_opt_json(r.try_get(3)?)?,
                });
            }
            heads
                .iter()
                .map(|r| {
                    let rev: i64 = r.try_get(0)?;
                    Ok(Revision {
                        rev: rev as u64,
                        author: nocturne_core::Author(r.try_get(1)?),
                        reason: r.try_get(2)?,
                        created_at: text_of(r.try_get(3)?),
                        changes: by.remove(&rev).unwrap_or_default(),
                    })
                })
                .collect()
        })
    }

    fn history(&self, memory_id: &str) -> Result<Vec<HistoryEntry>> {
        self.read(|c| {
            c.query(
                "SELECT r.rev, r.author, r.reason, r.created_at, c.before, c.after FROM changes c \
                 JOIN revisions r ON r.rev = c.rev WHERE c.memory_id = $1 ORDER BY r.rev, c.n",
                &[&memory_id],
            )?
            .iter()
            .map(|r| {
                let rev: i64 = r.try_get(0)?;
                Ok(HistoryEntry {
                    rev: rev as u64,
                    author: r.try_get(1)?,
                    reason: r.try_get(2)?,
                    created_at: text_of(r.try_get(3)?),
                    change: Change {
                        memory_id: memory_id.to_string(),
                        before: from_opt_json(r.try_get(4)?)?,
                        after: from_opt_json(r.try_get(5)?)?,
                    },
                })
            })
            .collect()
        })
    }

    fn restore(&self, revisions: &[Revision]) -> Result<()> {
        self.write(|tx| restore_tx(tx, revisions))
    }

    fn import(&self, b: &ImportBatch) -> Result<()> {
        self.write(|tx| {
            for (h, events) in &b.restore_sessions {
                if restore_session_tx(tx, h, events)? == Appended::Skipped {
                    return Err(Fail::Store(StoreError::Exists { what: "session", id: h.id.clone() }));
                }
            }
            for g in &b.grow_sessions {
                append_events_tx(tx, &g.session, g.expected_len, &g.events)?;
            }
            for (id, at) in &b.close_sessions {
                close_session_tx(tx, id, at)?;
            }
            match &b.memory {
                MemoryImport::Nothing => {}
                MemoryImport::Restore(revs) => restore_tx(tx, revs)?,
                MemoryImport::Commit(c) => {
                    commit_tx(tx, c)?;
                }
            }
            if let Some((t, o)) = &b.outcomes {
                restore_outcomes_tx(tx, t, o)?;
            }
            if let Some(u) = &b.usages {
                restore_usages_tx(tx, u)?;
            }
            Ok(())
        })
    }

    fn append_outcomes(&self, outcomes: &[Outcome]) -> Result<Vec<Outcome>> {
        self.write(|tx| {
            let mut out = Vec::with_capacity(outcomes.len());
            for o in outcomes {
                let row = tx.query_one(
                    "INSERT INTO outcomes (session, task, dimension, recorded_at, body) VALUES ($1, $2, $3, $4, $5) \
                     RETURNING id",
                    &[&o.session, &o.task, &o.dimension, &instant(&o.recorded_at), &to_json(o)?],
                )?;
                let id: i64 = row.get(0);
                let mut o = o.clone();
                o.id = id as u64;
                out.push(o);
            }
            Ok(out)
        })
    }

    fn outcomes(&self, session: Option<&str>) -> Result<Vec<Outcome>> {
        let ids: Option<Vec<String>> = session.map(|s| vec![s.to_string()]);
        self.read(|c| read_log(c, "outcomes", ids.as_deref(), |o: &mut Outcome, id| o.id = id))
    }

    fn outcomes_of(&self, sessions: &[String]) -> Result<Vec<Outcome>> {
        self.read(|c| read_log(c, "outcomes", Some(sessions), |o: &mut Outcome, id| o.id = id))
    }

    fn put_taxonomy(&self, version: u32, toml: &str, set_at: &str) -> Result<()> {
        self.write(|tx| {
            tx.batch_execute("LOCK TABLE taxonomies IN EXCLUSIVE MODE")?;
            let latest: i32 = tx.query_one("SELECT COALESCE(MAX(version), 0) FROM taxonomies", &[])?.get(0);
            if i64::from(version) != i64::from(latest) + 1 {
                return Err(Fail::Store(StoreError::Conflict(vec![format!(
                    "taxonomy version {version} cannot follow version {latest}"
                )])));
            }
            tx.execute(
                "INSERT INTO taxonomies (version, toml, set_at) VALUES ($1, $2, $3)",
                &[&(version as i32), &toml, &set_at],
            )?;
            Ok(())
        })
    }

    fn taxonomy(&self) -> Result<Option<(u32, String)>> {
        self.read(|c| {
            Ok(c.query_opt("SELECT version, toml FROM taxonomies ORDER BY version DESC LIMIT 1", &[])?
                .map(|r| (r.get::<_, i32>(0) as u32, r.get(1))))
        })
    }

    fn taxonomies(&self) -> Result<Vec<(u32, String, String)>> {
        self.read(|c| {
            Ok(c.query("SELECT version, toml, set_at FROM taxonomies ORDER BY version", &[])?
                .iter()
                .map(|r| (r.get::<_, i32>(0) as u32, r.get(1), r.get(2)))
                .collect())
        })
    }

    fn restore_outcomes(&self, taxonomies: &[(u32, String, String)], outcomes: &[Outcome]) -> Result<()> {
        self.write(|tx| restore_outcomes_tx(tx, taxonomies, outcomes))
    }

    fn vectors(&self, kind: &str) -> Result<Vec<StoredVector>> {
        self.read(|c| {
            c.query("SELECT id, embedder, dim, digest, vector FROM vectors WHERE kind = $1 ORDER BY id", &[&kind])?
                .iter()
                .map(|r| {
                    let id: String = r.try_get(0)?;
                    let dim: i32 = r.try_get(2)?;
                    let blob: Vec<u8> = r.try_get(4)?;
                    if blob.len() != dim as usize * 4 {
                        return Err(Fail::Store(StoreError::Corrupt(format!(
                            "vector of {id} has {} bytes for {dim} dimensions",
                            blob.len()
                        ))));
                    }
                    let vector = blob.chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect();
                    Ok(StoredVector { id, embedder: r.try_get(1)?, dim: dim as u32, digest: r.try_get(3)?, vector })
                })
                .collect()
        })
    }

    fn put_vectors(&self, kind: &str, vectors: &[StoredVector]) -> Result<()> {
        self.write(|tx| {
            let st = tx.prepare(
                "INSERT INTO vectors (kind, id, embedder, dim, digest, vector) VALUES ($1, $2, $3, $4, $5, $6) \
                 ON CONFLICT (kind, id) DO UPDATE SET embedder = excluded.embedder, dim = excluded.dim, \
                 digest = excluded.digest, vector = excluded.vector",
            )?;
            for v in vectors {
                let blob: Vec<u8> = v.vector.iter().flat_map(|f| f.to_le_bytes()).collect();
                tx.execute(&st, &[&kind, &v.id, &v.embedder, &(v.dim as i32), &v.digest, &blob])?;
            }
            Ok(())
        })
    }

    fn clear_vectors(&self, kind: &str) -> Result<()> {
        self.write(|tx| {
            tx.execute("DELETE FROM vectors WHERE kind = $1", &[&kind])?;
            Ok(())
        })
    }

    fn append_usage(&self, usage: &Usage) -> Result<u64> {
        self.write(|tx| {
            let id: i64 = tx
                .query_one(
                    "INSERT INTO usage (session, at, body) VALUES ($1, $2, $3) RETURNING id",
                    &[&usage.session, &instant(&usage.at), &to_json(usage)?],
                )?
                .get(0);
            Ok(id as u64)
        })
    }

    fn usages(&self, session: Option<&str>) -> Result<Vec<Usage>> {
        let ids: Option<Vec<String>> = session.map(|s| vec![s.to_string()]);
        self.read(|c| read_log(c, "usage", ids.as_deref(), |u: &mut Usage, id| u.id = id))
    }

    fn restore_usages(&self, usages: &[Usage]) -> Result<()> {
        self.write(|tx| restore_usages_tx(tx, usages))
    }

    fn usages_of(&self, sessions: &[String]) -> Result<Vec<Usage>> {
        self.read(|c| read_log(c, "usage", Some(sessions), |u: &mut Usage, id| u.id = id))
    }

    fn put_token(&self, t: &TokenRecord) -> Result<()> {
        self.write(|tx| {
            let created = need_instant(&t.created_at, "token creation time")?;
            let revoked = t.revoked_at.as_deref().map(|r| need_instant(r, "token revocation time")).transpose()?;
            tx.execute(
                "INSERT INTO tokens (id, hash, scope, team, created_at, revoked_at) VALUES ($1, $2, $3, $4, $5, $6)",
                &[&t.id, &t.hash, &t.scope, &t.team, &created, &revoked],
            )
            .map_err(exists("token", &t.id))?;
            Ok(())
        })
    }

    fn token_by_hash(&self, hash: &str) -> Result<Option<TokenRecord>> {
        self.read(|c| {
            c.query_opt("SELECT id, hash, scope, team, created_at, revoked_at FROM tokens WHERE hash = $1", &[&hash])?
                .map(|r| token_row(&r))
                .transpose()
        })
    }

    fn tokens(&self) -> Result<Vec<TokenRecord>> {
        self.read(|c| {
            c.query("SELECT id, hash, scope, team, created_at, revoked_at FROM tokens ORDER BY created_at, id", &[])?
                .iter()
                .map(token_row)
                .collect()
        })
    }

    fn revoke_token(&self, id: &str, at: &str) -> Result<()> {
        self.write(|tx| {
            let at = need_instant(at, "revocation time")?;
            let n =
                tx.execute("UPDATE tokens SET revoked_at = $2 WHERE id = $1 AND revoked_at IS NULL", &[&id, &at])?;
            if n == 0 {
                return Err(Fail::Store(StoreError::NotFound { what: "active token", id: id.to_string() }));
            }
            Ok(())
        })
    }

    fn try_lock(&self, name: &str, holder: &str, now: &str, lease_until: &str) -> Result<bool> {
        self.write(|tx| {
            let now = need_instant(now, "time")?;
            let until = need_instant(lease_until, "lease end")?;
            let n = tx.execute(
                "INSERT INTO locks (name, holder, lease_until) VALUES ($1, $2, $3) \
                 ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, lease_until = excluded.lease_until \
                 WHERE locks.holder = excluded.holder OR locks.lease_until < $4",
                &[&name, &holder, &until, &now],
            )?;
            Ok(n == 1)
        })
    }

    fn take_over_lock(&self, name: &str, gone: &str, holder: &str, lease_until: &str) -> Result<bool> {
        self.write(|tx| {
            let until = need_instant(lease_until, "lease end")?;
            let n = tx.execute(
                "UPDATE locks SET holder = $3, lease_until = $4 WHERE name = $1 AND holder = $2",
                &[&name, &gone, &holder, &until],
            )?;
            Ok(n == 1)
        })
    }

    fn lock_holder(&self, name: &str) -> Result<Option<Lease>> {
        self.read(|c| {
            Ok(c.query_opt("SELECT holder, lease_until FROM locks WHERE name = $1", &[&name])?.map(|r| Lease {
                name: name.to_string(),
                holder: r.get(0),
                lease_until: text_of(r.get(1)),
            }))
        })
    }

    fn unlock(&self, name: &str, holder: &str) -> Result<()> {
        self.write(|tx| {
            tx.execute("DELETE FROM locks WHERE name = $1 AND holder = $2", &[&name, &holder])?;
            Ok(())
        })
    }

    fn insert_run(&self, run: &DreamRun) -> Result<()> {
        self.write(|tx| {
            tx.execute(
                "INSERT INTO runs (id, schedule, state, started_at, body) VALUES ($1, $2, $3, $4, $5)",
                &[&run.id, &run.schedule, &run.state, &instant(&run.started_at), &to_json(run)?],
            )
            .map_err(exists("run", &run.id))?;
            Ok(())
        })
    }

    fn update_run(&self, run: &DreamRun) -> Result<()> {
        self.write(|tx| {
            let n = tx.execute(
                "UPDATE runs SET schedule = $2, state = $3, started_at = $4, body = $5 WHERE id = $1",
                &[&run.id, &run.schedule, &run.state, &instant(&run.started_at), &to_json(run)?],
            )?;
            if n == 0 {
                return Err(Fail::Store(StoreError::NotFound { what: "run", id: run.id.clone() }));
            }
            Ok(())
        })
    }

    fn runs(&self) -> Result<Vec<DreamRun>> {
        self.read(|c| {
            c.query("SELECT body FROM runs ORDER BY started_at DESC NULLS LAST, id DESC", &[])?
                .iter()
                .map(|r| from_json(&r.get::<_, String>(0)))
                .collect()
        })
    }

    fn put_agent_run(&self, run: &AgentRun) -> Result<()> {
        // One statement: a stored cancellation is kept whatever the new
        // record says (the column is the truth; the body's copy is replaced
        // by it on read).
        let body = serde_json::to_string(run).map_err(|e| StoreError::Backend(format!("cannot encode: {e}")))?;
        self.write(|tx| {
            tx.execute(
                "INSERT INTO agent_runs (id, created, team, state, cancel_requested_at, body) \
                 VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (id) DO UPDATE SET created = excluded.created, \
                 team = excluded.team, state = excluded.state, \
                 cancel_requested_at = COALESCE(agent_runs.cancel_requested_at, excluded.cancel_requested_at), \
                 body = excluded.body",
                &[&run.id, &instant(&run.created_at), &run.team, &run.state, &run.cancel_requested_at, &body],
            )?;
            Ok(())
        })
    }

    fn agent_run(&self, id: &str) -> Result<Option<AgentRun>> {
        self.read(|c| {
            c.query_opt("SELECT body, cancel_requested_at FROM agent_runs WHERE id = $1", &[&id])?
                .map(|r| agent_run_row(&r))
                .transpose()
        })
    }

    fn agent_runs(&self, f: &RunFilter) -> Result<Vec<AgentRun>> {
        self.read(|c| {
            let mut sql = String::from("SELECT body, cancel_requested_at FROM agent_runs WHERE TRUE");
            let mut args: Vec<Box<dyn postgres::types::ToSql + Sync>> = Vec::new();
            for (col, v) in [("team", &f.team), ("state", &f.state)] {
                if let Some(v) = v {
                    args.push(Box::new(v.clone()));
                    sql.push_str(&format!(" AND {col} = ${}", args.len()));
                }
            }
            sql.push_str(" ORDER BY created DESC NULLS LAST, id DESC");
            if let Some(l) = f.limit {
                // Beyond the SQL integer range is no limit at all.
                let l = i64::try_from(l).unwrap_or(i64::MAX);
                sql.push_str(&format!(" LIMIT {l}"));
            }
            let refs: Vec<&(dyn postgres::types::ToSql + Sync)> = args.iter().map(|a| a.as_ref()).collect();
            c.query(&sql, &refs)?.iter().map(agent_run_row).collect()
        })
    }

    fn append_journal(&self, entries: &[JournalEntry]) -> Result<Vec<u64>> {
        self.write(|tx| {
            // One appender per run at a time, so a run's seqs follow its
            // commit order (a reader asking for entries after a seq misses
            // none); runs are locked in one order, so two batches never
            // wait on each other in a circle.
            let runs: std::collections::BTreeSet<&str> = entries.iter().map(|e| e.run.as_str()).collect();
            for run in runs {
                tx.execute("SELECT pg_advisory_xact_lock(hashtext('nocturne-journal/' || $1))", &[&run])?;
            }
            let mut out = Vec::with_capacity(entries.len());
            for e in entries {
                let step = i32::try_from(e.step).map_err(|_| {
                    Fail::Store(StoreError::Backend(format!("run {}: step {} is too large", e.run, e.step)))
                })?;
                let stored = tx.query_opt(
                    "SELECT seq, kind, digest, body FROM run_journal WHERE run = $1 AND agent = $2 AND step = $3 \
                     AND phase = $4",
                    &[&e.run, &e.agent, &step, &e.phase],
                )?;
                match stored {
                    Some(r) => {
                        let (seq, kind, digest, body): (i64, String, String, String) =
                            (r.try_get(0)?, r.try_get(1)?, r.try_get(2)?, r.try_get(3)?);
                        let same_body = from_json::<serde_json::Value>(&body)? == e.body;
                        if kind != e.kind || digest != e.digest || !same_body {
                            return Err(Fail::Store(StoreError::JournalConflict {
                                run: e.run.clone(),
                                agent: e.agent.clone(),
                                step: e.step,
                                phase: e.phase.clone(),
                            }));
                        }
                        out.push(seq as u64);
                    }
                    None => {
                        let body = to_json(&e.body)?;
                        let seq: i64 = tx
                            .query_one(
                                "INSERT INTO run_journal (run, agent, step, phase, kind, digest, at, body) \
                                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING seq",
                                &[&e.run, &e.agent, &step, &e.phase, &e.kind, &e.digest, &e.at, &body],
                            )?
                            .try_get(0)?;
                        out.push(seq as u64);
                    }
                }
            }
            Ok(out)
        })
    }

    fn journal(&self, run: &str, after: u64) -> Result<Vec<JournalEntry>> {
        let after = i64::try_from(after).unwrap_or(i64::MAX);
        self.read(|c| {
            c.query(
                "SELECT seq, agent, step, phase, kind, digest, at, body FROM run_journal WHERE run = $1 AND seq > $2 \
                 ORDER BY seq",
                &[&run, &after],
            )?
            .iter()
            .map(|r| {
                let seq: i64 = r.try_get(0)?;
                let step: i32 = r.try_get(2)?;
                let body: String = r.try_get(7)?;
                Ok(JournalEntry {
                    seq: seq as u64,
                    run: run.to_string(),
                    agent: r.try_get(1)?,
                    step: step as u32,
                    phase: r.try_get(3)?,
                    kind: r.try_get(4)?,
                    digest: r.try_get(5)?,
                    at: r.try_get(6)?,
                    body: from_json(&body)?,
                })
            })
            .collect()
        })
    }

    fn enqueue_job(&self, j: &NewJob) -> Result<(Job, bool)> {
        self.write(|tx| {
            let created = need_instant(&j.created_at, "job creation time")?;
            let after = need_instant(&j.run_after, "job start time")?;
            let inserted = tx
                .query_opt(
                    "INSERT INTO jobs (id, kind, key, payload, team, submitted_by, created_at, run_after, max_attempts, \
                     state) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, 'queued') \
                     ON CONFLICT (key) DO NOTHING RETURNING id",
                    &[
                        &j.id,
                        &j.kind,
                        &j.key,
                        &to_json(&j.payload)?,
                        &j.team,
                        &j.submitted_by,
                        &created,
                        &after,
                        &(j.max_attempts as i32),
                    ],
                )
                .map_err(exists("job", &j.id))?;
            let (cond, id): (&str, &str) = match (&inserted, &j.key) {
                (Some(_), _) | (None, None) => ("id", &j.id),
                (None, Some(k)) => ("key", k),
            };
            let row = tx.query_one(&format!("SELECT {JOB_COLS} FROM jobs WHERE {cond} = $1"), &[&id])?;
            Ok((job_row(&row)?, inserted.is_some()))
        })
    }

    fn claim_job(&self, kinds: &[&str], worker: &str, now: &str, lease_until: &str) -> Result<Option<Job>> {
        let kinds: Vec<String> = kinds.iter().map(|k| k.to_string()).collect();
        self.write(|tx| {
            let now_t = need_instant(now, "time")?;
            let until = need_instant(lease_until, "lease end")?;
            loop {
                let row = tx.query_opt(
                    "SELECT id, attempts, max_attempts, state FROM jobs \
                     WHERE (cardinality($1::text[]) = 0 OR kind = ANY($1)) \
                       AND ((state = 'queued' AND run_after <= $2) OR (state = 'running' AND lease_until < $2)) \
                     ORDER BY created_at, id LIMIT 1 FOR UPDATE SKIP LOCKED",
                    &[&kinds, &now_t],
                )?;
                let Some(row) = row else { return Ok(None) };
                let (id, attempts, max, state): (String, i32, i32, String) =
                    (row.get(0), row.get(1), row.get(2), row.get(3));
                if attempts >= max {
                    let why = if state == "running" {
                        format!("abandoned after {attempts} attempts: the workers running it stopped before it ended")
                    } else {
                        format!("abandoned after {attempts} attempts")
                    };
                    tx.execute(
                        "UPDATE jobs SET state = 'failed', finished_at = $2, lease_until = NULL, error = $3 WHERE id = $1",
                        &[&id, &now_t, &why],
                    )?;
                    continue;
                }
                let row = tx.query_one(
                    &format!(
                        "UPDATE jobs SET state = 'running', attempts = attempts + 1, worker = $2, lease_until = $3, \
                         started_at = $4 WHERE id = $1 RETURNING {JOB_COLS}"
                    ),
                    &[&id, &worker, &until, &now_t],
                )?;
                return Ok(Some(job_row(&row)?));
            }
        })
    }

    fn renew_job(&self, id: &str, claim: &Claim, lease_until: &str) -> Result<bool> {
        self.write(|tx| {
            let until = need_instant(lease_until, "lease end")?;
            let n = tx.execute(
                "UPDATE jobs SET lease_until = $4 WHERE id = $1 AND state = 'running' AND worker = $2 AND attempts = $3",
                &[&id, &claim.worker, &(claim.attempt as i32), &until],
            )?;
            Ok(n == 1)
        })
    }

    fn finish_job(&self, id: &str, claim: &Claim, end: &JobEnd, now: &str) -> Result<bool> {
        self.write(|tx| {
            let now_t = need_instant(now, "time")?;
            let fence = "WHERE id = $1 AND state = 'running' AND worker = $2 AND attempts = $3";
            let attempt = claim.attempt as i32;
            let n = match end {
                JobEnd::Done(v) => tx.execute(
                    &format!(
                        "UPDATE jobs SET state = 'done', finished_at = $4, lease_until = NULL, result = $5 {fence}"
                    ),
                    &[&id, &claim.worker, &attempt, &now_t, &to_json(v)?],
                )?,
                JobEnd::Failed(e) => tx.execute(
                    &format!(
                        "UPDATE jobs SET state = 'failed', finished_at = $4, lease_until = NULL, error = $5 {fence}"
                    ),
                    &[&id, &claim.worker, &attempt, &now_t, e],
                )?,
                JobEnd::Retry { run_after, why } => {
                    let after = need_instant(run_after, "job start time")?;
                    tx.execute(
                        &format!(
                            "UPDATE jobs SET state = 'queued', run_after = $4, lease_until = NULL, error = $5 {fence}"
                        ),
                        &[&id, &claim.worker, &attempt, &after, why],
                    )?
                }
            };
            Ok(n == 1)
        })
    }

    fn release_job(&self, id: &str, claim: &Claim, now: &str) -> Result<bool> {
        self.write(|tx| {
            let now_t = need_instant(now, "time")?;
            let n = tx.execute(
                "UPDATE jobs SET state = 'queued', run_after = $4, lease_until = NULL, error = 'its worker stopped' \
                 WHERE id = $1 AND state = 'running' AND worker = $2 AND attempts = $3",
                &[&id, &claim.worker, &(claim.attempt as i32), &now_t],
            )?;
            Ok(n == 1)
        })
    }

    fn job(&self, id: &str) -> Result<Option<Job>> {
        self.read(|c| job_in(c, id))
    }

    fn jobs(&self, f: &JobFilter) -> Result<Vec<Job>> {
        self.read(|c| {
            let mut sql = format!("SELECT {JOB_COLS} FROM jobs WHERE TRUE");
            let mut args: Vec<String> = Vec::new();
            for (col, v) in
                [("state", f.state.map(|s| s.as_str().to_string())), ("kind", f.kind.clone()), ("team", f.team.clone())]
            {
                if let Some(v) = v {
                    args.push(v);
                    sql.push_str(&format!(" AND {col} = ${}", args.len()));
                }
            }
            sql.push_str(" ORDER BY created_at DESC, id DESC");
            if let Some(l) = f.limit {
                // Beyond the SQL integer range is no limit at all.
                let l = i64::try_from(l).unwrap_or(i64::MAX);
                sql.push_str(&format!(" LIMIT {l}"));
            }
            let refs: Vec<&(dyn postgres::types::ToSql + Sync)> =
                args.iter().map(|a| a as &(dyn postgres::types::ToSql + Sync)).collect();
            c.query(&sql, &refs)?.iter().map(job_row).collect()
        })
    }

    fn insert_proposal(&self, p: &Proposal) -> Result<()> {
        self.write(|tx| {
            let ops: Vec<i32> = p.applied_ops.iter().map(|n| *n as i32).collect();
            tx.execute(
                "INSERT INTO proposals (id, created_at, status, team, applied_revision, applied_ops, body) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7)",
                &[
                    &p.id,
                    &instant(&p.created_at),
                    &p.status.as_str(),
                    &p.team,
                    &p.applied_revision.map(|r| r as i64),
                    &ops,
                    &to_json(p)?,
                ],
            )
            .map_err(exists("dream", &p.id))?;
            Ok(())
        })
    }

    fn proposal(&self, id: &str) -> Result<Option<Proposal>> {
        self.read(|c| {
            c.query_opt(&format!("SELECT {PROPOSAL_COLS} FROM proposals WHERE id = $1"), &[&id])?
                .map(|r| proposal_row(&r))
                .transpose()
        })
    }

    fn proposals(&self) -> Result<Vec<Proposal>> {
        self.read(|c| {
            c.query(
                &format!("SELECT {PROPOSAL_COLS} FROM proposals ORDER BY created_at DESC NULLS LAST, id DESC"),
                &[],
            )?
            .iter()
            .map(proposal_row)
            .collect()
        })
    }

    fn set_proposal_status(&self, id: &str, status: ProposalStatus) -> Result<()> {
        self.write(|tx| set_status(tx, id, status, None))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use nocturne_store::conformance;

    fn fresh(test: &str) -> Option<PgStore> {
        let base = testing::server(test)?;
        Some(PgStore::open(&testing::fresh_url(&base, test).unwrap()).unwrap())
    }

    #[test]
    fn postgres_store_passes_the_conformance_suite() {
        let Some(base) = testing::server("postgres_store_passes_the_conformance_suite") else { return };
        let failures = conformance::run_all(&|| PgStore::open(&testing::fresh_url(&base, "conf").unwrap()).unwrap());
        assert!(failures.is_empty(), "conformance failures:\n{}", failures.join("\n"));
    }

    #[test]
    fn the_database_refuses_updates_and_deletes_of_history() {
        let Some(s) = fresh("refuses") else { return };
        s.append_sessions(&[conformance::sample_session("s", "u", "2026-01-01T00:00:00Z", 2)]).unwrap();
        s.append_outcomes(&[]).unwrap();
        s.commit(Commit {
            expect_rev: None,
            author: "user:t".into(),
            reason: "t".into(),
            created_at: "2026-01-01T00:00:00Z".into(),
            changes: conformance::revisions_fixture()[0].changes.clone(),
            applies_proposal: None,
        })
        .unwrap();
        s.put_taxonomy(1, "x", "2026-01-01T00:00:00Z").unwrap();
        s.append_usage(&Usage {
            id: 0,
            at: "2026-01-01T00:00:00Z".into(),
            session: Some("s".into()),
            task: None,
            agent: None,
            user: None,
            team: None,
            query: "q".into(),
            memories: vec![],
        })
        .unwrap();
        for sql in [
            "UPDATE events SET text = 'x'",
            "DELETE FROM events",
            "TRUNCATE events CASCADE",
            "DELETE FROM sessions",
            "UPDATE sessions SET \"user\" = 'mallory'",
            "UPDATE sessions SET event_count = 1",
            "UPDATE sessions SET parent = 'other', event_count = event_count + 1",
            "UPDATE revisions SET author = 'x'",
            "DELETE FROM changes",
            "UPDATE taxonomies SET toml = 'y'",
            "DELETE FROM usage",
        ] {
            let e = s.execute_raw(sql).unwrap_err().to_string();
            assert!(e.contains("append-only"), "{sql}: {e}");
        }
        s.append_outcomes(&[nocturne_core::outcome::Outcome {
            id: 0,
            session: "s".into(),
            task: None,
            dimension: "result".into(),
            value: nocturne_core::outcome::OutcomeValue::Label("success".into()),
            taxonomy_version: 1,
            source: nocturne_core::outcome::OutcomeSource::Human,
            by: None,
            comment: None,
            recorded_at: "2026-01-01T00:00:00Z".into(),
        }])
        .unwrap();
        for sql in ["UPDATE outcomes SET session = 'x'", "DELETE FROM outcomes", "TRUNCATE outcomes"] {
            let e = s.execute_raw(sql).unwrap_err().to_string();
            assert!(e.contains("append-only"), "{sql}: {e}");
        }
        assert_eq!(s.session("s").unwrap().unwrap().user.as_deref(), Some("u"));
        assert_eq!(s.events("s").unwrap().len(), 2);
    }

    #[test]
    fn the_database_keeps_closed_sessions_the_journal_and_cancellations_final() {
        let Some(s) = fresh("final") else { return };
        s.append_sessions(&[conformance::sample_session("s", "u", "2026-01-01T00:00:00Z", 2)]).unwrap();
        // An open session: closing is the one header change, and nothing else at the same time.
        for sql in [
            "UPDATE sessions SET closed_at = 'x', event_count = event_count + 1",
            "UPDATE sessions SET closed_at = 'x', ended_at = 'y'",
        ] {
            let e = s.execute_raw(sql).unwrap_err().to_string();
            assert!(e.contains("append-only"), "{sql}: {e}");
        }
        s.execute_raw("UPDATE sessions SET closed_at = '2026-01-02T00:00:00Z'").unwrap();
        for sql in [
            "UPDATE sessions SET closed_at = NULL",
            "UPDATE sessions SET closed_at = '2030-01-01T00:00:00Z'",
            "UPDATE sessions SET event_count = event_count + 1",
        ] {
            let e = s.execute_raw(sql).unwrap_err().to_string();
            assert!(e.contains("append-only"), "{sql}: {e}");
        }
        s.append_journal(&[JournalEntry {
            seq: 0,
            run: "r".into(),
            agent: "root".into(),
            step: 0,
            phase: "started".into(),
            kind: "start".into(),
            digest: String::new(),
            at: "2026-01-01T00:00:00Z".into(),
            body: serde_json::json!({}),
        }])
        .unwrap();
        for sql in ["UPDATE run_journal SET body = '{}'", "DELETE FROM run_journal", "TRUNCATE run_journal"] {
            let e = s.execute_raw(sql).unwrap_err().to_string();
            assert!(e.contains("append-only"), "{sql}: {e}");
        }
        s.execute_raw(
            "INSERT INTO agent_runs (id, state, cancel_requested_at, body) VALUES ('r', 'running', 'x', '{}')",
        )
        .unwrap();
        let e = s.execute_raw("UPDATE agent_runs SET cancel_requested_at = NULL").unwrap_err().to_string();
        assert!(e.contains("never cleared"), "{e}");
        assert_eq!(s.session("s").unwrap().unwrap().closed_at.as_deref(), Some("2026-01-02T00:00:00Z"));
        assert_eq!(s.journal("r", 0).unwrap().len(), 1);
    }

    #[test]
    fn states_are_typed_columns_the_database_checks() {
        let Some(s) = fresh("typed") else { return };
        for sql in [
            "INSERT INTO tokens (id, hash, scope, created_at) VALUES ('t', 'h', 'superuser', now())",
            "INSERT INTO runs (id, schedule, state, body) VALUES ('r', 's', 'sleeping', '{}')",
            "INSERT INTO proposals (id, status, body) VALUES ('p', 'maybe', '{}')",
            "INSERT INTO jobs (id, kind, payload, submitted_by, created_at, run_after, max_attempts, state) \
             VALUES ('j', 'dream', '{}', 'x', now(), now(), 1, 'running')",
        ] {
            assert!(s.execute_raw(sql).is_err(), "{sql} should be refused");
        }
    }

    #[test]
    fn a_store_from_a_newer_version_is_refused_with_a_message() {
        let Some(s) = fresh("newer") else { return };
        s.execute_raw("UPDATE nocturne_schema SET version = 99").unwrap();
        let url = s.place().to_string();
        drop(url);
        // Reopen through the same schema: the pool's config is the one used.
        let err = s.migrate().unwrap_err();
        assert!(err.to_string().contains("newer than this program supports"), "{err}");
    }

    #[test]
    fn many_processes_opening_a_new_store_at_once_migrate_it_once() {
        let Some(base) = testing::server("migrate_once") else { return };
        let url = testing::fresh_url(&base, "migrate").unwrap();
        let opened: Vec<bool> = std::thread::scope(|sc| {
            let hs: Vec<_> = (0..6).map(|_| sc.spawn(|| PgStore::open(&url).is_ok())).collect();
            hs.into_iter().map(|h| h.join().unwrap()).collect()
        });
        assert!(opened.iter().all(|o| *o), "{opened:?}");
        let s = PgStore::open(&url).unwrap();
        let v: i32 = s.read(|c| Ok(c.query_one("SELECT version FROM nocturne_schema", &[])?.get(0))).unwrap();
        assert_eq!(i64::from(v), SCHEMA_VERSION);
        let rows: i64 = s.read(|c| Ok(c.query_one("SELECT COUNT(*) FROM nocturne_schema", &[])?.get(0))).unwrap();
        assert_eq!(rows, 1);
    }
}
