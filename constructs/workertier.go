package constructs

import (
	"fmt"
	"math"
	"time"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsautoscaling"
	"github.com/aws/aws-cdk-go/awscdk/v2/awscloudwatch"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsec2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslogs"
	"github.com/aws/aws-cdk-go/awscdk/v2/awss3"
	"github.com/aws/aws-cdk-go/awscdk/v2/awss3assets"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssns"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssqs"
	cdkconstructs "github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"
	"github.com/cdklabs/cdk-nag-go/cdknag/v2"

	"github.com/anb/risingstars/app/nodespec"
)

// Measured on these machines: one 30 s 1080p upload takes about 10-12 s of
// ffmpeg on 2 vCPU, one job at a time per instance.
const (
	DefaultSecondsPerVideo   = 12
	DefaultAcceptableLatency = 3 * time.Minute
)

// DefaultBacklogTarget is the backlog per worker the stack tracks unless the
// deployer gives one (or a latency and a time per video to derive it from).
// Chosen with the scaling simulator (scripts/scalesim) on this template: the
// largest target that keeps the p95 wait within DefaultAcceptableLatency on
// a match day and at a steady 6 uploads/minute, within max 3 workers; 15, the
// latency / time-per-video bound, lets the p95 wait reach 3.3-3.6 minutes.
const DefaultBacklogTarget = 10

// DefaultWorkerInstanceType is the platform's sizing for both tiers, 2 vCPU,
// 2 GiB and 30 GiB of disk. ffmpeg keeps both vCPUs at 100 % while a job
// runs, so its CPU credits are unlimited (the fleet sets that on every
// burstable type): never throttled, the surplus billed. c7i.large (no
// credits) and c7g.large (Graviton, arm64) are the selectable alternatives;
// the README compares their cost per 1,000 videos.
const DefaultWorkerInstanceType = "t3.small"

// ExpectedWorkerBoot is how long a new worker takes from launch to its
// first task (EC2 start, ffmpeg from apt, agent, binary, service start).
// An estimate for the README's backlog reasoning and the synth warning,
// not a measurement.
const ExpectedWorkerBoot = 3 * time.Minute

// BacklogExpression is backlog per in-service instance, guarded: metric math
// drops a point that divides by zero, so with no instance in service the
// policy would get no data and never scale out; the whole backlog is then
// the backlog of the first instance to come.
const BacklogExpression = "IF(m2 > 0, m1 / m2, m1)"

// BacklogTarget is the backlog per instance (visible messages / in-service
// instances) that keeps the wait of the last queued video within
// acceptableLatency when each instance processes one video every
// secondsPerVideo seconds: the last of B queued tasks starts after about
// B x secondsPerVideo seconds, so B = latency / secondsPerVideo, rounded down
// (180 s / 12 s = 15). The simulator shows that bound lets the p95 wait pass
// the latency (scale-out comes minutes late), hence DefaultBacklogTarget.
func BacklogTarget(acceptableLatency time.Duration, secondsPerVideo float64) float64 {
	return math.Max(1, math.Floor(acceptableLatency.Seconds()/secondsPerVideo))
}

// WorkerTierProps configures the transcoding fleet. Zero values mean the default.
type WorkerTierProps struct {
	// Required collaborators.
	Network           Network
	Bucket            awss3.IBucket
	Queue             awssqs.IQueue
	DeadLetterQueue   awssqs.IQueue // swept by the workers, who also dead-letter to it
	Database          Database
	Binary            awss3assets.Asset // ./worker built for InstanceType's architecture
	NotificationTopic awssns.ITopic

	// InstanceType. Default DefaultWorkerInstanceType. A Graviton type
	// (c7g...) runs the arm64 Ubuntu image; Binary must be built for it.
	InstanceType awsec2.InstanceType
	// RootVolumeGiB of the encrypted gp3 root volume. Default 30.
	RootVolumeGiB float64
	// MinCapacity and MaxCapacity. Defaults 1 and 3.
	MinCapacity, MaxCapacity float64
	// SecondsPerVideo and AcceptableLatency derive BacklogTarget when either
	// is given. Defaults DefaultSecondsPerVideo and DefaultAcceptableLatency.
	SecondsPerVideo   float64
	AcceptableLatency time.Duration
	// BacklogTarget is the target of the backlog-per-instance tracking policy.
	// Default DefaultBacklogTarget, or BacklogTarget(AcceptableLatency,
	// SecondsPerVideo) when either of those is given.
	BacklogTarget float64
	// LogRetention of the worker logs. Default one month.
	LogRetention awslogs.RetentionDays
	// RemovalPolicy of the log group. Default RETAIN.
	RemovalPolicy awscdk.RemovalPolicy
	// LearnerLab runs the instances with the lab's instance profile; nil
	// gives the tier a least-privilege role of its own.
	LearnerLab *LearnerLab
}

// WorkerTier is the Auto Scaling group of ffmpeg workers that scales on SQS
// backlog per instance.
type WorkerTier interface {
	cdkconstructs.Construct
	AutoScalingGroup() awsautoscaling.AutoScalingGroup
	SecurityGroup() awsec2.SecurityGroup
	// Role of the instances: the tier's own, or a Learner Lab's LabRole.
	Role() awsiam.IRole
	LogGroup() awslogs.LogGroup
	// ScalingPolicy tracks the backlog; nil for a fixed-size group.
	ScalingPolicy() awsautoscaling.CfnScalingPolicy
	// BacklogTarget is the value the scaling policy tracks.
	BacklogTarget() float64
	// BacklogPerInstance is the metric math the policy tracks, for dashboards.
	BacklogPerInstance() awscloudwatch.MathExpression
	// ProcessingTime is the per-video processing time (s) taken from the worker logs.
	ProcessingTime() awscloudwatch.Metric
}

type workerTier struct {
	cdkconstructs.Construct
	fleet          *fleet
	sg             awsec2.SecurityGroup
	policy         awsautoscaling.CfnScalingPolicy
	target         float64
	backlog        awscloudwatch.MathExpression
	processingTime awscloudwatch.Metric
}

// MetricsNamespace holds the custom metrics extracted from the application logs.
const MetricsNamespace = "ANB"

// NewWorkerTier creates the worker fleet and its scaling policy.
func NewWorkerTier(scope cdkconstructs.Construct, id string, props *WorkerTierProps) WorkerTier {
	p := *props
	if p.InstanceType == nil {
		p.InstanceType = awsec2.NewInstanceType(jsii.String(DefaultWorkerInstanceType))
	}
	if p.RootVolumeGiB == 0 {
		p.RootVolumeGiB = 30
	}
	if p.MinCapacity == 0 {
		p.MinCapacity = 1
	}
	if p.MaxCapacity == 0 {
		p.MaxCapacity = 3
	}
	if p.BacklogTarget == 0 && p.SecondsPerVideo == 0 && p.AcceptableLatency == 0 {
		p.BacklogTarget = DefaultBacklogTarget
	}
	if p.SecondsPerVideo == 0 {
		p.SecondsPerVideo = DefaultSecondsPerVideo
	}
	if p.AcceptableLatency == 0 {
		p.AcceptableLatency = DefaultAcceptableLatency
	}
	if p.BacklogTarget == 0 {
		p.BacklogTarget = BacklogTarget(p.AcceptableLatency, p.SecondsPerVideo)
	}
	if p.LogRetention == "" {
		p.LogRetention = awslogs.RetentionDays_ONE_MONTH
	}
	vpc := p.Network.Vpc()

	this := &workerTier{}
	cdkconstructs.NewConstruct_Override(this, scope, jsii.String(id))
	sg := awsec2.NewSecurityGroup(this, jsii.String("SecurityGroup"), &awsec2.SecurityGroupProps{
		Vpc:              vpc,
		Description:      jsii.String("ANB workers: no inbound traffic"),
		AllowAllOutbound: jsii.Bool(false),
	})
	allowInstanceEgress(sg)
	p.Database.AllowFrom(sg, "PostgreSQL from the worker tier")

	if p.AcceptableLatency < ExpectedWorkerBoot {
		awscdk.Annotations_Of(this).AddWarningV2(jsii.String("anb:latencyBelowBoot"), jsii.String(fmt.Sprintf(
			"acceptableLatency %s is shorter than a new worker's boot (~%s): scaling out cannot keep a burst within it; raise workerMinCapacity instead",
			p.AcceptableLatency, ExpectedWorkerBoot)), nil)
	}

	f := newFleet(this, fleetProps{
		role:          "worker",
		vpc:           vpc,
		subnets:       p.Network.PrivateSubnets(),
		securityGroup: sg,
		instanceType:  p.InstanceType,
		rootVolumeGiB: p.RootVolumeGiB,
		binary:        p.Binary,
		packages:      []string{"ffmpeg"}, // provides nodespec.FFmpeg
		env: nodespec.WorkerEnv(nodespec.Resources{
			Region:        *awscdk.Aws_REGION(),
			Bucket:        *p.Bucket.BucketName(),
			QueueURL:      *p.Queue.QueueUrl(),
			DeadLetterURL: *p.DeadLetterQueue.QueueUrl(),
			DBSecretARN:   *p.Database.Secret().SecretArn(),
			LifecycleHook: nodespec.LifecycleHookName,
		}),
		// SIGTERM only to the worker (not to its ffmpeg child), which stops
		// taking tasks and lets the job in hand finish for up to
		// nodespec.ShutdownGrace; systemd waits a little longer before SIGKILL.
		unitExtra: fmt.Sprintf("KillMode=mixed\nTimeoutStopSec=%g\n", (nodespec.ShutdownGrace + 30*time.Second).Seconds()),
		readiness: `# Ready once the worker has run for 20 s without a restart (config,
# database, migrations): a crash-looping binary is restarted within seconds.
for _ in $(seq 1 20); do
  sleep 1
  systemctl is-active --quiet anb-worker.service
  [ "$(systemctl show -p NRestarts --value anb-worker.service)" -eq 0 ]
done`,
		minCapacity: p.MinCapacity,
		maxCapacity: p.MaxCapacity,
		healthChecks: awsautoscaling.HealthChecks_Ec2(&awsautoscaling.Ec2HealthChecksOptions{
			GracePeriod: awscdk.Duration_Minutes(jsii.Number(10)),
		}),
		topic:         p.NotificationTopic,
		logRetention:  p.LogRetention,
		removalPolicy: p.RemovalPolicy,
		lab:           p.LearnerLab,
		bootTimeout:   awscdk.Duration_Minutes(jsii.Number(20)),
	})

	// Least privilege: read originals, write processed files and posters
	// (and delete them when their video was deleted mid-job), consume tasks.
	f.role.AddToPrincipalPolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Actions:   jsii.Strings("s3:GetObject"),
		Resources: &[]*string{p.Bucket.ArnForObjects(jsii.String("*"))},
	}))
	f.role.AddToPrincipalPolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Actions: jsii.Strings("s3:PutObject", "s3:AbortMultipartUpload", "s3:DeleteObject"),
		Resources: &[]*string{
			p.Bucket.ArnForObjects(jsii.String("processed/*")),
			p.Bucket.ArnForObjects(jsii.String("posters/*")),
		},
	}))
	grantListForNotFound(f.role, p.Bucket, "originals/*")
	p.Queue.GrantConsumeMessages(f.role)
	// The worker dead-letters a video that failed nodespec.MaxProcessingAttempts
	// times itself, and sweeps the dead-letter queue (receives without
	// deleting) to mark the videos of tasks that got there failed.
	f.role.AddToPrincipalPolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Actions: jsii.Strings("sqs:SendMessage", "sqs:ReceiveMessage", "sqs:ChangeMessageVisibility",
			"sqs:GetQueueAttributes", "sqs:GetQueueUrl"),
		Resources: &[]*string{p.DeadLetterQueue.QueueArn()},
	}))
	p.Database.Secret().GrantRead(f.role, nil)

	// Scale-in drains: a terminating worker stays up (Terminating:Wait) until
	// it has finished the job in hand and completed this hook, or until the
	// timeout, after which the termination goes on anyway (CONTINUE).
	f.group.AddLifecycleHook(jsii.String("Drain"), &awsautoscaling.BasicLifecycleHookProps{
		LifecycleHookName:   jsii.String(nodespec.LifecycleHookName),
		LifecycleTransition: awsautoscaling.LifecycleTransition_INSTANCE_TERMINATING,
		HeartbeatTimeout:    awscdk.Duration_Seconds(jsii.Number(nodespec.LifecycleHookTimeout.Seconds())),
		DefaultResult:       awsautoscaling.DefaultResult_CONTINUE,
	})
	// Only this group's hook. The statement names the group by the tags
	// CloudFormation puts on it, not by its generated name: a Ref to the
	// group would make this role's policy wait for the group, whose
	// creation waits for instances that need this policy to boot.
	groupARN := awscdk.Fn_Sub(jsii.String("arn:${AWS::Partition}:autoscaling:${AWS::Region}:${AWS::AccountId}:autoScalingGroup:*:autoScalingGroupName/*"), nil)
	f.role.AddToPrincipalPolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Actions:   jsii.Strings("autoscaling:CompleteLifecycleAction", "autoscaling:RecordLifecycleActionHeartbeat"),
		Resources: &[]*string{groupARN},
		Conditions: &map[string]interface{}{"StringEquals": map[string]interface{}{
			"autoscaling:ResourceTag/aws:cloudformation:stack-id":   awscdk.Aws_STACK_ID(),
			"autoscaling:ResourceTag/aws:cloudformation:logical-id": logicalIDOf(f.group),
		}},
	}))
	bucketID := logicalIDOf(p.Bucket)
	suppressOnOwnRole(f, &[]*cdknag.NagPackSuppression{{
		Id:     jsii.String("AwsSolutions-IAM5"),
		Reason: jsii.String("Object-level S3 access is scoped to this bucket and, for writes, to the processed/ and posters/ prefixes; object keys are video ids known only at run time."),
		AppliesTo: &[]interface{}{
			"Resource::<" + bucketID + ".Arn>/*",
			"Resource::<" + bucketID + ".Arn>/processed/*",
			"Resource::<" + bucketID + ".Arn>/posters/*",
		},
	}, {
		Id:        jsii.String("AwsSolutions-IAM5"),
		Reason:    jsii.String("Lifecycle actions are limited to this stack's worker group by its CloudFormation tags (stack id and logical id); the group's generated name cannot appear without a circular wait between group and role."),
		AppliesTo: &[]interface{}{"Resource::arn:<AWS::Partition>:autoscaling:<AWS::Region>:<AWS::AccountId>:autoScalingGroup:*:autoScalingGroupName/*"},
	}}, jsii.Bool(true))

	// Target tracking on backlog per instance. The L2 API only accepts a
	// single metric, so this is the L1 policy with metric math: e1 =
	// ApproximateNumberOfMessagesVisible / GroupInServiceInstances, guarded
	// (BacklogExpression). In-flight messages are left out: each is a video a
	// worker is already transcoding, and a busy worker is no reason to add one.
	// A fixed-size group has nothing to scale, and target tracking on a
	// group whose max is not above its min is refused.
	var policy awsautoscaling.CfnScalingPolicy
	if p.MaxCapacity > p.MinCapacity {
		policy = awsautoscaling.NewCfnScalingPolicy(this, jsii.String("BacklogPerInstance"), &awsautoscaling.CfnScalingPolicyProps{
			AutoScalingGroupName: f.group.AutoScalingGroupName(),
			PolicyType:           jsii.String("TargetTrackingScaling"),
			TargetTrackingConfiguration: &awsautoscaling.CfnScalingPolicy_TargetTrackingConfigurationProperty{
				TargetValue: jsii.Number(p.BacklogTarget),
				CustomizedMetricSpecification: &awsautoscaling.CfnScalingPolicy_CustomizedMetricSpecificationProperty{
					Metrics: &[]interface{}{
						metricQuery("m1", "AWS/SQS", "ApproximateNumberOfMessagesVisible", "QueueName", p.Queue.QueueName(), "Sum"),
						metricQuery("m2", "AWS/AutoScaling", "GroupInServiceInstances", "AutoScalingGroupName", f.group.AutoScalingGroupName(), "Average"),
						&awsautoscaling.CfnScalingPolicy_TargetTrackingMetricDataQueryProperty{
							Id:         jsii.String("e1"),
							Expression: jsii.String(BacklogExpression),
							Label:      jsii.String("Backlog per instance"),
							ReturnData: jsii.Bool(true),
						},
					},
				},
			},
		})
	}

	backlog := awscloudwatch.NewMathExpression(&awscloudwatch.MathExpressionProps{
		Expression: jsii.String(BacklogExpression),
		Label:      jsii.String(fmt.Sprintf("Backlog per instance (target %g)", p.BacklogTarget)),
		UsingMetrics: &map[string]awscloudwatch.IMetric{
			"m1": p.Queue.MetricApproximateNumberOfMessagesVisible(&awscloudwatch.MetricOptions{
				Statistic: jsii.String("Sum"), Period: awscdk.Duration_Minutes(jsii.Number(1)),
			}),
			"m2": awscloudwatch.NewMetric(&awscloudwatch.MetricProps{
				Namespace:     jsii.String("AWS/AutoScaling"),
				MetricName:    jsii.String("GroupInServiceInstances"),
				DimensionsMap: &map[string]*string{"AutoScalingGroupName": f.group.AutoScalingGroupName()},
				Statistic:     jsii.String("Average"),
				Period:        awscdk.Duration_Minutes(jsii.Number(1)),
			}),
		},
		Period: awscdk.Duration_Minutes(jsii.Number(1)),
	})

	filter := awslogs.NewMetricFilter(this, jsii.String("ProcessingTimeFilter"), &awslogs.MetricFilterProps{
		LogGroup: f.logGroup,
		FilterPattern: awslogs.FilterPattern_All(
			awslogs.FilterPattern_StringValue(jsii.String("$.msg"), jsii.String("="), jsii.String(nodespec.ProcessedLogMessage)),
			awslogs.FilterPattern_NumberValue(jsii.String("$."+nodespec.ProcessedSeconds), jsii.String(">="), jsii.Number(0)),
		),
		MetricNamespace: jsii.String(MetricsNamespace),
		MetricName:      jsii.String("ProcessingTime"),
		MetricValue:     jsii.String("$." + nodespec.ProcessedSeconds),
		Unit:            awscloudwatch.Unit_SECONDS,
	})
	processingTime := filter.Metric(&awscloudwatch.MetricOptions{
		Statistic: jsii.String("Average"),
		Period:    awscdk.Duration_Minutes(jsii.Number(1)),
	})

	this.fleet = f
	this.sg = sg
	this.policy = policy
	this.target = p.BacklogTarget
	this.backlog = backlog
	this.processingTime = processingTime
	return this
}

// metricQuery is one metric of a target-tracking metric-math query, not returned itself.
func metricQuery(id, namespace, name, dimension string, value *string, stat string) *awsautoscaling.CfnScalingPolicy_TargetTrackingMetricDataQueryProperty {
	return &awsautoscaling.CfnScalingPolicy_TargetTrackingMetricDataQueryProperty{
		Id: jsii.String(id),
		MetricStat: &awsautoscaling.CfnScalingPolicy_TargetTrackingMetricStatProperty{
			Metric: &awsautoscaling.CfnScalingPolicy_MetricProperty{
				Namespace:  jsii.String(namespace),
				MetricName: jsii.String(name),
				Dimensions: &[]interface{}{&awsautoscaling.CfnScalingPolicy_MetricDimensionProperty{
					Name: jsii.String(dimension), Value: value,
				}},
			},
			Stat: jsii.String(stat),
		},
		ReturnData: jsii.Bool(false),
	}
}

func (w *workerTier) AutoScalingGroup() awsautoscaling.AutoScalingGroup { return w.fleet.group }
func (w *workerTier) SecurityGroup() awsec2.SecurityGroup               { return w.sg }
func (w *workerTier) Role() awsiam.IRole                                { return w.fleet.role }
func (w *workerTier) LogGroup() awslogs.LogGroup                        { return w.fleet.logGroup }
func (w *workerTier) ScalingPolicy() awsautoscaling.CfnScalingPolicy    { return w.policy }
func (w *workerTier) BacklogTarget() float64                            { return w.target }
func (w *workerTier) BacklogPerInstance() awscloudwatch.MathExpression  { return w.backlog }
func (w *workerTier) ProcessingTime() awscloudwatch.Metric              { return w.processingTime }
