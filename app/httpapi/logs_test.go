package httpapi_test

import (
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
)

// Every server of this suite logs, at debug level, to a file of its own
// under suiteLogDir. When the tests pass, TestMain reads every one of them
// and fails the run if any holds an access token: tokens must not reach
// logs, whatever a client puts in a URL (the suite sends ?access_token= on
// purpose) and whatever fails.
var (
	suiteLogDir string
	logSeq      atomic.Int64
)

// jwtPattern matches any JWT (header.payload.signature, base64url).
var jwtPattern = regexp.MustCompile(`eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}`)

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "anb-httpapi-logs-")
	if err != nil {
		panic(err)
	}
	suiteLogDir = dir
	code := m.Run()
	if code == 0 {
		if err := checkLogsHoldNoToken(dir); err != nil {
			fmt.Fprintln(os.Stderr, "FAIL:", err)
			code = 1
		}
	}
	if code == 0 {
		os.RemoveAll(dir)
	} else {
		fmt.Fprintln(os.Stderr, "server logs kept in", dir)
	}
	os.Exit(code)
}

func checkLogsHoldNoToken(dir string) error {
	files, err := filepath.Glob(filepath.Join(dir, "*.log"))
	if err != nil {
		return err
	}
	var bytes, requests int
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			return err
		}
		bytes += len(b)
		requests += strings.Count(string(b), `"msg":"request"`)
		if m := jwtPattern.Find(b); m != nil {
			return fmt.Errorf("the server log %s holds an access token: %.40s…", f, m)
		}
	}
	// The check means something only if the servers that ran did log their
	// requests (a run of tests that start no server has nothing to read).
	if len(files) > 0 && requests == 0 {
		return fmt.Errorf("the %d server logs (%d bytes) hold no request line; the token check read nothing", len(files), bytes)
	}
	return nil
}

// suiteLog is the logger of one test server: a file under suiteLogDir.
func suiteLog(t *testing.T) *slog.Logger {
	t.Helper()
	name := strings.NewReplacer("/", "_", " ", "_").Replace(t.Name())
	f, err := os.Create(filepath.Join(suiteLogDir, fmt.Sprintf("%s-%d.log", name, logSeq.Add(1))))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return slog.New(slog.NewJSONHandler(f, &slog.HandlerOptions{Level: slog.LevelDebug}))
}
