package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"
)

func defaults() options {
	return options{template: snapshot, jobSpec: "8.5s-12s", bootSpec: "150s-210s", inServiceSpec: "30s-50s",
		period: time.Minute, delay: time.Minute, drainPoll: 5 * time.Second, grace: 2 * time.Minute,
		replaceAfter: 3 * time.Minute, compress: 1, seed: 1, uploads: 100, uploadSpan: 30 * time.Second}
}

func snapshotConfig(t testing.TB) Config {
	t.Helper()
	tpl, err := ReadTemplate(snapshot)
	if err != nil {
		t.Fatal(err)
	}
	c, err := configure(tpl, defaults())
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// Every scenario, on the snapshot's settings: every video processed once,
// nothing dead-lettered, never more than MaxSize in service or desired.
func TestScenarioInvariants(t *testing.T) {
	c := snapshotConfig(t)
	for _, sc := range []Scenario{steady(3, 1, 1), steady(14, 1, 2), burst(100, 30, 1), matchDay(2, 1), workerDies(6, 1)} {
		r := Simulate(c, sc)
		if r.Processed != r.Uploaded || r.DeadLettered != 0 || len(r.Waits) != r.Uploaded {
			t.Errorf("%s: %d uploaded, %d processed, %d dead-lettered", sc.Name, r.Uploaded, r.Processed, r.DeadLettered)
		}
		if r.MaxInService > c.Rules.Max {
			t.Errorf("%s: %d in service, MaxSize %d", sc.Name, r.MaxInService, c.Rules.Max)
		}
		for _, s := range r.Series {
			if s.Desired > c.Rules.Max || s.Desired < c.Rules.Min {
				t.Fatalf("%s: desired %d at %.0f s, outside %d–%d", sc.Name, s.Desired, s.T, c.Rules.Min, c.Rules.Max)
			}
		}
		if last := r.Series[len(r.Series)-1]; last.Desired != c.Rules.Min {
			t.Errorf("%s: ends at %d desired, not back at MinSize", sc.Name, last.Desired)
		}
	}
}

// The burst walked through: nothing moves before 3 breaching datapoints
// have been published (3 periods + the publication delay), the new
// instances are desired at once but counted in service only after EC2
// starts them, and take tasks only after their boot.
func TestBurstScalesOutAfterThreeMinutesAndBoot(t *testing.T) {
	c := snapshotConfig(t)
	r := Simulate(c, burst(100, 30, 1))
	if len(r.Actions) == 0 || r.Actions[0].Kind != "out" {
		t.Fatalf("actions %+v, want a scale-out first", r.Actions)
	}
	first := r.Actions[0]
	if first.T != 4*60 || first.From != 1 || first.To != 3 {
		t.Errorf("first action %+v, want 1 → 3 at 240 s (3 breaching minutes, published 1 minute late)", first)
	}
	for _, s := range r.Series {
		switch {
		case s.T < first.T && s.Desired != 1:
			t.Fatalf("desired %d at %.0f s, before the alarm", s.Desired, s.T)
		case s.T > first.T && s.T < first.T+c.InService.Min && s.InService != 1:
			t.Fatalf("%d in service at %.0f s: a launching instance is not in service yet", s.InService, s.T)
		case s.T > first.T && s.T < first.T+c.Boot.Min && s.Working != 1:
			t.Fatalf("%d taking tasks at %.0f s, before any boot ended", s.Working, s.T)
		}
	}
}

// A dead worker's task comes back when its lease ends, and is processed.
func TestWorkerDyingMidJobLosesNothing(t *testing.T) {
	c := snapshotConfig(t)
	r := Simulate(c, workerDies(6, 1))
	if r.Redelivered != 1 || r.Processed != r.Uploaded {
		t.Fatalf("%d redelivered, %d of %d processed", r.Redelivered, r.Processed, r.Uploaded)
	}
	if r.WaitMax < c.Visibility-c.Visibility/3 {
		t.Errorf("longest wait %.0f s: the dead worker's task should have waited for its lease (%.0f s)", r.WaitMax, c.Visibility)
	}
}

func TestSameSeedSameRun(t *testing.T) {
	c := snapshotConfig(t)
	a, b := Simulate(c, matchDay(2, 7)), Simulate(c, matchDay(2, 7))
	if !reflect.DeepEqual(a, b) {
		t.Fatal("two runs with seed 7 differ")
	}
	c.Seed = 8
	if reflect.DeepEqual(a, Simulate(c, matchDay(2, 7))) {
		t.Fatal("another seed drew the same job and boot times")
	}
}

// The output names the template it read and the numbers it took from it.
func TestOutputStatesTheTemplate(t *testing.T) {
	o := defaults()
	o.scenario, o.rates = "burst", "1"
	var out bytes.Buffer
	if err := run(o, &out); err != nil {
		t.Fatal(err)
	}
	tpl, err := ReadTemplate(snapshot)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"template: " + snapshot, fmt.Sprintf("MinSize %d, MaxSize %d", tpl.MinSize, tpl.MaxSize),
		fmt.Sprintf("target %g on %s", tpl.Target, tpl.Expression), "DefaultInstanceWarmup", "burst of 100 uploads"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
}

func BenchmarkMatchDay(b *testing.B) {
	c := snapshotConfig(b)
	sc := matchDay(2, 1)
	for b.Loop() {
		Simulate(c, sc)
	}
}

// The JSON output carries the settings another implementation of the rules
// needs to replay a run, in the run's compressed seconds.
func TestJSONCarriesTheCompressedSettings(t *testing.T) {
	o := defaults()
	o.scenario, o.uploads, o.compress, o.jsonOut = "burst", 30, 12, "-"
	var out bytes.Buffer
	if err := run(o, &out); err != nil {
		t.Fatal(err)
	}
	var got struct {
		Template string   `json:"template"`
		Settings Settings `json:"settings"`
		Results  []Result `json:"results"`
	}
	if err := json.Unmarshal(out.Bytes(), &got); err != nil {
		t.Fatalf("stdout is not the JSON alone: %v\n%s", err, out.String())
	}
	tpl, err := ReadTemplate(snapshot)
	if err != nil {
		t.Fatal(err)
	}
	want := Settings{Min: tpl.MinSize, Max: tpl.MaxSize, Target: tpl.Target, Period: 5, PublishDelay: 5,
		Warmup: tpl.Warmup.Seconds() / 12, HookTimeout: tpl.HookTimeout.Seconds() / 12, Visibility: tpl.Visibility.Seconds(),
		InService: [2]float64{2.5, 50.0 / 12}, Boot: [2]float64{12.5, 17.5}}
	if got.Template != snapshot || got.Settings != want || len(got.Results) != 1 || got.Results[0].Uploaded != 30 {
		t.Fatalf("got %s %+v (%d results), want %+v", got.Template, got.Settings, len(got.Results), want)
	}
}
