package store

import (
	"context"
	"math/rand/v2"
	"time"
)

// Limit is how many failures a subject (an account or a client address)
// may have in one window.
type Limit struct {
	Subject string
	Max     int
}

// FailureState is what LoginFailures found for a set of subjects.
type FailureState struct {
	// RetryAfter is how long until the last blocked subject is free again;
	// 0 when none is blocked.
	RetryAfter time.Duration
	// Counted lists the subjects that have failures in the current window.
	Counted []string
	// Windows are the current windows of the counted subjects.
	Windows map[string]Window
}

// Window is a subject's count in its current window, and the time left
// until the window ends.
type Window struct {
	Count int
	Left  time.Duration
}

// LoginFailures reads the failure counts of the subjects: one primary-key
// lookup, so a login pays almost nothing for the check.
func (s *Store) LoginFailures(ctx context.Context, window time.Duration, limits ...Limit) (FailureState, error) {
	ctx, cancel := s.bound(ctx)
	defer cancel()
	subjects := make([]string, len(limits))
	for i, l := range limits {
		subjects[i] = l.Subject
	}
	var rows []struct {
		Subject     string
		Failures    int
		WindowStart int64
	}
	if err := s.db.WithContext(ctx).Raw("SELECT subject, failures, window_start FROM login_failures WHERE subject IN ?", subjects).
		Scan(&rows).Error; err != nil {
		return FailureState{}, wrap("read login failures", err)
	}
	st := FailureState{Windows: map[string]Window{}}
	nowMs := time.Now().UnixMilli()
	for _, r := range rows {
		end := r.WindowStart + window.Milliseconds()
		if end <= nowMs {
			continue
		}
		st.Counted = append(st.Counted, r.Subject)
		st.Windows[r.Subject] = Window{Count: r.Failures, Left: time.Duration(end-nowMs) * time.Millisecond}
		for _, l := range limits {
			if l.Subject == r.Subject && r.Failures >= l.Max {
				st.RetryAfter = max(st.RetryAfter, time.Duration(end-nowMs)*time.Millisecond)
			}
		}
	}
	return st, nil
}

// RecordLoginFailure counts one failure for each subject, atomically on
// the row (concurrent failures on several nodes all count), starting a new
// window when the previous one has ended.
func (s *Store) RecordLoginFailure(ctx context.Context, window time.Duration, subjects ...string) error {
	ctx, cancel := s.bound(ctx)
	defer cancel()
	nowMs := time.Now().UnixMilli()
	expired := nowMs - window.Milliseconds()
	for _, subject := range subjects {
		err := s.db.WithContext(ctx).Exec(`INSERT INTO login_failures (subject, failures, window_start) VALUES (?, 1, ?)
			ON CONFLICT (subject) DO UPDATE SET
				failures = CASE WHEN login_failures.window_start <= ? THEN 1 ELSE login_failures.failures + 1 END,
				window_start = CASE WHEN login_failures.window_start <= ? THEN excluded.window_start ELSE login_failures.window_start END`,
			subject, nowMs, expired, expired).Error
		if err != nil {
			return wrap("record login failure", err)
		}
	}
	// Windows that ended are dead weight (an attacker spraying random
	// e-mails creates one row each); one failure in 64 sweeps them.
	if rand.IntN(64) == 0 {
		if err := s.db.WithContext(ctx).Exec("DELETE FROM login_failures WHERE window_start <= ?", expired).Error; err != nil {
			return wrap("sweep login failures", err)
		}
	}
	return nil
}

// ClearLoginFailures forgets the failures of the subjects (an account after
// a successful login).
func (s *Store) ClearLoginFailures(ctx context.Context, subjects ...string) error {
	ctx, cancel := s.bound(ctx)
	defer cancel()
	return wrap("clear login failures", s.db.WithContext(ctx).Exec("DELETE FROM login_failures WHERE subject IN ?", subjects).Error)
}
