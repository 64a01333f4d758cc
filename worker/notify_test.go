package main

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/anb/risingstars/app/nodespec"
	"github.com/anb/risingstars/app/queue/sqstest"
	"github.com/anb/risingstars/app/sdnotify/sdnotifytest"
)

func buildWorker(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "worker")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

func startWorker(t *testing.T, bin string, env []string) (*exec.Cmd, <-chan error, *bytes.Buffer) {
	t.Helper()
	var log bytes.Buffer
	cmd := exec.Command(bin)
	cmd.Env = env
	cmd.Stdout, cmd.Stderr = &log, &log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		cmd.Process.Kill()
		if t.Failed() {
			t.Logf("worker log:\n%s", log.String())
		}
	})
	return cmd, exited, &log
}

// Under systemd (Type=notify, WatchdogSec=) the worker says READY=1 once it
// consumes, pings the watchdog while it is alive, and says STOPPING=1 on
// SIGTERM. A worker that cannot start exits non-zero and never says READY.
func TestTheWorkerSpeaksSystemdsNotifyProtocol(t *testing.T) {
	ctx := context.Background()
	bin := buildWorker(t)
	sqsClient := sqstest.New(t) // sets AWS_ENDPOINT_URL_SQS and credentials for the child too
	queueURL, _, err := sqstest.CreateQueues(ctx, sqsClient, "notify", nodespec.Visibility)
	if err != nil {
		t.Fatal(err)
	}
	base := func(socket string, vars ...nodespec.Var) []string {
		env := []string{"NOTIFY_SOCKET=" + socket, "WATCHDOG_USEC=200000"} // a ping every 100 ms
		for _, kv := range os.Environ() {
			if !strings.HasPrefix(kv, "ANB_") && !strings.HasPrefix(kv, "NOTIFY_SOCKET=") && !strings.HasPrefix(kv, "WATCHDOG_") {
				env = append(env, kv)
			}
		}
		return append(env, nodespec.Environ(append([]nodespec.Var{
			{Name: nodespec.EnvDataDir, Value: t.TempDir()},
			{Name: nodespec.EnvQueue, Value: "sqs"},
			{Name: nodespec.EnvSQSQueueURL, Value: queueURL},
		}, vars...))...)
	}

	t.Run("healthy", func(t *testing.T) {
		socket, states := sdnotifytest.Listen(t)
		cmd, exited, _ := startWorker(t, bin, base(socket)) // SQLite in the data dir, files on disk
		if got, err, ended := sdnotifytest.Await(states, exited, "READY=1", time.Minute); !got {
			t.Fatalf("no READY=1 (exited %v: %v)", ended, err)
		}
		for i := range 3 {
			if got, err, ended := sdnotifytest.Await(states, exited, "WATCHDOG=1", 10*time.Second); !got {
				t.Fatalf("watchdog ping %d missing (exited %v: %v)", i+1, ended, err)
			}
		}
		cmd.Process.Signal(syscall.SIGTERM)
		if got, err, ended := sdnotifytest.Await(states, exited, "STOPPING=1", 30*time.Second); !got {
			t.Fatalf("no STOPPING=1 after SIGTERM (exited %v: %v)", ended, err)
		}
		select {
		case err := <-exited:
			if err != nil {
				t.Fatalf("worker stopped with %v", err)
			}
		case <-time.After(30 * time.Second):
			t.Fatal("worker did not stop on SIGTERM")
		}
	})

	for _, c := range []struct {
		name string
		vars []nodespec.Var
	}{
		{"unknown setting", []nodespec.Var{{Name: "ANB_WORKRES", Value: "1"}}},
		{"database unreachable", []nodespec.Var{{Name: nodespec.EnvDatabaseURL, Value: "postgres://anb:anb@127.0.0.1:1/anb?sslmode=disable&connect_timeout=2"}}},
	} {
		t.Run(c.name, func(t *testing.T) {
			socket, states := sdnotifytest.Listen(t)
			_, exited, log := startWorker(t, bin, base(socket, c.vars...))
			got, err, ended := sdnotifytest.Await(states, exited, "READY=1", time.Minute)
			if got || !ended || err == nil {
				t.Fatalf("READY=1 %v, exited %v with %v; want an exit with an error and no READY=1", got, ended, err)
			}
			if !strings.Contains(log.String(), "worker stopped") {
				t.Errorf("the worker did not say why it stopped:\n%s", log)
			}
		})
	}
}
