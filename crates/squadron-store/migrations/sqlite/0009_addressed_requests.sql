-- Requests addressed to one daemon, SQLite dialect. Keep in step with
-- ../postgres/0009_addressed_requests.sql.
--
-- When the daemons share the squads, a GitHub delivery or a cancellation that reaches one
-- daemon concerns squads another holds: the receiver records it for that daemon, which alone
-- takes it. NULL: for whichever daemon runs the squads (one runs them all).
ALTER TABLE requests ADD COLUMN addressed_to TEXT;
