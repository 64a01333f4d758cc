package constructs

import (
	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssqs"
	cdkconstructs "github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"

	"github.com/anb/risingstars/app/nodespec"
)

// TaskQueueProps configures the processing queue. Zero values mean the default.
type TaskQueueProps struct {
	// MaxReceiveCount is how many deliveries a task gets before SQS moves it
	// to the dead-letter queue. Default nodespec.QueueMaxReceiveCount: a
	// crash-loop backstop; the worker dead-letters a video itself after
	// nodespec.MaxProcessingAttempts real failures, and interruptions
	// (scale-in, deploys) never come near it.
	MaxReceiveCount float64
	// VisibilityTimeout is the queue's default lease of a received task.
	// Default nodespec.Visibility, what the worker asks for and renews.
	VisibilityTimeout awscdk.Duration
	// Retention of tasks in both queues. Default 14 days (the maximum), so no
	// upload is lost while the worker tier is broken for a long weekend.
	Retention awscdk.Duration
	// ReceiveWaitTime enables long polling. Default nodespec.LongPollSeconds.
	ReceiveWaitTime awscdk.Duration
}

// TaskQueue is the SQS standard queue of video tasks and its dead-letter queue.
type TaskQueue interface {
	cdkconstructs.Construct
	Queue() awssqs.Queue
	DeadLetterQueue() awssqs.Queue
}

type taskQueue struct {
	cdkconstructs.Construct
	queue, dlq awssqs.Queue
}

// NewTaskQueue creates the queues, both encrypted with SSE-SQS and TLS-only.
func NewTaskQueue(scope cdkconstructs.Construct, id string, props *TaskQueueProps) TaskQueue {
	p := TaskQueueProps{}
	if props != nil {
		p = *props
	}
	if p.MaxReceiveCount == 0 {
		p.MaxReceiveCount = nodespec.QueueMaxReceiveCount
	}
	if p.VisibilityTimeout == nil {
		p.VisibilityTimeout = awscdk.Duration_Seconds(jsii.Number(nodespec.Visibility.Seconds()))
	}
	if p.Retention == nil {
		p.Retention = awscdk.Duration_Days(jsii.Number(14))
	}
	if p.ReceiveWaitTime == nil {
		p.ReceiveWaitTime = awscdk.Duration_Seconds(jsii.Number(nodespec.LongPollSeconds))
	}

	this := &taskQueue{}
	cdkconstructs.NewConstruct_Override(this, scope, jsii.String(id))
	dlq := awssqs.NewQueue(this, jsii.String("DeadLetter"), &awssqs.QueueProps{
		Encryption:      awssqs.QueueEncryption_SQS_MANAGED,
		EnforceSSL:      jsii.Bool(true),
		RetentionPeriod: p.Retention,
	})
	queue := awssqs.NewQueue(this, jsii.String("Tasks"), &awssqs.QueueProps{
		Encryption:             awssqs.QueueEncryption_SQS_MANAGED,
		EnforceSSL:             jsii.Bool(true),
		VisibilityTimeout:      p.VisibilityTimeout,
		ReceiveMessageWaitTime: p.ReceiveWaitTime,
		RetentionPeriod:        p.Retention,
		DeadLetterQueue: &awssqs.DeadLetterQueue{
			Queue:           dlq,
			MaxReceiveCount: jsii.Number(p.MaxReceiveCount),
		},
	})
	this.queue, this.dlq = queue, dlq
	return this
}

func (q *taskQueue) Queue() awssqs.Queue           { return q.queue }
func (q *taskQueue) DeadLetterQueue() awssqs.Queue { return q.dlq }
