package s3test

import (
	"os/exec"
	"syscall"
)

// setProcAttr makes the kernel kill versitygw if the test binary dies without
// running its cleanups (go test timeout, SIGKILL), so no server outlives it.
func setProcAttr(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
