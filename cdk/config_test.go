package main

import (
	"encoding/json"
	"os"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-cdk-go/awscdk/v2"

	anb "github.com/anb/risingstars/constructs"
)

func TestConfigDefaults(t *testing.T) {
	t.Setenv("CDK_DEFAULT_REGION", "")
	t.Setenv("AWS_REGION", "")
	t.Setenv("AWS_DEFAULT_REGION", "")
	cfg, err := loadConfig(contextGetter(nil))
	if err != nil {
		t.Fatal(err)
	}
	want := config{
		Profile: "standard", LabInstanceProfile: "LabInstanceProfile", LabRole: "LabRole",
		StackName: "AnbRisingStars", Region: "us-east-1",
		WebInstanceType: anb.DefaultWebInstanceType, WorkerInstanceType: anb.DefaultWorkerInstanceType,
		WebMin: 2, WebMax: 3, WorkerMin: 1, WorkerMax: 3,
		SecondsPerVideo: 12, AcceptableLatency: 3 * time.Minute, BacklogTarget: anb.DefaultBacklogTarget, NatGateway: 2,
		DBInstanceClass: "db.t4g.micro", DBStorageType: "gp3", DBStorage: 20, DBMaxStorage: 100,
		MultiAz: true, RemovalPolicy: awscdk.RemovalPolicy_RETAIN, VoteCounting: "all",
	}
	if cfg != want {
		t.Errorf("defaults:\n got %+v\nwant %+v", cfg, want)
	}
}

func TestConfigReadsContextThenEnvironment(t *testing.T) {
	t.Setenv("ANB_CDK_ALARM_EMAIL", "env@example.com")
	t.Setenv("ANB_CDK_WEB_MAX_CAPACITY", "5")
	cfg, err := loadConfig(contextGetter(map[string]string{"webMaxCapacity": "4", "region": "eu-west-1"}))
	if err != nil {
		t.Fatal(err)
	}
	// loadConfig itself only sees what the getter gives; main's getter falls back to env.
	if cfg.WebMax != 4 || cfg.Region != "eu-west-1" || cfg.AlarmEmail != "" {
		t.Errorf("got %+v", cfg)
	}
	get := func(key string) (string, bool) {
		if key == "webMaxCapacity" {
			return "4", true
		}
		return os.LookupEnv(envName(key))
	}
	cfg, err = loadConfig(get)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.WebMax != 4 || cfg.AlarmEmail != "env@example.com" {
		t.Errorf("context must win over env, env must fill the rest: got %+v", cfg)
	}
}

func TestConfigRejectsBadSettingsNamingThem(t *testing.T) {
	for key, value := range map[string]string{
		"webMinCapacity":     "0",
		"webMaxCapacity":     "2.5",
		"workerMinCapacity":  "4",
		"natGateways":        "3",
		"multiAz":            "maybe",
		"removalPolicy":      "snapshot",
		"alarmEmail":         "not an address",
		"certificateArn":     "arn:aws:iam::123456789012:role/x",
		"webInstanceType":    "small",
		"workerInstanceType": "c7g",
		"region":             "mars",
		"acceptableLatency":  "3",
		"backlogTarget":      "-1",
		"stackName":          "has space",
		"domainName":         "https://videos.example.com",
		"hostedZoneId":       "example.com",
		"mailFrom":           "ANB <votos@example.com>",
		"voteCounting":       "some",
	} {
		_, err := loadConfig(contextGetter(map[string]string{key: value}))
		if err == nil || !strings.Contains(err.Error(), `"`+key+`"`) || !strings.Contains(err.Error(), envName(key)) {
			t.Errorf("%s=%q: want an error naming the key and its env var, got %v", key, value, err)
		}
	}
}

// GIVEN settings CloudFormation or AWS would refuse at deploy time WHEN they
// are read THEN synth fails naming the key, so every accepted one deploys.
func TestConfigRejectsUndeployableCombinationsNamingTheKey(t *testing.T) {
	for _, c := range []struct {
		ctx map[string]string
		key string
	}{
		{map[string]string{"webMinCapacity": "3", "webMaxCapacity": "2"}, "webMinCapacity"},
		{map[string]string{"workerMinCapacity": "4"}, "workerMinCapacity"},
		// An ALB can only use a certificate of its own region.
		{map[string]string{"region": "eu-west-1", "certificateArn": "arn:aws:acm:us-east-1:123456789012:certificate/abc-123"}, "certificateArn"},
		// HTTPS through Route 53 needs both the domain and its zone...
		{map[string]string{"domainName": "videos.example.com"}, "hostedZoneId"},
		{map[string]string{"hostedZoneId": "Z0123456789ABCDEFGHIJ"}, "domainName"},
		// ...and is the alternative to a certificate, not an addition.
		{map[string]string{"domainName": "videos.example.com", "hostedZoneId": "Z0123456789ABCDEFGHIJ",
			"certificateArn": "arn:aws:acm:us-east-1:123456789012:certificate/abc-123"}, "certificateArn"},
		// Names ACM or Route 53 would refuse at deploy time.
		{map[string]string{"domainName": "*.example.com", "hostedZoneId": "Z0123456789ABCDEFGHIJ"}, "domainName"},
		{map[string]string{"domainName": "localhost", "hostedZoneId": "Z0123456789ABCDEFGHIJ"}, "domainName"},
		{map[string]string{"domainName": "10.0.0.1", "hostedZoneId": "Z0123456789ABCDEFGHIJ"}, "domainName"},
		{map[string]string{"domainName": "-videos.example.com", "hostedZoneId": "Z0123456789ABCDEFGHIJ"}, "domainName"},
		{map[string]string{"domainName": strings.Repeat("a", 60) + ".example.com", "hostedZoneId": "Z0123456789ABCDEFGHIJ"}, "domainName"},
		// Counting only verified votes where nobody can verify would count no
		// new account's vote at all.
		{map[string]string{"voteCounting": "verified"}, "voteCounting"},
		// A retired setting must not be silently ignored.
		{map[string]string{"instanceType": "c7i.large"}, "instanceType"},
	} {
		_, err := loadConfig(contextGetter(c.ctx))
		if err == nil || !strings.Contains(err.Error(), `"`+c.key+`"`) {
			t.Errorf("%v: want an error naming %q, got %v", c.ctx, c.key, err)
		}
	}
}

// GIVEN a domain written as people write it and a zone id as the AWS CLI
// lists it WHEN read THEN both are accepted in their canonical form.
func TestConfigNormalizesDomainAndHostedZoneId(t *testing.T) {
	cfg, err := loadConfig(contextGetter(map[string]string{"domainName": "Videos.Example.COM.", "hostedZoneId": "/hostedzone/Z0123456789ABCDEFGHIJ"}))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.DomainName != "videos.example.com" || cfg.HostedZoneId != "Z0123456789ABCDEFGHIJ" {
		t.Errorf("got domainName %q hostedZoneId %q", cfg.DomainName, cfg.HostedZoneId)
	}
	if _, err := loadConfig(contextGetter(map[string]string{"domainName": "example.com", "hostedZoneId": "Z1D633PJN98FT9"})); err != nil {
		t.Errorf("a zone apex must be accepted: %v", err)
	}
}

// GIVEN min == max, or a single instance WHEN read THEN accepted: the
// rolling update keeps fewer than max in service (anb.RollingUpdateMinInService).
func TestConfigAcceptsFixedSizeGroups(t *testing.T) {
	for _, ctx := range []map[string]string{
		{"webMinCapacity": "3", "webMaxCapacity": "3", "workerMinCapacity": "2", "workerMaxCapacity": "2"},
		{"webMinCapacity": "1", "webMaxCapacity": "1", "workerMinCapacity": "1", "workerMaxCapacity": "1"},
	} {
		if _, err := loadConfig(contextGetter(ctx)); err != nil {
			t.Errorf("%v: %v", ctx, err)
		}
	}
}

// GIVEN alarmEmail=none WHEN read THEN no subscription and no warning: the
// deployer said on purpose that nobody subscribes.
func TestConfigAlarmEmailNoneIsAnExplicitOptOut(t *testing.T) {
	cfg, err := loadConfig(contextGetter(map[string]string{"alarmEmail": noAlarmSubscriber}))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.AlarmEmail != "" || !cfg.NoAlarmSubscriber {
		t.Errorf("alarmEmail=none: got AlarmEmail %q NoAlarmSubscriber %v", cfg.AlarmEmail, cfg.NoAlarmSubscriber)
	}
	cfg, _ = loadConfig(contextGetter(nil))
	if cfg.NoAlarmSubscriber {
		t.Error("no alarmEmail at all must not count as an opt-out")
	}
}

// GIVEN the instance types WHEN the binaries are built THEN each for its tier's architecture.
func TestConfigBuildsEachBinaryForItsTiersArchitecture(t *testing.T) {
	cfg, err := loadConfig(contextGetter(map[string]string{"workerInstanceType": "c7g.large"}))
	if err != nil {
		t.Fatal(err)
	}
	got := cfg.stackProps("bin").BinaryArchs()
	if got[anb.AppBinary] != anb.AMD64 || got[anb.WorkerBinary] != anb.ARM64 {
		t.Errorf("BinaryArchs() = %v, want app amd64 and worker arm64", got)
	}
}

func TestEnvName(t *testing.T) {
	for key, want := range map[string]string{"alarmEmail": "ANB_CDK_ALARM_EMAIL", "region": "ANB_CDK_REGION", "multiAz": "ANB_CDK_MULTI_AZ"} {
		if got := envName(key); got != want {
			t.Errorf("envName(%q) = %q, want %q", key, got, want)
		}
	}
}

// cdk.json feeds the CLI; go run and go test only see anb.FeatureFlags. They
// must say the same, and cdk.json must run this app.
func TestCdkJSONMatchesTheFlagsInCode(t *testing.T) {
	raw, err := os.ReadFile("../cdk.json")
	if err != nil {
		t.Fatal(err)
	}
	var cdkJSON struct {
		App     string         `json:"app"`
		Context map[string]any `json:"context"`
	}
	if err := json.Unmarshal(raw, &cdkJSON); err != nil {
		t.Fatal(err)
	}
	if cdkJSON.App != "go run ./cdk" {
		t.Errorf(`cdk.json app = %q, want "go run ./cdk"`, cdkJSON.App)
	}
	want := map[string]any{}
	inCode, _ := json.Marshal(anb.FeatureFlags())
	json.Unmarshal(inCode, &want)
	if !reflect.DeepEqual(cdkJSON.Context, want) {
		for k, v := range want {
			if !reflect.DeepEqual(cdkJSON.Context[k], v) {
				t.Errorf("cdk.json context %q = %v, code says %v", k, cdkJSON.Context[k], v)
			}
		}
		settings := map[string]bool{}
		for _, k := range contextKeys {
			settings[k.key] = true // a deployer's own settings (e.g. alarmEmail) may live there too
		}
		for k := range cdkJSON.Context {
			if _, ok := want[k]; !ok && !settings[k] {
				t.Errorf("cdk.json context %q is not in anb.FeatureFlags()", k)
			}
		}
	}
}
