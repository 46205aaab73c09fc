//! Versioned schema migrations. `PRAGMA user_version` holds the version; a
//! store at version N is migrated through N+1.. in one transaction each.

use rusqlite::Connection;

/// Each entry moves the schema from version `i` to `i + 1`. Never edit a
/// released entry; append a new one.
const MIGRATIONS: &[&str] = &[
    // 1: session log, memory revisions, proposals.
    r#"
    CREATE TABLE sessions (
        id TEXT NOT NULL UNIQUE,
        format TEXT NOT NULL,
        source TEXT,
        user TEXT,
        agent TEXT,
        team TEXT,
        title TEXT,
        event_count INTEGER NOT NULL,
        head_hash BLOB NOT NULL,
        started_at TEXT NOT NULL,
        ended_at TEXT,
        ingested_at TEXT NOT NULL
    );
    CREATE INDEX sessions_started ON sessions (started_at DESC);
    -- id = session rowid << 24 | seq
    CREATE TABLE events (
        id INTEGER PRIMARY KEY,
        role INTEGER NOT NULL,
        kind INTEGER NOT NULL,
        tool_name TEXT,
        tool_input TEXT,
        tool_use_id TEXT,
        text TEXT,
        flags INTEGER NOT NULL,
        timestamp TEXT,
        source_line INTEGER,
        raw TEXT NOT NULL,
        hash BLOB NOT NULL
    );
    CREATE TABLE revisions (
        rev INTEGER PRIMARY KEY,
        author TEXT NOT NULL,
        reason TEXT NOT NULL,
        created_at TEXT NOT NULL
    );
    CREATE TABLE changes (
        rev INTEGER NOT NULL REFERENCES revisions (rev),
        memory_id TEXT NOT NULL,
        before TEXT,
        after TEXT
    );
    CREATE INDEX changes_rev ON changes (rev);
    CREATE TABLE memories (
        id TEXT PRIMARY KEY,
        body TEXT NOT NULL,
        rev INTEGER NOT NULL
    );
    CREATE TABLE proposals (
        id TEXT PRIMARY KEY,
        created_at TEXT NOT NULL,
        status TEXT NOT NULL,
        body TEXT NOT NULL
    );
    "#,
    // 2: the log refuses updates and deletes; memory history by id.
    r#"
    CREATE TRIGGER sessions_append_only_u BEFORE UPDATE ON sessions
        BEGIN SELECT RAISE(ABORT, 'the session log is append-only'); END;
    CREATE TRIGGER sessions_append_only_d BEFORE DELETE ON sessions
        BEGIN SELECT RAISE(ABORT, 'the session log is append-only'); END;
    CREATE TRIGGER events_append_only_u BEFORE UPDATE ON events
        BEGIN SELECT RAISE(ABORT, 'the session log is append-only'); END;
    CREATE TRIGGER events_append_only_d BEFORE DELETE ON events
        BEGIN SELECT RAISE(ABORT, 'the session log is append-only'); END;
    CREATE INDEX changes_memory ON changes (memory_id, rev);
    "#,
    // 3: outcomes (append-only) and taxonomy versions.
    r#"
    CREATE TABLE outcomes (
        id INTEGER PRIMARY KEY,
        session TEXT NOT NULL,
        task TEXT,
        dimension TEXT NOT NULL,
        recorded_at TEXT NOT NULL,
        body TEXT NOT NULL
    );
    CREATE INDEX outcomes_session ON outcomes (session, id);
    CREATE TABLE taxonomies (
        version INTEGER PRIMARY KEY,
        toml TEXT NOT NULL,
        set_at TEXT NOT NULL
    );
    CREATE TRIGGER outcomes_append_only_u BEFORE UPDATE ON outcomes
        BEGIN SELECT RAISE(ABORT, 'outcomes are append-only'); END;
    CREATE TRIGGER outcomes_append_only_d BEFORE DELETE ON outcomes
        BEGIN SELECT RAISE(ABORT, 'outcomes are append-only'); END;
    CREATE TRIGGER taxonomies_append_only_u BEFORE UPDATE ON taxonomies
        BEGIN SELECT RAISE(ABORT, 'taxonomy versions are append-only'); END;
    "#,
    // 4: retrieval: cached vectors (derived, rebuildable) and usage events (append-only).
    r#"
    CREATE TABLE vectors (
        kind TEXT NOT NULL,
        id TEXT NOT NULL,
        embedder TEXT NOT NULL,
        dim INTEGER NOT NULL,
        digest TEXT NOT NULL,
        vector BLOB NOT NULL,
        PRIMARY KEY (kind, id)
    );
    CREATE TABLE usage (
        id INTEGER PRIMARY KEY,
        session TEXT,
        body TEXT NOT NULL
    );
    CREATE INDEX usage_session ON usage (session, id);
    CREATE TRIGGER usage_append_only_u BEFORE UPDATE ON usage
        BEGIN SELECT RAISE(ABORT, 'usage events are append-only'); END;
    CREATE TRIGGER usage_append_only_d BEFORE DELETE ON usage
        BEGIN SELECT RAISE(ABORT, 'usage events are append-only'); END;
    "#,
    // 5: access tokens, stored hashed.
    r#"
    CREATE TABLE tokens (
        id TEXT PRIMARY KEY,
        hash TEXT NOT NULL UNIQUE,
        scope TEXT NOT NULL,
        team TEXT,
        created_at TEXT NOT NULL,
        revoked_at TEXT
    );
    "#,
    // 6: an open session may grow at its end: its header's count, head hash
    // and end time may advance; nothing else in it may change.
    r#"
    DROP TRIGGER sessions_append_only_u;
    CREATE TRIGGER sessions_append_only_u BEFORE UPDATE ON sessions
        WHEN NEW.id IS NOT OLD.id OR NEW.format IS NOT OLD.format OR NEW.source IS NOT OLD.source
          OR NEW.user IS NOT OLD.user OR NEW.agent IS NOT OLD.agent OR NEW.team IS NOT OLD.team
          OR NEW.title IS NOT OLD.title OR NEW.started_at IS NOT OLD.started_at
          OR NEW.ingested_at IS NOT OLD.ingested_at OR NEW.event_count <= OLD.event_count
        BEGIN SELECT RAISE(ABORT, 'the session log is append-only'); END;
    "#,
    // 7: scheduled dream runs and leases.
    r#"
    CREATE TABLE runs (
        id TEXT PRIMARY KEY,
        started_at TEXT NOT NULL,
        body TEXT NOT NULL
    );
    CREATE TABLE locks (
        name TEXT PRIMARY KEY,
        holder TEXT NOT NULL,
        lease_until TEXT NOT NULL
    );
    "#,
    // 8: sub-agent sessions: the parent link (indexed, for children), what
    // the sub-agent is (JSON) and who speaks in the user turns. Fixed once
    // stored, like the rest of the header.
    r#"
    ALTER TABLE sessions ADD COLUMN parent TEXT;
    ALTER TABLE sessions ADD COLUMN subagent TEXT;
    ALTER TABLE sessions ADD COLUMN counterpart TEXT;
    CREATE INDEX sessions_parent ON sessions (parent, started_at);
    DROP TRIGGER sessions_append_only_u;
    CREATE TRIGGER sessions_append_only_u BEFORE UPDATE ON sessions
        WHEN NEW.id IS NOT OLD.id OR NEW.format IS NOT OLD.format OR NEW.source IS NOT OLD.source
          OR NEW.user IS NOT OLD.user OR NEW.agent IS NOT OLD.agent OR NEW.team IS NOT OLD.team
          OR NEW.title IS NOT OLD.title OR NEW.started_at IS NOT OLD.started_at
          OR NEW.ingested_at IS NOT OLD.ingested_at OR NEW.event_count <= OLD.event_count
          OR NEW.parent IS NOT OLD.parent OR NEW.subagent IS NOT OLD.subagent
          OR NEW.counterpart IS NOT OLD.counterpart
        BEGIN SELECT RAISE(ABORT, 'the session log is append-only'); END;
    "#,
    // 9: sessions open and closed (the one other header change: open to
    // closed, nothing else at the same time; a closed session is final),
    // orchestration runs (status records; a cancellation is sticky) and
    // their journal (append-only, one entry per run, agent, step, phase).
    r#"
    ALTER TABLE sessions ADD COLUMN closed_at TEXT;
    DROP TRIGGER sessions_append_only_u;
    CREATE TRIGGER sessions_append_only_u BEFORE UPDATE ON sessions
        WHEN NEW.id IS NOT OLD.id OR NEW.format IS NOT OLD.format OR NEW.source IS NOT OLD.source
          OR NEW.user IS NOT OLD.user OR NEW.agent IS NOT OLD.agent OR NEW.team IS NOT OLD.team
          OR NEW.title IS NOT OLD.title OR NEW.started_at IS NOT OLD.started_at
          OR NEW.ingested_at IS NOT OLD.ingested_at
          OR NEW.parent IS NOT OLD.parent OR NEW.subagent IS NOT OLD.subagent
          OR NEW.counterpart IS NOT OLD.counterpart
          OR OLD.closed_at IS NOT NULL
          OR (NEW.closed_at IS NULL AND NEW.event_count <= OLD.event_count)
          OR (NEW.closed_at IS NOT NULL AND (NEW.event_count IS NOT OLD.event_count
              OR NEW.head_hash IS NOT OLD.head_hash OR NEW.ended_at IS NOT OLD.ended_at))
        BEGIN SELECT RAISE(ABORT, 'the session log is append-only'); END;
    CREATE TABLE agent_runs (
        id TEXT PRIMARY KEY,
        created_at TEXT NOT NULL,
        team TEXT,
        state TEXT NOT NULL,
        cancel_requested_at TEXT,
        body TEXT NOT NULL
    );
    CREATE INDEX agent_runs_created ON agent_runs (created_at DESC, id DESC);
    CREATE TRIGGER agent_runs_cancel_sticky BEFORE UPDATE ON agent_runs
        WHEN OLD.cancel_requested_at IS NOT NULL AND NEW.cancel_requested_at IS NOT OLD.cancel_requested_at
        BEGIN SELECT RAISE(ABORT, 'a cancellation is never cleared'); END;
    CREATE TABLE run_journal (
        seq INTEGER PRIMARY KEY,
        run TEXT NOT NULL,
        agent TEXT NOT NULL,
        step INTEGER NOT NULL,
        phase TEXT NOT NULL,
        kind TEXT NOT NULL,
        digest TEXT NOT NULL,
        at TEXT NOT NULL,
        body TEXT NOT NULL,
        UNIQUE (run, agent, step, phase)
    );
    CREATE INDEX run_journal_run ON run_journal (run, seq);
    CREATE TRIGGER run_journal_append_only_u BEFORE UPDATE ON run_journal
        BEGIN SELECT RAISE(ABORT, 'the run journal is append-only'); END;
    CREATE TRIGGER run_journal_append_only_d BEFORE DELETE ON run_journal
        BEGIN SELECT RAISE(ABORT, 'the run journal is append-only'); END;
    "#,
    // 10: many writers. Start times compare as instants (a session at
    // 10:30+02:00 started before one at 09:00Z); a proposal's team, applied
    // revision and applied ops are columns, written in the apply's
    // transaction; the job queue; nothing is replaced on insert.
    r#"
    ALTER TABLE sessions ADD COLUMN started_key TEXT
        GENERATED ALWAYS AS (COALESCE(strftime('%Y-%m-%dT%H:%M:%fZ', started_at), started_at)) VIRTUAL;
    CREATE INDEX sessions_started_key ON sessions (started_key DESC, id DESC);
    CREATE INDEX sessions_parent_key ON sessions (parent, started_key, id);
    DROP INDEX sessions_started;
    DROP INDEX sessions_parent;
    ALTER TABLE proposals ADD COLUMN team TEXT;
    ALTER TABLE proposals ADD COLUMN applied_revision INTEGER;
    ALTER TABLE proposals ADD COLUMN applied_ops TEXT NOT NULL DEFAULT '[]';
    UPDATE proposals SET
        team = COALESCE(json_extract(body, '$.team'), json_extract(body, '$.stats."filter.team"')),
        applied_revision = json_extract(body, '$.applied_revision'),
        applied_ops = COALESCE(json_extract(body, '$.applied_ops'), '[]');
    CREATE INDEX proposals_created ON proposals (created_at DESC, id DESC);
    CREATE TABLE jobs (
        id TEXT PRIMARY KEY,
        kind TEXT NOT NULL,
        key TEXT UNIQUE,
        payload TEXT NOT NULL,
        team TEXT,
        submitted_by TEXT NOT NULL,
        created_at TEXT NOT NULL,
        run_after TEXT NOT NULL,
        max_attempts INTEGER NOT NULL CHECK (max_attempts >= 1),
        state TEXT NOT NULL CHECK (state IN ('queued', 'running', 'done', 'failed')),
        attempts INTEGER NOT NULL DEFAULT 0,
        worker TEXT,
        lease_until TEXT,
        started_at TEXT,
        finished_at TEXT,
        result TEXT,
        error TEXT
    );
    CREATE INDEX jobs_state ON jobs (state, created_at, id);
    CREATE INDEX jobs_created ON jobs (created_at DESC, id DESC);
    "#,
];

/// The schema version this build writes.
pub const SCHEMA_VERSION: i64 = MIGRATIONS.len() as i64;

pub(crate) enum MigrateError {
    TooNew(i64),
    Sql(rusqlite::Error),
}

impl From<rusqlite::Error> for MigrateError {
    fn from(e: rusqlite::Error) -> Self {
        MigrateError::Sql(e)
    }
}

pub(crate) fn migrate(conn: &mut Connection) -> Result<(), MigrateError> {
    migrate_to(conn, SCHEMA_VERSION)
}

/// Migrates up to `target` (tests use it to build old stores).
pub(crate) fn migrate_to(conn: &mut Connection, target: i64) -> Result<(), MigrateError> {
    let current: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    if current > SCHEMA_VERSION {
        return Err(MigrateError::TooNew(current));
    }
    for (i, sql) in MIGRATIONS.iter().enumerate() {
        let v = i as i64 + 1;
        if v <= current || v > target {
            continue;
        }
        let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        tx.execute_batch(sql)?;
        tx.pragma_update(None, "user_version", v)?;
        tx.commit()?;
    }
    Ok(())
}
