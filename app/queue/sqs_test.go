package queue_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/anb/risingstars/app/nodespec"
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
	for {
		del, err := q.Receive(ctx)
		if errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("no task delivered within %s", d)
		}
		if err != nil {
			t.Fatalf("receive: %v", err)
		}
		if del != nil {
			return del
		}
	}
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
	client, url, dlqURL := newQueues(t, "acked")
	q := queue.NewSQS(client, url, dlqURL, 2*time.Second)
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
	client, url, dlqURL := newQueues(t, "expiry")
	q := queue.NewSQS(client, url, dlqURL, 2*time.Second) // shorter than the queue's own 30 s: the receive asks for it
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
	client, url, dlqURL := newQueues(t, "extend")
	q := queue.NewSQS(client, url, dlqURL, 2*time.Second)
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
	client, url, dlqURL := newQueues(t, "retry")
	q := queue.NewSQS(client, url, dlqURL, 30*time.Second)
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

func TestSQSDeadLetterMovesTheTaskToTheDLQAtOnce(t *testing.T) {
	client, url, dlqURL := newQueues(t, "dead")
	q := queue.NewSQS(client, url, dlqURL, 30*time.Second)
	ctx := context.Background()
	want := queue.Task{TaskID: "t-dead", VideoID: "v-dead"}
	if err := q.Publish(ctx, want); err != nil {
		t.Fatal(err)
	}
	if err := mustReceive(t, q, 5*time.Second).DeadLetter(ctx); err != nil {
		t.Fatal(err)
	}
	assertNothingFor(t, client, url, 2, "dead-lettered task delivered again")
	dead, err := q.ReceiveDead(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if dead.Task() != want {
		t.Fatalf("dead-letter queue holds %+v, want %+v", dead.Task(), want)
	}
	// The sweep leaves the task in the dead-letter queue for the operator,
	// hidden, not deleted.
	attrs, err := client.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{QueueUrl: &dlqURL,
		AttributeNames: []types.QueueAttributeName{types.QueueAttributeNameApproximateNumberOfMessagesNotVisible}})
	if err != nil {
		t.Fatal(err)
	}
	if n := attrs.Attributes[string(types.QueueAttributeNameApproximateNumberOfMessagesNotVisible)]; n != "1" {
		t.Fatalf("dead-letter queue holds %s hidden tasks after the sweep, want 1", n)
	}
}

func TestSQSInterruptionsNeverReachTheDLQ(t *testing.T) {
	client, url, dlqURL := newQueues(t, "interrupted")
	q := queue.NewSQS(client, url, dlqURL, 30*time.Second)
	ctx := context.Background()
	if err := q.Publish(ctx, queue.Task{TaskID: "t", VideoID: "v"}); err != nil {
		t.Fatal(err)
	}
	// Every release of an interrupted job is one more receive; far more of
	// them than processing attempts still leave the task deliverable.
	for i := 1; i < nodespec.QueueMaxReceiveCount; i++ {
		if err := mustReceive(t, q, 5*time.Second).Retry(ctx, 0); err != nil {
			t.Fatal(err)
		}
	}
	if last := mustReceive(t, q, 5*time.Second); last.Attempt() != nodespec.QueueMaxReceiveCount {
		t.Fatalf("delivery %d, want %d", last.Attempt(), nodespec.QueueMaxReceiveCount)
	}
}

func TestSQSMalformedMessageEndsInTheDLQ(t *testing.T) {
	client, url, dlqURL := newQueues(t, "malformed")
	q := queue.NewSQS(client, url, dlqURL, 30*time.Second)
	ctx := context.Background()
	if _, err := client.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: &url, MessageBody: aws.String("not a task")}); err != nil {
		t.Fatal(err)
	}
	rctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	_, err := q.Receive(rctx)
	cancel()
	if err == nil || !strings.Contains(err.Error(), "malformed") {
		t.Fatalf("receive: error = %v, want a malformed-message error", err)
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
