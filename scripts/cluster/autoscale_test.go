//go:build linux

package main

import (
	"context"
	"math"
	"math/rand/v2"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/anb/risingstars/app/nodespec"
	"github.com/anb/risingstars/worker/lifecycle/lifecycletest"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"
)

// The autoscaler stand-in plays EC2 Auto Scaling and the two CloudWatch
// alarms of a target-tracking policy on backlog per instance, on a
// compressed clock, over real worker processes of a Cluster. It is written
// apart from scripts/scalesim on purpose: the cluster test checks that the
// simulator predicts what real processes under these rules do, so the
// rules are implemented twice. Each instance gets its own instance
// metadata service and Auto Scaling API (worker/lifecycle/lifecycletest),
// and scale-in goes through the lifecycle hook as on AWS: the instance's
// target lifecycle state turns Terminated, its worker finishes the job in
// hand and completes the hook, and only then is the process stopped.

// asgSettings are the group's numbers, in the compressed clock.
type asgSettings struct {
	Min, Max                                  int
	Target                                    float64
	Period, PublishDelay, Warmup, HookTimeout time.Duration
	InService, Boot                           [2]time.Duration // uniform ranges from launch
}

// Target tracking's alarms, as AWS creates them: high after 3 datapoints
// above the target, low after 15 below 90 % of it.
const (
	alarmHighPoints = 3
	alarmLowPoints  = 15
	alarmLowRatio   = 0.9
)

type asgInstance struct {
	worker      int // the cluster's worker number
	launched    time.Time
	inServiceAt time.Time
	bootAt      time.Time
	terminating time.Time // zero until chosen for scale-in
	terminated  time.Time
	booting     bool
	drained     bool // the worker completed the lifecycle hook (else it timed out)
	imds        *lifecycletest.Instance
	api         *lifecycletest.Group
	proc        *Proc
}

func (in *asgInstance) gone() bool { return !in.terminated.IsZero() }

// inService is what GroupInServiceInstances counts: launched and started by
// EC2, not terminating.
func (in *asgInstance) inService(now time.Time) bool {
	return !in.gone() && in.terminating.IsZero() && !now.Before(in.inServiceAt)
}

type datapoint struct {
	backlog, inService float64
	usableAt           time.Time
}

// asgEvent is the group at one evaluation, for the comparison.
type asgEvent struct {
	T                           float64 // seconds since start
	Visible, InService, Desired int
	Running                     int // launched and not yet terminated
	Action                      string
}

type autoscaler struct {
	t    testing.TB
	c    *Cluster
	s    asgSettings
	rng  *rand.Rand
	sqs  *sqs.Client
	qurl string

	mu       sync.Mutex
	start    time.Time
	insts    []*asgInstance
	desired  int
	points   []datapoint
	events   []asgEvent
	launches int
	errs     []error
}

func newAutoscaler(t testing.TB, c *Cluster, s asgSettings, seed uint64) *autoscaler {
	return &autoscaler{t: t, c: c, s: s, rng: rand.New(rand.NewPCG(seed, 42)), sqs: c.SQS, qurl: c.QueueURL}
}

// Init starts the group at its minimum, warm and in service.
func (a *autoscaler) Init(ctx context.Context) error {
	long := time.Now().Add(-a.s.Warmup - a.s.Boot[1])
	a.desired = a.s.Min
	for range a.s.Min {
		a.mu.Lock()
		in := a.launch(long)
		in.booting = true
		a.mu.Unlock()
		a.boot(ctx, in)
	}
	_, errs := a.snapshot()
	if len(errs) > 0 {
		return errs[0]
	}
	return nil
}

// Run evaluates the alarms every period from now until ctx ends.
func (a *autoscaler) Run(ctx context.Context) {
	a.mu.Lock()
	a.start = time.Now()
	a.mu.Unlock()
	go a.lifecycles(ctx)
	tick := time.NewTicker(a.s.Period)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
			a.evaluate(ctx)
		}
	}
}

func (a *autoscaler) fail(err error) {
	a.mu.Lock()
	a.errs = append(a.errs, err)
	a.mu.Unlock()
}

// launch adds an instance launched at at; its process starts at its boot.
func (a *autoscaler) launch(at time.Time) *asgInstance {
	span := func(r [2]time.Duration) time.Duration {
		return r[0] + time.Duration(a.rng.Float64()*float64(r[1]-r[0]))
	}
	a.launches++
	in := &asgInstance{worker: a.launches, launched: at, imds: lifecycletest.NewInstance(a.t), api: lifecycletest.NewGroup(a.t)}
	in.inServiceAt = at.Add(span(a.s.InService))
	in.bootAt = at.Add(max(span(a.s.Boot), in.inServiceAt.Sub(at)))
	a.insts = append(a.insts, in)
	return in
}

// boot starts the instance's worker with the instance's own metadata and
// Auto Scaling endpoints, as the launch template's user data does on AWS.
func (a *autoscaler) boot(ctx context.Context, in *asgInstance) {
	p, err := a.c.StartWorker(ctx, in.worker,
		nodespec.Var{Name: nodespec.EnvLifecycleHook, Value: nodespec.LifecycleHookName},
		nodespec.Var{Name: "AWS_EC2_METADATA_DISABLED", Value: "false"},
		nodespec.Var{Name: "AWS_EC2_METADATA_SERVICE_ENDPOINT", Value: in.imds.URL},
		nodespec.Var{Name: "AWS_ENDPOINT_URL_AUTO_SCALING", Value: in.api.URL})
	if err != nil {
		a.fail(err)
		return
	}
	a.mu.Lock()
	in.proc = p
	a.mu.Unlock()
}

// lifecycles moves instances along: boot, and for those terminating, wait
// for the hook (or its timeout), then stop the process.
func (a *autoscaler) lifecycles(ctx context.Context) {
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		now := time.Now()
		a.mu.Lock()
		var toBoot, toStop []*asgInstance
		for _, in := range a.insts {
			switch {
			case in.gone():
			case in.terminating.IsZero():
				if !in.booting && !now.Before(in.bootAt) {
					in.booting = true
					toBoot = append(toBoot, in)
				}
			default:
				hookDone := false
				select {
				case <-in.api.Completed():
					hookDone = true
				default:
				}
				if hookDone || in.proc == nil || now.Sub(in.terminating) >= a.s.HookTimeout {
					in.terminated, in.drained = now, hookDone
					toStop = append(toStop, in)
				}
			}
		}
		a.mu.Unlock()
		for _, in := range toBoot {
			go a.boot(ctx, in)
		}
		for _, in := range toStop {
			if in.proc != nil {
				go in.proc.stop(2 * time.Minute) // the instance shuts down: SIGTERM, then gone
			}
		}
	}
}

// visible is the queue's ApproximateNumberOfMessagesVisible. The SQS
// stand-in also counts in-flight messages in ApproximateNumberOfMessages,
// so they are taken out.
func (a *autoscaler) visible(ctx context.Context) (int, error) {
	out, err := a.sqs.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{QueueUrl: aws.String(a.qurl),
		AttributeNames: []types.QueueAttributeName{types.QueueAttributeNameApproximateNumberOfMessages, types.QueueAttributeNameApproximateNumberOfMessagesNotVisible}})
	if err != nil {
		return 0, err
	}
	all, _ := strconv.Atoi(out.Attributes[string(types.QueueAttributeNameApproximateNumberOfMessages)])
	hidden, _ := strconv.Atoi(out.Attributes[string(types.QueueAttributeNameApproximateNumberOfMessagesNotVisible)])
	return max(0, all-hidden), nil
}

// evaluate publishes this period's datapoint and runs both alarms on the
// datapoints already published.
func (a *autoscaler) evaluate(ctx context.Context) {
	v, err := a.visible(ctx)
	if err != nil {
		if ctx.Err() == nil {
			a.fail(err)
		}
		return
	}
	now := time.Now()
	a.mu.Lock()
	defer a.mu.Unlock()
	m2 := 0
	warming := 0
	for _, in := range a.insts {
		if in.inService(now) {
			m2++
		}
		if !in.gone() && in.terminating.IsZero() && now.Before(in.inServiceAt.Add(a.s.Warmup)) {
			warming++ // pending or warming up
		}
	}
	// IF(m2 > 0, m1 / m2, m1)
	backlog := float64(v)
	if m2 > 0 {
		backlog /= float64(m2)
	}
	a.points = append(a.points, datapoint{backlog: backlog, inService: float64(m2), usableAt: now.Add(a.s.PublishDelay)})
	var usable []datapoint
	for _, p := range a.points {
		if !p.usableAt.After(now) {
			usable = append(usable, p)
		}
	}
	last := func(n int, ok func(float64) bool) bool {
		if len(usable) < n {
			return false
		}
		for _, p := range usable[len(usable)-n:] {
			if !ok(p.backlog) {
				return false
			}
		}
		return true
	}
	wanted := func() int {
		p := usable[len(usable)-1]
		return int(math.Ceil(math.Max(1, p.inService)*p.backlog/a.s.Target - 1e-9))
	}
	action := ""
	switch {
	case last(alarmHighPoints, func(b float64) bool { return b > a.s.Target }):
		if n := min(a.s.Max, wanted()); n > a.desired {
			action = "out " + strconv.Itoa(a.desired) + "→" + strconv.Itoa(n)
			for range n - a.desired {
				a.launch(now)
			}
			a.desired = n
		}
	case last(alarmLowPoints, func(b float64) bool { return b < alarmLowRatio*a.s.Target }):
		if warming > 0 {
			break
		}
		step := max(1, a.desired/10)
		if n := max(a.s.Min, wanted(), a.desired-step); n < a.desired {
			action = "in " + strconv.Itoa(a.desired) + "→" + strconv.Itoa(n)
			for range a.desired - n {
				var cands []*asgInstance
				for _, in := range a.insts {
					if in.inService(now) {
						cands = append(cands, in)
					}
				}
				if len(cands) == 0 {
					break
				}
				in := cands[a.rng.IntN(len(cands))]
				in.terminating = now
				in.imds.SetState("Terminated") // what the worker polls for
			}
			a.desired = n
		}
	}
	running := 0
	for _, in := range a.insts {
		if !in.gone() {
			running++
		}
	}
	a.events = append(a.events, asgEvent{T: now.Sub(a.start).Seconds(), Visible: v, InService: m2, Desired: a.desired, Running: running, Action: action})
}

// settled reports whether the group is back at its minimum with nothing
// launching or draining.
func (a *autoscaler) settled() bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	running := 0
	for _, in := range a.insts {
		if !in.gone() {
			running++
		}
	}
	return a.desired == a.s.Min && running == a.s.Min
}

// instanceSeconds is the time each instance ran, from launch (or the start)
// until it was terminated (or end).
func (a *autoscaler) instanceSeconds(end time.Time) float64 {
	a.mu.Lock()
	defer a.mu.Unlock()
	total := 0.0
	for _, in := range a.insts {
		from := in.launched
		if from.Before(a.start) {
			from = a.start
		}
		to := end
		if in.gone() && in.terminated.Before(end) {
			to = in.terminated
		}
		total += max(0, to.Sub(from).Seconds())
	}
	return total
}

// scaledIn counts the instances terminated by scale-in, and how many of
// them drained through the lifecycle hook.
func (a *autoscaler) scaledIn() (terminated, drained int) {
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, in := range a.insts {
		if in.gone() {
			terminated++
			if in.drained {
				drained++
			}
		}
	}
	return terminated, drained
}

func (a *autoscaler) snapshot() (events []asgEvent, errs []error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]asgEvent(nil), a.events...), append([]error(nil), a.errs...)
}
