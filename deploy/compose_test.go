package deploy

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/smithy-go"
	"github.com/compose-spec/compose-go/v2/loader"
	"github.com/compose-spec/compose-go/v2/types"
)

const composeFile = "compose.yaml"

// loadCompose loads compose.yaml with compose-go, the loader of docker
// compose: schema validation, interpolation (with an empty environment, so
// the defaults apply), path resolution.
func loadCompose(t *testing.T) *types.Project {
	t.Helper()
	wd, err := filepath.Abs(".")
	if err != nil {
		t.Fatal(err)
	}
	p, err := loader.LoadWithContext(context.Background(), types.ConfigDetails{
		WorkingDir:  wd,
		ConfigFiles: []types.ConfigFile{{Filename: filepath.Join(wd, composeFile)}},
		Environment: types.Mapping{},
	}, func(o *loader.Options) { o.ResolvePaths = true })
	if err != nil {
		t.Fatalf("%s: %v", composeFile, err)
	}
	return p
}

// service returns a service of the project, failing the test without it.
func service(t *testing.T, p *types.Project, name string) types.ServiceConfig {
	t.Helper()
	s, ok := p.Services[name]
	if !ok {
		t.Fatalf("%s: no service %s", composeFile, name)
	}
	return s
}

// published returns the host address each container port is published on.
func published(s types.ServiceConfig) map[uint32]string {
	out := map[uint32]string{}
	for _, p := range s.Ports {
		out[p.Target] = net.JoinHostPort(p.HostIP, p.Published)
	}
	return out
}

// mountOf returns the volume or bind mounted at target, or nil.
func mountOf(s types.ServiceConfig, target string) *types.ServiceVolumeConfig {
	for i := range s.Volumes {
		if s.Volumes[i].Target == target {
			return &s.Volumes[i]
		}
	}
	return nil
}

// versitygwCommand splits the versitygw service's entrypoint,
// `sh -c "mkdir -p DIR && exec versitygw ARGS"`, into DIR and ARGS.
func versitygwCommand(t *testing.T, s types.ServiceConfig) (bucketDir string, args []string) {
	t.Helper()
	ep := s.Entrypoint
	if len(ep) != 3 || ep[0] != "/bin/sh" || ep[1] != "-c" {
		t.Fatalf("%s: versitygw entrypoint %q, want [/bin/sh -c \"mkdir -p DIR && exec versitygw ARGS\"]", composeFile, ep)
	}
	m := regexp.MustCompile(`^mkdir -p (\S+) && exec versitygw (.+)$`).FindStringSubmatch(ep[2])
	if m == nil {
		t.Fatalf("%s: versitygw entrypoint %q, want \"mkdir -p DIR && exec versitygw ARGS\"", composeFile, ep[2])
	}
	return m[1], strings.Fields(m[2])
}

// flagValue returns the value of --name in args.
func flagValue(args []string, name string) string {
	for i, a := range args {
		if a == "--"+name && i+1 < len(args) {
			return args[i+1]
		}
	}
	return ""
}

// TestCompose checks the trial: three services with their ports, the
// recevable container locked down like the Kubernetes pods, and the
// configuration it mounts agreeing with the other two services.
func TestCompose(t *testing.T) {
	p := loadCompose(t)
	names := map[string]bool{}
	for n := range p.Services {
		names[n] = true
	}
	if got, want := sprintList(names), "[dovecot recevable versitygw]"; got != want {
		t.Fatalf("%s: services %s, want %s", composeFile, got, want)
	}
	rc, dc, vg := service(t, p, "recevable"), service(t, p, "dovecot"), service(t, p, "versitygw")

	// recevable: built from this repository with deploy/Dockerfile.
	root, _ := filepath.Abs("..")
	if rc.Build == nil || rc.Build.Context != root || filepath.Join(rc.Build.Context, rc.Build.Dockerfile) != filepath.Join(root, "deploy", "Dockerfile") {
		t.Errorf("recevable: build %+v, want context %s and deploy/Dockerfile", rc.Build, root)
	}
	// Published on loopback only: a trial is not a service.
	for svc, ports := range map[string][]uint32{"recevable": {8080, 9090}, "dovecot": {993}, "versitygw": {7070}} {
		pub := published(p.Services[svc])
		for _, port := range ports {
			if host, _, _ := net.SplitHostPort(pub[port]); host != "127.0.0.1" {
				t.Errorf("%s: port %d published on %q, want 127.0.0.1", svc, port, pub[port])
			}
		}
	}
	if !rc.ReadOnly || !slices.Contains(rc.CapDrop, "ALL") || !slices.Contains(rc.SecurityOpt, "no-new-privileges:true") || !slices.Contains(rc.Tmpfs, "/tmp") {
		t.Errorf("recevable: read_only %v, cap_drop %v, security_opt %v, tmpfs %v: want a read-only container without capabilities and a tmpfs /tmp",
			rc.ReadOnly, rc.CapDrop, rc.SecurityOpt, rc.Tmpfs)
	}
	for _, dep := range []string{"dovecot", "versitygw"} {
		if rc.DependsOn[dep].Condition != types.ServiceConditionHealthy {
			t.Errorf("recevable: depends on %s with condition %q, want service_healthy", dep, rc.DependsOn[dep].Condition)
		}
		if hc := p.Services[dep].HealthCheck; hc == nil || len(hc.Test) == 0 {
			t.Errorf("%s: no healthcheck, recevable waits for it", dep)
		}
	}

	// The configuration recevable reads.
	if len(rc.Command) < 3 || rc.Command[0] != "serve" || rc.Command[1] != "-config" {
		t.Fatalf("recevable: command %q, want serve -config FILE", rc.Command)
	}
	cfgMount := mountOf(rc, rc.Command[2])
	if cfgMount == nil || cfgMount.Type != types.VolumeTypeBind {
		t.Fatalf("recevable: %s is not bind-mounted", rc.Command[2])
	}
	cfgData, err := os.ReadFile(cfgMount.Source)
	if err != nil {
		t.Fatal(err)
	}
	cfg, refs := parseConfigFile(t, cfgMount.Source, cfgData)
	if port(t, cfg.Web.Listen) != "8080" || port(t, cfg.Metrics.Listen) != "9090" || !strings.HasPrefix(cfg.Web.Listen, "0.0.0.0:") || !strings.HasPrefix(cfg.Metrics.Listen, "0.0.0.0:") {
		t.Errorf("configuration: web.listen %q, metrics.listen %q: want 0.0.0.0:8080 and 0.0.0.0:9090", cfg.Web.Listen, cfg.Metrics.Listen)
	}

	// Secrets: environment variables the service sets, files of compose
	// secrets it is given.
	for _, r := range refs {
		switch r.kind {
		case "env":
			if v := rc.Environment[r.ref]; v == nil || *v == "" {
				t.Errorf("configuration reads ${%s}, which the recevable service does not set", r.ref)
			}
		case "file":
			name, ok := strings.CutPrefix(r.ref, "/run/secrets/")
			if !ok || !slices.ContainsFunc(rc.Secrets, func(s types.ServiceSecretConfig) bool { return s.Source == name }) {
				t.Errorf("configuration reads %s, which is no secret of the recevable service", r.ref)
				continue
			}
			if f := p.Secrets[name].File; f == "" {
				t.Errorf("secret %s has no file", name)
			} else if _, err := os.Stat(f); err != nil {
				t.Errorf("secret %s: %v", name, err)
			}
		}
	}

	// S3: the endpoint is the versitygw service, the keys are the same on
	// both sides, the bucket is the directory versitygw creates.
	bucketDir, vgArgs := versitygwCommand(t, vg)
	u, err := url.Parse(cfg.Storage.S3.Endpoint)
	if err != nil {
		t.Fatal(err)
	}
	if u.Hostname() != "versitygw" || ":"+u.Port() != flagValue(vgArgs, "port") {
		t.Errorf("storage.s3.endpoint %s, versitygw listens on %q", cfg.Storage.S3.Endpoint, flagValue(vgArgs, "port"))
	}
	if root := vgArgs[len(vgArgs)-1]; bucketDir != root+"/"+cfg.Storage.S3.Bucket {
		t.Errorf("versitygw creates %s, the bucket %q is %s/%s", bucketDir, cfg.Storage.S3.Bucket, root, cfg.Storage.S3.Bucket)
	}
	for vgVar, rcVar := range map[string]string{"ROOT_ACCESS_KEY": "RECEVABLE_S3_ACCESS_KEY", "ROOT_SECRET_KEY": "RECEVABLE_S3_SECRET_KEY"} {
		a, b := vg.Environment[vgVar], rc.Environment[rcVar]
		if a == nil || b == nil || *a != *b {
			t.Errorf("versitygw %s and recevable %s differ", vgVar, rcVar)
		}
	}
	if hc := vg.HealthCheck; hc == nil || !strings.Contains(strings.Join(hc.Test, " "), flagValue(vgArgs, "health")) {
		t.Errorf("versitygw healthcheck does not ask its --health path %q", flagValue(vgArgs, "health"))
	}

	// IMAP: the account is Dovecot's, on its IMAPS port, trusting the
	// certificate Dovecot exports through the shared volume.
	dovecotConf := string(read(t, "compose/dovecot/dovecot.conf"))
	entrypoint := string(read(t, "compose/dovecot/entrypoint.sh"))
	if len(cfg.IMAP.Accounts) != 1 {
		t.Fatalf("configuration: %d IMAP accounts, want 1", len(cfg.IMAP.Accounts))
	}
	acct := cfg.IMAP.Accounts[0]
	imaps := regexp.MustCompile(`inet_listener imaps \{\s*port = (\d+)`).FindStringSubmatch(dovecotConf)
	if acct.Host != "dovecot" || acct.TLS != "tls" || imaps == nil || fmt.Sprint(acct.Port) != imaps[1] {
		t.Errorf("imap account %s:%d (%s), Dovecot's IMAPS listener %v", acct.Host, acct.Port, acct.TLS, imaps)
	}
	caMount := mountOf(rc, filepath.Dir(acct.CAFile))
	if caMount == nil || caMount.Type != types.VolumeTypeVolume {
		t.Fatalf("recevable: ca_file %s is not on a volume", acct.CAFile)
	}
	var export string
	for _, v := range dc.Volumes {
		if v.Source == caMount.Source {
			export = v.Target
		}
	}
	if export == "" || !strings.Contains(entrypoint, export+"/"+filepath.Base(acct.CAFile)) {
		t.Errorf("dovecot does not write %s into the %s volume recevable reads", filepath.Base(acct.CAFile), caMount.Source)
	}
	if !strings.Contains(entrypoint, "subjectAltName=DNS:"+acct.Host) {
		t.Errorf("dovecot's certificate is not made for the host name %q recevable connects to", acct.Host)
	}
	if user := regexp.MustCompile(`username: (\S+)`).FindStringSubmatch(string(cfgData)); user == nil || !strings.Contains(entrypoint, "'"+user[1]+":{PLAIN}") {
		t.Errorf("the Dovecot users file does not hold the account's username")
	}
}

// TestComposeDovecotConfig has Dovecot parse the trial's configuration.
func TestComposeDovecotConfig(t *testing.T) {
	doveconf := needTool(t, "doveconf", "to parse the Dovecot configuration of the trial")
	out, err := exec.Command(doveconf, "-n", "-c", "compose/dovecot/dovecot.conf").CombinedOutput()
	if err != nil {
		t.Fatalf("doveconf: %v\n%s", err, out)
	}
	// -n prints the settings that differ from the defaults: ours.
	for _, want := range []string{"ssl = required", "port = 993", "mail_location = maildir:"} {
		if !bytes.Contains(out, []byte(want)) {
			t.Errorf("doveconf -n does not show %q:\n%s", want, out)
		}
	}
}

// TestComposeVersitygw runs versitygw with the command line of the compose
// file (in a temporary directory, on a loopback port) and writes to the
// bucket the way recevable does: the flags are accepted, the health path
// answers, a directory made with mkdir serves as the bucket, and a
// conditional write is refused the second time.
func TestComposeVersitygw(t *testing.T) {
	bin := os.Getenv("RECEVABLE_VERSITYGW")
	if bin == "" {
		bin = needTool(t, "versitygw", "to run the S3 server of the trial (or set RECEVABLE_VERSITYGW)")
	}
	p := loadCompose(t)
	vg := service(t, p, "versitygw")
	bucketDir, args := versitygwCommand(t, vg)
	data := args[len(args)-1]
	bucket, ok := strings.CutPrefix(bucketDir, data+"/")
	if !ok {
		t.Fatalf("versitygw makes %s outside its root %s", bucketDir, data)
	}

	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, bucket), 0o755); err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	run := slices.Clone(args)
	run[len(run)-1] = dir
	for i := range run {
		if i > 0 && run[i-1] == "--port" {
			run[i] = addr
		}
	}
	cmd := exec.Command(bin, run...)
	for k, v := range vg.Environment {
		if v != nil {
			cmd.Env = append(cmd.Env, k+"="+*v)
		}
	}
	var logs bytes.Buffer
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
	})

	health := "http://" + addr + flagValue(args, "health")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for {
		resp, err := http.Get(health)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				break
			}
		}
		select {
		case <-ctx.Done():
			t.Fatalf("versitygw %v: %s does not answer 200 (%v)\n%s", run, health, err, logs.String())
		case <-time.After(50 * time.Millisecond):
		}
	}

	key := func(name string) string { return *vg.Environment[name] }
	client := s3.New(s3.Options{
		Region:       "us-east-1",
		BaseEndpoint: aws.String("http://" + addr),
		UsePathStyle: true,
		Credentials:  credentials.NewStaticCredentialsProvider(key("ROOT_ACCESS_KEY"), key("ROOT_SECRET_KEY"), ""),
	})
	put := func() error {
		_, err := client.PutObject(ctx, &s3.PutObjectInput{
			Bucket: aws.String(bucket), Key: aws.String("state/deploy-test"),
			Body: strings.NewReader("lease"), IfNoneMatch: aws.String("*"),
		})
		return err
	}
	if err := put(); err != nil {
		t.Fatalf("put in bucket %s: %v\n%s", bucket, err, logs.String())
	}
	var apiErr smithy.APIError
	if err := put(); !errors.As(err, &apiErr) || apiErr.ErrorCode() != "PreconditionFailed" {
		t.Errorf("second put with If-None-Match: *: %v, want PreconditionFailed", err)
	}
	obj, err := client.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String("state/deploy-test")})
	if err != nil {
		t.Fatal(err)
	}
	defer obj.Body.Close()
	if b, _ := io.ReadAll(obj.Body); string(b) != "lease" {
		t.Errorf("get: %q, want %q", b, "lease")
	}
}
