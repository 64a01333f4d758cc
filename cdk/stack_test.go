package main

import (
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/aws/aws-cdk-go/awscdk/v2/assertions"
	"github.com/aws/jsii-runtime-go"

	"github.com/anb/risingstars/app/nodespec"
	anb "github.com/anb/risingstars/constructs"
)

// Tests of the deployment, concern by concern, on the default configuration
// (GIVEN the stack main synthesizes with no context, WHEN it is synthesized,
// THEN ...), and on the non-default ones where they differ.

// subnetIDs lists the ids of one subnet group ("public", "private", "database").
func subnetIDs(t *testing.T, stack, group string) []string {
	t.Helper()
	var ids []string
	re := regexp.MustCompile("^NetworkVpc" + group + "Subnet\\dSubnet")
	for id := range resourcesOf(t, stack, "AWS::EC2::Subnet") {
		if re.MatchString(id) {
			ids = append(ids, id)
		}
	}
	sort.Strings(ids)
	return ids
}

func refs(ids []string) []any {
	out := make([]any, len(ids))
	for i, id := range ids {
		out[i] = object{"Ref": id}
	}
	return out
}

func TestVpcSpansTwoAzsWithPublicPrivateAndIsolatedSubnets(t *testing.T) {
	// GIVEN the stack main builds with no context WHEN it is synthesized (once per package)
	tpl := stackTemplate(t, defaultStack)
	// THEN

	for group, typ := range map[string]string{"public": "Public", "private": "Private", "database": "Isolated"} {
		ids := subnetIDs(t, defaultStack, group)
		if len(ids) != 2 {
			t.Fatalf("%s subnets: want 2 (one per AZ), got %v", group, ids)
		}
		for i, id := range ids {
			az := props(resourcesOf(t, defaultStack, "AWS::EC2::Subnet")[id], "AvailabilityZone")
			if got, want := flatten(az), fmt.Sprintf(`<{"Fn::Select":[%d,{"Fn::GetAZs":""}]}>`, i); got != want {
				t.Errorf("%s subnet %d is in AZ %s, want %s", group, i+1, got, want)
			}
			check(t, group+" subnet type", func() {
				tpl.HasResourceProperties(jsii.String("AWS::EC2::Subnet"), object{
					"Tags": arrayWith(object{"Key": "aws-cdk:subnet-type", "Value": typ}),
				})
			})
		}
	}
	check(t, "one NAT gateway per AZ by default", func() {
		tpl.ResourceCountIs(jsii.String("AWS::EC2::NatGateway"), jsii.Number(2))
	})
	check(t, "S3 gateway endpoint on the private route tables", func() {
		tpl.HasResourceProperties(jsii.String("AWS::EC2::VPCEndpoint"), object{
			"VpcEndpointType": "Gateway",
			"ServiceName":     assertions.Match_AnyValue(),
			"RouteTableIds": array(
				object{"Ref": assertions.Match_StringLikeRegexp(jsii.String("^NetworkVpcprivateSubnet1RouteTable"))},
				object{"Ref": assertions.Match_StringLikeRegexp(jsii.String("^NetworkVpcprivateSubnet2RouteTable"))},
			),
		})
	})
	_, endpoint := onlyResource(t, defaultStack, "AWS::EC2::VPCEndpoint", ".")
	if s := flatten(props(endpoint, "ServiceName")); !strings.HasSuffix(s, ".s3") {
		t.Errorf("the gateway endpoint serves %s, want S3", s)
	}
	check(t, "VPC flow logs", func() {
		tpl.HasResourceProperties(jsii.String("AWS::EC2::FlowLog"), object{"TrafficType": "ALL", "ResourceType": "VPC"})
	})
}

func TestLoadBalancerIsInternetFacingAcrossBothAzs(t *testing.T) {
	// GIVEN the stack main builds with no context WHEN it is synthesized (once per package)
	tpl := stackTemplate(t, defaultStack)
	// THEN

	check(t, "internet-facing ALB in both public subnets", func() {
		tpl.HasResourceProperties(jsii.String("AWS::ElasticLoadBalancingV2::LoadBalancer"), object{
			"Scheme":  "internet-facing",
			"Type":    "application",
			"Subnets": refs(subnetIDs(t, defaultStack, "public")),
		})
	})
	// The idle timeout must outlast a 100 MB upload's pauses and the server's
	// work after the last byte; the whole upload at 3 Mbit/s is the bound used.
	const minIdle = 100 * 8 / 3 // seconds: 100 MB = 800 Mbit at 3 Mbit/s
	_, alb := onlyResource(t, defaultStack, "AWS::ElasticLoadBalancingV2::LoadBalancer", ".")
	attrs := map[string]string{}
	for _, a := range props(alb, "LoadBalancerAttributes").([]any) {
		kv := a.(map[string]any)
		attrs[kv["Key"].(string)] = flatten(kv["Value"])
	}
	if idle, _ := strconv.Atoi(attrs["idle_timeout.timeout_seconds"]); idle < minIdle {
		t.Errorf("ALB idle timeout %q s, want at least %d s", attrs["idle_timeout.timeout_seconds"], minIdle)
	}
	if attrs["access_logs.s3.enabled"] != "true" {
		t.Errorf("ALB access logs are not enabled: %v", attrs)
	}
	check(t, "health check GET on the liveness path (never the database) on the app port", func() {
		tpl.HasResourceProperties(jsii.String("AWS::ElasticLoadBalancingV2::TargetGroup"), object{
			"HealthCheckPath": nodespec.LivenessPath,
			"Matcher":         object{"HttpCode": "200"},
			"Port":            nodespec.Port,
			"Protocol":        "HTTP",
			"TargetType":      "instance",
		})
	})
	check(t, "HTTP listener forwarding to the web tier (no certificate configured)", func() {
		tpl.ResourceCountIs(jsii.String("AWS::ElasticLoadBalancingV2::Listener"), jsii.Number(1))
		tpl.HasResourceProperties(jsii.String("AWS::ElasticLoadBalancingV2::Listener"), object{
			"Port":           80,
			"Protocol":       "HTTP",
			"DefaultActions": array(like(object{"Type": "forward"})),
		})
	})
}

func TestWebTierRunsTwoToThreeInstancesAcrossBothAzs(t *testing.T) {
	// GIVEN the stack main builds with no context WHEN it is synthesized (once per package)
	tpl := stackTemplate(t, defaultStack)
	// THEN
	asgID, _ := onlyResource(t, defaultStack, "AWS::AutoScaling::AutoScalingGroup", "^WebTierGroup")
	tgID, _ := onlyResource(t, defaultStack, "AWS::ElasticLoadBalancingV2::TargetGroup", ".")

	check(t, "web group size, AZs, ELB health checks, group metrics", func() {
		tpl.HasResource(jsii.String("AWS::AutoScaling::AutoScalingGroup"), object{
			"Properties": like(object{
				"MinSize":           "2",
				"MaxSize":           "3",
				"VPCZoneIdentifier": refs(subnetIDs(t, defaultStack, "private")),
				"HealthCheckType":   "ELB",
				"TargetGroupARNs":   array(object{"Ref": tgID}),
				"MetricsCollection": array(object{"Granularity": "1Minute"}),
			}),
			// A deploy waits for each new instance to report /health before going on.
			"CreationPolicy": object{"ResourceSignal": like(object{"Count": 2})},
			"UpdatePolicy": like(object{"AutoScalingRollingUpdate": like(object{
				"MinInstancesInService": 2, "MaxBatchSize": 1, "WaitOnResourceSignals": true,
			})}),
		})
	})
	check(t, "target tracking on CPU", func() {
		tpl.HasResourceProperties(jsii.String("AWS::AutoScaling::ScalingPolicy"), object{
			"AutoScalingGroupName": object{"Ref": asgID},
			"PolicyType":           "TargetTrackingScaling",
			"TargetTrackingConfiguration": like(object{
				"PredefinedMetricSpecification": like(object{"PredefinedMetricType": "ASGAverageCPUUtilization"}),
				"TargetValue":                   60,
			}),
		})
	})
	check(t, "target tracking on ALB requests per target", func() {
		tpl.HasResourceProperties(jsii.String("AWS::AutoScaling::ScalingPolicy"), object{
			"AutoScalingGroupName": object{"Ref": asgID},
			"TargetTrackingConfiguration": like(object{
				"PredefinedMetricSpecification": like(object{"PredefinedMetricType": "ALBRequestCountPerTarget"}),
			}),
		})
	})
}

func TestWorkerTierScalesOnSqsBacklogPerInstance(t *testing.T) {
	// GIVEN the stack main builds with no context WHEN it is synthesized (once per package)
	tpl := stackTemplate(t, defaultStack)
	// THEN
	asgID, _ := onlyResource(t, defaultStack, "AWS::AutoScaling::AutoScalingGroup", "^WorkerTierGroup")
	queueID, _ := onlyResource(t, defaultStack, "AWS::SQS::Queue", "^TaskQueueTasks")

	check(t, "worker group of 1 to 3 instances across both AZs with group metrics", func() {
		tpl.HasResourceProperties(jsii.String("AWS::AutoScaling::AutoScalingGroup"), object{
			"MinSize":           "1",
			"MaxSize":           "3",
			"VPCZoneIdentifier": refs(subnetIDs(t, defaultStack, "private")),
			"MetricsCollection": array(object{"Granularity": "1Minute"}),
		})
	})
	// GIVEN no setting THEN the target the scaling simulator chose.
	check(t, "metric-math target tracking: this queue's visible messages / this group's in-service instances", func() {
		tpl.HasResourceProperties(jsii.String("AWS::AutoScaling::ScalingPolicy"), object{
			"AutoScalingGroupName": object{"Ref": asgID},
			"PolicyType":           "TargetTrackingScaling",
			"TargetTrackingConfiguration": object{
				"TargetValue": anb.DefaultBacklogTarget,
				"CustomizedMetricSpecification": object{"Metrics": array(
					object{
						"Id": "m1",
						"MetricStat": object{
							"Metric": object{
								"Namespace":  "AWS/SQS",
								"MetricName": "ApproximateNumberOfMessagesVisible",
								"Dimensions": array(object{"Name": "QueueName", "Value": object{"Fn::GetAtt": array(queueID, "QueueName")}}),
							},
							"Stat": "Sum",
						},
						"ReturnData": false,
					},
					object{
						"Id": "m2",
						"MetricStat": object{
							"Metric": object{
								"Namespace":  "AWS/AutoScaling",
								"MetricName": "GroupInServiceInstances",
								"Dimensions": array(object{"Name": "AutoScalingGroupName", "Value": object{"Ref": asgID}}),
							},
							"Stat": "Average",
						},
						"ReturnData": false,
					},
					object{"Id": "e1", "Expression": anb.BacklogExpression, "Label": assertions.Match_AnyValue(), "ReturnData": true},
				)},
			},
		})
	})
}

func TestQueueHasDeadLetterQueueEncryptionAndLongPolling(t *testing.T) {
	// GIVEN the stack main builds with no context WHEN it is synthesized (once per package)
	tpl := stackTemplate(t, defaultStack)
	// THEN
	dlqID, _ := onlyResource(t, defaultStack, "AWS::SQS::Queue", "^TaskQueueDeadLetter")

	check(t, "task queue: crash-loop backstop redrive, the workers' visibility and long polling, SSE-SQS", func() {
		tpl.HasResourceProperties(jsii.String("AWS::SQS::Queue"), object{
			"RedrivePolicy": object{
				"deadLetterTargetArn": object{"Fn::GetAtt": array(dlqID, "Arn")},
				"maxReceiveCount":     nodespec.QueueMaxReceiveCount,
			},
			"VisibilityTimeout":             nodespec.Visibility.Seconds(),
			"SqsManagedSseEnabled":          true,
			"ReceiveMessageWaitTimeSeconds": nodespec.LongPollSeconds,
		})
	})
	if nodespec.QueueMaxReceiveCount <= nodespec.MaxProcessingAttempts {
		t.Errorf("the redrive (%d receives) must stay a backstop above the worker's %d attempts",
			nodespec.QueueMaxReceiveCount, nodespec.MaxProcessingAttempts)
	}
	check(t, "both queues encrypted and TLS-only", func() {
		tpl.AllResourcesProperties(jsii.String("AWS::SQS::Queue"), object{"SqsManagedSseEnabled": true})
		tpl.ResourcePropertiesCountIs(jsii.String("AWS::SQS::QueuePolicy"), object{
			"PolicyDocument": like(object{"Statement": arrayWith(like(object{
				"Effect":    "Deny",
				"Condition": object{"Bool": object{"aws:SecureTransport": "false"}},
			}))}),
		}, jsii.Number(2))
	})
}

func TestBucketIsPrivateEncryptedSslOnlyAndCleansIncompleteUploads(t *testing.T) {
	// GIVEN the stack main builds with no context WHEN it is synthesized (once per package)
	tpl := stackTemplate(t, defaultStack)
	// THEN
	bucketID, _ := onlyResource(t, defaultStack, "AWS::S3::Bucket", "^StorageMedia")

	check(t, "media bucket private, encrypted, cleans incomplete multipart uploads", func() {
		tpl.HasResourceProperties(jsii.String("AWS::S3::Bucket"), object{
			"PublicAccessBlockConfiguration": object{
				"BlockPublicAcls": true, "BlockPublicPolicy": true, "IgnorePublicAcls": true, "RestrictPublicBuckets": true,
			},
			"BucketEncryption": object{"ServerSideEncryptionConfiguration": array(like(object{
				"ServerSideEncryptionByDefault": object{"SSEAlgorithm": "AES256"},
			}))},
			"OwnershipControls": object{"Rules": array(object{"ObjectOwnership": "BucketOwnerEnforced"})},
			"LifecycleConfiguration": object{"Rules": arrayWith(like(object{
				"AbortIncompleteMultipartUpload": object{"DaysAfterInitiation": 1},
				"Status":                         "Enabled",
			}))},
			"LoggingConfiguration": like(object{"DestinationBucketName": assertions.Match_AnyValue()}),
		})
	})
	check(t, "media bucket policy denies non-TLS requests", func() {
		tpl.HasResourceProperties(jsii.String("AWS::S3::BucketPolicy"), object{
			"Bucket": object{"Ref": bucketID},
			"PolicyDocument": like(object{"Statement": arrayWith(like(object{
				"Effect":    "Deny",
				"Action":    "s3:*",
				"Condition": object{"Bool": object{"aws:SecureTransport": "false"}},
			}))}),
		})
	})
	check(t, "data survives `cdk destroy` by default", func() {
		tpl.HasResource(jsii.String("AWS::S3::Bucket"), object{"DeletionPolicy": "Retain", "Properties": like(object{
			"LoggingConfiguration": assertions.Match_AnyValue(),
		})})
	})
}

func TestDatabaseIsPrivateEncryptedWithGeneratedSecretAndBackups(t *testing.T) {
	// GIVEN the stack main builds with no context WHEN it is synthesized (once per package)
	tpl := stackTemplate(t, defaultStack)
	// THEN
	secretID, _ := onlyResource(t, defaultStack, "AWS::SecretsManager::Secret", "^DatabaseCredentials")

	check(t, "PostgreSQL, private, encrypted, Multi-AZ, backed up, password from Secrets Manager", func() {
		tpl.HasResource(jsii.String("AWS::RDS::DBInstance"), object{
			// Deleting it (after lifting the protection) leaves a final snapshot.
			"DeletionPolicy": "Snapshot",
			"Properties": like(object{
				"Engine":                "postgres",
				"DBInstanceClass":       "db.t4g.micro",
				"PubliclyAccessible":    false,
				"StorageEncrypted":      true,
				"MultiAZ":               true,
				"DeletionProtection":    true,
				"BackupRetentionPeriod": 7,
				"Port":                  "5432",
				"MasterUserPassword": object{"Fn::Join": array("", array(
					"{{resolve:secretsmanager:", object{"Ref": secretID}, ":SecretString:password::}}",
				))},
			}),
		})
	})
	check(t, "the database password is generated by Secrets Manager, and kept to open that snapshot", func() {
		tpl.HasResource(jsii.String("AWS::SecretsManager::Secret"), object{
			"DeletionPolicy": "Retain",
			"Properties": like(object{
				"GenerateSecretString": like(object{"GenerateStringKey": "password"}),
			}),
		})
	})
	check(t, "the database lives in the isolated subnets", func() {
		tpl.HasResourceProperties(jsii.String("AWS::RDS::DBSubnetGroup"), object{
			"SubnetIds": refs(subnetIDs(t, defaultStack, "database")),
		})
	})
	check(t, "the JWT signing key is generated by Secrets Manager", func() {
		tpl.HasResourceProperties(jsii.String("AWS::SecretsManager::Secret"), object{
			"GenerateSecretString": object{"PasswordLength": 64, "ExcludePunctuation": true},
		})
	})
}

// ingressRule is one allowed inbound flow: to a security group, from a peer, on a port.
type ingressRule struct{ to, from, port string }

func TestSecurityGroupsAllowOnlyAlbToWebAndTiersToDatabase(t *testing.T) {
	// GIVEN every ingress rule of the default stack, inline or separate
	sgs := resourcesOf(t, defaultStack, "AWS::EC2::SecurityGroup")
	var rules []ingressRule
	add := func(to string, rule map[string]any) {
		from, ok := rule["CidrIp"]
		if !ok {
			from = rule["SourceSecurityGroupId"]
		}
		rules = append(rules, ingressRule{to: to, from: flatten(from), port: flatten(rule["FromPort"]) + "-" + flatten(rule["ToPort"])})
	}
	for id, sg := range sgs {
		if inline, ok := props(sg, "SecurityGroupIngress").([]any); ok {
			for _, r := range inline {
				add(id, r.(map[string]any))
			}
		}
	}
	for _, r := range resourcesOf(t, defaultStack, "AWS::EC2::SecurityGroupIngress") {
		p := r["Properties"].(map[string]any)
		add(strings.TrimSuffix(strings.TrimPrefix(flatten(p["GroupId"]), "<GetAtt "), ".GroupId>"), p)
	}
	sgID := func(pattern string) string {
		id, _ := onlyResource(t, defaultStack, "AWS::EC2::SecurityGroup", pattern)
		return id
	}
	alb, web, worker, db := sgID("^WebTierAlbSecurityGroup"), sgID("^WebTierSecurityGroup"), sgID("^WorkerTierSecurityGroup"), sgID("^DatabaseSecurityGroup")
	want := []ingressRule{
		{to: alb, from: "0.0.0.0/0", port: "80-80"},
		{to: web, from: "<GetAtt " + alb + ".GroupId>", port: fmt.Sprintf("%d-%d", nodespec.Port, nodespec.Port)},
		{to: db, from: "<GetAtt " + web + ".GroupId>", port: "5432-5432"},
		{to: db, from: "<GetAtt " + worker + ".GroupId>", port: "5432-5432"},
	}
	// THEN they are exactly: internet -> ALB, ALB -> web app port, web/worker -> 5432
	sortRules := func(r []ingressRule) {
		sort.Slice(r, func(i, j int) bool { return fmt.Sprint(r[i]) < fmt.Sprint(r[j]) })
	}
	sortRules(rules)
	sortRules(want)
	if fmt.Sprint(rules) != fmt.Sprint(want) {
		t.Errorf("ingress rules:\n got %v\nwant %v", rules, want)
	}
}

func TestInstancesUseEncryptedGp3RootVolumesImdsv2SsmAndNoKeyPair(t *testing.T) {
	// GIVEN the stack main builds with no context WHEN it is synthesized (once per package)
	tpl := stackTemplate(t, defaultStack)
	// THEN

	check(t, "both launch templates", func() {
		tpl.ResourceCountIs(jsii.String("AWS::EC2::LaunchTemplate"), jsii.Number(2))
		tpl.AllResourcesProperties(jsii.String("AWS::EC2::LaunchTemplate"), object{
			"LaunchTemplateData": like(object{
				"ImageId": object{"Ref": assertions.Match_StringLikeRegexp(jsii.String("^SsmParameterValueawsservicecanonicalubuntuserver2404"))},
				"BlockDeviceMappings": array(object{
					"DeviceName": "/dev/sda1",
					"Ebs":        object{"VolumeType": "gp3", "VolumeSize": 30, "Encrypted": true, "DeleteOnTermination": true},
				}),
				// Instance tags in the metadata: the worker reads its group's name there.
				"MetadataOptions": object{"HttpTokens": "required", "HttpPutResponseHopLimit": 1, "InstanceMetadataTags": "enabled"},
				"KeyName":         assertions.Match_Absent(),
			}),
		})
	})
	check(t, "the AMI is Canonical's Ubuntu 24.04 public parameter, resolved at deploy time", func() {
		tpl.HasParameter(jsii.String("*"), object{
			"Type":    "AWS::SSM::Parameter::Value<AWS::EC2::Image::Id>",
			"Default": anb.UbuntuAmiParameter(anb.AMD64),
		})
	})
	check(t, "instance roles allow Session Manager", func() {
		tpl.ResourcePropertiesCountIs(jsii.String("AWS::IAM::Role"), object{
			"AssumeRolePolicyDocument": like(object{"Statement": array(like(object{"Principal": object{"Service": "ec2.amazonaws.com"}}))}),
			"ManagedPolicyArns": array(object{"Fn::Join": array("", array(
				"arn:", object{"Ref": "AWS::Partition"}, ":iam::aws:policy/AmazonSSMManagedInstanceCore",
			))}),
		}, jsii.Number(2))
	})
}

func TestInstanceRolesAreLeastPrivilege(t *testing.T) {
	// GIVEN every IAM policy of the default stack THEN none grants a wildcard action or resource "*"
	for id, policy := range resourcesOf(t, defaultStack, "AWS::IAM::Policy") {
		for _, s := range props(policy, "PolicyDocument", "Statement").([]any) {
			st := s.(map[string]any)
			for _, a := range toList(st["Action"]) {
				if strings.Contains(a.(string), "*") {
					t.Errorf("%s allows wildcard action %v", id, a)
				}
			}
			for _, r := range toList(st["Resource"]) {
				if r == "*" {
					t.Errorf("%s allows %v on every resource", id, st["Action"])
				}
			}
		}
	}
	// AND each tier gets only what its role needs
	web := flatten(props(mustResource(t, "AWS::IAM::Policy", "^WebTierInstanceRoleDefaultPolicy"), "PolicyDocument"))
	worker := flatten(props(mustResource(t, "AWS::IAM::Policy", "^WorkerTierInstanceRoleDefaultPolicy"), "PolicyDocument"))
	for _, c := range []struct {
		policy, text string
		want         bool
	}{
		{web, "sqs:SendMessage", true},
		{web, "sqs:ReceiveMessage", false},
		{web, "/originals/*", true},
		{web, "/processed/*", false},
		{worker, "sqs:ReceiveMessage", true},
		{worker, "s3:DeleteObject", true}, // files of a video deleted while it was processed
		{worker, "/processed/*", true},
		{worker, "JwtSigningKey", false},
		{web, "JwtSigningKey", true},
	} {
		if strings.Contains(c.policy, c.text) != c.want {
			t.Errorf("policy mentions %q = %v, want %v:\n%s", c.text, !c.want, c.want, c.policy)
		}
	}
}

// GIVEN the worker role WHEN it sends a message THEN only to the dead-letter
// queue (it dead-letters failed videos itself), and it may sweep that queue.
func TestWorkerRoleSendsOnlyToTheDeadLetterQueue(t *testing.T) {
	dlqID, _ := onlyResource(t, defaultStack, "AWS::SQS::Queue", "^TaskQueueDeadLetter")
	policy := mustResource(t, "AWS::IAM::Policy", "^WorkerTierInstanceRoleDefaultPolicy")
	var sendTo, receiveFrom []string
	for _, s := range props(policy, "PolicyDocument", "Statement").([]any) {
		st := s.(map[string]any)
		for _, a := range toList(st["Action"]) {
			for _, r := range toList(st["Resource"]) {
				switch a {
				case "sqs:SendMessage":
					sendTo = append(sendTo, flatten(r))
				case "sqs:ReceiveMessage":
					receiveFrom = append(receiveFrom, flatten(r))
				}
			}
		}
	}
	dlq := "<GetAtt " + dlqID + ".Arn>"
	if fmt.Sprint(sendTo) != fmt.Sprint([]string{dlq}) {
		t.Errorf("the worker sends to %v, want only the dead-letter queue %s", sendTo, dlq)
	}
	if !strings.Contains(fmt.Sprint(receiveFrom), dlq) {
		t.Errorf("the worker cannot sweep the dead-letter queue: receives from %v", receiveFrom)
	}
}

func toList(v any) []any {
	if l, ok := v.([]any); ok {
		return l
	}
	return []any{v}
}

func mustResource(t *testing.T, typ, idPattern string) resource {
	t.Helper()
	_, r := onlyResource(t, defaultStack, typ, idPattern)
	return r
}

func TestUserDataInstallsAndConfiguresEachRole(t *testing.T) {
	// GIVEN the boot script of each launch template THEN it installs, configures and starts its role
	common := []string{
		"curl -fsS --retry 5 --config - --aws-sigv4 \"aws:amz:$REGION:$service\"",
		"aws_api cloudformation \"https://cloudformation.$REGION.$URL_SUFFIX/\"",
		"Action=SignalResource",
		"/ubuntu/amd64/" + anb.CloudWatchAgentVersion + "/amazon-cloudwatch-agent.deb",
		"EnvironmentFile=/etc/anb/",
		"systemctl daemon-reload",
		"\nsignal SUCCESS\n",
	}
	for _, c := range []struct {
		tier string
		want []string
	}{
		{"WebTier", append([]string{
			"ExecStart=/usr/local/bin/anb-web\n",
			"http://127.0.0.1:" + strconv.Itoa(nodespec.Port) + nodespec.ReadinessPath,
			"LogicalResourceId=WebTierGroupASG",
		}, common...)},
		{"WorkerTier", append([]string{
			"retry apt_get install -y --no-install-recommends ffmpeg\n",
			"ExecStart=/usr/local/bin/anb-worker\n",
			"KillMode=mixed\n",
			"LogicalResourceId=WorkerTierGroupASG",
		}, common...)},
	} {
		ud := userData(t, defaultStack, c.tier)
		if !strings.HasPrefix(ud, "#!/bin/bash\n") {
			t.Errorf("%s user data does not start with a bash shebang:\n%.200s", c.tier, ud)
		}
		for _, w := range c.want {
			if !strings.Contains(ud, w) {
				t.Errorf("%s user data lacks %q", c.tier, w)
			}
		}
		// The binary comes from this synth's asset (its key is the content hash), fetched with curl.
		if !regexp.MustCompile(`aws_api s3 'https://<\{"Fn::Sub":"cdk-[a-z0-9]+-assets-\$\{AWS::AccountId\}-us-east-1"\}>\.s3\.'"\$REGION\.\$URL_SUFFIX"'/[0-9a-f]{64}`).MatchString(ud) {
			t.Errorf("%s user data does not download the binary asset with a signed curl", c.tier)
		}
	}
}

// GIVEN each boot script of every configuration THEN it can report FAILURE
// from its first command on, with what the Ubuntu image already has (curl,
// python3): no snap, no AWS CLI, no "latest" download.
func TestBootSignalsFailureFromTheFirstCommandWithoutInstallingAnything(t *testing.T) {
	topLevelSetup := regexp.MustCompile(`^(#.*|set -euo pipefail|[A-Z_]+='[^']*'|[a-z_]+\(\) \{|\})?$`)
	for _, stack := range allStacks {
		for _, tier := range []string{"WebTier", "WorkerTier"} {
			ud := userData(t, stack, tier)
			lines := strings.Split(ud, "\n")
			trap := -1
			for i, l := range lines[1:] {
				if strings.HasPrefix(l, "trap ") {
					trap = i + 1
					break
				}
				// Before the trap: only settings and function definitions
				// (bodies are indented), nothing that runs and could fail.
				if !strings.HasPrefix(l, "  ") && !topLevelSetup.MatchString(l) {
					t.Errorf("%s %s: %q runs before the FAILURE trap is set", stack, tier, l)
				}
			}
			// A failed boot signals FAILURE (a deploy rolls back) and stops the
			// instance, so its group replaces it outside a deploy too.
			if trap < 0 || !strings.Contains(lines[trap], "failed;") ||
				!strings.Contains(ud, "\nfailed() {\n  signal FAILURE\n  shutdown -h +2 ") {
				t.Errorf("%s %s: no EXIT trap signalling FAILURE and stopping the instance", stack, tier)
			}
			// The agent is trusted only under AWS's key, and cannot fail the boot.
			for _, want := range []string{
				"grep -qx 'fpr:*:" + anb.CloudWatchAgentKeyFingerprint + ":'",
				`gpg --batch --verify "$dir/agent.deb.sig" "$dir/agent.deb"`,
				"\nif ! /usr/local/sbin/anb-install-agent; then\n",
			} {
				if !strings.Contains(ud, want) {
					t.Errorf("%s %s: the agent install lacks %q", stack, tier, want)
				}
			}
			for _, forbidden := range []string{"snap ", "/snap/", "aws s3 cp", "aws cloudformation", "/latest/amazon-cloudwatch-agent", "pip install"} {
				if strings.Contains(ud, forbidden) {
					t.Errorf("%s %s user data still uses %q", stack, tier, forbidden)
				}
			}
			if strings.Contains(ud, "apt_get") != (tier == "WorkerTier") {
				t.Errorf("%s %s: only workers install packages (ffmpeg); the web image has all it needs", stack, tier)
			}
		}
	}
}

// GIVEN the worker unit WHEN systemd stops it THEN it waits longer than the
// worker's own grace period before SIGKILL, so the job in hand can finish.
func TestWorkerStopTimeoutOutlastsTheShutdownGrace(t *testing.T) {
	m := regexp.MustCompile(`\nTimeoutStopSec=(\d+)\n`).FindStringSubmatch(userData(t, defaultStack, "WorkerTier"))
	if m == nil {
		t.Fatal("the worker unit sets no TimeoutStopSec")
	}
	if stop, _ := strconv.Atoi(m[1]); float64(stop) <= nodespec.ShutdownGrace.Seconds() {
		t.Errorf("TimeoutStopSec=%d s, want more than the worker's ShutdownGrace %s", stop, nodespec.ShutdownGrace)
	}
}

func TestAlarmsNotifyTheAlertsTopic(t *testing.T) {
	// GIVEN the stack main builds with no context WHEN it is synthesized (once per package)
	tpl := stackTemplate(t, defaultStack)
	// THEN
	topicID, _ := onlyResource(t, defaultStack, "AWS::SNS::Topic", ".")
	dlqID, _ := onlyResource(t, defaultStack, "AWS::SQS::Queue", "^TaskQueueDeadLetter")

	check(t, "every alarm notifies the topic", func() {
		tpl.AllResourcesProperties(jsii.String("AWS::CloudWatch::Alarm"), object{
			"AlarmActions": array(object{"Ref": topicID}),
			"OKActions":    array(object{"Ref": topicID}),
		})
	})
	for _, c := range []struct {
		what   string
		expect object
	}{
		{"oldest message too old", object{"MetricName": "ApproximateAgeOfOldestMessage", "Threshold": 600}},
		{"ALB 5xx", object{"MetricName": "HTTPCode_ELB_5XX_Count", "Namespace": "AWS/ApplicationELB"}},
		{"target 5xx", object{"MetricName": "HTTPCode_Target_5XX_Count", "Namespace": "AWS/ApplicationELB"}},
		{"unhealthy hosts", object{"MetricName": "UnHealthyHostCount", "Namespace": "AWS/ApplicationELB", "Threshold": 1}},
		{"database CPU", object{"MetricName": "CPUUtilization", "Namespace": "AWS/RDS"}},
	} {
		check(t, "alarm: "+c.what, func() {
			tpl.HasResourceProperties(jsii.String("AWS::CloudWatch::Alarm"), like(c.expect))
		})
	}
	// The workers' sweep receives dead letters and keeps them, so they are
	// mostly in flight: the alarm counts visible + in flight.
	dlqMetric := func(id, name string) object {
		return object{"Id": id, "ReturnData": false, "MetricStat": like(object{"Metric": object{
			"Namespace": "AWS/SQS", "MetricName": name,
			"Dimensions": array(object{"Name": "QueueName", "Value": object{"Fn::GetAtt": array(dlqID, "QueueName")}}),
		}})}
	}
	// Dead letters stay for 14 days: the alarm fires on each new one (a rise
	// of the depth), not on the depth, which would keep it in ALARM.
	check(t, "alarm: each new message in the dead-letter queue, visible or not", func() {
		tpl.HasResourceProperties(jsii.String("AWS::CloudWatch::Alarm"), like(object{
			"Threshold":          1,
			"ComparisonOperator": "GreaterThanOrEqualToThreshold",
			"EvaluationPeriods":  1,
			"Metrics": assertions.Match_ArrayEquals(&[]any{
				like(object{"Id": "expr_1", "Expression": "IF(DIFF(m1 + m2) > 0, DIFF(m1 + m2), 0)"}),
				like(dlqMetric("m1", "ApproximateNumberOfMessagesVisible")),
				like(dlqMetric("m2", "ApproximateNumberOfMessagesNotVisible")),
			}),
		}))
	})
	check(t, "both Auto Scaling groups report their scaling events to the topic", func() {
		tpl.ResourcePropertiesCountIs(jsii.String("AWS::AutoScaling::AutoScalingGroup"), object{
			"NotificationConfigurations": array(like(object{"TopicARN": object{"Ref": topicID}})),
		}, jsii.Number(2))
	})
}

func TestDashboardShowsEveryOperatorWidget(t *testing.T) {
	// GIVEN the dashboard body THEN it graphs what an operator watches
	_, dashboard := onlyResource(t, defaultStack, "AWS::CloudWatch::Dashboard", ".")
	body := flatten(props(dashboard, "DashboardBody"))
	web, _ := onlyResource(t, defaultStack, "AWS::AutoScaling::AutoScalingGroup", "^WebTierGroup")
	worker, _ := onlyResource(t, defaultStack, "AWS::AutoScaling::AutoScalingGroup", "^WorkerTierGroup")
	queue, _ := onlyResource(t, defaultStack, "AWS::SQS::Queue", "^TaskQueueTasks")
	dlq, _ := onlyResource(t, defaultStack, "AWS::SQS::Queue", "^TaskQueueDeadLetter")
	for what, text := range map[string]string{
		"ALB requests":            `"AWS/ApplicationELB","RequestCount"`,
		"ALB latency":             `"AWS/ApplicationELB","TargetResponseTime"`,
		"ALB p99 latency":         `"stat":"p99"`,
		"ALB 5xx":                 `"HTTPCode_ELB_5XX_Count"`,
		"target 5xx":              `"HTTPCode_Target_5XX_Count"`,
		"web group size":          `"AWS/AutoScaling","GroupInServiceInstances","AutoScalingGroupName","<Ref ` + web + `>"`,
		"worker group size":       `"AWS/AutoScaling","GroupInServiceInstances","AutoScalingGroupName","<Ref ` + worker + `>"`,
		"queue depth":             `"AWS/SQS","ApproximateNumberOfMessagesVisible","QueueName","<GetAtt ` + queue + `.QueueName>"`,
		"oldest message age":      `"AWS/SQS","ApproximateAgeOfOldestMessage","QueueName","<GetAtt ` + queue + `.QueueName>"`,
		"backlog per instance":    `"expression":"` + anb.BacklogExpression + `"`,
		"DLQ visible + in flight": `"expression":"m1 + m2"`,
		"DLQ depth":               `"QueueName","<GetAtt ` + dlq + `.QueueName>"`,
		"RDS CPU":                 `"AWS/RDS","CPUUtilization"`,
		"RDS connections":         `"AWS/RDS","DatabaseConnections"`,
		"processing time":         `"ANB","ProcessingTime"`,
		"unhealthy hosts (graph)": `"UnHealthyHostCount"`,
	} {
		if !strings.Contains(body, text) {
			t.Errorf("dashboard lacks %s (%s)", what, text)
		}
	}
	check(t, "the processing-time metric comes from the worker's JSON log line", func() {
		stackTemplate(t, defaultStack).HasResourceProperties(jsii.String("AWS::Logs::MetricFilter"), object{
			"FilterPattern": fmt.Sprintf(`{ ($.msg = "%s") && ($.%s >= 0) }`, nodespec.ProcessedLogMessage, nodespec.ProcessedSeconds),
			"MetricTransformations": array(like(object{
				"MetricNamespace": "ANB", "MetricName": "ProcessingTime", "MetricValue": "$." + nodespec.ProcessedSeconds, "Unit": "Seconds",
			})),
		})
	})
}

func TestOutputsNameSiteBucketQueueDatabaseAndDashboard(t *testing.T) {
	// GIVEN the stack main builds with no context WHEN it is synthesized (once per package)
	tpl := stackTemplate(t, defaultStack)
	// THEN
	albID, _ := onlyResource(t, defaultStack, "AWS::ElasticLoadBalancingV2::LoadBalancer", ".")
	bucketID, _ := onlyResource(t, defaultStack, "AWS::S3::Bucket", "^StorageMedia")
	logsID, _ := onlyResource(t, defaultStack, "AWS::S3::Bucket", "^StorageLogs")
	queueID, _ := onlyResource(t, defaultStack, "AWS::SQS::Queue", "^TaskQueueTasks")
	dbID, _ := onlyResource(t, defaultStack, "AWS::RDS::DBInstance", ".")
	dashboardID, _ := onlyResource(t, defaultStack, "AWS::CloudWatch::Dashboard", ".")
	for id, value := range map[string]any{
		"SiteUrl":          object{"Fn::Join": array("", array("http://", object{"Fn::GetAtt": array(albID, "DNSName")}))},
		"BucketName":       object{"Ref": bucketID},
		"LogsBucketName":   object{"Ref": logsID}, // emptied by hand before a Learner Lab destroy
		"QueueUrl":         object{"Ref": queueID},
		"DatabaseEndpoint": object{"Fn::GetAtt": array(dbID, "Endpoint.Address")},
		"DashboardUrl": object{"Fn::Join": array("", array(
			"https://", object{"Ref": "AWS::Region"}, ".console.aws.amazon.com/cloudwatch/home?region=",
			object{"Ref": "AWS::Region"}, "#dashboards:name=", object{"Ref": dashboardID},
		))},
	} {
		check(t, "output "+id, func() {
			tpl.HasOutput(jsii.String(id), object{"Value": value})
		})
	}
}

// checkServesHttps checks that a stack's ALB serves HTTPS with the
// certificate (its ARN, or a reference to it), forwards to the web tier, and
// answers plain HTTP with a permanent redirect only.
func checkServesHttps(t *testing.T, tpl assertions.Template, certificateArn any) {
	t.Helper()
	check(t, "HTTPS listener with the certificate", func() {
		tpl.HasResourceProperties(jsii.String("AWS::ElasticLoadBalancingV2::Listener"), object{
			"Port": 443, "Protocol": "HTTPS",
			"Certificates":   array(object{"CertificateArn": certificateArn}),
			"SslPolicy":      assertions.Match_AnyValue(),
			"DefaultActions": array(like(object{"Type": "forward"})),
		})
	})
	check(t, "HTTP redirects to HTTPS, and nothing else listens", func() {
		tpl.ResourceCountIs(jsii.String("AWS::ElasticLoadBalancingV2::Listener"), jsii.Number(2))
		tpl.HasResourceProperties(jsii.String("AWS::ElasticLoadBalancingV2::Listener"), object{
			"Port": 80, "Protocol": "HTTP",
			"DefaultActions": array(object{"Type": "redirect", "RedirectConfig": object{
				"Protocol": "HTTPS", "Port": "443", "StatusCode": "HTTP_301",
			}}),
		})
	})
	check(t, "the ALB accepts 443 and 80", func() {
		tpl.HasResourceProperties(jsii.String("AWS::EC2::SecurityGroup"), object{
			"SecurityGroupIngress": array(
				like(object{"CidrIp": "0.0.0.0/0", "FromPort": 80}),
				like(object{"CidrIp": "0.0.0.0/0", "FromPort": 443}),
			),
		})
	})
}

// The variant: what a production deployer would change with -c flags.
func TestVariantServesHttpsAndHonoursContext(t *testing.T) {
	// GIVEN the stack main builds with variantContext WHEN it is synthesized
	tpl := stackTemplate(t, variantStack)
	// THEN
	checkServesHttps(t, tpl, variantContext["certificateArn"])
	check(t, "alarm e-mail subscription", func() {
		tpl.HasResourceProperties(jsii.String("AWS::SNS::Subscription"), object{"Protocol": "email", "Endpoint": "ops@example.com"})
	})
	check(t, "removalPolicy=destroy empties and deletes the buckets, deletes the database", func() {
		tpl.AllResources(jsii.String("AWS::S3::Bucket"), object{"DeletionPolicy": "Delete"})
		tpl.ResourceCountIs(jsii.String("Custom::S3AutoDeleteObjects"), jsii.Number(2))
		tpl.HasResource(jsii.String("AWS::RDS::DBInstance"), object{"DeletionPolicy": "Delete"})
		tpl.AllResources(jsii.String("AWS::SecretsManager::Secret"), object{"DeletionPolicy": "Delete"})
	})
	check(t, "single-AZ database of the chosen class", func() {
		tpl.HasResourceProperties(jsii.String("AWS::RDS::DBInstance"), object{
			"MultiAZ": false, "DeletionProtection": false, "DBInstanceClass": "db.t4g.small",
		})
	})
	check(t, "one NAT gateway", func() {
		tpl.ResourceCountIs(jsii.String("AWS::EC2::NatGateway"), jsii.Number(1))
	})
	check(t, "sizes and the backlog target follow the context (6 min / 12 s = 30)", func() {
		tpl.HasResourceProperties(jsii.String("AWS::AutoScaling::AutoScalingGroup"), object{"MinSize": "3", "MaxSize": "6"})
		tpl.HasResourceProperties(jsii.String("AWS::AutoScaling::AutoScalingGroup"), object{"MinSize": "1", "MaxSize": "5"})
		tpl.HasResourceProperties(jsii.String("AWS::AutoScaling::ScalingPolicy"), object{
			"TargetTrackingConfiguration": like(object{"TargetValue": 30, "CustomizedMetricSpecification": assertions.Match_AnyValue()}),
		})
	})
	check(t, "no certificate of its own: the given one is used", func() {
		tpl.ResourceCountIs(jsii.String("AWS::CertificateManager::Certificate"), jsii.Number(0))
		tpl.ResourceCountIs(jsii.String("AWS::Route53::RecordSet"), jsii.Number(0))
	})
	check(t, "the site URL is https", func() {
		tpl.HasOutput(jsii.String("SiteUrl"), object{"Value": object{"Fn::Join": array("", arrayWith("https://"))}})
	})
}
