-- Kept agent conversations, PostgreSQL dialect. Keep in step with ../sqlite/0007_kept_conversations.sql.
--
-- The conversation an agent's last finished turn left (a reviewer's review, a writer's
-- implementation or fix), which its next turn goes on with; a row per squad and role,
-- replaced at each turn's end, so a restarted daemon continues it instead of starting afresh.
CREATE TABLE kept_conversations (
    squad_id     TEXT   NOT NULL REFERENCES squads (id) ON DELETE CASCADE,
    role         TEXT   NOT NULL,
    conversation TEXT   NOT NULL,         -- the harness's JSON encoding
    kept_at      BIGINT NOT NULL,
    PRIMARY KEY (squad_id, role)
);
