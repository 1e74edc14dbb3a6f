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

	"recevable/intake"
	"recevable/storage"
	"recevable/validate"
)

// parsed is a raw item taken apart: its documents and bodies spooled to a
// private directory (never held whole in memory), ready to be checked,
// searched for evidence and written to the dossier. Close removes the spool.
type parsed struct {
	dir string
	env intake.Envelope
	// docs are what the dossier will list, in document order: attachments
	// and non-empty text bodies. Forwarded messages are not listed on their
	// own (their parts are, under their path; the whole original is raw/).
	docs []*spooled
	// embedded are forwarded messages, for the evidence search (DKIM).
	embedded []*spooled
	notes    []string
}

// spooled is one part on disk.
type spooled struct {
	part *intake.Part // nil for a whole-file item (scan, upload)
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
func (p *parsed) attachments() int {
	n := 0
	for _, d := range p.docs {
		if d.isAttachment() {
			n++
		}
	}
	return n
}

func (p *parsed) Close() error { return os.RemoveAll(p.dir) }

// LimitDocuments names the per-dossier document limit in quarantine entries.
const LimitDocuments = "documents_per_dossier"

// parse takes the raw item apart according to its channel. Email is walked
// as MIME (intake.Walk); a scan or an upload is one document, the file
// itself (splitting a batch of letters is not done here yet). Errors: a
// *intake.PermanentError (over a limit, parser bug) for what retrying will
// not fix, anything else is temporary.
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
	if j.channel == storage.ChannelEmail {
		err = pl.walkEmail(ctx, p, rc)
	} else {
		err = pl.wholeFile(p, j, rc)
	}
	if err != nil {
		p.Close()
		return nil, fmt.Errorf("parse raw %s: %w", j.sha, err)
	}
	if n := p.attachments(); n > pl.o.MaxDocuments {
		p.Close()
		return nil, &intake.PermanentError{Limit: LimitDocuments,
			Err: fmt.Errorf("raw %s: %d documents exceed the limit of %d per dossier", j.sha, n, pl.o.MaxDocuments)}
	}
	return p, nil
}

// walkEmail spools the parts of a message as intake.Walk yields them.
func (pl *Pipeline) walkEmail(ctx context.Context, p *parsed, r io.Reader) error {
	var all []*spooled
	msg, err := intake.Walk(r, pl.o.MIMELimits, func(part *intake.Part, body io.Reader) error {
		if err := ctx.Err(); err != nil {
			return err
		}
		s := &spooled{part: part, path: filepath.Join(p.dir, strconv.Itoa(len(all)))}
		f, err := os.OpenFile(s.path, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
		if err != nil {
			return fmt.Errorf("spool part %s: %w", part.Path, err)
		}
		_, err = io.Copy(f, body)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return fmt.Errorf("spool part %s: %w", part.Path, err)
		}
		all = append(all, s)
		return nil
	})
	if err != nil {
		return err
	}
	p.env = msg.Envelope
	p.notes = msg.Notes
	// Size and SHA-256 of a leaf are known once its WalkFunc returned.
	for _, s := range all {
		s.doc = s.part.Document()
		if storage.CheckSafeName(s.doc.SafeName) != nil {
			// intake's names are key-safe; this only guards a bug there.
			s.doc.SafeName = "part-" + strings.ReplaceAll(s.part.Path, ".", "-")
		}
		switch s.part.Kind {
		case intake.KindEmbedded:
			p.embedded = append(p.embedded, s)
		case intake.KindBodyText, intake.KindBodyHTML:
			if s.part.Size > 0 {
				p.docs = append(p.docs, s)
			}
		default:
			p.docs = append(p.docs, s)
		}
	}
	return nil
}

// wholeFile spools a scan or an upload as one document.
func (pl *Pipeline) wholeFile(p *parsed, j *job, r io.Reader) error {
	s := &spooled{path: filepath.Join(p.dir, "0")}
	f, err := os.OpenFile(s.path, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	if err != nil {
		return fmt.Errorf("spool: %w", err)
	}
	sha, size, err := storage.Digest(io.TeeReader(r, f))
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("spool: %w", err)
	}
	head, err := readHead(s.path)
	if err != nil {
		return err
	}
	name := wholeFileName(j.meta.Coordinates)
	safe := intake.SafeName(name)
	if safe == "" || storage.CheckSafeName(safe) != nil {
		safe = "document"
	}
	role := "attachment"
	if j.channel == storage.ChannelPostal {
		role = "scan"
	}
	s.doc = storage.Document{Name: name, SafeName: safe, Type: intake.Sniff(head), Size: size, SHA256: sha, Role: role}
	p.docs = []*spooled{s}
	return nil
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
	for _, k := range []string{"name", "filename", "path"} {
		if v := coords[k]; v != "" {
			return filepath.Base(v)
		}
	}
	return ""
}

// checkDocuments runs validate.CheckDocument on every attachment. A problem
// flags the document, it does not sink the dossier (DESIGN.md, "Errors");
// an error (the check could not run) is temporary.
func (pl *Pipeline) checkDocuments(ctx context.Context, p *parsed) error {
	for _, s := range p.docs {
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
func (pl *Pipeline) submission(j *job, p *parsed, number string) (*validate.Submission, error) {
	s := &validate.Submission{
		Site: j.site.ID, Channel: j.channel, ReceivedAt: j.receivedAt(),
		Subject: p.env.Subject, Sender: storage.Party{Email: p.env.From},
		Dossier: number,
	}
	for i, d := range p.docs {
		if d.part != nil && (d.part.Kind == intake.KindBodyText || d.part.Kind == intake.KindBodyHTML) {
			text, err := readText(d)
			if err != nil {
				return nil, err
			}
			where := "body " + d.part.Path
			s.Texts = append(s.Texts, validate.Text{Where: where, HTML: d.part.Kind == intake.KindBodyHTML, Body: text})
			continue
		}
		doc := validate.Doc{Index: i, Name: d.doc.Name, SafeName: d.doc.SafeName, Type: d.doc.Type, Size: d.doc.Size, Open: d.open}
		if d.check != nil {
			doc.Problems = d.check.Problems
		}
		s.Documents = append(s.Documents, doc)
	}
	for _, e := range p.embedded {
		s.Embedded = append(s.Embedded, validate.Embedded{Where: "part " + e.part.Path, Open: e.open, Size: e.part.Size})
	}
	return s, nil
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
