package queue

import (
	"context"
	"sync"
	"testing"
	"time"
)

func TestLocalQueueDeliversEachTaskOnceAcrossReceivers(t *testing.T) {
	q := NewLocal()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	const n = 200
	for i := range n {
		q.Publish(ctx, Task{VideoID: string(rune('a' + i%26)), TaskID: time.Duration(i).String()})
	}
	seen := make(chan string, n)
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for {
				d, err := q.Receive(ctx)
				if err != nil {
					return
				}
				seen <- d.Task().TaskID
				if len(seen) == n {
					cancel()
				}
			}
		})
	}
	wg.Wait()
	close(seen)
	unique := map[string]bool{}
	for id := range seen {
		if unique[id] {
			t.Fatalf("task %s delivered twice", id)
		}
		unique[id] = true
	}
	if len(unique) != n {
		t.Fatalf("delivered %d of %d tasks", len(unique), n)
	}
}

func TestLocalRetryCountsAttemptsAndDelays(t *testing.T) {
	q := NewLocal()
	ctx := context.Background()
	q.Publish(ctx, Task{TaskID: "t"})
	d, _ := q.Receive(ctx)
	if d.Attempt() != 1 {
		t.Fatalf("first attempt = %d", d.Attempt())
	}
	d.Retry(ctx, 30*time.Millisecond)
	if q.Len() != 0 {
		t.Fatal("a delayed retry is visible at once")
	}
	again, _ := q.Receive(ctx)
	if again.Attempt() != 2 || again.Task().TaskID != "t" {
		t.Fatalf("redelivery = attempt %d of %q", again.Attempt(), again.Task().TaskID)
	}
}
