package store

import (
	"context"
	"errors"
	"slices"
	"sort"
	"time"

	"gorm.io/gorm"
)

// AuditRules are the thresholds of the suspicious-voting audit.
type AuditRules struct {
	// BurstAccounts accounts created from one address within BurstWindow
	// make a burst; each of them carries the "burst" signal.
	BurstAccounts int
	BurstWindow   time.Duration
	// SharedAddress distinct accounts voting from one address give each of
	// them the "shared address" signal.
	SharedAddress int
}

// Suspect is one player's line in the audit: the votes on the player's
// videos and the evidence about the accounts that cast them. An account
// is flagged when it carries at least two of the three signals (burst,
// shared address, single purpose): one alone fits ordinary fans too (a
// family behind one router, a friend who only votes for one player).
type Suspect struct {
	PlayerID      int64
	Player        string
	City          string
	Votes         int64 // counted votes of the player's videos
	Voters        int   // accounts with a vote on them (counted, pending or voided)
	Burst         int   // of those, accounts created in a burst from one address
	SharedAddress int   // accounts that voted from an address shared by many accounts
	SinglePurpose int   // accounts whose only activity is votes for this player
	Unverified    int   // accounts whose e-mail is not verified
	Pending       int   // votes waiting for verification
	Voided        int   // votes voided by an operator
	Flagged       []int64
	// TopAddress is the (hashed) address most of the player's voters voted
	// from, and how many of them did.
	TopAddress         string
	TopAddressAccounts int
}

// UnverifiedShare is the share of the player's voters that are not verified.
func (s Suspect) UnverifiedShare() float64 {
	if s.Voters == 0 {
		return 0
	}
	return float64(s.Unverified) / float64(s.Voters)
}

// Audit computes the suspicious-voting report, most flagged voters first.
// It reads every vote and account once and works in memory: an operator's
// command, not a request path.
func (s *Store) Audit(ctx context.Context, rules AuditRules) ([]Suspect, error) {
	db := s.db.WithContext(ctx)
	var accounts []struct {
		ID            int64
		FirstName     string
		LastName      string
		City          string
		CreatedAt     time.Time
		SignupAddress string
		Verified      bool
		Videos        int
	}
	if err := db.Raw(`SELECT id, first_name, last_name, city, created_at, signup_address, verified_at IS NOT NULL AS verified,
			(SELECT COUNT(*) FROM videos v WHERE v.user_id = users.id) AS videos
		FROM users`).Scan(&accounts).Error; err != nil {
		return nil, wrap("read accounts", err)
	}
	var votes []struct {
		UserID   int64
		PlayerID int64
		Address  string
		Pending  bool
		Voided   bool
	}
	if err := db.Raw(`SELECT x.user_id, v.user_id AS player_id, x.address, x.pending, x.void_id IS NOT NULL AS voided
		FROM votes x JOIN videos v ON v.id = x.video_id`).Scan(&votes).Error; err != nil {
		return nil, wrap("read votes", err)
	}
	var totals []struct {
		UserID int64
		Votes  int64
	}
	if err := db.Raw("SELECT user_id, votes FROM player_totals").Scan(&totals).Error; err != nil {
		return nil, wrap("read totals", err)
	}

	type account struct {
		burst, shared, verified bool
		videos                  int
		players                 map[int64]bool
	}
	byID := make(map[int64]*account, len(accounts))
	byAddress := map[string][]int{} // signup address -> indexes into accounts
	for i, a := range accounts {
		byID[a.ID] = &account{verified: a.Verified, videos: a.Videos, players: map[int64]bool{}}
		if a.SignupAddress != "" {
			byAddress[a.SignupAddress] = append(byAddress[a.SignupAddress], i)
		}
	}
	// Bursts: a sliding window over each address's signups in time order.
	for _, idx := range byAddress {
		sort.Slice(idx, func(i, j int) bool { return accounts[idx[i]].CreatedAt.Before(accounts[idx[j]].CreatedAt) })
		start := 0
		for end := range idx {
			for accounts[idx[end]].CreatedAt.Sub(accounts[idx[start]].CreatedAt) > rules.BurstWindow {
				start++
			}
			if end-start+1 >= rules.BurstAccounts {
				for _, k := range idx[start : end+1] {
					byID[accounts[k].ID].burst = true
				}
			}
		}
	}
	voters := map[string]map[int64]bool{} // vote address -> accounts
	for _, v := range votes {
		byID[v.UserID].players[v.PlayerID] = true
		if v.Address != "" {
			if voters[v.Address] == nil {
				voters[v.Address] = map[int64]bool{}
			}
			voters[v.Address][v.UserID] = true
		}
	}
	for _, users := range voters {
		if len(users) >= rules.SharedAddress {
			for id := range users {
				byID[id].shared = true
			}
		}
	}

	rows := map[int64]*Suspect{}
	seen := map[[2]int64]bool{} // (player, voter) counted once
	addressVoters := map[int64]map[string]map[int64]bool{}
	for _, v := range votes {
		r := rows[v.PlayerID]
		if r == nil {
			r = &Suspect{PlayerID: v.PlayerID}
			rows[v.PlayerID] = r
			addressVoters[v.PlayerID] = map[string]map[int64]bool{}
		}
		switch {
		case v.Voided:
			r.Voided++
		case v.Pending:
			r.Pending++
		}
		if v.Address != "" {
			m := addressVoters[v.PlayerID]
			if m[v.Address] == nil {
				m[v.Address] = map[int64]bool{}
			}
			m[v.Address][v.UserID] = true
		}
		if seen[[2]int64{v.PlayerID, v.UserID}] {
			continue
		}
		seen[[2]int64{v.PlayerID, v.UserID}] = true
		a := byID[v.UserID]
		single := a.videos == 0 && len(a.players) == 1
		r.Voters++
		signals := 0
		for _, on := range []struct {
			set bool
			n   *int
		}{{a.burst, &r.Burst}, {a.shared, &r.SharedAddress}, {single, &r.SinglePurpose}} {
			if on.set {
				*on.n++
				signals++
			}
		}
		if !a.verified {
			r.Unverified++
		}
		if signals >= 2 {
			r.Flagged = append(r.Flagged, v.UserID)
		}
	}
	for _, t := range totals {
		if r := rows[t.UserID]; r != nil {
			r.Votes = t.Votes
		}
	}
	out := make([]Suspect, 0, len(rows))
	for _, a := range accounts {
		r := rows[a.ID]
		if r == nil {
			continue
		}
		r.Player, r.City = displayName(a.FirstName, a.LastName), a.City
		for addr, users := range addressVoters[a.ID] {
			if len(users) > r.TopAddressAccounts || (len(users) == r.TopAddressAccounts && addr < r.TopAddress) {
				r.TopAddress, r.TopAddressAccounts = addr, len(users)
			}
		}
		slices.Sort(r.Flagged)
		out = append(out, *r)
	}
	sort.Slice(out, func(i, j int) bool {
		if len(out[i].Flagged) != len(out[j].Flagged) {
			return len(out[i].Flagged) > len(out[j].Flagged)
		}
		if out[i].UnverifiedShare() != out[j].UnverifiedShare() {
			return out[i].UnverifiedShare() > out[j].UnverifiedShare()
		}
		return out[i].PlayerID < out[j].PlayerID
	})
	return out, nil
}

// Void is one voiding of votes by an operator.
type Void struct {
	ID         int64
	CreatedAt  time.Time
	Actor      string
	Reason     string
	Accounts   int
	Votes      int
	RestoredAt *time.Time
	RestoredBy string
}

// ErrVoidNotFound: no such voiding, or it was restored already.
var ErrVoidNotFound = errors.New("voiding not found or already restored")

// VoidVotes voids every counted or pending vote of the accounts, recording
// who did it and why; the triggers take the votes out of the totals.
func (s *Store) VoidVotes(ctx context.Context, accounts []int64, actor, reason string) (Void, error) {
	v := Void{CreatedAt: now(), Actor: actor, Reason: reason, Accounts: len(accounts)}
	err := s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		if err := tx.Raw("INSERT INTO vote_voids (created_at, actor, reason, accounts, votes) VALUES (?, ?, ?, ?, 0) RETURNING id",
			v.CreatedAt, actor, reason, len(accounts)).Scan(&v.ID).Error; err != nil {
			return wrap("record voiding", err)
		}
		res := tx.Exec("UPDATE votes SET void_id = ? WHERE user_id IN ? AND void_id IS NULL", v.ID, accounts)
		if res.Error != nil {
			return wrap("void votes", res.Error)
		}
		v.Votes = int(res.RowsAffected)
		return wrap("record voiding", tx.Exec("UPDATE vote_voids SET votes = ? WHERE id = ?", v.Votes, v.ID).Error)
	})
	return v, markUnavailable(err)
}

// RestoreVotes undoes a voiding: its votes count again (or wait again, if
// pending) and the voiding records who restored it and when.
func (s *Store) RestoreVotes(ctx context.Context, id int64, actor string) (int64, error) {
	var n int64
	err := s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		res := tx.Exec("UPDATE vote_voids SET restored_at = ?, restored_by = ? WHERE id = ? AND restored_at IS NULL", now(), actor, id)
		if res.Error != nil {
			return wrap("record restoring", res.Error)
		}
		if res.RowsAffected == 0 {
			return ErrVoidNotFound
		}
		res = tx.Exec("UPDATE votes SET void_id = NULL WHERE void_id = ?", id)
		n = res.RowsAffected
		return wrap("restore votes", res.Error)
	})
	return n, markUnavailable(err)
}

// Voids lists every voiding, newest first.
func (s *Store) Voids(ctx context.Context) ([]Void, error) {
	var out []Void
	err := s.db.WithContext(ctx).Raw("SELECT id, created_at, actor, reason, accounts, votes, restored_at, restored_by FROM vote_voids ORDER BY id DESC").
		Scan(&out).Error
	return out, wrap("list voidings", err)
}

// TotalsCheck compares the rankings' running totals with a count of the
// votes that should be in them (neither pending nor voided, on public
// processed videos): the two must be equal.
func (s *Store) TotalsCheck(ctx context.Context) (totals, counted int64, err error) {
	db := s.db.WithContext(ctx)
	if err := db.Raw("SELECT COALESCE(SUM(votes), 0) FROM player_totals").Scan(&totals).Error; err != nil {
		return 0, 0, wrap("sum totals", err)
	}
	err = db.Raw(`SELECT COUNT(*) FROM votes x JOIN videos v ON v.id = x.video_id
		WHERE v.is_public AND v.status = ? AND NOT x.pending AND x.void_id IS NULL`, StatusProcessed).Scan(&counted).Error
	return totals, counted, wrap("count votes", err)
}
