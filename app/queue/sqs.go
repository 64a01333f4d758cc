package queue

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"
)

// SQSAPI is the part of the SQS client the queue uses.
type SQSAPI interface {
	SendMessage(ctx context.Context, in *sqs.SendMessageInput, optFns ...func(*sqs.Options)) (*sqs.SendMessageOutput, error)
	ReceiveMessage(ctx context.Context, in *sqs.ReceiveMessageInput, optFns ...func(*sqs.Options)) (*sqs.ReceiveMessageOutput, error)
	DeleteMessage(ctx context.Context, in *sqs.DeleteMessageInput, optFns ...func(*sqs.Options)) (*sqs.DeleteMessageOutput, error)
	ChangeMessageVisibility(ctx context.Context, in *sqs.ChangeMessageVisibilityInput, optFns ...func(*sqs.Options)) (*sqs.ChangeMessageVisibilityOutput, error)
}

// SQS is the queue on AWS: a standard SQS queue whose redrive policy moves a
// task to the dead-letter queue once it was received more than MaxAttempts
// times (maxReceiveCount 3).
type SQS struct {
	client     SQSAPI
	url        string
	visibility time.Duration
}

// longPoll is how long one receive waits for a task (the SQS maximum): an
// idle worker costs one request every 20 s.
const longPoll = 20

// maxVisibility is the SQS limit of a visibility timeout.
const maxVisibility = 12 * time.Hour

// NewSQS uses the queue at queueURL. visibility is how long a received task
// stays hidden; it is asked for on every receive so it does not depend on the
// queue's own default.
func NewSQS(client SQSAPI, queueURL string, visibility time.Duration) *SQS {
	return &SQS{client: client, url: queueURL, visibility: visibility}
}

func (q *SQS) Publish(ctx context.Context, t Task) error {
	body, err := json.Marshal(t)
	if err != nil {
		return err
	}
	if _, err := q.client.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: &q.url, MessageBody: aws.String(string(body))}); err != nil {
		return fmt.Errorf("send task for video %s: %w", t.VideoID, err)
	}
	return nil
}

// Receive long-polls until a task arrives or ctx ends.
func (q *SQS) Receive(ctx context.Context) (Delivery, error) {
	for {
		out, err := q.client.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{
			QueueUrl:                    &q.url,
			MaxNumberOfMessages:         1,
			WaitTimeSeconds:             longPoll,
			VisibilityTimeout:           seconds(q.visibility),
			MessageSystemAttributeNames: []types.MessageSystemAttributeName{types.MessageSystemAttributeNameApproximateReceiveCount},
			// The older spelling of the same request, still honoured by SQS
			// and the only one some SQS-compatible servers read.
			AttributeNames: []types.QueueAttributeName{types.QueueAttributeName(types.MessageSystemAttributeNameApproximateReceiveCount)},
		})
		if err != nil {
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			return nil, fmt.Errorf("receive task: %w", err)
		}
		if len(out.Messages) == 0 {
			continue
		}
		m := out.Messages[0]
		d := &sqsDelivery{q: q, receipt: aws.ToString(m.ReceiptHandle), attempt: 1}
		if n, err := strconv.Atoi(m.Attributes[string(types.MessageSystemAttributeNameApproximateReceiveCount)]); err == nil && n > 0 {
			d.attempt = n
		}
		if err := json.Unmarshal([]byte(aws.ToString(m.Body)), &d.task); err != nil || d.task.VideoID == "" {
			// No worker can ever handle it: let it reach the dead-letter
			// queue after its receives instead of hiding it for a whole lease.
			if err := d.DeadLetter(ctx); err != nil {
				return nil, fmt.Errorf("release malformed message %s: %w", aws.ToString(m.MessageId), err)
			}
			return nil, fmt.Errorf("malformed task message %s (receive %d) left for the dead-letter queue: %q", aws.ToString(m.MessageId), d.attempt, aws.ToString(m.Body))
		}
		return d, nil
	}
}

// seconds converts a duration to whole SQS seconds, rounding up and capping
// at the SQS limit.
func seconds(d time.Duration) int32 {
	d = min(max(d, 0), maxVisibility)
	return int32((d + time.Second - 1) / time.Second)
}

type sqsDelivery struct {
	q       *SQS
	receipt string
	task    Task
	attempt int
}

func (d *sqsDelivery) Task() Task   { return d.task }
func (d *sqsDelivery) Attempt() int { return d.attempt }

func (d *sqsDelivery) Ack(ctx context.Context) error {
	_, err := d.q.client.DeleteMessage(ctx, &sqs.DeleteMessageInput{QueueUrl: &d.q.url, ReceiptHandle: &d.receipt})
	if err != nil {
		return fmt.Errorf("delete task of video %s: %w", d.task.VideoID, err)
	}
	return nil
}

// Retry keeps the task hidden for delay, after which SQS delivers it again.
func (d *sqsDelivery) Retry(ctx context.Context, delay time.Duration) error {
	return d.setVisibility(ctx, delay)
}

// Extend renews the lease: the task stays hidden for d from now.
func (d *sqsDelivery) Extend(ctx context.Context, dur time.Duration) error {
	return d.setVisibility(ctx, dur)
}

// DeadLetter makes the task visible at once: it has used its receives, so
// the queue's redrive policy moves it to the dead-letter queue on the next
// receive instead of delivering it.
func (d *sqsDelivery) DeadLetter(ctx context.Context) error {
	return d.setVisibility(ctx, 0)
}

func (d *sqsDelivery) setVisibility(ctx context.Context, dur time.Duration) error {
	_, err := d.q.client.ChangeMessageVisibility(ctx, &sqs.ChangeMessageVisibilityInput{
		QueueUrl: &d.q.url, ReceiptHandle: &d.receipt, VisibilityTimeout: seconds(dur),
	})
	if err != nil {
		return fmt.Errorf("change visibility of video %s: %w", d.task.VideoID, err)
	}
	return nil
}
