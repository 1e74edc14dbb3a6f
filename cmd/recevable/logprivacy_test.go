package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/emersion/go-message/mail"

	"recevable/intake"
	"recevable/intake/imaptest"
)

// TestLogPrivacy runs serve over every message of the MIME corpus (and a
// filing with a French name) on Dovecot, logging JSON at debug level into a
// buffer, then looks in every log line for the personal data of every
// message: its subject, its From address and the address's local part, the
// display name of its From, the names of its attachments and the subjects
// of the messages forwarded inside it. The needles come from the corpus
// oracle (expected.json) and from the walker's own reading (intake.Walk);
// a needle too short or too generic to mean anything is skipped and
// counted. Logs carry ids and hashes only (STYLE.md).
func TestLogPrivacy(t *testing.T) {
	dir := imaptest.CorpusDir(t)
	data, err := os.ReadFile(filepath.Join(dir, "expected.json"))
	if err != nil {
		t.Fatal(err)
	}
	var oracle map[string]struct {
		Subject     *string `json:"subject"`
		From        *string `json:"from"`
		Attachments []struct {
			Filename *string `json:"filename"`
		} `json:"attachments"`
		Embedded []struct {
			Subject *string `json:"subject"`
		} `json:"embedded_messages"`
	}
	if err := json.Unmarshal(data, &oracle); err != nil {
		t.Fatal(err)
	}
	names := make([]string, 0, len(oracle))
	for n := range oracle {
		names = append(names, n)
	}
	sort.Strings(names)

	srv := imaptest.StartDovecot(t, nil)
	needles := newNeedles()
	var msgs [][]byte
	for _, n := range names {
		raw, err := os.ReadFile(filepath.Join(dir, filepath.FromSlash(n)))
		if err != nil {
			t.Fatal(err)
		}
		e := oracle[n]
		needles.add(n, "subject", e.Subject)
		needles.add(n, "from", e.From)
		if e.From != nil {
			local, _, _ := strings.Cut(*e.From, "@")
			needles.add(n, "from local part", &local)
		}
		for _, a := range e.Attachments {
			needles.add(n, "attachment name", a.Filename)
		}
		for _, em := range e.Embedded {
			needles.add(n, "forwarded subject", em.Subject)
		}
		needles.fromWalker(n, raw)
		msgs = append(msgs, raw)
	}
	french := submission("vie-privee", `"Élodie N'Diaye-Koulibaly" <elodie.ndiaye-koulibaly@example.fr>`,
		"Demande de titre de séjour — Élodie N'Diaye-Koulibaly", "Bonjour, je dépose ma demande.",
		"passeport-elodie-ndiaye-koulibaly.txt", "justificatif-domicile-ndiaye.txt")
	needles.fromWalker("vie-privee", french)
	msgs = append(msgs, french)
	c := srv.Dial(t)
	for i, m := range msgs {
		if _, err := imaptest.AppendWith(c, "INBOX", imaptest.CRLF(m)); err != nil {
			t.Fatalf("append message %d: %v", i, err)
		}
	}

	cfg, err := parseConfig([]byte(serveConfig(srv, t.TempDir(), freeAddr(t), freeAddr(t))), envMap(map[string]string{"RECEVABLE_TEST_IMAP_PASSWORD": srv.Password}))
	if err != nil {
		t.Fatal(err)
	}
	var logs bytes.Buffer
	lw := &syncWriter{w: &logs}
	log, err := newLogger(LogConfig{Format: "json", Level: "debug"}, "", lw)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan int, 1)
	go func() { done <- serve(ctx, cfg, defaultServeHooks(), log) }()
	waitUntil(t, "every message taken", 10*time.Minute, func() bool {
		lw.mu.Lock()
		defer lw.mu.Unlock()
		return strings.Count(logs.String(), `"message":"item done"`) >= len(msgs)
	})
	cancel()
	select {
	case <-done:
	case <-time.After(time.Minute):
		t.Fatal("serve did not stop")
	}

	// Every line is a JSON object; its string values, message included,
	// are searched.
	lw.mu.Lock()
	lines := strings.Split(strings.TrimSpace(logs.String()), "\n")
	lw.mu.Unlock()
	address := regexp.MustCompile(`[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+`)
	leaks := map[string]bool{}
	for i, line := range lines {
		var fields map[string]any
		if err := json.Unmarshal([]byte(line), &fields); err != nil {
			t.Fatalf("log line %d is not JSON: %v\n%s", i+1, err, line)
		}
		if _, ok := fields["error"]; ok {
			t.Errorf("log line %d has an \"error\" field; the field is \"err\" (STYLE.md): %s", i+1, line)
		}
		values := strings.ToLower(strings.Join(stringValues(fields), "\n"))
		for _, nd := range needles.checked {
			if strings.Contains(values, nd.folded) && !leaks[nd.folded] {
				leaks[nd.folded] = true
				t.Errorf("log line %d carries the %s of %s (%q):\n%s", i+1, nd.kind, nd.message, nd.text, line)
			}
		}
		if a := address.FindString(values); a != "" && !leaks[a] {
			leaks[a] = true
			t.Errorf("log line %d carries an email address %q:\n%s", i+1, a, line)
		}
	}
	t.Logf("%d messages, %d log lines, %d needles checked, %d skipped as too short or generic",
		len(msgs), len(lines), len(needles.checked), needles.skipped)
	if len(needles.checked) < 300 {
		t.Errorf("only %d needles checked: the test lost its reach", len(needles.checked))
	}
}

// needle is one piece of personal data to look for.
type needle struct {
	message, kind, text string
	folded              string // lower case, what is searched
}

// needles collects the needles of the test, once each.
type needles struct {
	checked []needle
	seen    map[string]bool
	skipped int
}

func newNeedles() *needles { return &needles{seen: map[string]bool{}} }

// generic are words that can be a subject or a file name but identify
// nobody, and that a log line may contain for its own reasons.
var generic = map[string]bool{
	"attachment": true, "attachments": true, "message": true, "testing": true,
	"document": true, "untitled": true, "noname": true, "forwarded": true,
	"winmail.dat": true, "smime.p7s": true, "signature.asc": true,
	"sender": true, // a local part in the corpus, and a word of a log message
}

// add records text (when not nil) as a needle, unless it is too short (6
// characters) or generic.
func (n *needles) add(message, kind string, text *string) {
	if text == nil {
		return
	}
	s := strings.TrimSpace(*text)
	folded := strings.ToLower(s)
	switch {
	case s == "":
		return
	case utf8.RuneCountInString(s) < 6 || generic[folded]:
		n.skipped++
		return
	case n.seen[folded]:
		return
	}
	n.seen[folded] = true
	n.checked = append(n.checked, needle{message: message, kind: kind, text: s, folded: folded})
}

// fromWalker adds what recevable's own MIME walker reads in raw: the
// envelope, the display names of From, the names of the parts, and the
// envelopes of forwarded messages.
func (n *needles) fromWalker(message string, raw []byte) {
	msg, _ := intake.Walk(bytes.NewReader(raw), intake.Limits{}, nil)
	if msg == nil {
		return
	}
	env := func(e intake.Envelope) {
		n.add(message, "subject", &e.Subject)
		n.add(message, "from", &e.From)
		local, _, _ := strings.Cut(e.From, "@")
		n.add(message, "from local part", &local)
	}
	env(msg.Envelope)
	for _, p := range msg.Parts {
		n.add(message, "attachment name", &p.Filename)
		if p.Envelope != nil {
			env(*p.Envelope)
		}
	}
	if r, err := mail.CreateReader(bytes.NewReader(raw)); err == nil {
		if from, err := r.Header.AddressList("From"); err == nil {
			for _, a := range from {
				n.add(message, "display name", &a.Name)
			}
		}
	}
}

// stringValues returns the string values of a decoded JSON object, nested
// ones included.
func stringValues(v any) []string {
	var out []string
	var walk func(v any)
	walk = func(v any) {
		switch x := v.(type) {
		case string:
			out = append(out, x)
		case []any:
			for _, e := range x {
				walk(e)
			}
		case map[string]any:
			for _, e := range x {
				walk(e)
			}
		}
	}
	walk(v)
	return out
}
