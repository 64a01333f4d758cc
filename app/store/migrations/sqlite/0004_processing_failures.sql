-- Real processing failures, counted apart from attempts (every start of a
-- job, interrupted ones included): only failures decide when a video fails.
ALTER TABLE videos ADD COLUMN failures INTEGER NOT NULL DEFAULT 0;
