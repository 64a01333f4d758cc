package main

import "math"

// Rules are the alarms target tracking creates and the arithmetic it
// applies when one is in ALARM (sources in the README's "Worker scaling"
// section and in REPORT.md):
//   - the high alarm fires when HighPoints consecutive datapoints are above
//     the target; the policy then sets the capacity to ceil(current ×
//     metric / target), bounded by Max; instances still warming up count as
//     current capacity, so repeated breaches add nothing twice;
//   - the low alarm fires when LowPoints consecutive datapoints are below
//     LowRatio × target; scale-in waits while any instance is pending or
//     warming up, then removes at most ScaleInFraction of the capacity (at
//     least one instance) per evaluation, never below Min, and never so many
//     that the metric would go back above the target;
//   - an alarm in ALARM invokes the policy again every period (CloudWatch
//     repeats Auto Scaling actions once per minute while in ALARM);
//   - a missing datapoint breaks a run: it is neither above nor below.
type Rules struct {
	Target          float64
	Min, Max        int
	HighPoints      int
	LowPoints       int
	LowRatio        float64
	ScaleInFraction float64
}

// Datapoint is one published value of the tracked metric math; OK is false
// when CloudWatch dropped it (a division by zero). InService is m2, the
// capacity the metric is normalized by.
type Datapoint struct {
	Backlog   float64
	InService float64
	OK        bool
}

// Decision is the outcome of one evaluation.
type Decision struct {
	Desired int
	Action  string // "out", "in" or ""
	Blocked bool   // the low alarm fired but warming instances held scale-in
}

// Decide evaluates both alarms over the published datapoints (oldest first)
// for a group whose desired capacity is desired, with warming instances
// pending or still in their warm-up.
func (r Rules) Decide(points []Datapoint, desired, warming int) Decision {
	d := Decision{Desired: desired}
	if len(points) == 0 {
		return d
	}
	last := points[len(points)-1]
	// The capacity the policy asks for: current × metric / target, where
	// current is what the metric is per; with no instance in service the
	// guarded expression gives the whole queue as one instance's backlog.
	want := func() int {
		base := max(1, last.InService)
		return int(math.Ceil(base*last.Backlog/r.Target - 1e-9))
	}
	if breaching(points, r.HighPoints, func(v float64) bool { return v > r.Target }) {
		if n := min(r.Max, want()); n > desired {
			d.Desired, d.Action = n, "out"
		}
		return d
	}
	if breaching(points, r.LowPoints, func(v float64) bool { return v < r.LowRatio*r.Target }) {
		if warming > 0 {
			d.Blocked = true
			return d
		}
		step := max(1, int(math.Floor(r.ScaleInFraction*float64(desired))))
		if n := max(r.Min, want(), desired-step); n < desired {
			d.Desired, d.Action = n, "in"
		}
	}
	return d
}

// breaching reports whether the last n datapoints exist and all satisfy breach.
func breaching(points []Datapoint, n int, breach func(float64) bool) bool {
	if n <= 0 || len(points) < n {
		return false
	}
	for _, p := range points[len(points)-n:] {
		if !p.OK || !breach(p.Backlog) {
			return false
		}
	}
	return true
}
