package queue

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"time"

	"github.com/anb/risingstars/app/nodespec"
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

// SQS is the queue on AWS: a standard SQS queue and its dead-letter queue.
// Workers dead-letter a task themselves once its video failed for good; the
// queue's redrive policy (nodespec.QueueMaxReceiveCount receives) is only a
// backstop for tasks that keep killing their workers.
type SQS struct {
	client     SQSAPI
	url        string
	deadURL    string // empty: no dead-letter queue known, failed tasks are deleted
	visibility time.Duration
}

// deadHold is how long a dead-lettered task stays hidden after a worker
// marked its video failed; the operator still finds it in the queue.
const deadHold = 12 * time.Hour

// maxVisibility is the SQS limit of a visibility timeout.
const maxVisibility = 12 * time.Hour

// NewSQS uses the queue at queueURL and its dead-letter queue at
// deadLetterURL. visibility is how long a received task stays hidden; it is
// asked for on every receive so it does not depend on the queue's default.
func NewSQS(client SQSAPI, queueURL, deadLetterURL string, visibility time.Duration) *SQS {
	return &SQS{client: client, url: queueURL, deadURL: deadLetterURL, visibility: visibility}
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

// Receive long-polls once (nodespec.LongPollSeconds): a task, or nil and
// no error when the poll ended empty.
func (q *SQS) Receive(ctx context.Context) (Delivery, error) {
	return q.receive(ctx, q.url, q.visibility, false)
}

// ReceiveDead long-polls the dead-letter queue. The task received stays
// there, hidden for deadHold.
func (q *SQS) ReceiveDead(ctx context.Context) (Delivery, error) {
	if q.deadURL == "" {
		<-ctx.Done()
		return nil, ctx.Err()
	}
	return q.receive(ctx, q.deadURL, deadHold, true)
}

// receive long-polls url; untilTask polls again after an empty poll
// instead of returning nil.
func (q *SQS) receive(ctx context.Context, url string, visibility time.Duration, untilTask bool) (Delivery, error) {
	for {
		out, err := q.client.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{
			QueueUrl:                    &url,
			MaxNumberOfMessages:         1,
			WaitTimeSeconds:             nodespec.LongPollSeconds,
			VisibilityTimeout:           seconds(visibility),
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
			if untilTask {
				continue
			}
			return nil, nil
		}
		m := out.Messages[0]
		d := &sqsDelivery{q: q, url: url, body: aws.ToString(m.Body), receipt: aws.ToString(m.ReceiptHandle), attempt: 1}
		if n, err := strconv.Atoi(m.Attributes[string(types.MessageSystemAttributeNameApproximateReceiveCount)]); err == nil && n > 0 {
			d.attempt = n
		}
		if err := json.Unmarshal([]byte(d.body), &d.task); err != nil || d.task.VideoID == "" {
			if url == q.deadURL {
				return nil, fmt.Errorf("malformed message %s in the dead-letter queue left there: %q", aws.ToString(m.MessageId), d.body)
			}
			// No worker can ever handle it: straight to the dead-letter queue.
			if err := d.DeadLetter(ctx); err != nil {
				return nil, fmt.Errorf("dead-letter malformed message %s: %w", aws.ToString(m.MessageId), err)
			}
			return nil, fmt.Errorf("malformed task message %s sent to the dead-letter queue: %q", aws.ToString(m.MessageId), d.body)
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
	url     string // the queue it came from
	body    string
	receipt string
	task    Task
	attempt int
}

func (d *sqsDelivery) Task() Task   { return d.task }
func (d *sqsDelivery) Attempt() int { return d.attempt }

func (d *sqsDelivery) Ack(ctx context.Context) error {
	_, err := d.q.client.DeleteMessage(ctx, &sqs.DeleteMessageInput{QueueUrl: &d.url, ReceiptHandle: &d.receipt})
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

// DeadLetter sends the task to the dead-letter queue and then deletes it
// here; if the delete fails the copy left behind is delivered again and
// skipped, as its video is already settled.
func (d *sqsDelivery) DeadLetter(ctx context.Context) error {
	if d.q.deadURL != "" {
		if _, err := d.q.client.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: &d.q.deadURL, MessageBody: &d.body}); err != nil {
			return fmt.Errorf("send task of video %s to the dead-letter queue: %w", d.task.VideoID, err)
		}
	}
	return d.Ack(ctx)
}

func (d *sqsDelivery) setVisibility(ctx context.Context, dur time.Duration) error {
	_, err := d.q.client.ChangeMessageVisibility(ctx, &sqs.ChangeMessageVisibilityInput{
		QueueUrl: &d.url, ReceiptHandle: &d.receipt, VisibilityTimeout: seconds(dur),
	})
	if err != nil {
		return fmt.Errorf("change visibility of video %s: %w", d.task.VideoID, err)
	}
	return nil
}
