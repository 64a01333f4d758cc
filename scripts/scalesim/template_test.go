package main

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

const snapshot = "../../cdk/testdata/AnbRisingStars.template.json"

// A template written by hand, with other logical ids, other numbers and
// look-alike resources (a web group with its own CPU policy and hook, a
// second queue): every number must come from the worker tier's resources.
func TestReadsTheWorkerTierFromAnyTemplate(t *testing.T) {
	tpl, err := ReadTemplate("testdata/other.template.json")
	if err != nil {
		t.Fatal(err)
	}
	want := Template{
		Path: "testdata/other.template.json", Group: "Crunchers", Policy: "Backlog", Queue: "Jobs", Hook: "CrunchHook", LaunchTemplate: "CrunchTemplate",
		MinSize: 2, MaxSize: 7, Target: 9, Expression: "IF(inservice > 0, visible / inservice, visible)", QueueMetric: "visible", InServiceMetric: "inservice",
		Warmup: 120 * time.Second, WarmupFrom: "the policy's EstimatedInstanceWarmup", HealthCheckGrace: 90 * time.Second,
		HookTimeout: 200 * time.Second, Visibility: 45 * time.Second, MaxReceiveCount: 4, InstanceType: "t3.small", CPUCredits: "unlimited",
	}
	got := *tpl
	got.expr = nil
	if got != want {
		t.Fatalf("read\n%+v\nwant\n%+v", got, want)
	}
	if v, ok := tpl.Backlog(18, 0); !ok || v != 18 {
		t.Errorf("guarded backlog at 0 in service = %v, %v; want the whole queue, 18", v, ok)
	}
}

// The snapshot the CDK tests keep equal to a real synthesis: read by role,
// so renaming every logical id changes nothing.
func TestReadsTheSnapshotWhateverItsLogicalIDs(t *testing.T) {
	tpl, err := ReadTemplate(snapshot)
	if err != nil {
		t.Fatal(err)
	}
	if tpl.MinSize < 1 || tpl.MaxSize < tpl.MinSize || tpl.Target <= 0 || tpl.Warmup <= 0 || tpl.HookTimeout <= 0 ||
		tpl.Visibility <= 0 || tpl.MaxReceiveCount < 4 || tpl.InstanceType == "" || tpl.HealthCheckGrace <= 0 {
		t.Fatalf("implausible worker tier read from the snapshot: %+v", tpl)
	}
	if v, ok := tpl.Backlog(7, 0); !ok || v != 7 {
		t.Errorf("the snapshot's metric math at 0 in service gives %v, %v: want the guard's whole queue", v, ok)
	}
	if v, ok := tpl.Backlog(30, 2); !ok || v != 15 {
		t.Errorf("the snapshot's metric math for 30 visible, 2 in service = %v, want 15", v)
	}

	raw, err := os.ReadFile(snapshot)
	if err != nil {
		t.Fatal(err)
	}
	renamed := string(raw)
	for _, id := range []string{tpl.Group, tpl.Policy, tpl.Queue, tpl.Hook, tpl.LaunchTemplate} {
		renamed = strings.ReplaceAll(renamed, `"`+id+`"`, `"Renamed`+id[len(id)/2:]+`"`)
	}
	path := filepath.Join(t.TempDir(), "renamed.json")
	if err := os.WriteFile(path, []byte(renamed), 0o644); err != nil {
		t.Fatal(err)
	}
	again, err := ReadTemplate(path)
	if err != nil {
		t.Fatal(err)
	}
	if again.Group == tpl.Group || again.MinSize != tpl.MinSize || again.MaxSize != tpl.MaxSize || again.Target != tpl.Target ||
		again.Warmup != tpl.Warmup || again.HookTimeout != tpl.HookTimeout || again.Visibility != tpl.Visibility ||
		again.MaxReceiveCount != tpl.MaxReceiveCount || again.InstanceType != tpl.InstanceType {
		t.Fatalf("renamed ids read differently:\n%+v\n%+v", again, tpl)
	}
}

func TestRefusesATemplateWithoutABacklogPolicy(t *testing.T) {
	raw, err := os.ReadFile("testdata/other.template.json")
	if err != nil {
		t.Fatal(err)
	}
	for name, edit := range map[string]func(string) string{
		"no SQS metric": func(s string) string {
			return strings.Replace(s, "ApproximateNumberOfMessagesVisible", "NumberOfMessagesSent", 1)
		},
		"no in-service metric": func(s string) string { return strings.Replace(s, "GroupInServiceInstances", "GroupDesiredCapacity", 1) },
		"group size not literal": func(s string) string {
			return regexp.MustCompile(`"MinSize": "2", "MaxSize": "7"`).ReplaceAllString(s, `"MinSize": {"Ref": "P"}, "MaxSize": "7"`)
		},
	} {
		path := filepath.Join(t.TempDir(), "t.json")
		if err := os.WriteFile(path, []byte(edit(string(raw))), 0o644); err != nil {
			t.Fatal(err)
		}
		if _, err := ReadTemplate(path); err == nil {
			t.Errorf("%s: read without error", name)
		}
	}
}
