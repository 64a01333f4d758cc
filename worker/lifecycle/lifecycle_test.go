package lifecycle_test

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/anb/risingstars/app/nodespec"
	"github.com/anb/risingstars/worker/lifecycle"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/feature/ec2/imds"
	"github.com/aws/aws-sdk-go-v2/service/autoscaling"
)

// instance serves IMDSv2 (token first, then metadata) for one instance
// whose target lifecycle state turns Terminated after a few reads.
type instance struct {
	reads       atomic.Int32
	leavesAfter int32
}

func (i *instance) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method == http.MethodPut && r.URL.Path == "/latest/api/token" {
		w.Header().Set("X-Aws-Ec2-Metadata-Token-Ttl-Seconds", "21600")
		io.WriteString(w, "token")
		return
	}
	if r.Header.Get("X-Aws-Ec2-Metadata-Token") != "token" {
		http.Error(w, "IMDSv2 token required", http.StatusUnauthorized)
		return
	}
	switch r.URL.Path {
	case "/latest/meta-data/autoscaling/target-lifecycle-state":
		if i.reads.Add(1) > i.leavesAfter {
			io.WriteString(w, "Terminated")
		} else {
			io.WriteString(w, "InService")
		}
	case "/latest/meta-data/instance-id":
		io.WriteString(w, "i-0123456789abcdef0")
	case "/latest/meta-data/tags/instance/aws:autoscaling:groupName":
		io.WriteString(w, "anb-workers")
	default:
		http.NotFound(w, r)
	}
}

// group records the CompleteLifecycleAction calls of the Auto Scaling
// query API.
type group struct {
	mu    sync.Mutex
	calls []url.Values
	at    []time.Time
}

func (g *group) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	r.ParseForm()
	g.mu.Lock()
	g.calls = append(g.calls, r.PostForm)
	g.at = append(g.at, time.Now())
	g.mu.Unlock()
	w.Header().Set("Content-Type", "text/xml")
	io.WriteString(w, `<CompleteLifecycleActionResponse xmlns="http://autoscaling.amazonaws.com/doc/2011-01-01/"><CompleteLifecycleActionResult/><ResponseMetadata><RequestId>r</RequestId></ResponseMetadata></CompleteLifecycleActionResponse>`)
}

func watcher(t *testing.T, inst *instance, g *group) *lifecycle.Watcher {
	t.Helper()
	meta := httptest.NewServer(inst)
	t.Cleanup(meta.Close)
	asg := httptest.NewServer(g)
	t.Cleanup(asg.Close)
	return &lifecycle.Watcher{
		Metadata: imds.New(imds.Options{Endpoint: meta.URL}),
		Hooks: autoscaling.New(autoscaling.Options{Region: "us-east-1", BaseEndpoint: aws.String(asg.URL),
			Credentials: credentials.NewStaticCredentialsProvider("AKID", "SECRET", "")}),
		Hook:  nodespec.LifecycleHookName,
		Every: 5 * time.Millisecond,
		Log:   slog.New(slog.NewTextHandler(io.Discard, nil)),
	}
}

func TestTerminatingInstanceDrainsThenCompletesTheHook(t *testing.T) {
	inst, g := &instance{leavesAfter: 3}, &group{}
	w := watcher(t, inst, g)
	var drainedAt time.Time
	err := w.Run(context.Background(), func() {
		time.Sleep(20 * time.Millisecond) // the job in hand finishing
		drainedAt = time.Now()
	})
	if err != nil {
		t.Fatal(err)
	}
	if drainedAt.IsZero() {
		t.Fatal("the worker was not drained")
	}
	if len(g.calls) != 1 {
		t.Fatalf("CompleteLifecycleAction called %d times, want 1", len(g.calls))
	}
	c := g.calls[0]
	want := map[string]string{"Action": "CompleteLifecycleAction", "AutoScalingGroupName": "anb-workers",
		"LifecycleHookName": nodespec.LifecycleHookName, "InstanceId": "i-0123456789abcdef0", "LifecycleActionResult": "CONTINUE"}
	for k, v := range want {
		if c.Get(k) != v {
			t.Errorf("%s = %q, want %q", k, c.Get(k), v)
		}
	}
	if g.at[0].Before(drainedAt) {
		t.Error("the hook was completed before the worker finished draining")
	}
}

func TestAnInstanceInServiceIsLeftAlone(t *testing.T) {
	inst, g := &instance{leavesAfter: 1 << 30}, &group{}
	w := watcher(t, inst, g)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	drained := false
	go func() { done <- w.Run(ctx, func() { drained = true }) }()
	for inst.reads.Load() < 5 {
		time.Sleep(time.Millisecond)
	}
	cancel()
	if err := <-done; err != context.Canceled {
		t.Fatalf("Run = %v, want context.Canceled", err)
	}
	if drained || len(g.calls) != 0 {
		t.Fatalf("in-service instance drained (%v) or hook completed (%d calls)", drained, len(g.calls))
	}
}
