package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/assertions"
	"github.com/aws/jsii-runtime-go"

	anb "github.com/anb/risingstars/constructs"
)

var update = flag.Bool("update", false, "rewrite the snapshots under cdk/testdata")

// Stack names of the configurations the tests synthesize, in one app: the
// defaults and every non-default setting the README tells users about.
const (
	defaultStack = "AnbRisingStars"      // every setting at its default
	variantStack = "AnbRisingStarsHttps" // HTTPS, e-mail, destroy, single-AZ DB, 1 NAT...
	edgeStack    = "AnbRisingStarsEdge"  // min == max, arm64 workers, no subscriber on purpose
	domainStack  = "AnbRisingStarsDns"   // HTTPS through Route 53: certificate and alias made by the stack
	labStack     = "AnbRisingStarsLab"   // the learner-lab profile at its defaults
)

// allStacks are the synthesized configurations, for checks that apply to all.
var allStacks = []string{defaultStack, variantStack, edgeStack, domainStack, labStack}

// labContext is the -c context of the lab stack: what the README's Learner
// Lab steps give.
var labContext = map[string]string{
	"profile":    "learner-lab",
	"alarmEmail": "student@example.com",
}

// stackContexts is the -c context of each synthesized stack.
var stackContexts = map[string]map[string]string{
	defaultStack: {},
	variantStack: variantContext,
	edgeStack:    edgeContext,
	domainStack:  domainContext,
	labStack:     labContext,
}

// variantContext is the -c context of the variant stack.
var variantContext = map[string]string{
	"region":            "eu-west-1",
	"certificateArn":    "arn:aws:acm:eu-west-1:123456789012:certificate/0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0",
	"alarmEmail":        "ops@example.com",
	"removalPolicy":     "destroy",
	"multiAz":           "false",
	"natGateways":       "1",
	"webMinCapacity":    "3",
	"webMaxCapacity":    "6",
	"workerMaxCapacity": "5",
	"acceptableLatency": "6m",
	"dbInstanceClass":   "db.t4g.small",
	"mailFrom":          "votos@example.com",
	"voteCounting":      "verified",
}

// edgeContext is the -c context of the edge stack: the smallest fixed-size
// deployment, Graviton workers next to x86 web nodes, alarms on purpose
// without a subscriber.
var edgeContext = map[string]string{
	"webMinCapacity":     "2",
	"webMaxCapacity":     "2",
	"workerMinCapacity":  "1",
	"workerMaxCapacity":  "1",
	"workerInstanceType": "c7g.large",
	"alarmEmail":         "none",
	"backlogTarget":      "4",
}

// domainContext is the -c context of the domain stack: HTTPS without hand
// work, from a domain and the Route 53 hosted zone that holds it.
var domainContext = map[string]string{
	"domainName":   "videos.example.com",
	"hostedZoneId": "Z0123456789ABCDEFGHIJ",
	"alarmEmail":   "ops@example.com",
}

func TestMain(m *testing.M) {
	flag.Parse()
	code := m.Run()
	jsii.Close() // or every run leaves a jsii temp folder behind
	os.Exit(code)
}

// synthesis is the cloud assembly of the test app, synthesized once per package.
type synthesis struct {
	outdir    string
	raw       map[string][]byte         // template bytes by stack name
	templates map[string]map[string]any // parsed templates by stack name
	err       error
}

var (
	synthOnce sync.Once
	synthed   synthesis
)

// contextGetter turns a map into the lookup loadConfig reads settings through.
func contextGetter(ctx map[string]string) func(string) (string, bool) {
	return func(key string) (string, bool) {
		v, ok := ctx[key]
		return v, ok
	}
}

// placeholderBinaries writes stand-ins for the executables of both
// architectures: the template only depends on their hash (normalized in the
// snapshot), and the real cross-compilation has its own test (TestBuildBinaries).
func placeholderBinaries(dir string) error {
	for _, arch := range []anb.Arch{anb.AMD64, anb.ARM64} {
		for _, name := range []string{anb.AppBinary, anb.WorkerBinary} {
			path := anb.BinaryPath(dir, arch, name)
			if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
				return err
			}
			content := fmt.Sprintf("placeholder %s binary (linux/%s) for tests\n", name, arch)
			if err := os.WriteFile(path, []byte(content), 0o755); err != nil {
				return err
			}
		}
	}
	return nil
}

// synthesizeApp builds the app exactly as main does, from context settings,
// with the given stacks, and synthesizes it into outdir. Synthesis runs
// cdk-nag and the built-in validator; a finding of either makes it fail.
func synthesizeApp(outdir string, stacks map[string]map[string]string) (s synthesis) {
	s = synthesis{outdir: outdir, raw: map[string][]byte{}, templates: map[string]map[string]any{}}
	defer func() {
		if r := recover(); r != nil {
			s.err = fmt.Errorf("synthesis failed: %v%s", r, validationFindings(outdir))
		}
	}()
	binaries := filepath.Join(outdir, "..", "binaries")
	if err := os.MkdirAll(binaries, 0o755); err != nil {
		s.err = err
		return s
	}
	if err := placeholderBinaries(binaries); err != nil {
		s.err = err
		return s
	}
	app := anb.NewApp(&awscdk.AppProps{Outdir: jsii.String(outdir)})
	names := make([]string, 0, len(stacks))
	for name := range stacks {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		ctx := map[string]string{"stackName": name, "region": "us-east-1"}
		for k, v := range stacks[name] {
			ctx[k] = v
		}
		cfg, err := loadConfig(contextGetter(ctx))
		if err != nil {
			s.err = err
			return s
		}
		anb.NewStack(app, cfg.StackName, cfg.stackProps(binaries))
	}
	app.Synth(nil)
	for _, name := range names {
		raw, err := os.ReadFile(filepath.Join(outdir, name+".template.json"))
		if err != nil {
			s.err = err
			return s
		}
		var tpl map[string]any
		if err := json.Unmarshal(raw, &tpl); err != nil {
			s.err = err
			return s
		}
		s.raw[name], s.templates[name] = raw, tpl
	}
	return s
}

// validationFindings summarizes the validation report synthesis left behind:
// cdk-nag findings (as annotations) and built-in validator violations.
func validationFindings(outdir string) string {
	raw, err := os.ReadFile(filepath.Join(outdir, "validation-report.json"))
	if err != nil {
		return ""
	}
	var report struct {
		PluginReports []struct {
			PluginName string
			Violations []struct {
				RuleName, Description string
				ViolatingConstructs   []struct{ ConstructPath string }
			}
		}
	}
	if json.Unmarshal(raw, &report) != nil {
		return "\n" + string(raw)
	}
	var b strings.Builder
	for _, p := range report.PluginReports {
		for _, v := range p.Violations {
			for _, c := range v.ViolatingConstructs {
				fmt.Fprintf(&b, "\n  %s %s at %s: %s", p.PluginName, v.RuleName, c.ConstructPath, strings.TrimSpace(v.Description))
			}
		}
	}
	return b.String()
}

// synthesized returns the package's one synthesis, failing the test if it failed.
func synthesized(t *testing.T) synthesis {
	t.Helper()
	synthOnce.Do(func() {
		dir, err := os.MkdirTemp("", "anb-cdk-test-")
		if err != nil {
			synthed.err = err
			return
		}
		// Removed by the OS temp cleaner, not here: TestMain cannot defer past os.Exit.
		synthed = synthesizeApp(filepath.Join(dir, "cdk.out"), stackContexts)
	})
	if synthed.err != nil {
		t.Fatalf("%v", synthed.err)
	}
	return synthed
}

// stackTemplate is the assertions.Template of one synthesized stack.
func stackTemplate(t *testing.T, stack string) assertions.Template {
	t.Helper()
	return assertions.Template_FromString(jsii.String(string(synthesized(t).raw[stack])), nil)
}

// check runs CDK assertions, which panic on a mismatch, and turns a panic into
// a test failure that says what was being checked.
func check(t *testing.T, what string, assertion func()) {
	t.Helper()
	defer func() {
		if r := recover(); r != nil {
			t.Errorf("%s:\n%v", what, r)
		}
	}()
	assertion()
}

// object and array build assertion patterns tersely.
type object = map[string]any

func array(items ...any) *[]any { return &items }

func like(o object) assertions.Matcher { return assertions.Match_ObjectLike(&o) }

func arrayWith(items ...any) assertions.Matcher { return assertions.Match_ArrayWith(&items) }

// resource is one parsed CloudFormation resource.
type resource = map[string]any

// resourcesOf lists a stack's resources of one type by logical id.
func resourcesOf(t *testing.T, stack, typ string) map[string]resource {
	t.Helper()
	out := map[string]resource{}
	for id, r := range synthesized(t).templates[stack]["Resources"].(map[string]any) {
		if res := r.(map[string]any); res["Type"] == typ {
			out[id] = res
		}
	}
	return out
}

// onlyResource returns the single resource of a type whose logical id matches.
func onlyResource(t *testing.T, stack, typ, idPattern string) (string, resource) {
	t.Helper()
	re := regexp.MustCompile(idPattern)
	var ids []string
	for id := range resourcesOf(t, stack, typ) {
		if re.MatchString(id) {
			ids = append(ids, id)
		}
	}
	if len(ids) != 1 {
		t.Fatalf("want exactly one %s matching %q, found %v", typ, idPattern, ids)
	}
	return ids[0], resourcesOf(t, stack, typ)[ids[0]]
}

// props digs into a resource's Properties along a path of keys.
func props(r resource, path ...string) any {
	var v any = r["Properties"]
	for _, k := range path {
		m, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = m[k]
	}
	return v
}

// flatten renders an intrinsic-laden value as text, with references shown as
// <Ref X>, <GetAtt X.Y> and so on, to read user data and dashboard bodies.
func flatten(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case []any:
		var b strings.Builder
		for _, e := range x {
			b.WriteString(flatten(e))
		}
		return b.String()
	case map[string]any:
		if j, ok := x["Fn::Join"].([]any); ok {
			parts := j[1].([]any)
			strs := make([]string, len(parts))
			for i, p := range parts {
				strs[i] = flatten(p)
			}
			return strings.Join(strs, j[0].(string))
		}
		if b64, ok := x["Fn::Base64"]; ok {
			return flatten(b64)
		}
		if ref, ok := x["Ref"]; ok {
			return fmt.Sprintf("<Ref %v>", ref)
		}
		if ga, ok := x["Fn::GetAtt"].([]any); ok {
			return fmt.Sprintf("<GetAtt %v.%v>", ga[0], ga[1])
		}
		raw, _ := json.Marshal(x)
		return "<" + string(raw) + ">"
	default:
		raw, _ := json.Marshal(x)
		return string(raw)
	}
}

// userData is the boot script of a tier's launch template.
func userData(t *testing.T, stack, tier string) string {
	t.Helper()
	_, lt := onlyResource(t, stack, "AWS::EC2::LaunchTemplate", "^"+tier+"LaunchTemplate")
	return flatten(props(lt, "LaunchTemplateData", "UserData"))
}
