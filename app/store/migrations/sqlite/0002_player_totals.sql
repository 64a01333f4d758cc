-- Rankings read the top of a per-player running total instead of adding up
-- every published video on each request (see the PostgreSQL migration for
-- the figures). Triggers keep the totals in step with videos, whatever
-- statement changes them.
CREATE TABLE player_totals (
    user_id   INTEGER PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    city_key  TEXT NOT NULL,
    votes     INTEGER NOT NULL DEFAULT 0, -- votes of the player's public processed videos
    published INTEGER NOT NULL DEFAULT 0  -- how many such videos: ranked when > 0
);
CREATE INDEX player_totals_rank_idx ON player_totals (votes DESC, user_id) WHERE published > 0;
CREATE INDEX player_totals_city_rank_idx ON player_totals (city_key, votes DESC, user_id) WHERE published > 0;

INSERT INTO player_totals (user_id, city_key, votes, published)
SELECT u.id, u.city_key, SUM(v.votes), COUNT(*)
FROM videos v JOIN users u ON u.id = v.user_id
WHERE v.is_public AND v.status = 'processed'
GROUP BY u.id, u.city_key;

-- A vote, or any change that keeps the video ranked under the same owner.
CREATE TRIGGER videos_player_totals_keep AFTER UPDATE OF user_id, is_public, status, votes ON videos
WHEN OLD.is_public AND OLD.status = 'processed' AND NEW.is_public AND NEW.status = 'processed'
    AND OLD.user_id = NEW.user_id AND NEW.votes <> OLD.votes
BEGIN
    UPDATE player_totals SET votes = votes + NEW.votes - OLD.votes WHERE user_id = NEW.user_id;
END;

-- The video leaves its owner's ranked videos.
CREATE TRIGGER videos_player_totals_leave AFTER UPDATE OF user_id, is_public, status, votes ON videos
WHEN OLD.is_public AND OLD.status = 'processed'
    AND NOT (NEW.is_public AND NEW.status = 'processed' AND OLD.user_id = NEW.user_id)
BEGIN
    UPDATE player_totals SET votes = votes - OLD.votes, published = published - 1 WHERE user_id = OLD.user_id;
END;

-- The video joins its owner's ranked videos (typically: processing finished).
CREATE TRIGGER videos_player_totals_enter AFTER UPDATE OF user_id, is_public, status, votes ON videos
WHEN NEW.is_public AND NEW.status = 'processed'
    AND NOT (OLD.is_public AND OLD.status = 'processed' AND OLD.user_id = NEW.user_id)
BEGIN
    INSERT INTO player_totals (user_id, city_key, votes, published)
    SELECT id, city_key, NEW.votes, 1 FROM users WHERE id = NEW.user_id
    ON CONFLICT (user_id) DO UPDATE SET votes = votes + excluded.votes, published = published + 1;
END;

CREATE TRIGGER videos_player_totals_insert AFTER INSERT ON videos
WHEN NEW.is_public AND NEW.status = 'processed'
BEGIN
    INSERT INTO player_totals (user_id, city_key, votes, published)
    SELECT id, city_key, NEW.votes, 1 FROM users WHERE id = NEW.user_id
    ON CONFLICT (user_id) DO UPDATE SET votes = votes + excluded.votes, published = published + 1;
END;

CREATE TRIGGER videos_player_totals_delete AFTER DELETE ON videos
WHEN OLD.is_public AND OLD.status = 'processed'
BEGIN
    UPDATE player_totals SET votes = votes - OLD.votes, published = published - 1 WHERE user_id = OLD.user_id;
END;
