package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/jsii-runtime-go"

	anb "github.com/anb/risingstars/constructs"
)

// rolelessBootstrapTemplate is what scripts/cdk bootstrap deploys for the lab.
const rolelessBootstrapTemplate = "bootstrap/learner-lab.template.json"

// createsARole reports whether a resource type is one a Learner Lab account
// cannot create: IAM resources, and Lambda functions and custom resources,
// which come with a role of their own.
func createsARole(typ string) bool {
	return strings.HasPrefix(typ, "AWS::IAM::") || strings.HasPrefix(typ, "AWS::Lambda::") ||
		strings.HasPrefix(typ, "Custom::") || typ == "AWS::CloudFormation::CustomResource"
}

// GIVEN the learner-lab profile WHEN synthesized THEN no IAM resource, no
// Lambda function and no custom resource: the lab's credentials can create
// none of them. (The standard profile does have them: the check is real.)
func TestLearnerLabCreatesNoIAMResourceNorLambda(t *testing.T) {
	count := func(stack string) (found []string) {
		for id, r := range synthesized(t).templates[stack]["Resources"].(map[string]any) {
			if typ := r.(map[string]any)["Type"].(string); createsARole(typ) {
				found = append(found, id+" ("+typ+")")
			}
		}
		return found
	}
	if found := count(labStack); len(found) > 0 {
		t.Errorf("the learner-lab template creates what a Learner Lab refuses: %v", found)
	}
	if len(count(defaultStack)) == 0 {
		t.Error("the standard template has no IAM resource: this check would not see one")
	}
}

// GIVEN the learner-lab profile WHEN synthesized THEN both launch templates
// run with the lab's existing instance profile, and nothing in the template
// names a role but LabRole's instance profile.
func TestLearnerLabInstancesUseLabInstanceProfile(t *testing.T) {
	for _, tier := range []string{"WebTier", "WorkerTier"} {
		_, lt := onlyResource(t, labStack, "AWS::EC2::LaunchTemplate", "^"+tier+"LaunchTemplate")
		profile := flatten(props(lt, "LaunchTemplateData", "IamInstanceProfile"))
		if !strings.Contains(profile, ":instance-profile/LabInstanceProfile") {
			t.Errorf("%s launch template instance profile = %s, want LabInstanceProfile", tier, profile)
		}
	}
}

// GIVEN the learner-lab profile's defaults WHEN synthesized THEN the idle
// cost stays low (one NAT gateway, a single-AZ db.t3.micro on gp2) while the
// web tier keeps two instances in two AZs behind the load balancer, and both
// tiers are t3.small with unlimited CPU credits.
func TestLearnerLabDefaultsKeepIdleCostLowAndTwoAzs(t *testing.T) {
	if n := len(resourcesOf(t, labStack, "AWS::EC2::NatGateway")); n != 1 {
		t.Errorf("NAT gateways = %d, want 1", n)
	}
	_, db := onlyResource(t, labStack, "AWS::RDS::DBInstance", ".")
	for key, want := range map[string]any{"DBInstanceClass": "db.t3.micro", "MultiAZ": false, "StorageType": "gp2", "MaxAllocatedStorage": 100.0} {
		if got := props(db, key); got != want {
			t.Errorf("database %s = %v, want %v", key, got, want)
		}
	}
	if got := props(db, "MonitoringInterval"); got != nil {
		t.Errorf("database MonitoringInterval = %v, want none (enhanced monitoring needs a role)", got)
	}
	_, web := onlyResource(t, labStack, "AWS::AutoScaling::AutoScalingGroup", "^WebTierGroup")
	if props(web, "MinSize") != "2" || len(props(web, "VPCZoneIdentifier").([]any)) != 2 {
		t.Errorf("web group: MinSize %v over %d subnets, want 2 over 2 AZs", props(web, "MinSize"), len(props(web, "VPCZoneIdentifier").([]any)))
	}
	for _, tier := range []string{"WebTier", "WorkerTier"} {
		_, lt := onlyResource(t, labStack, "AWS::EC2::LaunchTemplate", "^"+tier+"LaunchTemplate")
		if got := props(lt, "LaunchTemplateData", "InstanceType"); got != "t3.small" {
			t.Errorf("%s instance type = %v, want t3.small", tier, got)
		}
		if got := flatten(props(lt, "LaunchTemplateData", "CreditSpecification")); got != `<{"CpuCredits":"unlimited"}>` {
			t.Errorf("%s CPU credits = %s, want unlimited", tier, got)
		}
	}
}

// GIVEN the learner-lab profile WHEN synthesized THEN the CLI deploys with
// its own credentials: no bootstrap role to assume for the assets or the
// deployment, and the assets go to the bucket the role-less bootstrap
// template creates.
func TestLearnerLabDeploysWithCliCredentialsIntoTheRolelessBootstrapBucket(t *testing.T) {
	s := synthesized(t)
	raw, err := os.ReadFile(filepath.Join(s.outdir, "manifest.json"))
	if err != nil {
		t.Fatal(err)
	}
	var manifest struct {
		Artifacts map[string]struct {
			Type       string
			Properties map[string]any
		}
	}
	if err := json.Unmarshal(raw, &manifest); err != nil {
		t.Fatal(err)
	}
	stack := manifest.Artifacts[labStack].Properties
	for _, key := range []string{"assumeRoleArn", "cloudFormationExecutionRoleArn", "lookupRole", "requiresBootstrapStackVersion"} {
		if v, ok := stack[key]; ok {
			t.Errorf("learner-lab stack artifact has %s = %v: the lab cannot have the bootstrap's roles", key, v)
		}
	}
	if _, ok := manifest.Artifacts[defaultStack].Properties["assumeRoleArn"]; !ok {
		t.Error("the standard stack has no assumeRoleArn: this check would not see one")
	}

	assets, err := os.ReadFile(filepath.Join(s.outdir, labStack+".assets.json"))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(assets), "assumeRoleArn") {
		t.Errorf("learner-lab assets are published through a role:\n%s", assets)
	}
	bucket := strings.ReplaceAll(bootstrapBucketName(t), "${AWS::Region}", "us-east-1") // the stack's region
	for _, want := range []string{`"bucketName": "` + bucket + `"`} {
		if !strings.Contains(string(assets), want) {
			t.Errorf("learner-lab assets do not go to the bootstrap bucket %s:\n%s", bucket, assets)
		}
	}
}

// bootstrapBucketName is the staging bucket of the role-less bootstrap
// template, with ${AWS::AccountId} and ${AWS::Region} as the CDK's asset
// manifests write them.
func bootstrapBucketName(t *testing.T) string {
	t.Helper()
	var tpl struct {
		Parameters map[string]struct{ Default string }
		Resources  map[string]struct {
			Type       string
			Properties map[string]any
		}
	}
	raw, err := os.ReadFile(rolelessBootstrapTemplate)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(raw, &tpl); err != nil {
		t.Fatal(err)
	}
	name, _ := tpl.Resources["StagingBucket"].Properties["BucketName"].(map[string]any)["Fn::Sub"].(string)
	return strings.ReplaceAll(name, "${Qualifier}", tpl.Parameters["Qualifier"].Default)
}

// GIVEN the bootstrap template scripts/cdk uses for the lab WHEN read THEN it
// creates no IAM resource and nothing that needs a role, only the bucket.
func TestRolelessBootstrapTemplateCreatesNoIAMResource(t *testing.T) {
	var tpl struct {
		Resources map[string]struct{ Type string }
	}
	raw, err := os.ReadFile(rolelessBootstrapTemplate)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(raw, &tpl); err != nil {
		t.Fatal(err)
	}
	if len(tpl.Resources) == 0 {
		t.Fatal("no resources read from the bootstrap template")
	}
	for id, r := range tpl.Resources {
		if createsARole(r.Type) {
			t.Errorf("bootstrap template resource %s is %s, which a Learner Lab cannot create", id, r.Type)
		}
	}
	if tpl.Resources["StagingBucket"].Type != "AWS::S3::Bucket" {
		t.Error("bootstrap template has no StagingBucket")
	}
}

// GIVEN settings a Learner Lab forbids WHEN read with the learner-lab profile
// THEN synth fails with a message naming the setting; the same settings are
// accepted by the standard profile.
func TestLearnerLabRefusesWhatTheLabForbidsNamingTheSetting(t *testing.T) {
	for _, c := range []struct {
		ctx map[string]string
		key string
	}{
		{map[string]string{"region": "eu-west-1"}, "region"},
		{map[string]string{"webInstanceType": "c7i.xlarge"}, "webInstanceType"},
		{map[string]string{"workerInstanceType": "m5.2xlarge"}, "workerInstanceType"},
		{map[string]string{"webMaxCapacity": "5", "workerMaxCapacity": "4"}, "webMaxCapacity"}, // 5 + 4 + 1 draining = 10 > 9
		{map[string]string{"dbInstanceClass": "db.m5.large"}, "dbInstanceClass"},
		{map[string]string{"dbInstanceClass": "db.t3.large"}, "dbInstanceClass"},
		{map[string]string{"dbStorageType": "gp3"}, "dbStorageType"},
		{map[string]string{"dbMaxAllocatedStorage": "200"}, "dbMaxAllocatedStorage"},
		{map[string]string{"dbMonitoringInterval": "60"}, "dbMonitoringInterval"},
	} {
		lab := map[string]string{"profile": "learner-lab"}
		for k, v := range c.ctx {
			lab[k] = v
		}
		_, err := loadConfig(contextGetter(lab))
		if err == nil || !strings.Contains(err.Error(), `"`+c.key+`"`) || !strings.Contains(err.Error(), "learner-lab") {
			t.Errorf("%v with profile=learner-lab: want an error naming %q and the profile, got %v", c.ctx, c.key, err)
		}
		if c.key == "dbStorageType" || c.key == "dbMonitoringInterval" || c.key == "dbMaxAllocatedStorage" ||
			c.key == "dbInstanceClass" || c.key == "region" {
			continue // their standard-profile validity is covered elsewhere or needs other settings
		}
		if _, err := loadConfig(contextGetter(c.ctx)); err != nil {
			t.Errorf("%v must be accepted by the standard profile: %v", c.ctx, err)
		}
	}
	// The lab's largest accepted fleet: 4 web + 4 workers + 1 draining = 9.
	if _, err := loadConfig(contextGetter(map[string]string{"profile": "learner-lab", "webMaxCapacity": "4", "workerMaxCapacity": "4", "region": "us-west-2"})); err != nil {
		t.Errorf("9 instances in us-west-2 must be accepted: %v", err)
	}
	for key, value := range map[string]string{"profile": "lab", "labRole": "LabRole"} {
		if _, err := loadConfig(contextGetter(map[string]string{key: value})); err == nil || !strings.Contains(err.Error(), `"`+key+`"`) {
			t.Errorf("%s=%s with the standard profile: want an error naming %q, got %v", key, value, key, err)
		}
	}
}

// GIVEN a learner-lab stack built with something that needs a role (enhanced
// monitoring), bypassing the settings check WHEN synthesized THEN it carries
// an error, which fails synthesis: the stack itself refuses every IAM
// resource in that profile.
func TestLearnerLabStackRefusesAnyIAMResourceAtSynthesis(t *testing.T) {
	cfg, err := loadConfig(contextGetter(map[string]string{"profile": "learner-lab", "stackName": "LabWithRole"}))
	if err != nil {
		t.Fatal(err)
	}
	binaries := t.TempDir()
	if err := placeholderBinaries(binaries); err != nil {
		t.Fatal(err)
	}
	props := cfg.stackProps(binaries)
	props.DatabaseStorage.MonitoringInterval = 60
	outdir := filepath.Join(t.TempDir(), "cdk.out")
	app := anb.NewApp(&awscdk.AppProps{Outdir: jsii.String(outdir)})
	anb.NewStack(app, cfg.StackName, props)
	failed := func() (failed bool) {
		defer func() { failed = recover() != nil }()
		app.Synth(nil)
		return false
	}()
	findings := validationFindings(outdir)
	if !failed || !strings.Contains(findings, "MonitoringRole") || !strings.Contains(findings, "AWS::IAM::Role: a Learner Lab account cannot create IAM roles") {
		t.Errorf("synthesis of a learner-lab stack with an IAM role: failed %v, want a finding refusing the monitoring role; findings:%s", failed, findings)
	}
}
