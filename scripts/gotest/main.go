// Command gotest reads `go test -json` on stdin, prints what a person needs
// (each package's verdict, the output of failed tests) and fails the run
// when a test was skipped without a reason in the allow-list: a test that
// silently skips (no database, no browser) proves nothing.
//
//	go test -json ./... | go run ./scripts/gotest -allow scripts/test-skips.txt
//
// The allow-list has one skip a line: the package import path, the test
// name, then why it may skip. Blank lines and # comments are ignored.
package main

import (
	"bufio"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
)

type event struct {
	Action  string
	Package string
	Test    string
	Output  string
}

func main() {
	allowPath := flag.String("allow", "", "allow-list of tests that may skip")
	flag.Parse()
	allowed, err := readAllowList(*allowPath)
	if err != nil {
		fmt.Fprintln(os.Stderr, "gotest:", err)
		os.Exit(2)
	}
	r := summarize(os.Stdin, os.Stdout, allowed)
	if len(r.skipped) > 0 {
		fmt.Printf("\n%d test(s) skipped without a reason in %s:\n", len(r.skipped), *allowPath)
		for _, s := range r.skipped {
			fmt.Println("  " + s)
		}
	}
	fmt.Printf("\n%d passed, %d failed, %d skipped\n", r.passed, r.failed, r.skips)
	if r.failed > 0 || len(r.skipped) > 0 || r.broken {
		os.Exit(1)
	}
}

type result struct {
	passed, failed, skips int
	skipped               []string // not allowed
	broken                bool     // a package failed outside any test (build error, panic in TestMain)
}

// summarize prints package verdicts and failed tests' output as they come.
func summarize(in io.Reader, out io.Writer, allowed map[string]bool) result {
	var r result
	outputs := map[string][]string{} // package + test -> its lines, kept until it ends
	sc := bufio.NewScanner(in)
	sc.Buffer(make([]byte, 1<<20), 16<<20)
	for sc.Scan() {
		var e event
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			fmt.Fprintln(out, sc.Text()) // not JSON: a build error printed by go itself
			r.broken = true
			continue
		}
		key := e.Package + " " + e.Test
		switch {
		case e.Action == "output" && e.Test != "":
			outputs[key] = append(outputs[key], e.Output)
		case e.Action == "output":
			// Package-level lines: the ok/FAIL verdicts and build errors.
			if t := strings.TrimSpace(e.Output); strings.HasPrefix(t, "ok") || strings.HasPrefix(t, "FAIL") ||
				strings.HasPrefix(t, "?") || strings.HasPrefix(t, "panic") || strings.Contains(t, ".go:") {
				fmt.Fprint(out, e.Output)
			}
		case e.Test == "":
			if e.Action == "fail" {
				r.broken = true
			}
		case e.Action == "pass":
			r.passed++
			delete(outputs, key)
		case e.Action == "fail":
			r.failed++
			for _, l := range outputs[key] {
				fmt.Fprint(out, l)
			}
			delete(outputs, key)
		case e.Action == "skip":
			r.skips++
			if !allowed[key] {
				reason := strings.TrimSpace(strings.Join(lastLines(outputs[key], 2), " "))
				r.skipped = append(r.skipped, key+": "+reason)
			}
			delete(outputs, key)
		}
	}
	sort.Strings(r.skipped)
	return r
}

func lastLines(lines []string, n int) []string {
	if len(lines) > n {
		return lines[len(lines)-n:]
	}
	return lines
}

func readAllowList(path string) (map[string]bool, error) {
	allowed := map[string]bool{}
	if path == "" {
		return allowed, nil
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	for i, line := range strings.Split(string(b), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		f := strings.Fields(line)
		if len(f) < 3 {
			return nil, fmt.Errorf("%s:%d: want PACKAGE TEST REASON", path, i+1)
		}
		allowed[f[0]+" "+f[1]] = true
	}
	return allowed, nil
}
