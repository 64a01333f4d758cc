package main

import (
	"context"
	"math"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/anb/risingstars/scripts/loadtest/stats"
)

const ms = time.Millisecond

// Rates are requests over the measured window, per operation and in all;
// the error rate is errors over requests.
func TestSummarize(t *testing.T) {
	ops := map[string]*opData{
		"vote": {lat: []time.Duration{10 * ms, 30 * ms, 20 * ms, 40 * ms}, errors: 1, statuses: map[int]int{200: 3, 500: 1}, example: "status 500"},
		"list": {lat: []time.Duration{1 * ms, 2 * ms, 3 * ms, 4 * ms, 5 * ms, 6 * ms}, errors: 2, statuses: map[int]int{200: 4, 0: 2}},
	}
	l := summarize(ops, 2)
	if l.Requests != 10 || l.Errors != 3 || l.RPS != 5 || l.ErrorRate != 0.3 || l.Seconds != 2 {
		t.Errorf("level: %d requests, %d errors, %v req/s, error rate %v over %v s; want 10, 3, 5, 0.3, 2",
			l.Requests, l.Errors, l.RPS, l.ErrorRate, l.Seconds)
	}
	vote := l.Ops["vote"]
	if vote.Requests != 4 || vote.RPS != 2 || vote.Errors != 1 || vote.Example != "status 500" ||
		vote.Statuses["200"] != 3 || vote.Statuses["500"] != 1 {
		t.Errorf("vote: %+v", vote)
	}
	if want := (stats.Latency{Mean: 25, P50: 20, P90: 40, P95: 40, P99: 40, Max: 40}); vote.Latency != want {
		t.Errorf("vote latency %+v, want %+v", vote.Latency, want)
	}
	if list := l.Ops["list"]; list.Statuses["transport-error"] != 2 || list.Statuses["0"] != 0 || list.RPS != 3 {
		t.Errorf("list: status 0 must read transport-error: %+v", list)
	}
	// The level's percentiles are over every request, not an average of operations.
	if l.Latency.P50 != 5 || l.Latency.Max != 40 || l.Latency.P90 != 30 {
		t.Errorf("merged latency %+v, want p50 5, p90 30, max 40", l.Latency)
	}

	empty := summarize(map[string]*opData{}, 20)
	if empty.Requests != 0 || empty.RPS != 0 || empty.ErrorRate != 0 || math.IsNaN(empty.ErrorRate) {
		t.Errorf("no requests: %+v", empty)
	}
}

func TestMeasuredSeconds(t *testing.T) {
	start := time.Unix(1000, 0)
	end := start.Add(20 * time.Second)
	at := func(s float64) time.Time { return start.Add(time.Duration(s * float64(time.Second))) }
	for _, tc := range []struct {
		name          string
		lastDone, now time.Time
		want          float64
	}{
		{"to the last completion inside the window", at(19.5), at(21), 19.5},
		{"a straggler after the window ends counts up to its planned end", at(25), at(25), 20},
		{"ended early (work ran out): until now", at(-1), at(8), 8},
		{"nothing completed, nothing elapsed: the planned duration", start, start, 20},
	} {
		if got := measuredSeconds(start, end, tc.lastDone, tc.now, 20*time.Second); got != tc.want {
			t.Errorf("%s: %v s, want %v", tc.name, got, tc.want)
		}
	}
}

// A short closed-loop level against a local server that fails every fourth
// request: the counts, statuses and error rate the report shows.
func TestRunLevelCountsErrors(t *testing.T) {
	var n atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if n.Add(1)%4 == 0 {
			http.Error(w, "boom", http.StatusInternalServerError)
			return
		}
		w.Write([]byte("ok"))
	}))
	defer srv.Close()
	c := newClient(srv.URL, 2, 5*time.Second)
	var steps atomic.Int64
	l, err := runLevel(context.Background(), levelSpec{name: "test", clients: 2, duration: 5 * time.Second, maxOps: 1 << 30, c: c,
		step: func(ctx context.Context, vu *VU) error {
			if steps.Add(1) > 200 {
				return errStop // every user stops: the level ends before its duration
			}
			_, err := vu.do(ctx, request{op: "get", method: "GET", path: "/x", want: []int{http.StatusOK}})
			return err
		}})
	if err != nil {
		t.Fatal(err)
	}
	if l.Requests != 200 || l.Errors != 50 || l.ErrorRate != 0.25 || l.Clients != 2 {
		t.Errorf("%d requests, %d errors, rate %v; want 200, 50, 0.25", l.Requests, l.Errors, l.ErrorRate)
	}
	op := l.Ops["get"]
	if op.Statuses["200"] != 150 || op.Statuses["500"] != 50 || op.Example == "" {
		t.Errorf("statuses %v, first error %q", op.Statuses, op.Example)
	}
	// Ended by running out of work: the window is the time actually spent.
	if l.Seconds <= 0 || l.Seconds >= 5 || math.Abs(l.RPS-200/l.Seconds) > 1e-9 {
		t.Errorf("%v req/s over %v s", l.RPS, l.Seconds)
	}
	if l.Latency.P50 <= 0 || l.Latency.P50 > l.Latency.P99 || l.Latency.P99 > l.Latency.Max {
		t.Errorf("latency not ordered: %+v", l.Latency)
	}
}

func TestLevels(t *testing.T) {
	got, err := levels("1, 8,32,64 ,128")
	if err != nil || len(got) != 5 || got[0] != 1 || got[4] != 128 {
		t.Errorf("levels = %v, %v", got, err)
	}
	for _, bad := range []string{"", "0", "-1", "8,,16", "abc", "10001", "1.5"} {
		if got, err := levels(bad); err == nil {
			t.Errorf("levels(%q) = %v, want an error", bad, got)
		}
	}
}
