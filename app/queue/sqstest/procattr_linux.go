package sqstest

import "syscall"

// sysProcAttr puts the server in its own process group, so a Ctrl-C at the
// terminal reaches only the cluster (which stops the servers last), and has
// the kernel kill it if the process that started it dies.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}
