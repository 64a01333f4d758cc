//go:build linux

package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/anb/risingstars/app/mp4/mediatest"
	"github.com/anb/risingstars/app/nodespec"
	"github.com/anb/risingstars/scripts/loadtest/results"
	"gonum.org/v1/plot/plotter"
)

// The burst scenario for real: the autoscaler stand-in (autoscale_test.go)
// applies target tracking at 1 minute → 5 s (×12) to real worker processes
// transcoding real clips from the SQS stand-in, from 1 worker up to 3 and
// back through the lifecycle hook. Then scripts/scalesim, fed the same
// settings and the job times measured in this run, predicts the same
// burst, and the two are printed side by side with their agreement. The
// workers share this machine's 2 cores, unlike instances: the measured job
// times carry that contention, which is why they come from this run.
//
// ANB_AUTOSCALE_PLOTS=DIR also draws both curves into DIR.
func TestClusterAutoscalerAgainstTheSimulator(t *testing.T) {
	const (
		uploads, clients = 30, 10
		compress         = 12  // 1 minute → 5 s
		target           = 10  // the backlog target the capacity report chooses
		tolerance        = 0.2 // the agreement aimed at, drain time and instance-seconds
		seed             = 1
	)
	c := startCluster(t, Options{Workers: -1})
	e := &env{c: c, db: harnessDB(t, c), clip: mediatest.Clip(t, mediatest.ClipOptions{Width: 1920, Height: 1080, Seconds: 21, FPS: 5})}
	sim := filepath.Join(t.TempDir(), "scalesim")
	build := exec.Command("go", "build", "-o", sim, "./scripts/scalesim")
	build.Dir = c.opt.Root
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build ./scripts/scalesim: %v\n%s", err, out)
	}
	simulate := func(extra ...string) simOutput {
		args := append([]string{"-scenario", "burst", "-uploads", strconv.Itoa(uploads), "-compress", strconv.Itoa(compress),
			"-target", strconv.Itoa(target), "-seed", strconv.Itoa(seed), "-json", "-"}, extra...)
		cmd := exec.Command(sim, args...)
		cmd.Dir = c.opt.Root // the default template is the repository's snapshot
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("scalesim %v: %v", args, err)
		}
		var o simOutput
		if err := json.Unmarshal(out, &o); err != nil || len(o.Results) != 1 {
			t.Fatalf("scalesim output: %v\n%s", err, out)
		}
		return o
	}

	// The group's numbers as the simulator read them from the template
	// (sizes, warm-up, hook timeout) with its compressed clock: the same
	// settings for both, the rules implemented separately.
	first := simulate()
	st := first.Settings
	sec := func(s float64) time.Duration { return time.Duration(s * float64(time.Second)) }
	a := newAutoscaler(t, c, asgSettings{
		Min: st.Min, Max: st.Max, Target: st.Target,
		Period: sec(st.Period), PublishDelay: sec(st.PublishDelay), Warmup: sec(st.Warmup), HookTimeout: sec(st.HookTimeout),
		InService: [2]time.Duration{sec(st.InService[0]), sec(st.InService[1])}, Boot: [2]time.Duration{sec(st.Boot[0]), sec(st.Boot[1])},
	}, seed)
	t.Logf("template %s: workers %d–%d, target %g; compressed ×%d: period %.1f s, publish delay %.1f s, warm-up %.1f s, hook timeout %.1f s, in service %.1f–%.1f s and boot %.1f–%.1f s after launch",
		first.Template, st.Min, st.Max, st.Target, compress, st.Period, st.PublishDelay, st.Warmup, st.HookTimeout, st.InService[0], st.InService[1], st.Boot[0], st.Boot[1])

	players := make([]*player, clients)
	var wg sync.WaitGroup
	for i := range clients {
		wg.Go(func() { players[i] = signUp(t, c.URL, "Escala", fmt.Sprint(i+1), "Pereira") })
	}
	wg.Wait()
	if t.Failed() {
		return
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if err := a.Init(ctx); err != nil {
		t.Fatal(err)
	}
	go a.Run(ctx)
	start := time.Now()
	var mu sync.Mutex
	var ids []string
	for i, p := range players {
		wg.Go(func() {
			for j := range uploads / clients {
				id := p.upload(t, e.clip, fmt.Sprintf("Escala %d-%d", i+1, j+1))
				mu.Lock()
				ids = append(ids, id)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	span := time.Since(start)
	if len(ids) != uploads {
		t.Fatalf("%d uploads accepted, want %d", len(ids), uploads)
	}

	var processed int
	waitUntil(t, "every video processed and the group back at its minimum", 12*time.Minute, func() bool {
		if _, errs := a.snapshot(); len(errs) > 0 {
			t.Fatalf("autoscaler: %v", errs)
		}
		if err := e.db.QueryRow(ctx, "SELECT count(*) FROM videos WHERE id = ANY($1) AND status = 'processed'", ids).Scan(&processed); err != nil {
			t.Fatal(err)
		}
		return processed == len(ids) && a.settled()
	})
	end := time.Now()
	cancel()
	var lastDone time.Time
	if err := e.db.QueryRow(context.Background(), "SELECT max(processed_at) FROM videos WHERE id = ANY($1)", ids).Scan(&lastDone); err != nil {
		t.Fatal(err)
	}
	for _, id := range ids {
		if n := processedCount(e, id); n != 1 {
			t.Errorf("video %s processed %d times, want once", id, n)
		}
	}
	events, _ := a.snapshot()
	jobs := jobSeconds(e, ids)
	if len(jobs) != uploads {
		t.Fatalf("%d job times in the worker logs, want %d", len(jobs), uploads)
	}

	// The same burst, predicted from the same settings and this run's jobs.
	var samples []string
	for _, j := range jobs {
		samples = append(samples, strconv.FormatFloat(j, 'f', 2, 64))
	}
	r := simulate("-job-samples", strings.Join(samples, ","), "-upload-span", span.String()).Results[0]

	measured := runFigures{drain: lastDone.Sub(a.start).Seconds(), instanceSeconds: a.instanceSeconds(end), end: end.Sub(a.start).Seconds()}
	for _, ev := range events {
		measured.maxInService = max(measured.maxInService, ev.InService)
		measured.peakDesired = max(measured.peakDesired, ev.Desired)
		if ev.Action != "" {
			measured.actions = append(measured.actions, fmt.Sprintf("%s at %.0f s", ev.Action, ev.T))
		}
	}
	model := runFigures{drain: r.Drain, instanceSeconds: r.InstanceSeconds, end: r.End, maxInService: r.MaxInService}
	for _, s := range r.Series {
		model.peakDesired = max(model.peakDesired, s.Desired)
	}
	for _, ac := range r.Actions {
		model.actions = append(model.actions, fmt.Sprintf("%s %d→%d at %.0f s", ac.Kind, ac.From, ac.To, ac.T))
	}

	// Side by side, one row per evaluation period of the real group.
	var b strings.Builder
	fmt.Fprintf(&b, "%7s | %-26s | %-26s\n", "t (s)", "real: visible / in service / desired", "simulated: visible / in service / desired")
	var gap float64
	for _, ev := range events {
		s := sampleAt(r.Series, ev.T)
		gap += math.Abs(float64(ev.InService - s.InService))
		fmt.Fprintf(&b, "%7.0f | %8d / %d / %d %15s | %8d / %d / %d\n", ev.T, ev.Visible, ev.InService, ev.Desired, ev.Action, s.Visible, s.InService, s.Desired)
	}
	meanGap := gap / float64(max(1, len(events)))
	t.Logf("real and simulated burst, period by period:\n%s", b.String())
	slices.Sort(jobs)
	drainErr := model.drain/measured.drain - 1
	instErr := model.instanceSeconds/measured.instanceSeconds - 1
	verdict := func(x float64) string {
		if math.Abs(x) <= tolerance {
			return "within"
		}
		return "OUTSIDE"
	}
	t.Logf("%d uploads in %.1f s; jobs measured %.1f–%.1f s (median %.1f s) on the shared 2 cores", uploads, span.Seconds(), jobs[0], jobs[len(jobs)-1], jobs[len(jobs)/2])
	t.Logf("real:      drain %.0f s, %.0f instance-seconds, peak %d in service, settled at %.0f s; %s", measured.drain, measured.instanceSeconds, measured.maxInService, measured.end, strings.Join(measured.actions, ", "))
	t.Logf("simulated: drain %.0f s, %.0f instance-seconds, peak %d in service, settled at %.0f s; %s", model.drain, model.instanceSeconds, model.maxInService, model.end, strings.Join(model.actions, ", "))
	t.Logf("agreement: drain %+.0f %% (%s ±%.0f %%), instance-seconds %+.0f %% (%s ±%.0f %%), in-service curve off by %.2f instances on average",
		drainErr*100, verdict(drainErr), tolerance*100, instErr*100, verdict(instErr), tolerance*100, meanGap)

	// What both must show whatever the machine's speed: the burst takes
	// the group to its maximum and back to its minimum, never beyond.
	if measured.peakDesired != st.Max || model.peakDesired != st.Max {
		t.Errorf("peak desired capacity: real %d, simulated %d; want both at MaxSize %d", measured.peakDesired, model.peakDesired, st.Max)
	}
	if gone, drained := a.scaledIn(); gone != st.Max-st.Min || drained != gone {
		t.Errorf("%d instances scaled in, %d of them through the lifecycle hook; want %d, all drained by their worker", gone, drained, st.Max-st.Min)
	}
	if measured.maxInService > st.Max {
		t.Errorf("%d workers in service, MaxSize %d", measured.maxInService, st.Max)
	}

	if dir := os.Getenv("ANB_AUTOSCALE_PLOTS"); dir != "" {
		if err := plotComparison(dir, events, r.Series); err != nil {
			t.Error(err)
		}
	}
}

type simOutput struct {
	Template string `json:"template"`
	Settings struct {
		Min          int        `json:"min"`
		Max          int        `json:"max"`
		Target       float64    `json:"target"`
		Period       float64    `json:"period_s"`
		PublishDelay float64    `json:"publish_delay_s"`
		Warmup       float64    `json:"warmup_s"`
		HookTimeout  float64    `json:"hook_timeout_s"`
		InService    [2]float64 `json:"in_service_s"`
		Boot         [2]float64 `json:"boot_s"`
	} `json:"settings"`
	Results []struct {
		Drain           float64 `json:"drain_s"`
		InstanceSeconds float64 `json:"instance_seconds"`
		MaxInService    int     `json:"max_in_service"`
		End             float64 `json:"end_s"`
		Actions         []struct {
			T        float64 `json:"t"`
			Kind     string  `json:"kind"`
			From, To int
		} `json:"actions"`
		Series []simSample `json:"series"`
	} `json:"results"`
}

type simSample struct {
	T         float64 `json:"t"`
	Visible   int     `json:"visible"`
	InService int     `json:"in_service"`
	Desired   int     `json:"desired"`
}

type runFigures struct {
	drain, instanceSeconds, end float64
	maxInService, peakDesired   int
	actions                     []string
}

// sampleAt is the last simulated sample at or before t.
func sampleAt(series []simSample, t float64) simSample {
	var s simSample
	for _, x := range series {
		if x.T > t {
			break
		}
		s = x
	}
	return s
}

// jobSeconds are the processing times the workers logged for the videos.
func jobSeconds(e *env, ids []string) []float64 {
	want := map[string]bool{}
	for _, id := range ids {
		want[id] = true
	}
	var out []float64
	for _, w := range e.c.Procs("worker") {
		f, err := os.Open(w.Log)
		if err != nil {
			continue
		}
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			var line map[string]any
			if json.Unmarshal(sc.Bytes(), &line) != nil || line["msg"] != nodespec.ProcessedLogMessage {
				continue
			}
			if id, _ := line["video_id"].(string); want[id] {
				seconds, _ := line[nodespec.ProcessedSeconds].(float64)
				out = append(out, seconds)
			}
		}
		f.Close()
	}
	return out
}

// plotComparison draws the real and simulated in-service workers and queue
// depth over time.
func plotComparison(dir string, events []asgEvent, series []simSample) error {
	var realIn, simIn, realQ, simQ results.Series
	realIn.Name, simIn.Name, realQ.Name, simQ.Name = "real (autoscaler stand-in)", "simulated (scalesim)", "real (autoscaler stand-in)", "simulated (scalesim)"
	for _, ev := range events {
		realIn.Pts = append(realIn.Pts, plotter.XY{X: ev.T, Y: float64(ev.InService)})
		realQ.Pts = append(realQ.Pts, plotter.XY{X: ev.T, Y: float64(ev.Visible)})
	}
	for _, s := range series {
		simIn.Pts = append(simIn.Pts, plotter.XY{X: s.T, Y: float64(s.InService)})
		simQ.Pts = append(simQ.Pts, plotter.XY{X: s.T, Y: float64(s.Visible)})
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	if err := results.LinePlot(filepath.Join(dir, "autoscale-real-vs-sim-workers.png"), "burst of 30, 1 min → 5 s: workers in service", "seconds", "workers", false, realIn, simIn); err != nil {
		return err
	}
	return results.LinePlot(filepath.Join(dir, "autoscale-real-vs-sim-queue.png"), "burst of 30, 1 min → 5 s: queue depth (visible)", "seconds", "messages", false, realQ, simQ)
}
