-- Stopped merge lanes, SQLite dialect. Keep in step with ../postgres/0006_lane_stops.sql.
--
-- Stop the line: when the test command fails on the base head a merge made, that base's
-- merge lane stops until a person resumes it (`squadron resume-lane`, the dashboard). A row
-- is one stopped lane, naming the merge after which the tests failed and the one before it;
-- resuming deletes it, so a restarted daemon holds exactly the lanes still stopped.
CREATE TABLE lane_stops (
    repo           TEXT   NOT NULL,         -- owner/name
    base           TEXT   NOT NULL,         -- the base branch
    failing_squad  TEXT   NOT NULL,
    failing_issue  TEXT   NOT NULL,
    failing_pr     BIGINT,
    failing_sha    TEXT   NOT NULL,         -- the merge commit whose tests failed
    previous_squad TEXT,                    -- the merge before it, NULL when unknown
    previous_issue TEXT,
    previous_pr    BIGINT,
    previous_sha   TEXT,
    output         TEXT   NOT NULL,         -- the end of what the test command printed
    stopped_at     BIGINT NOT NULL,
    PRIMARY KEY (repo, base)
);
