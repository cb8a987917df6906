-- The daemons sharing the store, SQLite dialect. Keep in step with ../postgres/0003_daemons.sql.
--
-- Each `squadron serve` registers itself under its stable id when it starts, beats while it
-- runs and says when it stopped, so `status`, the API and the dashboard show the cluster.
CREATE TABLE daemons (
    id           TEXT PRIMARY KEY,          -- configured, or host:pid
    host         TEXT   NOT NULL,
    pid          BIGINT NOT NULL,
    started_at   BIGINT NOT NULL,
    heartbeat_at BIGINT NOT NULL,
    stopped_at   BIGINT                     -- NULL while it runs (or until it is found dead)
);
