// Package lifecycletest stands in for what a worker on an Auto Scaling group
// talks to about its lifecycle: the instance metadata service (IMDSv2) and
// the Auto Scaling query API's CompleteLifecycleAction.
package lifecycletest

import (
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sync"
	"testing"
)

// Instance ID and group name the stand-ins report.
const (
	InstanceID = "i-0123456789abcdef0"
	GroupName  = "anb-workers"
)

// Instance serves IMDSv2 for one instance of GroupName.
type Instance struct {
	URL string

	mu    sync.Mutex
	state string
	reads int
}

// NewInstance starts an instance in service.
func NewInstance(t testing.TB) *Instance {
	i := &Instance{state: "InService"}
	srv := httptest.NewServer(http.HandlerFunc(i.serve))
	t.Cleanup(srv.Close)
	i.URL = srv.URL
	return i
}

// SetState sets the target lifecycle state, e.g. "Terminated" for scale-in.
func (i *Instance) SetState(s string) {
	i.mu.Lock()
	i.state = s
	i.mu.Unlock()
}

// Reads counts the reads of the lifecycle state.
func (i *Instance) Reads() int {
	i.mu.Lock()
	defer i.mu.Unlock()
	return i.reads
}

func (i *Instance) serve(w http.ResponseWriter, r *http.Request) {
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
		i.mu.Lock()
		i.reads++
		state := i.state
		i.mu.Unlock()
		io.WriteString(w, state)
	case "/latest/meta-data/instance-id":
		io.WriteString(w, InstanceID)
	case "/latest/meta-data/tags/instance/aws:autoscaling:groupName":
		io.WriteString(w, GroupName)
	default:
		http.NotFound(w, r)
	}
}

// Group records the CompleteLifecycleAction calls it receives.
type Group struct {
	URL string

	mu    sync.Mutex
	calls []url.Values
	done  chan struct{}
}

// NewGroup starts the Auto Scaling API stand-in.
func NewGroup(t testing.TB) *Group {
	g := &Group{done: make(chan struct{}, 1)}
	srv := httptest.NewServer(http.HandlerFunc(g.serve))
	t.Cleanup(srv.Close)
	g.URL = srv.URL
	return g
}

// Calls returns the form values of each call so far.
func (g *Group) Calls() []url.Values {
	g.mu.Lock()
	defer g.mu.Unlock()
	return append([]url.Values(nil), g.calls...)
}

// Completed is signalled at the first call.
func (g *Group) Completed() <-chan struct{} { return g.done }

func (g *Group) serve(w http.ResponseWriter, r *http.Request) {
	r.ParseForm()
	g.mu.Lock()
	g.calls = append(g.calls, r.PostForm)
	g.mu.Unlock()
	select {
	case g.done <- struct{}{}:
	default:
	}
	w.Header().Set("Content-Type", "text/xml")
	io.WriteString(w, `<CompleteLifecycleActionResponse xmlns="http://autoscaling.amazonaws.com/doc/2011-01-01/"><CompleteLifecycleActionResult/><ResponseMetadata><RequestId>r</RequestId></ResponseMetadata></CompleteLifecycleActionResponse>`)
}
