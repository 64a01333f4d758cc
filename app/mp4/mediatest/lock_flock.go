//go:build linux || darwin || freebsd || netbsd || openbsd || dragonfly

package mediatest

import (
	"os"
	"syscall"
)

// lock takes an exclusive advisory lock on path, waiting for it. flock locks belong
// to the open file, so they exclude other goroutines of this process as well as other
// test processes.
func lock(path string) (unlock func(), err error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		f.Close()
		return nil, err
	}
	return func() { f.Close() }, nil // closing releases the lock
}
