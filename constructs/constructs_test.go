package constructs

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/assertions"
	"github.com/aws/jsii-runtime-go"
)

func TestMain(m *testing.M) {
	code := m.Run()
	jsii.Close()
	os.Exit(code)
}

func TestBacklogTargetIsAcceptableLatencyOverSecondsPerVideo(t *testing.T) {
	for _, c := range []struct {
		latency        time.Duration
		perVideo, want float64
	}{
		{DefaultAcceptableLatency, DefaultSecondsPerVideo, 15}, // the documented default
		{time.Minute, 12, 5},
		{time.Minute, 25, 2}, // rounded down: never promise more than the latency
		{10 * time.Second, 12, 1},
	} {
		if got := BacklogTarget(c.latency, c.perVideo); got != c.want {
			t.Errorf("BacklogTarget(%v, %g) = %g, want %g", c.latency, c.perVideo, got, c.want)
		}
	}
}

// GIVEN a group's min and max WHEN a deploy replaces its instances THEN the
// rolling update keeps the minimum in service but always stays below max, as
// CloudFormation requires, so min == max deploys.
func TestRollingUpdateKeepsFewerThanMaxInService(t *testing.T) {
	for _, c := range []struct{ min, max, want float64 }{
		{2, 3, 2}, {1, 3, 1}, {3, 3, 2}, {1, 1, 0}, {5, 5, 4},
	} {
		if got := RollingUpdateMinInService(c.min, c.max); got != c.want {
			t.Errorf("RollingUpdateMinInService(%g, %g) = %g, want %g", c.min, c.max, got, c.want)
		}
	}
}

// GIVEN an instance type WHEN its architecture is read THEN Graviton types
// are arm64 and get the arm64 Ubuntu image, every other type amd64.
func TestArchOfInstanceTypePicksBinaryAndImage(t *testing.T) {
	for typ, want := range map[string]Arch{
		"t3.small": AMD64, "c7i.large": AMD64, "c7i-flex.large": AMD64, "c6i.large": AMD64, "g4dn.xlarge": AMD64,
		"c7g.large": ARM64, "t4g.small": ARM64, "c7gn.large": ARM64, "m7gd.large": ARM64, "c8g.large": ARM64,
	} {
		if got := ArchOf(typ); got != want {
			t.Errorf("ArchOf(%q) = %s, want %s", typ, got, want)
		}
		if p := UbuntuAmiParameter(want); !strings.Contains(p, "/24.04/stable/current/"+string(want)+"/") {
			t.Errorf("UbuntuAmiParameter(%s) = %s", want, p)
		}
	}
}

func TestFeatureFlagsTurnOnWhatThisCodeReliesOn(t *testing.T) {
	for _, flag := range []string{
		"@aws-cdk/core:validateAgainstDefaultRules",
		"@aws-cdk/aws-autoscaling:generateLaunchTemplateInsteadOfLaunchConfig",
		"@aws-cdk/aws-s3:serverAccessLogsUseBucketPolicy",
		"@aws-cdk/aws-ec2:restrictDefaultSecurityGroup",
	} {
		if FeatureFlags()[flag] != true {
			t.Errorf("feature flag %s is not true", flag)
		}
	}
}

func TestNewReleaseRequiresBuiltBinaries(t *testing.T) {
	defer func() {
		if r := recover(); r == nil || !strings.Contains(r.(string), "BuildBinaries") {
			t.Errorf("want a panic pointing at BuildBinaries, got %v", r)
		}
	}()
	app := NewApp(nil)
	NewRelease(awscdk.NewStack(app, jsii.String("S"), nil), "Release", &ReleaseProps{Dir: t.TempDir()})
}

// GIVEN a worker tier on its own, with a 60 s latency goal and 10 s per video
// WHEN it is synthesized THEN it tracks a backlog of 6 per instance, within
// its own min/max, and its dependencies need nothing from the other tiers.
func TestWorkerTierTracksTheBacklogTargetItsPropsGive(t *testing.T) {
	dir := t.TempDir()
	for _, name := range []string{AppBinary, WorkerBinary} {
		path := BinaryPath(dir, AMD64, name)
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(name), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	app := NewApp(&awscdk.AppProps{Outdir: jsii.String(filepath.Join(t.TempDir(), "cdk.out"))})
	stack := awscdk.NewStack(app, jsii.String("WorkerOnly"), &awscdk.StackProps{Env: &awscdk.Environment{Region: jsii.String("us-east-1")}})
	storage := NewStorage(stack, "Storage", nil)
	network := NewNetwork(stack, "Network", &NetworkProps{NatGateways: 1, FlowLogsBucket: storage.LogsBucket()})
	queue := NewTaskQueue(stack, "Queue", nil)
	database := NewDatabase(stack, "Database", &DatabaseProps{Vpc: network.Vpc(), Subnets: network.DatabaseSubnets()})
	worker := NewWorkerTier(stack, "Workers", &WorkerTierProps{
		Network:           network,
		Bucket:            storage.Bucket(),
		Queue:             queue.Queue(),
		DeadLetterQueue:   queue.DeadLetterQueue(),
		Database:          database,
		Binary:            NewRelease(stack, "Release", &ReleaseProps{Dir: dir}).Worker(),
		NotificationTopic: NewAlerts(stack, "Alerts", nil).Topic(),
		MinCapacity:       2,
		MaxCapacity:       4,
		SecondsPerVideo:   10,
		AcceptableLatency: time.Minute,
	})
	if worker.BacklogTarget() != 6 {
		t.Errorf("BacklogTarget() = %g, want 6", worker.BacklogTarget())
	}
	// Given neither a latency nor a time per video, the simulator's choice.
	other := NewWorkerTier(stack, "DefaultWorkers", &WorkerTierProps{
		Network: network, Bucket: storage.Bucket(), Queue: queue.Queue(), DeadLetterQueue: queue.DeadLetterQueue(),
		Database: database, Binary: NewRelease(stack, "OtherRelease", &ReleaseProps{Dir: dir}).Worker(),
		NotificationTopic: NewAlerts(stack, "OtherAlerts", nil).Topic(),
	})
	if other.BacklogTarget() != DefaultBacklogTarget {
		t.Errorf("default BacklogTarget() = %g, want DefaultBacklogTarget %d", other.BacklogTarget(), DefaultBacklogTarget)
	}

	var template assertions.Template
	func() {
		defer func() {
			if r := recover(); r != nil {
				t.Fatalf("synthesis failed: %v", r)
			}
		}()
		template = assertions.Template_FromStack(stack, nil)
	}()
	defer func() {
		if r := recover(); r != nil {
			t.Errorf("%v", r)
		}
	}()
	template.HasResourceProperties(jsii.String("AWS::AutoScaling::AutoScalingGroup"), map[string]any{"MinSize": "2", "MaxSize": "4"})
	template.HasResourceProperties(jsii.String("AWS::AutoScaling::ScalingPolicy"), map[string]any{
		"TargetTrackingConfiguration": assertions.Match_ObjectLike(&map[string]any{"TargetValue": 6}),
	})
}
