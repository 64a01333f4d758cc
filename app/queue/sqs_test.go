package queue_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/anb/risingstars/app/queue"
	"github.com/anb/risingstars/app/queue/sqstest"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"
)

// These tests speak the real SQS JSON protocol to local-aws-sqs (see sqstest).

func newQueues(t *testing.T, name string) (client *sqs.Client, url, dlqURL string) {
	t.Helper()
	client = sqstest.New(t)
	url, dlqURL, err := sqstest.CreateQueues(context.Background(), client, name, 30*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	return client, url, dlqURL
}

// mustReceive waits at most d for a delivery.
func mustReceive(t *testing.T, q queue.Consumer, d time.Duration) queue.Delivery {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	del, err := q.Receive(ctx)
	if errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("no task delivered within %s", d)
	}
	if err != nil {
		t.Fatalf("receive: %v", err)
	}
	return del
}

// assertNothingFor checks that no task is delivered for a while. It lets the
// server end the poll: a long poll abandoned by its client keeps running on
// the server and would take the next task into the void (as a worker that
// stops mid-poll can on SQS).
func assertNothingFor(t *testing.T, client *sqs.Client, url string, seconds int32, why string) {
	t.Helper()
	out, err := client.ReceiveMessage(context.Background(), &sqs.ReceiveMessageInput{QueueUrl: &url, WaitTimeSeconds: seconds})
	if err != nil {
		t.Fatal(err)
	}
	if len(out.Messages) > 0 {
		t.Fatalf("%s: got %v", why, bodies(out.Messages))
	}
}

func TestSQSDeliversPublishedTaskUntilAcked(t *testing.T) {
	client, url, _ := newQueues(t, "acked")
	q := queue.NewSQS(client, url, 2*time.Second)
	ctx := context.Background()
	want := queue.Task{TaskID: "t-1", VideoID: "v-1"}
	if err := q.Publish(ctx, want); err != nil {
		t.Fatal(err)
	}
	d := mustReceive(t, q, 5*time.Second)
	if d.Task() != want || d.Attempt() != 1 {
		t.Fatalf("delivery = %+v attempt %d, want %+v attempt 1", d.Task(), d.Attempt(), want)
	}
	if err := d.Ack(ctx); err != nil {
		t.Fatal(err)
	}
	// Past the 2 s lease an unacknowledged task would be back.
	assertNothingFor(t, client, url, 4, "acknowledged task delivered again")
}

func TestSQSLeaseExpiryRedeliversTheTaskOfADeadWorker(t *testing.T) {
	client, url, _ := newQueues(t, "expiry")
	q := queue.NewSQS(client, url, 2*time.Second) // shorter than the queue's own 30 s: the receive asks for it
	ctx := context.Background()
	if err := q.Publish(ctx, queue.Task{TaskID: "t", VideoID: "v"}); err != nil {
		t.Fatal(err)
	}
	first := mustReceive(t, q, 5*time.Second)
	// The worker dies: no ack, no extension.
	start := time.Now()
	second := mustReceive(t, q, 10*time.Second)
	if second.Task() != first.Task() || second.Attempt() != 2 {
		t.Fatalf("redelivery = %+v attempt %d, want the same task, attempt 2", second.Task(), second.Attempt())
	}
	if waited := time.Since(start); waited < time.Second {
		t.Fatalf("task redelivered after %s, before its 2 s lease ended", waited)
	}
}

func TestSQSExtendKeepsALongJobHidden(t *testing.T) {
	client, url, _ := newQueues(t, "extend")
	q := queue.NewSQS(client, url, 2*time.Second)
	ctx := context.Background()
	if err := q.Publish(ctx, queue.Task{TaskID: "t", VideoID: "v"}); err != nil {
		t.Fatal(err)
	}
	d := mustReceive(t, q, 5*time.Second)
	// A heartbeat every second keeps renewing the 2 s lease for 5 s.
	for range 5 {
		if err := d.Extend(ctx, 2*time.Second); err != nil {
			t.Fatal(err)
		}
		assertNothingFor(t, client, url, 1, "task delivered to another worker while its lease was being extended")
	}
	if err := d.Ack(ctx); err != nil {
		t.Fatal(err)
	}
}

func TestSQSRetryRedeliversAfterTheDelay(t *testing.T) {
	client, url, _ := newQueues(t, "retry")
	q := queue.NewSQS(client, url, 30*time.Second)
	ctx := context.Background()
	if err := q.Publish(ctx, queue.Task{TaskID: "t", VideoID: "v"}); err != nil {
		t.Fatal(err)
	}
	d := mustReceive(t, q, 5*time.Second)
	if err := d.Retry(ctx, 2*time.Second); err != nil {
		t.Fatal(err)
	}
	assertNothingFor(t, client, url, 1, "task delivered again before its retry delay")
	again := mustReceive(t, q, 5*time.Second)
	if again.Attempt() != 2 {
		t.Fatalf("attempt = %d, want 2", again.Attempt())
	}
	// Retry(0) is how a stopping worker releases its task: at once.
	if err := again.Retry(ctx, 0); err != nil {
		t.Fatal(err)
	}
	if third := mustReceive(t, q, 2*time.Second); third.Attempt() != 3 {
		t.Fatalf("attempt = %d, want 3", third.Attempt())
	}
}

func TestSQSDeadLetterAfterTheThirdAttemptMovesTheTaskToTheDLQ(t *testing.T) {
	client, url, dlqURL := newQueues(t, "dead")
	q := queue.NewSQS(client, url, 30*time.Second)
	ctx := context.Background()
	want := queue.Task{TaskID: "t-dead", VideoID: "v-dead"}
	if err := q.Publish(ctx, want); err != nil {
		t.Fatal(err)
	}
	for attempt := 1; attempt <= queue.MaxAttempts; attempt++ {
		d := mustReceive(t, q, 5*time.Second)
		if d.Attempt() != attempt {
			t.Fatalf("attempt = %d, want %d", d.Attempt(), attempt)
		}
		if attempt < queue.MaxAttempts {
			err := d.Retry(ctx, 0)
			if err != nil {
				t.Fatal(err)
			}
			continue
		}
		if err := d.DeadLetter(ctx); err != nil {
			t.Fatal(err)
		}
	}
	assertNothingFor(t, client, url, 2, "dead-lettered task delivered again")
	dead := mustReceive(t, queue.NewSQS(client, dlqURL, 30*time.Second), 5*time.Second)
	if dead.Task() != want {
		t.Fatalf("dead-letter queue holds %+v, want %+v", dead.Task(), want)
	}
}

func TestSQSMalformedMessageEndsInTheDLQ(t *testing.T) {
	client, url, dlqURL := newQueues(t, "malformed")
	q := queue.NewSQS(client, url, 30*time.Second)
	ctx := context.Background()
	if _, err := client.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: &url, MessageBody: aws.String("not a task")}); err != nil {
		t.Fatal(err)
	}
	for i := 1; i <= queue.MaxAttempts; i++ {
		rctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		_, err := q.Receive(rctx)
		cancel()
		if err == nil || !strings.Contains(err.Error(), "malformed") {
			t.Fatalf("receive %d: error = %v, want a malformed-message error", i, err)
		}
	}
	out, err := client.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: &dlqURL, WaitTimeSeconds: 5})
	if err != nil {
		t.Fatal(err)
	}
	if len(out.Messages) != 1 || aws.ToString(out.Messages[0].Body) != "not a task" {
		t.Fatalf("dead-letter queue = %v, want the malformed message", bodies(out.Messages))
	}
}

func bodies(ms []types.Message) []string {
	var out []string
	for _, m := range ms {
		out = append(out, fmt.Sprint(aws.ToString(m.Body)))
	}
	return out
}
