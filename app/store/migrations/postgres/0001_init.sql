CREATE TABLE users (
    id            BIGSERIAL PRIMARY KEY,
    first_name    TEXT NOT NULL,
    last_name     TEXT NOT NULL,
    email         TEXT NOT NULL,
    password_hash TEXT NOT NULL,
    city          TEXT NOT NULL,
    city_key      TEXT NOT NULL, -- lower-cased city in Go, so the filter behaves alike on both databases
    country       TEXT NOT NULL,
    created_at    TIMESTAMPTZ NOT NULL
);
-- Emails are stored lower-cased; the index makes duplicates impossible even under concurrent signups.
CREATE UNIQUE INDEX users_email_key ON users (email);
CREATE INDEX users_city_key_idx ON users (city_key);

CREATE TABLE videos (
    id            TEXT PRIMARY KEY,
    user_id       BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    title         TEXT NOT NULL,
    is_public     BOOLEAN NOT NULL,
    status        TEXT NOT NULL,
    error         TEXT NOT NULL DEFAULT '',
    task_id       TEXT NOT NULL,
    attempts      INTEGER NOT NULL DEFAULT 0,
    votes         BIGINT NOT NULL DEFAULT 0,
    uploaded_at   TIMESTAMPTZ NOT NULL,
    enqueued_at   TIMESTAMPTZ,
    processed_at  TIMESTAMPTZ
);
CREATE INDEX videos_user_uploaded_idx ON videos (user_id, uploaded_at DESC);
CREATE INDEX videos_published_idx ON videos (processed_at DESC) WHERE is_public AND status = 'processed';
CREATE INDEX videos_pending_idx ON videos (status) WHERE status IN ('uploaded', 'processing');

CREATE TABLE votes (
    user_id    BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    video_id   TEXT NOT NULL REFERENCES videos (id) ON DELETE CASCADE,
    created_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (user_id, video_id)
);
CREATE INDEX votes_video_idx ON votes (video_id);
