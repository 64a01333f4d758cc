package constructs

import (
	"fmt"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awscloudwatch"
	"github.com/aws/aws-cdk-go/awscdk/v2/awscloudwatchactions"
	"github.com/aws/aws-cdk-go/awscdk/v2/awselasticloadbalancingv2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssns"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssnssubscriptions"
	cdkconstructs "github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"

	"github.com/anb/risingstars/app/nodespec"
)

// AlertsProps configures where alarms and Auto Scaling events go.
type AlertsProps struct {
	// Email subscribed to the topic (it must confirm the subscription). Optional.
	Email string
}

// Alerts is the SNS topic that receives alarm and Auto Scaling notifications.
// It is separate from Observability because the tiers need it before the
// dashboard and alarms, which need the tiers, can be built.
type Alerts interface {
	cdkconstructs.Construct
	Topic() awssns.Topic
}

type alerts struct {
	cdkconstructs.Construct
	topic awssns.Topic
}

// NewAlerts creates the topic (TLS-only) and the optional e-mail subscription.
func NewAlerts(scope cdkconstructs.Construct, id string, props *AlertsProps) Alerts {
	p := AlertsProps{}
	if props != nil {
		p = *props
	}
	this := &alerts{}
	cdkconstructs.NewConstruct_Override(this, scope, jsii.String(id))
	topic := awssns.NewTopic(this, jsii.String("Topic"), &awssns.TopicProps{
		DisplayName: jsii.String("ANB Rising Stars alerts"),
		EnforceSSL:  jsii.Bool(true),
	})
	// The topic policy replaces SNS's default one: let this account's alarms publish.
	topic.AddToResourcePolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Actions:    jsii.Strings("sns:Publish"),
		Principals: &[]awsiam.IPrincipal{awsiam.NewServicePrincipal(jsii.String("cloudwatch.amazonaws.com"), nil)},
		Resources:  &[]*string{topic.TopicArn()},
		Conditions: &map[string]interface{}{
			"StringEquals": map[string]interface{}{"aws:SourceAccount": awscdk.Aws_ACCOUNT_ID()},
		},
	}))
	if p.Email != "" {
		topic.AddSubscription(awssnssubscriptions.NewEmailSubscription(jsii.String(p.Email), nil))
	}
	this.topic = topic
	return this
}

func (a *alerts) Topic() awssns.Topic { return a.topic }

// ObservabilityProps lists what is watched. Zero values mean the default.
type ObservabilityProps struct {
	Web      WebTier
	Worker   WorkerTier
	Queue    TaskQueue
	Database Database
	Topic    awssns.ITopic
	// OldestMessageAge above which the queue alarm fires. Default 10 minutes:
	// well past the 3-minute latency target, so it means the workers are
	// stuck or at max capacity, not merely busy.
	OldestMessageAge awscdk.Duration
	// Http5xxThreshold is the number of 5xx answers in 5 minutes (ALB or
	// targets) that raises the 5xx alarms. Default 10.
	Http5xxThreshold float64
}

// Observability is the CloudWatch dashboard and the alarms of the deployment.
type Observability interface {
	cdkconstructs.Construct
	Dashboard() awscloudwatch.Dashboard
	Alarms() []awscloudwatch.Alarm
	// DashboardURL opens the dashboard in the console.
	DashboardURL() *string
}

type observability struct {
	cdkconstructs.Construct
	dashboard awscloudwatch.Dashboard
	alarms    []awscloudwatch.Alarm
}

// NewObservability creates the dashboard and the alarms, all notifying Topic.
func NewObservability(scope cdkconstructs.Construct, id string, props *ObservabilityProps) Observability {
	p := *props
	if p.OldestMessageAge == nil {
		p.OldestMessageAge = awscdk.Duration_Minutes(jsii.Number(10))
	}
	if p.Http5xxThreshold == 0 {
		p.Http5xxThreshold = 10
	}
	this := &observability{}
	cdkconstructs.NewConstruct_Override(this, scope, jsii.String(id))
	minute := awscdk.Duration_Minutes(jsii.Number(1))
	fiveMinutes := awscdk.Duration_Minutes(jsii.Number(5))
	opts := func(stat, label string, period awscdk.Duration) *awscloudwatch.MetricOptions {
		o := &awscloudwatch.MetricOptions{Statistic: jsii.String(stat), Period: period}
		if label != "" {
			o.Label = jsii.String(label)
		}
		return o
	}
	alb := p.Web.LoadBalancer().Metrics()
	tg := p.Web.TargetGroup().Metrics()
	queue, dlq := p.Queue.Queue(), p.Queue.DeadLetterQueue()
	db := p.Database.Instance()
	groupMetric := func(group, name, label string) awscloudwatch.IMetric {
		return awscloudwatch.NewMetric(&awscloudwatch.MetricProps{
			Namespace:     jsii.String("AWS/AutoScaling"),
			MetricName:    jsii.String(name),
			DimensionsMap: &map[string]*string{"AutoScalingGroupName": jsii.String(group)},
			Statistic:     jsii.String("Average"),
			Label:         jsii.String(label),
			Period:        minute,
		})
	}
	webGroup := *p.Web.AutoScalingGroup().AutoScalingGroupName()
	workerGroup := *p.Worker.AutoScalingGroup().AutoScalingGroupName()
	cpu := func(group, label string) awscloudwatch.IMetric {
		return awscloudwatch.NewMetric(&awscloudwatch.MetricProps{
			Namespace:     jsii.String("AWS/EC2"),
			MetricName:    jsii.String("CPUUtilization"),
			DimensionsMap: &map[string]*string{"AutoScalingGroupName": jsii.String(group)},
			Statistic:     jsii.String("Average"),
			Label:         jsii.String(label),
			Period:        minute,
		})
	}
	graph := func(title string, left, right []awscloudwatch.IMetric) awscloudwatch.GraphWidget {
		props := &awscloudwatch.GraphWidgetProps{Title: jsii.String(title), Left: &left, Width: jsii.Number(8), Height: jsii.Number(6)}
		if len(right) > 0 {
			props.Right = &right
		}
		return awscloudwatch.NewGraphWidget(props)
	}

	dashboard := awscloudwatch.NewDashboard(this, jsii.String("Dashboard"), &awscloudwatch.DashboardProps{
		DefaultInterval: awscdk.Duration_Hours(jsii.Number(3)),
	})
	dashboard.AddWidgets(
		graph("ALB requests", []awscloudwatch.IMetric{alb.RequestCount(opts("Sum", "Requests", minute))}, nil),
		graph("ALB latency (target response time, s)", []awscloudwatch.IMetric{
			alb.TargetResponseTime(opts("p50", "p50", minute)),
			alb.TargetResponseTime(opts("p95", "p95", minute)),
			alb.TargetResponseTime(opts("p99", "p99", minute)),
		}, nil),
		graph("ALB 5xx and target health", []awscloudwatch.IMetric{
			alb.HttpCodeElb(awselasticloadbalancingv2.HttpCodeElb_ELB_5XX_COUNT, opts("Sum", "ALB 5xx", minute)),
			alb.HttpCodeTarget(awselasticloadbalancingv2.HttpCodeTarget_TARGET_5XX_COUNT, opts("Sum", "Target 5xx", minute)),
		}, []awscloudwatch.IMetric{
			tg.HealthyHostCount(opts("Minimum", "Healthy hosts", minute)),
			tg.UnhealthyHostCount(opts("Maximum", "Unhealthy hosts", minute)),
		}),
	)
	dashboard.AddWidgets(
		graph("Web tier size", []awscloudwatch.IMetric{
			groupMetric(webGroup, "GroupInServiceInstances", "Web in service"),
			groupMetric(webGroup, "GroupDesiredCapacity", "Web desired"),
		}, []awscloudwatch.IMetric{cpu(webGroup, "Web CPU %")}),
		graph("Worker tier size", []awscloudwatch.IMetric{
			groupMetric(workerGroup, "GroupInServiceInstances", "Workers in service"),
			groupMetric(workerGroup, "GroupDesiredCapacity", "Workers desired"),
		}, []awscloudwatch.IMetric{cpu(workerGroup, "Worker CPU %")}),
		graph("Backlog per instance (scaling metric)", []awscloudwatch.IMetric{p.Worker.BacklogPerInstance()}, nil),
	)
	// Every message of the dead-letter queue: the workers' sweep receives
	// them (to mark their videos failed) and keeps them, so most of the time
	// they are in flight, not visible.
	deadLetters := awscloudwatch.NewMathExpression(&awscloudwatch.MathExpressionProps{
		Expression: jsii.String("m1 + m2"),
		Label:      jsii.String("Dead-letter queue (visible + in flight)"),
		UsingMetrics: &map[string]awscloudwatch.IMetric{
			"m1": dlq.MetricApproximateNumberOfMessagesVisible(opts("Maximum", "", minute)),
			"m2": dlq.MetricApproximateNumberOfMessagesNotVisible(opts("Maximum", "", minute)),
		},
		Period: minute,
	})
	dashboard.AddWidgets(
		graph("Queue depth", []awscloudwatch.IMetric{
			queue.MetricApproximateNumberOfMessagesVisible(opts("Maximum", "Visible", minute)),
			queue.MetricApproximateNumberOfMessagesNotVisible(opts("Maximum", "In flight", minute)),
		}, []awscloudwatch.IMetric{deadLetters}),
		graph("Oldest message age (s)", []awscloudwatch.IMetric{
			queue.MetricApproximateAgeOfOldestMessage(opts("Maximum", "Oldest message", minute)),
		}, nil),
		graph("Processing time per video (s)", []awscloudwatch.IMetric{
			p.Worker.ProcessingTime().With(&awscloudwatch.MetricOptions{Statistic: jsii.String("Average"), Label: jsii.String("Average")}),
			p.Worker.ProcessingTime().With(&awscloudwatch.MetricOptions{Statistic: jsii.String("Maximum"), Label: jsii.String("Maximum")}),
		}, []awscloudwatch.IMetric{
			p.Worker.ProcessingTime().With(&awscloudwatch.MetricOptions{Statistic: jsii.String("SampleCount"), Label: jsii.String("Videos processed")}),
		}),
	)
	dashboard.AddWidgets(
		graph("Database CPU %", []awscloudwatch.IMetric{db.MetricCPUUtilization(opts("Average", "CPU %", minute))}, nil),
		graph("Database connections", []awscloudwatch.IMetric{db.MetricDatabaseConnections(opts("Maximum", "Connections", minute))}, nil),
	)

	action := awscloudwatchactions.NewSnsAction(p.Topic)
	var alarms []awscloudwatch.Alarm
	alarm := func(id, description string, metric awscloudwatch.IMetric, threshold float64, op awscloudwatch.ComparisonOperator, periods float64) {
		a := awscloudwatch.NewAlarm(this, jsii.String(id), &awscloudwatch.AlarmProps{
			AlarmDescription:   jsii.String(description),
			Metric:             metric,
			Threshold:          jsii.Number(threshold),
			ComparisonOperator: op,
			EvaluationPeriods:  jsii.Number(periods),
			TreatMissingData:   awscloudwatch.TreatMissingData_NOT_BREACHING,
		})
		a.AddAlarmAction(action)
		a.AddOkAction(action)
		alarms = append(alarms, a)
	}
	// New dead letters, not the queue's depth: dead letters stay for the
	// queue's retention (14 days), so an alarm on depth would stay in ALARM
	// after the first one and notify nobody of the next. The depth only
	// rises when a task arrives (the sweep moves messages between visible
	// and in flight, which leaves the sum alone; expiry lowers it).
	newDeadLetters := awscloudwatch.NewMathExpression(&awscloudwatch.MathExpressionProps{
		Expression:   jsii.String(NewDeadLettersExpression),
		Label:        jsii.String("New dead letters"),
		UsingMetrics: deadLetters.UsingMetrics(),
		Period:       minute,
	})
	alarm("NewDeadLetters",
		fmt.Sprintf("A video task reached the dead-letter queue (%d failed attempts, or a crash loop of %d receives); the workers mark its video failed. Each new one alarms again.",
			nodespec.MaxProcessingAttempts, nodespec.QueueMaxReceiveCount),
		newDeadLetters, 1, awscloudwatch.ComparisonOperator_GREATER_THAN_OR_EQUAL_TO_THRESHOLD, 1)
	alarm("OldestMessageTooOld",
		fmt.Sprintf("A video has waited more than %g minutes for a worker.", *p.OldestMessageAge.ToMinutes(nil)),
		queue.MetricApproximateAgeOfOldestMessage(opts("Maximum", "", minute)),
		*p.OldestMessageAge.ToSeconds(nil), awscloudwatch.ComparisonOperator_GREATER_THAN_THRESHOLD, 3)
	alarm("Alb5xx",
		"The load balancer answered 5xx itself (no healthy target, timeouts).",
		alb.HttpCodeElb(awselasticloadbalancingv2.HttpCodeElb_ELB_5XX_COUNT, opts("Sum", "", fiveMinutes)),
		p.Http5xxThreshold, awscloudwatch.ComparisonOperator_GREATER_THAN_OR_EQUAL_TO_THRESHOLD, 1)
	alarm("Target5xx",
		"The API answered 5xx.",
		alb.HttpCodeTarget(awselasticloadbalancingv2.HttpCodeTarget_TARGET_5XX_COUNT, opts("Sum", "", fiveMinutes)),
		p.Http5xxThreshold, awscloudwatch.ComparisonOperator_GREATER_THAN_OR_EQUAL_TO_THRESHOLD, 1)
	alarm("UnhealthyHosts",
		"A web instance has failed its "+nodespec.LivenessPath+" check for 3 minutes.",
		tg.UnhealthyHostCount(opts("Maximum", "", minute)),
		1, awscloudwatch.ComparisonOperator_GREATER_THAN_OR_EQUAL_TO_THRESHOLD, 3)
	alarm("DatabaseCpuHigh",
		"Database CPU above 80% for 15 minutes.",
		db.MetricCPUUtilization(opts("Average", "", fiveMinutes)),
		80, awscloudwatch.ComparisonOperator_GREATER_THAN_THRESHOLD, 3)

	this.dashboard, this.alarms = dashboard, alarms
	return this
}

// NewDeadLettersExpression is how many tasks reached the dead-letter queue
// in the last minute: the rise of its depth (m1 visible + m2 in flight),
// never negative.
const NewDeadLettersExpression = "IF(DIFF(m1 + m2) > 0, DIFF(m1 + m2), 0)"

func (o *observability) Dashboard() awscloudwatch.Dashboard { return o.dashboard }
func (o *observability) Alarms() []awscloudwatch.Alarm      { return o.alarms }

func (o *observability) DashboardURL() *string {
	return jsii.String(fmt.Sprintf("https://%s.console.aws.amazon.com/cloudwatch/home?region=%s#dashboards:name=%s",
		*awscdk.Aws_REGION(), *awscdk.Aws_REGION(), *o.dashboard.DashboardName()))
}
