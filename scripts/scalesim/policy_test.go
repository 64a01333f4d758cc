package main

import (
	"testing"
)

var rules = Rules{Target: 15, Min: 1, Max: 3, HighPoints: 3, LowPoints: 15, LowRatio: 0.9, ScaleInFraction: 0.1}

// points is n datapoints of backlog v with inService instances in service.
func points(n int, v, inService float64) []Datapoint {
	ps := make([]Datapoint, n)
	for i := range ps {
		ps[i] = Datapoint{Backlog: v, InService: inService, OK: true}
	}
	return ps
}

// Hand-worked cases of target tracking's two alarms (target 15, 1–3).
func TestPolicyHandWorkedCases(t *testing.T) {
	for _, c := range []struct {
		name             string
		points           []Datapoint
		desired, warming int
		want             Decision
	}{
		{"2 minutes above: the high alarm waits for 3", points(2, 40, 1), 1, 0, Decision{Desired: 1}},
		{"3 minutes above: ceil(1 × 20 / 15) = 2", points(3, 20, 1), 1, 0, Decision{Desired: 2, Action: "out"}},
		{"3 minutes above: ceil(1 × 40 / 15) = 3", points(3, 40, 1), 1, 0, Decision{Desired: 3, Action: "out"}},
		{"far above: bounded by MaxSize", points(3, 100, 1), 1, 0, Decision{Desired: 3}.out()},
		{"below, then 2 minutes above: the high alarm waits for 3", append(points(1, 14, 1), points(2, 40, 1)...), 1, 0, Decision{Desired: 1}},
		{"a dip in the 3 minutes: no alarm", append(points(2, 40, 1), points(1, 14, 1)...), 1, 0, Decision{Desired: 1}},
		{"warming instances are capacity: 2 booting cover ceil(1 × 40 / 15) = 3", points(3, 40, 1), 3, 2, Decision{Desired: 3}},
		{"at the target exactly: no scale-out", points(3, 15, 2), 2, 0, Decision{Desired: 2}},
		{"14 minutes below: no scale-in", points(14, 0, 3), 3, 0, Decision{Desired: 3}},
		{"above, then 14 minutes below: no scale-in", append(points(1, 20, 3), points(14, 0, 3)...), 3, 0, Decision{Desired: 3}},
		{"15 minutes below: one instance out", points(15, 0, 3), 3, 0, Decision{Desired: 2, Action: "in"}},
		{"15 minutes below, at MinSize: nothing", points(15, 0, 1), 1, 0, Decision{Desired: 1}},
		{"15 minutes at 13.6 > 90 % of 15: not low", points(15, 13.6, 3), 3, 0, Decision{Desired: 3}},
		{"15 minutes at 13.4 < 90 % of 15, but 2 workers cannot hold 40 under 15", points(15, 13.4, 3), 3, 0, Decision{Desired: 3}},
		{"15 minutes at 4 with 3 in service: ceil(12 / 15) = 1, yet one step at a time", points(15, 4, 3), 3, 0, Decision{Desired: 2, Action: "in"}},
		{"15 minutes below but an instance warms up: scale-in held", points(15, 0, 3), 3, 1, Decision{Desired: 3, Blocked: true}},
		{"a missing datapoint breaks the run", append(points(2, 40, 0), Datapoint{}), 1, 0, Decision{Desired: 1}},
	} {
		if got := rules.Decide(c.points, c.desired, c.warming); got != c.want {
			t.Errorf("%s: got %+v, want %+v", c.name, got, c.want)
		}
	}
}

func (d Decision) out() Decision { d.Action = "out"; return d }

// The template's guard: with no worker in service, IF(m2 > 0, m1 / m2, m1)
// still gives a datapoint (the whole queue), so the group scales out; the
// plain m1 / m2 gives none, and it never would.
func TestDivisionGuardAtZeroInService(t *testing.T) {
	guarded, err := parseExpr("IF(m2 > 0, m1 / m2, m1)")
	if err != nil {
		t.Fatal(err)
	}
	plain, err := parseExpr("m1 / m2")
	if err != nil {
		t.Fatal(err)
	}
	vars := map[string]float64{"m1": 30, "m2": 0}
	if v, err := guarded.eval(vars); err != nil || v != 30 {
		t.Fatalf("guarded at m2 = 0: %v, %v; want 30", v, err)
	}
	if _, err := plain.eval(vars); err != errNoDatapoint {
		t.Fatalf("m1 / m2 at m2 = 0: %v, want no datapoint", err)
	}
	if v, err := guarded.eval(map[string]float64{"m1": 30, "m2": 2}); err != nil || v != 15 {
		t.Fatalf("guarded at m2 = 2: %v, %v; want 15", v, err)
	}

	// A group at 0 in service with 30 waiting: the guarded metric scales out
	// to ceil(30 / 15) = 2 after 3 minutes; without the guard, nothing ever.
	zero := rules
	zero.Min = 0
	backlog := func(e expr) []Datapoint {
		var ps []Datapoint
		for range 3 {
			v, err := e.eval(vars)
			ps = append(ps, Datapoint{Backlog: v, InService: 0, OK: err == nil})
		}
		return ps
	}
	if got := zero.Decide(backlog(guarded), 0, 0); got != (Decision{Desired: 2, Action: "out"}) {
		t.Errorf("guarded: %+v, want scale-out to 2", got)
	}
	if got := zero.Decide(backlog(plain), 0, 0); got != (Decision{Desired: 0}) {
		t.Errorf("unguarded: %+v, want nothing (no datapoints)", got)
	}
}

func TestMetricMathParses(t *testing.T) {
	for in, want := range map[string]float64{
		"m1 / m2":                      4,
		"IF(m2 > 0, m1 / m2, m1)":      4,
		"if(m2 >= 3, (m1 + 2) * 2, 0)": 28,
		"m1 - m2 * 2 / 4":              10.5,
	} {
		e, err := parseExpr(in)
		if err != nil {
			t.Fatalf("%s: %v", in, err)
		}
		if got, err := e.eval(map[string]float64{"m1": 12, "m2": 3}); err != nil || got != want {
			t.Errorf("%s = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "m1 /", "IF(m1, m2)", "m1 $ m2", "(m1"} {
		if _, err := parseExpr(bad); err == nil {
			t.Errorf("%q parsed", bad)
		}
	}
}
