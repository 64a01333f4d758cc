package main

import (
	"bytes"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/anb/risingstars/app/sdnotify/sdnotifytest"
)

// Under systemd (Type=notify, WatchdogSec=) the web node says READY=1 only
// once it answers HTTP, pings the watchdog while it answers its liveness
// path, and says STOPPING=1 on SIGTERM; a node that cannot start exits
// without READY=1.
func TestTheWebNodeSpeaksSystemdsNotifyProtocol(t *testing.T) {
	bin := buildBinary(t)
	run := func(t *testing.T, extra ...string) (*exec.Cmd, <-chan string, <-chan error, string) {
		socket, states := sdnotifytest.Listen(t)
		addr := freeAddr(t)
		var log bytes.Buffer
		cmd := exec.Command(bin)
		var env []string
		for _, kv := range os.Environ() {
			if !strings.HasPrefix(kv, "ANB_") && !strings.HasPrefix(kv, "NOTIFY_SOCKET=") && !strings.HasPrefix(kv, "WATCHDOG_") {
				env = append(env, kv)
			}
		}
		cmd.Env = append(env, append([]string{"NOTIFY_SOCKET=" + socket, "WATCHDOG_USEC=200000",
			"ANB_ADDR=" + addr, "ANB_DATA_DIR=" + t.TempDir(), "ANB_WORKERS=0"}, extra...)...)
		cmd.Stdout, cmd.Stderr = &log, &log
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		exited := make(chan error, 1)
		go func() { exited <- cmd.Wait() }()
		t.Cleanup(func() {
			cmd.Process.Kill()
			if t.Failed() {
				t.Logf("server log:\n%s", log.String())
			}
		})
		return cmd, states, exited, "http://" + addr
	}
	next := func(t *testing.T, states <-chan string, exited <-chan error, want string) {
		t.Helper()
		switch got, err, ended := sdnotifytest.Await(states, exited, want, time.Minute); {
		case ended:
			t.Fatalf("exited (%v) before %s", err, want)
		case !got:
			t.Fatalf("no %s within a minute", want)
		}
	}

	t.Run("healthy", func(t *testing.T) {
		cmd, states, exited, base := run(t)
		next(t, states, exited, "READY=1")
		res, err := http.Get(base + "/health")
		if err != nil {
			t.Fatalf("READY=1 sent before the node answers HTTP: %v", err)
		}
		res.Body.Close()
		for range 3 {
			next(t, states, exited, "WATCHDOG=1")
		}
		cmd.Process.Signal(syscall.SIGTERM)
		next(t, states, exited, "STOPPING=1")
		if err := <-exited; err != nil {
			t.Fatalf("stopped with %v", err)
		}
	})
	t.Run("cannot start", func(t *testing.T) {
		_, states, exited, _ := run(t, "ANB_WORKRES=1")
		select {
		case err := <-exited:
			if err == nil {
				t.Fatal("exited 0 with a misspelt setting")
			}
		case <-time.After(time.Minute):
			t.Fatal("still running with a misspelt setting")
		}
		for len(states) > 0 {
			if s := <-states; s == "READY=1" {
				t.Fatal("READY=1 from a node that could not start")
			}
		}
	})
}
