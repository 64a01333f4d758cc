package main

import (
	"strings"
	"testing"
)

const run = `{"Action":"run","Package":"p","Test":"TestA"}
{"Action":"output","Package":"p","Test":"TestA","Output":"--- PASS: TestA\n"}
{"Action":"pass","Package":"p","Test":"TestA"}
{"Action":"run","Package":"p","Test":"TestDB"}
{"Action":"output","Package":"p","Test":"TestDB","Output":"    db_test.go:9: PostgreSQL tests need ANB_TEST_DATABASE_URL\n"}
{"Action":"skip","Package":"p","Test":"TestDB"}
{"Action":"run","Package":"p","Test":"TestCluster"}
{"Action":"skip","Package":"p","Test":"TestCluster"}
{"Action":"run","Package":"p","Test":"TestB"}
{"Action":"output","Package":"p","Test":"TestB","Output":"    b_test.go:3: want 2, got 3\n"}
{"Action":"fail","Package":"p","Test":"TestB"}
{"Action":"output","Package":"p","Output":"FAIL\tp\t0.1s\n"}
{"Action":"fail","Package":"p"}
`

func TestSkipsOutsideTheAllowListFailTheRun(t *testing.T) {
	var out strings.Builder
	r := summarize(strings.NewReader(run), &out, map[string]bool{"p TestCluster": true})
	if r.passed != 1 || r.failed != 1 || r.skips != 2 {
		t.Fatalf("counts = %+v", r)
	}
	if len(r.skipped) != 1 || !strings.Contains(r.skipped[0], "p TestDB: ") || !strings.Contains(r.skipped[0], "ANB_TEST_DATABASE_URL") {
		t.Fatalf("unallowed skips = %q, want TestDB with its reason", r.skipped)
	}
	if !strings.Contains(out.String(), "want 2, got 3") || strings.Contains(out.String(), "--- PASS") {
		t.Fatalf("printed %q: want the failed test's output only", out.String())
	}
}
