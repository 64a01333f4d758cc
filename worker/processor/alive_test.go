package processor_test

import (
	"context"
	"testing"
	"time"

	"github.com/anb/risingstars/app/queue"
	"github.com/anb/risingstars/worker/processor"
)

// wedged is a queue whose receive never returns, as a poll on a connection
// that hangs does.
type wedged struct{}

func (wedged) Receive(ctx context.Context) (queue.Delivery, error) {
	<-ctx.Done()
	return nil, ctx.Err()
}

// idle is a queue that has no task: each poll ends empty.
type idle struct{}

func (idle) Receive(ctx context.Context) (queue.Delivery, error) {
	select {
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-time.After(10 * time.Millisecond):
		return nil, nil
	}
}

// stillAlive checks Alive every few milliseconds for d and reports the
// first time it said false.
func stillAlive(p *processor.Processor, d time.Duration) (bool, time.Duration) {
	start := time.Now()
	for time.Since(start) < d {
		if !p.Alive(context.Background()) {
			return false, time.Since(start)
		}
		time.Sleep(5 * time.Millisecond)
	}
	return true, d
}

// Alive is what the worker's systemd watchdog pings on: it must turn false
// when a receiving loop stops coming round, and stay true while the worker
// is idle, running a long job, or paused by an outage.
func TestAliveTellsAWedgedWorkerFromABusyOrIdleOne(t *testing.T) {
	run := func(t *testing.T, p *processor.Processor, c queue.Consumer) func() {
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() { p.Run(ctx, c, 1); close(done) }()
		return func() { cancel(); <-done }
	}
	const stall = 150 * time.Millisecond

	t.Run("wedged receive", func(t *testing.T) {
		f := newFixture(t)
		f.proc.Stall = stall
		defer run(t, f.proc, wedged{})()
		if ok, after := stillAlive(f.proc, 2*time.Second); ok || after < stall {
			t.Fatalf("a receive that never returns: alive %v (turned false after %s, stall %s)", ok, after, stall)
		}
	})
	t.Run("idle", func(t *testing.T) {
		f := newFixture(t)
		f.proc.Stall = stall
		defer run(t, f.proc, idle{})()
		if ok, after := stillAlive(f.proc, 5*stall); !ok {
			t.Fatalf("an idle worker polling an empty queue turned not alive after %s", after)
		}
	})
	t.Run("long job", func(t *testing.T) {
		f := newFixture(t)
		f.proc.Stall = stall // the job renews its lease every 10 ms
		f.upload(t)
		defer run(t, f.proc, f.q)()
		<-f.media.started
		ok, after := stillAlive(f.proc, 5*stall)
		close(f.media.release)
		if !ok {
			t.Fatalf("a worker running a long job turned not alive after %s", after)
		}
	})
	t.Run("paused by an outage", func(t *testing.T) {
		f := newFixture(t)
		f.proc.Stall = stall
		f.proc.Videos = unreachable{}
		f.proc.Database = func(context.Context) error { return context.DeadlineExceeded }
		f.proc.Pause = processor.Wait{First: 10 * time.Millisecond, Max: 20 * time.Millisecond}
		f.upload(t)
		consumer := &countingConsumer{Consumer: f.q}
		defer run(t, f.proc, consumer)()
		for deadline := time.Now().Add(5 * time.Second); consumer.between(time.Time{}, time.Now()) == 0; time.Sleep(time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatal("no task received")
			}
		}
		if ok, after := stillAlive(f.proc, 5*stall); !ok {
			t.Fatalf("a worker paused by an outage turned not alive after %s", after)
		}
	})
}

func TestStallAfterCoversTheLongestGapOnAWS(t *testing.T) {
	if got := processor.StallAfter(2*time.Minute, processor.DefaultPause); got != 80*time.Second {
		t.Fatalf("stall on AWS = %s, want 80s (2 x the 40 s lease renewal)", got)
	}
}
