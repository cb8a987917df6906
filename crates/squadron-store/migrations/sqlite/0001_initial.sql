-- Squadron's store, SQLite dialect. Keep in step with ../postgres/0001_initial.sql: the same
-- tables, columns and meanings. Ids are TEXT, times are BIGINT Unix milliseconds, money is
-- BIGINT micro-USD, structured values are JSON text.

CREATE TABLE runs (
    id            TEXT PRIMARY KEY,
    trigger_kind  TEXT   NOT NULL,          -- milestone | fix
    trigger_url   TEXT,                     -- milestone: the pasted URL
    trigger_issue TEXT,                     -- fix: the issue key
    requested_by  TEXT,                     -- fix: who asked
    slack_channel TEXT,                     -- fix: where to report, when from Slack
    status        TEXT   NOT NULL,
    created_at    BIGINT NOT NULL,
    updated_at    BIGINT NOT NULL
);

CREATE INDEX runs_by_age ON runs (created_at, id);

CREATE TABLE squads (
    id               TEXT PRIMARY KEY,
    run_id           TEXT   NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    issue_key        TEXT   NOT NULL,
    issue_id         TEXT   NOT NULL,
    kind             TEXT   NOT NULL,       -- feature | bug-fix
    phase            TEXT   NOT NULL,
    phase_detail     TEXT,                  -- reason of needs-human, failed, skipped
    round            BIGINT NOT NULL,
    pr_number        BIGINT,
    branch           TEXT   NOT NULL,
    worktree         TEXT,
    blocked_by       TEXT   NOT NULL,       -- JSON array of issue keys
    -- Counters that hand out gap-free sequence numbers: incrementing them locks the squad's
    -- row, so concurrent appends to one squad serialize on both backends.
    last_event_seq   BIGINT NOT NULL,
    last_message_seq BIGINT NOT NULL,
    created_at       BIGINT NOT NULL,
    updated_at       BIGINT NOT NULL,
    UNIQUE (run_id, issue_key)
);

CREATE INDEX squads_by_issue_key ON squads (issue_key);
CREATE INDEX squads_by_phase ON squads (phase);

CREATE TABLE squad_events (
    squad_id     TEXT   NOT NULL REFERENCES squads (id) ON DELETE CASCADE,
    seq          BIGINT NOT NULL,
    at           BIGINT NOT NULL,
    kind         TEXT   NOT NULL,
    payload      TEXT   NOT NULL,           -- JSON document
    phase        TEXT   NOT NULL,           -- the squad's phase right after the event
    phase_detail TEXT,
    round        BIGINT NOT NULL,
    PRIMARY KEY (squad_id, seq)
);

-- The event log is history: entries are never rewritten.
CREATE TRIGGER squad_events_append_only
BEFORE UPDATE ON squad_events
BEGIN
    SELECT RAISE(ABORT, 'squad_events is append-only');
END;

CREATE TABLE transcript_messages (
    squad_id     TEXT   NOT NULL REFERENCES squads (id) ON DELETE CASCADE,
    seq          BIGINT NOT NULL,
    role         TEXT   NOT NULL,
    at           BIGINT NOT NULL,
    message_kind TEXT   NOT NULL,           -- system | user | assistant | tool
    content      TEXT,
    tool_calls   TEXT,                      -- assistant: JSON array of {id, name, arguments}
    tool_call_id TEXT,                      -- tool: the call answered
    PRIMARY KEY (squad_id, seq)
);

CREATE TABLE model_usage (
    id                INTEGER PRIMARY KEY,
    run_id            TEXT   NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    squad_id          TEXT   NOT NULL REFERENCES squads (id) ON DELETE CASCADE,
    role              TEXT   NOT NULL,
    model             TEXT   NOT NULL,
    prompt_tokens     BIGINT NOT NULL,
    cached_tokens     BIGINT NOT NULL,
    completion_tokens BIGINT NOT NULL,
    cost_micros       BIGINT NOT NULL,
    at                BIGINT NOT NULL
);

CREATE INDEX model_usage_by_squad ON model_usage (squad_id);
CREATE INDEX model_usage_by_run ON model_usage (run_id);

CREATE TABLE side_effects (
    idempotency_key TEXT PRIMARY KEY,
    squad_id        TEXT REFERENCES squads (id) ON DELETE CASCADE,
    kind            TEXT   NOT NULL,
    status          TEXT   NOT NULL,        -- pending | done | failed
    attempts        BIGINT NOT NULL,
    result          TEXT,
    created_at      BIGINT NOT NULL,
    updated_at      BIGINT NOT NULL
);

CREATE INDEX side_effects_by_squad ON side_effects (squad_id);
