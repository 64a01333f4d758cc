// Command scalesim simulates the worker tier's scaling policy as it is in a
// synthesized CloudFormation template: the worker group's size, the
// target-tracking policy on SQS backlog per instance (its target and its
// metric math), warm-up, health-check grace, the termination lifecycle hook
// and the queue's visibility and redrive, all read from the template. It
// adds CloudWatch's periods and publication delay, target tracking's alarms,
// boot and processing times from measurements, and runs workloads through
// it: steady arrivals, a burst, a match day, a worker dying mid-job.
//
//	go run ./scripts/scalesim                          # every scenario, the default template
//	go run ./scripts/scalesim -template cdk.out/AnbRisingStars.template.json
//	go run ./scripts/scalesim -scenario sweep          # the backlog target against the workloads
//	go run ./scripts/scalesim -plots scripts/loadtest/report
//
// Run it from the repository root. The default template is
// cdk/testdata/AnbRisingStars.template.json, the snapshot the CDK tests keep
// byte-equal to a real synthesis of the stack's defaults.
package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/anb/risingstars/app/nodespec"
)

// Prices are us-east-1 on-demand Linux list prices as remembered; check
// them on the AWS pricing pages before relying on the costs.
var prices = map[string]Price{
	"t3.small":  {Type: "t3.small", Hourly: 0.0208, VCPUs: 2, Baseline: 0.20, SurplusPerVCPUHour: 0.05, Listed: true},
	"c7i.large": {Type: "c7i.large", Hourly: 0.0893, VCPUs: 2, Listed: true},
	"c7g.large": {Type: "c7g.large", Hourly: 0.0725, VCPUs: 2, Listed: true},
}

type options struct {
	template, scenario, jobSpec, jobSamples, bootSpec, inServiceSpec string
	plots, plotOnly, jsonOut, rates, targets, instanceType           string
	seed                                                             uint64
	seeds                                                            int
	uploads                                                          int
	uploadSpan, period, delay, drainPoll, grace, replaceAfter        time.Duration
	compress, target, dayRate, deathRate                             float64
	maxSize                                                          int
}

func main() {
	var o options
	flag.StringVar(&o.template, "template", "cdk/testdata/AnbRisingStars.template.json", "synthesized template to read the worker tier from (e.g. cdk.out/AnbRisingStars.template.json from scripts/synth)")
	flag.StringVar(&o.scenario, "scenario", "all", "all, steady, burst, day, death, or sweep (the backlog target against burst, day and steady)")
	flag.Uint64Var(&o.seed, "seed", 1, "random seed: the same seed gives the same run")
	flag.StringVar(&o.jobSpec, "job", "8.5s-12s", "processing time per video, uniform MIN-MAX (worker bench: 8.5-12 s for 30 s of 1080p on 2 vCPU)")
	flag.StringVar(&o.jobSamples, "job-samples", "", "measured processing times in seconds, comma-separated; drawn instead of -job")
	flag.StringVar(&o.bootSpec, "boot", "150s-210s", "launch → worker takes tasks, uniform MIN-MAX (the boot steps' estimate, ~3 min)")
	flag.StringVar(&o.inServiceSpec, "in-service", "30s-50s", "launch → InService (EC2 start; counted by GroupInServiceInstances from then)")
	flag.DurationVar(&o.period, "period", time.Minute, "CloudWatch period of the alarms' metrics")
	flag.DurationVar(&o.delay, "publish-delay", time.Minute, "from a period's end until its datapoint reaches the alarm")
	flag.DurationVar(&o.drainPoll, "drain-poll", 5*time.Second, "how often a worker reads its lifecycle state (worker/lifecycle)")
	flag.DurationVar(&o.grace, "grace", nodespec.ShutdownGrace, "how long a draining worker lets its job finish")
	flag.DurationVar(&o.replaceAfter, "replace-after", 3*time.Minute, "from an instance's death until the group replaces it (EC2 status checks)")
	flag.Float64Var(&o.compress, "compress", 1, "divide every AWS-side time (period, delay, warm-up, boot, in-service, replace-after, hook timeout) by this; job times, visibility and the worker's own timings stay")
	flag.Float64Var(&o.target, "target", 0, "backlog target instead of the template's (what-if)")
	flag.IntVar(&o.maxSize, "max", 0, "worker group MaxSize instead of the template's (what-if)")
	flag.IntVar(&o.uploads, "uploads", 100, "uploads in the burst")
	flag.DurationVar(&o.uploadSpan, "upload-span", 30*time.Second, "the burst's uploads arrive within this (not compressed: the run's own time)")
	flag.StringVar(&o.rates, "rates", "1,3,6,10,14", "steady scenarios: uploads per minute")
	flag.Float64Var(&o.dayRate, "day-rate", 2, "match day: quiet uploads per minute (5× at the peak)")
	flag.Float64Var(&o.deathRate, "death-rate", 6, "worker-dies scenario: uploads per minute")
	flag.IntVar(&o.seeds, "seeds", 5, "sweep: runs per target (seeds -seed, -seed+1, ...), averaged")
	flag.StringVar(&o.instanceType, "instance-type", "", "price the workers as this type instead of the template's (what-if; the policy is unchanged)")
	flag.StringVar(&o.targets, "targets", "2,3,4,5,6,8,10,12,15,20,30", "sweep: backlog targets to try")
	flag.StringVar(&o.plots, "plots", "", "write PNG plots of each scenario into this directory")
	flag.StringVar(&o.plotOnly, "plot-only", "", "plot only these scenarios (comma-separated names, e.g. burst-100,match-day)")
	flag.StringVar(&o.jsonOut, "json", "", "write the results as JSON to this file (- for stdout, which then carries only the JSON)")
	flag.Parse()
	if flag.NArg() > 0 {
		fail(fmt.Errorf("no arguments expected, got %q", flag.Args()))
	}
	if err := run(o, os.Stdout); err != nil {
		fail(err)
	}
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "scalesim:", err)
	os.Exit(2)
}

func run(o options, stdout io.Writer) error {
	t, err := ReadTemplate(o.template)
	if err != nil {
		return err
	}
	c, err := configure(t, o)
	if err != nil {
		return err
	}
	out := stdout
	if o.jsonOut == "-" {
		out = io.Discard
	}
	describe(out, t, c, o)

	var scs []Scenario
	switch o.scenario {
	case "sweep":
		return sweep(out, c, o)
	case "all", "steady":
		for _, r := range strings.Split(o.rates, ",") {
			rate, err := strconv.ParseFloat(strings.TrimSpace(r), 64)
			if err != nil || rate <= 0 {
				return fmt.Errorf("-rates: %q is not a positive number", r)
			}
			scs = append(scs, steady(rate, 3, o.seed))
		}
		if o.scenario == "steady" {
			break
		}
		fallthrough
	case "burst", "day", "death":
		if o.scenario == "all" || o.scenario == "burst" {
			scs = append(scs, burst(o.uploads, o.uploadSpan.Seconds(), o.seed))
		}
		if o.scenario == "all" || o.scenario == "day" {
			scs = append(scs, matchDay(o.dayRate, o.seed))
		}
		if o.scenario == "all" || o.scenario == "death" {
			scs = append(scs, workerDies(o.deathRate, o.seed))
		}
	default:
		return fmt.Errorf("-scenario %q: want all, steady, burst, day, death or sweep", o.scenario)
	}
	if o.uploads < 1 {
		return errors.New("-uploads must be at least 1")
	}

	var results []Result
	fmt.Fprintln(out, "| scenario | uploads | processed | time to drain¹ | p50 wait | p95 wait | max wait | peak in service | instance-min | cost USD | USD per 1,000 | scale-outs / -ins |")
	fmt.Fprintln(out, "|---|---|---|---|---|---|---|---|---|---|---|---|")
	for _, sc := range scs {
		start := time.Now()
		r := Simulate(c, sc)
		took := time.Since(start)
		results = append(results, r)
		fmt.Fprintf(out, "| %s | %d | %d | %s | %s | %s | %s | %d | %.0f | %.3f | %.2f | %d / %d |\n",
			sc.Title, r.Uploaded, r.Processed, minutes(drainTime(sc, r)), minutes(r.WaitP50), minutes(r.WaitP95), minutes(r.WaitMax),
			r.MaxInService, r.InstanceSeconds/60, r.Cost, r.CostPer1000(), r.ScaleOuts, r.ScaleIns)
		if sc.Name == "match-day" {
			defer fmt.Fprintf(out, "\nsimulator speed: the 24-hour match day (%d uploads, %d steps of %g s) ran in %s\n",
				r.Uploaded, int(r.End/c.Step), c.Step, took.Round(time.Millisecond))
		}
		if o.plots != "" && (o.plotOnly == "" || slices.Contains(strings.Split(o.plotOnly, ","), sc.Name)) {
			if err := plot(o.plots, sc, r, o.compress); err != nil {
				return err
			}
		}
	}
	fmt.Fprintln(out, "\n¹ a burst: first upload → last video processed; otherwise last upload → last video processed.")
	if o.jsonOut != "" {
		b, err := json.MarshalIndent(map[string]any{"template": t.Path, "settings": settingsOf(c), "results": results}, "", " ")
		if err != nil {
			return err
		}
		if o.jsonOut == "-" {
			_, err = stdout.Write(append(b, '\n'))
			return err
		}
		return os.WriteFile(o.jsonOut, b, 0o644)
	}
	return nil
}

// Settings are the numbers a run used, in the run's (compressed) seconds:
// what another implementation of the same rules needs to replay it.
type Settings struct {
	Min          int        `json:"min"`
	Max          int        `json:"max"`
	Target       float64    `json:"target"`
	Period       float64    `json:"period_s"`
	PublishDelay float64    `json:"publish_delay_s"`
	Warmup       float64    `json:"warmup_s"`
	HookTimeout  float64    `json:"hook_timeout_s"`
	Visibility   float64    `json:"visibility_s"`
	InService    [2]float64 `json:"in_service_s"`
	Boot         [2]float64 `json:"boot_s"`
}

func settingsOf(c Config) Settings {
	return Settings{Min: c.Rules.Min, Max: c.Rules.Max, Target: c.Rules.Target, Period: c.Period, PublishDelay: c.PublishDelay,
		Warmup: c.Warmup, HookTimeout: c.HookTimeout, Visibility: c.Visibility,
		InService: [2]float64{c.InService.Min, c.InService.Max}, Boot: [2]float64{c.Boot.Min, c.Boot.Max}}
}

// configure turns the template and the flags into a simulated tier.
func configure(t *Template, o options) (Config, error) {
	if o.compress <= 0 {
		return Config{}, errors.New("-compress must be positive")
	}
	k := o.compress
	job, err := dist(o.jobSpec, 1)
	if err != nil {
		return Config{}, fmt.Errorf("-job: %w", err)
	}
	if o.jobSamples != "" {
		job = Dist{}
		for _, s := range strings.Split(o.jobSamples, ",") {
			v, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
			if err != nil || v <= 0 {
				return Config{}, fmt.Errorf("-job-samples: %q is not a positive number of seconds", s)
			}
			job.Samples = append(job.Samples, v)
		}
	}
	boot, err := dist(o.bootSpec, k)
	if err != nil {
		return Config{}, fmt.Errorf("-boot: %w", err)
	}
	inService, err := dist(o.inServiceSpec, k)
	if err != nil {
		return Config{}, fmt.Errorf("-in-service: %w", err)
	}
	if o.period <= 0 || o.delay < 0 {
		return Config{}, errors.New("-period must be positive and -publish-delay not negative")
	}
	rules := Rules{Target: t.Target, Min: t.MinSize, Max: t.MaxSize, HighPoints: 3, LowPoints: 15, LowRatio: 0.9, ScaleInFraction: 0.1}
	if o.target < 0 || o.maxSize < 0 {
		return Config{}, errors.New("-target and -max must be positive")
	}
	if o.target > 0 {
		rules.Target = o.target
	}
	if o.maxSize > 0 {
		rules.Max = max(o.maxSize, rules.Min)
	}
	itype, credits := t.InstanceType, t.CPUCredits
	if o.instanceType != "" {
		itype, credits = o.instanceType, ""
	}
	price, ok := prices[itype]
	if !ok && o.instanceType != "" {
		return Config{}, fmt.Errorf("-instance-type %q: no list price in the simulator (known: t3.small, c7i.large, c7g.large)", itype)
	}
	if price.Baseline > 0 {
		// T3 instances launch in unlimited mode unless told otherwise.
		price.Unlimited = credits != "standard"
	}
	period := o.period.Seconds() / k
	return Config{
		Rules:        rules,
		Backlog:      t.Backlog,
		Period:       period,
		PublishDelay: o.delay.Seconds() / k,
		Warmup:       t.Warmup.Seconds() / k,
		Visibility:   t.Visibility.Seconds(),
		MaxReceive:   t.MaxReceiveCount,
		HookTimeout:  t.HookTimeout.Seconds() / k,
		Grace:        o.grace.Seconds(),
		DrainPoll:    o.drainPoll.Seconds(),
		ReplaceAfter: o.replaceAfter.Seconds() / k,
		InService:    inService,
		Boot:         boot,
		Job:          job,
		Price:        price,
		Step:         min(1, period/60),
		Seed:         o.seed,
	}, nil
}

// dist parses "MIN-MAX" (Go durations, or one duration for a constant),
// divided by k.
func dist(s string, k float64) (Dist, error) {
	lo, hi, found := strings.Cut(s, "-")
	if !found {
		hi = lo
	}
	a, err := time.ParseDuration(strings.TrimSpace(lo))
	if err != nil {
		return Dist{}, err
	}
	b, err := time.ParseDuration(strings.TrimSpace(hi))
	if err != nil {
		return Dist{}, err
	}
	if a < 0 || b < a {
		return Dist{}, fmt.Errorf("%q: want 0 ≤ MIN ≤ MAX", s)
	}
	return Dist{Min: a.Seconds() / k, Max: b.Seconds() / k}, nil
}

// describe states which template was read and every number taken from it.
func describe(w io.Writer, t *Template, c Config, o options) {
	fmt.Fprintf(w, "template: %s\n", t.Path)
	fmt.Fprintf(w, "  worker group %s: MinSize %d, MaxSize %d, %s, CPU credits %q; health-check grace %s\n",
		t.Group, t.MinSize, t.MaxSize, t.InstanceType, t.CPUCredits, t.HealthCheckGrace)
	fmt.Fprintf(w, "  policy %s: target %g on %s (%s = SQS visible, %s = GroupInServiceInstances)\n",
		t.Policy, t.Target, t.Expression, t.QueueMetric, t.InServiceMetric)
	fmt.Fprintf(w, "  warm-up %s (%s); lifecycle hook %s: %s; queue %s: visibility %s, maxReceiveCount %d\n",
		t.Warmup, t.WarmupFrom, t.Hook, t.HookTimeout, t.Queue, t.Visibility, t.MaxReceiveCount)
	if o.target > 0 || o.maxSize > 0 {
		fmt.Fprintf(w, "what-if: target %g, MaxSize %d (flags instead of the template)\n", c.Rules.Target, c.Rules.Max)
	}
	if o.instanceType != "" {
		fmt.Fprintf(w, "what-if: priced as %s (flag instead of the template's %s)\n", o.instanceType, t.InstanceType)
	}
	if o.compress != 1 {
		fmt.Fprintf(w, "time compressed ×%g: period %.3g s, publish delay %.3g s, warm-up %.3g s, boot %.3g–%.3g s\n",
			o.compress, c.Period, c.PublishDelay, c.Warmup, c.Boot.Min, c.Boot.Max)
	}
	if c.Price.Listed {
		mode := ""
		if c.Price.Baseline > 0 {
			mode = fmt.Sprintf(", unlimited credits: +%.2f USD per vCPU-hour above the %.0f %% baseline", c.Price.SurplusPerVCPUHour, c.Price.Baseline*100)
		}
		fmt.Fprintf(w, "price: %s %.4f USD/h%s (list prices to be checked)\n", c.Price.Type, c.Price.Hourly, mode)
	} else {
		fmt.Fprintf(w, "price: %q has no list price in the simulator: costs are 0\n", c.Price.Type)
	}
	fmt.Fprintln(w)
}

// drainTime is how long a burst took to clear, or how long a stream's
// backlog outlived its last upload.
func drainTime(sc Scenario, r Result) float64 {
	if strings.HasPrefix(sc.Name, "burst") {
		return r.Drain
	}
	return r.DrainAfterLast
}

func minutes(s float64) string {
	if s < 120 {
		return fmt.Sprintf("%.0f s", s)
	}
	return fmt.Sprintf("%.1f min", s/60)
}

// sweep runs the burst, the match day and two steady rates at each target,
// averaging each figure over seeds runs.
func sweep(w io.Writer, c Config, o options) error {
	if o.seeds < 1 {
		return errors.New("-seeds must be at least 1")
	}
	fmt.Fprintf(w, "means over %d seeds; steady runs last 3 h\n\n", o.seeds)
	fmt.Fprintln(w, "| target | burst drain | burst p95 wait | burst instance-min | day p95 wait | day max wait | day instance-min | day USD/1,000 | day scale-outs / -ins | steady-6 p95 | steady-6 USD/1,000 | steady-10 p95 | steady-10 scale-outs / -ins |")
	fmt.Fprintln(w, "|---|---|---|---|---|---|---|---|---|---|---|---|---|")
	for _, s := range strings.Split(o.targets, ",") {
		target, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
		if err != nil || target <= 0 {
			return fmt.Errorf("-targets: %q is not a positive number", s)
		}
		var b, d, s6, s10 Result
		add := func(sum *Result, r Result) {
			n := float64(o.seeds)
			sum.Drain += r.Drain / n
			sum.WaitP95 += r.WaitP95 / n
			sum.WaitMax += r.WaitMax / n
			sum.InstanceSeconds += r.InstanceSeconds / n
			sum.Cost += r.Cost / n
			sum.Processed += r.Processed
			sum.ScaleOuts += r.ScaleOuts
			sum.ScaleIns += r.ScaleIns
		}
		for i := range uint64(o.seeds) {
			cc := c
			cc.Rules.Target = target
			cc.Seed = o.seed + i
			add(&b, Simulate(cc, burst(o.uploads, o.uploadSpan.Seconds(), cc.Seed)))
			add(&d, Simulate(cc, matchDay(o.dayRate, cc.Seed)))
			add(&s6, Simulate(cc, steady(6, 3, cc.Seed)))
			add(&s10, Simulate(cc, steady(10, 3, cc.Seed)))
		}
		per := func(r Result) float64 { return r.Cost / float64(r.Processed) * float64(o.seeds) * 1000 }
		n := float64(o.seeds)
		fmt.Fprintf(w, "| %g | %s | %s | %.0f | %s | %s | %.0f | %.2f | %.1f / %.1f | %s | %.2f | %s | %.1f / %.1f |\n", target,
			minutes(b.Drain), minutes(b.WaitP95), b.InstanceSeconds/60,
			minutes(d.WaitP95), minutes(d.WaitMax), d.InstanceSeconds/60, per(d), float64(d.ScaleOuts)/n, float64(d.ScaleIns)/n,
			minutes(s6.WaitP95), per(s6), minutes(s10.WaitP95), float64(s10.ScaleOuts)/n, float64(s10.ScaleIns)/n)
	}
	return nil
}

// plotName is where a scenario's plots go.
func plotName(dir, scenario, what string) string {
	return filepath.Join(dir, "scalesim-"+scenario+"-"+what+".png")
}
