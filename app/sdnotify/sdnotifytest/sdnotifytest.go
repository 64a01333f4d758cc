// Package sdnotifytest stands in for systemd's end of the notify protocol in
// tests that run a real binary as a Type=notify unit would.
package sdnotifytest

import (
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// Listen opens the unixgram socket a binary's $NOTIFY_SOCKET names, and
// delivers each state it sends (READY=1, WATCHDOG=1...) on the channel.
func Listen(t *testing.T) (socket string, states <-chan string) {
	t.Helper()
	dir, err := os.MkdirTemp("", "sd") // short: socket paths are limited to 108 bytes
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	path := filepath.Join(dir, "notify")
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	received := make(chan string, 100)
	go func() {
		buf := make([]byte, 4096)
		for {
			n, err := conn.Read(buf)
			if err != nil {
				return
			}
			received <- string(buf[:n])
		}
	}()
	return path, received
}

// Await waits up to within for state among the received states. ended
// reports that the process exited first (with exit, its Wait error).
func Await(states <-chan string, exited <-chan error, state string, within time.Duration) (got bool, exit error, ended bool) {
	deadline := time.After(within)
	for {
		select {
		case s := <-states:
			if s == state {
				return true, nil, false
			}
		case err := <-exited:
			return false, err, true
		case <-deadline:
			return false, nil, false
		}
	}
}
