//go:build linux

package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/anb/risingstars/app/nodespec"
	"github.com/jackc/pgx/v5"
)

// The game-day steps put faults between the nodes and their dependencies
// (PostgreSQL, S3, SQS) with the fault injector, under load, and check what
// a user and an operator would see.

// harnessDB is a direct connection to the cluster's database for the
// tests' own checks, named so that the connection counts leave it out.
func harnessDB(t *testing.T, c *Cluster) *pgx.Conn {
	t.Helper()
	ctx := context.Background()
	cfg, err := pgx.ParseConfig(c.DatabaseURL)
	if err != nil {
		t.Fatal(err)
	}
	cfg.RuntimeParams["application_name"] = harnessApp
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close(ctx) })
	return conn
}

// A request of the load: what it asks and whether it needs the database.
type probe struct {
	kind, path string
	db         bool
}

var (
	pageProbes = []probe{{"page", "/", false}, {"api docs", "/api/openapi.json", false}}
	dbProbes   = []probe{{"public videos", "/api/public/videos", true}, {"my videos", "/api/videos", true}, {"rankings", "/api/public/rankings", true}}
)

// sample is one request of the load and its answer.
type sample struct {
	kind       string
	db         bool
	start      time.Time
	took       time.Duration
	status     int // 0: no answer (err)
	node       string
	message    string // the JSON message of an error answer
	retryAfter string
	err        string
}

func (s sample) end() time.Time { return s.start.Add(s.took) }

// recorder keeps the samples of a load run.
type recorder struct {
	mu      sync.Mutex
	samples []sample
}

func (r *recorder) add(s sample) {
	r.mu.Lock()
	r.samples = append(r.samples, s)
	r.mu.Unlock()
}

// where returns the samples that keep holds for, in start order.
func (r *recorder) where(keep func(sample) bool) []sample {
	r.mu.Lock()
	var out []sample
	for _, s := range r.samples {
		if keep == nil || keep(s) {
			out = append(out, s)
		}
	}
	r.mu.Unlock()
	sort.Slice(out, func(i, j int) bool { return out[i].start.Before(out[j].start) })
	return out
}

// voter is a client of the load that also votes, once a second at most,
// for each video of toVote in turn, until the API accepts or refuses it.
type voter struct {
	*player
	toVote   []string
	left     atomic.Int32 // len(toVote), for other goroutines
	lastVote time.Time
	// accepted counts 200s; already counts 400s (a vote recorded by an
	// earlier attempt whose answer said otherwise).
	accepted, already int
}

// runLoad sends the probes round robin from each client until stop is
// called, which waits for the clients to finish.
func runLoad(clients []*voter, probes []probe) (*recorder, func()) {
	rec := &recorder{}
	done := make(chan struct{})
	var wg sync.WaitGroup
	for i, c := range clients {
		wg.Go(func() {
			for j := i; ; j++ {
				select {
				case <-done:
					return
				default:
				}
				method, pr := "GET", probes[j%len(probes)]
				voting := len(c.toVote) > 0 && time.Since(c.lastVote) >= time.Second
				if voting {
					method, pr = "POST", probe{"vote", "/api/public/videos/" + c.toVote[0] + "/vote", true}
					c.lastVote = time.Now()
				}
				s := sample{kind: pr.kind, db: pr.db, start: time.Now()}
				r, err := c.call(context.Background(), method, pr.path, nil, "")
				s.took = time.Since(s.start)
				if err != nil {
					s.err = err.Error()
				} else {
					s.status, s.node, s.retryAfter = r.status, r.header.Get("X-Anb-Backend"), r.header.Get("Retry-After")
					if r.status >= 400 {
						var body struct{ Message string }
						json.Unmarshal(r.body, &body)
						s.message = body.Message
					}
				}
				if voting && (s.status == http.StatusOK || s.status == http.StatusBadRequest) {
					if s.status == http.StatusOK {
						c.accepted++
					} else {
						c.already++
					}
					c.toVote = c.toVote[1:]
					c.left.Store(int32(len(c.toVote)))
				}
				rec.add(s)
			}
		})
	}
	var once sync.Once
	return rec, func() { once.Do(func() { close(done); wg.Wait() }) }
}

// signUpMany signs up n players at once.
func signUpMany(t *testing.T, e *env, n int, last string) []*player {
	t.Helper()
	players := make([]*player, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { players[i] = signUp(t, e.c.URL, "Jugador", fmt.Sprintf("%s%d", last, i+1), "Tunja") })
	}
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
	return players
}

func percentile(samples []sample, q float64) time.Duration {
	if len(samples) == 0 {
		return 0
	}
	ds := make([]time.Duration, len(samples))
	for i, s := range samples {
		ds[i] = s.took
	}
	slices.Sort(ds)
	return ds[max(0, int(float64(len(ds))*q+0.999999)-1)]
}

func ms(d time.Duration) string { return fmt.Sprintf("%d ms", d.Milliseconds()) }

// byStatus counts samples by status (0: no answer).
func byStatus(samples []sample) map[int]int {
	out := map[int]int{}
	for _, s := range samples {
		out[s.status]++
	}
	return out
}

// byNode counts samples by the web node that answered.
func byNode(samples []sample) map[string]int {
	out := map[string]int{}
	for _, s := range samples {
		out[s.node]++
	}
	return out
}

// pids maps each web node and worker to its process id.
func pids(e *env) map[string]int {
	out := map[string]int{}
	for _, p := range append(e.c.Procs("web"), e.c.Procs("worker")...) {
		out[p.Name] = p.Pid()
	}
	return out
}

// sameProcesses checks that the nodes of before still run, not restarted.
func sameProcesses(t *testing.T, e *env, before map[string]int) {
	t.Helper()
	now := pids(e)
	for name, pid := range before {
		p := e.c.Proc(name)
		if done, err := p.Exited(); done || now[name] != pid {
			t.Errorf("%s: pid %d before, %d now (exited %v: %v), want the same process running", name, pid, now[name], done, err)
		}
	}
}

// checkUnavailable checks that each answer is the API's 503: a JSON message in
// Spanish and a Retry-After.
func checkUnavailable(t *testing.T, what string, samples []sample) {
	t.Helper()
	var wrong []string
	for _, s := range samples {
		if s.status != http.StatusServiceUnavailable || s.message == "" || s.retryAfter == "" {
			wrong = append(wrong, fmt.Sprintf("%s %d %q Retry-After %q %s", s.kind, s.status, s.message, s.retryAfter, s.err))
		}
	}
	if len(wrong) > 0 {
		t.Errorf("%s: %d of %d answers are not a 503 with a JSON message and Retry-After, e.g. %v", what, len(wrong), len(samples), wrong[:min(5, len(wrong))])
	}
}

// get is a GET straight to a node, bypassing the load balancer.
func get(addr, path string) (int, []byte) {
	client := &http.Client{Timeout: 5 * time.Second}
	resp, err := client.Get("http://" + addr + path)
	if err != nil {
		return 0, []byte(err.Error())
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, body
}

// publicVideos are the ids of the processed public videos so far.
func publicVideos(t *testing.T, e *env) []string {
	t.Helper()
	rows, err := e.db.Query(context.Background(), "SELECT id FROM videos WHERE status = 'processed' AND is_public ORDER BY id")
	if err != nil {
		t.Fatal(err)
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	return ids
}

// fault applies a fault to d and returns the function that ends it (and
// tells when); the fault ends with the test in any case.
func fault(t *testing.T, e *env, d Dependency, apply func(Dependency) error) (restore func() time.Time) {
	t.Helper()
	if err := apply(d); err != nil {
		t.Fatal(err)
	}
	var once sync.Once
	var at time.Time
	restore = func() time.Time {
		once.Do(func() {
			if err := e.c.Restore(d); err != nil {
				t.Error(err)
			}
			at = time.Now()
		})
		return at
	}
	t.Cleanup(func() { restore() })
	return restore
}

const pgCut = 30 * time.Second

// testPostgresCut cuts PostgreSQL for 30 s under 8 clients that read, list
// and vote: the load balancer keeps both nodes (liveness does not touch the
// database), database requests get a fast 503, the page and the API docs
// keep working, everything works again within 10 s of the database's
// return, no process restarts, and every vote is counted once.
func testPostgresCut(t *testing.T, e *env) {
	ctx := context.Background()
	videos := publicVideos(t, e)
	if len(videos) < 3 {
		t.Fatalf("%d processed public videos to vote for, want at least 3 (the earlier steps make them)", len(videos))
	}
	const n = 8
	players := signUpMany(t, e, n, "Corte")
	clients := make([]*voter, n)
	emails := make([]string, n)
	for i, p := range players {
		clients[i] = &voter{player: p, toVote: slices.Clone(videos)}
		clients[i].left.Store(int32(len(videos)))
		emails[i] = p.email
	}
	before := pids(e)
	outOfService := lbLogCount(e, `"msg":"node out of service"`)

	rec, stop := runLoad(clients, append(slices.Clone(pageProbes), dbProbes...))
	defer stop()
	waitUntil(t, "a baseline of 200 answers", 30*time.Second, func() bool { return len(rec.where(nil)) >= 200 })
	baseline := rec.where(func(s sample) bool { return s.db })

	restore := fault(t, e, PostgreSQL, e.c.Cut)
	cutAt := time.Now()
	web1 := e.c.Proc("web1").Addr
	notReady := waitUntil(t, "web1 reporting not ready", 10*time.Second, func() bool {
		status, _ := get(web1, nodespec.ReadinessPath)
		return status == http.StatusServiceUnavailable
	})
	for _, w := range e.c.Procs("web") {
		if status, body := get(w.Addr, nodespec.LivenessPath); status != http.StatusOK {
			t.Errorf("%s liveness with the database cut: %d %s, want 200", w.Name, status, body)
		}
	}
	time.Sleep(pgCut - time.Since(cutAt)) // the outage itself
	restoreAt := restore()
	ready := waitUntil(t, "web1 ready again", 10*time.Second, func() bool {
		status, _ := get(web1, nodespec.ReadinessPath)
		return status == http.StatusOK
	})
	settled := restoreAt.Add(10 * time.Second)
	waitUntil(t, "200 answers 10 s after the database's return and every vote cast", 40*time.Second, func() bool {
		voted := true
		for _, c := range clients {
			voted = voted && c.left.Load() == 0
		}
		return voted && len(rec.where(func(s sample) bool { return s.start.After(settled) })) >= 200
	})
	stop()

	all := rec.where(nil)
	var unexpected []string
	for _, s := range all {
		if s.status != http.StatusOK && s.status != http.StatusServiceUnavailable {
			unexpected = append(unexpected, fmt.Sprintf("%s %d %q %s", s.kind, s.status, s.message, s.err))
		}
	}
	if len(unexpected) > 0 {
		t.Errorf("%d answers neither 200 nor 503, e.g. %v", len(unexpected), unexpected[:min(5, len(unexpected))])
	}
	pages := rec.where(func(s sample) bool { return !s.db })
	if st := byStatus(pages); st[http.StatusOK] != len(pages) {
		t.Errorf("the page and the API docs answered %v, want 200 throughout", st)
	}
	during := rec.where(func(s sample) bool { return s.db && s.start.After(cutAt) && s.end().Before(restoreAt) })
	checkUnavailable(t, "database requests during the cut", during)
	p99 := percentile(during, 0.99)
	if p99 >= 2500*time.Millisecond {
		t.Errorf("p99 latency of database requests during the cut = %s, want < 2.5 s", p99)
	}
	duringNodes := byNode(rec.where(func(s sample) bool { return s.start.After(cutAt) && s.end().Before(restoreAt) }))
	if duringNodes["web1"] == 0 || duringNodes["web2"] == 0 {
		t.Errorf("answers by node during the cut %v, want both nodes in service", duringNodes)
	}
	if n := lbLogCount(e, `"msg":"node out of service"`) - outOfService; n > 0 {
		t.Errorf("the load balancer took a node out of service %d times", n)
	}
	var firstOK time.Duration
	lastFailure := "none after it"
	for _, s := range rec.where(func(s sample) bool { return s.db && s.start.After(restoreAt) }) {
		if s.status == http.StatusOK && firstOK == 0 {
			firstOK = s.end().Sub(restoreAt)
		}
		if s.status != http.StatusOK {
			lastFailure = fmt.Sprintf("%.1f s after", s.end().Sub(restoreAt).Seconds())
		}
	}
	after := rec.where(func(s sample) bool { return s.start.After(settled) })
	if st := byStatus(after); st[http.StatusOK] != len(after) {
		t.Errorf("answers from 10 s after the database's return: %v, want all 200", st)
	}
	sameProcesses(t, e, before)

	accepted, already := 0, 0
	for _, c := range clients {
		accepted += c.accepted
		already += c.already
	}
	var counted, mismatched int
	if err := e.db.QueryRow(ctx, `SELECT count(*) FROM votes v JOIN users u ON u.id = v.user_id WHERE u.email = ANY($1)`, emails).Scan(&counted); err != nil {
		t.Fatal(err)
	}
	if err := e.db.QueryRow(ctx, `SELECT count(*) FROM videos v WHERE v.votes <> (SELECT count(*) FROM votes WHERE video_id = v.id)`).Scan(&mismatched); err != nil {
		t.Fatal(err)
	}
	if counted != accepted || already > 0 || mismatched > 0 {
		t.Errorf("votes: %d accepted (200), %d refused as already cast after an answer that said otherwise, %d in the database; %d videos whose vote count differs from their votes",
			accepted, already, counted, mismatched)
	}
	sampleMessage := ""
	if len(during) > 0 {
		sampleMessage = during[0].message
	}
	t.Logf("PostgreSQL cut %.0f s under %d clients: %d requests in all; database requests before the cut p50 %s p99 %s; during the cut %d database requests all 503 (p50 %s, p99 %s, Retry-After %s, message %q); web1 not ready %.1f s after the cut, ready %.1f s after the return",
		pgCut.Seconds(), n, len(all), ms(percentile(baseline, 0.5)), ms(percentile(baseline, 0.99)), len(during), ms(percentile(during, 0.5)), ms(p99),
		firstRetryAfter(during), sampleMessage, notReady.Seconds(), ready.Seconds())
	t.Logf("PostgreSQL cut: page and API docs %d answers, all 200; both nodes kept in service (answers during the cut by node %v); first database success %.1f s after the return, last failure %s; %d answers from 10 s after the return, all 200; same pids %v; votes %d accepted = %d counted",
		len(pages), duringNodes, firstOK.Seconds(), lastFailure, len(after), before, accepted, counted)
}

func firstRetryAfter(samples []sample) string {
	if len(samples) == 0 {
		return "-"
	}
	return samples[0].retryAfter + " s"
}

// nodeConnections counts the database connections of the nodes (all but
// the tests' own).
func nodeConnections(ctx context.Context, conn *pgx.Conn, db string) (all, active int, err error) {
	err = conn.QueryRow(ctx, `SELECT count(*), count(*) FILTER (WHERE state = 'active') FROM pg_stat_activity
		WHERE datname = $1 AND application_name <> $2`, db, harnessApp).Scan(&all, &active)
	return all, active, err
}

// openFiles counts a process's open file descriptors (sockets included).
func openFiles(p *Proc) int {
	entries, _ := os.ReadDir(fmt.Sprintf("/proc/%d/fd", p.Pid()))
	return len(entries)
}

const pgSlow = 15 * time.Second

// dbBound is the nodes' ANB_DB_TIMEOUT (the default).
const dbBound = 2 * time.Second

// testPostgresSlow makes every answer of PostgreSQL 2 s late for 15 s under
// 8 clients: the nodes' connections and open files stay bounded, and the
// latency is back to the baseline within a few seconds after it clears.
func testPostgresSlow(t *testing.T, e *env) {
	ctx := context.Background()
	p := signUp(t, e.c.URL, "Paula", "Lenta", "Pasto")
	const n = 8
	clients := make([]*voter, n)
	for i := range clients {
		c := newClient(e.c.URL)
		c.token = p.token
		clients[i] = &voter{player: c}
	}
	sampler := harnessDB(t, e.c)
	type point struct{ all, active, files int }
	var mu sync.Mutex
	var series []point
	peak := func(from int) (p point) {
		mu.Lock()
		defer mu.Unlock()
		for _, x := range series[from:] {
			p.all, p.active, p.files = max(p.all, x.all), max(p.active, x.active), max(p.files, x.files)
		}
		return p
	}
	sampling := make(chan struct{})
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		tick := time.NewTicker(100 * time.Millisecond)
		defer tick.Stop()
		for {
			all, active, err := nodeConnections(ctx, sampler, e.c.DatabaseName)
			files := 0
			for _, w := range e.c.Procs("web") {
				files += openFiles(w)
			}
			if err == nil {
				mu.Lock()
				series = append(series, point{all, active, files})
				mu.Unlock()
			}
			select {
			case <-sampling:
				return
			case <-tick.C:
			}
		}
	}()
	stopSampling := sync.OnceFunc(func() { close(sampling); <-sampled })
	defer stopSampling()

	rec, stop := runLoad(clients, append(slices.Clone(dbProbes), pageProbes...))
	defer stop()
	waitUntil(t, "a baseline of 300 answers and 10 connection counts", 30*time.Second, func() bool {
		mu.Lock()
		points := len(series)
		mu.Unlock()
		return len(rec.where(nil)) >= 300 && points >= 10
	})
	mu.Lock()
	slowFrom := len(series)
	mu.Unlock()
	before := peak(0)
	baseline := rec.where(func(s sample) bool { return s.db })

	restore := fault(t, e, PostgreSQL, func(d Dependency) error { return e.c.AddLatency(d, 2*time.Second) })
	slowAt := time.Now()
	time.Sleep(pgSlow) // the slow spell itself
	clearedAt := restore()
	mu.Lock()
	clearFrom := len(series)
	mu.Unlock()
	during := peak(slowFrom)

	// Recovered: 50 database requests in a row, started after the latency
	// cleared, answered 200 within 3× the baseline p99 (at least 250 ms).
	limit := max(3*percentile(baseline, 0.99), 250*time.Millisecond)
	var recovered time.Duration
	waitUntil(t, "database latency back to the baseline", 20*time.Second, func() bool {
		run := 0
		for _, s := range rec.where(func(s sample) bool { return s.db && s.start.After(clearedAt) }) {
			if s.status != http.StatusOK || s.took > limit {
				run = 0
				continue
			}
			if run++; run == 1 {
				recovered = s.start.Sub(clearedAt)
			}
			if run == 50 {
				return true
			}
		}
		return false
	})
	stop()
	stopSampling()
	afterPeak := peak(clearFrom)
	last := series[len(series)-1]

	slow := rec.where(func(s sample) bool { return s.db && s.start.After(slowAt) && s.end().Before(clearedAt) })
	pages := rec.where(func(s sample) bool { return !s.db && s.start.After(slowAt) && s.end().Before(clearedAt) })
	if st := byStatus(pages); st[http.StatusOK] != len(pages) {
		t.Errorf("page and API docs while the database was slow: %v, want all 200", st)
	}
	st := byStatus(slow)
	if st[http.StatusOK]+st[http.StatusServiceUnavailable] != len(slow) {
		t.Errorf("database requests while it was slow: %v, want only 200 and 503", st)
	}
	// A request's database operations share one bound (ANB_DB_TIMEOUT, 2 s),
	// so no request waits two; 1 s of margin for a loaded machine.
	unavailable := rec.where(func(s sample) bool {
		return s.db && s.status == http.StatusServiceUnavailable && s.start.After(slowAt) && s.end().Before(clearedAt)
	})
	if p99 := percentile(slow, 0.99); p99 >= dbBound+time.Second {
		t.Errorf("p99 of database requests while it was slow = %s (503 answers: %s), want under the %s bound + 1 s", ms(p99), ms(percentile(unavailable, 0.99)), dbBound)
	}
	if recovered > 5*time.Second {
		t.Errorf("latency back to the baseline %.1f s after the database, want within 5 s", recovered.Seconds())
	}
	// n clients hold at most n requests, so the nodes need at most one
	// connection per client beyond those they held before; more would be
	// requests or connections piling up.
	if during.all > before.all+n {
		t.Errorf("the nodes held %d database connections while it was slow, %d before: more than one per client (%d) added", during.all, before.all, n)
	}
	if last.all > before.all+n || last.files > before.files+2*n {
		t.Errorf("after the slow spell the nodes hold %d connections and %d open files (before: %d and %d)", last.all, last.files, before.all, before.files)
	}
	t.Logf("PostgreSQL 2 s late for %.0f s under %d clients: database requests before p50 %s p99 %s; while slow %d requests %v, p50 %s p99 %s (503 answers p99 %s, bound %s); page and docs %d answers all 200",
		pgSlow.Seconds(), n, ms(percentile(baseline, 0.5)), ms(percentile(baseline, 0.99)), len(slow), st, ms(percentile(slow, 0.5)), ms(percentile(slow, 0.99)),
		ms(percentile(unavailable, 0.99)), dbBound, len(pages))
	t.Logf("PostgreSQL slow: the nodes' database connections peaked at %d (%d active) before, %d (%d active) while slow, %d after; web nodes' open files peaked at %d before, %d while slow, %d after; latency back to the baseline (<%s) %.1f s after it cleared",
		before.all, before.active, during.all, during.active, afterPeak.all, before.files, during.files, afterPeak.files, ms(limit), recovered.Seconds())
}

// spooled lists the files left in the web nodes' spool directories.
func spooled(e *env) []string {
	var out []string
	for _, w := range e.c.Procs("web") {
		entries, _ := os.ReadDir(filepath.Join(e.c.DataDir(w.Name), "spool"))
		for _, f := range entries {
			out = append(out, w.Name+"/spool/"+f.Name())
		}
	}
	return out
}

// testS3Cut cuts S3 while an upload is half sent: the upload gets a 503
// with a JSON message, leaves no video and no spool file, and uploads work
// again once S3 is back.
func testS3Cut(t *testing.T, e *env) {
	p := signUp(t, e.c.URL, "Daniela", "Ríos", "Neiva")
	const title = "Tapón sin S3"
	body, ct := multipartBody(e.clip, title, true)
	all, _ := io.ReadAll(body)
	slow := newSlowBody(all)
	done := make(chan response, 1)
	go func() {
		r, err := p.call(context.Background(), "POST", "/api/videos/upload", slow, ct)
		if err != nil {
			r = response{body: []byte(err.Error())}
		}
		done <- r
	}()
	<-slow.sent
	waitUntil(t, "a web node spooling the upload", 30*time.Second, func() bool { return len(spooled(e)) > 0 })
	restore := fault(t, e, S3, e.c.Cut)
	cutAt := time.Now()
	close(slow.proceed)
	r := <-done
	answered := time.Since(cutAt)
	var msg struct{ Message string }
	json.Unmarshal(r.body, &msg)
	if r.status != http.StatusServiceUnavailable || msg.Message == "" {
		t.Errorf("upload with S3 cut: %d %s, want 503 with a JSON message", r.status, r.body)
	}
	var rows int
	if err := e.db.QueryRow(context.Background(), "SELECT count(*) FROM videos WHERE title = $1", title).Scan(&rows); err != nil {
		t.Fatal(err)
	}
	if rows != 0 {
		t.Errorf("%d videos titled %q after the failed upload, want none", rows, title)
	}
	var left []string
	clean := func() bool { left = spooled(e); return len(left) == 0 }
	for deadline := time.Now().Add(2 * time.Second); !clean() && time.Now().Before(deadline); {
		time.Sleep(50 * time.Millisecond)
	}
	if len(left) > 0 {
		t.Errorf("spool files left by the failed upload: %v", left)
	}
	restore()
	id := p.upload(t, e.clip, "Tapón con S3")
	t.Logf("S3 cut with half of a %.1f MB upload sent: %d %q %.1f s after the cut; %d rows for it, spool empty; after S3's return the next upload was accepted (%s)",
		float64(len(all))/1e6, r.status, msg.Message, answered.Seconds(), rows, id)
}

// testSQSCut cuts SQS during an upload: the upload is accepted (the video
// is committed, its task not sent), and once SQS is back the web tier sends
// the task again; the video is processed exactly once.
func testSQSCut(t *testing.T, e *env) {
	ctx := context.Background()
	p := signUp(t, e.c.URL, "Esteban", "Mora", "Armenia")
	restore := fault(t, e, SQS, e.c.Cut)
	start := time.Now()
	id := p.upload(t, e.clip, "Gancho sin cola")
	took := time.Since(start)
	var status string
	var enqueued *time.Time
	if err := e.db.QueryRow(ctx, "SELECT status, enqueued_at FROM videos WHERE id = $1", id).Scan(&status, &enqueued); err != nil {
		t.Fatal(err)
	}
	if enqueued != nil {
		t.Errorf("video %s marked enqueued at %s with SQS cut", id, enqueued)
	}
	restoredAt := restore()
	p.waitStatus(t, id, "processed", 3*time.Minute)
	var sent, done time.Time
	var attempts, failures int
	if err := e.db.QueryRow(ctx, "SELECT enqueued_at, processed_at, attempts, failures FROM videos WHERE id = $1", id).Scan(&sent, &done, &attempts, &failures); err != nil {
		t.Fatal(err)
	}
	if n := processedCount(e, id); n != 1 || attempts != 1 || failures != 0 {
		t.Errorf("processed %d times, attempts %d, failures %d: want once, 1, 0", n, attempts, failures)
	}
	queueEmpty(t, e)
	t.Logf("SQS cut: upload answered 201 in %.1f s (status %s, not enqueued); after SQS's return the task was sent %.1f s later and the video processed %.1f s later, once (attempts %d)",
		took.Seconds(), status, sent.Sub(restoredAt).Seconds(), done.Sub(restoredAt).Seconds(), attempts)
}

// testWorkerSIGTERMThrice stops the worker of the same video three times
// in a row mid-job (the shutdown grace is shorter than the job, so each
// releases it): interruptions are not failures, and the video ends
// processed with none recorded.
func testWorkerSIGTERMThrice(t *testing.T, e *env) {
	p := signUp(t, e.c.URL, "Tomás", "Quintero", "Ibagué")
	id := p.upload(t, e.clip, "Triple interrumpido")
	var steps []string
	for i := 1; i <= 3; i++ {
		w := busyWorker(t, e)
		if err := e.c.Signal(w.Name, syscall.SIGTERM); err != nil {
			t.Fatal(err)
		}
		stopped := time.Now()
		if err := w.Wait(speed.ShutdownGrace + 30*time.Second); err != nil {
			t.Fatalf("%s after SIGTERM: %v", w.Name, err)
		}
		released := CountLog(w.Log, `"video_id":"`+id+`"`, `"msg":"task released"`)
		steps = append(steps, fmt.Sprintf("%s exited %.1f s after SIGTERM (released %d)", w.Name, time.Since(stopped).Seconds(), released))
		if v := p.video(t, id); v.Status == "processed" || v.Status == "failed" {
			t.Fatalf("interruption %d: the video is already %s (the worker finished within the shutdown grace of %s); steps %v", i, v.Status, speed.ShutdownGrace, steps)
		}
		restartWorker(t, e, w)
	}
	p.waitStatus(t, id, "processed", 2*time.Minute)
	var attempts, failures int
	if err := e.db.QueryRow(context.Background(), "SELECT attempts, failures FROM videos WHERE id = $1", id).Scan(&attempts, &failures); err != nil {
		t.Fatal(err)
	}
	if failures != 0 || attempts != 4 {
		t.Errorf("attempts %d, failures %d: want 4 starts (3 interrupted) and 0 failures", attempts, failures)
	}
	if n := processedCount(e, id); n != 1 {
		t.Errorf("video processed %d times, want once", n)
	}
	queueEmpty(t, e)
	t.Logf("same video's worker stopped three times mid-job: %s; then processed with attempts %d, failures %d", strings.Join(steps, "; "), attempts, failures)
}

// workerEvent is a line of a worker's JSON log.
type workerEvent struct {
	Time     time.Time `json:"time"`
	Msg      string    `json:"msg"`
	VideoID  string    `json:"video_id"`
	Delivery int       `json:"delivery"`
	PausedS  float64   `json:"paused_s"`
	worker   string
}

// workerEvents lists the lines of every worker log whose message is msg.
func workerEvents(e *env, msg string) []workerEvent {
	var out []workerEvent
	for _, w := range e.c.Procs("worker") {
		b, err := os.ReadFile(w.Log)
		if err != nil {
			continue
		}
		for _, line := range strings.Split(string(b), "\n") {
			if !strings.Contains(line, `"msg":"`+msg+`"`) {
				continue
			}
			var ev workerEvent
			if json.Unmarshal([]byte(line), &ev) == nil {
				ev.worker = w.Name
				out = append(out, ev)
			}
		}
	}
	return out
}

// pgQueuedCut is the outage of testPostgresQueuedCut: a 5-minute database
// outage on AWS (a minor-version upgrade, a long failover) with the
// cluster's waits, ten times shorter (ANB_RETRY_BASE_DELAY 1 s instead of
// 10 s). A worker that handed its task back after the retry delay and
// received it again (the behaviour before the pause) takes the queued tasks
// to the redrive limit (20 receives) here in about 20 s, and the sweep then
// fails their videos.
const pgQueuedCut = 30 * time.Second

// testPostgresQueuedCut cuts PostgreSQL with videos waiting in the queue:
// the workers meet the outage once each and pause instead of receiving, so
// the receives during the cut stay at one per worker at most however long
// it lasts, and after it every video is processed, none failed.
func testPostgresQueuedCut(t *testing.T, e *env) {
	ctx := context.Background()
	p := signUp(t, e.c.URL, "Mateo", "Paciente", "Manizales")
	// Hold the workers so that every video is still queued at the cut (a
	// stopped process keeps its connections, see testPoisonVideo).
	workers := e.c.Procs("worker")
	for _, w := range workers {
		e.c.Signal(w.Name, syscall.SIGSTOP)
	}
	resume := sync.OnceFunc(func() {
		for _, w := range workers {
			e.c.Signal(w.Name, syscall.SIGCONT)
		}
	})
	defer resume()
	const n = 4
	var ids []string
	for i := range n {
		ids = append(ids, p.upload(t, e.clip, fmt.Sprintf("En cola %d", i+1)))
	}
	statuses := func() map[string]int {
		rows, err := e.db.Query(ctx, "SELECT status FROM videos WHERE id = ANY($1)", ids)
		if err != nil {
			t.Fatal(err)
		}
		list, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			t.Fatal(err)
		}
		out := map[string]int{}
		for _, s := range list {
			out[s]++
		}
		return out
	}
	deadBefore := queueLength(t, e, e.c.DLQURL) // the poison step leaves its task there
	restore := fault(t, e, PostgreSQL, e.c.Cut)
	cutAt := time.Now()
	atCut := statuses()
	resume()
	receivedBetween := func(from, to time.Time) (count int) {
		for _, ev := range workerEvents(e, "task received") {
			if !ev.Time.Before(from) && ev.Time.Before(to) {
				count++
			}
		}
		return count
	}
	time.Sleep(pgQueuedCut / 2)
	firstHalf := receivedBetween(cutAt, time.Now())
	time.Sleep(pgQueuedCut - time.Since(cutAt))
	restoredAt := restore()
	during := receivedBetween(cutAt, restoredAt)

	var final map[string]int
	settled := waitUntil(t, "every video processed or failed", 3*time.Minute, func() bool {
		final = statuses()
		return final["processed"]+final["failed"] == n
	})
	var failures int
	if err := e.db.QueryRow(ctx, "SELECT coalesce(sum(failures), 0) FROM videos WHERE id = ANY($1)", ids).Scan(&failures); err != nil {
		t.Fatal(err)
	}
	receives := map[string]int{}
	for _, ev := range workerEvents(e, "task received") {
		if slices.Contains(ids, ev.VideoID) {
			receives[ev.VideoID] = max(receives[ev.VideoID], ev.Delivery)
		}
	}
	counts := make([]int, 0, n)
	for _, id := range ids {
		counts = append(counts, receives[id])
	}
	var pauses []string
	for _, ev := range workerEvents(e, "worker resumed: dependency answers again") {
		if ev.Time.After(cutAt) {
			pauses = append(pauses, fmt.Sprintf("%s paused %.1f s, resumed %.1f s after the return", ev.worker, ev.PausedS, ev.Time.Sub(restoredAt).Seconds()))
		}
	}
	t.Logf("PostgreSQL cut %.0f s with %d videos queued (%v): %d receives in the first half of the cut, %d in all of it (%d workers); %s",
		pgQueuedCut.Seconds(), n, atCut, firstHalf, during, len(workers), strings.Join(pauses, "; "))
	t.Logf("PostgreSQL cut with videos queued: %v %.1f s after the return, %d failures counted; receive counts per video %v (redrive after %d)",
		final, settled.Seconds(), failures, counts, nodespec.QueueMaxReceiveCount)
	if final["processed"] != n || failures != 0 {
		t.Errorf("after the cut: %v with %d failures counted, want all %d processed and none counted", final, failures, n)
	}
	if during > len(workers) || during != firstHalf {
		t.Errorf("%d receives during the cut, %d of them in its first half: want at most one per worker (%d), none after the workers paused", during, firstHalf, len(workers))
	}
	queueEmpty(t, e)
	if dead := queueLength(t, e, e.c.DLQURL) - deadBefore; dead != 0 {
		t.Errorf("%d new tasks in the dead-letter queue after the cut, want none", dead)
	}
}
