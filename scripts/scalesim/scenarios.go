package main

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
)

// The workloads, in seconds from the start.

// steady is a Poisson stream of perMinute uploads a minute for hours.
func steady(perMinute, hours float64, seed uint64) Scenario {
	return Scenario{
		Name:     fmt.Sprintf("steady-%g", perMinute),
		Title:    fmt.Sprintf("steady %g uploads/min for %g h", perMinute, hours),
		Arrivals: poisson(func(float64) float64 { return perMinute / 60 }, perMinute/60, hours*3600, seed),
		Horizon:  hours*3600 + 6*3600,
	}
}

// burst is n uploads spread evenly at random over span seconds.
func burst(n int, span float64, seed uint64) Scenario {
	rng := rand.New(rand.NewPCG(seed, 0xb0057))
	a := make([]float64, n)
	for i := range a {
		a[i] = rng.Float64() * span
	}
	slices.Sort(a)
	return Scenario{
		Name:     fmt.Sprintf("burst-%d", n),
		Title:    fmt.Sprintf("burst of %d uploads in %g s", n, span),
		Arrivals: a,
		Horizon:  6 * 3600,
	}
}

// matchDay is a day of uploads: a quiet base of perMinute, rising to 5× at
// an evening peak (20:00, about 3 hours wide), quiet again at night.
func matchDay(perMinute float64, seed uint64) Scenario {
	rate := func(t float64) float64 {
		h := t / 3600
		return perMinute / 60 * (1 + 4*math.Exp(-(h-20)*(h-20)/(2*1.2*1.2)))
	}
	return Scenario{
		Name:     "match-day",
		Title:    fmt.Sprintf("match day: %g uploads/min, 5× at 20:00", perMinute),
		Arrivals: poisson(rate, 5*perMinute/60, 24*3600, seed),
		Horizon:  30 * 3600,
	}
}

// workerDies is a steady stream during which a busy worker's instance dies.
func workerDies(perMinute float64, seed uint64) Scenario {
	s := steady(perMinute, 1, seed)
	s.Name, s.Title = "worker-dies", fmt.Sprintf("steady %g uploads/min, a busy worker's instance dies at 20:00 min", perMinute)
	s.Deaths = []float64{20 * 60}
	return s
}

// poisson draws arrival times of a Poisson process of the given rate (per
// second, at most peak) by thinning.
func poisson(rate func(t float64) float64, peak, horizon float64, seed uint64) []float64 {
	rng := rand.New(rand.NewPCG(seed, 0xa7717a1))
	var a []float64
	for t := rng.ExpFloat64() / peak; t < horizon; t += rng.ExpFloat64() / peak {
		if rng.Float64()*peak < rate(t) {
			a = append(a, t)
		}
	}
	return a
}
