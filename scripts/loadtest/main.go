// Command loadtest measures the capacity of ANB Rising Stars against any base
// URL (a local run, the local cluster or the ALB) and writes JSON results, a
// Markdown report and PNG plots.
//
// Scenarios:
//
//	-mode web       signup → login → list → vote → rankings, ramped stages of virtual users
//	-mode batch     a burst of uploads; videos/minute until the queue drains
//
// Focused modes, one endpoint at a sweep of concurrency levels:
//
//	-mode rankings  GET /api/public/rankings
//	-mode videos    GET /api/public/videos
//	-mode vote      POST /api/public/videos/{id}/vote, each pair once, plus deliberate
//	                duplicates; with -db it then checks the counts in PostgreSQL
//	-mode upload    concurrent large uploads (e.g. 10 × 50 MB)
//	-mode attack    ballot stuffing from one address while normal users browse and
//	                vote; with -db, what the vote audit flags
//
// Results:
//
//	-mode summary   combine the JSON results of a directory into summary plots
//
// Separate tools write into the same results directory: scripts/loadseed
// loads players, public videos and votes straight into PostgreSQL (COPY), and
// scripts/workerbench compares the worker's single pass with bare ffmpeg,
// naive multi-pass pipelines and the full processor path.
//
// Run it from the repository root: go run ./scripts/loadtest -h. See
// scripts/loadtest/REPORT.md for the measured figures and scripts/loadtest/run-local.sh
// for the full local measurement.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/anb/risingstars/scripts/loadtest/results"
)

type options struct {
	mode, base, out, label string
	db, jwtSecret          string
	apiPID                 int

	clients     string
	warmup      time.Duration
	duration    time.Duration
	maxRequests int64
	rate        float64
	query       string
	pages       int
	auth        bool

	targetRPS     float64
	targetP99     time.Duration
	targetClients int

	// web
	stages        string
	stageDuration time.Duration
	browse        int
	think         time.Duration
	sloP95        time.Duration
	sloErrors     float64

	// vote
	dupFraction float64
	voters      int

	// attack
	normalUsers, attackers  int
	auditBurst, auditShared int

	// upload and batch
	uploads           int
	uploadConcurrency int
	uploadMB          int
	clipSeconds       int
	drainTimeout      time.Duration
	pollEvery         time.Duration
	ffmpeg            string
	work              string
}

func main() {
	var o options
	flag.StringVar(&o.mode, "mode", "", "web | batch | rankings | videos | vote | upload | attack | summary")
	flag.StringVar(&o.base, "base", "http://127.0.0.1:8080", "base URL of the API")
	flag.StringVar(&o.out, "out", "scripts/loadtest/out", "directory for JSON, Markdown and PNG results")
	flag.StringVar(&o.label, "label", "", "suffix of the result file names (e.g. nocache)")
	flag.StringVar(&o.db, "db", "", "PostgreSQL URL of the API's database (vote: verify the counts; with -jwt-secret, vote as seeded players)")
	flag.StringVar(&o.jwtSecret, "jwt-secret", "", "the API's ANB_JWT_SECRET: lets vote mode mint tokens for seeded players instead of logging in")
	flag.IntVar(&o.apiPID, "api-pid", 0, "process id of the API (local runs): CPU and memory accounting")

	flag.StringVar(&o.clients, "clients", "64", "concurrency levels of focused modes, comma-separated (e.g. 1,8,32,64,128)")
	flag.DurationVar(&o.warmup, "warmup", 3*time.Second, "warm-up before each measured level")
	flag.DurationVar(&o.duration, "duration", 20*time.Second, "measured time of each level")
	flag.Int64Var(&o.maxRequests, "max-requests", 2_000_000, "bound on measured requests per level")
	flag.Float64Var(&o.rate, "rate", 0, "open loop: offer this many requests/s at every level, -clients bounding those in flight (0: closed loop)")
	flag.StringVar(&o.query, "query", "", "extra query string of rankings/videos requests (e.g. city=Cali)")
	flag.IntVar(&o.pages, "pages", 1, "videos mode: spread requests over pages 1..N")
	flag.BoolVar(&o.auth, "auth", false, "videos mode: list as a logged-in viewer (has_voted), one new account")

	flag.Float64Var(&o.targetRPS, "target-rps", 0, "throughput target checked at -target-clients (0: none)")
	flag.DurationVar(&o.targetP99, "target-p99", 0, "p99 latency target checked at -target-clients (0: none)")
	flag.IntVar(&o.targetClients, "target-clients", 64, "concurrency level the targets apply to")

	flag.StringVar(&o.stages, "stages", "2,4,8,16,32,64", "web: virtual users of each ramp stage")
	flag.DurationVar(&o.stageDuration, "stage-duration", 30*time.Second, "web: measured time of each stage")
	flag.IntVar(&o.browse, "browse", 5, "web: list → vote → rankings rounds per signed-up user")
	flag.DurationVar(&o.think, "think", 0, "web: pause between a user's rounds")
	flag.DurationVar(&o.sloP95, "slo-p95", 500*time.Millisecond, "web: the ramp stops after the stage whose p95 exceeds this")
	flag.Float64Var(&o.sloErrors, "slo-errors", 0.01, "web: ... or whose error rate exceeds this")

	flag.Float64Var(&o.dupFraction, "dup-fraction", 0.05, "vote: share of requests that repeat an accepted vote (must get 400)")
	flag.IntVar(&o.voters, "voters", 2000, "vote: distinct voters")
	flag.IntVar(&o.normalUsers, "normal-users", 24, "attack: normal users, one address each")
	flag.IntVar(&o.attackers, "attackers", 8, "attack: concurrent workers of the script on one address")
	flag.IntVar(&o.auditBurst, "audit-burst-accounts", 5, "attack: the audit's -burst-accounts")
	flag.IntVar(&o.auditShared, "audit-shared-address", 5, "attack: the audit's -shared-address")

	flag.IntVar(&o.uploads, "uploads", 10, "upload/batch: number of uploads")
	flag.IntVar(&o.uploadConcurrency, "upload-concurrency", 10, "upload/batch: uploads in flight at once")
	flag.IntVar(&o.uploadMB, "upload-mb", 50, "upload: size of each file in MiB (a real clip padded with an MP4 free box); 0 = the bare clip")
	flag.IntVar(&o.clipSeconds, "clip-seconds", 30, "upload/batch: length of the generated 1080p30 clip")
	flag.DurationVar(&o.drainTimeout, "drain-timeout", 30*time.Minute, "batch: give up waiting for the queue to drain after this")
	flag.DurationVar(&o.pollEvery, "poll", 2*time.Second, "batch: status polling interval")

	flag.StringVar(&o.ffmpeg, "ffmpeg", "ffmpeg", "upload/batch: ffmpeg executable (generates the clip)")
	flag.StringVar(&o.work, "work", "", "upload: scratch directory (default: a temporary one)")
	flag.Parse()

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	o.base = strings.TrimRight(o.base, "/")

	modes := map[string]func(context.Context, *options) error{
		"web": runWeb, "batch": runBatch, "rankings": runRankings, "videos": runVideos, "vote": runVote,
		"upload": runUpload, "summary": runSummary, "attack": runAttack,
	}
	if tool, ok := movedModes[o.mode]; ok {
		fmt.Fprintf(os.Stderr, "loadtest: -mode %s is now its own tool: go run ./scripts/%s -h\n", o.mode, tool)
		os.Exit(2)
	}
	run, ok := modes[o.mode]
	if !ok {
		fmt.Fprintf(os.Stderr, "loadtest: -mode must be one of web, batch, rankings, videos, vote, upload, attack, summary (got %q)\n", o.mode)
		flag.Usage()
		os.Exit(2)
	}
	if err := run(ctx, &o); err != nil {
		fmt.Fprintln(os.Stderr, "loadtest:", err)
		os.Exit(1)
	}
}

// movedModes are former modes that became tools of their own.
var movedModes = map[string]string{"seed": "loadseed", "worker": "workerbench"}

// levels parses a comma-separated list of positive integers.
func levels(s string) ([]int, error) {
	var out []int
	for _, f := range strings.Split(s, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 1 || n > 10_000 {
			return nil, fmt.Errorf("bad level %q in %q: want integers between 1 and 10000", f, s)
		}
		out = append(out, n)
	}
	return out, nil
}

// checkTargets adds verdicts for the level at o.targetClients.
func checkTargets(r *results.Run, o *options, what string) {
	var l *results.Level
	for i := range r.Levels {
		if r.Levels[i].Clients == o.targetClients {
			l = &r.Levels[i]
		}
	}
	if l == nil {
		return
	}
	at := fmt.Sprintf(" at %d clients", l.Clients)
	if o.targetRPS > 0 {
		r.Verdict(what+" throughput"+at, fmt.Sprintf("≥ %.0f req/s", o.targetRPS), fmt.Sprintf("%.0f req/s", l.RPS), l.RPS >= o.targetRPS)
	}
	if o.targetP99 > 0 {
		want := float64(o.targetP99.Microseconds()) / 1000
		r.Verdict(what+" p99"+at, fmt.Sprintf("< %.0f ms", want), fmt.Sprintf("%.1f ms", l.Latency.P99), l.Latency.P99 < want)
	}
	r.Verdict(what+" errors"+at, "0", fmt.Sprintf("%d of %d", l.Errors, l.Requests), l.Errors == 0)
}
