package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/anb/risingstars/scripts/loadtest/results"
	"github.com/anb/risingstars/scripts/loadtest/stats"
)

// client talks to one base URL with a connection pool sized for the test.
type client struct {
	base string
	http *http.Client
}

func newClient(base string, conns int, timeout time.Duration) *client {
	tr := &http.Transport{
		// Direct connections only: a proxy from the environment would measure the proxy.
		Proxy:               nil,
		DialContext:         (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConns:        2*conns + 16,
		MaxIdleConnsPerHost: 2*conns + 16,
		IdleConnTimeout:     90 * time.Second,
		DisableCompression:  true,
	}
	return &client{base: base, http: &http.Client{Transport: tr, Timeout: timeout}}
}

// opData is what one virtual user recorded for one operation.
type opData struct {
	lat      []time.Duration
	errors   int
	statuses map[int]int
	example  string // first unexpected answer, to tell the user what went wrong
}

// VU is a virtual user: one goroutine issuing requests one after another.
type VU struct {
	id  int
	rng *rand.Rand
	c   *client
	lv  *levelState
	ops map[string]*opData
	buf bytes.Buffer

	// sched is when an open-loop request was due: its latency counts from
	// then, including any wait for a free client (no coordinated omission).
	sched time.Time

	// Scenario state.
	token string
	iter  int
	state any
}

// levelState is shared by the virtual users of one load level.
type levelState struct {
	measuring   atomic.Bool
	stop        atomic.Bool
	measured    atomic.Int64 // requests started in the measured window
	maxOps      int64
	lastDone    atomic.Int64 // unix nanos of the last measured completion
	winCount    atomic.Int64 // progress: requests finished since the last report
	winErrors   atomic.Int64
	winLatNanos atomic.Int64
	totalErrors atomic.Int64
	dropped     atomic.Int64 // open loop: requests due while the backlog was full
	stopOnce    sync.Once
	stopped     chan struct{}
}

func (lv *levelState) halt() {
	lv.stop.Store(true)
	lv.stopOnce.Do(func() { close(lv.stopped) })
}

// errStop ends a virtual user's loop early (e.g. its work list ran out).
var errStop = errors.New("no more work")

// request is one HTTP call of a scenario.
type request struct {
	op      string
	method  string
	path    string
	token   string
	body    []byte
	ctype   string
	reader  io.Reader // streamed body (uploads); overrides body
	length  int64     // content length of reader, -1 unknown
	want    []int     // accepted statuses
	keepOut bool      // read the body into VU.buf for the caller
}

// do runs r, records its latency and outcome under r.op, and returns the
// status. An unexpected status is returned as an error.
func (vu *VU) do(ctx context.Context, r request) (int, error) {
	var body io.Reader
	if r.reader != nil {
		body = r.reader
	} else if r.body != nil {
		body = bytes.NewReader(r.body)
	}
	req, err := http.NewRequestWithContext(ctx, r.method, vu.c.base+r.path, body)
	if err != nil {
		return 0, err
	}
	if r.reader != nil {
		req.ContentLength = r.length
	}
	if r.token != "" {
		req.Header.Set("Authorization", "Bearer "+r.token)
	}
	if r.ctype != "" {
		req.Header.Set("Content-Type", r.ctype)
	}
	measured := vu.lv.measuring.Load()
	if measured {
		vu.lv.measured.Add(1)
	}
	start := time.Now()
	if !vu.sched.IsZero() {
		start, vu.sched = vu.sched, time.Time{}
	}
	res, err := vu.c.http.Do(req)
	status := 0
	if err == nil {
		status = res.StatusCode
		vu.buf.Reset()
		_, err = vu.buf.ReadFrom(res.Body)
		res.Body.Close()
	}
	elapsed := time.Since(start)
	if err == nil && !slices.Contains(r.want, status) {
		msg := vu.buf.String()
		if len(msg) > 300 {
			msg = msg[:300] + "…"
		}
		err = fmt.Errorf("%s %s: status %d, want %v: %s", r.method, r.path, status, r.want, msg)
	}
	if ctx.Err() != nil && err != nil {
		return status, err // cut off by the end of the run: not a server error
	}
	if measured {
		d := vu.ops[r.op]
		if d == nil {
			d = &opData{statuses: map[int]int{}}
			vu.ops[r.op] = d
		}
		d.lat = append(d.lat, elapsed)
		d.statuses[status]++
		if err != nil {
			d.errors++
			if d.example == "" {
				d.example = err.Error()
			}
		}
		vu.lv.lastDone.Store(time.Now().UnixNano())
	}
	vu.lv.winCount.Add(1)
	vu.lv.winLatNanos.Add(int64(elapsed))
	if err != nil {
		vu.lv.winErrors.Add(1)
		vu.lv.totalErrors.Add(1)
	}
	return status, err
}

// levelSpec says how to run one level.
type levelSpec struct {
	name     string
	clients  int
	warmup   time.Duration
	duration time.Duration
	maxOps   int64 // bound on measured requests; the level ends early when reached
	// rate > 0 makes the level open-loop: a step starts every 1/rate seconds
	// on the next free client (clients bounds the requests in flight).
	rate float64
	c    *client
	pids *watchedPIDs
	// setup prepares a virtual user before the clock starts (optional).
	setup func(ctx context.Context, vu *VU) error
	// step is one iteration of a virtual user; errStop ends that user.
	step func(ctx context.Context, vu *VU) error
}

// runLevel runs spec.clients virtual users through a warm-up and a measured
// window and returns what was measured. Every loop ends by time or count.
func runLevel(ctx context.Context, spec levelSpec) (results.Level, error) {
	lv := &levelState{maxOps: spec.maxOps, stopped: make(chan struct{})}
	if lv.maxOps <= 0 {
		lv.maxOps = 10_000_000
	}
	vus := make([]*VU, spec.clients)
	for i := range vus {
		vus[i] = &VU{id: i, rng: rand.New(rand.NewPCG(uint64(i)+1, uint64(time.Now().UnixNano()))), c: spec.c, lv: lv, ops: map[string]*opData{}}
		if spec.setup != nil {
			if err := spec.setup(ctx, vus[i]); err != nil {
				return results.Level{}, fmt.Errorf("set up virtual user %d: %w", i, err)
			}
		}
	}
	runCtx, cancel := context.WithTimeout(ctx, spec.warmup+spec.duration+2*time.Minute)
	defer cancel()
	start := time.Now()
	measureStart := start.Add(spec.warmup)
	measureEnd := measureStart.Add(spec.duration)

	var cpu0 cpuSnapshot
	measuring := false
	timer := time.NewTimer(spec.warmup)
	defer timer.Stop()
	if spec.warmup <= 0 { // measure from the first request
		measuring = true
		cpu0 = takeCPU(spec.pids)
		lv.lastDone.Store(start.UnixNano())
		lv.measuring.Store(true)
		timer.Reset(spec.duration)
	}

	var due chan time.Time
	if spec.rate > 0 {
		// The backlog holds up to 10 s of requests: a slow server shows as
		// latency, not as a lower offered rate.
		due = make(chan time.Time, int(spec.rate*10)+1)
		interval := time.Duration(float64(time.Second) / spec.rate)
		go func() {
			for i := int64(0); ; i++ {
				t := start.Add(time.Duration(i) * interval)
				if d := time.Until(t); d > 0 {
					select {
					case <-lv.stopped:
						return
					case <-time.After(d):
					}
				}
				if lv.stop.Load() {
					return
				}
				select {
				case due <- t:
				default:
					lv.dropped.Add(1)
				}
			}
		}()
	}

	var wg sync.WaitGroup
	for _, vu := range vus {
		wg.Go(func() {
			for !lv.stop.Load() && runCtx.Err() == nil {
				if due != nil {
					select {
					case vu.sched = <-due:
					case <-lv.stopped:
						return
					}
				}
				err := spec.step(runCtx, vu)
				vu.iter++
				if errors.Is(err, errStop) {
					return
				}
				var ne net.Error
				if errors.As(err, &ne) || errors.Is(err, io.ErrUnexpectedEOF) {
					time.Sleep(20 * time.Millisecond) // the server is down or refusing: don't spin
				}
			}
		})
	}

	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()

	tick := time.NewTicker(2 * time.Second)
	defer tick.Stop()
	last := time.Now()
loop:
	for {
		select {
		case <-done:
			break loop
		case <-ctx.Done():
			lv.halt()
			cancel()
			<-done
			return results.Level{}, ctx.Err()
		case <-timer.C:
			if !measuring {
				measuring = true
				cpu0 = takeCPU(spec.pids)
				lv.lastDone.Store(time.Now().UnixNano())
				measureStart = time.Now()
				measureEnd = measureStart.Add(spec.duration)
				lv.measuring.Store(true)
				timer.Reset(spec.duration)
			} else {
				lv.measuring.Store(false)
				lv.halt()
			}
		case now := <-tick.C:
			n, errs, lat := lv.winCount.Swap(0), lv.winErrors.Swap(0), lv.winLatNanos.Swap(0)
			phase := "warm-up"
			elapsed := now.Sub(start)
			if measuring {
				phase = "measure"
				elapsed = now.Sub(measureStart)
			}
			mean := 0.0
			if n > 0 {
				mean = float64(lat) / float64(n) / 1e6
			}
			fmt.Fprintf(os.Stderr, "  [%s c=%d] %s %4.0fs  %7.0f req/s  mean %6.1f ms  errors %d (total %d)\n",
				spec.name, spec.clients, phase, elapsed.Seconds(), float64(n)/now.Sub(last).Seconds(), mean, errs, lv.totalErrors.Load())
			last = now
			if measuring && lv.measured.Load() >= lv.maxOps {
				lv.measuring.Store(false)
				lv.halt()
			}
		}
	}
	lv.measuring.Store(false)
	lv.halt()       // stops the pacer when every user ended by itself
	if !measuring { // every user stopped during warm-up
		cpu0 = takeCPU(spec.pids)
		measureStart = time.Now()
	}
	secs := measuredSeconds(measureStart, measureEnd, time.Unix(0, lv.lastDone.Load()), time.Now(), spec.duration)
	cpu1 := takeCPU(spec.pids)

	merged := map[string]*opData{}
	for _, vu := range vus {
		for name, d := range vu.ops {
			m := merged[name]
			if m == nil {
				m = &opData{statuses: map[int]int{}}
				merged[name] = m
			}
			m.lat = append(m.lat, d.lat...)
			m.errors += d.errors
			for s, n := range d.statuses {
				m.statuses[s] += n
			}
			if m.example == "" {
				m.example = d.example
			}
		}
	}
	out := summarize(merged, secs)
	out.Clients, out.Rate, out.Dropped = spec.clients, spec.rate, lv.dropped.Load()
	if out.Requests == 0 {
		fmt.Fprintf(os.Stderr, "   warning: %s c=%d measured no requests (every virtual user stopped: out of work?)\n", spec.name, spec.clients)
	}
	out.CPU = cpuShare(cpu0, cpu1, out.RPS)
	return out, nil
}

// measuredSeconds is the length of the measured window: from its start to
// the last measured completion (lastDone), or, when that lies outside the
// window, to now capped at the window's planned end; the planned duration
// when that comes to nothing (no request finished in the window).
func measuredSeconds(start, plannedEnd, lastDone, now time.Time, planned time.Duration) float64 {
	end := lastDone
	if end.After(plannedEnd) || end.Before(start) {
		end = now
		if end.After(plannedEnd) {
			end = plannedEnd
		}
	}
	secs := end.Sub(start).Seconds()
	if secs <= 0 {
		secs = planned.Seconds()
	}
	return secs
}

// summarize turns what the virtual users recorded, merged per operation,
// over a window of secs seconds into a level: requests and errors counted
// per operation and in total, rates per second, the error rate (0 without
// requests) and latency percentiles. Status 0 is a transport error.
func summarize(ops map[string]*opData, secs float64) results.Level {
	out := results.Level{Seconds: secs, Ops: map[string]results.OpRes{}}
	var all []time.Duration
	for name, d := range ops {
		statuses := map[string]int{}
		for s, n := range d.statuses {
			key := fmt.Sprint(s)
			if s == 0 {
				key = "transport-error"
			}
			statuses[key] = n
		}
		all = append(all, d.lat...)
		out.Ops[name] = results.OpRes{Requests: len(d.lat), Errors: d.errors, RPS: float64(len(d.lat)) / secs,
			Latency: stats.Latencies(d.lat), Statuses: statuses, Example: d.example}
		out.Requests += len(d.lat)
		out.Errors += d.errors
	}
	out.RPS = float64(out.Requests) / secs
	if out.Requests > 0 {
		out.ErrorRate = float64(out.Errors) / float64(out.Requests)
	}
	out.Latency = stats.Latencies(all)
	return out
}

func printLevel(name string, l results.Level) {
	if l.Rate > 0 {
		fmt.Fprintf(os.Stderr, "== %s: open loop, %.0f req/s offered, %d never sent (backlog full)\n", name, l.Rate, l.Dropped)
	}
	fmt.Fprintf(os.Stderr, "== %s c=%d: %.0f req/s over %.1f s, p50 %.1f ms, p95 %.1f ms, p99 %.1f ms, max %.1f ms, errors %d/%d\n",
		name, l.Clients, l.RPS, l.Seconds, l.Latency.P50, l.Latency.P95, l.Latency.P99, l.Latency.Max, l.Errors, l.Requests)
	if l.CPU != nil {
		fmt.Fprintf(os.Stderr, "   CPU (cores of %d): API %.2f, PostgreSQL %.2f, load generator %.2f, other %.2f, idle %.2f\n",
			l.CPU.Cores, l.CPU.API, l.CPU.Postgres, l.CPU.Loadgen, l.CPU.Other, l.CPU.Idle)
	}
	for name, op := range l.Ops {
		if op.Errors > 0 {
			fmt.Fprintf(os.Stderr, "   %s: %d errors, e.g. %s\n", name, op.Errors, op.Example)
		}
	}
}
