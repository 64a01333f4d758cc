package lifecycle_test

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/anb/risingstars/app/nodespec"
	"github.com/anb/risingstars/worker/lifecycle"
	"github.com/anb/risingstars/worker/lifecycle/lifecycletest"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/feature/ec2/imds"
	"github.com/aws/aws-sdk-go-v2/service/autoscaling"
)

func watcher(inst *lifecycletest.Instance, g *lifecycletest.Group) *lifecycle.Watcher {
	return &lifecycle.Watcher{
		Metadata: imds.New(imds.Options{Endpoint: inst.URL}),
		Hooks: autoscaling.New(autoscaling.Options{Region: "us-east-1", BaseEndpoint: aws.String(g.URL),
			Credentials: credentials.NewStaticCredentialsProvider("AKID", "SECRET", "")}),
		Hook:  nodespec.LifecycleHookName,
		Every: 5 * time.Millisecond,
		Log:   slog.New(slog.NewTextHandler(io.Discard, nil)),
	}
}

func TestTerminatingInstanceDrainsThenCompletesTheHook(t *testing.T) {
	inst, g := lifecycletest.NewInstance(t), lifecycletest.NewGroup(t)
	w := watcher(inst, g)
	done := make(chan error, 1)
	drained := make(chan struct{})
	go func() {
		done <- w.Run(context.Background(), func() {
			if len(g.Calls()) != 0 {
				t.Error("the hook was completed before the worker drained")
			}
			close(drained)
		})
	}()
	for inst.Reads() < 3 {
		time.Sleep(time.Millisecond)
	}
	inst.SetState("Terminated")
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	<-drained
	calls := g.Calls()
	if len(calls) != 1 {
		t.Fatalf("CompleteLifecycleAction called %d times, want 1", len(calls))
	}
	want := map[string]string{"Action": "CompleteLifecycleAction", "AutoScalingGroupName": lifecycletest.GroupName,
		"LifecycleHookName": nodespec.LifecycleHookName, "InstanceId": lifecycletest.InstanceID, "LifecycleActionResult": "CONTINUE"}
	for k, v := range want {
		if calls[0].Get(k) != v {
			t.Errorf("%s = %q, want %q", k, calls[0].Get(k), v)
		}
	}
}

func TestAnInstanceInServiceIsLeftAlone(t *testing.T) {
	inst, g := lifecycletest.NewInstance(t), lifecycletest.NewGroup(t)
	w := watcher(inst, g)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	drained := false
	go func() { done <- w.Run(ctx, func() { drained = true }) }()
	for inst.Reads() < 5 {
		time.Sleep(time.Millisecond)
	}
	cancel()
	if err := <-done; err != context.Canceled {
		t.Fatalf("Run = %v, want context.Canceled", err)
	}
	if drained || len(g.Calls()) != 0 {
		t.Fatalf("in-service instance drained (%v) or hook completed (%d calls)", drained, len(g.Calls()))
	}
}
