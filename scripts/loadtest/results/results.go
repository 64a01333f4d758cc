// Package results is what the capacity tools (scripts/loadtest,
// scripts/workerbench) write: one Run per invocation, saved as JSON, a
// Markdown report and PNG plots, and read back by loadtest -mode summary.
package results

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/anb/risingstars/scripts/loadtest/stats"
)

// Run is everything one invocation measured; it is written as JSON and
// rendered as Markdown and plots.
type Run struct {
	Name      string         `json:"name"`
	Mode      string         `json:"mode"`
	Started   time.Time      `json:"started"`
	Base      string         `json:"base_url,omitempty"`
	Host      Host           `json:"host"`
	Params    map[string]any `json:"params"`
	Levels    []Level        `json:"levels,omitempty"`
	Extra     map[string]any `json:"extra,omitempty"`
	Notes     []string       `json:"notes,omitempty"`
	Verdicts  []Verdict      `json:"verdicts,omitempty"`
	LoadAfter [3]float64     `json:"load_average_after"`

	// plots draw the mode's own figures into a directory and return the file name.
	plots []func(dir string) (string, error)
}

// Host describes the machine and the load generator's share of it.
type Host struct {
	CPUs              int        `json:"cpus"`
	LoadgenGOMAXPROCS int        `json:"loadgen_gomaxprocs"`
	LoadBefore        [3]float64 `json:"load_average_before"`
	GoVersion         string     `json:"go_version"`
	Kernel            string     `json:"kernel,omitempty"`
}

// Verdict compares one figure with its target.
type Verdict struct {
	What    string `json:"what"`
	Target  string `json:"target"`
	Reached string `json:"reached"`
	Met     bool   `json:"met"`
}

// Level is the measured result of running a number of clients for a while.
type Level struct {
	Clients   int              `json:"clients"`
	Rate      float64          `json:"rate,omitempty"`    // open loop: requests/s offered
	Dropped   int64            `json:"dropped,omitempty"` // open loop: due requests never sent (backlog full)
	Seconds   float64          `json:"seconds"`
	Requests  int              `json:"requests"`
	Errors    int              `json:"errors"`
	ErrorRate float64          `json:"error_rate"`
	RPS       float64          `json:"rps"`
	Latency   stats.Latency    `json:"latency_ms"`
	Ops       map[string]OpRes `json:"ops"`
	CPU       *CPUShare        `json:"cpu,omitempty"`
	Extra     map[string]any   `json:"extra,omitempty"`
}

// OpRes is one operation's share of a level.
type OpRes struct {
	Requests int            `json:"requests"`
	Errors   int            `json:"errors"`
	RPS      float64        `json:"rps"`
	Latency  stats.Latency  `json:"latency_ms"`
	Statuses map[string]int `json:"statuses"`
	Example  string         `json:"first_error,omitempty"`
}

// CPUShare is the CPU each party used during a level, in cores (1.0 = one
// core busy all the time), and the API's CPU cost per request.
type CPUShare struct {
	Cores           int     `json:"cores"`
	API             float64 `json:"api_cores"`
	Postgres        float64 `json:"postgres_cores"`
	Loadgen         float64 `json:"loadgen_cores"`
	FFmpeg          float64 `json:"ffmpeg_cores,omitempty"`
	Other           float64 `json:"other_cores"`
	Idle            float64 `json:"idle_cores"`
	APIMicrosPerReq float64 `json:"api_cpu_us_per_request,omitempty"`
	PGMicrosPerReq  float64 `json:"postgres_cpu_us_per_request,omitempty"`
}

// New starts the Run of a mode; a label makes its name (and file names)
// mode-label.
func New(mode, label string) *Run {
	name := mode
	if label != "" {
		name = mode + "-" + label
	}
	kernel, _ := os.ReadFile("/proc/sys/kernel/osrelease")
	return &Run{Name: name, Mode: mode, Started: time.Now().UTC(), Params: map[string]any{},
		Host: Host{CPUs: runtime.NumCPU(), LoadgenGOMAXPROCS: runtime.GOMAXPROCS(0), LoadBefore: LoadAverage(),
			GoVersion: runtime.Version(), Kernel: strings.TrimSpace(string(kernel))}}
}

// AddPlot adds a figure of the mode's own: f draws it into a directory and
// returns the file name.
func (r *Run) AddPlot(f func(dir string) (string, error)) { r.plots = append(r.plots, f) }

// Verdict records and prints one figure against its target.
func (r *Run) Verdict(what, target, reached string, met bool) {
	r.Verdicts = append(r.Verdicts, Verdict{What: what, Target: target, Reached: reached, Met: met})
	mark := "MET"
	if !met {
		mark = "MISSED"
	}
	fmt.Fprintf(os.Stderr, "   target %-55s %-22s reached %-28s %s\n", what, target, reached, mark)
}

// Save writes name.json and name.md (and the plots) under dir.
func (r *Run) Save(dir string) error {
	r.LoadAfter = LoadAverage()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, r.Name+".json"), append(b, '\n'), 0o644); err != nil {
		return err
	}
	plots, err := r.Plot(dir)
	if err != nil {
		return fmt.Errorf("plots: %w", err)
	}
	if err := os.WriteFile(filepath.Join(dir, r.Name+".md"), []byte(r.Markdown(plots)), 0o644); err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "results: %s.{json,md}", filepath.Join(dir, r.Name))
	for _, p := range plots {
		fmt.Fprintf(os.Stderr, " %s", p)
	}
	fmt.Fprintln(os.Stderr)
	return nil
}

// Markdown is the report of the run, linking the plot files named.
func (r *Run) Markdown(plots []string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "# %s\n\n", r.Name)
	fmt.Fprintf(&b, "Started %s against `%s`. Machine: %d CPUs (load generator GOMAXPROCS=%d), load average before %.2f / %.2f / %.2f, after %.2f / %.2f / %.2f.\n\n",
		r.Started.Format(time.RFC3339), r.Base, r.Host.CPUs, r.Host.LoadgenGOMAXPROCS,
		r.Host.LoadBefore[0], r.Host.LoadBefore[1], r.Host.LoadBefore[2], r.LoadAfter[0], r.LoadAfter[1], r.LoadAfter[2])
	if len(r.Params) > 0 {
		keys := make([]string, 0, len(r.Params))
		for k := range r.Params {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		b.WriteString("Parameters:")
		for _, k := range keys {
			fmt.Fprintf(&b, " `%s=%v`", k, r.Params[k])
		}
		b.WriteString("\n\n")
	}
	if len(r.Verdicts) > 0 {
		b.WriteString("| target | wanted | reached | |\n|---|---|---|---|\n")
		for _, v := range r.Verdicts {
			mark := "met"
			if !v.Met {
				mark = "**missed**"
			}
			fmt.Fprintf(&b, "| %s | %s | %s | %s |\n", v.What, v.Target, v.Reached, mark)
		}
		b.WriteString("\n")
	}
	if len(r.Levels) > 0 {
		b.WriteString("| clients | req/s | p50 ms | p95 ms | p99 ms | max ms | errors | API cores | PG cores | loadgen cores | other | API µs/req |\n")
		b.WriteString("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n")
		for _, l := range r.Levels {
			c := l.CPU
			if c == nil {
				c = &CPUShare{}
			}
			fmt.Fprintf(&b, "| %d | %.0f | %.1f | %.1f | %.1f | %.1f | %d/%d | %.2f | %.2f | %.2f | %.2f | %.0f |\n",
				l.Clients, l.RPS, l.Latency.P50, l.Latency.P95, l.Latency.P99, l.Latency.Max, l.Errors, l.Requests,
				c.API, c.Postgres, c.Loadgen, c.Other, c.APIMicrosPerReq)
		}
		b.WriteString("\nPer operation:\n\n| clients | operation | req/s | p50 ms | p95 ms | p99 ms | errors | statuses |\n|---:|---|---:|---:|---:|---:|---:|---|\n")
		for _, l := range r.Levels {
			names := make([]string, 0, len(l.Ops))
			for n := range l.Ops {
				names = append(names, n)
			}
			slices.Sort(names)
			for _, n := range names {
				op := l.Ops[n]
				fmt.Fprintf(&b, "| %d | %s | %.1f | %.1f | %.1f | %.1f | %d | %v |\n", l.Clients, n, op.RPS,
					op.Latency.P50, op.Latency.P95, op.Latency.P99, op.Errors, op.Statuses)
			}
		}
		b.WriteString("\n")
	}
	if len(r.Extra) > 0 {
		extra, _ := json.MarshalIndent(r.Extra, "", "  ")
		fmt.Fprintf(&b, "Details:\n\n```json\n%s\n```\n\n", extra)
	}
	for _, n := range r.Notes {
		fmt.Fprintf(&b, "- %s\n", n)
	}
	if len(r.Notes) > 0 {
		b.WriteString("\n")
	}
	for _, p := range plots {
		fmt.Fprintf(&b, "![%s](%s)\n\n", p, p)
	}
	return b.String()
}

// Load reads a Run saved as JSON.
func Load(path string) (*Run, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var r Run
	if err := json.Unmarshal(b, &r); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return &r, nil
}

// LoadAverage is the 1, 5 and 15 minute load average of the machine (zero
// where /proc/loadavg cannot be read).
func LoadAverage() [3]float64 {
	var out [3]float64
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return out
	}
	for i, f := range strings.Fields(string(b))[:3] {
		out[i], _ = strconv.ParseFloat(f, 64)
	}
	return out
}
