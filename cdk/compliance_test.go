package main

import (
	"encoding/csv"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssqs"
	"github.com/aws/jsii-runtime-go"

	anb "github.com/anb/risingstars/constructs"
)

// The synthesis itself fails on any unsuppressed cdk-nag finding or built-in
// validator error (see TestGuardsFailSynthesisOnFindings), so these tests read
// the reports the successful synthesis left behind.

func TestCdkNagAwsSolutionsHasNoUnsuppressedFinding(t *testing.T) {
	s := synthesized(t)
	for _, stack := range allStacks {
		reports, _ := filepath.Glob(filepath.Join(s.outdir, "AwsSolutions-*"+stack+"-NagReport.csv"))
		if len(reports) != 1 {
			t.Fatalf("want one cdk-nag AwsSolutions report for %s, found %v", stack, reports)
		}
		f, err := os.Open(reports[0])
		if err != nil {
			t.Fatal(err)
		}
		rows, err := csv.NewReader(f).ReadAll()
		f.Close()
		if err != nil {
			t.Fatal(err)
		}
		if len(rows) < 30 {
			t.Fatalf("%s: only %d cdk-nag rows; did the checks run?", stack, len(rows))
		}
		// Rule ID, Resource ID, Compliance, Exception Reason, Rule Level, Rule Info
		suppressed := 0
		for _, r := range rows[1:] {
			switch r[2] {
			case "Compliant", "N/A":
			case "Suppressed":
				suppressed++
				if len(strings.Fields(r[3])) < 8 {
					t.Errorf("%s: %s on %s is suppressed without a real reason: %q", stack, r[0], r[1], r[3])
				}
			default:
				t.Errorf("%s: %s on %s is %s: %s", stack, r[0], r[1], r[2], r[5])
			}
		}
		t.Logf("%s: %d cdk-nag checks, %d suppressed with a reason", stack, len(rows)-1, suppressed)
	}
}

// The warnings of a stack whose alarms have no subscriber and no explicit
// opt-out, and of a stack without HTTPS.
const (
	noSubscriberWarning = "Annotation::anb:noAlarmSubscriber"
	plainHTTPWarning    = "Annotation::anb:plainHttp"
)

// GIVEN every configuration WHEN synthesized THEN the built-in validator and
// the construct annotations report nothing, except the intended warnings: a
// stack whose alarms have no subscriber and no explicit opt-out, a stack
// served over plain HTTP.
func TestBuiltinValidatorReportsNothing(t *testing.T) {
	s := synthesized(t)
	if v, ok := anb.FeatureFlags()["@aws-cdk/core:validateAgainstDefaultRules"]; v != true || !ok {
		t.Fatalf("@aws-cdk/core:validateAgainstDefaultRules = %v, want true", v)
	}
	raw, err := os.ReadFile(filepath.Join(s.outdir, "validation-report.json"))
	if err != nil {
		t.Fatalf("the built-in validator left no report: %v", err)
	}
	var report struct {
		PluginReports []struct {
			PluginName string
			Violations []struct {
				RuleName, Severity  string
				ViolatingConstructs []struct{ ConstructPath string }
			}
		}
	}
	if err := json.Unmarshal(raw, &report); err != nil {
		t.Fatal(err)
	}
	warned := map[string]map[string]bool{noSubscriberWarning: {}, plainHTTPWarning: {}}
	for _, p := range report.PluginReports {
		for _, v := range p.Violations {
			for _, c := range v.ViolatingConstructs {
				if warned[v.RuleName] != nil && v.Severity == "warning" {
					warned[v.RuleName][c.ConstructPath] = true
					continue
				}
				t.Errorf("%s: %s (%s) at %s", p.PluginName, v.RuleName, v.Severity, c.ConstructPath)
			}
		}
	}
	// Item: alarms without a subscriber are a conscious choice.
	for stack, want := range map[string]bool{
		defaultStack: true,  // no alarmEmail at all: warned
		variantStack: false, // alarmEmail=ops@example.com
		edgeStack:    false, // alarmEmail=none: chosen on purpose
		domainStack:  false, // alarmEmail=ops@example.com
	} {
		if warned[noSubscriberWarning][stack] != want {
			t.Errorf("%s: no-subscriber warning %v, want %v", stack, warned[noSubscriberWarning][stack], want)
		}
	}
	// Item: plain HTTP only when neither HTTPS option is given, and said.
	for stack, want := range map[string]bool{
		defaultStack: true,  // neither: warned
		variantStack: false, // certificateArn
		edgeStack:    true,  // neither: warned
		domainStack:  false, // domainName + hostedZoneId
	} {
		if warned[plainHTTPWarning][stack] != want {
			t.Errorf("%s: plain-HTTP warning %v, want %v", stack, warned[plainHTTPWarning][stack], want)
		}
	}
}

// GIVEN a stack with a queue that breaks a schema limit and two cdk-nag rules
// WHEN it is synthesized with this project's app settings THEN synthesis fails
// naming both: the guards the tests above rely on are really on.
func TestGuardsFailSynthesisOnFindings(t *testing.T) {
	dir := t.TempDir()
	err := func() (err any) {
		defer func() { err = recover() }()
		app := anb.NewApp(&awscdk.AppProps{Outdir: jsii.String(dir)})
		stack := awscdk.NewStack(app, jsii.String("Bad"), nil)
		awssqs.NewCfnQueue(stack, jsii.String("Bad"), &awssqs.CfnQueueProps{VisibilityTimeout: jsii.Number(999999)})
		app.Synth(nil)
		return nil
	}()
	if err == nil {
		t.Fatal("a stack with findings synthesized without error")
	}
	report, _ := os.ReadFile(filepath.Join(dir, "validation-report.json"))
	for _, want := range []string{"F3034", "AwsSolutions-SQS3", "AwsSolutions-SQS4"} {
		if !strings.Contains(string(report), want) {
			t.Errorf("the validation report does not name %s:\n%s", want, report)
		}
	}
}

// secretLike matches values that look like credentials rather than references
// (<Ref ...>, {{resolve:...}}) or shell and format variables ($token, %s).
var secretLike = regexp.MustCompile(`(?i)(password|secret|token|key)\s*[=:]\s*[^<\s{$%]`)

func TestNoSecretValueInTemplateOrUserData(t *testing.T) {
	for _, stack := range []string{defaultStack, variantStack} {
		for _, tier := range []string{"WebTier", "WorkerTier"} {
			ud := userData(t, stack, tier)
			for _, forbidden := range []string{"ANB_JWT_SECRET=", "ANB_DATABASE_URL=", "resolve:secretsmanager", "SecretString", "AWS_SECRET_ACCESS_KEY"} {
				if strings.Contains(ud, forbidden) {
					t.Errorf("%s %s user data contains %q", stack, tier, forbidden)
				}
			}
			for _, line := range strings.Split(ud, "\n") {
				if secretLike.MatchString(line) && !strings.Contains(line, "_ARN=<Ref ") {
					t.Errorf("%s %s user data line looks like a credential: %q", stack, tier, line)
				}
			}
		}
		for id, secret := range resourcesOf(t, stack, "AWS::SecretsManager::Secret") {
			if props(secret, "SecretString") != nil || props(secret, "GenerateSecretString") == nil {
				t.Errorf("%s: secret %s is not generated by Secrets Manager", stack, id)
			}
		}
		for id, db := range resourcesOf(t, stack, "AWS::RDS::DBInstance") {
			if pw := flatten(props(db, "MasterUserPassword")); !strings.HasPrefix(pw, "{{resolve:secretsmanager:") {
				t.Errorf("%s: %s password is not a Secrets Manager reference: %s", stack, id, pw)
			}
		}
		for name, p := range synthesized(t).templates[stack]["Parameters"].(map[string]any) {
			if d, ok := p.(map[string]any)["Default"].(string); ok && !strings.HasPrefix(d, "/") {
				t.Errorf("%s: parameter %s has a literal default %q", stack, name, d)
			}
		}
	}
}
