//go:build !linux

package sqstest

import "syscall"

// sysProcAttr has nothing to add where parent-death signals do not exist.
func sysProcAttr() *syscall.SysProcAttr { return &syscall.SysProcAttr{} }
