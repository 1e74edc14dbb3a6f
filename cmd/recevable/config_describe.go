package main

import (
	"bytes"
	"fmt"
	"io"
	"reflect"
	"sort"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// describeHeader opens the output of `recevable config describe`.
const describeHeader = `Configuration of recevable: an annotated example with the defaults.
Check a file with: recevable config check FILE

Secrets (passwords, keys, tokens) are written {env: NAME} (an environment
variable) or {file: PATH} (a file, mode 600, read at start); a literal string
works too but is for trials only. This example reads:
%s
Durations are written like 30s, 5m, 1h30m.`

// describeExample is the configuration `config describe` prints: the
// defaults, with one illustrative entry in each list. It must load and
// validate as printed (TestDescribeRoundTrip), so its keys are harmless:
// public halves of keys whose private halves were never kept.
func describeExample() *Config {
	c := defaultConfig()
	c.Storage.S3.Endpoint = "https://s3.interieur.example"
	c.Storage.S3.Bucket = "recevable-pp"
	c.Storage.S3.PathStyle = true
	c.Storage.S3.AccessKey = SecretFromEnv("RECEVABLE_S3_ACCESS_KEY")
	c.Storage.S3.SecretKey = SecretFromEnv("RECEVABLE_S3_SECRET_KEY")
	c.Storage.S3.SSE = SSEAES256
	c.Storage.S3.SSECustomerKey = SecretFromEnv("RECEVABLE_S3_SSE_C_KEY")

	site := defaultSite()
	site.ID = "pp"
	site.Name = "Préfecture de police"
	site.Departments = []string{"75"}
	site.Letterhead = []string{"PRÉFECTURE DE POLICE", "Direction de l'immigration", "Bureau des étrangers"}
	site.PostalAddress = []string{"Préfecture de police", "Bureau des étrangers", "Adresse postale du service", "75000 Paris"}
	site.Email = "titres-sejour@prefecture.example"
	site.Phone = "01 00 00 00 00"
	// signing_key_file stays empty: the file would have to exist.
	site.TrustedKeys = []TrustedKey{
		{ID: "PP-20250106-7KQ3", PublicKey: "gpxit7aJ06jTQeSExIlOYzuG3gD0uPVVeqhKFxZxKso="},
	}
	c.Sites = []Site{site}

	drop := defaultDrop()
	drop.Name = "pp-courrier"
	drop.Site = "pp"
	drop.Path = "/srv/recevable/scans/pp"
	c.Drops = []Drop{drop}

	c.CCC.Domains = []CCCDomain{{
		Domain: "ccc.example",
		Selectors: []DKIMKey{{
			Selector:  "s2025",
			KeyType:   "rsa",
			PublicKey: "MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEApZhlvOJkDPnajoXZAWGxxYAyLkoLmtIiQnvjv5f/BIJ3VpGqym2XAHuY18oSRJLDkEuED3gaL0Xke9EqjAN3W8x44E3GQgVBx4/ydvncooUL2MXx9HSDu5z5iP9d47OZy0Eem0HSu/dmV6d0amhxPf8ZqQZ8HrxH1HApO0LT7Y2h0m/0UcZXtWDj5Pehs9/6r3pv1SqlmffOgUpqvd0Fxd94/7jRHW5M4usKIFTKRsRJKi4YDyjkvchkXBWLh0Gi4gdi6QPRdZaoZJzZlPN8X+LIGgZOm3H/D9VDFnJoB1PVvykCzFaFdYSuk+ZlA+JUaLwc+N/ECopNUbtuwhEgKwIDAQAB",
		}},
	}}

	c.Web.SessionKey = SecretFromEnv("RECEVABLE_SESSION_KEY")
	c.Web.OIDC.ClientSecret = SecretFromEnv("RECEVABLE_OIDC_CLIENT_SECRET")
	return &c
}

// describeCommented are list entries printed commented out, under their
// list: an active IMAP account needs its password at load time, which the
// example cannot provide.
func describeCommented() map[string]any {
	a := defaultIMAPAccount()
	a.Name = "pp-titres"
	a.Site = "pp"
	a.Host = "imap.prefecture.example"
	a.Username = "titres-sejour"
	a.Password = SecretFromEnv("RECEVABLE_IMAP_PASSWORD")
	return map[string]any{"imap.accounts": []IMAPAccount{a}}
}

// exampleMarker introduces a commented-out example entry.
const exampleMarker = "Example, to uncomment and adapt:"

// describeConfig writes c as YAML, every field preceded by its doc tag and
// default, and the entries of commented under their (empty) lists.
func describeConfig(w io.Writer, c *Config, commented map[string]any) error {
	var doc yaml.Node
	if err := doc.Encode(c); err != nil {
		return fmt.Errorf("describe: %w", err)
	}
	def := defaultConfig()
	if err := annotate(&doc, reflect.TypeOf(*c), reflect.ValueOf(def), "", commented); err != nil {
		return err
	}
	doc.HeadComment = fmt.Sprintf(describeHeader, envList(c, commented))
	return encodeYAML(w, &doc)
}

func encodeYAML(w io.Writer, n *yaml.Node) error {
	enc := yaml.NewEncoder(w)
	enc.SetIndent(2)
	if err := enc.Encode(n); err != nil {
		return fmt.Errorf("describe: %w", err)
	}
	return enc.Close()
}

// annotate puts the doc of each field of type t above its key, with the
// default taken from def (a value of type t).
func annotate(n *yaml.Node, t reflect.Type, def reflect.Value, path string, commented map[string]any) error {
	switch t.Kind() {
	case reflect.Struct:
		if t == secretType {
			n.Style = yaml.FlowStyle // {env: NAME} on the key's line
			return nil
		}
		if n.Kind != yaml.MappingNode {
			return nil
		}
		fields := yamlFields(t)
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			f := fields[k.Value]
			fp := joinPath(path, k.Value)
			fdef := def.FieldByIndex(f.Index)
			k.HeadComment = fieldDoc(f, fdef, v)
			if path == "" {
				k.HeadComment = "\n" + k.HeadComment // a blank line between sections
			}
			if f.Type.Kind() == reflect.Slice && f.Type.Elem().Kind() == reflect.String && flowLen(v) <= 60 {
				v.Style = yaml.FlowStyle
			}
			if f.Type == durationType && v.Kind == yaml.ScalarNode {
				if d, err := time.ParseDuration(v.Value); err == nil {
					v.Value = shortDuration(d)
				}
			}
			if ex, ok := commented[fp]; ok && len(v.Content) == 0 {
				text, err := commentedExample(ex, fp)
				if err != nil {
					return err
				}
				k.HeadComment += "\n" + exampleMarker + "\n" + text
			}
			if err := annotate(v, f.Type, fdef, fp, commented); err != nil {
				return err
			}
		}
	case reflect.Slice:
		if n.Kind != yaml.SequenceNode {
			return nil
		}
		et := t.Elem()
		for i, item := range n.Content {
			if err := annotate(item, et, elementDefault(et), fmt.Sprintf("%s[%d]", path, i), commented); err != nil {
				return err
			}
		}
	}
	return nil
}

// commentedExample renders the list ex as annotated YAML indented to sit
// under the key at path.
func commentedExample(ex any, path string) (string, error) {
	var n yaml.Node
	if err := n.Encode(ex); err != nil {
		return "", fmt.Errorf("describe %s: %w", path, err)
	}
	if err := annotate(&n, reflect.TypeOf(ex), reflect.Value{}, path, nil); err != nil {
		return "", err
	}
	var b bytes.Buffer
	if err := encodeYAML(&b, &n); err != nil {
		return "", err
	}
	return strings.TrimRight(b.String(), "\n"), nil
}

// elementDefault is the default value of a list entry of type t.
func elementDefault(t reflect.Type) reflect.Value {
	switch t {
	case reflect.TypeOf(Site{}):
		return reflect.ValueOf(defaultSite())
	case reflect.TypeOf(IMAPAccount{}):
		return reflect.ValueOf(defaultIMAPAccount())
	case reflect.TypeOf(Drop{}):
		return reflect.ValueOf(defaultDrop())
	case reflect.TypeOf(DKIMKey{}):
		return reflect.ValueOf(defaultDKIMKey())
	}
	return reflect.Zero(t)
}

var durationType = reflect.TypeOf(time.Duration(0))

// fieldDoc is the doc tag of f followed by its default, when it has one. A
// long default that is also the value shown is not repeated.
func fieldDoc(f reflect.StructField, def reflect.Value, shown *yaml.Node) string {
	doc := wrap(f.Tag.Get("doc"), 76)
	d := defaultText(def)
	if len([]rune(d)) > 60 && flowText(shown) == d {
		d = "as shown"
	}
	if d != "" {
		doc += "\nDefault: " + d + "."
	}
	return doc
}

// flowText renders a list of scalars as defaultText does: [a, b].
func flowText(n *yaml.Node) string {
	if n.Kind != yaml.SequenceNode {
		return ""
	}
	items := make([]string, len(n.Content))
	for i, c := range n.Content {
		items[i] = c.Value
	}
	return "[" + strings.Join(items, ", ") + "]"
}

// flowLen is the length of a list written on one line.
func flowLen(n *yaml.Node) int { return len([]rune(flowText(n))) }

// shortDuration writes 1m rather than Go's 1m0s.
func shortDuration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

// defaultText prints a scalar default, "" for none (zero, or a section).
func defaultText(v reflect.Value) string {
	if !v.IsValid() || v.IsZero() {
		return ""
	}
	switch v.Kind() {
	case reflect.Struct:
		return ""
	case reflect.Slice:
		if v.Type().Elem().Kind() != reflect.String {
			return ""
		}
		items := make([]string, v.Len())
		for i := range items {
			items[i] = v.Index(i).String()
		}
		return "[" + strings.Join(items, ", ") + "]"
	}
	if d, ok := v.Interface().(time.Duration); ok {
		return shortDuration(d)
	}
	return fmt.Sprint(v.Interface())
}

// wrap breaks s into lines of at most width characters.
func wrap(s string, width int) string {
	var lines []string
	line := ""
	for _, word := range strings.Fields(s) {
		if line != "" && len([]rune(line))+1+len([]rune(word)) > width {
			lines = append(lines, line)
			line = word
			continue
		}
		if line != "" {
			line += " "
		}
		line += word
	}
	return strings.Join(append(lines, line), "\n")
}

// envList lists the environment variables the example's secrets read.
func envList(c *Config, commented map[string]any) string {
	names := map[string]bool{}
	collectEnv(reflect.ValueOf(*c), names)
	for _, ex := range commented {
		collectEnv(reflect.ValueOf(ex), names)
	}
	sorted := make([]string, 0, len(names))
	for n := range names {
		sorted = append(sorted, "  "+n)
	}
	sort.Strings(sorted)
	return strings.Join(sorted, "\n")
}

func collectEnv(v reflect.Value, names map[string]bool) {
	switch v.Kind() {
	case reflect.Struct:
		if s, ok := v.Interface().(Secret); ok {
			if s.kind == secretEnv {
				names[s.ref] = true
			}
			return
		}
		for i := 0; i < v.NumField(); i++ {
			if v.Type().Field(i).IsExported() {
				collectEnv(v.Field(i), names)
			}
		}
	case reflect.Slice:
		for i := 0; i < v.Len(); i++ {
			collectEnv(v.Index(i), names)
		}
	}
}
