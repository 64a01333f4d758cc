package results

import (
	"bytes"
	"encoding/json"
	"image/png"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/anb/risingstars/scripts/loadtest/stats"
	"gonum.org/v1/plot/plotter"
)

// sample is a rankings sweep at two levels, one of them with errors and CPU
// accounting, as loadtest writes it.
func sample() *Run {
	r := &Run{Name: "rankings-nocache", Mode: "rankings", Base: "http://127.0.0.1:19380",
		Started: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC),
		Host:    Host{CPUs: 2, LoadgenGOMAXPROCS: 2, LoadBefore: [3]float64{0.5, 1.25, 2}},
		Params:  map[string]any{"path": "/api/public/rankings", "clients": "1,64", "duration": "20s"},
	}
	r.Levels = []Level{
		{Clients: 1, Seconds: 20, Requests: 2000, RPS: 100, Latency: stats.Latency{P50: 9.5, P95: 12, P99: 14.25, Max: 30},
			Ops: map[string]OpRes{"rankings": {Requests: 2000, RPS: 100, Latency: stats.Latency{P50: 9.5, P95: 12, P99: 14.25}, Statuses: map[string]int{"200": 2000}}}},
		{Clients: 64, Seconds: 20, Requests: 85640, Errors: 3, ErrorRate: 3.0 / 85640, RPS: 4282, Latency: stats.Latency{P50: 12.1, P95: 30, P99: 42.5, Max: 210},
			CPU: &CPUShare{Cores: 2, API: 1.2, Postgres: 0.6, Loadgen: 0.15, Other: 0.05, APIMicrosPerReq: 280.2},
			Ops: map[string]OpRes{
				"rankings": {Requests: 85630, Errors: 1, RPS: 4281.5, Latency: stats.Latency{P50: 12.1, P95: 30, P99: 42.5}, Statuses: map[string]int{"200": 85629, "500": 1}},
				"health":   {Requests: 10, Errors: 2, RPS: 0.5, Statuses: map[string]int{"transport-error": 2, "200": 8}, Example: "dial tcp: refused"},
			}},
	}
	r.Verdict("GET /api/public/rankings throughput at 64 clients", "≥ 500 req/s", "4282 req/s", true)
	r.Verdict("GET /api/public/rankings errors at 64 clients", "0", "3 of 85640", false)
	r.Notes = []string{"Database counts not verified (no -db)."}
	r.Extra = map[string]any{"accepted": 12}
	return r
}

// The report's key lines, as a reader of REPORT.md's tables sees them.
func TestMarkdown(t *testing.T) {
	md := sample().Markdown([]string{"rankings-nocache-throughput.png"})
	for _, want := range []string{
		"# rankings-nocache\n\n",
		"Started 2026-03-01T12:00:00Z against `http://127.0.0.1:19380`. Machine: 2 CPUs (load generator GOMAXPROCS=2), load average before 0.50 / 1.25 / 2.00, after 0.00 / 0.00 / 0.00.",
		// parameters sorted by name
		"Parameters: `clients=1,64` `duration=20s` `path=/api/public/rankings`\n",
		"| target | wanted | reached | |\n|---|---|---|---|\n",
		"| GET /api/public/rankings throughput at 64 clients | ≥ 500 req/s | 4282 req/s | met |\n",
		"| GET /api/public/rankings errors at 64 clients | 0 | 3 of 85640 | **missed** |\n",
		"| clients | req/s | p50 ms | p95 ms | p99 ms | max ms | errors | API cores | PG cores | loadgen cores | other | API µs/req |\n",
		// no CPU accounting: zeros, not a crash
		"| 1 | 100 | 9.5 | 12.0 | 14.2 | 30.0 | 0/2000 | 0.00 | 0.00 | 0.00 | 0.00 | 0 |\n",
		"| 64 | 4282 | 12.1 | 30.0 | 42.5 | 210.0 | 3/85640 | 1.20 | 0.60 | 0.15 | 0.05 | 280 |\n",
		// operations sorted by name within a level, statuses as a map
		"| 64 | health | 0.5 | 0.0 | 0.0 | 0.0 | 2 | map[200:8 transport-error:2] |\n| 64 | rankings | 4281.5 | 12.1 | 30.0 | 42.5 | 1 | map[200:85629 500:1] |\n",
		"Details:\n\n```json\n{\n  \"accepted\": 12\n}\n```\n",
		"- Database counts not verified (no -db).\n",
		"![rankings-nocache-throughput.png](rankings-nocache-throughput.png)\n",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("report lacks %q\n--- report:\n%s", want, md)
		}
	}
	// Sections without content are left out.
	bare := (&Run{Name: "x"}).Markdown(nil)
	for _, absent := range []string{"Parameters:", "| target", "| clients", "Details:", "- ", "!["} {
		if strings.Contains(bare, absent) {
			t.Errorf("an empty run's report has %q:\n%s", absent, bare)
		}
	}
}

// Save writes name.json (read back by Load and -mode summary), name.md and
// valid PNG plots of a sensible size.
func TestSaveWritesJSONReportAndPlots(t *testing.T) {
	dir := t.TempDir()
	r := sample()
	r.AddPlot(func(dir string) (string, error) {
		name := r.Name + "-bars.png"
		return name, BarPlot(filepath.Join(dir, name), "bars", "seconds", []string{"a", "b"}, []float64{9.05, 15.47})
	})
	if err := r.Save(dir); err != nil {
		t.Fatal(err)
	}

	back, err := Load(filepath.Join(dir, "rankings-nocache.json"))
	if err != nil {
		t.Fatal(err)
	}
	if back.Name != r.Name || back.Mode != "rankings" || len(back.Levels) != 2 || !slices.Equal(back.Verdicts, r.Verdicts) {
		t.Errorf("JSON round trip: got %+v", back)
	}
	if got := back.Levels[1]; got.RPS != 4282 || got.Latency.P99 != 42.5 || got.CPU.APIMicrosPerReq != 280.2 || got.Ops["health"].Statuses["transport-error"] != 2 {
		t.Errorf("level 64 after the round trip: %+v", got)
	}
	// The JSON keys other tools and the summary read.
	raw, _ := os.ReadFile(filepath.Join(dir, "rankings-nocache.json"))
	var generic map[string]any
	if err := json.Unmarshal(raw, &generic); err != nil {
		t.Fatal(err)
	}
	lvl := generic["levels"].([]any)[1].(map[string]any)
	for _, key := range []string{"clients", "rps", "error_rate", "latency_ms", "ops", "cpu"} {
		if _, ok := lvl[key]; !ok {
			t.Errorf("level JSON lacks %q: %v", key, lvl)
		}
	}
	if p99 := lvl["latency_ms"].(map[string]any)["p99"]; p99 != 42.5 {
		t.Errorf("latency_ms.p99 = %v", p99)
	}

	md, err := os.ReadFile(filepath.Join(dir, "rankings-nocache.md"))
	if err != nil {
		t.Fatal(err)
	}
	wantPlots := []string{"rankings-nocache-throughput.png", "rankings-nocache-latency.png", "rankings-nocache-bars.png"}
	for _, p := range wantPlots {
		if !bytes.Contains(md, []byte("!["+p+"]("+p+")")) {
			t.Errorf("the report does not show %s", p)
		}
		checkPNG(t, filepath.Join(dir, p))
	}
}

// checkPNG asserts a decodable PNG of the committed size (about 600×400).
func checkPNG(t *testing.T, path string) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	fi, _ := f.Stat()
	cfg, err := png.DecodeConfig(f)
	if err != nil {
		t.Fatalf("%s: not a PNG: %v", path, err)
	}
	if fi.Size() < 1000 || cfg.Width < 400 || cfg.Width > 1000 || cfg.Height < 300 || cfg.Height > cfg.Width {
		t.Errorf("%s: %d bytes, %d×%d px", path, fi.Size(), cfg.Width, cfg.Height)
	}
}

// Plots against load need two levels; a web run's single stage still gets them.
func TestPlotNeedsACurve(t *testing.T) {
	one := Level{Clients: 10, RPS: 5}
	for _, tc := range []struct {
		mode   string
		levels []Level
		want   int
	}{
		{"upload", []Level{one}, 0},
		{"web", []Level{one}, 2},
		{"videos", []Level{one, {Clients: 20, RPS: 9}}, 2},
		{"worker", nil, 0},
	} {
		names, err := (&Run{Name: tc.mode, Mode: tc.mode, Levels: tc.levels}).Plot(t.TempDir())
		if err != nil || len(names) != tc.want {
			t.Errorf("%s with %d levels: plots %v, %v; want %d", tc.mode, len(tc.levels), names, err, tc.want)
		}
	}
}

func TestLinePlotTimelineAndEmptySeries(t *testing.T) {
	dir := t.TempDir()
	var timeline Series
	timeline.Name = "processed"
	for i := range 40 { // more than 30 points: drawn as a line only
		timeline.Pts = append(timeline.Pts, plotter.XY{X: float64(i * 2), Y: float64(i / 4)})
	}
	path := filepath.Join(dir, "drain.png")
	if err := LinePlot(path, "drain", "s", "videos", false, timeline, Series{Name: "empty"}); err != nil {
		t.Fatal(err)
	}
	checkPNG(t, path)
}

func TestNewNamesTheRun(t *testing.T) {
	if r := New("vote", "rate1000"); r.Name != "vote-rate1000" || r.Mode != "vote" || r.Params == nil || r.Host.CPUs < 1 {
		t.Errorf("New(vote, rate1000) = %+v", r)
	}
	if r := New("web", ""); r.Name != "web" {
		t.Errorf("New(web, \"\").Name = %q", r.Name)
	}
}
