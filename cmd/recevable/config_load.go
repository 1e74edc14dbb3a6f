package main

import (
	"bytes"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"os"
	"reflect"
	"regexp"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// LoadConfig reads the YAML file at path over the defaults, reads the
// secrets it refers to, and validates the result. A bad file gives a
// *ConfigError naming every bad field by its path and line.
func LoadConfig(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("load config: %w", err)
	}
	c, err := parseConfig(data, os.LookupEnv)
	var ce *ConfigError
	if errors.As(err, &ce) {
		ce.File = path
	}
	return c, err
}

// parseConfig is LoadConfig on bytes, with the environment passed in.
func parseConfig(data []byte, lookupEnv func(string) (string, bool)) (*Config, error) {
	var root yaml.Node
	if err := yaml.Unmarshal(data, &root); err != nil {
		return nil, &ConfigError{Issues: []Issue{syntaxIssue(err)}}
	}
	c := defaultConfig()
	c.lines = map[string]int{}
	if root.Kind == 0 { // an empty file: the defaults alone
		return &c, finish(&c, lookupEnv)
	}
	w := &walker{lines: c.lines}
	w.walk(root.Content[0], reflect.TypeOf(c), "")
	issues := w.issues

	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&c); err != nil && !errors.Is(err, io.EOF) {
		issues = append(issues, w.decodeIssues(err)...)
	}
	if len(issues) > 0 {
		// Not validated: a half-decoded file would give misleading errors.
		return nil, &ConfigError{Issues: issues}
	}
	return &c, finish(&c, lookupEnv)
}

// finish reads what the configuration points to (secrets, signing keys, CA
// files), so that a missing file fails `config check` rather than the first
// connection, then validates.
func finish(c *Config, lookupEnv func(string) (string, bool)) error {
	failed := map[string]bool{}
	var errs []Issue
	for _, f := range c.secretFields() {
		if !f.active {
			if f.s.kind == secretLiteral {
				c.loadWarnings = append(c.loadWarnings, Issue{Path: f.path, Line: c.lineOf(f.path), Msg: "a literal secret in the configuration file is for trials only: use {env: NAME} or {file: PATH}"})
			}
			continue
		}
		warn, err := f.s.resolve(lookupEnv)
		if warn != "" {
			c.loadWarnings = append(c.loadWarnings, Issue{Path: f.path, Line: c.lineOf(f.path), Msg: warn})
		}
		if err != nil {
			errs = append(errs, Issue{Path: f.path, Line: c.lineOf(f.path), Msg: err.Error()})
			failed[f.path] = true
		}
	}
	for i := range c.Sites {
		s := &c.Sites[i]
		if s.SigningKeyFile == "" {
			continue
		}
		p := fmt.Sprintf("sites[%d].signing_key_file", i)
		info, err := readSigningKey(s.SigningKeyFile)
		if err != nil {
			errs = append(errs, Issue{Path: p, Line: c.lineOf(p), Msg: err.Error()})
			failed[p] = true
			continue
		}
		s.signing = info
	}
	for i, a := range c.IMAP.Accounts {
		if a.CAFile == "" {
			continue
		}
		p := fmt.Sprintf("imap.accounts[%d].ca_file", i)
		if err := checkCAFile(a.CAFile); err != nil {
			errs = append(errs, Issue{Path: p, Line: c.lineOf(p), Msg: err.Error()})
		}
	}
	check, _ := c.check()
	for _, is := range check {
		if !failed[is.Path] { // already said why it is empty
			errs = append(errs, is)
		}
	}
	if len(errs) > 0 {
		return &ConfigError{Issues: errs}
	}
	return nil
}

// checkCAFile checks a file holds at least one PEM certificate.
func checkCAFile(path string) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	if !x509.NewCertPool().AppendCertsFromPEM(data) {
		return fmt.Errorf("%s holds no PEM certificate", path)
	}
	return nil
}

// secretField is a Secret of the configuration with its path. Only active
// secrets, those of the parts in use, are read.
type secretField struct {
	path   string
	s      *Secret
	active bool
}

func (c *Config) secretFields() []secretField {
	s3 := c.Storage.Backend == BackendS3 || usesS3(c.Drops)
	fs := []secretField{
		{"storage.s3.access_key", &c.Storage.S3.AccessKey, s3},
		{"storage.s3.secret_key", &c.Storage.S3.SecretKey, s3},
		{"storage.s3.sse_customer_key", &c.Storage.S3.SSECustomerKey, s3 && c.Storage.S3.SSE == SSEC},
		{"web.session_key", &c.Web.SessionKey, true},
		{"web.oidc.client_secret", &c.Web.OIDC.ClientSecret, c.Web.OIDC.Issuer != ""},
	}
	for i := range c.IMAP.Accounts {
		a := &c.IMAP.Accounts[i]
		fs = append(fs, secretField{fmt.Sprintf("imap.accounts[%d].password", i), &a.Password, a.Auth == AuthLogin})
	}
	return fs
}

// lineOf returns the line of path or of its nearest ancestor in the file,
// 0 for a configuration built in code.
func (c *Config) lineOf(path string) int {
	for path != "" {
		if l, ok := c.lines[path]; ok {
			return l
		}
		i := strings.LastIndexAny(path, ".[")
		if i < 0 {
			break
		}
		path = path[:i]
	}
	return 0
}

// walker goes over the YAML tree beside the Config type: it records the line
// of every field path and reports unknown fields by path, which the decoder
// alone would only name by Go type.
type walker struct {
	lines   map[string]int
	entries []walkEntry
	issues  []Issue
	// visited bounds the walk: aliases can make a small file a huge tree,
	// which the decoder then refuses ("excessive aliasing").
	visited int
}

const maxWalk = 100_000

// walkEntry is a value node met on the way, to map a decoder error's line
// back to a path.
type walkEntry struct {
	path  string
	line  int
	value string
}

var secretType = reflect.TypeOf(Secret{})

func (w *walker) walk(n *yaml.Node, t reflect.Type, path string) {
	if w.visited++; w.visited > maxWalk {
		return
	}
	if n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	w.entries = append(w.entries, walkEntry{path, n.Line, n.Value})
	if t == secretType {
		if err := secretShape(n); err != nil {
			w.issues = append(w.issues, Issue{Path: path, Line: n.Line, Msg: err.Error()})
		}
		return
	}
	switch t.Kind() {
	case reflect.Struct:
		if n.Kind != yaml.MappingNode {
			return // the decoder reports the type error
		}
		fields := yamlFields(t)
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			if k.Value == "<<" { // a merge key: its fields belong here
				w.walk(v, t, path)
				continue
			}
			fp := joinPath(path, k.Value)
			f, ok := fields[k.Value]
			if !ok {
				w.issues = append(w.issues, Issue{Path: fp, Line: k.Line, Msg: unknownField(k.Value, fields)})
				continue
			}
			w.lines[fp] = k.Line
			w.walk(v, f.Type, fp)
		}
	case reflect.Slice:
		if n.Kind != yaml.SequenceNode {
			return
		}
		for i, item := range n.Content {
			ip := fmt.Sprintf("%s[%d]", path, i)
			w.lines[ip] = item.Line
			w.walk(item, t.Elem(), ip)
		}
	}
}

func joinPath(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

// yamlFields maps the YAML names of a struct's fields to the fields.
func yamlFields(t reflect.Type) map[string]reflect.StructField {
	m := map[string]reflect.StructField{}
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if f.IsExported() && name != "" && name != "-" {
			m[name] = f
		}
	}
	return m
}

// unknownField says a key is unknown, suggesting the closest known one.
func unknownField(key string, fields map[string]reflect.StructField) string {
	best, bestD := "", 3 // suggest only near misses
	for name := range fields {
		if d := editDistance(strings.ToLower(key), name); d < bestD || (d == bestD && name < best) {
			best, bestD = name, d
		}
	}
	if best != "" {
		return fmt.Sprintf("unknown field (did you mean %s?)", best)
	}
	return "unknown field"
}

// editDistance is the Levenshtein distance between a and b.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur := make([]int, len(b)+1)
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev = cur
	}
	return prev[len(b)]
}

var (
	reLinePrefix = regexp.MustCompile(`^line (\d+): (.*)$`)
	reCannot     = regexp.MustCompile("^cannot unmarshal !!(\\w+) (?:`([^`]*)` )?into (.+)$")
)

// decodeIssues turns the decoder's error into issues named by path.
// Unknown fields were already reported by the walker.
func (w *walker) decodeIssues(err error) []Issue {
	var te *yaml.TypeError
	if !errors.As(err, &te) {
		return []Issue{syntaxIssue(err)}
	}
	var out []Issue
	for _, msg := range te.Errors {
		m := reLinePrefix.FindStringSubmatch(msg)
		if m == nil {
			out = append(out, Issue{Msg: msg})
			continue
		}
		line, _ := strconv.Atoi(m[1])
		text := m[2]
		if strings.Contains(text, " not found in type ") {
			continue
		}
		value := ""
		if c := reCannot.FindStringSubmatch(text); c != nil {
			value = c[2]
			text = typeMismatch(c[1], c[2], c[3])
		}
		out = append(out, Issue{Path: w.pathAt(line, value), Line: line, Msg: text})
	}
	return out
}

// pathAt finds the path of the value node at line, preferring one holding
// value (several values can share a line in flow style), else the deepest
// key on that line (a duplicate key, for instance).
func (w *walker) pathAt(line int, value string) string {
	path := ""
	for _, e := range w.entries {
		if e.line == line && e.path != "" {
			if value != "" && e.value == value {
				return e.path
			}
			path = e.path
		}
	}
	if path != "" {
		return path
	}
	for p, l := range w.lines {
		if l == line && (len(p) > len(path) || len(p) == len(path) && p < path) {
			path = p
		}
	}
	return path
}

// typeMismatch words a decoder type error for people.
func typeMismatch(tag, value, goType string) string {
	got := "a " + map[string]string{"str": "string", "int": "number", "float": "number", "bool": "boolean", "map": "mapping", "seq": "list", "null": "null", "timestamp": "date"}[tag]
	if value != "" {
		got = strconv.Quote(value)
	}
	want := "a " + goType
	switch {
	case goType == "time.Duration":
		want = "a duration such as 30s, 5m or 1h30m"
	case goType == "bool":
		want = "true or false"
	case strings.HasPrefix(goType, "int"):
		want = "a whole number"
	case strings.HasPrefix(goType, "float"):
		want = "a number"
	case goType == "string":
		want = "a string"
	case strings.HasPrefix(goType, "[]"):
		want = "a list"
	case strings.HasPrefix(goType, "main."):
		want = "a mapping of fields"
	}
	return fmt.Sprintf("%s: want %s", got, want)
}

var reSyntax = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

// syntaxIssue turns a YAML syntax error into an issue with its line.
func syntaxIssue(err error) Issue {
	if m := reSyntax.FindStringSubmatch(err.Error()); m != nil {
		line, _ := strconv.Atoi(m[1])
		return Issue{Line: line, Msg: "YAML: " + m[2]}
	}
	return Issue{Msg: err.Error()}
}
