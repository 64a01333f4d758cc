// Package queue carries processing tasks from the API to the workers: an
// in-process queue in local mode, SQS on AWS. Delivery is at least once.
package queue

import (
	"context"
	"time"
)

// Task asks a worker to process one video.
type Task struct {
	TaskID  string `json:"task_id"`
	VideoID string `json:"video_id"`
}

// Publisher sends tasks.
type Publisher interface {
	Publish(ctx context.Context, t Task) error
}

// Consumer receives tasks.
type Consumer interface {
	// Receive blocks until a task arrives or ctx ends. It may also return
	// no task and no error when a long poll ends empty, so the caller's
	// loop comes round, and shows it is alive, at least once per poll.
	Receive(ctx context.Context) (Delivery, error)
}

// Delivery is one received task, invisible to other workers until it is
// acknowledged, released or its visibility runs out.
type Delivery interface {
	Task() Task
	// Attempt counts deliveries of this task, starting at 1, for logs: an
	// interrupted job is delivered again, so this is not a failure count.
	Attempt() int
	// Ack removes the task: it is done.
	Ack(ctx context.Context) error
	// Retry makes the task visible again after delay.
	Retry(ctx context.Context, delay time.Duration) error
	// Extend keeps the task invisible for d more while a long job runs.
	Extend(ctx context.Context, d time.Duration) error
	// DeadLetter gives up on the task: it moves to the dead-letter queue.
	DeadLetter(ctx context.Context) error
}

// DeadLetters are the tasks a queue gave up on.
type DeadLetters interface {
	// ReceiveDead blocks until a dead-lettered task is seen or ctx ends. The
	// task stays in the dead-letter queue, hidden for a long while; Retry on
	// the delivery shows it again sooner.
	ReceiveDead(ctx context.Context) (Delivery, error)
}
