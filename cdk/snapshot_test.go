package main

import (
	"bytes"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// assetHash matches content hashes of assets: they change with every edit of
// the app or worker code (and with aws-cdk-lib's own bundled Lambda code), so
// the snapshot stores a placeholder instead.
var assetHash = regexp.MustCompile(`\b[0-9a-f]{64}\b`)

func normalize(template []byte) []byte {
	return assetHash.ReplaceAll(template, []byte("<asset-hash>"))
}

// GIVEN the committed snapshots of the default stack and of the learner-lab
// profile WHEN the stacks are synthesized THEN the templates are the same, but
// for asset hashes. Run `go test ./cdk -run TestSnapshot -update` to accept
// an intended change.
func TestSnapshot(t *testing.T) {
	for _, stack := range []string{defaultStack, labStack} {
		got := normalize(synthesized(t).raw[stack])
		path := filepath.Join("testdata", stack+".template.json")
		if *update {
			if err := os.WriteFile(path, got, 0o644); err != nil {
				t.Fatal(err)
			}
			t.Logf("wrote %s", path)
			continue
		}
		want, err := os.ReadFile(path)
		if err != nil {
			t.Fatalf("%v (run: go test ./cdk -run TestSnapshot -update)", err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("the synthesized template drifted from %s:\n%s\nIf the change is intended: go test ./cdk -run TestSnapshot -update",
				path, firstDifference(string(want), string(got)))
		}
	}
}

// firstDifference shows the first differing lines with a little context.
func firstDifference(want, got string) string {
	w, g := strings.Split(want, "\n"), strings.Split(got, "\n")
	for i := 0; i < len(w) || i < len(g); i++ {
		if i < len(w) && i < len(g) && w[i] == g[i] {
			continue
		}
		line := func(l []string) string {
			if i < len(l) {
				return l[i]
			}
			return "<end of file>"
		}
		return "line " + strconv.Itoa(i+1) + ":\n- " + line(w) + "\n+ " + line(g)
	}
	return "(no line differs; whitespace at end of file?)"
}

// GIVEN the same settings and binaries WHEN a second, fresh app synthesizes
// THEN the template is byte for byte the same (no map-order or time leaks).
func TestSynthesisIsDeterministic(t *testing.T) {
	first := synthesized(t).raw[defaultStack]
	again := synthesizeApp(filepath.Join(t.TempDir(), "cdk.out"), map[string]map[string]string{defaultStack: {}})
	if again.err != nil {
		t.Fatal(again.err)
	}
	if !bytes.Equal(first, again.raw[defaultStack]) {
		t.Errorf("two syntheses differ:\n%s", firstDifference(string(first), string(again.raw[defaultStack])))
	}
}
