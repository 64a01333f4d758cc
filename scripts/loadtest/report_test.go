package main

import (
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/anb/risingstars/scripts/loadtest/results"
	"github.com/anb/risingstars/scripts/loadtest/stats"
)

func level(clients int, rps, p95, p99 float64, errs, reqs int) results.Level {
	l := results.Level{Clients: clients, RPS: rps, Errors: errs, Requests: reqs, Latency: stats.Latency{P95: p95, P99: p99}}
	if reqs > 0 {
		l.ErrorRate = float64(errs) / float64(reqs)
	}
	return l
}

func TestCheckTargets(t *testing.T) {
	r := &results.Run{Levels: []results.Level{level(1, 900, 2, 3, 0, 18_000), level(64, 3100, 30, 49.9, 0, 62_000), level(128, 2900, 60, 80, 2, 58_000)}}
	o := &options{targetClients: 64, targetRPS: 3000, targetP99: 50 * time.Millisecond}
	checkTargets(r, o, "GET /api/public/rankings")
	want := []results.Verdict{
		{What: "GET /api/public/rankings throughput at 64 clients", Target: "≥ 3000 req/s", Reached: "3100 req/s", Met: true},
		{What: "GET /api/public/rankings p99 at 64 clients", Target: "< 50 ms", Reached: "49.9 ms", Met: true},
		{What: "GET /api/public/rankings errors at 64 clients", Target: "0", Reached: "0 of 62000", Met: true},
	}
	if len(r.Verdicts) != len(want) {
		t.Fatalf("verdicts %+v", r.Verdicts)
	}
	for i := range want {
		if r.Verdicts[i] != want[i] {
			t.Errorf("verdict %d = %+v\nwant        %+v", i, r.Verdicts[i], want[i])
		}
	}

	// p99 exactly at the target misses (strictly below is wanted); errors miss.
	r = &results.Run{Levels: []results.Level{level(64, 2999, 40, 50, 1, 100)}}
	checkTargets(r, o, "x")
	for _, v := range r.Verdicts {
		if v.Met {
			t.Errorf("%s: met with %s", v.What, v.Reached)
		}
	}
	// No level at the target concurrency: nothing to judge.
	r = &results.Run{Levels: []results.Level{level(32, 1, 1, 1, 0, 1)}}
	if checkTargets(r, o, "x"); len(r.Verdicts) != 0 {
		t.Errorf("verdicts without a level at 64 clients: %+v", r.Verdicts)
	}
	// Without -target-rps/-target-p99 only the errors are checked.
	r = &results.Run{Levels: []results.Level{level(64, 1, 1, 1, 0, 1)}}
	if checkTargets(r, &options{targetClients: 64}, "x"); len(r.Verdicts) != 1 || !strings.Contains(r.Verdicts[0].What, "errors") {
		t.Errorf("verdicts without targets: %+v", r.Verdicts)
	}
}

// The web ramp stops after the first stage that misses p95 ≤ 500 ms or an
// error rate ≤ 1 %, and reports the best stage that held.
func TestWebObjective(t *testing.T) {
	obj := objective{p95: 500 * time.Millisecond, errors: 0.01}
	for _, tc := range []struct {
		name string
		l    results.Level
		want bool
	}{
		{"well within", level(16, 246, 203, 259, 0, 1000), true},
		{"p95 exactly at the objective holds", level(32, 238, 500, 588, 0, 1000), true},
		{"p95 above", level(64, 265, 500.1, 1255, 0, 1000), false},
		{"1 % errors holds", level(8, 200, 100, 120, 10, 1000), true},
		{"more than 1 % errors", level(8, 200, 100, 120, 11, 1000), false},
	} {
		if got := obj.holds(tc.l); got != tc.want {
			t.Errorf("%s: holds = %v", tc.name, got)
		}
	}
	stages := []results.Level{level(1, 92, 61, 64, 0, 1), level(16, 246, 203, 259, 0, 1), level(32, 238, 424, 588, 0, 1), level(64, 265, 792, 1255, 0, 1)}
	if best := obj.best(stages); best.Clients != 16 {
		t.Errorf("best within the objective: %d users, want 16 (64 users is faster but broke it)", best.Clients)
	}
	if best := obj.best(stages[3:]); best.Clients != 0 {
		t.Errorf("no stage held: best %+v, want none", best)
	}
}

func TestDrainRates(t *testing.T) {
	t0 := time.Unix(5000, 0)
	at := func(s float64) time.Time { return t0.Add(time.Duration(s * float64(time.Second))) }
	for _, tc := range []struct {
		name string
		done []time.Time
		want map[string]float64
	}{
		{"none settled", nil, map[string]float64{}},
		{"one video: no steady rate", []time.Time{at(30)}, map[string]float64{"drain_seconds": 30, "videos_per_minute": 2}},
		{"10 videos, first at 10 s, then one every 8.5 s",
			[]time.Time{at(10), at(18.5), at(27), at(35.5), at(44), at(52.5), at(61), at(69.5), at(78), at(86.5)},
			map[string]float64{"drain_seconds": 86.5, "videos_per_minute": 10 / 86.5 * 60, "steady_videos_per_minute": 60 / 8.5, "seconds_per_video": 8.5}},
		// Videos seen settled by the same poll share its time: no rate
		// between them (it used to be +Inf, which JSON cannot encode).
		{"all settled in one poll", []time.Time{at(12), at(12), at(12)}, map[string]float64{"drain_seconds": 12, "videos_per_minute": 15}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := drainRates(t0, tc.done)
			if len(got) != len(tc.want) {
				t.Errorf("figures %v, want %v", got, tc.want)
			}
			for k, w := range tc.want {
				if math.Abs(got[k]-w) > 1e-9 {
					t.Errorf("%s = %v, want %v", k, got[k], w)
				}
			}
			// The figures go into the run's JSON: they must encode.
			if _, err := json.Marshal(got); err != nil {
				t.Errorf("JSON: %v", err)
			}
		})
	}
}

// cpuShare turns two snapshots 10 s apart into cores used and CPU per request.
func TestCPUShare(t *testing.T) {
	cores := float64(runtime.NumCPU())
	t0 := time.Unix(100, 0)
	a := cpuSnapshot{ok: true, at: t0, total: 1000, busy: 400, api: 50, pg: 20, loadgen: 10, ffmpeg: 0}
	// 10 s on every core; the machine busy 3/4 of it: the API 30 %, PostgreSQL
	// 15 %, the load generator and ffmpeg 5 % each, other processes the rest.
	b := cpuSnapshot{ok: true, at: t0.Add(10 * time.Second), total: 1000 + 10*cores, busy: 400 + 7.5*cores,
		api: 50 + 3*cores, pg: 20 + 1.5*cores, loadgen: 10 + 0.5*cores, ffmpeg: 0.5 * cores}
	c := cpuShare(a, b, 4000)
	want := results.CPUShare{Cores: int(cores), API: 0.3 * cores, Postgres: 0.15 * cores, Loadgen: 0.05 * cores, FFmpeg: 0.05 * cores,
		Other: 0.2 * cores, Idle: 0.25 * cores, APIMicrosPerReq: 0.3 * cores / 4000 * 1e6, PGMicrosPerReq: 0.15 * cores / 4000 * 1e6}
	near := func(x, y float64) bool { return math.Abs(x-y) < 1e-9 }
	if c == nil || c.Cores != want.Cores || !near(c.API, want.API) || !near(c.Postgres, want.Postgres) || !near(c.Loadgen, want.Loadgen) ||
		!near(c.FFmpeg, want.FFmpeg) || !near(c.Other, want.Other) || !near(c.Idle, want.Idle) ||
		!near(c.APIMicrosPerReq, want.APIMicrosPerReq) || !near(c.PGMicrosPerReq, want.PGMicrosPerReq) {
		t.Errorf("cpuShare = %+v\nwant       %+v", c, want)
	}
	if cpuShare(a, a, 1) != nil || cpuShare(cpuSnapshot{}, b, 1) != nil {
		t.Error("no elapsed time, or a failed snapshot, must give no figures")
	}
}

// -mode summary lists every verdict of the directory's runs and draws the
// focused sweeps together; web runs and single levels are not drawn.
func TestSummary(t *testing.T) {
	dir := t.TempDir()
	write := func(r *results.Run) {
		b, err := json.Marshal(r)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, r.Name+".json"), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write(&results.Run{Name: "rankings", Mode: "rankings", Levels: []results.Level{level(1, 900, 2, 3, 0, 1), level(64, 21328, 9, 12.8, 0, 1)},
		Verdicts: []results.Verdict{{What: "throughput at 64 clients", Target: "≥ 3000 req/s", Reached: "21328 req/s", Met: true}}})
	write(&results.Run{Name: "worker", Mode: "worker",
		Verdicts: []results.Verdict{{What: "single pass speed-up vs naive (copy)", Target: "≥ 1.8×", Reached: "1.71×", Met: false}}})
	write(&results.Run{Name: "web", Mode: "web", Levels: []results.Level{level(1, 92, 61, 64, 0, 1), level(4, 224, 81, 105, 0, 1)}})
	write(&results.Run{Name: "summary-old", Mode: "summary"})

	if err := runSummary(t.Context(), &options{out: dir}); err != nil {
		t.Fatal(err)
	}
	md, err := os.ReadFile(filepath.Join(dir, "summary.md"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"| run | target | wanted | reached | |\n",
		"| rankings | throughput at 64 clients | ≥ 3000 req/s | 21328 req/s | met |\n",
		"| worker | single pass speed-up vs naive (copy) | ≥ 1.8× | 1.71× | **missed** |\n",
		"![throughput](summary-throughput.png)",
		"![p99](summary-p99.png)",
	} {
		if !strings.Contains(string(md), want) {
			t.Errorf("summary.md lacks %q:\n%s", want, md)
		}
	}
	for _, p := range []string{"summary-throughput.png", "summary-p99.png"} {
		if fi, err := os.Stat(filepath.Join(dir, p)); err != nil || fi.Size() == 0 {
			t.Errorf("%s: %v", p, err)
		}
	}

	if err := runSummary(t.Context(), &options{out: t.TempDir()}); err == nil {
		t.Error("an empty directory must be an error")
	}
}
