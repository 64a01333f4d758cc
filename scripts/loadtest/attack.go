package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/anb/risingstars/app/store"
	"github.com/anb/risingstars/scripts/loadtest/stats"
)

// The attack scenario: one address runs a ballot-stuffing script at full
// speed (sign up, log in, vote for one player, again) while normal users,
// each from their own address, browse and vote. It reports how many
// fraudulent accounts and votes got in before the throttles stopped the
// script, the normal users' latency before and during the attack, and, with
// -db, what the vote audit flags (precision: are normal users flagged?).
//
// Client addresses travel in X-Forwarded-For, which the API believes from
// the load generator because it is on loopback (a trusted proxy by default):
// run it against a local API, or behind a balancer that keeps the header.

const attackerAddress = "203.0.113.66"

type attackOp struct {
	mu        sync.Mutex
	latencies map[string][]time.Duration
	errors    map[string]int
}

func (a *attackOp) record(op string, d time.Duration, ok bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.latencies[op] = append(a.latencies[op], d)
	if !ok {
		a.errors[op]++
	}
}

// call sends one request as a client at address; it returns the status and body.
func (c *client) call(ctx context.Context, method, path, token, address string, in any) (int, []byte, time.Duration, error) {
	var body io.Reader
	if in != nil {
		b, _ := json.Marshal(in)
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, body)
	if err != nil {
		return 0, nil, 0, err
	}
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	req.Header.Set("X-Forwarded-For", address)
	req.Header.Set("User-Agent", "anb-loadtest/"+address)
	start := time.Now()
	res, err := c.http.Do(req)
	if err != nil {
		return 0, nil, time.Since(start), err
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	return res.StatusCode, b, time.Since(start), err
}

type normalUser struct {
	id      int64
	email   string
	address string
	token   string
}

func runAttack(ctx context.Context, o *options) error {
	c := newClient(o.base, 256, 30*time.Second)
	if err := c.waitHealthy(ctx, 30*time.Second); err != nil {
		return err
	}
	videos, err := c.publicVideoIDs(ctx, 200)
	if err != nil || len(videos) < 2 {
		return fmt.Errorf("the attack needs published videos (seed the database first): %d found, %v", len(videos), err)
	}
	target := videos[0]
	run := time.Now().Format("150405")

	// Normal users: their own address each, signed up before the attack.
	users := make([]*normalUser, o.normalUsers)
	for i := range users {
		u := &normalUser{email: fmt.Sprintf("fan%d.%s@attack.anb", i, run), address: fmt.Sprintf("198.18.%d.%d", i/250, i%250+1)}
		status, b, _, err := c.call(ctx, "POST", "/api/auth/signup", "", u.address, signupBody(u.email, "Fan", "Normal", "Cali", "loadtest-password"))
		if err != nil || status != http.StatusCreated {
			return fmt.Errorf("normal user signup: %d %s %v", status, b, err)
		}
		var created struct {
			UserID int64 `json:"user_id"`
		}
		json.Unmarshal(b, &created)
		u.id = created.UserID
		status, b, _, err = c.call(ctx, "POST", "/api/auth/login", "", u.address, map[string]string{"email": u.email, "password": "loadtest-password"})
		var tok struct {
			AccessToken string `json:"access_token"`
		}
		if err != nil || status != http.StatusOK || json.Unmarshal(b, &tok) != nil {
			return fmt.Errorf("normal user login: %d %s %v", status, b, err)
		}
		u.token = tok.AccessToken
		users[i] = u
	}

	// browse is a normal user's loop: a gallery page, a vote for one of its
	// videos, the rankings, a pause.
	browse := func(ctx context.Context, u *normalUser, rec *attackOp) {
		for ctx.Err() == nil {
			page := rand.IntN(5) + 1
			status, b, d, err := c.call(ctx, "GET", fmt.Sprintf("/api/public/videos?page=%d&page_size=12", page), u.token, u.address, nil)
			if ctx.Err() != nil {
				return
			}
			rec.record("gallery", d, err == nil && status == http.StatusOK)
			var items []struct {
				VideoID  string `json:"video_id"`
				HasVoted bool   `json:"has_voted"`
			}
			json.Unmarshal(b, &items)
			for _, it := range items {
				if !it.HasVoted && rand.IntN(3) == 0 {
					status, _, d, err := c.call(ctx, "POST", "/api/public/videos/"+it.VideoID+"/vote", u.token, u.address, nil)
					if ctx.Err() != nil {
						return
					}
					rec.record("vote", d, err == nil && (status == http.StatusOK || status == http.StatusBadRequest))
					break
				}
			}
			status, _, d, err = c.call(ctx, "GET", "/api/public/rankings?page_size=10", "", u.address, nil)
			if ctx.Err() != nil {
				return
			}
			rec.record("rankings", d, err == nil && status == http.StatusOK)
			select {
			case <-ctx.Done():
			case <-time.After(o.think):
			}
		}
	}
	phase := func(withAttack bool) (*attackOp, *attackResult) {
		ctx, cancel := context.WithTimeout(ctx, o.duration)
		defer cancel()
		rec := &attackOp{latencies: map[string][]time.Duration{}, errors: map[string]int{}}
		var wg sync.WaitGroup
		for _, u := range users {
			wg.Go(func() { browse(ctx, u, rec) })
		}
		var res *attackResult
		if withAttack {
			res = &attackResult{}
			for w := range o.attackers {
				wg.Go(func() { stuff(ctx, c, target, fmt.Sprintf("%s-%d", run, w), res) })
			}
		}
		wg.Wait()
		return rec, res
	}

	fmt.Printf("==> baseline: %d normal users for %v\n", len(users), o.duration)
	baseline, _ := phase(false)
	fmt.Printf("==> attack: the same users, and %d script workers from %s voting for %s\n", o.attackers, attackerAddress, target)
	during, res := phase(true)

	var report strings.Builder
	fmt.Fprintf(&report, "# Attack scenario\n\n%d normal users (one address each) browse and vote for %v; then again for %v while a script on one address (%s, %d workers at full speed) signs up, logs in and votes for one video.\n\n",
		len(users), o.duration, o.duration, attackerAddress, o.attackers)
	fmt.Fprintf(&report, "## The script\n\n| | count |\n|---|---:|\n| signups tried | %d |\n| accounts created | %d |\n| signups refused (429) | %d |\n| votes accepted | %d |\n| of which counted at once | %d |\n| of which pending (rule `verified`) | %d |\n| other errors | %d |\n\n",
		res.signups.Load(), res.created.Load(), res.refused.Load(), res.votes.Load(), res.votes.Load()-res.pending.Load(), res.pending.Load(), res.errors.Load())
	fmt.Fprintf(&report, "## Normal users' latency (ms)\n\n| operation | phase | requests | errors | p50 | p95 | p99 |\n|---|---|---:|---:|---:|---:|---:|\n")
	for _, op := range []string{"gallery", "vote", "rankings"} {
		for _, p := range []struct {
			name string
			rec  *attackOp
		}{{"baseline", baseline}, {"attack", during}} {
			l := stats.Latencies(p.rec.latencies[op])
			fmt.Fprintf(&report, "| %s | %s | %d | %d | %.1f | %.1f | %.1f |\n", op, p.name, len(p.rec.latencies[op]), p.rec.errors[op], l.P50, l.P95, l.P99)
		}
	}
	if o.db != "" {
		rules := store.AuditRules{BurstAccounts: o.auditBurst, BurstWindow: 10 * time.Minute, SharedAddress: o.auditShared}
		if err := auditFigures(ctx, o.db, rules, users, res, &report); err != nil {
			return err
		}
	}
	fmt.Print("\n" + report.String())
	if err := os.MkdirAll(o.out, 0o755); err != nil {
		return err
	}
	name := "attack"
	if o.label != "" {
		name += "-" + o.label
	}
	return os.WriteFile(filepath.Join(o.out, name+".md"), []byte(report.String()), 0o644)
}

type attackResult struct {
	signups, created, refused, votes, pending, errors atomic.Int64
	mu                                                sync.Mutex
	accounts                                          []int64
}

// stuff is one worker of the script: sign up, log in, vote, as fast as the
// API answers; a refused signup is retried at once (a script does not wait).
func stuff(ctx context.Context, c *client, target, tag string, res *attackResult) {
	for i := 0; ctx.Err() == nil; i++ {
		email := fmt.Sprintf("bot%s-%d@attack.anb", tag, i)
		res.signups.Add(1)
		status, b, _, err := c.call(ctx, "POST", "/api/auth/signup", "", attackerAddress, signupBody(email, "Bot", "Script", "Cali", "loadtest-password"))
		if ctx.Err() != nil {
			return
		}
		switch {
		case err == nil && status == http.StatusTooManyRequests:
			res.refused.Add(1)
			continue
		case err != nil || status != http.StatusCreated:
			res.errors.Add(1)
			continue
		}
		res.created.Add(1)
		var created struct {
			UserID int64 `json:"user_id"`
		}
		json.Unmarshal(b, &created)
		res.mu.Lock()
		res.accounts = append(res.accounts, created.UserID)
		res.mu.Unlock()
		status, b, _, err = c.call(ctx, "POST", "/api/auth/login", "", attackerAddress, map[string]string{"email": email, "password": "loadtest-password"})
		var tok struct {
			AccessToken string `json:"access_token"`
		}
		if err != nil || status != http.StatusOK || json.Unmarshal(b, &tok) != nil {
			res.errors.Add(1)
			continue
		}
		status, b, _, err = c.call(ctx, "POST", "/api/public/videos/"+target+"/vote", tok.AccessToken, attackerAddress, nil)
		if err != nil || status != http.StatusOK {
			res.errors.Add(1)
			continue
		}
		res.votes.Add(1)
		if bytes.Contains(b, []byte(`"pending":true`)) {
			res.pending.Add(1)
		}
	}
}

// auditFigures runs the vote audit on the database and measures it against
// what the scenario knows: which accounts were the script's.
func auditFigures(ctx context.Context, dsn string, rules store.AuditRules, users []*normalUser, res *attackResult, report *strings.Builder) error {
	st, err := store.Open(ctx, dsn, "")
	if err != nil {
		return err
	}
	defer st.Close()
	start := time.Now()
	rows, err := st.Audit(ctx, rules)
	if err != nil {
		return err
	}
	took := time.Since(start)
	bots := map[int64]bool{}
	for _, id := range res.accounts {
		bots[id] = true
	}
	normal := map[int64]bool{}
	for _, u := range users {
		normal[u.id] = true
	}
	flagged := map[int64]bool{}
	for _, r := range rows {
		for _, id := range r.Flagged {
			flagged[id] = true
		}
	}
	var truePos, normalFlagged, otherFlagged int
	for id := range flagged {
		switch {
		case bots[id]:
			truePos++
		case normal[id]:
			normalFlagged++
		default:
			otherFlagged++
		}
	}
	precision := 1.0
	if len(flagged) > 0 {
		precision = float64(truePos) / float64(len(flagged))
	}
	recall := 1.0
	if len(bots) > 0 {
		recall = float64(truePos) / float64(len(bots))
	}
	totals, counted, err := st.TotalsCheck(ctx)
	if err != nil {
		return err
	}
	fmt.Fprintf(report, "\n## What the audit flags (`app audit-votes -burst-accounts %d -shared-address %d`; %d players with votes, %v)\n\n",
		rules.BurstAccounts, rules.SharedAddress, len(rows), took.Round(time.Millisecond))
	fmt.Fprintf(report, "| | count |\n|---|---:|\n| accounts flagged | %d |\n| of which the script's | %d of %d (recall %.0f %%) |\n| of which normal users of this run | %d of %d |\n| of which other accounts (seeded data, earlier runs) | %d |\n| precision | %.0f %% |\n\n",
		len(flagged), truePos, len(bots), 100*recall, normalFlagged, len(users), otherFlagged, 100*precision)
	sort.SliceStable(rows, func(i, j int) bool { return len(rows[i].Flagged) > len(rows[j].Flagged) })
	if len(rows) > 0 {
		r := rows[0]
		fmt.Fprintf(report, "Top row: player %d (%s), %d votes, %d voters, %d flagged (burst %d, shared address %d, single purpose %d), unverified %.0f %%, top address %s… with %d accounts.\n\n",
			r.PlayerID, r.Player, r.Votes, r.Voters, len(r.Flagged), r.Burst, r.SharedAddress, r.SinglePurpose, 100*r.UnverifiedShare(), short8(r.TopAddress), r.TopAddressAccounts)
	}
	fmt.Fprintf(report, "Σ rankings totals = %d, votes that count = %d.\n", totals, counted)
	return nil
}

func short8(s string) string { return s[:min(8, len(s))] }
