-- Leases, SQLite dialect. Keep in step with ../postgres/0002_leases.sql.
--
-- Several daemons may share one store. Each unit of work (a run's intake, a squad, the merge
-- lane of a base branch) is held by one daemon at a time through a lease it renews with a
-- heartbeat; another daemon takes the work over when the lease lapses, with a fencing token
-- one greater. A row is never deleted, so a subject's tokens only ever grow.
CREATE TABLE leases (
    subject    TEXT PRIMARY KEY,            -- intake:<run> | squad:<squad> | merge-lane:<repo>:<base>
    kind       TEXT   NOT NULL,             -- intake | squad | merge-lane
    holder     TEXT   NOT NULL,             -- the daemon that holds or last held it
    token      BIGINT NOT NULL,             -- the fencing token, from 1
    expires_at BIGINT NOT NULL,             -- lapses then unless renewed; release sets it to now
    claimed_at BIGINT NOT NULL,
    renewed_at BIGINT NOT NULL
);

CREATE INDEX leases_by_holder ON leases (holder);

-- Who wrote each event and each journaled side effect, under which token: NULL for a store
-- used by one process without leases.
ALTER TABLE squad_events ADD COLUMN holder TEXT;
ALTER TABLE squad_events ADD COLUMN fence BIGINT;
ALTER TABLE side_effects ADD COLUMN holder TEXT;
ALTER TABLE side_effects ADD COLUMN fence BIGINT;
