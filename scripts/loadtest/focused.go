package main

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/anb/risingstars/app/auth"
	"github.com/anb/risingstars/scripts/loadtest/clip"
	"github.com/anb/risingstars/scripts/loadtest/results"
	"github.com/jackc/pgx/v5"
)

// sweep runs step at each concurrency level of o.clients.
func sweep(ctx context.Context, o *options, r *results.Run, name string, setup func(context.Context, *VU) error, step func(context.Context, *VU) error) error {
	lvls, err := levels(o.clients)
	if err != nil {
		return err
	}
	maxC := 0
	for _, n := range lvls {
		maxC = max(maxC, n)
	}
	c := newClient(o.base, maxC, 30*time.Second)
	if err := c.waitHealthy(ctx, 30*time.Second); err != nil {
		return err
	}
	r.Base = o.base
	r.Params["clients"] = o.clients
	r.Params["warmup"] = o.warmup.String()
	r.Params["duration"] = o.duration.String()
	if o.rate > 0 {
		r.Params["open_loop_rate"] = o.rate
	}
	for _, n := range lvls {
		l, err := runLevel(ctx, levelSpec{name: name, clients: n, warmup: o.warmup, duration: o.duration, maxOps: o.maxRequests,
			c: c, pids: &watchedPIDs{api: o.apiPID}, setup: setup, step: step, rate: o.rate})
		if err != nil {
			return err
		}
		printLevel(name, l)
		r.Levels = append(r.Levels, l)
	}
	return nil
}

func runRankings(ctx context.Context, o *options) error {
	r := results.New("rankings", o.label)
	path := "/api/public/rankings"
	if o.query != "" {
		path += "?" + o.query
	}
	r.Params["path"] = path
	err := sweep(ctx, o, r, r.Name, nil, func(ctx context.Context, vu *VU) error {
		_, err := vu.do(ctx, request{op: "rankings", method: "GET", path: path, want: []int{http.StatusOK}})
		return err
	})
	if err != nil {
		return err
	}
	checkTargets(r, o, "GET /api/public/rankings")
	return r.Save(o.out)
}

func runVideos(ctx context.Context, o *options) error {
	r := results.New("videos", o.label)
	r.Params["pages"] = o.pages
	r.Params["query"] = o.query
	r.Params["logged_in"] = o.auth
	token := ""
	if o.auth {
		var err error
		c := newClient(o.base, 1, 30*time.Second)
		if token, err = c.newUser(ctx, fmt.Sprintf("viewer-%d@loadtest.anb", time.Now().UnixNano()), "Cali"); err != nil {
			return err
		}
	}
	err := sweep(ctx, o, r, r.Name, nil, func(ctx context.Context, vu *VU) error {
		path := "/api/public/videos"
		sep := "?"
		if o.pages > 1 {
			path += "?page=" + strconv.Itoa(1+vu.rng.IntN(o.pages))
			sep = "&"
		}
		if o.query != "" {
			path += sep + o.query
		}
		_, err := vu.do(ctx, request{op: "videos", method: "GET", path: path, token: token, want: []int{http.StatusOK}})
		return err
	})
	if err != nil {
		return err
	}
	checkTargets(r, o, "GET /api/public/videos")
	return r.Save(o.out)
}

type votePair struct {
	user  int64
	video string
}

// voteWork hands out (voter, video) pairs that were never voted, each once.
type voteWork struct {
	voters   []int64
	tokens   map[int64]string
	videos   []string
	existing map[votePair]bool
	// Voter v's k-th video is (v*7919 + (k+offset)*step) mod M, step coprime
	// with M: distinct for k < M. A random offset per run starts each run in
	// a fresh region instead of walking through the pairs earlier runs voted.
	step, offset int64
	next         atomic.Int64

	mu       sync.Mutex
	accepted []votePair // answered 200
	unknown  []votePair // no clear answer: in the database or not
	dupSent  int
}

func (w *voteWork) take() (votePair, bool) {
	m, n := int64(len(w.videos)), int64(len(w.voters))
	for { // bounded: i grows on every pass and stops at n*m
		i := w.next.Add(1) - 1
		v, k := i%n, i/n
		if k >= m {
			return votePair{}, false
		}
		p := votePair{user: w.voters[v], video: w.videos[(v*7919+(k+w.offset)*w.step)%m]}
		if !w.existing[p] {
			return p, true
		}
	}
}

func gcd(a, b int) int {
	for b != 0 {
		a, b = b, a%b
	}
	return a
}

func runVote(ctx context.Context, o *options) error {
	r := results.New("vote", o.label)
	c := newClient(o.base, 64, 30*time.Second)
	if err := c.waitHealthy(ctx, 30*time.Second); err != nil {
		return err
	}
	w, before, err := prepareVotes(ctx, o, c)
	if err != nil {
		return err
	}
	r.Params["voters"] = len(w.voters)
	r.Params["videos"] = len(w.videos)
	r.Params["dup_fraction"] = o.dupFraction
	fmt.Fprintf(os.Stderr, "vote: %d voters, %d public videos, %d existing votes of these voters\n", len(w.voters), len(w.videos), len(w.existing))

	err = sweep(ctx, o, r, r.Name, nil, func(ctx context.Context, vu *VU) error {
		if vu.rng.Float64() < o.dupFraction {
			w.mu.Lock()
			var p votePair
			ok := len(w.accepted) > 0
			if ok {
				p = w.accepted[vu.rng.IntN(len(w.accepted))]
				w.dupSent++
			}
			w.mu.Unlock()
			if ok {
				_, err := vu.do(ctx, request{op: "vote-repeat", method: "POST", path: "/api/public/videos/" + p.video + "/vote",
					token: w.tokens[p.user], want: []int{http.StatusBadRequest}})
				return err
			}
		}
		p, ok := w.take()
		if !ok {
			return errStop
		}
		status, err := vu.do(ctx, request{op: "vote", method: "POST", path: "/api/public/videos/" + p.video + "/vote",
			token: w.tokens[p.user], want: []int{http.StatusOK}})
		w.mu.Lock()
		switch {
		case err == nil:
			w.accepted = append(w.accepted, p)
		case status == 0 || status >= 500:
			w.unknown = append(w.unknown, p)
		}
		w.mu.Unlock()
		return err
	})
	if err != nil {
		return err
	}
	checkTargets(r, o, "POST /api/public/videos/{id}/vote")
	r.Extra = map[string]any{"accepted": len(w.accepted), "repeats_sent": w.dupSent, "unknown_outcome": len(w.unknown)}
	if o.db != "" {
		if err := verifyVotes(ctx, o, r, w, before); err != nil {
			return err
		}
	} else {
		r.Notes = append(r.Notes, "Database counts not verified (no -db).")
	}
	return r.Save(o.out)
}

// prepareVotes picks voters and videos: seeded players with minted tokens
// when -db and -jwt-secret are given, otherwise new users signed up through
// the API. It returns the number of votes in the database before the run.
func prepareVotes(ctx context.Context, o *options, c *client) (*voteWork, int64, error) {
	w := &voteWork{tokens: map[int64]string{}, existing: map[votePair]bool{}}
	var before int64
	var err error
	if o.db != "" {
		conn, err := pgx.Connect(ctx, o.db)
		if err != nil {
			return nil, 0, err
		}
		defer conn.Close(ctx)
		if err := conn.QueryRow(ctx, "SELECT count(*) FROM votes").Scan(&before); err != nil {
			return nil, 0, err
		}
		rows, _ := conn.Query(ctx, "SELECT id FROM videos WHERE is_public AND status = 'processed' ORDER BY id")
		if w.videos, err = pgx.CollectRows(rows, pgx.RowTo[string]); err != nil {
			return nil, 0, err
		}
		if o.jwtSecret != "" {
			rows, _ := conn.Query(ctx, "SELECT id FROM users ORDER BY md5(id::text) LIMIT $1", o.voters)
			if w.voters, err = pgx.CollectRows(rows, pgx.RowTo[int64]); err != nil {
				return nil, 0, err
			}
			tokens := auth.NewTokens([]byte(o.jwtSecret), 2*time.Hour)
			for _, id := range w.voters {
				if w.tokens[id], err = tokens.Issue(id); err != nil {
					return nil, 0, err
				}
			}
			rows, _ = conn.Query(ctx, "SELECT user_id, video_id FROM votes WHERE user_id = ANY($1)", w.voters)
			var p votePair
			if _, err := pgx.ForEachRow(rows, []any{&p.user, &p.video}, func() error { w.existing[p] = true; return nil }); err != nil {
				return nil, 0, err
			}
		}
	} else {
		if w.videos, err = c.publicVideoIDs(ctx, 20_000); err != nil {
			return nil, 0, err
		}
	}
	if len(w.voters) == 0 {
		// New accounts have no votes. Signing up costs two bcrypt runs each: keep it small.
		n := min(o.voters, 200)
		fmt.Fprintf(os.Stderr, "vote: signing up %d voters through the API (pass -db and -jwt-secret to use seeded players)\n", n)
		stamp := time.Now().UnixNano()
		for i := range n {
			tok, err := c.newUser(ctx, fmt.Sprintf("voter-%d-%d@loadtest.anb", stamp, i), "Cali")
			if err != nil {
				return nil, 0, err
			}
			id := int64(-(i + 1)) // the API does not tell the id; any distinct key works here
			w.voters = append(w.voters, id)
			w.tokens[id] = tok
		}
	}
	if len(w.videos) == 0 {
		return nil, 0, errors.New("no public processed videos to vote for: seed the database first (go run ./scripts/loadseed)")
	}
	w.step = 1
	for s := len(w.videos)/2 + 1; s < len(w.videos); s++ {
		if gcd(s, len(w.videos)) == 1 {
			w.step = int64(s)
			break
		}
	}
	w.offset = rand.Int64N(int64(len(w.videos)))
	return w, before, nil
}

// verifyVotes checks in PostgreSQL that every accepted vote is stored once,
// nothing else was added, and each video's counter equals its votes.
func verifyVotes(ctx context.Context, o *options, r *results.Run, w *voteWork, before int64) error {
	conn, err := pgx.Connect(ctx, o.db)
	if err != nil {
		return err
	}
	defer conn.Close(ctx)
	var after, counterSum, badCounters int64
	if err := conn.QueryRow(ctx, "SELECT count(*), (SELECT coalesce(sum(votes), 0) FROM videos) FROM votes").Scan(&after, &counterSum); err != nil {
		return err
	}
	if err := conn.QueryRow(ctx, `SELECT count(*) FROM videos v
		WHERE v.votes <> (SELECT count(*) FROM votes x WHERE x.video_id = v.id)`).Scan(&badCounters); err != nil {
		return err
	}
	stored := int64(0)
	if len(w.accepted) > 0 && w.accepted[0].user > 0 {
		users := make([]int64, len(w.accepted))
		videos := make([]string, len(w.accepted))
		for i, p := range w.accepted {
			users[i], videos[i] = p.user, p.video
		}
		if err := conn.QueryRow(ctx, `SELECT count(*) FROM votes x
			JOIN unnest($1::bigint[], $2::text[]) AS a(user_id, video_id) ON a.user_id = x.user_id AND a.video_id = x.video_id`,
			users, videos).Scan(&stored); err != nil {
			return err
		}
	} else {
		stored = int64(len(w.accepted)) // API-created voters: only the totals can be checked
	}
	added := after - before
	lost := int64(len(w.accepted)) - stored
	extra := added - int64(len(w.accepted))
	r.Extra["db_votes_before"] = before
	r.Extra["db_votes_after"] = after
	r.Extra["db_votes_added"] = added
	r.Extra["accepted_found_in_db"] = stored
	r.Extra["video_counters_wrong"] = badCounters
	r.Extra["sum_of_video_counters"] = counterSum
	r.Verdict("votes lost (accepted but not stored)", "0", fmt.Sprint(lost), lost == 0)
	r.Verdict("votes duplicated or unexplained (added − accepted)", fmt.Sprintf("0 (%d unknown outcomes)", len(w.unknown)),
		fmt.Sprint(extra), extra == 0 || (extra > 0 && extra <= int64(len(w.unknown))))
	r.Verdict("video vote counters equal to stored votes", "all", fmt.Sprintf("%d wrong; Σcounters %d = votes %d", badCounters, counterSum, after),
		badCounters == 0 && counterSum == after)
	return nil
}

func runUpload(ctx context.Context, o *options) error {
	r := results.New("upload", o.label)
	c := newClient(o.base, o.uploadConcurrency, 15*time.Minute)
	if err := c.waitHealthy(ctx, 30*time.Second); err != nil {
		return err
	}
	work, cleanup, err := clip.Scratch(o.work)
	if err != nil {
		return err
	}
	defer cleanup()
	src, err := clip.Generate(ctx, o.ffmpeg, o.clipSeconds)
	if err != nil {
		return err
	}
	file := src
	if o.uploadMB > 0 {
		if file, err = clip.Pad(src, work, int64(o.uploadMB)<<20); err != nil {
			return err
		}
	}
	fi, err := os.Stat(file)
	if err != nil {
		return err
	}
	r.Base = o.base
	r.Params["uploads"] = o.uploads
	r.Params["concurrency"] = o.uploadConcurrency
	r.Params["file_mib"] = float64(fi.Size()) / (1 << 20)

	stamp := time.Now().UnixNano()
	var remaining atomic.Int64
	remaining.Store(int64(o.uploads))
	rss := startRSS(o.apiPID)
	l, err := runLevel(ctx, levelSpec{name: r.Name, clients: o.uploadConcurrency, duration: 15 * time.Minute, maxOps: int64(o.uploads),
		c: c, pids: &watchedPIDs{api: o.apiPID},
		setup: func(ctx context.Context, vu *VU) error {
			var err error
			vu.token, err = c.newUser(ctx, fmt.Sprintf("uploader-%d-%d@loadtest.anb", stamp, vu.id), "Medellín")
			return err
		},
		step: func(ctx context.Context, vu *VU) error {
			if remaining.Add(-1) < 0 {
				return errStop
			}
			req, closeFile, err := uploadRequest(file, fmt.Sprintf("Carga %d", vu.id), vu.token)
			if err != nil {
				return err
			}
			defer closeFile()
			_, err = vu.do(ctx, req)
			return err
		}})
	if err != nil {
		return err
	}
	// Measured from the first upload's start to the last answer (sign-ups excluded).
	wall := time.Duration(l.Seconds * float64(time.Second))
	base, peak := rss.done()
	printLevel(r.Name, l)
	r.Levels = append(r.Levels, l)
	ok := l.Requests - l.Errors
	mib := float64(ok) * float64(fi.Size()) / (1 << 20)
	r.Extra = map[string]any{"succeeded": ok, "wall_seconds": wall.Seconds(), "aggregate_mib_per_s": mib / wall.Seconds()}
	r.Verdict(fmt.Sprintf("%d concurrent %.0f MiB uploads", o.uploadConcurrency, float64(fi.Size())/(1<<20)), fmt.Sprintf("%d × 201", o.uploads),
		fmt.Sprintf("%d × 201 in %.1f s", ok, wall.Seconds()), ok == o.uploads)
	if o.apiPID > 0 {
		r.Extra["api_rss_mib_before"] = base
		r.Extra["api_rss_mib_peak"] = peak
		r.Notes = append(r.Notes, fmt.Sprintf("API resident memory: %.0f MiB before, %.0f MiB at the peak (whole process, sampled every 50 ms).", base, peak))
	}
	return r.Save(o.out)
}
