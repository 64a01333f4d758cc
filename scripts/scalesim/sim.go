package main

import (
	"math"
	"math/rand/v2"
	"slices"
)

// Dist is a duration distribution in seconds: the measured samples when
// given (drawn with replacement), else uniform between Min and Max.
type Dist struct {
	Min, Max float64
	Samples  []float64
}

func (d Dist) draw(rng *rand.Rand) float64 {
	if len(d.Samples) > 0 {
		return d.Samples[rng.IntN(len(d.Samples))]
	}
	return d.Min + rng.Float64()*(d.Max-d.Min)
}

// Config is one simulated worker tier. Times are in seconds.
type Config struct {
	Rules   Rules
	Backlog func(visible, inService float64) (float64, bool) // the template's metric math

	Period       float64 // CloudWatch period of the alarms' metrics
	PublishDelay float64 // from a period's end until its datapoint is usable
	Warmup       float64
	Visibility   float64
	MaxReceive   int     // 0: no redrive
	HookTimeout  float64 // 0: no lifecycle hook (terminated at once)
	Grace        float64 // how long a draining worker lets its job run
	DrainPoll    float64 // how often a worker reads its lifecycle state
	ReplaceAfter float64 // from an instance's death until the group replaces it

	InService Dist // launch → InService (counted by GroupInServiceInstances)
	Boot      Dist // launch → the worker takes its first task
	Job       Dist // one video's processing time

	Price Price
	Step  float64
	Seed  uint64
}

// Scenario is a workload: upload times and instance deaths.
type Scenario struct {
	Name, Title string
	Arrivals    []float64 // sorted
	Deaths      []float64 // a busy instance (else any in service) dies then
	Horizon     float64   // stop here at the latest (else once drained and back at the minimum)
}

// Sample is the tier at one moment, for the plots.
type Sample struct {
	T         float64 `json:"t"`
	Visible   int     `json:"visible"`
	InService int     `json:"in_service"`
	Working   int     `json:"working"` // taking tasks (booted, not draining)
	Desired   int     `json:"desired"`
	OldestAge float64 `json:"oldest_age"` // oldest unprocessed upload, s
}

// Action is one scaling activity.
type Action struct {
	T        float64 `json:"t"`
	Kind     string  `json:"kind"`
	From, To int
}

// Result is what a run measured.
type Result struct {
	Scenario        string    `json:"scenario"`
	Uploaded        int       `json:"uploaded"`
	Processed       int       `json:"processed"`
	DeadLettered    int       `json:"dead_lettered"`
	Redelivered     int       `json:"redelivered"`
	Drain           float64   `json:"drain_s"`            // first upload → last processed
	DrainAfterLast  float64   `json:"drain_after_last_s"` // last upload → last processed
	WaitP50         float64   `json:"wait_p50_s"`
	WaitP95         float64   `json:"wait_p95_s"`
	WaitMax         float64   `json:"wait_max_s"`
	InstanceSeconds float64   `json:"instance_seconds"`
	BusySeconds     float64   `json:"busy_seconds"`
	Cost            float64   `json:"cost_usd"`
	ScaleOuts       int       `json:"scale_outs"`
	ScaleIns        int       `json:"scale_ins"`
	BlockedScaleIns int       `json:"blocked_scale_ins"`
	MaxInService    int       `json:"max_in_service"`
	MaxInstances    int       `json:"max_instances"` // launched and not yet terminated
	End             float64   `json:"end_s"`
	Actions         []Action  `json:"actions"`
	Series          []Sample  `json:"series"`
	Waits           []float64 `json:"-"`
}

// CostPer1000 is the run's instance cost per 1,000 processed videos.
func (r Result) CostPer1000() float64 {
	if r.Processed == 0 {
		return 0
	}
	return r.Cost / float64(r.Processed) * 1000
}

type msg struct {
	upload, visibleAt, recvAt float64
	receives                  int
}

type instState int

const (
	pending instState = iota
	inService
	draining
	dead
	terminated
)

type inst struct {
	state                     instState
	launch, inServiceAt, boot float64
	job                       *msg
	jobEnd                    float64
	drainAt, deadAt, endAt    float64
	busy                      float64
}

// Simulate runs a scenario in fixed steps of c.Step seconds, from a group
// at its minimum size, warm, with an empty queue. The same seed gives the
// same run.
func Simulate(c Config, sc Scenario) Result {
	rng := rand.New(rand.NewPCG(c.Seed, 0x5ca1e))
	res := Result{Scenario: sc.Name, Uploaded: len(sc.Arrivals)}
	var insts []*inst
	launch := func(t float64) {
		in := &inst{state: pending, launch: t}
		in.inServiceAt = t + c.InService.draw(rng)
		in.boot = max(in.inServiceAt, t+c.Boot.draw(rng))
		insts = append(insts, in)
	}
	for range c.Rules.Min {
		insts = append(insts, &inst{state: inService, launch: -c.Warmup - 1, inServiceAt: -c.Warmup, boot: -c.Warmup})
	}
	desired := c.Rules.Min
	var waiting []*msg
	var points []Datapoint
	var pubAt []float64
	next, deaths := 0, slices.Clone(sc.Deaths)
	nextPeriod := c.Period
	sampleEvery := c.Period / 6
	nextSample := 0.0
	lastDone := math.Inf(-1)

	countState := func(s instState) int {
		n := 0
		for _, in := range insts {
			if in.state == s {
				n++
			}
		}
		return n
	}
	visible := func(t float64) (n int, oldest float64) {
		oldest = math.Inf(1)
		for _, m := range waiting {
			if m.visibleAt <= t {
				n++
			}
			oldest = min(oldest, m.upload)
		}
		for _, in := range insts {
			if in.job != nil {
				oldest = min(oldest, in.job.upload)
			}
		}
		return n, oldest
	}
	// release puts a task back: now (handed back) or when its lease ends.
	release := func(m *msg, at float64) {
		m.visibleAt = at
		waiting = append(waiting, m)
	}
	for t := 0.0; ; t += c.Step {
		for next < len(sc.Arrivals) && sc.Arrivals[next] <= t {
			waiting = append(waiting, &msg{upload: sc.Arrivals[next], visibleAt: sc.Arrivals[next]})
			next++
		}
		for len(deaths) > 0 && deaths[0] <= t {
			deaths = deaths[1:]
			var victim *inst
			for _, in := range insts {
				if in.state == inService && (victim == nil || (victim.job == nil && in.job != nil)) {
					victim = in
				}
			}
			if victim != nil {
				victim.state, victim.deadAt = dead, t
				if m := victim.job; m != nil {
					// Its heartbeat renewed the lease every third of it.
					third := c.Visibility / 3
					renewed := m.recvAt + math.Floor((t-m.recvAt)/third)*third
					victim.busy += t - m.recvAt
					victim.job = nil
					release(m, renewed+c.Visibility)
					res.Redelivered++
				}
			}
		}
		for _, in := range insts {
			switch {
			case in.job != nil && in.jobEnd <= t:
				res.Processed++
				res.Waits = append(res.Waits, t-in.job.upload)
				lastDone = t
				in.busy += t - in.job.recvAt
				in.job = nil
			case in.job != nil && in.state == draining && t >= in.drainAt+c.Grace:
				in.busy += t - in.job.recvAt
				release(in.job, t) // handed back at the end of the grace
				in.job = nil
			}
			switch in.state {
			case pending:
				if t >= in.inServiceAt {
					in.state = inService
				}
			case draining:
				hookDone := in.job == nil && t >= in.drainAt+c.DrainPoll
				if c.HookTimeout == 0 || hookDone || t >= in.drainAt+c.HookTimeout {
					if in.job != nil { // the hook timed out under it
						in.busy += t - in.job.recvAt
						release(in.job, in.job.recvAt+c.Visibility)
						in.job = nil
					}
					in.state, in.endAt = terminated, t
				}
			case dead:
				if t >= in.deadAt+c.ReplaceAfter {
					in.state, in.endAt = terminated, t
					launch(t) // the group replaces an unhealthy instance
				}
			}
		}
		// Idle booted workers take the oldest visible tasks (long polling).
		for _, in := range insts {
			if in.state != inService || in.job != nil || t < in.boot {
				continue
			}
			i := -1
			for j, m := range waiting {
				if m.visibleAt <= t && (i < 0 || m.visibleAt < waiting[i].visibleAt) {
					i = j
				}
			}
			if i < 0 {
				break
			}
			m := waiting[i]
			waiting = slices.Delete(waiting, i, i+1)
			m.receives++
			if c.MaxReceive > 0 && m.receives > c.MaxReceive {
				res.DeadLettered++
				continue
			}
			m.recvAt = t
			in.job, in.jobEnd = m, t+c.Job.draw(rng)
		}

		// GroupInServiceInstances: pending and terminating (draining)
		// instances are out; a dead one is in until the group replaces it.
		nIn := countState(inService) + countState(dead)
		if t >= nextPeriod {
			nextPeriod += c.Period
			// SQS and the group publish one sample a minute; the datapoint
			// becomes usable PublishDelay later.
			v, _ := visible(t)
			b, ok := c.Backlog(float64(v), float64(nIn))
			points = append(points, Datapoint{Backlog: b, InService: float64(nIn), OK: ok})
			pubAt = append(pubAt, t+c.PublishDelay)
			usable := len(pubAt)
			for usable > 0 && pubAt[usable-1] > t {
				usable--
			}
			warming := countState(pending)
			for _, in := range insts {
				if in.state == inService && t < in.inServiceAt+c.Warmup {
					warming++
				}
			}
			d := c.Rules.Decide(points[:usable], desired, warming)
			if d.Blocked {
				res.BlockedScaleIns++
			}
			switch d.Action {
			case "out":
				res.Actions = append(res.Actions, Action{t, "out", desired, d.Desired})
				res.ScaleOuts++
				for range d.Desired - desired {
					launch(t)
				}
				desired = d.Desired
			case "in":
				res.Actions = append(res.Actions, Action{t, "in", desired, d.Desired})
				res.ScaleIns++
				for range desired - d.Desired {
					// The default termination policy picks by zone and age,
					// not by whether the worker is busy: any in service.
					var cands []*inst
					for _, in := range insts {
						if in.state == inService {
							cands = append(cands, in)
						}
					}
					if len(cands) == 0 {
						break
					}
					v := cands[rng.IntN(len(cands))]
					v.state, v.drainAt = draining, t
				}
				desired = d.Desired
			}
		}

		running := 0
		working := 0
		for _, in := range insts {
			if in.state != terminated {
				running++
			}
			if in.state == inService && t >= in.boot {
				working++
			}
		}
		res.MaxInService = max(res.MaxInService, nIn)
		res.MaxInstances = max(res.MaxInstances, running)
		if t >= nextSample {
			nextSample += sampleEvery
			v, oldest := visible(t)
			age := 0.0
			if !math.IsInf(oldest, 1) {
				age = t - oldest
			}
			res.Series = append(res.Series, Sample{T: t, Visible: v, InService: nIn, Working: working, Desired: desired, OldestAge: age})
		}

		settled := next == len(sc.Arrivals) && res.Processed+res.DeadLettered == len(sc.Arrivals) &&
			running == c.Rules.Min && desired == c.Rules.Min && countState(pending) == 0
		if t >= sc.Horizon || settled {
			res.End = t
			break
		}
	}

	for _, in := range insts {
		end := in.endAt
		if in.state != terminated {
			end = res.End
			if in.job != nil {
				in.busy += res.End - in.job.recvAt
			}
		}
		life := end - max(0, in.launch)
		res.InstanceSeconds += life
		res.BusySeconds += in.busy
		res.Cost += c.Price.cost(life, in.busy)
	}
	if len(sc.Arrivals) > 0 && res.Processed > 0 {
		res.Drain = lastDone - sc.Arrivals[0]
		res.DrainAfterLast = lastDone - sc.Arrivals[len(sc.Arrivals)-1]
	}
	w := slices.Clone(res.Waits)
	slices.Sort(w)
	res.WaitP50, res.WaitP95 = percentile(w, 50), percentile(w, 95)
	if len(w) > 0 {
		res.WaitMax = w[len(w)-1]
	}
	return res
}

// percentile is nearest-rank: the smallest value with at least p % of the
// values at or below it.
func percentile(sorted []float64, p float64) float64 {
	if len(sorted) == 0 {
		return 0
	}
	i := int(math.Ceil(p/100*float64(len(sorted)))) - 1
	return sorted[max(0, min(i, len(sorted)-1))]
}

// Price is an instance type's list price; t3 instances in unlimited mode
// also pay for CPU above their baseline.
type Price struct {
	Type                string
	Hourly              float64
	VCPUs               int
	Baseline            float64 // fraction of each vCPU earned as credits; 0: not burstable
	SurplusPerVCPUHour  float64
	Unlimited, Listed   bool
	Source, CreditsNote string
}

// cost of one instance alive life seconds, busy (ffmpeg on every vCPU) for
// busy of them. Billing is per second with a 60 s minimum. An unlimited
// burstable instance pays the surplus vCPU-hours above its baseline over
// its life (credits earned while idle pay for bursts first).
func (p Price) cost(life, busy float64) float64 {
	if life <= 0 {
		return 0
	}
	c := max(life, 60) / 3600 * p.Hourly
	if p.Unlimited && p.Baseline > 0 {
		surplus := float64(p.VCPUs) * (busy - p.Baseline*life) / 3600
		c += max(0, surplus) * p.SurplusPerVCPUHour
	}
	return c
}
