package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// runCdkScript runs scripts/cdk with stand-ins for node and npm first on
// PATH: the stand-in npm records that the script went on to install or run
// the CDK CLI, and fails, so no real CLI ever runs here.
func runCdkScript(t *testing.T, env []string, args ...string) (out string, code int, reachedCLI bool) {
	t.Helper()
	bin := t.TempDir()
	marker := filepath.Join(bin, "npm-called")
	for name, script := range map[string]string{
		"node": "#!/bin/sh\nexit 1\n",
		"npm":  "#!/bin/sh\ntouch '" + marker + "'\necho 'stand-in npm: not installing the CDK CLI in tests' >&2\nexit 1\n",
	} {
		if err := os.WriteFile(filepath.Join(bin, name), []byte(script), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	cmd := exec.Command("bash", append([]string{"../scripts/cdk"}, args...)...)
	cmd.Env = append([]string{"PATH=" + bin + ":/usr/local/bin:/usr/bin:/bin", "HOME=" + t.TempDir()}, env...)
	raw, err := cmd.CombinedOutput()
	code = cmd.ProcessState.ExitCode()
	if err != nil && code < 0 {
		t.Fatalf("scripts/cdk did not run: %v", err)
	}
	_, statErr := os.Stat(marker)
	return string(raw), code, statErr == nil
}

// GIVEN no alarm subscriber and no opt-out WHEN scripts/cdk deploy runs THEN
// it refuses before installing or running the CDK CLI, and says what to give.
func TestCdkDeployRefusesWithoutAlarmSubscriberOrOptOut(t *testing.T) {
	for _, args := range [][]string{
		{"deploy"},
		{"deploy", "-c", "webMaxCapacity=4"},
		{"deploy", "-c", "alarmEmail="},
		{"deploy", "alarmEmail=ops@example.com"}, // not a -c context argument
	} {
		out, code, reached := runCdkScript(t, nil, args...)
		if code != 2 || reached || !strings.Contains(out, "alarmEmail=none") {
			t.Errorf("scripts/cdk %v: exit %d, CLI reached %v, output:\n%s\nwant exit 2 before the CLI, naming the opt-out",
				args, code, reached, out)
		}
	}
}

// GIVEN a subscriber or the explicit opt-out, in any of the accepted forms
// WHEN scripts/cdk deploy runs THEN it goes on to the CDK CLI.
func TestCdkDeployGoesOnWithSubscriberOrOptOut(t *testing.T) {
	for _, c := range []struct {
		env  []string
		args []string
	}{
		{nil, []string{"deploy", "-c", "alarmEmail=ops@example.com"}},
		{nil, []string{"deploy", "--context", "alarmEmail=none"}},
		{nil, []string{"deploy", "--context=alarmEmail=none"}},
		{[]string{"ANB_CDK_ALARM_EMAIL=ops@example.com"}, []string{"deploy"}},
		{nil, []string{"synth"}}, // only deploy is guarded
	} {
		out, _, reached := runCdkScript(t, c.env, c.args...)
		if !reached {
			t.Errorf("scripts/cdk %v (env %v) stopped before the CDK CLI:\n%s", c.args, c.env, out)
		}
	}
}

// GIVEN the learner-lab profile, in any of the accepted forms WHEN scripts/cdk
// bootstrap runs THEN it bootstraps with the role-less template; any other
// profile keeps the CLI's own.
func TestCdkBootstrapUsesTheRolelessTemplateForTheLearnerLab(t *testing.T) {
	const rolelessTemplate = "cdk/bootstrap/learner-lab.template.json"
	for _, c := range []struct {
		env      []string
		args     []string
		roleless bool
	}{
		{nil, []string{"bootstrap", "-c", "profile=learner-lab"}, true},
		{nil, []string{"bootstrap", "--context=profile=learner-lab", "aws://123456789012/us-east-1"}, true},
		{[]string{"ANB_CDK_PROFILE=learner-lab"}, []string{"bootstrap"}, true},
		{nil, []string{"bootstrap"}, false},
		{nil, []string{"bootstrap", "-c", "profile=standard"}, false},
		{nil, []string{"synth", "-c", "profile=learner-lab"}, false},
	} {
		out, _, reached := runCdkScript(t, c.env, c.args...)
		if !reached || strings.Contains(out, rolelessTemplate) != c.roleless {
			t.Errorf("scripts/cdk %v (env %v): CLI reached %v, want the role-less template %v; output:\n%s",
				c.args, c.env, reached, c.roleless, out)
		}
	}
}
