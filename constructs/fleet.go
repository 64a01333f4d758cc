package constructs

import (
	"bytes"
	"fmt"
	"math"
	"strings"
	"text/template"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsautoscaling"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsec2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslogs"
	"github.com/aws/aws-cdk-go/awscdk/v2/awss3"
	"github.com/aws/aws-cdk-go/awscdk/v2/awss3assets"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssns"
	cdkconstructs "github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"
	"github.com/cdklabs/cdk-nag-go/cdknag/v2"

	"github.com/anb/risingstars/app/nodespec"
)

// UbuntuAmiParameter is Canonical's public SSM parameter for the current Ubuntu
// 24.04 LTS gp3 AMI of an architecture. Why Ubuntu: `apt-get install ffmpeg`
// works (Amazon Linux 2023 has no ffmpeg package), the SSM agent is
// preinstalled (Session Manager with no SSH key), it is supported until 2029,
// and a public parameter resolves at deploy time, so synth needs no AWS
// account or AMI lookup.
func UbuntuAmiParameter(arch Arch) string {
	return "/aws/service/canonical/ubuntu/server/24.04/stable/current/" + string(arch) + "/hvm/ebs-gp3/ami-id"
}

// MachineImage is the Ubuntu 24.04 image of an architecture.
func MachineImage(arch Arch) awsec2.IMachineImage {
	return awsec2.MachineImage_FromSsmParameter(jsii.String(UbuntuAmiParameter(arch)), &awsec2.SsmParameterImageOptions{
		Os: awsec2.OperatingSystemType_LINUX,
	})
}

// CloudWatchAgentVersion is the CloudWatch agent release the nodes install
// (a fixed download, never "latest": every node of a deploy runs the same
// agent, and a new agent release cannot break boot). Bump it deliberately.
const CloudWatchAgentVersion = "1.300072.0b1766"

// CloudWatchAgentKeyFingerprint is the fingerprint of the key AWS signs the
// CloudWatch agent packages with, as AWS's documentation on verifying the
// agent's signature publishes it. The boot checks the downloaded key against
// it before trusting the package's signature.
const CloudWatchAgentKeyFingerprint = "937616F3450B7D806CBD9725D58167303B789C72"

// fleetProps is what the web and worker tiers have in common: an Auto Scaling
// group of identical Ubuntu instances that each run one of the binaries under
// systemd.
type fleetProps struct {
	role          string // "web" or "worker": names the unit, binary, env and log files
	vpc           awsec2.IVpc
	subnets       *awsec2.SubnetSelection
	securityGroup awsec2.ISecurityGroup
	instanceType  awsec2.InstanceType // its architecture picks the AMI and the agent build
	rootVolumeGiB float64
	binary        awss3assets.Asset // built for the instance type's architecture
	env           []nodespec.Var    // written to /etc/anb/<role>.env in this order
	packages      []string          // apt packages the image lacks
	unitExtra     string            // extra [Service] lines of the systemd unit
	readiness     string            // bash that succeeds once the service is ready
	minCapacity   float64
	maxCapacity   float64
	healthChecks  awsautoscaling.HealthChecks
	topic         awssns.ITopic
	logRetention  awslogs.RetentionDays
	removalPolicy awscdk.RemovalPolicy // of the log group
	bootTimeout   awscdk.Duration
	lab           *LearnerLab // nil: the fleet makes its own role
}

type fleet struct {
	group          awsautoscaling.AutoScalingGroup
	role           awsiam.IRole
	logGroup       awslogs.LogGroup
	launchTemplate awsec2.LaunchTemplate
	// ownsRole: the fleet created its role, which cdk-nag then reviews; a
	// Learner Lab's role is used as it is.
	ownsRole bool
}

// RollingUpdateMinInService is how many instances a deploy keeps in service
// while it replaces them one at a time: the group's minimum, but always below
// its maximum, which CloudFormation requires (so min == max deploys too; with
// a single instance that means a short gap while it is replaced).
func RollingUpdateMinInService(minCapacity, maxCapacity float64) float64 {
	return math.Max(0, math.Min(minCapacity, maxCapacity-1))
}

// newFleet builds the role, log group, launch template and group of one tier.
func newFleet(this cdkconstructs.Construct, p fleetProps) *fleet {
	arch := AMD64
	if p.instanceType.Architecture() == awsec2.InstanceArchitecture_ARM_64 {
		arch = ARM64
	}
	logGroup := awslogs.NewLogGroup(this, jsii.String("Logs"), &awslogs.LogGroupProps{
		Retention:     p.logRetention,
		RemovalPolicy: orRetain(p.removalPolicy),
	})

	if p.lab != nil {
		return newLabFleet(this, p, arch, logGroup)
	}
	role := awsiam.NewRole(this, jsii.String("InstanceRole"), &awsiam.RoleProps{
		AssumedBy:   awsiam.NewServicePrincipal(jsii.String("ec2.amazonaws.com"), nil),
		Description: jsii.String("ANB " + p.role + " instances"),
		ManagedPolicies: &[]awsiam.IManagedPolicy{
			awsiam.ManagedPolicy_FromAwsManagedPolicyName(jsii.String("AmazonSSMManagedInstanceCore")),
		},
	})
	// Exactly this binary, nothing else of the bootstrap bucket.
	role.AddToPrincipalPolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Actions:   jsii.Strings("s3:GetObject"),
		Resources: &[]*string{p.binary.Bucket().ArnForObjects(p.binary.S3ObjectKey())},
	}))
	logGroup.GrantWrite(role)
	// The instance tells CloudFormation it booted (creation policy, rolling update).
	role.AddToPrincipalPolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Actions:   jsii.Strings("cloudformation:SignalResource"),
		Resources: &[]*string{awscdk.Aws_STACK_ID()},
	}))
	cdknag.NagSuppressions_AddResourceSuppressions(role, &[]*cdknag.NagPackSuppression{{
		Id:        jsii.String("AwsSolutions-IAM4"),
		Reason:    jsii.String("AmazonSSMManagedInstanceCore is the AWS-maintained minimum for Session Manager access, which replaces SSH keys."),
		AppliesTo: &[]interface{}{"Policy::arn:<AWS::Partition>:iam::aws:policy/AmazonSSMManagedInstanceCore"},
	}}, jsii.Bool(false))

	return newFleetWith(this, p, arch, logGroup, role, nil)
}

// newLabFleet runs the fleet with the Learner Lab's instance profile and
// role, creating no IAM resource. The lab's role already allows what the
// instances do (S3, SQS, Secrets Manager, CloudWatch, Auto Scaling,
// CloudFormation signals); grants on it are no-ops.
func newLabFleet(this cdkconstructs.Construct, p fleetProps, arch Arch, logGroup awslogs.LogGroup) *fleet {
	role := awsiam.Role_FromRoleName(this, jsii.String("LabRole"), jsii.String(p.lab.RoleName), &awsiam.FromRoleNameOptions{
		Mutable: jsii.Bool(false),
	})
	// With its role, so the group sees the role its instances run with.
	profile := awsiam.InstanceProfile_FromInstanceProfileAttributes(this, jsii.String("LabInstanceProfile"), &awsiam.InstanceProfileAttributes{
		InstanceProfileArn: awscdk.Fn_Sub(jsii.String("arn:${AWS::Partition}:iam::${AWS::AccountId}:instance-profile/"+p.lab.InstanceProfileName), nil),
		Role:               role,
	})
	return newFleetWith(this, p, arch, logGroup, role, profile)
}

// newFleetWith builds the launch template and group of a fleet whose role
// is settled: a role the template wraps in a new instance profile, or an
// existing instance profile.
func newFleetWith(this cdkconstructs.Construct, p fleetProps, arch Arch, logGroup awslogs.LogGroup, role awsiam.IRole, profile awsiam.IInstanceProfile) *fleet {
	var templateRole awsiam.IRole
	if profile == nil {
		templateRole = role
	}
	// A pegged T instance must not be throttled to its baseline (20 % of a
	// vCPU on a t3.small): unlimited mode bills the surplus instead.
	cpuCredits := awsec2.CpuCredits("")
	if *p.instanceType.IsBurstable() {
		cpuCredits = awsec2.CpuCredits_UNLIMITED
	}
	userData := awsec2.UserData_ForLinux(&awsec2.LinuxUserDataOptions{Shebang: jsii.String("#!/bin/bash")})
	launchTemplate := awsec2.NewLaunchTemplate(this, jsii.String("LaunchTemplate"), &awsec2.LaunchTemplateProps{
		InstanceType:            p.instanceType,
		MachineImage:            MachineImage(arch),
		UserData:                userData,
		Role:                    templateRole,
		InstanceProfile:         profile,
		CpuCredits:              cpuCredits,
		SecurityGroup:           p.securityGroup,
		RequireImdsv2:           jsii.Bool(true),
		HttpPutResponseHopLimit: jsii.Number(1),
		// The worker reads its group's name from its instance tags
		// (aws:autoscaling:groupName) to complete the lifecycle hook.
		InstanceMetadataTags: jsii.Bool(true),
		// One-minute EC2 metrics make CPU target tracking react in minutes, not tens of minutes.
		DetailedMonitoring: jsii.Bool(true),
		BlockDevices: &[]*awsec2.BlockDevice{{
			DeviceName: jsii.String("/dev/sda1"), // Ubuntu's root device
			Volume: awsec2.BlockDeviceVolume_Ebs(jsii.Number(p.rootVolumeGiB), &awsec2.EbsDeviceOptions{
				VolumeType:          awsec2.EbsDeviceVolumeType_GP3,
				Encrypted:           jsii.Bool(true),
				DeleteOnTermination: jsii.Bool(true),
			}),
		}},
	})

	group := awsautoscaling.NewAutoScalingGroup(this, jsii.String("Group"), &awsautoscaling.AutoScalingGroupProps{
		Vpc:                   p.vpc,
		VpcSubnets:            p.subnets,
		LaunchTemplate:        launchTemplate,
		MinCapacity:           jsii.Number(p.minCapacity),
		MaxCapacity:           jsii.Number(p.maxCapacity),
		HealthChecks:          p.healthChecks,
		GroupMetrics:          &[]awsautoscaling.GroupMetrics{awsautoscaling.GroupMetrics_All()},
		Notifications:         &[]*awsautoscaling.NotificationConfiguration{{Topic: p.topic}},
		DefaultInstanceWarmup: awscdk.Duration_Minutes(jsii.Number(5)),
		Cooldown:              awscdk.Duration_Minutes(jsii.Number(5)),
		// A deploy (new binary => new user data => new launch template version)
		// replaces instances one at a time and only goes on when the new
		// instance reports it is serving; a broken build rolls back.
		Signals: awsautoscaling.Signals_WaitForMinCapacity(&awsautoscaling.SignalsOptions{Timeout: p.bootTimeout}),
		UpdatePolicy: awsautoscaling.UpdatePolicy_RollingUpdate(&awsautoscaling.RollingUpdateOptions{
			MaxBatchSize:          jsii.Number(1),
			MinInstancesInService: jsii.Number(RollingUpdateMinInService(p.minCapacity, p.maxCapacity)),
			PauseTime:             p.bootTimeout,
		}),
	})
	// Instances fetch packages at boot: start them only once the NAT routes exist.
	group.Node().AddDependency(p.vpc.SelectSubnets(p.subnets).InternetConnectivityEstablished)

	userData.AddCommands(renderBootScript(bootScript{
		Role:                p.role,
		Arch:                string(arch),
		Region:              *awscdk.Aws_REGION(),
		URLSuffix:           *awscdk.Aws_URL_SUFFIX(),
		StackName:           *awscdk.Aws_STACK_NAME(),
		LogicalID:           logicalIDOf(group),
		BinaryBucket:        *p.binary.S3BucketName(),
		BinaryKey:           *p.binary.S3ObjectKey(),
		AgentVersion:        CloudWatchAgentVersion,
		AgentKeyFingerprint: CloudWatchAgentKeyFingerprint,
		LogGroup:            *logGroup.LogGroupName(),
		Packages:            strings.Join(p.packages, " "),
		Env:                 nodespec.Environ(p.env),
		StateDir:            stateDirectory(),
		UnitExtra:           p.unitExtra,
		Readiness:           p.readiness,
		Description:         "ANB Rising Stars " + p.role,
	}))
	return &fleet{group: group, role: role, logGroup: logGroup, launchTemplate: launchTemplate, ownsRole: profile == nil}
}

// suppressOnOwnRole records cdk-nag suppressions (with their reasons) on the
// role the fleet created, and its default policy; a Learner Lab's role is
// not in the template.
func suppressOnOwnRole(f *fleet, suppressions *[]*cdknag.NagPackSuppression, applyToChildren *bool) {
	if f.ownsRole {
		cdknag.NagSuppressions_AddResourceSuppressions(f.role, suppressions, applyToChildren)
	}
}

// grantListForNotFound lets a role list the prefixes it reads: without
// s3:ListBucket, S3 answers 403 for a missing object instead of 404, and a
// missing original would look like a storage outage. IfExists: S3's own
// check for that 404 carries no prefix, a real listing must name one of them.
func grantListForNotFound(role awsiam.IRole, bucket awss3.IBucket, prefixes ...string) {
	role.AddToPrincipalPolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Actions:    jsii.Strings("s3:ListBucket"),
		Resources:  &[]*string{bucket.BucketArn()},
		Conditions: &map[string]any{"StringLikeIfExists": map[string]any{"s3:prefix": prefixes}},
	}))
}

// orRetain is a removal policy, RETAIN when unset.
func orRetain(policy awscdk.RemovalPolicy) awscdk.RemovalPolicy {
	if policy == "" {
		return awscdk.RemovalPolicy_RETAIN
	}
	return policy
}

// stateDirectory is the systemd StateDirectory= that gives the service
// nodespec.DataDir (systemd creates it under /var/lib, owned by the service).
func stateDirectory() string {
	const base = "/var/lib/"
	if !strings.HasPrefix(nodespec.DataDir, base) {
		panic("nodespec.DataDir must be under " + base + " to be a systemd StateDirectory, got " + nodespec.DataDir)
	}
	return strings.TrimPrefix(nodespec.DataDir, base)
}

type bootScript struct {
	Role, Arch, Region, URLSuffix, StackName, LogicalID string
	BinaryBucket, BinaryKey, AgentVersion, LogGroup     string
	AgentKeyFingerprint                                 string
	Packages                                            string
	Env                                                 []string
	StateDir, UnitExtra, Readiness, Description         string
}

// The user data of both tiers. Values are CloudFormation tokens (names, URLs,
// ARNs), never secret values: the binaries fetch those from Secrets Manager.
// It needs nothing the Ubuntu image lacks to talk to AWS: curl signs the
// CloudFormation and S3 calls itself (--aws-sigv4) with the instance role's
// IMDSv2 credentials, so a failure on any line, even the first, signals
// FAILURE at once instead of leaving CloudFormation waiting for the timeout.
var bootTemplate = template.Must(template.New("boot").Parse(`# {{.Description}} node bootstrap, generated by constructs/fleet.go; runs once at first boot.
set -euo pipefail
REGION='{{.Region}}'
URL_SUFFIX='{{.URLSuffix}}'

# imds PATH reads instance metadata with an IMDSv2 session token.
imds() {
  local token
  token=$(curl -fsS --retry 5 --retry-connrefused -X PUT -H 'X-aws-ec2-metadata-token-ttl-seconds: 60' \
    http://169.254.169.254/latest/api/token)
  curl -fsS --retry 5 -H "X-aws-ec2-metadata-token: $token" "http://169.254.169.254/latest/$1"
}

# aws_api SERVICE URL [CURL ARGS...] calls an AWS API signed with the instance
# role's temporary credentials, passed to curl on stdin, never on its command line.
aws_api() {
  local service=$1 url=$2 role
  shift 2
  role=$(imds meta-data/iam/security-credentials/)
  imds "meta-data/iam/security-credentials/$role" |
    python3 -c 'import json, sys; c = json.load(sys.stdin); print("user = \"%s:%s\"\nheader = \"X-Amz-Security-Token: %s\"" % (c["AccessKeyId"], c["SecretAccessKey"], c["Token"]))' |
    curl -fsS --retry 5 --config - --aws-sigv4 "aws:amz:$REGION:$service" "$@" "$url"
}

# Tell CloudFormation whether this instance came up (creation policy, rolling
# update). Outside a deployment there is nothing to signal and the call fails
# harmlessly.
signal() {
  aws_api cloudformation "https://cloudformation.$REGION.$URL_SUFFIX/" -o /dev/null \
    --data-urlencode Action=SignalResource --data-urlencode Version=2010-05-15 \
    --data-urlencode 'StackName={{.StackName}}' --data-urlencode 'LogicalResourceId={{.LogicalID}}' \
    --data-urlencode "UniqueId=$(imds meta-data/instance-id)" --data-urlencode "Status=$1" || true
}
# failed: a boot that fails tells CloudFormation (a deploy rolls back) and
# stops the instance, which its group then replaces, deploy or not: a node
# that never came up must not stay InService. The delay lets the agent ship
# the boot log first.
failed() {
  signal FAILURE
  shutdown -h +2 "ANB {{.Role}} boot failed: stopping so the Auto Scaling group replaces this instance" || true
}
trap 'if [ "$?" -ne 0 ]; then failed; fi' EXIT
{{if .Packages}}
export DEBIAN_FRONTEND=noninteractive
# unattended-upgrades may hold the dpkg lock at first boot: wait for it.
apt_get() { apt-get -o DPkg::Lock::Timeout=600 -q "$@"; }
retry() {
  for _ in 1 2 3 4; do "$@" && return 0; sleep 10; done
  "$@"
}
retry apt_get update
retry apt_get install -y --no-install-recommends {{.Packages}}
{{end}}
# Logs: the service writes /var/log/anb/{{.Role}}.log; the CloudWatch agent ships it
# and the boot log to the tier's log group, one stream per instance. The
# package is installed only if AWS's signature on it verifies under the
# pinned key fingerprint. Without logs shipped the node still serves: an
# agent that cannot be installed is logged, not a failed boot.
install -d -m 0755 /var/log/anb
cat > /usr/local/sbin/anb-install-agent <<'AGENT'
#!/bin/bash
set -euo pipefail
base='https://amazoncloudwatch-agent.s3.amazonaws.com'
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
export GNUPGHOME=$dir/gnupg
install -d -m 0700 "$GNUPGHOME"
curl -fsS --retry 5 -o "$dir/key.gpg" "$base/assets/amazon-cloudwatch-agent.gpg"
curl -fsS --retry 5 -o "$dir/agent.deb" "$base/ubuntu/{{.Arch}}/{{.AgentVersion}}/amazon-cloudwatch-agent.deb"
curl -fsS --retry 5 -o "$dir/agent.deb.sig" "$base/ubuntu/{{.Arch}}/{{.AgentVersion}}/amazon-cloudwatch-agent.deb.sig"
gpg --batch --quiet --import "$dir/key.gpg"
gpg --batch --with-colons --fingerprint | grep -qx 'fpr:*:{{.AgentKeyFingerprint}}:'
gpg --batch --verify "$dir/agent.deb.sig" "$dir/agent.deb"
dpkg -i -E "$dir/agent.deb"
cat > /opt/aws/amazon-cloudwatch-agent/etc/anb.json <<'JSON'
{
  "agent": {"run_as_user": "root"},
  "logs": {"logs_collected": {"files": {"collect_list": [
    {"file_path": "/var/log/anb/{{.Role}}.log", "log_group_name": "{{.LogGroup}}", "log_stream_name": "{instance_id}/{{.Role}}"},
    {"file_path": "/var/log/cloud-init-output.log", "log_group_name": "{{.LogGroup}}", "log_stream_name": "{instance_id}/boot"}
  ]}}}
}
JSON
/opt/aws/amazon-cloudwatch-agent/bin/amazon-cloudwatch-agent-ctl -a fetch-config -m ec2 -s \
  -c file:/opt/aws/amazon-cloudwatch-agent/etc/anb.json
AGENT
chmod 0755 /usr/local/sbin/anb-install-agent
if ! /usr/local/sbin/anb-install-agent; then
  echo "WARNING: the CloudWatch agent {{.AgentVersion}} could not be installed; logs stay on this instance (/var/log/anb)" >&2
fi
cat > /etc/logrotate.d/anb <<'ROTATE'
/var/log/anb/*.log {
  daily
  rotate 7
  compress
  missingok
  notifempty
  copytruncate
}
ROTATE

# The binary of this module, built during synth and shipped as a CDK asset.
aws_api s3 'https://{{.BinaryBucket}}.s3.'"$REGION.$URL_SUFFIX"'/{{.BinaryKey}}' \
  -H 'x-amz-content-sha256: UNSIGNED-PAYLOAD' -o /usr/local/bin/anb-{{.Role}}
chmod 0755 /usr/local/bin/anb-{{.Role}}

install -d -m 0755 /etc/anb
cat > /etc/anb/{{.Role}}.env <<'ENV'
{{range .Env}}{{.}}
{{end}}ENV

cat > /etc/systemd/system/anb-{{.Role}}.service <<'UNIT'
[Unit]
Description={{.Description}}
Wants=network-online.target
After=network-online.target
# A binary that keeps crashing is not retried for ever on a node that then
# counts as InService and does nothing: after 5 starts in 10 minutes the
# unit fails and anb-node-failed stops the instance for its group to replace.
StartLimitIntervalSec=600
StartLimitBurst=5
OnFailure=anb-node-failed.service

[Service]
# The binary says READY=1 once it reached and migrated the database (and, on
# the web, listens), so starting the unit waits for a node that can work, and
# pings the watchdog while its own liveness check passes: a wedged process
# is killed and restarted.
Type=notify
TimeoutStartSec=180
WatchdogSec=60
EnvironmentFile=/etc/anb/{{.Role}}.env
ExecStart=/usr/local/bin/anb-{{.Role}}
Restart=always
RestartSec=3
DynamicUser=yes
StateDirectory={{.StateDir}}
StandardOutput=append:/var/log/anb/{{.Role}}.log
StandardError=append:/var/log/anb/{{.Role}}.log
NoNewPrivileges=yes
ProtectSystem=strict
ProtectHome=yes
PrivateTmp=yes
LimitNOFILE=65536
{{.UnitExtra}}
[Install]
WantedBy=multi-user.target
UNIT
cat > /etc/systemd/system/anb-node-failed.service <<'FAILED'
[Unit]
Description=Stop this instance: anb-{{.Role}} keeps failing, its Auto Scaling group replaces it

[Service]
Type=oneshot
ExecStart=/bin/sh -c 'echo "anb-{{.Role}} failed 5 times in 10 minutes: stopping the instance in 60 s" >>/var/log/anb/{{.Role}}.log; sleep 60; systemctl poweroff'
FAILED
systemctl daemon-reload
# Several instances may start together: the binary runs the database
# migrations at start under a database lock, so exactly one of them applies them.
systemctl enable --now anb-{{.Role}}.service

{{.Readiness}}
signal SUCCESS
`))

func renderBootScript(b bootScript) *string {
	var buf bytes.Buffer
	if err := bootTemplate.Execute(&buf, b); err != nil {
		panic(fmt.Sprintf("rendering the %s boot script: %v", b.Role, err))
	}
	return jsii.String(buf.String())
}
