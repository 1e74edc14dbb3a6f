//go:build !linux

package imaptest

import "os/exec"

// dieWithParent is Linux-only; elsewhere the cleanup stops the server.
func dieWithParent(cmd *exec.Cmd) {}
