package storage

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"
)

// Dossiers reads and writes registered dossiers:
// dossiers/<site>/<year>/<number>/manifest.json and documents/<safe-name>.
//
// Creation order makes a half-written dossier invisible: documents first
// (each verified against its SHA-256 while uploading), then the queue
// marker, then the manifest, written IfAbsent. The manifest is the commit:
// a dossier exists when, and only when, its manifest does. A crash before it
// leaves documents nobody lists and at most a queue marker that points to no
// manifest (List skips it); the replay of the same raw item gets the same
// number (Counter.Reserve) and finishes the job, every step being
// idempotent.
//
// Later changes go through Update, IfMatch on the manifest's ETag: two
// agents acting on the same dossier cannot both win; the loser re-reads.
type Dossiers struct {
	Bucket Bucket
	// Grace is how long a queue marker may disagree with its manifest before
	// List removes it (a marker of a move or creation that died half-way).
	// Zero means 10 minutes; it must exceed the longest write in flight.
	Grace time.Duration
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// ErrSchema: a manifest was written by newer code than this one.
var ErrSchema = errors.New("storage: manifest schema newer than this code")

func (d Dossiers) now() time.Time {
	if d.Now != nil {
		return d.Now()
	}
	return time.Now()
}

func (d Dossiers) grace() time.Duration {
	if d.Grace > 0 {
		return d.Grace
	}
	return 10 * time.Minute
}

// Metadata key holding a document's SHA-256, so that an idempotent re-put can
// tell the same bytes from other bytes without reading them.
const metaDocSHA256 = "sha256"

// PutDocument stores one document of dossier number, reading it from r and
// verifying it against doc.SHA256 and doc.Size while streaming: on a
// mismatch it fails with ErrIntegrity and stores nothing. Putting the same
// bytes again is a success; other bytes under the same name fail with
// ErrExists (a document is never replaced).
//
// It looks for the document first (one HEAD), as a replay must: a losing
// conditional PUT of a large body is not a clean refusal on every server
// (versitygw v1.8.0 answers 412 before reading the body and drops the
// connection, which the client can only take for a network error), and it
// would send the whole body for nothing anyway.
func (d Dossiers) PutDocument(ctx context.Context, number string, doc Document, r io.Reader) error {
	return d.putDocument(ctx, number, doc, r, true)
}

// PutNewDocument is PutDocument without the look first, for a caller that
// knows the document cannot be there yet (the first attempt on a raw item
// it has just stored itself: workers' fresh path). Should it be there after
// all, the PUT still fails rather than replace it, with ErrExists or, on a
// server that drops the connection, a temporary error whose retry is then
// a replay.
func (d Dossiers) PutNewDocument(ctx context.Context, number string, doc Document, r io.Reader) error {
	return d.putDocument(ctx, number, doc, r, false)
}

func (d Dossiers) putDocument(ctx context.Context, number string, doc Document, r io.Reader, lookFirst bool) error {
	if err := checkDocument(number, doc); err != nil {
		return fmt.Errorf("put document: %w", err)
	}
	key := DocumentKey(number, doc.SafeName)
	if lookFirst {
		switch err := d.checkStored(ctx, number, doc); {
		case err == nil:
			return nil
		case !errors.Is(err, ErrNotFound):
			return fmt.Errorf("put document %s: %w", key, err)
		}
	}
	o := PutOptions{
		IfAbsent:    true,
		Size:        doc.Size,
		ContentType: doc.Type,
		Metadata:    map[string]string{metaDocSHA256: doc.SHA256},
	}
	_, err := putVerified(ctx, d.Bucket, key, r, doc.SHA256, doc.Size, o)
	if errors.Is(err, ErrExists) {
		err = d.checkStored(ctx, number, doc)
	}
	if err != nil {
		return fmt.Errorf("put document %s: %w", key, err)
	}
	return nil
}

// checkStored verifies that the stored document is the one described.
func (d Dossiers) checkStored(ctx context.Context, number string, doc Document) error {
	info, err := d.Bucket.Head(ctx, DocumentKey(number, doc.SafeName))
	if err != nil {
		return err
	}
	if info.Metadata[metaDocSHA256] != doc.SHA256 || info.Size != doc.Size {
		return fmt.Errorf("%w with other content (sha256 %s, %d bytes)", ErrExists, info.Metadata[metaDocSHA256], info.Size)
	}
	return nil
}

// OpenDocument reads document safeName of the dossier m. The reader
// verifies the bytes against the SHA-256 and size recorded in the manifest
// and fails with ErrIntegrity at the end if they differ: display nothing
// until it returned io.EOF. It fails with ErrNotFound when the manifest
// lists no such document or its object is missing.
func (d Dossiers) OpenDocument(ctx context.Context, m *Manifest, safeName string) (io.ReadCloser, Document, error) {
	for _, doc := range m.Documents {
		if doc.SafeName != safeName {
			continue
		}
		if err := checkDocument(m.Number, doc); err != nil {
			return nil, Document{}, fmt.Errorf("open document: %w", err)
		}
		rc, _, err := d.Bucket.Get(ctx, DocumentKey(m.Number, safeName))
		if err != nil {
			return nil, Document{}, fmt.Errorf("open document %s of %s: %w", safeName, m.Number, err)
		}
		return NewVerifyingReader(rc, doc.SHA256, doc.Size), doc, nil
	}
	return nil, Document{}, fmt.Errorf("open document %q of %s: %w", safeName, m.Number, ErrNotFound)
}

// Create registers a dossier: it checks that every document of m is stored
// with the recorded hash, puts the dossier in the queue of m.Status, and
// writes the manifest IfAbsent. It sets m.Schema and replaces nil lists by
// empty ones. A dossier already created fails with ErrExists: for a replay
// of the same raw item that means the work is done.
func (d Dossiers) Create(ctx context.Context, m *Manifest) (ETag, error) {
	return d.create(ctx, m, true)
}

// CreateAfterPut is Create for the caller that has just put every document
// of m itself, in this attempt: PutDocument returned nil for each, and m
// lists them as they were put (or as found stored, for a caller that
// describes an existing copy after ErrExists). It skips the check that each
// is stored — one HEAD per document — because that nil already proved it:
// either our IfAbsent PUT stored the bytes, verified against SHA-256 and
// size while streaming, or PutDocument's own check found the same ones
// there; and a document is never replaced nor deleted.
func (d Dossiers) CreateAfterPut(ctx context.Context, m *Manifest) (ETag, error) {
	return d.create(ctx, m, false)
}

func (d Dossiers) create(ctx context.Context, m *Manifest, check bool) (ETag, error) {
	m.Schema = ManifestSchema
	normalize(m)
	if err := checkManifest(m); err != nil {
		return "", fmt.Errorf("create dossier %s: %w", m.Number, err)
	}
	if check {
		for _, doc := range m.Documents {
			if err := d.checkStored(ctx, m.Number, doc); err != nil {
				return "", fmt.Errorf("create dossier %s: document %s: %w", m.Number, doc.SafeName, err)
			}
		}
	}
	q := Queue{Bucket: d.Bucket}
	if err := q.Add(ctx, m.Site, m.Status, m.ReceivedAt, m.Number); err != nil {
		return "", fmt.Errorf("create dossier %s: %w", m.Number, err)
	}
	etag, err := putJSON(ctx, d.Bucket, ManifestKey(m.Number), m, PutOptions{IfAbsent: true})
	if err != nil {
		return "", fmt.Errorf("create dossier %s: %w", m.Number, err)
	}
	return etag, nil
}

// Get reads a dossier's manifest and its ETag (to pass to Update). It fails
// with ErrNotFound when the dossier does not exist and ErrSchema when newer
// code wrote it.
func (d Dossiers) Get(ctx context.Context, number string) (*Manifest, ETag, error) {
	if _, _, _, err := ParseNumber(number); err != nil {
		return nil, "", fmt.Errorf("get dossier: %w", err)
	}
	m := new(Manifest)
	etag, err := getJSON(ctx, d.Bucket, ManifestKey(number), m)
	if err != nil {
		return nil, "", fmt.Errorf("get dossier %s: %w", number, err)
	}
	if m.Schema > ManifestSchema {
		return nil, "", fmt.Errorf("get dossier %s: schema %d: %w", number, m.Schema, ErrSchema)
	}
	if m.Number != number {
		return nil, "", fmt.Errorf("get dossier %s: manifest names %q", number, m.Number)
	}
	return m, etag, nil
}

// Update replaces a dossier's manifest if it is still the version ifMatch
// (from Get); otherwise it fails with ErrPreconditionFailed and the caller
// re-reads, re-applies its change and tries again (or, for a person, is shown
// the new version). Number, site, raw and receipt time cannot change. New or
// changed documents must be stored first (PutDocument). A status change
// moves the queue marker: the new one is written before the manifest, the
// old one removed after; a failure to remove it is not reported (the
// manifest change is done) and List removes the stale marker later.
func (d Dossiers) Update(ctx context.Context, m *Manifest, ifMatch ETag) (ETag, error) {
	m.Schema = ManifestSchema
	normalize(m)
	if err := checkManifest(m); err != nil {
		return "", fmt.Errorf("update dossier %s: %w", m.Number, err)
	}
	if ifMatch == "" {
		return "", fmt.Errorf("update dossier %s: no ETag to match", m.Number)
	}
	cur, etag, err := d.Get(ctx, m.Number)
	if err != nil {
		return "", fmt.Errorf("update dossier: %w", err)
	}
	if etag != ifMatch {
		return "", fmt.Errorf("update dossier %s: %w", m.Number, ErrPreconditionFailed)
	}
	if cur.Site != m.Site || cur.Raw != m.Raw || !cur.ReceivedAt.Equal(m.ReceivedAt) {
		return "", fmt.Errorf("update dossier %s: site, raw and receipt time are fixed at creation", m.Number)
	}
	stored := make(map[string]Document, len(cur.Documents))
	for _, doc := range cur.Documents {
		stored[doc.SafeName] = doc
	}
	for _, doc := range m.Documents {
		if old, ok := stored[doc.SafeName]; ok && old.SHA256 == doc.SHA256 && old.Size == doc.Size {
			continue
		}
		if err := d.checkStored(ctx, m.Number, doc); err != nil {
			return "", fmt.Errorf("update dossier %s: document %s: %w", m.Number, doc.SafeName, err)
		}
	}
	q := Queue{Bucket: d.Bucket}
	moved := cur.Status != m.Status
	if moved {
		if err := q.Add(ctx, m.Site, m.Status, m.ReceivedAt, m.Number); err != nil {
			return "", fmt.Errorf("update dossier %s: %w", m.Number, err)
		}
	}
	etag, err = putJSON(ctx, d.Bucket, ManifestKey(m.Number), m, PutOptions{IfMatch: ifMatch})
	if err != nil {
		return "", fmt.Errorf("update dossier %s: %w", m.Number, err)
	}
	if moved {
		// Best effort: see the doc comment.
		_ = q.Remove(ctx, cur.Site, cur.Status, cur.ReceivedAt, cur.Number)
	}
	return etag, nil
}

// Listed is one dossier of a queue page.
type Listed struct {
	Manifest *Manifest
	ETag     ETag
}

// List returns one page of a queue with the manifests, in arrival order.
// Markers whose manifest is missing or in another status are skipped (a
// page may then hold fewer than limit dossiers while next is not empty);
// those older than Grace are removed, which repairs what a crash between a
// marker and a manifest write left behind. Cost: one List call and one Get
// per marker.
func (d Dossiers) List(ctx context.Context, site string, st Status, after string, limit int) ([]Listed, string, error) {
	q := Queue{Bucket: d.Bucket}
	entries, next, err := q.Page(ctx, site, st, after, limit)
	if err != nil {
		return nil, "", err
	}
	out := make([]Listed, 0, len(entries))
	stale := d.now().Add(-d.grace())
	for _, e := range entries {
		m, etag, err := d.Get(ctx, e.Number)
		switch {
		case err == nil && m.Status == st && m.Site == site:
			out = append(out, Listed{Manifest: m, ETag: etag})
			continue
		case err != nil && !errors.Is(err, ErrNotFound):
			return nil, "", fmt.Errorf("list %s/%s: %w", site, st, err)
		}
		if e.MarkedAt.Before(stale) {
			if err := q.Remove(ctx, site, st, e.ReceivedAt, e.Number); err != nil {
				return nil, "", fmt.Errorf("list %s/%s: %w", site, st, err)
			}
		}
	}
	return out, next, nil
}

// normalize replaces nil lists by empty ones, so the JSON says [] and not
// null for a dossier without documents, evidence or history.
func normalize(m *Manifest) {
	if m.Documents == nil {
		m.Documents = []Document{}
	}
	if m.Evidence == nil {
		m.Evidence = []Evidence{}
	}
	if m.History == nil {
		m.History = []HistoryEntry{}
	}
	if m.Decision.Reasons == nil {
		m.Decision.Reasons = []Reason{}
	}
}

// checkManifest refuses a manifest that would break keys or invariants.
func checkManifest(m *Manifest) error {
	site, _, _, err := ParseNumber(m.Number)
	if err != nil {
		return err
	}
	if site != m.Site {
		return fmt.Errorf("%w: %s is not a number of site %q", ErrBadNumber, m.Number, m.Site)
	}
	if err := CheckSHA256(m.Raw); err != nil {
		return fmt.Errorf("raw: %w", err)
	}
	if err := CheckStatus(m.Status); err != nil {
		return err
	}
	if m.ReceivedAt.IsZero() {
		return errors.New("no receipt time")
	}
	seen := make(map[string]bool, len(m.Documents))
	for _, doc := range m.Documents {
		if err := checkDocument(m.Number, doc); err != nil {
			return err
		}
		if seen[doc.SafeName] {
			return fmt.Errorf("%w: %q listed twice", ErrBadName, doc.SafeName)
		}
		seen[doc.SafeName] = true
	}
	return nil
}

// checkDocument refuses a document record that cannot be stored or verified.
func checkDocument(number string, doc Document) error {
	if _, _, _, err := ParseNumber(number); err != nil {
		return err
	}
	if err := CheckSafeName(doc.SafeName); err != nil {
		return err
	}
	if err := CheckSHA256(doc.SHA256); err != nil {
		return fmt.Errorf("document %s: %w", doc.SafeName, err)
	}
	if doc.Size < 0 {
		return fmt.Errorf("document %s: negative size", doc.SafeName)
	}
	return nil
}
