package store

import (
	"context"
	"errors"
	"math/rand/v2"
	"time"

	"gorm.io/gorm"
)

// Errors of verification links.
var (
	ErrLinkInvalid = errors.New("verification link unknown or already used")
	ErrLinkExpired = errors.New("verification link expired")
)

// Take counts one action of subject in the current fixed window if fewer
// than max were counted there, atomically on the row (web nodes share the
// counts). When the window is full it returns ok=false and the time left
// until the window ends; the refused action is not counted.
func (s *Store) Take(ctx context.Context, subject string, max int, window time.Duration) (left time.Duration, ok bool, err error) {
	ctx, cancel := s.bound(ctx)
	defer cancel()
	nowMs := time.Now().UnixMilli()
	var counts []int
	err = s.db.WithContext(ctx).Raw(`INSERT INTO rate_limits (subject, count, window_end) VALUES (?, 1, ?)
		ON CONFLICT (subject) DO UPDATE SET
			count = CASE WHEN rate_limits.window_end <= ? THEN 1 ELSE rate_limits.count + 1 END,
			window_end = CASE WHEN rate_limits.window_end <= ? THEN excluded.window_end ELSE rate_limits.window_end END
		WHERE rate_limits.window_end <= ? OR rate_limits.count < ?
		RETURNING count`, subject, nowMs+window.Milliseconds(), nowMs, nowMs, nowMs, max).Scan(&counts).Error
	if err != nil {
		return 0, false, wrap("count action", err)
	}
	if len(counts) == 1 {
		// Ended windows are dead weight (one row per address ever seen).
		if rand.IntN(64) == 0 {
			if err := s.db.WithContext(ctx).Exec("DELETE FROM rate_limits WHERE window_end <= ?", nowMs).Error; err != nil {
				return 0, false, wrap("sweep rate limits", err)
			}
		}
		return 0, true, nil
	}
	var ends []int64
	if err := s.db.WithContext(ctx).Raw("SELECT window_end FROM rate_limits WHERE subject = ?", subject).Scan(&ends).Error; err != nil {
		return 0, false, wrap("read rate limit", err)
	}
	left = time.Second
	if len(ends) == 1 && ends[0] > nowMs {
		left = time.Duration(ends[0]-nowMs) * time.Millisecond
	}
	return left, false, nil
}

// UserByID finds a user by id.
func (s *Store) UserByID(ctx context.Context, id int64) (User, error) {
	return s.userWhere(ctx, "id = ?", id)
}

// SaveVerification stores the hash of a new verification link of the
// user; the user's earlier links stop working, so only the latest message
// verifies.
func (s *Store) SaveVerification(ctx context.Context, userID int64, tokenHash string, expires time.Time) error {
	ctx, cancel := s.bound(ctx)
	defer cancel()
	err := s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		if err := tx.Exec("DELETE FROM email_verifications WHERE user_id = ?", userID).Error; err != nil {
			return wrap("drop old links", err)
		}
		return wrap("save link", tx.Exec("INSERT INTO email_verifications (token_hash, user_id, expires_at) VALUES (?, ?, ?)",
			tokenHash, userID, expires.UnixMilli()).Error)
	})
	return markUnavailable(err)
}

// Verify uses the link whose token hashes to tokenHash: the link is gone
// afterwards (single use, expired or not), the account is verified, and its
// pending votes count from now on (the triggers move the totals).
func (s *Store) Verify(ctx context.Context, tokenHash string) (User, error) {
	ctx, cancel := s.bound(ctx)
	defer cancel()
	var u User
	expired := false
	err := s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		var links []struct {
			UserID    int64
			ExpiresAt int64
		}
		if err := tx.Raw("DELETE FROM email_verifications WHERE token_hash = ? RETURNING user_id, expires_at", tokenHash).Scan(&links).Error; err != nil {
			return wrap("use link", err)
		}
		if len(links) == 0 {
			return ErrLinkInvalid
		}
		if links[0].ExpiresAt <= time.Now().UnixMilli() {
			expired = true // commit: an expired link is used up too
			return nil
		}
		at := now()
		if err := tx.Exec("UPDATE users SET verified_at = ? WHERE id = ? AND verified_at IS NULL", at, links[0].UserID).Error; err != nil {
			return wrap("verify account", err)
		}
		if err := tx.Exec("UPDATE votes SET pending = FALSE WHERE user_id = ? AND pending", links[0].UserID).Error; err != nil {
			return wrap("count pending votes", err)
		}
		return wrap("read account", tx.Table("users").Select(userColumns).Where("id = ?", links[0].UserID).Take(&u).Error)
	})
	if err == nil && expired {
		return User{}, ErrLinkExpired
	}
	return u, markUnavailable(err)
}

// ForgetAuditData blanks the hashed addresses and user agents of votes and
// signups older than retention; the rest of each row (who voted for what,
// when) stays, as the rankings rest on it.
func (s *Store) ForgetAuditData(ctx context.Context, retention time.Duration) (int64, error) {
	ctx, cancel := s.bound(ctx)
	defer cancel()
	before := now().Add(-retention)
	res := s.db.WithContext(ctx).Exec("UPDATE votes SET address = '', agent = '' WHERE address <> '' AND created_at < ?", before)
	if res.Error != nil {
		return 0, wrap("forget vote audit data", res.Error)
	}
	users := s.db.WithContext(ctx).Exec("UPDATE users SET signup_address = '' WHERE signup_address <> '' AND created_at < ?", before)
	if users.Error != nil {
		return 0, wrap("forget signup audit data", users.Error)
	}
	return res.RowsAffected + users.RowsAffected, nil
}
