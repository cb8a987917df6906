-- Squads that start after others naming the same files, PostgreSQL dialect. Keep in step with
-- ../sqlite/0008_starts_after.sql.
--
-- The issues of the same run whose squads name some of the same files and go first: the
-- squad starts once each has ended, so their edits never race into a conflict. Squads
-- recorded before this column wait for nobody.
ALTER TABLE squads ADD COLUMN starts_after TEXT NOT NULL DEFAULT '[]'; -- JSON array of issue keys
