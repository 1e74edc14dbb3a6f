package workers

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"sync"
	"time"

	"github.com/rs/zerolog"

	"recevable/intake"
	"recevable/storage"
	"recevable/validate"
)

// Source is one source the pipeline polls, with what the pipeline must know
// about the items it yields.
type Source struct {
	// ID names the source: "imap:<account>/<folder>", "drop:<name>"… It keys
	// the lease, the metrics and the raw objects' metadata; it must be stable
	// across restarts and equal to the Item.Source of its items.
	ID string
	// Site receives the items' dossiers; Channel says how they arrived.
	Site    string
	Channel storage.Channel
	// Open builds the source once this replica holds its lease. The source
	// is closed when the lease is lost or at shutdown, after the items in
	// flight were acknowledged; the next lease opens a new one.
	Open func() (intake.Source, error)
	// Split says how the scans of a postal source are cut into letters
	// (the zero value: one letter per scan). FindCodes defaults to
	// validate.DecodeQR. Keep it stable: a replay after a crash must cut
	// the same letters, which are numbered by their index.
	Split intake.SplitOptions
}

// Site is a site the pipeline registers dossiers for.
type Site struct {
	ID string
	// Location is the site's time zone: the year of a registration number
	// is the year of receipt there. Nil means Europe/Paris.
	Location *time.Location
}

// RetryPolicy bounds the retries of an item failing with a temporary (or
// unknown) error: waits of Min, 2×Min, 4×Min… capped at Max, each with
// jitter, and at most Attempts attempts in all before the item goes to
// quarantine. DESIGN.md, "Errors": unknown errors count as temporary until
// the budget is spent.
type RetryPolicy struct {
	Attempts int           // default 10
	Min      time.Duration // default 5 s
	Max      time.Duration // default 10 min
}

// Options configure a Pipeline. Bucket and at least one Site are required.
type Options struct {
	Bucket storage.Bucket
	Sites  []Site
	// Sources polled under leases; none is fine (recovery, Handle).
	Sources []Source
	// Assessor searches and verifies the art. 4 evidence. Nil is for tests
	// only: every dossier is then proposed a_verifier with the reason
	// "assessment_unavailable", never refused.
	Assessor validate.Assessor
	// MIMELimits bound the MIME walk, ScanLimits the reading of scans,
	// DocumentLimits the document checks.
	MIMELimits     intake.Limits
	ScanLimits     intake.ScanLimits
	DocumentLimits validate.Limits
	// MaxDocuments caps the attachments of one dossier (default 100,
	// DESIGN.md "Limits"); more sends the item to quarantine with the limit
	// "documents_per_dossier".
	MaxDocuments int
	// PoolSize is the number of items processed at once (default 4).
	PoolSize int
	Retry    RetryPolicy
	// LeaseTTL is the lifetime of a source lease (default 1 min); it is
	// renewed every third of it.
	LeaseTTL time.Duration
	// Holder names this replica in leases; default NewHolderID().
	Holder string
	// ShutdownTimeout caps the orderly shutdown (default 30 s).
	ShutdownTimeout time.Duration
	// RecoverEvery is the period of the crash-recovery scan (default 1 min;
	// negative: only at start). RecoverGrace is how old an unfinished raw
	// object must be before recovery takes it (default 5 min), so that it
	// does not redo the work of a replica processing it right now.
	RecoverEvery time.Duration
	RecoverGrace time.Duration
	// RawRetention, when positive, locks raw originals that long (S3 Object
	// Lock).
	RawRetention time.Duration
	// SpoolDir holds the documents of the items being processed (default
	// os.TempDir()). It holds personal data: keep it private.
	SpoolDir string
	// Metrics; nil: NewMetrics(nil), values kept but not exported.
	Metrics *Metrics
	Logger  zerolog.Logger
	// Fault is called at each FaultPoint with the raw sha. Tests use it to
	// kill the process between two steps; nil in production.
	Fault func(point FaultPoint, raw string)
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// Pipeline takes items from the sources, stores them raw, turns them into
// registered dossiers (or quarantine entries) and acknowledges them at their
// source. See the package documentation for the order of the steps.
type Pipeline struct {
	o        Options
	sites    map[string]Site
	sources  map[string]Source
	raws     storage.Raws
	dossiers storage.Dossiers
	counter  storage.Counter
	quar     storage.Quarantine
	leases   storage.Leases
	metrics  *Metrics
	log      zerolog.Logger

	busy keyedMutex // raw shas being processed in this process

	mu     sync.Mutex
	oldest map[string]map[*intake.Item]time.Time // per source: items taken, not acked
	open   map[string]intake.Source              // sources polled by this replica now
	queued map[string]bool                       // ReprocessLater: raw items waiting or running
	later  chan struct{}                         // ReprocessLater: bounds the runs
}

// NewHolderID returns a name unique to this process for leases:
// hostname-pid-random.
func NewHolderID() string {
	host, err := os.Hostname()
	if err != nil || host == "" {
		host = "unknown"
	}
	var b [4]byte
	rand.Read(b[:]) // crypto/rand does not fail on supported systems
	return fmt.Sprintf("%s-%d-%s", host, os.Getpid(), hex.EncodeToString(b[:]))
}

// New checks the options and builds a pipeline; Run starts it.
func New(o Options) (*Pipeline, error) {
	if o.Bucket == nil {
		return nil, errors.New("workers: no bucket")
	}
	if len(o.Sites) == 0 {
		return nil, errors.New("workers: no site")
	}
	p := &Pipeline{sites: map[string]Site{}, sources: map[string]Source{}, oldest: map[string]map[*intake.Item]time.Time{}}
	for _, s := range o.Sites {
		if err := storage.CheckSite(s.ID); err != nil {
			return nil, fmt.Errorf("workers: %w", err)
		}
		if s.Location == nil {
			loc, err := time.LoadLocation("Europe/Paris")
			if err != nil {
				return nil, fmt.Errorf("workers: site %s: %w", s.ID, err)
			}
			s.Location = loc
		}
		p.sites[s.ID] = s
	}
	for _, src := range o.Sources {
		if src.ID == "" || src.Open == nil {
			return nil, errors.New("workers: a source needs an id and an Open function")
		}
		if _, ok := p.sites[src.Site]; !ok {
			return nil, fmt.Errorf("workers: source %s: unknown site %q", src.ID, src.Site)
		}
		if _, dup := p.sources[src.ID]; dup {
			return nil, fmt.Errorf("workers: source %s listed twice", src.ID)
		}
		if src.Channel == "" {
			src.Channel = storage.ChannelEmail
		}
		p.sources[src.ID] = src
	}
	if o.MaxDocuments <= 0 {
		o.MaxDocuments = 100
	}
	if o.PoolSize <= 0 {
		o.PoolSize = 4
	}
	if o.Retry.Attempts <= 0 {
		o.Retry.Attempts = 10
	}
	if o.Retry.Min <= 0 {
		o.Retry.Min = 5 * time.Second
	}
	if o.Retry.Max < o.Retry.Min {
		o.Retry.Max = max(10*time.Minute, o.Retry.Min)
	}
	if o.LeaseTTL <= 0 {
		o.LeaseTTL = time.Minute
	}
	if o.Holder == "" {
		o.Holder = NewHolderID()
	}
	if o.ShutdownTimeout <= 0 {
		o.ShutdownTimeout = 30 * time.Second
	}
	if o.RecoverEvery == 0 {
		o.RecoverEvery = time.Minute
	}
	if o.RecoverGrace <= 0 {
		o.RecoverGrace = 5 * time.Minute
	}
	if o.SpoolDir == "" {
		o.SpoolDir = os.TempDir()
	}
	if o.Metrics == nil {
		o.Metrics = NewMetrics(nil)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	p.o = o
	p.raws = storage.Raws{Bucket: o.Bucket, Retain: o.RawRetention, Now: o.Now}
	p.dossiers = storage.Dossiers{Bucket: o.Bucket, Now: o.Now}
	// One counter per pipeline, shared by its workers: it remembers its own
	// writes and lets them take turns (storage.NewCounter).
	p.counter = storage.NewCounter(o.Bucket)
	p.quar = storage.Quarantine{Bucket: o.Bucket, Now: o.Now}
	p.leases = storage.Leases{Bucket: o.Bucket, Now: o.Now}
	p.metrics = o.Metrics
	p.log = o.Logger.With().Str("holder", o.Holder).Logger()
	return p, nil
}

// Holder is the name of this replica in leases.
func (p *Pipeline) Holder() string { return p.o.Holder }

// Metrics returns the pipeline's metrics.
func (p *Pipeline) Metrics() *Metrics { return p.metrics }

// fault calls the test hook, if any.
func (p *Pipeline) fault(point FaultPoint, sha string) {
	if p.o.Fault != nil {
		p.o.Fault(point, sha)
	}
}

// keyedMutex serialises work on one key (a raw sha) within this process,
// so that recovery and a poller never process the same item at once here.
// (Across processes the steps are idempotent; this only saves work.)
type keyedMutex struct {
	mu   sync.Mutex
	held map[string]chan struct{}
}

// lock waits until key is free or ctx is done.
func (k *keyedMutex) lock(ctx context.Context, key string) error {
	for {
		k.mu.Lock()
		if k.held == nil {
			k.held = map[string]chan struct{}{}
		}
		ch, busy := k.held[key]
		if !busy {
			k.held[key] = make(chan struct{})
			k.mu.Unlock()
			return nil
		}
		k.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// tryLock takes key if it is free.
func (k *keyedMutex) tryLock(key string) bool {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.held == nil {
		k.held = map[string]chan struct{}{}
	}
	if _, busy := k.held[key]; busy {
		return false
	}
	k.held[key] = make(chan struct{})
	return true
}

func (k *keyedMutex) unlock(key string) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if ch, ok := k.held[key]; ok {
		close(ch)
		delete(k.held, key)
	}
}
