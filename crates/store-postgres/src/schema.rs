//! Versioned schema migrations, as in the SQLite store: the table
//! `nocturne_schema` holds the version; a store at version N is migrated
//! through N+1.. in one transaction each, under a lock so that many
//! processes opening the store at once migrate it once.

/// Each entry moves the schema from version `i` to `i + 1`. Never edit a
/// released entry; append a new one.
pub(crate) const MIGRATIONS: &[&str] = &[
    // 1: everything the SQLite store has at its version 10 but for its
    // version 9 (closed sessions, agent runs, their journal: 2 here).
    r#"
    CREATE TABLE sessions (
        rowid BIGSERIAL PRIMARY KEY,
        id TEXT NOT NULL UNIQUE,
        format TEXT NOT NULL,
        source TEXT,
        "user" TEXT,
        agent TEXT,
        team TEXT,
        title TEXT,
        parent TEXT,
        subagent TEXT,
        counterpart TEXT CHECK (counterpart IN ('operator', 'customer', 'agent')),
        event_count INTEGER NOT NULL CHECK (event_count >= 0),
        head_hash BYTEA NOT NULL,
        -- The start as an instant, for order and filters; the text as written beside it.
        started TIMESTAMPTZ,
        started_at TEXT NOT NULL,
        ended_at TEXT,
        ingested_at TEXT NOT NULL
    );
    CREATE INDEX sessions_started ON sessions (started DESC NULLS LAST, id DESC);
    CREATE INDEX sessions_parent ON sessions (parent, started, id);
    CREATE TABLE events (
        session BIGINT NOT NULL REFERENCES sessions (rowid),
        seq INTEGER NOT NULL CHECK (seq >= 0),
        role SMALLINT NOT NULL,
        kind SMALLINT NOT NULL,
        tool_name TEXT,
        tool_input TEXT,
        tool_use_id TEXT,
        text TEXT,
        is_error BOOLEAN NOT NULL,
        sidechain BOOLEAN NOT NULL,
        "timestamp" TEXT,
        source_line INTEGER,
        raw TEXT NOT NULL,
        hash BYTEA NOT NULL,
        PRIMARY KEY (session, seq)
    );
    CREATE TABLE revisions (
        rev BIGINT PRIMARY KEY CHECK (rev >= 1),
        author TEXT NOT NULL,
        reason TEXT NOT NULL,
        created_at TIMESTAMPTZ NOT NULL
    );
    CREATE TABLE changes (
        rev BIGINT NOT NULL REFERENCES revisions (rev),
        n INTEGER NOT NULL,
        memory_id TEXT NOT NULL,
        before TEXT,
        after TEXT,
        PRIMARY KEY (rev, n)
    );
    CREATE INDEX changes_memory ON changes (memory_id, rev);
    CREATE TABLE memories (
        id TEXT PRIMARY KEY,
        body TEXT NOT NULL,
        rev BIGINT NOT NULL REFERENCES revisions (rev)
    );
    CREATE TABLE proposals (
        id TEXT PRIMARY KEY,
        created_at TIMESTAMPTZ,
        status TEXT NOT NULL CHECK (status IN ('pending', 'applied', 'rejected')),
        team TEXT,
        applied_revision BIGINT REFERENCES revisions (rev),
        applied_ops INTEGER[] NOT NULL DEFAULT '{}',
        body TEXT NOT NULL
    );
    CREATE INDEX proposals_created ON proposals (created_at DESC, id DESC);
    CREATE TABLE outcomes (
        id BIGSERIAL PRIMARY KEY,
        session TEXT NOT NULL,
        task TEXT,
        dimension TEXT NOT NULL,
        recorded_at TIMESTAMPTZ,
        body TEXT NOT NULL
    );
    CREATE INDEX outcomes_session ON outcomes (session, id);
    CREATE TABLE taxonomies (
        version INTEGER PRIMARY KEY CHECK (version >= 1),
        toml TEXT NOT NULL,
        set_at TEXT NOT NULL
    );
    CREATE TABLE vectors (
        kind TEXT NOT NULL,
        id TEXT NOT NULL,
        embedder TEXT NOT NULL,
        dim INTEGER NOT NULL,
        digest TEXT NOT NULL,
        vector BYTEA NOT NULL,
        PRIMARY KEY (kind, id)
    );
    CREATE TABLE usage (
        id BIGSERIAL PRIMARY KEY,
        session TEXT,
        at TIMESTAMPTZ,
        body TEXT NOT NULL
    );
    CREATE INDEX usage_session ON usage (session, id);
    CREATE TABLE tokens (
        id TEXT PRIMARY KEY,
        hash TEXT NOT NULL UNIQUE,
        scope TEXT NOT NULL CHECK (scope IN ('read', 'write', 'admin')),
        team TEXT,
        created_at TIMESTAMPTZ NOT NULL,
        revoked_at TIMESTAMPTZ
    );
    CREATE TABLE runs (
        id TEXT PRIMARY KEY,
        schedule TEXT NOT NULL,
        state TEXT NOT NULL CHECK (state IN ('running', 'done', 'failed')),
        started_at TIMESTAMPTZ,
        body TEXT NOT NULL
    );
    CREATE INDEX runs_started ON runs (started_at DESC, id DESC);
    CREATE TABLE locks (
        name TEXT PRIMARY KEY,
        holder TEXT NOT NULL,
        lease_until TIMESTAMPTZ NOT NULL
    );
    CREATE TABLE jobs (
        id TEXT PRIMARY KEY,
        kind TEXT NOT NULL,
        key TEXT UNIQUE,
        payload TEXT NOT NULL,
        team TEXT,
        submitted_by TEXT NOT NULL,
        created_at TIMESTAMPTZ NOT NULL,
        run_after TIMESTAMPTZ NOT NULL,
        max_attempts INTEGER NOT NULL CHECK (max_attempts >= 1),
        state TEXT NOT NULL CHECK (state IN ('queued', 'running', 'done', 'failed')),
        attempts INTEGER NOT NULL DEFAULT 0,
        worker TEXT,
        lease_until TIMESTAMPTZ,
        started_at TIMESTAMPTZ,
        finished_at TIMESTAMPTZ,
        result TEXT,
        error TEXT,
        CHECK (state <> 'running' OR (worker IS NOT NULL AND lease_until IS NOT NULL))
    );
    CREATE INDEX jobs_ready ON jobs (state, run_after);
    CREATE INDEX jobs_created ON jobs (created_at DESC, id DESC);

    -- The database itself refuses to change history.
    CREATE FUNCTION nocturne_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        RAISE EXCEPTION '%', TG_ARGV[0] USING ERRCODE = 'raise_exception';
    END $$;
    CREATE FUNCTION nocturne_session_grows() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        IF NEW.rowid IS DISTINCT FROM OLD.rowid OR NEW.id IS DISTINCT FROM OLD.id
           OR NEW.format IS DISTINCT FROM OLD.format OR NEW.source IS DISTINCT FROM OLD.source
           OR NEW."user" IS DISTINCT FROM OLD."user" OR NEW.agent IS DISTINCT FROM OLD.agent
           OR NEW.team IS DISTINCT FROM OLD.team OR NEW.title IS DISTINCT FROM OLD.title
           OR NEW.parent IS DISTINCT FROM OLD.parent OR NEW.subagent IS DISTINCT FROM OLD.subagent
           OR NEW.counterpart IS DISTINCT FROM OLD.counterpart
           OR NEW.started IS DISTINCT FROM OLD.started OR NEW.started_at IS DISTINCT FROM OLD.started_at
           OR NEW.ingested_at IS DISTINCT FROM OLD.ingested_at
           OR NEW.event_count <= OLD.event_count THEN
            RAISE EXCEPTION 'the session log is append-only' USING ERRCODE = 'raise_exception';
        END IF;
        RETURN NEW;
    END $$;
    CREATE TRIGGER sessions_grow_only BEFORE UPDATE ON sessions
        FOR EACH ROW EXECUTE FUNCTION nocturne_session_grows();
    CREATE TRIGGER sessions_append_only BEFORE DELETE ON sessions
        FOR EACH ROW EXECUTE FUNCTION nocturne_append_only('the session log is append-only');
    CREATE TRIGGER events_append_only BEFORE UPDATE OR DELETE ON events
        FOR EACH ROW EXECUTE FUNCTION nocturne_append_only('the session log is append-only');
    CREATE TRIGGER outcomes_append_only BEFORE UPDATE OR DELETE ON outcomes
        FOR EACH ROW EXECUTE FUNCTION nocturne_append_only('outcomes are append-only');
    CREATE TRIGGER usage_append_only BEFORE UPDATE OR DELETE ON usage
        FOR EACH ROW EXECUTE FUNCTION nocturne_append_only('usage events are append-only');
    CREATE TRIGGER taxonomies_append_only BEFORE UPDATE OR DELETE ON taxonomies
        FOR EACH ROW EXECUTE FUNCTION nocturne_append_only('taxonomy versions are append-only');
    CREATE TRIGGER revisions_append_only BEFORE UPDATE OR DELETE ON revisions
        FOR EACH ROW EXECUTE FUNCTION nocturne_append_only('revisions are append-only');
    CREATE TRIGGER changes_append_only BEFORE UPDATE OR DELETE ON changes
        FOR EACH ROW EXECUTE FUNCTION nocturne_append_only('revisions are append-only');
    CREATE TRIGGER log_no_truncate BEFORE TRUNCATE ON sessions
        FOR EACH STATEMENT EXECUTE FUNCTION nocturne_append_only('the session log is append-only');
    CREATE TRIGGER events_no_truncate BEFORE TRUNCATE ON events
        FOR EACH STATEMENT EXECUTE FUNCTION nocturne_append_only('the session log is append-only');
    CREATE TRIGGER outcomes_no_truncate BEFORE TRUNCATE ON outcomes
        FOR EACH STATEMENT EXECUTE FUNCTION nocturne_append_only('outcomes are append-only');
    CREATE TRIGGER usage_no_truncate BEFORE TRUNCATE ON usage
        FOR EACH STATEMENT EXECUTE FUNCTION nocturne_append_only('usage events are append-only');
    CREATE TRIGGER revisions_no_truncate BEFORE TRUNCATE ON revisions
        FOR EACH STATEMENT EXECUTE FUNCTION nocturne_append_only('revisions are append-only');
    "#,
    // 2: sessions open and closed (the one other header change: open to
    // closed, nothing else at the same time; a closed session is final),
    // orchestration runs (status records; a cancellation is sticky) and
    // their journal (append-only, one entry per run, agent, step, phase).
    r#"
    ALTER TABLE sessions ADD COLUMN closed_at TEXT;
    CREATE OR REPLACE FUNCTION nocturne_session_grows() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        IF NEW.rowid IS DISTINCT FROM OLD.rowid OR NEW.id IS DISTINCT FROM OLD.id
           OR NEW.format IS DISTINCT FROM OLD.format OR NEW.source IS DISTINCT FROM OLD.source
           OR NEW."user" IS DISTINCT FROM OLD."user" OR NEW.agent IS DISTINCT FROM OLD.agent
           OR NEW.team IS DISTINCT FROM OLD.team OR NEW.title IS DISTINCT FROM OLD.title
           OR NEW.parent IS DISTINCT FROM OLD.parent OR NEW.subagent IS DISTINCT FROM OLD.subagent
           OR NEW.counterpart IS DISTINCT FROM OLD.counterpart
           OR NEW.started IS DISTINCT FROM OLD.started OR NEW.started_at IS DISTINCT FROM OLD.started_at
           OR NEW.ingested_at IS DISTINCT FROM OLD.ingested_at
           OR OLD.closed_at IS NOT NULL
           OR (NEW.closed_at IS NULL AND NEW.event_count <= OLD.event_count)
           OR (NEW.closed_at IS NOT NULL AND (NEW.event_count IS DISTINCT FROM OLD.event_count
               OR NEW.head_hash IS DISTINCT FROM OLD.head_hash OR NEW.ended_at IS DISTINCT FROM OLD.ended_at)) THEN
            RAISE EXCEPTION 'the session log is append-only' USING ERRCODE = 'raise_exception';
        END IF;
        RETURN NEW;
    END $$;
    CREATE TABLE agent_runs (
        id TEXT PRIMARY KEY,
        -- The creation as an instant, for order; the text as written is in the body.
        created TIMESTAMPTZ,
        team TEXT,
        state TEXT NOT NULL,
        cancel_requested_at TEXT,
        body TEXT NOT NULL
    );
    CREATE INDEX agent_runs_created ON agent_runs (created DESC NULLS LAST, id DESC);
    CREATE FUNCTION nocturne_cancel_sticky() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        IF OLD.cancel_requested_at IS NOT NULL
           AND NEW.cancel_requested_at IS DISTINCT FROM OLD.cancel_requested_at THEN
            RAISE EXCEPTION 'a cancellation is never cleared' USING ERRCODE = 'raise_exception';
        END IF;
        RETURN NEW;
    END $$;
    CREATE TRIGGER agent_runs_cancel_sticky BEFORE UPDATE ON agent_runs
        FOR EACH ROW EXECUTE FUNCTION nocturne_cancel_sticky();
    CREATE TABLE run_journal (
        seq BIGSERIAL PRIMARY KEY,
        run TEXT NOT NULL,
        agent TEXT NOT NULL,
        step INTEGER NOT NULL CHECK (step >= 0),
        phase TEXT NOT NULL,
        kind TEXT NOT NULL,
        digest TEXT NOT NULL,
        at TEXT NOT NULL,
        body TEXT NOT NULL,
        UNIQUE (run, agent, step, phase)
    );
    CREATE INDEX run_journal_run ON run_journal (run, seq);
    CREATE TRIGGER run_journal_append_only BEFORE UPDATE OR DELETE ON run_journal
        FOR EACH ROW EXECUTE FUNCTION nocturne_append_only('the run journal is append-only');
    CREATE TRIGGER run_journal_no_truncate BEFORE TRUNCATE ON run_journal
        FOR EACH STATEMENT EXECUTE FUNCTION nocturne_append_only('the run journal is append-only');
    "#,
];

/// The schema version this build writes.
pub const SCHEMA_VERSION: i64 = MIGRATIONS.len() as i64;
