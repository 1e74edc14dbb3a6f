package workers

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"recevable/intake"
	"recevable/intake/imaptest"
	"recevable/storage"
)

// The pipeline against real IMAP servers: go-imap's imapmemserver and
// Dovecot, on loopback, with a filesystem bucket.

var imapServers = []struct {
	name  string
	start func(testing.TB) *imaptest.Server
}{
	{"mem", func(t testing.TB) *imaptest.Server { return imaptest.StartMem(t, nil) }},
	{"dovecot", func(t testing.TB) *imaptest.Server { return imaptest.StartDovecot(t, nil) }},
}

// imapOptions reads INBOX of srv's test user, as account "pref-75".
func imapOptions(srv *imaptest.Server, spool string) intake.IMAPOptions {
	return intake.IMAPOptions{
		Name: "pref-75", Host: srv.Host, Port: srv.Port, TLS: intake.IMAPPlain,
		Username: srv.User, Password: srv.Password, Folder: "INBOX",
		IDLE: true, PollInterval: time.Second, SpoolDir: spool,
		CommandTimeout: 20 * time.Second, MinBackoff: 50 * time.Millisecond, MaxBackoff: time.Second,
	}
}

// imapPipeline is a pipeline polling srv's INBOX for site 75.
func imapPipeline(t testing.TB, srv *imaptest.Server, b storage.Bucket, tweak func(*Options, *intake.IMAPOptions)) (*Pipeline, Options) {
	t.Helper()
	o := testOptions(t, b)
	o.PoolSize = 4
	iopts := imapOptions(srv, t.TempDir())
	if tweak != nil {
		tweak(&o, &iopts)
	}
	src, err := IMAPSource(iopts, b, "75")
	if err != nil {
		t.Fatal(err)
	}
	o.Sources = []Source{src}
	return newPipeline(t, o), o
}

// runUntil runs p until done reports true (polled: the servers act
// asynchronously), then shuts it down and checks that the shutdown was
// orderly. The limit guards against a hang; it is not a performance bound.
func runUntil(t testing.TB, p *Pipeline, limit time.Duration, done func() (bool, string)) time.Duration {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	ran := make(chan error, 1)
	start := time.Now()
	go func() { ran <- p.Run(ctx) }()
	var state string
	for end := time.Now().Add(limit); ; {
		var ok bool
		if ok, state = done(); ok {
			break
		}
		if time.Now().After(end) {
			cancel()
			<-ran
			t.Fatalf("not done after %v: %s", limit, state)
		}
		time.Sleep(50 * time.Millisecond)
	}
	took := time.Since(start)
	cancel()
	if err := <-ran; err != nil {
		t.Errorf("Run: %v", err)
	}
	return took
}

// inboxEmpty is a runUntil condition: INBOX empty and n messages moved out.
func inboxEmpty(t testing.TB, srv *imaptest.Server, n int) func() (bool, string) {
	return func() (bool, string) {
		in, _ := srv.Look(t, "INBOX")
		done, _ := srv.Look(t, intake.DefaultIMAPProcessedFolder)
		quar, _ := srv.Look(t, intake.DefaultIMAPQuarantineFolder)
		moved := len(done.Messages) + len(quar.Messages)
		return len(in.Messages) == 0 && moved == n,
			fmt.Sprintf("INBOX %d, processed %d, quarantine %d, want %d moved", len(in.Messages), len(done.Messages), len(quar.Messages), n)
	}
}

// corpusMessage is a corpus file as appended and as served back.
type corpusMessage struct {
	name     string
	appended []byte
	served   []byte
	exp      expectedMessage
}

// TestCorpusIMAP appends the MIME corpus to each server, runs the pipeline
// and checks that every message became one dossier (or a named duplicate of
// one, or a quarantine entry with a reason), with the oracle's documents
// for the messages where the oracle is authoritative; that every message
// left INBOX and the cursor advanced; and that the same messages offered
// again create nothing.
func TestCorpusIMAP(t *testing.T) {
	dir, exp := corpus(t)
	for _, s := range imapServers {
		t.Run(s.name, func(t *testing.T) {
			srv := s.start(t)
			b := newBucket(t)
			msgs := appendCorpus(t, srv, dir, exp)

			p, o := imapPipeline(t, srv, b, nil)
			took := runUntil(t, p, 3*time.Minute, inboxEmpty(t, srv, len(msgs)))
			t.Logf("%s: %d messages in %v (%.1f items/s, pool %d)", s.name, len(msgs), took.Round(time.Millisecond), float64(len(msgs))/took.Seconds(), o.PoolSize)

			ms := dossiers(t, b)
			checkCorpus(t, b, msgs, ms)
			checkNumbers(t, b, ms, "75", thisYear())
			checkCursor(t, srv, b)

			// The server offers everything again (a resend, or a folder
			// restored from a backup): nothing new.
			for _, m := range msgs {
				srv.Append(t, "INBOX", m.appended)
			}
			p2, o2 := imapPipeline(t, srv, b, nil)
			runUntil(t, p2, 3*time.Minute, inboxEmpty(t, srv, 2*len(msgs)))
			if n := len(dossiers(t, b)); n != len(ms) {
				t.Errorf("second run: %d dossiers, want still %d", n, len(ms))
			}
			src := o2.Sources[0].ID
			stored := o2.Metrics.IntakeItems.WithLabelValues(src, ResultStored)
			if v := testutil.ToFloat64(stored); v != 0 {
				t.Errorf("second run stored %v items, want 0", v)
			}
		})
	}
}

// appendCorpus appends every corpus message (CRLF, as delivered by SMTP)
// and reads back what the server serves.
func appendCorpus(t testing.TB, srv *imaptest.Server, dir string, exp map[string]expectedMessage) []*corpusMessage {
	t.Helper()
	names := make([]string, 0, len(exp))
	for n := range exp {
		names = append(names, n)
	}
	sort.Strings(names)
	c := srv.Dial(t)
	byUID := map[uint32]*corpusMessage{}
	var out []*corpusMessage
	for _, n := range names {
		data, err := os.ReadFile(filepath.Join(dir, filepath.FromSlash(n)))
		if err != nil {
			t.Fatal(err)
		}
		m := &corpusMessage{name: n, appended: imaptest.CRLF(data), exp: exp[n]}
		uid, err := imaptest.AppendWith(c, "INBOX", m.appended)
		if err != nil {
			t.Fatalf("append %s: %v", n, err)
		}
		byUID[uint32(uid)] = m
		out = append(out, m)
	}
	mb, _ := srv.Look(t, "INBOX")
	for _, msg := range mb.Messages {
		if m := byUID[uint32(msg.UID)]; m != nil {
			m.served = msg.Raw
		}
	}
	return out
}

// checkCorpus checks the fate of every corpus message.
func checkCorpus(t testing.TB, b storage.Bucket, msgs []*corpusMessage, ms map[string]*storage.Manifest) {
	t.Helper()
	ctx := context.Background()
	raws := storage.Raws{Bucket: b}
	quar := storage.Quarantine{Bucket: b}
	var dups, quarantinedN, exact, compared int
	own := map[string]bool{} // dossiers reached by a message
	for _, m := range msgs {
		sum := sha256.Sum256(m.served)
		sha := hex.EncodeToString(sum[:])
		d, err := raws.GetDone(ctx, sha)
		if errors.Is(err, storage.ErrNotFound) {
			e, _, qerr := quar.Get(ctx, sha)
			if qerr != nil {
				t.Errorf("%s (raw %.12s): neither done nor quarantined (%v)", m.name, sha, qerr)
				continue
			}
			quarantinedN++
			if e.Reason == "" {
				t.Errorf("%s: quarantined without a reason", m.name)
			}
			// The oracle's documents are authoritative: only a limit may
			// refuse such a message (issue408 has 328 attachments).
			if !m.exp.Doubtful && !(e.Limit == LimitDocuments && len(m.exp.Attachments) > 100) {
				t.Errorf("%s: quarantined (%s: %s), the oracle walks it", m.name, e.Limit, e.Reason)
			}
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		if d.DuplicateOf != "" {
			dups++
			if d, err = raws.GetDone(ctx, d.DuplicateOf); err != nil {
				t.Errorf("%s: duplicate of %.12s, which is not done: %v", m.name, d.DuplicateOf, err)
				continue
			}
		}
		for _, n := range d.Numbers {
			own[n] = true
		}
		if len(d.Numbers) != 1 || ms[d.Numbers[0]] == nil {
			t.Errorf("%s: done record %+v names no dossier", m.name, d)
			continue
		}
		if m.exp.Doubtful || !bytes.Equal(m.served, m.appended) {
			continue // oracle not authoritative, or the server changed the bytes
		}
		compared++
		if diff := compareExpected(t, m, ms[d.Numbers[0]]); diff != "" {
			t.Errorf("%s: documents of %s differ from the oracle: %s", m.name, d.Numbers[0], diff)
		} else {
			exact++
		}
	}
	t.Logf("corpus: %d messages: %d dossiers, %d duplicates by Message-ID, %d quarantined; %d/%d authoritative messages served intact match the oracle (count and sha256)",
		len(msgs), len(own), dups, quarantinedN, exact, compared)
	if len(own) != len(ms) {
		t.Errorf("the messages lead to %d dossiers, the bucket holds %d", len(own), len(ms))
	}
	if compared < 50 {
		t.Errorf("only %d messages compared with the oracle", compared)
	}
}

// compareExpected compares a dossier's attachments with the oracle's. A
// document the line-ending conversion of SMTP changed (a text attachment
// sent as 7bit in an LF-only file) must equal the oracle's bytes with CRLF
// line endings: that is the only difference transport may make.
func compareExpected(t testing.TB, m *corpusMessage, man *storage.Manifest) string {
	var docs []storage.Document
	for _, d := range man.Documents {
		if d.Role == "attachment" {
			docs = append(docs, d)
		}
	}
	if len(docs) != len(m.exp.Attachments) {
		return fmt.Sprintf("%d documents, oracle %d", len(docs), len(m.exp.Attachments))
	}
	var crlf []string // sha256 of each oracle document with CRLF line endings
	for i, w := range m.exp.Attachments {
		if w.Exact != nil && !*w.Exact || docs[i].SHA256 == w.SHA256 && docs[i].Size == w.Size {
			continue
		}
		if crlf == nil {
			crlf = crlfDigests(t, m)
		}
		if i >= len(crlf) || docs[i].SHA256 != crlf[i] {
			return fmt.Sprintf("document %d (%s): sha256 %.12s, oracle %.12s", i, docs[i].SafeName, docs[i].SHA256, w.SHA256)
		}
	}
	return ""
}

// crlfDigests walks the original file and returns, for each document, the
// sha256 of its bytes with bare LF turned into CRLF.
func crlfDigests(t testing.TB, m *corpusMessage) []string {
	dir, _ := corpus(t)
	data, err := os.ReadFile(filepath.Join(dir, filepath.FromSlash(m.name)))
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	_, err = intake.Walk(bytes.NewReader(data), intake.Limits{}, func(p *intake.Part, body io.Reader) error {
		if p.Kind != intake.KindDocument {
			return nil
		}
		b, err := io.ReadAll(body)
		sum := sha256.Sum256(imaptest.CRLF(b))
		out = append(out, hex.EncodeToString(sum[:]))
		return err
	})
	if err != nil {
		t.Fatalf("walk %s: %v", m.name, err)
	}
	return out
}

// checkCursor checks that the source's cursor passed every UID of INBOX.
func checkCursor(t testing.TB, srv *imaptest.Server, b storage.Bucket) {
	t.Helper()
	cur, _, err := storage.Cursors{Bucket: b}.Get(context.Background(), "imap:pref-75/INBOX")
	if err != nil {
		t.Fatalf("cursor: %v", err)
	}
	in, _ := srv.Look(t, "INBOX")
	if cur.UIDValidity != in.UIDValidity || cur.LastUID == 0 {
		t.Errorf("cursor %+v; want UIDVALIDITY %d and a last UID", cur, in.UIDValidity)
	}
}

// TestQuarantineIMAP: a message over the size limit (not even downloaded)
// and a MIME bomb are quarantined with the limit named and moved to the
// quarantine folder; a good message beside them becomes a dossier; nothing
// partial is left in dossiers/.
func TestQuarantineIMAP(t *testing.T) {
	for _, s := range imapServers {
		t.Run(s.name, func(t *testing.T) {
			srv := s.start(t)
			b := newBucket(t)
			big := message("big@example.org", "a@example.org", "gros", "b", [2]string{"big.txt", strings.Repeat("0123456789abcdef\r\n", 8<<10)})
			srv.Append(t, "INBOX", big)
			srv.Append(t, "INBOX", mimeBomb(40))
			good := message("good@example.org", "a@example.org", "bon", "b", [2]string{"a.txt", "A"})
			srv.Append(t, "INBOX", good)

			p, _ := imapPipeline(t, srv, b, func(o *Options, iopts *intake.IMAPOptions) { iopts.MaxMessageSize = 64 << 10 })
			runUntil(t, p, time.Minute, inboxEmpty(t, srv, 3))

			quar, _ := srv.Look(t, intake.DefaultIMAPQuarantineFolder)
			if len(quar.Messages) != 2 {
				t.Errorf("quarantine folder holds %d messages, want 2", len(quar.Messages))
			}
			var limits []string
			for _, e := range quarantined(t, b) {
				limits = append(limits, e.Limit)
				if e.Limit == intake.LimitMessageSize && !strings.Contains(e.Reason, "raw not stored") {
					t.Errorf("oversize reason %q: want it to say the raw is not stored", e.Reason)
				}
			}
			slices.Sort(limits)
			if want := []string{intake.LimitMessageSize, intake.LimitMIMEDepth}; !slices.Equal(limits, want) {
				t.Errorf("quarantine limits %v, want %v", limits, want)
			}
			ms := dossiers(t, b)
			if len(ms) != 1 {
				t.Errorf("%d dossiers, want 1 (the good message)", len(ms))
			}
			for _, k := range keys(t, b, "dossiers/") {
				if !slices.ContainsFunc(slices.Collect(maps.Keys(ms)), func(n string) bool { return strings.HasPrefix(k, storage.DossierPrefix(n)) }) {
					t.Errorf("%s belongs to no dossier", k)
				}
			}
			checkNumbers(t, b, ms, "75", thisYear())
		})
	}
}

// thisYear is the year of an item received now at a site in Europe/Paris.
func thisYear() int {
	loc, _ := time.LoadLocation("Europe/Paris")
	return time.Now().In(loc).Year()
}
