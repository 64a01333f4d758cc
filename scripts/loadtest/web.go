package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/anb/risingstars/scripts/loadtest/results"
)

// webUser is the state of one virtual user's current identity.
type webUser struct {
	voted map[string]bool
	round int
}

// runWeb is scenario 1: each virtual user signs up, logs in, then does
// o.browse rounds of list public videos → vote → rankings, and starts over
// as a new person. Stages add users until the latency objective breaks.
func runWeb(ctx context.Context, o *options) error {
	r := results.New("web", o.label)
	stages, err := levels(o.stages)
	if err != nil {
		return err
	}
	maxUsers := 0
	for _, n := range stages {
		maxUsers = max(maxUsers, n)
	}
	c := newClient(o.base, maxUsers, 60*time.Second)
	if err := c.waitHealthy(ctx, 30*time.Second); err != nil {
		return err
	}
	pool, err := c.publicVideoIDs(ctx, 5000)
	if err != nil {
		return err
	}
	if len(pool) == 0 {
		r.Notes = append(r.Notes, "No public videos: the vote step was skipped (seed the database first).")
	}
	r.Base = o.base
	r.Params["stages"] = o.stages
	r.Params["stage_duration"] = o.stageDuration.String()
	r.Params["browse_rounds"] = o.browse
	r.Params["think"] = o.think.String()
	r.Params["slo_p95"] = o.sloP95.String()
	r.Params["video_pool"] = len(pool)
	stamp := time.Now().UnixNano()
	var signups atomic.Int64 // VU ids and iterations restart with each stage: numbering them would repeat e-mails
	cities := []string{"Bogotá", "Medellín", "Cali", "Barranquilla", "Cartagena"}

	step := func(ctx context.Context, vu *VU) error {
		u, _ := vu.state.(*webUser)
		if u == nil || u.round >= o.browse {
			email := fmt.Sprintf("web-%d-%d@loadtest.anb", stamp, signups.Add(1))
			city := cities[vu.rng.IntN(len(cities))]
			body, _ := json.Marshal(signupBody(email, "Visitante", strconv.Itoa(vu.id), city, "clave-de-carga"))
			if _, err := vu.do(ctx, request{op: "signup", method: "POST", path: "/api/auth/signup", body: body,
				ctype: "application/json", want: []int{http.StatusCreated}}); err != nil {
				return err
			}
			body, _ = json.Marshal(map[string]string{"email": email, "password": "clave-de-carga"})
			if _, err := vu.do(ctx, request{op: "login", method: "POST", path: "/api/auth/login", body: body,
				ctype: "application/json", want: []int{http.StatusOK}}); err != nil {
				return err
			}
			var tok struct {
				AccessToken string `json:"access_token"`
			}
			if err := json.Unmarshal(vu.buf.Bytes(), &tok); err != nil {
				return err
			}
			vu.token = tok.AccessToken
			u = &webUser{voted: map[string]bool{}}
			vu.state = u
		}
		u.round++
		page := 1 + vu.rng.IntN(5)
		if _, err := vu.do(ctx, request{op: "list", method: "GET", path: "/api/public/videos?page=" + strconv.Itoa(page),
			token: vu.token, want: []int{http.StatusOK}}); err != nil {
			return err
		}
		if len(pool) > 0 {
			id := pool[vu.rng.IntN(len(pool))]
			for range 10 {
				if !u.voted[id] {
					break
				}
				id = pool[vu.rng.IntN(len(pool))]
			}
			want := http.StatusOK
			if u.voted[id] {
				want = http.StatusBadRequest
			}
			u.voted[id] = true
			if _, err := vu.do(ctx, request{op: "vote", method: "POST", path: "/api/public/videos/" + id + "/vote",
				token: vu.token, want: []int{want}}); err != nil {
				return err
			}
		}
		path := "/api/public/rankings"
		if vu.rng.IntN(3) == 0 {
			path += "?city=" + url.QueryEscape(cities[vu.rng.IntN(len(cities))])
		}
		if _, err := vu.do(ctx, request{op: "rankings", method: "GET", path: path, want: []int{http.StatusOK}}); err != nil {
			return err
		}
		if o.think > 0 {
			select {
			case <-ctx.Done():
			case <-time.After(o.think):
			}
		}
		return nil
	}

	obj := objective{p95: o.sloP95, errors: o.sloErrors}
	broke := ""
	for _, users := range stages {
		l, err := runLevel(ctx, levelSpec{name: r.Name, clients: users, warmup: o.warmup, duration: o.stageDuration,
			maxOps: o.maxRequests, c: c, pids: &watchedPIDs{api: o.apiPID}, step: step})
		if err != nil {
			return err
		}
		if s, ok := l.Ops["signup"]; ok {
			if l.Extra == nil {
				l.Extra = map[string]any{}
			}
			l.Extra["journeys_per_s"] = s.RPS
		}
		printLevel(r.Name, l)
		r.Levels = append(r.Levels, l)
		if !obj.holds(l) {
			broke = fmt.Sprintf("The objective (p95 ≤ %.0f ms, errors ≤ %.1f%%) broke at %d users: p95 %.0f ms, errors %.2f%%.",
				obj.p95Millis(), o.sloErrors*100, users, l.Latency.P95, l.ErrorRate*100)
			fmt.Fprintln(os.Stderr, "   "+broke)
			break
		}
	}
	if broke == "" {
		broke = fmt.Sprintf("The objective (p95 ≤ %s) held up to the last stage.", o.sloP95)
	}
	r.Notes = append(r.Notes, broke)
	best := obj.best(r.Levels)
	r.Extra = map[string]any{"best_within_slo": map[string]any{"users": best.Clients, "rps": best.RPS, "p95_ms": best.Latency.P95}}
	return r.Save(o.out)
}

// objective is the web scenario's service level: the ramp stops after the
// first stage that misses it.
type objective struct {
	p95    time.Duration
	errors float64 // highest error rate, 0..1
}

func (s objective) p95Millis() float64 { return float64(s.p95.Microseconds()) / 1000 }

// holds: p95 at most the objective and an error rate at most the bound
// (reaching either exactly still holds).
func (s objective) holds(l results.Level) bool {
	return l.Latency.P95 <= s.p95Millis() && l.ErrorRate <= s.errors
}

// best is the stage of highest throughput that held the objective (the zero
// Level when none did).
func (s objective) best(stages []results.Level) results.Level {
	best := results.Level{}
	for _, l := range stages {
		if s.holds(l) && l.RPS > best.RPS {
			best = l
		}
	}
	return best
}
