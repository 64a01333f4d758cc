package queue

import (
	"context"
	"sync"
	"time"
)

// Local is the in-process queue of local mode. It lives in memory only: on
// start the API enqueues again every video the database still shows as
// pending, so a restart loses nothing.
type Local struct {
	mu     sync.Mutex
	items  []localItem
	signal chan struct{}
	dead   []Task
}

type localItem struct {
	task     Task
	attempts int
}

// NewLocal makes an empty queue.
func NewLocal() *Local { return &Local{signal: make(chan struct{}, 1)} }

func (q *Local) Publish(_ context.Context, t Task) error {
	q.push(localItem{task: t})
	return nil
}

func (q *Local) push(it localItem) {
	q.mu.Lock()
	q.items = append(q.items, it)
	q.mu.Unlock()
	q.notify()
}

func (q *Local) notify() {
	select {
	case q.signal <- struct{}{}:
	default:
	}
}

func (q *Local) Receive(ctx context.Context) (Delivery, error) {
	for {
		q.mu.Lock()
		if len(q.items) > 0 {
			it := q.items[0]
			q.items = q.items[1:]
			more := len(q.items) > 0
			q.mu.Unlock()
			if more {
				q.notify() // wake the next idle receiver
			}
			it.attempts++
			return &localDelivery{q: q, item: it}, nil
		}
		q.mu.Unlock()
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-q.signal:
		}
	}
}

// Len is the number of tasks waiting (not in flight, not delayed).
func (q *Local) Len() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return len(q.items)
}

// Dead lists the tasks that used up their attempts.
func (q *Local) Dead() []Task {
	q.mu.Lock()
	defer q.mu.Unlock()
	return append([]Task(nil), q.dead...)
}

type localDelivery struct {
	q    *Local
	item localItem
}

func (d *localDelivery) Task() Task                                  { return d.item.task }
func (d *localDelivery) Attempt() int                                { return d.item.attempts }
func (d *localDelivery) Ack(context.Context) error                   { return nil }
func (d *localDelivery) Extend(context.Context, time.Duration) error { return nil }

func (d *localDelivery) Retry(_ context.Context, delay time.Duration) error {
	if delay <= 0 {
		d.q.push(d.item)
		return nil
	}
	time.AfterFunc(delay, func() { d.q.push(d.item) })
	return nil
}

func (d *localDelivery) DeadLetter(context.Context) error {
	d.q.mu.Lock()
	d.q.dead = append(d.q.dead, d.item.task)
	d.q.mu.Unlock()
	return nil
}
