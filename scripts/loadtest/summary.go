package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/anb/risingstars/scripts/loadtest/results"
	"gonum.org/v1/plot/plotter"
)

// runSummary reads the JSON results in -out and draws the focused runs
// together (throughput and p99 against clients) and lists every verdict.
func runSummary(_ context.Context, o *options) error {
	paths, err := filepath.Glob(filepath.Join(o.out, "*.json"))
	if err != nil {
		return err
	}
	slices.Sort(paths)
	var runs []*results.Run
	for _, p := range paths {
		r, err := results.Load(p)
		if err != nil {
			return err
		}
		if r.Mode != "" && r.Mode != "summary" {
			runs = append(runs, r)
		}
	}
	if len(runs) == 0 {
		return fmt.Errorf("no results in %s", o.out)
	}
	var rps, p99 []results.Series
	var b strings.Builder
	b.WriteString("# Summary of the results in this directory\n\n| run | target | wanted | reached | |\n|---|---|---|---|---|\n")
	for _, r := range runs {
		for _, v := range r.Verdicts {
			mark := "met"
			if !v.Met {
				mark = "**missed**"
			}
			fmt.Fprintf(&b, "| %s | %s | %s | %s | %s |\n", r.Name, v.What, v.Target, v.Reached, mark)
		}
		if len(r.Levels) < 2 || r.Mode == "web" {
			continue
		}
		s, q := results.Series{Name: r.Name}, results.Series{Name: r.Name}
		for _, l := range r.Levels {
			s.Pts = append(s.Pts, plotter.XY{X: float64(l.Clients), Y: l.RPS})
			q.Pts = append(q.Pts, plotter.XY{X: float64(l.Clients), Y: l.Latency.P99})
		}
		rps, p99 = append(rps, s), append(p99, q)
	}
	b.WriteString("\n")
	if len(rps) > 0 {
		if err := results.LinePlot(filepath.Join(o.out, "summary-throughput.png"), "Throughput vs concurrent clients", "concurrent clients", "requests/s", true, rps...); err != nil {
			return err
		}
		if err := results.LinePlot(filepath.Join(o.out, "summary-p99.png"), "p99 latency vs concurrent clients", "concurrent clients", "ms", true, p99...); err != nil {
			return err
		}
		b.WriteString("![throughput](summary-throughput.png)\n\n![p99](summary-p99.png)\n")
	}
	if err := os.WriteFile(filepath.Join(o.out, "summary.md"), []byte(b.String()), 0o644); err != nil {
		return err
	}
	fmt.Fprint(os.Stderr, b.String())
	return nil
}
