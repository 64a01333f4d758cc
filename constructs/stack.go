package constructs

import (
	"fmt"
	"strings"
	"time"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awscertificatemanager"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsec2"
	cdkconstructs "github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"
	"github.com/cdklabs/cdk-nag-go/cdknag/v2"

	"github.com/anb/risingstars/app/nodespec"
)

// StackProps configures the whole deployment. Zero values mean the documented
// default.
type StackProps struct {
	awscdk.StackProps

	// BinariesDir holds the "app" and "worker" executables, each built for
	// its tier's architecture (BuildBinaries with BinaryArchs). Required.
	BinariesDir string

	// WebInstanceType and WorkerInstanceType. Defaults DefaultWebInstanceType
	// and DefaultWorkerInstanceType. A Graviton type runs arm64.
	WebInstanceType, WorkerInstanceType string
	// Web tier size. Defaults 2 and 3.
	WebMinCapacity, WebMaxCapacity float64
	// Worker tier size. Defaults 1 and 3.
	WorkerMinCapacity, WorkerMaxCapacity float64
	// BacklogTarget of the worker scaling policy. Default
	// DefaultBacklogTarget, or derived from SecondsPerVideo and
	// AcceptableLatency when either is given (WorkerTierProps).
	BacklogTarget     float64
	SecondsPerVideo   float64
	AcceptableLatency time.Duration
	// NatGateways. Default 2 (one per AZ).
	NatGateways float64
	// DatabaseInstanceClass. Default "db.t4g.micro".
	DatabaseInstanceClass string
	// MultiAzDatabase. Default true.
	MultiAzDatabase *bool
	// RemovalPolicy of the data. Default RETAIN: buckets and the database
	// secret stay, the database is deletion-protected and leaves a final
	// snapshot. DESTROY removes all of it with the stack.
	RemovalPolicy awscdk.RemovalPolicy
	// AlarmEmail subscribed to the alerts topic. Without it (and without
	// NoAlarmSubscriber) synthesis warns that alarms notify nobody.
	AlarmEmail string
	// NoAlarmSubscriber says that no subscriber is a conscious choice
	// (subscribed outside this stack, or a throwaway environment).
	NoAlarmSubscriber bool
	// HTTPS, one way or the other (never both); without either the site is
	// plain HTTP and synthesis warns.
	// CertificateArn of an existing ACM certificate of the stack's region.
	CertificateArn string
	// DomainName and HostedZoneId (a Route 53 public hosted zone holding the
	// domain): the stack creates a DNS-validated certificate for the domain
	// and an alias record pointing it at the load balancer.
	DomainName, HostedZoneId string
	// MailFrom is the sender address of a verified SES identity: the web
	// role may send from it, and the web nodes send verification mail
	// through SES. Empty: they keep mail in their outbox.
	MailFrom string
	// VoteCounting is "all" (the default) or "verified".
	VoteCounting string
	// DatabaseStorage of the RDS instance. Zero values mean its defaults.
	DatabaseStorage DatabaseStorage
	// LearnerLab deploys into an AWS Academy Learner Lab account, whose
	// credentials cannot create IAM resources: nil for any other account.
	LearnerLab *LearnerLab
}

// LearnerLab names what a Learner Lab account already has for its
// instances. With it the stack creates no IAM resource and nothing that
// brings one along (Lambda-backed custom resources, a flow-log role, an
// enhanced-monitoring role); an aspect fails synthesis if one slips in.
type LearnerLab struct {
	// InstanceProfileName both tiers run with. Default "LabInstanceProfile".
	InstanceProfileName string
	// RoleName of the role behind that profile. Default "LabRole".
	RoleName string
}

// Stack is the whole deployment with handles on its parts.
type Stack interface {
	awscdk.Stack
	Network() Network
	Storage() Storage
	TaskQueue() TaskQueue
	Database() Database
	WebTier() WebTier
	WorkerTier() WorkerTier
	Observability() Observability
}

type stack struct {
	awscdk.Stack
	network       Network
	storage       Storage
	queue         TaskQueue
	database      Database
	web           WebTier
	worker        WorkerTier
	observability Observability
}

// BinaryArchs is what BuildBinaries must build for these props: each
// executable for the architecture of its tier's instance type.
func (p *StackProps) BinaryArchs() map[string]Arch {
	return map[string]Arch{
		AppBinary:    ArchOf(orDefault(p.WebInstanceType, DefaultWebInstanceType)),
		WorkerBinary: ArchOf(orDefault(p.WorkerInstanceType, DefaultWorkerInstanceType)),
	}
}

func orDefault(v, def string) string {
	if v == "" {
		return def
	}
	return v
}

// NewStack composes the constructs into the whole deployment.
func NewStack(scope cdkconstructs.Construct, id string, props *StackProps) Stack {
	p := *props
	p.WebInstanceType = orDefault(p.WebInstanceType, DefaultWebInstanceType)
	p.WorkerInstanceType = orDefault(p.WorkerInstanceType, DefaultWorkerInstanceType)
	if p.Description == nil {
		p.Description = jsii.String("ANB Rising Stars Showcase: API, video workers, PostgreSQL, S3, SQS")
	}
	s := &stack{}
	awscdk.NewStack_Override(s, scope, jsii.String(id), &p.StackProps)
	awscdk.Tags_Of(s).Add(jsii.String("project"), jsii.String("anb-rising-stars"), &awscdk.TagProps{
		// CloudFormation accepts Tags on these two, but cfn-lint's schemas do
		// not know it yet; a cost tag on a free listener and a dashboard is
		// worth less than keeping E3002 (unknown property) on for the rest.
		ExcludeResourceTypes: jsii.Strings("AWS::ElasticLoadBalancingV2::Listener", "AWS::CloudWatch::Dashboard"),
	})
	if p.AlarmEmail == "" && !p.NoAlarmSubscriber {
		awscdk.Annotations_Of(s).AddWarningV2(jsii.String("anb:noAlarmSubscriber"), jsii.String(
			"No alarmEmail: the alarms notify an SNS topic nobody subscribes to. Give -c alarmEmail=you@example.com, or -c alarmEmail=none to say this is intended."), nil)
	}
	if (p.DomainName == "") != (p.HostedZoneId == "") || (p.DomainName != "" && p.CertificateArn != "") {
		panic("anb.NewStack: give DomainName with HostedZoneId, or CertificateArn, or neither")
	}
	var certificate awscertificatemanager.ICertificate
	var domain SiteDomain
	switch {
	case p.DomainName != "":
		domain = NewSiteDomain(s, "Domain", &SiteDomainProps{DomainName: p.DomainName, HostedZoneId: p.HostedZoneId})
		certificate = domain.Certificate()
	case p.CertificateArn != "":
		certificate = awscertificatemanager.Certificate_FromCertificateArn(s, jsii.String("Certificate"), jsii.String(p.CertificateArn))
	default:
		awscdk.Annotations_Of(s).AddWarningV2(jsii.String("anb:plainHttp"), jsii.String(
			"No domainName/hostedZoneId and no certificateArn: the site is plain HTTP, passwords and tokens cross the internet unencrypted. Give -c domainName=videos.example.com -c hostedZoneId=Z..., or -c certificateArn=arn:aws:acm:..."), nil)
	}
	archs := p.BinaryArchs()
	lab := p.LearnerLab
	if lab != nil {
		l := *lab
		l.InstanceProfileName = orDefault(l.InstanceProfileName, "LabInstanceProfile")
		l.RoleName = orDefault(l.RoleName, "LabRole")
		lab = &l
		awscdk.Aspects_Of(s).Add(&noIAMResources{}, nil)
	}

	storage := NewStorage(s, "Storage", &StorageProps{
		RemovalPolicy: p.RemovalPolicy,
		// Emptying a bucket on delete is a Lambda-backed custom resource.
		AutoDeleteObjects: jsii.Bool(lab == nil && p.RemovalPolicy == awscdk.RemovalPolicy_DESTROY),
	})
	network := NewNetwork(s, "Network", &NetworkProps{
		NatGateways:    p.NatGateways,
		FlowLogsBucket: storage.LogsBucket(),
		// Removing the default security group's rules is a Lambda-backed
		// custom resource; no instance uses that group either way.
		RestrictDefaultSecurityGroup: jsii.Bool(lab == nil),
	})
	queue := NewTaskQueue(s, "TaskQueue", nil)
	database := NewDatabase(s, "Database", &DatabaseProps{
		Vpc:           network.Vpc(),
		Subnets:       network.DatabaseSubnets(),
		InstanceClass: p.DatabaseInstanceClass,
		MultiAz:       p.MultiAzDatabase,
		Storage:       p.DatabaseStorage,
		RemovalPolicy: p.RemovalPolicy,
	})
	release := NewRelease(s, "Release", &ReleaseProps{Dir: p.BinariesDir, AppArch: archs[AppBinary], WorkerArch: archs[WorkerBinary]})
	alerts := NewAlerts(s, "Alerts", &AlertsProps{Email: p.AlarmEmail})
	web := NewWebTier(s, "WebTier", &WebTierProps{
		Network:           network,
		Bucket:            storage.Bucket(),
		Queue:             queue.Queue(),
		Database:          database,
		Binary:            release.App(),
		AccessLogsBucket:  storage.LogsBucket(),
		NotificationTopic: alerts.Topic(),
		InstanceType:      awsec2.NewInstanceType(jsii.String(p.WebInstanceType)),
		MinCapacity:       p.WebMinCapacity,
		MaxCapacity:       p.WebMaxCapacity,
		Certificate:       certificate,
		DomainName:        p.DomainName,
		LearnerLab:        lab,
		RemovalPolicy:     p.RemovalPolicy,
		MailFrom:          p.MailFrom,
		VoteCounting:      p.VoteCounting,
	})
	if domain != nil {
		domain.AliasTo(web.LoadBalancer())
	}
	worker := NewWorkerTier(s, "WorkerTier", &WorkerTierProps{
		Network:           network,
		Bucket:            storage.Bucket(),
		Queue:             queue.Queue(),
		DeadLetterQueue:   queue.DeadLetterQueue(),
		Database:          database,
		Binary:            release.Worker(),
		NotificationTopic: alerts.Topic(),
		InstanceType:      awsec2.NewInstanceType(jsii.String(p.WorkerInstanceType)),
		MinCapacity:       p.WorkerMinCapacity,
		MaxCapacity:       p.WorkerMaxCapacity,
		BacklogTarget:     p.BacklogTarget,
		SecondsPerVideo:   p.SecondsPerVideo,
		AcceptableLatency: p.AcceptableLatency,
		LearnerLab:        lab,
		RemovalPolicy:     p.RemovalPolicy,
	})
	obs := NewObservability(s, "Observability", &ObservabilityProps{
		Web:      web,
		Worker:   worker,
		Queue:    queue,
		Database: database,
		Topic:    alerts.Topic(),
	})

	output := func(id, value, description string) {
		awscdk.NewCfnOutput(s, jsii.String(id), &awscdk.CfnOutputProps{
			Value:       jsii.String(value),
			Description: jsii.String(description),
		})
	}
	output("SiteUrl", *web.SiteURL(), "The web page and REST API (ALB)")
	output("BucketName", *storage.Bucket().BucketName(), "S3 bucket of originals, processed videos and posters")
	output("LogsBucketName", *storage.LogsBucket().BucketName(), "S3 bucket of the ALB and S3 access logs and the VPC flow logs")
	output("QueueUrl", *queue.Queue().QueueUrl(), "SQS queue of video tasks")
	output("DeadLetterQueueUrl", *queue.DeadLetterQueue().QueueUrl(),
		fmt.Sprintf("SQS dead-letter queue (videos that failed %d times; their videos are marked failed)", nodespec.MaxProcessingAttempts))
	output("DatabaseEndpoint", *database.Instance().DbInstanceEndpointAddress(), "PostgreSQL endpoint (private)")
	output("DatabaseSecretArn", *database.Secret().SecretArn(), "Secrets Manager secret with the database credentials")
	output("DashboardUrl", *obs.DashboardURL(), "CloudWatch dashboard")
	output("AlarmTopicArn", *alerts.Topic().TopicArn(), "SNS topic of alarms and scaling events")

	s.network, s.storage, s.queue, s.database = network, storage, queue, database
	s.web, s.worker, s.observability = web, worker, obs
	return s
}

func (s *stack) Network() Network             { return s.network }
func (s *stack) Storage() Storage             { return s.storage }
func (s *stack) TaskQueue() TaskQueue         { return s.queue }
func (s *stack) Database() Database           { return s.database }
func (s *stack) WebTier() WebTier             { return s.web }
func (s *stack) WorkerTier() WorkerTier       { return s.worker }
func (s *stack) Observability() Observability { return s.observability }

// noIAMResources fails synthesis on any resource a Learner Lab account
// cannot create: IAM resources, and the Lambda functions and custom
// resources that come with a role of their own.
type noIAMResources struct{}

func (*noIAMResources) Visit(node cdkconstructs.IConstruct) {
	res, ok := node.(awscdk.CfnResource)
	if !ok {
		return
	}
	typ := *res.CfnResourceType()
	if strings.HasPrefix(typ, "AWS::IAM::") || strings.HasPrefix(typ, "AWS::Lambda::") ||
		strings.HasPrefix(typ, "Custom::") || typ == "AWS::CloudFormation::CustomResource" {
		awscdk.Annotations_Of(node).AddError(jsii.String(fmt.Sprintf(
			"%s: a Learner Lab account cannot create IAM roles, so the learner-lab profile must not create this resource or anything that needs a role of its own", typ)))
	}
}

// logicalIDOf is the CloudFormation logical id of a construct's resource, as
// cdk-nag prints it in the appliesTo of a finding ("<LogicalId.Arn>").
func logicalIDOf(c cdkconstructs.IConstruct) string {
	return *awscdk.Stack_Of(c).GetLogicalId(c.Node().DefaultChild().(awscdk.CfnElement))
}

// NewApp returns an App with the feature flags this code is written against
// (go run and go test never read cdk.json) and cdk-nag's AWS Solutions checks,
// so a finding fails `cdk synth`. Extra context (e.g. from tests) is merged in.
func NewApp(props *awscdk.AppProps) awscdk.App {
	p := awscdk.AppProps{}
	if props != nil {
		p = *props
	}
	ctx := FeatureFlags()
	if p.Context != nil {
		for k, v := range *p.Context {
			ctx[k] = v
		}
	}
	p.Context = &ctx
	app := awscdk.NewApp(&p)
	awscdk.Aspects_Of(app).Add(cdknag.NewAwsSolutionsChecks(&cdknag.NagPackProps{Verbose: jsii.Bool(true)}), nil)
	return app
}
