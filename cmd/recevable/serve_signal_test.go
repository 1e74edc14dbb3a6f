//go:build linux

package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"recevable/intake/imaptest"
	"recevable/storage"
)

// TestServeSIGTERM runs `recevable serve` as a real process (this test
// binary, re-executed) and stops it with SIGTERM once it registered a
// dossier: it exits 0 after its orderly shutdown.
func TestServeSIGTERM(t *testing.T) {
	if os.Getenv("RECEVABLE_SERVE_HELPER") != "" {
		os.Exit(run([]string{"serve", "-config", os.Getenv("RECEVABLE_SERVE_HELPER"), "--log-format", "json"}, os.Stdout, os.Stderr))
	}
	srv := imaptest.StartMem(t, nil)
	dir := t.TempDir()
	file := filepath.Join(t.TempDir(), "recevable.yaml")
	if err := os.WriteFile(file, []byte(serveConfig(srv, dir, "", freeAddr(t))), 0o600); err != nil {
		t.Fatal(err)
	}
	srv.Append(t, "INBOX", []byte(testSubmission))
	cmd := exec.Command(os.Args[0], "-test.run=^TestServeSIGTERM$", "-test.count=1")
	cmd.Env = append(os.Environ(), "RECEVABLE_SERVE_HELPER="+file, "RECEVABLE_TEST_IMAP_PASSWORD="+srv.Password)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &syncWriter{w: &out}, &syncWriter{w: &out}
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	b, err := storage.NewFS(dir)
	if err != nil {
		t.Fatal(err)
	}
	waitDossiers(t, b, 1, time.Minute)
	cmd.Process.Signal(syscall.SIGTERM)
	err = cmd.Wait()
	if err != nil {
		t.Errorf("serve after SIGTERM: %v, want exit 0; output:\n%s", err, out.String())
	}
	if !strings.Contains(out.String(), "shutdown complete") {
		t.Errorf("no orderly shutdown in the log:\n%s", out.String())
	}
}
