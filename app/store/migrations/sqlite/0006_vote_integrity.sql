-- Vote integrity (see the PostgreSQL migration for what each part is for).
ALTER TABLE users ADD COLUMN verified_at DATETIME;
ALTER TABLE users ADD COLUMN signup_address TEXT NOT NULL DEFAULT '';
CREATE INDEX users_signup_address_idx ON users (signup_address, created_at) WHERE signup_address <> '';

CREATE TABLE vote_voids (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    created_at  DATETIME NOT NULL,
    actor       TEXT NOT NULL,
    reason      TEXT NOT NULL,
    accounts    INTEGER NOT NULL,
    votes       INTEGER NOT NULL,
    restored_at DATETIME,
    restored_by TEXT NOT NULL DEFAULT ''
);

ALTER TABLE votes ADD COLUMN address TEXT NOT NULL DEFAULT '';
ALTER TABLE votes ADD COLUMN agent TEXT NOT NULL DEFAULT '';
ALTER TABLE votes ADD COLUMN pending BOOLEAN NOT NULL DEFAULT FALSE;
ALTER TABLE votes ADD COLUMN void_id INTEGER REFERENCES vote_voids (id);
CREATE INDEX votes_address_idx ON votes (address) WHERE address <> '';
CREATE INDEX votes_audit_age_idx ON votes (created_at) WHERE address <> '';
CREATE INDEX votes_void_idx ON votes (void_id) WHERE void_id IS NOT NULL;

-- A vote starts or stops counting (verification, voiding, restoring): its
-- video's count follows, and the triggers of migration 0002 carry the
-- change on to player_totals.
CREATE TRIGGER votes_video_votes AFTER UPDATE OF pending, void_id ON votes
WHEN (NOT OLD.pending AND OLD.void_id IS NULL) <> (NOT NEW.pending AND NEW.void_id IS NULL)
BEGIN
    UPDATE videos SET votes = votes + CASE WHEN NOT NEW.pending AND NEW.void_id IS NULL THEN 1 ELSE -1 END
    WHERE id = NEW.video_id;
END;

CREATE TABLE email_verifications (
    token_hash TEXT PRIMARY KEY,
    user_id    INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    expires_at INTEGER NOT NULL
);
CREATE INDEX email_verifications_user_idx ON email_verifications (user_id);

CREATE TABLE rate_limits (
    subject    TEXT PRIMARY KEY,
    count      INTEGER NOT NULL,
    window_end INTEGER NOT NULL
);
CREATE INDEX rate_limits_end_idx ON rate_limits (window_end);
