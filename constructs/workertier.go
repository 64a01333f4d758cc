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
)

// Measured on these machines: one 30 s 1080p upload takes about 10-12 s of
// ffmpeg on 2 vCPU (t3.small), one job at a time per instance.
const (
	DefaultSecondsPerVideo   = 12
	DefaultAcceptableLatency = 3 * time.Minute
)

// BacklogTarget is the backlog per instance (visible messages / in-service
// instances) that keeps the wait of the last queued video within
// acceptableLatency when each instance processes one video every
// secondsPerVideo seconds: the last of B queued tasks starts after about
// B x secondsPerVideo seconds, so B = latency / secondsPerVideo, rounded down.
// Defaults: 180 s / 12 s = 15.
func BacklogTarget(acceptableLatency time.Duration, secondsPerVideo float64) float64 {
	return math.Max(1, math.Floor(acceptableLatency.Seconds()/secondsPerVideo))
}

// WorkerTierProps configures the transcoding fleet. Zero values mean the default.
type WorkerTierProps struct {
	// Required collaborators.
	Network           Network
	Bucket            awss3.IBucket
	Queue             awssqs.IQueue
	Database          Database
	Binary            awss3assets.Asset // the linux/amd64 ./worker executable
	NotificationTopic awssns.ITopic

	// InstanceType. Default t3.small, same size as the web tier.
	InstanceType awsec2.InstanceType
	// MachineImage. Default DefaultMachineImage() (Ubuntu 24.04, ffmpeg via apt).
	MachineImage awsec2.IMachineImage
	// RootVolumeGiB of the encrypted gp3 root volume. Default 30.
	RootVolumeGiB float64
	// MinCapacity and MaxCapacity. Defaults 1 and 3.
	MinCapacity, MaxCapacity float64
	// SecondsPerVideo and AcceptableLatency give the default BacklogTarget.
	// Defaults DefaultSecondsPerVideo and DefaultAcceptableLatency.
	SecondsPerVideo   float64
	AcceptableLatency time.Duration
	// BacklogTarget is the target of the backlog-per-instance tracking policy.
	// Default BacklogTarget(AcceptableLatency, SecondsPerVideo) = 15.
	BacklogTarget float64
	// LogRetention of the worker logs. Default one month.
	LogRetention awslogs.RetentionDays
	// ProcessedLogMessage and DurationField describe the JSON log line the
	// worker writes per processed video (worker/processor: msg "video
	// processed", "seconds"), from which the ProcessingTime metric (seconds)
	// is extracted. Defaults "video processed" and "seconds".
	ProcessedLogMessage, DurationField string
}

// WorkerTier is the Auto Scaling group of ffmpeg workers that scales on SQS
// backlog per instance.
type WorkerTier interface {
	cdkconstructs.Construct
	AutoScalingGroup() awsautoscaling.AutoScalingGroup
	SecurityGroup() awsec2.SecurityGroup
	Role() awsiam.Role
	LogGroup() awslogs.LogGroup
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
		p.InstanceType = awsec2.NewInstanceType(jsii.String("t3.small"))
	}
	if p.MachineImage == nil {
		p.MachineImage = DefaultMachineImage()
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
	if p.ProcessedLogMessage == "" {
		p.ProcessedLogMessage = "video processed"
	}
	if p.DurationField == "" {
		p.DurationField = "seconds"
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

	f := newFleet(this, fleetProps{
		role:          "worker",
		vpc:           vpc,
		subnets:       p.Network.PrivateSubnets(),
		securityGroup: sg,
		instanceType:  p.InstanceType,
		machineImage:  p.MachineImage,
		rootVolumeGiB: p.RootVolumeGiB,
		binary:        p.Binary,
		packages:      []string{"ffmpeg"},
		env: [][2]string{
			{"ANB_DATA_DIR", "/var/lib/anb"},
			// ffmpeg already uses both vCPUs: one job at a time per instance,
			// which is also what the backlog target assumes.
			{"ANB_WORKERS", "1"},
			{"ANB_FFMPEG", "/usr/bin/ffmpeg"},
			{"ANB_STORAGE", "s3"},
			{"ANB_S3_BUCKET", *p.Bucket.BucketName()},
			{"ANB_QUEUE", "sqs"},
			{"ANB_SQS_QUEUE_URL", *p.Queue.QueueUrl()},
			{"ANB_DB_SECRET_ARN", *p.Database.Secret().SecretArn()},
			{"AWS_REGION", *awscdk.Aws_REGION()},
		},
		// SIGTERM only to the worker (not to its ffmpeg child), which stops
		// taking tasks and finishes or releases the one in hand.
		unitExtra: "KillMode=mixed\nTimeoutStopSec=90\n",
		readiness: `# Ready when the worker is still running after its start-up (config, database, migrations).
sleep 15
systemctl is-active --quiet anb-worker.service`,
		minCapacity: p.MinCapacity,
		maxCapacity: p.MaxCapacity,
		healthChecks: awsautoscaling.HealthChecks_Ec2(&awsautoscaling.Ec2HealthChecksOptions{
			GracePeriod: awscdk.Duration_Minutes(jsii.Number(10)),
		}),
		topic:        p.NotificationTopic,
		logRetention: p.LogRetention,
		bootTimeout:  awscdk.Duration_Minutes(jsii.Number(20)),
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
	p.Queue.GrantConsumeMessages(f.role)
	p.Database.Secret().GrantRead(f.role, nil)
	bucketID := logicalIDOf(p.Bucket)
	cdknag.NagSuppressions_AddResourceSuppressions(f.role, &[]*cdknag.NagPackSuppression{{
		Id:     jsii.String("AwsSolutions-IAM5"),
		Reason: jsii.String("Object-level S3 access is scoped to this bucket and, for writes, to the processed/ and posters/ prefixes; object keys are video ids known only at run time."),
		AppliesTo: &[]interface{}{
			"Resource::<" + bucketID + ".Arn>/*",
			"Resource::<" + bucketID + ".Arn>/processed/*",
			"Resource::<" + bucketID + ".Arn>/posters/*",
		},
	}}, jsii.Bool(true))

	// Target tracking on backlog per instance. The L2 API only accepts a
	// single metric, so this is the L1 policy with metric math:
	// e1 = m1 / m2 = ApproximateNumberOfMessagesVisible / GroupInServiceInstances.
	policy := awsautoscaling.NewCfnScalingPolicy(this, jsii.String("BacklogPerInstance"), &awsautoscaling.CfnScalingPolicyProps{
		AutoScalingGroupName: f.group.AutoScalingGroupName(),
		PolicyType:           jsii.String("TargetTrackingScaling"),
		TargetTrackingConfiguration: &awsautoscaling.CfnScalingPolicy_TargetTrackingConfigurationProperty{
			TargetValue: jsii.Number(p.BacklogTarget),
			CustomizedMetricSpecification: &awsautoscaling.CfnScalingPolicy_CustomizedMetricSpecificationProperty{
				Metrics: &[]interface{}{
					&awsautoscaling.CfnScalingPolicy_TargetTrackingMetricDataQueryProperty{
						Id: jsii.String("m1"),
						MetricStat: &awsautoscaling.CfnScalingPolicy_TargetTrackingMetricStatProperty{
							Metric: &awsautoscaling.CfnScalingPolicy_MetricProperty{
								Namespace:  jsii.String("AWS/SQS"),
								MetricName: jsii.String("ApproximateNumberOfMessagesVisible"),
								Dimensions: &[]interface{}{&awsautoscaling.CfnScalingPolicy_MetricDimensionProperty{
									Name: jsii.String("QueueName"), Value: p.Queue.QueueName(),
								}},
							},
							Stat: jsii.String("Sum"),
						},
						ReturnData: jsii.Bool(false),
					},
					&awsautoscaling.CfnScalingPolicy_TargetTrackingMetricDataQueryProperty{
						Id: jsii.String("m2"),
						MetricStat: &awsautoscaling.CfnScalingPolicy_TargetTrackingMetricStatProperty{
							Metric: &awsautoscaling.CfnScalingPolicy_MetricProperty{
								Namespace:  jsii.String("AWS/AutoScaling"),
								MetricName: jsii.String("GroupInServiceInstances"),
								Dimensions: &[]interface{}{&awsautoscaling.CfnScalingPolicy_MetricDimensionProperty{
									Name: jsii.String("AutoScalingGroupName"), Value: f.group.AutoScalingGroupName(),
								}},
							},
							Stat: jsii.String("Average"),
						},
						ReturnData: jsii.Bool(false),
					},
					&awsautoscaling.CfnScalingPolicy_TargetTrackingMetricDataQueryProperty{
						Id:         jsii.String("e1"),
						Expression: jsii.String("m1 / m2"),
						Label:      jsii.String("Backlog per instance"),
						ReturnData: jsii.Bool(true),
					},
				},
			},
		},
	})

	backlog := awscloudwatch.NewMathExpression(&awscloudwatch.MathExpressionProps{
		Expression: jsii.String("m1 / m2"),
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
			awslogs.FilterPattern_StringValue(jsii.String("$.msg"), jsii.String("="), jsii.String(p.ProcessedLogMessage)),
			awslogs.FilterPattern_NumberValue(jsii.String("$."+p.DurationField), jsii.String(">="), jsii.Number(0)),
		),
		MetricNamespace: jsii.String(MetricsNamespace),
		MetricName:      jsii.String("ProcessingTime"),
		MetricValue:     jsii.String("$." + p.DurationField),
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

func (w *workerTier) AutoScalingGroup() awsautoscaling.AutoScalingGroup { return w.fleet.group }
func (w *workerTier) SecurityGroup() awsec2.SecurityGroup               { return w.sg }
func (w *workerTier) Role() awsiam.Role                                 { return w.fleet.role }
func (w *workerTier) LogGroup() awslogs.LogGroup                        { return w.fleet.logGroup }
func (w *workerTier) ScalingPolicy() awsautoscaling.CfnScalingPolicy    { return w.policy }
func (w *workerTier) BacklogTarget() float64                            { return w.target }
func (w *workerTier) BacklogPerInstance() awscloudwatch.MathExpression  { return w.backlog }
func (w *workerTier) ProcessingTime() awscloudwatch.Metric              { return w.processingTime }
