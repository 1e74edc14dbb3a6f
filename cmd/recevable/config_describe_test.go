package main

import (
	"bytes"
	"fmt"
	"reflect"
	"strings"
	"testing"
)

// describeOutput runs `recevable config describe`.
func describeOutput(t *testing.T) string {
	t.Helper()
	var stdout, stderr bytes.Buffer
	if code := run([]string{"config", "describe"}, &stdout, &stderr); code != 0 {
		t.Fatalf("config describe: exit %d, stderr %s", code, stderr.String())
	}
	return stdout.String()
}

// TestDescribeRoundTrip loads what describe prints, in an environment
// holding none of its secrets, and describes the result again.
func TestDescribeRoundTrip(t *testing.T) {
	t.Parallel()
	out := describeOutput(t)
	c, err := parseConfig([]byte(out), envMap(nil))
	if err != nil {
		t.Fatalf("describe output does not load:\n%v", err)
	}
	for _, w := range c.Warnings() {
		if !strings.Contains(w.Msg, "is not set") {
			t.Errorf("describe output: unexpected warning %v", w)
		}
	}
	var again bytes.Buffer
	if err := describeConfig(&again, c, describeCommented()); err != nil {
		t.Fatal(err)
	}
	if again.String() != out {
		t.Errorf("describe(load(describe)) differs from describe:\n%s", lineDiff(out, again.String()))
	}
	// Defaults survive the trip: the loaded file equals the example.
	ex := describeExample()
	if !reflect.DeepEqual(c.Limits, ex.Limits) || !reflect.DeepEqual(c.Workers, ex.Workers) || !reflect.DeepEqual(c.Drops, ex.Drops) {
		t.Errorf("loaded describe output differs from describeExample()")
	}
}

// TestDescribeCommentedExample uncomments the example IMAP account and
// loads it with its password in the environment.
func TestDescribeCommentedExample(t *testing.T) {
	t.Parallel()
	lines := strings.Split(describeOutput(t), "\n")
	var out []string
	var example []string
	in := false
	for _, l := range lines {
		switch {
		case strings.HasSuffix(l, "# "+exampleMarker):
			in = true
			out = append(out, l)
		case in && strings.HasPrefix(l, "  # "):
			example = append(example, "  "+strings.TrimPrefix(l, "  # "))
		case in && l == "  accounts: []":
			in = false
			out = append(out, "  accounts:")
			out = append(out, example...)
		default:
			out = append(out, l)
		}
	}
	if len(example) < 10 || in {
		t.Fatalf("no commented example account found (%d lines)", len(example))
	}
	text := strings.Join(out, "\n")
	c, err := parseConfig([]byte(text), envMap(map[string]string{"RECEVABLE_IMAP_PASSWORD": "imap-password"}))
	if err != nil {
		t.Fatalf("uncommented example does not load: %v\n%s", err, strings.Join(example, "\n"))
	}
	want := describeCommented()["imap.accounts"].([]IMAPAccount)
	if len(c.IMAP.Accounts) != 1 {
		t.Fatalf("accounts = %d, want 1", len(c.IMAP.Accounts))
	}
	got := c.IMAP.Accounts[0]
	if got.Password.Reveal() != "imap-password" {
		t.Errorf("password = %q", got.Password.Reveal())
	}
	got.Password, want[0].Password = Secret{}, Secret{}
	if len(got.TokenCommand) == 0 { // "[]" loads as an empty list, not nil
		got.TokenCommand = nil
	}
	if !reflect.DeepEqual(got, want[0]) {
		t.Errorf("uncommented account = %+v, want %+v", got, want[0])
	}
}

// TestDescribeDocumentsEveryField checks every field of every section has a
// doc tag and is printed by describe, with its doc.
func TestDescribeDocumentsEveryField(t *testing.T) {
	t.Parallel()
	out := describeOutput(t)
	seen := map[reflect.Type]bool{}
	var visit func(t0 reflect.Type, path string)
	visit = func(t0 reflect.Type, path string) {
		if seen[t0] || t0 == secretType {
			return
		}
		seen[t0] = true
		for i := 0; i < t0.NumField(); i++ {
			f := t0.Field(i)
			if !f.IsExported() {
				continue
			}
			name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
			doc := f.Tag.Get("doc")
			if name == "" || doc == "" {
				t.Errorf("%s.%s: yaml name %q, doc %q: both are required", path, f.Name, name, doc)
				continue
			}
			// The doc's first words, as wrapped at the start of a comment.
			first := strings.Join(strings.Fields(doc)[:min(3, len(strings.Fields(doc)))], " ")
			if !strings.Contains(out, name+":") || !strings.Contains(out, "# "+first) {
				t.Errorf("describe lacks %s.%s (%q, doc %q)", path, name, name+":", first)
			}
			ft := f.Type
			if ft.Kind() == reflect.Slice {
				ft = ft.Elem()
			}
			if ft.Kind() == reflect.Struct {
				visit(ft, joinPath(path, name))
			}
		}
	}
	visit(reflect.TypeOf(Config{}), "")
	if len(seen) < 15 {
		t.Errorf("visited %d types, want every section", len(seen))
	}
}

// lineDiff shows the first differing line of a and b.
func lineDiff(a, b string) string {
	la, lb := strings.Split(a, "\n"), strings.Split(b, "\n")
	for i := 0; i < len(la) && i < len(lb); i++ {
		if la[i] != lb[i] {
			return fmt.Sprintf("line %d:\n- %s\n+ %s", i+1, la[i], lb[i])
		}
	}
	return fmt.Sprintf("lengths differ: %d and %d lines", len(la), len(lb))
}
