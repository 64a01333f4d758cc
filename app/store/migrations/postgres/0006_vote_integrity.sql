-- Vote integrity: what the platform records about signups and votes, the
-- counting rule, voiding, e-mail verification and signup throttling.

-- verified_at: when the account's e-mail was confirmed (NULL: not yet).
-- signup_address: keyed hash of the client address at signup ('' once the
-- retention period has passed, or for accounts created before this version).
ALTER TABLE users ADD COLUMN verified_at TIMESTAMPTZ;
ALTER TABLE users ADD COLUMN signup_address TEXT NOT NULL DEFAULT '';
CREATE INDEX users_signup_address_idx ON users (signup_address, created_at) WHERE signup_address <> '';

-- Each voiding an operator ran (audit-votes --void), and its undoing.
CREATE TABLE vote_voids (
    id          BIGSERIAL PRIMARY KEY,
    created_at  TIMESTAMPTZ NOT NULL,
    actor       TEXT NOT NULL,
    reason      TEXT NOT NULL,
    accounts    INTEGER NOT NULL,
    votes       INTEGER NOT NULL,
    restored_at TIMESTAMPTZ,
    restored_by TEXT NOT NULL DEFAULT ''
);

-- A vote counts when it is neither pending (an unverified account under
-- the rule "verified") nor voided. address and agent are keyed hashes of
-- the client address and the User-Agent, blanked after the retention period.
ALTER TABLE votes ADD COLUMN address TEXT NOT NULL DEFAULT '';
ALTER TABLE votes ADD COLUMN agent TEXT NOT NULL DEFAULT '';
ALTER TABLE votes ADD COLUMN pending BOOLEAN NOT NULL DEFAULT FALSE;
ALTER TABLE votes ADD COLUMN void_id BIGINT REFERENCES vote_voids (id);
CREATE INDEX votes_address_idx ON votes (address) WHERE address <> '';
CREATE INDEX votes_audit_age_idx ON votes (created_at) WHERE address <> '';
CREATE INDEX votes_void_idx ON votes (void_id) WHERE void_id IS NOT NULL;

-- videos.votes counts the counted votes. Casting a vote adds to it in the
-- same transaction (the application, as before); this trigger follows a
-- vote that starts or stops counting afterwards (verification, voiding,
-- restoring), and the trigger of migration 0002 carries every change on to
-- player_totals, so the rankings stay an index range.
CREATE FUNCTION video_votes_follow_votes() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    was BOOLEAN := NOT OLD.pending AND OLD.void_id IS NULL;
    now_counted BOOLEAN := NOT NEW.pending AND NEW.void_id IS NULL;
BEGIN
    IF was <> now_counted THEN
        UPDATE videos SET votes = votes + CASE WHEN now_counted THEN 1 ELSE -1 END WHERE id = NEW.video_id;
    END IF;
    RETURN NULL;
END
$$;

CREATE TRIGGER votes_video_votes
AFTER UPDATE OF pending, void_id ON votes
FOR EACH ROW EXECUTE FUNCTION video_votes_follow_votes();

-- Verification links: only a SHA-256 of the token is kept, so a copy of
-- the database cannot verify anyone; a row is deleted when used.
CREATE TABLE email_verifications (
    token_hash TEXT PRIMARY KEY,
    user_id    BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    expires_at BIGINT NOT NULL -- Unix milliseconds
);
CREATE INDEX email_verifications_user_idx ON email_verifications (user_id);

-- Counters of allowed actions per fixed window (signups per address and in
-- all, verification messages per account), shared by every web node.
CREATE TABLE rate_limits (
    subject    TEXT PRIMARY KEY,
    count      INTEGER NOT NULL,
    window_end BIGINT NOT NULL -- Unix milliseconds
);
CREATE INDEX rate_limits_end_idx ON rate_limits (window_end);
