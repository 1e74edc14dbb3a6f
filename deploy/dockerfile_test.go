package deploy

import (
	"bufio"
	"bytes"
	"debug/elf"
	"encoding/json"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

const dockerfile = "Dockerfile"

// instruction is one logical line of a Dockerfile, continuations joined.
type instruction struct {
	line int
	cmd  string // upper case: FROM, RUN…
	args string
}

// stage is the instructions from one FROM to the next.
type stage struct {
	from, name string
	body       []instruction
}

// parseDockerfile splits a Dockerfile into stages. It knows what this
// Dockerfile uses (comments, parser directives, \ continuations), not
// heredocs; a line it cannot read fails the test.
func parseDockerfile(t *testing.T, data []byte) (args map[string]string, stages []stage) {
	t.Helper()
	args = map[string]string{}
	sc := bufio.NewScanner(bytes.NewReader(data))
	var cur strings.Builder
	start := 0
	var ins []instruction
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		trimmed := strings.TrimSpace(line)
		if cur.Len() == 0 && (trimmed == "" || strings.HasPrefix(trimmed, "#")) {
			continue
		}
		if cur.Len() == 0 {
			start = n
		}
		if strings.HasSuffix(trimmed, `\`) {
			cur.WriteString(strings.TrimSuffix(trimmed, `\`) + " ")
			continue
		}
		cur.WriteString(trimmed)
		cmd, rest, _ := strings.Cut(cur.String(), " ")
		ins = append(ins, instruction{line: start, cmd: strings.ToUpper(cmd), args: strings.TrimSpace(rest)})
		cur.Reset()
	}
	for _, in := range ins {
		switch {
		case in.cmd == "FROM":
			f := strings.Fields(in.args)
			s := stage{from: f[0]}
			if len(f) == 3 && strings.EqualFold(f[1], "AS") {
				s.name = f[2]
			}
			stages = append(stages, s)
		case in.cmd == "ARG" && len(stages) == 0:
			k, v, _ := strings.Cut(in.args, "=")
			args[k] = v
		case len(stages) == 0:
			t.Fatalf("%s:%d: %s before the first FROM", dockerfile, in.line, in.cmd)
		default:
			stages[len(stages)-1].body = append(stages[len(stages)-1].body, in)
		}
	}
	if len(stages) == 0 {
		t.Fatalf("%s: no FROM", dockerfile)
	}
	return args, stages
}

// last returns the arguments of the last instruction cmd of a stage.
func (s stage) last(cmd string) string {
	v := ""
	for _, in := range s.body {
		if in.cmd == cmd {
			v = in.args
		}
	}
	return v
}

// TestDockerfile checks the image's shape without building it: multi-stage,
// a final stage from scratch with nothing that needs a shell, a non-root
// USER, the CA certificates, both ports, and a static, trimmed build.
func TestDockerfile(t *testing.T) {
	_, stages := parseDockerfile(t, read(t, dockerfile))
	if len(stages) < 2 {
		t.Fatalf("%s: %d stage(s), want a build stage and a final one", dockerfile, len(stages))
	}
	final := stages[len(stages)-1]
	if final.from != "scratch" && !strings.HasPrefix(final.from, "gcr.io/distroless/static") {
		t.Errorf("final stage FROM %s, want scratch (or distroless/static)", final.from)
	}
	user := final.last("USER")
	uid, _, _ := strings.Cut(user, ":")
	if uid == "" || uid == "0" || uid == "root" {
		t.Errorf("final stage USER %q: the image must not run as root", user)
	}
	copies := map[string]bool{}
	for _, in := range final.body {
		switch in.cmd {
		case "RUN":
			t.Errorf("%s:%d: RUN in the final stage: there is no shell in scratch", dockerfile, in.line)
		case "COPY":
			f := strings.Fields(in.args)
			copies[f[len(f)-1]] = true
		case "ENTRYPOINT", "CMD":
			// Exec form: the shell form needs /bin/sh.
			var argv []string
			if err := json.Unmarshal([]byte(in.args), &argv); err != nil || len(argv) == 0 {
				t.Errorf("%s:%d: %s %s is not in exec form (a JSON array)", dockerfile, in.line, in.cmd, in.args)
			}
		}
	}
	for _, p := range []string{"/etc/ssl/certs/ca-certificates.crt", "/usr/local/bin/recevable", "/etc/"} {
		if !copies[p] {
			t.Errorf("final stage copies nothing to %s", p)
		}
	}
	if got := strings.Fields(final.last("EXPOSE")); strings.Join(got, " ") != "8080 9090" {
		t.Errorf("EXPOSE %v, want 8080 9090 (web, metrics)", got)
	}
	var ep, cmd []string
	json.Unmarshal([]byte(final.last("ENTRYPOINT")), &ep)
	json.Unmarshal([]byte(final.last("CMD")), &cmd)
	if strings.Join(append(ep, cmd...), " ") != "/usr/local/bin/recevable serve -config /etc/recevable/recevable.yaml --log-format json" {
		t.Errorf("ENTRYPOINT %v CMD %v, want recevable serve -config /etc/recevable/recevable.yaml --log-format json", ep, cmd)
	}
	// The passwd line names the USER.
	for _, s := range stages[:len(stages)-1] {
		for _, in := range s.body {
			if in.cmd == "RUN" && strings.Contains(in.args, "/etc/passwd") && !strings.Contains(in.args, ":x:"+uid+":") {
				t.Errorf("%s:%d: the passwd line is not for uid %s", dockerfile, in.line, uid)
			}
		}
	}

	env, argv := buildCommand(t)
	if env["CGO_ENABLED"] != "0" {
		t.Errorf("build stage: CGO_ENABLED=%q, want 0 for a static binary", env["CGO_ENABLED"])
	}
	line := strings.Join(argv, " ")
	for _, want := range []string{"-trimpath", "-s -w", "-X main.version="} {
		if !strings.Contains(line, want) {
			t.Errorf("go build %s: no %s", line, want)
		}
	}

	// The build context keeps what the build needs.
	ignore := string(read(t, "Dockerfile.dockerignore"))
	for _, l := range strings.Split(ignore, "\n") {
		l = strings.TrimSpace(l)
		if l == "go.mod" || l == "go.sum" || l == "cmd" || l == "*" || l == "**" {
			t.Errorf("Dockerfile.dockerignore excludes %s, which the build needs", l)
		}
	}
}

// buildCommand returns the environment (ENV of the build stage) and the
// argv of the `go build` of the Dockerfile, with ${VERSION} left in.
func buildCommand(t *testing.T) (env map[string]string, argv []string) {
	t.Helper()
	_, stages := parseDockerfile(t, read(t, dockerfile))
	env = map[string]string{}
	for _, s := range stages[:len(stages)-1] {
		for _, in := range s.body {
			switch in.cmd {
			case "ENV":
				for _, kv := range strings.Fields(in.args) {
					k, v, _ := strings.Cut(kv, "=")
					env[k] = v
				}
			case "RUN":
				if i := strings.Index(in.args, "go build "); i >= 0 {
					argv = splitWords(t, in.args[i:])
				}
			}
		}
	}
	if argv == nil {
		t.Fatalf("%s: no RUN go build in the build stages", dockerfile)
	}
	return env, argv
}

// splitWords splits a command line on blanks, keeping double-quoted
// strings whole (what the build line uses), and stops at && or ;.
func splitWords(t *testing.T, s string) []string {
	t.Helper()
	var out []string
	var w strings.Builder
	inQuote, inWord := false, false
	for _, r := range s {
		switch {
		case r == '"':
			inQuote, inWord = !inQuote, true
		case (r == ' ' || r == '\t') && !inQuote:
			if inWord {
				out = append(out, w.String())
				w.Reset()
				inWord = false
			}
		default:
			w.WriteRune(r)
			inWord = true
		}
	}
	if inQuote {
		t.Fatalf("unbalanced quote in %q", s)
	}
	if inWord {
		out = append(out, w.String())
	}
	for i, a := range out {
		if a == "&&" || a == ";" {
			return out[:i]
		}
	}
	return out
}

// versionMarker is the version the test builds with, looked for in the
// binary to prove -X main.version took effect.
const versionMarker = "deploy-test-4f1c9a"

var (
	builtOnce sync.Once
	builtBin  string
	builtErr  error
	builtDir  string
)

// TestMain removes the binary built for the tests.
func TestMain(m *testing.M) {
	code := m.Run()
	if builtDir != "" {
		os.RemoveAll(builtDir)
	}
	os.Exit(code)
}

// buildRecevable runs the Dockerfile's go build, as written, from the root
// of the repository, once per test binary, and returns the binary.
func buildRecevable(t *testing.T) string {
	t.Helper()
	// Parsed outside the Once: a t.Fatal inside it would leave it done with
	// no binary and no error for the next caller.
	env, argv := buildCommand(t)
	builtOnce.Do(func() {
		builtDir, builtErr = os.MkdirTemp("", "recevable-deploy-test-")
		if builtErr != nil {
			return
		}
		builtBin = filepath.Join(builtDir, "recevable")
		for i := range argv {
			argv[i] = strings.ReplaceAll(argv[i], "${VERSION}", versionMarker)
			if i > 0 && argv[i-1] == "-o" {
				argv[i] = builtBin
			}
		}
		cmd := exec.Command("go", argv[1:]...)
		cmd.Dir = ".."
		cmd.Env = os.Environ()
		for k, v := range env {
			cmd.Env = append(cmd.Env, k+"="+v)
		}
		if out, err := cmd.CombinedOutput(); err != nil {
			builtErr = fmt.Errorf("go %s: %v\n%s", strings.Join(argv[1:], " "), err, out)
		}
	})
	if builtErr != nil {
		t.Fatal(builtErr)
	}
	return builtBin
}

// TestDockerfileBuild runs the build line of the Dockerfile and checks the
// result is what a scratch image needs: a static executable, with the
// version it was given.
func TestDockerfileBuild(t *testing.T) {
	bin := buildRecevable(t)
	f, err := elf.Open(bin)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			t.Errorf("%s has a dynamic loader: not static, it cannot run FROM scratch", bin)
		}
	}
	if libs, _ := f.ImportedLibraries(); len(libs) > 0 {
		t.Errorf("%s needs shared libraries %v", bin, libs)
	}
	if f.Section(".symtab") != nil {
		t.Errorf("%s has a symbol table: -s did not apply", bin)
	}
	t.Run("version", func(t *testing.T) {
		if !declaresVersion(t) {
			t.Skip("cmd/recevable declares no `var version`: -X main.version has no effect yet")
		}
		data, err := os.ReadFile(bin)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Contains(data, []byte(versionMarker)) {
			t.Errorf("the binary does not carry the version %q given with -X main.version", versionMarker)
		}
	})
}

// declaresVersion reports whether package main of cmd/recevable has a
// package-level variable named version, which -X can set.
func declaresVersion(t *testing.T) bool {
	t.Helper()
	files, err := filepath.Glob("../cmd/recevable/*.go")
	if err != nil {
		t.Fatal(err)
	}
	fset := token.NewFileSet()
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, name, nil, parser.SkipObjectResolution)
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range f.Decls {
			g, ok := d.(*ast.GenDecl)
			if !ok || g.Tok != token.VAR {
				continue
			}
			for _, sp := range g.Specs {
				for _, id := range sp.(*ast.ValueSpec).Names {
					if id.Name == "version" {
						return true
					}
				}
			}
		}
	}
	return false
}
