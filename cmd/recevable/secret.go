package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"gopkg.in/yaml.v3"
)

// Secret is a password, key or token from the configuration. In YAML it is
// written as one of:
//
//	password: {env: RECEVABLE_IMAP_PASSWORD}    # an environment variable
//	password: {file: /run/secrets/imap}         # a file, read at load time
//	password: hunter2                           # a literal: for trials only
//
// A Secret never prints its value: String, GoString, MarshalYAML and
// MarshalJSON redact it, so a Config can be logged or dumped safely. Reveal
// is the one way to read it, and is easy to grep for.
type Secret struct {
	kind  secretKind
	ref   string // environment variable name or file path
	value string
	// resolved is set once the value was read from its env or file source.
	resolved bool
}

type secretKind int

const (
	secretUnset   secretKind = iota
	secretLiteral            // written in the configuration file
	secretEnv                // {env: NAME}
	secretFile               // {file: PATH}
	secretValue              // set by code (demo, tests), not from a file
)

// redacted is what a set Secret prints instead of its value.
const redacted = "[redacted]"

// maxSecretFile bounds what is read from a secret file: keys and passwords
// are small, and a path pointing at a large file is a mistake.
const maxSecretFile = 64 << 10

// NewSecret returns a Secret holding v, for configurations built in code
// (the demo, tests). It is not a "literal" and draws no warning.
func NewSecret(v string) Secret {
	if v == "" {
		return Secret{}
	}
	return Secret{kind: secretValue, value: v, resolved: true}
}

// SecretFromEnv returns a Secret read from the environment variable name
// when the configuration is loaded.
func SecretFromEnv(name string) Secret { return Secret{kind: secretEnv, ref: name} }

// SecretFromFile returns a Secret read from the file at path when the
// configuration is loaded.
func SecretFromFile(path string) Secret { return Secret{kind: secretFile, ref: path} }

// Reveal returns the secret's value ("" when unset or not resolved).
func (s Secret) Reveal() string { return s.value }

// IsSet reports whether the secret has a non-empty value.
func (s Secret) IsSet() bool { return s.value != "" }

// Source describes where the value comes from, without revealing it:
// "environment variable NAME", "file PATH", "literal" or "" when unset.
func (s Secret) Source() string {
	switch s.kind {
	case secretEnv:
		return "environment variable " + s.ref
	case secretFile:
		return "file " + s.ref
	case secretLiteral:
		return "literal"
	case secretValue:
		return "value set by the program"
	}
	return ""
}

// String redacts the value.
func (s Secret) String() string {
	if s.value == "" {
		return ""
	}
	return redacted
}

// GoString redacts the value for %#v.
func (s Secret) GoString() string { return fmt.Sprintf("Secret(%q)", s.describe()) }

// describe is the printable form: the reference for env and file secrets,
// the redaction marker for values.
func (s Secret) describe() string {
	switch s.kind {
	case secretEnv, secretFile:
		return s.Source()
	case secretLiteral, secretValue:
		return redacted
	}
	return ""
}

// MarshalYAML writes env and file secrets back as references and every
// value as "[redacted]": a dumped configuration never holds a secret.
func (s Secret) MarshalYAML() (any, error) {
	switch s.kind {
	case secretEnv:
		return map[string]string{"env": s.ref}, nil
	case secretFile:
		return map[string]string{"file": s.ref}, nil
	case secretLiteral, secretValue:
		return redacted, nil
	}
	return "", nil
}

// MarshalJSON redacts like MarshalYAML, for loggers that encode JSON.
func (s Secret) MarshalJSON() ([]byte, error) {
	v, _ := s.MarshalYAML()
	return json.Marshal(v)
}

// UnmarshalYAML accepts a scalar (a literal), {env: NAME} or {file: PATH}.
// Errors are yaml.TypeErrors carrying the line, so the loader can name the
// field.
func (s *Secret) UnmarshalYAML(n *yaml.Node) error {
	*s = Secret{}
	switch n.Kind {
	case yaml.ScalarNode:
		if n.Tag == "!!null" || n.Value == "" {
			return nil
		}
		*s = Secret{kind: secretLiteral, value: n.Value, resolved: true}
		return nil
	case yaml.MappingNode:
		if err := secretShape(n); err != nil {
			return &yaml.TypeError{Errors: []string{fmt.Sprintf("line %d: %v", n.Line, err)}}
		}
		k, v := n.Content[0].Value, n.Content[1].Value
		if k == "env" {
			*s = SecretFromEnv(v)
		} else {
			*s = SecretFromFile(v)
		}
		return nil
	}
	return &yaml.TypeError{Errors: []string{fmt.Sprintf("line %d: %v", n.Line, errSecretForm)}}
}

var errSecretForm = errors.New("a secret is {env: NAME}, {file: PATH} or a literal string")

// secretShape checks a mapping is exactly {env: NAME} or {file: PATH}.
func secretShape(n *yaml.Node) error {
	if n.Kind == yaml.ScalarNode {
		return nil
	}
	if n.Kind != yaml.MappingNode || len(n.Content) != 2 {
		return errSecretForm
	}
	k, v := n.Content[0], n.Content[1]
	if (k.Value != "env" && k.Value != "file") || v.Kind != yaml.ScalarNode {
		return errSecretForm
	}
	if v.Value == "" {
		return fmt.Errorf("%s: must not be empty", k.Value)
	}
	if k.Value == "env" && !validEnvName(v.Value) {
		return fmt.Errorf("env: %q is not an environment variable name", v.Value)
	}
	return nil
}

func validEnvName(s string) bool {
	for i, r := range s {
		switch {
		case r == '_', r >= 'A' && r <= 'Z', r >= 'a' && r <= 'z':
		case r >= '0' && r <= '9' && i > 0:
		default:
			return false
		}
	}
	return s != ""
}

// resolve reads an env or file secret. An unset environment variable leaves
// the secret empty (the validator says whether that is an error there); an
// unreadable file is an error. warn is non-empty for a literal or a file
// that others can read.
func (s *Secret) resolve(lookupEnv func(string) (string, bool)) (warn string, err error) {
	switch s.kind {
	case secretLiteral:
		return "a literal secret in the configuration file is for trials only: use {env: NAME} or {file: PATH}", nil
	case secretEnv:
		v, ok := lookupEnv(s.ref)
		s.value, s.resolved = v, true
		if !ok || v == "" {
			return fmt.Sprintf("environment variable %s is not set or empty", s.ref), nil
		}
		return "", nil
	case secretFile:
		v, mode, err := readSecretFile(s.ref)
		if err != nil {
			return "", err
		}
		s.value, s.resolved = v, true
		if mode&0o077 != 0 {
			warn = fmt.Sprintf("file %s can be read by group or others (mode %04o): chmod 600 it", s.ref, mode)
		}
		if v == "" {
			return warn, fmt.Errorf("file %s is empty", s.ref)
		}
		return warn, nil
	}
	return "", nil
}

// readSecretFile reads a secret file, trimmed of its trailing newline, and
// returns its permission bits.
func readSecretFile(path string) (string, os.FileMode, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", 0, fmt.Errorf("read secret: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return "", 0, fmt.Errorf("read secret: %w", err)
	}
	if !st.Mode().IsRegular() {
		return "", 0, fmt.Errorf("read secret: %s is not a regular file", path)
	}
	b, err := io.ReadAll(io.LimitReader(f, maxSecretFile+1))
	if err != nil {
		return "", 0, fmt.Errorf("read secret %s: %w", path, err)
	}
	if len(b) > maxSecretFile {
		return "", 0, fmt.Errorf("read secret: %s is larger than %d bytes", path, maxSecretFile)
	}
	return strings.TrimRight(string(b), "\r\n"), st.Mode().Perm(), nil
}
