package storage

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

var updateGolden = flag.Bool("update", false, "rewrite the golden files in testdata/")

// sampleManifest is a dossier with every field set, as the pipeline would
// write it for an email with an invitation.
func sampleManifest() *Manifest {
	at := time.Date(2026, 3, 2, 8, 15, 30, 0, time.UTC)
	postmark := time.Date(2026, 2, 27, 0, 0, 0, 0, time.UTC)
	return &Manifest{
		Number:     "75-2026-000123",
		Site:       "75",
		Channel:    ChannelEmail,
		ReceivedAt: at,
		Postal:     &Postal{Postmark: &postmark, Registered: "1A 234 567 8901 2", Source: "form"},
		Raw:        shaOf("raw message"),
		Source:     map[string]string{"mailbox": "INBOX", "uid": "7", "uidvalidity": "42"},
		MessageID:  "<1234@mail.example.org>",
		Subject:    "Demande de titre de séjour",
		Sender:     &Party{Name: "A. Martin", Email: "a.martin@example.org"},
		Documents: []Document{
			{Name: "lettre d'invitation.pdf", SafeName: "01-lettre-d-invitation.pdf", Type: "application/pdf", Declared: "application/pdf",
				Size: int64(len(docBody(1))), SHA256: shaOf(docBody(1)), Path: "2", Disposition: "attachment", Role: "attachment"},
			{Name: "passeport.jpg", SafeName: "02-passeport.jpg", Type: "image/jpeg", Size: int64(len(docBody(2))), SHA256: shaOf(docBody(2)),
				Path: "3", Role: "attachment", Problems: []string{"image_resolution_low"}},
		},
		Evidence: []Evidence{{
			Kind: EvidenceInvitation, Where: "document:1 (lettre d'invitation.pdf) page 1 qr", Value: "INV-75-2026-K7Q3",
			Checks:  []Check{{Name: "signature", OK: true, Detail: "key 75-2026a"}, {Name: "not_revoked", OK: true}},
			Verdict: "valid",
		}},
		Decision: Decision{
			Outcome: OutcomeRecevable,
			Reasons: []Reason{{Code: "invitation_valid", Text: "Invitation de la préfecture vérifiée."}},
			Rule:    "arrêté 2023-08-01 art. 4",
			At:      at.Add(2 * time.Second),
		},
		Status:  StatusRecevable,
		History: []HistoryEntry{{At: at.Add(2 * time.Second), Actor: "recevable", Action: "registered"}},
	}
}

func docBody(i int) string { return fmt.Sprintf("document %d %s", i, strings.Repeat("x", i*100)) }

// putSampleDocuments stores the documents of sampleManifest.
func putSampleDocuments(t *testing.T, d Dossiers, m *Manifest) {
	t.Helper()
	for i, doc := range m.Documents {
		if err := d.PutDocument(context.Background(), m.Number, doc, strings.NewReader(docBody(i+1))); err != nil {
			t.Fatal(err)
		}
	}
}

// TestManifestGolden pins the JSON a manifest is stored as: other code
// (and people with an S3 client) read it. Run with -update after an
// intended change, and bump ManifestSchema if old readers would misread it.
func TestManifestGolden(t *testing.T) {
	ctx := context.Background()
	b := newRecFS(t)
	d := Dossiers{Bucket: b}
	m := sampleManifest()
	putSampleDocuments(t, d, m)
	if _, err := d.Create(ctx, m); err != nil {
		t.Fatal(err)
	}
	rc, _, err := b.Get(ctx, ManifestKey(m.Number))
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(rc)
	rc.Close()
	golden := filepath.Join("testdata", "manifest.golden")
	if *updateGolden {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(golden, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run go test -run TestManifestGolden -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("stored manifest differs from %s (run with -update if intended):\n%s", golden, got)
	}
}

func TestDossierCreateAndRead(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b Bucket) {
		ctx := context.Background()
		d := Dossiers{Bucket: b}
		m := sampleManifest()

		// Documents missing: nothing is created, not even a queue marker.
		if _, err := d.Create(ctx, sampleManifest()); !errors.Is(err, ErrNotFound) {
			t.Errorf("Create before the documents: %v, want ErrNotFound", err)
		}
		if keys := keysUnder(t, b, ""); len(keys) != 0 {
			t.Errorf("failed Create left %v", keys)
		}

		putSampleDocuments(t, d, m)
		etag, err := d.Create(ctx, m)
		if err != nil || etag == "" {
			t.Fatalf("Create = %q, %v", etag, err)
		}
		if _, err := d.Create(ctx, sampleManifest()); !errors.Is(err, ErrExists) {
			t.Errorf("second Create: %v, want ErrExists", err)
		}
		got, getTag, err := d.Get(ctx, m.Number)
		if err != nil || getTag != etag {
			t.Fatalf("Get = etag %q, %v; want %q", getTag, err, etag)
		}
		if !reflect.DeepEqual(got, m) {
			t.Errorf("Get = %+v\nwant %+v", got, m)
		}
		for i, doc := range got.Documents {
			rc, gotDoc, err := d.OpenDocument(ctx, got, doc.SafeName)
			if err != nil {
				t.Fatal(err)
			}
			data, err := readAllString(rc)
			rc.Close()
			if err != nil || data != docBody(i+1) || gotDoc.SHA256 != doc.SHA256 {
				t.Errorf("OpenDocument(%s) read %d bytes, %v", doc.SafeName, len(data), err)
			}
		}
		if _, _, err := d.OpenDocument(ctx, got, "absent.pdf"); !errors.Is(err, ErrNotFound) {
			t.Errorf("OpenDocument of an unlisted name: %v, want ErrNotFound", err)
		}
		if _, _, err := d.Get(ctx, "75-2026-000999"); !errors.Is(err, ErrNotFound) {
			t.Errorf("Get of a missing dossier: %v, want ErrNotFound", err)
		}
		list, _, err := d.List(ctx, "75", StatusRecevable, "", 10)
		if err != nil || len(list) != 1 || list[0].Manifest.Number != m.Number || list[0].ETag != etag {
			t.Errorf("List = %+v, %v", list, err)
		}

		// A document altered in the bucket is caught on reading.
		doc := m.Documents[1]
		if _, err := b.Put(ctx, DocumentKey(m.Number, doc.SafeName), strings.NewReader(strings.ToUpper(docBody(2))), PutOptions{}); err != nil {
			t.Fatal(err)
		}
		rc, _, err := d.OpenDocument(ctx, got, doc.SafeName)
		if err != nil {
			t.Fatal(err)
		}
		defer rc.Close()
		if _, err := io.ReadAll(rc); !errors.Is(err, ErrIntegrity) {
			t.Errorf("reading an altered document: %v, want ErrIntegrity", err)
		}
	})
}

// TestDossierCreateAfterPut: for the caller that has just put the
// documents, creating costs the queue marker and the manifest, no HEAD per
// document; Create keeps its check, for every other caller.
func TestDossierCreateAfterPut(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name   string
		create func(Dossiers, context.Context, *Manifest) (ETag, error)
		heads  int
	}{{"Create", Dossiers.Create, 2}, {"CreateAfterPut", Dossiers.CreateAfterPut, 0}} {
		t.Run(tc.name, func(t *testing.T) {
			b := &countingBucket{Bucket: newRecFS(t)}
			d := Dossiers{Bucket: b}
			m := sampleManifest()
			putSampleDocuments(t, d, m)
			b.take()
			if _, err := tc.create(d, ctx, m); err != nil {
				t.Fatal(err)
			}
			heads, other := 0, map[string]int{}
			for k, n := range b.take() {
				if strings.HasPrefix(k, "head "+DocumentKey(m.Number, "")) {
					heads += n
				} else {
					other[k] = n
				}
			}
			want := map[string]int{"put " + QueueKey(m.Site, m.Status, m.ReceivedAt, m.Number): 1, "put " + ManifestKey(m.Number): 1}
			if heads != tc.heads || !maps.Equal(other, want) {
				t.Errorf("%s: %d HEADs of documents and %v; want %d and %v", tc.name, heads, other, tc.heads, want)
			}
			if got, _, err := d.Get(ctx, m.Number); err != nil || len(got.Documents) != len(m.Documents) {
				t.Errorf("Get after %s: %v", tc.name, err)
			}
			if _, err := tc.create(d, ctx, sampleManifest()); !errors.Is(err, ErrExists) {
				t.Errorf("%s again: %v, want ErrExists", tc.name, err)
			}
		})
	}
}

func TestDossierPutDocument(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b Bucket) {
		ctx := context.Background()
		d := Dossiers{Bucket: b}
		doc := Document{SafeName: "a.pdf", Type: "application/pdf", Size: 5, SHA256: shaOf("hello")}
		if err := d.PutDocument(ctx, "75-2026-000001", doc, strings.NewReader("hellO")); !errors.Is(err, ErrIntegrity) {
			t.Errorf("PutDocument of other bytes: %v, want ErrIntegrity", err)
		}
		if keys := keysUnder(t, b, ""); len(keys) != 0 {
			t.Errorf("refused PutDocument left %v", keys)
		}
		if err := d.PutDocument(ctx, "75-2026-000001", doc, strings.NewReader("hello")); err != nil {
			t.Fatal(err)
		}
		if err := d.PutDocument(ctx, "75-2026-000001", doc, strings.NewReader("hello")); err != nil {
			t.Errorf("PutDocument again with the same bytes: %v", err)
		}
		other := Document{SafeName: "a.pdf", Size: 3, SHA256: shaOf("bye")}
		if err := d.PutDocument(ctx, "75-2026-000001", other, strings.NewReader("bye")); !errors.Is(err, ErrExists) {
			t.Errorf("PutDocument of other bytes under the same name: %v, want ErrExists", err)
		}
		for _, bad := range []struct {
			number string
			doc    Document
		}{
			{"75-2026-1", doc},
			{"75-2026-000001", Document{SafeName: "../x", Size: 5, SHA256: shaOf("hello")}},
			{"75-2026-000001", Document{SafeName: "x", Size: 5, SHA256: "HELLO"}},
		} {
			if err := d.PutDocument(ctx, bad.number, bad.doc, strings.NewReader("hello")); err == nil {
				t.Errorf("PutDocument(%q, %+v) accepted", bad.number, bad.doc)
			}
		}
	})
}

func TestDossierCreateRefusesBadManifest(t *testing.T) {
	ctx := context.Background()
	d := Dossiers{Bucket: newRecFS(t)}
	cases := map[string]func(m *Manifest){
		"number of another site": func(m *Manifest) { m.Site = "pp" },
		"bad number":             func(m *Manifest) { m.Number = "75-2026-12" },
		"bad raw":                func(m *Manifest) { m.Raw = "raw" },
		"bad status":             func(m *Manifest) { m.Status = "nouveau" },
		"no receipt time":        func(m *Manifest) { m.ReceivedAt = time.Time{} },
		"duplicate document":     func(m *Manifest) { m.Documents[1].SafeName = m.Documents[0].SafeName },
		"document name":          func(m *Manifest) { m.Documents[0].SafeName = "a/b" },
	}
	for name, mutate := range cases {
		m := sampleManifest()
		mutate(m)
		if _, err := d.Create(ctx, m); err == nil {
			t.Errorf("Create with %s accepted", name)
		}
	}
}

func TestDossierUpdate(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b Bucket) {
		ctx := context.Background()
		d := Dossiers{Bucket: b}
		q := Queue{Bucket: b}
		m := sampleManifest()
		m.Status = StatusAVerifier
		putSampleDocuments(t, d, m)
		etag, err := d.Create(ctx, m)
		if err != nil {
			t.Fatal(err)
		}

		// An agent hands it over; a second agent, who read the same
		// version, loses.
		m1, _, _ := d.Get(ctx, m.Number)
		m2, _, _ := d.Get(ctx, m.Number)
		m1.Status, m1.ANEF = StatusEnInstruction, "7501234567"
		etag1, err := d.Update(ctx, m1, etag)
		if err != nil {
			t.Fatal(err)
		}
		m2.Status = StatusIrrecevablePropose
		if _, err := d.Update(ctx, m2, etag); !errors.Is(err, ErrPreconditionFailed) {
			t.Errorf("Update with a stale ETag: %v, want ErrPreconditionFailed", err)
		}
		got, gotTag, _ := d.Get(ctx, m.Number)
		if got.Status != StatusEnInstruction || got.ANEF != "7501234567" || gotTag != etag1 {
			t.Errorf("after updates: status %s, ANEF %q, etag %q (want %q)", got.Status, got.ANEF, gotTag, etag1)
		}
		// The marker moved with the status, and the loser left no marker
		// that List would show.
		counts, err := q.Counts(ctx, "75")
		if err != nil {
			t.Fatal(err)
		}
		if counts[StatusAVerifier] != 0 || counts[StatusEnInstruction] != 1 {
			t.Errorf("queue counts after the move: %v", counts)
		}
		if l, _, _ := d.List(ctx, "75", StatusIrrecevablePropose, "", 10); len(l) != 0 {
			t.Errorf("List of the loser's status shows %d dossiers", len(l))
		}

		// Fixed fields stay fixed.
		got.Raw = shaOf("another raw")
		if _, err := d.Update(ctx, got, gotTag); err == nil {
			t.Error("Update changing the raw accepted")
		}
		// A new document must be stored first.
		got, gotTag, _ = d.Get(ctx, m.Number)
		got.Documents = append(got.Documents, Document{SafeName: "03-piece.pdf", Size: 4, SHA256: shaOf("more")})
		if _, err := d.Update(ctx, got, gotTag); !errors.Is(err, ErrNotFound) {
			t.Errorf("Update with an unstored document: %v, want ErrNotFound", err)
		}
		if err := d.PutDocument(ctx, m.Number, got.Documents[2], strings.NewReader("more")); err != nil {
			t.Fatal(err)
		}
		if _, err := d.Update(ctx, got, gotTag); err != nil {
			t.Errorf("Update with a stored new document: %v", err)
		}
	})
}

// TestDossierConcurrentUpdates: 8 writers each add a history entry with the
// read–modify–write loop callers use; none may be lost.
func TestDossierConcurrentUpdates(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b Bucket) {
		ctx := context.Background()
		d := Dossiers{Bucket: b}
		m := sampleManifest()
		putSampleDocuments(t, d, m)
		if _, err := d.Create(ctx, m); err != nil {
			t.Fatal(err)
		}
		const writers = 8
		errs := together(writers, func(w int) error {
			for attempt := 0; ; attempt++ {
				cur, etag, err := d.Get(ctx, m.Number)
				if err != nil {
					return err
				}
				cur.History = append(cur.History, HistoryEntry{At: time.Now().UTC(), Actor: fmt.Sprint("agent", w), Action: "note"})
				_, err = d.Update(ctx, cur, etag)
				if errors.Is(err, ErrPreconditionFailed) {
					backoff(ctx, attempt)
					continue
				}
				return err
			}
		})
		for w, err := range errs {
			if err != nil {
				t.Fatalf("writer %d: %v", w, err)
			}
		}
		got, _, _ := d.Get(ctx, m.Number)
		actors := map[string]bool{}
		for _, h := range got.History {
			actors[h.Actor] = true
		}
		for w := range writers {
			if !actors[fmt.Sprint("agent", w)] {
				t.Errorf("history entry of agent%d lost; history %v", w, got.History)
			}
		}
	})
}

// TestDossierListRepairs: markers left by a crash (no manifest, or another
// status) are hidden at once and removed once older than Grace.
func TestDossierListRepairs(t *testing.T) {
	ctx := context.Background()
	b := newRecFS(t)
	clock := newFakeClock()
	clock.t = time.Now() // markers carry the filesystem's clock
	d := Dossiers{Bucket: b, Now: clock.Now, Grace: time.Minute}
	q := Queue{Bucket: b}
	m := sampleManifest()
	putSampleDocuments(t, d, m)
	if _, err := d.Create(ctx, m); err != nil {
		t.Fatal(err)
	}
	at := m.ReceivedAt
	// A creation that died after its marker, and a move that died before
	// removing the old marker.
	if err := q.Add(ctx, "75", StatusRecevable, at.Add(time.Hour), "75-2026-000124"); err != nil {
		t.Fatal(err)
	}
	if err := q.Add(ctx, "75", StatusAVerifier, at, m.Number); err != nil {
		t.Fatal(err)
	}
	numbers := func(st Status) []string {
		l, _, err := d.List(ctx, "75", st, "", 10)
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, x := range l {
			out = append(out, x.Manifest.Number)
		}
		return out
	}
	if got := numbers(StatusRecevable); fmt.Sprint(got) != "[75-2026-000123]" {
		t.Errorf("List(recevable) = %v, want only the real dossier", got)
	}
	if got := numbers(StatusAVerifier); len(got) != 0 {
		t.Errorf("List(a_verifier) = %v, want none", got)
	}
	// Young markers are kept: their write may still be in flight.
	if n, _ := q.Count(ctx, "75", StatusRecevable); n != 2 {
		t.Errorf("young dangling marker removed: %d markers", n)
	}
	clock.Add(2 * time.Minute)
	numbers(StatusRecevable)
	numbers(StatusAVerifier)
	if counts, _ := q.Counts(ctx, "75"); counts[StatusRecevable] != 1 || counts[StatusAVerifier] != 0 {
		t.Errorf("after Grace, counts = %v; want the stale markers gone", counts)
	}
}

func TestDossierSchemaTooNew(t *testing.T) {
	ctx := context.Background()
	b := newRecFS(t)
	m := sampleManifest()
	m.Schema = ManifestSchema + 1
	if _, err := putJSON(ctx, b, ManifestKey(m.Number), m, PutOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := (Dossiers{Bucket: b}).Get(ctx, m.Number); !errors.Is(err, ErrSchema) {
		t.Errorf("Get of a newer manifest: %v, want ErrSchema", err)
	}
}

// TestDossierPutDocumentLargeAgain puts a 4 MiB document twice, as the
// replay of a dossier interrupted after its documents does. versitygw
// v1.8.0 answers a losing conditional PUT before reading its body and
// drops the connection, which the client takes for a network error:
// putting a large body again only to be refused must not be how a replay
// learns the document is there.
func TestDossierPutDocumentLargeAgain(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b Bucket) {
		ctx := context.Background()
		d := Dossiers{Bucket: b}
		body := bytes.Repeat([]byte("recevable "), 4<<20/10)
		doc := Document{SafeName: "scan.pdf", Type: "application/pdf", Size: int64(len(body)), SHA256: shaOf(string(body))}
		for i := range 2 {
			if err := d.PutDocument(ctx, "75-2026-000001", doc, bytes.NewReader(body)); err != nil {
				t.Fatalf("PutDocument #%d: %v", i+1, err)
			}
		}
		other := bytes.Repeat([]byte("autre "), 4<<20/6)
		odoc := Document{SafeName: "scan.pdf", Size: int64(len(other)), SHA256: shaOf(string(other))}
		if err := d.PutDocument(ctx, "75-2026-000001", odoc, bytes.NewReader(other)); !errors.Is(err, ErrExists) {
			t.Errorf("PutDocument of other large bytes under the same name: %v, want ErrExists", err)
		}
	})
}
