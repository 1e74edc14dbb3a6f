package validate

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"recevable/storage"
)

func TestParseTicketCSV(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, csv string
		want      []TicketRecord
	}{
		{"header, commas", "ticket,date,department\nccc-2026-0001,2026-03-01,75\n", []TicketRecord{{Ticket: "CCC-2026-0001", Date: "2026-03-01", Department: "75"}}},
		{"French spreadsheet", "\xef\xbb\xbfNuméro de ticket;Nom;Département;Date\nCCC 2026 0002;DUPONT;2a;02/03/2026\n", []TicketRecord{{Ticket: "CCC20260002", Date: "2026-03-02", Department: "2A"}}},
		{"bare list", "CCC-1\nCCC-2\n\nCCC-1\n", []TicketRecord{{Ticket: "CCC-1"}, {Ticket: "CCC-2"}}},
		{"no header, three columns", "T-0001,2026-01-31,974\n", []TicketRecord{{Ticket: "T-0001", Date: "2026-01-31", Department: "974"}}},
	} {
		got, err := ParseTicketCSV(strings.NewReader(tc.csv))
		if err != nil {
			t.Errorf("ParseTicketCSV(%s): %v", tc.name, err)
			continue
		}
		if len(got) != len(tc.want) {
			t.Errorf("ParseTicketCSV(%s) = %+v, want %+v", tc.name, got, tc.want)
			continue
		}
		for i := range got {
			g, w := got[i], tc.want[i]
			if g.Ticket != w.Ticket || g.Date != w.Date || g.Department != w.Department || g.Schema != TicketSchema {
				t.Errorf("ParseTicketCSV(%s)[%d] = %+v, want %+v", tc.name, i, g, w)
			}
		}
	}
	for name, csv := range map[string]string{
		"bad ticket":     "ticket\nCCC-1\n!!\n",
		"bad date":       "ticket,date\nCCC-1,31/31/2026\n",
		"bad department": "ticket,date,department\nCCC-1,,99\n",
	} {
		_, err := ParseTicketCSV(strings.NewReader(csv))
		if !errors.Is(err, ErrTicketCSV) || !strings.Contains(err.Error(), "line") {
			t.Errorf("ParseTicketCSV(%s) error = %v, want ErrTicketCSV naming the line", name, err)
		}
	}
}

func TestBucketTickets(t *testing.T) {
	t.Parallel()
	b, err := storage.NewFS(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	r := NewBucketTickets(b)
	ctx := context.Background()
	if _, err := r.LookupTicket(ctx, "CCC-1"); !errors.Is(err, ErrNoTicketRegistry) {
		t.Fatalf("lookup before any import: %v, want ErrNoTicketRegistry", err)
	}
	if _, err := r.Import(ctx, strings.NewReader("ticket\nCCC-1\n??\n"), "op", time.Now()); !errors.Is(err, ErrTicketCSV) {
		t.Fatalf("bad import: %v", err)
	}
	if _, err := r.LookupTicket(ctx, "CCC-1"); !errors.Is(err, ErrNoTicketRegistry) {
		t.Fatalf("a refused import imported something: %v", err)
	}
	at := time.Date(2026, 3, 1, 8, 0, 0, 0, time.UTC)
	imp, err := r.Import(ctx, strings.NewReader("ticket,date\nCCC-1,2026-02-27\nCCC-2,\n"), "op", at)
	if err != nil || imp.Rows != 2 || imp.Added != 2 || imp.Updated != 0 || len(imp.Source) != 64 {
		t.Fatalf("Import = %+v, %v", imp, err)
	}
	imp, err = r.Import(ctx, strings.NewReader("CCC-2\nCCC-3\n"), "op", at)
	if err != nil || imp.Added != 1 || imp.Updated != 1 {
		t.Fatalf("second Import = %+v, %v", imp, err)
	}
	if rec, err := r.LookupTicket(ctx, " ccc-1 "); err != nil || rec.Date != "2026-02-27" {
		t.Errorf("LookupTicket(ccc-1) = %+v, %v", rec, err)
	}
	if _, err := r.LookupTicket(ctx, "CCC-9"); !errors.Is(err, ErrTicketNotFound) {
		t.Errorf("LookupTicket(CCC-9) error = %v, want ErrTicketNotFound", err)
	}
	if last, err := r.LastImport(ctx); err != nil || last.Rows != 2 || !last.At.Equal(at) {
		t.Errorf("LastImport = %+v, %v", last, err)
	}
}

func TestFileTickets(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "tickets.csv")
	r := NewFileTickets(path)
	ctx := context.Background()
	if _, err := r.LookupTicket(ctx, "CCC-1"); !errors.Is(err, ErrNoTicketRegistry) {
		t.Fatalf("missing file: %v, want ErrNoTicketRegistry", err)
	}
	if err := os.WriteFile(path, []byte("CCC-1\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := r.LookupTicket(ctx, "CCC-1"); err != nil {
		t.Fatalf("LookupTicket(CCC-1): %v", err)
	}
	if _, err := r.LookupTicket(ctx, "CCC-2"); !errors.Is(err, ErrTicketNotFound) {
		t.Fatalf("LookupTicket(CCC-2): %v", err)
	}
	// The file changes (size and time): it is read again.
	if err := os.WriteFile(path, []byte("CCC-1\nCCC-2\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	later := time.Now().Add(time.Minute)
	if err := os.Chtimes(path, later, later); err != nil {
		t.Fatal(err)
	}
	if _, err := r.LookupTicket(ctx, "CCC-2"); err != nil {
		t.Errorf("LookupTicket(CCC-2) after the file changed: %v", err)
	}
	if err := os.WriteFile(path, []byte("ticket\n!!\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := r.LookupTicket(ctx, "CCC-2"); !errors.Is(err, ErrNoTicketRegistry) {
		t.Errorf("bad file: %v, want ErrNoTicketRegistry", err)
	}
}
