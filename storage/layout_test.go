package storage

import (
	"errors"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestParseNumber(t *testing.T) {
	valid := []struct {
		in        string
		site      string
		year, seq int
	}{
		{"75-2026-000123", "75", 2026, 123},
		{"sp-bobigny-2026-000001", "sp-bobigny", 2026, 1},
		{"2a-2027-999999", "2a", 2027, 999999},
	}
	for _, tc := range valid {
		site, year, seq, err := ParseNumber(tc.in)
		if err != nil || site != tc.site || year != tc.year || seq != tc.seq {
			t.Errorf("ParseNumber(%q) = %q, %d, %d, %v; want %q, %d, %d", tc.in, site, year, seq, err, tc.site, tc.year, tc.seq)
		}
		if got := FormatNumber(site, year, seq); got != tc.in {
			t.Errorf("FormatNumber(ParseNumber(%q)) = %q", tc.in, got)
		}
	}
	for _, in := range []string{
		"", "75", "75-2026", "75-2026-123", "75-26-000123", "-2026-000001",
		"75-2026-000000", "75-2026-00012a", "75_x-2026-000001", "75-2026-+00001",
		"75-2026-0000001", "75--2026-000001", "75-0999-000001", "AB-2026-000001",
	} {
		if _, _, _, err := ParseNumber(in); !errors.Is(err, ErrBadNumber) {
			t.Errorf("ParseNumber(%q) err = %v, want ErrBadNumber", in, err)
		}
	}
}

func TestChecks(t *testing.T) {
	for _, s := range []string{"75", "pp", "2a", "sp-bobigny", strings.Repeat("a", 32)} {
		if err := CheckSite(s); err != nil {
			t.Errorf("CheckSite(%q) = %v", s, err)
		}
	}
	for _, s := range []string{"", "-75", "75-", "Paris", "7 5", "75/x", "é", strings.Repeat("a", 33)} {
		if err := CheckSite(s); !errors.Is(err, ErrBadSite) {
			t.Errorf("CheckSite(%q) = %v, want ErrBadSite", s, err)
		}
	}
	if err := CheckSHA256(shaOf("x")); err != nil {
		t.Errorf("CheckSHA256(valid) = %v", err)
	}
	for _, s := range []string{"", strings.ToUpper(shaOf("x")), shaOf("x")[:63], shaOf("x") + "0", strings.Repeat("g", 64)} {
		if err := CheckSHA256(s); !errors.Is(err, ErrBadSHA256) {
			t.Errorf("CheckSHA256(%q) = %v, want ErrBadSHA256", s, err)
		}
	}
	for _, s := range []string{"lettre.pdf", "titre de séjour (1).jpg", ".hidden", "a..b"} {
		if err := CheckSafeName(s); err != nil {
			t.Errorf("CheckSafeName(%q) = %v", s, err)
		}
	}
	for _, s := range []string{"", ".", "..", "a/b", `a\b`, "a\x00b", "tab\there", "\xff", strings.Repeat("a", 201)} {
		if err := CheckSafeName(s); !errors.Is(err, ErrBadName) {
			t.Errorf("CheckSafeName(%q) = %v, want ErrBadName", s, err)
		}
	}
	for _, st := range Statuses {
		if err := CheckStatus(st); err != nil {
			t.Errorf("CheckStatus(%q) = %v", st, err)
		}
	}
	if err := CheckStatus("nouveau"); !errors.Is(err, ErrBadStatus) {
		t.Errorf("CheckStatus(nouveau) = %v, want ErrBadStatus", err)
	}
}

// TestKeysAreValid builds every kind of key from awkward but accepted input
// and checks the backends would take it.
func TestKeysAreValid(t *testing.T) {
	sha := shaOf("x")
	at := time.Date(2026, 1, 2, 3, 4, 5, 6, time.FixedZone("CET", 3600))
	keys := []string{
		RawKey(sha), rawIndexKey(RawClaim(sha, 3)), doneKey(sha), messageIDKey("<a/../b@x>"),
		ManifestKey("sp-bobigny-2026-000001"), DocumentKey("75-2026-000001", "..a b.pdf"),
		QueueKey("75", StatusAVerifier, at, "75-2026-000001"), QuarantineKey(sha),
		InvitationKey("75", "../../INV 75/2026"), counterKey("75", 2026),
		cursorKey("imap:prefecture-75/INBOX"), cursorKey(".."), leaseKey("drop:/srv/scans/é"),
		leaseKey(strings.Repeat("x/", 600)), auditKey(at, "00ff00ff00ff00ff"),
	}
	for _, k := range keys {
		if err := checkKey(k); err != nil {
			t.Errorf("key %q: %v", k, err)
		}
	}
}

func TestEscapeComponent(t *testing.T) {
	inputs := []string{"", ".", "..", ".x", "a", "A", "a/b", "a%2Fb", "a b", "é", "~", "imap:p/INBOX",
		strings.Repeat("z", 128), strings.Repeat("z", 129), strings.Repeat("/", 50)}
	seen := map[string]string{}
	for _, in := range inputs {
		out := escapeComponent(in)
		if other, dup := seen[out]; dup {
			t.Errorf("escapeComponent(%q) = escapeComponent(%q) = %q", in, other, out)
		}
		seen[out] = in
		if len(out) > maxComponent+1 || out == "" || out == "." || out == ".." || strings.Contains(out, "/") {
			t.Errorf("escapeComponent(%q) = %q: not a bounded key segment", in, out)
		}
	}
}

func FuzzEscapeComponent(f *testing.F) {
	for _, s := range []string{"imap:prefecture-75/INBOX", "..", "drop:/srv/scans", "\x00\xff"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		out := escapeComponent(s)
		if err := checkKey("state/cursors/" + out); err != nil {
			t.Fatalf("escapeComponent(%q) = %q: %v", s, out, err)
		}
		if len(out) > maxComponent+1 {
			t.Fatalf("escapeComponent(%q) = %d bytes", s, len(out))
		}
	})
}

// TestQueueNamesSortByTime checks the property queues rely on: byte order of
// markers is arrival order, whatever the time zone of the receipt time.
func TestQueueNamesSortByTime(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	zones := []*time.Location{time.UTC, time.FixedZone("CET", 3600), time.FixedZone("NC", 11*3600), time.FixedZone("GP", -4*3600)}
	base := time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)
	var times []time.Time
	var names []string
	for i := range 200 {
		at := base.Add(time.Duration(r.Int64N(int64(400 * 24 * time.Hour)))).In(zones[i%len(zones)])
		times = append(times, at)
		names = append(names, queueName(at, FormatNumber("75", 2026, i+1)))
	}
	idx := make([]int, len(times))
	for i := range idx {
		idx[i] = i
	}
	slices.SortFunc(idx, func(a, b int) int { return strings.Compare(names[a], names[b]) })
	for i := 1; i < len(idx); i++ {
		if times[idx[i]].Before(times[idx[i-1]]) {
			t.Fatalf("marker %s sorts after %s but is earlier", names[idx[i]], names[idx[i-1]])
		}
	}
	for i, n := range names {
		at, number, err := parseQueueName(n)
		if err != nil || !at.Equal(times[i]) || number != FormatNumber("75", 2026, i+1) {
			t.Errorf("parseQueueName(%q) = %v, %q, %v", n, at, number, err)
		}
	}
}

func FuzzParseNumber(f *testing.F) {
	for _, s := range []string{"75-2026-000123", "sp-bobigny-2026-000001", "75--2026-000001", "-0000-000000"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		site, year, seq, err := ParseNumber(s)
		if err != nil {
			return
		}
		if got := FormatNumber(site, year, seq); got != s {
			t.Fatalf("ParseNumber(%q) = %q %d %d, formats back as %q", s, site, year, seq, got)
		}
		if err := checkKey(ManifestKey(s)); err != nil || strings.Contains(ManifestKey(s), "invalid/") {
			t.Fatalf("ManifestKey(%q) = %q: %v", s, ManifestKey(s), err)
		}
	})
}
