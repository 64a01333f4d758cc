package main

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/aws/aws-cdk-go/awscdk/v2/assertions"
	"github.com/aws/jsii-runtime-go"

	"github.com/anb/risingstars/app/nodespec"
	anb "github.com/anb/risingstars/constructs"
)

// Tests of how the deployment behaves in operation: scale-in, deploys of
// any accepted size, the backlog metric, instance choice.

// GIVEN the worker group WHEN it scales in THEN the terminating worker gets
// the chance to finish its job: a termination lifecycle hook under the name
// the worker completes, the permission to complete it on this group only,
// and its group's name in its instance metadata.
func TestWorkerScaleInWaitsForTheDrainHook(t *testing.T) {
	for _, stack := range allStacks {
		tpl := stackTemplate(t, stack)
		groupID, _ := onlyResource(t, stack, "AWS::AutoScaling::AutoScalingGroup", "^WorkerTierGroup")
		check(t, stack+": termination hook on the worker group", func() {
			tpl.ResourceCountIs(jsii.String("AWS::AutoScaling::LifecycleHook"), jsii.Number(1))
			tpl.HasResourceProperties(jsii.String("AWS::AutoScaling::LifecycleHook"), object{
				"AutoScalingGroupName": object{"Ref": groupID},
				"LifecycleHookName":    nodespec.LifecycleHookName,
				"LifecycleTransition":  "autoscaling:EC2_INSTANCE_TERMINATING",
				"HeartbeatTimeout":     nodespec.LifecycleHookTimeout.Seconds(),
				"DefaultResult":        "CONTINUE",
			})
		})
		if stack == labStack {
			continue // no IAM in a Learner Lab: its LabRole allows lifecycle actions
		}
		check(t, stack+": the worker may complete the hook of its own group only", func() {
			tpl.HasResourceProperties(jsii.String("AWS::IAM::Policy"), object{
				"Roles": array(object{"Ref": assertions.Match_StringLikeRegexp(jsii.String("^WorkerTierInstanceRole"))}),
				"PolicyDocument": like(object{"Statement": arrayWith(like(object{
					"Action": array("autoscaling:CompleteLifecycleAction", "autoscaling:RecordLifecycleActionHeartbeat"),
					"Condition": object{"StringEquals": object{
						"autoscaling:ResourceTag/aws:cloudformation:stack-id":   object{"Ref": "AWS::StackId"},
						"autoscaling:ResourceTag/aws:cloudformation:logical-id": groupID,
					}},
				}))}),
			})
		})
		check(t, stack+": the web role cannot touch lifecycle actions", func() {
			web := flatten(props(mustResourceOf(t, stack, "AWS::IAM::Policy", "^WebTierInstanceRoleDefaultPolicy"), "PolicyDocument"))
			if strings.Contains(web, "autoscaling:") {
				t.Errorf("the web role has Auto Scaling permissions: %s", web)
			}
		})
	}
	if nodespec.LifecycleHookTimeout <= nodespec.ShutdownGrace {
		t.Errorf("the hook (%s) must outlast the worker's grace (%s)", nodespec.LifecycleHookTimeout, nodespec.ShutdownGrace)
	}
}

func mustResourceOf(t *testing.T, stack, typ, idPattern string) resource {
	t.Helper()
	_, r := onlyResource(t, stack, typ, idPattern)
	return r
}

// GIVEN every configuration, min == max included WHEN a deploy replaces the
// instances THEN CloudFormation accepts the rolling update (fewer than max
// kept in service) and no scaling policy targets a group that cannot scale.
func TestEveryAcceptedSizeDeploys(t *testing.T) {
	for _, stack := range allStacks {
		policiesOn := map[string]int{}
		for _, p := range resourcesOf(t, stack, "AWS::AutoScaling::ScalingPolicy") {
			policiesOn[flatten(props(p, "AutoScalingGroupName"))]++
		}
		for id, g := range resourcesOf(t, stack, "AWS::AutoScaling::AutoScalingGroup") {
			minSize, maxSize := flatten(props(g, "MinSize")), flatten(props(g, "MaxSize"))
			rolling, _ := g["UpdatePolicy"].(map[string]any)["AutoScalingRollingUpdate"].(map[string]any)
			inService := rolling["MinInstancesInService"].(float64)
			if max := atof(t, maxSize); inService >= max {
				t.Errorf("%s %s: MinInstancesInService %g is not below MaxSize %s", stack, id, inService, maxSize)
			}
			if min := atof(t, minSize); inService < min-1 || inService > min {
				t.Errorf("%s %s: MinInstancesInService %g, want the min %s (or one less when min == max)", stack, id, inService, minSize)
			}
			if fixed := minSize == maxSize; fixed != (policiesOn["<Ref "+id+">"] == 0) {
				t.Errorf("%s %s: min %s max %s with %d scaling policies; want policies exactly when it can scale",
					stack, id, minSize, maxSize, policiesOn["<Ref "+id+">"])
			}
		}
	}
	check(t, "the edge configuration is fixed-size", func() {
		tpl := stackTemplate(t, edgeStack)
		tpl.HasResourceProperties(jsii.String("AWS::AutoScaling::AutoScalingGroup"), object{"MinSize": "2", "MaxSize": "2"})
		tpl.HasResourceProperties(jsii.String("AWS::AutoScaling::AutoScalingGroup"), object{"MinSize": "1", "MaxSize": "1"})
	})
}

func atof(t *testing.T, s string) float64 {
	t.Helper()
	var f float64
	for _, r := range s {
		if r < '0' || r > '9' {
			t.Fatalf("not a whole number: %q", s)
		}
		f = f*10 + float64(r-'0')
	}
	return f
}

// guardedBacklog is backlog per instance that still yields a value when no
// instance is in service (a division by zero would drop the point).
var guardedBacklog = regexp.MustCompile(`^IF\(m2 > 0, m1 / m2, m1\)$`)

// GIVEN the worker scaling policy and the dashboard WHEN no worker is in
// service THEN the backlog still has a value (the whole queue), so the group
// scales out instead of waiting forever for a data point.
func TestBacklogPerInstanceIsGuardedAgainstZeroInstances(t *testing.T) {
	_, policy := onlyResource(t, defaultStack, "AWS::AutoScaling::ScalingPolicy", "^WorkerTierBacklogPerInstance")
	var returned []string
	for _, q := range props(policy, "TargetTrackingConfiguration", "CustomizedMetricSpecification", "Metrics").([]any) {
		if q := q.(map[string]any); q["ReturnData"] == true {
			returned = append(returned, flatten(q["Expression"]))
		}
	}
	if len(returned) != 1 || !guardedBacklog.MatchString(returned[0]) {
		t.Errorf("the scaling policy tracks %q, want a zero-guarded backlog per instance", returned)
	}
	_, dashboard := onlyResource(t, defaultStack, "AWS::CloudWatch::Dashboard", ".")
	exprs := regexp.MustCompile(`"expression":"([^"]*m1 / m2[^"]*)"`).FindAllStringSubmatch(flatten(props(dashboard, "DashboardBody")), -1)
	if len(exprs) != 1 || !guardedBacklog.MatchString(exprs[0][1]) {
		t.Errorf("the dashboard graphs %q, want the same zero-guarded backlog", exprs)
	}
}

// GIVEN the default configuration THEN each tier has its own instance type:
// burstable for the mostly idle API, compute-optimized for ffmpeg, which
// keeps both vCPUs busy (no CPU credits to pay for). GIVEN a Graviton worker
// type THEN the workers run the arm64 image, agent and binary.
func TestInstanceTypesPerTierAndGravitonWorkers(t *testing.T) {
	instanceType := func(stack, tier string) string {
		_, lt := onlyResource(t, stack, "AWS::EC2::LaunchTemplate", "^"+tier+"LaunchTemplate")
		return flatten(props(lt, "LaunchTemplateData", "InstanceType"))
	}
	if got := instanceType(defaultStack, "WebTier"); got != anb.DefaultWebInstanceType {
		t.Errorf("default web instance type %s, want %s", got, anb.DefaultWebInstanceType)
	}
	if got := instanceType(defaultStack, "WorkerTier"); got != "t3.small" {
		t.Errorf("default worker instance type %s, want t3.small (2 vCPU, 2 GiB)", got)
	}
	// A burstable type runs with unlimited CPU credits (a pegged ffmpeg is
	// never throttled to its baseline); other types have no credits to set.
	for _, c := range []struct{ stack, tier, credits string }{
		{defaultStack, "WebTier", `<{"CpuCredits":"unlimited"}>`},
		{defaultStack, "WorkerTier", `<{"CpuCredits":"unlimited"}>`},
		{edgeStack, "WorkerTier", "null"}, // c7g.large
	} {
		_, lt := onlyResource(t, c.stack, "AWS::EC2::LaunchTemplate", "^"+c.tier+"LaunchTemplate")
		if got := flatten(props(lt, "LaunchTemplateData", "CreditSpecification")); got != c.credits {
			t.Errorf("%s %s CPU credits %s, want %s", c.stack, c.tier, got, c.credits)
		}
	}

	image := func(stack, tier string) string {
		_, lt := onlyResource(t, stack, "AWS::EC2::LaunchTemplate", "^"+tier+"LaunchTemplate")
		param := flatten(props(lt, "LaunchTemplateData", "ImageId"))
		param = strings.TrimSuffix(strings.TrimPrefix(param, "<Ref "), ">")
		p, _ := synthesized(t).templates[stack]["Parameters"].(map[string]any)[param].(map[string]any)
		return flatten(p["Default"])
	}
	for _, c := range []struct {
		stack, tier, instanceType string
		arch                      anb.Arch
	}{
		{defaultStack, "WebTier", anb.DefaultWebInstanceType, anb.AMD64},
		{defaultStack, "WorkerTier", anb.DefaultWorkerInstanceType, anb.AMD64},
		{edgeStack, "WebTier", anb.DefaultWebInstanceType, anb.AMD64},
		{edgeStack, "WorkerTier", edgeContext["workerInstanceType"], anb.ARM64},
	} {
		if got := instanceType(c.stack, c.tier); got != c.instanceType {
			t.Errorf("%s %s instance type %s, want %s", c.stack, c.tier, got, c.instanceType)
		}
		if got := image(c.stack, c.tier); got != anb.UbuntuAmiParameter(c.arch) {
			t.Errorf("%s %s image %s, want %s", c.stack, c.tier, got, anb.UbuntuAmiParameter(c.arch))
		}
		if ud := userData(t, c.stack, c.tier); !strings.Contains(ud, "/ubuntu/"+string(c.arch)+"/"+anb.CloudWatchAgentVersion+"/") {
			t.Errorf("%s %s does not install the %s CloudWatch agent", c.stack, c.tier, c.arch)
		}
	}
	// The edge stack's worker asset is the arm64 build, its web asset the amd64 one.
	assets, err := os.ReadFile(filepath.Join(synthesized(t).outdir, edgeStack+".assets.json"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"ANB worker binary (linux/arm64)", "ANB app binary (linux/amd64)"} {
		if !strings.Contains(string(assets), want) {
			t.Errorf("%s assets lack %q", edgeStack, want)
		}
	}
}
