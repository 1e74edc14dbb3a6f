package workers

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"runtime/debug"
	"time"

	"github.com/rs/zerolog"

	"recevable/intake"
	"recevable/storage"
	"recevable/validate"
)

// Result is what became of one item.
type Result struct {
	// Raw is the SHA-256 of the raw original (for an item too large to be
	// stored, of its source coordinates: see quarantineUnstored).
	Raw string
	// Source is the id of the source the item came from.
	Source string
	// Result is stored, duplicate or quarantined: the result label of
	// recevable_intake_items_total.
	Result string
	// Disposition is the acknowledgment given (or to give) to the source.
	Disposition intake.Disposition
	// Numbers are the dossiers made from the item, or those of the first
	// copy for a duplicate.
	Numbers []string
	// DuplicateOf is the raw sha of the first copy when the item was a copy
	// of another raw item with the same Message-ID and sender.
	DuplicateOf string
	// Quarantine is the entry when the item went to quarantine.
	Quarantine *storage.QuarantineEntry
}

// ErrPanic is wrapped in the permanent error of an item whose processing
// panicked: a bug to fix; the item waits in quarantine meanwhile.
var ErrPanic = errors.New("workers: panic while processing")

// Coordinates the pipeline adds to those of the source when it stores a raw
// original, so that recovery knows where a raw item belongs without the
// configuration of the source that took it.
const (
	CoordSite    = "site"
	CoordChannel = "channel"
)

// job is one raw item being processed.
type job struct {
	sha     string
	meta    storage.RawMeta // as stored (the first copy's metadata)
	site    Site
	channel storage.Channel
	source  string
	open    func() (io.ReadCloser, error)
	split   intake.SplitOptions // postal: how to cut the scan
	stop    <-chan struct{}
	log     zerolog.Logger
	now     func() time.Time
	// reprocess: a supervisor asked for it; the quarantine entry is ignored
	// and removed on success.
	reprocess bool
	// fresh: this process's Raws.Store created raw/<sha> for this job
	// (RawMeta.Created), so nothing was done with the item before, every
	// record of it requiring raw first. The first attempt then skips the
	// reads that look for earlier work, and clears it when it ends: a later
	// attempt (after a failed one, which may have done any part of the
	// work) is not fresh. register, writeDossier and putDocument read it.
	fresh bool
}

// receivedAt is when the item reached the prefecture: the source's date, or
// when the raw object was stored if the source gave none.
func (j *job) receivedAt() time.Time {
	switch {
	case !j.meta.ReceivedAt.IsZero():
		return j.meta.ReceivedAt
	case !j.meta.StoredAt.IsZero():
		return j.meta.StoredAt
	}
	return j.now()
}

// Handle processes one item outside the pollers (a web upload, the demo's
// seeding) in the caller's goroutine, with the same steps, retries and
// quarantine as polled items, and acknowledges it with ack (which may be
// nil). The item's Release is left to the caller. An error means the item
// was left without a verdict (ctx ended, or the bucket stayed unreachable):
// it was not acknowledged.
func (p *Pipeline) Handle(ctx context.Context, site string, channel storage.Channel, item intake.Item, ack intake.Ack) (Result, error) {
	st, ok := p.sites[site]
	if !ok {
		return Result{}, fmt.Errorf("workers: handle: unknown site %q", site)
	}
	src := Source{ID: item.Source, Site: st.ID, Channel: channel}
	if src.ID == "" {
		src.ID = string(channel)
	}
	return p.handleItem(ctx, ctx.Done(), src, item, ack)
}

// handleItem runs the whole flow of one item taken from src: raw stored,
// processed (or quarantined), acknowledged.
func (p *Pipeline) handleItem(ctx context.Context, stop <-chan struct{}, src Source, item intake.Item, ack intake.Ack) (Result, error) {
	log := p.log.With().Str("source", src.ID).Str("site", src.Site).Logger()
	if mb := item.Coordinates[intake.CoordMailbox]; mb != "" {
		log = log.With().Str("mailbox", mb).Str("uid", item.Coordinates[intake.CoordUID]).Logger()
	}
	coords := maps.Clone(item.Coordinates)
	if coords == nil {
		coords = map[string]string{}
	}
	coords[CoordSite], coords[CoordChannel] = src.Site, string(src.Channel)

	// Raw first (DESIGN.md): nothing else happens until raw/<sha> is stored.
	var meta storage.RawMeta
	err := p.withRetry(ctx, stop, src.ID, log, func(ctx context.Context) error {
		start := time.Now()
		// A source that hashed the bytes while taking them spares a read of
		// the spool; Store checks them against it anyway (ErrIntegrity).
		sha, size := item.SHA256, item.Size
		if sha == "" {
			rc, err := item.Open()
			if err != nil {
				return fmt.Errorf("open item: %w", err)
			}
			sha, size, err = storage.Digest(rc)
			rc.Close()
			if err != nil {
				return fmt.Errorf("read item: %w", err)
			}
		}
		p.metrics.observe(StageFetch, start)
		start = time.Now()
		var err error
		meta, err = p.raws.Store(ctx, storage.RawMeta{
			SHA256: sha, Size: size, Source: src.ID, Coordinates: coords, ReceivedAt: item.ReceivedAt,
		}, item.Open)
		p.metrics.observe(StageStoreRaw, start)
		return err
	})
	var res Result
	switch {
	case err == nil:
		p.fault(FaultRawStored, meta.SHA256)
		if s := meta.Coordinates[CoordSite]; s != "" && s != src.Site {
			// The same bytes came first through another site's source: the
			// first copy decides (a raw item belongs to one site).
			log.Warn().Str("raw", meta.SHA256).Str("first_site", s).Msg("raw item already stored for another site")
		}
		j, jerr := p.newJob(meta, item.Open, stop, log)
		if jerr != nil {
			res, err = p.quarantine(ctx, stop, &job{sha: meta.SHA256, source: src.ID, log: log.With().Str("raw", meta.SHA256).Logger()}, jerr)
		} else {
			res, err = p.runJob(ctx, j)
		}
		log = log.With().Str("raw", meta.SHA256).Logger()
	case intake.IsPermanent(err):
		// The source could not give the bytes (over the size limit): the
		// entry is keyed by the coordinates, the original stays at the
		// source, in its quarantine folder.
		res, err = p.quarantineUnstored(ctx, stop, src, item, err, log)
	default:
		// Never acknowledge what is not stored: the item stays at its
		// source and is taken again later.
		log.Error().Err(err).Msg("raw item not stored, left at the source")
		return Result{}, fmt.Errorf("%w: %w", errAbandoned, err)
	}
	if err != nil {
		log.Warn().Err(err).Msg("item left for later")
		return Result{}, err
	}
	if ack != nil {
		if err := ack(ctx, res.Disposition); err != nil {
			// The item comes back from the source and is then found done:
			// it is acknowledged as a duplicate, never processed twice.
			log.Warn().Err(err).Msg("acknowledgment failed, the source will offer the item again")
			return res, fmt.Errorf("ack raw %s: %w", res.Raw, err)
		}
	}
	p.fault(FaultAcked, res.Raw)
	p.metrics.item(src.ID, res.Result)
	ev := log.Info().Str("result", res.Result).Str("disposition", res.Disposition.String())
	if len(res.Numbers) > 0 {
		ev = ev.Str("dossier", res.Numbers[0])
	}
	ev.Msg("item done")
	return res, nil
}

// newJob prepares the processing of a stored raw item. Site and channel come
// from the coordinates stored with it, else from the configured source that
// took it, else from the only site there is.
func (p *Pipeline) newJob(meta storage.RawMeta, open func() (io.ReadCloser, error), stop <-chan struct{}, log zerolog.Logger) (*job, error) {
	src, known := p.sources[meta.Source]
	siteID := meta.Coordinates[CoordSite]
	if siteID == "" && known {
		siteID = src.Site
	}
	if siteID == "" && len(p.sites) == 1 {
		for id := range p.sites {
			siteID = id
		}
	}
	site, ok := p.sites[siteID]
	if !ok {
		return nil, intake.Permanent(fmt.Errorf("raw %s: site %q is not served by this configuration", meta.SHA256, siteID))
	}
	ch := storage.Channel(meta.Coordinates[CoordChannel])
	if ch == "" && known {
		ch = src.Channel
	}
	switch ch {
	case storage.ChannelEmail, storage.ChannelPostal, storage.ChannelUpload:
	case "":
		ch = storage.ChannelEmail
	default:
		return nil, intake.Permanent(fmt.Errorf("raw %s: unknown channel %q", meta.SHA256, ch))
	}
	return &job{
		sha: meta.SHA256, meta: meta, site: site, channel: ch, source: meta.Source, fresh: meta.Created,
		open: open, split: src.Split, stop: stop, now: p.o.Now,
		log: log.With().Str("raw", meta.SHA256).Logger(),
	}, nil
}

// runJob processes a stored raw item with retries; a permanent failure or a
// spent budget sends it to quarantine. An error means no verdict
// (errAbandoned): do not acknowledge.
func (p *Pipeline) runJob(ctx context.Context, j *job) (Result, error) {
	if err := p.busy.lock(ctx, j.sha); err != nil {
		return Result{}, fmt.Errorf("%w: %w", errAbandoned, err)
	}
	defer p.busy.unlock(j.sha)
	var res Result
	err := p.withRetry(ctx, j.stop, j.source, j.log, func(ctx context.Context) error {
		var err error
		res, err = p.attempt(ctx, j)
		return err
	})
	switch {
	case err == nil:
	case errors.Is(err, errAbandoned):
		return Result{}, err
	default:
		res, err = p.quarantine(ctx, j.stop, j, err)
	}
	res.Source = j.source
	return res, err
}

// attempt runs every step once. Each step is idempotent and keyed by the raw
// sha, so an attempt after a failed one (or after a crash) picks up where it
// stopped and produces the same dossier with the same number.
func (p *Pipeline) attempt(ctx context.Context, j *job) (res Result, err error) {
	defer func() {
		// The one place where a panic in a step (ours or a third-party
		// parser's) becomes a permanent error carrying the raw sha.
		if v := recover(); v != nil {
			j.log.Error().Str("panic", fmt.Sprint(v)).Str("stack", string(debug.Stack())).Msg("panic while processing")
			err = &intake.PermanentError{Err: fmt.Errorf("%w raw %s: %v", ErrPanic, j.sha, v)}
		}
	}()
	// Only the first attempt of a job may be fresh: a failed attempt may
	// have written anything up to the done marker (a PUT whose reply was
	// lost counts as failed).
	defer func() { j.fresh = false }()
	if !j.fresh {
		// Finished before: a replay after a crash, or the same bytes again.
		// A fresh item cannot be: the done marker and the quarantine entry
		// are written after raw, and we have just created raw. (Another
		// replica that found our raw may be processing it alongside, as two
		// replicas could already both pass these reads; every step below is
		// idempotent.)
		if d, err := p.raws.GetDone(ctx, j.sha); err == nil {
			numbers := d.Numbers
			if d.DuplicateOf != "" {
				if numbers, _, err = p.firstDone(ctx, d.DuplicateOf); err != nil {
					return Result{}, err
				}
			}
			return Result{Raw: j.sha, Result: ResultDuplicate, Disposition: intake.Processed, Numbers: numbers, DuplicateOf: d.DuplicateOf}, nil
		} else if !errors.Is(err, storage.ErrNotFound) {
			return Result{}, fmt.Errorf("raw %s: %w", j.sha, err)
		}
		if !j.reprocess {
			if e, _, err := p.quar.Get(ctx, j.sha); err == nil {
				return Result{Raw: j.sha, Result: ResultQuarantined, Disposition: intake.Quarantined, Quarantine: &e}, nil
			} else if !errors.Is(err, storage.ErrNotFound) {
				return Result{}, err
			}
		}
	}

	start := time.Now()
	pr, err := p.parse(ctx, j)
	p.metrics.observe(StageParse, start)
	if err != nil {
		return Result{}, err
	}
	defer pr.Close()

	var linked []string
	var notes []storage.HistoryEntry
	if u := pr.units[0]; j.channel == storage.ChannelEmail && u.env.MessageID != "" {
		dup, l, h, err := p.messageIDCopy(ctx, j, u)
		if err != nil {
			return Result{}, err
		}
		if dup != nil {
			return *dup, nil
		}
		linked, notes = l, h
	}

	var numbers []string
	for _, u := range pr.units {
		number, err := p.register(ctx, j, u, linked, notes)
		if err != nil {
			return Result{}, err
		}
		numbers = append(numbers, number)
	}
	if err := p.raws.MarkDone(ctx, j.sha, storage.Done{Numbers: numbers}); err != nil {
		return Result{}, err
	}
	p.fault(FaultDoneMarked, j.sha)
	if j.reprocess {
		if err := p.quar.Delete(ctx, j.sha); err != nil {
			j.log.Warn().Err(err).Msg("dossiers created but the quarantine entry could not be removed")
		}
	}
	return Result{Raw: j.sha, Result: ResultStored, Disposition: intake.Processed, Numbers: numbers}, nil
}

// register turns one unit into a registered dossier: documents checked,
// number reserved, evidence assessed, dossier written.
func (p *Pipeline) register(ctx context.Context, j *job, u *unit, linked []string, notes []storage.HistoryEntry) (string, error) {
	start := time.Now()
	err := p.checkDocuments(ctx, u)
	p.metrics.observe(StageValidate, start)
	if err != nil {
		return "", err
	}

	// The number is reserved before the evidence search, which records it
	// when it consumes an invitation (validate.Submission.Dossier); keyed by
	// the raw sha and the part, a replay gets the same one.
	start = time.Now()
	year := u.received(j).In(j.site.Location).Year()
	reserve := p.counter.Reserve
	if j.fresh {
		// No claim of a raw item exists before the raw object: skip the
		// lookup of our own binding (storage.Counter.ReserveFresh, which
		// stays right if a replica reserves the same claim alongside).
		reserve = p.counter.ReserveFresh
	}
	number, err := reserve(ctx, j.site.ID, year, j.sha, u.part)
	reserved := time.Since(start)
	if err != nil {
		return "", err
	}
	p.fault(FaultNumberReserved, j.sha)

	start = time.Now()
	sub, err := p.submission(j, u, number)
	if err != nil {
		return "", err
	}
	as, err := p.assess(ctx, sub)
	p.metrics.observe(StageVerify, start)
	if err != nil {
		return "", err
	}

	start = time.Now()
	err = p.writeDossier(ctx, j, u, number, as, linked, notes)
	p.metrics.StageDuration.WithLabelValues(StageWriteDossier).Observe((time.Since(start) + reserved).Seconds())
	return number, err
}

// assess runs the evidence search, or, without an Assessor (tests only),
// proposes a manual check: never a refusal (arrêté 2023-08-01 art. 4).
func (p *Pipeline) assess(ctx context.Context, sub *validate.Submission) (validate.Assessment, error) {
	if p.o.Assessor == nil {
		return validate.Assessment{Decision: storage.Decision{
			Outcome: storage.OutcomeAVerifier,
			Reasons: []storage.Reason{{Code: "assessment_unavailable",
				Text: "Les justificatifs n'ont pas été vérifiés automatiquement : vérification manuelle nécessaire."}},
		}}, nil
	}
	as, err := p.o.Assessor.Assess(ctx, sub)
	if err != nil {
		return validate.Assessment{}, fmt.Errorf("assess %s: %w", sub.Dossier, err)
	}
	return as, nil
}
