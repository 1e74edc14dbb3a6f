package imaptest

import (
	"os/exec"
	"syscall"
)

// dieWithParent kills the server if the test binary dies without cleaning
// up (a panic, a timeout), so no Dovecot is left behind.
func dieWithParent(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
