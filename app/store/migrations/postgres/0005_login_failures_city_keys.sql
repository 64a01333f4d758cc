-- Failed logins, counted per account and per client address in one fixed
-- window each, here rather than in each web node's memory so that every
-- node behind the load balancer sees the same counts. subject is
-- 'account:<e-mail>' or 'address:<ip>'; window_start is Unix milliseconds
-- (the same integer comparison on both databases).
CREATE TABLE login_failures (
    subject      TEXT PRIMARY KEY,
    failures     INTEGER NOT NULL,
    window_start BIGINT NOT NULL
);
CREATE INDEX login_failures_window_idx ON login_failures (window_start);

-- city_key becomes CityKey(city) (no accents, case-folded): the Go step of
-- this migration (migrate.go) recomputes it for the existing rows of users
-- and player_totals, as only Go knows the function.
