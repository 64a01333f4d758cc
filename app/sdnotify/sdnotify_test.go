package sdnotify_test

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/anb/risingstars/app/sdnotify"
)

// listen opens a unixgram socket as systemd does and points $NOTIFY_SOCKET at
// it; abstract names start with '@'.
func listen(t *testing.T, name string) *net.UnixConn {
	t.Helper()
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: name, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	t.Setenv("NOTIFY_SOCKET", name)
	return conn
}

func read(t *testing.T, conn *net.UnixConn, within time.Duration) (string, bool) {
	t.Helper()
	conn.SetReadDeadline(time.Now().Add(within))
	buf := make([]byte, 4096)
	n, err := conn.Read(buf)
	if err != nil {
		return "", false
	}
	return string(buf[:n]), true
}

func TestNotifyReachesThePathAndTheAbstractSocket(t *testing.T) {
	for name, addr := range map[string]string{
		"path":     filepath.Join(t.TempDir(), "notify.sock"),
		"abstract": fmt.Sprintf("@anb-sdnotify-test-%d", os.Getpid()),
	} {
		t.Run(name, func(t *testing.T) {
			conn := listen(t, addr)
			for _, state := range []string{sdnotify.Ready, sdnotify.Stopping} {
				if err := sdnotify.Notify(state); err != nil {
					t.Fatal(err)
				}
				if got, ok := read(t, conn, 5*time.Second); got != state {
					t.Fatalf("received %q (%v), want %q", got, ok, state)
				}
			}
		})
	}
}

func TestWithoutASocketNothingIsSent(t *testing.T) {
	t.Setenv("NOTIFY_SOCKET", "")
	if err := sdnotify.Notify(sdnotify.Ready); err != nil {
		t.Fatalf("Notify outside systemd: %v, want a no-op", err)
	}
	t.Setenv("WATCHDOG_USEC", "")
	if d := sdnotify.WatchdogInterval(); d != 0 {
		t.Fatalf("watchdog interval without WATCHDOG_USEC = %s", d)
	}
}

func TestWatchdogIntervalIsHalfOfWhatSystemdAsks(t *testing.T) {
	t.Setenv("WATCHDOG_USEC", "60000000")
	t.Setenv("WATCHDOG_PID", strconv.Itoa(os.Getpid()))
	if d := sdnotify.WatchdogInterval(); d != 30*time.Second {
		t.Errorf("interval = %s, want 30s", d)
	}
	t.Setenv("WATCHDOG_PID", "1")
	if d := sdnotify.WatchdogInterval(); d != 0 {
		t.Errorf("interval for another process's watchdog = %s, want 0", d)
	}
}

// The watchdog pings while the liveness check passes and stops as soon as
// it fails: systemd then restarts the wedged process.
func TestTheWatchdogPingsOnlyWhileAlive(t *testing.T) {
	conn := listen(t, filepath.Join(t.TempDir(), "notify.sock"))
	t.Setenv("WATCHDOG_USEC", "40000") // pings every 20 ms
	t.Setenv("WATCHDOG_PID", "")
	var alive atomic.Bool
	alive.Store(true)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { sdnotify.RunWatchdog(ctx, func(context.Context) bool { return alive.Load() }); close(done) }()
	defer func() { cancel(); <-done }()
	for i := range 3 {
		if got, ok := read(t, conn, 5*time.Second); got != sdnotify.Watchdog {
			t.Fatalf("ping %d: %q (%v), want %q", i+1, got, ok, sdnotify.Watchdog)
		}
	}
	alive.Store(false)
	read(t, conn, 50*time.Millisecond) // a ping already on its way
	if got, ok := read(t, conn, 300*time.Millisecond); ok {
		t.Fatalf("received %q after the liveness check failed", got)
	}
}
