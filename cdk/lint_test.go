package main

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
)

// cfnLintIgnoreFile lists the cfn-lint rules verified to be wrong or
// harmless on these templates, each with its reason and authority.
const cfnLintIgnoreFile = "testdata/cfn-lint-ignore.txt"

// cfnLintIgnored reads the rule ids of the ignore file; every rule needs a reason with a link.
func cfnLintIgnored(t *testing.T) map[string]bool {
	t.Helper()
	f, err := os.Open(cfnLintIgnoreFile)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rules := map[string]bool{}
	lines := bufio.NewScanner(f)
	for lines.Scan() {
		line := strings.TrimSpace(lines.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		fields := strings.Fields(line)
		if len(fields) < 8 || !strings.Contains(line, "https://") {
			t.Errorf("%s: %q needs a reason and a link to the authority", cfnLintIgnoreFile, line)
		}
		rules[fields[0]] = true
	}
	return rules
}

// GIVEN every synthesized configuration and the Learner Lab's bootstrap
// template WHEN cfn-lint, AWS's CloudFormation
// linter, reads the templates THEN it reports nothing but the rules of the
// ignore file, and each of those still occurs (else it must leave the file).
func TestTemplatesPassCfnLint(t *testing.T) {
	cfnLint := need(t, "cfn-lint", "pip install cfn-lint (the Python package; these tests were written against 1.51.0)")
	ignored := cfnLintIgnored(t)
	s := synthesized(t)
	var templates []string
	for _, stack := range allStacks {
		templates = append(templates, filepath.Join(s.outdir, stack+".template.json"))
	}
	templates = append(templates, rolelessBootstrapTemplate)
	out, err := exec.Command(cfnLint, append([]string{"--format", "parseable"}, templates...)...).CombinedOutput()
	if err != nil && len(out) == 0 {
		t.Fatalf("cfn-lint did not run: %v", err)
	}
	seen := map[string]int{}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		if line == "" {
			continue
		}
		// file:line:col:endline:endcol:RULE:message
		fields := strings.SplitN(line, ":", 7)
		if len(fields) < 7 {
			t.Errorf("cfn-lint: %s", line)
			continue
		}
		rule := fields[5]
		seen[rule]++
		if !ignored[rule] {
			t.Errorf("cfn-lint %s in %s line %s: %s", rule, filepath.Base(fields[0]), fields[1], fields[6])
		}
	}
	var stale []string
	for rule := range ignored {
		if seen[rule] == 0 {
			stale = append(stale, rule)
		}
	}
	sort.Strings(stale)
	if len(stale) > 0 {
		t.Errorf("cfn-lint no longer reports %v: remove them from %s", stale, cfnLintIgnoreFile)
	}
	t.Logf("cfn-lint on %d templates: findings by rule %v (ignored: %v)", len(templates), seen, ignored)
}
