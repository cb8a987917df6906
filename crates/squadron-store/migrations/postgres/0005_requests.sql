-- Requests one daemon received for work another daemon runs, PostgreSQL dialect. Keep in step
-- with ../sqlite/0005_requests.sql.
--
-- Any replica answers the API, the webhooks and Slack. A replica that does not run the work
-- a request concerns records it here; the daemon that runs it takes it (for a while, so a
-- taker that dies leaves it to the next), carries it out and writes the answer, which the
-- receiving replica reads back for its caller. Answered rows are deleted after a while.
CREATE TABLE requests (
    id          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    kind        TEXT   NOT NULL,            -- start-run | start-fix | cancel-issue | reevaluate
    body        TEXT   NOT NULL,            -- JSON, written and read by the daemon
    received_by TEXT   NOT NULL,            -- the daemon the caller reached
    received_at BIGINT NOT NULL,
    taken_by    TEXT,                       -- the daemon carrying it out, NULL until taken
    taken_until BIGINT,                     -- another daemon may take it from then on
    attempts    BIGINT NOT NULL DEFAULT 0,
    answered_at BIGINT,
    answer      TEXT                        -- JSON, NULL until answered
);

CREATE INDEX requests_open ON requests (answered_at, id);
