package intake

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"path"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/rs/zerolog"

	"recevable/storage"
)

// The scan drop: where the mailroom's scanner (or a person) leaves scans of
// letters — a folder (drop_folder.go) or an S3 prefix (s3drop.go). Both
// yield each complete file once, as an item of the postal channel, and move
// it out of the drop once it is stored and processed: to done/, or to
// failed/ with a .reason.txt beside it when it went to quarantine. A file
// is never deleted before its bytes are stored in the bucket (DESIGN.md,
// "Raw first"): the move happens in the ack.
//
// A file is taken only once it is complete: its size and modification time
// (an S3 object's ETag) unchanged for StableFor, as seen by this process —
// scanners write slowly, copies over SMB arrive in chunks, and a copy that
// preserves timestamps makes the file's own date useless. Temporary names
// (dot-files, ~$…, …~, .tmp, .part, .partial, .crdownload) are ignored, and
// so are sidecars (*.json, postal.go), which travel with their scan. A
// claim in the bucket (drop_claim.go) keeps two replicas from taking the
// same file.
//
// Files: drop.go (the source: Next, ack, release), drop_claim.go,
// drop_folder.go (folder, fsnotify), s3drop.go (S3 prefix).

// Coordinates of a drop item.
const (
	CoordDrop    = "drop"  // the drop's Name
	CoordName    = "name"  // the file name in the drop
	CoordModTime = "mtime" // folder: modification time, RFC 3339 UTC
	CoordKey     = "key"   // s3: the object key
	CoordETag    = "etag"  // s3: the object ETag
)

// Defaults of DropOptions.
const (
	DefaultStableFor      = 10 * time.Second
	DefaultRescanInterval = time.Minute
	DefaultClaimTTL       = 5 * time.Minute
)

// DropOptions configure a drop source. Name, Bucket and Holder are
// required, and Dir (folder) or Files and Prefix (S3).
type DropOptions struct {
	// Name is the drop's id; the source id is "drop:<Name>".
	Name string
	// Dir is the folder watched (NewFolderDrop).
	Dir string
	// Files and Prefix are the bucket and key prefix watched (NewS3Drop);
	// Files may be the state bucket itself. Prefix ends with "/" or is
	// empty.
	Files  storage.Bucket
	Prefix string
	// DoneDir and FailedDir are where files go once processed or
	// quarantined: folder paths (relative to Dir unless absolute) or key
	// prefixes (relative to Prefix unless starting with "/"). Defaults
	// "done" and "failed". Only the files directly in the drop are taken,
	// so these may be inside it.
	DoneDir, FailedDir string
	// StableFor: a file is complete once unchanged this long (default
	// 10 s). RescanInterval: time between full listings (default 1 min);
	// folders are also watched for changes, which network shares may not
	// report.
	StableFor, RescanInterval time.Duration
	// Bucket is the state bucket: claims are written there, and the
	// quarantine entry is read from there to write failed/'s reasons.
	Bucket storage.Bucket
	// Holder names this replica in claims (workers.NewHolderID).
	Holder string
	// ClaimTTL is how long a claim lasts without renewal (default 5 min);
	// it is renewed every third of it while the item is processed. A
	// replica that dies holds its files that long.
	ClaimTTL time.Duration
	// MaxBytes: a larger file is not read; its item's Open fails with a
	// permanent error (Limit scan_size), so it goes to failed/ (default
	// DefaultScanMaxBytes).
	MaxBytes int64
	Logger   zerolog.Logger
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

func (o *DropOptions) setDefaults() error {
	if o.Name == "" || o.Bucket == nil || o.Holder == "" {
		return errors.New("drop: Name, Bucket and Holder are required")
	}
	if o.DoneDir == "" {
		o.DoneDir = "done"
	}
	if o.FailedDir == "" {
		o.FailedDir = "failed"
	}
	if o.StableFor <= 0 {
		o.StableFor = DefaultStableFor
	}
	if o.RescanInterval <= 0 {
		o.RescanInterval = DefaultRescanInterval
	}
	if o.ClaimTTL <= 0 {
		o.ClaimTTL = DefaultClaimTTL
	}
	if o.MaxBytes <= 0 {
		o.MaxBytes = DefaultScanMaxBytes
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return nil
}

// dropEntry is a file of a drop as listed.
type dropEntry struct {
	name string
	size int64
	mod  time.Time
	// version changes whenever the file does: size and modification time,
	// or the ETag.
	version string
}

// Errors of a drop backend.
var (
	errDropGone    = errors.New("drop: file gone")
	errDropChanged = errors.New("drop: file changed since it was taken")
	errDropExists  = errors.New("drop: target name taken")
)

// dropBackend is where a drop's files are.
type dropBackend interface {
	// list returns the files directly in the drop (not in subfolders).
	list(ctx context.Context) ([]dropEntry, error)
	// stat returns one file, or errDropGone.
	stat(ctx context.Context, name string) (dropEntry, error)
	// open reads a file, failing with errDropChanged if it is no longer e.
	open(ctx context.Context, e dropEntry) (io.ReadCloser, error)
	// read returns a small file whole, at most limit bytes.
	read(ctx context.Context, name string, limit int64) ([]byte, error)
	// move moves a file of the drop into dir under target, never
	// overwriting: errDropExists when target is taken there.
	move(ctx context.Context, name, dir, target string) error
	exists(ctx context.Context, dir, name string) (bool, error)
	// write writes a small file into dir, replacing one of that name.
	write(ctx context.Context, dir, name string, data []byte) error
	// coordinates of an entry, besides the drop's name and the file name.
	coordinates(e dropEntry) map[string]string
	// changes signals that the drop may have changed; nil when the backend
	// cannot tell.
	changes() <-chan struct{}
	close() error
}

// DropSource yields the complete files of a drop. It implements Source:
// Next is called by one goroutine at a time; acks and releases may come
// from others.
type DropSource struct {
	o      DropOptions
	id     string
	be     dropBackend
	done   string // resolved DoneDir, FailedDir
	failed string
	claims claims
	log    zerolog.Logger

	closing   chan struct{}
	closeOnce sync.Once

	mu       sync.Mutex
	seen     map[string]*dropFile
	flights  map[*dropFlight]struct{}
	nextScan time.Time
	dirty    bool
}

// dropFile is what the source knows of one file of the drop.
type dropFile struct {
	e dropEntry
	// since is when e.version was first seen: the file is complete once
	// since is StableFor old.
	since     time.Time
	inflight  bool
	skipUntil time.Time
}

// dropFlight is an item yielded and not yet released.
type dropFlight struct {
	e       dropEntry
	sidecar string // name of its sidecar in the drop, "" if none
	claim   *claim
	// oversize: over MaxBytes, never read; its failed/ reason is known.
	oversize bool
	stop     chan struct{} // ends the claim's renewal
	renewed  chan struct{} // closed when the renewal has ended: claim is ours again
	stopOnce sync.Once

	mu       sync.Mutex
	acked    bool
	released bool
}

var _ Source = (*DropSource)(nil)

func newDropSource(o DropOptions, be dropBackend, done, failed string) *DropSource {
	s := &DropSource{
		o: o, id: DropSourceID(o.Name), be: be, done: done, failed: failed,
		closing: make(chan struct{}),
		seen:    map[string]*dropFile{},
		flights: map[*dropFlight]struct{}{},
		dirty:   true,
	}
	s.claims = claims{bucket: o.Bucket, source: s.id, holder: o.Holder, ttl: o.ClaimTTL, now: o.Now}
	s.log = o.Logger.With().Str("source", s.id).Logger()
	return s
}

// DropSourceID is the source id of the drop named name, "drop:<name>":
// the ID of its DropSource and the Source of its items.
func DropSourceID(name string) string { return "drop:" + name }

// ID is the source id carried by every item: "drop:<Name>".
func (s *DropSource) ID() string { return s.id }

// Next returns the next complete file of the drop, waiting for one as long
// as ctx allows. Listing failures are logged and retried at the next
// rescan; Next returns an error only when ctx is done or the source closed.
//
// The item's Open reads the file in the drop (failing if it changed since
// it was taken); the ack moves it out (see ack); Release gives the file up
// if it was not acked, and it is offered again after RescanInterval.
func (s *DropSource) Next(ctx context.Context) (Item, Ack, error) {
	for {
		select {
		case <-s.closing:
			return Item{}, nil, ErrSourceClosed
		default:
		}
		if err := ctx.Err(); err != nil {
			return Item{}, nil, err
		}
		now := s.o.Now()
		if s.needScan(now) {
			if err := s.scan(ctx, now); err != nil {
				s.log.Warn().Err(err).Msg("drop: listing failed, will retry")
			}
		}
		for _, name := range s.ready(now) {
			item, ack, ok, err := s.take(ctx, name)
			if err != nil {
				if ctx.Err() != nil {
					return Item{}, nil, ctx.Err()
				}
				s.log.Warn().Err(err).Str("file", fileID(name)).Msg("drop: file not taken, will retry")
				continue
			}
			if ok {
				return item, ack, nil
			}
		}
		if err := s.wait(ctx, now); err != nil {
			return Item{}, nil, err
		}
	}
}

// fileID names a file in logs by a hash: file names may carry the name of
// the person who wrote the letter.
func fileID(name string) string {
	h := sha256.Sum256([]byte(name))
	return hex.EncodeToString(h[:6])
}

func (s *DropSource) needScan(now time.Time) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.dirty || !now.Before(s.nextScan)
}

// scan lists the drop and updates what is known of each file.
func (s *DropSource) scan(ctx context.Context, now time.Time) error {
	entries, err := s.be.list(ctx)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.dirty = false
	s.nextScan = now.Add(s.o.RescanInterval)
	if err != nil {
		return err
	}
	listed := make(map[string]bool, len(entries))
	for _, e := range entries {
		if ignoredName(e.name) {
			continue
		}
		listed[e.name] = true
		f := s.seen[e.name]
		switch {
		case f == nil:
			s.seen[e.name] = &dropFile{e: e, since: now}
		case f.e.version != e.version:
			f.e, f.since = e, now
		}
	}
	for name, f := range s.seen {
		if !listed[name] && !f.inflight {
			delete(s.seen, name)
		}
	}
	return nil
}

// ignoredName reports names that are never items: temporary files of
// scanners, office programs, browsers and copy tools.
func ignoredName(name string) bool {
	lower := strings.ToLower(name)
	if strings.HasPrefix(name, ".") || strings.HasPrefix(name, "~") || strings.HasSuffix(name, "~") {
		return true
	}
	for _, suffix := range []string{".tmp", ".temp", ".part", ".partial", ".crdownload", ".download", ".filepart"} {
		if strings.HasSuffix(lower, suffix) {
			return true
		}
	}
	return false
}

// isSidecar: sidecars are not items; they go with their scan.
func isSidecar(name string) bool { return strings.HasSuffix(strings.ToLower(name), ".json") }

// sidecarWindow: a sidecar goes with a scan only if they were written
// within this of each other. Scanners restart their counters: yesterday's
// scan0001.json left behind must not lend its postmark to today's
// scan0001.pdf.
const sidecarWindow = time.Hour

// sidecarOf returns the name of name's sidecar among the files seen, "" if
// none: scan0001.pdf.json, else scan0001.json.
func (s *DropSource) sidecarOfLocked(name string) string {
	f := s.seen[name]
	if f == nil {
		return ""
	}
	for _, c := range []string{name + ".json", strings.TrimSuffix(name, path.Ext(name)) + ".json"} {
		sc, ok := s.seen[c]
		if !ok || c == name {
			continue
		}
		if d := sc.e.mod.Sub(f.e.mod); d > sidecarWindow || d < -sidecarWindow {
			continue
		}
		return c
	}
	return ""
}

// ready returns the files that may be taken now, oldest first.
func (s *DropSource) ready(now time.Time) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	stable := func(f *dropFile) bool { return now.Sub(f.since) >= s.o.StableFor }
	var out []*dropFile
	for name, f := range s.seen {
		if isSidecar(name) || f.inflight || now.Before(f.skipUntil) || !stable(f) {
			continue
		}
		if sc := s.sidecarOfLocked(name); sc != "" && !stable(s.seen[sc]) {
			continue // the sidecar is still being written
		}
		out = append(out, f)
	}
	slices.SortFunc(out, func(a, b *dropFile) int {
		if c := a.e.mod.Compare(b.e.mod); c != 0 {
			return c
		}
		return strings.Compare(a.e.name, b.e.name)
	})
	names := make([]string, len(out))
	for i, f := range out {
		names[i] = f.e.name
	}
	return names
}

// wait sleeps until the next rescan, the moment a file may have become
// stable, a change notification, or the end of ctx or of the source.
func (s *DropSource) wait(ctx context.Context, now time.Time) error {
	s.mu.Lock()
	until := s.nextScan
	for _, f := range s.seen {
		if f.inflight {
			continue
		}
		if t := f.since.Add(s.o.StableFor); t.After(now) && t.Before(until) {
			until = t
		}
		if t := f.skipUntil; t.After(now) && t.Before(until) {
			until = t
		}
	}
	s.mu.Unlock()
	timer := time.NewTimer(max(until.Sub(now), time.Millisecond))
	defer timer.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-s.closing:
		return ErrSourceClosed
	case <-s.be.changes():
	case <-timer.C:
	}
	s.mu.Lock()
	s.dirty = true // look again: what was waiting to be stable may be
	s.mu.Unlock()
	return nil
}

// take claims a ready file and builds its item. ok is false when the file
// is someone else's, gone or changed (it will be looked at again).
func (s *DropSource) take(ctx context.Context, name string) (Item, Ack, bool, error) {
	s.mu.Lock()
	f := s.seen[name]
	sidecar := s.sidecarOfLocked(name)
	s.mu.Unlock()
	if f == nil {
		return Item{}, nil, false, nil
	}
	cl, err := s.claims.acquire(ctx, name)
	if errors.Is(err, errClaimed) {
		s.mu.Lock()
		f.skipUntil = s.o.Now().Add(min(s.o.RescanInterval, s.o.ClaimTTL))
		s.mu.Unlock()
		return Item{}, nil, false, nil
	}
	if err != nil {
		return Item{}, nil, false, err
	}
	// The claim is ours: make sure the file is still the one seen stable
	// (another replica may have moved it out, and a new file taken its name).
	e, err := s.be.stat(ctx, name)
	if err != nil || e.version != f.e.version {
		// Give the claim up even when ctx just ended (shutdown): a claim
		// left behind holds the file for ClaimTTL.
		if derr := s.claims.drop(context.WithoutCancel(ctx), cl); derr != nil {
			s.log.Warn().Err(derr).Msg("drop: claim not released")
		}
		s.mu.Lock()
		if errors.Is(err, errDropGone) {
			delete(s.seen, name)
		} else if err == nil {
			f.e, f.since = e, s.o.Now()
		}
		s.mu.Unlock()
		if errors.Is(err, errDropGone) {
			return Item{}, nil, false, nil
		}
		return Item{}, nil, false, err
	}
	fl := &dropFlight{e: e, sidecar: sidecar, claim: cl, oversize: e.size > s.o.MaxBytes, stop: make(chan struct{}), renewed: make(chan struct{})}
	coords := s.be.coordinates(e)
	coords[CoordDrop], coords[CoordName] = s.o.Name, name
	if sidecar != "" {
		s.readSidecar(ctx, sidecar, coords)
	}
	s.mu.Lock()
	f.inflight = true
	s.flights[fl] = struct{}{}
	s.mu.Unlock()
	go s.renew(fl)

	item := Item{
		Source:      s.id,
		Coordinates: coords,
		ReceivedAt:  e.mod,
		Size:        e.size,
		Open: func() (io.ReadCloser, error) {
			if fl.oversize {
				return nil, &PermanentError{Limit: LimitScanBytes, Err: fmt.Errorf("drop file of %d bytes: %w: limit %d", e.size, ErrScanTooLarge, s.o.MaxBytes)}
			}
			return s.be.open(context.Background(), e)
		},
		Release: func() { s.release(fl) },
	}
	s.log.Info().Str("file", fileID(name)).Int64("size", e.size).Bool("sidecar", sidecar != "").Msg("drop: file taken")
	return item, func(ctx context.Context, d Disposition) error { return s.ack(ctx, fl, d) }, true, nil
}

// readSidecar puts the sidecar into the coordinates, or says why not.
func (s *DropSource) readSidecar(ctx context.Context, name string, coords map[string]string) {
	data, err := s.be.read(ctx, name, 16*MaxSidecarJSON+1)
	if err == nil {
		var sc Sidecar
		if sc, err = ParseSidecar(data); err == nil {
			coords[CoordSidecar] = sc.Encode()
			return
		}
	}
	msg := err.Error()
	if len(msg) > 200 {
		msg = msg[:200]
	}
	coords[CoordSidecarError] = msg
	s.log.Warn().Err(err).Str("file", fileID(name)).Msg("drop: sidecar not used")
}

// renew keeps the claim of an item in flight alive until it is released.
// It alone touches fl.claim meanwhile; endRenewal waits for it to stop.
func (s *DropSource) renew(fl *dropFlight) {
	defer close(fl.renewed)
	t := time.NewTicker(max(s.o.ClaimTTL/3, time.Millisecond))
	defer t.Stop()
	for {
		select {
		case <-fl.stop:
			return
		case <-t.C:
			ctx, cancel := context.WithTimeout(context.Background(), s.o.ClaimTTL/3)
			err := s.claims.renew(ctx, fl.claim)
			cancel()
			if errors.Is(err, errClaimed) {
				s.log.Warn().Str("file", fileID(fl.e.name)).Msg("drop: claim taken over while processing")
				return
			}
			if err != nil {
				s.log.Warn().Err(err).Str("file", fileID(fl.e.name)).Msg("drop: claim not renewed, will retry")
			}
		}
	}
}

// ack moves a processed file to DoneDir, a quarantined one to FailedDir
// with <name>.reason.txt beside it (the quarantine entry's reason, the raw
// sha), its sidecar with it. It must be called only once the raw bytes are
// stored. The sidecar and the reason go first and the scan last: if the
// process dies in between, the scan is still in the drop, is taken again,
// found done by the pipeline, and acked again. Acking twice is harmless.
// An error leaves the scan in the drop.
func (s *DropSource) ack(ctx context.Context, fl *dropFlight, d Disposition) error {
	if d != Processed && d != Quarantined {
		return fmt.Errorf("drop ack: unknown disposition %v", d)
	}
	fl.mu.Lock()
	defer fl.mu.Unlock()
	if fl.acked {
		return nil
	}
	dir := s.done
	if d == Quarantined {
		dir = s.failed
	}
	name := fl.e.name
	var reason []byte
	if d == Quarantined {
		reason = s.reason(ctx, fl)
	}
	var err error
	for attempt := 0; attempt < 5; attempt++ {
		target := name
		if attempt > 0 || s.taken(ctx, dir, name, fl.sidecar) {
			ext := path.Ext(name)
			target = fmt.Sprintf("%s-%s-%04x%s", strings.TrimSuffix(name, ext), s.o.Now().UTC().Format("20060102T150405"), rand.N(1<<16), ext)
		}
		if err = s.moveAll(ctx, fl, dir, target, reason); !errors.Is(err, errDropExists) {
			break
		}
	}
	if err != nil {
		return fmt.Errorf("drop ack %s (%v): %w", fileID(name), d, err)
	}
	fl.acked = true
	s.endRenewal(fl)
	if err := s.claims.drop(context.WithoutCancel(ctx), fl.claim); err != nil {
		s.log.Warn().Err(err).Msg("drop: claim not deleted; it will expire")
	}
	s.mu.Lock()
	delete(s.seen, name)
	if fl.sidecar != "" {
		delete(s.seen, fl.sidecar)
	}
	s.mu.Unlock()
	s.log.Info().Str("file", fileID(name)).Str("disposition", d.String()).Msg("drop: file acked")
	return nil
}

// taken reports whether name (or its sidecar) is already in dir.
func (s *DropSource) taken(ctx context.Context, dir, name, sidecar string) bool {
	for _, n := range []string{name, sidecar} {
		if n == "" {
			continue
		}
		if ok, err := s.be.exists(ctx, dir, n); ok || err != nil {
			return true // when unsure, take a new name
		}
	}
	return false
}

// moveAll moves the sidecar, writes the reason, then moves the scan.
func (s *DropSource) moveAll(ctx context.Context, fl *dropFlight, dir, target string, reason []byte) error {
	if fl.sidecar != "" {
		side := target + ".json"
		if err := s.be.move(ctx, fl.sidecar, dir, side); err != nil && !errors.Is(err, errDropGone) {
			return fmt.Errorf("sidecar: %w", err)
		}
	}
	if reason != nil {
		if err := s.be.write(ctx, dir, target+".reason.txt", reason); err != nil {
			return fmt.Errorf("reason: %w", err)
		}
	}
	return s.be.move(ctx, fl.e.name, dir, target)
}

// reason is the text of <name>.reason.txt: the quarantine entry's reason,
// read from the bucket by the raw sha of the file.
func (s *DropSource) reason(ctx context.Context, fl *dropFlight) []byte {
	at := s.o.Now().UTC().Format(time.RFC3339)
	if fl.oversize {
		return fmt.Appendf(nil, "Mis en quarantaine le %s.\nRaison : fichier de %d octets, au-delà de la limite de %d octets (scan_size).\nLe fichier n'a pas été enregistré.\n", at, fl.e.size, s.o.MaxBytes)
	}
	text := "voir l'entrée de quarantaine"
	sha := ""
	if rc, err := s.be.open(ctx, fl.e); err == nil {
		sha, _, err = storage.Digest(rc)
		rc.Close()
		if err == nil {
			if e, _, err := (storage.Quarantine{Bucket: s.o.Bucket}).Get(ctx, sha); err == nil {
				text = e.Reason
				if e.Limit != "" {
					text += " (" + e.Limit + ")"
				}
			}
		}
	}
	return fmt.Appendf(nil, "Mis en quarantaine le %s.\nRaison : %s\nOriginal enregistré : raw/%s\n", at, text, sha)
}

// endRenewal stops the renewal of fl's claim and waits until it has
// stopped, so the claim can be deleted without racing a renewal.
func (s *DropSource) endRenewal(fl *dropFlight) {
	fl.stopOnce.Do(func() { close(fl.stop) })
	<-fl.renewed
}

// release ends an item. One not acked gives its claim up and is offered
// again after RescanInterval.
func (s *DropSource) release(fl *dropFlight) {
	fl.mu.Lock()
	defer fl.mu.Unlock()
	if fl.released {
		return
	}
	fl.released = true
	s.mu.Lock()
	delete(s.flights, fl)
	if f := s.seen[fl.e.name]; f != nil {
		f.inflight = false
		f.skipUntil = s.o.Now().Add(s.o.RescanInterval)
	}
	s.mu.Unlock()
	if fl.acked {
		return
	}
	s.endRenewal(fl)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := s.claims.drop(ctx, fl.claim); err != nil {
		s.log.Warn().Err(err).Msg("drop: claim not released; it will expire")
	}
}

// Close ends the source: a waiting Next returns ErrSourceClosed and the
// notifications stop. Items already yielded may still be acked and
// released.
func (s *DropSource) Close() error {
	var err error
	s.closeOnce.Do(func() {
		close(s.closing)
		err = s.be.close()
	})
	return err
}
