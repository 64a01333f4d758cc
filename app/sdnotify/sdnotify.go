// Package sdnotify speaks systemd's notify protocol (sd_notify(3)) with the
// standard library: datagrams to the socket named by $NOTIFY_SOCKET (a path,
// or an abstract name starting with '@'). Without $NOTIFY_SOCKET, outside a
// Type=notify unit, every call does nothing.
//
// Both binaries send READY=1 once they can do their work (configuration
// loaded, database reached and migrated; the web node listening), STOPPING=1
// when shutdown starts, and, under WatchdogSec=, WATCHDOG=1 every half of
// $WATCHDOG_USEC for as long as their own liveness check passes, so a
// wedged process stops pinging and systemd restarts it.
package sdnotify

import (
	"context"
	"net"
	"os"
	"strconv"
	"time"
)

// The states a service reports.
const (
	Ready    = "READY=1"
	Stopping = "STOPPING=1"
	Watchdog = "WATCHDOG=1"
)

// Notify sends state to systemd; nil when there is no $NOTIFY_SOCKET.
func Notify(state string) error {
	socket := os.Getenv("NOTIFY_SOCKET")
	if socket == "" {
		return nil
	}
	// Go maps a leading '@' to the abstract namespace, as systemd means it.
	conn, err := net.DialUnix("unixgram", nil, &net.UnixAddr{Name: socket, Net: "unixgram"})
	if err != nil {
		return err
	}
	defer conn.Close()
	_, err = conn.Write([]byte(state))
	return err
}

// WatchdogInterval is how often to send WATCHDOG=1: half of $WATCHDOG_USEC,
// or 0 when the unit has no watchdog or the watchdog is another process's
// ($WATCHDOG_PID).
func WatchdogInterval() time.Duration {
	if pid := os.Getenv("WATCHDOG_PID"); pid != "" && pid != strconv.Itoa(os.Getpid()) {
		return 0
	}
	usec, err := strconv.ParseInt(os.Getenv("WATCHDOG_USEC"), 10, 64)
	if err != nil || usec <= 0 {
		return 0
	}
	return time.Duration(usec) * time.Microsecond / 2
}

// RunWatchdog sends WATCHDOG=1 every WatchdogInterval while alive() says
// the process works, until ctx ends; it returns at once without a
// watchdog. A failed check skips the ping, so systemd's timer runs out.
func RunWatchdog(ctx context.Context, alive func(context.Context) bool) {
	every := WatchdogInterval()
	if every <= 0 {
		return
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			check, cancel := context.WithTimeout(ctx, every)
			ok := alive(check)
			cancel()
			if ok {
				Notify(Watchdog)
			}
		}
	}
}
