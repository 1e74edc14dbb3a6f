package workers

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"recevable/intake"
	"recevable/storage"
	"recevable/validate"
)

// parsed is a raw item taken apart, its parts spooled to a private
// directory (never held whole in memory). It holds one unit per dossier to
// make: one for an email or an upload, one per letter for a scanned batch.
// Close removes the spool.
type parsed struct {
	dir   string
	units []*unit
}

func (p *parsed) Close() error { return os.RemoveAll(p.dir) }

// unit is what becomes one dossier.
type unit struct {
	// part keys the registration number: 0 for a whole item, the letter's
	// index (1..n) in a batch scan (storage.RawClaim).
	part int
	env  intake.Envelope
	// docs are what the dossier lists, in document order: attachments and
	// non-empty text bodies (a forwarded message is not listed on its own:
	// its parts are, under its path, and the whole original is in raw/).
	docs []*spooled
	// embedded are forwarded messages, for the evidence search (DKIM).
	embedded []*spooled
	// notes go to the dossier's history (repairs of the MIME walk…).
	notes []string
	// postal and sender: what the mailroom recorded for a letter.
	postal *storage.Postal
	sender *storage.Party
	// receivedAt, when set, is the letter's receipt date (else the item's).
	receivedAt time.Time
}

// spooled is one part on disk.
type spooled struct {
	part *intake.Part // nil for a whole file or a letter
	path string
	doc  storage.Document
	// check is what validate.CheckDocument found (attachments only).
	check *validate.Result
}

func (s *spooled) open() (io.ReadCloser, error) { return os.Open(s.path) }

func (s *spooled) isAttachment() bool {
	return s.part == nil || s.part.Kind == intake.KindDocument
}

// attachments counts the documents that count against MaxDocuments.
func (u *unit) attachments() int {
	n := 0
	for _, d := range u.docs {
		if d.isAttachment() {
			n++
		}
	}
	return n
}

// LimitDocuments names the per-dossier document limit in quarantine entries.
const LimitDocuments = "documents_per_dossier"

// parse takes the raw item apart according to its channel: email is walked
// as MIME (intake.Walk), a scan is split into letters (intake.Split), an
// upload is one document, the file itself. Errors: a *intake.PermanentError
// (over a limit, unreadable scan, parser bug) for what retrying will not
// fix; anything else is temporary.
func (pl *Pipeline) parse(ctx context.Context, j *job) (*parsed, error) {
	dir, err := os.MkdirTemp(pl.o.SpoolDir, "recevable-item-*")
	if err != nil {
		return nil, fmt.Errorf("parse raw %s: spool: %w", j.sha, err)
	}
	p := &parsed{dir: dir}
	rc, err := j.open()
	if err != nil {
		p.Close()
		return nil, fmt.Errorf("parse raw %s: open: %w", j.sha, err)
	}
	defer rc.Close()
	switch j.channel {
	case storage.ChannelEmail:
		err = pl.walkEmail(ctx, p, rc)
	case storage.ChannelPostal:
		err = pl.splitScan(ctx, p, j, rc)
	default:
		err = pl.wholeFile(p, j, rc)
	}
	if err != nil {
		p.Close()
		return nil, fmt.Errorf("parse raw %s: %w", j.sha, err)
	}
	for _, u := range p.units {
		if n := u.attachments(); n > pl.o.MaxDocuments {
			p.Close()
			return nil, &intake.PermanentError{Limit: LimitDocuments,
				Err: fmt.Errorf("raw %s: %d documents exceed the limit of %d per dossier", j.sha, n, pl.o.MaxDocuments)}
		}
	}
	return p, nil
}

// spoolFile creates a new file of the spool.
func spoolFile(dir, name string) (*os.File, string, error) {
	path := filepath.Join(dir, name)
	f, err := os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	if err != nil {
		return nil, "", fmt.Errorf("spool: %w", err)
	}
	return f, path, nil
}

// walkEmail spools the parts of a message as intake.Walk yields them.
func (pl *Pipeline) walkEmail(ctx context.Context, p *parsed, r io.Reader) error {
	var all []*spooled
	msg, err := intake.Walk(r, pl.o.MIMELimits, func(part *intake.Part, body io.Reader) error {
		if err := ctx.Err(); err != nil {
			return err
		}
		f, path, err := spoolFile(p.dir, strconv.Itoa(len(all)))
		if err != nil {
			return fmt.Errorf("part %s: %w", part.Path, err)
		}
		_, err = io.Copy(f, body)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return fmt.Errorf("spool part %s: %w", part.Path, err)
		}
		all = append(all, &spooled{part: part, path: path})
		return nil
	})
	if err != nil {
		return err
	}
	u := &unit{env: msg.Envelope, notes: msg.Notes}
	// Size and SHA-256 of a leaf are known once its WalkFunc returned.
	for _, s := range all {
		s.doc = s.part.Document()
		if storage.CheckSafeName(s.doc.SafeName) != nil {
			// intake's names are key-safe; this only guards a bug there.
			s.doc.SafeName = "part-" + strings.ReplaceAll(s.part.Path, ".", "-")
		}
		switch s.part.Kind {
		case intake.KindEmbedded:
			u.embedded = append(u.embedded, s)
		case intake.KindBodyText, intake.KindBodyHTML:
			if s.part.Size > 0 {
				u.docs = append(u.docs, s)
			}
		default:
			u.docs = append(u.docs, s)
		}
	}
	p.units = []*unit{u}
	return nil
}

// wholeFile spools an upload as one document.
func (pl *Pipeline) wholeFile(p *parsed, j *job, r io.Reader) error {
	f, path, err := spoolFile(p.dir, "0")
	if err != nil {
		return err
	}
	sha, size, err := storage.Digest(io.TeeReader(r, f))
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("spool: %w", err)
	}
	head, err := readHead(path)
	if err != nil {
		return err
	}
	name := wholeFileName(j.meta.Coordinates)
	s := &spooled{path: path, doc: storage.Document{
		Name: name, SafeName: safeOr(name, "document"), Type: intake.Sniff(head),
		Size: size, SHA256: sha, Role: "attachment",
	}}
	p.units = []*unit{{docs: []*spooled{s}}}
	return nil
}

// splitScan cuts a scanned batch into letters, each written as a PDF of its
// own pages: one unit, hence one dossier, per letter, numbered by its index
// in the batch. The postal data come from the sidecar carried in the
// coordinates and from the separator sheets (intake.LetterPostal).
func (pl *Pipeline) splitScan(ctx context.Context, p *parsed, j *job, r io.Reader) error {
	lim := pl.o.ScanLimits
	if lim.SpoolDir == "" {
		lim.SpoolDir = pl.o.SpoolDir // the scan's copy is personal data, like the parts
	}
	scan, err := intake.OpenScan(ctx, r, lim)
	if err != nil {
		return err
	}
	defer scan.Close()
	opts := j.split
	if opts.Separators && opts.FindCodes == nil {
		opts.FindCodes = validate.DecodeQR
	}
	batch, err := intake.Split(ctx, scan, opts)
	if err != nil {
		return err
	}
	var sidecar *intake.Sidecar
	var sidecarNote string
	if sc, ok, err := intake.SidecarFromCoordinates(j.meta.Coordinates); err != nil {
		sidecarNote = "sidecar not used: " + err.Error()
	} else if ok {
		sidecar = &sc
	}
	base := strings.TrimSuffix(wholeFileName(j.meta.Coordinates), filepath.Ext(wholeFileName(j.meta.Coordinates)))
	for _, l := range batch.Letters {
		name := fmt.Sprintf("lettre-%d.pdf", l.Index)
		if base != "" {
			name = fmt.Sprintf("%s-lettre-%d.pdf", base, l.Index)
		}
		f, path, err := spoolFile(p.dir, "letter-"+strconv.Itoa(l.Index))
		if err != nil {
			return err
		}
		err = scan.WritePages(ctx, f, l.Pages)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return fmt.Errorf("letter %d: %w", l.Index, err)
		}
		sha, size, err := digestFile(path)
		if err != nil {
			return err
		}
		postal, sender, notes := intake.LetterPostal(l.Index, sidecar, l.Separator, j.receivedAt(), j.site.Location)
		if sidecarNote != "" {
			notes = append(notes, sidecarNote)
		}
		u := &unit{
			part:   l.Index,
			postal: &postal,
			sender: sender,
			notes:  notes,
			docs: []*spooled{{path: path, doc: storage.Document{
				Name: name, SafeName: safeOr(name, "lettre.pdf"), Type: "application/pdf",
				Size: size, SHA256: sha, Path: pagesLabel(l.Pages), Role: "scan",
			}}},
		}
		if postal.Received != nil {
			u.receivedAt = *postal.Received
		}
		p.units = append(p.units, u)
	}
	return nil
}

// pagesLabel names the pages of a letter in its scan: "pages 3-5".
func pagesLabel(pages []int) string {
	if len(pages) == 1 {
		return fmt.Sprintf("page %d", pages[0])
	}
	parts := make([]string, len(pages))
	for i, n := range pages {
		parts[i] = strconv.Itoa(n)
	}
	if pages[len(pages)-1]-pages[0] == len(pages)-1 {
		return fmt.Sprintf("pages %d-%d", pages[0], pages[len(pages)-1])
	}
	return "pages " + strings.Join(parts, ",")
}

// safeOr is intake's safe name of name, or def.
func safeOr(name, def string) string {
	if s := intake.SafeName(name); s != "" && storage.CheckSafeName(s) == nil {
		return s
	}
	return def
}

func digestFile(path string) (string, int64, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", 0, fmt.Errorf("spool: %w", err)
	}
	defer f.Close()
	return storage.Digest(f)
}

// readHead reads the first bytes of a spooled file, for sniffing.
func readHead(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("spool: %w", err)
	}
	defer f.Close()
	head := make([]byte, intake.SniffLen)
	n, err := io.ReadFull(f, head)
	if err != nil && !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) {
		return nil, fmt.Errorf("spool: %w", err)
	}
	return head[:n], nil
}

// wholeFileName is the file name a drop or an upload recorded in the
// coordinates, if any.
func wholeFileName(coords map[string]string) string {
	for _, k := range []string{intake.CoordName, "filename", intake.CoordKey, "path"} {
		if v := coords[k]; v != "" {
			return filepath.Base(v)
		}
	}
	return ""
}

// checkDocuments runs validate.CheckDocument on every attachment. A problem
// flags the document, it does not sink the dossier (DESIGN.md, "Errors");
// an error (the check could not run) is temporary.
func (pl *Pipeline) checkDocuments(ctx context.Context, u *unit) error {
	for _, s := range u.docs {
		if !s.isAttachment() {
			continue
		}
		f, err := os.Open(s.path)
		if err != nil {
			return fmt.Errorf("check %s: %w", s.doc.SafeName, err)
		}
		info := validate.DocInfo{Name: s.doc.Name, Declared: s.doc.Declared, Sniffed: s.doc.Type}
		res, err := validate.CheckDocument(ctx, f, s.doc.Size, info, pl.o.DocumentLimits)
		f.Close()
		if err != nil {
			return fmt.Errorf("check %s: %w", s.doc.SafeName, err)
		}
		s.check = &res
		s.doc.Problems = res.Codes()
	}
	return nil
}

// maxText bounds the text of one body handed to the evidence search.
const maxText = 1 << 20

// submission builds what the evidence search looks at.
func (pl *Pipeline) submission(j *job, u *unit, number string) (*validate.Submission, error) {
	s := &validate.Submission{
		Site: j.site.ID, Channel: j.channel, ReceivedAt: u.received(j),
		Subject: u.env.Subject, Sender: storage.Party{Name: u.env.FromName, Email: u.env.From},
		Dossier: number,
	}
	if u.sender != nil {
		s.Sender = *u.sender
	}
	if u.postal != nil {
		s.Postmark = u.postal.Postmark
	}
	for i, d := range u.docs {
		if d.part != nil && (d.part.Kind == intake.KindBodyText || d.part.Kind == intake.KindBodyHTML) {
			text, err := readText(d)
			if err != nil {
				return nil, err
			}
			s.Texts = append(s.Texts, validate.Text{Where: "body " + d.part.Path, HTML: d.part.Kind == intake.KindBodyHTML, Body: text})
			continue
		}
		doc := validate.Doc{Index: i, Name: d.doc.Name, SafeName: d.doc.SafeName, Type: d.doc.Type, Size: d.doc.Size, Open: d.open}
		if d.check != nil {
			doc.Problems = d.check.Problems
		}
		s.Documents = append(s.Documents, doc)
	}
	for _, e := range u.embedded {
		s.Embedded = append(s.Embedded, validate.Embedded{Where: "part " + e.part.Path, Open: e.open, Size: e.part.Size})
	}
	return s, nil
}

// received is when the unit reached the prefecture.
func (u *unit) received(j *job) time.Time {
	if !u.receivedAt.IsZero() {
		return u.receivedAt
	}
	return j.receivedAt()
}

// readText reads a body as UTF-8, at most maxText bytes of it.
func readText(d *spooled) (string, error) {
	f, err := os.Open(d.path)
	if err != nil {
		return "", fmt.Errorf("read body %s: %w", d.part.Path, err)
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(intake.TextReader(d.part, f), maxText))
	if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) {
		return "", fmt.Errorf("read body %s: %w", d.part.Path, err)
	}
	return string(b), nil
}
