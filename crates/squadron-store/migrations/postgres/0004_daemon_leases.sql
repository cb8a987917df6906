-- The length of each daemon's leases, PostgreSQL dialect. Keep in step with
-- ../sqlite/0004_daemon_leases.sql.
--
-- A daemon is seen silent once this long passed without its heartbeat; daemons registered
-- before it was recorded beat within the default lease of 30 seconds.
ALTER TABLE daemons ADD COLUMN lease_ms BIGINT NOT NULL DEFAULT 30000;
