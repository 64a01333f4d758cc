package main

import (
	"os"

	"github.com/anb/risingstars/scripts/loadtest/results"
	"gonum.org/v1/plot/plotter"
)

// plot draws a scenario's queue depth and workers, and the age of its
// oldest message, over time, with the capacity report's plot style.
func plot(dir string, sc Scenario, r Result, compress float64) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	unit, per := "minutes", 60.0
	if r.End > 6*3600/compress {
		unit, per = "hours", 3600
	}
	var depth, workers, desired, age results.Series
	depth.Name, workers.Name, desired.Name, age.Name = "queue depth (visible)", "workers in service", "desired capacity", "oldest message age (min)"
	for _, s := range r.Series {
		x := s.T / per
		depth.Pts = append(depth.Pts, plotter.XY{X: x, Y: float64(s.Visible)})
		workers.Pts = append(workers.Pts, plotter.XY{X: x, Y: float64(s.InService)})
		desired.Pts = append(desired.Pts, plotter.XY{X: x, Y: float64(s.Desired)})
		age.Pts = append(age.Pts, plotter.XY{X: x, Y: s.OldestAge / 60})
	}
	if err := results.LinePlot(plotName(dir, sc.Name, "queue"), sc.Title+": queue depth", unit, "messages", false, depth); err != nil {
		return err
	}
	if err := results.LinePlot(plotName(dir, sc.Name, "workers"), sc.Title+": workers", unit, "instances", false, workers, desired); err != nil {
		return err
	}
	return results.LinePlot(plotName(dir, sc.Name, "age"), sc.Title+": oldest message", unit, "minutes", false, age)
}
