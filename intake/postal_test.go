package intake_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"recevable/intake"
)

func TestParseSidecar(t *testing.T) {
	t.Parallel()
	good := `{"received":"2026-03-14","postmark":"2026-03-12","registered":"1a 123 456 7890 1",
		"sender":{"name":" Mme Exemple ","address":"1 rue de l'Exemple\n75001 Paris"},
		"letters":[{"postmark":"2026-03-11"},{"registered":"RR123456789FR"}]}`
	s, err := intake.ParseSidecar([]byte(good))
	if err != nil {
		t.Fatal(err)
	}
	if s.Received.String() != "2026-03-14" || s.Postmark.String() != "2026-03-12" || s.Registered != "1A12345678901" ||
		s.Sender == nil || s.Sender.Name != "Mme Exemple" || len(s.Letters) != 2 || s.Letters[1].Registered != "RR123456789FR" {
		t.Errorf("ParseSidecar(good) = %+v", s)
	}
	// Through the coordinates and back.
	back, ok, err := intake.SidecarFromCoordinates(map[string]string{intake.CoordSidecar: s.Encode()})
	if !ok || err != nil || back.Encode() != s.Encode() {
		t.Errorf("coordinates round trip: %+v, %v, %v", back, ok, err)
	}
	if _, ok, err := intake.SidecarFromCoordinates(map[string]string{"name": "x.pdf"}); ok || err != nil {
		t.Errorf("no sidecar: ok %v, %v", ok, err)
	}
	if _, _, err := intake.SidecarFromCoordinates(map[string]string{intake.CoordSidecar: "%%%"}); !errors.Is(err, intake.ErrSidecar) {
		t.Errorf("garbled coordinate: %v", err)
	}

	for name, bad := range map[string]string{
		"not json":       `postmark: 2026-03-12`,
		"unknown field":  `{"postmak":"2026-03-12"}`,
		"bad date":       `{"postmark":"12/03/2026"}`,
		"impossible day": `{"postmark":"2026-02-30"}`,
		"bad registered": `{"registered":"12"}`,
		"two objects":    `{}{}`,
		"control char":   `{"sender":{"name":"a\u0007b"}}`,
		"too long":       `{"sender":{"address":"` + strings.Repeat("x", 399) + `"},"letters":[{"sender":{"address":"` + strings.Repeat("y", 399) + `"}}]}`,
		"letter bad":     `{"letters":[{"received":"hier"}]}`,
	} {
		if _, err := intake.ParseSidecar([]byte(bad)); err == nil {
			t.Errorf("ParseSidecar(%s) accepted %s", name, bad)
		}
	}
}

func TestLetterPostal(t *testing.T) {
	t.Parallel()
	paris, err := time.LoadLocation("Europe/Paris")
	if err != nil {
		t.Fatal(err)
	}
	d := func(s string) intake.Date {
		v, err := intake.ParseDate(s)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	day := func(tp *time.Time) string {
		if tp == nil {
			return ""
		}
		if tp.Location() != paris || tp.Hour() != 0 {
			t.Errorf("%v: not midnight in the site's zone", tp)
		}
		return tp.Format(time.DateOnly)
	}
	// Scanned at 23:30 UTC on 13 March: 14 March in Paris.
	scanned := time.Date(2026, 3, 13, 23, 30, 0, 0, time.UTC)
	side := &intake.Sidecar{
		PostalFields: intake.PostalFields{Postmark: d("2026-03-10"), Registered: "RR111111111FR", Sender: &intake.SidecarSender{Name: "Commun"}},
		Letters:      []intake.PostalFields{{Postmark: d("2026-03-09")}, {}, {Sender: &intake.SidecarSender{Name: "Trois"}}},
	}
	sep := &intake.Separator{Postmark: d("2026-03-11"), Received: d("2026-03-12")}
	for _, tc := range []struct {
		name                           string
		letter                         int
		side                           *intake.Sidecar
		sep                            *intake.Separator
		postmark, received, registered string
		source, sender                 string
		notes                          int
	}{
		{"nothing recorded", 1, nil, nil, "", "2026-03-14", "", "scan", "", 0},
		{"separator only", 2, nil, sep, "2026-03-11", "2026-03-12", "", "separator", "", 0},
		{"sidecar letter entry beats the sheet", 1, side, sep, "2026-03-09", "2026-03-12", "RR111111111FR", "separator+sidecar", "Commun", 1},
		{"sheet beats the common fields", 2, side, sep, "2026-03-11", "2026-03-12", "RR111111111FR", "separator+sidecar", "Commun", 1},
		{"common fields alone", 2, side, nil, "2026-03-10", "2026-03-14", "RR111111111FR", "sidecar", "Commun", 0},
		{"letter sender", 3, side, nil, "2026-03-10", "2026-03-14", "RR111111111FR", "sidecar", "Trois", 0},
		{"beyond the letters", 9, side, nil, "2026-03-10", "2026-03-14", "RR111111111FR", "sidecar", "Commun", 0},
	} {
		p, sender, notes := intake.LetterPostal(tc.letter, tc.side, tc.sep, scanned, paris)
		gotSender := ""
		if sender != nil {
			gotSender = sender.Name
		}
		if day(p.Postmark) != tc.postmark || day(p.Received) != tc.received || p.Registered != tc.registered ||
			p.Source != tc.source || gotSender != tc.sender || len(notes) != tc.notes {
			t.Errorf("LetterPostal(%s) = postmark %s received %s registered %q source %q sender %q notes %q",
				tc.name, day(p.Postmark), day(p.Received), p.Registered, p.Source, gotSender, notes)
		}
	}
	// A postmark after the receipt date is kept as recorded, with a note.
	late := &intake.Separator{Postmark: d("2026-03-20")}
	p, _, notes := intake.LetterPostal(1, nil, late, scanned, paris)
	if day(p.Postmark) != "2026-03-20" || len(notes) != 1 {
		t.Errorf("late postmark: %s, notes %q", day(p.Postmark), notes)
	}
}

// FuzzParseSidecar: whatever the bytes, a sidecar is refused with
// ErrSidecar or accepted, and an accepted one survives the trip through
// the coordinates unchanged, within the size limit.
func FuzzParseSidecar(f *testing.F) {
	f.Add([]byte(`{"received":"2026-03-14","postmark":"2026-03-12","registered":"1A 123 456 7890 1","sender":{"name":"A","address":"B\nC"},"letters":[{"postmark":"2026-03-11"}]}`))
	f.Add([]byte(`{}`))
	f.Add([]byte(`{"letters":[{},{},{"registered":"RR123456789FR"}]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		s, err := intake.ParseSidecar(data)
		if err != nil {
			return
		}
		enc := s.Encode()
		back, ok, err := intake.SidecarFromCoordinates(map[string]string{intake.CoordSidecar: enc})
		if !ok || err != nil || back.Encode() != enc {
			t.Fatalf("accepted sidecar does not survive the coordinates: %v, %v", ok, err)
		}
		if len(enc) > (intake.MaxSidecarJSON+2)/3*4 {
			t.Fatalf("encoded sidecar of %d characters", len(enc))
		}
	})
}
