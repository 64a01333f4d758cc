package constructs

import (
	"fmt"
	"time"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsautoscaling"
	"github.com/aws/aws-cdk-go/awscdk/v2/awscertificatemanager"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsec2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awselasticloadbalancingv2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslogs"
	"github.com/aws/aws-cdk-go/awscdk/v2/awss3"
	"github.com/aws/aws-cdk-go/awscdk/v2/awss3assets"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssecretsmanager"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssns"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssqs"
	cdkconstructs "github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"
	"github.com/cdklabs/cdk-nag-go/cdknag/v2"

	"github.com/anb/risingstars/app/nodespec"
)

// WebTierProps configures the load balancer and the API instances. Zero values
// mean the documented default.
type WebTierProps struct {
	// Required collaborators.
	Network           Network
	Bucket            awss3.IBucket
	Queue             awssqs.IQueue
	Database          Database
	Binary            awss3assets.Asset // the linux/amd64 ./app executable
	AccessLogsBucket  awss3.IBucket     // ALB access logs
	NotificationTopic awssns.ITopic     // Auto Scaling events

	// InstanceType. Default DefaultWebInstanceType. A Graviton type (t4g,
	// c7g...) runs the arm64 Ubuntu image; Binary must be built for it.
	InstanceType awsec2.InstanceType
	// RootVolumeGiB of the encrypted gp3 root volume. Default 30.
	RootVolumeGiB float64
	// MinCapacity and MaxCapacity of the group. Defaults 2 (one per AZ, so one
	// instance or AZ can fail) and 3.
	MinCapacity, MaxCapacity float64
	// AppPort the API listens on (ANB_ADDR). Default nodespec.Port.
	AppPort float64
	// Certificate (ACM, of the stack's region). When set, the ALB serves
	// HTTPS on 443 and redirects HTTP to it; otherwise it serves HTTP on 80.
	Certificate awscertificatemanager.ICertificate
	// DomainName the site is reached under (a record pointing at the ALB,
	// made elsewhere). Default: the ALB's own DNS name.
	DomainName string
	// IdleTimeout of the ALB. Default 300 s: after the last byte of a 100 MB
	// upload the API still probes the file and copies it to S3 before it
	// answers, and a slow client's connection must survive its pauses. 300 s
	// also covers a 100 MB body sent at 3 Mbit/s (~270 s) by a client that
	// stalls until the whole request is written.
	IdleTimeout awscdk.Duration
	// CPUTarget is the average CPU % that target tracking keeps. Default 60.
	CPUTarget float64
	// RequestsPerTargetPerMinute is the ALB request count per instance that
	// target tracking keeps. Default 3000 (50 requests/s per instance).
	RequestsPerTargetPerMinute float64
	// LogRetention of the API logs. Default one month.
	LogRetention awslogs.RetentionDays
	// RemovalPolicy of the log group. Default RETAIN.
	RemovalPolicy awscdk.RemovalPolicy
	// MailFrom is the sender address of a verified SES identity the web
	// role may send verification mail from. Empty: no mail is sent (the
	// nodes keep it in their outbox).
	MailFrom string
	// VoteCounting is "all" or "verified" (ANB_VOTE_COUNTING). Default "all".
	VoteCounting string
	// LearnerLab runs the instances with the lab's instance profile; nil
	// gives the tier a least-privilege role of its own.
	LearnerLab *LearnerLab
}

// WebTier is the internet-facing ALB and the Auto Scaling group of API nodes
// (ANB_WORKERS=0: they only enqueue; the worker tier transcodes).
type WebTier interface {
	cdkconstructs.Construct
	LoadBalancer() awselasticloadbalancingv2.ApplicationLoadBalancer
	TargetGroup() awselasticloadbalancingv2.ApplicationTargetGroup
	AutoScalingGroup() awsautoscaling.AutoScalingGroup
	SecurityGroup() awsec2.SecurityGroup
	// Role of the instances: the tier's own, or a Learner Lab's LabRole.
	Role() awsiam.IRole
	LogGroup() awslogs.LogGroup
	JwtSecret() awssecretsmanager.Secret
	// SiteURL is http(s)://<DomainName, else the ALB's DNS name>.
	SiteURL() *string
}

type webTier struct {
	cdkconstructs.Construct
	alb         awselasticloadbalancingv2.ApplicationLoadBalancer
	targetGroup awselasticloadbalancingv2.ApplicationTargetGroup
	fleet       *fleet
	sg          awsec2.SecurityGroup
	jwt         awssecretsmanager.Secret
	siteURL     *string
}

// NewWebTier creates the ALB, the JWT signing secret and the API fleet.
func NewWebTier(scope cdkconstructs.Construct, id string, props *WebTierProps) WebTier {
	p := *props
	if p.InstanceType == nil {
		p.InstanceType = awsec2.NewInstanceType(jsii.String(DefaultWebInstanceType))
	}
	if p.RootVolumeGiB == 0 {
		p.RootVolumeGiB = 30
	}
	if p.MinCapacity == 0 {
		p.MinCapacity = 2
	}
	if p.MaxCapacity == 0 {
		p.MaxCapacity = 3
	}
	if p.AppPort == 0 {
		p.AppPort = nodespec.Port
	}
	if p.IdleTimeout == nil {
		p.IdleTimeout = awscdk.Duration_Seconds(jsii.Number(300))
	}
	if p.CPUTarget == 0 {
		p.CPUTarget = 60
	}
	if p.RequestsPerTargetPerMinute == 0 {
		p.RequestsPerTargetPerMinute = 3000
	}
	if p.LogRetention == "" {
		p.LogRetention = awslogs.RetentionDays_ONE_MONTH
	}
	if p.VoteCounting == "" {
		p.VoteCounting = "all"
	}
	vpc := p.Network.Vpc()
	https := p.Certificate != nil

	this := &webTier{}
	cdkconstructs.NewConstruct_Override(this, scope, jsii.String(id))

	jwt := awssecretsmanager.NewSecret(this, jsii.String("JwtSigningKey"), &awssecretsmanager.SecretProps{
		Description: jsii.String("HS256 signing key of the ANB API tokens (read via ANB_JWT_SECRET_ARN)"),
		GenerateSecretString: &awssecretsmanager.SecretStringGenerator{
			PasswordLength:     jsii.Number(64),
			ExcludePunctuation: jsii.Bool(true),
		},
		// Losing it only signs players out (tokens live an hour): never retained.
		RemovalPolicy: awscdk.RemovalPolicy_DESTROY,
	})
	cdknag.NagSuppressions_AddResourceSuppressions(jwt, &[]*cdknag.NagPackSuppression{{
		Id:     jsii.String("AwsSolutions-SMG4"),
		Reason: jsii.String("Rotating the single HS256 key would sign every player out at once; rotation needs key ids (kid) and a grace period in the token service first."),
	}}, jsii.Bool(false))

	albSG := awsec2.NewSecurityGroup(this, jsii.String("AlbSecurityGroup"), &awsec2.SecurityGroupProps{
		Vpc:              vpc,
		Description:      jsii.String("ANB ALB: HTTP(S) from the internet, to the web instances only"),
		AllowAllOutbound: jsii.Bool(false),
	})
	albSG.AddIngressRule(awsec2.Peer_AnyIpv4(), awsec2.Port_Tcp(jsii.Number(80)), jsii.String("HTTP from the internet"), nil)
	if https {
		albSG.AddIngressRule(awsec2.Peer_AnyIpv4(), awsec2.Port_Tcp(jsii.Number(443)), jsii.String("HTTPS from the internet"), nil)
	}
	cdknag.NagSuppressions_AddResourceSuppressions(albSG, &[]*cdknag.NagPackSuppression{{
		Id:     jsii.String("AwsSolutions-EC23"),
		Reason: jsii.String("The public site: players and voters reach the internet-facing ALB from anywhere, on the listener ports only."),
	}}, jsii.Bool(false))

	alb := awselasticloadbalancingv2.NewApplicationLoadBalancer(this, jsii.String("Alb"), &awselasticloadbalancingv2.ApplicationLoadBalancerProps{
		Vpc:                     vpc,
		VpcSubnets:              p.Network.PublicSubnets(),
		InternetFacing:          jsii.Bool(true),
		SecurityGroup:           albSG,
		IdleTimeout:             p.IdleTimeout,
		DropInvalidHeaderFields: jsii.Bool(true),
	})
	alb.LogAccessLogs(p.AccessLogsBucket, jsii.String("alb"))

	var listener awselasticloadbalancingv2.ApplicationListener
	if https {
		listener = alb.AddListener(jsii.String("Https"), &awselasticloadbalancingv2.BaseApplicationListenerProps{
			Port:         jsii.Number(443),
			Protocol:     awselasticloadbalancingv2.ApplicationProtocol_HTTPS,
			Certificates: &[]awselasticloadbalancingv2.IListenerCertificate{awselasticloadbalancingv2.ListenerCertificate_FromCertificateManager(p.Certificate)},
			SslPolicy:    awselasticloadbalancingv2.SslPolicy_RECOMMENDED_TLS,
			Open:         jsii.Bool(false),
		})
		alb.AddListener(jsii.String("HttpRedirect"), &awselasticloadbalancingv2.BaseApplicationListenerProps{
			Port:     jsii.Number(80),
			Protocol: awselasticloadbalancingv2.ApplicationProtocol_HTTP,
			Open:     jsii.Bool(false),
			DefaultAction: awselasticloadbalancingv2.ListenerAction_Redirect(&awselasticloadbalancingv2.RedirectOptions{
				Protocol:  jsii.String("HTTPS"),
				Port:      jsii.String("443"),
				Permanent: jsii.Bool(true),
			}),
		})
	} else {
		listener = alb.AddListener(jsii.String("Http"), &awselasticloadbalancingv2.BaseApplicationListenerProps{
			Port:     jsii.Number(80),
			Protocol: awselasticloadbalancingv2.ApplicationProtocol_HTTP,
			Open:     jsii.Bool(false),
		})
	}

	scheme := "http"
	if https {
		scheme = "https"
	}
	siteURL := scheme + "://" + orDefault(p.DomainName, *alb.LoadBalancerDnsName())

	sg := awsec2.NewSecurityGroup(this, jsii.String("SecurityGroup"), &awsec2.SecurityGroupProps{
		Vpc:              vpc,
		Description:      jsii.String("ANB web instances: app port from the ALB only"),
		AllowAllOutbound: jsii.Bool(false),
	})
	allowInstanceEgress(sg)
	p.Database.AllowFrom(sg, "PostgreSQL from the web tier")

	port := fmt.Sprintf("%g", p.AppPort)
	f := newFleet(this, fleetProps{
		role:          "web",
		vpc:           vpc,
		subnets:       p.Network.PrivateSubnets(),
		securityGroup: sg,
		instanceType:  p.InstanceType,
		rootVolumeGiB: p.RootVolumeGiB,
		binary:        p.Binary,
		env: nodespec.WebEnv(nodespec.Resources{
			Region:       *awscdk.Aws_REGION(),
			Bucket:       *p.Bucket.BucketName(),
			QueueURL:     *p.Queue.QueueUrl(),
			DBSecretARN:  *p.Database.Secret().SecretArn(),
			JWTSecretARN: *jwt.SecretArn(),
			Port:         int(p.AppPort),
			// The load balancer is in the VPC: its X-Forwarded-For is the
			// client's address, anyone else's is a claim.
			TrustedProxies: *vpc.VpcCidrBlock(),
			PublicURL:      siteURL,
			MailFrom:       p.MailFrom,
			VoteCounting:   p.VoteCounting,
		}),
		// The instance is stopped only after the load balancer drained it
		// (DeregistrationDelay), so the process only has to finish what is
		// left, within its own shutdown grace.
		unitExtra: fmt.Sprintf("TimeoutStopSec=%g\n", (nodespec.WebShutdownGrace + 5*time.Second).Seconds()),
		// Boot waits for the deep check: a deploy goes on only with a node
		// that reached the database with its secret and migrations, so a
		// build or configuration that cannot serve rolls back. Once in
		// service, the load balancer and the group probe the shallow
		// nodespec.LivenessPath, so a database outage replaces no node.
		readiness: `# Ready when ` + nodespec.ReadinessPath + ` answers 200 (the service and its database).
ready() { curl -fsS -o /dev/null http://127.0.0.1:` + port + nodespec.ReadinessPath + `; }
for _ in $(seq 1 60); do
  ready && break
  sleep 5
done
ready`,
		minCapacity: p.MinCapacity,
		maxCapacity: p.MaxCapacity,
		healthChecks: awsautoscaling.HealthChecks_WithAdditionalChecks(&awsautoscaling.AdditionalHealthChecksOptions{
			AdditionalTypes: &[]awsautoscaling.AdditionalHealthCheckType{awsautoscaling.AdditionalHealthCheckType_ELB},
			GracePeriod:     awscdk.Duration_Minutes(jsii.Number(10)),
		}),
		topic:         p.NotificationTopic,
		logRetention:  p.LogRetention,
		removalPolicy: p.RemovalPolicy,
		lab:           p.LearnerLab,
		bootTimeout:   awscdk.Duration_Minutes(jsii.Number(15)),
	})

	// Least privilege: the API stores originals, reads and deletes any of the
	// video's objects (DELETE removes original, processed file and poster),
	// presigns GETs, and enqueues tasks.
	f.role.AddToPrincipalPolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Actions:   jsii.Strings("s3:PutObject", "s3:AbortMultipartUpload"),
		Resources: &[]*string{p.Bucket.ArnForObjects(jsii.String("originals/*"))},
	}))
	f.role.AddToPrincipalPolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Actions:   jsii.Strings("s3:GetObject", "s3:DeleteObject"),
		Resources: &[]*string{p.Bucket.ArnForObjects(jsii.String("*"))},
	}))
	grantListForNotFound(f.role, p.Bucket, "originals/*", "processed/*", "posters/*")
	p.Queue.GrantSendMessages(f.role)
	if p.MailFrom != "" {
		// From this address only, whichever verified identity (the address
		// or its domain) covers it.
		f.role.AddToPrincipalPolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
			Actions:    jsii.Strings("ses:SendEmail"),
			Resources:  &[]*string{awscdk.Fn_Sub(jsii.String("arn:${AWS::Partition}:ses:${AWS::Region}:${AWS::AccountId}:identity/*"), nil)},
			Conditions: &map[string]any{"StringEquals": map[string]any{"ses:FromAddress": p.MailFrom}},
		}))
		suppressOnOwnRole(f, &[]*cdknag.NagPackSuppression{{
			Id:        jsii.String("AwsSolutions-IAM5"),
			Reason:    jsii.String("Sending is limited to one From address by the ses:FromAddress condition; the identity that covers it may be the address or its domain, so the identity name is left open."),
			AppliesTo: &[]interface{}{"Resource::arn:<AWS::Partition>:ses:<AWS::Region>:<AWS::AccountId>:identity/*"},
		}}, jsii.Bool(true))
	}
	p.Database.Secret().GrantRead(f.role, nil)
	jwt.GrantRead(f.role, nil)
	suppressOnOwnRole(f, &[]*cdknag.NagPackSuppression{{
		Id:     jsii.String("AwsSolutions-IAM5"),
		Reason: jsii.String("Object-level S3 access is scoped to this bucket and, for writes, to the originals/ prefix; object keys are video ids known only at run time."),
		AppliesTo: &[]interface{}{
			"Resource::<" + logicalIDOf(p.Bucket) + ".Arn>/originals/*",
			"Resource::<" + logicalIDOf(p.Bucket) + ".Arn>/*",
		},
	}}, jsii.Bool(true))

	targetGroup := listener.AddTargets(jsii.String("Web"), &awselasticloadbalancingv2.AddApplicationTargetsProps{
		Port:     jsii.Number(p.AppPort),
		Protocol: awselasticloadbalancingv2.ApplicationProtocol_HTTP,
		Targets:  &[]awselasticloadbalancingv2.IApplicationLoadBalancerTarget{f.group},
		// As long as the idle timeout: scale-in and deploys (the group waits
		// for the draining before it stops an instance) let an upload the
		// load balancer accepts finish.
		DeregistrationDelay: p.IdleTimeout,
		// The liveness path answers while the process serves HTTP, whatever
		// the database's state: a database failover takes no node out of
		// rotation and (ELB health checks) replaces none; a hung or dead
		// process is replaced.
		HealthCheck: &awselasticloadbalancingv2.HealthCheck{
			Path:                    jsii.String(nodespec.LivenessPath),
			HealthyHttpCodes:        jsii.String("200"),
			Interval:                awscdk.Duration_Seconds(jsii.Number(15)),
			Timeout:                 awscdk.Duration_Seconds(jsii.Number(5)),
			HealthyThresholdCount:   jsii.Number(2),
			UnhealthyThresholdCount: jsii.Number(3),
		},
	})

	// A fixed-size group has nothing to scale, and target tracking on a
	// group whose max is not above its min is refused.
	if p.MaxCapacity > p.MinCapacity {
		f.group.ScaleOnCpuUtilization(jsii.String("Cpu"), &awsautoscaling.CpuUtilizationScalingProps{
			TargetUtilizationPercent: jsii.Number(p.CPUTarget),
		})
		f.group.ScaleOnRequestCount(jsii.String("Requests"), &awsautoscaling.RequestCountScalingProps{
			TargetRequestsPerMinute: jsii.Number(p.RequestsPerTargetPerMinute),
		})
	}

	this.alb = alb
	this.targetGroup = targetGroup
	this.fleet = f
	this.sg = sg
	this.jwt = jwt
	this.siteURL = jsii.String(siteURL)
	return this
}

// DefaultWebInstanceType: the API is mostly idle and I/O-bound, so a
// burstable 2 vCPU / 2 GiB instance stays within its CPU credits.
const DefaultWebInstanceType = "t3.small"

// allowInstanceEgress opens what an instance needs outbound: HTTPS to AWS
// APIs (through the NAT gateway or the S3 endpoint) and the CloudWatch agent
// download; HTTP to the Ubuntu apt mirrors.
func allowInstanceEgress(sg awsec2.SecurityGroup) {
	sg.AddEgressRule(awsec2.Peer_AnyIpv4(), awsec2.Port_Tcp(jsii.Number(443)), jsii.String("HTTPS to AWS APIs and package downloads"), nil)
	sg.AddEgressRule(awsec2.Peer_AnyIpv4(), awsec2.Port_Tcp(jsii.Number(80)), jsii.String("HTTP to the Ubuntu apt mirrors"), nil)
}

func (w *webTier) LoadBalancer() awselasticloadbalancingv2.ApplicationLoadBalancer { return w.alb }
func (w *webTier) TargetGroup() awselasticloadbalancingv2.ApplicationTargetGroup {
	return w.targetGroup
}
func (w *webTier) AutoScalingGroup() awsautoscaling.AutoScalingGroup { return w.fleet.group }
func (w *webTier) SecurityGroup() awsec2.SecurityGroup               { return w.sg }
func (w *webTier) Role() awsiam.IRole                                { return w.fleet.role }
func (w *webTier) LogGroup() awslogs.LogGroup                        { return w.fleet.logGroup }
func (w *webTier) JwtSecret() awssecretsmanager.Secret               { return w.jwt }
func (w *webTier) SiteURL() *string                                  { return w.siteURL }
