package deploy

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// exampleConfigs are the configuration files shipped here, each for the
// form of deployment that mounts it.
var exampleConfigs = []string{
	"k8s/base/recevable.yaml",
	"k8s/overlays/example/recevable.yaml",
	"compose/recevable.yaml",
	"systemd/recevable.yaml",
}

// stand-in secret: long enough for web.session_key (32 bytes or more).
const standInSecret = "deploy-test-stand-in-secret-0123456789abcdef"

var reCAFile = regexp.MustCompile(`(?m)^\s*ca_file:\s*(\S+)\s*$`)

// TestExampleConfigs has the binary built from the Dockerfile's line check
// every example configuration (`recevable config check`), as an operator
// would before deploying. Files that exist only where the configuration is
// deployed (secrets, the trial's CA certificate) are replaced by stand-ins
// in a temporary directory; environment variables get a stand-in value.
func TestExampleConfigs(t *testing.T) {
	bin := buildRecevable(t)
	ca := selfSignedPEM(t)
	for _, name := range exampleConfigs {
		t.Run(name, func(t *testing.T) {
			data := string(read(t, name))
			dir := t.TempDir()
			_, refs := parseConfigFile(t, name, []byte(data))
			env := os.Environ()
			standIn := func(path string, content []byte) {
				p := filepath.Join(dir, strings.ReplaceAll(strings.TrimPrefix(path, "/"), "/", "_"))
				if err := os.WriteFile(p, content, 0o600); err != nil {
					t.Fatal(err)
				}
				data = strings.ReplaceAll(data, path, p)
			}
			for _, r := range refs {
				switch r.kind {
				case "file":
					standIn(r.ref, []byte(standInSecret+"\n"))
				case "env":
					env = append(env, r.ref+"="+standInSecret)
				}
			}
			for _, m := range reCAFile.FindAllStringSubmatch(data, -1) {
				standIn(m[1], ca)
			}
			cfg := filepath.Join(dir, "recevable.yaml")
			if err := os.WriteFile(cfg, []byte(data), 0o600); err != nil {
				t.Fatal(err)
			}
			cmd := exec.Command(bin, "config", "check", cfg)
			cmd.Env = env
			var stdout, stderr bytes.Buffer
			cmd.Stdout, cmd.Stderr = &stdout, &stderr
			if err := cmd.Run(); err != nil || strings.TrimSpace(stdout.String()) != "ok" {
				t.Errorf("recevable config check %s: %v\n%s%s", name, err, stdout.String(), stderr.String())
			}
			if stderr.Len() > 0 {
				t.Logf("%s: %s", name, stderr.String())
			}
		})
	}
}

// selfSignedPEM returns a certificate in PEM, standing in for a CA file.
func selfSignedPEM(t *testing.T) []byte {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "dovecot"},
		DNSNames:              []string{"dovecot"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}
