package main

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	appconfig "github.com/anb/risingstars/app/config"
	"github.com/anb/risingstars/app/nodespec"
)

// What an instance really runs: the boot script of a launch template with
// every CloudFormation token replaced by a plausible value, checked by the
// tools that run it (bash, systemd, the binaries' own configuration loader).

const (
	sampleRegion  = "us-east-1"
	sampleAccount = "123456789012"
)

// sampleOf is a value of the kind CloudFormation would put in place of a
// reference to one of the stack's resources.
func sampleOf(t *testing.T, stack, logicalID, attr string) string {
	t.Helper()
	switch logicalID {
	case "AWS::Region":
		return sampleRegion
	case "AWS::AccountId":
		return sampleAccount
	case "AWS::URLSuffix":
		return "amazonaws.com"
	case "AWS::Partition":
		return "aws"
	case "AWS::StackName":
		return stack
	}
	res, ok := synthesized(t).templates[stack]["Resources"].(map[string]any)[logicalID].(map[string]any)
	if !ok {
		t.Fatalf("%s: reference to unknown resource %s", stack, logicalID)
	}
	name := strings.ToLower(logicalID)
	switch typ := res["Type"]; {
	case typ == "AWS::S3::Bucket" && attr == "":
		return "anb-" + name
	case typ == "AWS::SQS::Queue" && attr == "":
		return fmt.Sprintf("https://sqs.%s.amazonaws.com/%s/%s", sampleRegion, sampleAccount, logicalID)
	case (typ == "AWS::SecretsManager::Secret" || typ == "AWS::SecretsManager::SecretTargetAttachment") && attr == "":
		return fmt.Sprintf("arn:aws:secretsmanager:%s:%s:secret:%s-AbCdEf", sampleRegion, sampleAccount, logicalID)
	case typ == "AWS::Logs::LogGroup" && attr == "":
		return "AnbRisingStars-" + logicalID + "-AbCdEf"
	case typ == "AWS::EC2::VPC" && attr == "CidrBlock":
		return "10.0.0.0/16"
	case typ == "AWS::ElasticLoadBalancingV2::LoadBalancer" && attr == "DNSName":
		return "anb-alb-1234567890." + sampleRegion + ".elb.amazonaws.com"
	default:
		t.Fatalf("%s: no sample value for %s %s.%s", stack, typ, logicalID, attr)
		return ""
	}
}

var subVariable = regexp.MustCompile(`\$\{([A-Za-z0-9:]+)(?:\.([A-Za-z0-9.]+))?\}`)

// render resolves an intrinsic-laden value to text with sample values.
func render(t *testing.T, stack string, v any) string {
	t.Helper()
	switch x := v.(type) {
	case string:
		return x
	case map[string]any:
		if b64, ok := x["Fn::Base64"]; ok {
			return render(t, stack, b64)
		}
		if j, ok := x["Fn::Join"].([]any); ok {
			var parts []string
			for _, p := range j[1].([]any) {
				parts = append(parts, render(t, stack, p))
			}
			return strings.Join(parts, j[0].(string))
		}
		if ref, ok := x["Ref"].(string); ok {
			return sampleOf(t, stack, ref, "")
		}
		if ga, ok := x["Fn::GetAtt"].([]any); ok {
			return sampleOf(t, stack, ga[0].(string), ga[1].(string))
		}
		if sub, ok := x["Fn::Sub"].(string); ok {
			return subVariable.ReplaceAllStringFunc(sub, func(m string) string {
				g := subVariable.FindStringSubmatch(m)
				return sampleOf(t, stack, g[1], g[2])
			})
		}
	}
	raw, _ := json.Marshal(v)
	t.Fatalf("%s: cannot render %s", stack, raw)
	return ""
}

// bootScript is a tier's user data as an instance of the stack would run it.
func bootScript(t *testing.T, stack, tier string) string {
	t.Helper()
	_, lt := onlyResource(t, stack, "AWS::EC2::LaunchTemplate", "^"+tier+"LaunchTemplate")
	return render(t, stack, props(lt, "LaunchTemplateData", "UserData"))
}

// heredoc is the body of the `cat > PATH <<'TAG'` document of a script.
func heredoc(t *testing.T, script, path string) string {
	t.Helper()
	m := regexp.MustCompile(`(?s)\ncat > ` + regexp.QuoteMeta(path) + ` <<'([A-Z]+)'\n(.*?)\n([A-Z]+)\n`).FindStringSubmatch(script)
	if m == nil || m[1] != m[3] {
		t.Fatalf("the boot script writes no %s", path)
	}
	return m[2]
}

// tiers names each tier's files and its environment in nodespec.
var tiers = []struct {
	name, role string
	env        func(nodespec.Resources) []nodespec.Var
}{
	{"WebTier", "web", nodespec.WebEnv},
	{"WorkerTier", "worker", nodespec.WorkerEnv},
}

// GIVEN each tier's environment file as an instance gets it WHEN the binaries'
// own loader reads it THEN it is valid, and it is exactly what nodespec
// defines for that tier, pointing at this stack's resources.
func TestNodeEnvironmentIsNodespecsAndLoads(t *testing.T) {
	for _, stack := range allStacks {
		bucket, _ := onlyResource(t, stack, "AWS::S3::Bucket", "^StorageMedia")
		queue, _ := onlyResource(t, stack, "AWS::SQS::Queue", "^TaskQueueTasks")
		dlq, _ := onlyResource(t, stack, "AWS::SQS::Queue", "^TaskQueueDeadLetter")
		dbSecret, _ := onlyResource(t, stack, "AWS::SecretsManager::SecretTargetAttachment", ".")
		jwt, _ := onlyResource(t, stack, "AWS::SecretsManager::Secret", "^WebTierJwtSigningKey")
		for _, tier := range tiers {
			res := nodespec.Resources{
				Region:        sampleRegion,
				Bucket:        sampleOf(t, stack, bucket, ""),
				QueueURL:      sampleOf(t, stack, queue, ""),
				DeadLetterURL: sampleOf(t, stack, dlq, ""),
				DBSecretARN:   sampleOf(t, stack, dbSecret, ""),
			}
			if tier.role == "web" {
				res.JWTSecretARN = sampleOf(t, stack, jwt, "")
				// Trust X-Forwarded-For from the VPC (the load balancer);
				// links in e-mails point at the site; mail and counting
				// as the stack's settings say.
				res.TrustedProxies = "10.0.0.0/16"
				res.PublicURL = render(t, stack, synthesized(t).templates[stack]["Outputs"].(map[string]any)["SiteUrl"].(map[string]any)["Value"])
				res.MailFrom = stackContexts[stack]["mailFrom"]
				res.VoteCounting = orDefaultString(stackContexts[stack]["voteCounting"], "all")
			} else {
				res.LifecycleHook = nodespec.LifecycleHookName
			}
			file := heredoc(t, bootScript(t, stack, tier.name), "/etc/anb/"+tier.role+".env")
			got := strings.Split(file, "\n")
			want := nodespec.Environ(tier.env(res))
			if strings.Join(got, "\n") != strings.Join(want, "\n") {
				t.Errorf("%s %s environment:\n got %q\nwant %q", stack, tier.role, got, want)
			}
			for _, line := range got {
				if !strings.Contains(line, "=") {
					t.Errorf("%s %s: %q is not NAME=value", stack, tier.role, line)
				}
			}
			// The binaries' own loader: every variable known and valid.
			if _, err := appconfig.FromEnviron(got); err != nil {
				t.Errorf("%s %s: the binaries reject their environment: %v", stack, tier.role, err)
			}
		}
	}
}

// need finds a command-line tool or fails the test saying how to install it.
func need(t *testing.T, tool, install string) string {
	t.Helper()
	path, err := exec.LookPath(tool)
	if err != nil {
		t.Fatalf("%s is not installed; it checks what the instances run. Install it: %s", tool, install)
	}
	return path
}

// GIVEN both boot scripts of every configuration, rendered as instances get
// them WHEN shellcheck reads them THEN it finds nothing.
func TestBootScriptsPassShellcheck(t *testing.T) {
	shellcheck := need(t, "shellcheck", "apt-get install shellcheck (Debian/Ubuntu package)")
	dir := t.TempDir()
	var files []string
	for _, stack := range allStacks {
		for _, tier := range tiers {
			path := filepath.Join(dir, stack+"-"+tier.role+".sh")
			if err := os.WriteFile(path, []byte(bootScript(t, stack, tier.name)), 0o644); err != nil {
				t.Fatal(err)
			}
			files = append(files, path)
		}
	}
	out, err := exec.Command(shellcheck, append([]string{"--format=gcc"}, files...)...).CombinedOutput()
	if err != nil || len(out) > 0 {
		t.Errorf("shellcheck on the rendered boot scripts (%v):\n%s", err, out)
	}
}

// GIVEN both systemd units as the boot scripts write them WHEN
// systemd-analyze verify reads them THEN it reports nothing: every directive
// known and valid, every referenced unit present. The only change is the
// ExecStart path, pointed at a stand-in executable because the binary is
// not installed on this machine.
func TestUnitsPassSystemdAnalyzeVerify(t *testing.T) {
	analyze := need(t, "systemd-analyze", "apt-get install systemd (Debian/Ubuntu package)")
	dir := t.TempDir()
	for _, stack := range allStacks {
		for _, tier := range tiers {
			name := "anb-" + tier.role + ".service"
			unit := heredoc(t, bootScript(t, stack, tier.name), "/etc/systemd/system/"+name)
			binary := "/usr/local/bin/anb-" + tier.role
			standIn := filepath.Join(dir, "anb-"+tier.role)
			if err := os.WriteFile(standIn, []byte("#!/bin/sh\n"), 0o755); err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(unit, "\nExecStart="+binary+"\n") {
				t.Fatalf("%s %s unit does not run %s:\n%s", stack, tier.role, binary, unit)
			}
			unit = strings.Replace(unit, "\nExecStart="+binary+"\n", "\nExecStart="+standIn+"\n", 1)
			unitDir := filepath.Join(dir, stack)
			if err := os.MkdirAll(unitDir, 0o755); err != nil {
				t.Fatal(err)
			}
			path := filepath.Join(unitDir, name)
			if err := os.WriteFile(path, []byte(unit+"\n"), 0o644); err != nil {
				t.Fatal(err)
			}
			// The unit's OnFailure= names the unit that stops a crash-looping
			// node: verify it too, from the same boot script.
			failed := filepath.Join(unitDir, "anb-node-failed.service")
			if err := os.WriteFile(failed, []byte(heredoc(t, bootScript(t, stack, tier.name), "/etc/systemd/system/anb-node-failed.service")+"\n"), 0o644); err != nil {
				t.Fatal(err)
			}
			out, err := exec.Command(analyze, "verify", "--man=no", "--generators=no", path, failed).CombinedOutput()
			if err != nil || len(out) > 0 {
				t.Errorf("systemd-analyze verify %s %s (%v):\n%s", stack, name, err, out)
			}
		}
	}
}

// GIVEN the worker's boot readiness check as rendered WHEN it runs against a
// service that systemd keeps restarting, or one that runs steadily THEN it
// fails the boot for the first (so the instance signals FAILURE and is
// replaced) and passes the second. systemctl and sleep are stand-ins; the
// check is the rendered bash.
func TestWorkerBootReadinessRefusesACrashLoopingService(t *testing.T) {
	script := bootScript(t, defaultStack, "WorkerTier")
	start := strings.Index(script, "# Ready once the worker")
	end := strings.Index(script, "\nsignal SUCCESS")
	if start < 0 || end < start {
		t.Fatalf("no worker readiness check in the boot script:\n%s", script)
	}
	check := "set -euo pipefail\n" + script[start:end]
	for _, c := range []struct {
		name      string
		restarts  string // shell that prints NRestarts, given the call count in $n
		wantReady bool
	}{
		{"steady", "echo 0", true},
		{"crash loop", "echo $((n / 3))", false}, // one more restart every few seconds
		{"restarted once during start-up", "echo 1", false},
	} {
		bin := t.TempDir()
		calls := filepath.Join(bin, "calls")
		stubs := map[string]string{
			"sleep": "#!/bin/sh\nexit 0\n",
			"systemctl": "#!/bin/bash\nn=$(( $(cat " + calls + " 2>/dev/null || echo 0) + 1 ))\necho $n > " + calls + "\n" +
				"case \"$1\" in is-active) exit 0 ;; show) " + c.restarts + " ;; esac\n",
		}
		for name, body := range stubs {
			if err := os.WriteFile(filepath.Join(bin, name), []byte(body), 0o755); err != nil {
				t.Fatal(err)
			}
		}
		cmd := exec.Command("bash", "-c", check)
		cmd.Env = []string{"PATH=" + bin + ":/usr/bin:/bin"}
		out, err := cmd.CombinedOutput()
		if ready := err == nil; ready != c.wantReady {
			t.Errorf("%s: readiness passed %v, want %v (%v)\n%s", c.name, ready, c.wantReady, err, out)
		}
	}
}

func orDefaultString(v, def string) string {
	if v == "" {
		return def
	}
	return v
}
