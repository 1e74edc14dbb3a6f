//go:build !linux

package s3test

import "os/exec"

// setProcAttr has nothing to set outside Linux: cleanups stop the server.
func setProcAttr(cmd *exec.Cmd) {}
