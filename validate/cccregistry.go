package validate

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/csv"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"regexp"
	"strings"
	"sync"
	"time"

	"recevable/storage"
)

// The CCC ticket registry: ticket numbers the CCC (or the DGEF) confirms as
// cases where filing online was impossible. A ticket found in a submission
// and in the registry is proof (arrêté 2023-08-01 art. 4 al. 2); a ticket
// not found is a_verifier, never a refusal — the registry may lag.
//
// Two sources, both read by LookupTicket:
//   - BucketTickets: imported with `recevable ccc import FILE.csv`, one
//     object per ticket, ccc/tickets/<ticket>.json, and the summary of the
//     last import at ccc/registry.json, whose presence says that a registry
//     exists;
//   - FileTickets: the file named by ccc.registry_file, read again when it
//     changes.
//
// The CSV (comma or semicolon separated, UTF-8, optional BOM):
//
//	ticket,date,department
//	CCC-2026-001234,2026-03-01,75
//	CCC-2026-001299,02/03/2026,
//
//   - ticket (required): the ticket number, compared without spaces and
//     case (NormaliseTicket); letters, digits and hyphens, 3 to 40;
//   - date (optional): the day the CCC established the impossibility,
//     YYYY-MM-DD or DD/MM/YYYY;
//   - department (optional): the applicant's department, as INSEE writes it.
//
// With a header row the columns are found by name ("ticket" or "numéro",
// "date", "département" or "department"; others are ignored); without one
// they are taken in this order. A file of bare ticket numbers, one per line,
// is a CSV of one column. No personal data: names and addresses are not
// imported (columns ignored).

// Ticket registry errors.
var (
	// ErrTicketNotFound: the registry exists and does not hold the ticket.
	ErrTicketNotFound = errors.New("ccc ticket not in the registry")
	// ErrNoTicketRegistry: there is no registry to look in.
	ErrNoTicketRegistry = errors.New("no ccc ticket registry")
	// ErrTicketCSV: the file to import is not a valid ticket list.
	ErrTicketCSV = errors.New("invalid ccc ticket file")
)

// TicketRegistry looks ticket numbers up. LookupTicket returns the record,
// ErrTicketNotFound when the registry does not hold it, ErrNoTicketRegistry
// when there is no registry; any other error is an infrastructure failure
// (the worker retries).
type TicketRegistry interface {
	LookupTicket(ctx context.Context, ticket string) (TicketRecord, error)
}

// TicketSchema is the version of the records written here.
const TicketSchema = 1

// TicketRecord is one registered ticket.
type TicketRecord struct {
	Schema     int       `json:"schema"`
	Ticket     string    `json:"ticket"`
	Date       string    `json:"date,omitempty"`       // YYYY-MM-DD
	Department string    `json:"department,omitempty"` // INSEE code
	ImportedAt time.Time `json:"imported_at"`
	// Source is the SHA-256 of the imported file.
	Source string `json:"source"`
}

// TicketImport summarises one import (ccc/registry.json).
type TicketImport struct {
	Schema  int       `json:"schema"`
	At      time.Time `json:"at"`
	By      string    `json:"by"`
	Source  string    `json:"source"` // SHA-256 of the file
	Rows    int       `json:"rows"`
	Added   int       `json:"added"`
	Updated int       `json:"updated"`
}

// Bucket keys of the registry.
const (
	cccTicketPrefix = "ccc/tickets/"
	cccRegistryKey  = "ccc/registry.json"
)

// CCCTicketKey is the bucket key of a ticket's record.
func CCCTicketKey(ticket string) string { return cccTicketPrefix + ticket + ".json" }

var ticketPattern = regexp.MustCompile(`^[A-Z0-9][A-Z0-9-]{2,39}$`)

// NormaliseTicket puts a ticket number in the form it is stored and
// compared in: upper case, without spaces. It returns "" when what is left
// is not a ticket number (letters, digits, hyphens; 3 to 40).
func NormaliseTicket(s string) string {
	s = strings.ToUpper(strings.Join(strings.Fields(s), ""))
	if !ticketPattern.MatchString(s) {
		return ""
	}
	return s
}

// maxTicketFile bounds a file read (import or registry_file).
const maxTicketFile = 64 << 20

var departmentPattern = regexp.MustCompile(`^(0[1-9]|[1-8][0-9]|9[0-5]|2A|2B|97[1-8])$`)

// ParseTicketCSV reads a ticket list (see the top of this file). Every bad
// row is reported, with its line, in one error wrapping ErrTicketCSV;
// nothing is returned then, so that an import is all or nothing.
func ParseTicketCSV(r io.Reader) ([]TicketRecord, error) {
	data, err := io.ReadAll(io.LimitReader(r, maxTicketFile+1))
	if err != nil {
		return nil, fmt.Errorf("read ticket file: %w", err)
	}
	if len(data) > maxTicketFile {
		return nil, fmt.Errorf("%w: over %d MiB", ErrTicketCSV, maxTicketFile>>20)
	}
	data = bytes.TrimPrefix(data, []byte("\xef\xbb\xbf"))
	first, _, _ := bytes.Cut(data, []byte("\n"))
	cr := csv.NewReader(bytes.NewReader(data))
	if bytes.Count(first, []byte(";")) > bytes.Count(first, []byte(",")) {
		cr.Comma = ';' // French spreadsheets
	}
	cr.FieldsPerRecord = -1
	cr.LazyQuotes = true
	cr.TrimLeadingSpace = true
	cols := map[string]int{"ticket": 0, "date": 1, "department": 2}
	var out []TicketRecord
	var bad []string
	seen := map[string]int{}
	for row := 0; ; row++ {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		line, _ := cr.FieldPos(0)
		if err != nil {
			bad = append(bad, fmt.Sprintf("line %d: %v", line, err))
			continue
		}
		if row == 0 && isTicketHeader(rec) {
			cols = ticketColumns(rec)
			if cols["ticket"] < 0 {
				return nil, fmt.Errorf("%w: no ticket column in the header", ErrTicketCSV)
			}
			continue
		}
		cell := func(name string) string {
			if i := cols[name]; i >= 0 && i < len(rec) {
				return strings.TrimSpace(rec[i])
			}
			return ""
		}
		if strings.Join(rec, "") == "" {
			continue
		}
		t := TicketRecord{Schema: TicketSchema, Ticket: NormaliseTicket(cell("ticket"))}
		if t.Ticket == "" {
			bad = append(bad, fmt.Sprintf("line %d: %q is not a ticket number", line, cell("ticket")))
			continue
		}
		if d := cell("date"); d != "" {
			day, ok := parseTicketDate(d)
			if !ok {
				bad = append(bad, fmt.Sprintf("line %d: date %q: want YYYY-MM-DD or DD/MM/YYYY", line, d))
				continue
			}
			t.Date = day
		}
		if d := strings.ToUpper(cell("department")); d != "" {
			if !departmentPattern.MatchString(d) {
				bad = append(bad, fmt.Sprintf("line %d: %q is not a department number", line, d))
				continue
			}
			t.Department = d
		}
		if i, dup := seen[t.Ticket]; dup {
			out[i] = t // the last line wins
			continue
		}
		seen[t.Ticket] = len(out)
		out = append(out, t)
	}
	if len(bad) > 0 {
		if len(bad) > 20 {
			bad = append(bad[:20], fmt.Sprintf("… and %d more", len(bad)-20))
		}
		return nil, fmt.Errorf("%w:\n  %s", ErrTicketCSV, strings.Join(bad, "\n  "))
	}
	return out, nil
}

func isTicketHeader(rec []string) bool {
	for _, c := range rec {
		f := foldText(c)
		if strings.Contains(f, "ticket") || strings.HasPrefix(f, "numero") {
			return true
		}
	}
	return false
}

func ticketColumns(rec []string) map[string]int {
	cols := map[string]int{"ticket": -1, "date": -1, "department": -1}
	for i, c := range rec {
		f := foldText(c)
		switch {
		case cols["ticket"] < 0 && (strings.Contains(f, "ticket") || strings.HasPrefix(f, "numero")):
			cols["ticket"] = i
		case cols["date"] < 0 && strings.HasPrefix(f, "date"):
			cols["date"] = i
		case cols["department"] < 0 && (strings.HasPrefix(f, "depart") || f == "dept"):
			cols["department"] = i
		}
	}
	return cols
}

func parseTicketDate(s string) (string, bool) {
	for _, layout := range []string{time.DateOnly, "02/01/2006"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t.Format(time.DateOnly), true
		}
	}
	return "", false
}

// BucketTickets is the registry imported into the bucket.
type BucketTickets struct {
	b storage.Bucket
}

// NewBucketTickets returns the registry kept in b.
func NewBucketTickets(b storage.Bucket) *BucketTickets { return &BucketTickets{b: b} }

// LookupTicket implements TicketRegistry.
func (r *BucketTickets) LookupTicket(ctx context.Context, ticket string) (TicketRecord, error) {
	ticket = NormaliseTicket(ticket)
	if ticket == "" {
		return TicketRecord{}, ErrTicketNotFound
	}
	var rec TicketRecord
	err := r.getJSON(ctx, CCCTicketKey(ticket), &rec)
	if errors.Is(err, storage.ErrNotFound) {
		if _, herr := r.b.Head(ctx, cccRegistryKey); errors.Is(herr, storage.ErrNotFound) {
			return TicketRecord{}, ErrNoTicketRegistry
		} else if herr != nil {
			return TicketRecord{}, fmt.Errorf("ccc registry: %w", herr)
		}
		return TicketRecord{}, fmt.Errorf("%w: %s", ErrTicketNotFound, ticket)
	}
	if err != nil {
		return TicketRecord{}, fmt.Errorf("ccc ticket %s: %w", ticket, err)
	}
	return rec, nil
}

// LastImport returns the summary of the last import, ErrNoTicketRegistry
// when nothing was ever imported.
func (r *BucketTickets) LastImport(ctx context.Context) (TicketImport, error) {
	var imp TicketImport
	err := r.getJSON(ctx, cccRegistryKey, &imp)
	if errors.Is(err, storage.ErrNotFound) {
		return imp, ErrNoTicketRegistry
	}
	return imp, err
}

// Import adds the tickets of a CSV file to the registry (a ticket already
// there is replaced by the file's line). It checks the whole file first and
// imports nothing when a line is bad. The summary is written last: a
// registry counts as existing once an import has completed.
func (r *BucketTickets) Import(ctx context.Context, file io.Reader, by string, now time.Time) (TicketImport, error) {
	h := sha256.New()
	recs, err := ParseTicketCSV(io.TeeReader(file, h))
	if err != nil {
		return TicketImport{}, err
	}
	imp := TicketImport{Schema: TicketSchema, At: now.UTC(), By: by, Source: hex.EncodeToString(h.Sum(nil)), Rows: len(recs)}
	for _, t := range recs {
		if err := ctx.Err(); err != nil {
			return TicketImport{}, err
		}
		t.ImportedAt, t.Source = imp.At, imp.Source
		_, herr := r.b.Head(ctx, CCCTicketKey(t.Ticket))
		switch {
		case herr == nil:
			imp.Updated++
		case errors.Is(herr, storage.ErrNotFound):
			imp.Added++
		default:
			return TicketImport{}, fmt.Errorf("import ticket %s: %w", t.Ticket, herr)
		}
		if err := r.putJSON(ctx, CCCTicketKey(t.Ticket), t); err != nil {
			return TicketImport{}, fmt.Errorf("import ticket %s: %w", t.Ticket, err)
		}
	}
	if err := r.putJSON(ctx, cccRegistryKey, imp); err != nil {
		return TicketImport{}, fmt.Errorf("import summary: %w", err)
	}
	return imp, nil
}

func (r *BucketTickets) getJSON(ctx context.Context, key string, v any) error {
	_, err := storage.GetJSON(ctx, r.b, key, v)
	return err
}

func (r *BucketTickets) putJSON(ctx context.Context, key string, v any) error {
	_, err := storage.PutJSON(ctx, r.b, key, v, storage.PutOptions{})
	return err
}

// FileTickets is the registry of ccc.registry_file: read at the first
// lookup, and again whenever the file's size or modification time changes.
type FileTickets struct {
	path string

	mu      sync.Mutex
	mod     time.Time
	size    int64
	tickets map[string]TicketRecord
}

// NewFileTickets returns the registry of the file at path.
func NewFileTickets(path string) *FileTickets { return &FileTickets{path: path} }

// LookupTicket implements TicketRegistry. A missing or bad file is
// ErrNoTicketRegistry (with the reason): the ticket stays unverified, which
// staff see, rather than the submission being retried forever.
func (r *FileTickets) LookupTicket(_ context.Context, ticket string) (TicketRecord, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	st, err := os.Stat(r.path)
	if err != nil {
		return TicketRecord{}, fmt.Errorf("%w: %w", ErrNoTicketRegistry, err)
	}
	if r.tickets == nil || !st.ModTime().Equal(r.mod) || st.Size() != r.size {
		f, err := os.Open(r.path)
		if err != nil {
			return TicketRecord{}, fmt.Errorf("%w: %w", ErrNoTicketRegistry, err)
		}
		recs, err := ParseTicketCSV(bufio.NewReader(f))
		f.Close()
		if err != nil {
			return TicketRecord{}, fmt.Errorf("%w: %s: %w", ErrNoTicketRegistry, r.path, err)
		}
		r.tickets = make(map[string]TicketRecord, len(recs))
		for _, t := range recs {
			r.tickets[t.Ticket] = t
		}
		r.mod, r.size = st.ModTime(), st.Size()
	}
	t, ok := r.tickets[NormaliseTicket(ticket)]
	if !ok {
		return TicketRecord{}, fmt.Errorf("%w: %s", ErrTicketNotFound, ticket)
	}
	return t, nil
}
